/*
 * tests/support/stage_kit.h - drives any module's stage from a unit test
 * through the public API (klimakit/testing.h).
 *
 *   kk_stage_t *st = sk_stage("calc.window", "{ periods = { 'hour' } }");
 *   sk_feed1(st, sk_utc(2026, 3, 1, 10, 0), 21.5, sk_ds("r1", "t", "Cel"));
 *   KK_CHECK_DBL(sk_value(ds, t), 21.5, 1e-9);
 *
 * A stage is created from its module's `ns.name` and options written as a
 * Lua table, and started, as a recipe run would; whatever any stage emits
 * is collected, in order, in sk_got[0 .. sk_ngot) (readings) until the
 * next sk_stage() starts afresh.  When the test function returns, every
 * stage is stopped and freed, and the test fails if a stage left a handle
 * open on its loop (kk_test_after).  Include after kk_test.h.
 */
#ifndef KK_TEST_STAGE_KIT_H
#define KK_TEST_STAGE_KIT_H

#include <klimakit.h>
#include <klimakit/testing.h>
#include <time.h>

/* The message of the last failed sk_stage_rc(). */
static char sk_err[4096];

/* Everything the stages emitted since the last sk_stage(), in order. */
static kk_reading_t *sk_got;
static size_t sk_ngot, sk_capgot;

/* The live stages of this test. */
static kk_testing_t **sk_live;
static size_t sk_nlive, sk_caplive;

static inline kk_testing_t *sk_testing(kk_stage_t *st) {
  for (size_t i = 0; i < sk_nlive; i++)
    if (kk_testing_stage(sk_live[i]) == st) return sk_live[i];
  KK__FAIL("not a stage of the kit");
}

/* Moves what `t` emitted to sk_got. */
static inline void sk_collect(kk_testing_t *t) {
  size_t n = kk_testing_count(t);
  const kk_reading_t *r = kk_testing_readings(t);
  for (size_t i = 0; i < n; i++) {
    if (sk_ngot == sk_capgot) {
      sk_capgot = sk_capgot ? sk_capgot * 2 : 1024;
      sk_got = realloc(sk_got, sk_capgot * sizeof *sk_got);
      if (!sk_got) abort();
    }
    sk_got[sk_ngot++] = r[i];
  }
  kk_testing_clear(t);
}

/* Stops the stage (a calculator flushes what its options say it flushes
 * at stop) and collects what that emitted.  The stage stays allocated
 * until the test ends. */
static inline void sk_stop(kk_stage_t *st) {
  kk_testing_t *t = sk_testing(st);
  kk_testing_stop(t);
  sk_collect(t);
}

/* kk_test_after: frees every stage; handles left open fail the test. */
static inline void sk_after(void) {
  char err[512];
  int open = 0;
  for (size_t i = 0; i < sk_nlive; i++) {
    int n = kk_testing_free(sk_live[i], err, sizeof err);
    if (n)
      fprintf(stderr, "  stage %zu left %d handle(s) open: %s\n", i, n, err);
    open += n;
  }
  sk_nlive = 0;
  free(sk_live);
  sk_live = NULL;
  free(sk_got);
  sk_got = NULL;
  sk_ngot = sk_capgot = 0;
  if (open) KK__FAIL("stages left %d handle(s) open", open);
}

/* The module `ns.name` ("calc.window"); fails the test when there is none. */
static inline const kk_module_t *sk_module(const char *ns_name) {
  char ns[64];
  const char *dot = strchr(ns_name, '.');
  if (!dot || (size_t)(dot - ns_name) >= sizeof ns)
    KK__FAIL("module name '%s' is not ns.name", ns_name);
  memcpy(ns, ns_name, (size_t)(dot - ns_name));
  ns[dot - ns_name] = 0;
  const kk_module_t *m = kk_testing_module(ns, dot + 1);
  if (!m) KK__FAIL("no module %s", ns_name);
  return m;
}

/* Creates and starts a stage of `ns_name` with the options `lua_table`
 * ("{ carrier = 'erdgas' }").  Returns the stage, or NULL with sk_err and
 * *rc_out set when create failed (rc_out may be NULL: then a failure
 * fails the test).  Starts sk_got afresh. */
