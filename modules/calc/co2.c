/*
 * modules/calc/co2.c - calc.co2 (energy -> CO2e per carrier and factor
 * set) and calc.pv_avoided (renewable production -> avoided CO2e against
 * a stated displacement factor).
 *
 * Both multiply energy in kWh by a factor in g CO2e/kWh from the factor
 * registry (factors.h) or the recipe, per reading, and emit kg CO2e on
 * the same thing.  Inputs may be interval consumption or a cumulative
 * meter.  The modules also carry the Lua surface kk.factor/kk.factors.
 */
#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"
#include "factors.h"

typedef struct co2_ds {
  uint8_t state; /* 0 not seen, 1 converted, 2 other property */
  const char *carrier;
  uint32_t out;
  double kwh_per_unit;
  int year; /* cached factor for this balance year */
  int rc;
  const kk_calc_factor_t *f;
} co2_ds_t;

typedef struct co2_state {
  kk_stage_t *st;
  int pv;
  kk_calc_base_t base;
  kk_calc_rejects_t rj;
  kk_calc_overrides_t ov;
  kk_calc_factor_t fixed; /* pv: the stated displacement factor */
  int have_fixed;
  const char *set, *carrier, *out_prop;
  cJSON *carriers; /* thing -> carrier */
  int year, latest, cumulative;
  kk_calc_tz_t tz;
  const kk_opts_t *opts;
  co2_ds_t *ds;
  size_t nds;
  kk_calc_meters_t meters;
} co2_state_t;

static int co2_save(void *state, FILE *f) {
  co2_state_t *s = state;
  return kk_calc_meters_save(&s->meters, f);
}

static int co2_load(void *state, const char *line) {
  co2_state_t *s = state;
  return kk_calc_meters_load(&s->meters, line);
}

static int co2_create_mode(kk_stage_t *st, const kk_opts_t *o, void **state,
                           int pv) {
  co2_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->pv = pv;
  s->opts = o;
  kk_calc_rejects_init(&s->rj, st);
  s->set = kk_opt_str(o, "set");
  s->carrier = kk_opt_isset(o, "carrier") ? kk_opt_str(o, "carrier") : NULL;
  s->out_prop = pv ? "co2e_avoided" : "co2e";
  s->year = kk_opt_isset(o, "year") ? (int)kk_opt_int(o, "year") : 0;
  s->latest = kk_opt_enum(o, "fallback") == 1;
  s->cumulative = kk_opt_enum(o, "meter") == 1;
  s->tz = (kk_calc_tz_t)kk_opt_enum(o, "tz");
  if (!kk_calc_set_id(s->set)) {
    kk_stage_error(st, "unknown factor set '%s' (known: bisko, geg, uba_mix, "
                       "kea_bw, bafa, bafa_2024)", s->set);
    return KK_EUNKNOWN;
  }
  char err[256];
  int rc = kk_calc_overrides_parse(kk_opt_json(o, "factors"), &s->ov, err,
                                   sizeof err);
  if (rc) {
    kk_stage_error(st, "%s", err);
    return rc;
  }
  const char *cj = kk_opt_json(o, "carriers");
  if (cj) {
    s->carriers = cJSON_Parse(cj);
    if (!cJSON_IsObject(s->carriers)) {
      kk_stage_error(st, "carriers: expected a table { [thing] = carrier }");
      return KK_EPARSE;
    }
  }
  if (pv && kk_opt_isset(o, "factor")) {
    if (!kk_opt_isset(o, "factor_source") || !*kk_opt_str(o, "factor_source")) {
      kk_stage_error(st, "a stated displacement `factor` needs "
                         "`factor_source` (where the number comes from)");
      return KK_EMISSING;
    }
    s->have_fixed = 1;
    s->fixed = (kk_calc_factor_t){.set = "recipe",
                                  .key = "displacement",
                                  .carrier = "stated displacement factor",
                                  .value = kk_opt_double(o, "factor"),
                                  .unit = "g CO2e/kWh",
                                  .year_from = 0,
                                  .year_to = 9999,
                                  .validity = "recipe",
                                  .basis = "stated",
                                  .source = kk_opt_str(o, "factor_source"),
                                  .confidence = "stated",
                                  .edition = "recipe"};
  }
  if (!s->carrier && !s->carriers && !s->have_fixed) {
    kk_stage_error(st, "say which carrier the energy is: `carrier = "
                       "\"erdgas\"` or `carriers = { [thing] = carrier }`");
    return KK_EMISSING;
  }
  /* Check the default carrier now, so that a typo fails `klimakit run`
   * at once instead of rejecting every reading. */
  if (s->carrier && !s->have_fixed) {
    const kk_calc_factor_t *f;
    rc = kk_calc_factor_find(&s->ov, s->set, s->carrier,
                             s->year ? s->year : 2022, 1, &f, err, sizeof err);
    if (rc == KK_EUNKNOWN) {
      kk_stage_error(st, "%s", err);
      return rc;
    }
  }
  kk_calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), co2_save,
                    co2_load, s);
  return 0;
}

