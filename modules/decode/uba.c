/*
 * modules/decode/uba.c - decode.uba: the Umweltbundesamt's air data API
 * (https://www.umweltbundesamt.de/api/air_data/v3/).
 *
 * The shapes followed (the API's OpenAPI description, bundesAPI/
 * luftqualitaet-api openapi.yaml, and live v3 responses of the same shape):
 *
 *   measures/json   {"request":{..},"indices":{..},
 *                    "data":{"<station id>":{"<date start>":
 *                        [<component id>,<scope id>,<value>,"<date end>",
 *                         <index>], ..}, ..}}
 *   components/json {"count":n,"indices":[..],
 *                    "<id>":["<id>","<code>","<symbol>","<unit>","<name>"]}
 *   stations/json   {"request":{..},"indices":[..],
 *                    "data":{"<id>":["<id>","<code>","<name>","<city>",
 *                        "<synonym>","<active from>","<active to>",
 *                        "<longitude>","<latitude>", ..]}}
 *
 * Dates are "YYYY-MM-DD HH:MM:SS" in CET, i.e. UTC+1 all year (the API's
 * parameter and field descriptions say CET, not "local time": there is no
 * summer time in them), with hours up to 24:00:00 for the end of a day.
 * Components 1 PM10, 2 CO, 3 O3, 4 SO2, 5 NO2, 9 PM2.5 are built in with
 * the units the components endpoint states (µg/m³, CO in mg/m³); others
 * are learned from a components/json response that went through the same
 * stage.  Scope 2 (1SMW, one-hour mean) gives the plain property ("pm10"),
 * scope 1 (1TMW, day mean) "<property>_day_mean", any other scope
 * "<property>_scope<id>"; `map` keys are "<code>" for the hourly mean and
 * "<code>/<scope id>" for the others ("PM10/1").
 *
 * Stations become things: each station of a stations/json response is
 * described through klimakit/thing.h (thing id prefix + station id, the
 * id its measures use; label the station's name, location its longitude
 * and latitude, group its city, public; station code, network, setting,
 * type and address as properties).  The stores keep the descriptions in
 * their things table, publish.http shows them (names, the map).  Counted
 * in kk_uba_stations_total.
 */
#include <klimakit.h>
#include <klimakit/thing.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_common.h"
#include "decode/decode_opendata.h"

#define UBA_MAX_COMPONENTS 256

typedef struct uba_component {
  int id;
  char code[32];     /* "PM10": the map key */
  char property[32]; /* "pm10" */
  char unit[16];     /* UCUM */
} uba_component_t;

typedef struct uba_state {
  decode_common_t dc;
  const char *prefix;
  int time_end;
  uint64_t max_size;
  uba_component_t comp[UBA_MAX_COMPONENTS]; /* [0, ncomp): learned */
  size_t ncomp;
  kk_metric_t *m_stations;
  kk_stage_t *st;
} uba_state_t;

static const uba_component_t uba_builtin[] = {
    {1, "PM10", "pm10", "ug/m3"}, {2, "CO", "co", "mg/m3"},
    {3, "O3", "o3", "ug/m3"},     {4, "SO2", "so2", "ug/m3"},
    {5, "NO2", "no2", "ug/m3"},   {9, "PM2.5", "pm2_5", "ug/m3"},
};

