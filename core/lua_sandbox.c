/* core/lua_sandbox.c - sandboxed Lua states: allow-listed globals,
 * path-restricted files, a memory cap and an instruction budget.
 *
 * The state's real global table (every standard library) stays hidden in
 * the registry; the table Lua code sees as _G is built from an allow-list
 * and installed as LUA_RIDX_GLOBALS, so every chunk loaded later gets it
 * as _ENV.  The per-state context rides in the allocator's userdata,
 * which every thread (coroutine) of the state can reach. */
#include "core.h"
#include "lua_sandbox.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef KK_CJSON_SO
#define KK_CJSON_SO "/usr/lib/x86_64-linux-gnu/lua/5.4/cjson.so"
#endif

/* The count hook fires every HOOK_EVERY VM instructions: often enough to
 * stop a runaway loop within microseconds of its deadline, rarely enough
 * to cost about 1% of a tight loop (one clock_gettime per call). */
#define HOOK_EVERY 1000
#define CTX_MAGIC 0x6b6b4c55u /* "kkLU" */

#define REG_HIDDEN_G "kk.lua.G"      /* the full global table */
#define REG_LOADED "kk.lua.loaded"   /* require's cache */
#define REG_PRELOAD "kk.lua.preload" /* kk__lua_set_preload() */

typedef struct sb_dir {
  char *path; /* canonical, no trailing slash (except "/") */
  size_t len;
  int writable;
} sb_dir_t;

/* What one kk__lua_pcall() tracks; saved and restored around nested
 * calls. */
typedef struct sb_call {
  uint64_t start_ns;
  uint64_t budget;
  uint64_t deadline_ns;
  uint64_t count;
  int budget_hit;
  int memcap_hit;
} sb_call_t;

typedef struct sb_ctx {
  uint32_t magic;
  lua_State *main; /* the main thread */
  size_t used, cap;
  kk__lua_limits_t lim;
  int depth; /* kk__lua_pcall() nesting; the hook only acts inside */
  sb_call_t call;
  char name[64];
  sb_dir_t *dirs;
  size_t ndirs;
  char warnbuf[512];
  size_t warnlen;
} sb_ctx_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- allocator ------------------------------------------------------- */

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  sb_ctx_t *c = ud;
  size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
  if (nsize == 0) {
    free(ptr);
    c->used -= old;
    return NULL;
  }
  if (nsize > old && c->used - old + nsize > c->cap) {
    c->call.memcap_hit = 1;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (!p) return NULL;
  c->used = c->used - old + nsize;
  return p;
}

static sb_ctx_t *ctx_of(lua_State *L) {
  void *ud = NULL;
  lua_Alloc f = lua_getallocf(L, &ud);
  if (f != sb_alloc || !ud) return NULL;
  sb_ctx_t *c = ud;
  return c->magic == CTX_MAGIC ? c : NULL;
}

static kk__lua_limits_t defaults = {KK__LUA_DEFAULT_MEM_CAP,
                                    KK__LUA_DEFAULT_BUDGET,
                                    KK__LUA_DEFAULT_DEADLINE_MS};

static void limits_fill(kk__lua_limits_t *dst, const kk__lua_limits_t *src) {
  dst->mem_cap = src && src->mem_cap ? src->mem_cap : defaults.mem_cap;
  dst->budget = src && src->budget ? src->budget : defaults.budget;
  dst->deadline_ms =
      src && src->deadline_ms ? src->deadline_ms : defaults.deadline_ms;
}

void kk__lua_default_limits(kk__lua_limits_t *lim) {
  *lim = defaults;
}

void kk__lua_set_default_limits(const kk__lua_limits_t *lim) {
  defaults.mem_cap =
      lim && lim->mem_cap ? lim->mem_cap : KK__LUA_DEFAULT_MEM_CAP;
  defaults.budget = lim && lim->budget ? lim->budget : KK__LUA_DEFAULT_BUDGET;
  defaults.deadline_ms =
      lim && lim->deadline_ms ? lim->deadline_ms : KK__LUA_DEFAULT_DEADLINE_MS;
}

/* ---- budget ------------------------------------------------------------ */

