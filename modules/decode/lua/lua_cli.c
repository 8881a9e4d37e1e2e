/*
 * modules/decode/lua/lua_cli.c - `klimakit decode`: one payload through a
 * device decoder, without a broker or a recipe.
 *
 *   klimakit decode recipes/decoders/elsys.lua --port 5 --hex 0100E2...
 *   klimakit decode DECODER --envelope ttn-v3 uplink.json
 *
 * The payload goes through the same code as a decode.lua stage (the same
 * loading, sandbox, budget, fPort check and validation of the result), so
 * that what the command prints is what the stage would store.  Also here:
 * the conversion of a Lua config table to JSON for kk.decode_lua.
 */
#include "decode/lua/lua_decoder.h"

#include <cJSON.h>
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LD_CLI_MAX_INPUT (1u << 20) /* bytes of an uplink file */

/* ---- a Lua config table to JSON ----------------------------------------- */

static cJSON *ld_lua_to_json(lua_State *L, int idx, int depth, char *err,
                             size_t errlen) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
    return cJSON_CreateString(lua_tostring(L, idx));
  case LUA_TBOOLEAN:
    return cJSON_CreateBool(lua_toboolean(L, idx));
  case LUA_TNUMBER: {
    double d = lua_tonumber(L, idx);
    if (!isfinite(d)) {
      snprintf(err, errlen, "a number that is not finite");
      return NULL;
    }
    return cJSON_CreateNumber(d);
  }
  case LUA_TTABLE:
    break;
  default:
    snprintf(err, errlen, "a %s cannot be passed to a decoder",
             luaL_typename(L, idx));
    return NULL;
  }
  if (depth > 16) {
    snprintf(err, errlen, "nested deeper than 16 tables (a cycle?)");
    return NULL;
  }
  luaL_checkstack(L, 4, "config");
  lua_Unsigned n = lua_rawlen(L, idx);
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    count++;
    lua_pop(L, 1);
  }
  int array = n > 0 && count == n;
  cJSON *out = array ? cJSON_CreateArray() : cJSON_CreateObject();
  if (!out) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (array) {
    for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
      lua_rawgeti(L, idx, i);
      cJSON *v = ld_lua_to_json(L, -1, depth + 1, err, errlen);
      lua_pop(L, 1);
      if (!v) {
        cJSON_Delete(out);
        return NULL;
      }
      cJSON_AddItemToArray(out, v);
    }
    return out;
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      snprintf(err, errlen, "keys must be strings (or 1..n for a list)");
      lua_pop(L, 2);
      cJSON_Delete(out);
      return NULL;
    }
    cJSON *v = ld_lua_to_json(L, -1, depth + 1, err, errlen);
    if (!v) {
      lua_pop(L, 2);
      cJSON_Delete(out);
      return NULL;
    }
    cJSON_AddItemToObject(out, lua_tostring(L, -2), v);
    lua_pop(L, 1);
  }
  return out;
}

char *ld_config_json(lua_State *L, int idx, char *err, size_t errlen) {
  cJSON *j = ld_lua_to_json(L, idx, 0, err, errlen);
  if (!j) return NULL;
  char *text = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!text) snprintf(err, errlen, "out of memory");
  return text;
}

/* ---- the command -----------------------------------------------------------
 */

