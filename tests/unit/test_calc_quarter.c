/* tests/unit/test_calc_quarter.c - calc.quarter: a quarter's balance
 * computed by hand (coverage per slot, not per period), the registry's
 * grid factor and its name, cumulative meters spread over slots, the
 * batch-order property, restarts from the snapshot, late readings and
 * configuration errors. */
#include "kk_test.h"

#include <unistd.h>

#include "../support/stage_kit.h"

#define Q "quarter/west"
#define MEMBERS                                                                \
  "members = { ['pv-1'] = 'pv', ['bhkw'] = 'chp', ['haus-1'] = 'consumer', "   \
  "['haus-2'] = 'consumer' }"

static uint32_t out(const char *prop, const char *unit) {
  return sk_ds(Q, prop, unit);
}

/* Hand-computed: 2026-06-01 UTC, quarter-hour slots stamped at their start.
 *   10:00  pv 3, chp 1 | haus-1 2, haus-2 1  -> P 4,   C 3: covered 3
 *   10:15  pv 0.5      | haus-1 1.5, haus-2 0.5 -> P 0.5, C 2: covered 0.5
 *   11:00  pv 2        | haus-1 1            -> P 2,   C 1: covered 1
 * Hour 10: P 4.5, C 5, covered 3.5, surplus 1, deficit 1.5, autarky 70 %,
 * self-consumption 3.5 / 4.5; avoided 3.5 kWh PV x 400 g + 1 kWh CHP x
 * (400 - 300) g = 1.5 kg.  The day: P 6.5, C 6, covered 4.5 (75 %): the
 * quarter is energy-positive over the day (+0.5 kWh) yet imports 1.5 kWh. */
KK_TEST(quarter_balance_hand_computed) {
  kk_stage_t *st = sk_stage(
      "calc.quarter",
      "{ quarters = { { name = 'west', " MEMBERS " } }, meter = 'interval', "
      "stamp = 'start', tz = 'UTC', periods = { 'hour', 'day' }, "
      "factor = 400, factor_source = 'Test', chp_factor = 300, "
      "chp_factor_source = 'Test' }");
  uint32_t pv = sk_ds("pv-1", "energy", "kW.h"),
           chp = sk_ds("bhkw", "energy", "kW.h"),
           h1 = sk_ds("haus-1", "energy", "kW.h"),
           h2 = sk_ds("haus-2", "energy", "W.h"); /* units are converted */
  int64_t t10 = sk_utc(2026, 6, 1, 10, 0), t1015 = sk_utc(2026, 6, 1, 10, 15),
          t11 = sk_utc(2026, 6, 1, 11, 0), day = sk_utc(2026, 6, 1, 0, 0);
  kk_reading_t r[] = {{t10, 3, pv, 0},     {t10, 1, chp, 0},
                      {t10, 2, h1, 0},     {t10, 1000, h2, 0},
                      {t1015, 0.5, pv, 0}, {t1015, 1.5, h1, 0},
                      {t1015, 500, h2, 0}, {t11, 2, pv, 0},
                      {t11, 1, h1, 0},     {t11, 0, chp, 0}};
  sk_feed(st, r, sizeof r / sizeof *r, 1);
  KK_CHECK_DBL(sk_value(out("production_hour", "kW.h"), t10), 4.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("production_pv_hour", "kW.h"), t10), 3.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("production_chp_hour", "kW.h"), t10), 1, 1e-12);
  KK_CHECK_DBL(sk_value(out("consumption_hour", "kW.h"), t10), 5, 1e-12);
  KK_CHECK_DBL(sk_value(out("self_consumed_hour", "kW.h"), t10), 3.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("surplus_hour", "kW.h"), t10), 1, 1e-12);
  KK_CHECK_DBL(sk_value(out("deficit_hour", "kW.h"), t10), 1.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("balance_hour", "kW.h"), t10), -0.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("autarky_hour", "%"), t10), 70, 1e-9);
  KK_CHECK_DBL(sk_value(out("self_consumption_hour", "%"), t10),
               100.0 * 3.5 / 4.5, 1e-9);
  KK_CHECK_DBL(sk_value(out("co2e_avoided_hour", "kg"), t10), 1.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("autarky_hour", "%"), t11), 100, 1e-9);
  KK_CHECK_DBL(sk_value(out("self_consumption_hour", "%"), t11), 50, 1e-9);
  KK_CHECK_DBL(sk_value(out("co2e_avoided_hour", "kg"), t11), 0.8, 1e-12);
  KK_CHECK_DBL(sk_value(out("production_day", "kW.h"), day), 6.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("consumption_day", "kW.h"), day), 6, 1e-12);
  KK_CHECK_DBL(sk_value(out("self_consumed_day", "kW.h"), day), 4.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("surplus_day", "kW.h"), day), 2, 1e-12);
  KK_CHECK_DBL(sk_value(out("deficit_day", "kW.h"), day), 1.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("balance_day", "kW.h"), day), 0.5, 1e-12);
  KK_CHECK_DBL(sk_value(out("autarky_day", "%"), day), 75, 1e-9);
  KK_CHECK_DBL(sk_value(out("co2e_avoided_day", "kg"), day), 2.3, 1e-12);
  /* No wind member: no production_wind datastream. */
  KK_CHECK_INT(sk_count(out("production_wind_day", "kW.h")), ==, 0);
  /* The factor is named per year; this stage emits no year. */
  KK_CHECK_INT(sk_count(out("factor:stated:Test", "g/kW.h")), ==, 0);
}

