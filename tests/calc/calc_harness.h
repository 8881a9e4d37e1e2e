/*
 * tests/calc/calc_harness.h - drives calc modules directly in unit tests:
 * a stage made from a module and an option table written in Lua, feeding
 * a capture sink, without running the loop.  Included by
 * tests/unit/test_calc*.c (which also include kk_test.h).
 */
#ifndef KK_TEST_CALC_HARNESS_H
#define KK_TEST_CALC_HARNESS_H

#include <klimakit.h>
#include <lauxlib.h>
#include <lualib.h>
#include <time.h>

#include "calc/calc.h"
#include "core.h"
#include "engine.h"

static char ch_err[4096];

/* Everything the capture sink received, in order. */
static kk_reading_t *ch_got;
static size_t ch_ngot, ch_capgot;

static inline int ch_cap_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st, (void)state;
  for (size_t i = 0; i < kk_batch_len(b); i++) {
    if (ch_ngot == ch_capgot) {
      ch_capgot = ch_capgot ? ch_capgot * 2 : 1024;
      ch_got = realloc(ch_got, ch_capgot * sizeof *ch_got);
      if (!ch_got) abort();
    }
    ch_got[ch_ngot++] = kk_batch_readings(b)[i];
  }
  return 0;
}

static const kk_module_t ch_cap_module = {.abi = KK_MODULE_ABI,
                                          .size = sizeof(kk_module_t),
                                          .name = "capture",
                                          .ns = "sink",
                                          .kind = KK_KIND_SINK,
                                          .summary = "test",
                                          .description = "test",
                                          .process = ch_cap_process};

static kk__engine_t *ch_eng;

/* Creates a stage of calc.<name> with the options `lua_table` ("{ carrier
 * = 'erdgas' }").  Returns the stage, or NULL with ch_err and *rc set
 * when create failed (rc may be NULL: then failure fails the test). */
static inline kk_stage_t *ch_stage_rc(const char *name, const char *lua_table,
                                      int *rc_out) {
  const kk_module_t *m = kk__registry_find("calc", name);
  if (!m) {
    kk__registry_init();
    m = kk__registry_find("calc", name);
  }
  if (!m) KK__FAIL("no module calc.%s", name);
  lua_State *L = luaL_newstate();
  char code[8192];
  snprintf(code, sizeof code, "return %s", lua_table);
  if (luaL_dostring(L, code) != LUA_OK)
    KK__FAIL("options: %s", lua_tostring(L, -1));
  kk_opts_t *o = kk__opts_from_lua(L, -1, m, ch_err, sizeof ch_err);
  if (!o) KK__FAIL("opts: %s", ch_err);
  lua_pushnil(L);
  kk_opts_t *co =
      kk__opts_from_lua(L, -1, &ch_cap_module, ch_err, sizeof ch_err);
  lua_close(L);
  if (!co) KK__FAIL("opts: %s", ch_err);
  if (!ch_eng) ch_eng = kk__engine_new();
  kk_stage_t *st = kk__engine_add_stage(ch_eng, m, o, "test", 1);
  kk_stage_t *cap = kk__engine_add_stage(ch_eng, &ch_cap_module, co, "test", 2);
  if (!st || !cap) KK__FAIL("add_stage");
  if (kk__engine_connect(st, cap, ch_err, sizeof ch_err))
    KK__FAIL("%s", ch_err);
  void *state = NULL;
  int rc = m->create(st, o, &state);
  st->state = state;
  st->created = 1;
  if (rc) {
    snprintf(ch_err, sizeof ch_err, "%s", kk_stage_last_error(st));
    if (!rc_out)
      KK__FAIL("create: %s: %s", kk_strerror(rc), kk_stage_last_error(st));
    *rc_out = rc;
    return NULL;
  }
  if (rc_out) *rc_out = 0;
  ch_ngot = 0;
  return st;
}

