/* tests/unit/test_calc_air.c - calc.outdoor_air (daily means and
 * exceedance days against both EU regimes) and calc.traffic. */
#include "kk_test.h"

#include "calc/calc.h"
#include "../support/stage_kit.h"

/* calc.outdoor_air has no flush_at_stop option, so the test emits the
 * still open windows itself through the family layer.  The state of
 * outdoor_air (air_state_t) begins with these fields. */
typedef struct {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_windows_t *w;
} air_state_head_t;

static void air_flush_all(kk_stage_t *st) {
  air_state_head_t *h = kk_testing_state(sk_testing(st));
  kk_batch_t *out = kk_batch_new(64);
  calc_windows_flush_all(h->w, out);
  kk_stage_emit(st, out);
  kk_batch_unref(out);
  sk_collect(sk_testing(st));
}

#define H 3600000LL

static void day_of(kk_stage_t *st, uint32_t ds, int64_t day_start, double v) {
  kk_reading_t r[24];
  for (int h = 0; h < 24; h++)
    r[h] = (kk_reading_t){day_start + h * H, v, ds, 0};
  sk_feed(st, r, 24, 0);
}

KK_TEST(outdoor_pm10_exceedance_days_2008) {
  kk_stage_t *st = sk_stage("calc.outdoor_air", "{ }");
  uint32_t pm = sk_ds("station-mitte", "pm10", "ug/m3");
  int64_t d1 = sk_utc(2025, 1, 9, 23, 0); /* 10 Jan, local midnight */
  day_of(st, pm, d1, 60);
  day_of(st, pm, d1 + 24 * H, 40);
  day_of(st, pm, d1 + 48 * H, 55);
  sk_feed1(st, d1 + 72 * H, 10, pm); /* closes the third day */
  uint32_t mean = sk_ds("station-mitte", "pm10_day_mean", "ug/m3");
  uint32_t ex = sk_ds("station-mitte", "pm10_exceedance_days", "1");
  int64_t y = sk_utc(2024, 12, 31, 23, 0);
  KK_CHECK_DBL(sk_value(mean, d1), 60, 1e-9);
  KK_CHECK_DBL(sk_value(mean, d1 + 24 * H), 40, 1e-9);
  KK_CHECK_DBL(sk_value(ex, y), 2, 0);
  /* A late reading lifts day 2 over 50: (24 x 40 + 1000) / 25 = 78.4 */
  sk_feed1(st, d1 + 24 * H + 30 * 60000, 1000, pm);
  KK_CHECK_DBL(sk_value(mean, d1 + 24 * H), 78.4, 1e-9);
  KK_CHECK_DBL(sk_value(ex, y), 3, 0);
  /* NaN and negative values are counted, not averaged. */
  sk_feed1(st, d1 + 73 * H, NAN, pm);
  sk_feed1(st, d1 + 73 * H, -1, pm);
  KK_CHECK_INT(sk_rejected(st, "nan"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "negative"), ==, 1);
}

KK_TEST(outdoor_2024_regime_and_no2_hours_and_year_mean) {
  /* Two days of a year: no year verdict under the 90 % rule, so this
   * test turns the year rule off to see the verdict itself. */
  kk_stage_t *st = sk_stage("calc.outdoor_air",
                            "{ regime = '2024/2881', coverage_year = 0 }");
  uint32_t pm = sk_ds("station-2", "pm10", "ug/m3");
  uint32_t no2 = sk_ds("station-2", "no2", "ug/m3");
  int64_t d1 = sk_utc(2025, 12, 29, 23, 0); /* 30 Dec local */
  day_of(st, pm, d1, 46); /* over 45 (2024/2881), under 50 (2008/50) */
  day_of(st, pm, d1 + 24 * H, 30);
  sk_feed1(st, d1 + 48 * H, 10, pm); /* 1 Jan 2026: closes 2025 */
  int64_t y25 = sk_utc(2024, 12, 31, 23, 0);
  KK_CHECK_DBL(sk_value(sk_ds("station-2", "pm10_exceedance_days", "1"), y25),
               1, 0);
  /* Year mean of 2025 (only these two days here): 38 > 20. */
  KK_CHECK_DBL(sk_value(sk_ds("station-2", "pm10_year_mean", "ug/m3"), y25), 38,
               1e-9);
  KK_CHECK_DBL(
      sk_value(sk_ds("station-2", "pm10_year_limit_exceeded", "1"), y25), 1, 0);
  /* NO2: one hour at 250 (> 200). */
  kk_reading_t r[] = {
      {d1, 100, no2, 0}, {d1 + H, 250, no2, 0}, {d1 + 2 * H, 120, no2, 0}};
  sk_feed(st, r, 3, 0);
  KK_CHECK_DBL(sk_value(sk_ds("station-2", "no2_exceedance_hours", "1"), y25),
               1, 0);
}

