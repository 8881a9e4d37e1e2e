/* core/engine_dead.c - poison records: the engine's side of the dead
 * letters (core/journal_dead.h).
 *
 * These failures move a journal record to the dead letters, so that the
 * cursor passes it and the rest of the pipeline flows:
 *   - the source's decoder rejects it (it stays rejected until the
 *     decoder changes, and `klimakit journal requeue` then puts it back);
 *   - a transform fails on the batch that carries it (a Lua error, its
 *     instruction budget, its deadline, its memory cap).  It is not
 *     called again: the same input fails the same way, and a second call
 *     would hold the loop for a second deadline;
 *   - a transform that decodes rejects it (kk_stage_dead_letter);
 *   - a sink fails on its batch with an error that the same data meets
 *     again (a type or constraint error, a Lua sink's error), also after
 *     KK__DEAD_SINK_TRIES tries; a transient failure (the disk, the
 *     network) keeps the old way: the cursor stays before the batch and
 *     the next start replays it;
 *   - the process dies while it is being replayed, KK__DEAD_MAX_CRASHES
 *     times in a row.  Before each replay batch the engine writes the
 *     in-flight marker; a marker found at start names the batch the last
 *     run died in.  Its records are then replayed one at a time, each
 *     under its own marker, so the next deaths single out the record, and
 *     a record the process died on KK__DEAD_MAX_CRASHES times is not
 *     offered again.  A hang that a watchdog (systemd's WatchdogSec=)
 *     ends is such a death too.
 * Each is counted in kk_dead_letters_total{stage,reason} and logged
 * (rate-limited).  Loop thread only. */
#include "engine_impl.h"

#include <stdio.h>
#include <string.h>

#include "journal_dead.h"

static void dead_count(kk_stage_t *st, const char *why) {
  kk_metric_add(kk_stage_counter(st, "kk_dead_letters_total", why,
                                 "Journal records moved to the dead letters, "
                                 "by reason"),
                1);
}

/* Writes the dead letter of `raw` (journaled by the source named `srcname`)
 * for stage `failed`.  A record that is a dead letter already (the replay
 * after a restart offers it again, and its decoder rejects it again) is
 * left as it is: not written, counted or logged twice.  Returns 0, 1 for
 * such a record, or a negative code. */
static int dead_put_named(kk__engine_t *e, const char *srcname,
                          const kk_raw_t *raw, kk_stage_t *failed,
                          const char *why, const char *reason,
                          uint32_t attempts) {
  if (!raw->seq || !e->cfg) return KK_EINVAL;
  if (kk__dead_exists(e->cfg->journal.dir, raw->seq)) return 1;
  kk__journal_rec_t rec = {.seq = raw->seq,
                           .time_ms = raw->time_ms,
                           .format = raw->format,
                           .source = srcname,
                           .meta = raw->meta,
                           .data = raw->data,
                           .len = raw->len};
  int rc =
      kk__dead_put(e->cfg->journal.dir, &rec, failed->name, reason, attempts);
  dead_count(failed, why);
  if (kk_ratelimit_ok(&e->dead_rl))
    kk_log(KK_LOG_WARN, failed->m->ns, failed->name,
           "journal record %llu moved to the dead letters (%s): %s%s%s",
           (unsigned long long)raw->seq, why, reason,
           rc ? "; writing it failed: " : "", rc ? kk_strerror(rc) : "");
  return rc;
}

static void dead_put(kk__engine_t *e, kk_stage_t *src, const kk_raw_t *raw,
                     kk_stage_t *failed, const char *why, const char *reason,
                     uint32_t attempts) {
  dead_put_named(e, src->name, raw, failed, why, reason, attempts);
}

/* ---- kk_stage_dead_letter: a transform rejects a record ------------------ */

typedef struct find_src {
  uint64_t seq;
  char name[256];
  int found;
} find_src_t;

static int find_src_cb(void *ud, const kk__journal_rec_t *rec) {
  find_src_t *f = ud;
  if (rec->seq == f->seq) {
    snprintf(f->name, sizeof f->name, "%s", rec->source);
    f->found = 1;
  }
  return 1; /* the first record at or past seq is all we need */
}