static inline kk_stage_t *ch_stage(const char *name, const char *lua_table) {
  return ch_stage_rc(name, lua_table, NULL);
}

static inline uint32_t ch_ds(const char *thing, const char *prop,
                             const char *unit) {
  uint32_t id = kk_datastream_id(thing, prop, unit);
  if (!id) KK__FAIL("datastream");
  return id;
}

/* UTC milliseconds of a civil UTC time (libc timegm, independent of the
 * calendar code under test). */
static inline int64_t ch_utc(int y, int mo, int d, int h, int mi) {
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return (int64_t)timegm(&tm) * 1000;
}

/* Sends readings through the stage's process() as one batch. */
static inline void ch_feed(kk_stage_t *st, const kk_reading_t *r, size_t n,
                           uint64_t seq) {
  kk_batch_t *b = kk_batch_new(n ? n : 1);
  for (size_t i = 0; i < n; i++)
    if (kk_batch_push(b, &r[i])) KK__FAIL("push");
  kk_batch_set_seq(b, seq);
  int rc = st->m->process(st, st->state, b);
  kk_batch_unref(b);
  if (rc) KK__FAIL("process: %s: %s", kk_strerror(rc), kk_stage_last_error(st));
}

static inline void ch_feed1(kk_stage_t *st, int64_t t, double v, uint32_t ds) {
  kk_reading_t r = {t, v, ds, 0};
  ch_feed(st, &r, 1, 0);
}

/* The last value captured for (ds, time): what a replacing store holds.
 * NAN when none. */
static inline double ch_value(uint32_t ds, int64_t t) {
  double v = NAN;
  for (size_t i = 0; i < ch_ngot; i++)
    if (ch_got[i].ds == ds && ch_got[i].time_ms == t) v = ch_got[i].value;
  return v;
}

static inline size_t ch_count(uint32_t ds) {
  size_t n = 0;
  for (size_t i = 0; i < ch_ngot; i++)
    n += ch_got[i].ds == ds;
  return n;
}

static inline double ch_sum(uint32_t ds) {
  double s = 0;
  for (size_t i = 0; i < ch_ngot; i++)
    if (ch_got[i].ds == ds) s += ch_got[i].value;
  return s;
}

static inline int64_t ch_rejected(kk_stage_t *st, const char *reason) {
  return kk_metric_value(
      kk_stage_counter(st, "kk_rejected_total", reason, NULL));
}

/* The first fields of the state of the windowed calculators (calc.window,
 * calc.outdoor_air): what ch_flush_all needs to reach the window table. */
typedef struct {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_windows_t *w;
} ch_windowed_head_t;

/* Emits every window not yet emitted in its current state, open ones
 * included (the end of the data). */
static inline void ch_flush_all(kk_stage_t *st) {
  ch_windowed_head_t *h = st->state;
  kk_batch_t *out = kk_batch_new(64);
  calc_windows_flush_all(h->w, out);
  kk_stage_emit(st, out);
  kk_batch_unref(out);
}

static inline int ch_cmp_ds_time(const void *x, const void *y) {
  const kk_reading_t *a = x, *b = y;
  if (a->ds != b->ds) return a->ds < b->ds ? -1 : 1;
  return a->time_ms < b->time_ms ? -1 : a->time_ms > b->time_ms;
}

/* What a replacing store ends up with: the last value captured per (ds,
 * time), at most `cap` of them, sorted by (ds, time). */
static inline size_t ch_final_values(kk_reading_t *dst, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < ch_ngot; i++) {
    size_t j = 0;
    while (j < n &&
           !(dst[j].ds == ch_got[i].ds && dst[j].time_ms == ch_got[i].time_ms))
      j++;
    if (j == cap) KK__FAIL("more than %zu final values", cap);
    dst[j] = ch_got[i];
    if (j == n) n++;
  }
  qsort(dst, n, sizeof *dst, ch_cmp_ds_time);
  return n;
}

#endif
