/*
 * modules/calc/outdoor_air.c - calc.outdoor_air: daily and annual means
 * of NO2, PM10 and PM2.5 and the exceedances of the EU limit values of
 * Directive 2008/50/EC (39. BImSchV) or, selectable, of Directive (EU)
 * 2024/2881 (limit values to be met by 2030).
 *
 * Data coverage as the directives require before a value counts
 * (2008/50/EC Annex XI A; see docs/guide/calculators.md): an hour needs 75 % of
 * its time measured, a day 75 % of its hours (18 of 24), a year 90 % of
 * its hours.  A reading stands for the `interval` slot it falls in
 * (counted once however many readings share it), so a station reporting
 * every 30 min needs `interval = "30min"`.  Means are always emitted with
 * their coverage; a window below its share does not count as an
 * exceedance, and a year's verdict waits until the year is covered.
 *
 * Which slots of a day hold readings, which hours are covered and which
 * hours and days counted as exceedances are kept per day until the day
 * is older than `lateness` (it can change no more); the year's counts
 * are kept.  All of it is in the snapshot, so a restart continues the
 * counts instead of starting them again.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"

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

/* One local day of one datastream (23, 24 or 25 hours). */
typedef struct air_day {
  int64_t start, end;
  int year;
  uint32_t nslots; /* `interval` slots in the day, the last one clipped */
  uint32_t hvalid; /* bit k: hour k of the day is covered */
  uint32_t hexc;   /* bit k: hour k counts as an exceedance hour */
  uint8_t dexc;    /* the day counts as an exceedance day */
  uint64_t *slots; /* bit i: slot i holds a reading */
  uint32_t covered_ms[25]; /* of hour k, by slots with readings */
} air_day_t;

typedef struct air_year {
  int year;
  int hours_exc, days_exc; /* exceedance hours and days counted */
  int hours_valid;         /* covered hours */
} air_year_t;

typedef struct air_ds {
  int8_t pol;         /* -1 not a pollutant, 0.. index, -2 unknown yet */
  uint8_t warned;     /* readings come more often than `interval` */
  int64_t newest_day; /* start of the newest day with a reading */
  air_day_t *days;
  size_t ndays, capdays;
  air_year_t *years;
  size_t nyears, capyears;
} air_ds_t;

typedef struct air_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_windows_t *w;
  calc_tz_t tz;
  const limits_t *lim;
  int64_t interval_ms; /* one reading stands for this long */
  int64_t lateness_ms;
  double cov_hour, cov_day, cov_year; /* required shares (0: none) */
  air_ds_t *ds;
  size_t nds;
  uint64_t batches;
} air_state_t;

static air_ds_t *air_ds(air_state_t *s, uint32_t id) {
  size_t old = s->nds;
  if (calc_grow((void **)&s->ds, &s->nds, id, sizeof *s->ds)) return NULL;
  for (size_t i = old; i < s->nds; i++)
    s->ds[i].pol = -2;
  air_ds_t *d = &s->ds[id];
  if (d->pol != -2) return d;
  d->pol = -1;
  d->newest_day = INT64_MIN;
  const char *names[3] = {kk_opt_str(s->opts, "no2"),
                          kk_opt_str(s->opts, "pm10"),
                          kk_opt_str(s->opts, "pm2_5")};
  for (int i = 0; i < 3; i++)
    if (strcmp(calc_property(id), names[i]) == 0) d->pol = (int8_t)i;
  return d;
}

static air_year_t *year_of(air_ds_t *d, int year) {
  for (size_t i = 0; i < d->nyears; i++)
    if (d->years[i].year == year) return &d->years[i];
  if (calc_grow((void **)&d->years, &d->capyears, d->nyears, sizeof *d->years))
    return NULL;
  air_year_t *y = &d->years[d->nyears++];
  *y = (air_year_t){.year = year};
  return y;
}

/* The day record holding t, or NULL. */
static air_day_t *day_at(air_ds_t *d, int64_t t) {
  for (size_t i = d->ndays; i-- > 0;)
    if (t >= d->days[i].start && t < d->days[i].end) return &d->days[i];
  return NULL;
}