/* The API's unit text as UCUM; NULL when unknown. */
static const char *uba_ucum(const char *u) {
  static const char *const tab[][2] = {
      {"µg/m³", "ug/m3"}, {"μg/m³", "ug/m3"}, {"ug/m3", "ug/m3"},
      {"mg/m³", "mg/m3"}, {"mg/m3", "mg/m3"}, {"ng/m³", "ng/m3"},
      {"ng/m3", "ng/m3"}, {"ppb", "[ppb]"},   {"ppm", "ppm"}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (!strcmp(u, tab[i][0])) return tab[i][1];
  return NULL;
}

static const uba_component_t *uba_find(const uba_state_t *s, int id) {
  for (size_t i = 0; i < sizeof uba_builtin / sizeof uba_builtin[0]; i++)
    if (uba_builtin[i].id == id) return &uba_builtin[i];
  for (size_t i = 0; i < s->ncomp; i++)
    if (s->comp[i].id == id) return &s->comp[i];
  return NULL;
}

/* "YYYY-MM-DD HH:MM:SS" in CET (UTC+1), hour 24 allowed at :00:00. */
static int uba_time(const char *s, int64_t *ms) {
  size_t n = strlen(s);
  if (n != 19 || s[10] != ' ') return -1;
  char buf[32];
  memcpy(buf, s, 19);
  int add_day = 0;
  if (!memcmp(buf + 11, "24:00:00", 8)) {
    memcpy(buf + 11, "00:00:00", 8);
    add_day = 1;
  }
  memcpy(buf + 19, "+01:00", 7);
  if (kk_time_parse_iso8601(buf, 25, ms)) return -1;
  if (add_day) *ms += KK_DAY_MS;
  return 0;
}

static int uba_int(const cJSON *j, int *out) {
  double d;
  /* the range first: converting a double outside int's is undefined */
  if (od_json_number(j, &d) || !(d >= 0 && d <= 1e6) || d != floor(d))
    return -1;
  *out = (int)d;
  return 0;
}

static int uba_measure(uba_state_t *s, od_emit_t *e, const char *thing,
                       const char *start, const cJSON *m) {
  int comp, scope;
  /* An array, or the object {"0": .., "1": ..} the OpenAPI text shows. */
  if ((!cJSON_IsArray(m) && !cJSON_IsObject(m)) || cJSON_GetArraySize(m) < 4) {
    od_reject(e, "bad_record", "%s %s: not [component, scope, value, end, ..]",
              thing, start);
    return 0;
  }
  if (uba_int(cJSON_GetArrayItem(m, 0), &comp) ||
      uba_int(cJSON_GetArrayItem(m, 1), &scope)) {
    od_reject(e, "bad_record", "%s %s: component or scope is not an id", thing,
              start);
    return 0;
  }
  const uba_component_t *c = uba_find(s, comp);
  if (!c) {
    od_reject(e, "unknown_component",
              "%s %s: component %d (send components/json through this "
              "stage first, or map it)",
              thing, start, comp);
    return 0;
  }
  const cJSON *val = cJSON_GetArrayItem(m, 2);
  const cJSON *end = cJSON_GetArrayItem(m, 3);
  int64_t t0, t1;
  if (uba_time(start, &t0) || !cJSON_IsString(end) ||
      uba_time(end->valuestring, &t1) || t1 <= t0) {
    od_reject(e, "bad_time", "%s %s: start or end is not a CET time", thing,
              start);
    return 0;
  }
  double v;
  if (cJSON_IsNull(val)) {
    od_reject(e, "missing_value", "%s %s %s: null", thing, start, c->code);
    return 0;
  }
  if (od_json_number(val, &v)) {
    od_reject(e, "not_a_number", "%s %s %s: value is not a number", thing,
              start, c->code);
    return 0;
  }
  char name[48], prop[64];
  if (scope == 2) {
    snprintf(name, sizeof name, "%s", c->code);
    snprintf(prop, sizeof prop, "%s", c->property);
  } else {
    snprintf(name, sizeof name, "%s/%d", c->code, scope);
    if (scope == 1)
      snprintf(prop, sizeof prop, "%s_day_mean", c->property);
    else
      snprintf(prop, sizeof prop, "%s_scope%d", c->property, scope);
  }
  return od_value(e, thing, name, prop, c->unit, s->time_end ? t1 : t0, v);
}

static int uba_measures(uba_state_t *s, od_emit_t *e, const cJSON *data) {
  for (const cJSON *st = data->child; st; st = st->next) {
    char id[64], thing[OD_NAME_MAX];
    cJSON key = {.type = cJSON_String, .valuestring = st->string};
    if (od_json_id(&key, id, sizeof id) ||
        od_thing(thing, sizeof thing, s->prefix, id) || !cJSON_IsObject(st)) {
      od_reject(e, "bad_record", "station '%.40s': not an id with an object",
                st->string);
      continue;
    }
    for (const cJSON *tm = st->child; tm; tm = tm->next) {
      /* One start time holds one measure, or several (an object or array
       * of measures) when several components were asked for. */
      const cJSON *first = tm->child;
      if ((cJSON_IsArray(tm) || cJSON_IsObject(tm)) && first &&
          !cJSON_IsArray(first) && !cJSON_IsObject(first)) {
        int rc = uba_measure(s, e, thing, tm->string, tm);
        if (rc) return rc;
        continue;
      }
      if (!cJSON_IsArray(tm) && !cJSON_IsObject(tm)) {
        od_reject(e, "bad_record", "%s %.40s: not a measure", thing,
                  tm->string);
        continue;
      }
      if (!tm->child)
        od_reject(e, "bad_record", "%s %.40s: empty", thing, tm->string);
      for (const cJSON *m = tm->child; m; m = m->next) {
        int rc = uba_measure(s, e, thing, tm->string, m);
        if (rc) return rc;
      }
    }
  }
  return 0;
}

/* components/json: learns codes and units of components not built in. */
static void uba_components(uba_state_t *s, od_emit_t *e, const cJSON *root) {
  for (const cJSON *c = root->child; c; c = c->next) {
    /* components are under their numeric id; count, indices, request */
    if (!c->string[0] || strspn(c->string, "0123456789") != strlen(c->string))
      continue;
    int id;
    const cJSON *code = cJSON_GetArrayItem(c, 1);
    const cJSON *unit = cJSON_GetArrayItem(c, 3);
    if (uba_int(cJSON_GetArrayItem(c, 0), &id) || !cJSON_IsString(code) ||
        !cJSON_IsString(unit)) {
      od_reject(e, "bad_record",
                "component '%.40s': not [id, code, symbol, "
                "unit, name]",
                c->string);
      continue;
    }
    const char *ucum = uba_ucum(unit->valuestring);
    const uba_component_t *known = uba_find(s, id);
    if (known) {
      if ((!ucum || strcmp(ucum, known->unit)) && s->st &&
          kk_ratelimit_ok(&s->dc.rl))
        kk_stage_log(s->st, KK_LOG_WARN,
                     "component %d (%s): the API states unit '%s', klimakit "
                     "stores %s",
                     id, known->code, unit->valuestring, known->unit);
      continue;
    }
    uba_component_t n = {.id = id};
    if (!ucum || strlen(code->valuestring) >= sizeof n.code ||
        od_property_name(code->valuestring, n.property, sizeof n.property)) {
      od_reject(e, "unknown_unit", "component %d: unit '%.20s' or code", id,
                unit->valuestring);
      continue;
    }
    if (s->ncomp == UBA_MAX_COMPONENTS) {
      od_reject(e, "too_many", "component %d: more than %d components", id,
                UBA_MAX_COMPONENTS);
      continue;
    }
    snprintf(n.code, sizeof n.code, "%s", code->valuestring);
    snprintf(n.unit, sizeof n.unit, "%s", ucum);
    s->comp[s->ncomp++] = n;
  }
}

/* The text of member i of a station record, or NULL. */
static const char *uba_field(const cJSON *st, int i) {
  const cJSON *f = cJSON_GetArrayItem(st, i);
  return cJSON_IsString(f) && *f->valuestring ? f->valuestring : NULL;
}

/* One station of stations/json described as a thing (klimakit/thing.h):
 * label the station's name, group its city, the station code, network,
 * setting and type as properties. */
static int uba_describe(uba_state_t *s, const cJSON *st, const char *thing,
                        double lon, double lat) {
  kk_thing_info_t info = kk_thing_info_none();
  info.label = uba_field(st, 2);
  info.group = uba_field(st, 3);
  info.group_label = info.group;
  info.lat = lat;
  info.lon = lon;
  info.public_ = KK_THING_PUBLIC; /* the UBA publishes its stations */
  cJSON *p = cJSON_CreateObject();
  static const struct {
    int index;
    const char *key;
  } extra[] = {{1, "station_code"},  {13, "network"}, {14, "setting"},
               {16, "station_type"}, {17, "street"},  {19, "zip"},
               {5, "active_from"},   {6, "active_to"}};
  for (size_t k = 0; p && k < sizeof extra / sizeof extra[0]; k++) {
    const char *v = uba_field(st, extra[k].index);
    if (v && strlen(v) < 128) cJSON_AddStringToObject(p, extra[k].key, v);
  }
  cJSON_AddStringToObject(p, "source", "Umweltbundesamt");
  char *text = p ? cJSON_PrintUnformatted(p) : NULL;
  cJSON_Delete(p);
  info.properties = text;
  int rc = text ? kk_thing_describe(thing, &info) : KK_ENOMEM;
  free(text);
  if (rc && s->st)
    kk_stage_log(s->st, KK_LOG_WARN, "station %s: not described: %s", thing,
                 kk_strerror(rc));
  return rc;
}

/* stations/json: every station becomes a described thing (its readings'
 * thing id, with name, place and group); counted. */
static void uba_stations(uba_state_t *s, od_emit_t *e, const cJSON *data) {
  size_t n = 0;
  for (const cJSON *st = data->child; st; st = st->next) {
    double lon, lat;
    char thing[OD_NAME_MAX];
    const cJSON *code = cJSON_GetArrayItem(st, 1);
    if (cJSON_GetArraySize(st) < 9 || !cJSON_IsString(code) ||
        od_json_number(cJSON_GetArrayItem(st, 7), &lon) ||
        od_json_number(cJSON_GetArrayItem(st, 8), &lat) || fabs(lat) > 90 ||
        fabs(lon) > 180 ||
        od_thing(thing, sizeof thing, s->prefix, st->string)) {
      od_reject(e, "bad_record", "station '%.40s': no code or location",
                st->string);
      continue;
    }
    if (uba_describe(s, st, thing, lon, lat) == 0) n++;
  }
  if (s->m_stations) kk_metric_add(s->m_stations, (int64_t)n);
  if (s->st && n)
    kk_stage_log(s->st, KK_LOG_INFO,
                 "stations/json: %zu stations described (name, location, "
                 "city as group)",
                 n);
}

static int uba_parse(uba_state_t *s, const uint8_t *data, size_t len,
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
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "data");
  if (!cJSON_IsObject(root)) {
    snprintf(why, whylen, "not a JSON object");
    rc = KK_ETYPE;
  } else if (cJSON_IsObject(d)) {
    const cJSON *first = d->child;
    if (first && cJSON_IsArray(first))
      uba_stations(s, e, d);
    else
      rc = uba_measures(s, e, d);
  } else if (cJSON_IsArray(d) && cJSON_GetArraySize(d) == 0) {
    rc = 0; /* PHP's empty object: a window without data */
  } else if (cJSON_GetObjectItemCaseSensitive(root, "indices") ||
             cJSON_GetObjectItemCaseSensitive(root, "count")) {
    uba_components(s, e, root);
  } else {
    snprintf(why, whylen, "neither measures, stations nor components");
    rc = KK_EPARSE;
  }
  cJSON_Delete(root);
  return rc;
}

