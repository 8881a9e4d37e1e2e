/*
 * modules/calc/traffic.c - calc.traffic: traffic counts -> CO2e, as
 * vehicles x segment length x factor per vehicle-km for each vehicle
 * class.
 *
 * Factors come from the registry (modules/calc/data/traffic_factors.csv:
 * sets traffic_de and desnz_2024, every row with its source and
 * confidence), looked up per class in the order of `sets`, or from the
 * recipe (`factors`, each with its source), which wins.  Each class's
 * factor is resolved once and logged with where it comes from.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"
#include "calc/calc_factors.h"

typedef struct tclass {
  char *name;
  double g_per_vkm; /* NAN: no factor for this class */
} tclass_t;

typedef struct tds {
  uint8_t state; /* 0 unknown, 1 count, 2 ignored */
  int cls;
  double km;
  uint32_t out;
} tds_t;

typedef struct traffic_state {
  kk_stage_t *st;
  calc_rejects_t rj;
  cJSON *segments;
  tclass_t *cls;
  size_t ncls, capcls;
  const char *prefix;
  const kk_opts_t *opts; /* `sets` */
  int year;              /* factor year; 9999: the newest */
  tds_t *ds;
  size_t nds;
} traffic_state_t;

/* Appends a class; returns its index or -1. */
static int traffic_add(traffic_state_t *s, const char *name, double g) {
  if (s->ncls == s->capcls) {
    size_t nc = s->capcls ? s->capcls * 2 : 8;
    tclass_t *n = realloc(s->cls, nc * sizeof *n);
    if (!n) return -1;
    s->cls = n;
    s->capcls = nc;
  }
  char *copy = malloc(strlen(name) + 1);
  if (!copy) return -1;
  strcpy(copy, name);
  s->cls[s->ncls] = (tclass_t){copy, g};
  return (int)s->ncls++;
}

static double traffic_lookup(traffic_state_t *s, const char *cls);

static int traffic_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  traffic_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->prefix = kk_opt_str(o, "prefix");
  calc_rejects_init(&s->rj, st,
                    CALC_REJ_BIT(CALC_REJ_NAN) |
                        CALC_REJ_BIT(CALC_REJ_NEGATIVE) |
                        CALC_REJ_BIT(CALC_REJ_UNMAPPED));
  s->segments = cJSON_Parse(kk_opt_json(o, "segments"));
  if (!cJSON_IsObject(s->segments)) {
    kk_stage_error(st, "segments: expected { [thing] = length_km }");
    return KK_EINVAL;
  }
  for (cJSON *c = s->segments->child; c; c = c->next)
    if (!cJSON_IsNumber(c) || !(c->valuedouble > 0)) {
      kk_stage_error(st, "segments: length of '%s' must be a number > 0 (km)",
                     c->string);
      return KK_EINVAL;
    }
  s->opts = o;
  s->year = kk_opt_isset(o, "year") ? (int)kk_opt_int(o, "year") : 9999;
  for (size_t i = 0; i < kk_opt_list_len(o, "sets"); i++) {
    const char *set = kk_opt_list_item(o, "sets", i);
    if (!calc_set_id(set)) {
      kk_stage_error(st,
                     "sets: unknown factor set '%s' (traffic: traffic_de, "
                     "desnz_2024; see `klimakit factors`)",
                     set);
      return KK_EUNKNOWN;
    }
  }
  const char *fj = kk_opt_json(o, "factors");
  cJSON *f = fj ? cJSON_Parse(fj) : NULL;
  if (fj && !cJSON_IsObject(f)) {
    kk_stage_error(st, "factors: expected { pkw = { value = g_per_vkm, source "
                       "= \"...\" }, ... }");
    cJSON_Delete(f);
    return KK_EINVAL;
  }
  int rc = 0;
  for (cJSON *c = f ? f->child : NULL; c && !rc; c = c->next) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "value");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(c, "source");
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || !cJSON_IsString(src) ||
        !*src->valuestring) {
      kk_stage_error(st,
                     "factors.%s: needs value (g CO2e per vehicle-km, "
                     ">= 0) and source (where it comes from)",
                     c->string);
      rc = KK_EMISSING;
      break;
    }
    if (traffic_add(s, c->string, v->valuedouble) < 0)
      rc = KK_ENOMEM;
    else
      kk_stage_log(st, KK_LOG_INFO,
                   "%s: %g g per vehicle-km from the recipe "
                   "(%s)",
                   c->string, v->valuedouble, src->valuestring);
  }
  cJSON_Delete(f);
  return rc;
}

/* The factor of a class the recipe does not give: the first of `sets`
 * that has one (for `year`, else its newest); NAN when none has. */
static double traffic_lookup(traffic_state_t *s, const char *cls) {
  for (size_t i = 0; i < kk_opt_list_len(s->opts, "sets"); i++) {
    const char *set = kk_opt_list_item(s->opts, "sets", i);
    const calc_factor_t *f;
    char err[256];
    if (calc_factor_find(NULL, set, cls, s->year, 1, &f, err, sizeof err))
      continue;
    kk_stage_log(s->st, KK_LOG_INFO,
                 "%s: %g %s from %s (%s; %s; confidence: %s)", cls, f->value,
                 f->unit, f->edition, f->validity, f->source, f->confidence);
    return f->value;
  }
  kk_stage_log(s->st, KK_LOG_WARN,
               "%s: no factor in the recipe or in the sets; its counts are "
               "rejected (unmapped)",
               cls);
  return NAN;
}