/* Coverage (2008/50/EC Annex XI): 17 hours over the limit are not an
 * exceedance day (17/24 < 75 %), 18 are; the day means and coverages are
 * emitted either way; a part-covered year gives no verdict.  With
 * 30-minute readings an hour needs both. */
KK_TEST(outdoor_coverage_rules) {
  kk_stage_t *st = sk_stage("calc.outdoor_air", "{ }");
  uint32_t pm = sk_ds("station-c", "pm10", "ug/m3");
  int64_t d1 = sk_utc(2025, 3, 9, 23, 0); /* 10 Mar local midnight */
  kk_reading_t r[40];
  int n = 0;
  for (int h = 0; h < 17; h++)
    r[n++] = (kk_reading_t){d1 + h * H, 80, pm, 0};
  for (int h = 0; h < 18; h++)
    r[n++] = (kk_reading_t){d1 + (24 + h) * H, 80, pm, 0};
  r[n++] = (kk_reading_t){d1 + 48 * H, 10, pm, 0}; /* closes day 2 */
  sk_feed(st, r, (size_t)n, 0);
  uint32_t mean = sk_ds("station-c", "pm10_day_mean", "ug/m3");
  uint32_t cov = sk_ds("station-c", "pm10_day_coverage", "1");
  int64_t y = sk_utc(2024, 12, 31, 23, 0);
  KK_CHECK_DBL(sk_value(mean, d1), 80, 1e-9);
  KK_CHECK_DBL(sk_value(cov, d1), 17.0 / 24, 1e-9);
  KK_CHECK_DBL(sk_value(cov, d1 + 24 * H), 18.0 / 24, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("station-c", "pm10_exceedance_days", "1"), y), 1,
               0);
  /* A late hour lifts day 1 to 18/24: now it counts. */
  sk_feed1(st, d1 + 20 * H, 80, pm);
  KK_CHECK_DBL(sk_value(sk_ds("station-c", "pm10_exceedance_days", "1"), y), 2,
               0);
  /* NO2 every 30 min: one reading is half an hour (50 % < 75 %). */
  kk_stage_t *no = sk_stage("calc.outdoor_air", "{ interval = '30min' }");
  uint32_t no2 = sk_ds("station-d", "no2", "ug/m3");
  kk_reading_t q[] = {{d1, 300, no2, 0},
                      {d1 + H, 300, no2, 0},
                      {d1 + H + 1800000, 300, no2, 0},
                      {d1 + 3 * H, 10, no2, 0}};
  sk_feed(no, q, 4, 0);
  KK_CHECK_DBL(sk_value(sk_ds("station-d", "no2_exceedance_hours", "1"), y), 1,
               0);
  /* The year 2025 is far from covered: mean and coverage, no verdict
   * (a reading in 2026 closes it). */
  sk_feed1(st, sk_utc(2026, 1, 1, 12, 0), 10, pm);
  KK_CHECK(!isnan(sk_value(sk_ds("station-c", "pm10_year_mean", "ug/m3"), y)));
  KK_CHECK_DBL(sk_value(sk_ds("station-c", "pm10_year_coverage", "1"), y),
               37.0 / 8760, 1e-9);
  KK_CHECK_INT(sk_count(sk_ds("station-c", "pm10_year_limit_exceeded", "1")),
               ==, 0);
}

