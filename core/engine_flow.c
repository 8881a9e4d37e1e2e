/* core/engine_flow.c - delivery, sink queues and backpressure.
 *
 * Delivery is synchronous: kk_stage_emit() calls each downstream stage's
 * process() before it returns.  That keeps batches in journal order all
 * the way to the sinks, which is what lets a sink's cursor be a single
 * number: when a sink finishes the batch derived from journal record N,
 * every record up to N is done for that sink.  A sink that finishes
 * later (KK_ASYNC) keeps the batch in its queue (the fifo); a full queue
 * pauses every source.  A batch handed to kk_stage_deliver_later() is
 * delivered from the loop instead (engine_later.c), still in journal
 * order.  Runs on the loop thread, except kk_stage_done_async(), which
 * any thread may call. */
#include "engine_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pauses or resumes the sources.  A source that hands its batches to
 * kk_stage_deliver_later() reads on while sinks are full: its batches
 * wait in the journal (the engine stops delivering them, see
 * kk__engine_later_pause), not in a broker that drops what its queue
 * cannot hold.  A full disk pauses it too: the journal cannot take more. */
static void set_paused(kk__engine_t *e, int paused, const kk_stage_t *why) {
  if (e->paused != paused) {
    e->paused = paused;
    kk_metric_set(e->m_paused, paused);
    if (paused) kk_metric_add(e->m_pauses, 1);
    if (e->replaying && !e->stopping) {
      if (paused)
        uv_idle_stop(&e->replay_idle);
      else
        uv_idle_start(&e->replay_idle, kk__engine_replay_step);
    }
    kk__engine_later_pause(e, paused);
    if (paused && why && kk_ratelimit_ok(&e->pause_rl))
      kk_log(KK_LOG_INFO, "core", "engine",
             "sources paused: sink '%s' has %llu readings in flight (queue "
             "%llu)%s",
             why->name, (unsigned long long)why->inflight,
             (unsigned long long)why->queue_cap,
             e->later_sources ? "; source.mqtt reads on into the journal" : "");
  }
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != KK_KIND_SOURCE || !st->started || st->stopping) continue;
    int want = paused && (!st->later || e->disk_full);
    if (want == st->paused) continue;
    st->paused = want;
    if (want && st->m->pause) st->m->pause(st, st->state);
    if (!want && st->m->resume) st->m->resume(st, st->state);
  }
}

static void check_backpressure(kk__engine_t *e) {
  if (e->disk_full) { /* the disk watermarks, engine_limits.c */
    set_paused(e, 1, NULL);
    return;
  }
  const kk_stage_t *full = NULL;
  int low = 1;
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != KK_KIND_SINK) continue;
    if (st->inflight >= st->queue_cap) full = st;
    if (st->inflight > st->queue_cap / 2) low = 0;
  }
  if (full)
    set_paused(e, 1, full);
  else if (low)
    set_paused(e, 0, NULL);
}

void kk__engine_check_backpressure(kk__engine_t *e) {
  check_backpressure(e);
}

static int fifo_push(kk_stage_t *st, uint64_t seq, uint64_t n, int done) {
  if (st->fifo_len == st->fifo_cap) {
    size_t ncap = st->fifo_cap ? st->fifo_cap * 2 : 64;
    kk__inflight_t *nf = malloc(ncap * sizeof *nf);
    if (!nf) return KK_ENOMEM;
    for (size_t i = 0; i < st->fifo_len; i++)
      nf[i] = st->fifo[(st->fifo_head + i) % st->fifo_cap];
    free(st->fifo);
    st->fifo = nf;
    st->fifo_head = 0;
    st->fifo_cap = ncap;
  }
  kk__inflight_t *f = &st->fifo[(st->fifo_head + st->fifo_len) % st->fifo_cap];
  f->seq = seq;
  f->readings = n;
  f->done = done;
  st->fifo_len++;
  st->inflight += n;
  if (st->inflight > st->inflight_peak) st->inflight_peak = st->inflight;
  return 0;
}

/* Pops finished batches off the front and moves the cursor past them. */
static void fifo_retire(kk_stage_t *st) {
  while (st->fifo_len && st->fifo[st->fifo_head].done) {
    kk__inflight_t *f = &st->fifo[st->fifo_head];
    if (f->seq > st->cursor) st->cursor = f->seq;
    st->inflight -= f->readings;
    st->fifo_head = (st->fifo_head + 1) % st->fifo_cap;
    st->fifo_len--;
  }
  kk_metric_set(st->m_queue, (int64_t)st->inflight);
  if (st->inflight > st->inflight_peak) st->inflight_peak = st->inflight;
  /* A drained backlog: give its memory back to the system. */
  if (st->inflight == 0 && st->inflight_peak >= 4096) {
    st->inflight_peak = 0;
    kk__engine_trim_memory();
  }
}

