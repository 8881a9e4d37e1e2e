/* tests/unit/test_alerts.c - weekly schedules (calc_schedule.c) and the
 * rules of calc.alert: duration, occupancy, hysteresis, quiet hours,
 * daily means, stale datastreams, the event document, restarts; and the
 * occupied minutes of calc.indoor_air. */
#include "kk_test.h"

#include <cJSON.h>
#include <unistd.h>

#include "calc/calc.h"
#include "calc/calc_schedule.h"
#include "forward/forward.h"
#include "../support/stage_kit.h"

/* 2026-03-02 is a Monday; 08:00 UTC is 09:00 in Berlin (winter time). */
static int64_t mon(int h, int m) {
  return sk_utc(2026, 3, 2, h, m) - 3600000LL;
}

static calc_schedule_t *sched(const char *text) {
  calc_schedule_t *s = NULL;
  char err[256];
  int rc = calc_schedule_parse(text, CALC_TZ_BERLIN, &s, err, sizeof err);
  if (rc) KK__FAIL("parse \"%s\": %s", text, err);
  return s;
}

KK_TEST(schedule_weekdays_and_spans) {
  calc_schedule_t *s = sched("Mo-Fr 08:00-13:30");
  KK_CHECK_INT(calc_schedule_week_minutes(s), ==, 5 * 330);
  KK_CHECK(!calc_schedule_active(s, mon(7, 59)));
  KK_CHECK(calc_schedule_active(s, mon(8, 0)));
  KK_CHECK(calc_schedule_active(s, mon(13, 29)));
  KK_CHECK(!calc_schedule_active(s, mon(13, 30)));
  KK_CHECK(calc_schedule_active(s, mon(10, 0) + 4 * KK_DAY_MS));  /* Fri */
  KK_CHECK(!calc_schedule_active(s, mon(10, 0) + 5 * KK_DAY_MS)); /* Sat */
  /* Summer time: 2026-07-06 is a Monday, 08:00 CEST is 06:00 UTC. */
  KK_CHECK(calc_schedule_active(s, sk_utc(2026, 7, 6, 6, 0)));
  KK_CHECK(!calc_schedule_active(s, sk_utc(2026, 7, 6, 5, 59)));
  char err[256];
  KK_CHECK_INT(calc_schedule_close(s, "2026-03-02", err, sizeof err), ==, 0);
  KK_CHECK(!calc_schedule_active(s, mon(9, 0)));
  KK_CHECK(calc_schedule_active(s, mon(9, 0) + KK_DAY_MS));
  KK_CHECK_INT(
      calc_schedule_close(s, "2026-03-09..2026-03-13", err, sizeof err), ==, 0);
  KK_CHECK(!calc_schedule_active(s, mon(9, 0) + 10 * KK_DAY_MS));
  KK_CHECK(calc_schedule_active(s, mon(9, 0) + 14 * KK_DAY_MS));
  calc_schedule_free(s);
}

KK_TEST(schedule_german_days_overnight_and_lists) {
  calc_schedule_t *s = sched("Di,Do 10:00-11:00, 14:00-15:00; Fr 22:00-06:00");
  KK_CHECK(!calc_schedule_active(s, mon(10, 30)));                /* Mo */
  KK_CHECK(calc_schedule_active(s, mon(10, 30) + KK_DAY_MS));     /* Di */
  KK_CHECK(calc_schedule_active(s, mon(14, 30) + 3 * KK_DAY_MS)); /* Do */
  KK_CHECK(!calc_schedule_active(s, mon(12, 0) + 3 * KK_DAY_MS));
  KK_CHECK(calc_schedule_active(s, mon(23, 0) + 4 * KK_DAY_MS)); /* Fr 23 h */
  KK_CHECK(calc_schedule_active(s, mon(5, 59) + 5 * KK_DAY_MS)); /* Sa 5 h */
  KK_CHECK(!calc_schedule_active(s, mon(6, 0) + 5 * KK_DAY_MS));
  calc_schedule_free(s);
  s = sched("Sa-Mo");
  KK_CHECK_INT(calc_schedule_week_minutes(s), ==, 3 * 1440);
  calc_schedule_free(s);
  s = sched("00:00-24:00");
  KK_CHECK_INT(calc_schedule_week_minutes(s), ==, 7 * 1440);
  calc_schedule_free(s);
  KK_CHECK(calc_schedule_active(NULL, 0));
}

