/*
 * modules/decode/lua.c - decode.lua: device payload decoders in Lua.
 *
 * The C side reads the network server's envelope (TTS v3 uplink, ChirpStack
 * v4 up event, or the raw message itself), takes the device's payload bytes
 * and port, and calls the decoder file's `decode(payload, port, ctx)` in a
 * sandboxed Lua state of its own (one per stage, from kk_lua_new()),
 * under an instruction budget and a deadline per message.  The decoder
 * returns a list of readings { property =, unit =, value = [, time =]
 * [, thing =] }; they go through the common datastream mapping
 * (decode_common.h) like every other decoder's values.
 *
 * Untrusted decoders cannot take the process down: everything that
 * touches the state (pushing the payload, building ctx, the call, reading
 * the result) runs inside one protected call, and the result is copied out
 * and validated before any reading is added, so a message either yields
 * all its readings or none.  Failures are counted per reason:
 *   decoder  the decoder raised an error or returned nil, "message"
 *   shape    the result is not a list of readings
 *   budget   instruction budget or deadline exhausted
 *   memcap   the state's memory cap was reached
 *   no_payload, parse, format (envelope problems), no_values.
 *
 * The state comes from the module API's Lua service (klimakit/lua.h):
 * the same sandbox, budget and memory cap as Lua modules.
 */
#include <klimakit.h>
#include <klimakit/lua.h>

#include <cJSON.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decode/decode_common.h"
#include "decode/decode_uplink.h"

#define LD_MAX_READINGS 1024 /* per message */
#define LD_SETUP_DEADLINE_MS 1000u
#ifndef KK_DATADIR
#define KK_DATADIR "/usr/local/share/klimakit"
#endif

enum { LD_TTN_V3 = 0, LD_CHIRPSTACK_V4 = 1, LD_RAW = 2 };

typedef struct ld_result {
  char property[128];
  char unit[32];
  char thing[128];
  int has_time;
  int64_t time_ms;
  double value;
} ld_result_t;

typedef struct ld_stage {
  decode_common_t dc;
  lua_State *L;
  int envelope;
  int port; /* raw envelope: the port given to the decoder */
  int decode_ref, config_ref;
  char path[PATH_MAX];
  ld_result_t *res; /* results of the message being decoded */
  size_t nres, capres;
  char thing[128]; /* ctx.thing set by the decoder, or "" */
} ld_stage_t;

/* What the protected call needs for one message. */
typedef struct ld_call {
  ld_stage_t *s;
  const uplink_t *u;
  const kk_raw_t *raw;
  const uint8_t *payload;
  size_t len;
  int port;
  int shape;        /* set before raising a shape error */
  int soft;         /* the decoder returned nil, "message" */
  char softmsg[160];
} ld_call_t;

/* ---- the bytes library ------------------------------------------------- */

/* Checks that `n` bytes from the 1-based offset (argument 2, default 1)
 * are inside the string at argument 1 and returns a pointer to them. */
static const uint8_t *ld_at(lua_State *L, size_t n, const char *who) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer i = luaL_optinteger(L, 2, 1);
  if (i < 1 || (size_t)(i - 1) > len || len - (size_t)(i - 1) < n)
    luaL_error(L, "bytes.%s: %d byte%s at offset %d out of range (%d bytes)",
               who, (int)n, n == 1 ? "" : "s", (int)i, (int)len);
  return (const uint8_t *)s + (i - 1);
}

static uint32_t ld_be(const uint8_t *p, size_t n) {
  uint32_t v = 0;
  for (size_t k = 0; k < n; k++) v = (v << 8) | p[k];
  return v;
}

static uint32_t ld_le(const uint8_t *p, size_t n) {
  uint32_t v = 0;
  for (size_t k = n; k > 0; k--) v = (v << 8) | p[k - 1];
  return v;
}

