/* tests/unit/test_calc_measures.c - calc.measures as a stage: metered
 * impact in t CO2e from kg indicators (by hand), reported years, a
 * partner update carried as a raw JSON message (applied once, with its
 * author and time; a replay of the same journal position applies
 * nothing again but re-emits its readings), and a bad update rejected
 * whole. */
#include "kk_test.h"

#include "calc/calc.h"
#include "calc/calc_catalogue.h"
#include "../support/stage_kit.h"

static const char opts[] =
    "{ tz = 'UTC', measures = {"
    " { id = 'led', title = 'LED', sector = 'Gebäude', planned_start = 2024,"
    "   planned_t = 2, indicators = { 's1/co2e' }, baseline = { from = 2022,"
    "   to = 2023 } },"
    " { id = 'wp', title = 'Wärmepumpe', phase = 'Umsetzung', status = "
    "'verzögert', planned_t = 85, planned_start = 2024, completion = 70,"
    "   achieved = { ['2024'] = -12.5, ['2025'] = 61 } } } }";

static void feed_raw(kk_stage_t *st, const char *json, uint64_t seq) {
  kk_batch_t *b = kk_batch_new(1);
  if (kk_batch_push_raw(b, seq, sk_utc(2026, 12, 1, 8, 0), 50,
                        "{\"path\":\"/api/measures/updates\",\"peer\":"
                        "\"127.0.0.1\"}",
                        json, strlen(json)))
    KK__FAIL("push_raw");
  kk_batch_set_seq(b, seq);
  sk_feed_batch(st, b, NULL);
  kk_batch_unref(b);
}

KK_TEST(measures_metered_and_reported) {
  kk_stage_t *st = sk_stage("calc.measures", opts);
  uint32_t s1 = sk_ds("s1", "co2e", "kg");
  /* Baseline 2022/2023: 3000 and 2600 kg -> mean 2800 kg; 2024: 1900 kg
   * -> 900 kg = 0.9 t; 2025: 700 + 500 = 1200 kg -> 1.6 t. */
  kk_reading_t r[] = {
      {sk_utc(2022, 3, 1, 0, 0), 3000, s1, 0},
      {sk_utc(2023, 3, 1, 0, 0), 2600, s1, 0},
      {sk_utc(2024, 3, 1, 0, 0), 1900, s1, 0},
      {sk_utc(2025, 3, 1, 0, 0), 700, s1, 0},
      {sk_utc(2025, 9, 1, 0, 0), 500, s1, 0},
      {sk_utc(2025, 8, 1, 0, 0), 999, s1, 0}, /* older than the last */
  };
  sk_feed(st, r, 6, 1);
  int64_t y24 = sk_utc(2024, 1, 1, 0, 0), y25 = sk_utc(2025, 1, 1, 0, 0);
  uint32_t ach = sk_ds("measure/led", "co2e_achieved", "t");
  KK_CHECK_DBL(sk_value(ach, y24), 0.9, 1e-12);
  KK_CHECK_DBL(sk_value(ach, y25), 1.6, 1e-12);
  KK_CHECK_DBL(sk_value(sk_ds("measure/led", "co2e_expected", "t"), y25), 2, 0);
  KK_CHECK_DBL(sk_value(sk_ds("measure/led", "impact", "kg"), y24), 900, 1e-9);
  KK_CHECK(isnan(sk_value(ach, sk_utc(2023, 1, 1, 0, 0))));
  KK_CHECK_INT(sk_rejected(st, "out_of_order"), ==, 1);
  /* Reported years of the other measure, as the catalogue gave them. */
  calc_cat_t *c = calc_cat_first();
  cat_measure_t *wp = calc_cat_find(c, "wp");
  char how = 0;
  KK_CHECK_DBL(calc_cat_achieved(wp, &wp->years[0], &how), -12.5, 0);
  KK_CHECK_INT(how, ==, 'r');
}

KK_TEST(measures_partner_update_once) {
  kk_stage_t *st = sk_stage("calc.measures", opts);
  const char *u =
      "[{\"thing\":\"measure/wp\",\"property\":\"completion\",\"unit\":\"%\","
      "\"value\":85,\"time\":\"2026-11-28T10:00:00Z\",\"update\":{\"author\":"
      "\"Stadtwerke\",\"status\":\"on_time\",\"reported\":{\"2026\":40}}},"
      "{\"thing\":\"measure/wp\",\"update\":{\"phase\":\"fertig\"}},"
      "{\"thing\":\"measure/nope\",\"update\":{\"phase\":\"planning\"}}]";
  feed_raw(st, u, 7);
  int64_t t = sk_utc(2026, 11, 28, 10, 0);
  uint32_t comp = sk_ds("measure/wp", "completion", "%");
  KK_CHECK_DBL(sk_value(comp, t), 85, 0);
  KK_CHECK_DBL(sk_value(sk_ds("measure/wp", "status", "1"), t), CAT_ST_ON_TIME,
               0);
  cat_measure_t *wp = calc_cat_find(calc_cat_first(), "wp");
  KK_CHECK_INT(wp->nhist, ==, 1);
  KK_CHECK_STR(wp->hist[0].author, "Stadtwerke");
  KK_CHECK_INT(wp->phase, ==, CAT_PH_IMPLEMENTATION); /* "fertig" refused */
  KK_CHECK_INT(kk_metric_value(kk_stage_counter(st, "kk_measure_updates_total",
                                                "rejected", NULL)),
               ==, 2);
  /* The same journal record again (a replay): nothing applied twice, the
   * readings come again for the sinks. */
  size_t before = sk_count(comp);
  feed_raw(st, u, 7);
  KK_CHECK_INT(wp->nhist, ==, 1);
  KK_CHECK_INT(sk_count(comp), ==, before + 1);
  /* A new record is applied; without an author the peer is named. */
  feed_raw(st, "{\"id\":\"wp\",\"phase\":\"completed\"}", 8);
  KK_CHECK_INT(wp->nhist, ==, 2);
  KK_CHECK_INT(wp->phase, ==, CAT_PH_COMPLETED);
  KK_CHECK(strstr(wp->hist[1].author, "127.0.0.1") != NULL);
}

KK_TEST_MAIN(KK_CASE(measures_metered_and_reported),
             KK_CASE(measures_partner_update_once))