static const char ld_cli_usage[] =
    "usage: klimakit decode DECODER.lua PAYLOAD [options]\n"
    "\n"
    "Runs one uplink through a device decoder (as kk.decode.lua would) and\n"
    "prints the readings, one per line: thing, property, value, unit, time\n"
    "(tab separated; --format json: one JSON object per line).\n"
    "\n"
    "PAYLOAD, one of:\n"
    "  --hex HEX                the device's bytes in hex (spaces allowed)\n"
    "  --base64 B64             the device's bytes in base64\n"
    "  --envelope ttn-v3|chirpstack-v4 FILE\n"
    "                           a The Things Stack v3 uplink or a ChirpStack\n"
    "                           v4 up event (JSON; FILE - reads stdin); the\n"
    "                           bytes, fPort, device and time come from it\n"
    "options:\n"
    "  --port N                 the fPort (0..255) for --hex / --base64\n"
    "  --config KEY=VALUE       ctx.config.KEY (repeatable; KEY may be dotted\n"
    "                           a.b; VALUE is read as JSON when it is a\n"
    "                           number, true, false, null, an array or an\n"
    "                           object, else it is a string)\n"
    "  --format text|json       output format (default text)\n"
    "\n"
    "Exit codes: 0 the payload was decoded (readings printed, or nothing to\n"
    "store: a status frame), 1 it was rejected (the reason and the message\n"
    "are printed: port, truncated, unknown_record, invalid, decoder, shape,\n"
    "budget, memcap, no_payload, parse, format, no_values) or the decoder\n"
    "could not be loaded, 2 usage error.\n";

typedef struct ld_cli {
  const char *decoder, *hex, *b64, *envelope, *file;
  int port, json;
  cJSON *config;
} ld_cli_t;

static int ld_cli_bad(const char *fmt, const char *arg) {
  fprintf(stderr, "klimakit decode: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(klimakit decode --help)\n");
  return 2;
}

/* Sets config[a][b]... = value for a dotted key.  Returns 0 or -1. */
static int ld_cli_config_set(cJSON *cfg, const char *kv) {
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv) return -1;
  char key[256];
  size_t kl = (size_t)(eq - kv);
  if (kl >= sizeof key) return -1;
  memcpy(key, kv, kl);
  key[kl] = '\0';
  const char *val = eq + 1;
  cJSON *v = NULL;
  if (*val == '[' || *val == '{' || *val == '-' ||
      (*val >= '0' && *val <= '9') || !strcmp(val, "true") ||
      !strcmp(val, "false") || !strcmp(val, "null")) {
    const char *end = NULL;
    v = cJSON_ParseWithOpts(val, &end, 1);
  }
  if (!v) v = cJSON_CreateString(val);
  if (!v) return -1;
  cJSON *o = cfg;
  char *part = key;
  for (char *dot; (dot = strchr(part, '.')); part = dot + 1) {
    *dot = '\0';
    if (!*part) goto bad;
    cJSON *c = cJSON_GetObjectItemCaseSensitive(o, part);
    if (!c) {
      c = cJSON_AddObjectToObject(o, part);
    } else if (!cJSON_IsObject(c)) {
      goto bad;
    }
    if (!c) goto bad;
    o = c;
  }
  if (!*part) goto bad;
  cJSON_DeleteItemFromObjectCaseSensitive(o, part);
  cJSON_AddItemToObject(o, part, v);
  return 0;
bad:
  cJSON_Delete(v);
  return -1;
}

static int ld_cli_args(int argc, char **argv, ld_cli_t *a) {
  a->port = -1;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      fputs(ld_cli_usage, stdout);
      return -1;
    }
    if (o[0] != '-' || !strcmp(o, "-")) {
      if (a->decoder) return ld_cli_bad("unexpected argument '%s'", o);
      a->decoder = o;
      continue;
    }
    if (!v) return ld_cli_bad("%s needs a value", o);
    i++;
    if (!strcmp(o, "--hex")) {
      a->hex = v;
    } else if (!strcmp(o, "--base64")) {
      a->b64 = v;
    } else if (!strcmp(o, "--envelope")) {
      if (strcmp(v, "ttn-v3") && strcmp(v, "chirpstack-v4"))
        return ld_cli_bad(
            "--envelope must be ttn-v3 or chirpstack-v4, not '%s'", v);
      a->envelope = v;
      if (i + 1 >= argc) return ld_cli_bad("%s", "--envelope needs a FILE");
      a->file = argv[++i];
    } else if (!strcmp(o, "--port")) {
      char *end;
      errno = 0;
      long p = strtol(v, &end, 10);
      if (errno || *end || end == v || p < 0 || p > 255)
        return ld_cli_bad("--port must be 0..255, not '%s'", v);
      a->port = (int)p;
    } else if (!strcmp(o, "--config")) {
      if (!a->config && !(a->config = cJSON_CreateObject()))
        return ld_cli_bad("%s", "out of memory");
      if (ld_cli_config_set(a->config, v) != 0)
        return ld_cli_bad("--config takes KEY=VALUE, not '%s'", v);
    } else if (!strcmp(o, "--format")) {
      if (strcmp(v, "text") && strcmp(v, "json"))
        return ld_cli_bad("--format must be text or json, not '%s'", v);
      a->json = !strcmp(v, "json");
    } else {
      return ld_cli_bad("unknown option '%s'", o);
    }
  }
  if (!a->decoder) return ld_cli_bad("%s", "no decoder file given");
  if (!!a->hex + !!a->b64 + !!a->envelope != 1)
    return ld_cli_bad("%s", "give one of --hex, --base64 or --envelope");
  if (a->envelope && a->port >= 0)
    return ld_cli_bad("%s", "--port is for --hex / --base64; an envelope has "
                            "its own fPort");
  return 0;
}

