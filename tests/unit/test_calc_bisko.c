/* tests/unit/test_calc_bisko.c - calc.bisko (a multi-carrier,
 * multi-sector balance computed by hand), calc.target, calc.measures. */
#include "kk_test.h"

#include "calc/calc.h"
#include "../support/stage_kit.h"

static char csv_path[64];

static void write_csv(const char *text) {
  snprintf(csv_path, sizeof csv_path, "/tmp/kk_test_bisko_XXXXXX");
  int fd = mkstemp(csv_path);
  KK_CHECK(fd >= 0);
  KK_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
}

KK_TEST(bisko_balance_hand_computed) {
  write_csv("year,sector,carrier,kwh,quality,source\n"
            "2022,households,erdgas,1000000,C,\"Netzbetreiber, Absatz\"\n"
            "2022,households,heizoel,500000,D,Schornsteinfeger hochgerechnet\n"
            "2022,commerce,strom,2000000,B,Netzbetreiber\n"
            "2022,transport,diesel,3000000,D,TREMOD Kennzahlen\n"
            "2022,industry,erdgas,4000000,A,Betriebsabfrage\n");
  char opts[512];
  snprintf(opts, sizeof opts,
           "{ thing = 'musterstadt', statistics = '%s', sector = 'municipal',"
           " carriers = { rathaus = 'erdgas', schule = 'strom' } }",
           csv_path);
  kk_stage_t *st = sk_stage("calc.bisko", opts);
  unlink(csv_path);
  kk_reading_t r[] = {
      {sk_utc(2022, 3, 1, 0, 0), 60000, sk_ds("rathaus", "energy", "kW.h"), 0},
      {sk_utc(2022, 9, 1, 0, 0), 40000, sk_ds("rathaus", "energy", "kW.h"), 0},
      {sk_utc(2022, 6, 1, 0, 0), 50, sk_ds("schule", "energy", "MW.h"), 0},
      {sk_utc(2022, 6, 1, 0, 0), 21, sk_ds("schule", "temp", "Cel"), 0},
  };
  sk_feed(st, r, 2, 0);
  sk_feed(st, r + 2, 2, 0);
  int64_t y = sk_utc(2021, 12, 31, 23, 0); /* 2022-01-01 00:00 Berlin */
#define V(prop, unit) sk_value(sk_ds("musterstadt", prop, unit), y)
  /* households: 1 GWh gas x 247 g = 247 t; 0.5 GWh oil x 318 g = 159 t */
  KK_CHECK_DBL(V("co2e_households_erdgas", "t"), 247, 1e-9);
  KK_CHECK_DBL(V("co2e_households_heizoel", "t"), 159, 1e-9);
  KK_CHECK_DBL(V("co2e_households", "t"), 406, 1e-9);
  KK_CHECK_DBL(V("co2e_commerce", "t"), 1010, 1e-9); /* 2 GWh x 505 */
  KK_CHECK_DBL(V("co2e_industry", "t"), 988, 1e-9);  /* 4 GWh x 247 */
  KK_CHECK_DBL(V("co2e_transport", "t"), 993, 1e-9); /* 3 GWh x 331 */
  /* municipal, metered: 100 MWh gas = 24.7 t; 50 MWh power = 25.25 t */
  KK_CHECK_DBL(V("co2e_municipal_erdgas", "t"), 24.7, 1e-9);
  KK_CHECK_DBL(V("co2e_municipal_strom", "t"), 25.25, 1e-9);
  KK_CHECK_DBL(V("co2e_municipal", "t"), 49.95, 1e-9);
  KK_CHECK_DBL(V("co2e_total", "t"), 3446.95, 1e-9);
  KK_CHECK_DBL(V("energy_total", "kW.h"), 10650000, 1e-6);
  /* quality: (1 GWh x 0.25 + 2 GWh x 0.5 + 4 GWh x 1 + 0.15 GWh x 1) /
   * 10.65 GWh */
  KK_CHECK_DBL(V("data_quality", "1"), 5.4 / 10.65, 1e-12);
  /* 2023: gas has a factor, BISKO power has none: counted, not zero. */
  kk_reading_t r2[] = {
      {sk_utc(2023, 3, 1, 0, 0), 10000, sk_ds("rathaus", "energy", "kW.h"), 0},
      {sk_utc(2023, 3, 1, 0, 0), 10000, sk_ds("schule", "energy", "kW.h"), 0},
      {sk_utc(2023, 3, 2, 0, 0), 10, sk_ds("unbekannt", "energy", "kW.h"), 0},
      {sk_utc(2023, 3, 2, 0, 0), -10, sk_ds("rathaus", "energy", "kW.h"), 0},
  };
  sk_feed(st, r2, 4, 0);
  int64_t y23 = sk_utc(2022, 12, 31, 23, 0);
  KK_CHECK_DBL(sk_value(sk_ds("musterstadt", "co2e_total", "t"), y23), 2.47,
               1e-9);
  KK_CHECK_INT(sk_rejected(st, "no_factor"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "negative"), ==, 1);
  /* "unbekannt" has the default sector but no carrier. */
  KK_CHECK_INT(sk_rejected(st, "unmapped"), ==, 1);
#undef V
}

