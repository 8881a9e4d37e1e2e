/*
 * modules/calc/heat_days.c - calc.heat_days: the DWD's climatological
 * index days per month and year, with the long-term mean, from daily
 * minimum and maximum temperatures (decode.dwd's TNK and TXK) or from own
 * sensors' readings (the local day's minimum and maximum).
 *
 * The thresholds are the Deutscher Wetterdienst's definitions
 * (Wetterlexikon): Sommertag Tmax >= 25 °C, heißer Tag Tmax >= 30 °C,
 * Tropennacht Tmin >= 20 °C, Frosttag Tmin < 0 °C, Eistag Tmax < 0 °C.
 * Days are local days of the recipe's time zone (calc_time.c: the EU
 * summer-time rule for Europe/Berlin), so a reading at 23:30 UTC on 30
 * June counts for 1 July, and a DST day has 23 or 25 hours.  Every place
 * (thing) is counted on its own.
 *
 * A year enters the long-term mean when at least `min_coverage` of its
 * days have both values; a month likewise.  Counts of a year with gaps
 * are emitted with `heat_days_coverage_year` so the page can say so.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"

#define HD_MAX_THINGS 256
#define HD_MAX_DAYS 100000 /* per place: ~270 years */
#define HD_NKIND 5

static const char *const hd_kinds[HD_NKIND] = {
    "summer_days", "hot_days", "tropical_nights", "frost_days", "ice_days"};

typedef struct hd_day {
  int32_t day;       /* local day number */
  uint8_t has;       /* 1: min, 2: max */
  uint32_t n;        /* readings (input = readings) */
  double tmin, tmax; /* of the day */
} hd_day_t;

typedef struct hd_place {
  char thing[128];
  hd_day_t *days; /* sorted by day */
  size_t ndays, cap;
  int32_t *tmonths; /* month keys touched in this batch */
  size_t ntm, captm;
  double last_lt[HD_NKIND]; /* long-term means emitted last */
} hd_place_t;

typedef struct hd_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_tz_t tz;
  int readings; /* input = readings */
  const char *prop, *min_prop, *max_prop;
  double min_coverage;
  int64_t min_readings;
  int ref_from, ref_to;
  hd_place_t *places[HD_MAX_THINGS];
  size_t nplaces;
} hd_state_t;

/* Bit k of the day's index days (hd_kinds order); only what its values
 * decide. */
static unsigned hd_flags(const hd_day_t *d) {
  unsigned f = 0;
  if (d->has & 2) {
    if (d->tmax >= 25) f |= 1u << 0;
    if (d->tmax >= 30) f |= 1u << 1;
    if (d->tmax < 0) f |= 1u << 4;
  }
  if (d->has & 1) {
    if (d->tmin >= 20) f |= 1u << 2;
    if (d->tmin < 0) f |= 1u << 3;
  }
  return f;
}

static hd_day_t *day_get(hd_place_t *p, int32_t day) {
  static const hd_day_t init = {0, 0, 0, INFINITY, -INFINITY};
  return calc_keyed_get((void **)&p->days, &p->ndays, &p->cap, sizeof *p->days,
                        HD_MAX_DAYS, day, &init);
}

static hd_place_t *place_get(hd_state_t *s, const char *thing) {
  for (size_t i = 0; i < s->nplaces; i++)
    if (strcmp(s->places[i]->thing, thing) == 0) return s->places[i];
  if (s->nplaces == HD_MAX_THINGS) return NULL;
  hd_place_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  snprintf(p->thing, sizeof p->thing, "%s", thing);
  for (int k = 0; k < HD_NKIND; k++)
    p->last_lt[k] = NAN;
  s->places[s->nplaces++] = p;
  return p;
}

static void touch_month(hd_place_t *p, int32_t key) {
  for (size_t i = 0; i < p->ntm; i++)
    if (p->tmonths[i] == key) return;
  if (p->ntm == p->captm) {
    size_t n = p->captm ? p->captm * 2 : 16;
    int32_t *t = realloc(p->tmonths, n * sizeof *t);
    if (!t) return;
    p->tmonths = t;
    p->captm = n;
  }
  p->tmonths[p->ntm++] = key;
}

/* A counted day: both values (own sensors: enough readings). */
static int hd_counted(const hd_state_t *s, const hd_day_t *d) {
  return d->has == 3 && (!s->readings || d->n >= (uint64_t)s->min_readings);
}

