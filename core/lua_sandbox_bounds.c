/* core/lua_sandbox_bounds.c - the string and table functions whose work
 * in C grows with their input, charged to the budget.
 *
 * The count hook only sees VM instructions: a library function written in
 * C runs to its end however long that takes.  These versions keep the
 * Lua 5.4 behaviour (results, argument checks and error messages) and
 * call kk__lua_charge() as they go, so that the deadline stops them:
 * string.rep, upper, lower and reverse (linear in a result the memory cap
 * allows to be large), table.concat, move, insert and remove (linear in a
 * length that a __len metamethod may make anything), and table.sort,
 * whose default comparison is counted (a Lua comparator runs under the
 * hook anyway).  Pattern matching is in lua_pattern.c. */
#include "lua_sandbox_impl.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Bytes or elements between two charges, and what they are charged. */
#define CHUNK ((size_t)1 << 16)
#define CHUNK_STEPS 1024u

/* The largest string string.rep makes (the stock library's bound). */
#define REP_MAX ((size_t)INT_MAX)

/* ---- string ------------------------------------------------------------ */

static int b_rep(lua_State *L) {
  size_t l, lsep;
  const char *s = luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  const char *sep = luaL_optlstring(L, 3, "", &lsep);
  if (n <= 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (l + lsep < l || l + lsep > REP_MAX / (size_t)n)
    return luaL_error(L, "resulting string too large");
  size_t unit = l + lsep, total = (size_t)n * unit - lsep;
  if (total == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  luaL_Buffer b;
  char *o = luaL_buffinitsize(L, &b, total);
  memcpy(o, s, l);
  if (total > l) memcpy(o + l, sep, lsep);
  size_t done = unit < total ? unit : total;
  /* The result is periodic: copy what is written, a whole number of
   * periods back, in chunks that each get charged. */
  while (done < total) {
    size_t back = done - done % unit, k = total - done;
    if (k > back) k = back;
    if (k > 16 * CHUNK) k = 16 * CHUNK;
    memcpy(o + done, o + done - back, k);
    done += k;
    kk__lua_charge(L, k / 64, "string.rep");
  }
  luaL_pushresultsize(&b, total);
  kk__lua_charge_result(L, "string.rep");
  return 1;
}

/* mode: 'u' upper, 'l' lower, 'r' reverse. */
static int map_bytes(lua_State *L, int mode, const char *fn) {
  size_t l;
  const char *s = luaL_checklstring(L, 1, &l);
  luaL_Buffer b;
  char *o = luaL_buffinitsize(L, &b, l);
  for (size_t i = 0; i < l; i++) {
    unsigned char c = (unsigned char)s[mode == 'r' ? l - 1 - i : i];
    o[i] = (char)(mode == 'u' ? toupper(c) : mode == 'l' ? tolower(c) : c);
    if ((i & (CHUNK - 1)) == CHUNK - 1) kk__lua_charge(L, CHUNK_STEPS, fn);
  }
  luaL_pushresultsize(&b, l);
  kk__lua_charge_result(L, fn);
  return 1;
}

static int b_upper(lua_State *L) {
  return map_bytes(L, 'u', "string.upper");
}
static int b_lower(lua_State *L) {
  return map_bytes(L, 'l', "string.lower");
}
static int b_reverse(lua_State *L) {
  return map_bytes(L, 'r', "string.reverse");
}

/* utf8.len (upvalue 1: the stock one).  A long range is counted in
 * pieces by the stock function, charged in between: a piece ends inside
 * the character that starts last in it, and when the stock function
 * accepted the piece that character is well-formed, so its lead byte
 * tells where the next piece starts. */
#define UTF8_PIECE ((lua_Integer)1 << 18)

static lua_Integer u_pos(lua_Integer pos, size_t len) {
  if (pos >= 0) return pos;
  if (0u - (size_t)pos > len) return 0;
  return (lua_Integer)len + pos + 1;
}

static int seq_len(unsigned char c) {
  int n = 1;
  if (c >= 0xC0)
    for (unsigned char m = 0x40; c & m && n < 6; m >>= 1)
      n++;
  return n;
}

static int b_utf8_len(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer i = u_pos(luaL_optinteger(L, 2, 1), len);
  lua_Integer j = u_pos(luaL_optinteger(L, 3, -1), len);
  luaL_argcheck(L, 1 <= i && i - 1 <= (lua_Integer)len, 2,
                "initial position out of bounds");
  luaL_argcheck(L, j - 1 < (lua_Integer)len, 3, "final position out of bounds");
  if (j - i < UTF8_PIECE) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  int lax = lua_toboolean(L, 4);
  lua_Integer n = 0;
  for (lua_Integer a = i; a <= j;) {
    lua_Integer e = j - a < UTF8_PIECE ? j : a + UTF8_PIECE - 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushinteger(L, a);
    lua_pushinteger(L, e);
    lua_pushboolean(L, lax);
    lua_call(L, 4, 2);
    if (lua_isnil(L, -2)) return 2; /* fail and the position */
    n += lua_tointeger(L, -2);
    lua_pop(L, 2);
    if (e == j) break;
    lua_Integer b = e; /* 1-based: the last character start in the piece */
    while (b > a && ((unsigned char)s[b - 1] & 0xC0) == 0x80)
      b--;
    a = b + seq_len((unsigned char)s[b - 1]);
    kk__lua_charge(L, (uint64_t)UTF8_PIECE / 16, "utf8.len");
  }
  lua_pushinteger(L, n);
  return 1;
}

void kk__sb_bound_utf8(lua_State *L) {
  lua_getfield(L, -1, "len");
  lua_pushcclosure(L, b_utf8_len, 1);
  lua_setfield(L, -2, "len");
}

/* string.format (upvalue 1: the stock one).  A call with a short format,
 * few arguments and little string text among them goes to the stock
 * function as it is: it cannot run long.  Any other call is taken apart here,
 * one directive at a time, with the work charged: literal text and long %s and
 * %q strings are copied (and quoted) here; every other directive is formatted
 * by the stock function, given the directive alone and its one argument, after
 * the argument was checked here (in the stock order) so that an error names its
 * real position.  A bad specification is left to the stock function: its
 * message names the specification, not a position. */
#define FMT_SHORT 4096
#define FMT_ARGS 64
/* String bytes the stock function may take in one call: %q writes a
 * control character with snprintf, 100 ns each, so 32 KiB take 3 ms. */
#define FMT_STRBYTES ((size_t)1 << 15)
#define FMT_QUOTE_HERE 4096

typedef struct fmt_run {
  lua_State *L;
  luaL_Buffer *b;
  uint64_t steps;
} fmt_run_t;

static void fmt_charge(fmt_run_t *r, uint64_t steps) {
  r->steps += steps;
  if (r->steps >= CHUNK_STEPS) {
    kk__lua_charge(r->L, r->steps, "string.format");
    r->steps = 0;
  }
}

/* Copies s[0..n) into the buffer, CHUNK bytes at a time. */
static void fmt_add(fmt_run_t *r, const char *s, size_t n) {
  while (n) {
    size_t k = n < CHUNK ? n : CHUNK;
    luaL_addlstring(r->b, s, k);
    s += k;
    n -= k;
    fmt_charge(r, 1 + k / 64);
  }
}

/* %q of a string, as the stock library writes it. */
static void fmt_quoted(fmt_run_t *r, const char *s, size_t n) {
  luaL_addchar(r->b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\' || ch == '\n') {
      luaL_addchar(r->b, '\\');
      luaL_addchar(r->b, (char)ch);
    } else if (iscntrl(ch)) {
      /* \ddd before a digit, else the shortest decimal */
      char e[4];
      size_t k = 0;
      int wide = i + 1 < n && isdigit((unsigned char)s[i + 1]);
      if (wide || ch >= 100) e[k++] = (char)('0' + ch / 100);
      if (wide || ch >= 10) e[k++] = (char)('0' + ch / 10 % 10);
      e[k++] = (char)('0' + ch % 10);
      luaL_addchar(r->b, '\\');
      luaL_addlstring(r->b, e, k);
    } else {
      luaL_addchar(r->b, (char)ch);
    }
    if ((i & 4095) == 4095) fmt_charge(r, 256);
  }
  luaL_addchar(r->b, '"');
}

/* The stock format's errors as if Lua had called it (there are no
 * argument errors left for it: the arguments were checked here). */
static void stock_call(lua_State *L, int nargs) {
  kk__sb_stock_call(L, nargs, 1, NO_MAP);
}

/* Pushes the stock format's result for the directive spec[0..n) and the
 * value at idx. */
static void fmt_stock(lua_State *L, const char *spec, size_t n, int idx) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushlstring(L, spec, n);
  lua_pushvalue(L, idx);
  stock_call(L, 2);
}

