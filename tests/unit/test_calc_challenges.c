/* tests/unit/test_calc_challenges.c - calc.challenges (Klima-Challenges):
 * points and CO2e computed by hand, opt-in, the minimum team size, the
 * retention, and the property that neither batch boundaries, order nor
 * repeated readings change the result; and the measures catalogue
 * (calc_catalogue.c: CSV columns, partner updates). */
#include "kk_test.h"

#include <cJSON.h>

#include "calc/calc.h"
#include "calc/calc_catalogue.h"
#include "calc/calc_challenges.h"
#include "../support/stage_kit.h"

/* Energy: baseline 1-11 Sept (10 days), challenge 1-11 Oct (10 days).
 * Cycling and an action in October.  UTC keeps the hours plain. */
static const char ch_opts[] =
    "{ tz = 'UTC', min_team = 3, retention = '0s', challenges = {"
    " { id = 'strom', kind = 'energy', title = 'Strom sparen',"
    "   from = '2026-10-01', to = '2026-10-11',"
    "   baseline = { from = '2026-09-01', to = '2026-09-11' },"
    "   points_per = 2, factor = 0.5, factor_source = 'test' },"
    " { id = 'rad', kind = 'cycling', from = '2026-10-01', to = '2026-11-01',"
    "   points_per = 1, factor = 0.2, factor_source = 'test' },"
    " { id = 'ini', kind = 'action', property = 'action_initiative',"
    "   from = '2026-10-01', to = '2026-11-01', points_per = 10, factor = 0,"
    "   factor_source = 'test' } },"
    " participants = {"
    " { id = 'p-001', team = '7b', team_type = 'school_class', district = "
    "'Lindenau', opt_in = true },"
    " { id = 'p-002', team = '7b', district = 'Lindenau', opt_in = true },"
    " { id = 'p-003', team = '7b', district = 'Lindenau', opt_in = true },"
    " { id = 'p-004', team = 'Firma X', team_type = 'company', district = "
    "'Nord', opt_in = false },"
    " { id = 'p-005', team = 'Firma X', district = 'Nord', opt_in = true } } }";

KK_TEST(challenges_hand_computed) {
  kk_stage_t *st = sk_stage("calc.challenges", ch_opts);
  uint32_t m1 = sk_ds("p-001", "energy", "kW.h");
  uint32_t c2 = sk_ds("p-002", "cycling_km", "km");
  uint32_t a3 = sk_ds("p-003", "action_initiative", "1");
  uint32_t c4 = sk_ds("p-004", "cycling_km", "km");
  uint32_t c5 = sk_ds("p-005", "cycling_km", "m");
  kk_reading_t r[] = {
      /* 100 kWh in the 240 baseline hours; 80 kWh in the 240 challenge
       * hours: saved 100 / 240 * 240 - 80 = 20 kWh -> 40 points, 10 kg. */
      {sk_utc(2026, 9, 1, 0, 0), 100, m1, 0},
      {sk_utc(2026, 9, 11, 0, 0), 200, m1, 0},
      {sk_utc(2026, 10, 1, 0, 0), 500, m1, 0},
      {sk_utc(2026, 10, 11, 0, 0), 580, m1, 0},
      /* 12.5 + 7.5 km in October (the November ride is outside): 20
       * points, 4 kg. */
      {sk_utc(2026, 10, 2, 8, 0), 12.5, c2, 0},
      {sk_utc(2026, 10, 20, 8, 0), 7.5, c2, 0},
      {sk_utc(2026, 11, 5, 8, 0), 100, c2, 0},
      /* Two actions: 20 points, no CO2e. */
      {sk_utc(2026, 10, 3, 18, 0), 1, a3, 0},
      {sk_utc(2026, 10, 17, 18, 0), 1, a3, 0},
      /* No opt-in: dropped. */
      {sk_utc(2026, 10, 4, 8, 0), 50, c4, 0},
      /* 3000 m = 3 km, alone in Firma X: not shown, counts in Nord. */
      {sk_utc(2026, 10, 4, 8, 0), 3000, c5, 0},
  };
  sk_feed(st, r, sizeof r / sizeof *r, 1);
  int64_t t0 = sk_utc(2026, 10, 1, 0, 0);
  KK_CHECK_DBL(sk_value(sk_ds("team/7b", "points", "1"), t0), 80, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("team/7b", "co2e_avoided", "kg"), t0), 14, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("team/7b", "participants", "1"), t0), 3, 0);
  KK_CHECK_DBL(sk_value(sk_ds("district/Lindenau", "points", "1"), t0), 80,
               1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("district/Nord", "points", "1"), t0), 3, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("district/Nord", "co2e_avoided", "kg"), t0), 0.6,
               1e-9);
  KK_CHECK(isnan(sk_value(sk_ds("team/Firma X", "points", "1"), t0)));
  KK_CHECK_INT(sk_rejected(st, "no_opt_in"), ==, 1);
  /* No participant's own figure leaves the stage. */
  for (size_t i = 0; i < sk_ngot; i++) {
    const kk_datastream_t *d = kk_datastream_get(sk_got[i].ds);
    KK_CHECK(strncmp(d->thing, "team/", 5) == 0 ||
             strncmp(d->thing, "district/", 9) == 0);
  }
  /* The board the leaderboard shows. */
  calc_board_t *b = calc_board_first();
  KK_CHECK(b != NULL);
  KK_CHECK_INT(b->nteams, ==, 1);
  KK_CHECK_INT(b->hidden_teams, ==, 1);
  KK_CHECK_STR(b->teams[0].name, "7b");
  KK_CHECK_DBL(b->teams[0].rule_amount[0], 20, 1e-9); /* kWh saved */
  KK_CHECK_DBL(b->teams[0].rule_points[1], 20, 1e-9);
  /* A reading seen again (a replayed file) changes nothing. */
  sk_feed(st, r, 4, 2);
  KK_CHECK_DBL(sk_value(sk_ds("team/7b", "points", "1"), t0), 80, 1e-9);
  KK_CHECK_INT(sk_rejected(st, "duplicate"), ==, 4);
}

