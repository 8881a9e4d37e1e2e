/*
 * modules/decode/lua/lua_load.c - loading a decoder file into a state.
 *
 * Shared by the decode.lua stage, kk.decode_lua and `klimakit decode`, so
 * that a decoder is loaded the same way wherever it runs: the `bytes`
 * library and the `kk.decode.none` sentinel installed, the file run once
 * under a setup deadline, its decode function and its declared `ports`
 * read, the config turned into a Lua table.
 */
#include "decode/lua/lua_decoder.h"

#include <cJSON.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LD_SETUP_DEADLINE_MS 1000u
#ifndef KK_DATADIR
#define KK_DATADIR "/usr/local/share/klimakit"
#endif

ld_stage_t *ld_stage_new(void) {
  ld_stage_t *s = calloc(1, sizeof *s);
  if (s) s->decode_ref = s->config_ref = s->none_ref = LUA_NOREF;
  return s;
}

void ld_stage_free(ld_stage_t *s) {
  if (!s) return;
  kk_lua_close(s->L);
  decode_common_free(&s->dc);
  free(s->res);
  free(s);
}

static void ld_push_json(lua_State *L, const cJSON *j, int depth) {
  luaL_checkstack(L, 4, "config too deep");
  if (depth > 32) {
    lua_pushnil(L);
  } else if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
    lua_newtable(L);
    lua_Integer i = 1;
    for (const cJSON *c = j->child; c; c = c->next) {
      ld_push_json(L, c, depth + 1);
      if (cJSON_IsArray(j))
        lua_rawseti(L, -2, i++);
      else
        lua_setfield(L, -2, c->string);
    }
  } else if (cJSON_IsString(j)) {
    lua_pushstring(L, j->valuestring);
  } else if (cJSON_IsBool(j)) {
    lua_pushboolean(L, cJSON_IsTrue(j));
  } else if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (d == floor(d) && fabs(d) < 9e15)
      lua_pushinteger(L, (lua_Integer)d);
    else
      lua_pushnumber(L, d);
  } else {
    lua_pushnil(L);
  }
}

static int ld_none_tostring(lua_State *L) {
  lua_pushliteral(L, "kk.decode.none");
  return 1;
}

/* Installs the global `kk` of a decoder state: { decode = { none = N } },
 * N a unique table the decoder returns for "nothing to store". */
static void ld_install_kk(lua_State *L, ld_stage_t *s) {
  lua_newtable(L); /* kk */
  lua_newtable(L); /* kk.decode */
  lua_newtable(L); /* the sentinel */
  lua_newtable(L);
  lua_pushcfunction(L, ld_none_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "kk.decode.none");
  lua_setfield(L, -2, "__name");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  s->none_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setfield(L, -2, "none");
  lua_setfield(L, -2, "decode");
  lua_setglobal(L, "kk");
}

/* Reads the `ports` of the file's table at index t: a list of fPorts, or
 * a function of the config that returns one (for devices whose port is a
 * setting). */
static void ld_read_ports(lua_State *L, ld_stage_t *s, int t) {
  if (lua_getfield(L, t, "ports") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (lua_isfunction(L, -1)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->config_ref);
    lua_call(L, 1, 1);
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "%s: ports must be a list of fPorts (1..255)", s->path);
  lua_Unsigned n = lua_rawlen(L, -1);
  if (n == 0) luaL_error(L, "%s: ports is empty", s->path);
  size_t tl = 0;
  for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
    lua_rawgeti(L, -1, i);
    int isnum;
    lua_Integer p = lua_tointegerx(L, -1, &isnum);
    if (!isnum || p < 1 || p > 255)
      luaL_error(L, "%s: ports[%d] must be an fPort 1..255", s->path, (int)i);
    lua_pop(L, 1);
    s->ports[p / 8] |= (uint8_t)(1u << (p % 8));
    if (tl + 8 < sizeof s->ports_text)
      tl += (size_t)snprintf(s->ports_text + tl, sizeof s->ports_text - tl,
                             "%s%d", i > 1 ? ", " : "", (int)p);
  }
  s->has_ports = 1;
  lua_pop(L, 1);
}

/* Runs under kk_lua_pcall: installs `bytes` and `kk`, runs the file and
 * finds its decode function (the file's return value, its `decode` field,
 * or the global `decode`) and its ports. */
static int ld_setup(lua_State *L) {
  ld_stage_t *s = lua_touserdata(L, 1);
  const char *config = lua_tostring(L, 2);
  ld_bytes_open(L);
  lua_setglobal(L, "bytes");
  ld_install_kk(L, s);
  if (config) {
    cJSON *j = cJSON_Parse(config);
    if (!j) return luaL_error(L, "config is not a table");
    ld_push_json(L, j, 0);
    cJSON_Delete(j);
  } else {
    lua_newtable(L);
  }
  s->config_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (luaL_loadfilex(L, s->path, "t") != LUA_OK) return lua_error(L);
  lua_call(L, 0, 1);
  if (lua_istable(L, -1)) {
    ld_read_ports(L, s, lua_gettop(L));
    lua_getfield(L, -1, "decode");
  }
  if (!lua_isfunction(L, -1)) lua_getglobal(L, "decode");
  if (!lua_isfunction(L, -1))
    return luaL_error(L,
                      "%s defines no decode function (return one, return a "
                      "table with decode, or define a global decode)",
                      s->path);
  s->decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

int ld_find(ld_stage_t *s, const char *p) {
  char cand[PATH_MAX];
  snprintf(cand, sizeof cand, "%s", p);
  if (access(cand, R_OK) != 0 && p[0] != '/')
    snprintf(cand, sizeof cand, "%s/%s", KK_DATADIR, p);
  if (access(cand, R_OK) != 0) return -1;
  if (!realpath(cand, s->path)) return -1;
  return 0;
}

int ld_load(ld_stage_t *s, const kk_lua_limits_t *lim, const char *name,
            const char *config, char *err, size_t errlen) {
  s->decode_ref = s->config_ref = s->none_ref = LUA_NOREF;
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
  if (config)
    lua_pushstring(s->L, config);
  else
    lua_pushnil(s->L);
  int rc = kk_lua_pcall_limits(s->L, 2, 0, &setup, err, errlen);
  if (rc) ld_first_line(err);
  return rc;
}