/* Coverage counts time, not readings: 40 readings 5 min apart at the
 * default 1 h interval cover 4 hours (4/24), not 40; at interval 5min
 * the fourth hour has 4 of 12 slots (not covered).  An hour is covered
 * at 75 % of its slots and the day counts covered hours (Annex XI
 * nests them): 20 hours with 10 of 12 slots each are 20/24 covered. */
KK_TEST(outdoor_coverage_counts_slots_and_hours) {
  kk_stage_t *st = sk_stage("calc.outdoor_air", "{ tz = 'UTC' }");
  kk_stage_t *st5 =
      sk_stage("calc.outdoor_air", "{ tz = 'UTC', interval = '5min' }");
  uint32_t pm = sk_ds("station-s", "pm10", "ug/m3");
  uint32_t cov = sk_ds("station-s", "pm10_day_coverage", "1");
  int64_t d1 = sk_utc(2025, 6, 2, 0, 0);
  kk_reading_t r[40 + 40 + 1];
  size_t n = 0;
  for (int i = 0; i < 40; i++)
    r[n++] = (kk_reading_t){d1 + i * 300000LL, 80, pm, 0};
  for (int i = 0; i < 40; i++) /* the same times again: no more coverage */
    r[n++] = (kk_reading_t){d1 + i * 300000LL, 80, pm, 0};
  r[n++] = (kk_reading_t){d1 + 24 * H, 10, pm, 0}; /* closes the day */
  sk_feed(st, r, n, 0);
  KK_CHECK_DBL(sk_value(cov, d1), 4.0 / 24, 1e-9);
  sk_feed(st5, r, n, 0);
  KK_CHECK_DBL(sk_value(cov, d1), 3.0 / 24, 1e-9);
  /* 20 hours, 10 of 12 five-minute slots each, at 80: covered 20/24, an
   * exceedance day (by slots alone it would be 200/288 < 75 %). */
  kk_stage_t *st5b =
      sk_stage("calc.outdoor_air", "{ tz = 'UTC', interval = '5min' }");
  int64_t d2 = d1 + 2 * 24 * H;
  kk_reading_t q[201];
  n = 0;
  for (int h = 0; h < 20; h++)
    for (int i = 0; i < 10; i++)
      q[n++] = (kk_reading_t){d2 + h * H + i * 300000LL, 80, pm, 0};
  q[n++] = (kk_reading_t){d2 + 24 * H, 10, pm, 0};
  sk_feed(st5b, q, n, 0);
  KK_CHECK_DBL(sk_value(cov, d2), 20.0 / 24, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("station-s", "pm10_exceedance_days", "1"),
                        sk_utc(2025, 1, 1, 0, 0)),
               1, 0);
  /* A reading for a day older than lateness (7 d) is rejected. */
  sk_feed1(st5b, d2 + 30 * 24 * H, 10, pm);
  sk_feed1(st5b, d2, 10, pm);
  KK_CHECK_INT(sk_rejected(st5b, "too_late"), ==, 1);
  int rc = 0;
  KK_CHECK(sk_stage_rc("calc.outdoor_air", "{ interval = '500ms' }", &rc) ==
           NULL);
}

/* The property for calc.outdoor_air: whatever the batch boundaries and
 * the arrival order (and with every reading sent twice), the final day
 * means, coverages and exceedance counts are the same. */
