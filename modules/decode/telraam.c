/*
 * modules/decode/telraam.c - decode.telraam: Telraam traffic reports
 * (POST https://telraam-api.net/v1/reports/traffic, "format": "per-hour").
 *
 * The shape followed (Telraam API documentation, reports/traffic):
 *
 *   {"status_code": 200, "message": "ok",
 *    "report": [{"instance_id": -1, "segment_id": 348917,
 *                "date": "2020-10-30T07:00:00.000Z", "interval": "hourly",
 *                "uptime": 0.73, "heavy": 78.08, "car": 619.18,
 *                "bike": 263.01, "pedestrian": 72.60,
 *                "heavy_lft": .., "heavy_rgt": .., "car_lft": .., ..,
 *                "direction": 1, "timezone": "Europe/Brussels",
 *                "car_speed_hist_0to70plus": [..],
 *                "car_speed_hist_0to120plus": [..], "v85": 38.5}, ..]}
 *
 * `date` is the start of the hour (UTC).  The counts Telraam reports are
 * already scaled to the whole hour: the camera saw them during `uptime`
 * (the share of the hour it could count) and Telraam divides by it (in
 * the documented example 619.18 x 0.73 = 452.0 cars seen).  So klimakit
 * never weights them again; option `counts` chooses between the hour's
 * estimate ("hour", the default) and what was seen ("observed" =
 * value x uptime).  Hours with uptime below `min_uptime` are not stored:
 * each of their counts is a rejection (reason low_uptime).  The uptime
 * itself is stored as property `uptime` (unit 1), so a dashboard can flag
 * hours that were partly estimated.
 *
 * Properties: count_car, count_heavy, count_bike, count_pedestrian and
 * their _lft/_rgt directions (unit 1: road users in the hour), car_speed_v85
 * (km/h), uptime.  `map` keys are Telraam's names ("car", "heavy_lft");
 * map = { car = "count_pkw:1", heavy = "count_lkw:1" } feeds calc.traffic.
 * Other numeric fields (newer API versions add some) follow `unknown`;
 * the speed histograms and the ids are not values.
 */
#include <klimakit.h>

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_common.h"
#include "decode/decode_opendata.h"

typedef struct telraam_state {
  decode_common_t dc;
  const char *prefix;
  int time_end, observed;
  double min_uptime;
  uint64_t max_size;
} telraam_state_t;

static const char *const telraam_modes[] = {"car", "heavy", "bike",
                                            "pedestrian"};

/* Fields that are not values. */
static int telraam_meta_field(const char *k) {
  static const char *const meta[] = {"instance_id", "segment_id", "date",
                                     "interval",    "uptime",     "direction",
                                     "timezone",    "v85"};
  for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
    if (!strcmp(k, meta[i])) return 1;
  return !strncmp(k, "car_speed_hist_", 15);
}

/* The default property of a count field, or 0 when it is none. */
static int telraam_count_prop(const char *k, char *prop, size_t plen) {
  for (size_t i = 0; i < 4; i++) {
    size_t n = strlen(telraam_modes[i]);
    if (strncmp(k, telraam_modes[i], n)) continue;
    if (k[n] == 0 || !strcmp(k + n, "_lft") || !strcmp(k + n, "_rgt")) {
      snprintf(prop, plen, "count_%s", k);
      return 1;
    }
  }
  return 0;
}

static int telraam_record(telraam_state_t *s, od_emit_t *e, const cJSON *r) {
  char id[64], thing[OD_NAME_MAX];
  const cJSON *seg = cJSON_GetObjectItemCaseSensitive(r, "segment_id");
  const cJSON *date = cJSON_GetObjectItemCaseSensitive(r, "date");
  const cJSON *iv = cJSON_GetObjectItemCaseSensitive(r, "interval");
  const cJSON *up = cJSON_GetObjectItemCaseSensitive(r, "uptime");
  int64_t t;
  if (!cJSON_IsObject(r) || od_json_id(seg, id, sizeof id) ||
      od_thing(thing, sizeof thing, s->prefix, id)) {
    od_reject(e, "bad_record", "report entry without segment_id");
    return 0;
  }
  if (!cJSON_IsString(date) ||
      kk_time_parse_iso8601(date->valuestring, strlen(date->valuestring), &t)) {
    od_reject(e, "bad_time", "segment %s: date is not an ISO 8601 time", id);
    return 0;
  }
  int64_t len = KK_HOUR_MS;
  if (cJSON_IsString(iv) && !strcmp(iv->valuestring, "daily"))
    len = KK_DAY_MS;
  else if (iv && !(cJSON_IsString(iv) && !strcmp(iv->valuestring, "hourly"))) {
    od_reject(e, "bad_record", "segment %s %s: interval is not hourly or daily",
              id, date->valuestring);
    return 0;
  }
  if (s->time_end) t += len;
  double uptime;
  const char *why = NULL;
  if (od_json_number(up, &uptime) || uptime < 0 || uptime > 1)
    why = "missing_uptime";
  else if (uptime < s->min_uptime)
    why = "low_uptime";
  if (!why) {
    int rc = od_value(e, thing, "uptime", "uptime", "1", t, uptime);
    if (rc) return rc;
  }
  for (const cJSON *f = r->child; f; f = f->next) {
    char prop[64];
    int count = telraam_count_prop(f->string, prop, sizeof prop);
    if (!count && (telraam_meta_field(f->string) || !cJSON_IsNumber(f)))
      continue;
    if (!strcmp(f->string, "v85")) continue;
    if (why) {
      od_reject(e, why, "segment %s %s: %s (uptime)", id, date->valuestring,
                f->string);
      continue;
    }
    double v;
    if (cJSON_IsNull(f)) {
      od_reject(e, "missing_value", "segment %s %s: %s is null", id,
                date->valuestring, f->string);
      continue;
    }
    if (od_json_number(f, &v) || v < 0) {
      od_reject(e, "not_a_number", "segment %s %s: %s is not a count", id,
                date->valuestring, f->string);
      continue;
    }
    if (s->observed && count) v *= uptime;
    int rc = od_value(e, thing, f->string, count ? prop : NULL, "1", t, v);
    if (rc) return rc;
  }
  const cJSON *v85 = cJSON_GetObjectItemCaseSensitive(r, "v85");
  double v;
  if (v85 && !cJSON_IsNull(v85)) {
    if (why)
      od_reject(e, why, "segment %s %s: v85 (uptime)", id, date->valuestring);
    else if (od_json_number(v85, &v) || v < 0)
      od_reject(e, "not_a_number", "segment %s %s: v85 is not a speed", id,
                date->valuestring);
    else
      return od_value(e, thing, "v85", "car_speed_v85", "km/h", t, v);
  }
  return 0;
}

