/*
 * modules/decode/json.c - decode.json: flat JSON messages with a mapping.
 *
 * {"temp": 21.5, "co2": 640, "ts": 1767225600} with
 * kk.decode.json { time_field = "ts", map = { temp = "air_temperature:Cel",
 * co2 = "co2:ppm" } }.  Numbers and booleans become readings (nested
 * objects as dotted names); `fields` restricts which.  Thing: option
 * `thing`, else `thing_field`, else the source's topic part.  The message
 * is parsed strictly (no trailing bytes, no duplicate keys); string
 * members and non-finite numbers that are left out are counted
 * (string_value, non_finite, too_deep), numeric strings become values
 * with numeric_strings.
 */
#include <klimakit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_common.h"
#include "decode/decode_flat.h"

typedef struct json_stage {
  decode_common_t dc;
  flatjson_opts_t fo;
  const char **fields;
} json_stage_t;

typedef struct json_emit {
  decode_out_t *out;
  const char *thing;      /* the message's thing ("" when it has none) */
  const int64_t *time_ms; /* the message's time */
  size_t n;
} json_emit_t;

/* flatjson_message() has read the thing and the time when it calls this
 * (decode_flat.h), so one parse of the message does. */
static int json_value(void *ctx, const char *name, double v) {
  json_emit_t *e = ctx;
  e->n++;
  return decode_out_value(e->out, e->thing[0] ? e->thing : NULL, name, NULL,
                          *e->time_ms, v);
}

static int json_decode(void *state, decode_out_t *out, char *why, size_t whylen,
                       const char **reason) {
  json_stage_t *s = state;
  char thing[256] = "";
  int64_t t = out->raw->time_ms;
  json_emit_t e = {out, thing, &t, 0};
  flatjson_stats_t fs = {0, 0, 0};
  flatjson_opts_t fo = s->fo;
  fo.stats = &fs;
  int rc = flatjson_message(out->raw->data, out->raw->len, &fo, &t, thing,
                            sizeof thing, json_value, &e, why, whylen);
  if (rc == 0 && e.n == 0) {
    *reason = "no_values";
    snprintf(why, whylen,
             "no numeric field in the message (%zu strings, %zu non-finite)",
             fs.strings, fs.nonfinite);
    return KK_EMISSING;
  }
  if (rc == 0) {
    decode_out_skipped(out, "string_value", fs.strings, "string values");
    decode_out_skipped(out, "non_finite", fs.nonfinite, "non-finite numbers");
    decode_out_skipped(out, "too_deep", fs.too_deep, "members nested too deep");
  }
  return rc;
}

static int json_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  json_stage_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->fo.time_field =
      kk_opt_isset(o, "time_field") ? kk_opt_str(o, "time_field") : NULL;
  s->fo.time_unit = kk_opt_enum(o, "time_unit");
  s->fo.numeric_strings = kk_opt_bool(o, "numeric_strings");
  s->fo.thing_field =
      kk_opt_isset(o, "thing_field") ? kk_opt_str(o, "thing_field") : NULL;
  size_t nf = kk_opt_list_len(o, "fields");
  if (nf) {
    s->fields = calloc(nf + 1, sizeof *s->fields);
    if (!s->fields) return KK_ENOMEM;
    for (size_t i = 0; i < nf; i++)
      s->fields[i] = kk_opt_list_item(o, "fields", i);
    s->fo.fields = s->fields;
  }
  return decode_common_init(&s->dc, st, o);
}

static int json_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  json_stage_t *s = state;
  return decode_common_process(&s->dc, b, json_decode, s);
}

static void json_destroy(void *state) {
  json_stage_t *s = state;
  if (!s) return;
  decode_common_free(&s->dc);
  free(s->fields);
  free(s);
}

static const kk_option_t json_options[] = {
    {.name = "fields",
     .type = KK_OPT_LIST,
     .description = "Only these fields are values (dotted names for nested "
                    "objects); default: every number and boolean."},
    {.name = "time_field",
     .type = KK_OPT_STRING,
     .description = "Field holding the observation time; default: the "
                    "reception time."},
    {.name = "time_unit",
     .type = KK_OPT_ENUM,
     .def = "auto",
     .choices = "auto|s|ms|iso8601",
     .description = "How time_field is written; auto: numbers >= 1e11 are "
                    "ms, smaller ones s, strings ISO 8601 with zone."},
    {.name = "thing_field",
     .type = KK_OPT_STRING,
     .description = "Field holding the thing id (default: the source's "
                    "topic part, see source.mqtt pattern)."},
    {.name = "numeric_strings",
     .type = KK_OPT_BOOL,
     .def = "false",
     .description = "Strings that hold exactly one JSON number (\"21.5\") "
                    "become values; other strings are counted (reason "
                    "string_value) either way."},
    DECODE_COMMON_OPTIONS,
    {NULL}};

const kk_module_t decode_json_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "json",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes flat JSON messages with a field mapping.",
    .description =
        "Every number (and boolean as 0/1) of a JSON object becomes a "
        "reading; `map` names its datastream, `time_field` its time (s, ms "
        "or ISO 8601). Messages that are not one JSON object (trailing "
        "bytes, duplicate keys) or hold no number are rejected (reasons "
        "parse, no_values) and counted; string members and non-finite "
        "numbers left out are counted as string_value / non_finite.",
    .options = json_options,
    .create = json_create,
    .process = json_process,
    .destroy = json_destroy,
};