KK_TEST(challenges_more_consumption_scores_zero) {
  kk_stage_t *st = sk_stage("calc.challenges", ch_opts);
  uint32_t m1 = sk_ds("p-001", "energy", "kW.h");
  kk_reading_t r[] = {
      {sk_utc(2026, 9, 1, 0, 0), 0, m1, 0},
      {sk_utc(2026, 9, 11, 0, 0), 50, m1, 0},
      {sk_utc(2026, 10, 1, 0, 0), 60, m1, 0},
      {sk_utc(2026, 10, 6, 0, 0), 100, m1, 0}, /* 40 in 120 h: 25 more */
  };
  sk_feed(st, r, 4, 1);
  int64_t t0 = sk_utc(2026, 10, 1, 0, 0);
  KK_CHECK_DBL(sk_value(sk_ds("team/7b", "points", "1"), t0), 0, 0);
}

/* A small deterministic generator (xorshift) for the property test. */
static uint64_t ch_rng = 88172645463325252ull;
static uint64_t ch_next(void) {
  ch_rng ^= ch_rng << 13;
  ch_rng ^= ch_rng >> 7;
  ch_rng ^= ch_rng << 17;
  return ch_rng;
}

KK_TEST(challenges_batch_order_does_not_matter) {
  enum { N = 600 };
  kk_reading_t r[N];
  uint32_t ds[5][3];
  const char *ids[5] = {"p-001", "p-002", "p-003", "p-004", "p-005"};
  for (int p = 0; p < 5; p++) {
    ds[p][0] = sk_ds(ids[p], "energy", "kW.h");
    ds[p][1] = sk_ds(ids[p], "cycling_km", "km");
    ds[p][2] = sk_ds(ids[p], "action_initiative", "1");
  }
  double meter[5] = {0};
  int64_t t = sk_utc(2026, 8, 25, 0, 0);
  for (int i = 0; i < N; i++) {
    int p = (int)(ch_next() % 5), k = (int)(ch_next() % 3);
    t += (int64_t)(ch_next() % 20 + 1) * 3600000;
    double v = (double)(ch_next() % 1000) / 10;
    if (k == 0) v = meter[p] += v / 10;
    r[i] = (kk_reading_t){t, v, ds[p][k], 0};
  }
  kk_stage_t *a = sk_stage("calc.challenges", ch_opts);
  sk_feed(a, r, N, 1);
  kk_reading_t want[64], got[64];
  size_t nw = sk_final_values(want, 64);
  KK_CHECK(nw >= 6);
  for (int round = 0; round < 3; round++) {
    /* Shuffle (Fisher-Yates) and feed in random batches, some twice. */
    kk_reading_t s[N];
    memcpy(s, r, sizeof s);
    for (int i = N - 1; i > 0; i--) {
      int j = (int)(ch_next() % (uint64_t)(i + 1));
      kk_reading_t x = s[i];
      s[i] = s[j];
      s[j] = x;
    }
    kk_stage_t *b = sk_stage("calc.challenges", ch_opts);
    for (size_t i = 0, seq = 1; i < N; seq++) {
      size_t n = ch_next() % 50 + 1;
      if (n > N - i) n = N - i;
      sk_feed(b, s + i, n, seq);
      if (seq % 3 == 0) sk_feed(b, s + i, n, ++seq);
      i += n;
    }
    size_t ng = sk_final_values(got, 64);
    KK_CHECK_INT(ng, ==, nw);
    for (size_t i = 0; i < nw && i < ng; i++) {
      KK_CHECK_INT(got[i].ds, ==, want[i].ds);
      KK_CHECK_DBL(got[i].value, want[i].value,
                   1e-9 * (1 + fabs(want[i].value)));
    }
  }
}

