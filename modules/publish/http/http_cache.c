/*
 * modules/publish/http/http_cache.c - what publish.http keeps in memory:
 * for every datastream the latest reading, a ring of time buckets
 * (average, min, max, count) covering `history` and the last
 * HTTP_RECENT distinct times exactly (the sink side), and the pages
 * rendered for the current data generation.  Runs on the loop thread.
 */
#include "publish/http/http_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

http_series_t *http_series_for(http_state_t *s, uint32_t ds) {
  if (ds >= s->by_ds_cap) {
    size_t ncap = s->by_ds_cap ? s->by_ds_cap : 256;
    while (ncap <= ds)
      ncap *= 2;
    http_series_t **n = realloc(s->by_ds, ncap * sizeof *n);
    if (!n) return NULL;
    memset(n + s->by_ds_cap, 0, (ncap - s->by_ds_cap) * sizeof *n);
    s->by_ds = n;
    s->by_ds_cap = ncap;
  }
  if (!s->by_ds[ds]) {
    http_series_t *se = calloc(1, sizeof *se);
    http_bucket_t *b = se ? malloc(s->npoints * sizeof *b) : NULL;
    if (!b) {
      free(se);
      return NULL;
    }
    for (size_t i = 0; i < s->npoints; i++)
      b[i].start = INT64_MIN;
    se->ds = ds;
    se->b = b;
    se->last_time = INT64_MIN;
    for (size_t i = 0; i < HTTP_RECENT; i++)
      se->rt[i] = INT64_MIN;
    s->by_ds[ds] = se;
    s->nseries++;
  }
  return s->by_ds[ds];
}

int http_cache_add(http_state_t *s, const kk_batch_t *batch) {
  const kk_reading_t *r = kk_batch_readings(batch);
  for (size_t i = 0, n = kk_batch_len(batch); i < n; i++) {
    if (!isfinite(r[i].value)) continue;
    http_series_t *se = http_series_for(s, r[i].ds);
    if (!se) return KK_ENOMEM;
    if (r[i].time_ms >= se->last_time) {
      se->last_time = r[i].time_ms;
      se->last_value = r[i].value;
    }
    /* Keep the value per distinct time (a re-emitted value replaces the
     * old one); when full, the oldest time gives way. */
    size_t slot = HTTP_RECENT, oldest = 0;
    for (size_t k = 0; k < HTTP_RECENT; k++) {
      if (se->rt[k] == r[i].time_ms) {
        slot = k;
        break;
      }
      if (se->rt[k] < se->rt[oldest]) oldest = k;
    }
    if (slot == HTTP_RECENT && r[i].time_ms > se->rt[oldest]) slot = oldest;
    if (slot < HTTP_RECENT) {
      se->rt[slot] = r[i].time_ms;
      se->rv[slot] = r[i].value;
    }
    int64_t start = kk_floor_div(r[i].time_ms, s->width_ms) * s->width_ms;
    http_bucket_t *b =
        &se->b[(size_t)(kk_floor_div(start, s->width_ms) % (int64_t)s->npoints +
                        (int64_t)s->npoints) %
               s->npoints];
    if (b->start != start) {
      if (b->start > start) continue; /* older than the ring holds */
      b->start = start;
      b->n = 0;
      b->sum = 0;
      b->min = INFINITY;
      b->max = -INFINITY;
    }
    b->n++;
    b->sum += r[i].value;
    if (r[i].value < b->min) b->min = r[i].value;
    if (r[i].value > b->max) b->max = r[i].value;
  }
  s->last_update = kk_now_ms();
  s->gen++;
  return 0;
}

/* Latest value of (thing, property) or NULL. */
const http_series_t *http_find_series(http_state_t *s, const char *thing,
                                      const char *property) {
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    const http_series_t *se = s->by_ds[i];
    if (!se) continue;
    const kk_datastream_t *d = kk_datastream_get(se->ds);
    if (d && strcmp(d->thing, thing) == 0 && strcmp(d->property, property) == 0)
      return se;
  }
  return NULL;
}

static int http_cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted distinct thing names (pointers into the registry); caller frees
 * the array. */
const char **http_things(http_state_t *s, size_t *n) {
  const char **t = malloc((s->nseries + 1) * sizeof *t);
  *n = 0;
  if (!t) return NULL;
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    if (!s->by_ds[i]) continue;
    const char *name = kk_datastream_get(s->by_ds[i]->ds)->thing;
    size_t k;
    for (k = 0; k < *n; k++)
      if (strcmp(t[k], name) == 0) break;
    if (k == *n) t[(*n)++] = name;
  }
  qsort(t, *n, sizeof *t, http_cmp_str);
  return t;
}

/* Recent points of a series in time order; returns the count. */
size_t http_recent_sorted(const http_series_t *se, int64_t *t, double *v) {
  size_t n = 0;
  for (size_t k = 0; k < HTTP_RECENT; k++)
    if (se->rt[k] != INT64_MIN) {
      size_t j = n++;
      while (j > 0 && t[j - 1] > se->rt[k]) {
        t[j] = t[j - 1];
        v[j] = v[j - 1];
        j--;
      }
      t[j] = se->rt[k];
      v[j] = se->rv[k];
    }
  return n;
}

/* ---- rendered pages ----------------------------------------------------- */

/* Keeps a copy of a rendered page under `key` (borrowed) for the current
 * data generation, replacing the oldest of the HTTP_PAGE_CACHE slots. */
void http_cache_put_page(http_state_t *s, const char *key, const char *ctype,
                         const kk_buf_t *body) {
  struct http_page_cache *c = &s->cache[s->cache_next++ % HTTP_PAGE_CACHE];
  free(c->key);
  free(c->ctype);
  free(c->body);
  c->key = strdup(key);
  c->ctype = strdup(ctype);
  c->body = malloc(body->len + 1);
  if (c->body) memcpy(c->body, body->p ? body->p : "", body->len);
  c->len = body->len;
  c->gen = s->gen;
  if (!c->key || !c->ctype || !c->body) {
    free(c->key);
    free(c->ctype);
    free(c->body);
    c->key = c->ctype = c->body = NULL;
  }
}

/* The page rendered for `key` while the data was as it is now, or NULL. */
const struct http_page_cache *http_cache_get_page(const http_state_t *s,
                                                  const char *key) {
  for (size_t i = 0; i < HTTP_PAGE_CACHE; i++) {
    const struct http_page_cache *c = &s->cache[i];
    if (c->key && c->gen == s->gen && strcmp(c->key, key) == 0) return c;
  }
  return NULL;
}

void http_cache_free(http_state_t *s) {
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    if (!s->by_ds[i]) continue;
    free(s->by_ds[i]->b);
    free(s->by_ds[i]);
  }
  free(s->by_ds);
  for (size_t i = 0; i < HTTP_PAGE_CACHE; i++) {
    free(s->cache[i].key);
    free(s->cache[i].ctype);
    free(s->cache[i].body);
  }
}