KK_TEST(schedule_errors) {
  static const char *bad[] = {
      "",         "Mx 08:00-10:00", "Mo 8:00-10:00",        "Mo 10:00-10:00",
      "Mo 08:00", "Mo 08:00-25:00", "Mo-Fr 08:00-13:30 Sa", "Mo-",
      NULL};
  for (int i = 0; bad[i]; i++) {
    calc_schedule_t *s = NULL;
    char err[256] = "";
    KK_CHECK_INT(
        calc_schedule_parse(bad[i], CALC_TZ_BERLIN, &s, err, sizeof err), ==,
        KK_EPARSE);
    KK_CHECK(s == NULL && err[0]);
  }
  calc_schedule_t *s = sched("Mo");
  char err[256];
  KK_CHECK_INT(calc_schedule_close(s, "2026-13-01", err, sizeof err), ==,
               KK_EPARSE);
  KK_CHECK_INT(
      calc_schedule_close(s, "2026-03-05..2026-03-01", err, sizeof err), ==,
      KK_EPARSE);
  calc_schedule_free(s);
}

#define CO2_RULE                                                               \
  "co2_high = { property = 'co2', above = 1000, clear = 900, duration = "      \
  "'10m', schedule = 'Mo-Fr 08:00-13:30', label = 'CO₂' }"

/* Feeds one reading a minute from `t0`, value v(i). */
static void minutes(kk_stage_t *st, uint32_t ds, int64_t t0, int n,
                    const double *v) {
  for (int i = 0; i < n; i++)
    sk_feed1(st, t0 + i * KK_MINUTE_MS, v[i], ds);
}

KK_TEST(alert_duration_hysteresis_one_event_per_episode) {
  kk_stage_t *st = sk_stage("calc.alert", "{ rules = { " CO2_RULE " } }");
  uint32_t co2 = sk_ds("raum-101", "co2", "ppm");
  uint32_t ev = sk_ds("raum-101", "alert_co2_high", "1");
  double v[40];
  for (int i = 0; i < 40; i++)
    v[i] = 800;
  for (int i = 2; i <= 14; i++) /* 13 readings above: 12 minutes */
    v[i] = 1200;
  v[8] = 950; /* a dip: the condition did not hold, pending starts again */
  for (int i = 15; i <= 25; i++)
    v[i] = 950; /* between clear and limit: the episode stays open */
  minutes(st, co2, mon(9, 0), 40, v);
  /* Pending again from minute 9: 10 minutes are not reached by minute 14. */
  KK_CHECK_INT(sk_count(ev), ==, 0);
  sk_ngot = 0;
  for (int i = 0; i < 40; i++)
    v[i] = i < 12 ? 1100 : i < 20 ? 950 : 850;
  minutes(st, co2, mon(10, 0), 40, v);
  KK_CHECK_INT(sk_count(ev), ==, 2);
  KK_CHECK_DBL(sk_value(ev, mon(10, 0)), 1, 0);  /* opened, at its start */
  KK_CHECK_DBL(sk_value(ev, mon(10, 20)), 0, 0); /* closed below 900 */
}