static int co2_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  return co2_create_mode(st, o, state, 0);
}
static int pv_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  return co2_create_mode(st, o, state, 1);
}

static int co2_start(kk_stage_t *st, void *state) {
  co2_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return kk_calc_base_start(&s->base);
}

static co2_ds_t *ds_info(co2_state_t *s, uint32_t id) {
  if (kk_calc_grow((void **)&s->ds, &s->nds, id, sizeof *s->ds)) return NULL;
  co2_ds_t *d = &s->ds[id];
  if (d->state) return d;
  const kk_datastream_t *k = kk_datastream_get(id);
  d->state = 2;
  if (!k) return d;
  int want = 0;
  size_t n = kk_opt_list_len(s->opts, "property");
  for (size_t i = 0; i < n; i++)
    want |= strcmp(k->property, kk_opt_list_item(s->opts, "property", i)) == 0;
  if (!want) return d;
  d->state = 1;
  d->carrier = s->carrier;
  const cJSON *c = s->carriers
                       ? cJSON_GetObjectItemCaseSensitive(s->carriers, k->thing)
                       : NULL;
  if (cJSON_IsString(c)) d->carrier = c->valuestring;
  d->kwh_per_unit = kk_calc_kwh_per_unit(k->unit);
  d->out = kk_datastream_id(k->thing, s->out_prop, "kg");
  d->year = INT32_MIN;
  return d;
}

static int co2_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  co2_state_t *s = state;
  if (kk_calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  kk_batch_t *out = kk_batch_new(n);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  char err[256];
  for (size_t i = 0; i < n; i++) {
    co2_ds_t *d = ds_info(s, r[i].ds);
    if (!d) {
      kk_batch_unref(out);
      return KK_ENOMEM;
    }
    if (d->state != 1) continue;
    double v = r[i].value;
    if (!isfinite(v)) {
      kk_calc_reject(&s->rj, KK_REJ_NAN, &r[i], "value is not a number");
      continue;
    }
    if (d->kwh_per_unit == 0) {
      kk_calc_reject(&s->rj, KK_REJ_UNIT, &r[i],
                     "unit '%s' is not an energy unit (kW.h, W.h, MW.h)",
                     kk_calc_unit(r[i].ds));
      continue;
    }
    if (s->cumulative) {
      double delta = 0;
      if (kk_calc_meter_step(&s->meters, &s->rj, &r[i], &delta) != 1)
        continue;
      v = delta;
    } else if (v < 0) {
      kk_calc_reject(&s->rj, KK_REJ_NEGATIVE, &r[i],
                     "negative energy %g (use meter = \"cumulative\" for a "
                     "meter count)", v);
      continue;
    }
    const kk_calc_factor_t *f = NULL;
    if (s->have_fixed) {
      f = &s->fixed;
    } else {
      int year = s->year ? s->year : kk_calc_year(s->tz, r[i].time_ms);
      if (year != d->year) {
        d->year = year;
        d->rc = kk_calc_factor_find(&s->ov, s->set, d->carrier, year,
                                    s->latest, &d->f, err, sizeof err);
        if (d->rc)
          kk_stage_log(st, KK_LOG_WARN, "%s/%s: %s", kk_calc_thing(r[i].ds),
                       kk_calc_property(r[i].ds), err);
      }
      if (d->rc) {
        kk_calc_reject(&s->rj,
                       d->rc == KK_EUNKNOWN ? KK_REJ_UNKNOWN_CARRIER
                                            : KK_REJ_NO_FACTOR,
                       &r[i], "no factor for carrier '%s' in %d",
                       d->carrier ? d->carrier : "(none)", year);
        continue;
      }
      f = d->f;
    }
    kk_reading_t o = {r[i].time_ms, v * d->kwh_per_unit * f->value / 1000.0,
                      d->out, 0};
    if (kk_batch_push(out, &o)) {
      kk_batch_unref(out);
      return KK_ENOMEM;
    }
  }
  kk_stage_emit(st, out);
  kk_batch_unref(out);
  return 0;
}

static void co2_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  co2_state_t *s = state;
  kk_calc_base_stop(&s->base, cb);
}

static void co2_destroy(void *state) {
  co2_state_t *s = state;
  if (!s) return;
  kk_calc_overrides_free(&s->ov);
  cJSON_Delete(s->carriers);
  kk_calc_meters_free(&s->meters);
  free(s->ds);
  free(s);
}

