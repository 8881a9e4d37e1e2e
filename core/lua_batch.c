/* core/lua_batch.c - batches, reading views and emit() as Lua sees them.
 *
 * Lua code gets a batch as a userdata that borrows the C batch for the
 * duration of one call, and readings as small "views" (a userdata holding
 * a copy of one kk_reading_t).  Iterating a batch refills a single view,
 * so the hot path creates no table per reading.  Views copy, so a view
 * kept past its batch stays safe to read (it just holds old values);
 * batches and emitters are invalidated when the call returns. */
#include "core.h"
#include "lua_sandbox.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <string.h>

#define BATCH_MT "kk.batch"
#define VIEW_MT "kk.reading"
#define EMIT_MT "kk.emitter"

typedef struct lbatch {
  kk_batch_t *b; /* NULL once invalidated */
} lbatch_t;

/* `magic` marks our views, so that the hot path can tell a view from
 * other userdata without looking up its metatable by name in the
 * registry (luaL_testudata) at every call; Lua code cannot make a
 * userdata, so no script can forge one. */
#define VIEW_MAGIC 0x6b6b2e7265616469ull /* "kk.readi" */
typedef struct lview {
  uint64_t magic;
  kk_reading_t r;
} lview_t;

static lview_t *toview(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TUSERDATA ||
      lua_rawlen(L, idx) != sizeof(lview_t))
    return NULL;
  lview_t *v = lua_touserdata(L, idx);
  return v->magic == VIEW_MAGIC ? v : NULL;
}

typedef struct lemit {
  kk_batch_t *out; /* NULL once invalidated */
  size_t n;
} lemit_t;

/* Like luaL_error: the message is located at the Lua code that called
 * the C function (level 1). */
static int lraise(lua_State *L, const char *fmt, ...) {
  va_list ap;
  luaL_where(L, 1);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
}

/* ---- reading views ------------------------------------------------------- */

static void push_ds_field(lua_State *L, uint32_t ds, int which) {
  const kk_datastream_t *d = kk_datastream_get(ds);
  if (!d) {
    lua_pushnil(L);
    return;
  }
  /* Not lua_pushstring: its cache of C strings by address holds about a
   * hundred, and with thousands of datastreams each lookup misses after
   * two strcmp() (pushing with the length took a tenth off the stock
   * recipe's transform); the names are interned by their text either
   * way. */
  const char *v = which == 0 ? d->thing : which == 1 ? d->property : d->unit;
  lua_pushlstring(L, v, strlen(v));
}

static int view_index(lua_State *L) {
  lview_t *v = toview(L, 1);
  if (!v) return luaL_typeerror(L, 1, "reading");
  const char *k = lua_tostring(L, 2);
  if (!k) return 0;
  switch (k[0]) {
  case 'v':
    if (strcmp(k, "value") == 0) {
      lua_pushnumber(L, v->r.value);
      return 1;
    }
    break;
  case 't':
    if (strcmp(k, "time") == 0) {
      lua_pushinteger(L, v->r.time_ms);
      return 1;
    }
    if (strcmp(k, "thing") == 0) {
      push_ds_field(L, v->r.ds, 0);
      return 1;
    }
    break;
  case 'p':
    if (strcmp(k, "property") == 0) {
      push_ds_field(L, v->r.ds, 1);
      return 1;
    }
    break;
  case 'u':
    if (strcmp(k, "unit") == 0) {
      push_ds_field(L, v->r.ds, 2);
      return 1;
    }
    break;
  case 'd':
    if (strcmp(k, "ds") == 0) {
      lua_pushinteger(L, v->r.ds);
      return 1;
    }
    break;
  case 'f':
    if (strcmp(k, "flags") == 0) {
      lua_pushinteger(L, v->r.flags);
      return 1;
    }
    break;
  }
  return 0;
}

/* Integer milliseconds from a number: integers, or floats holding an
 * integral value (what cjson.decode gives). */