static lua_Integer ld_sign(uint32_t v, size_t n) {
  int bits = (int)n * 8;
  if (bits < 32 && (v & (1u << (bits - 1)))) return (lua_Integer)v - ((lua_Integer)1 << bits);
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
  lua_Integer i = luaL_optinteger(L, 2, 1), j = luaL_optinteger(L, 3, (lua_Integer)len);
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
static int ld_fromhex(lua_State *L) {
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

static const luaL_Reg ld_bytes_lib[] = {
    {"u8", ld_u8},           {"s8", ld_s8},           {"u16be", ld_u16be},
    {"u16le", ld_u16le},     {"s16be", ld_s16be},     {"s16le", ld_s16le},
    {"u24be", ld_u24be},     {"u24le", ld_u24le},     {"s24be", ld_s24be},
    {"s24le", ld_s24le},     {"u24", ld_u24be},       {"u32be", ld_u32be},
    {"u32le", ld_u32le},     {"s32be", ld_s32be},     {"s32le", ld_s32le},
    {"float32be", ld_float32be}, {"float32le", ld_float32le},
    {"hex", ld_hex},         {"fromhex", ld_fromhex}, {NULL, NULL}};

/* ---- loading ------------------------------------------------------------- */

static void ld_push_json(lua_State *L, const cJSON *j, int depth) {
  luaL_checkstack(L, 4, "config too deep");
  if (depth > 32) {
    lua_pushnil(L);
  } else if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
    lua_newtable(L);
    lua_Integer i = 1;
    for (const cJSON *c = j->child; c; c = c->next) {
      ld_push_json(L, c, depth + 1);
      if (cJSON_IsArray(j)) lua_rawseti(L, -2, i++);
      else lua_setfield(L, -2, c->string);
    }
  } else if (cJSON_IsString(j)) {
    lua_pushstring(L, j->valuestring);
  } else if (cJSON_IsBool(j)) {
    lua_pushboolean(L, cJSON_IsTrue(j));
  } else if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (d == floor(d) && fabs(d) < 9e15) lua_pushinteger(L, (lua_Integer)d);
    else lua_pushnumber(L, d);
  } else {
    lua_pushnil(L);
  }
}

/* Runs under kk_lua_pcall: installs `bytes`, runs the file and finds its
 * decode function (the file's return value, its `decode` field, or the
 * global `decode`). */
static int ld_setup(lua_State *L) {
  ld_stage_t *s = lua_touserdata(L, 1);
  const char *config = lua_tostring(L, 2);
  luaL_newlib(L, ld_bytes_lib);
  lua_setglobal(L, "bytes");
  if (luaL_loadfilex(L, s->path, "t") != LUA_OK) return lua_error(L);
  lua_call(L, 0, 1);
  if (lua_istable(L, -1)) lua_getfield(L, -1, "decode");
  if (!lua_isfunction(L, -1)) lua_getglobal(L, "decode");
  if (!lua_isfunction(L, -1))
    return luaL_error(L,
                      "%s defines no decode function (return one, return a "
                      "table with decode, or define a global decode)",
                      s->path);
  s->decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (config) {
    cJSON *j = cJSON_Parse(config);
    if (!j) return luaL_error(L, "config is not a table");
    ld_push_json(L, j, 0);
    cJSON_Delete(j);
  } else {
    lua_newtable(L);
  }
  s->config_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

static char *ld_first_line(char *msg) {
  char *nl = strchr(msg, '\n');
  if (nl) *nl = '\0';
  return msg;
}

/* The decoder file: as given when it exists, else under KK_DATADIR (the
 * shipped decoders are installed there as decoders/<name>.lua). */
static int ld_find(ld_stage_t *s, const char *p) {
  char cand[PATH_MAX];
  snprintf(cand, sizeof cand, "%s", p);
  if (access(cand, R_OK) != 0 && p[0] != '/')
    snprintf(cand, sizeof cand, "%s/%s", KK_DATADIR, p);
  if (access(cand, R_OK) != 0) return -1;
  if (!realpath(cand, s->path)) return -1;
  return 0;
}

/* Creates the decoder's state from s->path and runs the file.  Returns 0
 * or a negative code with a message in err. */
static int ld_load(ld_stage_t *s, const kk_lua_limits_t *lim, const char *name,
                   const char *config, char *err, size_t errlen) {
  s->decode_ref = s->config_ref = LUA_NOREF;
  s->L = kk_lua_new(lim, name, err, errlen);
  if (!s->L) return KK_ENOMEM;
  /* The decoder may require helper files beside it. */
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", s->path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) *slash = '\0';
  kk_lua_allow_path(s->L, dir, 0);
  kk_lua_limits_t setup = {0, 0, LD_SETUP_DEADLINE_MS};
  lua_pushcfunction(s->L, ld_setup);
  lua_pushlightuserdata(s->L, s);
  if (config) lua_pushstring(s->L, config);
  else lua_pushnil(s->L);
  int rc = kk_lua_pcall_limits(s->L, 2, 0, &setup, err, errlen);
  if (rc) ld_first_line(err);
  return rc;
}

static int ld_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  ld_stage_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->decode_ref = s->config_ref = LUA_NOREF;
  s->envelope = kk_opt_enum(o, "envelope");
  s->port = (int)kk_opt_int(o, "port");
  int rc = decode_common_init(&s->dc, st, o);
  if (rc) return rc;
  const char *p = kk_opt_str(o, "path");
  if (ld_find(s, p) != 0) {
    kk_stage_error(st, "decoder file '%s' not found", p);
    return KK_EIO;
  }
  kk_lua_limits_t lim = {kk_opt_size(o, "memory"),
                          (uint64_t)kk_opt_int(o, "budget"),
                          kk_opt_duration_ms(o, "deadline")};
  char e[1024];
  rc = ld_load(s, &lim, kk_stage_name(st), kk_opt_json(o, "config"), e, sizeof e);
  if (rc) kk_stage_error(st, "%s", e);
  return rc;
}

