/*
 * modules/calc/degree_days.c - calc.degree_days: heating degree days
 * G20/15 (VDI 3807) per month and year from daily mean temperatures or
 * from the DWD's monthly degree days, the climate factor f = G_long-term /
 * G_year, and weather-corrected values that stand beside the original.
 *
 * G20/15 is the sum, over the days whose mean temperature Tm is below the
 * heating limit of 15 °C, of 20 °C - Tm (VDI 3807; the DWD publishes it
 * monthly per station as "Monatsgradtage").  Weather correction scales
 * only the weather-dependent (heating) share h of a consumption:
 *   corrected = v x (1 - h + h x f),  f = G_long-term / G_period.
 * BISKO balances are not weather-corrected: the corrected figure is an
 * extra datastream `<property>_weather_corrected`, never a replacement.
 *
 * A month is complete when every one of its local days has a mean (or the
 * DWD's monthly value was given); a year when its twelve months are.
 * Factors are emitted for complete periods only.  The long-term mean is
 * `long_term` when given, else the mean of the complete years (and, per
 * calendar month, months) within `reference`.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"

#define DD_BASE 20.0
#define DD_LIMIT 15.0
#define DD_MAX_DAYS 200000   /* ~550 years of one station */
#define DD_MAX_VALUES 100000 /* values kept for correction */

typedef struct dd_day {
  int32_t day; /* local day number (days since 1970-01-01) */
  uint32_t n;
  double sum;
} dd_day_t;

typedef struct dd_month {
  int32_t key; /* year * 12 + month - 1 */
  double g, hd;
} dd_month_t;

typedef struct dd_value {
  uint32_t ds;
  int64_t t;
  double v;
  int32_t key; /* year, or year * 12 + month - 1 */
} dd_value_t;

typedef struct dd_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_tz_t tz;
  int mean_of_readings; /* input "readings": mean of the day's readings */
  int monthly;          /* correct monthly values (else yearly) */
  int cumulative;       /* values to correct are cumulative meter counts */
  calc_meters_t meters;
  const char *prop, *dd_prop;
  char thing[128];
  double heating_share, long_term, lt_month[12];
  int have_lt, have_lt_month, ref_from, ref_to;
  dd_day_t *days; /* sorted by day */
  size_t ndays, capdays;
  dd_month_t *given; /* DWD monthly values, sorted by key */
  size_t ngiven, capgiven;
  dd_value_t *vals;
  size_t nvals, capvals;
  int32_t *tmonths; /* months touched in this batch */
  size_t ntm, captm;
  int temps_changed;
  double last_lt; /* long-term mean emitted last, NAN: none */
} dd_state_t;

/* ---- calendar ----------------------------------------------------------- */

static int32_t local_day(const dd_state_t *s, int64_t t) {
  return (int32_t)kk_floor_div(t + calc_tz_offset(s->tz, t), KK_DAY_MS);
}

static int64_t month_start(const dd_state_t *s, int32_t key) {
  return calc_local_to_utc(s->tz,
                           (int64_t)calc_month_first_day(key) * KK_DAY_MS);
}

/* ---- the data ------------------------------------------------------------ */

static dd_day_t *day_get(dd_state_t *s, int32_t day) {
  static const dd_day_t init = {0, 0, 0};
  return calc_keyed_get((void **)&s->days, &s->ndays, &s->capdays,
                        sizeof *s->days, DD_MAX_DAYS, day, &init);
}

static dd_month_t *given_get(dd_state_t *s, int32_t key) {
  static const dd_month_t init = {0, NAN, NAN};
  return calc_keyed_get((void **)&s->given, &s->ngiven, &s->capgiven,
                        sizeof *s->given, SIZE_MAX, key, &init);
}

static void touch_month(dd_state_t *s, int32_t key) {
  for (size_t i = 0; i < s->ntm; i++)
    if (s->tmonths[i] == key) return;
  if (s->ntm == s->captm) {
    size_t n = s->captm ? s->captm * 2 : 16;
    int32_t *t = realloc(s->tmonths, n * sizeof *t);
    if (!t) return;
    s->tmonths = t;
    s->captm = n;
  }
  s->tmonths[s->ntm++] = key;
}

