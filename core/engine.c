/* core/engine.c - stages, graph, delivery, backpressure, lifecycle.
 *
 * Delivery is synchronous: kk_stage_emit() calls each downstream stage's
 * process() before it returns.  That keeps batches in journal order all
 * the way to the sinks, which is what lets a sink's cursor be a single
 * number: when a sink finishes the batch derived from journal record N,
 * every record up to N is done for that sink. */
#include "engine.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
  uint64_t hold_seq;
  int ticks_since_metrics;
  uv_signal_t sigint, sigterm;
  uv_timer_t tick, deadline;
  uv_async_t done_async;
  uv_mutex_t done_lock;
  kk_stage_t **done_q; /* kk_stage_done_async() requests */
  size_t done_n, done_cap;
  kk_metric_t *m_appended, *m_corrupt, *m_paused, *m_pauses, *m_journal_bytes;
  kk_ratelimit_t pause_rl;
};

static const char *kind_ns(const kk_stage_t *st) {
  return st->m->ns;
}

/* ---- stage services ------------------------------------------------ */

uv_loop_t *kk_stage_loop(kk_stage_t *st) {
  return &st->eng->loop;
}
const char *kk_stage_name(const kk_stage_t *st) {
  return st->name;
}
const kk_module_t *kk_stage_module(const kk_stage_t *st) {
  return st->m;
}
const char *kk_stage_data_dir(const kk_stage_t *st) {
  return st->data_dir;
}
int kk_stage_paused(const kk_stage_t *st) {
  return st->eng->paused;
}

void kk_stage_error(kk_stage_t *st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->err, sizeof st->err, fmt, ap);
  va_end(ap);
}

const char *kk_stage_last_error(const kk_stage_t *st) {
  return st->err;
}

void kk_stage_log(kk_stage_t *st, kk_log_level_t level, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  kk_log(level, kind_ns(st), st->name, "%s", msg);
}

kk_metric_t *kk_stage_counter(kk_stage_t *st, const char *name,
                              const char *reason, const char *help) {
  char labels[256];
  if (reason)
    snprintf(labels, sizeof labels, "stage=\"%s\",reason=\"%s\"", st->name,
             reason);
  else
    snprintf(labels, sizeof labels, "stage=\"%s\"", st->name);
  return kk_counter(name, labels, help);
}

static kk_metric_t *stage_gauge(kk_stage_t *st, const char *name,
                                const char *help) {
  char labels[160];
  snprintf(labels, sizeof labels, "stage=\"%s\"", st->name);
  return kk_gauge(name, labels, help);
}

/* ---- engine and graph ---------------------------------------------- */

kk__engine_t *kk__engine_new(void) {
  kk__engine_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  if (uv_loop_init(&e->loop) != 0) {
    free(e);
    return NULL;
  }
  e->loop.data = e;
  uv_mutex_init(&e->done_lock);
  return e;
}

uv_loop_t *kk__engine_loop(kk__engine_t *e) {
  return &e->loop;
}
size_t kk__engine_nstages(const kk__engine_t *e) {
  return e->n;
}
kk_stage_t *kk__engine_stage(const kk__engine_t *e, size_t i) {
  return i < e->n ? e->stages[i] : NULL;
}

kk_stage_t *kk__engine_add_stage(kk__engine_t *e, const kk_module_t *m,
                                 kk_opts_t *opts, const char *file, int line) {
  kk_stage_t *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  if (e->n == e->cap) {
    size_t ncap = e->cap ? e->cap * 2 : 16;
    kk_stage_t **ns = realloc(e->stages, ncap * sizeof *ns);
    if (!ns) {
      free(st);
      return NULL;
    }
    e->stages = ns;
    e->cap = ncap;
  }
  st->eng = e;
  st->m = m;
  st->opts = opts;
  st->file = strdup(file ? file : "?");
  st->line = line;
  st->index = e->n;
  st->err_rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 5);
  /* Names must be stable across restarts (they key journal cursors):
   * the explicit name, else the module name numbered by occurrence. */
  const char *given = kk__opts_stage_name(opts);
  char buf[128];
  if (given) {
    snprintf(buf, sizeof buf, "%s", given);
  } else {
    int nth = 1;
    /* Modules of different namespaces may share a name (source.http,
     * publish.http): count by name so that their defaults differ. */
    for (size_t i = 0; i < e->n; i++)
      if (strcmp(e->stages[i]->m->name, m->name) == 0) nth++;
    if (nth == 1)
      snprintf(buf, sizeof buf, "%s", m->name);
    else
      snprintf(buf, sizeof buf, "%s_%d", m->name, nth);
  }
  st->name = strdup(buf);
  st->queue_cap = kk__opts_queue(opts);
  e->stages[e->n++] = st;
  return st;
}

