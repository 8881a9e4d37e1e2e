/* tests/unit/test_calc_climate.c - what the council's balance must not get
 * wrong (a partial year is labelled and never "on track", the path reaches
 * the target year, per capita, carriers, a stated extrapolation), the
 * weather correction with G20/15 degree days and the heat and cold days
 * across a leap year and the summer-time switches, each with values
 * computed by hand, and the property that batching and order do not
 * change the results. */
#include "kk_test.h"

#include "calc/calc.h"
#include "../support/stage_kit.h"

static char csv_path[64];

static void write_csv(const char *text) {
  snprintf(csv_path, sizeof csv_path, "/tmp/kk_test_climate_XXXXXX");
  int fd = mkstemp(csv_path);
  KK_CHECK(fd >= 0);
  KK_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
}

/* Copies what was collected (the output of one stage) to feed the next. */
static kk_reading_t *take(size_t *n) {
  kk_reading_t *r = malloc((sk_ngot + 1) * sizeof *r);
  KK_CHECK(r != NULL);
  memcpy(r, sk_got, sk_ngot * sizeof *r);
  *n = sk_ngot;
  sk_ngot = 0;
  return r;
}

#define Y(y) calc_year_start(CALC_TZ_BERLIN, y)
#define V(thing, prop, unit, t) sk_value(sk_ds(thing, prop, unit), t)

/* ---- the balance and its path ------------------------------------------- */

KK_TEST(partial_year_is_labelled_and_never_on_track) {
  write_csv("year,sector,carrier,kwh,quality\n"
            "2021,households,erdgas,400000000,C\n"
            "2021,commerce,erdgas,200000000,C\n"
            "2021,industry,erdgas,300000000,B\n"
            "2021,municipal,erdgas,40000000,A\n"
            "2021,transport,diesel,500000000,D\n");
  char opts[512];
  snprintf(opts, sizeof opts,
           "{ thing = 'stadt', statistics = '%s', sector = 'municipal', "
           "carrier = 'erdgas', population = { ['2021'] = 100000 } }",
           csv_path);
  kk_stage_t *b = sk_stage("calc.bisko", opts);
  unlink(csv_path);
  kk_stage_t *t = sk_stage("calc.target",
                           "{ base_year = 2021, base = 454550, target_year = "
                           "2040, path = 'points', points = { ['2030'] = "
                           "200000 }, budget = 5000000 }");
  /* 2025: one school's gas only, 53 MWh = 13.091 t: a sixth of a sector. */
  kk_reading_t r[] = {
      {sk_utc(2025, 2, 1, 0, 0), 53000, sk_ds("schule", "energy", "kW.h"), 0},
  };
  sk_feed(b, r, 1, 0);
  KK_CHECK_DBL(V("stadt", "co2e_total", "t", Y(2025)), 13.091, 1e-9);
  KK_CHECK_DBL(V("stadt", "balance_status", "1", Y(2025)), 2, 0);
  KK_CHECK_DBL(V("stadt", "sectors_covered", "1", Y(2025)), 1, 0);
  /* 2021: 0.94 TWh gas x 247 + 0.5 TWh diesel x 331 = 232180 + 165500 t. */
  KK_CHECK_DBL(V("stadt", "co2e_total", "t", Y(2021)), 397680, 1e-6);
  KK_CHECK_DBL(V("stadt", "balance_status", "1", Y(2021)), 0, 0);
  KK_CHECK_DBL(V("stadt", "co2e_per_capita", "t", Y(2021)), 3.9768, 1e-9);
  KK_CHECK_DBL(V("stadt", "co2e_carrier_erdgas", "t", Y(2021)), 232180, 1e-6);
  KK_CHECK_DBL(V("stadt", "energy_carrier_diesel", "kW.h", Y(2021)), 5e8, 1e-3);
  /* Quality: (0.4 x 0.25 + 0.2 x 0.25 + 0.3 x 0.5 + 0.04 x 1) / 1.44 */
  KK_CHECK_DBL(V("stadt", "data_quality", "1", Y(2021)), 0.34 / 1.44, 1e-12);
  KK_CHECK(isnan(V("stadt", "co2e_per_capita", "t", Y(2025))));
  size_t n;
  kk_reading_t *in = take(&n);
  sk_feed(t, in, n, 0);
  free(in);
  /* 13.1 t is far below the path, and still not "on track". */
  KK_CHECK(isnan(V("stadt", "on_track", "1", Y(2025))));
  /* Nor does the fragment get a change or count against the budget. */
  KK_CHECK(isnan(V("stadt", "change_vs_base", "%", Y(2025))));
  KK_CHECK(isnan(V("stadt", "remaining_budget", "t", Y(2025))));
  KK_CHECK_DBL(V("stadt", "remaining_budget", "t", Y(2021)), 5e6 - 397680,
               1e-6);
  KK_CHECK_DBL(V("stadt", "on_track", "1", Y(2021)), 1, 0);
  KK_CHECK_DBL(V("stadt", "change_vs_base", "%", Y(2021)),
               (397680.0 - 454550) / 454550 * 100, 1e-9);
  /* The path reaches the target year, through the interim target. */
  KK_CHECK_DBL(V("stadt", "target_path", "t", Y(2040)), 0, 0);
  KK_CHECK_DBL(V("stadt", "target_path", "t", Y(2035)), 100000, 1e-9);
  KK_CHECK_DBL(V("stadt", "target_path", "t", Y(2025)),
               454550 - (454550 - 200000) * 4 / 9.0, 1e-9);
  KK_CHECK_DBL(V("stadt", "target_milestone", "t", Y(2030)), 200000, 0);
  KK_CHECK_DBL(V("stadt", "target_milestone", "t", Y(2040)), 0, 0);
  KK_CHECK_INT(sk_count(sk_ds("stadt", "target_path", "t")), ==, 20);
}