static int telraam_parse(telraam_state_t *s, const uint8_t *data, size_t len,
                         od_emit_t *e, char *why, size_t whylen,
                         const char **reason) {
  if (len > s->max_size) {
    *reason = "too_large";
    snprintf(why, whylen, "%zu bytes, more than max_size", len);
    return KK_ERANGE;
  }
  cJSON *root = od_json_parse(data, len, why, whylen);
  if (!root) return KK_EPARSE;
  int rc = 0;
  const cJSON *sc = cJSON_GetObjectItemCaseSensitive(root, "status_code");
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
  const cJSON *rep = cJSON_GetObjectItemCaseSensitive(root, "report");
  if (!cJSON_IsObject(root)) {
    snprintf(why, whylen, "not a JSON object");
    rc = KK_ETYPE;
  } else if (sc && !(cJSON_IsNumber(sc) && sc->valuedouble == 200)) {
    *reason = "api_error";
    snprintf(why, whylen, "status_code %g: %.120s",
             cJSON_IsNumber(sc) ? sc->valuedouble : -1.0,
             cJSON_IsString(msg) ? msg->valuestring : "");
    rc = KK_EPARSE;
  } else if (!cJSON_IsArray(rep)) {
    snprintf(why, whylen, "no report array");
    rc = KK_EMISSING;
  } else {
    for (const cJSON *r = rep->child; r && rc == 0; r = r->next)
      rc = telraam_record(s, e, r);
  }
  cJSON_Delete(root);
  return rc;
}

static int telraam_decode(void *state, decode_out_t *out, char *why,
                          size_t whylen, const char **reason) {
  od_emit_t e;
  od_bind(&e, out);
  return telraam_parse(state, out->raw->data, out->raw->len, &e, why, whylen,
                       reason);
}

static int telraam_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  telraam_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->prefix = kk_opt_str(o, "thing_prefix");
  s->time_end = kk_opt_enum(o, "time") == OD_TIME_END;
  s->observed = kk_opt_enum(o, "counts") == 1;
  s->min_uptime = kk_opt_double(o, "min_uptime");
  s->max_size = kk_opt_size(o, "max_size");
  return decode_common_init(&s->dc, st, o);
}

static int telraam_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  telraam_state_t *s = state;
  return decode_common_process(&s->dc, b, telraam_decode, s);
}

static void telraam_destroy(void *state) {
  telraam_state_t *s = state;
  if (!s) return;
  decode_common_free(&s->dc);
  free(s);
}

static const kk_option_t telraam_options[] = {
    {.name = "thing_prefix",
     .type = KK_OPT_STRING,
     .def = "telraam-",
     .description = "Thing id = prefix + segment_id (\"telraam-348917\")."},
    {.name = "counts",
     .type = KK_OPT_ENUM,
     .def = "hour",
     .choices = "hour|observed",
     .description = "hour: Telraam's counts, already scaled to the whole "
                    "hour by its uptime; observed: what the camera saw "
                    "(count x uptime)."},
    {.name = "min_uptime",
     .type = KK_OPT_DOUBLE,
     .def = "0.5",
     .min = 0,
     .max = 1,
     .description = "Hours counted during less than this share are not "
                    "stored; each count is rejected (reason low_uptime)."},
    {.name = "time",
     .type = KK_OPT_ENUM,
     .def = "start",
     .choices = "start|end",
     .description = "Time of a reading: the start of its hour (Telraam's "
                    "`date`) or its end."},
    {.name = "max_size",
     .type = KK_OPT_SIZE,
     .def = "4MiB",
     .description = "Larger responses are rejected (reason too_large); "
                    "parsing takes up to ~32 times the size in memory."},
    DECODE_COMMON_OPTIONS,
    {NULL}};

const kk_module_t decode_telraam_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "telraam",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes Telraam traffic reports (reports/traffic, hourly per "
               "segment).",
    .description =
        "Each report entry becomes readings of thing `telraam-<segment_id>`: "
        "`count_car`, `count_heavy`, `count_bike`, `count_pedestrian` and "
        "their `_lft`/`_rgt` directions (unit 1 per hour), `car_speed_v85` "
        "(km/h) and `uptime`. Telraam's counts are already scaled to the "
        "hour by the uptime; `counts = \"observed\"` stores what was seen. "
        "Hours below `min_uptime` are rejected value by value (reason "
        "low_uptime), as are null or negative counts; an API error "
        "(status_code other than 200) rejects the response.",
    .options = telraam_options,
    .create = telraam_create,
    .process = telraam_process,
    .destroy = telraam_destroy,
};