/* Without a stated factor: BISKO's Bundesmix (505 g/kWh for 2022, the
 * newest in the registry, used for 2026 with fallback = latest), named. */
KK_TEST(quarter_registry_factor_is_named) {
  kk_stage_t *st =
      sk_stage("calc.quarter", "{ quarters = { { name = 'west', " MEMBERS
                               " } }, meter = 'interval', tz = 'UTC' }");
  uint32_t pv = sk_ds("pv-1", "energy", "kW.h");
  int64_t t = sk_utc(2026, 6, 1, 12, 15), year = sk_utc(2026, 1, 1, 0, 0);
  sk_feed1(st, t, 10, pv);
  KK_CHECK_DBL(sk_value(out("factor:bisko/strom", "g/kW.h"), year), 505, 0);
  KK_CHECK_DBL(sk_value(out("co2e_avoided_year", "kg"), year), 5.05, 1e-12);
  KK_CHECK_DBL(
      sk_value(out("co2e_avoided_day", "kg"), sk_utc(2026, 6, 1, 0, 0)), 5.05,
      1e-12);
  /* Production only: no consumption, so no autarky; self-consumption 0. */
  KK_CHECK_INT(sk_count(out("autarky_day", "%")), ==, 0);
  KK_CHECK_DBL(sk_value(out("self_consumption_year", "%"), year), 0, 0);
  /* CHP without chp_factor: counted, credited with nothing. */
  uint32_t chp = sk_ds("bhkw", "energy", "kW.h");
  sk_feed1(st, t, 4, chp);
  KK_CHECK_DBL(sk_value(out("production_year", "kW.h"), year), 14, 1e-12);
  KK_CHECK_DBL(sk_value(out("co2e_avoided_year", "kg"), year), 5.05, 1e-12);
}

/* Meter counts: the difference is spread over the slots in between, in
 * proportion to time (stamped at the end of the interval). */