static uint32_t slots_in(const air_state_t *s, int64_t start, int64_t end) {
  return (uint32_t)((end - start + s->interval_ms - 1) / s->interval_ms);
}

static air_day_t *day_new(air_state_t *s, air_ds_t *d, int64_t start,
                          int64_t end) {
  if (calc_grow((void **)&d->days, &d->capdays, d->ndays, sizeof *d->days))
    return NULL;
  air_day_t *day = &d->days[d->ndays];
  *day = (air_day_t){.start = start,
                     .end = end,
                     .year = calc_year(s->tz, start),
                     .nslots = slots_in(s, start, end)};
  day->slots = calloc((day->nslots + 63) / 64, sizeof *day->slots);
  if (!day->slots) return NULL;
  d->ndays++;
  return day;
}

static int slot_set(const air_day_t *day, uint32_t i) {
  return (int)(day->slots[i / 64] >> (i % 64) & 1);
}

/* Marks slot i as holding a reading and adds the time it covers to the
 * hours it overlaps (the last slot of a day is clipped at its end). */
static void add_slot(const air_state_t *s, air_day_t *day, uint32_t i) {
  day->slots[i / 64] |= 1ull << (i % 64);
  int64_t a = (int64_t)i * s->interval_ms, b = a + s->interval_ms;
  if (b > day->end - day->start) b = day->end - day->start;
  for (int64_t k = a / KK_HOUR_MS; k <= (b - 1) / KK_HOUR_MS; k++) {
    int64_t hs = k * KK_HOUR_MS, he = hs + KK_HOUR_MS;
    day->covered_ms[k] += (uint32_t)((b < he ? b : he) - (a > hs ? a : hs));
  }
}

/* Share of hour k of the day that slots with readings cover. */
static double hour_coverage(const air_day_t *day, int k) {
  int64_t len = day->end - day->start - k * KK_HOUR_MS;
  return (double)day->covered_ms[k] /
         (double)(len < KK_HOUR_MS ? len : KK_HOUR_MS);
}

/* Marks the slot of an accepted reading; hours it completes become
 * covered.  Returns 0 or KK_ENOMEM. */
static int cover(air_state_t *s, air_ds_t *d, uint32_t key, int64_t t) {
  air_day_t *day = day_at(d, t);
  if (!day) {
    int64_t start, end;
    calc_window(s->tz, CALC_P_DAY, t, &start, &end);
    if (!(day = day_new(s, d, start, end))) return KK_ENOMEM;
  }
  if (day->start > d->newest_day) d->newest_day = day->start;
  uint32_t i = (uint32_t)((t - day->start) / s->interval_ms);
  if (slot_set(day, i)) return 0;
  add_slot(s, day, i);
  int64_t a = (int64_t)i * s->interval_ms, b = a + s->interval_ms;
  if (b > day->end - day->start) b = day->end - day->start;
  for (int k = (int)(a / KK_HOUR_MS); k <= (int)((b - 1) / KK_HOUR_MS); k++) {
    if (day->hvalid >> k & 1 || hour_coverage(day, k) < s->cov_hour) continue;
    air_year_t *y = year_of(d, day->year);
    if (!y) return KK_ENOMEM;
    day->hvalid |= 1u << k;
    y->hours_valid++;
    /* A slot longer than an hour, or across an hour's end, covers an hour
     * the reading is not in: that hour's window must be emitted again
     * (it may now count as an exceedance hour). */
    if (k != (int)((t - day->start) / KK_HOUR_MS) &&
        calc_windows_touch(s->w, key, CALC_P_HOUR, day->start + k * KK_HOUR_MS))
      return KK_ENOMEM;
  }
  return 0;
}

/* Days older than lateness change no more: their counts stay in the
 * year, the day records go. */
static void evict_days(air_state_t *s) {
  for (size_t n = 0; n < s->nds; n++) {
    air_ds_t *d = &s->ds[n];
    size_t j = 0;
    for (size_t i = 0; i < d->ndays; i++) {
      if (d->days[i].end + s->lateness_ms <= d->newest_day)
        free(d->days[i].slots);
      else
        d->days[j++] = d->days[i];
    }
    d->ndays = j;
  }
}