static void ld_destroy(void *state) {
  ld_stage_t *s = state;
  if (!s) return;
  kk_lua_close(s->L);
  decode_common_free(&s->dc);
  free(s->res);
  free(s);
}

/* ---- one message --------------------------------------------------------- */

static int ld_shape(lua_State *L, ld_call_t *c, const char *fmt, ...)
    KK__PRINTF(3, 4);
static int ld_shape(lua_State *L, ld_call_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  c->shape = 1;
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return lua_error(L);
}

static void ld_set_str(lua_State *L, const char *k, const char *v) {
  if (!v || !*v) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void ld_set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* Pushes the ctx table of a message. */
static void ld_push_ctx(lua_State *L, ld_call_t *c) {
  const uplink_t *u = c->u;
  lua_createtable(L, 0, 12);
  if (u) {
    ld_set_str(L, "device_id", u->device_id);
    ld_set_str(L, "device_name", u->device_name);
    ld_set_str(L, "application_id", u->application_id);
    ld_set_str(L, "dev_eui", u->dev_eui);
    if (u->time_ms) ld_set_int(L, "time", u->time_ms);
    if (u->fcnt >= 0) ld_set_int(L, "fcnt", u->fcnt);
    if (u->has_rssi) {
      lua_pushnumber(L, u->rssi);
      lua_setfield(L, -2, "rssi");
    }
    if (u->has_snr) {
      lua_pushnumber(L, u->snr);
      lua_setfield(L, -2, "snr");
    }
  }
  ld_set_int(L, "received", c->raw->time_ms);
  ld_set_int(L, "seq", (lua_Integer)c->raw->seq);
  if (c->port >= 0) ld_set_int(L, "port", c->port);
  /* The source's metadata: the topic and its named parts. */
  lua_newtable(L);
  const char *meta = c->raw->meta;
  cJSON *m = meta && meta[0] == '{' ? cJSON_Parse(meta) : NULL;
  if (m) {
    for (const cJSON *e = m->child; e; e = e->next)
      if (cJSON_IsString(e) && e->string) ld_set_str(L, e->string, e->valuestring);
    cJSON_Delete(m);
  }
  lua_setfield(L, -2, "topic_parts");
  char topic[512];
  if (kk_raw_meta_get(meta, "topic", topic, sizeof topic) == 0)
    ld_set_str(L, "topic", topic);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->s->config_ref);
  lua_setfield(L, -2, "config");
}

