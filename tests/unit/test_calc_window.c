/* tests/unit/test_calc_window.c - local time (Europe/Berlin), tumbling
 * windows across both summer-time switches and year ends, late readings,
 * the batching/order property, snapshots, and calc.indoor_air. */
#include "kk_test.h"

#include "calc/calc.h"
#include "../support/stage_kit.h"

#define H 3600000LL

KK_TEST(tz_offsets_at_the_switches) {
  /* 2026: last Sundays are 29 March and 25 October; switch at 01:00 UTC. */
  int64_t mar = sk_utc(2026, 3, 29, 1, 0), oct = sk_utc(2026, 10, 25, 1, 0);
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_BERLIN, mar - 1), ==, 1 * H);
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_BERLIN, mar), ==, 2 * H);
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_BERLIN, oct - 1), ==, 2 * H);
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_BERLIN, oct), ==, 1 * H);
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_BERLIN, sk_utc(2025, 3, 30, 0, 59)), ==,
               H);
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_BERLIN, sk_utc(2025, 3, 30, 1, 0)), ==,
               2 * H);
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_UTC, mar), ==, 0);
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_UTC1, mar), ==, H);
  /* "CET" as the tz database has it: with summer time. */
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_CET, mar), ==, 2 * H);
  KK_CHECK_INT(calc_tz_offset(CALC_TZ_CET, oct), ==, H);
}

/* The EU rule agrees with the system tz database hour by hour. */
KK_TEST(tz_matches_system_tzdata_1996_2037) {
  if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0)
    KK_SKIP("no /usr/share/zoneinfo/Europe/Berlin (install tzdata)");
  setenv("TZ", "Europe/Berlin", 1);
  tzset();
  for (int64_t t = sk_utc(1996, 1, 1, 0, 0); t < sk_utc(2037, 12, 31, 0, 0);
       t += H) {
    time_t s = (time_t)(t / 1000);
    struct tm tm;
    localtime_r(&s, &tm);
    if (calc_tz_offset(CALC_TZ_BERLIN, t) != (int64_t)tm.tm_gmtoff * 1000)
      KK__FAIL("offset differs at %lld", (long long)t);
  }
}

KK_TEST(windows_days_are_23_and_25_hours) {
  int64_t s, e;
  calc_window(CALC_TZ_BERLIN, CALC_P_DAY, sk_utc(2026, 3, 29, 12, 0), &s, &e);
  KK_CHECK_INT(s, ==, sk_utc(2026, 3, 28, 23, 0));
  KK_CHECK_INT(e, ==, sk_utc(2026, 3, 29, 22, 0));
  KK_CHECK_INT(e - s, ==, 23 * H);
  calc_window(CALC_TZ_BERLIN, CALC_P_DAY, sk_utc(2026, 10, 25, 12, 0), &s, &e);
  KK_CHECK_INT(s, ==, sk_utc(2026, 10, 24, 22, 0));
  KK_CHECK_INT(e, ==, sk_utc(2026, 10, 25, 23, 0));
  KK_CHECK_INT(e - s, ==, 25 * H);
  /* The two 02:00 local hours of 25 October are two hour windows. */
  int64_t s1, s2;
  calc_window(CALC_TZ_BERLIN, CALC_P_HOUR, sk_utc(2026, 10, 25, 0, 30), &s1,
              &e);
  calc_window(CALC_TZ_BERLIN, CALC_P_HOUR, sk_utc(2026, 10, 25, 1, 30), &s2,
              &e);
  KK_CHECK_INT(s1, ==, sk_utc(2026, 10, 25, 0, 0));
  KK_CHECK_INT(s2, ==, sk_utc(2026, 10, 25, 1, 0));
  /* Months and years in local time. */
  calc_window(CALC_TZ_BERLIN, CALC_P_MONTH, sk_utc(2026, 3, 31, 21, 59), &s,
              &e);
  KK_CHECK_INT(s, ==, sk_utc(2026, 2, 28, 23, 0));
  KK_CHECK_INT(e, ==, sk_utc(2026, 3, 31, 22, 0));
  calc_window(CALC_TZ_BERLIN, CALC_P_MONTH, sk_utc(2026, 3, 31, 22, 0), &s, &e);
  KK_CHECK_INT(s, ==, sk_utc(2026, 3, 31, 22, 0)); /* April, CEST */
  calc_window(CALC_TZ_BERLIN, CALC_P_YEAR, sk_utc(2026, 12, 31, 23, 30), &s,
              &e);
  KK_CHECK_INT(s, ==, sk_utc(2026, 12, 31, 23, 0)); /* already 2027 */
  KK_CHECK_INT(e, ==, sk_utc(2027, 12, 31, 23, 0));
  KK_CHECK_INT(calc_year(CALC_TZ_BERLIN, sk_utc(2026, 12, 31, 22, 59)), ==,
               2026);
  KK_CHECK_INT(calc_year(CALC_TZ_BERLIN, sk_utc(2026, 12, 31, 23, 0)), ==,
               2027);
  calc_window(CALC_TZ_UTC, CALC_P_YEAR, sk_utc(2026, 12, 31, 23, 30), &s, &e);
  KK_CHECK_INT(s, ==, sk_utc(2026, 1, 1, 0, 0));
  /* Leap day. */
  calc_window(CALC_TZ_BERLIN, CALC_P_MONTH, sk_utc(2028, 2, 29, 12, 0), &s, &e);
  KK_CHECK_INT(e - s, ==, 29 * 24 * H);
}