static void sb_hook(lua_State *L, lua_Debug *ar) {
  sb_ctx_t *c = ctx_of(L);
  if (!c || !c->depth) return;
  int every = lua_gethookcount(L);
  c->call.count += (uint64_t)every;
  uint64_t elapsed = now_ns() - c->call.start_ns;
  if (c->call.budget_hit || c->call.count >= c->call.budget ||
      elapsed >= c->call.deadline_ns) {
    c->call.budget_hit = 1;
    /* From now on every instruction fails, so a pcall in Lua cannot
     * swallow the error and go on looping; the main thread too when this
     * is a coroutine (new coroutines inherit its rate). */
    if (every != 1) lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
    if (L != c->main && lua_gethookcount(c->main) != 1)
      lua_sethook(c->main, sb_hook, LUA_MASKCOUNT, 1);
    /* Name the place the code was at: luaL_error's level 1 would be the
     * caller of the looping function. */
    char where[LUA_IDSIZE + 24] = "";
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
      snprintf(where, sizeof where, "%s:%d: ", ar->short_src, ar->currentline);
    lua_pushfstring(L, "%sinstruction budget exceeded (", where);
    char msg[96];
    snprintf(msg, sizeof msg, "%llu instructions in %llu ms)",
             (unsigned long long)c->call.count,
             (unsigned long long)(elapsed / 1000000u));
    lua_pushstring(L, msg);
    lua_concat(L, 2);
    lua_error(L);
    return;
  }
  /* A coroutine left at count 1 by an earlier overrun goes back to the
   * cheap rate. */
  if (every != HOOK_EVERY) lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

static void call_begin(sb_ctx_t *c, sb_call_t *saved,
                       const kk__lua_limits_t *over) {
  *saved = c->call;
  c->depth++;
  memset(&c->call, 0, sizeof c->call);
  c->call.start_ns = now_ns();
  c->call.budget = over && over->budget ? over->budget : c->lim.budget;
  uint64_t dl =
      over && over->deadline_ms ? over->deadline_ms : c->lim.deadline_ms;
  c->call.deadline_ns = dl * 1000000u;
}

static void call_end(sb_ctx_t *c, const sb_call_t *saved) {
  c->depth--;
  c->call = *saved;
}

/* Runs a full collection under a budget, so that a Lua finalizer cannot
 * hang the caller (its errors become warnings). */
static void guarded_gc(lua_State *L, sb_ctx_t *c) {
  sb_call_t saved;
  call_begin(c, &saved, NULL);
  lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
  lua_gc(L, LUA_GCCOLLECT);
  call_end(c, &saved);
}

static int sb_msgh(lua_State *L) {
  sb_ctx_t *c = ctx_of(L);
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
  }
  /* A budget overrun is reported as is: its message already names the
   * place, and a traceback could not be built in a failing state. */
  if (c && c->call.budget_hit) {
    lua_pushstring(L, msg);
    return 1;
  }
  /* A traceback without a single Lua frame says nothing. */
  luaL_traceback(L, L, NULL, 1);
  if (strcmp(lua_tostring(L, -1), "stack traceback:\n\t[C]: in ?") == 0) {
    lua_pushstring(L, msg);
    return 1;
  }
  lua_pushstring(L, msg);
  lua_pushliteral(L, "\n");
  lua_rotate(L, -3, 2);
  lua_concat(L, 3);
  return 1;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    KK__PRINTF(3, 4);
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int kk__lua_pcall_limits(lua_State *L, int nargs, int nresults,
                         const kk__lua_limits_t *lim, char *err,
                         size_t errlen) {
  sb_ctx_t *c = ctx_of(L);
  int base = lua_gettop(L) - nargs; /* the function */
  lua_pushcfunction(L, sb_msgh);
  lua_insert(L, base);
  sb_call_t saved;
  if (c) {
    call_begin(c, &saved, lim);
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
  }
  int st = lua_pcall(L, nargs, nresults, base);
  int rc = 0;
  if (st != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (c && c->call.budget_hit) {
      rc = KK_EBUDGET;
      set_err(err, errlen, "%s", msg ? msg : "instruction budget exceeded");
    } else if (st == LUA_ERRMEM || (c && c->call.memcap_hit)) {
      rc = KK_EMEMCAP;
      if (c)
        set_err(err, errlen, "memory cap exceeded (cap %zu KiB): %s",
                c->cap / 1024, msg ? msg : "not enough memory");
      else
        set_err(err, errlen, "%s", msg ? msg : "not enough memory");
    } else {
      rc = KK_ELUA;
      set_err(err, errlen, "%s", msg ? msg : "Lua error");
    }
    lua_pop(L, 1);
  }
  lua_remove(L, base);
  if (c) {
    call_end(c, &saved);
    if (rc == KK_EMEMCAP || rc == KK_EBUDGET) guarded_gc(L, c);
  }
  return rc;
}

int kk__lua_pcall(lua_State *L, int nargs, int nresults, char *err,
                  size_t errlen) {
  return kk__lua_pcall_limits(L, nargs, nresults, NULL, err, errlen);
}

/* ---- paths -------------------------------------------------------------- */

static int dir_allows(const sb_ctx_t *c, const char *p, int write) {
  for (size_t i = 0; i < c->ndirs; i++) {
    const sb_dir_t *d = &c->dirs[i];
    if (write && !d->writable) continue;
    if (strncmp(p, d->path, d->len) != 0) continue;
    if (p[d->len] == '/' || p[d->len] == 0 ||
        (d->len == 1 && d->path[0] == '/'))
      return 1;
  }
  return 0;
}

/* Resolves `path` for reading or writing into `out` (PATH_MAX bytes).
 * Returns 0, KK_EDENIED when it leaves the allowed trees, or -errno. */
static int sb_resolve(const sb_ctx_t *c, const char *path, int write,
                      char *out) {
  if (!path || !*path) return -ENOENT;
  if (realpath(path, out)) return dir_allows(c, out, write) ? 0 : KK_EDENIED;
  if (errno != ENOENT) return KK_EDENIED;
  /* The file does not exist: resolve its directory instead. */
  char dir[PATH_MAX], dreal[PATH_MAX];
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (!slash) {
    strcpy(dir, ".");
  } else if (slash == path) {
    strcpy(dir, "/");
  } else {
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) return -ENAMETOOLONG;
    memcpy(dir, path, n);
    dir[n] = 0;
  }
  if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
    return KK_EDENIED;
  if (!realpath(dir, dreal)) return KK_EDENIED;
  int n = snprintf(out, PATH_MAX, "%s%s%s", dreal,
                   strcmp(dreal, "/") == 0 ? "" : "/", base);
  if (n < 0 || n >= PATH_MAX) return -ENAMETOOLONG;
  if (!dir_allows(c, out, write)) return KK_EDENIED;
  if (!write) return -ENOENT;
  /* Something is there although realpath() failed: a dangling symlink,
   * which writing would follow out of the tree. */
  struct stat sb;
  if (lstat(out, &sb) == 0) return KK_EDENIED;
  return 0;
}

