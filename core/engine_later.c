/* core/engine_later.c - delivery later in the loop (kk_stage_deliver_later).
 *
 * A source that reads a stream which does not wait for it (MQTT: the
 * broker drops what a slow client leaves in its queue, 1 000 messages by
 * default) journals and acknowledges what it read, then hands the batch
 * here instead of running the pipeline on it at once.  An idle handle
 * delivers the waiting batches, one per loop iteration, so that the
 * socket is read again between them: while
 * the pipeline is slower than the input, reading (a few microseconds a
 * message) keeps its share of the loop and the backlog waits in the
 * journal instead of in the broker, which would drop it.
 *
 * Up to LATER_MAX_RAWS messages wait in memory as the batches the source
 * made.  Past that the ring is let go and everything from its first
 * record on is read back from the journal (a chunk per step) until the
 * read reaches the journal's end; then batches wait in memory again.
 * Order: batches are delivered as they were journaled, and a batch of
 * any other source (kk_stage_ingest, kk_stage_deliver) first has
 * everything waiting delivered (kk__engine_later_flush), so sinks still
 * see journal order and a cursor stays a single number.  No cursor is
 * saved past the first record still waiting (kk__engine_later_first), so
 * a crash replays what waited; a clean stop delivers what waits in
 * memory and leaves what waits in the journal to the next start.  Runs
 * on the loop thread. */
#include "engine_impl.h"

#include <stdlib.h>
#include <string.h>

#define LATER_MAX_RAWS 8192u   /* messages waiting in memory at most */
#define LATER_SLICE_NS 250000u /* a delivery takes about this */
#define LATER_SPLIT 2u         /* batches over 2 slices are split */
#define LATER_READ_CHUNK 256u  /* messages per slice at most */
#define LATER_READ_AHEAD                                                       \
  1024u                         /* records read back from the journal at once  \
                                 */
#define LATER_FLUSH_CHUNK 4096u /* ... when everything is delivered now */

static void later_idle_cb(uv_idle_t *h);

void kk__engine_later_init(kk__engine_t *e) {
  uv_idle_init(&e->loop, &e->later_idle);
  e->later_idle.data = e;
  e->later_rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(60000, 2);
  e->later_chunk = 16; /* until a delivery has been timed */
  e->m_later = kk_gauge(
      "kk_deliver_later_records", NULL,
      "Journaled records waiting to be delivered while their source reads "
      "on (source.mqtt)");
  e->m_later_journal = kk_counter(
      "kk_deliver_later_journal_total", NULL,
      "Waiting records read back from the journal because more waited than "
      "memory holds");
}

uint64_t kk__engine_later_first(const kk__engine_t *e) {
  return e->later_first;
}

static void later_arm(kk__engine_t *e) {
  if (e->later_idle_on || e->paused || e->stopping || e->handles_closed) return;
  e->later_idle_on = 1;
  uv_idle_start(&e->later_idle, later_idle_cb);
}

static void later_disarm(kk__engine_t *e) {
  if (!e->later_idle_on) return;
  e->later_idle_on = 0;
  uv_idle_stop(&e->later_idle);
}

static void later_gauge(kk__engine_t *e) {
  uint64_t last = e->journal ? kk__journal_last_seq(e->journal) : 0;
  uint64_t n =
      e->later_first && last >= e->later_first ? last - e->later_first + 1 : 0;
  kk_metric_set(e->m_later, (int64_t)n);
}

static uint64_t batch_first_seq(kk_batch_t *b) {
  return kk_batch_raw_len(b) ? kk_batch_raw(b, 0)->seq : 0;
}

/* The oldest record of the ring not delivered yet. */
static uint64_t ring_first_seq(const kk__engine_t *e) {
  kk_batch_t *b = e->later[e->later_head];
  return e->later_off < kk_batch_raw_len(b) ? kk_batch_raw(b, e->later_off)->seq
                                            : batch_first_seq(b);
}

/* Nothing waits any more when the ring is empty and nothing is to be read
 * back; otherwise later_first is the oldest record that waits. */
static void later_settle(kk__engine_t *e) {
  if (e->later_len)
    e->later_first = ring_first_seq(e);
  else if (e->later_journal)
    e->later_first = e->later_journal;
  else
    e->later_first = 0;
  if (!e->later_first) later_disarm(e);
  later_gauge(e);
}

static void later_drop_ring(kk__engine_t *e) {
  while (e->later_len) {
    kk_batch_unref(e->later[e->later_head]);
    e->later_head = (e->later_head + 1) % e->later_cap;
    e->later_len--;
  }
  e->later_head = 0;
  e->later_off = 0;
  e->later_raws = 0;
}