KK_TEST(outdoor_totals_independent_of_batching_and_order) {
  enum { N = 8000 };
  static kk_reading_t r[2 * N], want[4000], got[4000];
  const char *opts = "{ tz = 'Europe/Berlin', lateness = '400d', interval = "
                     "'30min', regime = '2024/2881' }";
  srand(7);
  uint32_t ds[2] = {sk_ds("st-p", "pm10", "ug/m3"),
                    sk_ds("st-p", "no2", "ug/m3")};
  /* 40 days around the March switch, 30-minute slots, some left empty;
   * integer values so that sums are exact in any order. */
  int64_t t0 = sk_utc(2026, 3, 10, 0, 0);
  for (int i = 0; i < N; i++) {
    int k = rand() % 2;
    r[i] = (kk_reading_t){t0 + (int64_t)(rand() % (40 * 48)) * 1800000,
                          (double)(rand() % (k ? 300 : 90)), ds[k], 0};
  }
  memcpy(r + N, r, N * sizeof *r);
  size_t nw = 0;
  for (int round = 0; round < 4; round++) {
    if (round) /* shuffle */
      for (int i = 2 * N - 1; i > 0; i--) {
        int j = rand() % (i + 1);
        kk_reading_t x = r[i];
        r[i] = r[j];
        r[j] = x;
      }
    kk_stage_t *st = sk_stage("calc.outdoor_air", opts);
    for (int i = 0; i < 2 * N;) {
      int len = round == 0 ? 2 * N : 1 + rand() % (round == 1 ? 3 : 700);
      if (i + len > 2 * N) len = 2 * N - i;
      sk_feed(st, r + i, (size_t)len, 0);
      i += len;
    }
    air_flush_all(st);
    size_t n = sk_final_values(got, 4000);
    if (round == 0) {
      memcpy(want, got, n * sizeof *got);
      nw = n;
      KK_CHECK_INT(nw, >, 100);
      /* Something to compare: days and hours counted as exceedances. */
      double days = 0, hours = 0;
      for (size_t i = 0; i < nw; i++) {
        if (want[i].ds == sk_ds("st-p", "pm10_exceedance_days", "1"))
          days = want[i].value;
        if (want[i].ds == sk_ds("st-p", "no2_exceedance_hours", "1"))
          hours = want[i].value;
      }
      KK_CHECK(days >= 1 && hours >= 10);
      continue;
    }
    KK_CHECK_INT(n, ==, nw);
    for (size_t i = 0; i < nw && i < n; i++) {
      KK_CHECK_INT(got[i].ds, ==, want[i].ds);
      KK_CHECK_INT(got[i].time_ms, ==, want[i].time_ms);
      KK_CHECK_DBL(got[i].value, want[i].value, 1e-9);
    }
  }
}

/* A slot across an hour's end covers part of the next hour: a late
 * reading can complete an hour it does not fall in, and that hour must
 * then count (interval 40 min: 00:10 covers 00:00-00:40, 2/3 of the
 * hour; the late 01:10 covers 00:40-01:20 and completes hour 0). */
KK_TEST(outdoor_late_slot_completes_the_hour_before) {
  kk_stage_t *st =
      sk_stage("calc.outdoor_air", "{ tz = 'UTC', interval = '40min' }");
  uint32_t no2 = sk_ds("station-40", "no2", "ug/m3");
  uint32_t ex = sk_ds("station-40", "no2_exceedance_hours", "1");
  int64_t d = sk_utc(2025, 6, 2, 0, 0), y = sk_utc(2025, 1, 1, 0, 0);
  sk_feed1(st, d + 10 * 60000, 300, no2);
  sk_feed1(st, d + 130 * 60000, 10, no2); /* closes hours 0 and 1 */
  KK_CHECK_DBL(sk_value(ex, y), 0, 0);    /* hour 0 two thirds covered */
  sk_feed1(st, d + 70 * 60000, 300, no2); /* late, in hour 1 */
  KK_CHECK_DBL(sk_value(ex, y), 1, 0);
}