/* Degree days and heating days of month `key`; returns 1 when the month
 * is complete (every day has a mean, or the DWD value was given). */
static int month_dd(const dd_state_t *s, int32_t key, double *g, double *hd) {
  for (size_t i = 0; i < s->ngiven; i++)
    if (s->given[i].key == key && isfinite(s->given[i].g)) {
      *g = s->given[i].g;
      *hd = isfinite(s->given[i].hd) ? s->given[i].hd : NAN;
      return 1;
    }
  int32_t d0 = calc_month_first_day(key), d1 = calc_month_first_day(key + 1);
  size_t i = calc_keyed_index(s->days, s->ndays, sizeof *s->days, d0);
  int have = 0;
  *g = *hd = 0;
  for (; i < s->ndays && s->days[i].day < d1; i++) {
    double tm = s->days[i].sum / s->days[i].n;
    have++;
    if (tm < DD_LIMIT) {
      *g += DD_BASE - tm;
      *hd += 1;
    }
  }
  return have == d1 - d0;
}

static int year_dd(const dd_state_t *s, int year, double *g, double *hd) {
  int complete = 1;
  *g = *hd = 0;
  for (int m = 0; m < 12; m++) {
    double mg, mh;
    complete &= month_dd(s, year * 12 + m, &mg, &mh);
    *g += mg;
    *hd += mh;
  }
  return complete;
}

static void data_years(const dd_state_t *s, int *from, int *to) {
  *from = INT32_MAX;
  *to = INT32_MIN;
  if (s->ndays) {
    *from = calc_month_of_day(s->days[0].day) / 12;
    *to = calc_month_of_day(s->days[s->ndays - 1].day) / 12;
  }
  if (s->ngiven) {
    if (s->given[0].key / 12 < *from) *from = s->given[0].key / 12;
    if (s->given[s->ngiven - 1].key / 12 > *to)
      *to = s->given[s->ngiven - 1].key / 12;
  }
}

/* The long-term mean of a year (month < 0) or of a calendar month. */
static double long_term(const dd_state_t *s, int month) {
  if (month < 0 && s->have_lt) return s->long_term;
  if (month >= 0 && s->have_lt_month) return s->lt_month[month];
  int from, to;
  data_years(s, &from, &to);
  if (from < s->ref_from) from = s->ref_from;
  if (to > s->ref_to) to = s->ref_to;
  double sum = 0;
  int n = 0;
  for (int y = from; y <= to; y++) {
    double g, hd;
    int ok = month < 0 ? year_dd(s, y, &g, &hd)
                       : month_dd(s, y * 12 + month, &g, &hd);
    if (ok) {
      sum += g;
      n++;
    }
  }
  return n ? sum / n : NAN;
}

/* The climate factor of a period (key: a year, or a month key), NAN when
 * the period is not complete or has no degree days. */
static double factor_of(const dd_state_t *s, int monthly, int32_t key) {
  double g, hd;
  int ok = monthly ? month_dd(s, key, &g, &hd) : year_dd(s, key, &g, &hd);
  double lt = long_term(s, monthly ? key % 12 : -1);
  if (!ok || !(g > 0) || !isfinite(lt)) return NAN;
  return lt / g;
}

/* ---- snapshot ------------------------------------------------------------ */

static int dd_save(void *state, FILE *f) {
  dd_state_t *s = state;
  if (s->thing[0]) fprintf(f, "N\t%s\n", s->thing);
  for (size_t i = 0; i < s->ndays; i++)
    fprintf(f, "D\t%d\t%u\t%.17g\n", s->days[i].day, s->days[i].n,
            s->days[i].sum);
  for (size_t i = 0; i < s->ngiven; i++)
    fprintf(f, "G\t%d\t%.17g\t%.17g\n", s->given[i].key, s->given[i].g,
            s->given[i].hd);
  if (calc_meters_save(&s->meters, f)) return KK_EIO;
  for (size_t i = 0; i < s->nvals; i++) {
    const kk_datastream_t *d = kk_datastream_get(s->vals[i].ds);
    if (d)
      fprintf(f, "V\t%lld\t%.17g\t%d\t%s\t%s\t%s\n", (long long)s->vals[i].t,
              s->vals[i].v, s->vals[i].key, d->thing, d->property, d->unit);
  }
  return 0;
}

