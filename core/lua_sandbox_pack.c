/* core/lua_sandbox_pack.c - more library functions whose work in C grows
 * with their input, charged to the budget: string.pack, string.unpack
 * and string.packsize (linear in a format the memory cap allows to be
 * tens of megabytes, and in a 'c' size), os.date (linear in its format),
 * tonumber with a base, string.char and utf8.char (linear in a million
 * arguments), table.unpack (a million results), utf8.offset and the
 * iterator of utf8.codes (linear in a run of continuation bytes).
 *
 * The pack functions keep the stock ones for the work and take the
 * format apart here: a format of up to PK_ITEMS items goes to the stock
 * function as it is; a longer one goes in pieces of PK_ITEMS items, each
 * with the byte order and alignment in force where it starts (and, for
 * pack and packsize, as many padding bytes as put it at the same offset
 * modulo 16, the largest alignment, which are cut off again), charged in
 * between.  A 'c' item over CHUNK bytes is padded here.  The stock
 * function's errors are raised again with the position of the argument
 * in the whole call and the caller's place. */
#include "lua_sandbox_impl.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK ((size_t)1 << 16)
#define CHUNK_STEPS 1024u
#define PK_ITEMS 256
#define PK_TEXT 4096 /* bytes of one piece's format */
/* 'c' bytes of one piece: the stock function pads them one at a time. */
#define PK_CBYTES ((size_t)1 << 20)

/* The stock function a kk__sb_stock_call() runs, and whether the error it
 * caught was raised by that function itself (rather than by Lua code it
 * called, whose errors pass unchanged). */
static _Thread_local lua_CFunction stock_fn;
static _Thread_local int stock_raised;

static int stock_msgh(lua_State *L) {
  lua_Debug ar;
  stock_raised = 0;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "f", &ar)) {
    stock_raised = stock_fn && lua_tocfunction(L, -1) == stock_fn;
    lua_pop(L, 1);
  }
  lua_settop(L, 1);
  return 1;
}

void kk__sb_stock_call(lua_State *L, int nargs, int nres, int delta) {
  int fn = lua_gettop(L) - nargs;
  lua_CFunction saved = stock_fn;
  stock_fn = lua_tocfunction(L, fn);
  lua_pushcfunction(L, stock_msgh);
  lua_insert(L, fn);
  stock_raised = 0;
  int st = lua_pcall(L, nargs, nres, fn);
  int raised = stock_raised;
  stock_fn = saved;
  lua_remove(L, fn);
  if (st == LUA_OK) return;
  if (st == LUA_ERRMEM || !raised || lua_type(L, -1) != LUA_TSTRING)
    lua_error(L);
  const char *m = lua_tostring(L, -1);
  static const char pre[] = "bad argument #";
  if (delta != NO_MAP && strncmp(m, pre, sizeof pre - 1) == 0) {
    char *end;
    long n = strtol(m + sizeof pre - 1, &end, 10);
    const char *open = strstr(end, " (");
    size_t len = strlen(m);
    if (n >= 1 && open && len && m[len - 1] == ')') {
      lua_pushlstring(L, open + 2, (size_t)(m + len - 1 - (open + 2)));
      int real = n == 1 ? 1 : (int)n + delta;
      luaL_argerror(L, real, lua_tostring(L, -1));
    }
  }
  luaL_where(L, 1);
  lua_insert(L, -2);
  lua_concat(L, 2);
  lua_error(L);
}

#define stock_call kk__sb_stock_call

/* ---- pack formats ---------------------------------------------------- */

/* The largest alignment '!' without a number stands for. */
typedef union pk_native {
  lua_Number n;
  double u;
  void *s;
  lua_Integer i;
  long l;
} pk_native_t;
#define PK_NATIVE                                                              \
  ((int)offsetof(                                                              \
      struct {                                                                 \
        char c;                                                                \
        pk_native_t u;                                                         \
      },                                                                       \
      u))

typedef struct pk_item {
  const char *p; /* its text */
  size_t n;
  char opt;
  int num; /* the number after it, -1 when none */
} pk_item_t;