/* Lets the stock format check the %s directive spec (with an empty
 * string): raises its error when spec is bad. */
static void fmt_check_spec(lua_State *L, const char *spec, size_t n) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushlstring(L, spec, n);
  lua_pushliteral(L, "");
  stock_call(L, 2);
  lua_pop(L, 1);
}

static int fmt_short(lua_State *L, size_t fl, int top) {
  if (fl > FMT_SHORT || top > FMT_ARGS + 1) return 0;
  size_t bytes = 0;
  for (int i = 2; i <= top; i++)
    if (lua_type(L, i) == LUA_TSTRING &&
        (bytes += lua_rawlen(L, i)) > FMT_STRBYTES)
      return 0;
  return 1;
}

static int b_format(lua_State *L) {
  size_t fl;
  const char *f = luaL_checklstring(L, 1, &fl);
  int top = lua_gettop(L);
  if (fmt_short(L, fl, top)) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    kk__sb_stock_call(L, top, 1, 0);
    return 1;
  }
  const char *e = f + fl;
  int arg = 1;
  /* Holds a string being copied: nothing may stay above the buffer
   * between two of its operations. */
  lua_pushnil(L);
  int hold = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  fmt_run_t r = {L, &b, 0};
  while (f < e) {
    const char *pct = memchr(f, '%', (size_t)(e - f));
    if (!pct) pct = e;
    fmt_add(&r, f, (size_t)(pct - f));
    if (pct == e) break;
    if (pct + 1 < e && pct[1] == '%') {
      luaL_addchar(&b, '%');
      f = pct + 2;
      continue;
    }
    /* The directive: flags, width, precision and the conversion. */
    const char *q = pct + 1;
    while (q < e && *q && strchr("-+ #0123456789.", *q))
      q++;
    char conv = q < e ? *q : 0;
    size_t n = (size_t)(q - pct) + (q < e);
    f = pct + n;
    fmt_charge(&r, 1 + n / 16);
    if (++arg > top) return luaL_argerror(L, arg, "no value");
    int plain = n == 2; /* no flags, width or precision */
    if (conv == 's') {
      size_t l;
      const char *v = luaL_tolstring(L, arg, &l);
      if (!plain) {
        luaL_argcheck(L, l == strlen(v), arg, "string contains zeros");
        fmt_check_spec(L, pct, n);
        if (memchr(pct, '.', n) || l < 100) {
          fmt_stock(L, pct, n, lua_gettop(L));
          lua_remove(L, -2);
        }
      }
      lua_replace(L, hold);
      v = lua_tolstring(L, hold, &l);
      fmt_add(&r, v, l);
      continue;
    }
    if (conv == 'q' && plain) {
      int t = lua_type(L, arg);
      if (t == LUA_TSTRING && lua_rawlen(L, arg) > FMT_QUOTE_HERE) {
        size_t l;
        const char *v = lua_tolstring(L, arg, &l);
        fmt_quoted(&r, v, l);
        continue;
      }
      if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TNIL &&
          t != LUA_TBOOLEAN)
        return luaL_argerror(L, arg, "value has no literal form");
    } else if (conv && strchr("cdiouxX", conv)) {
      luaL_checkinteger(L, arg);
    } else if (conv && strchr("aAeEfFgG", conv)) {
      luaL_checknumber(L, arg);
    }
    /* Everything else (and every bad specification) as the stock
     * function has it. */
    fmt_stock(L, pct, n, arg);
    fmt_charge(&r, 1 + lua_rawlen(L, -1) / 64);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  kk__lua_charge_result(L, "string.format");
  return 1;
}