static int to_ms(lua_State *L, int idx, int64_t *out) {
  int ok = 0;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  lua_Integer i = lua_tointegerx(L, idx, &ok);
  if (ok) {
    *out = (int64_t)i;
    return 1;
  }
  return 0;
}

/* Changes one of thing/property/unit of the datastream of r. */
static void set_ds_part(lua_State *L, kk_reading_t *r, int which,
                        const char *who) {
  const char *s = lua_tostring(L, 3);
  if (!s || lua_type(L, 3) != LUA_TSTRING)
    lraise(L, "%s: field '%s' must be a string", who,
           which == 0   ? "thing"
           : which == 1 ? "property"
                        : "unit");
  const kk_datastream_t *d = kk_datastream_get(r->ds);
  const char *parts[3] = {d ? d->thing : NULL, d ? d->property : NULL,
                          d ? d->unit : ""};
  parts[which] = s;
  if (!parts[0] || !parts[1])
    lraise(L, "%s: set ds or thing and property before %s", who,
           which == 2 ? "unit" : "the rest");
  uint32_t id = kk_datastream_id(parts[0], parts[1], parts[2]);
  if (!id)
    lraise(L, "%s: cannot register datastream %s/%s [%s]", who, parts[0],
           parts[1], parts[2]);
  r->ds = id;
}

static int view_newindex(lua_State *L) {
  lview_t *v = luaL_checkudata(L, 1, VIEW_MT);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "value") == 0) {
    if (lua_type(L, 3) != LUA_TNUMBER)
      return lraise(L, "reading: field 'value' must be a number");
    v->r.value = lua_tonumber(L, 3);
  } else if (strcmp(k, "time") == 0) {
    int64_t t;
    if (!to_ms(L, 3, &t))
      return lraise(L, "reading: field 'time' must be an integer (UTC "
                       "milliseconds)");
    v->r.time_ms = t;
  } else if (strcmp(k, "ds") == 0) {
    lua_Integer id = lua_tointeger(L, 3);
    if (id <= 0 || id > UINT32_MAX || !kk_datastream_get((uint32_t)id))
      return lraise(L, "reading: field 'ds' must be a known datastream id");
    v->r.ds = (uint32_t)id;
  } else if (strcmp(k, "thing") == 0) {
    set_ds_part(L, &v->r, 0, "reading");
  } else if (strcmp(k, "property") == 0) {
    set_ds_part(L, &v->r, 1, "reading");
  } else if (strcmp(k, "unit") == 0) {
    set_ds_part(L, &v->r, 2, "reading");
  } else {
    return lraise(L,
                  "reading: no field '%s' (fields: thing, property, unit, "
                  "time, value, ds)",
                  k);
  }
  return 0;
}

static int view_tostring(lua_State *L) {
  lview_t *v = luaL_checkudata(L, 1, VIEW_MT);
  const kk_datastream_t *d = kk_datastream_get(v->r.ds);
  lua_pushfstring(L, "reading(%s/%s = %f %s @ %I)", d ? d->thing : "?",
                  d ? d->property : "?", v->r.value, d ? d->unit : "",
                  (lua_Integer)v->r.time_ms);
  return 1;
}

