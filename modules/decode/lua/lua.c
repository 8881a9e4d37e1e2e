/*
 * modules/decode/lua/lua.c - decode.lua: device payload decoders in Lua.
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
 *
 * This file holds the module: its options, loading the decoder into a
 * stage's state, and kk.decode_lua for recipes.  One message is decoded
 * in lua_message.c; the `bytes` library is in lua_bytes.c.
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

/* Runs under kk_lua_pcall: installs `bytes`, runs the file and finds its
 * decode function (the file's return value, its `decode` field, or the
 * global `decode`). */
static int ld_setup(lua_State *L) {
  ld_stage_t *s = lua_touserdata(L, 1);
  const char *config = lua_tostring(L, 2);
  ld_bytes_open(L);
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
  if (config)
    lua_pushstring(s->L, config);
  else
    lua_pushnil(s->L);
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
  rc = ld_load(s, &lim, kk_stage_name(st), kk_opt_json(o, "config"), e,
               sizeof e);
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

static int ld_decode(void *state, decode_out_t *out, char *why, size_t whylen,
                     const char **reason) {
  ld_stage_t *s = state;
  int64_t t0;
  char thing[128];
  int rc =
      ld_message(s, out->raw, &t0, thing, sizeof thing, why, whylen, reason);
  for (size_t i = 0; i < s->nres && rc == 0; i++) {
    const ld_result_t *r = &s->res[i];
    rc = decode_out_value(out,
                          r->thing[0] ? r->thing
                          : thing[0]  ? thing
                                      : NULL,
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
    lua_pushcfunction(L, ld_bytes_fromhex);
    lua_pushstring(L, hex);
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2))
      return luaL_error(L, "decode_lua: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    data = lua_tolstring(L, -1, &len);
  }
  if (!data) return luaL_error(L, "decode_lua: give hex or data");
  (void)datai;
  lua_getfield(L, 1, "port");
  int port = (int)luaL_optinteger(L, -1, 1);
  lua_pop(L, 1);
  int envelope = !strcmp(env, "raw")             ? LD_RAW
                 : !strcmp(env, "ttn-v3")        ? LD_TTN_V3
                 : !strcmp(env, "chirpstack-v4") ? LD_CHIRPSTACK_V4
                                                 : -1;
  if (envelope < 0)
    return luaL_error(
        L, "decode_lua: envelope must be raw, ttn-v3 or chirpstack-v4");
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