void kk__sb_bound_string(lua_State *L) {
  static const luaL_Reg fns[] = {{"rep", b_rep},
                                 {"upper", b_upper},
                                 {"lower", b_lower},
                                 {"reverse", b_reverse},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  lua_getfield(L, -1, "format");
  lua_pushcclosure(L, b_format, 1);
  lua_setfield(L, -2, "format");
}

/* ---- table ------------------------------------------------------------- */

#define TAB_R 1
#define TAB_W 2
#define TAB_L 4

/* A table, or a value whose metatable gives the access `what` needs (as
 * the stock table library accepts). */
static void check_tab(lua_State *L, int arg, int what) {
  if (lua_type(L, arg) == LUA_TTABLE) return;
  int n = 1;
  if (lua_getmetatable(L, arg)) {
    int ok = 1;
    if (what & TAB_R) ok &= lua_getfield(L, -(n++), "__index") != LUA_TNIL;
    if (what & TAB_W) ok &= lua_getfield(L, -(n++), "__newindex") != LUA_TNIL;
    if (what & TAB_L) ok &= lua_getfield(L, -(n++), "__len") != LUA_TNIL;
    lua_pop(L, n);
    if (ok) return;
  }
  luaL_checktype(L, arg, LUA_TTABLE);
}

static lua_Integer tab_len(lua_State *L, int arg, int what) {
  check_tab(L, arg, what | TAB_L);
  return luaL_len(L, arg);
}

/* Charges one element every call, CHUNK_STEPS at a time. */
typedef struct tally {
  lua_State *L;
  const char *fn;
  unsigned n;
} tally_t;

static void tally(tally_t *t, size_t steps) {
  t->n += (unsigned)(steps > CHUNK_STEPS ? CHUNK_STEPS : steps);
  if (t->n >= CHUNK_STEPS) {
    t->n = 0;
    kk__lua_charge(t->L, CHUNK_STEPS, t->fn);
  }
}

static int b_concat(lua_State *L) {
  lua_Integer last = tab_len(L, 1, TAB_R);
  size_t lsep;
  const char *sep = luaL_optlstring(L, 2, "", &lsep);
  lua_Integer i = luaL_optinteger(L, 3, 1);
  last = luaL_optinteger(L, 4, last);
  tally_t t = {L, "table.concat", 0};
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (; i <= last; i++) {
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1))
      return luaL_error(L,
                        "invalid value (%s) at index %I in table for "
                        "'concat'",
                        luaL_typename(L, -1), (LUAI_UACINT)i);
    tally(&t, 1 + lua_rawlen(L, -1) / 64);
    luaL_addvalue(&b);
    if (i == last) break; /* i + 1 could overflow */
    luaL_addlstring(&b, sep, lsep);
  }
  luaL_pushresult(&b);
  kk__lua_charge_result(L, "table.concat");
  return 1;
}