static int add_value(dd_state_t *s, uint32_t ds, int64_t t, double v,
                     int32_t key);

static int dd_load(void *state, const char *line) {
  dd_state_t *s = state;
  char a[256], b[256], c[64];
  long long t;
  int day, key;
  unsigned n;
  double v, w;
  if (sscanf(line, "N\t%127[^\n]", a) == 1) {
    snprintf(s->thing, sizeof s->thing, "%.127s", a);
    return 0;
  }
  if (sscanf(line, "D\t%d\t%u\t%lf", &day, &n, &v) == 3) {
    dd_day_t *d = day_get(s, day);
    if (!d) return KK_ENOMEM;
    d->n = n;
    d->sum = v;
    return 0;
  }
  if (line[0] == 'M') return calc_meters_load(&s->meters, line);
  if (sscanf(line, "G\t%d\t%lf\t%lf", &key, &v, &w) == 3) {
    dd_month_t *m = given_get(s, key);
    if (!m) return KK_ENOMEM;
    m->g = v;
    m->hd = w;
    return 0;
  }
  if (sscanf(line, "V\t%lld\t%lf\t%d\t%255[^\t]\t%255[^\t]\t%63[^\n]", &t, &v,
             &key, a, b, c) == 6) {
    uint32_t ds = kk_datastream_id(a, b, c);
    return ds ? add_value(s, ds, (int64_t)t, v, key) : KK_ENOMEM;
  }
  return KK_EPARSE;
}

/* ---- processing ---------------------------------------------------------- */

static int add_value(dd_state_t *s, uint32_t ds, int64_t t, double v,
                     int32_t key) {
  for (size_t i = 0; i < s->nvals; i++)
    if (s->vals[i].ds == ds && s->vals[i].t == t) {
      s->vals[i].v = v;
      return 0;
    }
  if (s->nvals == DD_MAX_VALUES) return KK_ETOOBIG;
  if (s->nvals == s->capvals) {
    size_t n = s->capvals ? s->capvals * 2 : 64;
    dd_value_t *x = realloc(s->vals, n * sizeof *x);
    if (!x) return KK_ENOMEM;
    s->vals = x;
    s->capvals = n;
  }
  s->vals[s->nvals++] = (dd_value_t){ds, t, v, key};
  return 0;
}

static int push(kk_batch_t *out, const char *thing, const char *prop,
                const char *unit, int64_t t, double v) {
  kk_reading_t r = {t, v, kk_datastream_id(thing, prop, unit),
                    KK_READING_UPDATE};
  return r.ds ? kk_batch_push(out, &r) : KK_ENOMEM;
}

/* A cumulative meter's consumption of the period, as it is. */
static int emit_consumption(dd_state_t *s, const dd_value_t *x,
                            kk_batch_t *out) {
  const kk_datastream_t *d = kk_datastream_get(x->ds);
  if (!d) return 0;
  char prop[192];
  snprintf(prop, sizeof prop, "%s_consumption_%s", d->property,
           s->monthly ? "month" : "year");
  return push(out, d->thing, prop, d->unit, x->t, x->v);
}

static int emit_corrected(dd_state_t *s, const dd_value_t *x, kk_batch_t *out) {
  double f = factor_of(s, s->monthly, x->key);
  if (!isfinite(f)) return 0;
  const kk_datastream_t *d = kk_datastream_get(x->ds);
  if (!d) return 0;
  char prop[192];
  const char *per = s->monthly ? "month" : "year";
  double h = s->heating_share;
  if (s->cumulative)
    snprintf(prop, sizeof prop, "%s_consumption_%s_weather_corrected",
             d->property, per);
  else
    snprintf(prop, sizeof prop, "%s_weather_corrected", d->property);
  return push(out, d->thing, prop, d->unit, x->t, x->v * (1 - h + h * f));
}