static int later_push(kk__engine_t *e, kk_stage_t *st, kk_batch_t *b) {
  if (e->later_len == e->later_cap) {
    size_t ncap = e->later_cap ? e->later_cap * 2 : 64;
    kk_batch_t **nb = malloc(ncap * sizeof *nb);
    kk_stage_t **ns = malloc(ncap * sizeof *ns);
    if (!nb || !ns) {
      free(nb);
      free(ns);
      return KK_ENOMEM;
    }
    for (size_t i = 0; i < e->later_len; i++) {
      nb[i] = e->later[(e->later_head + i) % e->later_cap];
      ns[i] = e->later_src[(e->later_head + i) % e->later_cap];
    }
    free(e->later);
    free(e->later_src);
    e->later = nb;
    e->later_src = ns;
    e->later_cap = ncap;
    e->later_head = 0;
  }
  size_t at = (e->later_head + e->later_len) % e->later_cap;
  e->later[at] = kk_batch_ref(b);
  e->later_src[at] = st;
  e->later_len++;
  e->later_raws += kk_batch_raw_len(b);
  return 0;
}

void kk_stage_deliver_later(kk_stage_t *st, kk_batch_t *b) {
  kk__engine_t *e = st->eng;
  st->later = 1;
  e->later_sources = 1;
  uint64_t first = batch_first_seq(b);
  if (!first) return; /* nothing journaled, nothing to deliver */
  if (!e->later_first) e->later_first = first;
  if (!e->later_journal &&
      (e->later_raws + kk_batch_raw_len(b) > LATER_MAX_RAWS ||
       later_push(e, st, b) != 0)) {
    /* More waits than memory holds: let the batches go, they are in the
     * journal, and read them back from there. */
    e->later_journal = e->later_first;
    later_drop_ring(e);
    if (kk_ratelimit_ok(&e->later_rl))
      kk_log(KK_LOG_INFO, "core", "engine",
             "the pipeline is slower than the input: records from %llu on "
             "wait in the journal and are delivered from there",
             (unsigned long long)e->later_journal);
  }
  later_gauge(e);
  later_arm(e);
}

/* A batch of its own holding the raw messages [from, to) of `b`; NULL
 * when out of memory. */
static kk_batch_t *copy_raws(kk_batch_t *b, size_t from, size_t to) {
  kk_batch_t *c = kk_batch_new(to - from);
  for (size_t i = from; c && i < to; i++) {
    const kk_raw_t *r = kk_batch_raw(b, i);
    if (kk_batch_push_raw(c, r->seq, r->time_ms, r->format, r->meta, r->data,
                          r->len) != 0) {
      kk_batch_unref(c);
      c = NULL;
    }
  }
  return c;
}

/* Delivers the oldest batch of the ring, or the next `max` messages of
 * it (copied into a batch of their own) when the whole would take much
 * longer than a slice.  Returns the messages delivered. */
static size_t later_deliver_one(kk__engine_t *e, size_t max) {
  kk_batch_t *b = e->later[e->later_head];
  kk_stage_t *st = e->later_src[e->later_head];
  size_t nraw = kk_batch_raw_len(b), off = e->later_off;
  size_t n = nraw - off;
  kk_batch_t *part = max && n > LATER_SPLIT * max
                         ? copy_raws(b, off, off + max)
                         : NULL; /* out of memory: the rest goes whole */
  if (part) {
    e->later_off += max;
    e->later_raws -= max;
    kk__engine_deliver_now(st, part, NULL);
    kk_batch_unref(part);
    return max;
  }
  e->later_head = (e->later_head + 1) % e->later_cap;
  e->later_len--;
  e->later_raws -= n;
  e->later_off = 0;
  kk_batch_t *rest = off ? copy_raws(b, off, nraw) : kk_batch_ref(b);
  if (!rest) {
    /* Cannot copy the rest: it is in the journal, read it back. */
    e->later_journal = kk_batch_raw(b, off)->seq;
    kk_batch_unref(b);
    later_drop_ring(e);
    return 0;
  }
  kk__engine_deliver_now(st, rest, NULL);
  kk_batch_unref(rest);
  kk_batch_unref(b);
  return n;
}

/* ---- reading back ---------------------------------------------------- */

/* Records are read back a chunk at a time into batches of one slice each
 * (`per` records), which join the ring: one journal read serves many
 * slices. */
typedef struct later_read {
  kk__engine_t *e;
  kk_stage_t *src;
  kk_batch_t *b;
  uint64_t next; /* first record not taken yet */
  size_t left;   /* records this read may still take */
  size_t per;    /* records per batch */
  int full;      /* the ring refused a batch (out of memory) */
} later_read_t;

static void read_stage(later_read_t *c) {
  if (!c->b) return;
  size_t n = kk_batch_raw_len(c->b);
  if (later_push(c->e, c->src, c->b) == 0) {
    kk_metric_add(c->e->m_later_journal, (int64_t)n);
  } else {
    /* Out of memory: these stay in the journal for the next read. */
    c->next = kk_batch_raw(c->b, 0)->seq;
    c->full = 1;
  }
  kk_batch_unref(c->b);
  c->b = NULL;
}