static int ld_cli_hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The payload bytes into *buf (caller frees), or -1 with a message. */
static long ld_cli_payload(const ld_cli_t *a, uint8_t **buf, char *err,
                           size_t errlen) {
  if (a->hex) {
    size_t n = strlen(a->hex), o = 0;
    int hi = -1;
    *buf = malloc(n / 2 + 1);
    if (!*buf) return -1;
    for (size_t k = 0; k < n; k++) {
      if (a->hex[k] == ' ') continue;
      int v = ld_cli_hexval((unsigned char)a->hex[k]);
      if (v < 0) {
        snprintf(err, errlen, "--hex: '%c' at %zu is not a hex digit",
                 a->hex[k], k + 1);
        return -1;
      }
      if (hi < 0) {
        hi = v;
      } else {
        (*buf)[o++] = (uint8_t)(hi << 4 | v);
        hi = -1;
      }
    }
    if (hi >= 0) {
      snprintf(err, errlen, "--hex: odd number of hex digits");
      return -1;
    }
    return (long)o;
  }
  if (a->b64) {
    size_t n = strlen(a->b64);
    *buf = malloc(n / 4 * 3 + 4);
    if (!*buf) return -1;
    long k = decode_base64(a->b64, n, *buf);
    if (k < 0) snprintf(err, errlen, "--base64: not base64 (RFC 4648)");
    return k;
  }
  FILE *f = strcmp(a->file, "-") ? fopen(a->file, "rb") : stdin;
  if (!f) {
    snprintf(err, errlen, "%s: %s", a->file, strerror(errno));
    return -1;
  }
  *buf = malloc(LD_CLI_MAX_INPUT + 1);
  size_t n = *buf ? fread(*buf, 1, LD_CLI_MAX_INPUT + 1, f) : 0;
  int bad = ferror(f);
  if (f != stdin) fclose(f);
  if (!*buf || bad) {
    snprintf(err, errlen, "%s: cannot read", a->file);
    return -1;
  }
  if (n > LD_CLI_MAX_INPUT) {
    snprintf(err, errlen, "%s: larger than %u bytes", a->file,
             LD_CLI_MAX_INPUT);
    return -1;
  }
  return (long)n;
}

static void ld_cli_print(const ld_stage_t *s, const char *thing, int64_t t0,
                         int json) {
  kk_buf_t b = {0};
  for (size_t i = 0; i < s->nres; i++) {
    const ld_result_t *r = &s->res[i];
    const char *th = r->thing[0] ? r->thing : thing[0] ? thing : "unknown";
    const char *unit = r->unit[0] ? r->unit : "1";
    char ts[KK_TIME_ISO_MAX];
    kk_time_format_iso8601(r->has_time ? r->time_ms : t0, ts);
    b.len = 0;
    if (json) {
      kk_buf_puts(&b, "{\"thing\":\"");
      kk_buf_json(&b, th);
      kk_buf_puts(&b, "\",\"property\":\"");
      kk_buf_json(&b, r->property);
      kk_buf_puts(&b, "\",\"value\":");
      kk_buf_double(&b, r->value);
      kk_buf_puts(&b, ",\"unit\":\"");
      kk_buf_json(&b, unit);
      kk_buf_printf(&b, "\",\"time\":\"%s\"}\n", ts);
    } else {
      kk_buf_printf(&b, "%s\t%s\t", th, r->property);
      kk_buf_double(&b, r->value);
      kk_buf_printf(&b, "\t%s\t%s\n", unit, ts);
    }
    if (!b.oom) fputs(b.p, stdout);
  }
  kk_buf_free(&b);
}