KK_TEST(provisional_year_judged_only_by_its_extrapolation) {
  write_csv("year,sector,carrier,kwh,quality\n"
            "2023,households,erdgas,1000000,C\n"
            "2023,commerce,erdgas,1000000,C\n"
            "2023,industry,erdgas,1000000,C\n"
            "2023,transport,diesel,1000000,D\n");
  char opts[512];
  snprintf(opts, sizeof opts,
           "{ thing = 'stadt', statistics = '%s', sector = 'municipal', "
           "carrier = 'erdgas', extrapolate = 'elapsed' }",
           csv_path);
  kk_stage_t *b = sk_stage("calc.bisko", opts);
  unlink(csv_path);
  kk_stage_t *t = sk_stage(
      "calc.target", "{ base_year = 2020, base = 2000, target_year = 2040 }");
  /* Metered up to exactly half of 2023 (182.5 days after local New
   * Year): 100 MWh = 24.7 t, extrapolated to 49.4 t. */
  int64_t half = Y(2023) + 365 * KK_DAY_MS / 2;
  kk_reading_t r[] = {
      {sk_utc(2023, 1, 15, 0, 0), 50000, sk_ds("rathaus", "energy", "kW.h"), 0},
      {half, 50000, sk_ds("rathaus", "energy", "kW.h"), 0},
  };
  sk_feed(b, r, 2, 0);
  double stats = 3 * 247 + 331; /* t */
  KK_CHECK_DBL(V("stadt", "balance_status", "1", Y(2023)), 1, 0);
  KK_CHECK_DBL(V("stadt", "co2e_total", "t", Y(2023)), stats + 24.7, 1e-9);
  KK_CHECK_DBL(V("stadt", "co2e_total_extrapolated", "t", Y(2023)),
               stats + 49.4, 1e-9);
  size_t n;
  kk_reading_t *in = take(&n);
  sk_feed(t, in, n, 0);
  free(in);
  /* Path 2023: 2000 - 2000 x 3/20 = 1700; 1121.4 is below it. */
  KK_CHECK_DBL(V("stadt", "on_track", "1", Y(2023)), 1, 0);
  KK_CHECK_DBL(V("stadt", "on_track_extrapolated", "1", Y(2023)), 1, 0);
  /* Without the extrapolation the provisional year is not judged. */
  snprintf(opts, sizeof opts,
           "{ thing = 'stadt2', sector = 'municipal', carrier = 'erdgas', "
           "require = { 'municipal' } }");
  b = sk_stage("calc.bisko", opts);
  t = sk_stage("calc.target",
               "{ base_year = 2020, base = 2000, target_year = 2040 }");
  sk_feed(b, r, 2, 0);
  KK_CHECK_DBL(V("stadt2", "balance_status", "1", Y(2023)), 1, 0);
  KK_CHECK(isnan(V("stadt2", "co2e_total_extrapolated", "t", Y(2023))));
  in = take(&n);
  sk_feed(t, in, n, 0);
  free(in);
  KK_CHECK(isnan(V("stadt2", "on_track", "1", Y(2023))));
  /* A reading in 2024 ends 2023 in the data: final now, and judged. */
  kk_reading_t late = {sk_utc(2024, 1, 10, 0, 0), 1000,
                       sk_ds("rathaus", "energy", "kW.h"), 0};
  sk_feed(b, &late, 1, 0);
  KK_CHECK_DBL(V("stadt2", "balance_status", "1", Y(2023)), 0, 0);
  in = take(&n);
  sk_feed(t, in, n, 0);
  free(in);
  KK_CHECK_DBL(V("stadt2", "on_track", "1", Y(2023)), 1, 0);
  KK_CHECK_DBL(V("stadt2", "on_track_extrapolated", "1", Y(2023)), 0, 0);
}

