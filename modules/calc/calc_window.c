/*
 * modules/calc/calc_window.c - tumbling windows with late updates.
 *
 * An open-addressing hash table (linear probing, backward-shift delete)
 * of windows keyed by (key datastream, period, start), a per-key record
 * of the newest window start seen (the "current" window, still open) and
 * a queue of windows to emit after the batch.  See calc.h for the
 * semantics.
 */
#include "calc/calc.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const calc_stat_names[CALC_S_N] = {"sum", "avg", "min", "max",
                                               "count"};

typedef struct win {
  uint32_t key;
  uint8_t period, used, dirty, queued;
  int64_t start, end;
  calc_agg_t a;
} win_t;

typedef struct keyrec {
  int64_t cur[CALC_P_N];       /* start of the open window, INT64_MIN: none */
  int64_t evicted[CALC_P_N];   /* windows ending at or before are gone */
  struct win *cache[CALC_P_N]; /* the current window, valid while gen holds */
  uint64_t gen;
} keyrec_t;

typedef struct qent {
  uint32_t key;
  uint8_t period;
  int64_t start;
} qent_t;

struct calc_windows {
  calc_tz_t tz;
  unsigned mask;
  int64_t lateness;
  int update_mode;
  calc_window_cb cb;
  void *ctx;
  win_t *t;
  size_t cap, n; /* cap is a power of two */
  keyrec_t *keys;
  size_t nkeys;
  qent_t *q;
  size_t qn, qcap;
  uint64_t gen;         /* bumped whenever windows move in the table */
  size_t n_after_evict; /* windows left by the last eviction */
};

static uint64_t hash(uint32_t key, int period, int64_t start) {
  uint64_t h = (uint64_t)start * 0x9E3779B97F4A7C15ull;
  h ^= ((uint64_t)key << 3 | (uint64_t)period) * 0xC2B2AE3D27D4EB4Full;
  h ^= h >> 29;
  return h;
}

calc_windows_t *calc_windows_new(calc_tz_t tz, unsigned mask,
                                 int64_t lateness_ms, int update_mode,
                                 calc_window_cb cb, void *ctx) {
  calc_windows_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->tz = tz;
  w->mask = mask;
  w->lateness = lateness_ms;
  w->update_mode = update_mode;
  w->cb = cb;
  w->ctx = ctx;
  w->cap = 1024;
  w->t = calloc(w->cap, sizeof *w->t);
  if (!w->t) {
    free(w);
    return NULL;
  }
  return w;
}

void calc_windows_free(calc_windows_t *w) {
  if (!w) return;
  free(w->t);
  free(w->keys);
  free(w->q);
  free(w);
}

size_t calc_windows_count(const calc_windows_t *w) {
  return w->n;
}

static win_t *find(calc_windows_t *w, uint32_t key, int p, int64_t start) {
  size_t i = hash(key, p, start) & (w->cap - 1);
  for (;; i = (i + 1) & (w->cap - 1)) {
    win_t *x = &w->t[i];
    if (!x->used) return NULL;
    if (x->key == key && x->period == p && x->start == start) return x;
  }
}

static int rehash(calc_windows_t *w) {
  size_t ncap = w->cap * 2;
  win_t *nt = calloc(ncap, sizeof *nt), *old = w->t;
  if (!nt) return KK_ENOMEM;
  size_t ocap = w->cap;
  w->t = nt;
  w->cap = ncap;
  for (size_t i = 0; i < ocap; i++) {
    if (!old[i].used) continue;
    size_t j = hash(old[i].key, old[i].period, old[i].start) & (ncap - 1);
    while (nt[j].used)
      j = (j + 1) & (ncap - 1);
    nt[j] = old[i];
  }
  free(old);
  w->gen++;
  return 0;
}

static win_t *insert(calc_windows_t *w, uint32_t key, int p, int64_t start,
                     int64_t end) {
  win_t *x = find(w, key, p, start);
  if (x) return x;
  if ((w->n + 1) * 4 > w->cap * 3 && rehash(w)) return NULL;
  size_t i = hash(key, p, start) & (w->cap - 1);
  while (w->t[i].used)
    i = (i + 1) & (w->cap - 1);
  x = &w->t[i];
  memset(x, 0, sizeof *x);
  x->used = 1;
  x->key = key;
  x->period = (uint8_t)p;
  x->start = start;
  x->end = end;
  x->a.min = INFINITY;
  x->a.max = -INFINITY;
  w->n++;
  return x;
}