static void push(kk_batch_t *out, uint32_t key, const char *suffix,
                 const char *unit, int64_t t, double v) {
  char prop[160];
  snprintf(prop, sizeof prop, "%s_%s", calc_property(key), suffix);
  kk_reading_t r = {t, v, kk_datastream_id(calc_thing(key), prop, unit),
                    KK_READING_UPDATE};
  if (r.ds) kk_batch_push(out, &r);
}

static void air_emit(void *ctx, uint32_t key, int p, int64_t start, int64_t end,
                     const calc_agg_t *a, kk_batch_t *out) {
  air_state_t *s = ctx;
  air_ds_t *d = &s->ds[key];
  const limits_t *l = &s->lim[d->pol];
  const char *unit = calc_unit(key);
  double mean = a->sum / (double)a->count;
  int year = calc_year(s->tz, start);
  int64_t ys = calc_year_start(s->tz, year);
  air_year_t *y = year_of(d, year);
  air_day_t *day = day_at(d, start);
  if (!y) return;
  if (p == CALC_P_HOUR && !isnan(l->hour)) {
    /* An hour short of readings cannot count as exceeded; it is
     * re-emitted (and may count) when late readings fill it. */
    if (!day) return;
    uint32_t bit = 1u << (int)((start - day->start) / KK_HOUR_MS);
    int on = (day->hvalid & bit) && mean > l->hour;
    y->hours_exc += on - !!(day->hexc & bit);
    day->hexc = on ? day->hexc | bit : day->hexc & ~bit;
    push(out, key, "exceedance_hours", "1", ys, y->hours_exc);
  } else if (p == CALC_P_DAY) {
    /* The share of the day's hours (23 or 25 on a DST day) covered. */
    double cov = day ? (double)__builtin_popcount(day->hvalid) /
                           (double)((end - start) / KK_HOUR_MS)
                     : 0;
    if (day && !d->warned && a->count > day->nslots + day->nslots / 20) {
      /* More readings than the day has intervals: `interval` is too
       * long for this station, so one reading makes an hour look
       * covered.  Say so once. */
      d->warned = 1;
      kk_stage_log(s->st, KK_LOG_WARN,
                   "%s/%s: %" PRIu64 " readings in one day at interval %" PRId64
                   " s: set `interval` to the station's reporting interval, "
                   "or coverage is overstated",
                   calc_thing(key), calc_property(key), a->count,
                   s->interval_ms / 1000);
    }
    push(out, key, "day_mean", unit, start, mean);
    push(out, key, "day_coverage", "1", start, cov);
    if (!isnan(l->day) && day) {
      int on = cov >= s->cov_day && mean > l->day;
      y->days_exc += on - day->dexc;
      day->dexc = (uint8_t)on;
      push(out, key, "exceedance_days", "1", ys, y->days_exc);
    }
  } else if (p == CALC_P_YEAR) {
    double cov = (double)y->hours_valid / (double)((end - start) / KK_HOUR_MS);
    push(out, key, "year_mean", unit, start, mean);
    push(out, key, "year_coverage", "1", start, cov);
    if (cov >= s->cov_year)
      push(out, key, "year_limit_exceeded", "1", start, mean > l->year);
  }
}

/* Snapshot lines besides the windows' (tab-separated):
 *   D thing prop unit start end hvalid hexc dexc nslots slots-hex
 *   Y thing prop unit year hours_exc days_exc hours_valid */
static int air_save(void *state, FILE *f) {
  air_state_t *s = state;
  for (size_t n = 0; n < s->nds; n++) {
    const air_ds_t *d = &s->ds[n];
    const char *th = calc_thing((uint32_t)n), *pr = calc_property((uint32_t)n),
               *un = calc_unit((uint32_t)n);
    for (size_t i = 0; i < d->nyears; i++)
      fprintf(f, "Y\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", th, pr, un,
              d->years[i].year, d->years[i].hours_exc, d->years[i].days_exc,
              d->years[i].hours_valid);
    for (size_t i = 0; i < d->ndays; i++) {
      const air_day_t *day = &d->days[i];
      fprintf(f,
              "D\t%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRIu32 "\t%" PRIu32
              "\t%d\t%" PRIu32 "\t",
              th, pr, un, day->start, day->end, day->hvalid, day->hexc,
              day->dexc, day->nslots);
      for (uint32_t w = 0; w < (day->nslots + 63) / 64; w++)
        fprintf(f, "%016" PRIx64, day->slots[w]);
      fputc('\n', f);
    }
  }
  return calc_windows_save(s->w, f);
}