/* calc.window over the October switch: a reading every 15 minutes from
 * local midnight 24 Oct to local midnight 27 Oct. */
KK_TEST(window_module_across_october_switch) {
  kk_stage_t *st = sk_stage(
      "calc.window", "{ periods = { 'hour', 'day' }, stats = { 'sum', 'count', "
                     "'min', 'max', 'avg' } }");
  uint32_t ds = sk_ds("zaehler", "energy", "kW.h");
  for (int64_t t = sk_utc(2026, 10, 23, 22, 0); t < sk_utc(2026, 10, 26, 23, 0);
       t += 15 * 60000)
    sk_feed1(st, t, 1, ds);
  uint32_t dc = sk_ds("zaehler", "energy_day_count", "1");
  uint32_t ds_sum = sk_ds("zaehler", "energy_day_sum", "kW.h");
  KK_CHECK_DBL(sk_value(dc, sk_utc(2026, 10, 23, 22, 0)), 96, 0);  /* Sat */
  KK_CHECK_DBL(sk_value(dc, sk_utc(2026, 10, 24, 22, 0)), 100, 0); /* 25 h */
  KK_CHECK_DBL(sk_value(ds_sum, sk_utc(2026, 10, 24, 22, 0)), 100, 0);
  /* The last day is still open: not emitted yet. */
  KK_CHECK(isnan(sk_value(dc, sk_utc(2026, 10, 25, 23, 0))));
  uint32_t hc = sk_ds("zaehler", "energy_hour_count", "1");
  KK_CHECK_INT(sk_count(hc), ==, 24 + 25 + 23); /* the open hour waits */
  KK_CHECK_DBL(sk_value(hc, sk_utc(2026, 10, 25, 0, 0)), 4, 0);
  KK_CHECK_DBL(sk_value(hc, sk_utc(2026, 10, 25, 1, 0)), 4, 0);
  KK_CHECK_DBL(sk_value(sk_ds("zaehler", "energy_hour_avg", "kW.h"),
                        sk_utc(2026, 10, 25, 1, 0)),
               1, 0);
}

