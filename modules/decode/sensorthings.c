/*
 * modules/decode/sensorthings.c - decode.sensorthings: Observations read
 * from an OGC SensorThings API server (FROST-Server and others).
 *
 * The shape followed (OGC 18-088 SensorThings API Part 1 v1.1, sections
 * 8.2.7 Observation, 9.3.3.1 $expand, 9.3.3.4 @iot.nextLink):
 *
 *   GET /v1.1/Observations?$filter=phenomenonTime gt {from}
 *        &$expand=Datastream($expand=Thing,ObservedProperty)
 *   {"@iot.count": 2, "@iot.nextLink": "...&$skip=100",
 *    "value": [{"@iot.id": 1, "phenomenonTime": "2026-03-01T10:00:00Z",
 *               "resultTime": "2026-03-01T10:00:05Z", "result": 21.5,
 *               "Datastream": {"@iot.id": 7, "name": "..",
 *                  "unitOfMeasurement": {"name": "degree Celsius",
 *                      "symbol": "°C", "definition": ".."},
 *                  "Thing": {"@iot.id": 3, "name": ".."},
 *                  "ObservedProperty": {"name": "air temperature"}}}]}
 *
 * A response of /Datastreams(7)/Observations has no Datastream member: the
 * id then comes from the request URL (the source's meta "url").  A single
 * Observation (GET /Observations(1)) is accepted too.
 *
 * phenomenonTime is an instant or an interval "start/end"; an interval
 * gives its end (option `time`).  Only numeric results are readings;
 * strings, booleans, objects and null are rejected one by one (reason
 * non_numeric_result).  @iot.nextLink is the source's business.
 *
 * Mapping: `map` keys are Datastream ids ("7") or names; an entry
 * "property:unit" or { property = .., unit = .., thing = .. }.  An
 * unmapped Datastream under unknown = "create" takes its thing from the
 * expanded Thing ("sta-<Thing id>", else "sta-ds<Datastream id>"), its
 * property from ObservedProperty/name (else the Datastream's name) made
 * lower_snake_case, and its unit from unitOfMeasurement/symbol converted
 * to UCUM (°C -> Cel, µg/m³ -> ug/m3, ...; a symbol klimakit does not
 * know and that is not plain ASCII is rejected, reason unknown_unit).
 */
#include <klimakit.h>

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_common.h"
#include "decode/decode_opendata.h"

typedef struct sta_thing {
  char *key, *thing;
} sta_thing_t;

typedef struct sta_state {
  decode_common_t dc;
  const char *prefix;
  int time_start;
  uint64_t max_size;
  sta_thing_t *things; /* map entries with a thing */
  size_t nthings;
} sta_state_t;