#define CO2_COMMON_OPTIONS                                                     \
  {.name = "carriers",                                                         \
   .type = KK_OPT_TABLE,                                                       \
   .description = "Carrier per thing, `{ [\"boiler-1\"] = \"erdgas\" }`; "     \
                  "wins over `carrier`."},                                     \
      {.name = "factors",                                                      \
       .type = KK_OPT_TABLE,                                                   \
       .description = "Local factors that win over the set: `{ { carrier = "  \
                      "\"fernwaerme\", value = 152, year = 2024, source = "    \
                      "\"Stadtwerke ...\" } }` (g CO2e/kWh; `year` or "        \
                      "`year_from`/`year_to`; optional `basis`, "              \
                      "`confidence`)."},                                       \
      {.name = "year",                                                         \
       .type = KK_OPT_INT,                                                     \
       .description = "Use the factors of this balance year for every "       \
                      "reading (default: the reading's local year).",          \
       .min = 1990,                                                            \
       .max = 2100},                                                           \
      {.name = "fallback",                                                     \
       .type = KK_OPT_ENUM,                                                    \
       .def = "none",                                                          \
       .choices = "none|latest",                                               \
       .description = "For a year after the newest factor: `none` rejects "   \
                      "the reading (no_factor), `latest` uses the newest "     \
                      "factor."},                                              \
      {.name = "meter",                                                        \
       .type = KK_OPT_ENUM,                                                    \
       .def = "interval",                                                      \
       .choices = "interval|cumulative",                                       \
       .description = "`interval`: each reading is the energy of its "        \
                      "interval; `cumulative`: a meter count, the difference " \
                      "to the previous reading is used."},                     \
      {.name = "property",                                                     \
       .type = KK_OPT_LIST,                                                    \
       .def = "energy",                                                        \
       .description = "Observed properties to convert; other readings are "   \
                      "not passed on."},                                       \
      KK_CALC_OPT_TZ, KK_CALC_OPT_SNAPSHOT

static const kk_option_t co2_options[] = {
    {.name = "carrier",
     .type = KK_OPT_STRING,
     .description = "Energy carrier key of the readings (`erdgas`, `strom`, "
                    "`heizoel`, `fernwaerme_kwk_gas` ...; `klimakit modules` "
                    "/ docs/calculators.md list them)."},
    {.name = "set",
     .type = KK_OPT_STRING,
     .def = "bisko",
     .description = "Factor set: `bisko` (LCA incl. upstream), `geg` (GEG "
                    "Anlage 9), `uba_mix` (direct electricity mix), `kea_bw`, "
                    "`bafa`, `bafa_2024`."},
    CO2_COMMON_OPTIONS,
    {NULL}};

static const kk_option_t pv_options[] = {
    {.name = "factor",
     .type = KK_OPT_DOUBLE,
     .description = "Stated displacement factor in g CO2e/kWh (needs "
                    "`factor_source`); without it the registry's `carrier` "
                    "in `set` is used.",
     .min = 0,
     .max = 5000},
    {.name = "factor_source",
     .type = KK_OPT_STRING,
     .description = "Where the stated displacement factor comes from."},
    {.name = "carrier",
     .type = KK_OPT_STRING,
     .def = "strom_verdraengung",
     .description = "Registry carrier of the displaced electricity (default: "
                    "GEG Anlage 9 Verdrängungsstrommix)."},
    {.name = "set",
     .type = KK_OPT_STRING,
     .def = "geg",
     .description = "Factor set of `carrier`."},
    CO2_COMMON_OPTIONS,
    {NULL}};

const kk_module_t co2_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "co2",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Energy -> CO2e per carrier and factor set (BISKO, GEG, UBA).",
    .description =
        "Multiplies energy readings (kW.h, W.h, MW.h) by the emission factor "
        "of their carrier for the reading's balance year and emits "
        "`co2e` in kg on the same thing.  Factors come from the built-in "
        "registry (`klimakit factors`, `kk.factor`) or from `factors` in "
        "the recipe.  Unknown carriers, years without a factor, negative or "
        "NaN energy are rejected and counted in "
        "`kk_rejected_total{reason=..}`, never turned into zero.  Also "
        "provides `kk.factor(carrier, year[, set])` and `kk.factors([set])` "
        "to Lua.",
    .options = co2_options,
    .create = co2_create,
    .start = co2_start,
    .process = co2_process,
    .stop = co2_stop,
    .destroy = co2_destroy,
    .lua_open = kk_calc_factors_lua_open,
};

const kk_module_t pv_avoided_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "pv_avoided",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Renewable production -> avoided CO2e (stated displacement).",
    .description =
        "Multiplies produced energy by a displacement factor and emits "
        "`co2e_avoided` in kg on the same thing.  The factor is stated in the "
        "recipe (`factor` with `factor_source`) or taken from the registry "
        "(default: GEG 2020 Anlage 9 Verdrängungsstrommix, 860 g/kWh).  "
        "Note that BISKO itself does not credit local PV in the territorial "
        "balance; report avoided emissions beside it.",
    .options = pv_options,
    .create = pv_create,
    .start = co2_start,
    .process = co2_process,
    .stop = co2_stop,
    .destroy = co2_destroy,
};