/* A number as the stock reader takes it: digits while the value stays
 * far enough from INT_MAX. */
static int pk_num(const char **f, const char *e) {
  if (*f >= e || !isdigit((unsigned char)**f)) return -1;
  int a = 0;
  do
    a = a * 10 + (*(*f)++ - '0');
  while (*f < e && isdigit((unsigned char)**f) && a <= (INT_MAX - 9) / 10);
  return a;
}

static int pk_takes_num(char o) {
  return o == 'i' || o == 'I' || o == 's' || o == 'c' || o == '!';
}

/* The item at *f (< e), which moves past it. */
static void pk_next(const char **f, const char *e, pk_item_t *it) {
  it->p = *f;
  it->opt = *(*f)++;
  it->num = pk_takes_num(it->opt) ? pk_num(f, e) : -1;
  if (it->opt == 'X' && *f < e) { /* the option it aligns to */
    char o = *(*f)++;
    if (pk_takes_num(o)) pk_num(f, e);
  }
  it->n = (size_t)(*f - it->p);
}

/* Takes one value argument. */
static int pk_data(char o) {
  return o && strchr("bBhHlLjJTiIfdnszc", o) != NULL;
}

typedef struct pk_state {
  char endian;
  int maxalign;
  char text[PK_TEXT + 64];
  size_t len, pad, cbytes;
  int items, args;
} pk_state_t;

static size_t pk_cbytes(const pk_item_t *it) {
  return it->opt == 'c' && it->num > 0 ? (size_t)it->num : 0;
}

static void pk_apply(pk_state_t *s, const pk_item_t *it) {
  if (it->opt == '<' || it->opt == '>' || it->opt == '=')
    s->endian = it->opt;
  else if (it->opt == '!')
    s->maxalign = it->num < 0 ? PK_NATIVE : it->num;
}

/* Starts a piece at byte offset off with the settings in force. */
static void pk_begin(pk_state_t *s, size_t off, int with_pad) {
  s->len = s->cbytes = 0;
  s->items = s->args = 0;
  s->pad = with_pad ? off % 16 : 0;
  if (s->maxalign >= 1 && s->maxalign <= 16)
    s->len = (size_t)snprintf(s->text, sizeof s->text, "%c!%d", s->endian,
                              s->maxalign);
  memset(s->text + s->len, 'x', s->pad);
  s->len += s->pad;
}

static void pk_add(pk_state_t *s, const pk_item_t *it) {
  memcpy(s->text + s->len, it->p, it->n);
  s->len += it->n;
  s->items++;
  s->args += pk_data(it->opt);
  s->cbytes += pk_cbytes(it);
}

static int pk_full(const pk_state_t *s, const pk_item_t *next) {
  return s->items >= PK_ITEMS || s->len + next->n > PK_TEXT ||
         s->cbytes + pk_cbytes(next) > PK_CBYTES;
}

/* A format the stock function may take whole: few items, little 'c'
 * padding (for pack). */
static int pk_short(const char *f, const char *e, int with_c) {
  int items = 0;
  size_t cbytes = 0;
  while (f < e) {
    pk_item_t it;
    pk_next(&f, e, &it);
    if (++items > PK_ITEMS) return 0;
    if (with_c && (cbytes += pk_cbytes(&it)) > PK_CBYTES) return 0;
  }
  return 1;
}