int kk__engine_connect(kk_stage_t *from, kk_stage_t *to, char *err,
                       size_t errlen) {
  if (from->m->kind == KK_KIND_SINK) {
    snprintf(err, errlen,
             "%s.%s '%s' is a sink: it cannot send data on to '%s'",
             from->m->ns, from->m->name, from->name, to->name);
    return KK_EGRAPH;
  }
  if (to->m->kind == KK_KIND_SOURCE) {
    snprintf(err, errlen,
             "%s.%s '%s' is a source: it cannot take input from '%s'",
             to->m->ns, to->m->name, to->name, from->name);
    return KK_EGRAPH;
  }
  if (from == to) {
    snprintf(err, errlen, "stage '%s' cannot feed itself", from->name);
    return KK_EGRAPH;
  }
  for (size_t i = 0; i < from->nout; i++)
    if (from->out[i] == to) return 0; /* connecting twice is harmless */
  if (from->nout == from->capout) {
    size_t ncap = from->capout ? from->capout * 2 : 4;
    kk_stage_t **n = realloc(from->out, ncap * sizeof *n);
    if (!n) return KK_ENOMEM;
    from->out = n;
    from->capout = ncap;
  }
  from->out[from->nout++] = to;
  to->nin++;
  return 0;
}

/* Depth-first search for a cycle; colour 1 = on the stack, 2 = done. */
static kk_stage_t *find_cycle(kk_stage_t *st, unsigned char *colour) {
  colour[st->index] = 1;
  for (size_t i = 0; i < st->nout; i++) {
    kk_stage_t *t = st->out[i];
    if (colour[t->index] == 1) return t;
    if (colour[t->index] == 0) {
      kk_stage_t *c = find_cycle(t, colour);
      if (c) return c;
    }
  }
  colour[st->index] = 2;
  return NULL;
}

int kk__engine_check(kk__engine_t *e, char *err, size_t errlen) {
  if (e->n == 0) {
    snprintf(err, errlen, "recipe builds no pipeline (no stage was created)");
    return KK_EGRAPH;
  }
  unsigned char *colour = calloc(e->n, 1);
  if (!colour) return KK_ENOMEM;
  for (size_t i = 0; i < e->n; i++) {
    if (colour[i]) continue;
    kk_stage_t *c = find_cycle(e->stages[i], colour);
    if (c) {
      snprintf(err, errlen, "%s:%d: pipeline has a cycle through '%s'", c->file,
               c->line, c->name);
      free(colour);
      return KK_EGRAPH;
    }
  }
  free(colour);
  int nsources = 0;
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    const char *what = NULL;
    if (st->m->kind == KK_KIND_SOURCE) nsources++;
    if (st->m->kind == KK_KIND_SOURCE && st->nout == 0)
      what = "has no output (connect it with kk.pipe)";
    else if (st->m->kind != KK_KIND_SOURCE && st->nin == 0)
      what = "has no input (connect a source to it with kk.pipe)";
    else if (st->m->kind == KK_KIND_TRANSFORM && st->nout == 0)
      what = "has no output: its results would be lost (pipe it into a sink)";
    if (what) {
      snprintf(err, errlen, "%s:%d: %s.%s '%s' %s", st->file, st->line,
               st->m->ns, st->m->name, st->name, what);
      return KK_EGRAPH;
    }
  }
  for (size_t i = 0; i < e->n; i++) {
    /* Names become file names (journal cursors, stage directories). */
    kk_stage_t *st = e->stages[i];
    const char *p = st->name;
    size_t len = strlen(p);
    int ok = len > 0 && len < 100 && p[0] != '.' &&
             !(len >= 4 && strcmp(p + len - 4, ".tmp") == 0);
    for (; *p && ok; p++)
      ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.';
    if (!ok) {
      snprintf(err, errlen,
               "%s:%d: stage name '%s' must be 1-99 letters, digits, '_', "
               "'-' or '.', not start with '.' nor end in \".tmp\"",
               st->file, st->line, st->name);
      return KK_EGRAPH;
    }
  }
  for (size_t i = 0; i < e->n; i++)
    for (size_t k = i + 1; k < e->n; k++)
      if (strcmp(e->stages[i]->name, e->stages[k]->name) == 0) {
        kk_stage_t *st = e->stages[k];
        snprintf(err, errlen, "%s:%d: stage name '%s' is used twice", st->file,
                 st->line, st->name);
        return KK_EGRAPH;
      }
  (void)nsources;
  return 0;
}

