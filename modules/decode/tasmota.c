/*
 * modules/decode/tasmota.c - decode.tasmota: Tasmota telemetry
 * (tele/<topic>/SENSOR) to readings.
 *
 * Tasmota publishes nested JSON such as
 *   {"Time":"2026-11-30T12:00:00","SML":{"Total_in":34507.4761,
 *    "Power_curr":-894}}
 * Every number (booleans as 0/1) becomes a value named by its dotted path
 * ("SML.Total_in"); `map` names its datastream, and the names of the
 * Smart Meter Interface examples and of Tasmota's ENERGY object have
 * defaults (below).  "Time" is Tasmota's local time, without zone unless
 * SetOption52 is on: it is read in the zone `tz` (klimakit/time.h).  In
 * the hour that repeats when summer time ends, a time without zone is
 * read as the first (summer-time) instance: Tasmota does not say which.
 * Strings (meter ids, "TempUnit") are counted in kk_decode_skipped_total.
 *
 * Cumulative meters: a reading has no "cumulative" mark in klimakit; a
 * meter count (SML.Total_in, ENERGY.Total) is stored as property energy
 * in kW.h as it is, and the calculators take it with meter =
 * "cumulative" (calc.co2, calc.bisko), which turns counts into
 * consumption per interval (docs/guide/push-formats.md).
 */
#include <klimakit.h>

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_common.h"

static const char *const tasmota_defaults[][3] = {
    {"SML.Total_in", "energy", "kW.h"},
    {"SML.Total_out", "energy_export", "kW.h"},
    {"SML.Power_curr", "power", "W"},
    {"ENERGY.Total", "energy", "kW.h"},
    {"ENERGY.Power", "power", "W"},
    {"ENERGY.Voltage", "voltage", "V"},
    {"ENERGY.Current", "current", "A"},
};

typedef struct tasmota_stage {
  decode_common_t dc;
  const char *tz;
  kk_metric_t *skipped;
} tasmota_stage_t;

typedef struct tasmota_walk {
  tasmota_stage_t *s;
  decode_out_t *out;
  int64_t t;
  char name[256];
} tasmota_walk_t;

static int tasmota_values(tasmota_walk_t *w, const cJSON *o, size_t at,
                          int depth) {
  if (depth > 8) return 0;
  for (const cJSON *m = o->child; m; m = m->next) {
    size_t n = strlen(m->string ? m->string : "");
    if (depth == 0 && !strcmp(m->string, "Time")) continue;
    if (at + n + 2 > sizeof w->name) {
      kk_metric_add(w->s->skipped, 1);
      continue;
    }
    size_t o2 = at;
    if (at) w->name[o2++] = '.';
    memcpy(w->name + o2, m->string, n + 1);
    int rc = 0;
    if (cJSON_IsObject(m))
      rc = tasmota_values(w, m, o2 + n, depth + 1);
    else if (cJSON_IsNumber(m) || cJSON_IsBool(m))
      rc = decode_out_value(w->out, NULL, w->name, NULL, w->t,
                            cJSON_IsBool(m) ? cJSON_IsTrue(m) : m->valuedouble);
    else
      kk_metric_add(w->s->skipped, 1); /* strings, arrays, null */
    if (rc) return rc;
  }
  return 0;
}

/* Tasmota's "Time": ISO 8601 with zone, or local time in `tz`. */
static int tasmota_time(const char *tz, const char *s, int64_t *out) {
  size_t n = strlen(s);
  if (kk_time_parse_iso8601(s, n, out) == 0) return 0;
  char z[48];
  if (n + 2 > sizeof z) return KK_EPARSE;
  memcpy(z, s, n);
  memcpy(z + n, "Z", 2);
  int64_t local;
  if (kk_time_parse_iso8601(z, n + 1, &local) != 0) return KK_EPARSE;
  /* utc = local - offset(utc): two steps settle it; the gap hour in
   * spring moves forward by the hour, the repeated hour in autumn gives
   * its first instance. */
  int64_t u = local - (int64_t)kk_tz_offset(tz, local / 1000) * 1000;
  int64_t u2 = local - (int64_t)kk_tz_offset(tz, u / 1000) * 1000;
  if (u2 != u) {
    int64_t u3 = local - (int64_t)kk_tz_offset(tz, u2 / 1000) * 1000;
    u = u3 == u2 ? u2 : (u < u2 ? u : u2);
  }
  *out = u;
  return 0;
}

