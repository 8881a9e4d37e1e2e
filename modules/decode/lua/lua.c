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
 * all its readings or none.  A decoder may also say that a frame holds
 * nothing to store (kk.decode.none: decoded, counted in
 * kk_decoded_empty_total).  Failures are counted per reason:
 *   port     the fPort is not one the file's `ports` declares
 *   truncated  a bytes read past the end, or the decoder says so
 *   unknown_record, invalid   as the decoder says (nil, msg, reason)
 *   decoder  the decoder raised an error or returned nil, "message"
 *   shape    the result is not a list of readings
 *   budget   instruction budget or deadline exhausted
 *   memcap   the state's memory cap was reached
 *   no_payload, parse, format (envelope problems), no_values.
 *
 * The state comes from the module API's Lua service (klimakit/lua.h):
 * the same sandbox, budget and memory cap as Lua modules.
 *
 * This file holds the module: its options, its stages and kk.decode_lua
 * for recipes.  Loading a decoder is in lua_load.c, one message is
 * decoded in lua_message.c, the `bytes` library is in lua_bytes.c and
 * `klimakit decode` in lua_cli.c.
 */
#include "decode/lua/lua_decoder.h"

#include <cJSON.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the stage ----------------------------------------------------------- */

static int ld_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  ld_stage_t *s = ld_stage_new();
  if (!s) return KK_ENOMEM;
  *state = s;
  s->envelope = kk_opt_enum(o, "envelope");
  s->port = (int)kk_opt_int(o, "port");
  int rc = decode_common_init(&s->dc, st, o);
  if (rc) return rc;
  s->m_none = kk_stage_counter(
      st, "kk_decoded_empty_total", NULL,
      "Messages decoded that held nothing to store (kk.decode.none).");
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
  ld_stage_free(state);
}

static int ld_decode(void *state, decode_out_t *out, char *why, size_t whylen,
                     const char **reason) {
  ld_stage_t *s = state;
  int64_t t0;
  char thing[128];
  int rc =
      ld_message(s, out->raw, &t0, thing, sizeof thing, why, whylen, reason);
  if (rc == 0 && s->none) kk_metric_add(s->m_none, 1);
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

static const char *const ld_lua_keys[] = {"path",     "hex",  "base64", "data",
                                          "envelope", "port", "config", NULL};

/* Misuse of kk.decode_lua raises; a key it does not know is misuse. */
static void ld_lua_check_keys(lua_State *L) {
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    size_t i = 0;
    while (k && ld_lua_keys[i] && strcmp(k, ld_lua_keys[i]))
      i++;
    if (!k || !ld_lua_keys[i])
      luaL_error(L,
                 "decode_lua: unknown key '%s' (path, hex, base64, data, "
                 "envelope, port, config)",
                 k ? k : luaL_typename(L, -1));
  }
}

static const char *ld_optstr(lua_State *L, const char *k, const char *def) {
  lua_getfield(L, 1, k);
  const char *v = def;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "decode_lua: %s must be a string", k);
    v = lua_tostring(L, -1);
  }
  lua_pop(L, 1);
  return v; /* the string stays referenced by the argument table */
}

static int ld_lua_fail(lua_State *L, const char *reason, const char *msg) {
  lua_pushnil(L);
  lua_pushstring(L, reason);
  lua_pushstring(L, msg);
  return 3;
}

static int ld_lua_envelope(const char *env) {
  return !strcmp(env, "raw")             ? LD_RAW
         : !strcmp(env, "ttn-v3")        ? LD_TTN_V3
         : !strcmp(env, "chirpstack-v4") ? LD_CHIRPSTACK_V4
                                         : -1;
}

/* kk.decode_lua { path =, hex = | base64 = | data =, envelope = "raw",
 * port =, config = {} }: decodes one payload (hex, base64 or bytes; with
 * envelope ttn-v3/chirpstack-v4, `data` is the uplink JSON) with the
 * decoder at path, as decode.lua would, and returns the list of readings
 * {thing, property, unit, time, value}; for a message with nothing to
 * store (kk.decode.none) an empty list, "none" and the decoder's note.
 * Expected failures return nil, reason, message (reason load, input, or
 * a rejection reason of decode.lua); misuse (an unknown key, a wrong
 * type, none or two of hex/base64/data) raises an error. */