KK_TEST(window_module_across_march_switch_and_year_end) {
  kk_stage_t *st =
      sk_stage("calc.window", "{ periods = { 'day', 'month', 'year' },"
                              " stats = { 'count' } }");
  uint32_t ds = sk_ds("t", "x", "1");
  for (int64_t t = sk_utc(2026, 3, 27, 23, 0); t < sk_utc(2026, 3, 30, 22, 0);
       t += H)
    sk_feed1(st, t, 1, ds);
  uint32_t dc = sk_ds("t", "x_day_count", "1");
  KK_CHECK_DBL(sk_value(dc, sk_utc(2026, 3, 27, 23, 0)), 24, 0);
  KK_CHECK_DBL(sk_value(dc, sk_utc(2026, 3, 28, 23, 0)), 23, 0);
  /* Year end: hourly readings from 30 Dec to 2 Jan local. */
  for (int64_t t = sk_utc(2026, 12, 29, 23, 0); t < sk_utc(2027, 1, 1, 23, 0);
       t += H)
    sk_feed1(st, t, 1, ds);
  uint32_t yc = sk_ds("t", "x_year_count", "1");
  uint32_t mc = sk_ds("t", "x_month_count", "1");
  /* 2026 held the March days and the 30 + 31 December hours. */
  KK_CHECK_DBL(sk_value(yc, sk_utc(2025, 12, 31, 23, 0)), 24 + 23 + 24 + 48, 0);
  KK_CHECK_DBL(sk_value(mc, sk_utc(2026, 11, 30, 23, 0)), 48, 0);
  KK_CHECK_DBL(sk_value(dc, sk_utc(2026, 12, 30, 23, 0)), 24, 0);
  KK_CHECK(isnan(sk_value(yc, sk_utc(2026, 12, 31, 23, 0)))); /* open */
}

KK_TEST(window_late_reading_updates_its_window) {
  kk_stage_t *st = sk_stage("calc.window", "{ stats = { 'sum', 'count' } }");
  uint32_t ds = sk_ds("raum", "co2", "ppm");
  uint32_t sum = sk_ds("raum", "co2_hour_sum", "ppm");
  int64_t t = sk_utc(2026, 1, 5, 8, 0);
  sk_feed1(st, t + 10 * 60000, 500, ds);
  sk_feed1(st, t + H + 60000, 700, ds); /* closes 08:00 */
  KK_CHECK_INT(sk_ngot, ==, 2);
  KK_CHECK_DBL(sk_value(sum, t), 500, 0);
  sk_feed1(st, t + 50 * 60000, 600, ds); /* late, into 08:00 */
  KK_CHECK_INT(sk_ngot, ==, 4);
  KK_CHECK_DBL(sk_value(sum, t), 1100, 0);
  KK_CHECK_DBL(sk_value(sk_ds("raum", "co2_hour_count", "1"), t), 2, 0);
  /* Far too late: rejected once its window was evicted. */
  for (int i = 0; i < 1600; i++) /* enough windows for a sweep */
    sk_feed1(st, t + (int64_t)(72 + i) * H, 1, ds);
  size_t before = sk_ngot;
  sk_feed1(st, t + 5 * 60000, 1, ds);
  KK_CHECK_INT(sk_rejected(st, "too_late"), ==, 1);
  KK_CHECK_INT(sk_ngot, ==, before);
}

/* The property: whatever the batch boundaries and the arrival order, the
 * value a replacing store ends up with for every (datastream, time) is the
 * same. */