static int tasmota_decode(void *state, decode_out_t *out, char *why,
                          size_t whylen, const char **reason) {
  tasmota_stage_t *s = state;
  const char *data = (const char *)out->raw->data, *end = NULL;
  const char *e = data + out->raw->len;
  cJSON *root = cJSON_ParseWithLengthOpts(data, out->raw->len, &end, 0);
  char dup[64];
  int rc = 0;
  if (!root) {
    snprintf(why, whylen, "not JSON");
    return KK_EPARSE;
  }
  while (end && end < e &&
         (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
    end++;
  tasmota_walk_t w = {s, out, out->raw->time_ms, ""};
  const cJSON *tm = cJSON_GetObjectItemCaseSensitive(root, "Time");
  if (end && end < e) {
    snprintf(why, whylen, "%zu bytes after the JSON object", (size_t)(e - end));
    rc = KK_EPARSE;
  } else if (kk_json_duplicate_key(root, dup, sizeof dup)) {
    snprintf(why, whylen, "duplicate key '%s'", dup);
    rc = KK_EPARSE;
  } else if (!cJSON_IsObject(root)) {
    snprintf(why, whylen, "a Tasmota message is a JSON object");
    rc = KK_EPARSE;
  } else if (tm && (!cJSON_IsString(tm) ||
                    tasmota_time(s->tz, tm->valuestring, &w.t) != 0)) {
    snprintf(why, whylen, "'Time' is not an ISO 8601 date-time");
    rc = KK_EPARSE;
  }
  if (rc == 0 && !out->thing[0] && !s->dc.thing) {
    /* tele/<topic>/SENSOR when the source's pattern named no thing. */
    char topic[256];
    kk_raw_meta_get(out->raw->meta, "topic", topic, sizeof topic);
    const char *a = strchr(topic, '/'), *b = a ? strchr(a + 1, '/') : NULL;
    if (a && b && b > a + 1)
      snprintf(out->thing, sizeof out->thing, "%.*s", (int)(b - a - 1), a + 1);
  }
  size_t before = out->nvalues;
  if (rc == 0) rc = tasmota_values(&w, root, 0, 0);
  if (rc == 0 && out->nvalues == before) {
    *reason = "no_values";
    snprintf(why, whylen, "no numeric field in the message");
    rc = KK_EMISSING;
  }
  cJSON_Delete(root);
  return rc;
}

static int tasmota_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  tasmota_stage_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->tz = kk_opt_str(o, "tz");
  if (kk_tz_check(s->tz) != 0) {
    kk_stage_error(st, "tz: unknown time zone '%s'", s->tz);
    return KK_EINVAL;
  }
  s->skipped = kk_stage_counter(st, "kk_decode_skipped_total", "non_numeric",
                                "Decoded values skipped, by reason.");
  int rc = decode_common_init(&s->dc, st, o);
  if (rc) return rc;
  /* The defaults go after the recipe's map, so that its entries win. */
  size_t nd = sizeof tasmota_defaults / sizeof *tasmota_defaults;
  decode_map_entry_t *m =
      realloc(s->dc.map, (s->dc.nmap + nd) * sizeof *s->dc.map);
  if (!m) return KK_ENOMEM;
  s->dc.map = m;
  for (size_t i = 0; i < nd; i++) {
    decode_map_entry_t *e = &s->dc.map[s->dc.nmap++];
    e->name = strdup(tasmota_defaults[i][0]);
    e->property = strdup(tasmota_defaults[i][1]);
    e->unit = strdup(tasmota_defaults[i][2]);
    if (!e->name || !e->property || !e->unit) return KK_ENOMEM;
  }
  return 0;
}

static int tasmota_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  tasmota_stage_t *s = state;
  return decode_common_process(&s->dc, b, tasmota_decode, s);
}

static void tasmota_destroy(void *state) {
  tasmota_stage_t *s = state;
  if (!s) return;
  decode_common_free(&s->dc);
  free(s);
}

static const kk_option_t tasmota_options[] = {
    {.name = "tz",
     .type = KK_OPT_STRING,
     .def = "Europe/Berlin",
     .description = "Zone of Tasmota's local \"Time\" when it carries no "
                    "offset (Europe/Berlin, its UTC+1 neighbours, CET, "
                    "UTC)."},
    DECODE_COMMON_OPTIONS,
    {NULL}};

const kk_module_t decode_tasmota_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "tasmota",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes Tasmota telemetry (tele/<topic>/SENSOR, SML meters).",
    .description =
        "Every number of the nested JSON becomes a value named by its dotted "
        "path; defaults map `SML.Total_in` to `energy` (kW.h, a cumulative "
        "meter count), `SML.Total_out` to `energy_export`, "
        "`SML.Power_curr` to `power` (W) and Tasmota's ENERGY object "
        "(Total, Power, Voltage, Current); `map` adds or overrides. `Time` "
        "is local time in `tz` unless it has an offset. The thing is the "
        "source's thing, else the topic's second level. Strings are "
        "counted in `kk_decode_skipped_total`; messages that are not JSON, "
        "have duplicate keys or trailing bytes are rejected (parse).",
    .options = tasmota_options,
    .create = tasmota_create,
    .process = tasmota_process,
    .destroy = tasmota_destroy,
};