/* Prints a rejection (reason, message) or, with reason NULL, "nothing to
 * store" with the decoder's note. */
static void ld_cli_outcome(int json, const char *reason, const char *msg) {
  if (json) {
    kk_buf_t b = {0};
    if (reason) {
      kk_buf_puts(&b, "{\"rejected\":\"");
      kk_buf_json(&b, reason);
      kk_buf_puts(&b, "\",\"message\":\"");
    } else {
      kk_buf_puts(&b, "{\"nothing\":true,\"note\":\"");
    }
    kk_buf_json(&b, msg);
    kk_buf_puts(&b, "\"}\n");
    if (!b.oom) fputs(b.p, stdout);
    kk_buf_free(&b);
  } else if (reason) {
    fprintf(stderr, "rejected: %s: %s\n", reason, msg);
  } else {
    printf("# nothing to store%s%s\n", *msg ? ": " : "", msg);
  }
}

static int ld_cli_main(int argc, char **argv) {
  ld_cli_t a;
  memset(&a, 0, sizeof a);
  int rc = ld_cli_args(argc, argv, &a);
  if (rc) {
    cJSON_Delete(a.config);
    return rc < 0 ? 0 : rc;
  }
  char err[1024] = "";
  char *config = a.config ? cJSON_PrintUnformatted(a.config) : NULL;
  cJSON_Delete(a.config);
  uint8_t *buf = NULL;
  ld_stage_t *s = ld_stage_new();
  int code = 1;
  if (!s || (a.config && !config)) {
    fprintf(stderr, "klimakit decode: out of memory\n");
    goto out;
  }
  long n = ld_cli_payload(&a, &buf, err, sizeof err);
  if (n < 0) {
    fprintf(stderr, "klimakit decode: %s\n", err[0] ? err : "out of memory");
    code = 2;
    goto out;
  }
  s->envelope = !a.envelope                            ? LD_RAW
                : !strcmp(a.envelope, "chirpstack-v4") ? LD_CHIRPSTACK_V4
                                                       : LD_TTN_V3;
  s->port = a.port;
  if (ld_find(s, a.decoder) != 0) {
    snprintf(err, sizeof err, "decoder file '%s' not found", a.decoder);
    ld_cli_outcome(a.json, "load", err);
    goto out;
  }
  if (ld_load(s, NULL, "decode", config, err, sizeof err) != 0) {
    ld_cli_outcome(a.json, "load", err);
    goto out;
  }
  kk_raw_t raw = {0, kk_now_ms(), buf, (uint32_t)n, 0, ""};
  int64_t t0;
  char thing[128], why[256] = "";
  const char *reason = "parse";
  rc = ld_message(s, &raw, &t0, thing, sizeof thing, why, sizeof why, &reason);
  if (rc) {
    ld_cli_outcome(a.json, reason, why);
  } else if (s->none) {
    ld_cli_outcome(a.json, NULL, s->note);
    code = 0;
  } else {
    ld_cli_print(s, thing, t0, a.json);
    code = 0;
  }
out:
  fflush(stdout);
  ld_stage_free(s);
  free(buf);
  free(config);
  return code;
}

const kk_command_t ld_commands[] = {
    {.name = "decode",
     .summary = "run one payload through a Lua device decoder and print "
                "the readings (klimakit decode --help)",
     .usage = "DECODER ...",
     .main = ld_cli_main},
    {NULL}};
