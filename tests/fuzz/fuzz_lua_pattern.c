/* libFuzzer target: the sandbox's Lua pattern matcher (core/lua_pattern.c,
 * included here so that it is instrumented) against the stock Lua 5.4
 * string library, on random pattern/subject pairs.  Both must give the
 * same results and the same error messages.
 *
 * Input: byte 0 picks the function (bits 0-1: find, match, gmatch, gsub)
 * and its extra arguments (bits 2-4: init or the replacement, bits 5-6:
 * plain or gsub's n); byte 1 is the pattern's length (mod 48); then the
 * pattern and the subject (at most 64 bytes, so that the stock matcher
 * stays quick).  Ours runs first in a sandboxed state under a budget of
 * 200 000 steps; when it hits the budget the case is skipped (the stock
 * matcher, which has no bound, could take very long on it). */
#include "../../core/lua_pattern.c"

#include "lua_sandbox.h"

#include <klimakit.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *ours, *stock;

typedef struct fcase {
  int fn, var, flag;
  const char *p, *s;
  size_t lp, ls;
} fcase_t;

/* What one state answered (truncated alike on both sides). */
typedef struct out {
  char text[16384];
  size_t len;
} out_t;

static void put(out_t *o, const char *s, size_t n) {
  if (n > sizeof o->text - o->len) n = sizeof o->text - o->len;
  memcpy(o->text + o->len, s, n);
  o->len += n;
}

static void puts_(out_t *o, const char *s) {
  put(o, s, strlen(s));
}

static const lua_Integer inits[8] = {0, 1, 2, -1, -3, 0, 5, 100};

/* Appends the values from index `from` to the top to b, tagged. */
static void ser(lua_State *L, out_t *b, int from, int to) {
  for (int i = from; i <= to; i++) {
    size_t n;
    const char *s;
    char num[64];
    switch (lua_type(L, i)) {
    case LUA_TSTRING:
      s = lua_tolstring(L, i, &n);
      snprintf(num, sizeof num, "s%zu:", n);
      puts_(b, num);
      put(b, s, n);
      break;
    case LUA_TNUMBER:
      snprintf(num, sizeof num, "i%lld", (long long)lua_tointeger(L, i));
      puts_(b, num);
      break;
    case LUA_TNIL:
      puts_(b, "nil");
      break;
    default:
      puts_(b, luaL_typename(L, i));
    }
    puts_(b, "|");
  }
}

/* Calls the function on top with n arguments under lua_pcall and appends
 * the outcome; returns the number of results (-1 on error). */
static int call(lua_State *L, out_t *b, int nargs, int top) {
  if (lua_pcall(L, nargs, LUA_MULTRET, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    puts_(b, "E:");
    puts_(b, msg ? msg : "(not a string)");
    puts_(b, "\n");
    lua_settop(L, top);
    return -1;
  }
  int n = lua_gettop(L) - top;
  ser(L, b, top + 1, top + n);
  return n;
}

/* The case as a protected C function: (case, out) -> nothing. */
static int do_case(lua_State *L) {
  const fcase_t *c = lua_touserdata(L, 1);
  out_t *b = lua_touserdata(L, 2);
  static const char *const names[4] = {"find", "match", "gmatch", "gsub"};
  b->len = 0;
  lua_getglobal(L, "string");
  lua_getfield(L, -1, names[c->fn]);
  lua_pushlstring(L, c->s, c->ls);
  lua_pushlstring(L, c->p, c->lp);
  int nargs = 2;
  if (c->fn == 3) {
    static const char *const repl[8] = {"%0%0", "<%1>", "%2", "x%%y",
                                        NULL,   NULL,   "%",  "7"};
    if (repl[c->var])
      lua_pushstring(L, repl[c->var]);
    else
      lua_getglobal(L, c->var == 4 ? "T" : "F");
    nargs = 3;
    if (c->flag) {
      lua_pushinteger(L, c->flag == 1 ? 1 : c->flag == 2 ? 0 : 2);
      nargs = 4;
    }
  } else if (c->var) {
    lua_pushinteger(L, inits[c->var]);
    nargs = 3;
    if (c->fn == 0 && c->flag & 1) {
      lua_pushboolean(L, 1);
      nargs = 4;
    }
  }
  int top = lua_gettop(L) - nargs - 1;
  if (c->fn != 2) {
    call(L, b, nargs, top);
  } else if (call(L, b, nargs, top) == 1 && lua_isfunction(L, -1)) {
    int it = lua_gettop(L);
    for (int k = 0; k < 64; k++) {
      lua_pushvalue(L, it);
      int n = call(L, b, 0, it);
      if (n <= 0 || lua_isnil(L, it + 1)) break;
      lua_settop(L, it);
    }
  }
  return 0;
}

static const char setup[] =
    "T = {a = 'A', b = false, ['1'] = 1, x = {}}\n"
    "F = function(a, b) if a == 'c' then return {} end return b or a end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  /* Both states live across inputs, so allocations never balance per
   * input: libFuzzer's per-input leak scan would run every time. */
  static char *args[64];
  int n = *argc < 62 ? *argc : 62;
  for (int i = 0; i < n; i++)
    args[i] = (*argv)[i];
  args[n++] = "-detect_leaks=0";
  args[n] = NULL;
  *argc = n;
  *argv = args;
  char err[256];
  ours = kk__lua_new(NULL, "fuzz", err, sizeof err);
  stock = luaL_newstate();
  if (!ours || !stock) abort();
  luaL_openlibs(stock);
  if (luaL_dostring(ours, setup) || luaL_dostring(stock, setup)) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  fcase_t c = {
      data[0] & 3, (data[0] >> 2) & 7, (data[0] >> 5) & 3, NULL, NULL, 0, 0};
  size_t rest = size - 2;
  c.lp = data[1] % 48;
  if (c.lp > rest) c.lp = rest;
  c.p = (const char *)data + 2;
  c.s = c.p + c.lp;
  c.ls = rest - c.lp > 64 ? 64 : rest - c.lp;

  static out_t a, b;
  kk_lua_limits_t lim = {0, 200000, 10000};
  char err[512];
  lua_pushcfunction(ours, do_case);
  lua_pushlightuserdata(ours, &c);
  lua_pushlightuserdata(ours, &a);
  int rc = kk__lua_pcall_limits(ours, 2, 0, &lim, err, sizeof err);
  if (rc == KK_EBUDGET) return 0; /* too long to ask the stock matcher */
  if (rc) {
    fprintf(stderr, "ours failed outside a call: %s\n", err);
    abort();
  }
  lua_pushcfunction(stock, do_case);
  lua_pushlightuserdata(stock, &c);
  lua_pushlightuserdata(stock, &b);
  if (lua_pcall(stock, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "stock failed outside a call: %s\n",
            lua_tostring(stock, -1));
    abort();
  }
  if (a.len != b.len || memcmp(a.text, b.text, a.len) != 0) {
    fprintf(stderr,
            "differs: fn %d var %d flag %d pattern '%.*s' subject "
            "'%.*s'\n  ours:  %.*s\n  stock: %.*s\n",
            c.fn, c.var, c.flag, (int)c.lp, c.p, (int)c.ls, c.s, (int)a.len,
            a.text, (int)b.len, b.text);
    abort();
  }
  return 0;
}