/* Pushes nil, message, errno-like code (the liolib convention). */
static int push_resolve_fail(lua_State *L, const char *path, int rc,
                             int write) {
  lua_pushnil(L);
  if (rc == KK_EDENIED) {
    lua_pushfstring(L,
                    "%s: access denied (not under a path this Lua state "
                    "may %s)",
                    path, write ? "write" : "read");
    lua_pushinteger(L, EACCES);
  } else {
    lua_pushfstring(L, "%s: %s", path, strerror(-rc));
    lua_pushinteger(L, -rc);
  }
  return 3;
}

int kk__lua_allow_path(lua_State *L, const char *dir, int writable) {
  sb_ctx_t *c = ctx_of(L);
  if (!c) return KK_EINVAL;
  char real[PATH_MAX];
  if (!realpath(dir, real)) return -errno;
  for (size_t i = 0; i < c->ndirs; i++)
    if (strcmp(c->dirs[i].path, real) == 0) {
      c->dirs[i].writable |= writable;
      return 0;
    }
  sb_dir_t *nd = realloc(c->dirs, (c->ndirs + 1) * sizeof *nd);
  if (!nd) return KK_ENOMEM;
  c->dirs = nd;
  char *p = strdup(real);
  if (!p) return KK_ENOMEM;
  c->dirs[c->ndirs].path = p;
  c->dirs[c->ndirs].len = strlen(p);
  c->dirs[c->ndirs].writable = writable ? 1 : 0;
  c->ndirs++;
  return 0;
}

/* ---- restricted io ------------------------------------------------------ */

static int mode_ok(const char *mode) {
  if (!mode[0] || !strchr("rwa", mode[0])) return 0;
  const char *m = mode + 1;
  if (*m == '+') m++;
  return strspn(m, "b") == strlen(m);
}