static int ld_getstr(lua_State *L, int t, const char *k, char *out, size_t len,
                     ld_call_t *c, lua_Integer i, int required) {
  lua_pushstring(L, k);
  int ty = lua_rawget(L, t);
  out[0] = '\0';
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    if (required) ld_shape(L, c, "reading %d has no %s", (int)i, k);
    return 0;
  }
  size_t n = 0;
  const char *v = ty == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
  if (!v) ld_shape(L, c, "reading %d: %s must be a string, got %s", (int)i, k,
                   lua_typename(L, ty));
  if (n == 0 && required) ld_shape(L, c, "reading %d: %s is empty", (int)i, k);
  if (n >= len || strlen(v) != n)
    ld_shape(L, c, "reading %d: %s is longer than %d bytes or holds NUL", (int)i,
             k, (int)len - 1);
  memcpy(out, v, n + 1);
  lua_pop(L, 1);
  return 1;
}

/* Validates the list at index t and copies it into s->res. */
static void ld_collect(lua_State *L, ld_call_t *c, int t) {
  ld_stage_t *s = c->s;
  lua_Unsigned n = lua_rawlen(L, t);
  if (n > LD_MAX_READINGS)
    ld_shape(L, c, "%d readings in one message (at most %d)", (int)n,
             LD_MAX_READINGS);
  if (n > s->capres) {
    ld_result_t *nr = realloc(s->res, n * sizeof *nr);
    if (!nr) luaL_error(L, "not enough memory");
    s->res = nr;
    s->capres = n;
  }
  for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
    ld_result_t *r = &s->res[i - 1];
    memset(r, 0, sizeof *r);
    if (lua_rawgeti(L, t, i) != LUA_TTABLE)
      ld_shape(L, c, "reading %d is a %s, not a table", (int)i,
               luaL_typename(L, -1));
    int rt = lua_gettop(L);
    ld_getstr(L, rt, "property", r->property, sizeof r->property, c, i, 1);
    ld_getstr(L, rt, "unit", r->unit, sizeof r->unit, c, i, 0);
    ld_getstr(L, rt, "thing", r->thing, sizeof r->thing, c, i, 0);
    lua_pushliteral(L, "value");
    int ty = lua_rawget(L, rt);
    if (ty == LUA_TNUMBER) r->value = lua_tonumber(L, -1);
    else if (ty == LUA_TBOOLEAN) r->value = lua_toboolean(L, -1);
    else ld_shape(L, c, "reading %d (%s): value must be a number, got %s",
                  (int)i, r->property, lua_typename(L, ty));
    if (!isfinite(r->value))
      ld_shape(L, c, "reading %d (%s): value is not finite", (int)i, r->property);
    lua_pop(L, 1);
    lua_pushliteral(L, "time");
    ty = lua_rawget(L, rt);
    if (ty == LUA_TNUMBER) {
      double tm = lua_tonumber(L, -1);
      if (!(tm > -9e15 && tm < 9e15))
        ld_shape(L, c, "reading %d (%s): time out of range", (int)i, r->property);
      r->has_time = 1;
      r->time_ms = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1)
                                        : (int64_t)llround(tm);
    } else if (ty != LUA_TNIL) {
      ld_shape(L, c, "reading %d (%s): time must be a number (UTC ms)", (int)i,
               r->property);
    }
    lua_settop(L, rt - 1);
  }
  s->nres = (size_t)n;
}

/* Runs under kk_lua_pcall: calls decode(payload, port, ctx) and collects
 * its result. */