/* The balance does not depend on how readings are batched or ordered. */
KK_TEST(bisko_batch_order_property) {
  static kk_reading_t r[600];
  const char *things[3] = {"rathaus", "schule", "bad"};
  size_t n = 0;
  for (int m = 0; m < 12; m++)
    for (int d = 1; d <= 28; d += 2)
      for (int k = 0; k < 3 && n < 600; k++)
        r[n++] = (kk_reading_t){sk_utc(2023, m + 1, d, 6 + k, 0),
                                100.0 * (k + 1) + m + d,
                                sk_ds(things[k], "energy", "kW.h"), 0};
  double want = NAN, wantq = NAN;
  unsigned seed = 3;
  for (int round = 0; round < 4; round++) {
    kk_stage_t *st = sk_stage(
        "calc.bisko", "{ thing = 'ort', sector = 'municipal', carrier = "
                      "'erdgas', require = { 'municipal' } }");
    for (size_t i = n - 1; round && i > 0; i--) {
      size_t j = (seed = seed * 1103515245u + 12345u) % (i + 1);
      kk_reading_t x = r[i];
      r[i] = r[j];
      r[j] = x;
    }
    for (size_t i = 0; i < n;) {
      size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 40;
      if (i + k > n) k = n - i;
      sk_feed(st, r + i, k, 0);
      i += k;
    }
    double t = V("ort", "co2e_total", "t", Y(2023)),
           q = V("ort", "data_quality", "1", Y(2023));
    if (round == 0) {
      want = t;
      wantq = q;
    }
    KK_CHECK_DBL(t, want, 1e-9);
    KK_CHECK_DBL(q, wantq, 0);
  }
  double kwh = 0;
  for (size_t i = 0; i < n; i++)
    kwh += r[i].value;
  KK_CHECK_DBL(want, kwh * 247 / 1e6, 1e-9);
}

/* ---- degree days ----------------------------------------------------------
 */

/* Daily means of 2023: 5 °C from January to April and October to
 * December (212 days x 15 K = 3180 K.d), 18 °C from May to September (not
 * a heating day). */
static size_t year_2023(kk_reading_t *r, uint32_t ds) {
  size_t n = 0;
  for (int64_t d = kk_days_from_civil(2023, 1, 1);
       d < kk_days_from_civil(2024, 1, 1); d++) {
    int64_t y;
    unsigned m, dd;
    kk_civil_from_days(d, &y, &m, &dd);
    r[n++] = (kk_reading_t){d * KK_DAY_MS, m >= 5 && m <= 9 ? 18 : 5, ds, 0};
  }
  return n;
}

