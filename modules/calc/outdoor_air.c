/*
 * modules/calc/outdoor_air.c - calc.outdoor_air: daily and annual means
 * of NO2, PM10 and PM2.5 and the exceedances of the EU limit values of
 * Directive 2008/50/EC (39. BImSchV) or, selectable, of Directive (EU)
 * 2024/2881 (limit values to be met by 2030).
 *
 * Data coverage as the directives require before a value counts
 * (2008/50/EC Annex XI A; see docs/calculators.md): an hour needs 75 % of
 * its readings, a day 75 % of its hours (18), a year 90 %.  Coverage is
 * readings x `interval` / window length, so a station reporting every
 * 30 min needs `interval = "30min"`.  Means are always emitted with their
 * coverage; a window below its share does not count as an exceedance,
 * and a year's verdict waits until the year is covered.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"

/* Limit values in µg/m³ (NAN: none) and the exceedances allowed per
 * calendar year.  Sources: modules/calc/data/air_quality_thresholds.csv
 * (EEA pages and StMUV Bayern for 2008/50/EC; OJ L 20.11.2024 via the
 * AirClim table for 2024/2881, whose allowed exceedances are UNVERIFIED
 * there). */
typedef struct limits {
  const char *pollutant;
  double hour, day, year;
  int hour_allowed, day_allowed;
} limits_t;

static const limits_t regime_2008[] = {{"no2", 200, NAN, 40, 18, 0},
                                       {"pm10", NAN, 50, 40, 0, 35},
                                       {"pm2_5", NAN, NAN, 25, 0, 0}};
static const limits_t regime_2024[] = {{"no2", 200, 50, 20, 3, 18},
                                       {"pm10", NAN, 45, 20, 0, 18},
                                       {"pm2_5", NAN, 25, 10, 0, 18}};

typedef struct flag {
  int64_t start;
  int year;
  uint8_t period, on;
} flag_t;

typedef struct count {
  int year;
  uint8_t period;
  int n;
} count_t;

typedef struct air_ds {
  int8_t pol; /* -1 not a pollutant, 0.. index, -2 unknown yet */
  uint8_t warned; /* readings come more often than `interval` */
  flag_t *flags;
  size_t nflags, capflags;
  count_t *counts;
  size_t ncounts, capcounts;
} air_ds_t;

typedef struct air_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  kk_calc_base_t base;
  kk_calc_rejects_t rj;
  kk_calc_windows_t *w;
  kk_calc_tz_t tz;
  const limits_t *lim;
  double interval_ms;            /* one reading stands for this long */
  double cov_hour, cov_day, cov_year; /* required shares (0: none) */
  air_ds_t *ds;
  size_t nds;
  uint64_t batches;
} air_state_t;

static air_ds_t *air_ds(air_state_t *s, uint32_t id) {
  size_t old = s->nds;
  if (kk_calc_grow((void **)&s->ds, &s->nds, id, sizeof *s->ds)) return NULL;
  for (size_t i = old; i < s->nds; i++)
    s->ds[i].pol = -2;
  air_ds_t *d = &s->ds[id];
  if (d->pol != -2) return d;
  d->pol = -1;
  const char *names[3] = {kk_opt_str(s->opts, "no2"),
                          kk_opt_str(s->opts, "pm10"),
                          kk_opt_str(s->opts, "pm2_5")};
  for (int i = 0; i < 3; i++)
    if (strcmp(kk_calc_property(id), names[i]) == 0) d->pol = (int8_t)i;
  return d;
}

/* Records whether the window [start] exceeded; returns the year's count
 * of exceeded windows of that period. */
static int set_flag(air_ds_t *d, int period, int64_t start, int year, int on) {
  flag_t *f = NULL;
  for (size_t i = d->nflags; i-- > 0;)
    if (d->flags[i].start == start && d->flags[i].period == period) {
      f = &d->flags[i];
      break;
    }
  count_t *c = NULL;
  for (size_t i = 0; i < d->ncounts; i++)
    if (d->counts[i].year == year && d->counts[i].period == period)
      c = &d->counts[i];
  if (!c) {
    if (kk_calc_grow((void **)&d->counts, &d->capcounts, d->ncounts,
                     sizeof *d->counts))
      return -1;
    c = &d->counts[d->ncounts++];
    *c = (count_t){year, (uint8_t)period, 0};
  }
  if (!f) {
    if (kk_calc_grow((void **)&d->flags, &d->capflags, d->nflags,
                     sizeof *d->flags))
      return -1;
    f = &d->flags[d->nflags++];
    *f = (flag_t){start, year, (uint8_t)period, 0};
  }
  c->n += on - f->on;
  f->on = (uint8_t)on;
  return c->n;
}

