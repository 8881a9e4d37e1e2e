/* core/batch.c - reference-counted batches and the datastream registry. */
#include "core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Raw payloads are copied into one arena per batch; the kk_raw_t entries
 * keep offsets until the batch is read, so that the arena may move while
 * it grows.  kk_batch_raw() resolves them on access. */
typedef struct raw_slot {
  uint64_t seq;
  int64_t time_ms;
  size_t data_off;
  size_t meta_off; /* SIZE_MAX: no meta */
  uint32_t len;
  uint32_t format;
} raw_slot_t;

struct kk_batch {
  _Atomic uint32_t refs;
  uint64_t seq;
  size_t len, cap;
  kk_reading_t *r;
  size_t nraw, rawcap;
  raw_slot_t *raw;
  uint8_t *arena;
  size_t arena_len, arena_cap;
  kk_raw_t view; /* filled by kk_batch_raw() */
};

kk_batch_t *kk_batch_new(size_t cap) {
  kk_batch_t *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  if (cap == 0) cap = 16;
  b->r = malloc(cap * sizeof *b->r);
  if (!b->r) {
    free(b);
    return NULL;
  }
  b->cap = cap;
  atomic_init(&b->refs, 1);
  return b;
}

kk_batch_t *kk_batch_ref(kk_batch_t *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return b;
}

void kk_batch_unref(kk_batch_t *b) {
  if (!b) return;
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
  free(b->r);
  free(b->raw);
  free(b->arena);
  free(b);
}

int kk_batch_push(kk_batch_t *b, const kk_reading_t *r) {
  if (b->len == b->cap) {
    size_t ncap = b->cap * 2;
    kk_reading_t *nr = realloc(b->r, ncap * sizeof *nr);
    if (!nr) return KK_ENOMEM;
    b->r = nr;
    b->cap = ncap;
  }
  b->r[b->len++] = *r;
  return 0;
}

static int arena_put(kk_batch_t *b, const void *p, size_t n, size_t *off) {
  if (b->arena_len + n > b->arena_cap) {
    size_t ncap = b->arena_cap ? b->arena_cap : 1024;
    while (ncap < b->arena_len + n)
      ncap *= 2;
    uint8_t *na = realloc(b->arena, ncap);
    if (!na) return KK_ENOMEM;
    b->arena = na;
    b->arena_cap = ncap;
  }
  *off = b->arena_len;
  if (n) memcpy(b->arena + b->arena_len, p, n);
  b->arena_len += n;
  return 0;
}

int kk_batch_push_raw(kk_batch_t *b, uint64_t seq, int64_t time_ms,
                      uint32_t format, const char *meta, const void *data,
                      size_t len) {
  if (len > UINT32_MAX) return KK_ETOOBIG;
  if (b->nraw == b->rawcap) {
    size_t ncap = b->rawcap ? b->rawcap * 2 : 16;
    raw_slot_t *nr = realloc(b->raw, ncap * sizeof *nr);
    if (!nr) return KK_ENOMEM;
    b->raw = nr;
    b->rawcap = ncap;
  }
  raw_slot_t *s = &b->raw[b->nraw];
  static const uint8_t nul = 0;
  int rc = arena_put(b, data, len, &s->data_off);
  /* A NUL after the payload lets text decoders treat it as a C string. */
  if (rc == 0) rc = arena_put(b, &nul, 1, &(size_t){0});
  s->meta_off = SIZE_MAX;
  if (rc == 0 && meta) rc = arena_put(b, meta, strlen(meta) + 1, &s->meta_off);
  if (rc) return rc;
  s->seq = seq;
  s->time_ms = time_ms;
  s->len = (uint32_t)len;
  s->format = format;
  b->nraw++;
  if (seq > b->seq) b->seq = seq;
  return 0;
}

size_t kk_batch_len(const kk_batch_t *b) {
  return b->len;
}
const kk_reading_t *kk_batch_readings(const kk_batch_t *b) {
  return b->r;
}
size_t kk_batch_raw_len(const kk_batch_t *b) {
  return b->nraw;
}

const kk_raw_t *kk_batch_raw(const kk_batch_t *b, size_t i) {
  if (i >= b->nraw) return NULL;
  kk_batch_t *m = (kk_batch_t *)b; /* the view is a cache, not state */
  const raw_slot_t *s = &b->raw[i];
  m->view.seq = s->seq;
  m->view.time_ms = s->time_ms;
  m->view.data = b->arena + s->data_off;
  m->view.len = s->len;
  m->view.format = s->format;
  m->view.meta =
      s->meta_off == SIZE_MAX ? "" : (const char *)b->arena + s->meta_off;
  return &m->view;
}