static void remove_at(calc_windows_t *w, size_t i) {
  size_t mask = w->cap - 1, j = i;
  w->t[i].used = 0;
  w->n--;
  w->gen++;
  for (;;) {
    j = (j + 1) & mask;
    if (!w->t[j].used) return;
    size_t k = hash(w->t[j].key, w->t[j].period, w->t[j].start) & mask;
    /* Move j back to i unless its home k lies cyclically in (i, j]. */
    if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
      w->t[i] = w->t[j];
      w->t[j].used = 0;
      i = j;
    }
  }
}

static keyrec_t *keyrec(calc_windows_t *w, uint32_t key) {
  size_t old = w->nkeys;
  if (calc_grow((void **)&w->keys, &w->nkeys, key, sizeof *w->keys))
    return NULL;
  for (size_t i = old; i < w->nkeys; i++)
    for (int p = 0; p < CALC_P_N; p++) {
      w->keys[i].cur[p] = INT64_MIN;
      w->keys[i].evicted[p] = INT64_MIN;
    }
  return &w->keys[key];
}

static int enqueue(calc_windows_t *w, win_t *x) {
  if (x->queued) return 0;
  if (w->qn == w->qcap) {
    size_t n = w->qcap ? w->qcap * 2 : 256;
    qent_t *q = realloc(w->q, n * sizeof *q);
    if (!q) return KK_ENOMEM;
    w->q = q;
    w->qcap = n;
  }
  w->q[w->qn++] = (qent_t){x->key, x->period, x->start};
  x->queued = 1;
  return 0;
}

int calc_windows_add(calc_windows_t *w, uint32_t key, int64_t t, double v) {
  keyrec_t *k = keyrec(w, key);
  if (!k) return KK_ENOMEM;
  /* Fast path: the reading falls into the current window of every period
   * (the common case for data in time order). */
  if (k->gen == w->gen + 1) {
    int hit = 1;
    for (int p = 0; p < CALC_P_N && hit; p++)
      if (w->mask & (1u << p))
        hit = k->cache[p] && t >= k->cache[p]->start && t < k->cache[p]->end;
    if (hit) {
      for (int p = 0; p < CALC_P_N; p++) {
        win_t *x = k->cache[p];
        if (!x) continue;
        x->a.sum += v;
        x->a.count++;
        if (v < x->a.min) x->a.min = v;
        if (v > x->a.max) x->a.max = v;
        x->dirty = 1;
        if (w->update_mode && enqueue(w, x)) return KK_ENOMEM;
      }
      return 0;
    }
  }
  int64_t s[CALC_P_N], e[CALC_P_N];
  for (int p = 0; p < CALC_P_N; p++) {
    if (!(w->mask & (1u << p))) continue;
    calc_window(w->tz, (calc_period_t)p, t, &s[p], &e[p]);
    if (e[p] <= k->evicted[p]) return KK_ERANGE;
  }
  for (int p = 0; p < CALC_P_N; p++) {
    if (!(w->mask & (1u << p))) continue;
    if (s[p] > k->cur[p] && k->cur[p] != INT64_MIN) {
      win_t *prev = find(w, key, p, k->cur[p]);
      if (prev && prev->dirty && enqueue(w, prev)) return KK_ENOMEM;
    }
    win_t *x = insert(w, key, p, s[p], e[p]);
    if (!x) return KK_ENOMEM;
    x->a.sum += v;
    x->a.count++;
    if (v < x->a.min) x->a.min = v;
    if (v > x->a.max) x->a.max = v;
    x->dirty = 1;
    if (s[p] > k->cur[p]) k->cur[p] = s[p];
    if ((s[p] < k->cur[p] || w->update_mode) && enqueue(w, x)) return KK_ENOMEM;
  }
  /* Cache the current windows (looked up after every insert above, since
   * an insert may have moved the table). */
  int all = 1;
  for (int p = 0; p < CALC_P_N; p++) {
    k->cache[p] = NULL;
    if (!(w->mask & (1u << p))) continue;
    k->cache[p] = find(w, key, p, k->cur[p]);
    all &= k->cache[p] != NULL;
  }
  k->gen = all ? w->gen + 1 : 0;
  return 0;
}

int calc_windows_touch(calc_windows_t *w, uint32_t key, int period,
                       int64_t start) {
  win_t *x = find(w, key, period, start);
  if (!x) return 0;
  x->dirty = 1;
  if (key < w->nkeys && (x->start < w->keys[key].cur[period] || w->update_mode))
    return enqueue(w, x);
  return 0; /* the open window is emitted when it closes */
}

static void emit(calc_windows_t *w, win_t *x, kk_batch_t *out) {
  x->dirty = 0;
  w->cb(w->ctx, x->key, x->period, x->start, x->end, &x->a, out);
}