void kk_stage_done(kk_stage_t *st) {
  /* Mark the oldest unfinished entry; entries finish in order, but a
   * synchronous finish may already sit behind it. */
  for (size_t i = 0; i < st->fifo_len; i++) {
    kk__inflight_t *f = &st->fifo[(st->fifo_head + i) % st->fifo_cap];
    if (!f->done) {
      f->done = 1;
      break;
    }
  }
  fifo_retire(st);
  check_backpressure(st->eng);
}

void kk__engine_done_async_cb(uv_async_t *h) {
  kk__engine_t *e = h->data;
  for (;;) {
    uv_mutex_lock(&e->done_lock);
    kk_stage_t *st = NULL;
    if (e->done_n) {
      st = e->done_q[0];
      memmove(e->done_q, e->done_q + 1, --e->done_n * sizeof *e->done_q);
    }
    uv_mutex_unlock(&e->done_lock);
    if (!st) break;
    kk_stage_done(st);
  }
}

void kk_stage_done_async(kk_stage_t *st) {
  kk__engine_t *e = st->eng;
  uv_mutex_lock(&e->done_lock);
  if (e->done_n == e->done_cap) {
    size_t ncap = e->done_cap ? e->done_cap * 2 : 64;
    kk_stage_t **nq = realloc(e->done_q, ncap * sizeof *nq);
    if (!nq) abort(); /* cannot report failure to another thread */
    e->done_q = nq;
    e->done_cap = ncap;
  }
  e->done_q[e->done_n++] = st;
  uv_mutex_unlock(&e->done_lock);
  uv_async_send(&e->done_async);
}

static void deliver(kk_stage_t *t, kk_batch_t *b) {
  size_t n = kk_batch_len(b);
  if (t->stopped) return;
  if (t->m->kind == KK_KIND_SINK && t->eng->replaying &&
      kk_batch_seq(b) <= t->cursor)
    return; /* this sink had already finished it before the restart */
  kk_metric_add(t->m_in, (int64_t)n);
  t->err[0] = 0;
  int rc = t->m->process ? t->m->process(t, t->state, b) : 0;
  if (rc < 0 && t->m->kind == KK_KIND_TRANSFORM)
    rc = kk__engine_dead_transform(t, b, rc);
  else if (rc < 0 && t->m->kind == KK_KIND_SINK)
    rc = kk__engine_dead_sink(t, b, rc); /* 0 once dead-lettered */
  if (t->m->kind == KK_KIND_SINK) {
    if (rc == KK_ASYNC) {
      fifo_push(t, kk_batch_seq(b), n, 0);
    } else if (t->fifo_len) {
      fifo_push(t, kk_batch_seq(b), n, 1);
      fifo_retire(t);
    } else if (kk_batch_seq(b) > t->cursor) {
      t->cursor = kk_batch_seq(b);
    }
    kk_metric_set(t->m_queue, (int64_t)t->inflight);
  }
  if (rc < 0) {
    if (t->m->kind == KK_KIND_SINK && !t->cursor_capped && kk_batch_seq(b)) {
      /* Everything up to the cursor before this batch was done; what
       * comes after is replayed at the next start. */
      t->cursor_capped = 1;
      t->cursor_cap = t->cursor;
      kk_stage_log(t, KK_LOG_WARN,
                   "a batch failed; this sink's cursor stays at %llu so that "
                   "the next start replays it from the journal",
                   (unsigned long long)t->cursor_cap);
    }
    kk_metric_add(t->m_fail, (int64_t)n);
    if (kk_ratelimit_ok(&t->err_rl))
      kk_stage_log(t, KK_LOG_WARN, "batch of %zu readings failed: %s%s%s", n,
                   kk_strerror(rc), t->err[0] ? ": " : "", t->err);
  }
}

void kk_stage_emit(kk_stage_t *st, kk_batch_t *b) {
  if (kk_batch_len(b) == 0 && kk_batch_raw_len(b) == 0) return;
  kk_metric_add(st->m_out, (int64_t)kk_batch_len(b));
  for (size_t i = 0; i < st->nout; i++)
    deliver(st->out[i], b);
  check_backpressure(st->eng);
}

/* Decodes the raw messages of b[from, to) with the source's decode
 * callback into `out`, recording per-message status. */