static int emit_month(dd_state_t *s, int32_t key, kk_batch_t *out) {
  double g, hd;
  int ok = month_dd(s, key, &g, &hd);
  size_t i = calc_keyed_index(s->days, s->ndays, sizeof *s->days,
                              calc_month_first_day(key));
  if (!ok && !(i < s->ndays && s->days[i].day < calc_month_first_day(key + 1)))
    return 0; /* no data in this month */
  int64_t t = month_start(s, key);
  int rc = push(out, s->thing, "degree_days_month", "K.d", t, g);
  if (!rc && isfinite(hd))
    rc = push(out, s->thing, "heating_days_month", "d", t, hd);
  if (!rc) rc = push(out, s->thing, "degree_days_complete_month", "1", t, ok);
  double f = factor_of(s, 1, key);
  if (!rc && isfinite(f))
    rc = push(out, s->thing, "climate_factor_month", "1", t, f);
  return rc;
}

static int emit_year(dd_state_t *s, int year, kk_batch_t *out) {
  double g, hd;
  int ok = year_dd(s, year, &g, &hd);
  int64_t t = calc_year_start(s->tz, year);
  int rc = push(out, s->thing, "degree_days_year", "K.d", t, g);
  if (!rc && isfinite(hd))
    rc = push(out, s->thing, "heating_days_year", "d", t, hd);
  if (!rc) rc = push(out, s->thing, "degree_days_complete_year", "1", t, ok);
  double lt = long_term(s, -1), f = factor_of(s, 0, year);
  if (!rc && isfinite(lt))
    rc = push(out, s->thing, "degree_days_longterm_year", "K.d", t, lt);
  if (!rc && isfinite(f))
    rc = push(out, s->thing, "climate_factor_year", "1", t, f);
  return rc;
}

/* A value to correct: kept until its period's degree days are complete.
 * Appends it to *nv (the batch's new values).  0, or KK_ENOMEM. */
static int dd_absorb_value(dd_state_t *s, const kk_reading_t *r, double v,
                           dd_value_t **nv, size_t *nnew) {
  int64_t start, end;
  calc_window(s->tz, s->monthly ? CALC_P_MONTH : CALC_P_YEAR, r->time_ms,
              &start, &end);
  int32_t key = s->monthly ? calc_month_of_day(local_day(s, start))
                           : calc_year(s->tz, start);
  int64_t at = r->time_ms;
  if (s->cumulative) {
    /* The consumption since the previous count belongs to the period of
     * this count; a replayed older count is rejected. */
    double delta;
    if (calc_meter_step(&s->meters, &s->rj, r, &delta) != 1) return 0;
    at = start;
    v = delta;
    for (size_t k = 0; k < s->nvals; k++)
      if (s->vals[k].ds == r->ds && s->vals[k].t == at) v += s->vals[k].v;
  }
  int rc = add_value(s, r->ds, at, v, key);
  if (rc == KK_ETOOBIG) {
    calc_reject(&s->rj, CALC_REJ_TOO_LATE, r, "more than %d values to correct",
                DD_MAX_VALUES);
    return 0;
  }
  if (rc) return rc;
  dd_value_t *x = realloc(*nv, (*nnew + 1) * sizeof *x);
  if (!x) return KK_ENOMEM;
  *nv = x;
  x[(*nnew)++] = (dd_value_t){r->ds, at, v, key};
  return 0;
}

/* A daily mean (temp), or a monthly degree-day or heating-day figure of
 * the station.  0, or KK_ENOMEM. */