/* Splits a copy of `line` at tabs into f[0..max); returns the count. */
static int split_tabs(char *line, char **f, int max) {
  int n = 0;
  for (char *p = line; n < max;) {
    f[n++] = p;
    char *t = strchr(p, '\t');
    if (!t) break;
    *t = 0;
    p = t + 1;
  }
  return n;
}

static int parse_i64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

static int air_load_line(air_state_t *s, char *buf) {
  char *f[12];
  int n = split_tabs(buf, f, 12);
  int is_day = buf[0] == 'D';
  if (n != (is_day ? 11 : 8) || f[0][1]) return KK_EPARSE;
  uint32_t id = kk_datastream_id(f[1], f[2], f[3]);
  if (!id) return KK_EPARSE;
  air_ds_t *d = air_ds(s, id);
  if (!d) return KK_ENOMEM;
  if (d->pol < 0) return 0; /* the recipe's pollutant names changed */
  int64_t v[6];
  for (int i = 0; i < (is_day ? 6 : 4); i++)
    if (parse_i64(f[4 + i], &v[i])) return KK_EPARSE;
  if (!is_day) {
    air_year_t *y = year_of(d, (int)v[0]);
    if (!y) return KK_ENOMEM;
    *y = (air_year_t){(int)v[0], (int)v[1], (int)v[2], (int)v[3]};
    return 0;
  }
  /* A day must be a local day of this `tz`: after a change of tz the
   * saved days no longer line up, and are dropped (their year counts
   * stay). */
  int64_t ds, de;
  calc_window(s->tz, CALC_P_DAY, v[0], &ds, &de);
  if (ds != v[0] || de != v[1] || day_at(d, ds)) return 0;
  air_day_t *day = day_new(s, d, ds, de);
  if (!day) return KK_ENOMEM;
  uint32_t hours = (uint32_t)((de - ds) / KK_HOUR_MS);
  uint32_t mask = hours >= 32 ? UINT32_MAX : (1u << hours) - 1;
  day->hvalid = (uint32_t)v[2] & mask;
  day->hexc = (uint32_t)v[3] & mask;
  day->dexc = v[4] != 0;
  if (ds > d->newest_day) d->newest_day = ds;
  /* The slots only mean the same at the same interval: otherwise the
   * covered hours stay and the slots start empty. */
  const char *hex = f[10];
  size_t words = (day->nslots + 63) / 64;
  if ((uint64_t)v[5] != day->nslots || strlen(hex) != words * 16) return 0;
  for (size_t w = 0; w < words; w++) {
    char word[17];
    memcpy(word, hex + w * 16, 16);
    word[16] = 0;
    uint64_t bits = strtoull(word, NULL, 16);
    for (uint32_t b = 0; b < 64; b++)
      if (bits >> b & 1 && w * 64 + b < day->nslots)
        add_slot(s, day, (uint32_t)(w * 64 + b));
  }
  return 0;
}

static int air_load(void *state, const char *line) {
  air_state_t *s = state;
  if (line[0] != 'D' && line[0] != 'Y') return calc_windows_load(s->w, line);
  char *buf = strdup(line);
  if (!buf) return KK_ENOMEM;
  int rc = air_load_line(s, buf);
  free(buf);
  return rc;
}

static int air_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  air_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  s->lim = kk_opt_enum(o, "regime") == 1 ? regime_2024 : regime_2008;
  s->interval_ms = (int64_t)kk_opt_duration_ms(o, "interval");
  s->lateness_ms = (int64_t)kk_opt_duration_ms(o, "lateness");
  s->cov_hour = kk_opt_double(o, "coverage_hour");
  s->cov_day = kk_opt_double(o, "coverage_day");
  s->cov_year = kk_opt_double(o, "coverage_year");
  if (s->interval_ms < 1000) {
    kk_stage_error(st, "interval: must be 1 s or longer");
    return KK_ERANGE;
  }
  calc_rejects_init(&s->rj, st,
                    CALC_REJ_BIT(CALC_REJ_NAN) |
                        CALC_REJ_BIT(CALC_REJ_NEGATIVE) |
                        CALC_REJ_BIT(CALC_REJ_TOO_LATE));
  s->w = calc_windows_new(
      s->tz, (1u << CALC_P_HOUR) | (1u << CALC_P_DAY) | (1u << CALC_P_YEAR),
      s->lateness_ms, 0, air_emit, s);
  if (!s->w) return KK_ENOMEM;
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), air_save,
                 air_load, s);
  return 0;
}