static void view_meta(lua_State *L) {
  if (luaL_newmetatable(L, VIEW_MT)) {
    static const luaL_Reg m[] = {{"__index", view_index},
                                 {"__newindex", view_newindex},
                                 {"__tostring", view_tostring},
                                 {NULL, NULL}};
    luaL_setfuncs(L, m, 0);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
}

kk_reading_t *kk__lua_push_reading(lua_State *L, const kk_reading_t *r) {
  lview_t *v = lua_newuserdatauv(L, sizeof *v, 0);
  v->magic = VIEW_MAGIC;
  if (r)
    v->r = *r;
  else
    memset(&v->r, 0, sizeof v->r);
  view_meta(L);
  lua_setmetatable(L, -2);
  return &v->r;
}

kk_reading_t *kk__lua_toreading(lua_State *L, int idx) {
  lview_t *v = toview(L, idx);
  return v ? &v->r : NULL;
}

/* Reads string field `f` of the table at idx, or NULL when absent. */
static const char *opt_str_field(lua_State *L, int idx, const char *f,
                                 const char *who) {
  int t = lua_getfield(L, idx, f);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (t != LUA_TSTRING) lraise(L, "%s: field '%s' must be a string", who, f);
  /* The string stays referenced by the table while we use it. */
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s;
}

/* Datastreams of emitted tables by the addresses of their thing,
 * property and unit strings: a transform that derives readings emits
 * tables naming the same few strings again and again, and the addresses
 * of live Lua strings identify them without reading them (the datastream
 * registry would hash and compare them, several cache misses each).
 * Strings are kept alive by an anchor table (the memo's user value) as
 * long as an entry names them.  An open-addressing table of DS_MEMO
 * slots, at most half of them used; when that is full, names that miss
 * are not remembered, and after DS_MEMO such misses (or past
 * DS_MEMO_ANCHORS anchored strings) the memo starts afresh, so that it
 * follows names that change.  (Direct-mapped, a thousand sensors' two
 * derived readings - 2 000 names - missed 28 % of their lookups: some
 * slots get three or more; two ways to a set made no measurable
 * difference.)  Lives in the registry (counted against the state's
 * memory cap). */
#define DS_MEMO 4096 /* slots, a power of two */
#define DS_MEMO_ANCHORS (2 * DS_MEMO)
typedef struct ds_memo {
  size_t anchored, used, misses; /* misses: not remembered, full */
  struct {
    const char *t, *p, *u; /* t NULL: a free slot */
    uint32_t ds;
  } e[DS_MEMO];
} ds_memo_t;
static const char ds_memo_key = 0;

static size_t ds_memo_slot(const char *t, const char *p, const char *u) {
  uint64_t h = (uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull;
  h ^= (uint64_t)(uintptr_t)p * 0xc2b2ae3d27d4eb4full;
  h ^= (uint64_t)(uintptr_t)u * 0x165667b19e3779f9ull;
  return (size_t)(h >> 52) & (DS_MEMO - 1);
}

/* The slot of (t, p, u), or the free one where it would go. */
static size_t ds_memo_find(const ds_memo_t *m, const char *t, const char *p,
                           const char *u) {
  size_t j = ds_memo_slot(t, p, u);
  while (m->e[j].t && (m->e[j].t != t || m->e[j].p != p || m->e[j].u != u))
    j = (j + 1) & (DS_MEMO - 1);
  return j;
}

/* The memo (created on first use), its user value (the anchors) pushed
 * when `anchors` is set. */
static ds_memo_t *ds_memo(lua_State *L, int anchors) {
  ds_memo_t *m;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ds_memo_key) == LUA_TUSERDATA) {
    m = lua_touserdata(L, -1);
  } else {
    lua_pop(L, 1);
    m = lua_newuserdatauv(L, sizeof *m, 1);
    memset(m, 0, sizeof *m);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ds_memo_key);
  }
  if (anchors) {
    lua_getiuservalue(L, -1, 1);
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
  }
  return m;
}

/* Remembers ds for the strings of fields thing, property and unit of the
 * table at idx (t, p and u are their contents). */
static void ds_memo_put(lua_State *L, int idx, const char *t, const char *p,
                        const char *u, uint32_t ds) {
  ds_memo_t *m = ds_memo(L, 0);
  if (m->used + 1 > DS_MEMO / 2 && ++m->misses <= DS_MEMO) return;
  if (m->anchored + 3 > DS_MEMO_ANCHORS || m->used + 1 > DS_MEMO / 2) {
    memset(m->e, 0, sizeof m->e);
    m->anchored = m->used = m->misses = 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ds_memo_key);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    lua_pop(L, 1);
  }
  ds_memo(L, 1);
  static const char *const f[3] = {"thing", "property", "unit"};
  for (int i = 0; i < 3; i++) {
    lua_getfield(L, idx, f[i]);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushboolean(L, 1);
      lua_rawset(L, -3);
      m->anchored++;
    } else {
      lua_pop(L, 2);
    }
  }
  lua_pop(L, 1);
  size_t j = ds_memo_find(m, t, p, u);
  if (!m->e[j].t) m->used++;
  m->e[j].t = t;
  m->e[j].p = p;
  m->e[j].u = u;
  m->e[j].ds = ds;
}