static int dd_absorb_station(dd_state_t *s, const kk_reading_t *r, int temp,
                             int dd) {
  double v = r->value;
  if (!s->thing[0])
    snprintf(s->thing, sizeof s->thing, "%s", calc_thing(r->ds));
  /* One station: `thing`, or the first one seen (a DWD gradtage file
   * holds every station of the month). */
  if (strcmp(calc_thing(r->ds), s->thing) != 0) return 0;
  if (temp && (v < -80 || v > 60)) {
    calc_reject(&s->rj, CALC_REJ_UNIT, r,
                "daily mean %g is no air temperature in °C", v);
    return 0;
  }
  if (!temp && v < 0) {
    calc_reject(&s->rj, CALC_REJ_NEGATIVE, r, "negative %s %g",
                calc_property(r->ds), v);
    return 0;
  }
  int32_t key;
  if (temp) {
    int32_t day = local_day(s, r->time_ms);
    dd_day_t *d = day_get(s, day);
    if (!d) {
      calc_reject(&s->rj, CALC_REJ_TOO_LATE, r, "more than %d days",
                  DD_MAX_DAYS);
      return 0;
    }
    if (s->mean_of_readings) {
      d->sum += v;
      d->n++;
    } else {
      d->sum = v;
      d->n = 1;
    }
    key = calc_month_of_day(day);
  } else {
    /* A monthly value belongs to the month its time falls in. */
    key = calc_month_of_day(local_day(s, r->time_ms));
    dd_month_t *m = given_get(s, key);
    if (!m) return KK_ENOMEM;
    if (dd)
      m->g = v;
    else
      m->hd = v;
  }
  touch_month(s, key);
  s->temps_changed = 1;
  return 0;
}

/* Months, years and corrected values changed by the batch. */
static int dd_emit(dd_state_t *s, const dd_value_t *newvals, size_t nnew,
                   kk_batch_t *out) {
  int rc = 0;
  if (s->temps_changed && s->thing[0]) {
    double lt = long_term(s, -1);
    int all = !(lt == s->last_lt || (isnan(lt) && isnan(s->last_lt)));
    s->last_lt = lt;
    int from, to;
    data_years(s, &from, &to);
    /* Without given monthly means a month's factor depends on the same
     * calendar month of every year. */
    unsigned cal = 0;
    for (size_t i = 0; i < s->ntm; i++)
      cal |= 1u << (s->tmonths[i] % 12);
    for (int y = from; y <= to && !rc; y++)
      for (int m = 0; m < 12 && !rc; m++) {
        int32_t key = y * 12 + m, hit = 0;
        for (size_t i = 0; i < s->ntm && !hit; i++)
          hit = s->tmonths[i] == key;
        if (hit || (!s->have_lt_month && ((cal >> m) & 1)))
          rc = emit_month(s, key, out);
      }
    for (int y = from; y <= to && !rc; y++) {
      int touched = all;
      for (size_t i = 0; i < s->ntm && !touched; i++)
        touched = s->tmonths[i] / 12 == y;
      if (touched) rc = emit_year(s, y, out);
    }
    /* Corrected values of the changed periods (all when the long-term
     * mean moved). */
    for (size_t i = 0; i < s->nvals && !rc; i++) {
      int touched = all;
      for (size_t k = 0; k < s->ntm && !touched; k++)
        touched = s->monthly ? s->tmonths[k] == s->vals[i].key
                             : s->tmonths[k] / 12 == s->vals[i].key;
      if (touched || (s->monthly && !s->have_lt_month))
        rc = emit_corrected(s, &s->vals[i], out);
    }
  }
  for (size_t i = 0; i < nnew && !rc; i++) {
    if (s->cumulative) rc = emit_consumption(s, &newvals[i], out);
    if (!rc) rc = emit_corrected(s, &newvals[i], out);
  }
  return rc;
}

