/*
 * core/engine.h - the pipeline engine (internal).
 *
 * The engine owns the loop, the journal and the stages a recipe built.
 * Stages are connected into a directed graph; batches flow synchronously
 * from sources through transforms to sinks on the loop thread.  Sinks may
 * finish batches later (KK_ASYNC); their unfinished readings are bounded
 * by the sink's queue, and a full queue pauses every source.
 */
#ifndef KK_CORE_ENGINE_H
#define KK_CORE_ENGINE_H

#include <stdio.h>

#include "core.h"
#include "journal.h"

typedef struct kk__engine kk__engine_t;

/* One unfinished batch of a sink. */
typedef struct kk__inflight {
  uint64_t seq;
  uint64_t readings;
  int done;
} kk__inflight_t;

struct kk_stage {
  kk__engine_t *eng;
  const kk_module_t *m;
  kk_opts_t *opts;
  void *state;
  char *name;
  char *file; /* recipe file and line that created the stage */
  int line;
  size_t index;
  kk_stage_t **out;
  size_t nout, capout;
  size_t nin;
  /* lifecycle */
  int created, started, stopping, stopped, eof;
  /* Sources: paused now (set_paused); hands its batches to
   * kk_stage_deliver_later (and reads on while sinks are full). */
  int paused, later;
  /* Sinks: every journal record up to the cursor is finished. */
  uint64_t cursor;
  uint64_t saved_cursor; /* last value written to the cursor file */
  /* Three positions keep journal records from counting as finished
   * too early.  A sink whose batch failed caps its saved cursor at the
   * cursor it had before that batch (cursor_capped, cursor_cap), so the
   * next start replays the batch.  A stage with durable state of its own
   * called kk_stage_hold(): its state includes every record up to
   * state_seq, so replay starts at state_seq + 1 at the latest
   * (has_state_seq, state_seq).  The engine's undelivered_from (in
   * engine_impl.h) caps every cursor after a failed ingest. */
  int cursor_capped;   /* a batch failed: the cursor stays <= cursor_cap */
  uint64_t cursor_cap; /* the cursor before the first failed batch */
  int has_state_seq;   /* kk_stage_hold() was called */
  uint64_t state_seq;  /* its last seq: the stage's saved state covers it */
  uint64_t queue_cap, inflight;
  uint64_t inflight_peak; /* since the queue was last empty */
  kk__inflight_t *fifo;
  size_t fifo_head, fifo_len, fifo_cap;
  kk_ratelimit_t err_rl;
  char err[512];
  char *data_dir;
  kk_metric_t *m_in, *m_out, *m_fail, *m_queue, *m_lag, *m_rejected;
  /* Sources: datastreams created from this source's input (limits in
   * engine_limits.c). */
  uint32_t ds_created;
  int ds_refused_logged;
};

typedef struct kk__engine_cfg {
  const char *data_dir;
  kk__journal_cfg_t journal;
  uint64_t shutdown_timeout_ms;
  int exit_when_done;
} kk__engine_cfg_t;

/* Creates an engine with its own loop.  Caller frees with
 * kk__engine_free(). */
kk__engine_t *kk__engine_new(void);
void kk__engine_free(kk__engine_t *e);
uv_loop_t *kk__engine_loop(kk__engine_t *e);

/* Adds a stage (the recipe layer calls this after validating options).
 * Takes ownership of opts.  Returns the stage or NULL (out of memory). */
kk_stage_t *kk__engine_add_stage(kk__engine_t *e, const kk_module_t *m,
                                 kk_opts_t *opts, const char *file, int line);
/* Connects from -> to.  Returns 0 or KK_EGRAPH with a message in err. */
int kk__engine_connect(kk_stage_t *from, kk_stage_t *to, char *err,
                       size_t errlen);
size_t kk__engine_nstages(const kk__engine_t *e);
kk_stage_t *kk__engine_stage(const kk__engine_t *e, size_t i);

/* Checks the graph: a cycle, a source without output, a transform or
 * sink without input, a transform without output.  Returns 0 or
 * KK_EGRAPH with "file:line: message" in err. */
int kk__engine_check(kk__engine_t *e, char *err, size_t errlen);

/* For `klimakit check`: creates every stage as `run` would (so the files
 * modules read when created - decoders, token and secret files,
 * statistics CSVs - are read and checked), prints each failure to `out`
 * as "file:line: stage: message", and destroys the stages again.
 * Nothing is started, opened for writing or created on disk.  Returns
 * the number of stages that failed. */
size_t kk__engine_try_create(kk__engine_t *e, const kk__engine_cfg_t *cfg,
                             FILE *out);

/* Opens the journal, creates and starts every stage, replays the journal
 * past each sink's cursor and runs the loop until shutdown.  Returns the
 * process exit code (0 after a clean drain). */
int kk__engine_run(kk__engine_t *e, const kk__engine_cfg_t *cfg);
/* 1 when run() gave up on stages still stopping (a second signal, the
 * shutdown_timeout): cursors are saved and the journal is closed, but
 * stage handles are still live, so the process must exit without
 * freeing the engine (fflush, then _exit). */
int kk__engine_forced(const kk__engine_t *e);

/* Asks a running engine to stop (as SIGTERM does). */
void kk__engine_stop(kk__engine_t *e);

#endif