static void pk_whole(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  stock_call(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
}

/* string.pack (upvalue 1: the stock one). */
static int b_pack(lua_State *L) {
  const char *f = luaL_checkstring(L, 1), *e = f + strlen(f);
  if (pk_short(f, e, 1)) {
    pk_whole(L);
    return lua_gettop(L);
  }
  int top = lua_gettop(L), arg = 2;
  lua_pushnil(L); /* holds a piece's result while it is copied */
  int hold = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t off = 0;
  uint64_t steps = 0;
  pk_state_t s = {.endian = '=', .maxalign = 1};
  pk_begin(&s, 0, 1);
  for (;;) {
    pk_item_t it;
    int more = f < e;
    if (more) pk_next(&f, e, &it);
    int big = more && it.opt == 'c' && it.num > (int)CHUNK;
    if (s.items && (!more || big || pk_full(&s, &it))) {
      /* Pack the piece. */
      /* The piece's arguments, as many as there are (the stock function
       * then says "no value" for the first one missing). */
      int given = top - arg + 1;
      if (given > s.args) given = s.args;
      if (given < 0) given = 0;
      luaL_checkstack(L, given + 3, "too many arguments");
      lua_pushvalue(L, lua_upvalueindex(1));
      lua_pushlstring(L, s.text, s.len);
      for (int k = 0; k < given; k++)
        lua_pushvalue(L, arg + k);
      stock_call(L, 1 + given, 1, arg - 2);
      size_t rl;
      const char *r = lua_tolstring(L, -1, &rl);
      lua_replace(L, hold);
      luaL_addlstring(&b, r + s.pad, rl - s.pad);
      off += rl - s.pad;
      arg += s.args;
      steps += 1 + s.items + rl / 64;
      pk_begin(&s, off, 1);
    }
    if (!more) break;
    if (big) { /* a string padded to it.num bytes */
      /* (Past the arguments the stock function finds the nil that it
       * pushes above them.) */
      if (arg > top) luaL_argerror(L, arg, "string expected, got nil");
      size_t len;
      const char *str = luaL_checklstring(L, arg, &len);
      luaL_argcheck(L, len <= (size_t)it.num, arg,
                    "string longer than given size");
      luaL_addlstring(&b, str, len);
      for (size_t left = (size_t)it.num - len; left;) {
        size_t k = left < CHUNK ? left : CHUNK;
        memset(luaL_prepbuffsize(&b, k), 0, k);
        luaL_addsize(&b, k);
        left -= k;
        kk__lua_charge(L, CHUNK_STEPS, "string.pack");
      }
      off += (size_t)it.num;
      arg++;
      pk_begin(&s, off, 1);
      continue;
    }
    pk_add(&s, &it);
    pk_apply(&s, &it);
    if (steps >= CHUNK_STEPS) {
      kk__lua_charge(L, steps, "string.pack");
      steps = 0;
    }
  }
  luaL_pushresult(&b);
  kk__lua_charge_result(L, "string.pack");
  return 1;
}

/* string.packsize (upvalue 1: the stock one). */
static int b_packsize(lua_State *L) {
  const char *f = luaL_checkstring(L, 1), *e = f + strlen(f);
  if (pk_short(f, e, 0)) {
    pk_whole(L);
    return 1;
  }
  size_t total = 0;
  uint64_t steps = 0;
  pk_state_t s = {.endian = '=', .maxalign = 1};
  pk_begin(&s, 0, 1);
  for (;;) {
    pk_item_t it;
    int more = f < e;
    if (more) pk_next(&f, e, &it);
    if (s.items && (!more || pk_full(&s, &it))) {
      lua_pushvalue(L, lua_upvalueindex(1));
      lua_pushlstring(L, s.text, s.len);
      stock_call(L, 1, 1, 0);
      size_t n = (size_t)lua_tointeger(L, -1) - s.pad;
      lua_pop(L, 1);
      luaL_argcheck(L, total <= (size_t)INT_MAX - n, 1,
                    "format result too large");
      total += n;
      steps += (uint64_t)s.items;
      pk_begin(&s, total, 1);
    }
    if (!more) break;
    pk_add(&s, &it);
    pk_apply(&s, &it);
    if (steps >= CHUNK_STEPS) {
      kk__lua_charge(L, steps, "string.packsize");
      steps = 0;
    }
  }
  lua_pushinteger(L, (lua_Integer)total);
  return 1;
}

/* string.unpack (upvalue 1: the stock one).  Alignment is counted from
 * the start of the data, so each piece just starts where the last one
 * ended. */
static int b_unpack(lua_State *L) {
  const char *f = luaL_checkstring(L, 1), *e = f + strlen(f);
  if (pk_short(f, e, 0)) {
    pk_whole(L);
    return lua_gettop(L);
  }
  luaL_checkstring(L, 2);
  lua_settop(L, 3);
  int base = 3; /* results go above */
  uint64_t steps = 0;
  pk_state_t s = {.endian = '=', .maxalign = 1};
  pk_begin(&s, 0, 0);
  int first = 1; /* (a long format has more than one piece) */
  for (;;) {
    pk_item_t it;
    int more = f < e;
    if (more) pk_next(&f, e, &it);
    if (s.items && (!more || pk_full(&s, &it))) {
      luaL_checkstack(L, s.items + 4, "too many results");
      lua_pushvalue(L, lua_upvalueindex(1));
      lua_pushlstring(L, s.text, s.len);
      lua_pushvalue(L, 2);
      if (first)
        lua_pushvalue(L, 3);
      else
        lua_pushvalue(L, base); /* the position the last piece ended at */
      stock_call(L, 3, LUA_MULTRET, 0);
      /* Values, then the next position: keep the position in `base`'s
       * place at the end, the values below it. */
      if (!first) lua_remove(L, base);
      base = lua_gettop(L);
      steps += 2 * (uint64_t)s.items;
      first = 0;
      pk_begin(&s, 0, 0);
    }
    if (!more) break;
    pk_add(&s, &it);
    pk_apply(&s, &it);
    if (steps >= CHUNK_STEPS) {
      kk__lua_charge(L, steps, "string.unpack");
      steps = 0;
    }
  }
  return lua_gettop(L) - 3;
}

/* ---- os.date ------------------------------------------------------- */

/* os.date (upvalue 1: the stock one).  A long format is given to the
 * stock function in pieces of whole conversions, all for the same time;
 * text between conversions is copied here. */
#define DATE_SHORT 4096

static int b_date(lua_State *L) {
  size_t fl;
  const char *f = luaL_optlstring(L, 1, "%c", &fl), *e = f + fl;
  if (fl <= DATE_SHORT || f[0] == '*' || (f[0] == '!' && f[1] == '*')) {
    pk_whole(L);
    return 1;
  }
  int utc = f[0] == '!';
  if (utc) f++;
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_pushinteger(L, (lua_Integer)time(NULL));
  }
  lua_settop(L, 2);
  lua_pushnil(L);
  int hold = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char piece[DATE_SHORT + 8];
  while (f < e) {
    /* Text up to the next conversion. */
    const char *pct = memchr(f, '%', (size_t)(e - f));
    if (!pct) pct = e;
    for (const char *q = f; q < pct;) {
      size_t k = (size_t)(pct - q) < CHUNK ? (size_t)(pct - q) : CHUNK;
      luaL_addlstring(&b, q, k);
      q += k;
      kk__lua_charge(L, 1 + k / 64, "os.date");
    }
    f = pct;
    if (f == e) break;
    /* Conversions, up to a piece's worth. */
    size_t n = utc ? 1 : 0;
    if (utc) piece[0] = '!';
    while (f < e && *f == '%' && n + 3 <= DATE_SHORT) {
      size_t k = 2;
      if (f + 1 < e && (f[1] == 'E' || f[1] == 'O')) k = 3;
      if (f + k > e) k = (size_t)(e - f);
      memcpy(piece + n, f, k);
      n += k;
      f += k;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushlstring(L, piece, n);
    lua_pushvalue(L, 2);
    stock_call(L, 2, 1, 0);
    lua_replace(L, hold);
    size_t rl;
    const char *r = lua_tolstring(L, hold, &rl);
    luaL_addlstring(&b, r, rl);
    kk__lua_charge(L, 1 + n + rl / 64, "os.date");
  }
  luaL_pushresult(&b);
  kk__lua_charge_result(L, "os.date");
  return 1;
}

/* ---- tonumber, string.char, utf8.char ------------------------------------ */

/* tonumber (upvalue 1: the stock one).  With a base, the digits are read
 * here (the stock reader has no end but the string's); without one, a
 * string over a mebibyte is refused with the deadline error when its
 * conversion could not end before the deadline. */
#define TONUM_LONG ((size_t)1 << 20)
#define TONUM_NS_PER_BYTE 2u

static int b_tonumber(lua_State *L) {
  if (lua_isnoneornil(L, 2)) {
    luaL_checkany(L, 1);
    if (lua_type(L, 1) == LUA_TSTRING && lua_rawlen(L, 1) > TONUM_LONG)
      kk__sb_ahead(L, (uint64_t)lua_rawlen(L, 1) * TONUM_NS_PER_BYTE,
                   "tonumber");
    pk_whole(L);
    return 1;
  }
  lua_Integer base = luaL_checkinteger(L, 2);
  luaL_checktype(L, 1, LUA_TSTRING);
  size_t l;
  const char *s = lua_tolstring(L, 1, &l), *e = s + l;
  luaL_argcheck(L, 2 <= base && base <= 36, 2, "base out of range");
  const char *p = s;
  while (p < e && isspace((unsigned char)*p))
    p++;
  int neg = 0;
  if (p < e && (*p == '-' || *p == '+')) neg = *p++ == '-';
  lua_Unsigned n = 0;
  size_t digits = 0;
  for (; p < e && isalnum((unsigned char)*p); p++, digits++) {
    int c = (unsigned char)*p;
    int d = isdigit(c) ? c - '0' : toupper(c) - 'A' + 10;
    if (d >= base) break;
    n = n * (lua_Unsigned)base + (lua_Unsigned)d;
    if ((digits & (CHUNK - 1)) == CHUNK - 1)
      kk__lua_charge(L, CHUNK_STEPS, "tonumber");
  }
  int ok = digits > 0 && (p == e || !isalnum((unsigned char)*p));
  while (ok && p < e && isspace((unsigned char)*p))
    p++;
  if (ok && p == e) {
    lua_pushinteger(L, (lua_Integer)(neg ? 0u - n : n));
    return 1;
  }
  luaL_pushfail(L);
  return 1;
}

/* string.char: the stock checks, charged. */
static int b_char(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  char *o = luaL_buffinitsize(L, &b, (size_t)n);
  for (int i = 1; i <= n; i++) {
    lua_Unsigned c = (lua_Unsigned)luaL_checkinteger(L, i);
    luaL_argcheck(L, c <= (lua_Unsigned)UCHAR_MAX, i, "value out of range");
    o[i - 1] = (char)(unsigned char)c;
    if ((i & 4095) == 0) kk__lua_charge(L, CHUNK_STEPS, "string.char");
  }
  luaL_pushresultsize(&b, (size_t)n);
  kk__lua_charge_result(L, "string.char");
  return 1;
}

/* utf8.char (upvalue 1: the stock one): many arguments encoded here, one
 * at a time with Lua's own encoder, charged. */
#define UTF8_MAX 0x7FFFFFFFu

static int b_utf8_char(lua_State *L) {
  int n = lua_gettop(L);
  if (n <= 256) {
    pk_whole(L);
    return 1;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    lua_Unsigned c = (lua_Unsigned)luaL_checkinteger(L, i);
    luaL_argcheck(L, c <= UTF8_MAX, i, "value out of range");
    lua_pushfstring(L, "%U", (long)c);
    luaL_addvalue(&b);
    if ((i & 1023) == 0) kk__lua_charge(L, CHUNK_STEPS, "utf8.char");
  }
  luaL_pushresult(&b);
  kk__lua_charge_result(L, "utf8.char");
  return 1;
}

/* utf8.offset, with the stock rules: a run of continuation bytes is
 * stepped over byte by byte, so it is charged here. */
#define ISCONT(p) ((*(const unsigned char *)(p)&0xC0) == 0x80)

static int b_utf8_offset(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer n = luaL_checkinteger(L, 2);
  lua_Integer i = luaL_optinteger(L, 3, n >= 0 ? 1 : (lua_Integer)len + 1);
  if (i < 0) i = 0u - (size_t)i > len ? 0 : (lua_Integer)len + i + 1;
  luaL_argcheck(L, 1 <= i && --i <= (lua_Integer)len, 3,
                "position out of bounds");
  size_t steps = 0;
#define STEP()                                                                 \
  do {                                                                         \
    if ((++steps & (CHUNK - 1)) == 0)                                          \
      kk__lua_charge(L, CHUNK_STEPS, "utf8.offset");                           \
  } while (0)
  if (n == 0) {
    while (i > 0 && ISCONT(s + i)) {
      i--;
      STEP();
    }
  } else {
    if (ISCONT(s + i))
      return luaL_error(L, "initial position is a continuation byte");
    if (n < 0) {
      for (; n < 0 && i > 0; n++) {
        do {
          i--;
          STEP();
        } while (i > 0 && ISCONT(s + i));
      }
    } else {
      for (n--; n > 0 && i < (lua_Integer)len; n--) {
        do {
          i++;
          STEP();
        } while (ISCONT(s + i));
      }
    }
  }
#undef STEP
  if (n == 0)
    lua_pushinteger(L, i + 1);
  else
    luaL_pushfail(L);
  return 1;
}

/* The iterator of utf8.codes (upvalue 1: the stock one): the stock one
 * steps over a run of continuation bytes in one call; here it is skipped
 * first, charged, which leaves the stock one nothing to skip. */
static int b_codes_step(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer n = lua_tointeger(L, 2);
  if (n >= 0 && (size_t)n < len && ISCONT(s + n)) {
    size_t k = (size_t)n;
    while (k < len && ISCONT(s + k))
      if ((++k & (CHUNK - 1)) == 0)
        kk__lua_charge(L, CHUNK_STEPS, "utf8.codes");
    lua_settop(L, 1);
    lua_pushinteger(L, (lua_Integer)k);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  kk__sb_stock_call(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  return lua_gettop(L);
}

/* utf8.codes (upvalue 1: the stock one). */
static int b_codes(lua_State *L) {
  pk_whole(L);
  if (lua_gettop(L) >= 1 && lua_iscfunction(L, 1)) {
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, b_codes_step, 1);
    lua_replace(L, 1);
  }
  return lua_gettop(L);
}

/* table.unpack (upvalue 1: the stock one): a long range is pushed here,
 * charged. */
static int b_unpack_table(lua_State *L) {
  lua_Integer i = luaL_optinteger(L, 2, 1);
  lua_Integer e = luaL_opt(L, luaL_checkinteger, 3, luaL_len(L, 1));
  if (i > e || (lua_Unsigned)e - (lua_Unsigned)i < CHUNK) {
    pk_whole(L);
    return lua_gettop(L);
  }
  lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)i;
  if (n >= (unsigned)INT_MAX || !lua_checkstack(L, (int)++n))
    return luaL_error(L, "too many results to unpack");
  for (lua_Integer k = 0; (lua_Unsigned)k < n; k++) {
    lua_geti(L, 1, i + k);
    if ((k & 4095) == 4095) kk__lua_charge(L, CHUNK_STEPS, "table.unpack");
  }
  return (int)n;
}

/* ---- installing them ---------------------------------------------------- */

static void wrap_field(lua_State *L, const char *name, lua_CFunction f) {
  lua_getfield(L, -1, name);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, -2, name);
}

void kk__sb_bound_pack(lua_State *L) {
  wrap_field(L, "pack", b_pack);
  wrap_field(L, "unpack", b_unpack);
  wrap_field(L, "packsize", b_packsize);
  lua_pushcfunction(L, b_char);
  lua_setfield(L, -2, "char");
}

void kk__sb_bound_os(lua_State *L) {
  wrap_field(L, "date", b_date);
}

void kk__sb_bound_base(lua_State *L) {
  wrap_field(L, "tonumber", b_tonumber);
}

void kk__sb_bound_utf8_char(lua_State *L) {
  wrap_field(L, "char", b_utf8_char);
  wrap_field(L, "codes", b_codes);
  lua_pushcfunction(L, b_utf8_offset);
  lua_setfield(L, -2, "offset");
}

void kk__sb_bound_table_unpack(lua_State *L) {
  wrap_field(L, "unpack", b_unpack_table);
}