/* The symbol as UCUM; NULL when it cannot be used. */
static const char *sta_ucum(const char *sym) {
  static const char *const tab[][2] = {
      {"°C", "Cel"},      {"℃", "Cel"},       {"degC", "Cel"},
      {"µg/m³", "ug/m3"}, {"μg/m³", "ug/m3"}, {"µg/m3", "ug/m3"},
      {"mg/m³", "mg/m3"}, {"m³", "m3"},       {"m³/h", "m3/h"},
      {"m²", "m2"},       {"W/m²", "W/m2"},   {"‰", "[ppth]"},
      {"kWh", "kW.h"},    {"MWh", "MW.h"},    {"Wh", "W.h"},
      {"km/h", "km/h"},   {"ppm", "ppm"},     {"dB(A)", "dB"},
      {"dBA", "dB"},      {"°", "deg"}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (!strcmp(sym, tab[i][0])) return tab[i][1];
  for (const char *p = sym; *p; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) return NULL;
  return *sym ? sym : "1";
}

/* The Datastream id in a URL "../Datastreams(7)/Observations..". */
static int sta_url_ds(const char *url, char *id, size_t idlen) {
  const char *p = strstr(url, "Datastreams(");
  if (!p) return -1;
  p += 12;
  if (*p == '\'') p++;
  size_t n = strcspn(p, "')");
  if (n == 0 || n >= idlen || (p[n] != ')' && p[n] != '\'')) return -1;
  memcpy(id, p, n);
  id[n] = 0;
  return 0;
}

/* phenomenonTime: instant, or interval start/end. */
static int sta_time(const sta_state_t *s, const char *pt, int64_t *t) {
  const char *slash = strchr(pt, '/');
  if (!slash) return kk_time_parse_iso8601(pt, strlen(pt), t) ? -1 : 0;
  int64_t a, b;
  if (kk_time_parse_iso8601(pt, (size_t)(slash - pt), &a) ||
      kk_time_parse_iso8601(slash + 1, strlen(slash + 1), &b) || b < a)
    return -1;
  *t = s->time_start ? a : b;
  return 0;
}

static const char *sta_map_thing(const sta_state_t *s, const char *id,
                                 const char *name) {
  for (size_t i = 0; i < s->nthings; i++)
    if (!strcmp(s->things[i].key, id) ||
        (name && !strcmp(s->things[i].key, name)))
      return s->things[i].thing;
  return NULL;
}

static int sta_mapped(const sta_state_t *s, const char *key) {
  for (size_t i = 0; i < s->dc.nmap; i++)
    if (!strcmp(s->dc.map[i].name, key)) return 1;
  return 0;
}

static int sta_observation(sta_state_t *s, od_emit_t *e, const cJSON *o,
                           const char *url_ds) {
  if (!cJSON_IsObject(o)) {
    od_reject(e, "bad_record", "an Observation is not an object");
    return 0;
  }
  const cJSON *pt = cJSON_GetObjectItemCaseSensitive(o, "phenomenonTime");
  const cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "result");
  const cJSON *ds = cJSON_GetObjectItemCaseSensitive(o, "Datastream");
  char id[OD_NAME_MAX] = "";
  const char *dsname = NULL;
  if (cJSON_IsObject(ds)) {
    if (od_json_id(cJSON_GetObjectItemCaseSensitive(ds, "@iot.id"), id,
                   sizeof id)) {
      od_reject(e, "no_datastream", "Datastream without @iot.id");
      return 0;
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(ds, "name");
    if (cJSON_IsString(n)) dsname = n->valuestring;
  } else if (url_ds) {
    snprintf(id, sizeof id, "%s", url_ds);
  } else {
    od_reject(e, "no_datastream",
              "Observation without Datastream ($expand=Datastream or "
              "read /Datastreams(id)/Observations)");
    return 0;
  }
  int64_t t;
  if (!cJSON_IsString(pt) || sta_time(s, pt->valuestring, &t)) {
    od_reject(e, "bad_time",
              "Datastream %s: phenomenonTime is not an ISO "
              "8601 instant or interval",
              id);
    return 0;
  }
  if (!cJSON_IsNumber(res)) {
    od_reject(e, "non_numeric_result",
              "Datastream %s: result is not a "
              "number",
              id);
    return 0;
  }
  const char *key =
      sta_mapped(s, id) || !dsname || !sta_mapped(s, dsname) ? id : dsname;
  int mapped = sta_mapped(s, key);
  if (!mapped && s->dc.reject_unknown) {
    od_reject(e, "unknown_quantity", "Datastream %s is not in map", id);
    return 0;
  }
  /* The thing: the map's, else from the expanded Thing, else from the
   * Datastream id. */
  const cJSON *th = cJSON_GetObjectItemCaseSensitive(ds, "Thing");
  char thing[OD_NAME_MAX] = "", tid[OD_NAME_MAX], sub[OD_NAME_MAX + 4];
  const char *mt = sta_map_thing(s, id, dsname);
  int bad = 0;
  if (mt)
    bad = od_thing(thing, sizeof thing, "", mt);
  else if (cJSON_IsObject(th) &&
           !od_json_id(cJSON_GetObjectItemCaseSensitive(th, "@iot.id"), tid,
                       sizeof tid))
    bad = od_thing(thing, sizeof thing, s->prefix, tid);
  else
    bad = snprintf(sub, sizeof sub, "ds%s", id) >= (int)sizeof sub ||
          od_thing(thing, sizeof thing, s->prefix, sub);
  if (bad) {
    od_reject(e, "bad_record", "Datastream %s: thing id too long", id);
    return 0;
  }
  if (mapped) /* property and unit from the map */
    return od_value(e, thing, key, "-", "1", t, res->valuedouble);
  /* Derive the property and unit from the expanded entities. */
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(ds, "ObservedProperty");
  const cJSON *uom = cJSON_GetObjectItemCaseSensitive(ds, "unitOfMeasurement");
  char prop[OD_NAME_MAX];
  const cJSON *opn = cJSON_GetObjectItemCaseSensitive(op, "name");
  const char *label = cJSON_IsString(opn) ? opn->valuestring : dsname;
  if (!label || od_property_name(label, prop, sizeof prop)) {
    od_reject(e, "unknown_quantity",
              "Datastream %s: no ObservedProperty or "
              "name to name the property (expand it, or map it)",
              id);
    return 0;
  }
  const cJSON *sym = cJSON_GetObjectItemCaseSensitive(uom, "symbol");
  const char *unit = cJSON_IsString(sym) ? sta_ucum(sym->valuestring) : "1";
  if (!unit || strlen(unit) >= 64) {
    od_reject(e, "unknown_unit",
              "Datastream %s: unit symbol '%.20s' is not "
              "UCUM (map it)",
              id, cJSON_IsString(sym) ? sym->valuestring : "");
    return 0;
  }
  return od_value(e, thing, key, prop, unit, t, res->valuedouble);
}

static int sta_parse(sta_state_t *s, const uint8_t *data, size_t len,
                     const char *url, od_emit_t *e, char *why, size_t whylen,
                     const char **reason) {
  if (len > s->max_size) {
    *reason = "too_large";
    snprintf(why, whylen, "%zu bytes, more than max_size", len);
    return KK_ERANGE;
  }
  cJSON *root = od_json_parse(data, len, why, whylen);
  if (!root) return KK_EPARSE;
  char ubuf[OD_NAME_MAX];
  const char *url_ds = url && !sta_url_ds(url, ubuf, sizeof ubuf) ? ubuf : NULL;
  int rc = 0;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "value");
  if (cJSON_IsArray(v)) {
    for (const cJSON *o = v->child; o && rc == 0; o = o->next)
      rc = sta_observation(s, e, o, url_ds);
  } else if (cJSON_IsObject(root) &&
             cJSON_GetObjectItemCaseSensitive(root, "phenomenonTime")) {
    rc = sta_observation(s, e, root, url_ds);
  } else {
    snprintf(why, whylen,
             "neither {\"value\": [Observations]} nor an "
             "Observation");
    rc = KK_EPARSE;
  }
  cJSON_Delete(root);
  return rc;
}