KK_TEST(degree_days_correction_hand_computed) {
  kk_stage_t *st = sk_stage(
      "calc.degree_days",
      "{ long_term = 3498, correct = { 'co2e_households' }, heating_share = "
      "0.5 }");
  uint32_t tm = sk_ds("dwd-1766", "air_temperature_mean", "Cel");
  kk_reading_t r[366];
  size_t n = year_2023(r, tm);
  uint32_t hh = sk_ds("stadt", "co2e_households", "t");
  /* The value to correct comes first: it waits for its year. */
  sk_feed1(st, Y(2023), 10000, hh);
  KK_CHECK(
      isnan(V("stadt", "co2e_households_weather_corrected", "t", Y(2023))));
  sk_feed(st, r, 200, 0);
  KK_CHECK(isnan(V("dwd-1766", "climate_factor_year", "1", Y(2023))));
  sk_feed(st, r + 200, n - 200, 0);
  KK_CHECK_DBL(V("dwd-1766", "degree_days_year", "K.d", Y(2023)), 3180, 1e-9);
  KK_CHECK_DBL(V("dwd-1766", "heating_days_year", "d", Y(2023)), 212, 0);
  KK_CHECK_DBL(V("dwd-1766", "degree_days_month", "K.d",
                 calc_local_to_utc(CALC_TZ_BERLIN,
                                   kk_days_from_civil(2023, 2, 1) * KK_DAY_MS)),
               420, 1e-9);
  /* f = 3498 / 3180 = 1.1; 10000 t x (0.5 + 0.5 x 1.1) = 10500 t. */
  KK_CHECK_DBL(V("dwd-1766", "climate_factor_year", "1", Y(2023)), 1.1, 1e-12);
  KK_CHECK_DBL(V("stadt", "co2e_households_weather_corrected", "t", Y(2023)),
               10500, 1e-6);
  /* The original is left as it is. */
  KK_CHECK_INT(sk_count(hh), ==, 0);
  /* The DWD's monthly value for February (500 K.d) wins over the daily
   * means (420): G = 3260, f = 3498 / 3260. */
  sk_feed1(st, sk_utc(2023, 2, 1, 0, 0), 500,
           sk_ds("dwd-1766", "heating_degree_days", "K.d"));
  KK_CHECK_DBL(V("dwd-1766", "degree_days_year", "K.d", Y(2023)), 3260, 1e-9);
  /* Another station of the same DWD file does not count. */
  sk_feed1(st, sk_utc(2023, 3, 1, 0, 0), 9999,
           sk_ds("dwd-44", "heating_degree_days", "K.d"));
  KK_CHECK(isnan(V("dwd-44", "degree_days_year", "K.d", Y(2023))));
  KK_CHECK_DBL(V("dwd-1766", "degree_days_year", "K.d", Y(2023)), 3260, 1e-9);
  KK_CHECK_DBL(V("stadt", "co2e_households_weather_corrected", "t", Y(2023)),
               10000 * (0.5 + 0.5 * 3498 / 3260.0), 1e-6);
  /* An incomplete year has no factor and no corrected value. */
  sk_feed1(st, sk_utc(2024, 1, 1, 0, 0), 2, tm);
  sk_feed1(st, Y(2024), 9000, hh);
  KK_CHECK(isnan(V("dwd-1766", "climate_factor_year", "1", Y(2024))));
  KK_CHECK(
      isnan(V("stadt", "co2e_households_weather_corrected", "t", Y(2024))));
  KK_CHECK_DBL(V("dwd-1766", "degree_days_complete_year", "1", Y(2024)), 0, 0);
}