static uint32_t ds_memo_get(lua_State *L, const char *t, const char *p,
                            const char *u) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ds_memo_key) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    return 0;
  }
  const ds_memo_t *m = lua_touserdata(L, -1);
  lua_pop(L, 1);
  size_t j = ds_memo_find(m, t, p, u);
  return m->e[j].t ? m->e[j].ds : 0;
}

void kk__lua_check_reading(lua_State *L, int idx, const kk_reading_t *def,
                           kk_reading_t *out, const char *who) {
  idx = lua_absindex(L, idx);
  lview_t *v = toview(L, idx);
  if (v) {
    *out = v->r;
    return;
  }
  if (!lua_istable(L, idx)) {
    lraise(L,
           "%s: expected a reading or a table {thing=, property=, unit=, "
           "time=, value=}, got %s",
           who, luaL_typename(L, idx));
    return;
  }
  kk_reading_t r;
  if (def) {
    r = *def;
  } else {
    memset(&r, 0, sizeof r);
    r.time_ms = kk_now_ms();
  }

  int t = lua_getfield(L, idx, "value");
  if (t == LUA_TNUMBER)
    r.value = lua_tonumber(L, -1);
  else if (t != LUA_TNIL || !def)
    lraise(L, "%s: field 'value' must be a number", who);
  lua_pop(L, 1);

  t = lua_getfield(L, idx, "time");
  if (t != LUA_TNIL && !to_ms(L, -1, &r.time_ms))
    lraise(L, "%s: field 'time' must be an integer (UTC milliseconds)", who);
  lua_pop(L, 1);

  t = lua_getfield(L, idx, "ds");
  if (t != LUA_TNIL) {
    lua_Integer id = lua_tointeger(L, -1);
    if (id <= 0 || id > UINT32_MAX || !kk_datastream_get((uint32_t)id))
      lraise(L, "%s: field 'ds' must be a known datastream id", who);
    r.ds = (uint32_t)id;
  }
  lua_pop(L, 1);

  const char *thing = opt_str_field(L, idx, "thing", who);
  const char *prop = opt_str_field(L, idx, "property", who);
  const char *unit = opt_str_field(L, idx, "unit", who);
  uint32_t memo = thing && prop && unit ? ds_memo_get(L, thing, prop, unit) : 0;
  if (memo) {
    r.ds = memo;
  } else if (thing || prop || unit) {
    /* Longer strings are not interned: each is a new address. */
    int all = thing && prop && unit && strlen(thing) <= 40 &&
              strlen(prop) <= 40 && strlen(unit) <= 40;
    const kk_datastream_t *d = kk_datastream_get(r.ds);
    if (!thing) thing = d ? d->thing : NULL;
    if (!prop) prop = d ? d->property : NULL;
    if (!unit) unit = d ? d->unit : NULL;
    if (!thing) lraise(L, "%s: field 'thing' must be a string", who);
    if (!prop) lraise(L, "%s: field 'property' must be a string", who);
    if (!unit)
      lraise(L, "%s: field 'unit' must be a string (a UCUM code)", who);
    r.ds = kk_datastream_id(thing, prop, unit);
    if (!r.ds)
      lraise(L,
             "%s: cannot register datastream %s/%s [%s] (thing and "
             "property must not be empty)",
             who, thing, prop, unit);
    if (all) ds_memo_put(L, idx, thing, prop, unit, r.ds);
  } else if (!r.ds) {
    lraise(L, "%s: field 'thing' must be a string (or give 'ds')", who);
  }
  r.flags = def ? def->flags : 0;
  /* update = true: a later value for the same datastream and time
   * replaces an earlier one in the stores (a running total, a figure
   * that is revised), as the C calculators mark theirs. */
  t = lua_getfield(L, idx, "update");
  if (t == LUA_TBOOLEAN) {
    if (lua_toboolean(L, -1))
      r.flags |= KK_READING_UPDATE;
    else
      r.flags &= ~KK_READING_UPDATE;
  } else if (t != LUA_TNIL) {
    lraise(L, "%s: field 'update' must be a boolean", who);
  }
  lua_pop(L, 1);
  *out = r;
}