static int sta_decode(void *state, decode_out_t *out, char *why, size_t whylen,
                      const char **reason) {
  od_emit_t e;
  od_bind(&e, out);
  char url[1024];
  kk_raw_meta_get(out->raw->meta, "url", url, sizeof url);
  return sta_parse(state, out->raw->data, out->raw->len, url, &e, why, whylen,
                   reason);
}

static int sta_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  sta_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->prefix = kk_opt_str(o, "thing_prefix");
  s->time_start = kk_opt_enum(o, "time") == 1;
  s->max_size = kk_opt_size(o, "max_size");
  int rc = decode_common_init(&s->dc, st, o);
  if (rc) return rc;
  const char *js = kk_opt_json(o, "map");
  cJSON *root = js ? cJSON_Parse(js) : NULL;
  for (cJSON *m = cJSON_IsObject(root) ? root->child : NULL; m; m = m->next) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "thing");
    if (!t) continue;
    sta_thing_t *nt;
    if (!cJSON_IsString(t) || !*t->valuestring) {
      kk_stage_error(st, "map.%s.thing must be a thing id", m->string);
      rc = KK_ETYPE;
    } else if (!(nt = realloc(s->things, (s->nthings + 1) * sizeof *nt))) {
      rc = KK_ENOMEM;
    } else {
      s->things = nt;
      nt[s->nthings].key = strdup(m->string);
      nt[s->nthings].thing = strdup(t->valuestring);
      if (!nt[s->nthings].key || !nt[s->nthings].thing) rc = KK_ENOMEM;
      s->nthings++;
    }
    if (rc) break;
  }
  cJSON_Delete(root);
  return rc;
}

static int sta_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  sta_state_t *s = state;
  return decode_common_process(&s->dc, b, sta_decode, s);
}

static void sta_destroy(void *state) {
  sta_state_t *s = state;
  if (!s) return;
  decode_common_free(&s->dc);
  for (size_t i = 0; i < s->nthings; i++) {
    free(s->things[i].key);
    free(s->things[i].thing);
  }
  free(s->things);
  free(s);
}

static const kk_option_t sta_options[] = {
    {.name = "thing_prefix",
     .type = KK_OPT_STRING,
     .def = "sta-",
     .description = "Derived thing ids: prefix + the Thing's @iot.id, or "
                    "prefix + \"ds\" + the Datastream's."},
    {.name = "time",
     .type = KK_OPT_ENUM,
     .def = "end",
     .choices = "end|start",
     .description = "Which end of an interval phenomenonTime gives the "
                    "reading's time."},
    {.name = "max_size",
     .type = KK_OPT_SIZE,
     .def = "4MiB",
     .description = "Larger responses are rejected (reason too_large); "
                    "parsing takes up to ~32 times the size in memory."},
    DECODE_COMMON_OPTIONS,
    {NULL}};

const kk_module_t decode_sensorthings_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "sensorthings",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes Observations read from a SensorThings API server "
               "(FROST).",
    .description =
        "Put after `source.http_poll` on `/Observations?$expand=Datastream` "
        "or `/Datastreams(id)/Observations` (with `@iot.nextLink` paging): "
        "each numeric `result` becomes a reading at its `phenomenonTime` "
        "(the end of an interval). `map` names datastreams by Datastream id "
        "or name (`{ [\"7\"] = { thing = .., property = .., unit = .. } }`); "
        "unmapped ones are derived from the expanded Thing, ObservedProperty "
        "and unitOfMeasurement, or rejected with `unknown = \"reject\"`. "
        "Non-numeric results, bad times and unknown units are rejected one "
        "by one with a reason.",
    .options = sta_options,
    .create = sta_create,
    .process = sta_process,
    .destroy = sta_destroy,
};