static void push(kk_batch_t *out, uint32_t key, const char *suffix,
                 const char *unit, int64_t t, double v) {
  char prop[160];
  snprintf(prop, sizeof prop, "%s_%s", kk_calc_property(key), suffix);
  kk_reading_t r = {t, v, kk_datastream_id(kk_calc_thing(key), prop, unit),
                    KK_READING_UPDATE};
  if (r.ds) kk_batch_push(out, &r);
}

static void air_emit(void *ctx, uint32_t key, int p, int64_t start,
                     int64_t end, const kk_calc_agg_t *a, kk_batch_t *out) {
  (void)end;
  air_state_t *s = ctx;
  air_ds_t *d = &s->ds[key];
  const limits_t *l = &s->lim[d->pol];
  const char *unit = kk_calc_unit(key);
  double mean = a->sum / (double)a->count;
  int year = kk_calc_year(s->tz, start);
  int64_t ys = kk_calc_year_start(s->tz, year);
  /* The share of the window the readings cover (DST days are 23 or 25
   * hours long: end - start says so). */
  double cov = (double)a->count * s->interval_ms / (double)(end - start);
  if (cov > 1) {
    /* More readings than the window has intervals: `interval` is too
     * long for this station, and a few hours of frequent readings would
     * look like a covered day.  Say so once. */
    if (p == KK_P_DAY && cov > 1.05 && !d->warned) {
      d->warned = 1;
      kk_stage_log(s->st, KK_LOG_WARN,
                   "%s/%s: %lld readings in one day at interval %.0f s: set "
                   "`interval` to the station's reporting interval, or "
                   "coverage is overstated",
                   kk_calc_thing(key), kk_calc_property(key),
                   (long long)a->count, s->interval_ms / 1000);
    }
    cov = 1;
  }
  if (p == KK_P_HOUR && !isnan(l->hour)) {
    /* An hour short of readings cannot count as exceeded; it is
     * re-emitted (and may count) when late readings fill it. */
    int n = set_flag(d, p, start, year, cov >= s->cov_hour && mean > l->hour);
    if (n >= 0) push(out, key, "exceedance_hours", "1", ys, n);
  } else if (p == KK_P_DAY) {
    push(out, key, "day_mean", unit, start, mean);
    push(out, key, "day_coverage", "1", start, cov);
    if (!isnan(l->day)) {
      int n = set_flag(d, p, start, year, cov >= s->cov_day && mean > l->day);
      if (n >= 0) push(out, key, "exceedance_days", "1", ys, n);
    }
  } else if (p == KK_P_YEAR) {
    push(out, key, "year_mean", unit, start, mean);
    push(out, key, "year_coverage", "1", start, cov);
    if (cov >= s->cov_year)
      push(out, key, "year_limit_exceeded", "1", start, mean > l->year);
  }
}

static int air_save(void *state, FILE *f) {
  return kk_calc_windows_save(((air_state_t *)state)->w, f);
}
static int air_load(void *state, const char *line) {
  return kk_calc_windows_load(((air_state_t *)state)->w, line);
}

static int air_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  air_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  s->tz = (kk_calc_tz_t)kk_opt_enum(o, "tz");
  s->lim = kk_opt_enum(o, "regime") == 1 ? regime_2024 : regime_2008;
  s->interval_ms = (double)kk_opt_duration_ms(o, "interval");
  s->cov_hour = kk_opt_double(o, "coverage_hour");
  s->cov_day = kk_opt_double(o, "coverage_day");
  s->cov_year = kk_opt_double(o, "coverage_year");
  if (s->interval_ms <= 0) {
    kk_stage_error(st, "interval: must be longer than 0");
    return KK_ERANGE;
  }
  kk_calc_rejects_init(&s->rj, st);
  s->w = kk_calc_windows_new(
      s->tz, (1u << KK_P_HOUR) | (1u << KK_P_DAY) | (1u << KK_P_YEAR),
      (int64_t)kk_opt_duration_ms(o, "lateness"), 0, air_emit, s);
  if (!s->w) return KK_ENOMEM;
  kk_calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), air_save,
                    air_load, s);
  return 0;
}

static int air_start(kk_stage_t *st, void *state) {
  air_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return kk_calc_base_start(&s->base);
}