static inline kk_stage_t *sk_stage_rc(const char *ns_name,
                                      const char *lua_table, int *rc_out) {
  const kk_module_t *m = sk_module(ns_name);
  kk_testing_t *t = NULL;
  kk_test_after = sk_after;
  int rc = kk_testing_new(m, lua_table, NULL, &t, sk_err, sizeof sk_err);
  if (rc) {
    if (!rc_out)
      KK__FAIL("create %s: %s: %s", ns_name, kk_strerror(rc), sk_err);
    *rc_out = rc;
    return NULL;
  }
  if (sk_nlive == sk_caplive) {
    sk_caplive = sk_caplive ? sk_caplive * 2 : 8;
    sk_live = realloc(sk_live, sk_caplive * sizeof *sk_live);
    if (!sk_live) abort();
  }
  sk_live[sk_nlive++] = t;
  rc = kk_testing_start(t);
  if (rc)
    KK__FAIL("start %s: %s: %s", ns_name, kk_strerror(rc),
             kk_stage_last_error(kk_testing_stage(t)));
  if (rc_out) *rc_out = 0;
  sk_ngot = 0;
  return kk_testing_stage(t);
}

static inline kk_stage_t *sk_stage(const char *ns_name, const char *lua_table) {
  return sk_stage_rc(ns_name, lua_table, NULL);
}

static inline uint32_t sk_ds(const char *thing, const char *prop,
                             const char *unit) {
  uint32_t id = kk_datastream_id(thing, prop, unit);
  if (!id) KK__FAIL("datastream");
  return id;
}

/* UTC milliseconds of a civil UTC time (libc timegm, independent of the
 * calendar code under test). */
static inline int64_t sk_utc(int y, int mo, int d, int h, int mi) {
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return (int64_t)timegm(&tm) * 1000;
}

/* Hands a batch (borrowed) to the stage: process() of a transform or sink,
 * decode of a source's raw messages (status as kk_testing_feed).  A
 * failure fails the test. */
static inline void sk_feed_batch(kk_stage_t *st, kk_batch_t *b, int *status) {
  kk_testing_t *t = sk_testing(st);
  int rc = kk_testing_feed(t, b, status);
  sk_collect(t);
  if (rc < 0)
    KK__FAIL("process: %s: %s", kk_strerror(rc), kk_stage_last_error(st));
}

/* Sends readings through the stage as one batch of journal position seq. */
static inline void sk_feed(kk_stage_t *st, const kk_reading_t *r, size_t n,
                           uint64_t seq) {
  kk_batch_t *b = kk_batch_new(n ? n : 1);
  for (size_t i = 0; i < n; i++)
    if (kk_batch_push(b, &r[i])) KK__FAIL("push");
  kk_batch_set_seq(b, seq);
  sk_feed_batch(st, b, NULL);
  kk_batch_unref(b);
}

static inline void sk_feed1(kk_stage_t *st, int64_t t, double v, uint32_t ds) {
  kk_reading_t r = {t, v, ds, 0};
  sk_feed(st, &r, 1, 0);
}

/* The last value collected for (ds, time): what a replacing store holds.
 * NAN when none. */
static inline double sk_value(uint32_t ds, int64_t t) {
  double v = NAN;
  for (size_t i = 0; i < sk_ngot; i++)
    if (sk_got[i].ds == ds && sk_got[i].time_ms == t) v = sk_got[i].value;
  return v;
}

static inline size_t sk_count(uint32_t ds) {
  size_t n = 0;
  for (size_t i = 0; i < sk_ngot; i++)
    n += sk_got[i].ds == ds;
  return n;
}

static inline double sk_sum(uint32_t ds) {
  double s = 0;
  for (size_t i = 0; i < sk_ngot; i++)
    if (sk_got[i].ds == ds) s += sk_got[i].value;
  return s;
}

/* The stage's kk_rejected_total{reason=...}. */
static inline int64_t sk_rejected(kk_stage_t *st, const char *reason) {
  return kk_metric_value(
      kk_stage_counter(st, "kk_rejected_total", reason, NULL));
}

static inline int sk_cmp_ds_time(const void *x, const void *y) {
  const kk_reading_t *a = x, *b = y;
  if (a->ds != b->ds) return a->ds < b->ds ? -1 : 1;
  return a->time_ms < b->time_ms ? -1 : a->time_ms > b->time_ms;
}

/* What a replacing store ends up with: the last value collected per (ds,
 * time), at most `cap` of them, sorted by (ds, time). */
static inline size_t sk_final_values(kk_reading_t *dst, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < sk_ngot; i++) {
    size_t j = 0;
    while (j < n &&
           !(dst[j].ds == sk_got[i].ds && dst[j].time_ms == sk_got[i].time_ms))
      j++;
    if (j == cap) KK__FAIL("more than %zu final values", cap);
    dst[j] = sk_got[i];
    if (j == n) n++;
  }
  qsort(dst, n, sizeof *dst, sk_cmp_ds_time);
  return n;
}

#endif