static int dd_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  dd_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  dd_value_t *newvals = NULL;
  size_t nnew = 0;
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    const char *p = calc_property(r[i].ds);
    int temp = strcmp(p, s->prop) == 0, dd = strcmp(p, s->dd_prop) == 0;
    int hdays = strcmp(p, "heating_days") == 0;
    int corr = 0;
    for (size_t k = 0; k < kk_opt_list_len(s->opts, "correct"); k++)
      corr |= strcmp(p, kk_opt_list_item(s->opts, "correct", k)) == 0;
    if (!temp && !dd && !hdays && !corr) continue;
    if (!isfinite(r[i].value)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "%s is not a number", p);
      continue;
    }
    rc = corr ? dd_absorb_value(s, &r[i], r[i].value, &newvals, &nnew)
              : dd_absorb_station(s, &r[i], temp, dd);
  }
  kk_batch_t *out = rc ? NULL : kk_batch_new(64);
  if (!rc && !out) rc = KK_ENOMEM;
  if (!rc) {
    kk_batch_set_seq(out, kk_batch_seq(b));
    rc = dd_emit(s, newvals, nnew, out);
    if (!rc) kk_stage_emit(st, out);
  }
  if (out) kk_batch_unref(out);
  free(newvals);
  s->ntm = 0;
  s->temps_changed = 0;
  return rc;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int dd_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  dd_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  s->last_lt = NAN;
  calc_rejects_init(&s->rj, st,
                    CALC_REJ_BIT(CALC_REJ_NAN) |
                        CALC_REJ_BIT(CALC_REJ_NEGATIVE) |
                        CALC_REJ_BIT(CALC_REJ_TOO_LATE) |
                        CALC_REJ_BIT(CALC_REJ_UNIT) | CALC_REJ_METERS);
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  s->prop = kk_opt_str(o, "property");
  s->dd_prop = kk_opt_str(o, "degree_days_property");
  s->mean_of_readings = kk_opt_enum(o, "input") == 1;
  s->monthly = kk_opt_enum(o, "period") == 1;
  s->cumulative = kk_opt_enum(o, "meter") == 1;
  s->heating_share = kk_opt_double(o, "heating_share");
  if (kk_opt_isset(o, "thing"))
    snprintf(s->thing, sizeof s->thing, "%s", kk_opt_str(o, "thing"));
  s->have_lt = kk_opt_isset(o, "long_term");
  s->long_term = kk_opt_double(o, "long_term");
  s->ref_from = INT32_MIN;
  s->ref_to = INT32_MAX;
  const char *j = kk_opt_json(o, "reference");
  if (j) {
    cJSON *r = cJSON_Parse(j);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(r, "from"),
                *t = cJSON_GetObjectItemCaseSensitive(r, "to");
    int ok = cJSON_IsNumber(f) && cJSON_IsNumber(t) &&
             f->valuedouble <= t->valuedouble;
    if (ok) {
      s->ref_from = (int)f->valuedouble;
      s->ref_to = (int)t->valuedouble;
    }
    cJSON_Delete(r);
    if (!ok) {
      kk_stage_error(st, "reference: expected { from = 1991, to = 2020 }");
      return KK_EINVAL;
    }
  }
  j = kk_opt_json(o, "long_term_months");
  if (j) {
    cJSON *r = cJSON_Parse(j);
    int ok = cJSON_IsArray(r) && cJSON_GetArraySize(r) == 12;
    for (int m = 0; ok && m < 12; m++) {
      const cJSON *c = cJSON_GetArrayItem(r, m);
      ok = cJSON_IsNumber(c) && c->valuedouble >= 0;
      if (ok) s->lt_month[m] = c->valuedouble;
    }
    cJSON_Delete(r);
    if (!ok) {
      kk_stage_error(st, "long_term_months: expected 12 numbers (K.d), "
                         "January first");
      return KK_EINVAL;
    }
    s->have_lt_month = 1;
  }
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), dd_save,
                 dd_load, s);
  return 0;
}

static int dd_start(kk_stage_t *st, void *state) {
  (void)st;
  return calc_base_start(&((dd_state_t *)state)->base);
}

static void dd_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  calc_base_stop(&((dd_state_t *)state)->base, cb);
}

static void dd_destroy(void *state) {
  dd_state_t *s = state;
  if (!s) return;
  free(s->days);
  free(s->given);
  free(s->vals);
  free(s->tmonths);
  calc_meters_free(&s->meters);
  free(s);
}

