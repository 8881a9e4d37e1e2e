/* core/engine_replay.c - replaying the journal after a restart.
 *
 * Every journal record past the lowest sink cursor (or a stage's
 * kk_stage_hold position) is read again, a chunk per loop iteration,
 * and emitted from the source that journaled it; each sink skips what
 * its cursor says it had finished.  The sources start once the replay
 * is through.  Runs on the loop thread. */
#include "engine_impl.h"

#include <string.h>

typedef struct replay_ctx {
  kk__engine_t *e;
  kk_stage_t *src;
  kk_batch_t *b;
  uint64_t records, orphans;
  uint64_t next;       /* first sequence number not read yet */
  uint64_t chunk_left; /* records this step may still read */
} replay_ctx_t;

static void replay_flush(replay_ctx_t *c) {
  if (!c->b) return;
  if (kk__engine_dead_replay_batch(c->src, c->b)) {
    kk_batch_unref(c->b);
    c->b = NULL;
    return;
  }
  if (c->src->m->decode) kk__engine_decode_raws(c->src, c->b, c->b, NULL);
  /* The batch is still ours alone: mark its readings as replayed. */
  kk_reading_t *r = (kk_reading_t *)kk_batch_readings(c->b);
  for (size_t i = 0, n = kk_batch_len(c->b); i < n; i++)
    r[i].flags |= KK_READING_REPLAY;
  kk__engine_emit_source(c->src, c->b);
  /* Delivery is synchronous: the batch is through, the marker goes. */
  kk__engine_dead_replay_end(c->e);
  kk_batch_unref(c->b);
  c->b = NULL;
}

static int replay_cb(void *ud, const kk__journal_rec_t *rec) {
  replay_ctx_t *c = ud;
  kk__engine_t *e = c->e;
  c->next = rec->seq + 1;
  /* Read in chunks so that the loop (and sink queues) get their turn. */
  if (c->chunk_left-- == 0) {
    c->next = rec->seq;
    return 1;
  }
  /* A batch must not straddle a sink cursor, so that each batch is wholly
   * before or wholly after every cursor. */
  int boundary = 0;
  for (size_t i = 0; i < e->n; i++) {
    const kk_stage_t *st = e->stages[i];
    if ((st->m->kind == KK_KIND_SINK && rec->seq == st->cursor + 1) ||
        (st->has_state_seq && rec->seq == st->state_seq + 1))
      boundary = 1;
  }
  /* Records the last run died on are offered one at a time. */
  if (kk__engine_dead_isolate(e, rec->seq) ||
      kk__engine_dead_isolate(e, rec->seq - 1))
    boundary = 1;
  if (c->b && (boundary || strcmp(c->src->name, rec->source) != 0 ||
               kk_batch_raw_len(c->b) >= 1024))
    replay_flush(c);
  if (!c->b) {
    kk_stage_t *src = NULL;
    for (size_t i = 0; i < e->n; i++)
      if (e->stages[i]->m->kind == KK_KIND_SOURCE &&
          strcmp(e->stages[i]->name, rec->source) == 0)
        src = e->stages[i];
    if (!src) {
      c->orphans++;
      return 0;
    }
    c->src = src;
    c->b = kk_batch_new(64);
    if (!c->b) return KK_ENOMEM;
  }
  c->records++;
  return kk_batch_push_raw(c->b, rec->seq, rec->time_ms, rec->format, rec->meta,
                           rec->data, rec->len);
}

static replay_ctx_t replay_state;

static void replay_finish(kk__engine_t *e, int rc) {
  replay_ctx_t *c = &replay_state;
  uv_idle_stop(&e->replay_idle);
  e->replaying = 0;
  if (c->records || c->orphans)
    kk_log(KK_LOG_INFO, "core", "journal",
           "replayed %llu records after restart (%llu from sources no longer "
           "in the recipe skipped)",
           (unsigned long long)c->records, (unsigned long long)c->orphans);
  if (rc < 0) {
    kk_log(KK_LOG_ERROR, "core", "journal", "replay failed: %s",
           kk_strerror(rc));
    e->exit_code = 1;
    kk__engine_stop(e);
    return;
  }
  e->replay_done = 1;
  kk__engine_dead_replay_end(e);
  if (e->stopping) return;
  if (kk__engine_start_kind(e, KK_KIND_SOURCE) != 0) {
    e->exit_code = 1;
    kk__engine_stop(e);
    return;
  }
  kk__engine_save_cursors(e);
  kk_log(KK_LOG_INFO, "core", "engine",
         "running %zu stages; journal at %s (last record %llu)", e->n,
         e->cfg->journal.dir,
         (unsigned long long)kk__journal_last_seq(e->journal));
}

/* One step of the replay: up to 4096 records, then back to the loop.
 * The idle handle is stopped while sinks are full (set_paused). */
void kk__engine_replay_step(uv_idle_t *h) {
  kk__engine_t *e = h->data;
  replay_ctx_t *c = &replay_state;
  if (e->stopping) {
    uv_idle_stop(h);
    return;
  }
  c->chunk_left = 4096;
  int rc = kk__journal_read(e->journal, c->next, replay_cb, c);
  replay_flush(c);
  if (rc == 1) return;
  replay_finish(e, rc);
}

/* Offers every journal record past the lowest sink cursor to the sinks
 * again, then starts the sources. */
void kk__engine_replay_begin(kk__engine_t *e) {
  uint64_t from = UINT64_MAX;
  for (size_t i = 0; i < e->n; i++) {
    const kk_stage_t *st = e->stages[i];
    if (st->m->kind == KK_KIND_SINK && st->cursor < from) from = st->cursor;
    /* A stage whose saved state ends at state_seq needs what follows. */
    if (st->has_state_seq && st->state_seq < from) from = st->state_seq;
  }
  replay_state = (replay_ctx_t){.e = e, .next = from + 1};
  e->dead_rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 5);
  kk__engine_dead_replay_begin(e);
  if (from == UINT64_MAX || from >= kk__journal_last_seq(e->journal)) {
    replay_finish(e, 0);
    return;
  }
  kk_log(KK_LOG_INFO, "core", "journal",
         "replaying records %llu to %llu to the sinks that had not finished "
         "them",
         (unsigned long long)from + 1,
         (unsigned long long)kk__journal_last_seq(e->journal));
  e->replaying = 1;
  uv_idle_start(&e->replay_idle, kk__engine_replay_step);
}
