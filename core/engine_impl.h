/*
 * core/engine_impl.h - what the engine's own files share (internal to
 * core/engine*.c; everyone else uses core/engine.h).
 *
 * The engine is split along its ideas: engine.c holds the stage services
 * and builds the graph, engine_flow.c delivers batches and applies
 * backpressure, engine_replay.c offers the journal to the sinks again
 * after a restart, and engine_run.c starts, ticks and shuts down.  All
 * of it runs on the loop thread, except kk_stage_done_async(), which
 * any thread may call.
 */
#ifndef KK_CORE_ENGINE_IMPL_H
#define KK_CORE_ENGINE_IMPL_H

#include "engine.h"

struct kk__engine {
  uv_loop_t loop;
  kk_stage_t **stages;
  size_t n, cap;
  kk__journal_t *journal;
  const kk__engine_cfg_t *cfg;
  int paused;
  int replaying;   /* replay batches are filtered by each sink's cursor */
  int replay_done; /* every journaled record has been offered to sinks */
  uv_idle_t replay_idle;
  int stopping; /* 1 sources, 2 transforms, 3 sinks, 4 stores, 5 closing */
  uint64_t signal_ns; /* uv_hrtime() of the last stop signal */
  int handles_closed; /* close_engine_handles ran */
  int forced;         /* gave up waiting for the stages: see force_exit */
  int exit_code;
  size_t pending_stops;
  uint64_t last_cursor_save, last_retire;
  /* First record of an ingest that failed part-way: records from there on
   * may sit in the journal undelivered, so no cursor may pass it before
   * the next start replays them. 0: none. */
  uint64_t undelivered_from;
  int ticks_since_metrics;
  uv_signal_t sigint, sigterm;
  uv_timer_t tick, deadline;
  uv_async_t done_async;
  uv_mutex_t done_lock;
  kk_stage_t **done_q; /* kk_stage_done_async() requests */
  size_t done_n, done_cap;
  kk_metric_t *m_appended, *m_corrupt, *m_paused, *m_pauses, *m_journal_bytes;
  kk_ratelimit_t pause_rl;
  /* engine_dead.c: the source batch being emitted (its raws are what a
   * failing transform's batch derives from) and the in-flight marker the
   * last run left (mark_crashes: deaths on those records so far). */
  kk_stage_t *cur_src;
  kk_batch_t *cur_batch;
  int mark_set;
  uint64_t mark_first, mark_last;
  uint32_t mark_crashes;
  kk_ratelimit_t dead_rl;
  /* engine_limits.c: free space of the journal's disk below the high mark
   * (input paused until it is above the low mark). */
  int disk_full;
  uint64_t last_disk_check;
  /* Messages kk_stage_ingest() refused (disk full, journal errors): never
   * acknowledged, so the senders still have them; reported at shutdown. */
  uint64_t refused;
  kk_metric_t *m_disk_full, *m_disk_free;
  /* engine_later.c: batches kk_stage_deliver_later() took and the loop
   * has not delivered yet (a ring, oldest first, with their sources), and
   * the journal position from which they are read back when more waited
   * than the ring holds (0: the ring has everything). */
  kk_batch_t **later;
  kk_stage_t **later_src;
  size_t later_head, later_len, later_cap, later_raws;
  size_t later_off;       /* messages of the oldest batch delivered already */
  uint64_t later_journal; /* first record to read back; 0 none */
  uint64_t later_first;   /* first record not delivered yet; 0 none */
  uv_idle_t later_idle;
  int later_idle_on;
  int later_sources;  /* a source used kk_stage_deliver_later */
  size_t later_chunk; /* records per batch read back (sized to a slice) */
  kk_ratelimit_t later_rl;
  kk_metric_t *m_later, *m_later_journal;
};

/* engine_flow.c: the uv_async callback that runs the kk_stage_done()
 * calls other threads queued with kk_stage_done_async(). */
void kk__engine_done_async_cb(uv_async_t *h);
/* engine_flow.c: decodes the raw messages of `b` with the source's
 * decode callback into `out`, storing each message's result in
 * status[i] when status is not NULL (the caller sizes it to
 * kk_batch_raw_len(b)). */
void kk__engine_decode_raws(kk_stage_t *st, kk_batch_t *b, kk_batch_t *out,
                            int *status);

/* engine_dead.c (see there): poison records to the dead letters.
 * emit_source is kk_stage_emit() for a source's own batch; dead_transform
 * moves the records of a failed transform's batch to the dead letters and
 * returns the code; the replay_*
 * calls keep the in-flight marker (replay_batch returns 1 when the batch's
 * one record is a crash loop and must not be offered). */
void kk__engine_emit_source(kk_stage_t *src, kk_batch_t *b);
void kk__engine_dead_decode(kk_stage_t *src, const kk_raw_t *raw,
                            const char *reason);
int kk__engine_dead_transform(kk_stage_t *t, kk_batch_t *b, int rc);
int kk__engine_dead_sink(kk_stage_t *t, kk_batch_t *b, int rc);
void kk__engine_dead_replay_begin(kk__engine_t *e);
int kk__engine_dead_isolate(const kk__engine_t *e, uint64_t seq);
int kk__engine_dead_replay_batch(kk_stage_t *src, kk_batch_t *b);
void kk__engine_dead_replay_end(kk__engine_t *e);

/* engine_limits.c: the datastream limits (see there).  datastream_source
 * sets the source whose input is being decoded and returns the previous
 * one; trim_memory returns freed heap to the system. */
#define KK__DS_TOTAL 131072u
#define KK__DS_PER_SOURCE 65536u
void kk__engine_datastream_limits(uint32_t total, uint32_t per_source);
kk_stage_t *kk__engine_datastream_source(kk_stage_t *src);
void kk__engine_trim_memory(void);
/* engine_limits.c: the disk watermarks, checked from the tick. */
#define KK__DISK_HIGH_MIN (16ull << 20)
#define KK__DISK_LOW_MIN (32ull << 20)
void kk__engine_disk_check(kk__engine_t *e);
/* engine_flow.c: pauses or resumes the sources by the sink queues and
 * the disk watermarks. */
void kk__engine_check_backpressure(kk__engine_t *e);

/* engine_replay.c: starts the replay, or the sources at once when there
 * is nothing to replay. */
void kk__engine_replay_begin(kk__engine_t *e);
/* engine_replay.c: the idle callback that replays one chunk; set_paused
 * stops and restarts it. */
void kk__engine_replay_step(uv_idle_t *h);

/* engine_run.c: starts every stage of `kind`; returns 0, or -1 after
 * logging the first stage that failed. */
int kk__engine_start_kind(kk__engine_t *e, kk_kind_t kind);
/* engine_run.c: writes every sink's cursor to the journal's cursor file,
 * kept below any failed batch or failed ingest. */
void kk__engine_save_cursors(kk__engine_t *e);

/* engine_later.c: sets up the handle and metrics (engine start); the first
 * journal record not delivered yet (0: none), which no cursor may pass;
 * delivers everything waiting now (before another source's batch, at
 * shutdown: `journal` includes what must be read back); stops or resumes
 * delivery while sinks are full; frees what waits (engine free). */
void kk__engine_later_init(kk__engine_t *e);
/* engine_flow.c: decodes and emits a journaled batch now. */
void kk__engine_deliver_now(kk_stage_t *st, kk_batch_t *b, int *status);
uint64_t kk__engine_later_first(const kk__engine_t *e);
void kk__engine_later_flush(kk__engine_t *e, int journal);
void kk__engine_later_pause(kk__engine_t *e, int paused);
void kk__engine_later_free(kk__engine_t *e);

#endif