static int ld_run(lua_State *L) {
  ld_call_t *c = lua_touserdata(L, 1);
  ld_stage_t *s = c->s;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->decode_ref);
  lua_pushlstring(L, (const char *)c->payload, c->len);
  if (c->port >= 0) lua_pushinteger(L, c->port);
  else lua_pushnil(L);
  ld_push_ctx(L, c);
  lua_pushvalue(L, -1);
  lua_insert(L, 1); /* ctx at 1, kept for ctx.thing */
  lua_call(L, 3, 2);
  /* stack: ctx, result, message */
  if (lua_isnil(L, 2)) {
    c->soft = 1;
    const char *m = lua_tostring(L, 3);
    snprintf(c->softmsg, sizeof c->softmsg, "%s", m ? m : "");
    return 0;
  }
  if (!lua_istable(L, 2))
    ld_shape(L, c, "decode returned a %s, not a list of readings",
             luaL_typename(L, 2));
  ld_collect(L, c, 2);
  s->thing[0] = '\0';
  lua_pushliteral(L, "thing");
  if (lua_rawget(L, 1) == LUA_TSTRING) {
    size_t n;
    const char *t = lua_tolstring(L, -1, &n);
    if (n >= sizeof s->thing || strlen(t) != n)
      ld_shape(L, c, "ctx.thing is longer than %d bytes or holds NUL",
               (int)sizeof s->thing - 1);
    memcpy(s->thing, t, n + 1);
  }
  lua_settop(L, 0);
  return 0;
}

static const char *ld_reason(int rc, const ld_call_t *c) {
  if (rc == KK_EBUDGET) return "budget";
  if (rc == KK_EMEMCAP) return "memcap";
  return c->shape ? "shape" : "decoder";
}

/* Decodes one raw message into s->res (s->nres entries).  Returns 0 with
 * the default time and thing of the message in *t0 / thing, or a negative
 * code with `why` and *reason set. */
static int ld_message(ld_stage_t *s, const kk_raw_t *raw, int64_t *t0,
                      char *thing, size_t thinglen, char *why, size_t whylen,
                      const char **reason) {
  uplink_t u;
  int have_u = 0, rc = 0;
  ld_call_t c;
  memset(&c, 0, sizeof c);
  c.s = s;
  c.raw = raw;
  s->nres = 0;
  thing[0] = '\0';
  *t0 = raw->time_ms;
  if (s->envelope == LD_RAW) {
    c.payload = raw->data;
    c.len = raw->len;
    c.port = s->port;
    char pp[16];
    if (kk_raw_meta_get(raw->meta, "port", pp, sizeof pp) == 0) {
      char *end;
      long v = strtol(pp, &end, 10);
      if (*end == '\0' && v >= 0 && v <= 255) c.port = (int)v;
    }
  } else {
    rc = s->envelope == LD_CHIRPSTACK_V4
             ? uplink_parse_chirpstack_v4(raw->data, raw->len, &u, why, whylen)
             : uplink_parse_ttn_v3(raw->data, raw->len, &u, why, whylen);
    if (rc) {
      *reason = rc == KK_EMISSING ? "format" : "parse";
      return rc;
    }
    have_u = 1;
    if (!u.has_payload || u.payload_len == 0) {
      *reason = "no_payload";
      snprintf(why, whylen, "uplink has no %s",
               s->envelope == LD_CHIRPSTACK_V4 ? "data" : "frm_payload");
      uplink_free(&u);
      return KK_EMISSING;
    }
    c.u = &u;
    c.payload = u.payload;
    c.len = u.payload_len;
    c.port = u.fport;
    if (u.time_ms) *t0 = u.time_ms;
    snprintf(thing, thinglen, "%s", u.device_id);
  }
  char e[512];
  lua_State *L = s->L;
  int top = lua_gettop(L);
  lua_pushcfunction(L, ld_run);
  lua_pushlightuserdata(L, &c);
  rc = kk_lua_pcall(L, 1, 0, e, sizeof e);
  lua_settop(L, top);
  if (rc) {
    *reason = ld_reason(rc, &c);
    snprintf(why, whylen, "%s", ld_first_line(e));
    s->nres = 0;
  } else if (c.soft) {
    *reason = "decoder";
    snprintf(why, whylen, "%s", c.softmsg[0] ? c.softmsg : "decode returned nil");
    rc = KK_EPARSE;
  } else if (s->nres == 0) {
    *reason = "no_values";
    snprintf(why, whylen, "decode returned no readings");
    rc = KK_EMISSING;
  } else if (s->thing[0]) {
    snprintf(thing, thinglen, "%s", s->thing);
  }
  if (have_u) uplink_free(&u);
  return rc;
}