static int air_start(kk_stage_t *st, void *state) {
  air_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return calc_base_start(&s->base);
}

static int air_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  air_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  for (size_t i = 0; i < n; i++) {
    air_ds_t *d = air_ds(s, r[i].ds);
    if (!d) return KK_ENOMEM;
    if (d->pol < 0) continue;
    if (!isfinite(r[i].value)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "concentration is not a number");
      continue;
    }
    if (r[i].value < 0) {
      calc_reject(&s->rj, CALC_REJ_NEGATIVE, &r[i], "negative concentration");
      continue;
    }
    /* A day older than lateness has no coverage record left: too late,
     * whether or not its windows were swept yet. */
    int64_t ds, de;
    calc_window(s->tz, CALC_P_DAY, r[i].time_ms, &ds, &de);
    int rc = de + s->lateness_ms <= d->newest_day
                 ? KK_ERANGE
                 : calc_windows_add(s->w, r[i].ds, r[i].time_ms, r[i].value);
    if (rc == KK_ERANGE)
      calc_reject(&s->rj, CALC_REJ_TOO_LATE, &r[i], "window long closed");
    else if (rc || (rc = cover(s, d, r[i].ds, r[i].time_ms)))
      return rc;
  }
  kk_batch_t *out = kk_batch_new(64);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  calc_windows_flush(s->w, out);
  kk_stage_emit(st, out);
  kk_batch_unref(out);
  if (++s->batches % 64 == 0) {
    calc_windows_evict(s->w);
    evict_days(s);
  }
  return 0;
}

static void air_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  calc_base_stop(&((air_state_t *)state)->base, cb);
}

static void air_destroy(void *state) {
  air_state_t *s = state;
  if (!s) return;
  for (size_t i = 0; i < s->nds; i++) {
    for (size_t j = 0; j < s->ds[i].ndays; j++)
      free(s->ds[i].days[j].slots);
    free(s->ds[i].days);
    free(s->ds[i].years);
  }
  free(s->ds);
  calc_windows_free(s->w);
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
     .description = "The station's reporting interval (1 s or longer): a "
                    "reading covers the interval slot of the day it falls "
                    "in, once however many readings share the slot."},
    {.name = "coverage_hour",
     .type = KK_OPT_DOUBLE,
     .def = "0.75",
     .min = 0,
     .max = 1,
     .description = "Share of an hour readings must cover before it is a "
                    "covered hour, which alone can count as an exceedance "
                    "hour (2008/50/EC Annex XI: 75 %)."},
    {.name = "coverage_day",
     .type = KK_OPT_DOUBLE,
     .def = "0.75",
     .min = 0,
     .max = 1,
     .description = "Share of a day's hours that must be covered (18 of "
                    "24) before it can count as an exceedance day."},
    {.name = "coverage_year",
     .type = KK_OPT_DOUBLE,
     .def = "0.9",
     .min = 0,
     .max = 1,
     .description = "Share of a year's hours that must be covered before "
                    "`<p>_year_limit_exceeded` is emitted (90 %)."},
    {.name = "lateness",
     .type = KK_OPT_DURATION,
     .def = "7d",
     .description = "How long closed hours and days take late readings."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_outdoor_air_module = {
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
        "rules apply: an hour is covered when readings cover 75 % of it, a "
        "day with less than 75 % of its hours covered is not an exceedance "
        "day, and a year's verdict is emitted only once 90 % of its hours "
        "are covered.  The counts and coverage survive a restart (snapshot).",
    .options = air_options,
    .create = air_create,
    .start = air_start,
    .process = air_process,
    .stop = air_stop,
    .destroy = air_destroy,
};