KK_TEST(challenges_retention_and_pseudonyms) {
  /* A campaign that ended long ago: its readings are deleted at start;
   * new ones are not taken. */
  kk_stage_t *st = sk_stage(
      "calc.challenges",
      "{ tz = 'UTC', retention = '1d', challenges = { { id = 'rad', kind = "
      "'cycling', from = '2020-05-01', to = '2020-06-01', points_per = 1, "
      "factor = 0.2, factor_source = 'test' } }, participants = { { id = "
      "'p-001', team = 'A', opt_in = true } } }");
  calc_board_t *b = calc_board_first();
  KK_CHECK(b && b->purged);
  sk_feed1(st, sk_utc(2020, 5, 3, 8, 0), 10,
           sk_ds("p-001", "cycling_km", "km"));
  KK_CHECK_INT(sk_rejected(st, "after_retention"), ==, 1);
  int rc = 0;
  KK_CHECK(sk_stage_rc("calc.challenges",
                       "{ challenges = { { id = 'rad', kind = 'cycling', from "
                       "= '2026-05-01', to = '2026-06-01', points_per = 1, "
                       "factor = 0.2, factor_source = 'x' } }, participants = "
                       "{ { id = 'anna@example.org', team = 'A', opt_in = true "
                       "} } }",
                       &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EINVAL);
  KK_CHECK(strstr(sk_err, "pseudonym") != NULL);
  /* A factor without its source is refused. */
  KK_CHECK(sk_stage_rc("calc.challenges",
                       "{ challenges = { { id = 'rad', kind = 'cycling', from "
                       "= '2026-05-01', to = '2026-06-01', points_per = 1, "
                       "factor = 0.2 } }, participants = { { id = 'p-1x', "
                       "team = 'A', opt_in = true } } }",
                       &rc) == NULL);
}

/* ---- the measures catalogue ------------------------------------------- */

KK_TEST(catalogue_csv_and_updates) {
  char path[] = "/tmp/kk_test_cat_XXXXXX";
  int fd = mkstemp(path);
  const char *csv =
      "\xef\xbb\xbfid;Handlungsfeld;Titel;status;phase;fortschritt;"
      "beginn_geplant;minderung_t;budget;erreicht_2024;erreicht_2025\n"
      "M-1;Mobilität;\"Radweg; Nord\";verzögert;Umsetzung;40;2024;1.234,5;"
      "250000;-12,5;61\n"
      "M-2;Gebäude;Dach;im Zeitplan;Planung;;2026-03;mittel;;;\n";
  KK_CHECK(write(fd, csv, strlen(csv)) == (ssize_t)strlen(csv));
  close(fd);
  calc_cat_t c = {0};
  char err[256] = "";
  KK_CHECK_INT(calc_cat_load_csv(&c, path, err, sizeof err), ==, 0);
  unlink(path);
  KK_CHECK_INT(c.n, ==, 2);
  cat_measure_t *m = calc_cat_find(&c, "M-1");
  KK_CHECK_STR(m->title, "Radweg; Nord");
  KK_CHECK_INT(m->status, ==, CAT_ST_LATE);
  KK_CHECK_INT(m->phase, ==, CAT_PH_IMPLEMENTATION);
  KK_CHECK_DBL(m->planned_t, 1234.5, 0);
  KK_CHECK_DBL(m->years[0].reported, -12.5, 0);
  KK_CHECK_DBL(calc_cat_expected(m, 2024), 1234.5, 0);
  KK_CHECK(isnan(calc_cat_expected(m, 2023)));
  cat_measure_t *m2 = calc_cat_find(&c, "M-2");
  KK_CHECK_INT(m2->planned_class, ==, CAT_CL_MEDIUM);
  KK_CHECK_STR(m2->planned_start, "2026-03");
  /* An update with one bad field changes nothing. */
  cJSON *u = cJSON_Parse("{\"thing\":\"measure/M-1\",\"property\":"
                         "\"completion\",\"value\":60,\"update\":{\"phase\":"
                         "\"fertig\",\"author\":\"SWM\"}}");
  cat_measure_t *ch;
  KK_CHECK_INT(calc_cat_update(&c, u, 1000, "x", &ch, err, sizeof err), ==,
               KK_EINVAL);
  KK_CHECK_DBL(m->completion, 40, 0);
  cJSON_Delete(u);
  u = cJSON_Parse("{\"thing\":\"measure/M-1\",\"property\":\"completion\","
                  "\"value\":60,\"time\":\"2026-11-30T09:00:00Z\",\"update\":"
                  "{\"status\":\"on_time\",\"author\":\"SWM\",\"reported\":{"
                  "\"2026\":30},\"note\":\"ok\"}}");
  KK_CHECK_INT(calc_cat_update(&c, u, 1000, "x", &ch, err, sizeof err), ==, 0);
  cJSON_Delete(u);
  KK_CHECK(ch == m);
  KK_CHECK_DBL(m->completion, 60, 0);
  KK_CHECK_INT(m->status, ==, CAT_ST_ON_TIME);
  KK_CHECK_INT(m->nhist, ==, 1);
  KK_CHECK_STR(m->hist[0].author, "SWM");
  KK_CHECK(strstr(m->hist[0].summary, "completion %: 40 → 60") != NULL);
  KK_CHECK_INT(m->hist[0].time_ms, ==, sk_utc(2026, 11, 30, 9, 0));
  /* The state survives a round trip through the snapshot line. */
  kk_buf_t b = {0};
  calc_cat_state_json(m, &b);
  calc_cat_t d = {0};
  KK_CHECK_INT(calc_cat_load_csv(&d, "/nonexistent", err, sizeof err), ==,
               KK_EINVAL);
  calc_cat_free(&d);
  m->completion = 0;
  m->nhist = 0; /* the entry moves to the reload (freed by it) */
  free(m->hist[0].author);
  free(m->hist[0].summary);
  free(m->hist[0].note);
  KK_CHECK_INT(calc_cat_state_load(&c, b.p), ==, 0);
  KK_CHECK_DBL(m->completion, 60, 0);
  KK_CHECK_INT(m->nhist, ==, 1);
  KK_CHECK_STR(m->hist[0].note, "ok");
  kk_buf_free(&b);
  /* Bad rows say where. */
  calc_cat_free(&c);
  char p2[] = "/tmp/kk_test_cat_XXXXXX";
  fd = mkstemp(p2);
  const char *bad = "id,title,phase\nA-1,x,planning\nA 2,y,planning\n";
  KK_CHECK(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad));
  close(fd);
  calc_cat_t e = {0};
  KK_CHECK_INT(calc_cat_load_csv(&e, p2, err, sizeof err), ==, KK_EINVAL);
  KK_CHECK(strstr(err, ":3: ") != NULL);
  unlink(p2);
  calc_cat_free(&e);
}

KK_TEST_MAIN(KK_CASE(challenges_hand_computed),
             KK_CASE(challenges_more_consumption_scores_zero),
             KK_CASE(challenges_batch_order_does_not_matter),
             KK_CASE(challenges_retention_and_pseudonyms),
             KK_CASE(catalogue_csv_and_updates))