KK_TEST(window_totals_independent_of_batching_and_order) {
  enum { N = 3000 };
  static kk_reading_t r[N];
  static kk_reading_t want[20000], got[20000];
  const char *emits[] = {"close", "update"};
  for (int e = 0; e < 2; e++) {
    char opts[256];
    snprintf(opts, sizeof opts,
             "{ periods = { 'hour', 'day', 'month' }, stats = { 'sum', "
             "'min', 'max', 'count', 'avg' }, emit = '%s', lateness = "
             "'400d', flush_at_stop = true }",
             emits[e]);
    srand(42 + e);
    const char *things[] = {"r1", "r2", "r3"};
    /* Integer values: sums are exact in any order. */
    for (int i = 0; i < N; i++)
      r[i] = (kk_reading_t){
          sk_utc(2026, 3, 20, 0, 0) + (int64_t)(rand() % 6000) * 7 * 60000,
          (double)(rand() % 100), sk_ds(things[rand() % 3], "v", "1"), 0};
    kk_stage_t *a = sk_stage("calc.window", opts);
    sk_feed(a, r, N, 0);
    sk_stop(a); /* flush_at_stop: every window, open ones included */
    size_t nw = sk_final_values(want, 20000);
    KK_CHECK_INT(nw, >, 1000);
    for (int round = 0; round < 3; round++) {
      for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1);
        kk_reading_t x = r[i];
        r[i] = r[j];
        r[j] = x;
      }
      kk_stage_t *b = sk_stage("calc.window", opts);
      for (int i = 0; i < N;) {
        int len = 1 + rand() % (round == 0 ? 3 : 500);
        if (i + len > N) len = N - i;
        sk_feed(b, r + i, (size_t)len, 0);
        i += len;
      }
      sk_stop(b);
      size_t ng = sk_final_values(got, 20000);
      KK_CHECK_INT(ng, ==, nw);
      for (size_t i = 0; i < nw; i++) {
        KK_CHECK_INT(got[i].ds, ==, want[i].ds);
        KK_CHECK_INT(got[i].time_ms, ==, want[i].time_ms);
        KK_CHECK_DBL(got[i].value, want[i].value, 1e-9);
      }
    }
  }
}

static calc_agg_t snap_seen;
static int64_t snap_start;
static int snap_calls;
static void snap_cb(void *ctx, uint32_t key, int p, int64_t start, int64_t end,
                    const calc_agg_t *a, kk_batch_t *out) {
  (void)ctx, (void)key, (void)p, (void)end, (void)out;
  snap_seen = *a;
  snap_start = start;
  snap_calls++;
}

KK_TEST(window_state_survives_save_and_load) {
  calc_windows_t *w = calc_windows_new(CALC_TZ_BERLIN, 1u << CALC_P_DAY,
                                       2 * 24 * H, 0, snap_cb, NULL);
  uint32_t ds = sk_ds("snap", "v", "1");
  KK_CHECK_INT(calc_windows_add(w, ds, sk_utc(2026, 5, 1, 10, 0), 3), ==, 0);
  KK_CHECK_INT(calc_windows_add(w, ds, sk_utc(2026, 5, 1, 11, 0), 4), ==, 0);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  calc_windows_save(w, f);
  fclose(f);
  calc_windows_free(w);
  w = calc_windows_new(CALC_TZ_BERLIN, 1u << CALC_P_DAY, 2 * 24 * H, 0, snap_cb,
                       NULL);
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
    KK_CHECK_INT(calc_windows_load(w, line), ==, 0);
  KK_CHECK_INT(calc_windows_count(w), ==, 1);
  /* The restored open day goes on and closes with the next day. */
  KK_CHECK_INT(calc_windows_add(w, ds, sk_utc(2026, 5, 1, 12, 0), 5), ==, 0);
  KK_CHECK_INT(calc_windows_add(w, ds, sk_utc(2026, 5, 2, 12, 0), 1), ==, 0);
  kk_batch_t *out = kk_batch_new(4);
  calc_windows_flush(w, out);
  kk_batch_unref(out);
  KK_CHECK_INT(snap_calls, ==, 1);
  KK_CHECK_DBL(snap_seen.sum, 12, 0);
  KK_CHECK_INT(snap_seen.count, ==, 3);
  KK_CHECK_DBL(snap_seen.min, 3, 0);
  KK_CHECK_DBL(snap_seen.max, 5, 0);
  KK_CHECK_INT(snap_start, ==, sk_utc(2026, 4, 30, 22, 0));
  calc_windows_free(w);
  free(buf);
}