KK_TEST(bisko_bad_statistics_fail_at_create) {
  int rc = 0;
  char opts[256];
  write_csv("year,sector,carrier,kwh,quality\n2022,households,kryptonit,5,A\n");
  snprintf(opts, sizeof opts, "{ statistics = '%s' }", csv_path);
  KK_CHECK(sk_stage_rc("calc.bisko", opts, &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EUNKNOWN);
  KK_CHECK(strstr(sk_err, ":2: unknown carrier 'kryptonit'") != NULL);
  unlink(csv_path);
  write_csv("2022,haushalte,erdgas,5,A\n");
  snprintf(opts, sizeof opts, "{ statistics = '%s' }", csv_path);
  KK_CHECK(sk_stage_rc("calc.bisko", opts, &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EPARSE);
  unlink(csv_path);
  write_csv("2022,households,erdgas,5,E\n");
  snprintf(opts, sizeof opts, "{ statistics = '%s' }", csv_path);
  KK_CHECK(sk_stage_rc("calc.bisko", opts, &rc) == NULL);
  unlink(csv_path);
  write_csv("2024,households,strom,5,A\n"); /* no BISKO power factor */
  snprintf(opts, sizeof opts, "{ statistics = '%s' }", csv_path);
  KK_CHECK(sk_stage_rc("calc.bisko", opts, &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_ERANGE);
  unlink(csv_path);
}

/* ---- calc.target ------------------------------------------------------- */

KK_TEST(target_linear_path_budget_on_track) {
  kk_stage_t *st = sk_stage(
      "calc.target", "{ base_year = 2020, base = 1000, target_year = 2030, "
                     "target = 0, budget = 6000 }");
  uint32_t tot = sk_ds("stadt", "co2e_total", "t");
  int64_t y20 = calc_year_start(CALC_TZ_BERLIN, 2020);
  int64_t y21 = calc_year_start(CALC_TZ_BERLIN, 2021);
  int64_t y25 = calc_year_start(CALC_TZ_BERLIN, 2025);
  sk_feed1(st, y20, 1000, tot);
  sk_feed1(st, y21, 950, tot);
  sk_feed1(st, y25, 450, tot);
#define T(prop, unit, t) sk_value(sk_ds("stadt", prop, unit), t)
  KK_CHECK_DBL(T("target_path", "t", y21), 900, 1e-9);
  KK_CHECK_DBL(T("target_gap", "t", y21), 50, 1e-9);
  KK_CHECK_DBL(T("on_track", "1", y21), 0, 0);
  KK_CHECK_DBL(T("target_path", "t", y25), 500, 1e-9);
  KK_CHECK_DBL(T("target_gap", "t", y25), -50, 1e-9);
  KK_CHECK_DBL(T("on_track", "1", y25), 1, 0);
  KK_CHECK_DBL(T("remaining_budget", "t", y20), 5000, 1e-9);
  /* 2022-2024 count linearly between 950 and 450: 825, 700, 575. */
  KK_CHECK_DBL(T("remaining_budget", "t", y25), 6000 - 4500, 1e-9);
  /* A corrected 2021 total replaces the first one. */
  sk_feed1(st, y21, 900, tot);
  KK_CHECK_DBL(T("on_track", "1", y21), 1, 0);
  sk_feed1(st, y25, 450, tot);
  /* 1000 + 900 + 787.5 + 675 + 562.5 + 450 */
  KK_CHECK_DBL(T("remaining_budget", "t", y25), 6000 - 4375, 1e-9);
}

KK_TEST(target_points_path) {
  kk_stage_t *st = sk_stage(
      "calc.target",
      "{ base_year = 2020, base = 1000, target_year = 2045, "
      "path = 'points', points = { ['2025'] = 600, ['2030'] = 300 } }");
  uint32_t tot = sk_ds("stadt2", "co2e_total", "t");
  int64_t y23 = calc_year_start(CALC_TZ_BERLIN, 2023);
  int64_t y35 = calc_year_start(CALC_TZ_BERLIN, 2035);
  int64_t y50 = calc_year_start(CALC_TZ_BERLIN, 2050);
  sk_feed1(st, y23, 700, tot);
  sk_feed1(st, y35, 250, tot);
  sk_feed1(st, y50, 0, tot);
  KK_CHECK_DBL(sk_value(sk_ds("stadt2", "target_path", "t"), y23), 760, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("stadt2", "target_path", "t"), y35), 200, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("stadt2", "target_path", "t"), y50), 0, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("stadt2", "on_track", "1"), y23), 1, 0);
  KK_CHECK_DBL(sk_value(sk_ds("stadt2", "on_track", "1"), y35), 0, 0);
  int rc = 0;
  KK_CHECK(sk_stage_rc("calc.target",
                       "{ base_year = 2030, base = 1, target_year "
                       "= 2020 }",
                       &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EINVAL);
}

/* ---- calc.measures ------------------------------------------------------- */

KK_TEST(measures_impact_baseline_minus_actual) {
  kk_stage_t *st = sk_stage(
      "calc.measures", "{ measures = { { name = 'led-schulen', sector = "
                       "'municipal', start = '2023-01-01', expected = 50, "
                       "indicators = { 'schule-1/energy', 'schule-2/energy' }, "
                       "baseline = { from = 2021, to = 2022 } } } }");
  uint32_t s1 = sk_ds("schule-1", "energy", "MW.h");
  uint32_t s2 = sk_ds("schule-2", "energy", "MW.h");
  uint32_t other = sk_ds("schule-3", "energy", "MW.h");
  kk_reading_t r[] = {
      {sk_utc(2021, 2, 1, 0, 0), 100, s1, 0},
      {sk_utc(2021, 8, 1, 0, 0), 100, s2, 0},
      {sk_utc(2022, 2, 1, 0, 0), 180, s1, 0},
      {sk_utc(2023, 2, 1, 0, 0), 150, s1, 0},
      {sk_utc(2024, 2, 1, 0, 0), 100, s1, 0},
      {sk_utc(2024, 3, 1, 0, 0), 20, s2, 0},
      {sk_utc(2024, 3, 1, 0, 0), 999, other, 0},
  };
  sk_feed(st, r, 7, 0);
  uint32_t imp = sk_ds("measure/led-schulen", "impact", "MW.h");
  int64_t y23 = calc_year_start(CALC_TZ_BERLIN, 2023);
  int64_t y24 = calc_year_start(CALC_TZ_BERLIN, 2024);
  KK_CHECK_DBL(sk_value(imp, y23), 40, 1e-9); /* (200 + 180) / 2 - 150 */
  KK_CHECK_DBL(sk_value(imp, y24), 70, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("measure/led-schulen", "baseline", "MW.h"), y24),
               190, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("measure/led-schulen", "expected", "MW.h"), y24),
               50, 0);
  KK_CHECK(isnan(sk_value(imp, calc_year_start(CALC_TZ_BERLIN, 2022))));
  int rc = 0;
  /* Indicators without baseline years cannot be compared. */
  KK_CHECK(sk_stage_rc("calc.measures",
                       "{ measures = { { name = 'x', indicators = { 'a/b' } } "
                       "} }",
                       &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EINVAL);
}

KK_TEST_MAIN(KK_CASE(bisko_balance_hand_computed),
             KK_CASE(bisko_bad_statistics_fail_at_create),
             KK_CASE(target_linear_path_budget_on_track),
             KK_CASE(target_points_path),
             KK_CASE(measures_impact_baseline_minus_actual))
