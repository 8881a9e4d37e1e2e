/*
 * modules/calc/calc.h - what the calc modules share (internal): local
 * time for window boundaries, tumbling windows, rejection counters,
 * cumulative meters and state snapshots.
 */
#ifndef CALC_CALC_H
#define CALC_CALC_H

#include <klimakit.h>
#include <stdint.h>
#include <stdio.h>

/* ---- time (calc_time.c) ------------------------------------------------
 * Europe/Berlin is computed with the EU rule (summer time from the last
 * Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC, in
 * force since 1996), not the system tz database: pure, thread-safe,
 * independent of TZ and of the host's tzdata. */
/* The order of CALC_TZ_CHOICES.  "CET" is the tz database's CET:
 * UTC+1 with EU summer time, like Europe/Berlin; "UTC+1" has no summer
 * time. */
typedef enum {
  CALC_TZ_BERLIN = 0,
  CALC_TZ_UTC,
  CALC_TZ_CET,
  CALC_TZ_UTC1
} calc_tz_t;
#define CALC_TZ_CHOICES "Europe/Berlin|UTC|CET|UTC+1"

typedef enum {
  CALC_P_HOUR = 0,
  CALC_P_DAY,
  CALC_P_MONTH,
  CALC_P_YEAR,
  CALC_P_N
} calc_period_t;
extern const char *const calc_period_names[CALC_P_N];

/* UTC offset in ms of local time at UTC instant t. */
int64_t calc_tz_offset(calc_tz_t tz, int64_t t);
/* UTC instant of a local wall-clock time (never in a gap here: only used
 * for midnights and hour starts). */
int64_t calc_local_to_utc(calc_tz_t tz, int64_t local_ms);
/* Month keys (year * 12 + month - 1) and day numbers (days since
 * 1970-01-01): the key of a day, and the first day of a key. */
int32_t calc_month_of_day(int32_t day);
int32_t calc_month_first_day(int32_t key);

/* Arrays of records sorted by their first member, an int32_t key (a day,
 * a month): calc_keyed_index() is where `key` is or would go;
 * calc_keyed_get() returns the record with `key`, inserting a copy of
 * `init` (size bytes, its key set) when there is none; NULL when `max`
 * records are held or memory is short.  *arr, *n and *cap belong to the
 * caller. */
size_t calc_keyed_index(const void *arr, size_t n, size_t size, int32_t key);
void *calc_keyed_get(void **arr, size_t *n, size_t *cap, size_t size,
                     size_t max, int32_t key, const void *init);
/* Window [start, end) in UTC ms containing t. */
void calc_window(calc_tz_t tz, calc_period_t p, int64_t t, int64_t *start,
                 int64_t *end);
/* Local calendar year of t, and the UTC start of local year y. */
int calc_year(calc_tz_t tz, int64_t t);
int64_t calc_year_start(calc_tz_t tz, int y);

/* UBA indoor-air class of a CO2 value: 1 (< 1000 ppm), 2 (1000-2000),
 * 3 (> 2000).  indoor_air.c. */
int calc_co2_class(double ppm);
/* BISKO data-quality weight: A 1, B 0.5, C 0.25, D 0.  bisko.c. */
double calc_quality_weight(char q);

/* ---- rejections (calc_util.c) ------------------------------------------ */
typedef enum {
  CALC_REJ_NAN = 0,
  CALC_REJ_NEGATIVE,
  CALC_REJ_UNIT,
  CALC_REJ_UNKNOWN_CARRIER,
  CALC_REJ_NO_FACTOR,
  CALC_REJ_OUT_OF_ORDER,
  CALC_REJ_METER_DECREASE,
  CALC_REJ_TOO_LATE,
  CALC_REJ_UNMAPPED,
  CALC_REJ_N
} calc_rej_t;
extern const char *const calc_rej_names[CALC_REJ_N];

typedef struct calc_rejects {
  kk_stage_t *st;
  kk_metric_t *m[CALC_REJ_N];
  uint64_t n[CALC_REJ_N];
  kk_ratelimit_t rl;
  /* History produced again after a restart (calc_replayed) */
  uint8_t *replaying; /* per datastream id: restored, no newer reading yet */
  size_t nreplaying;
  kk_metric_t *m_replayed;
  uint64_t replayed;
  int replay_told;
} calc_rejects_t;

/* The reasons a stage can produce, as a mask of CALC_REJ_BIT()s: only
 * those appear in /metrics from the start (a reason outside the mask is
 * still counted, its counter made when it first occurs).  CALC_REJ_METERS
 * are the reasons of calc_meter_step(). */