/* ---- delivery and backpressure ------------------------------------- */

static void replay_step(uv_idle_t *h);

static void set_paused(kk__engine_t *e, int paused, const kk_stage_t *why) {
  if (e->paused == paused) return;
  e->paused = paused;
  kk_metric_set(e->m_paused, paused);
  if (paused) kk_metric_add(e->m_pauses, 1);
  if (e->replaying && !e->stopping) {
    if (paused)
      uv_idle_stop(&e->replay_idle);
    else
      uv_idle_start(&e->replay_idle, replay_step);
  }
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != KK_KIND_SOURCE || !st->started || st->stopping) continue;
    if (paused && st->m->pause) st->m->pause(st, st->state);
    if (!paused && st->m->resume) st->m->resume(st, st->state);
  }
  if (paused && kk_ratelimit_ok(&e->pause_rl))
    kk_log(KK_LOG_INFO, "core", "engine",
           "sources paused: sink '%s' has %llu readings in flight (queue %llu)",
           why->name, (unsigned long long)why->inflight,
           (unsigned long long)why->queue_cap);
}

static void check_backpressure(kk__engine_t *e) {
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

static void done_async_cb(uv_async_t *h) {
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
    if (t->m->kind == KK_KIND_SINK && !t->held && kk_batch_seq(b)) {
      /* Everything up to the cursor before this batch was done; what
       * comes after is replayed at the next start. */
      t->held = 1;
      t->hold = t->cursor;
      kk_stage_log(t, KK_LOG_WARN,
                   "a batch failed; this sink's cursor stays at %llu so that "
                   "the next start replays it from the journal",
                   (unsigned long long)t->hold);
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
static void decode_raws(kk_stage_t *st, kk_batch_t *b, kk_batch_t *out,
                        int *status) {
  size_t nraw = kk_batch_raw_len(b);
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
    }
  }
}

int kk_stage_ingest(kk_stage_t *st, kk_batch_t *b, int *status) {
  kk__engine_t *e = st->eng;
  size_t nraw = kk_batch_raw_len(b);
  if (!e->journal) return KK_ECLOSED;
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
    if (!e->hold_seq) e->hold_seq = first;
    kk_stage_log(st, KK_LOG_ERROR, "journal append failed: %s",
                 kk_strerror(rc));
    return rc;
  }
  int rc = kk__journal_commit(e->journal);
  if (rc) {
    if (!e->hold_seq) e->hold_seq = first;
    kk_stage_log(st, KK_LOG_ERROR, "journal append failed: %s",
                 kk_strerror(rc));
    return rc;
  }
  kk_metric_add(e->m_appended, (int64_t)nraw);
  if (st->m->decode) {
    decode_raws(st, b, b, status);
  } else if (status) {
    memset(status, 0, nraw * sizeof *status);
  }
  kk_stage_emit(st, b);
  return 0;
}

void kk_stage_hold(kk_stage_t *st, uint64_t seq) {
  st->has_hold = 1;
  st->hold_pos = seq;
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

/* ---- replay ---------------------------------------------------------- */

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
  if (c->src->m->decode) decode_raws(c->src, c->b, c->b, NULL);
  /* The batch is still ours alone: mark its readings as replayed. */
  kk_reading_t *r = (kk_reading_t *)kk_batch_readings(c->b);
  for (size_t i = 0, n = kk_batch_len(c->b); i < n; i++)
    r[i].flags |= KK_READING_REPLAY;
  kk_stage_emit(c->src, c->b);
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
        (st->has_hold && rec->seq == st->hold_pos + 1))
      boundary = 1;
  }
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