KK_TEST(alert_outside_schedule_nothing_and_schedule_end_closes) {
  kk_stage_t *st = sk_stage("calc.alert", "{ rules = { " CO2_RULE " } }");
  uint32_t co2 = sk_ds("raum-102", "co2", "ppm");
  uint32_t ev = sk_ds("raum-102", "alert_co2_high", "1");
  double v[60];
  for (int i = 0; i < 60; i++)
    v[i] = 1500;
  minutes(st, co2, mon(22, 0), 60, v); /* at night */
  KK_CHECK_INT(sk_count(ev), ==, 0);
  minutes(st, co2, mon(13, 0) + KK_DAY_MS, 60, v); /* Tuesday 13-14 h */
  KK_CHECK_INT(sk_count(ev), ==, 2);
  KK_CHECK_DBL(sk_value(ev, mon(13, 0) + KK_DAY_MS), 1, 0);
  /* The end of the lessons at 13:30 closes the episode. */
  KK_CHECK_DBL(sk_value(ev, mon(13, 30) + KK_DAY_MS), 0, 0);
  minutes(st, co2, mon(9, 0) + 5 * KK_DAY_MS, 60, v); /* Saturday */
  KK_CHECK_INT(sk_count(ev), ==, 2);
}

/* The event documents of what the stage emits for one batch. */
static cJSON *feed_docs(kk_stage_t *st, int64_t t, double v, uint32_t ds,
                        uint64_t seq, uint32_t flags) {
  kk_testing_t *t0 = sk_testing(st);
  kk_batch_t *b = kk_batch_new(1);
  kk_reading_t r = {t, v, ds, flags};
  kk_batch_push(b, &r);
  kk_batch_set_seq(b, seq);
  KK_CHECK_INT(kk_testing_feed(t0, b, NULL), >=, 0);
  kk_batch_unref(b);
  cJSON *arr = cJSON_CreateArray();
  KK_CHECK_INT(kk_testing_raw_count(t0), ==, kk_testing_count(t0));
  for (size_t i = 0; i < kk_testing_raw_count(t0); i++) {
    const kk_raw_t *raw = kk_testing_raw(t0, i);
    KK_CHECK_STR(raw->meta, FW_EVENT_META);
    cJSON *doc = cJSON_ParseWithLength((const char *)raw->data, raw->len);
    KK_CHECK(cJSON_IsObject(doc));
    cJSON_AddItemToArray(arr, doc);
  }
  sk_collect(t0);
  return arr;
}

static const char *doc_str(const cJSON *arr, int i, const char *k) {
  const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), k);
  return cJSON_IsString(v) ? v->valuestring : "";
}

KK_TEST(alert_event_document_german_text) {
  kk_stage_t *st = sk_stage("calc.alert", "{ rules = { " CO2_RULE " } }");
  uint32_t co2 = sk_ds("raum-103", "co2", "ppm");
  cJSON *d = NULL;
  for (int i = 0; i <= 10; i++) {
    cJSON_Delete(d);
    d = feed_docs(st, mon(9, 5) + i * KK_MINUTE_MS, 1250, co2, 10 + i, 0);
  }
  KK_CHECK_INT(cJSON_GetArraySize(d), ==, 1);
  KK_CHECK_STR(doc_str(d, 0, "event"), "opened");
  KK_CHECK_STR(doc_str(d, 0, "rule"), "co2_high");
  KK_CHECK_STR(doc_str(d, 0, "thing"), "raum-103");
  KK_CHECK_STR(doc_str(d, 0, "start"), "2026-03-02T08:05:00.000Z");
  KK_CHECK_STR(doc_str(d, 0, "text"), "CO₂ in raum-103 seit 02.03.2026, "
                                      "09:05 Uhr über 1000 ppm (zuletzt 1250 "
                                      "ppm).");
  KK_CHECK_DBL(
      cJSON_GetObjectItem(cJSON_GetArrayItem(d, 0), "value")->valuedouble, 1250,
      0);
  /* The event's reading carries the replay flag of its cause, so that a
   * spool recognises an event it already has. */
  cJSON_Delete(d);
  d = feed_docs(st, mon(9, 40), 700, co2, 30, KK_READING_REPLAY);
  KK_CHECK_INT(cJSON_GetArraySize(d), ==, 1);
  KK_CHECK_STR(doc_str(d, 0, "event"), "closed");
  KK_CHECK_STR(doc_str(d, 0, "end"), "2026-03-02T08:40:00.000Z");
  KK_CHECK(strstr(doc_str(d, 0, "text"), "(35 Min., Höchstwert 1250 ppm)"));
  KK_CHECK(sk_got[sk_ngot - 1].flags & KK_READING_REPLAY);
  cJSON_Delete(d);
}