void kk__engine_decode_raws(kk_stage_t *st, kk_batch_t *b, kk_batch_t *out,
                            int *status) {
  size_t nraw = kk_batch_raw_len(b);
  kk_stage_t *pds = kk__engine_datastream_source(st);
  for (size_t i = 0; i < nraw; i++) {
    const kk_raw_t *raw = kk_batch_raw(b, i);
    st->err[0] = 0;
    int rc = st->m->decode(st, st->state, raw, out);
    if (status) status[i] = rc;
    if (rc < 0) {
      kk_metric_add(st->m_rejected, 1);
      char reason[64];
      snprintf(reason, sizeof reason, "%s", kk_err_name(rc));
      kk_metric_add(
          kk_stage_counter(st, "kk_rejected_total", reason,
                           "Messages rejected by decoding, by reason"),
          1);
      if (kk_ratelimit_ok(&st->err_rl))
        kk_stage_log(st, KK_LOG_WARN, "journal record %llu rejected: %s",
                     (unsigned long long)raw->seq,
                     st->err[0] ? st->err : kk_strerror(rc));
      kk__engine_dead_decode(st, raw, st->err[0] ? st->err : kk_strerror(rc));
    }
  }
  kk__engine_datastream_source(pds);
}

int kk_stage_journal(kk_stage_t *st, kk_batch_t *b) {
  kk__engine_t *e = st->eng;
  size_t nraw = kk_batch_raw_len(b);
  if (!e->journal) return KK_ECLOSED;
  /* Below the disk's high mark the rest is the cursors' and stores'. */
  if (e->disk_full) {
    e->refused += nraw;
    return -ENOSPC;
  }
  uint64_t first = kk__journal_last_seq(e->journal) + 1;
  for (size_t i = 0; i < nraw; i++) {
    const kk_raw_t *raw = kk_batch_raw(b, i);
    uint64_t seq;
    int rc = kk__journal_append(e->journal, st->name, raw->time_ms, raw->format,
                                raw->meta, raw->data, raw->len, &seq);
    if (rc == 0) {
      kk__batch_set_raw_seq(b, i, seq);
      continue;
    }
    if (!e->undelivered_from) e->undelivered_from = first;
    kk_stage_log(st, KK_LOG_ERROR, "journal append failed: %s",
                 kk_strerror(rc));
    e->refused += nraw;
    return rc;
  }
  int rc = kk__journal_commit(e->journal);
  if (rc) {
    if (!e->undelivered_from) e->undelivered_from = first;
    kk_stage_log(st, KK_LOG_ERROR, "journal append failed: %s",
                 kk_strerror(rc));
    e->refused += nraw;
    return rc;
  }
  kk_metric_add(e->m_appended, (int64_t)nraw);
  return 0;
}

void kk__engine_deliver_now(kk_stage_t *st, kk_batch_t *b, int *status) {
  size_t nraw = kk_batch_raw_len(b);
  if (st->m->decode) {
    kk__engine_decode_raws(st, b, b, status);
  } else if (status) {
    memset(status, 0, nraw * sizeof *status);
  }
  kk__engine_emit_source(st, b);
}

/* What waits for a later delivery (engine_later.c) was journaled first:
 * it goes first, so that sinks see journal order. */
void kk_stage_deliver(kk_stage_t *st, kk_batch_t *b, int *status) {
  kk__engine_later_flush(st->eng, 1);
  kk__engine_deliver_now(st, b, status);
}

int kk_stage_ingest(kk_stage_t *st, kk_batch_t *b, int *status) {
  kk__engine_later_flush(st->eng, 1);
  int rc = kk_stage_journal(st, b);
  if (rc == 0) kk__engine_deliver_now(st, b, status);
  return rc;
}

void kk_stage_hold(kk_stage_t *st, uint64_t seq) {
  st->has_state_seq = 1;
  st->state_seq = seq;
}

void kk_stage_fail(kk_stage_t *st, int rc) {
  kk__engine_t *e = st->eng;
  kk_stage_log(st, KK_LOG_ERROR, "failed: %s%s%s", kk_strerror(rc),
               st->err[0] ? ": " : "", st->err);
  e->exit_code = 1;
  if (e->cfg) kk__engine_stop(e);
}

void kk_stage_eof(kk_stage_t *st) {
  kk__engine_t *e = st->eng;
  st->eof = 1;
  if (!e->cfg || !e->cfg->exit_when_done || e->stopping) return;
  for (size_t i = 0; i < e->n; i++)
    if (e->stages[i]->m->kind == KK_KIND_SOURCE && !e->stages[i]->eof) return;
  kk_log(KK_LOG_INFO, "core", "engine", "all sources are done; draining");
  kk__engine_stop(e);
}