static int start_kind(kk__engine_t *e, kk_kind_t kind);
static void save_cursors(kk__engine_t *e);
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
  if (e->stopping) return;
  if (start_kind(e, KK_KIND_SOURCE) != 0) {
    e->exit_code = 1;
    kk__engine_stop(e);
    return;
  }
  save_cursors(e);
  kk_log(KK_LOG_INFO, "core", "engine",
         "running %zu stages; journal at %s (last record %llu)", e->n,
         e->cfg->journal.dir,
         (unsigned long long)kk__journal_last_seq(e->journal));
}

/* One step of the replay: up to 4096 records, then back to the loop.
 * The idle handle is stopped while sinks are full (set_paused). */
static void replay_step(uv_idle_t *h) {
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
static void replay_begin(kk__engine_t *e) {
  uint64_t from = UINT64_MAX;
  for (size_t i = 0; i < e->n; i++) {
    const kk_stage_t *st = e->stages[i];
    if (st->m->kind == KK_KIND_SINK && st->cursor < from) from = st->cursor;
    /* A transform whose saved state ends at hold_pos needs what follows. */
    if (st->has_hold && st->hold_pos < from) from = st->hold_pos;
  }
  replay_state = (replay_ctx_t){.e = e, .next = from + 1};
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
  uv_idle_start(&e->replay_idle, replay_step);
}

/* ---- lifecycle ------------------------------------------------------- */

static void save_cursors(kk__engine_t *e) {
  if (!e->journal) return;
  uint64_t last = kk__journal_last_seq(e->journal);
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != KK_KIND_SINK) continue;
    /* Nothing in flight means every appended record reached this sink (or
     * was filtered out on the way): delivery is synchronous. */
    if (st->fifo_len == 0 && e->replay_done) st->cursor = last;
    if (e->hold_seq && st->cursor >= e->hold_seq) st->cursor = e->hold_seq - 1;
    if (st->held && st->cursor > st->hold) st->cursor = st->hold;
    kk__journal_cursor_set(e->journal, st->name, st->cursor);
    st->saved_cursor = st->cursor;
    kk_metric_set(st->m_lag, (int64_t)(last - st->cursor));
  }
  int rc = kk__journal_cursors_save(e->journal);
  if (rc)
    kk_log(KK_LOG_ERROR, "core", "journal", "saving cursors failed: %s",
           kk_strerror(rc));
}

/* Writes every metric to <data_dir>/metrics.prom (Prometheus text format,
 * replaced atomically), which node_exporter's textfile collector can pick
 * up until the HTTP publisher serves /metrics. */
static void write_metrics_file(kk__engine_t *e) {
  char path[4096], tmp[4200];
  if (e->journal) {
    kk__journal_stats_t s;
    kk__journal_stats(e->journal, &s);
    kk_metric_set(e->m_corrupt, (int64_t)s.corrupt);
    kk_metric_set(e->m_journal_bytes, (int64_t)s.disk_bytes);
  }
  snprintf(path, sizeof path, "%s/metrics.prom", e->cfg->data_dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  char *text = kk_metrics_render();
  if (!text) return;
  FILE *f = fopen(tmp, "w");
  if (f) {
    int ok = fputs(text, f) >= 0;
    ok &= fclose(f) == 0;
    if (ok)
      rename(tmp, path);
    else
      remove(tmp);
  }
  free(text);
}

static void save_cursors_if_moved(kk__engine_t *e) {
  uint64_t last = kk__journal_last_seq(e->journal);
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != KK_KIND_SINK) continue;
    uint64_t pos = st->fifo_len == 0 && e->replay_done ? last : st->cursor;
    if (pos != st->saved_cursor) {
      save_cursors(e);
      return;
    }
  }
}

static void tick_cb(uv_timer_t *h) {
  kk__engine_t *e = h->data;
  if (!e->journal) return;
  kk__journal_tick(e->journal);
  uint64_t now = uv_now(&e->loop);
  /* Cursors are saved on every tick that moved one: the fewer records a
   * crash finds past a cursor, the fewer duplicates the replay makes. */
  save_cursors_if_moved(e);
  if (now - e->last_cursor_save >= 1000) {
    e->last_cursor_save = now;
    if (++e->ticks_since_metrics >= 5) {
      e->ticks_since_metrics = 0;
      write_metrics_file(e);
    }
  }
  if (now - e->last_retire >= 10000) {
    e->last_retire = now;
    kk__journal_retire(e->journal);
  }
}