/* io.open(path [, mode]) with upvalue 1 = the real io.open. */
static int sb_io_open(lua_State *L) {
  sb_ctx_t *c = ctx_of(L);
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "r");
  luaL_argcheck(L, mode_ok(mode), 2, "invalid mode");
  int write = mode[0] != 'r' || strchr(mode, '+') != NULL;
  char real[PATH_MAX];
  int rc = sb_resolve(c, path, write, real);
  if (rc) return push_resolve_fail(L, path, rc, write);
  int top = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushstring(L, real);
  lua_pushstring(L, mode);
  lua_call(L, 2, LUA_MULTRET);
  return lua_gettop(L) - top;
}

/* io.lines(path, ...) with upvalue 1 = the real io.lines.  Unlike the
 * standard one it needs a file name (no standard input here). */
static int sb_io_lines(lua_State *L) {
  sb_ctx_t *c = ctx_of(L);
  const char *path = luaL_checkstring(L, 1);
  char real[PATH_MAX];
  int rc = sb_resolve(c, path, 0, real);
  if (rc) {
    push_resolve_fail(L, path, rc, 0);
    return luaL_error(L, "%s", lua_tostring(L, -2));
  }
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushstring(L, real);
  for (int i = 2; i <= n; i++)
    lua_pushvalue(L, i);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L) - n;
}

/* ---- restricted loading -------------------------------------------------- */

/* load(chunk [, chunkname [, mode [, env]]]) with upvalue 1 = the real
 * load: text chunks only. */
static int sb_load(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checkany(L, 1);
  lua_settop(L, n >= 4 ? 4 : 3);
  const char *mode = luaL_optstring(L, 3, "t");
  if (strchr(mode, 'b')) {
    luaL_pushfail(L);
    lua_pushliteral(L, "load: binary chunks are not allowed");
    return 2;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2); /* chunk name; nil when absent */
  lua_pushliteral(L, "t");
  if (n >= 4) lua_pushvalue(L, 4); /* an explicit env, even nil */
  lua_call(L, n >= 4 ? 4 : 3, 2);
  return 2;
}

/* Loads a checked file; returns 1 with the function pushed, or pushes
 * nil, message and returns 2. */
static int load_checked(lua_State *L, const char *path, const char *mode) {
  sb_ctx_t *c = ctx_of(L);
  if (mode && strchr(mode, 'b')) {
    lua_pushnil(L);
    lua_pushstring(L, "binary chunks are not allowed");
    return 2;
  }
  char real[PATH_MAX];
  int rc = sb_resolve(c, path, 0, real);
  if (rc) {
    push_resolve_fail(L, path, rc, 0);
    lua_pop(L, 1);
    return 2;
  }
  if (luaL_loadfilex(L, real, "t") != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  return 1;
}

static int sb_loadfile(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "t");
  int env = !lua_isnone(L, 3) ? 3 : 0;
  int r = load_checked(L, path, mode);
  if (r == 1 && env) {
    lua_pushvalue(L, env);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  }
  return r;
}

static int sb_dofile(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  if (load_checked(L, path, "t") != 1) return lua_error(L);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

/* ---- calls that would escape the budget ---------------------------------- */

/* Lua runs a message handler that an error raised inside a hook triggers,
 * and every __gc finalizer, with hooks switched off: a Lua function there
 * could loop forever past the budget.  Hence xpcall calls its handler only
 * after the stack has unwound (hooks on again; without the debug library a
 * handler cannot look at the failed stack anyway), and setmetatable
 * refuses metatables with __gc. */
static int xpcall_finish(lua_State *L, int status, lua_KContext extra) {
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushvalue(L, 2); /* the handler */
    lua_insert(L, -2);
    lua_pcall(L, 1, 1, 0); /* its result or its own error */
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  return lua_gettop(L) - (int)extra;
}

static int sb_xpcall(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2); /* f, h, true, f, args... */
  int st = lua_pcallk(L, n - 2, LUA_MULTRET, 0, 2, xpcall_finish);
  return xpcall_finish(L, st, 2);
}