/* Counts of the days [d0, d1); returns the share of days counted. */
static double hd_count(const hd_state_t *s, const hd_place_t *p, int32_t d0,
                       int32_t d1, double c[HD_NKIND]) {
  for (int k = 0; k < HD_NKIND; k++)
    c[k] = 0;
  int have = 0;
  for (size_t i = calc_keyed_index(p->days, p->ndays, sizeof *p->days, d0);
       i < p->ndays && p->days[i].day < d1; i++) {
    if (!hd_counted(s, &p->days[i])) continue;
    have++;
    unsigned f = hd_flags(&p->days[i]);
    for (int k = 0; k < HD_NKIND; k++)
      c[k] += (f >> k) & 1;
  }
  return (double)have / (double)(d1 - d0);
}

static int32_t year_day(int y) {
  return (int32_t)kk_days_from_civil(y, 1, 1);
}

/* Long-term mean per kind of the years (month < 0) or of one calendar
 * month, over the covered periods in the reference years. */
static void hd_longterm(const hd_state_t *s, const hd_place_t *p, int month,
                        double lt[HD_NKIND]) {
  double sum[HD_NKIND] = {0}, c[HD_NKIND];
  int n = 0;
  for (int k = 0; k < HD_NKIND; k++)
    lt[k] = NAN;
  if (!p->ndays) return;
  int from = calc_month_of_day(p->days[0].day) / 12,
      to = calc_month_of_day(p->days[p->ndays - 1].day) / 12;
  if (from < s->ref_from) from = s->ref_from;
  if (to > s->ref_to) to = s->ref_to;
  for (int y = from; y <= to; y++) {
    int32_t d0 = month < 0 ? year_day(y) : calc_month_first_day(y * 12 + month),
            d1 = month < 0 ? year_day(y + 1)
                           : calc_month_first_day(y * 12 + month + 1);
    if (hd_count(s, p, d0, d1, c) < s->min_coverage) continue;
    n++;
    for (int k = 0; k < HD_NKIND; k++)
      sum[k] += c[k];
  }
  for (int k = 0; n && k < HD_NKIND; k++)
    lt[k] = sum[k] / n;
}

static int push(kk_batch_t *out, const char *thing, const char *prop,
                const char *unit, int64_t t, double v) {
  kk_reading_t r = {t, v, kk_datastream_id(thing, prop, unit),
                    KK_READING_UPDATE};
  return r.ds ? kk_batch_push(out, &r) : KK_ENOMEM;
}

/* Counts, coverage and long-term mean of one period. */
static int hd_emit_period(hd_state_t *s, hd_place_t *p, int month_key, int year,
                          kk_batch_t *out) {
  int monthly = month_key >= 0;
  int32_t d0 = monthly ? calc_month_first_day(month_key) : year_day(year),
          d1 = monthly ? calc_month_first_day(month_key + 1)
                       : year_day(year + 1);
  int64_t t = calc_local_to_utc(s->tz, (int64_t)d0 * KK_DAY_MS);
  const char *sfx = monthly ? "month" : "year";
  double c[HD_NKIND], lt[HD_NKIND];
  double cov = hd_count(s, p, d0, d1, c);
  if (cov == 0) return 0; /* nothing counted: no figure, not a zero */
  char prop[64];
  int rc = 0;
  for (int k = 0; k < HD_NKIND && !rc; k++) {
    snprintf(prop, sizeof prop, "%s_%s", hd_kinds[k], sfx);
    rc = push(out, p->thing, prop, "d", t, c[k]);
  }
  snprintf(prop, sizeof prop, "heat_days_coverage_%s", sfx);
  if (!rc) rc = push(out, p->thing, prop, "1", t, cov);
  hd_longterm(s, p, monthly ? month_key % 12 : -1, lt);
  for (int k = 0; k < HD_NKIND && !rc; k++) {
    if (isnan(lt[k])) continue;
    snprintf(prop, sizeof prop, "%s_longterm_%s", hd_kinds[k], sfx);
    rc = push(out, p->thing, prop, "d", t, lt[k]);
  }
  return rc;
}

