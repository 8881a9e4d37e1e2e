/*
 * modules/calc/calc.h - what the calc modules share (internal): local
 * time for window boundaries, tumbling windows, rejection counters,
 * cumulative meters and state snapshots.
 */
#ifndef KK_CALC_CALC_H
#define KK_CALC_CALC_H

#include <klimakit.h>
#include <stdint.h>
#include <stdio.h>

/* ---- time (calc_time.c) ------------------------------------------------
 * Europe/Berlin is computed with the EU rule (summer time from the last
 * Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC, in
 * force since 1996), not the system tz database: pure, thread-safe,
 * independent of TZ and of the host's tzdata. */
/* The order of KK_CALC_TZ_CHOICES.  "CET" is the tz database's CET:
 * UTC+1 with EU summer time, like Europe/Berlin; "UTC+1" has no summer
 * time. */
typedef enum {
  KK_TZ_BERLIN = 0,
  KK_TZ_UTC,
  KK_TZ_CET,
  KK_TZ_UTC1
} kk_calc_tz_t;
#define KK_CALC_TZ_CHOICES "Europe/Berlin|UTC|CET|UTC+1"

typedef enum {
  KK_P_HOUR = 0,
  KK_P_DAY,
  KK_P_MONTH,
  KK_P_YEAR,
  KK_P_N
} kk_calc_period_t;
extern const char *const kk_calc_period_names[KK_P_N];

/* UTC offset in ms of local time at UTC instant t. */
int64_t kk_calc_tz_offset(kk_calc_tz_t tz, int64_t t);
/* UTC instant of a local wall-clock time (never in a gap here: only used
 * for midnights and hour starts). */
int64_t kk_calc_local_to_utc(kk_calc_tz_t tz, int64_t local_ms);
/* Window [start, end) in UTC ms containing t. */
void kk_calc_window(kk_calc_tz_t tz, kk_calc_period_t p, int64_t t,
                    int64_t *start, int64_t *end);
/* Local calendar year of t, and the UTC start of local year y. */
int kk_calc_year(kk_calc_tz_t tz, int64_t t);
int64_t kk_calc_year_start(kk_calc_tz_t tz, int y);

/* UBA indoor-air class of a CO2 value: 1 (< 1000 ppm), 2 (1000-2000),
 * 3 (> 2000).  indoor_air.c. */
int kk_calc_co2_class(double ppm);
/* BISKO data-quality weight: A 1, B 0.5, C 0.25, D 0.  bisko.c. */
double kk_calc_quality_weight(char q);

/* ---- rejections (calc_util.c) ------------------------------------------ */
typedef enum {
  KK_REJ_NAN = 0,
  KK_REJ_NEGATIVE,
  KK_REJ_UNIT,
  KK_REJ_UNKNOWN_CARRIER,
  KK_REJ_NO_FACTOR,
  KK_REJ_OUT_OF_ORDER,
  KK_REJ_METER_DECREASE,
  KK_REJ_TOO_LATE,
  KK_REJ_UNMAPPED,
  KK_REJ_N
} kk_calc_rej_t;
extern const char *const kk_calc_rej_names[KK_REJ_N];

typedef struct kk_calc_rejects {
  kk_stage_t *st;
  kk_metric_t *m[KK_REJ_N];
  uint64_t n[KK_REJ_N];
  kk_ratelimit_t rl;
} kk_calc_rejects_t;

void kk_calc_rejects_init(kk_calc_rejects_t *r, kk_stage_t *st);
/* Counts a rejected reading in kk_rejected_total{stage,reason} and logs
 * (rate-limited) why. */
void kk_calc_reject(kk_calc_rejects_t *r, kk_calc_rej_t why,
                    const kk_reading_t *rd, const char *fmt, ...)
    KK__PRINTF(4, 5);

/* kWh per unit of an energy datastream ("kW.h" 1, "W.h" 0.001, "MW.h"
 * 1000, "GW.h" 1e6; "kWh"/"Wh"/"MWh" accepted); 0 when unknown. */
double kk_calc_kwh_per_unit(const char *unit);

/* ---- cumulative meters (calc_util.c) ------------------------------------
 * A cumulative meter becomes consumption per interval: the difference to
 * the previous reading of the same datastream.  Readings older than the
 * last one are rejected (out_of_order); a decrease (meter exchanged or
 * reset) is rejected and starts a new baseline. */
typedef struct kk_calc_meter {
  int64_t t;
  double v;
  int have;
} kk_calc_meter_t;

typedef struct kk_calc_meters {
  kk_calc_meter_t *m; /* indexed by datastream id */
  size_t cap;
} kk_calc_meters_t;

/* Returns 1 and the consumption in *delta, 0 for the first reading (no
 * output), or -1 after counting a rejection. */
int kk_calc_meter_step(kk_calc_meters_t *ms, kk_calc_rejects_t *rj,
                       const kk_reading_t *r, double *delta);
void kk_calc_meters_free(kk_calc_meters_t *ms);
int kk_calc_meters_save(const kk_calc_meters_t *ms, FILE *f);
int kk_calc_meters_load(kk_calc_meters_t *ms, const char *line);

/* ---- snapshots (calc_util.c) --------------------------------------------
 * State that spans batches is written to <stage data dir>/state.txt
 * (atomically: a temporary file, fsync, rename) on stop and every
 * `snapshot` interval, and read back at start.  `seq` is the journal
 * position of the last batch absorbed: replayed batches at or below it
 * are skipped, so that a restart does not count them twice. */
typedef int (*kk_calc_save_fn)(void *state, FILE *f);
typedef int (*kk_calc_load_fn)(void *state, const char *line);