KK_TEST(quarter_cumulative_meters_spread_over_slots) {
  kk_stage_t *st = sk_stage("calc.quarter",
                            "{ quarters = { { name = 'west', " MEMBERS
                            " } }, tz = 'UTC', periods = { 'hour' }, factor = "
                            "0, factor_source = 'Test' }");
  uint32_t pv = sk_ds("pv-1", "energy", "kW.h"),
           h1 = sk_ds("haus-1", "energy", "kW.h");
  int64_t t10 = sk_utc(2026, 6, 1, 10, 0), t1030 = sk_utc(2026, 6, 1, 10, 30),
          t11 = sk_utc(2026, 6, 1, 11, 0);
  kk_reading_t r[] = {{t10, 100, pv, 0},
                      {t10, 50, h1, 0},
                      {t1030, 101, pv, 0}, /* 0.5 + 0.5 */
                      {t11, 52, h1, 0}};   /* 4 x 0.5: the consumer's gap */
  sk_feed(st, r, 4, 1);
  /* Slots 10:00, 10:15: P 0.5, C 0.5 each; 10:30, 10:45: P 0, C 0.5. */
  KK_CHECK_DBL(sk_value(out("production_hour", "kW.h"), t10), 1, 1e-12);
  KK_CHECK_DBL(sk_value(out("consumption_hour", "kW.h"), t10), 2, 1e-12);
  KK_CHECK_DBL(sk_value(out("self_consumed_hour", "kW.h"), t10), 1, 1e-12);
  KK_CHECK_DBL(sk_value(out("autarky_hour", "%"), t10), 50, 1e-9);
  /* A meter going backwards is counted, not a negative consumption. */
  sk_feed1(st, sk_utc(2026, 6, 1, 11, 15), 10, h1);
  KK_CHECK_INT(sk_rejected(st, "meter_decrease"), ==, 1);
  /* A meter offline for longer than `lateness` (2 days): its energy is not
   * smeared over final slots; counted, and the count is the baseline. */
  int64_t later = sk_utc(2026, 6, 4, 12, 0);
  sk_feed1(st, later, 40, h1);
  KK_CHECK_INT(sk_rejected(st, "too_late"), ==, 1);
  sk_feed1(st, later + 15 * 60000, 40.5, h1);
  KK_CHECK_DBL(sk_value(out("consumption_hour", "kW.h"), later), 0.5, 1e-12);
}

/* A deterministic day of 15-minute readings for the four members, values
 * in eighths of a kWh (exact in binary, so sums are exact in any order). */
static size_t day_of_readings(kk_reading_t *r, size_t cap) {
  const char *things[] = {"pv-1", "bhkw", "haus-1", "haus-2"};
  uint32_t x = 12345;
  size_t n = 0;
  int64_t t0 = sk_utc(2026, 3, 28, 23, 0); /* crosses into summer time */
  for (int slot = 0; slot < 2 * 96; slot++)
    for (int m = 0; m < 4; m++) {
      x = x * 1103515245u + 12345u;
      if (n == cap) KK__FAIL("cap");
      r[n++] = (kk_reading_t){t0 + slot * 15 * 60000LL,
                              (double)((x >> 16) % 40) / 8.0,
                              sk_ds(things[m], "energy", "kW.h"), 0};
    }
  return n;
}

#define OPTS_ORDER                                                             \
  "{ quarters = { { name = 'west', " MEMBERS " } }, meter = 'interval', "      \
  "stamp = 'start', periods = { 'hour', 'day', 'month', 'year' }, "            \
  "factor = 400, factor_source = 'Test' }"

/* Batch order: one sorted batch, or the same readings shuffled into
 * batches of random sizes, give the same final values. */
KK_TEST(quarter_batch_order_does_not_change_results) {
  static kk_reading_t r[1000], want[4000], got[4000];
  size_t n = day_of_readings(r, 1000);
  kk_stage_t *st = sk_stage("calc.quarter", OPTS_ORDER);
  sk_feed(st, r, n, 1);
  size_t nw = sk_final_values(want, 4000);
  KK_CHECK_INT(nw, >, 100);
  for (int round = 0; round < 5; round++) {
    uint32_t x = 77u + (uint32_t)round;
    for (size_t i = n - 1; i > 0; i--) {
      x = x * 1664525u + 1013904223u;
      size_t j = (x >> 8) % (i + 1);
      kk_reading_t tmp = r[i];
      r[i] = r[j];
      r[j] = tmp;
    }
    st = sk_stage("calc.quarter", OPTS_ORDER);
    for (size_t i = 0; i < n;) {
      x = x * 1664525u + 1013904223u;
      size_t k = 1 + (x >> 8) % 97;
      if (k > n - i) k = n - i;
      sk_feed(st, r + i, k, 0);
      i += k;
    }
    size_t ng = sk_final_values(got, 4000);
    KK_CHECK_INT(ng, ==, nw);
    for (size_t i = 0; i < nw; i++) {
      KK_CHECK_INT(got[i].ds, ==, want[i].ds);
      KK_CHECK_INT(got[i].time_ms, ==, want[i].time_ms);
      KK_CHECK_DBL(got[i].value, want[i].value, 1e-9);
    }
  }
}