#define CALC_REJ_BIT(r) (1u << (r))
#define CALC_REJ_METERS                                                        \
  (CALC_REJ_BIT(CALC_REJ_OUT_OF_ORDER) | CALC_REJ_BIT(CALC_REJ_METER_DECREASE))
void calc_rejects_init(calc_rejects_t *r, kk_stage_t *st, unsigned reasons);
/* Counts a rejected reading in kk_rejected_total{stage,reason} and logs
 * (rate-limited) why. */
void calc_reject(calc_rejects_t *r, calc_rej_t why, const kk_reading_t *rd,
                 const char *fmt, ...) KK_PRINTF(4, 5);
/* History produced again.  A source that is not journaled (a file read
 * again after a crash, a simulation with `count`) delivers after a restart
 * readings that the state restored from the snapshot has absorbed before:
 * in time order, up to where it stopped, then new ones.  Such a reading,
 * not newer than what the restored state holds for its datastream and
 * arriving before any newer one of that datastream, is counted in
 * kk_replayed_total{stage} and told once per run at info, not warned
 * about as out_of_order; once a newer reading of the datastream arrived,
 * an older one is genuinely out of order again.
 *   calc_rejects_restored: the snapshot restored state for `ds`;
 *   calc_rejects_live: a reading of `ds` newer than that state arrived;
 *   calc_replayed: 1 (and counts it) when `rd` is such a replay, else 0.
 * The per-datastream flags are freed by calc_rejects_free. */
void calc_rejects_restored(calc_rejects_t *r, uint32_t ds);
void calc_rejects_live(calc_rejects_t *r, uint32_t ds);
int calc_replayed(calc_rejects_t *r, const kk_reading_t *rd);
/* Counts and tells a replay that the caller recognised itself (a meter
 * restored from the snapshot). */
void calc_replay_count(calc_rejects_t *r, const kk_reading_t *rd);
void calc_rejects_free(calc_rejects_t *r);

/* kWh per unit of an energy datastream ("kW.h" 1, "W.h" 0.001, "MW.h"
 * 1000, "GW.h" 1e6; "kWh"/"Wh"/"MWh" accepted); 0 when unknown. */
double calc_kwh_per_unit(const char *unit);

/* ---- cumulative meters (calc_util.c) ------------------------------------
 * A cumulative meter becomes consumption per interval: the difference to
 * the previous reading of the same datastream.  Readings older than the
 * last one are rejected (out_of_order), except history produced again
 * after a restart (see calc_replayed: counted, not warned about); a
 * decrease (meter exchanged or reset) is rejected and starts a new
 * baseline. */
typedef struct calc_meter {
  int64_t t;
  double v;
  int have;
  int restored; /* from the snapshot, no newer reading yet (calc_replayed) */
} calc_meter_t;

typedef struct calc_meters {
  calc_meter_t *m; /* indexed by datastream id */
  size_t cap;
} calc_meters_t;

/* Returns 1 and the consumption in *delta, 0 for the first reading (no
 * output), or -1 after counting a rejection. */
int calc_meter_step(calc_meters_t *ms, calc_rejects_t *rj,
                    const kk_reading_t *r, double *delta);
void calc_meters_free(calc_meters_t *ms);
int calc_meters_save(const calc_meters_t *ms, FILE *f);
int calc_meters_load(calc_meters_t *ms, const char *line);

/* ---- snapshots (calc_util.c) --------------------------------------------
 * State that spans batches is written to <stage data dir>/state.txt
 * (atomically: a temporary file, fsync, rename) on stop and every
 * `snapshot` interval, and read back at start.  `seq` is the journal
 * position of the last batch absorbed: replayed batches at or below it
 * are skipped, so that a restart does not count them twice. */
typedef int (*calc_save_fn)(void *state, FILE *f);
typedef int (*calc_load_fn)(void *state, const char *line);

int calc_snapshot_save(kk_stage_t *st, uint64_t seq, calc_save_fn fn,
                       void *state);
/* Returns 0 (also when there is no snapshot) and *seq. */
int calc_snapshot_load(kk_stage_t *st, uint64_t *seq, calc_load_fn fn,
                       void *state);

/* Datastream id -> name pieces, "" for unknown. */
const char *calc_thing(uint32_t ds);
const char *calc_property(uint32_t ds);
const char *calc_unit(uint32_t ds);

/* Grows *arr (elements of `size` bytes, zeroed) to hold index `i`.
 * Returns 0 or KK_ENOMEM. */
int calc_grow(void **arr, size_t *cap, size_t i, size_t size);

