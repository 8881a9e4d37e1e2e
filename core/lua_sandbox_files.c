/* core/lua_sandbox_files.c - what a sandboxed state may read and load.
 *
 * Paths are resolved (symbolic links too) and must lie in a tree given
 * with kk__lua_allow_path(); io.open and io.lines, loadfile, dofile and
 * require go through that check, and only text chunks are loaded.  A
 * relative path is taken from the first allowed folder (the recipe's
 * or the module's own), then from the working directory. */
#include "lua_sandbox_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KK_CJSON_SO
#define KK_CJSON_SO "/usr/lib/x86_64-linux-gnu/lua/5.4/cjson.so"
#endif

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
static int sb_resolve_as_given(const sb_ctx_t *c, const char *path, int write,
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
  /* A folder that is not there holds nothing to read: the caller may
   * try the path elsewhere (kk.dir is relative when the recipe was named
   * so, and the base folder is prepended to it once more).  Writing
   * there stays denied. */
  if (!realpath(dir, dreal))
    return !write && errno == ENOENT ? -ENOENT : KK_EDENIED;
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

/* A relative path is first taken relative to the state's base folder,
 * the first allowed one (the recipe's folder for a recipe, the module's
 * for a Lua module, the decoder's for a decoder), so that a recipe reads
 * its files the same from wherever it is started.  When nothing is there
 * but the path names an allowed file relative to the working directory,
 * that one is used (recipes written for the repository root). */
static int sb_base_path(const sb_ctx_t *c, const char *path, char *buf) {
  if (path[0] == '/' || c->ndirs == 0) return 0;
  int n = snprintf(buf, PATH_MAX, "%s/%s", c->dirs[0].path, path);
  return n > 0 && n < PATH_MAX;
}

static int sb_resolve(const sb_ctx_t *c, const char *path, int write,
                      char *out) {
  if (!path || !*path) return -ENOENT;
  char based[PATH_MAX], alt[PATH_MAX];
  if (!sb_base_path(c, path, based))
    return sb_resolve_as_given(c, path, write, out);
  int rc = sb_resolve_as_given(c, based, write, out);
  if (rc == 0 || rc == KK_EDENIED) return rc;
  /* Not in the base folder: the working directory, if allowed there. */
  if (sb_resolve_as_given(c, path, 0, alt) == 0) {
    if (!write) {
      memcpy(out, alt, strlen(alt) + 1);
      return 0;
    }
    if (sb_resolve_as_given(c, path, 1, alt) == 0) {
      memcpy(out, alt, strlen(alt) + 1);
      return 0;
    }
  }
  return rc;
}

/* The allowed folders, for messages: "a, b (writable)". */
static void allowed_list(const sb_ctx_t *c, char *buf, size_t len) {
  size_t n = 0;
  buf[0] = 0;
  for (size_t i = 0; i < c->ndirs && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%s%s", i ? ", " : "",
                          c->dirs[i].path,
                          c->dirs[i].writable ? " (writable)" : "");
  if (!c->ndirs) snprintf(buf, len, "none");
}

/* Pushes nil, message, errno-like code (the liolib convention).  The
 * message names the path, where it was looked for and, when access is
 * denied, the folders that are allowed. */
static int push_resolve_fail(lua_State *L, const char *path, int rc,
                             int write) {
  sb_ctx_t *c = kk__sb_ctx(L);
  char allowed[2048], based[PATH_MAX], real[PATH_MAX];
  allowed_list(c, allowed, sizeof allowed);
  int has_base = sb_base_path(c, path, based);
  lua_pushnil(L);
  if (rc == KK_EDENIED) {
    const char *tried = path;
    if (realpath(has_base ? based : path, real) || realpath(path, real))
      tried = real;
    lua_pushfstring(L,
                    "%s: access denied: %s is outside the folders this Lua "
                    "state may %s (%s)",
                    path, tried, write ? "write" : "read", allowed);
    lua_pushinteger(L, EACCES);
  } else if (has_base) {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, ".");
    lua_pushfstring(L,
                    "%s: %s (looked for %s and %s%s%s; relative paths "
                    "are taken from %s)",
                    path, strerror(-rc), based, cwd,
                    strcmp(cwd, "/") == 0 ? "" : "/", path, c->dirs[0].path);
    lua_pushinteger(L, -rc);
  } else {
    lua_pushfstring(L, "%s: %s", path, strerror(-rc));
    lua_pushinteger(L, -rc);
  }
  return 3;
}

int kk__lua_allow_path(lua_State *L, const char *dir, int writable) {
  sb_ctx_t *c = kk__sb_ctx(L);
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
int kk__sb_io_open(lua_State *L) {
  sb_ctx_t *c = kk__sb_ctx(L);
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
int kk__sb_io_lines(lua_State *L) {
  sb_ctx_t *c = kk__sb_ctx(L);
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
/* Hands a large chunk to the parser in pieces (upvalue 1: the chunk,
 * 2: the offset reached), charging each: the parser is C, where the
 * count hook does not fire. */
#define LOAD_PIECE ((size_t)1 << 16)

static int load_piece(lua_State *L) {
  size_t len;
  const char *s = lua_tolstring(L, lua_upvalueindex(1), &len);
  size_t off = (size_t)lua_tointeger(L, lua_upvalueindex(2));
  if (off >= len) return 0;
  size_t n = len - off < LOAD_PIECE ? len - off : LOAD_PIECE;
  if (off) kk__lua_charge(L, n, "load");
  lua_pushinteger(L, (lua_Integer)(off + n));
  lua_replace(L, lua_upvalueindex(2));
  lua_pushlstring(L, s + off, n);
  return 1;
}

int kk__sb_load(lua_State *L) {
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
  if (lua_type(L, 1) == LUA_TSTRING && lua_rawlen(L, 1) > LOAD_PIECE) {
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, load_piece, 2);
    /* The name a string chunk gets by default is the string itself, of
     * which messages show at most its first line's first 60 bytes: a
     * prefix names it the same without copying it whole ("@" names show
     * their end). */
    const char *s = lua_tostring(L, 1);
    if (!lua_isnil(L, 2))
      lua_pushvalue(L, 2);
    else if (s[0] == '@')
      lua_pushvalue(L, 1);
    else
      lua_pushlstring(L, s, 128);
    lua_pushliteral(L, "t");
    if (n >= 4) lua_pushvalue(L, 4);
    lua_call(L, n >= 4 ? 4 : 3, 2);
    return 2;
  }
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
  sb_ctx_t *c = kk__sb_ctx(L);
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

int kk__sb_loadfile(lua_State *L) {
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

int kk__sb_dofile(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  if (load_checked(L, path, "t") != 1) return lua_error(L);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
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
  sb_ctx_t *c = kk__sb_ctx(L);
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

int kk__sb_require(lua_State *L) {
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