/* setmetatable(t, mt) with upvalue 1 = the real one. */
static int sb_setmetatable(lua_State *L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_error(L, "setmetatable: __gc metamethods are not allowed "
                           "here (finalizers would run outside the "
                           "instruction budget)");
    lua_pop(L, 1);
  }
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, 1);
  return 1;
}

/* ---- require ---------------------------------------------------------------
 */

static int valid_modname(const char *s) {
  if (!*s || *s == '.') return 0;
  for (const char *p = s; *p; p++) {
    char ch = *p;
    if (ch == '.') {
      if (p[1] == '.' || p[1] == 0) return 0;
    } else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) {
      return 0;
    }
  }
  return 1;
}

/* Loads lua-cjson's open function `sym` through the hidden package.loadlib
 * and calls it; pushes the module table. */
static void require_cjson(lua_State *L, const char *sym) {
  lua_getfield(L, LUA_REGISTRYINDEX, REG_HIDDEN_G);
  lua_getfield(L, -1, "package");
  int pkg = lua_gettop(L);
  const char *so = NULL;
  if (access(KK_CJSON_SO, R_OK) == 0) {
    so = KK_CJSON_SO;
  } else {
    lua_getfield(L, pkg, "searchpath");
    lua_pushliteral(L, "cjson");
    lua_getfield(L, pkg, "cpath");
    lua_call(L, 2, 1);
    so = lua_tostring(L, -1);
    if (!so) luaL_error(L, "require: lua-cjson (cjson.so) is not installed");
  }
  lua_getfield(L, pkg, "loadlib");
  lua_pushstring(L, so);
  lua_pushstring(L, sym);
  lua_call(L, 2, 2);
  if (lua_isnil(L, -2))
    luaL_error(L, "require: cannot load %s from %s: %s", sym, so,
               lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_call(L, 0, 1);
}

static int require_file(lua_State *L, const char *name) {
  sb_ctx_t *c = ctx_of(L);
  char rel[PATH_MAX];
  size_t n = strlen(name);
  if (n + 16 > sizeof rel) return 0;
  for (size_t i = 0; i <= n; i++)
    rel[i] = name[i] == '.' ? '/' : name[i];
  static const char *const forms[] = {"%s/%s.lua", "%s/%s/init.lua"};
  for (size_t i = 0; i < c->ndirs; i++) {
    for (size_t f = 0; f < 2; f++) {
      char cand[PATH_MAX], real[PATH_MAX];
      int w = snprintf(cand, sizeof cand, forms[f], c->dirs[i].path, rel);
      if (w < 0 || (size_t)w >= sizeof cand) continue;
      if (sb_resolve(c, cand, 0, real) != 0) continue;
      if (luaL_loadfilex(L, real, "t") != LUA_OK) return lua_error(L);
      lua_pushstring(L, name);
      lua_pushstring(L, real);
      lua_call(L, 2, 1);
      return 1;
    }
  }
  return 0;
}

static int sb_require(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, REG_LOADED); /* 2 */
  if (lua_getfield(L, 2, name) != LUA_TNIL) return 1;
  lua_pop(L, 1);

  static const char *const visible[] = {"string",    "table", "math", "utf8",
                                        "coroutine", "os",    "io",   NULL};
  for (size_t i = 0; visible[i]; i++)
    if (strcmp(name, visible[i]) == 0) {
      lua_getglobal(L, name);
      return 1;
    }

  lua_getfield(L, LUA_REGISTRYINDEX, REG_PRELOAD);
  if (lua_getfield(L, -1, name) == LUA_TFUNCTION) {
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
  } else if (strcmp(name, "cjson") == 0) {
    require_cjson(L, "luaopen_cjson");
  } else if (strcmp(name, "cjson.safe") == 0) {
    require_cjson(L, "luaopen_cjson_safe");
  } else if (!valid_modname(name) || !require_file(L, name)) {
    return luaL_error(L,
                      "module '%s' not found or not allowed (require loads "
                      "only cjson, klimakit and Lua files under the allowed "
                      "paths)",
                      name);
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, 2, name);
  return 1;
}

