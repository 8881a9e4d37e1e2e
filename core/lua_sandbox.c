/* core/lua_sandbox.c - sandboxed Lua states: the allow-list.
 *
 * The state's real global table (every standard library) stays hidden in
 * the registry; the table Lua code sees as _G is built from an allow-list
 * and installed as LUA_RIDX_GLOBALS, so every chunk loaded later gets it
 * as _ENV.  The per-state context rides in the allocator's userdata,
 * which every thread (coroutine) of the state can reach.  The limits are
 * kept in lua_sandbox_limits.c, file access in lua_sandbox_files.c. */
#include "lua_sandbox_impl.h"
#include "lua_pattern.h"

#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- print and warnings ----------------------------------------------------
 */

static int sb_print(lua_State *L) {
  sb_ctx_t *c = kk__sb_ctx(L);
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
  sb_ctx_t *c = kk__sb_ctx(L);
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

  /* Bytecode is never loaded, but leave nothing that produces it.  The
   * library functions that can run long in C are replaced by versions
   * that charge their work to the budget (lua_pattern.c,
   * lua_sandbox_bounds.c); the string metatable's __index is this same
   * table, so method calls get them too. */
  lua_getfield(L, G, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  kk__lua_pattern_install(L);
  kk__sb_bound_string(L);
  kk__sb_bound_pack(L);
  lua_pop(L, 1);
  lua_getfield(L, G, "os");
  kk__sb_bound_os(L);
  lua_pop(L, 1);
  lua_pushvalue(L, G);
  kk__sb_bound_base(L);
  lua_pop(L, 1);
  lua_getfield(L, G, "table");
  kk__sb_bound_table(L);
  kk__sb_bound_table_unpack(L);
  lua_pop(L, 1);
  lua_getfield(L, G, "utf8");
  kk__sb_bound_utf8(L);
  kk__sb_bound_utf8_char(L);
  lua_pop(L, 1);
  lua_getfield(L, G, "coroutine");
  kk__sb_bound_coroutine(L);
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
  lua_pushcclosure(L, kk__sb_io_open, 1);
  lua_setfield(L, -3, "open");
  lua_getfield(L, -1, "lines");
  lua_pushcclosure(L, kk__sb_io_lines, 1);
  lua_setfield(L, -3, "lines");
  lua_getfield(L, -1, "type");
  lua_setfield(L, -3, "type");
  lua_pop(L, 1);
  lua_setfield(L, S, "io");

  lua_pushcfunction(L, kk__sb_xpcall);
  lua_setfield(L, S, "xpcall");
  lua_getfield(L, G, "setmetatable");
  lua_pushcclosure(L, kk__sb_setmetatable, 1);
  lua_setfield(L, S, "setmetatable");
  /* File handles carry a C __gc: keep Lua from replacing it. */
  luaL_getmetatable(L, LUA_FILEHANDLE);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  lua_getfield(L, G, "load");
  lua_pushcclosure(L, kk__sb_load, 1);
  lua_setfield(L, S, "load");
  lua_pushcfunction(L, kk__sb_loadfile);
  lua_setfield(L, S, "loadfile");
  lua_pushcfunction(L, kk__sb_dofile);
  lua_setfield(L, S, "dofile");
  lua_pushcfunction(L, kk__sb_require);
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
    kk__sb_set_err(err, errlen, "out of memory");
    return NULL;
  }
  c->magic = CTX_MAGIC;
  kk__sb_limits_fill(&c->lim, lim);
  c->cap = c->lim.mem_cap;
  snprintf(c->name, sizeof c->name, "%s", name ? name : "lua");
  lua_State *L = lua_newstate(kk__sb_alloc, c);
  if (!L) {
    kk__sb_set_err(err, errlen,
                   "cannot create a Lua state (memory cap %zu bytes)", c->cap);
    free(c);
    return NULL;
  }
  c->main = L;
  lua_atpanic(L, sb_panic);
  lua_setwarnf(L, sb_warn, c);
  lua_pushcfunction(L, sb_setup);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    kk__sb_set_err(err, errlen,
                   "cannot set up the Lua sandbox (memory cap %zu "
                   "bytes): %s",
                   c->cap, lua_tostring(L, -1));
    lua_close(L);
    free(c);
    return NULL;
  }
  lua_sethook(L, kk__sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
  return L;
}

void kk__lua_close(lua_State *L) {
  if (!L) return;
  sb_ctx_t *c = kk__sb_ctx(L);
  if (!c) {
    lua_close(L);
    return;
  }
  /* Finalizers run inside lua_close: keep them under a budget. */
  sb_call_t saved;
  kk__sb_call_begin(c, &saved, NULL);
  lua_sethook(L, kk__sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
  lua_close(L);
  for (size_t i = 0; i < c->ndirs; i++)
    free(c->dirs[i].path);
  free(c->dirs);
  free(c);
}

void kk__lua_set_name(lua_State *L, const char *name) {
  sb_ctx_t *c = kk__sb_ctx(L);
  if (!c || !name) return;
  snprintf(c->name, sizeof c->name, "%s", name);
}

const char *kk__lua_name(lua_State *L) {
  sb_ctx_t *c = kk__sb_ctx(L);
  return c ? c->name : "lua";
}

int kk__lua_loadfile(lua_State *L, const char *path, char *err, size_t errlen) {
  sb_ctx_t *c = kk__sb_ctx(L);
  if (c) c->call.memcap_hit = 0;
  int st = luaL_loadfilex(L, path, "t");
  if (st == LUA_OK) return 0;
  const char *msg = lua_tostring(L, -1);
  kk__sb_set_err(err, errlen, "%s", msg ? msg : "cannot load");
  lua_pop(L, 1);
  if (st == LUA_ERRMEM || (c && c->call.memcap_hit)) return KK_EMEMCAP;
  return st == LUA_ERRFILE ? KK_EIO : KK_ELUA;
}

/* ---- the public surface (include/klimakit/lua.h) ------------------------ */

lua_State *kk_lua_new(const kk_lua_limits_t *lim, const char *name, char *err,
                      size_t errlen) {
  return kk__lua_new(lim, name, err, errlen);
}

void kk_lua_close(lua_State *L) {
  kk__lua_close(L);
}

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
