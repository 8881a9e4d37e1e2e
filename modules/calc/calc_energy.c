/*
 * modules/calc/calc_energy.c - the stage behind calc.co2 and
 * calc.pv_avoided (family layer of modules/calc/, not a module).
 *
 * Both multiply energy in kWh by a factor in g CO2e/kWh from the factor
 * registry (calc_factors.h) or the recipe, per reading, and emit kg CO2e
 * on the same thing.  Inputs may be interval consumption or a cumulative
 * meter.
 */
#include "calc/calc_energy.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"
#include "calc/calc_factors.h"

typedef struct co2_ds {
  uint8_t state; /* 0 not seen, 1 converted, 2 other property */
  const char *carrier;
  uint32_t out;
  double kwh_per_unit;
  int year; /* cached factor for this balance year */
  int rc;
  const calc_factor_t *f;
} co2_ds_t;

typedef struct co2_state {
  kk_stage_t *st;
  int pv;
  calc_base_t base;
  calc_rejects_t rj;
  calc_overrides_t ov;
  calc_factor_t fixed; /* pv: the stated displacement factor */
  int have_fixed;
  const char *set, *carrier, *out_prop;
  cJSON *carriers; /* thing -> carrier */
  int year, latest, cumulative;
  calc_tz_t tz;
  const kk_opts_t *opts;
  co2_ds_t *ds;
  size_t nds;
  calc_meters_t meters;
} co2_state_t;

static int co2_save(void *state, FILE *f) {
  co2_state_t *s = state;
  return calc_meters_save(&s->meters, f);
}

static int co2_load(void *state, const char *line) {
  co2_state_t *s = state;
  return calc_meters_load(&s->meters, line);
}

int calc_energy_create(kk_stage_t *st, const kk_opts_t *o, void **state,
                       int pv) {
  co2_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->pv = pv;
  s->opts = o;
  calc_rejects_init(
      &s->rj, st,
      CALC_REJ_BIT(CALC_REJ_NAN) | CALC_REJ_BIT(CALC_REJ_NEGATIVE) |
          CALC_REJ_BIT(CALC_REJ_NO_FACTOR) | CALC_REJ_BIT(CALC_REJ_UNIT) |
          CALC_REJ_BIT(CALC_REJ_UNKNOWN_CARRIER) | CALC_REJ_METERS);
  s->set = kk_opt_str(o, "set");
  s->carrier = kk_opt_isset(o, "carrier") ? kk_opt_str(o, "carrier") : NULL;
  s->out_prop = pv ? "co2e_avoided" : "co2e";
  s->year = kk_opt_isset(o, "year") ? (int)kk_opt_int(o, "year") : 0;
  s->latest = kk_opt_enum(o, "fallback") == 1;
  s->cumulative = kk_opt_enum(o, "meter") == 1;
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  if (!calc_set_id(s->set)) {
    kk_stage_error(st,
                   "unknown factor set '%s' (known: bisko, geg, uba_mix, "
                   "kea_bw, bafa, bafa_2024)",
                   s->set);
    return KK_EUNKNOWN;
  }
  char err[256];
  int rc =
      calc_overrides_parse(kk_opt_json(o, "factors"), &s->ov, err, sizeof err);
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
    s->fixed = (calc_factor_t){.set = "recipe",
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
    const calc_factor_t *f;
    rc = calc_factor_find(&s->ov, s->set, s->carrier, s->year ? s->year : 2022,
                          1, &f, err, sizeof err);
    if (rc == KK_EUNKNOWN) {
      kk_stage_error(st, "%s", err);
      return rc;
    }
  }
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), co2_save,
                 co2_load, s);
  return 0;
}

int calc_energy_start(kk_stage_t *st, void *state) {
  co2_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return calc_base_start(&s->base);
}

static co2_ds_t *ds_info(co2_state_t *s, uint32_t id) {
  if (calc_grow((void **)&s->ds, &s->nds, id, sizeof *s->ds)) return NULL;
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
  d->kwh_per_unit = calc_kwh_per_unit(k->unit);
  d->out = kk_datastream_id(k->thing, s->out_prop, "kg");
  d->year = INT32_MIN;
  return d;
}

int calc_energy_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  co2_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
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
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "value is not a number");
      continue;
    }
    if (d->kwh_per_unit == 0) {
      calc_reject(&s->rj, CALC_REJ_UNIT, &r[i],
                  "unit '%s' is not an energy unit (kW.h, W.h, MW.h)",
                  calc_unit(r[i].ds));
      continue;
    }
    if (s->cumulative) {
      double delta = 0;
      if (calc_meter_step(&s->meters, &s->rj, &r[i], &delta) != 1) continue;
      v = delta;
    } else if (v < 0) {
      calc_reject(&s->rj, CALC_REJ_NEGATIVE, &r[i],
                  "negative energy %g (use meter = \"cumulative\" for a "
                  "meter count)",
                  v);
      continue;
    }
    const calc_factor_t *f = NULL;
    if (s->have_fixed) {
      f = &s->fixed;
    } else {
      int year = s->year ? s->year : calc_year(s->tz, r[i].time_ms);
      if (year != d->year) {
        d->year = year;
        d->rc = calc_factor_find(&s->ov, s->set, d->carrier, year, s->latest,
                                 &d->f, err, sizeof err);
        if (d->rc)
          kk_stage_log(st, KK_LOG_WARN, "%s/%s: %s", calc_thing(r[i].ds),
                       calc_property(r[i].ds), err);
      }
      if (d->rc) {
        calc_reject(&s->rj,
                    d->rc == KK_EUNKNOWN ? CALC_REJ_UNKNOWN_CARRIER
                                         : CALC_REJ_NO_FACTOR,
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

void calc_energy_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  co2_state_t *s = state;
  calc_base_stop(&s->base, cb);
}

void calc_energy_destroy(void *state) {
  co2_state_t *s = state;
  if (!s) return;
  calc_overrides_free(&s->ov);
  cJSON_Delete(s->carriers);
  calc_meters_free(&s->meters);
  free(s->ds);
  free(s);
}