static int ld_lua_decode(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  ld_lua_check_keys(L);
  const char *path = ld_optstr(L, "path", NULL);
  if (!path) return luaL_error(L, "decode_lua: path is required");
  const char *env = ld_optstr(L, "envelope", "raw");
  int envelope = ld_lua_envelope(env);
  if (envelope < 0)
    return luaL_error(
        L, "decode_lua: envelope must be raw, ttn-v3 or chirpstack-v4");
  const char *hex = ld_optstr(L, "hex", NULL);
  const char *b64 = ld_optstr(L, "base64", NULL);
  const char *data = ld_optstr(L, "data", NULL);
  if (!!hex + !!b64 + !!data != 1)
    return luaL_error(L, "decode_lua: give one of hex, base64 or data");
  if (envelope != LD_RAW && !data)
    return luaL_error(L, "decode_lua: envelope %s takes the uplink as data",
                      env);
  lua_getfield(L, 1, "port");
  int isnum = 1;
  lua_Integer port = lua_isnil(L, -1) ? -1 : lua_tointegerx(L, -1, &isnum);
  if (!isnum || port < -1 || port > 255)
    return luaL_error(L, "decode_lua: port must be an integer 0..255");
  lua_pop(L, 1);
  char *config = NULL;
  char e[1024];
  if (lua_getfield(L, 1, "config") != LUA_TNIL) {
    if (!lua_istable(L, -1))
      return luaL_error(L, "decode_lua: config must be a table");
    config = ld_config_json(L, lua_gettop(L), e, sizeof e);
    if (!config) return luaL_error(L, "decode_lua: config: %s", e);
  }
  lua_pop(L, 1);
  size_t len = 0;
  if (hex) {
    lua_pushcfunction(L, ld_bytes_fromhex);
    lua_pushstring(L, hex);
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2)) {
      free(config);
      return ld_lua_fail(L, "input", lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    data = lua_tolstring(L, -1, &len);
  } else if (b64) {
    size_t n = strlen(b64);
    uint8_t *buf = lua_newuserdatauv(L, n / 4 * 3 + 4, 0);
    long k = decode_base64(b64, n, buf);
    if (k < 0) {
      free(config);
      return ld_lua_fail(L, "input", "base64: not base64 (RFC 4648)");
    }
    lua_pushlstring(L, (const char *)buf, (size_t)k);
    data = lua_tolstring(L, -1, &len);
  } else {
    lua_getfield(L, 1, "data");
    data = lua_tolstring(L, -1, &len);
  }
  /* The stage lives in a box whose __gc frees it, so that an error
   * raised below does not leak it. */
  ld_stage_t **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  lua_newtable(L);
  lua_pushcfunction(L, ld_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  ld_stage_t *s = *box = ld_stage_new();
  if (!s) {
    free(config);
    return luaL_error(L, "not enough memory");
  }
  s->envelope = envelope;
  s->port = (int)port;
  if (ld_find(s, path) != 0) {
    free(config);
    lua_pushfstring(L, "decoder file '%s' not found", path);
    return ld_lua_fail(L, "load", lua_tostring(L, -1));
  }
  int rc = ld_load(s, NULL, "decode_lua", config, e, sizeof e);
  free(config);
  if (rc) return ld_lua_fail(L, "load", e);
  kk_raw_t raw = {0, kk_now_ms(), (const uint8_t *)data, (uint32_t)len, 0, ""};
  int64_t t0;
  char thing[128], why[256] = "";
  const char *reason = "parse";
  rc = ld_message(s, &raw, &t0, thing, sizeof thing, why, sizeof why, &reason);
  if (rc) return ld_lua_fail(L, reason, why);
  lua_createtable(L, (int)s->nres, 0);
  for (size_t i = 0; i < s->nres; i++) {
    const ld_result_t *r = &s->res[i];
    lua_createtable(L, 0, 5);
    lua_pushstring(L, r->thing[0] ? r->thing : thing[0] ? thing : "unknown");
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
  if (!s->none) return 1;
  lua_pushliteral(L, "none");
  lua_pushstring(L, s->note);
  return 3;
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
     .description = "envelope raw: the fPort handed to the decoder (a topic "
                    "part named `port` wins; -1 passes nil, which a decoder "
                    "that declares its ports rejects)."},
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
     .description = "CPU time one message may take (reason budget)."},
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
        "units), `kk.decode.none` for a frame with nothing to store (counted "
        "in kk_decoded_empty_total), or `nil, message [, reason]`; the "
        "thing is the device id unless a reading or `ctx.thing` names "
        "another. A file that returns `{ decode =, ports = { 5 } }` takes "
        "only those fPorts. A message is decoded completely or rejected, "
        "counted as kk_rejected_total{reason=port|truncated|unknown_record|"
        "invalid|decoder|shape|budget|memcap|no_payload|parse|format|"
        "no_values}. Shipped decoders: recipes/decoders/ (Elsys ERS, "
        "Milesight AM300, Decentlab DL-LP8P); `klimakit decode` runs one "
        "payload through a decoder; see examples/decoder/.",
    .options = ld_options,
    .create = ld_create,
    .process = ld_process,
    .destroy = ld_destroy,
    .lua_open = ld_lua_open,
    .commands = ld_commands,
};