/* A stage with a data directory (snapshots). */
static kk_testing_t *stage_in(const char *dir) {
  kk_testing_t *t = NULL;
  char err[512];
  int rc = kk_testing_new(sk_module("calc.quarter"),
                          "{ quarters = { { name = 'west', " MEMBERS
                          " } }, meter = 'cumulative', snapshot = '0s', "
                          "factor = 400, factor_source = 'Test' }",
                          dir, &t, err, sizeof err);
  if (rc) KK__FAIL("create: %s", err);
  KK_CHECK_INT(kk_testing_start(t), ==, 0);
  return t;
}

static void feed_seq(kk_testing_t *t, const kk_reading_t *r, size_t n,
                     uint64_t seq, uint32_t flags, kk_reading_t *acc,
                     size_t *nacc) {
  kk_batch_t *b = kk_batch_new(n);
  for (size_t i = 0; i < n; i++) {
    kk_reading_t x = r[i];
    x.flags = flags;
    kk_batch_push(b, &x);
  }
  kk_batch_set_seq(b, seq);
  KK_CHECK_INT(kk_testing_feed(t, b, NULL), >=, 0);
  kk_batch_unref(b);
  const kk_reading_t *o = kk_testing_readings(t);
  for (size_t i = 0; i < kk_testing_count(t); i++)
    acc[(*nacc)++] = o[i];
  kk_testing_clear(t);
}

/* The last value per (ds, time) of acc, as a replacing store keeps it. */
static double last_of(const kk_reading_t *acc, size_t n, uint32_t ds,
                      int64_t t) {
  double v = NAN;
  for (size_t i = 0; i < n; i++)
    if (acc[i].ds == ds && acc[i].time_ms == t) v = acc[i].value;
  return v;
}

/* Stopped after half a day (the snapshot holds open slots, windows and
 * meter counts), started again with the journal replayed: the totals are
 * those of one uninterrupted run, and nothing is counted twice. */
KK_TEST(quarter_restart_continues_from_snapshot) {
  char dir[] = "/tmp/kk-quarter-XXXXXX";
  KK_CHECK(mkdtemp(dir) != NULL);
  static kk_reading_t r[200], acc[40000];
  size_t n = 0, nacc = 0;
  int64_t t0 = sk_utc(2026, 6, 1, 0, 0);
  uint32_t pv = sk_ds("pv-1", "energy", "kW.h"),
           h1 = sk_ds("haus-1", "energy", "kW.h");
  for (int i = 0; i <= 96; i++) { /* meter counts every 15 minutes */
    r[n++] = (kk_reading_t){t0 + i * 900000LL, 1000 + i * 0.25, pv, 0};
    r[n++] = (kk_reading_t){t0 + i * 900000LL, 500 + i * 0.5, h1, 0};
  }
  kk_testing_t *a = stage_in(dir);
  for (size_t i = 0; i < 100; i += 4)
    feed_seq(a, r + i, 4, 10 + i, 0, acc, &nacc);
  kk_testing_stop(a); /* saves */
  KK_CHECK_INT(kk_testing_free(a, NULL, 0), ==, 0);
  kk_testing_t *b = stage_in(dir);
  for (size_t i = 0; i < 100; i += 4) /* the replay: skipped */
    feed_seq(b, r + i, 4, 10 + i, KK_READING_REPLAY, acc, &nacc);
  for (size_t i = 100; i < n; i += 2)
    feed_seq(b, r + i, n - i < 2 ? n - i : 2, 10 + i, 0, acc, &nacc);
  KK_CHECK_INT(kk_testing_free(b, NULL, 0), ==, 0);
  /* Berlin: the local day 2026-06-01 starts at 22:00 UTC the day before;
   * the readings run from 02:00 to 02:00 local time.  96 slots of 0.25
   * kWh PV and 0.5 kWh consumption, all in the local day's two days. */
  int64_t ystart = sk_utc(2025, 12, 31, 23, 0);
  KK_CHECK_DBL(last_of(acc, nacc, out("production_year", "kW.h"), ystart), 24,
               1e-9);
  KK_CHECK_DBL(last_of(acc, nacc, out("consumption_year", "kW.h"), ystart), 48,
               1e-9);
  KK_CHECK_DBL(last_of(acc, nacc, out("autarky_year", "%"), ystart), 50, 1e-9);
  KK_CHECK_DBL(last_of(acc, nacc, out("co2e_avoided_year", "kg"), ystart), 9.6,
               1e-9);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  KK_CHECK_INT(system(cmd), ==, 0);
}

