/* tests/unit/test_calc_air.c - calc.outdoor_air (daily means and
 * exceedance days against both EU regimes) and calc.traffic. */
#include "kk_test.h"

#include "../../modules/calc/calc.h"
#include "../calc/calc_harness.h"

#define H 3600000LL

static void day_of(kk_stage_t *st, uint32_t ds, int64_t day_start, double v) {
  kk_reading_t r[24];
  for (int h = 0; h < 24; h++)
    r[h] = (kk_reading_t){day_start + h * H, v, ds, 0};
  ch_feed(st, r, 24, 0);
}

KK_TEST(outdoor_pm10_exceedance_days_2008) {
  kk_stage_t *st = ch_stage("outdoor_air", "{ }");
  uint32_t pm = ch_ds("station-mitte", "pm10", "ug/m3");
  int64_t d1 = ch_utc(2025, 1, 9, 23, 0); /* 10 Jan, local midnight */
  day_of(st, pm, d1, 60);
  day_of(st, pm, d1 + 24 * H, 40);
  day_of(st, pm, d1 + 48 * H, 55);
  ch_feed1(st, d1 + 72 * H, 10, pm); /* closes the third day */
  uint32_t mean = ch_ds("station-mitte", "pm10_day_mean", "ug/m3");
  uint32_t ex = ch_ds("station-mitte", "pm10_exceedance_days", "1");
  int64_t y = ch_utc(2024, 12, 31, 23, 0);
  KK_CHECK_DBL(ch_value(mean, d1), 60, 1e-9);
  KK_CHECK_DBL(ch_value(mean, d1 + 24 * H), 40, 1e-9);
  KK_CHECK_DBL(ch_value(ex, y), 2, 0);
  /* A late reading lifts day 2 over 50: (24 x 40 + 1000) / 25 = 78.4 */
  ch_feed1(st, d1 + 24 * H + 30 * 60000, 1000, pm);
  KK_CHECK_DBL(ch_value(mean, d1 + 24 * H), 78.4, 1e-9);
  KK_CHECK_DBL(ch_value(ex, y), 3, 0);
  /* NaN and negative values are counted, not averaged. */
  ch_feed1(st, d1 + 73 * H, NAN, pm);
  ch_feed1(st, d1 + 73 * H, -1, pm);
  KK_CHECK_INT(ch_rejected(st, "nan"), ==, 1);
  KK_CHECK_INT(ch_rejected(st, "negative"), ==, 1);
}

KK_TEST(outdoor_2024_regime_and_no2_hours_and_year_mean) {
  kk_stage_t *st = ch_stage("outdoor_air", "{ regime = '2024/2881' }");
  uint32_t pm = ch_ds("station-2", "pm10", "ug/m3");
  uint32_t no2 = ch_ds("station-2", "no2", "ug/m3");
  int64_t d1 = ch_utc(2025, 12, 29, 23, 0); /* 30 Dec local */
  day_of(st, pm, d1, 46); /* over 45 (2024/2881), under 50 (2008/50) */
  day_of(st, pm, d1 + 24 * H, 30);
  ch_feed1(st, d1 + 48 * H, 10, pm); /* 1 Jan 2026: closes 2025 */
  int64_t y25 = ch_utc(2024, 12, 31, 23, 0);
  KK_CHECK_DBL(ch_value(ch_ds("station-2", "pm10_exceedance_days", "1"), y25),
               1, 0);
  /* Year mean of 2025 (only these two days here): 38 > 20. */
  KK_CHECK_DBL(ch_value(ch_ds("station-2", "pm10_year_mean", "ug/m3"), y25),
               38, 1e-9);
  KK_CHECK_DBL(
      ch_value(ch_ds("station-2", "pm10_year_limit_exceeded", "1"), y25), 1,
      0);
  /* NO2: one hour at 250 (> 200). */
  kk_reading_t r[] = {{d1, 100, no2, 0},
                      {d1 + H, 250, no2, 0},
                      {d1 + 2 * H, 120, no2, 0}};
  ch_feed(st, r, 3, 0);
  KK_CHECK_DBL(ch_value(ch_ds("station-2", "no2_exceedance_hours", "1"), y25),
               1, 0);
}