KK_TEST(degree_days_monthly_correction) {
  kk_stage_t *st = sk_stage(
      "calc.degree_days",
      "{ period = 'month', correct = { 'heat' }, heating_share = 0.6, "
      "long_term_months = { 400, 350, 300, 200, 100, 20, 0, 0, 60, 180, 300, "
      "380 } }");
  uint32_t tm = sk_ds("dwd-1766", "air_temperature_mean", "Cel");
  /* January 2024: 16 days at 0 °C (320 K.d), 15 at 15 °C (no heating
   * day: the limit is "below 15"). */
  kk_reading_t r[31];
  for (int d = 0; d < 31; d++)
    r[d] = (kk_reading_t){sk_utc(2024, 1, d + 1, 0, 0), d < 16 ? 0 : 15, tm, 0};
  sk_feed(st, r, 31, 0);
  int64_t jan = Y(2024);
  KK_CHECK_DBL(V("dwd-1766", "degree_days_month", "K.d", jan), 320, 1e-9);
  KK_CHECK_DBL(V("dwd-1766", "heating_days_month", "d", jan), 16, 0);
  KK_CHECK_DBL(V("dwd-1766", "climate_factor_month", "1", jan), 1.25, 1e-12);
  /* 1000 kWh x (0.4 + 0.6 x 1.25) = 1150 kWh. */
  sk_feed1(st, jan, 1000, sk_ds("schule-a", "heat", "kW.h"));
  KK_CHECK_DBL(V("schule-a", "heat_weather_corrected", "kW.h", jan), 1150,
               1e-9);
  /* A cumulative heat meter: the January consumption is the sum of the
   * differences (the first count is the baseline), 1000 kWh, corrected to
   * 1150 kWh; a replayed older count is rejected, not added. */
  st = sk_stage("calc.degree_days",
                "{ period = 'month', meter = 'cumulative', correct = { 'heat' "
                "}, heating_share = 0.6, long_term_months = { 400, 350, 300, "
                "200, 100, 20, 0, 0, 60, 180, 300, 380 } }");
  sk_feed(st, r, 31, 0);
  uint32_t hm = sk_ds("schule-b", "heat", "kW.h");
  kk_reading_t c[] = {{sk_utc(2024, 1, 2, 6, 0), 1000, hm, 0},
                      {sk_utc(2024, 1, 20, 6, 0), 1500, hm, 0},
                      {sk_utc(2024, 1, 31, 12, 0), 2000, hm, 0}};
  sk_feed(st, c, 3, 0);
  sk_feed(st, c + 1, 1, 0);
  KK_CHECK_DBL(V("schule-b", "heat_consumption_month", "kW.h", jan), 1000,
               1e-9);
  KK_CHECK_DBL(
      V("schule-b", "heat_consumption_month_weather_corrected", "kW.h", jan),
      1150, 1e-9);
  KK_CHECK_INT(sk_rejected(st, "out_of_order"), ==, 1);
}

/* Batch boundaries and order do not change the results. */
KK_TEST(degree_days_batch_order_property) {
  uint32_t tm = sk_ds("dwd-1766", "air_temperature_mean", "Cel");
  kk_reading_t r[366];
  size_t n = year_2023(r, tm);
  double want = NAN;
  unsigned seed = 7;
  for (int round = 0; round < 5; round++) {
    kk_stage_t *st = sk_stage("calc.degree_days", "{ long_term = 3000 }");
    /* A different order and batching each round. */
    for (size_t i = n - 1; round && i > 0; i--) {
      size_t j = (seed = seed * 1103515245u + 12345u) % (i + 1);
      kk_reading_t x = r[i];
      r[i] = r[j];
      r[j] = x;
    }
    for (size_t i = 0; i < n;) {
      size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 50;
      if (i + k > n) k = n - i;
      sk_feed(st, r + i, k, 0);
      i += k;
    }
    double f = V("dwd-1766", "climate_factor_year", "1", Y(2023));
    if (round == 0) want = f;
    KK_CHECK_DBL(f, want, 1e-12);
    KK_CHECK_DBL(f, 3000 / 3180.0, 1e-12);
  }
}

/* ---- heat and cold days ---------------------------------------------------
 */

static int64_t local_month(int y, int m) {
  return calc_local_to_utc(CALC_TZ_BERLIN,
                           kk_days_from_civil(y, (unsigned)m, 1) * KK_DAY_MS);
}