KK_TEST(quarter_late_and_bad_readings_are_counted) {
  kk_stage_t *st =
      sk_stage("calc.quarter", "{ quarters = { { name = 'west', " MEMBERS
                               " } }, meter = 'interval', lateness = '1h', "
                               "factor = 1, factor_source = 'Test' }");
  uint32_t pv = sk_ds("pv-1", "energy", "kW.h");
  sk_feed1(st, sk_utc(2026, 6, 1, 12, 0), 1, pv);
  /* A stated factor is named by its source. */
  KK_CHECK_DBL(sk_value(out("factor:stated:Test", "g/kW.h"),
                        sk_utc(2025, 12, 31, 23, 0)),
               1, 0);
  sk_feed1(st, sk_utc(2026, 6, 1, 10, 0), 1, pv); /* 2 h behind */
  KK_CHECK_INT(sk_rejected(st, "too_late"), ==, 1);
  sk_feed1(st, sk_utc(2026, 6, 1, 12, 0), -1, pv);
  KK_CHECK_INT(sk_rejected(st, "negative"), ==, 1);
  sk_feed1(st, sk_utc(2026, 6, 1, 12, 0), NAN, pv);
  KK_CHECK_INT(sk_rejected(st, "nan"), ==, 1);
  sk_feed1(st, sk_utc(2026, 6, 1, 12, 0), 5, sk_ds("pv-1", "energy", "Cel"));
  KK_CHECK_INT(sk_rejected(st, "unit"), ==, 1);
  /* Not a member, or another property: ignored, not rejected. */
  size_t before = sk_ngot;
  sk_feed1(st, sk_utc(2026, 6, 1, 12, 0), 5,
           sk_ds("nachbar", "energy", "kW.h"));
  sk_feed1(st, sk_utc(2026, 6, 1, 12, 0), 5, sk_ds("pv-1", "power", "W"));
  KK_CHECK_INT(sk_ngot, ==, before);
}

static void bad(const char *opts, const char *want) {
  int rc = 0;
  KK_CHECK(sk_stage_rc("calc.quarter", opts, &rc) == NULL);
  KK_CHECK_INT(rc, <, 0);
  if (!strstr(sk_err, want))
    KK__FAIL("error \"%s\" lacks \"%s\"", sk_err, want);
}

KK_TEST(quarter_configuration_errors) {
  bad("{ quarters = { } }", "quarters: expected a list");
  bad("{ quarters = { { name = 'a', members = { x = 'solar' } } } }",
      "expected \"pv\"");
  bad("{ quarters = { { name = 'a', members = { x = 'pv' } }, "
      "{ name = 'b', members = { x = 'consumer' } } } }",
      "already a member");
  bad("{ quarters = { { name = 'a', members = { x = 'pv' } } }, factor = 400 }",
      "factor_source");
  bad("{ quarters = { { name = 'a', members = { x = 'pv' } } }, resolution = "
      "'7m' }",
      "resolution");
  bad("{ quarters = { { name = 'a', members = { x = 'pv' } } }, carrier = "
      "'sonnenschein' }",
      "sonnenschein");
  bad("{ quarters = { { name = 'a', members = { x = 'pv' } } }, periods = { "
      "'week' } }",
      "week");
}

KK_TEST_MAIN(KK_CASE(quarter_balance_hand_computed),
             KK_CASE(quarter_registry_factor_is_named),
             KK_CASE(quarter_cumulative_meters_spread_over_slots),
             KK_CASE(quarter_batch_order_does_not_change_results),
             KK_CASE(quarter_restart_continues_from_snapshot),
             KK_CASE(quarter_late_and_bad_readings_are_counted),
             KK_CASE(quarter_configuration_errors))