static const kk_option_t dd_options[] = {
    {.name = "property",
     .type = KK_OPT_STRING,
     .def = "air_temperature_mean",
     .description = "Observed property of the daily mean temperature in °C "
                    "(decode.dwd's TMK)."},
    {.name = "input",
     .type = KK_OPT_ENUM,
     .def = "daily",
     .choices = "daily|readings",
     .description = "`daily`: one mean per local day (a repeat replaces "
                    "it); `readings`: the day's mean is the mean of all its "
                    "readings (own sensors)."},
    {.name = "degree_days_property",
     .type = KK_OPT_STRING,
     .def = "heating_degree_days",
     .description = "Observed property of monthly degree days given as "
                    "they are (decode.dwd's gradtage CSV, K.d); a month "
                    "given so is complete and wins over daily means."},
    {.name = "thing",
     .type = KK_OPT_STRING,
     .description = "Station thing whose temperatures count, and thing of "
                    "the outputs (default: the first station seen)."},
    {.name = "long_term",
     .type = KK_OPT_DOUBLE,
     .description = "Long-term mean G20/15 of a year (K.d), for example "
                    "the DWD's mean for the station; default: the mean of "
                    "the complete years in `reference`."},
    {.name = "long_term_months",
     .type = KK_OPT_TABLE,
     .description = "Long-term mean per calendar month `{ 560, 480, ... }` "
                    "(12 numbers, K.d) for `period = \"month\"`; default: "
                    "from the data in `reference`."},
    {.name = "reference",
     .type = KK_OPT_TABLE,
     .description = "Years the long-term mean is taken from `{ from = 1991, "
                    "to = 2020 }` (default: every complete year)."},
    {.name = "correct",
     .type = KK_OPT_LIST,
     .description = "Observed properties to weather-correct (for example "
                    "`heat` or `co2e_households`); emitted as "
                    "`<property>_weather_corrected` beside the original."},
    {.name = "heating_share",
     .type = KK_OPT_DOUBLE,
     .def = "1",
     .min = 0,
     .max = 1,
     .description = "Weather-dependent share of the corrected values (space "
                    "heating; hot water and process heat are not)."},
    {.name = "meter",
     .type = KK_OPT_ENUM,
     .def = "interval",
     .choices = "interval|cumulative",
     .description = "Values to correct are totals of their period "
                    "(`interval`), or cumulative meter counts (`cumulative`: "
                    "the consumption per period is summed from the "
                    "differences, emitted as `<property>_consumption_<period>` "
                    "and corrected as `..._weather_corrected`)."},
    {.name = "period",
     .type = KK_OPT_ENUM,
     .def = "year",
     .choices = "year|month",
     .description = "Values to correct are yearly or monthly totals (the "
                    "period their time falls in)."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_degree_days_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "degree_days",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Heating degree days G20/15 (VDI 3807), climate factor and "
               "weather-corrected values beside the originals.",
    .description =
        "From daily mean temperatures (decode.dwd `air_temperature_mean`, "
        "or own sensors with `input = \"readings\"`) or the DWD's monthly "
        "degree days, emits on the station's thing per local month "
        "(`_month`, at its start) and year (`_year`): `degree_days` (K.d, "
        "the sum of 20 °C minus the daily mean over the days below 15 °C), "
        "`heating_days` (d), `degree_days_complete` (1 when every day is "
        "there); per year `degree_days_longterm` and, for complete periods, "
        "`climate_factor` = long-term mean / period (monthly too).  Values "
        "of the properties in `correct` come out again as "
        "`<property>_weather_corrected` = v x (1 - h + h x f) with the "
        "heating share h, on their own thing and time, once their period "
        "is complete; the original is left as it is (BISKO is not "
        "weather-corrected).",
    .options = dd_options,
    .create = dd_create,
    .start = dd_start,
    .process = dd_process,
    .stop = dd_stop,
    .destroy = dd_destroy,
};