static tds_t *tds_of(traffic_state_t *s, uint32_t id) {
  if (calc_grow((void **)&s->ds, &s->nds, id, sizeof *s->ds)) return NULL;
  tds_t *d = &s->ds[id];
  if (d->state) return d;
  d->state = 2;
  const char *prop = calc_property(id);
  size_t pl = strlen(s->prefix);
  if (strncmp(prop, s->prefix, pl) != 0) return d;
  d->state = 1;
  d->cls = -1;
  for (size_t i = 0; i < s->ncls; i++)
    if (strcmp(prop + pl, s->cls[i].name) == 0) d->cls = (int)i;
  if (d->cls < 0)
    d->cls = traffic_add(s, prop + pl, traffic_lookup(s, prop + pl));
  if (d->cls < 0) return NULL;
  const cJSON *km =
      cJSON_GetObjectItemCaseSensitive(s->segments, calc_thing(id));
  d->km = cJSON_IsNumber(km) ? km->valuedouble : 0;
  char out[200];
  snprintf(out, sizeof out, "co2e_%s", prop + pl);
  d->out = kk_datastream_id(calc_thing(id), out, "kg");
  return d;
}

static int traffic_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  traffic_state_t *s = state;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  kk_batch_t *out = kk_batch_new(n);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    tds_t *d = tds_of(s, r[i].ds);
    if (!d) {
      rc = KK_ENOMEM;
      break;
    }
    if (d->state != 1) continue;
    if (!isfinite(r[i].value)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "count is not a number");
    } else if (r[i].value < 0) {
      calc_reject(&s->rj, CALC_REJ_NEGATIVE, &r[i], "negative count");
    } else if (isnan(s->cls[d->cls].g_per_vkm) || d->km <= 0) {
      calc_reject(&s->rj, CALC_REJ_UNMAPPED, &r[i],
                  d->km > 0 ? "no factor for this vehicle class"
                            : "no segment length for this thing");
    } else {
      kk_reading_t o = {r[i].time_ms,
                        r[i].value * d->km * s->cls[d->cls].g_per_vkm / 1000.0,
                        d->out, 0};
      rc = kk_batch_push(out, &o);
    }
  }
  if (!rc) kk_stage_emit(st, out);
  kk_batch_unref(out);
  return rc;
}

static void traffic_destroy(void *state) {
  traffic_state_t *s = state;
  if (!s) return;
  for (size_t i = 0; i < s->ncls; i++)
    free(s->cls[i].name);
  free(s->cls);
  free(s->ds);
  cJSON_Delete(s->segments);
  free(s);
}

static const kk_option_t traffic_options[] = {
    {.name = "segments",
     .type = KK_OPT_TABLE,
     .flags = KK_OPT_REQUIRED,
     .description = "Length in km of the road segment each counter (thing) "
                    "stands for: `{ [\"zaehlstelle-b54\"] = 1.8 }`."},
    {.name = "factors",
     .type = KK_OPT_TABLE,
     .description = "g CO2e per vehicle-km per class, each with its source; "
                    "they win over the sets: `{ pkw = { value = ..., source "
                    "= \"UBA TREMOD ...\" }, lkw = { ... } }`."},
    {.name = "sets",
     .type = KK_OPT_LIST,
     .def = "traffic_de,desnz_2024",
     .description = "Factor sets searched in order for a class the recipe "
                    "does not give (`klimakit factors` lists them with "
                    "sources and confidence): `traffic_de` (pkw, pkw_benzin, "
                    "pkw_diesel, bus), `desnz_2024` (UK: pkw_benzin, "
                    "pkw_diesel, lnf, lkw, krad).  `{}` uses only `factors`."},
    {.name = "year",
     .type = KK_OPT_INT,
     .min = 1990,
     .max = 2100,
     .description = "Use the sets' factors of this year (default: the "
                    "newest of each class)."},
    {.name = "prefix",
     .type = KK_OPT_STRING,
     .def = "count_",
     .description = "Count readings are properties `<prefix><class>` "
                    "(vehicles in the reading's interval)."},
    {NULL}};

const kk_module_t calc_traffic_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "traffic",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Traffic counts -> CO2e (vehicles x segment km x g/vkm).",
    .description =
        "For each count reading `count_<class>` emits `co2e_<class>` in kg on "
        "the same thing: vehicles x segment length x factor per vehicle-km.  "
        "Factors come from the shipped sets (each row with its source and "
        "confidence, logged at first use) or from the recipe with their "
        "source; a class with neither is rejected (`unmapped`).  See "
        "docs/guide/calculators.md.",
    .options = traffic_options,
    .create = traffic_create,
    .process = traffic_process,
    .destroy = traffic_destroy,
};