KK_TEST(heat_days_leap_year_and_dst_from_sensor_readings) {
  kk_stage_t *st =
      sk_stage("calc.heat_days", "{ input = 'readings', min_readings = 1 }");
  uint32_t t = sk_ds("marktplatz", "air_temperature", "Cel");
  kk_reading_t r[] = {
      /* 29 February 2024 (leap day): -5 and -2: a frost and an ice day. */
      {sk_utc(2024, 2, 29, 6, 0), -5, t, 0},
      {sk_utc(2024, 2, 29, 13, 0), -2, t, 0},
      /* 23:30 UTC on 29 February is 00:30 on 1 March in Berlin (CET). */
      {sk_utc(2024, 2, 29, 23, 30), -1, t, 0},
      {sk_utc(2024, 3, 1, 12, 0), 4, t, 0},
      /* 31 March 2024, the 23-hour day: 00:30 CET and 23:30 CEST. */
      {sk_utc(2024, 3, 30, 23, 30), 1, t, 0},
      {sk_utc(2024, 3, 31, 21, 30), 26, t, 0},
      /* 22:30 UTC on 30 June is 00:30 on 1 July (CEST): a tropical night
       * and a hot day in July, nothing in June. */
      {sk_utc(2024, 6, 30, 22, 30), 21, t, 0},
      {sk_utc(2024, 7, 1, 12, 0), 31, t, 0},
      /* 27 October 2024, the 25-hour day: 00:30 CEST and 23:30 CET. */
      {sk_utc(2024, 10, 26, 22, 30), 22, t, 0},
      {sk_utc(2024, 10, 27, 22, 30), 25, t, 0},
  };
  sk_feed(st, r, sizeof r / sizeof *r, 0);
#define M(prop, y, m) V("marktplatz", prop, "d", local_month(y, m))
  KK_CHECK_DBL(M("frost_days_month", 2024, 2), 1, 0);
  KK_CHECK_DBL(M("ice_days_month", 2024, 2), 1, 0);
  KK_CHECK_DBL(M("frost_days_month", 2024, 3), 1, 0);  /* 1 March */
  KK_CHECK_DBL(M("ice_days_month", 2024, 3), 0, 0);    /* max 4 °C */
  KK_CHECK_DBL(M("summer_days_month", 2024, 3), 1, 0); /* 31 March */
  KK_CHECK(isnan(M("tropical_nights_month", 2024, 6)));
  KK_CHECK(isnan(M("summer_days_month", 2024, 6)));
  KK_CHECK_DBL(M("tropical_nights_month", 2024, 7), 1, 0);
  KK_CHECK_DBL(M("hot_days_month", 2024, 7), 1, 0);
  KK_CHECK_DBL(M("summer_days_month", 2024, 7), 1, 0);
  /* 27 October: min 22, max 25: one day, a summer day and one tropical
   * night (in UTC two days and two tropical nights). */
  KK_CHECK_DBL(M("summer_days_month", 2024, 10), 1, 0);
  KK_CHECK_DBL(M("tropical_nights_month", 2024, 10), 1, 0);
#undef M
  int64_t y = Y(2024);
  KK_CHECK_DBL(V("marktplatz", "frost_days_year", "d", y), 2, 0);
  KK_CHECK_DBL(V("marktplatz", "summer_days_year", "d", y), 3, 0);
  KK_CHECK_DBL(V("marktplatz", "ice_days_year", "d", y), 1, 0);
  KK_CHECK_DBL(V("marktplatz", "heat_days_coverage_year", "1", y), 5 / 366.0,
               1e-12);
  /* Too few days for a long-term mean. */
  KK_CHECK(isnan(V("marktplatz", "hot_days_longterm_year", "d", y)));
}

/* Two full years of DWD daily values (5 and 9 hot days) and a January:
 * the long-term mean is 7, over the covered years only. */
static size_t dwd_years(kk_reading_t *r) {
  uint32_t lo = sk_ds("dwd-3404", "air_temperature_min", "Cel"),
           hi = sk_ds("dwd-3404", "air_temperature_max", "Cel");
  size_t n = 0;
  for (int64_t d = kk_days_from_civil(2022, 1, 1);
       d < kk_days_from_civil(2024, 2, 1); d++) {
    int64_t y;
    unsigned m, dd;
    kk_civil_from_days(d, &y, &m, &dd);
    int hot = m == 7 && (int)dd <= (y == 2022 ? 5 : 9);
    r[n++] = (kk_reading_t){d * KK_DAY_MS, 10, lo, 0};
    r[n++] = (kk_reading_t){d * KK_DAY_MS, hot ? 31 : 20, hi, 0};
  }
  return n;
}