int kk_calc_snapshot_save(kk_stage_t *st, uint64_t seq, kk_calc_save_fn fn,
                          void *state);
/* Returns 0 (also when there is no snapshot) and *seq. */
int kk_calc_snapshot_load(kk_stage_t *st, uint64_t *seq, kk_calc_load_fn fn,
                          void *state);

/* Datastream id -> name pieces, "" for unknown. */
const char *kk_calc_thing(uint32_t ds);
const char *kk_calc_property(uint32_t ds);
const char *kk_calc_unit(uint32_t ds);

/* Grows *arr (elements of `size` bytes, zeroed) to hold index `i`.
 * Returns 0 or KK_ENOMEM. */
int kk_calc_grow(void **arr, size_t *cap, size_t i, size_t size);

/* ---- tumbling windows (calc_window.c) -----------------------------------
 * Aggregates (sum, count, min, max; avg = sum / count) keyed by
 * (key datastream, period, window start).  A window is emitted when it
 * closes: when a reading of the same key datastream falls into a later
 * window.  A reading that falls into an already emitted window updates it
 * and the updated aggregate is emitted again with the same (datastream,
 * time): stores replace.  Windows stay `lateness` after they closed;
 * readings for older windows are rejected (too_late). */
typedef enum {
  KK_S_SUM = 0,
  KK_S_AVG,
  KK_S_MIN,
  KK_S_MAX,
  KK_S_COUNT,
  KK_S_N
} kk_calc_stat_t;
extern const char *const kk_calc_stat_names[KK_S_N];

typedef struct kk_calc_agg {
  double sum, min, max;
  uint64_t count;
} kk_calc_agg_t;

typedef struct kk_calc_windows kk_calc_windows_t;
/* Called for each window to emit; `out` collects readings. */
typedef void (*kk_calc_window_cb)(void *ctx, uint32_t key, int period,
                                  int64_t start, int64_t end,
                                  const kk_calc_agg_t *a, kk_batch_t *out);

kk_calc_windows_t *kk_calc_windows_new(kk_calc_tz_t tz, unsigned periods_mask,
                                       int64_t lateness_ms, int update_mode,
                                       kk_calc_window_cb cb, void *ctx);
void kk_calc_windows_free(kk_calc_windows_t *w);
/* Adds value v at time t to every period of key `key`.  Returns 0, or
 * KK_ERANGE when the window is older than lateness allows. */
int kk_calc_windows_add(kk_calc_windows_t *w, uint32_t key, int64_t t,
                        double v);
/* Marks window (key, period, start), if it exists, to be emitted again
 * with the next flush although no reading was added to it (its emitted
 * values depend on more than its aggregate).  Returns 0 or KK_ENOMEM. */
int kk_calc_windows_touch(kk_calc_windows_t *w, uint32_t key, int period,
                          int64_t start);
/* Emits closed and updated windows into `out` (call after each batch). */
void kk_calc_windows_flush(kk_calc_windows_t *w, kk_batch_t *out);
/* Emits every window that has not been emitted in its current state,
 * open ones included (end of a batch job, tests). */
void kk_calc_windows_flush_all(kk_calc_windows_t *w, kk_batch_t *out);
/* Flushes every window, open ones included, and emits them from st (a
 * calculator's stop with flush_at_stop). */
void kk_calc_windows_emit_all(kk_stage_t *st, kk_calc_windows_t *w);
/* Drops windows closed for longer than lateness. */
void kk_calc_windows_evict(kk_calc_windows_t *w);
size_t kk_calc_windows_count(const kk_calc_windows_t *w);
int kk_calc_windows_save(const kk_calc_windows_t *w, FILE *f);
int kk_calc_windows_load(kk_calc_windows_t *w, const char *line);

/* ---- stage lifecycle shared by stateful calculators (calc_util.c) ------
 * Loads the snapshot at start, saves it every `interval_ms` (0: only at
 * stop) and at stop, and skips replayed batches already absorbed. */
typedef struct kk_calc_base {
  kk_stage_t *st;
  uv_timer_t timer;
  int timer_open;
  uint64_t seq; /* journal position of the last absorbed batch */
  uint64_t interval_ms;
  kk_calc_save_fn save;
  kk_calc_load_fn load;
  void *state;
  kk_stop_cb stop_cb;
} kk_calc_base_t;

void kk_calc_base_init(kk_calc_base_t *b, kk_stage_t *st, uint64_t interval_ms,
                       kk_calc_save_fn save, kk_calc_load_fn load,
                       void *state);
int kk_calc_base_start(kk_calc_base_t *b);
/* Returns 1 when the batch is a replay of what the snapshot holds. */
int kk_calc_base_skip(kk_calc_base_t *b, const kk_batch_t *batch);
void kk_calc_base_stop(kk_calc_base_t *b, kk_stop_cb cb);
/* Option shared by the stateful calculators. */
#define KK_CALC_OPT_SNAPSHOT                                                   \
  {.name = "snapshot",                                                         \
   .type = KK_OPT_DURATION,                                                    \
   .def = "60s",                                                               \
   .description = "How often state that spans batches is saved to the "      \
                  "stage's data directory (also at stop); 0 saves only at "  \
                  "stop."}
#define KK_CALC_OPT_TZ                                                         \
  {.name = "tz",                                                               \
   .type = KK_OPT_ENUM,                                                        \
   .def = "Europe/Berlin",                                                     \
   .choices = KK_CALC_TZ_CHOICES,                                              \
   .description = "Time zone of day, month and year boundaries: "            \
                  "Europe/Berlin or CET (UTC+1 with the EU summer-time "     \
                  "rule), UTC, or UTC+1 (all year)."}

#endif