static int b_move(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2);
  lua_Integer e = luaL_checkinteger(L, 3);
  lua_Integer t = luaL_checkinteger(L, 4);
  int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
  check_tab(L, 1, TAB_R);
  check_tab(L, tt, TAB_W);
  if (e >= f) {
    luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3,
                  "too many elements to move");
    lua_Integer n = e - f + 1;
    luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
    tally_t ty = {L, "table.move", 0};
    /* Backwards only when the ranges overlap with t inside (f, e]. */
    int fwd = t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ));
    for (lua_Integer k = 0; k < n; k++) {
      lua_Integer i = fwd ? k : n - 1 - k;
      lua_geti(L, 1, f + i);
      lua_seti(L, tt, t + i);
      tally(&ty, 1);
    }
  }
  lua_pushvalue(L, tt);
  return 1;
}

static int b_insert(lua_State *L) {
  lua_Integer e = tab_len(L, 1, TAB_R | TAB_W);
  e = (lua_Integer)((lua_Unsigned)e + 1u); /* the first empty slot */
  lua_Integer pos;
  switch (lua_gettop(L)) {
  case 2:
    pos = e;
    break;
  case 3: {
    pos = luaL_checkinteger(L, 2);
    luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2,
                  "position out of bounds");
    tally_t t = {L, "table.insert", 0};
    for (lua_Integer i = e; i > pos; i--) {
      lua_geti(L, 1, i - 1);
      lua_seti(L, 1, i);
      tally(&t, 1);
    }
    break;
  }
  default:
    return luaL_error(L, "wrong number of arguments to 'insert'");
  }
  lua_seti(L, 1, pos);
  return 0;
}