KK_TEST(heat_days_dwd_daily_longterm_and_order) {
  static kk_reading_t r[2 * 800];
  size_t n = dwd_years(r);
  unsigned seed = 11;
  for (int round = 0; round < 4; round++) {
    kk_stage_t *st = sk_stage("calc.heat_days", "{}");
    for (size_t i = n - 1; round && i > 0; i--) {
      size_t j = (seed = seed * 1103515245u + 12345u) % (i + 1);
      kk_reading_t x = r[i];
      r[i] = r[j];
      r[j] = x;
    }
    for (size_t i = 0; i < n;) {
      size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 97;
      if (i + k > n) k = n - i;
      sk_feed(st, r + i, k, 0);
      i += k;
    }
    KK_CHECK_DBL(V("dwd-3404", "hot_days_year", "d", Y(2022)), 5, 0);
    KK_CHECK_DBL(V("dwd-3404", "hot_days_year", "d", Y(2023)), 9, 0);
    KK_CHECK_DBL(V("dwd-3404", "summer_days_year", "d", Y(2023)), 9, 0);
    KK_CHECK_DBL(V("dwd-3404", "hot_days_longterm_year", "d", Y(2023)), 7, 0);
    KK_CHECK_DBL(V("dwd-3404", "hot_days_longterm_year", "d", Y(2024)), 7, 0);
    KK_CHECK_DBL(
        V("dwd-3404", "hot_days_longterm_month", "d", local_month(2023, 7)), 7,
        0);
    KK_CHECK_DBL(V("dwd-3404", "heat_days_coverage_year", "1", Y(2024)),
                 31 / 366.0, 1e-12);
  }
}

/* State survives a restart: a snapshot, then more days. */
KK_TEST(heat_days_snapshot_restart) {
  char dir[] = "/tmp/kk-heat-XXXXXX";
  KK_CHECK(mkdtemp(dir) != NULL);
  const char *opts = "{ name = 'hitze', input = 'readings', min_readings = 1, "
                     "snapshot = '0s' }";
  uint32_t t = sk_ds("park", "air_temperature", "Cel");
  char err[512];
  kk_testing_t *a = NULL;
  KK_CHECK_INT(kk_testing_new(sk_module("calc.heat_days"), opts, dir, &a, err,
                              sizeof err),
               ==, 0);
  KK_CHECK_INT(kk_testing_start(a), ==, 0);
  kk_batch_t *b = kk_batch_new(2);
  kk_reading_t r1 = {sk_utc(2025, 7, 2, 4, 0), 21, t, 0},
               r2 = {sk_utc(2025, 7, 3, 4, 0), 22, t, 0};
  kk_batch_push(b, &r1);
  kk_batch_set_seq(b, 10);
  KK_CHECK_INT(kk_testing_feed(a, b, NULL), >=, 0);
  kk_batch_unref(b);
  kk_testing_stop(a);
  KK_CHECK_INT(kk_testing_free(a, NULL, 0), ==, 0);
  kk_testing_t *c = NULL;
  KK_CHECK_INT(kk_testing_new(sk_module("calc.heat_days"), opts, dir, &c, err,
                              sizeof err),
               ==, 0);
  KK_CHECK_INT(kk_testing_start(c), ==, 0);
  b = kk_batch_new(2);
  kk_batch_push(b, &r2);
  kk_batch_set_seq(b, 11);
  KK_CHECK_INT(kk_testing_feed(c, b, NULL), >=, 0);
  kk_batch_unref(b);
  double v = NAN;
  uint32_t want = sk_ds("park", "tropical_nights_year", "d");
  for (size_t i = 0; i < kk_testing_count(c); i++)
    if (kk_testing_readings(c)[i].ds == want)
      v = kk_testing_readings(c)[i].value;
  KK_CHECK_DBL(v, 2, 0);
  KK_CHECK_INT(kk_testing_free(c, NULL, 0), ==, 0);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  KK_CHECK_INT(system(cmd), ==, 0);
}

KK_TEST_MAIN(KK_CASE(partial_year_is_labelled_and_never_on_track),
             KK_CASE(bisko_batch_order_property),
             KK_CASE(provisional_year_judged_only_by_its_extrapolation),
             KK_CASE(degree_days_correction_hand_computed),
             KK_CASE(degree_days_monthly_correction),
             KK_CASE(degree_days_batch_order_property),
             KK_CASE(heat_days_leap_year_and_dst_from_sensor_readings),
             KK_CASE(heat_days_dwd_daily_longterm_and_order),
             KK_CASE(heat_days_snapshot_restart))