int kk_stage_dead_letter(kk_stage_t *st, const kk_raw_t *raw,
                         const char *reason) {
  kk__engine_t *e = st->eng;
  if (!raw || !raw->seq) return KK_EINVAL; /* not journaled */
  if (!e || !e->cfg || !e->journal) return KK_ECLOSED;
  if (!reason || !*reason) reason = "rejected";
  /* The record's source: the one whose batch is being emitted (delivery
   * is synchronous), else the journal says. */
  kk_batch_t *cb = e->cur_batch;
  size_t n = cb ? kk_batch_raw_len(cb) : 0;
  if (e->cur_src && n && raw->seq >= kk_batch_raw(cb, 0)->seq &&
      raw->seq <= kk_batch_raw(cb, n - 1)->seq)
    return dead_put_named(e, e->cur_src->name, raw, st, "decode", reason, 1);
  find_src_t f = {.seq = raw->seq};
  int rc = kk__journal_read(e->journal, raw->seq, find_src_cb, &f);
  if (rc < 0) return rc;
  if (!f.found) return KK_EUNKNOWN;
  return dead_put_named(e, f.name, raw, st, "decode", reason, 1);
}

void kk__engine_dead_decode(kk_stage_t *src, const kk_raw_t *raw,
                            const char *reason) {
  dead_put(src->eng, src, raw, src, "decode", reason, 1);
}

int kk__engine_dead_transform(kk_stage_t *t, kk_batch_t *b, int rc) {
  kk__engine_t *e = t->eng;
  (void)b;
  /* No second call: the same input in the same recipe fails the same way,
   * and each call may hold the loop for the stage's whole deadline. */
  if (rc >= 0 || rc == KK_ENOMEM || !e->cur_src || !e->cur_batch) return rc;
  char reason[700];
  snprintf(reason, sizeof reason, "%s%s%s", kk_strerror(rc),
           t->err[0] ? ": " : "", t->err);
  for (size_t i = 0, n = kk_batch_raw_len(e->cur_batch); i < n; i++)
    dead_put(e, e->cur_src, kk_batch_raw(e->cur_batch, i), t, "transform",
             reason, 1);
  return rc;
}

/* ---- a sink's batch that fails for good --------------------------------- */

/* Failures that the same data in the same recipe meets again however often
 * it is tried: the data is refused (a type, range or constraint error, a
 * Lua sink's error).  Anything else (-errno: the disk, the network; I/O,
 * out of memory, busy, closed, denied) may pass and is retried as before. */
static int sink_permanent(int rc) {
  switch (rc) {
  case KK_EINVAL:
  case KK_ETYPE:
  case KK_ERANGE:
  case KK_EPARSE:
  case KK_ETOOBIG:
  case KK_EMISSING:
  case KK_ECORRUPT:
  case KK_EUNKNOWN:
  case KK_ELUA:
  case KK_EBUDGET:
  case KK_EMEMCAP:
    return 1;
  default:
    return 0;
  }
}

int kk__engine_dead_sink(kk_stage_t *t, kk_batch_t *b, int rc) {
  kk__engine_t *e = t->eng;
  kk_batch_t *src = e->cur_batch;
  /* Only a batch that is the source batch being delivered, or derives
   * from it alone, has records to quarantine. */
  if (rc >= 0 || !sink_permanent(rc) || !e->cfg || !e->cur_src || !src ||
      !kk_batch_raw_len(src) || kk_batch_seq(b) != kk_batch_seq(src))
    return rc;
  uint32_t tries = 1;
  while (tries < KK__DEAD_SINK_TRIES && sink_permanent(rc)) {
    tries++;
    t->err[0] = 0;
    rc = t->m->process(t, t->state, b);
  }
  if (rc >= 0 || !sink_permanent(rc)) return rc;
  char reason[700];
  snprintf(reason, sizeof reason, "%s%s%s", kk_strerror(rc),
           t->err[0] ? ": " : "", t->err);
  for (size_t i = 0, n = kk_batch_raw_len(src); i < n; i++)
    dead_put(e, e->cur_src, kk_batch_raw(src, i), t, "sink", reason, tries);
  return 0; /* done for this sink: its cursor passes the batch */
}

/* A sink that finishes batches itself (KK_ASYNC) and found the oldest
 * unfinished one refused for good. */

static int feeds(const kk_stage_t *from, const kk_stage_t *to, int depth) {
  if (from == to) return 1;
  if (depth > 64) return 0;
  for (size_t i = 0; i < from->nout; i++)
    if (feeds(from->out[i], to, depth + 1)) return 1;
  return 0;
}

typedef struct dead_range {
  kk__engine_t *e;
  kk_stage_t *sink;
  uint64_t last;
  const char *reason;
  size_t n;
} dead_range_t;