/* Used by the engine after the journal assigned sequence numbers. */
void kk__batch_clear(kk_batch_t *b) {
  b->len = 0;
  b->nraw = 0;
  b->arena_len = 0;
  b->seq = 0;
}

void kk__batch_set_raw_seq(kk_batch_t *b, size_t i, uint64_t seq) {
  b->raw[i].seq = seq;
  if (seq > b->seq) b->seq = seq;
}

uint64_t kk_batch_seq(const kk_batch_t *b) {
  return b->seq;
}
void kk_batch_set_seq(kk_batch_t *b, uint64_t seq) {
  b->seq = seq;
}

/* ---- datastream registry ----
 * Entries live in fixed chunks that never move, so other threads may read
 * an entry once they have seen its id; new ids are published with a
 * release store of the count. */
#define DS_CHUNK 1024
#define DS_MAX_CHUNKS 4096
static kk_datastream_t *ds_chunks[DS_MAX_CHUNKS];
static _Atomic uint32_t ds_count;
/* Open-addressing hash from (thing, property, unit) to id; each slot
 * keeps the upper half of the key's hash, so that a probe compares
 * strings only when that matches (once, for the entry it finds). */
typedef struct ds_slot {
  uint32_t id, tag;
} ds_slot_t;
static ds_slot_t *ds_hash;
static size_t ds_hash_cap;

static uint64_t ds_key_hash(const char *t, const char *p, const char *u) {
  uint64_t h = 1469598103934665603ull;
  for (const char *s = t; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (const char *s = p; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  h = (h ^ 0xfe) * 1099511628211ull;
  for (const char *s = u; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static int ds_hash_grow(void) {
  size_t ncap = ds_hash_cap ? ds_hash_cap * 2 : 1024;
  ds_slot_t *nh = calloc(ncap, sizeof *nh);
  if (!nh) return -1;
  uint32_t n = atomic_load(&ds_count);
  for (uint32_t id = 1; id <= n; id++) {
    const kk_datastream_t *d = kk_datastream_get(id);
    uint64_t h = ds_key_hash(d->thing, d->property, d->unit);
    size_t i = h & (ncap - 1);
    while (nh[i].id)
      i = (i + 1) & (ncap - 1);
    nh[i] = (ds_slot_t){id, (uint32_t)(h >> 32)};
  }
  free(ds_hash);
  ds_hash = nh;
  ds_hash_cap = ncap;
  return 0;
}

uint32_t kk_datastream_id(const char *thing, const char *property,
                          const char *unit) {
  if (!thing || !property || !unit || !*thing || !*property) return 0;
  uint32_t n = atomic_load_explicit(&ds_count, memory_order_relaxed);
  if ((n + 1) * 2 > ds_hash_cap && ds_hash_grow() != 0) return 0;
  uint64_t h = ds_key_hash(thing, property, unit);
  uint32_t tag = (uint32_t)(h >> 32);
  size_t i = h & (ds_hash_cap - 1);
  for (; ds_hash[i].id; i = (i + 1) & (ds_hash_cap - 1)) {
    if (ds_hash[i].tag != tag) continue;
    const kk_datastream_t *d = kk_datastream_get(ds_hash[i].id);
    if (strcmp(d->thing, thing) == 0 && strcmp(d->property, property) == 0 &&
        strcmp(d->unit, unit) == 0)
      return d->id;
  }
  if (!kk__datastream_admit(n)) return 0; /* the limits: engine_limits.c */
  uint32_t id = n + 1;
  size_t c = (id - 1) / DS_CHUNK;
  if (c >= DS_MAX_CHUNKS) return 0;
  if (!ds_chunks[c] &&
      !(ds_chunks[c] = calloc(DS_CHUNK, sizeof(kk_datastream_t))))
    return 0;
  kk_datastream_t *d = &ds_chunks[c][(id - 1) % DS_CHUNK];
  size_t lt = strlen(thing) + 1, lp = strlen(property) + 1,
         lu = strlen(unit) + 1;
  char *mem = malloc(lt + lp + lu);
  if (!mem) return 0;
  memcpy(mem, thing, lt);
  memcpy(mem + lt, property, lp);
  memcpy(mem + lt + lp, unit, lu);
  d->id = id;
  d->thing = mem;
  d->property = mem + lt;
  d->unit = mem + lt + lp;
  ds_hash[i] = (ds_slot_t){id, tag};
  atomic_store_explicit(&ds_count, id, memory_order_release);
  return id;
}

const kk_datastream_t *kk_datastream_get(uint32_t id) {
  if (id == 0 || id > atomic_load_explicit(&ds_count, memory_order_acquire))
    return NULL;
  return &ds_chunks[(id - 1) / DS_CHUNK][(id - 1) % DS_CHUNK];
}

uint32_t kk_datastream_count(void) {
  return atomic_load_explicit(&ds_count, memory_order_acquire);
}