static void close_engine_handles(kk__engine_t *e) {
  if (e->handles_closed) return;
  e->handles_closed = 1;
  save_cursors(e);
  write_metrics_file(e);
  kk__journal_close(e->journal);
  e->journal = NULL;
  uv_close((uv_handle_t *)&e->sigint, NULL);
  uv_close((uv_handle_t *)&e->sigterm, NULL);
  /* Closing the handles gave the signals back their default action, and
   * everything is saved: a late signal (timeout(1) signals the process
   * group as well as the process) must not turn a clean exit into death
   * by SIGTERM. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  uv_close((uv_handle_t *)&e->tick, NULL);
  uv_close((uv_handle_t *)&e->deadline, NULL);
  uv_close((uv_handle_t *)&e->done_async, NULL);
  uv_close((uv_handle_t *)&e->replay_idle, NULL);
}

static void advance_shutdown(kk__engine_t *e);

static void stage_stopped(kk_stage_t *st) {
  kk__engine_t *e = st->eng;
  if (st->stopped) return;
  st->stopped = 1;
  e->pending_stops--;
  if (e->pending_stops == 0) advance_shutdown(e);
}

/* Stops the started stages of `kind`; for sinks, `stores` selects the
 * store sinks (ns "store") or the others. */
static void stop_kind(kk__engine_t *e, kk_kind_t kind, int stores) {
  e->pending_stops = 1; /* held while we iterate */
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != kind || !st->started || st->stopping) continue;
    if (kind == KK_KIND_SINK && (strcmp(st->m->ns, "store") == 0) != stores)
      continue;
    st->stopping = 1;
    e->pending_stops++;
    if (st->m->stop)
      st->m->stop(st, st->state, stage_stopped);
    else
      stage_stopped(st);
  }
  e->pending_stops--;
  if (e->pending_stops == 0) advance_shutdown(e);
}

/* Shutdown runs in phases: stop sources; then (everything they produced
 * has been delivered synchronously) stop transforms, which may emit what
 * they hold (a calculator's last window) to sinks that still run; then
 * stop the sinks other than stores, which flush and finish their queues
 * (an exporter may still read a store); then the stores; then save
 * cursors and close. */
static void advance_shutdown(kk__engine_t *e) {
  if (e->stopping == 1) {
    e->stopping = 2;
    stop_kind(e, KK_KIND_TRANSFORM, 0);
  } else if (e->stopping == 2) {
    e->stopping = 3;
    stop_kind(e, KK_KIND_SINK, 0);
  } else if (e->stopping == 3) {
    e->stopping = 4;
    stop_kind(e, KK_KIND_SINK, 1);
  } else if (e->stopping == 4) {
    e->stopping = 5;
    for (size_t i = 0; i < e->n; i++)
      if (e->stages[i]->fifo_len)
        kk_log(KK_LOG_WARN, "core", "engine",
               "sink '%s' stopped with %zu unfinished batches; they will be "
               "replayed from the journal at the next start",
               e->stages[i]->name, e->stages[i]->fifo_len);
    close_engine_handles(e);
  }
}

/* Gives up on the stages still stopping: cursors saved, journal closed,
 * the loop stopped for good.  kk__engine_run returns at once and the
 * caller must not free the stages (their handles are still live): see
 * kk__engine_forced.  Nothing acknowledged is lost; it is in the journal
 * and replayed at the next start. */
static void force_exit(kk__engine_t *e) {
  e->exit_code = 1;
  e->stopping = 5;
  e->forced = 1;
  close_engine_handles(e);
  uv_stop(&e->loop);
}

static void deadline_cb(uv_timer_t *h) {
  kk__engine_t *e = h->data;
  kk_log(KK_LOG_ERROR, "core", "engine",
         "shutdown did not finish within %llu ms; exiting, unfinished data "
         "stays in the journal",
         (unsigned long long)e->cfg->shutdown_timeout_ms);
  force_exit(e);
}