KK_TEST(traffic_counts_to_co2e) {
  kk_stage_t *st = ch_stage(
      "traffic", "{ segments = { ['zs-b54'] = 1.8 }, sets = {}, factors = { "
                 "pkw = { value = 150, source = 'test value' }, lkw = { value "
                 "= 800, source = 'test value' } } }");
  int64_t t = ch_utc(2025, 5, 5, 7, 0);
  kk_reading_t r[] = {{t, 1000, ch_ds("zs-b54", "count_pkw", "1"), 0},
                      {t, 50, ch_ds("zs-b54", "count_lkw", "1"), 0},
                      {t, 5, ch_ds("zs-b54", "count_bus", "1"), 0},
                      {t, 5, ch_ds("zs-xyz", "count_pkw", "1"), 0},
                      {t, -5, ch_ds("zs-b54", "count_pkw", "1"), 0},
                      {t, NAN, ch_ds("zs-b54", "count_pkw", "1"), 0},
                      {t, 3, ch_ds("zs-b54", "speed", "km/h"), 0}};
  ch_feed(st, r, 7, 0);
  KK_CHECK_INT(ch_ngot, ==, 2);
  KK_CHECK_DBL(ch_value(ch_ds("zs-b54", "co2e_pkw", "kg"), t), 270, 1e-9);
  KK_CHECK_DBL(ch_value(ch_ds("zs-b54", "co2e_lkw", "kg"), t), 72, 1e-9);
  KK_CHECK_INT(ch_rejected(st, "unmapped"), ==, 2);
  KK_CHECK_INT(ch_rejected(st, "negative"), ==, 1);
  KK_CHECK_INT(ch_rejected(st, "nan"), ==, 1);
  int rc = 0;
  KK_CHECK(ch_stage_rc("traffic", "{ segments = { a = 1 }, factors = { pkw = "
                                  "{ value = 150 } } }",
                       &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EMISSING);
}

/* The shipped sets, searched in order: traffic_de has pkw_diesel (KBA
 * 2023 consumption x UBA litre factor: 185.2 g), not lkw; desnz_2024 has
 * lkw (890.61 g).  The recipe's factor wins.  Before the sets' years
 * there is no factor: rejected, not zero. */
KK_TEST(traffic_factors_from_the_registry) {
  kk_stage_t *st = ch_stage(
      "traffic", "{ segments = { ['zs-b54'] = 2 }, factors = { bus = { value "
                 "= 1000, source = 'Stadtwerke test' } } }");
  int64_t t = ch_utc(2025, 5, 5, 7, 0);
  kk_reading_t r[] = {{t, 100, ch_ds("zs-b54", "count_pkw_diesel", "1"), 0},
                      {t, 10, ch_ds("zs-b54", "count_lkw", "1"), 0},
                      {t, 3, ch_ds("zs-b54", "count_bus", "1"), 0},
                      {t, 1, ch_ds("zs-b54", "count_tram", "1"), 0}};
  ch_feed(st, r, 4, 0);
  KK_CHECK_INT(ch_ngot, ==, 3);
  KK_CHECK_DBL(ch_value(ch_ds("zs-b54", "co2e_pkw_diesel", "kg"), t),
               100 * 2 * 185.2 / 1000, 1e-9);
  KK_CHECK_DBL(ch_value(ch_ds("zs-b54", "co2e_lkw", "kg"), t),
               10 * 2 * 890.61 / 1000, 1e-9);
  KK_CHECK_DBL(ch_value(ch_ds("zs-b54", "co2e_bus", "kg"), t), 6, 1e-9);
  KK_CHECK_INT(ch_rejected(st, "unmapped"), ==, 1);
  kk_stage_t *old =
      ch_stage("traffic", "{ segments = { a = 1 }, year = 2020 }");
  kk_reading_t o = {t, 100, ch_ds("a", "count_pkw_diesel", "1"), 0};
  ch_feed(old, &o, 1, 0);
  KK_CHECK_INT(ch_rejected(old, "unmapped"), ==, 1);
  int rc = 0;
  KK_CHECK(ch_stage_rc("traffic", "{ segments = { a = 1 }, sets = { 'hbefa' } }",
                       &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EUNKNOWN);
}

KK_TEST_MAIN(KK_CASE(outdoor_pm10_exceedance_days_2008),
             KK_CASE(traffic_factors_from_the_registry),
             KK_CASE(outdoor_2024_regime_and_no2_hours_and_year_mean),
             KK_CASE(traffic_counts_to_co2e))