static int dead_range_cb(void *ud, const kk__journal_rec_t *rec) {
  dead_range_t *r = ud;
  if (rec->seq > r->last) return 1;
  kk_stage_t *src = NULL;
  for (size_t i = 0; i < r->e->n && !src; i++)
    if (r->e->stages[i]->m->kind == KK_KIND_SOURCE &&
        strcmp(r->e->stages[i]->name, rec->source) == 0)
      src = r->e->stages[i];
  if (!src || !feeds(src, r->sink, 0)) return 0;
  kk_raw_t raw = {.seq = rec->seq,
                  .time_ms = rec->time_ms,
                  .format = rec->format,
                  .meta = rec->meta,
                  .data = rec->data,
                  .len = rec->len};
  dead_put_named(r->e, src->name, &raw, r->sink, "sink", r->reason,
                 KK__DEAD_SINK_TRIES);
  r->n++;
  return 0;
}

void kk_stage_done_dead(kk_stage_t *st, const char *reason) {
  kk__engine_t *e = st->eng;
  size_t i = 0;
  while (i < st->fifo_len && st->fifo[(st->fifo_head + i) % st->fifo_cap].done)
    i++;
  if (i < st->fifo_len && e->cfg && e->journal) {
    uint64_t last = st->fifo[(st->fifo_head + i) % st->fifo_cap].seq;
    uint64_t first = (i ? st->fifo[(st->fifo_head + i - 1) % st->fifo_cap].seq
                        : st->cursor) +
                     1;
    dead_range_t r = {e, st, last, reason && *reason ? reason : "refused", 0};
    if (last >= first) {
      int rc = kk__journal_read(e->journal, first, dead_range_cb, &r);
      if (rc < 0 && kk_ratelimit_ok(&e->dead_rl))
        kk_stage_log(st, KK_LOG_WARN,
                     "cannot read journal records %llu to %llu for the dead "
                     "letters: %s",
                     (unsigned long long)first, (unsigned long long)last,
                     kk_strerror(rc));
    }
  }
  kk_stage_done(st);
}

void kk__engine_emit_source(kk_stage_t *src, kk_batch_t *b) {
  kk__engine_t *e = src->eng;
  kk_stage_t *ps = e->cur_src;
  kk_batch_t *pb = e->cur_batch;
  e->cur_src = src;
  e->cur_batch = b;
  /* Decoder transforms further down make this source's datastreams. */
  kk_stage_t *pds = kk__engine_datastream_source(src);
  kk_stage_emit(src, b);
  kk__engine_datastream_source(pds);
  e->cur_src = ps;
  e->cur_batch = pb;
}

/* ---- crash loops during the replay -------------------------------------- */

void kk__engine_dead_replay_begin(kk__engine_t *e) {
  uint64_t a, b;
  uint32_t c;
  e->mark_set = 0;
  if (!kk__dead_marked(e->cfg->journal.dir, &a, &b, &c)) return;
  e->mark_set = 1;
  e->mark_first = a;
  e->mark_last = b;
  e->mark_crashes = c + 1;
  kk_log(KK_LOG_WARN, "core", "journal",
         "the last run died while processing journal records %llu to %llu "
         "(%u time%s in a row): replaying them one at a time; a record the "
         "process dies on %d times goes to the dead letters",
         (unsigned long long)a, (unsigned long long)b, e->mark_crashes,
         e->mark_crashes == 1 ? "" : "s", KK__DEAD_MAX_CRASHES);
}

int kk__engine_dead_isolate(const kk__engine_t *e, uint64_t seq) {
  return e->mark_set && seq >= e->mark_first && seq <= e->mark_last;
}

int kk__engine_dead_replay_batch(kk_stage_t *src, kk_batch_t *b) {
  kk__engine_t *e = src->eng;
  size_t n = kk_batch_raw_len(b);
  if (!n) return 0;
  uint64_t first = kk_batch_raw(b, 0)->seq, last = kk_batch_raw(b, n - 1)->seq;
  uint32_t crashes = 0;
  if (n == 1 && e->mark_set && e->mark_first == first &&
      e->mark_last == first) {
    crashes = e->mark_crashes;
    if (crashes >= KK__DEAD_MAX_CRASHES) {
      char reason[160];
      snprintf(reason, sizeof reason,
               "crash loop: the process died %u times while processing it",
               crashes);
      dead_put(e, src, kk_batch_raw(b, 0), src, "crash_loop", reason, crashes);
      return 1;
    }
  }
  int rc = kk__dead_mark(e->cfg->journal.dir, first, last, crashes);
  if (rc && kk_ratelimit_ok(&e->dead_rl))
    kk_log(KK_LOG_WARN, "core", "journal",
           "cannot write the in-flight marker: %s (a crash loop on these "
           "records would not be noticed)",
           kk_strerror(rc));
  return 0;
}

void kk__engine_dead_replay_end(kk__engine_t *e) {
  if (e->cfg) kk__dead_unmark(e->cfg->journal.dir);
}