KK_TEST(traffic_counts_to_co2e) {
  kk_stage_t *st =
      sk_stage("calc.traffic",
               "{ segments = { ['zs-b54'] = 1.8 }, sets = {}, factors = { "
               "pkw = { value = 150, source = 'test value' }, lkw = { value "
               "= 800, source = 'test value' } } }");
  int64_t t = sk_utc(2025, 5, 5, 7, 0);
  kk_reading_t r[] = {{t, 1000, sk_ds("zs-b54", "count_pkw", "1"), 0},
                      {t, 50, sk_ds("zs-b54", "count_lkw", "1"), 0},
                      {t, 5, sk_ds("zs-b54", "count_bus", "1"), 0},
                      {t, 5, sk_ds("zs-xyz", "count_pkw", "1"), 0},
                      {t, -5, sk_ds("zs-b54", "count_pkw", "1"), 0},
                      {t, NAN, sk_ds("zs-b54", "count_pkw", "1"), 0},
                      {t, 3, sk_ds("zs-b54", "speed", "km/h"), 0}};
  sk_feed(st, r, 7, 0);
  KK_CHECK_INT(sk_ngot, ==, 2);
  KK_CHECK_DBL(sk_value(sk_ds("zs-b54", "co2e_pkw", "kg"), t), 270, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("zs-b54", "co2e_lkw", "kg"), t), 72, 1e-9);
  KK_CHECK_INT(sk_rejected(st, "unmapped"), ==, 2);
  KK_CHECK_INT(sk_rejected(st, "negative"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "nan"), ==, 1);
  int rc = 0;
  KK_CHECK(sk_stage_rc("calc.traffic",
                       "{ segments = { a = 1 }, factors = { pkw = "
                       "{ value = 150 } } }",
                       &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EMISSING);
}

/* The shipped sets, searched in order: traffic_de has pkw_diesel (KBA
 * 2023 consumption x UBA litre factor: 185.2 g), not lkw; desnz_2024 has
 * lkw (890.61 g).  The recipe's factor wins.  Before the sets' years
 * there is no factor: rejected, not zero. */
KK_TEST(traffic_factors_from_the_registry) {
  kk_stage_t *st =
      sk_stage("calc.traffic",
               "{ segments = { ['zs-b54'] = 2 }, factors = { bus = { value "
               "= 1000, source = 'Stadtwerke test' } } }");
  int64_t t = sk_utc(2025, 5, 5, 7, 0);
  kk_reading_t r[] = {{t, 100, sk_ds("zs-b54", "count_pkw_diesel", "1"), 0},
                      {t, 10, sk_ds("zs-b54", "count_lkw", "1"), 0},
                      {t, 3, sk_ds("zs-b54", "count_bus", "1"), 0},
                      {t, 1, sk_ds("zs-b54", "count_tram", "1"), 0}};
  sk_feed(st, r, 4, 0);
  KK_CHECK_INT(sk_ngot, ==, 3);
  KK_CHECK_DBL(sk_value(sk_ds("zs-b54", "co2e_pkw_diesel", "kg"), t),
               100 * 2 * 185.2 / 1000, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("zs-b54", "co2e_lkw", "kg"), t),
               10 * 2 * 890.61 / 1000, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("zs-b54", "co2e_bus", "kg"), t), 6, 1e-9);
  KK_CHECK_INT(sk_rejected(st, "unmapped"), ==, 1);
  kk_stage_t *old =
      sk_stage("calc.traffic", "{ segments = { a = 1 }, year = 2020 }");
  kk_reading_t o = {t, 100, sk_ds("a", "count_pkw_diesel", "1"), 0};
  sk_feed(old, &o, 1, 0);
  KK_CHECK_INT(sk_rejected(old, "unmapped"), ==, 1);
  int rc = 0;
  KK_CHECK(sk_stage_rc("calc.traffic",
                       "{ segments = { a = 1 }, sets = { 'hbefa' } }",
                       &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EUNKNOWN);
}

KK_TEST_MAIN(KK_CASE(outdoor_pm10_exceedance_days_2008),
             KK_CASE(traffic_factors_from_the_registry),
             KK_CASE(outdoor_coverage_rules),
             KK_CASE(outdoor_coverage_counts_slots_and_hours),
             KK_CASE(outdoor_late_slot_completes_the_hour_before),
             KK_CASE(outdoor_totals_independent_of_batching_and_order),
             KK_CASE(outdoor_2024_regime_and_no2_hours_and_year_mean),
             KK_CASE(traffic_counts_to_co2e))