KK_TEST(alert_quiet_hours_hold_back_not_lose) {
  kk_stage_t *st =
      sk_stage("calc.alert",
               "{ quiet = 'Mo-Su 00:00-07:00', rules = { hot = { "
               "property = 'air_temperature', above = 30, clear = 28 } } }");
  uint32_t t = sk_ds("halle", "air_temperature", "Cel");
  uint32_t ev = sk_ds("halle", "alert_hot", "1");
  /* An episode from 02:00 to 03:00: opened and closed in quiet hours. */
  sk_feed1(st, mon(2, 0), 31, t);
  sk_feed1(st, mon(3, 0), 25, t);
  KK_CHECK_INT(sk_count(ev), ==, 0);
  /* One from 04:00 that lasts: sent at 07:00 with its real start. */
  sk_feed1(st, mon(4, 0), 32, t);
  sk_feed1(st, mon(6, 59), 33, t);
  KK_CHECK_INT(sk_count(ev), ==, 0);
  sk_feed1(st, mon(7, 0), 33, t);
  KK_CHECK_INT(sk_count(ev), ==, 1);
  KK_CHECK_DBL(sk_value(ev, mon(4, 0)), 1, 0);
  sk_feed1(st, mon(8, 0), 20, t);
  KK_CHECK_DBL(sk_value(ev, mon(8, 0)), 0, 0);
  KK_CHECK_INT(sk_count(ev), ==, 2);
}

KK_TEST(alert_daily_mean) {
  kk_stage_t *st = sk_stage(
      "calc.alert", "{ rules = { pm10_day = { property = 'pm10', mean = "
                    "'day', above = 50, label = 'Feinstaub PM10' } } }");
  uint32_t pm = sk_ds("station", "pm10", "ug/m3");
  uint32_t ev = sk_ds("station", "alert_pm10_day", "1");
  int64_t d0 = mon(0, 0); /* local midnight */
  double day[3] = {40, 62, 58};
  for (int d = 0; d < 3; d++)
    for (int h = 0; h < 24; h++)
      sk_feed1(st, d0 + d * KK_DAY_MS + h * 3600000LL, day[d], pm);
  /* Day 2 exceeded (opened at its start), day 3 is still open. */
  KK_CHECK_INT(sk_count(ev), ==, 1);
  KK_CHECK_DBL(sk_value(ev, d0 + KK_DAY_MS), 1, 0);
  sk_feed1(st, d0 + 3 * KK_DAY_MS, 20, pm); /* day 3 closes: still over */
  KK_CHECK_INT(sk_count(ev), ==, 1);
  sk_feed1(st, d0 + 4 * KK_DAY_MS, 20, pm); /* day 4 (20) closes it */
  KK_CHECK_INT(sk_count(ev), ==, 2);
  KK_CHECK_DBL(sk_value(ev, d0 + 3 * KK_DAY_MS), 0, 0);
}

static void keep_cb(uv_timer_t *h) {
  (void)h;
}