void kk__engine_stop(kk__engine_t *e) {
  if (e->stopping) return;
  e->stopping = 1;
  kk_log(KK_LOG_INFO, "core", "engine", "stopping: draining the pipeline");
  uv_timer_start(&e->deadline, deadline_cb, e->cfg->shutdown_timeout_ms, 0);
  uv_unref((uv_handle_t *)&e->deadline);
  uv_unref((uv_handle_t *)&e->tick);
  uv_unref((uv_handle_t *)&e->done_async);
  uv_idle_stop(&e->replay_idle);
  uv_unref((uv_handle_t *)&e->sigint);
  uv_unref((uv_handle_t *)&e->sigterm);
  stop_kind(e, KK_KIND_SOURCE, 0);
}

static void signal_cb(uv_signal_t *h, int signum) {
  kk__engine_t *e = h->data;
  uint64_t now = uv_hrtime();
  if (e->stopping && now - e->signal_ns < 100 * 1000000ull) {
    /* The same stop request twice: timeout(1) and terminals signal the
     * process and its process group.  No person presses Ctrl-C twice
     * within 100 ms. */
    kk_log(KK_LOG_DEBUG, "core", "engine", "signal %d again: already stopping",
           signum);
    return;
  }
  int first = e->signal_ns == 0;
  e->signal_ns = now;
  if (e->stopping && first) {
    /* Stopping already (every source done, a stage failed): this is the
     * first request, and a drain is under way. */
    kk_log(KK_LOG_INFO, "core", "engine",
           "signal %d received; already stopping, a second one exits at once",
           signum);
    return;
  }
  if (e->stopping) {
    kk_log(KK_LOG_WARN, "core", "engine", "second signal %d: exiting now",
           signum);
    force_exit(e);
    return;
  }
  kk_log(KK_LOG_INFO, "core", "engine", "signal %d received", signum);
  kk__engine_stop(e);
}

int kk_mkdirs(const char *path, int parent_of_file) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0) return -EINVAL;
  if (n >= sizeof buf) return -ENAMETOOLONG;
  memcpy(buf, path, n + 1);
  if (parent_of_file) {
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return 0; /* the cwd or / */
    *slash = 0;
  }
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != 0) continue;
    char c = *p;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -errno;
    if (c == 0) return 0;
    *p = c;
  }
}

static void stage_metrics(kk_stage_t *st) {
  st->m_in = kk_stage_counter(st, "kk_readings_in_total", NULL,
                              "Readings received by the stage");
  st->m_out = kk_stage_counter(st, "kk_readings_out_total", NULL,
                               "Readings sent on by the stage");
  st->m_fail = kk_stage_counter(st, "kk_readings_failed_total", NULL,
                                "Readings in batches the stage failed on");
  if (st->m->kind == KK_KIND_SINK) {
    st->m_queue = stage_gauge(st, "kk_queue_readings",
                              "Readings in flight in the sink's queue");
    st->m_lag = stage_gauge(st, "kk_journal_lag_records",
                            "Journal records the sink has not finished");
  }
  if (st->m->kind == KK_KIND_SOURCE)
    st->m_rejected = kk_stage_counter(st, "kk_source_rejected_total", NULL,
                                      "Raw messages the source rejected");
}

static int start_kind(kk__engine_t *e, kk_kind_t kind) {
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != kind) continue;
    int rc = st->m->start ? st->m->start(st, st->state) : 0;
    if (rc) {
      kk_log(KK_LOG_ERROR, kind_ns(st), st->name, "%s:%d: cannot start: %s",
             st->file, st->line, st->err[0] ? st->err : kk_strerror(rc));
      return -1;
    }
    st->started = 1;
  }
  return 0;
}