void calc_windows_flush(calc_windows_t *w, kk_batch_t *out) {
  for (size_t i = 0; i < w->qn; i++) {
    win_t *x = find(w, w->q[i].key, w->q[i].period, w->q[i].start);
    if (!x) continue;
    x->queued = 0;
    if (x->dirty) emit(w, x, out);
  }
  w->qn = 0;
}

void calc_windows_flush_all(calc_windows_t *w, kk_batch_t *out) {
  calc_windows_flush(w, out);
  /* Deterministic order: by key, period, start. */
  for (;;) {
    win_t *best = NULL;
    for (size_t i = 0; i < w->cap; i++) {
      win_t *x = &w->t[i];
      if (!x->used || !x->dirty) continue;
      if (!best || x->key < best->key ||
          (x->key == best->key &&
           (x->period < best->period ||
            (x->period == best->period && x->start < best->start))))
        best = x;
    }
    if (!best) break;
    emit(w, best, out);
  }
}

void calc_windows_evict(calc_windows_t *w) {
  /* A sweep reads the whole table: only when it grew by half since the
   * last one, so that its cost per reading stays constant. */
  if (w->n < w->n_after_evict + w->n_after_evict / 2 + 1024) return;
  for (size_t i = 0; i < w->cap;) {
    win_t *x = &w->t[i];
    keyrec_t *k = x->used ? &w->keys[x->key] : NULL;
    if (k && !x->dirty && !x->queued && x->start < k->cur[x->period] &&
        x->end + w->lateness <= k->cur[x->period]) {
      if (x->end > k->evicted[x->period]) k->evicted[x->period] = x->end;
      remove_at(w, i); /* slot i may now hold another window: recheck */
      continue;
    }
    i++;
  }
  w->n_after_evict = w->n;
}

int calc_windows_save(const calc_windows_t *w, FILE *f) {
  for (size_t i = 0; i < w->nkeys; i++)
    for (int p = 0; p < CALC_P_N; p++)
      if (w->keys[i].cur[p] != INT64_MIN)
        fprintf(f, "C\t%s\t%s\t%s\t%d\t%" PRId64 "\t%" PRId64 "\n",
                calc_thing((uint32_t)i), calc_property((uint32_t)i),
                calc_unit((uint32_t)i), p, w->keys[i].cur[p],
                w->keys[i].evicted[p]);
  for (size_t i = 0; i < w->cap; i++) {
    const win_t *x = &w->t[i];
    if (!x->used) continue;
    fprintf(f,
            "W\t%s\t%s\t%s\t%d\t%" PRId64 "\t%" PRId64 "\t%.17g\t%" PRIu64
            "\t%.17g\t%.17g\t%d\n",
            calc_thing(x->key), calc_property(x->key), calc_unit(x->key),
            x->period, x->start, x->end, x->a.sum, x->a.count, x->a.min,
            x->a.max, x->dirty);
  }
  return 0;
}

int calc_windows_load(calc_windows_t *w, const char *line) {
  if ((line[0] != 'W' && line[0] != 'C') || line[1] != '\t') return 0;
  char buf[2048], *f[12];
  snprintf(buf, sizeof buf, "%s", line + 2);
  int n = 0;
  for (char *s = buf; n < 12;) {
    f[n++] = s;
    char *t = strchr(s, '\t');
    if (!t) break;
    *t = 0;
    s = t + 1;
  }
  if ((line[0] == 'C' && n != 6) || (line[0] == 'W' && n != 11))
    return KK_EPARSE;
  uint32_t key = kk_datastream_id(f[0], f[1], f[2]);
  int p = atoi(f[3]);
  if (!key || p < 0 || p >= CALC_P_N) return KK_EPARSE;
  keyrec_t *k = keyrec(w, key);
  if (!k) return KK_ENOMEM;
  if (line[0] == 'C') {
    k->cur[p] = strtoll(f[4], NULL, 10);
    k->evicted[p] = strtoll(f[5], NULL, 10);
    return 0;
  }
  win_t *x =
      insert(w, key, p, strtoll(f[4], NULL, 10), strtoll(f[5], NULL, 10));
  if (!x) return KK_ENOMEM;
  x->a.sum = strtod(f[6], NULL);
  x->a.count = strtoull(f[7], NULL, 10);
  x->a.min = strtod(f[8], NULL);
  x->a.max = strtod(f[9], NULL);
  x->dirty = (uint8_t)atoi(f[10]);
  if (x->dirty && x->start < k->cur[p]) enqueue(w, x);
  return 0;
}

void calc_windows_emit_all(kk_stage_t *st, calc_windows_t *w) {
  kk_batch_t *out = kk_batch_new(64);
  if (!out) return;
  calc_windows_flush_all(w, out);
  kk_stage_emit(st, out);
  kk_batch_unref(out);
}