static int air_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  air_state_t *s = state;
  if (kk_calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  for (size_t i = 0; i < n; i++) {
    air_ds_t *d = air_ds(s, r[i].ds);
    if (!d) return KK_ENOMEM;
    if (d->pol < 0) continue;
    if (!isfinite(r[i].value)) {
      kk_calc_reject(&s->rj, KK_REJ_NAN, &r[i], "concentration is not a number");
      continue;
    }
    if (r[i].value < 0) {
      kk_calc_reject(&s->rj, KK_REJ_NEGATIVE, &r[i], "negative concentration");
      continue;
    }
    int rc = kk_calc_windows_add(s->w, r[i].ds, r[i].time_ms, r[i].value);
    if (rc == KK_ERANGE)
      kk_calc_reject(&s->rj, KK_REJ_TOO_LATE, &r[i], "window long closed");
    else if (rc)
      return rc;
  }
  kk_batch_t *out = kk_batch_new(64);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  kk_calc_windows_flush(s->w, out);
  kk_stage_emit(st, out);
  kk_batch_unref(out);
  if (++s->batches % 64 == 0) kk_calc_windows_evict(s->w);
  return 0;
}

static void air_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  kk_calc_base_stop(&((air_state_t *)state)->base, cb);
}

static void air_destroy(void *state) {
  air_state_t *s = state;
  if (!s) return;
  for (size_t i = 0; i < s->nds; i++) {
    free(s->ds[i].flags);
    free(s->ds[i].counts);
  }
  free(s->ds);
  kk_calc_windows_free(s->w);
  free(s);
}

static const kk_option_t air_options[] = {
    {.name = "regime",
     .type = KK_OPT_ENUM,
     .def = "2008/50/EC",
     .choices = "2008/50/EC|2024/2881",
     .description = "Limit values: Directive 2008/50/EC (39. BImSchV, in "
                    "force) or (EU) 2024/2881 (to be met by 2030)."},
    {.name = "no2",
     .type = KK_OPT_STRING,
     .def = "no2",
     .description = "Observed property of NO2 readings (µg/m³, hourly "
                    "values)."},
    {.name = "pm10",
     .type = KK_OPT_STRING,
     .def = "pm10",
     .description = "Observed property of PM10 readings (µg/m³)."},
    {.name = "pm2_5",
     .type = KK_OPT_STRING,
     .def = "pm2_5",
     .description = "Observed property of PM2.5 readings (µg/m³)."},
    {.name = "interval",
     .type = KK_OPT_DURATION,
     .def = "1h",
     .description = "How long one reading stands for (the station's "
                    "reporting interval): coverage = readings x interval / "
                    "window length."},
    {.name = "coverage_hour",
     .type = KK_OPT_DOUBLE,
     .def = "0.75",
     .min = 0,
     .max = 1,
     .description = "Share of an hour readings must cover before it can "
                    "count as an exceedance hour (2008/50/EC Annex XI: 75 %)."},
    {.name = "coverage_day",
     .type = KK_OPT_DOUBLE,
     .def = "0.75",
     .min = 0,
     .max = 1,
     .description = "Share of a day (18 of 24 hours) readings must cover "
                    "before it can count as an exceedance day."},
    {.name = "coverage_year",
     .type = KK_OPT_DOUBLE,
     .def = "0.9",
     .min = 0,
     .max = 1,
     .description = "Share of a year readings must cover before "
                    "`<p>_year_limit_exceeded` is emitted (90 %)."},
    {.name = "lateness",
     .type = KK_OPT_DURATION,
     .def = "7d",
     .description = "How long closed hours and days take late readings."},
    KK_CALC_OPT_TZ,
    KK_CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t outdoor_air_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "outdoor_air",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "NO2, PM10, PM2.5: daily/annual means and EU limit "
               "exceedances.",
    .description =
        "Per station (thing) and pollutant emits `<p>_day_mean` and "
        "`<p>_day_coverage` per day, `<p>_year_mean`, `<p>_year_coverage` "
        "and `<p>_year_limit_exceeded` per year, and the year's count of "
        "days whose mean exceeds the daily limit (`<p>_exceedance_days`) or "
        "of hours above the hourly limit (`no2_exceedance_hours`), at the "
        "start of the year, updated as days close.  Means are plain means "
        "of the readings in the window.  The directives' data-coverage "
        "rules apply: a day covered by less than 75 % of its hours is not "
        "an exceedance day, and a year's verdict is emitted only once 90 % "
        "of it is covered.",
    .options = air_options,
    .create = air_create,
    .start = air_start,
    .process = air_process,
    .stop = air_stop,
    .destroy = air_destroy,
};