static int b_remove(lua_State *L) {
  lua_Integer size = tab_len(L, 1, TAB_R | TAB_W);
  lua_Integer pos = luaL_optinteger(L, 2, size);
  if (pos != size) /* (the stock library names argument 1 here) */
    luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 1,
                  "position out of bounds");
  lua_geti(L, 1, pos);
  tally_t t = {L, "table.remove", 0};
  for (; pos < size; pos++) {
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);
    tally(&t, 1);
  }
  lua_pushnil(L);
  lua_seti(L, 1, pos);
  return 1;
}

/* The default comparison of table.sort, counted. */
static _Thread_local unsigned sort_calls;

static int sort_lt(lua_State *L) {
  kk__sb_late(L, "table.sort");
  if (++sort_calls >= CHUNK_STEPS) {
    sort_calls = 0;
    kk__lua_charge(L, CHUNK_STEPS, "table.sort");
  }
  lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
  return 1;
}

/* A C comparator given by the caller, counted (upvalue 1). */
static int sort_counted(lua_State *L) {
  kk__sb_late(L, "table.sort");
  if (++sort_calls >= CHUNK_STEPS) {
    sort_calls = 0;
    kk__lua_charge(L, CHUNK_STEPS, "table.sort");
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* table.sort (upvalue 1: the stock one).  The stock sort does all its
 * work through comparisons, so counting them bounds it; a Lua comparator
 * is left as it is (the count hook runs in it). */
static int b_sort(lua_State *L) {
  /* The stock sort's own argument errors would not know its name. */
  lua_Integer n = tab_len(L, 1, TAB_R | TAB_W);
  if (n > 1) luaL_argcheck(L, n < INT_MAX, 1, "array too big");
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_pushcfunction(L, sort_lt);
  } else {
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    if (lua_iscfunction(L, 2)) lua_pushcclosure(L, sort_counted, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 2, 0);
  return 0;
}

void kk__sb_bound_table(lua_State *L) {
  static const luaL_Reg fns[] = {{"concat", b_concat},
                                 {"move", b_move},
                                 {"insert", b_insert},
                                 {"remove", b_remove},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  lua_getfield(L, -1, "sort");
  lua_pushcclosure(L, b_sort, 1);
  lua_setfield(L, -2, "sort");
}

/* ---- coroutine ------------------------------------------------------- */

/* The registry slot that keeps the running coroutine alive while the
 * watchdog may reach it through sb_ctx_t.running. */
static const char running_key = 'r';

/* Records the thread at idx (0: L itself) as the running one. */
static void set_running(lua_State *L, int idx) {
  sb_ctx_t *c = kk__sb_ctx(L);
  if (!c) return;
  if (idx)
    lua_pushvalue(L, idx);
  else
    lua_pushthread(L);
  c->running = lua_tothread(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &running_key);
}

/* coroutine.resume (upvalue 1: the stock one). */
static int co_resume(lua_State *L) {
  luaL_argexpected(L, lua_isthread(L, 1), 1, "thread");
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  set_running(L, 2);
  lua_call(L, n, LUA_MULTRET);
  set_running(L, 0);
  return lua_gettop(L);
}

/* What coroutine.wrap returns (upvalue 1: the stock wrapper, 2: its
 * coroutine).  The stock wrapper prefixes a string error with the place
 * of its caller, which is this function; the Lua caller's place is added
 * here instead, as the stock wrapper does when Lua calls it. */
static int co_wrapped(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  set_running(L, lua_upvalueindex(2));
  int st = lua_pcall(L, n, LUA_MULTRET, 0);
  set_running(L, 0);
  if (st != LUA_OK) {
    if (st != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
      luaL_where(L, 1);
      lua_insert(L, -2);
      lua_concat(L, 2);
    }
    return lua_error(L);
  }
  return lua_gettop(L);
}

/* coroutine.wrap (upvalue 1: the stock one). */
static int co_wrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  if (!lua_iscfunction(L, -1) || !lua_getupvalue(L, -1, 1)) return 1;
  if (!lua_isthread(L, -1)) {
    lua_pop(L, 1);
    return 1;
  }
  lua_pushcclosure(L, co_wrapped, 2);
  return 1;
}

void kk__sb_bound_coroutine(lua_State *L) {
  lua_getfield(L, -1, "resume");
  lua_pushcclosure(L, co_resume, 1);
  lua_setfield(L, -2, "resume");
  lua_getfield(L, -1, "wrap");
  lua_pushcclosure(L, co_wrap, 1);
  lua_setfield(L, -2, "wrap");
}
