/*
 * modules/calc/traffic.c - calc.traffic: traffic counts -> CO2e, as
 * vehicles x segment length x factor per vehicle-km for each vehicle
 * class.
 *
 * klimakit ships no default factors per vehicle-km: the values a
 * municipality should use (UBA TREMOD / HBEFA summaries, by year, road
 * type and fleet) must be stated in the recipe with their source, like
 * every other factor.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"

typedef struct tclass {
  char *name;
  double g_per_vkm;
} tclass_t;

typedef struct tds {
  uint8_t state; /* 0 unknown, 1 count, 2 ignored */
  int cls;
  double km;
  uint32_t out;
} tds_t;

typedef struct traffic_state {
  kk_stage_t *st;
  kk_calc_rejects_t rj;
  cJSON *segments;
  tclass_t *cls;
  size_t ncls;
  const char *prefix;
  tds_t *ds;
  size_t nds;
} traffic_state_t;

static int traffic_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  traffic_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->prefix = kk_opt_str(o, "prefix");
  kk_calc_rejects_init(&s->rj, st);
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
  cJSON *f = cJSON_Parse(kk_opt_json(o, "factors"));
  int n = cJSON_IsObject(f) ? cJSON_GetArraySize(f) : 0, rc = 0;
  s->cls = calloc((size_t)n + 1, sizeof *s->cls);
  if (!n || !s->cls) {
    kk_stage_error(st, "factors: expected { pkw = { value = g_per_vkm, source "
                       "= \"...\" }, ... }");
    cJSON_Delete(f);
    return n ? KK_ENOMEM : KK_EINVAL;
  }
  for (cJSON *c = f->child; c && !rc; c = c->next) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "value");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(c, "source");
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || !cJSON_IsString(src) ||
        !*src->valuestring) {
      kk_stage_error(st, "factors.%s: needs value (g CO2e per vehicle-km, "
                         ">= 0) and source (where it comes from)", c->string);
      rc = KK_EMISSING;
      break;
    }
    tclass_t *t = &s->cls[s->ncls++];
    t->name = malloc(strlen(c->string) + 1);
    if (!t->name) {
      rc = KK_ENOMEM;
      break;
    }
    strcpy(t->name, c->string);
    t->g_per_vkm = v->valuedouble;
  }
  cJSON_Delete(f);
  return rc;
}

static tds_t *tds_of(traffic_state_t *s, uint32_t id) {
  if (kk_calc_grow((void **)&s->ds, &s->nds, id, sizeof *s->ds)) return NULL;
  tds_t *d = &s->ds[id];
  if (d->state) return d;
  d->state = 2;
  const char *prop = kk_calc_property(id);
  size_t pl = strlen(s->prefix);
  if (strncmp(prop, s->prefix, pl) != 0) return d;
  d->state = 1;
  d->cls = -1;
  for (size_t i = 0; i < s->ncls; i++)
    if (strcmp(prop + pl, s->cls[i].name) == 0) d->cls = (int)i;
  const cJSON *km =
      cJSON_GetObjectItemCaseSensitive(s->segments, kk_calc_thing(id));
  d->km = cJSON_IsNumber(km) ? km->valuedouble : 0;
  char out[200];
  snprintf(out, sizeof out, "co2e_%s", prop + pl);
  d->out = kk_datastream_id(kk_calc_thing(id), out, "kg");
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
      kk_calc_reject(&s->rj, KK_REJ_NAN, &r[i], "count is not a number");
    } else if (r[i].value < 0) {
      kk_calc_reject(&s->rj, KK_REJ_NEGATIVE, &r[i], "negative count");
    } else if (d->cls < 0 || d->km <= 0) {
      kk_calc_reject(&s->rj, KK_REJ_UNMAPPED, &r[i],
                     d->cls < 0 ? "no factor for this vehicle class"
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
     .flags = KK_OPT_REQUIRED,
     .description = "g CO2e per vehicle-km per class, each with its source: "
                    "`{ pkw = { value = ..., source = \"UBA TREMOD ...\" }, "
                    "lkw = { ... } }`."},
    {.name = "prefix",
     .type = KK_OPT_STRING,
     .def = "count_",
     .description = "Count readings are properties `<prefix><class>` "
                    "(vehicles in the reading's interval)."},
    {NULL}};

const kk_module_t traffic_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "traffic",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Traffic counts -> CO2e (vehicles x segment km x g/vkm).",
    .description =
        "For each count reading `count_<class>` emits `co2e_<class>` in kg on "
        "the same thing: vehicles x segment length x factor per vehicle-km.  "
        "Factors are given in the recipe with their source (klimakit ships "
        "none for traffic; see docs/calculators.md).",
    .options = traffic_options,
    .create = traffic_create,
    .process = traffic_process,
    .destroy = traffic_destroy,
};