static int read_cb(void *ud, const kk__journal_rec_t *rec) {
  later_read_t *c = ud;
  kk__engine_t *e = c->e;
  if (c->left == 0 || c->full) return 1;
  if (c->b && (strcmp(c->src->name, rec->source) != 0 ||
               kk_batch_raw_len(c->b) >= c->per)) {
    read_stage(c);
    if (c->full) return 1;
  }
  if (!c->b) {
    kk_stage_t *src = NULL;
    for (size_t i = 0; i < e->n && !src; i++)
      if (e->stages[i]->m->kind == KK_KIND_SOURCE &&
          strcmp(e->stages[i]->name, rec->source) == 0)
        src = e->stages[i];
    if (!src) { /* not a stage of this graph: cannot happen, skip it */
      c->next = rec->seq + 1;
      c->left--;
      return 0;
    }
    c->src = src;
    if (!(c->b = kk_batch_new(c->per))) return KK_ENOMEM;
  }
  int rc = kk_batch_push_raw(c->b, rec->seq, rec->time_ms, rec->format,
                             rec->meta, rec->data, rec->len);
  if (rc) return rc;
  c->next = rec->seq + 1;
  c->left--;
  return 0;
}

/* Reads up to `max` waiting records back into the ring, in batches of
 * `per`.  Returns 0, or -1 when the journal could not be read: what waits
 * there is then left to the next start's replay (undelivered_from keeps
 * the cursors before it). */
static int later_read_back(kk__engine_t *e, size_t max, size_t per) {
  later_read_t c = {
      .e = e, .next = e->later_journal, .left = max, .per = per ? per : 1};
  int rc = kk__journal_read(e->journal, c.next, read_cb, &c);
  if (rc >= 0) read_stage(&c);
  if (rc < 0) {
    /* The batch being filled never reached the ring: it waits still. */
    if (c.b && kk_batch_raw_len(c.b)) c.next = kk_batch_raw(c.b, 0)->seq;
    kk_batch_unref(c.b);
    c.b = NULL;
  }
  if (rc < 0 && rc != KK_ENOMEM) {
    kk_log(KK_LOG_ERROR, "core", "engine",
           "reading waiting records back from the journal failed (%s): "
           "records from %llu on are delivered at the next start",
           kk_strerror(rc), (unsigned long long)c.next);
    if (!e->undelivered_from || e->undelivered_from > c.next)
      e->undelivered_from = c.next;
    e->later_journal = 0;
    return -1;
  }
  /* Out of memory: what was staged goes, the rest is read again later. */
  e->later_journal = c.next;
  if (c.next > kk__journal_last_seq(e->journal)) {
    e->later_journal = 0;
    if (kk_ratelimit_ok(&e->later_rl))
      kk_log(KK_LOG_INFO, "core", "engine",
             "caught up: every record waiting in the journal is read back");
  }
  return 0;
}

/* ---- the loop's slice -------------------------------------------------- */

/* One batch per loop iteration, then back to the poll: a source whose
 * socket has more gets its turn after about one slice.  A slice is sized
 * to take about LATER_SLICE_NS, from the time the last one took per
 * message: a QoS 1 stream, whose broker sends 20 messages and waits for
 * their acknowledgements (mosquitto's default), is read at most once per
 * slice, so a quarter millisecond lets it bring some 60 000 messages a
 * second.  Records read back from the journal come in batches of one
 * slice, LATER_READ_AHEAD at a time; a batch of the source that would
 * take more than LATER_SPLIT slices is delivered in parts of one slice,
 * copied (at 0.1 ms a message, 256 messages took 28 ms). */
static void later_idle_cb(uv_idle_t *h) {
  kk__engine_t *e = h->data;
  if (!e->paused && !e->stopping) {
    if (!e->later_len && e->later_journal)
      (void)later_read_back(e, LATER_READ_AHEAD, e->later_chunk);
    if (e->later_len) {
      uint64_t t0 = uv_hrtime();
      size_t n = later_deliver_one(e, e->later_chunk);
      if (n) {
        uint64_t per = (uv_hrtime() - t0) / n + 1;
        uint64_t chunk = LATER_SLICE_NS / per;
        e->later_chunk = chunk < 4                  ? 4
                         : chunk > LATER_READ_CHUNK ? LATER_READ_CHUNK
                                                    : (size_t)chunk;
      }
    }
  }
  if (e->paused || e->stopping) later_disarm(e);
  later_settle(e);
}

void kk__engine_later_flush(kk__engine_t *e, int journal) {
  if (!e->later_first) return;
  for (;;) {
    while (e->later_len)
      later_deliver_one(e, 0);
    if (!journal || !e->later_journal ||
        later_read_back(e, LATER_FLUSH_CHUNK, LATER_READ_CHUNK) != 0 ||
        !e->later_len)
      break;
  }
  later_settle(e);
}

void kk__engine_later_pause(kk__engine_t *e, int paused) {
  if (paused)
    later_disarm(e);
  else if (e->later_first)
    later_arm(e);
}

void kk__engine_later_free(kk__engine_t *e) {
  if (e->later_cap) later_drop_ring(e);
  free(e->later);
  free(e->later_src);
  e->later = NULL;
  e->later_src = NULL;
  e->later_cap = 0;
}