/* ---- tumbling windows (calc_window.c) -----------------------------------
 * Aggregates (sum, count, min, max; avg = sum / count) keyed by
 * (key datastream, period, window start).  A window is emitted when it
 * closes: when a reading of the same key datastream falls into a later
 * window.  A reading that falls into an already emitted window updates it
 * and the updated aggregate is emitted again with the same (datastream,
 * time): stores replace.  Windows stay `lateness` after they closed;
 * readings for older windows are rejected (too_late). */
typedef enum {
  CALC_S_SUM = 0,
  CALC_S_AVG,
  CALC_S_MIN,
  CALC_S_MAX,
  CALC_S_COUNT,
  CALC_S_N
} calc_stat_t;
extern const char *const calc_stat_names[CALC_S_N];

typedef struct calc_agg {
  double sum, min, max;
  uint64_t count;
} calc_agg_t;

typedef struct calc_windows calc_windows_t;
/* Called for each window to emit; `out` collects readings. */
typedef void (*calc_window_cb)(void *ctx, uint32_t key, int period,
                               int64_t start, int64_t end, const calc_agg_t *a,
                               kk_batch_t *out);

calc_windows_t *calc_windows_new(calc_tz_t tz, unsigned periods_mask,
                                 int64_t lateness_ms, int update_mode,
                                 calc_window_cb cb, void *ctx);
void calc_windows_free(calc_windows_t *w);
/* Adds value v at time t to every period of key `key`.  Returns 0, or
 * KK_ERANGE when the window is older than lateness allows. */
int calc_windows_add(calc_windows_t *w, uint32_t key, int64_t t, double v);
/* Marks window (key, period, start), if it exists, to be emitted again
 * with the next flush although no reading was added to it (its emitted
 * values depend on more than its aggregate).  Returns 0 or KK_ENOMEM. */
int calc_windows_touch(calc_windows_t *w, uint32_t key, int period,
                       int64_t start);
/* Emits closed and updated windows into `out` (call after each batch). */
void calc_windows_flush(calc_windows_t *w, kk_batch_t *out);
/* Emits every window that has not been emitted in its current state,
 * open ones included (end of a batch job, tests). */
void calc_windows_flush_all(calc_windows_t *w, kk_batch_t *out);
/* Flushes every window, open ones included, and emits them from st (a
 * calculator's stop with flush_at_stop). */
void calc_windows_emit_all(kk_stage_t *st, calc_windows_t *w);
/* Drops windows closed for longer than lateness. */
void calc_windows_evict(calc_windows_t *w);
size_t calc_windows_count(const calc_windows_t *w);
int calc_windows_save(const calc_windows_t *w, FILE *f);
int calc_windows_load(calc_windows_t *w, const char *line);

/* ---- stage lifecycle shared by stateful calculators (calc_util.c) ------
 * Loads the snapshot at start, saves it every `interval_ms` (0: only at
 * stop) and at stop, and skips replayed batches already absorbed. */
typedef struct calc_base {
  kk_stage_t *st;
  uv_timer_t timer;
  int timer_open;
  uint64_t seq; /* journal position of the last absorbed batch */
  uint64_t interval_ms;
  calc_save_fn save;
  calc_load_fn load;
  void *state;
  kk_stop_cb stop_cb;
} calc_base_t;

void calc_base_init(calc_base_t *b, kk_stage_t *st, uint64_t interval_ms,
                    calc_save_fn save, calc_load_fn load, void *state);
int calc_base_start(calc_base_t *b);
/* Returns 1 when the batch is a replay of what the snapshot holds. */
int calc_base_skip(calc_base_t *b, const kk_batch_t *batch);
void calc_base_stop(calc_base_t *b, kk_stop_cb cb);
/* Option shared by the stateful calculators. */
#define CALC_OPT_SNAPSHOT                                                      \
  {                                                                            \
    .name = "snapshot", .type = KK_OPT_DURATION, .def = "60s",                 \
    .description = "How often state that spans batches is saved to the "       \
                   "stage's data directory (also at stop); 0 saves only at "   \
                   "stop."                                                     \
  }
#define CALC_OPT_TZ                                                            \
  {                                                                            \
    .name = "tz", .type = KK_OPT_ENUM, .def = "Europe/Berlin",                 \
    .choices = CALC_TZ_CHOICES,                                                \
    .description = "Time zone of day, month and year boundaries: "             \
                   "Europe/Berlin or CET (UTC+1 with the EU summer-time "      \
                   "rule), UTC, or UTC+1 (all year)."                          \
  }

#endif