KK_TEST(alert_stale_datastream) {
  kk_stage_t *st =
      sk_stage("calc.alert", "{ rules = { no_data = { stale = '1s' } } }");
  uint32_t co2 = sk_ds("raum-104", "co2", "ppm");
  uint32_t ev = sk_ds("raum-104", "alert_no_data", "1");
  sk_feed1(st, kk_now_ms(), 700, co2);
  uv_loop_t *loop = kk_testing_loop(sk_testing(st));
  /* The stage's timer does not keep a loop alive (a node exits when its
   * sources are done); this one does, while the test runs the loop. */
  uv_timer_t keep;
  uv_timer_init(loop, &keep);
  uv_timer_start(&keep, keep_cb, 50, 50);
  for (int i = 0; i < 25 && sk_count(ev) == 0; i++) {
    usleep(100000);
    uv_run(loop, UV_RUN_NOWAIT);
    sk_collect(sk_testing(st));
  }
  KK_CHECK_INT(sk_count(ev), ==, 1);
  for (int i = 0; i < 10; i++) { /* stays one episode */
    usleep(100000);
    uv_run(loop, UV_RUN_NOWAIT);
    sk_collect(sk_testing(st));
  }
  KK_CHECK_INT(sk_count(ev), ==, 1);
  uv_close((uv_handle_t *)&keep, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  sk_feed1(st, kk_now_ms(), 710, co2);
  KK_CHECK_INT(sk_count(ev), ==, 2);
  KK_CHECK_DBL(sk_got[sk_ngot - 1].value, 0, 0);
}

/* A stage with a data directory (snapshots), outside the kit's list. */
static kk_testing_t *stage_in(const char *dir, const char *opts) {
  kk_testing_t *t = NULL;
  char err[512];
  int rc =
      kk_testing_new(sk_module("calc.alert"), opts, dir, &t, err, sizeof err);
  if (rc) KK__FAIL("create: %s", err);
  KK_CHECK_INT(kk_testing_start(t), ==, 0);
  return t;
}

static size_t feed_seq(kk_testing_t *t, int64_t time, double v, uint32_t ds,
                       uint64_t seq, uint32_t flags) {
  kk_batch_t *b = kk_batch_new(1);
  kk_reading_t r = {time, v, ds, flags};
  kk_batch_push(b, &r);
  kk_batch_set_seq(b, seq);
  KK_CHECK_INT(kk_testing_feed(t, b, NULL), >=, 0);
  kk_batch_unref(b);
  size_t n = kk_testing_count(t);
  kk_testing_clear(t);
  return n;
}

KK_TEST(alert_restart_mid_episode_fires_once) {
  char dir[] = "/tmp/kk-alert-XXXXXX";
  KK_CHECK(mkdtemp(dir) != NULL);
  const char *opts =
      "{ name = 'klasse', snapshot = '0s', rules = { " CO2_RULE " } }";
  uint32_t co2 = sk_ds("raum-105", "co2", "ppm");
  kk_testing_t *a = stage_in(dir, opts);
  size_t events = 0;
  for (int i = 0; i <= 12; i++)
    events += feed_seq(a, mon(9, 0) + i * KK_MINUTE_MS, 1300, co2, 100 + i, 0);
  KK_CHECK_INT(events, ==, 1); /* opened at minute 10 */
  kk_testing_stop(a);          /* saves the snapshot: seq 112 */
  KK_CHECK_INT(kk_testing_free(a, NULL, 0), ==, 0);
  /* The engine replays what the snapshot holds (skipped) and more. */
  kk_testing_t *b = stage_in(dir, opts);
  events = 0;
  for (int i = 0; i <= 14; i++)
    events += feed_seq(b, mon(9, 0) + i * KK_MINUTE_MS, 1300, co2, 100 + i,
                       KK_READING_REPLAY);
  KK_CHECK_INT(events, ==, 0); /* no second "opened" */
  events = feed_seq(b, mon(9, 20), 800, co2, 120, 0);
  KK_CHECK_INT(events, ==, 1); /* but the close comes */
  KK_CHECK_INT(kk_testing_free(b, NULL, 0), ==, 0);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  KK_CHECK_INT(system(cmd), ==, 0);
}

static void bad_rules(const char *opts, const char *want) {
  int rc = 0;
  sk_stage_rc("calc.alert", opts, &rc);
  KK_CHECK_INT(rc, <, 0);
  if (!strstr(sk_err, want))
    KK__FAIL("error \"%s\" lacks \"%s\"", sk_err, want);
}

KK_TEST(alert_rule_errors) {
  bad_rules("{ rules = { x = { property = 'co2', above = 1, below = 0 } } }",
            "exactly one of above and below");
  bad_rules("{ rules = { x = { property = 'co2', above = 1000, clear = 1100 } "
            "} }",
            "clear must be on the safe side");
  bad_rules(
      "{ rules = { x = { property = 'co2', above = 1, color = 'red' } } }",
      "unknown field 'color'");
  bad_rules("{ rules = { x = { above = 1 } } }", "property is required");
  bad_rules("{ rules = { x = { property = 'co2', above = 1, schedule = 'Mx' } "
            "} }",
            "expected a day");
  bad_rules("{ rules = { ['X-1'] = { stale = '2h' } } }", "use a-z");
  bad_rules("{ rules = { x = { stale = '2h', above = 3 } } }",
            "stale rules take no above");
  bad_rules("{ quiet = '25:00-01:00', rules = { x = { stale = '2h' } } }",
            "quiet:");
}

KK_TEST(indoor_air_counts_occupied_minutes_only) {
  kk_stage_t *st =
      sk_stage("calc.indoor_air",
               "{ schedule = 'Mo-Fr 08:00-13:30', closed = { '2026-03-03' }, "
               "flush_at_stop = true }");
  uint32_t co2 = sk_ds("raum-106", "co2", "ppm");
  for (int i = 0; i < 24 * 60; i += 1) /* Monday: 1200 ppm all day */
    sk_feed1(st, mon(0, 0) + i * KK_MINUTE_MS, 1200, co2);
  for (int i = 0; i < 60; i++) /* Tuesday is closed: 2500 ppm, no minutes */
    sk_feed1(st, mon(9, 0) + KK_DAY_MS + i * KK_MINUTE_MS, 2500, co2);
  sk_stop(st);
  uint32_t m1000 = sk_ds("raum-106", "minutes_above_1000ppm", "min");
  uint32_t m2000 = sk_ds("raum-106", "minutes_above_2000ppm", "min");
  uint32_t occ = sk_ds("raum-106", "minutes_occupied", "min");
  KK_CHECK_DBL(sk_value(m1000, mon(0, 0)), 330, 1e-9);
  KK_CHECK_DBL(sk_value(occ, mon(0, 0)), 330, 1e-9);
  KK_CHECK_DBL(sk_value(m1000, mon(0, 0) + KK_DAY_MS), 0, 1e-9);
  KK_CHECK_DBL(sk_value(m2000, mon(0, 0) + KK_DAY_MS), 0, 1e-9);
  int rc = 0;
  sk_stage_rc("calc.indoor_air", "{ schedule = 'Mo 25:00-26:00' }", &rc);
  KK_CHECK_INT(rc, <, 0);
}

KK_TEST_MAIN(KK_CASE(schedule_weekdays_and_spans),
             KK_CASE(schedule_german_days_overnight_and_lists),
             KK_CASE(schedule_errors),
             KK_CASE(alert_duration_hysteresis_one_event_per_episode),
             KK_CASE(alert_outside_schedule_nothing_and_schedule_end_closes),
             KK_CASE(alert_event_document_german_text),
             KK_CASE(alert_quiet_hours_hold_back_not_lose),
             KK_CASE(alert_daily_mean), KK_CASE(alert_stale_datastream),
             KK_CASE(alert_restart_mid_episode_fires_once),
             KK_CASE(alert_rule_errors),
             KK_CASE(indoor_air_counts_occupied_minutes_only))