static int uba_decode(void *state, decode_out_t *out, char *why, size_t whylen,
                      const char **reason) {
  uba_state_t *s = state;
  od_emit_t e;
  od_bind(&e, out);
  return uba_parse(s, out->raw->data, out->raw->len, &e, why, whylen, reason);
}

static int uba_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  uba_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->prefix = kk_opt_str(o, "thing_prefix");
  s->time_end = kk_opt_enum(o, "time") == OD_TIME_END;
  s->max_size = kk_opt_size(o, "max_size");
  s->m_stations =
      kk_stage_counter(st, "kk_uba_stations_total", NULL,
                       "Stations of stations/json described as things.");
  return decode_common_init(&s->dc, st, o);
}

static int uba_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  uba_state_t *s = state;
  return decode_common_process(&s->dc, b, uba_decode, s);
}

static void uba_destroy(void *state) {
  uba_state_t *s = state;
  if (!s) return;
  decode_common_free(&s->dc);
  free(s);
}

static const kk_option_t uba_options[] = {
    {.name = "thing_prefix",
     .type = KK_OPT_STRING,
     .def = "uba-",
     .description = "Thing id = prefix + the API's station id (\"uba-7\")."},
    {.name = "time",
     .type = KK_OPT_ENUM,
     .def = "start",
     .choices = "start|end",
     .description = "Time of a reading: the start of its averaging period "
                    "(like calc.window and the store's rollups) or its "
                    "end."},
    {.name = "max_size",
     .type = KK_OPT_SIZE,
     .def = "4MiB",
     .description = "Larger responses are rejected (reason too_large); "
                    "parsing takes up to ~32 times the size in memory."},
    DECODE_COMMON_OPTIONS,
    {NULL}};

const kk_module_t decode_uba_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "uba",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes the Umweltbundesamt air data API (v3 measures, "
               "components, stations).",
    .description =
        "Put after `source.http_poll` on `measures/json`: every "
        "`[component, scope, value, end, index]` becomes a reading of thing "
        "`uba-<station id>`, property `pm10`, `co`, `o3`, `so2`, `no2`, "
        "`pm2_5` (µg/m³ as `ug/m3`, CO as `mg/m3`; day means "
        "`<property>_day_mean`). Times are CET (UTC+1 all year) in the API "
        "and UTC in klimakit. A `components/json` response teaches the "
        "stage further components; each station of `stations/json` becomes a "
        "described thing (name, location, city as group: klimakit/thing.h), "
        "kept by the stores and shown by publish.http. Null values, unknown "
        "components and bad times are rejected one by one with a reason.",
    .options = uba_options,
    .create = uba_create,
    .process = uba_process,
    .destroy = uba_destroy,
};