/* ---- calc.indoor_air ---------------------------------------------------- */

KK_TEST(indoor_air_classes_minutes_alerts) {
  kk_stage_t *st = sk_stage("calc.indoor_air", "{ interval = '1m' }");
  uint32_t co2 = sk_ds("klasse-5a", "co2", "ppm");
  int64_t t = sk_utc(2026, 11, 23, 7, 0); /* 08:00 local */
  const double v[] = {900, 1000, 1500, 2100, 2050, 1900, 980, 1200};
  const int cls[] = {1, 2, 2, 3, 3, 2, 1, 2};
  kk_reading_t r[8];
  for (int i = 0; i < 8; i++)
    r[i] = (kk_reading_t){t + i * 60000, v[i], co2, 0};
  sk_feed(st, r, 5, 0);
  sk_feed(st, r + 5, 3, 0);
  uint32_t c = sk_ds("klasse-5a", "co2_class", "1");
  uint32_t a = sk_ds("klasse-5a", "co2_alert", "1");
  for (int i = 0; i < 8; i++)
    KK_CHECK_DBL(sk_value(c, t + i * 60000), cls[i], 0);
  /* Alerts: into class 2 at 1000 ppm, into class 3 at 2100 ppm; 1200 ppm
   * after 980 ppm is within the hysteresis: no new alert. */
  KK_CHECK_INT(sk_count(a), ==, 2);
  KK_CHECK_DBL(sk_value(a, t + 60000), 2, 0);
  KK_CHECK_DBL(sk_value(a, t + 3 * 60000), 3, 0);
  /* The day closes with a reading on the next day. */
  uint32_t m1 = sk_ds("klasse-5a", "minutes_above_1000ppm", "min");
  uint32_t m2 = sk_ds("klasse-5a", "minutes_above_2000ppm", "min");
  KK_CHECK_INT(sk_count(m1), ==, 0);
  sk_feed1(st, t + 24 * H, 700, co2);
  int64_t day = sk_utc(2026, 11, 22, 23, 0);
  KK_CHECK_DBL(sk_value(m1, day), 6, 0);
  KK_CHECK_DBL(sk_value(m2, day), 2, 0);
  /* A late reading updates the closed day. */
  sk_feed1(st, t + 30 * 60000, 2500, co2);
  KK_CHECK_DBL(sk_value(m1, day), 7, 0);
  KK_CHECK_DBL(sk_value(m2, day), 3, 0);
  KK_CHECK_INT(sk_count(a), ==, 2); /* older than the last: no event */
  /* Bad input. */
  sk_feed1(st, t + 25 * H, NAN, co2);
  sk_feed1(st, t + 25 * H, -3, co2);
  KK_CHECK_INT(sk_rejected(st, "nan"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "negative"), ==, 1);
}

KK_TEST(indoor_air_class_boundaries) {
  KK_CHECK_INT(calc_co2_class(999.9), ==, 1);
  KK_CHECK_INT(calc_co2_class(1000), ==, 2);
  KK_CHECK_INT(calc_co2_class(2000), ==, 2);
  KK_CHECK_INT(calc_co2_class(2000.1), ==, 3);
}

KK_TEST_MAIN(KK_CASE(tz_offsets_at_the_switches),
             KK_CASE(tz_matches_system_tzdata_1996_2037),
             KK_CASE(windows_days_are_23_and_25_hours),
             KK_CASE(window_module_across_october_switch),
             KK_CASE(window_module_across_march_switch_and_year_end),
             KK_CASE(window_late_reading_updates_its_window),
             KK_CASE(window_totals_independent_of_batching_and_order),
             KK_CASE(window_state_survives_save_and_load),
             KK_CASE(indoor_air_classes_minutes_alerts),
             KK_CASE(indoor_air_class_boundaries))