/* ---- batches ------------------------------------------------------------ */

static kk_batch_t *check_batch(lua_State *L, int idx) {
  lbatch_t *lb = luaL_checkudata(L, idx, BATCH_MT);
  if (!lb->b) lraise(L, "batch used after its call returned");
  return lb->b;
}

static int batch_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kk_batch_len(check_batch(L, 1)));
  return 1;
}

static int batch_get(lua_State *L) {
  kk_batch_t *b = check_batch(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  if (i < 1 || (size_t)i > kk_batch_len(b)) {
    lua_pushnil(L);
    return 1;
  }
  const kk_reading_t *r = &kk_batch_readings(b)[i - 1];
  const kk_datastream_t *d = kk_datastream_get(r->ds);
  lua_createtable(L, 0, 6);
  if (d) {
    lua_pushstring(L, d->thing);
    lua_setfield(L, -2, "thing");
    lua_pushstring(L, d->property);
    lua_setfield(L, -2, "property");
    lua_pushstring(L, d->unit);
    lua_setfield(L, -2, "unit");
  }
  lua_pushinteger(L, r->time_ms);
  lua_setfield(L, -2, "time");
  lua_pushnumber(L, r->value);
  lua_setfield(L, -2, "value");
  lua_pushinteger(L, r->ds);
  lua_setfield(L, -2, "ds");
  return 1;
}

/* Upvalues: 1 the batch userdata, 2 the view, 3 the next index (0-based). */
static int batch_iter(lua_State *L) {
  /* The upvalues are ours (batch_readings checked the batch). */
  lbatch_t *lb = lua_touserdata(L, lua_upvalueindex(1));
  if (!lb->b) lraise(L, "batch used after its call returned");
  kk_batch_t *b = lb->b;
  lua_Integer i = lua_tointeger(L, lua_upvalueindex(3));
  if (i < 0 || (size_t)i >= kk_batch_len(b)) return 0;
  lview_t *v = lua_touserdata(L, lua_upvalueindex(2));
  v->r = kk_batch_readings(b)[i];
  lua_pushinteger(L, i + 1);
  lua_replace(L, lua_upvalueindex(3));
  lua_pushvalue(L, lua_upvalueindex(2));
  return 1;
}

static int batch_readings(lua_State *L) {
  check_batch(L, 1);
  lua_settop(L, 1);
  kk__lua_push_reading(L, NULL);
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, batch_iter, 3);
  return 1;
}

static int batch_raw_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kk_batch_raw_len(check_batch(L, 1)));
  return 1;
}

static int batch_raw(lua_State *L) {
  kk_batch_t *b = check_batch(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  if (i < 1 || (size_t)i > kk_batch_raw_len(b)) {
    lua_pushnil(L);
    return 1;
  }
  const kk_raw_t *raw = kk_batch_raw(b, (size_t)i - 1);
  lua_createtable(L, 0, 5);
  lua_pushlstring(L, (const char *)raw->data, raw->len);
  lua_setfield(L, -2, "data");
  lua_pushinteger(L, raw->format);
  lua_setfield(L, -2, "format");
  lua_pushstring(L, raw->meta ? raw->meta : "");
  lua_setfield(L, -2, "meta");
  lua_pushinteger(L, raw->time_ms);
  lua_setfield(L, -2, "time");
  lua_pushinteger(L, (lua_Integer)raw->seq);
  lua_setfield(L, -2, "seq");
  return 1;
}

static int batch_seq(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kk_batch_seq(check_batch(L, 1)));
  return 1;
}