int kk__engine_run(kk__engine_t *e, const kk__engine_cfg_t *cfg) {
  char err[512];
  e->cfg = cfg;
  e->m_appended = kk_counter("kk_journal_appended_total", NULL,
                             "Records appended to the journal");
  e->m_corrupt = kk_gauge("kk_journal_corrupt_records", NULL,
                          "Corrupt journal records quarantined since start");
  e->m_paused = kk_gauge("kk_sources_paused", NULL,
                         "1 while sources are paused by backpressure");
  e->m_pauses = kk_counter("kk_source_pauses_total", NULL,
                           "Times a full sink queue paused the sources");
  e->pause_rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 3);
  e->m_journal_bytes =
      kk_gauge("kk_journal_disk_bytes", NULL, "Bytes in journal segment files");
  int rc = kk_mkdirs(cfg->data_dir, 0);
  if (rc) {
    kk_log(KK_LOG_ERROR, "core", "engine", "cannot create data dir %s: %s",
           cfg->data_dir, kk_strerror(rc));
    return 1;
  }
  rc = kk__journal_open(&cfg->journal, &e->journal, err, sizeof err);
  if (rc) {
    kk_log(KK_LOG_ERROR, "core", "journal", "%s", err);
    return 1;
  }
  uv_signal_init(&e->loop, &e->sigint);
  uv_signal_init(&e->loop, &e->sigterm);
  e->sigint.data = e->sigterm.data = e;
  uv_signal_start(&e->sigint, signal_cb, SIGINT);
  uv_signal_start(&e->sigterm, signal_cb, SIGTERM);
  uv_timer_init(&e->loop, &e->tick);
  uv_timer_init(&e->loop, &e->deadline);
  e->tick.data = e->deadline.data = e;
  uv_timer_start(&e->tick, tick_cb, 100, 100);
  uv_async_init(&e->loop, &e->done_async, done_async_cb);
  uv_idle_init(&e->loop, &e->replay_idle);
  e->replay_idle.data = e;
  e->done_async.data = e;
  e->last_cursor_save = e->last_retire = uv_now(&e->loop);

  int failed = 0;
  for (size_t i = 0; i < e->n && !failed; i++) {
    kk_stage_t *st = e->stages[i];
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/stages/%s", cfg->data_dir, st->name);
    st->data_dir = strdup(dir);
    stage_metrics(st);
    if (st->m->kind == KK_KIND_SINK &&
        (rc = kk__journal_cursor_register(e->journal, st->name, &st->cursor)) !=
            0) {
      kk_log(KK_LOG_ERROR, kind_ns(st), st->name,
             "cannot read the journal cursor of this sink: %s",
             kk_strerror(rc));
      failed = 1;
      break;
    }
    rc = st->m->create ? st->m->create(st, st->opts, &st->state) : 0;
    if (rc) {
      kk_log(KK_LOG_ERROR, kind_ns(st), st->name, "%s:%d: cannot create: %s",
             st->file, st->line, st->err[0] ? st->err : kk_strerror(rc));
      failed = 1;
      break;
    }
    st->created = 1;
  }
  /* Sinks start first so that replayed and new data find them ready;
   * sources start once the replay is through (replay_finish). */
  if (!failed &&
      (start_kind(e, KK_KIND_SINK) || start_kind(e, KK_KIND_TRANSFORM)))
    failed = 1;
  if (failed) {
    e->exit_code = 1;
    kk__engine_stop(e);
  } else {
    replay_begin(e);
  }
  uv_run(&e->loop, UV_RUN_DEFAULT);
  if (e->forced) return e->exit_code;
  close_engine_handles(e);
  /* Let close callbacks run. */
  uv_run(&e->loop, UV_RUN_DEFAULT);
  return e->exit_code;
}

int kk__engine_forced(const kk__engine_t *e) {
  return e->forced;
}

size_t kk__engine_try_create(kk__engine_t *e, const kk__engine_cfg_t *cfg,
                             FILE *out) {
  size_t failed = 0;
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (!st->data_dir) {
      char dir[4096];
      snprintf(dir, sizeof dir, "%s/stages/%s", cfg->data_dir, st->name);
      st->data_dir = strdup(dir);
    }
    st->err[0] = 0;
    int rc = st->m->create ? st->m->create(st, st->opts, &st->state) : 0;
    if (rc) {
      fprintf(out, "%s:%d: %s: %s\n", st->file, st->line, st->name,
              st->err[0] ? st->err : kk_strerror(rc));
      failed++;
    }
    if (st->m->destroy && st->state) st->m->destroy(st->state);
    st->state = NULL;
    st->err[0] = 0;
  }
  return failed;
}

void kk__engine_free(kk__engine_t *e) {
  if (!e) return;
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->destroy && (st->created || st->state)) st->m->destroy(st->state);
    kk__opts_free(st->opts);
    free(st->out);
    free(st->fifo);
    free(st->name);
    free(st->file);
    free(st->data_dir);
    free(st);
  }
  free(e->stages);
  free(e->done_q);
  uv_mutex_destroy(&e->done_lock);
  if (uv_loop_close(&e->loop) == UV_EBUSY) {
    kk_log(KK_LOG_ERROR, "core", "engine", "loop closed with live handles");
  }
  free(e);
}