static int hd_emit_place(hd_state_t *s, hd_place_t *p, kk_batch_t *out) {
  if (!p->ntm || !p->ndays) return 0;
  double lt[HD_NKIND];
  hd_longterm(s, p, -1, lt);
  int all = 0;
  for (int k = 0; k < HD_NKIND; k++) {
    if (!(lt[k] == p->last_lt[k] || (isnan(lt[k]) && isnan(p->last_lt[k]))))
      all = 1;
    p->last_lt[k] = lt[k];
  }
  int rc = 0;
  int from = calc_month_of_day(p->days[0].day) / 12,
      to = calc_month_of_day(p->days[p->ndays - 1].day) / 12;
  /* A month's long-term mean is that of its calendar month: the same
   * month of every year changes with it. */
  unsigned cal = 0;
  for (size_t i = 0; i < p->ntm; i++)
    cal |= 1u << (p->tmonths[i] % 12);
  for (int y = from; y <= to && !rc; y++)
    for (int m = 0; m < 12 && !rc; m++)
      if ((cal >> m) & 1) rc = hd_emit_period(s, p, y * 12 + m, 0, out);
  for (int y = from; y <= to && !rc; y++) {
    int touched = all;
    for (size_t i = 0; i < p->ntm && !touched; i++)
      touched = p->tmonths[i] / 12 == y;
    if (touched) rc = hd_emit_period(s, p, -1, y, out);
  }
  p->ntm = 0;
  return rc;
}

static int hd_save(void *state, FILE *f) {
  hd_state_t *s = state;
  for (size_t i = 0; i < s->nplaces; i++) {
    const hd_place_t *p = s->places[i];
    fprintf(f, "P\t%s\n", p->thing);
    for (size_t k = 0; k < p->ndays; k++) {
      const hd_day_t *d = &p->days[k];
      fprintf(f, "D\t%d\t%u\t%u\t%.17g\t%.17g\n", d->day, d->has, d->n,
              d->has & 1 ? d->tmin : 0, d->has & 2 ? d->tmax : 0);
    }
  }
  return 0;
}

static int hd_load(void *state, const char *line) {
  hd_state_t *s = state;
  char thing[128];
  int day;
  unsigned has, n;
  double lo, hi;
  if (sscanf(line, "P\t%127[^\n]", thing) == 1) {
    hd_place_t *p = place_get(s, thing);
    if (!p) return KK_ENOMEM;
    /* Days follow their place: keep it first. */
    for (size_t i = 0; i < s->nplaces; i++)
      if (s->places[i] == p) {
        s->places[i] = s->places[s->nplaces - 1];
        s->places[s->nplaces - 1] = p;
      }
    return 0;
  }
  if (sscanf(line, "D\t%d\t%u\t%u\t%lf\t%lf", &day, &has, &n, &lo, &hi) == 5 &&
      s->nplaces) {
    hd_day_t *d = day_get(s->places[s->nplaces - 1], day);
    if (!d) return KK_ENOMEM;
    d->has = (uint8_t)has;
    d->n = n;
    d->tmin = has & 1 ? lo : INFINITY;
    d->tmax = has & 2 ? hi : -INFINITY;
    return 0;
  }
  return KK_EPARSE;
}

static int hd_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  hd_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  for (size_t i = 0; i < n; i++) {
    const char *p = calc_property(r[i].ds);
    int kind = s->readings                   ? (strcmp(p, s->prop) == 0 ? 3 : 0)
               : strcmp(p, s->min_prop) == 0 ? 1
               : strcmp(p, s->max_prop) == 0 ? 2
                                             : 0;
    if (!kind) continue;
    double v = r[i].value;
    if (!isfinite(v)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "temperature is not a number");
      continue;
    }
    if (v < -80 || v > 60) {
      calc_reject(&s->rj, CALC_REJ_UNIT, &r[i],
                  "%g is no air temperature in °C", v);
      continue;
    }
    hd_place_t *pl = place_get(s, calc_thing(r[i].ds));
    int32_t day = (int32_t)kk_floor_div(
        r[i].time_ms + calc_tz_offset(s->tz, r[i].time_ms), KK_DAY_MS);
    hd_day_t *d = pl ? day_get(pl, day) : NULL;
    if (!d) {
      calc_reject(&s->rj, CALC_REJ_TOO_LATE, &r[i],
                  "more than %d places or %d days per place", HD_MAX_THINGS,
                  HD_MAX_DAYS);
      continue;
    }
    if (kind == 3) { /* min and max of the day's readings: any order */
      if (v < d->tmin) d->tmin = v;
      if (v > d->tmax) d->tmax = v;
      d->has = 3;
      d->n++;
    } else if (kind == 1) {
      d->tmin = v;
      d->has |= 1;
    } else {
      d->tmax = v;
      d->has |= 2;
    }
    touch_month(pl, calc_month_of_day(day));
  }
  kk_batch_t *out = kk_batch_new(64);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  int rc = 0;
  for (size_t i = 0; i < s->nplaces && !rc; i++)
    rc = hd_emit_place(s, s->places[i], out);
  if (!rc) kk_stage_emit(st, out);
  kk_batch_unref(out);
  return rc;
}

