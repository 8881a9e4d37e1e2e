/*
 * modules/decode/lua/lua_bytes.c - the `bytes` library of Lua decoders.
 *
 * Reads unsigned and signed integers (8 to 32 bits, either byte order)
 * and IEEE 754 floats at 1-based offsets of a payload string, and turns
 * bytes into hex and back.  A read past the end raises an error and marks
 * the state (LD_TRUNCATED_KEY), so that the message is rejected as
 * "truncated" rather than as a decoder bug; a malformed hex string
 * returns nil and a message.
 */
#include "decode/lua/lua_decoder.h"

#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

/* Checks that `n` bytes from the 1-based offset (argument 2, default 1)
 * are inside the string at argument 1 and returns a pointer to them. */
static const uint8_t *ld_at(lua_State *L, size_t n, const char *who) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer i = luaL_optinteger(L, 2, 1);
  if (i < 1 || (size_t)(i - 1) > len || len - (size_t)(i - 1) < n) {
    if (i >= 1) { /* an offset below 1 is a decoder bug, not a short frame */
      lua_pushboolean(L, 1);
      lua_setfield(L, LUA_REGISTRYINDEX, LD_TRUNCATED_KEY);
    }
    luaL_error(L, "bytes.%s: %d byte%s at offset %d out of range (%d bytes)",
               who, (int)n, n == 1 ? "" : "s", (int)i, (int)len);
  }
  return (const uint8_t *)s + (i - 1);
}

static uint32_t ld_be(const uint8_t *p, size_t n) {
  uint32_t v = 0;
  for (size_t k = 0; k < n; k++)
    v = (v << 8) | p[k];
  return v;
}

static uint32_t ld_le(const uint8_t *p, size_t n) {
  uint32_t v = 0;
  for (size_t k = n; k > 0; k--)
    v = (v << 8) | p[k - 1];
  return v;
}

static lua_Integer ld_sign(uint32_t v, size_t n) {
  int bits = (int)n * 8;
  if (bits < 32 && (v & (1u << (bits - 1))))
    return (lua_Integer)v - ((lua_Integer)1 << bits);
  if (bits == 32) return (lua_Integer)(int32_t)v;
  return (lua_Integer)v;
}

#define LD_INT(name, n, order, sgn)                                            \
  static int ld_##name(lua_State *L) {                                         \
    uint32_t v = ld_##order(ld_at(L, n, #name), n);                            \
    lua_pushinteger(L, sgn ? ld_sign(v, n) : (lua_Integer)v);                  \
    return 1;                                                                  \
  }
LD_INT(u8, 1, be, 0)
LD_INT(s8, 1, be, 1)
LD_INT(u16be, 2, be, 0)
LD_INT(u16le, 2, le, 0)
LD_INT(s16be, 2, be, 1)
LD_INT(s16le, 2, le, 1)
LD_INT(u24be, 3, be, 0)
LD_INT(u24le, 3, le, 0)
LD_INT(s24be, 3, be, 1)
LD_INT(s24le, 3, le, 1)
LD_INT(u32be, 4, be, 0)
LD_INT(u32le, 4, le, 0)
LD_INT(s32be, 4, be, 1)
LD_INT(s32le, 4, le, 1)

static double ld_f32(uint32_t v) {
  float f;
  memcpy(&f, &v, sizeof f);
  return (double)f;
}

static int ld_float32be(lua_State *L) {
  lua_pushnumber(L, ld_f32(ld_be(ld_at(L, 4, "float32be"), 4)));
  return 1;
}

static int ld_float32le(lua_State *L) {
  lua_pushnumber(L, ld_f32(ld_le(ld_at(L, 4, "float32le"), 4)));
  return 1;
}

/* bytes.hex(s [, i [, j]]): lower-case hex of s[i..j]. */
static int ld_hex(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer i = luaL_optinteger(L, 2, 1),
              j = luaL_optinteger(L, 3, (lua_Integer)len);
  if (i < 1) i = 1;
  if (j > (lua_Integer)len) j = (lua_Integer)len;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  static const char dig[] = "0123456789abcdef";
  for (lua_Integer k = i; k <= j; k++) {
    unsigned char c = (unsigned char)s[k - 1];
    luaL_addchar(&b, dig[c >> 4]);
    luaL_addchar(&b, dig[c & 15]);
  }
  luaL_pushresult(&b);
  return 1;
}

static int ld_hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* bytes.fromhex("0100e2"): the bytes; spaces are ignored.  Returns nil,
 * message for text that is not hex (expected failure, liolib style). */
int ld_bytes_fromhex(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int hi = -1;
  for (size_t k = 0; k < len; k++) {
    if (s[k] == ' ') continue;
    int v = ld_hexval((unsigned char)s[k]);
    if (v < 0) {
      luaL_pushresult(&b);
      lua_pushnil(L);
      lua_pushfstring(L, "bytes.fromhex: '%c' at %d is not a hex digit", s[k],
                      (int)k + 1);
      return 2;
    }
    if (hi < 0) {
      hi = v;
    } else {
      luaL_addchar(&b, (char)(hi << 4 | v));
      hi = -1;
    }
  }
  luaL_pushresult(&b);
  if (hi >= 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "bytes.fromhex: odd number of hex digits");
    return 2;
  }
  return 1;
}

static const luaL_Reg ld_bytes_lib[] = {{"u8", ld_u8},
                                        {"s8", ld_s8},
                                        {"u16be", ld_u16be},
                                        {"u16le", ld_u16le},
                                        {"s16be", ld_s16be},
                                        {"s16le", ld_s16le},
                                        {"u24be", ld_u24be},
                                        {"u24le", ld_u24le},
                                        {"s24be", ld_s24be},
                                        {"s24le", ld_s24le},
                                        {"u24", ld_u24be},
                                        {"u32be", ld_u32be},
                                        {"u32le", ld_u32le},
                                        {"s32be", ld_s32be},
                                        {"s32le", ld_s32le},
                                        {"float32be", ld_float32be},
                                        {"float32le", ld_float32le},
                                        {"hex", ld_hex},
                                        {"fromhex", ld_bytes_fromhex},
                                        {NULL, NULL}};

void ld_bytes_open(lua_State *L) {
  luaL_newlib(L, ld_bytes_lib);
}