static int batch_tostring(lua_State *L) {
  lbatch_t *lb = luaL_checkudata(L, 1, BATCH_MT);
  if (!lb->b)
    lua_pushliteral(L, "batch (invalidated)");
  else
    lua_pushfstring(L, "batch (%I readings, %I raw)",
                    (lua_Integer)kk_batch_len(lb->b),
                    (lua_Integer)kk_batch_raw_len(lb->b));
  return 1;
}

void kk__lua_push_batch(lua_State *L, kk_batch_t *b) {
  lbatch_t *lb = lua_newuserdatauv(L, sizeof *lb, 0);
  lb->b = b;
  if (luaL_newmetatable(L, BATCH_MT)) {
    static const luaL_Reg methods[] = {
        {"get", batch_get}, {"readings", batch_readings},
        {"raw", batch_raw}, {"raw_count", batch_raw_count},
        {"seq", batch_seq}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__len", batch_len}, {"__tostring", batch_tostring}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
}

void kk__lua_batch_invalidate(lua_State *L, int idx) {
  lbatch_t *lb = luaL_testudata(L, idx, BATCH_MT);
  if (lb) lb->b = NULL;
}

/* ---- emit ------------------------------------------------------------------
 */

static int emit_call(lua_State *L) {
  lemit_t *e = lua_touserdata(L, lua_upvalueindex(1));
  if (!e->out) return lraise(L, "emit: called after its call returned");
  kk_reading_t r;
  kk__lua_check_reading(L, 1, NULL, &r, "emit");
  if (e->n >= KK__LUA_EMIT_MAX)
    return lraise(L, "emit: more than %d readings in one call",
                  (int)KK__LUA_EMIT_MAX);
  if (kk_batch_push(e->out, &r) != 0) return lraise(L, "emit: out of memory");
  e->n++;
  return 0;
}

void kk__lua_push_emitter(lua_State *L, kk_batch_t *out) {
  lemit_t *e = lua_newuserdatauv(L, sizeof *e, 0);
  e->out = out;
  e->n = 0;
  if (luaL_newmetatable(L, EMIT_MT)) {
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
  lua_pushcclosure(L, emit_call, 1);
}

void kk__lua_emitter_invalidate(lua_State *L, int idx) {
  if (lua_tocfunction(L, idx) != emit_call) return;
  if (!lua_getupvalue(L, idx, 1)) return;
  lemit_t *e = luaL_testudata(L, -1, EMIT_MT);
  if (e) e->out = NULL;
  lua_pop(L, 1);
}

/* ---- borrowed call arguments ------------------------------------------- */

/* push_borrowed(b, out): the batch userdata and the emitter (or nil). */
static int push_borrowed(lua_State *L) {
  kk_batch_t *b = lua_touserdata(L, 1);
  kk_batch_t *out = lua_touserdata(L, 2);
  lua_settop(L, 0);
  kk__lua_push_batch(L, b);
  if (out)
    kk__lua_push_emitter(L, out);
  else
    lua_pushnil(L);
  return 2;
}

int kk__lua_push_borrowed(lua_State *L, kk_batch_t *b, kk_batch_t *out,
                          char *err, size_t errlen) {
  lua_pushcfunction(L, push_borrowed);
  lua_pushlightuserdata(L, b);
  lua_pushlightuserdata(L, out);
  return kk__lua_pcall(L, 2, 2, err, errlen);
}

void kk__lua_invalidate_borrowed(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  kk__lua_batch_invalidate(L, idx);
  kk__lua_emitter_invalidate(L, idx + 1);
}