void kk__lua_set_preload(lua_State *L, const char *name, lua_CFunction open) {
  lua_getfield(L, LUA_REGISTRYINDEX, REG_PRELOAD);
  lua_pushcfunction(L, open);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

/* ---- print and warnings ----------------------------------------------------
 */

static int sb_print(lua_State *L) {
  sb_ctx_t *c = ctx_of(L);
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  kk_log(KK_LOG_INFO, "lua", c ? c->name : "lua", "%s", lua_tostring(L, -1));
  return 0;
}

static void sb_warn(void *ud, const char *msg, int tocont) {
  sb_ctx_t *c = ud;
  if (c->warnlen == 0 && !tocont && msg[0] == '@') return; /* control */
  size_t n = strlen(msg), room = sizeof c->warnbuf - 1 - c->warnlen;
  if (n > room) n = room;
  memcpy(c->warnbuf + c->warnlen, msg, n);
  c->warnlen += n;
  c->warnbuf[c->warnlen] = 0;
  if (!tocont) {
    kk_log(KK_LOG_WARN, "lua", c->name, "%s", c->warnbuf);
    c->warnlen = 0;
  }
}

static int sb_panic(lua_State *L) {
  sb_ctx_t *c = ctx_of(L);
  kk_log(KK_LOG_ERROR, "lua", c ? c->name : "lua", "unprotected error: %s",
         lua_tostring(L, -1));
  abort();
  return 0;
}

/* ---- the allow-list
 * ----------------------------------------------------------- */

static const char *const base_allowed[] = {
    "assert", "error",    "ipairs",       "next",     "pairs",    "pcall",
    "select", "tonumber", "tostring",     "type",     "rawequal", "rawget",
    "rawset", "rawlen",   "getmetatable", "_VERSION", NULL};
static const char *const libs_shared[] = {"string", "table",     "math",
                                          "utf8",   "coroutine", NULL};
static const char *const os_allowed[] = {"time", "clock", "date", "getenv",
                                         NULL};

/* Runs protected from kk__lua_new(). */
static int sb_setup(lua_State *L) {
  luaL_openlibs(L);
  lua_pushglobaltable(L);
  int G = lua_gettop(L);
  lua_pushvalue(L, G);
  lua_setfield(L, LUA_REGISTRYINDEX, REG_HIDDEN_G);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, REG_LOADED);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, REG_PRELOAD);

  /* Bytecode is never loaded, but leave nothing that produces it. */
  lua_getfield(L, G, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);

  lua_newtable(L);
  int S = lua_gettop(L);
  for (size_t i = 0; base_allowed[i]; i++) {
    lua_getfield(L, G, base_allowed[i]);
    lua_setfield(L, S, base_allowed[i]);
  }
  for (size_t i = 0; libs_shared[i]; i++) {
    lua_getfield(L, G, libs_shared[i]);
    lua_setfield(L, S, libs_shared[i]);
  }
  lua_newtable(L);
  lua_getfield(L, G, "os");
  for (size_t i = 0; os_allowed[i]; i++) {
    lua_getfield(L, -1, os_allowed[i]);
    lua_setfield(L, -3, os_allowed[i]);
  }
  lua_pop(L, 1);
  lua_setfield(L, S, "os");

  lua_newtable(L);
  lua_getfield(L, G, "io");
  lua_getfield(L, -1, "open");
  lua_pushcclosure(L, sb_io_open, 1);
  lua_setfield(L, -3, "open");
  lua_getfield(L, -1, "lines");
  lua_pushcclosure(L, sb_io_lines, 1);
  lua_setfield(L, -3, "lines");
  lua_getfield(L, -1, "type");
  lua_setfield(L, -3, "type");
  lua_pop(L, 1);
  lua_setfield(L, S, "io");

  lua_pushcfunction(L, sb_xpcall);
  lua_setfield(L, S, "xpcall");
  lua_getfield(L, G, "setmetatable");
  lua_pushcclosure(L, sb_setmetatable, 1);
  lua_setfield(L, S, "setmetatable");
  /* File handles carry a C __gc: keep Lua from replacing it. */
  luaL_getmetatable(L, LUA_FILEHANDLE);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  lua_getfield(L, G, "load");
  lua_pushcclosure(L, sb_load, 1);
  lua_setfield(L, S, "load");
  lua_pushcfunction(L, sb_loadfile);
  lua_setfield(L, S, "loadfile");
  lua_pushcfunction(L, sb_dofile);
  lua_setfield(L, S, "dofile");
  lua_pushcfunction(L, sb_require);
  lua_setfield(L, S, "require");
  lua_pushcfunction(L, sb_print);
  lua_setfield(L, S, "print");
  lua_pushvalue(L, S);
  lua_setfield(L, S, "_G");

  /* From here on every chunk sees the sandbox as its _ENV. */
  lua_pushvalue(L, S);
  lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  return 0;
}