static int ld_decode(void *state, decode_out_t *out, char *why, size_t whylen,
                     const char **reason) {
  ld_stage_t *s = state;
  int64_t t0;
  char thing[128];
  int rc = ld_message(s, out->raw, &t0, thing, sizeof thing, why, whylen, reason);
  for (size_t i = 0; i < s->nres && rc == 0; i++) {
    const ld_result_t *r = &s->res[i];
    rc = decode_out_value(out, r->thing[0] ? r->thing : thing[0] ? thing : NULL,
                          r->property, r->unit, r->has_time ? r->time_ms : t0,
                          r->value);
  }
  return rc;
}

/* ---- kk.decode_lua(): one payload through a decoder, in a recipe -------- */

static int ld_box_gc(lua_State *L) {
  ld_stage_t **box = lua_touserdata(L, 1);
  if (box && *box) {
    ld_destroy(*box);
    *box = NULL;
  }
  return 0;
}

static const char *ld_optstr(lua_State *L, const char *k, const char *def) {
  lua_getfield(L, 1, k);
  const char *v = lua_isnil(L, -1) ? def : luaL_checkstring(L, -1);
  lua_pop(L, 1);
  return v;
}

/* kk.decode_lua { path =, hex = | data =, envelope = "raw", port = 1 }:
 * decodes one payload (hex or bytes; with envelope ttn-v3/chirpstack-v4,
 * `data` is the uplink JSON) with the decoder at path, as decode.lua
 * would, and returns the list of readings {thing, property, unit, time,
 * value}, or nil, reason, message. */
static int ld_lua_decode(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *path = ld_optstr(L, "path", NULL);
  if (!path) return luaL_error(L, "decode_lua: path is required");
  const char *env = ld_optstr(L, "envelope", "raw");
  const char *hex = ld_optstr(L, "hex", NULL);
  size_t len = 0;
  lua_getfield(L, 1, "data");
  const char *data = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, &len);
  int datai = lua_gettop(L);
  if (hex) {
    lua_pushcfunction(L, ld_fromhex);
    lua_pushstring(L, hex);
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2)) return luaL_error(L, "decode_lua: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    data = lua_tolstring(L, -1, &len);
  }
  if (!data) return luaL_error(L, "decode_lua: give hex or data");
  (void)datai;
  lua_getfield(L, 1, "port");
  int port = (int)luaL_optinteger(L, -1, 1);
  lua_pop(L, 1);
  int envelope = !strcmp(env, "raw") ? LD_RAW
                 : !strcmp(env, "ttn-v3") ? LD_TTN_V3
                 : !strcmp(env, "chirpstack-v4") ? LD_CHIRPSTACK_V4 : -1;
  if (envelope < 0)
    return luaL_error(L, "decode_lua: envelope must be raw, ttn-v3 or chirpstack-v4");
  ld_stage_t **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  lua_newtable(L);
  lua_pushcfunction(L, ld_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  ld_stage_t *s = *box = calloc(1, sizeof *s);
  if (!s) return luaL_error(L, "not enough memory");
  s->decode_ref = s->config_ref = LUA_NOREF;
  s->envelope = envelope;
  s->port = port;
  if (ld_find(s, path) != 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "load");
    lua_pushfstring(L, "decoder file '%s' not found", path);
    return 3;
  }
  char e[1024];
  int rc = ld_load(s, NULL, "decode_lua", NULL, e, sizeof e);
  if (rc) {
    lua_pushnil(L);
    lua_pushliteral(L, "load");
    lua_pushstring(L, e);
    return 3;
  }
  kk_raw_t raw = {0, kk_now_ms(), (const uint8_t *)data, (uint32_t)len, 0, ""};
  int64_t t0;
  char thing[128], why[200] = "";
  const char *reason = "parse";
  rc = ld_message(s, &raw, &t0, thing, sizeof thing, why, sizeof why, &reason);
  if (rc) {
    lua_pushnil(L);
    lua_pushstring(L, reason);
    lua_pushstring(L, why);
    return 3;
  }
  lua_createtable(L, (int)s->nres, 0);
  for (size_t i = 0; i < s->nres; i++) {
    const ld_result_t *r = &s->res[i];
    lua_createtable(L, 0, 5);
    lua_pushstring(L, r->thing[0] ? r->thing : thing);
    lua_setfield(L, -2, "thing");
    lua_pushstring(L, r->property);
    lua_setfield(L, -2, "property");
    lua_pushstring(L, r->unit[0] ? r->unit : "1");
    lua_setfield(L, -2, "unit");
    lua_pushinteger(L, r->has_time ? r->time_ms : t0);
    lua_setfield(L, -2, "time");
    lua_pushnumber(L, r->value);
    lua_setfield(L, -2, "value");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int ld_lua_open(lua_State *L) {
  lua_pushcfunction(L, ld_lua_decode);
  lua_setfield(L, -2, "decode_lua");
  return 0;
}

static int ld_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  ld_stage_t *s = state;
  return decode_common_process(&s->dc, b, ld_decode, s);
}