static int hd_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  hd_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  calc_rejects_init(&s->rj, st,
                    CALC_REJ_BIT(CALC_REJ_NAN) |
                        CALC_REJ_BIT(CALC_REJ_TOO_LATE) |
                        CALC_REJ_BIT(CALC_REJ_UNIT));
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  s->readings = kk_opt_enum(o, "input") == 1;
  s->prop = kk_opt_str(o, "property");
  s->min_prop = kk_opt_str(o, "min_property");
  s->max_prop = kk_opt_str(o, "max_property");
  s->min_coverage = kk_opt_double(o, "min_coverage");
  s->min_readings = kk_opt_int(o, "min_readings");
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
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), hd_save,
                 hd_load, s);
  return 0;
}

static int hd_start(kk_stage_t *st, void *state) {
  (void)st;
  return calc_base_start(&((hd_state_t *)state)->base);
}

static void hd_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  calc_base_stop(&((hd_state_t *)state)->base, cb);
}

static void hd_destroy(void *state) {
  hd_state_t *s = state;
  if (!s) return;
  for (size_t i = 0; i < s->nplaces; i++) {
    free(s->places[i]->days);
    free(s->places[i]->tmonths);
    free(s->places[i]);
  }
  free(s);
}

static const kk_option_t hd_options[] = {
    {.name = "input",
     .type = KK_OPT_ENUM,
     .def = "daily",
     .choices = "daily|readings",
     .description = "`daily`: daily minimum and maximum (decode.dwd; a "
                    "repeat replaces); `readings`: own sensors, the local "
                    "day's minimum and maximum of `property`."},
    {.name = "min_property",
     .type = KK_OPT_STRING,
     .def = "air_temperature_min",
     .description = "Daily minimum temperature (°C), input `daily`."},
    {.name = "max_property",
     .type = KK_OPT_STRING,
     .def = "air_temperature_max",
     .description = "Daily maximum temperature (°C), input `daily`."},
    {.name = "property",
     .type = KK_OPT_STRING,
     .def = "air_temperature",
     .description = "Air temperature of own sensors (°C), input "
                    "`readings`."},
    {.name = "min_readings",
     .type = KK_OPT_INT,
     .def = "12",
     .min = 1,
     .max = 100000,
     .description = "Readings a day needs to be counted (input "
                    "`readings`): a day with a few readings has no "
                    "meaningful minimum."},
    {.name = "min_coverage",
     .type = KK_OPT_DOUBLE,
     .def = "0.9",
     .min = 0,
     .max = 1,
     .description = "Share of counted days a month or year needs to enter "
                    "the long-term mean."},
    {.name = "reference",
     .type = KK_OPT_TABLE,
     .description = "Years of the long-term mean `{ from = 1991, to = 2020 "
                    "}` (default: every covered year)."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_heat_days_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "heat_days",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Sommertage, heiße Tage, Tropennächte, Frost- und Eistage "
               "per month and year with the long-term mean.",
    .description =
        "Counts per place (thing) and local month and year the DWD's "
        "index days: `summer_days` (Tmax >= 25 °C), `hot_days` (Tmax >= 30 "
        "°C), `tropical_nights` (Tmin >= 20 °C), `frost_days` (Tmin < 0 "
        "°C), `ice_days` (Tmax < 0 °C), emitted as `<kind>_month` and "
        "`<kind>_year` (d) at the period's local start, with "
        "`heat_days_coverage_<period>` (share of days counted) and "
        "`<kind>_longterm_<period>`, the mean over the covered periods of "
        "`reference` (for a month: the same calendar month).  Input: the "
        "DWD's daily TNK/TXK, or own sensors' readings with the day's "
        "minimum and maximum computed here.",
    .options = hd_options,
    .create = hd_create,
    .start = hd_start,
    .process = hd_process,
    .stop = hd_stop,
    .destroy = hd_destroy,
};