lua_State *kk__lua_new(const kk__lua_limits_t *lim, const char *name, char *err,
                       size_t errlen) {
  sb_ctx_t *c = calloc(1, sizeof *c);
  if (!c) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  c->magic = CTX_MAGIC;
  limits_fill(&c->lim, lim);
  c->cap = c->lim.mem_cap;
  snprintf(c->name, sizeof c->name, "%s", name ? name : "lua");
  lua_State *L = lua_newstate(sb_alloc, c);
  if (!L) {
    set_err(err, errlen, "cannot create a Lua state (memory cap %zu bytes)",
            c->cap);
    free(c);
    return NULL;
  }
  c->main = L;
  lua_atpanic(L, sb_panic);
  lua_setwarnf(L, sb_warn, c);
  lua_pushcfunction(L, sb_setup);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    set_err(err, errlen,
            "cannot set up the Lua sandbox (memory cap %zu "
            "bytes): %s",
            c->cap, lua_tostring(L, -1));
    lua_close(L);
    free(c);
    return NULL;
  }
  lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
  return L;
}

void kk__lua_close(lua_State *L) {
  if (!L) return;
  sb_ctx_t *c = ctx_of(L);
  if (!c) {
    lua_close(L);
    return;
  }
  /* Finalizers run inside lua_close: keep them under a budget. */
  sb_call_t saved;
  call_begin(c, &saved, NULL);
  lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
  lua_close(L);
  for (size_t i = 0; i < c->ndirs; i++)
    free(c->dirs[i].path);
  free(c->dirs);
  free(c);
}

void kk__lua_set_limits(lua_State *L, const kk__lua_limits_t *lim) {
  sb_ctx_t *c = ctx_of(L);
  if (!c) return;
  limits_fill(&c->lim, lim);
  c->cap = c->lim.mem_cap;
}

void kk__lua_get_limits(lua_State *L, kk__lua_limits_t *lim) {
  sb_ctx_t *c = ctx_of(L);
  if (c)
    *lim = c->lim;
  else
    limits_fill(lim, NULL);
}

size_t kk__lua_mem_used(lua_State *L) {
  sb_ctx_t *c = ctx_of(L);
  return c ? c->used : (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024u;
}

void kk__lua_set_name(lua_State *L, const char *name) {
  sb_ctx_t *c = ctx_of(L);
  if (!c || !name) return;
  snprintf(c->name, sizeof c->name, "%s", name);
}

const char *kk__lua_name(lua_State *L) {
  sb_ctx_t *c = ctx_of(L);
  return c ? c->name : "lua";
}

int kk__lua_loadfile(lua_State *L, const char *path, char *err, size_t errlen) {
  sb_ctx_t *c = ctx_of(L);
  if (c) c->call.memcap_hit = 0;
  int st = luaL_loadfilex(L, path, "t");
  if (st == LUA_OK) return 0;
  const char *msg = lua_tostring(L, -1);
  set_err(err, errlen, "%s", msg ? msg : "cannot load");
  lua_pop(L, 1);
  if (st == LUA_ERRMEM || (c && c->call.memcap_hit)) return KK_EMEMCAP;
  return st == LUA_ERRFILE ? KK_EIO : KK_ELUA;
}

/* ---- the public surface (include/klimakit/lua.h) ------------------------ */

lua_State *kk_lua_new(const kk_lua_limits_t *lim, const char *name, char *err,
                      size_t errlen) {
  return kk__lua_new(lim, name, err, errlen);
}

void kk_lua_close(lua_State *L) { kk__lua_close(L); }

int kk_lua_allow_path(lua_State *L, const char *dir, int writable) {
  return kk__lua_allow_path(L, dir, writable);
}

int kk_lua_pcall(lua_State *L, int nargs, int nresults, char *err,
                 size_t errlen) {
  return kk__lua_pcall(L, nargs, nresults, err, errlen);
}

int kk_lua_pcall_limits(lua_State *L, int nargs, int nresults,
                        const kk_lua_limits_t *lim, char *err, size_t errlen) {
  return kk__lua_pcall_limits(L, nargs, nresults, lim, err, errlen);
}
