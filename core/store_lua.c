/*
 * core/store_lua.c - kk.query: the store query API for Lua.
 *
 * Set on the `klimakit` table by kk_store_lua_open(), the lua_open of
 * store.sqlite and store.postgres, so that recipe functions and Lua modules can
 * read what is stored:
 *
 *   local v, t = kk.query.latest("room-001", "co2", "ppm")
 *   local pts, res = kk.query.range("room-001", "co2", "ppm", from, to)
 *   local a = kk.query.aggregate("room-001", "co2", "ppm", from, to)
 *   local list = kk.query.datastreams { thing = "school-a-*" }
 *
 * (a trailing "*" in a filter matches any suffix).
 *
 * Times are UTC milliseconds.  The last argument of each function may name
 * the store (a stage name); default: the first store of the pipeline.
 * Stores exist while the pipeline runs: called while the recipe is being
 * read (before start) the functions return nil, "no store", code.
 * Following liolib: misuse raises an error, expected failure (no store,
 * unknown datastream, database down) returns nil, message, code.
 */
#include <klimakit.h>
#include <klimakit/store_backend.h>

#include <lauxlib.h>
#include <lua.h>

static kk_store_t *ql_store(lua_State *L, int idx) {
  const char *name = luaL_optstring(L, idx, NULL);
  return name ? kk_store_find(name) : kk_store_default();
}

static int ql_fail(lua_State *L, int rc) {
  lua_pushnil(L);
  const char *m = kk_store_errmsg();
  lua_pushstring(L, m && *m ? m : kk_strerror(rc));
  lua_pushinteger(L, rc);
  return 3;
}

static int ql_nostore(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "no store (stores exist while the pipeline runs)");
  lua_pushinteger(L, KK_EUNKNOWN);
  return 3;
}

/* Resolves arguments 1-3 to a datastream id; 0 or a pushed failure. */
static int ql_ds(lua_State *L, kk_store_t *s, int64_t *id) {
  const char *thing = luaL_checkstring(L, 1);
  const char *prop = luaL_checkstring(L, 2);
  const char *unit = luaL_checkstring(L, 3);
  int rc = kk_store_datastream_id(s, thing, prop, unit, id);
  return rc == 0 ? 0 : ql_fail(L, rc);
}

static void ql_point(lua_State *L, const kk_store_point_t *p) {
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, p->time_ms);
  lua_setfield(L, -2, "time");
  lua_pushnumber(L, p->avg);
  lua_setfield(L, -2, "value");
  lua_pushinteger(L, p->count);
  lua_setfield(L, -2, "count");
  lua_pushnumber(L, p->sum);
  lua_setfield(L, -2, "sum");
  lua_pushnumber(L, p->min);
  lua_setfield(L, -2, "min");
  lua_pushnumber(L, p->max);
  lua_setfield(L, -2, "max");
}

/* latest(thing, property, unit [, store]) -> value, time | nil */
static int ql_latest(lua_State *L) {
  kk_store_t *s = ql_store(L, 4);
  if (!s) return ql_nostore(L);
  int64_t id;
  int n = ql_ds(L, s, &id);
  if (n) return n;
  kk_store_point_t p;
  int rc = kk_store_latest(s, &id, 1, &p);
  if (rc != 0) return ql_fail(L, rc);
  if (p.count == 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, p.avg);
  lua_pushinteger(L, p.time_ms);
  return 2;
}

/* range(thing, property, unit, from, to [, res [, limit [, store]]])
 *   -> { {time=, value=, count=, sum=, min=, max=}, ... }, res */
static int ql_range(lua_State *L) {
  static const char *const res_names[] = {"auto", "raw", "hour", "day", NULL};
  int64_t from = luaL_checkinteger(L, 4), to = luaL_checkinteger(L, 5);
  int res = luaL_checkoption(L, 6, "auto", res_names) - 1;
  lua_Integer limit = luaL_optinteger(L, 7, 0);
  luaL_argcheck(L, limit >= 0, 7, "limit must not be negative");
  luaL_argcheck(L, to >= from, 5, "to must not be before from");
  kk_store_t *s = ql_store(L, 8);
  if (!s) return ql_nostore(L);
  int64_t id;
  int n = ql_ds(L, s, &id);
  if (n) return n;
  kk_store_series_t *r;
  int rc =
      kk_store_range(s, id, from, to, (kk_store_res_t)res, (size_t)limit, &r);
  if (rc != 0) return ql_fail(L, rc);
  lua_createtable(L, (int)r->len, 0);
  for (size_t i = 0; i < r->len; i++) {
    ql_point(L, &r->points[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_pushstring(L, res_names[r->res + 1]);
  kk_store_series_free(r);
  return 2;
}

/* aggregate(thing, property, unit, from, to [, store]) -> point table */
static int ql_aggregate(lua_State *L) {
  int64_t from = luaL_checkinteger(L, 4), to = luaL_checkinteger(L, 5);
  luaL_argcheck(L, to >= from, 5, "to must not be before from");
  kk_store_t *s = ql_store(L, 6);
  if (!s) return ql_nostore(L);
  int64_t id;
  int n = ql_ds(L, s, &id);
  if (n) return n;
  kk_store_point_t p;
  int rc = kk_store_aggregate(s, id, from, to, &p);
  if (rc != 0) return ql_fail(L, rc);
  ql_point(L, &p);
  return 1;
}

static const char *ql_field(lua_State *L, int t, const char *k) {
  if (lua_isnoneornil(L, t)) return NULL;
  lua_getfield(L, t, k);
  const char *v = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
  lua_pop(L, 1); /* the string stays alive in the filter table */
  return v;
}

/* datastreams([filter [, store]]) -> { {id=, thing=, property=, unit=,
 * sector=}, ... } */
static int ql_datastreams(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
  kk_store_filter_t f = {ql_field(L, 1, "thing"), ql_field(L, 1, "property"),
                         ql_field(L, 1, "unit"), ql_field(L, 1, "sector")};
  kk_store_t *s = ql_store(L, 2);
  if (!s) return ql_nostore(L);
  kk_store_ds_list_t *l;
  int rc = kk_store_datastreams(s, &f, &l);
  if (rc != 0) return ql_fail(L, rc);
  lua_createtable(L, (int)l->len, 0);
  for (size_t i = 0; i < l->len; i++) {
    const kk_store_ds_t *d = &l->items[i];
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, d->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, d->thing);
    lua_setfield(L, -2, "thing");
    lua_pushstring(L, d->property);
    lua_setfield(L, -2, "property");
    lua_pushstring(L, d->unit);
    lua_setfield(L, -2, "unit");
    if (d->sector) {
      lua_pushstring(L, d->sector);
      lua_setfield(L, -2, "sector");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  kk_store_ds_list_free(l);
  return 1;
}

int kk_store_lua_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"latest", ql_latest},
                                 {"range", ql_range},
                                 {"aggregate", ql_aggregate},
                                 {"datastreams", ql_datastreams},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_setfield(L, -2, "query");
  return 0;
}