static const kk_option_t ld_options[] = {
    {.name = "path",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "The decoder file (Lua): relative to the working "
                    "directory, else to the installed data directory "
                    "(decoders/elsys.lua)."},
    {.name = "envelope",
     .type = KK_OPT_ENUM,
     .def = "ttn-v3",
     .choices = "ttn-v3|chirpstack-v4|raw",
     .description = "What the raw message is: a The Things Stack v3 uplink "
                    "(frm_payload, f_port), a ChirpStack v4 up event (data, "
                    "fPort), or the device payload itself."},
    {.name = "port",
     .type = KK_OPT_INT,
     .def = "1",
     .min = -1,
     .max = 255,
     .description = "envelope raw: the port handed to the decoder (a topic "
                    "part named `port` wins; -1 passes nil)."},
    {.name = "config",
     .type = KK_OPT_TABLE,
     .description = "Any table, handed to the decoder as ctx.config."},
    {.name = "memory",
     .type = KK_OPT_SIZE,
     .description = "Memory cap of the decoder's Lua state (default: "
                    "kk.config lua_memory, 64MiB)."},
    {.name = "budget",
     .type = KK_OPT_INT,
     .def = "1000000",
     .min = 1000,
     .max = 1e15,
     .description = "Lua VM instructions one message may use; past it the "
                    "message is rejected (reason budget)."},
    {.name = "deadline",
     .type = KK_OPT_DURATION,
     .def = "50ms",
     .description = "Wall-clock time one message may take (reason budget)."},
    DECODE_COMMON_OPTIONS,
    {.name = NULL}};

const kk_module_t decode_lua_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "lua",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes device payload bytes with a decoder written in Lua.",
    .description =
        "Reads the envelope (`ttn-v3`: `uplink_message.frm_payload` and "
        "`f_port`; `chirpstack-v4`: `data` and `fPort`; `raw`: the message "
        "itself) and calls the file's `decode(payload, port, ctx)` in a "
        "sandboxed Lua state of the stage's own, under an instruction "
        "budget per message. `payload` is a string; the global `bytes` "
        "library reads integers and floats from it (`bytes.u16be(payload, "
        "i)`, 1-based offsets). `ctx` holds device_id, application_id, "
        "dev_eui, time (uplink time, UTC ms), received, fcnt, rssi, snr, "
        "topic, topic_parts and config. decode returns a list of `{ "
        "property =, unit =, value = [, time =] [, thing =] }` (UCUM "
        "units); the thing is the device id unless a reading or `ctx.thing` "
        "names another. Rejected messages are counted as "
        "kk_rejected_total{reason=decoder|shape|budget|memcap|no_payload|"
        "parse|format|no_values}. Shipped decoders: recipes/decoders/ "
        "(Elsys ERS, Milesight AM300, Decentlab DL-LP8P); see "
        "examples/decoder/.",
    .options = ld_options,
    .create = ld_create,
    .process = ld_process,
    .destroy = ld_destroy,
    .lua_open = ld_lua_open,
};
