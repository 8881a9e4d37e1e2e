/*
 * modules/publish/http/http_cache.c - what publish.http keeps in memory,
 * bounded: for every held datastream the latest reading and its learned
 * interval; without a store also a ring of time buckets (average, min,
 * max, count) covering `history`; for yearly quantities the last
 * HTTP_RECENT distinct times exactly.  At most `max_datastreams` series
 * and `max_memory` bytes of them; readings of further datastreams are
 * counted and dropped.  Also the pages rendered for the current data
 * generation.  Runs on the loop thread.
 */
#include "publish/http/http_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int http_cache_init(http_state_t *s, size_t max_series, size_t max_memory) {
  s->max_series = max_series;
  s->max_memory = max_memory;
  s->index_cap = 16;
  while (s->index_cap < 2 * max_series)
    s->index_cap *= 2;
  s->index = calloc(s->index_cap, sizeof *s->index);
  s->series = calloc(max_series, sizeof *s->series);
  return s->index && s->series ? 0 : KK_ENOMEM;
}

/* Slot of ds in the index: where it is, or the free slot it would take. */
static size_t http_index_slot(const http_state_t *s, uint32_t ds) {
  size_t m = s->index_cap - 1, i = (ds * 2654435761u) & m;
  while (s->index[i] && s->series[s->index[i] - 1]->ds != ds)
    i = (i + 1) & m;
  return i;
}

http_series_t *http_series_get(const http_state_t *s, uint32_t ds) {
  size_t i = http_index_slot(s, ds);
  return s->index[i] ? s->series[s->index[i] - 1] : NULL;
}

/* Properties whose exact yearly values the climate and measures pages
 * read. */
/* The calculators' yearly and monthly figures the climate, heat and
 * measures pages read when no store is given. */
static int http_keeps_recent(const char *property) {
  static const char *const keep[] = {
      "target_path",      "impact",
      "expected",         "balance_status",
      "sectors_covered",  "data_quality",
      "population",       "change_vs_base",
      "on_track",         "on_track_extrapolated",
      "remaining_budget", "budget_years_left",
      "target_milestone"};
  if (strncmp(property, "co2e", 4) == 0) return 1;
  for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
    if (strcmp(property, keep[i]) == 0) return 1;
  size_t n = strlen(property);
  return (n > 5 && strcmp(property + n - 5, "_year") == 0) ||
         (n > 6 && strcmp(property + n - 6, "_month") == 0);
}

static http_series_t *http_series_new(http_state_t *s, uint32_t ds) {
  const kk_datastream_t *d = kk_datastream_get(ds);
  if (!d) return NULL;
  int ring = !s->store_name, recent = http_keeps_recent(d->property);
  size_t bytes = sizeof(http_series_t) +
                 (ring ? s->npoints * sizeof(http_bucket_t) : 0) +
                 (recent ? sizeof(http_recent_t) : 0);
  if (s->nseries >= s->max_series || s->mem_bytes + bytes > s->max_memory) {
    if (!s->limit_hit)
      kk_stage_log(s->st, KK_LOG_WARN,
                   "holding %zu datastreams (%zu bytes): further ones are "
                   "not shown (max_datastreams, max_memory)",
                   s->nseries, s->mem_bytes);
    s->limit_hit = 1;
    return NULL;
  }
  http_series_t *se = calloc(1, sizeof *se);
  if (!se) return NULL;
  if (ring && !(se->b = malloc(s->npoints * sizeof *se->b))) goto oom;
  if (recent && !(se->recent = malloc(sizeof *se->recent))) goto oom;
  for (size_t i = 0; ring && i < s->npoints; i++)
    se->b[i].start = INT64_MIN;
  for (size_t i = 0; recent && i < HTTP_RECENT; i++)
    se->recent->t[i] = INT64_MIN;
  se->ds = ds;
  se->last_time = INT64_MIN;
  s->series[s->nseries++] = se;
  s->index[http_index_slot(s, ds)] = (uint32_t)s->nseries;
  s->mem_bytes += bytes;
  kk_metric_set(s->m_held, (int64_t)s->nseries);
  return se;
oom:
  free(se->b);
  free(se);
  return NULL;
}

/* Keeps the value per distinct time (a re-emitted value replaces the old
 * one); when full, the oldest time gives way. */
static void http_recent_add(http_recent_t *rc, int64_t t, double v) {
  size_t slot = HTTP_RECENT, oldest = 0;
  for (size_t k = 0; k < HTTP_RECENT; k++) {
    if (rc->t[k] == t) {
      slot = k;
      break;
    }
    if (rc->t[k] < rc->t[oldest]) oldest = k;
  }
  if (slot == HTTP_RECENT && t > rc->t[oldest]) slot = oldest;
  if (slot < HTTP_RECENT) {
    rc->t[slot] = t;
    rc->v[slot] = v;
  }
}

static void http_bucket_add(http_state_t *s, http_series_t *se, int64_t t,
                            double v) {
  int64_t start = kk_floor_div(t, s->width_ms) * s->width_ms;
  int64_t np = (int64_t)s->npoints;
  http_bucket_t *b =
      &se->b[(size_t)((kk_floor_div(start, s->width_ms) % np + np) % np)];
  if (b->start != start) {
    if (b->start > start) return; /* older than the ring holds */
    b->start = start;
    b->n = 0;
    b->sum = 0;
    b->min = INFINITY;
    b->max = -INFINITY;
  }
  b->n++;
  b->sum += v;
  if (v < b->min) b->min = v;
  if (v > b->max) b->max = v;
}

/* The expected interval: a smoothed gap between readings; a gap longer
 * than four intervals (an outage) counts as four. */
static void http_learn_interval(http_series_t *se, int64_t t) {
  if (se->last_time == INT64_MIN || t <= se->last_time) return;
  int64_t gap = t - se->last_time;
  if (!se->interval_ms) {
    se->interval_ms = gap;
    return;
  }
  if (gap > 4 * se->interval_ms) gap = 4 * se->interval_ms;
  se->interval_ms = (se->interval_ms * 7 + gap) / 8;
  if (se->interval_ms < 1) se->interval_ms = 1;
}

int http_cache_add(http_state_t *s, const kk_batch_t *batch) {
  const kk_reading_t *r = kk_batch_readings(batch);
  int64_t refused = 0;
  for (size_t i = 0, n = kk_batch_len(batch); i < n; i++) {
    if (!isfinite(r[i].value)) continue;
    http_series_t *se = http_series_get(s, r[i].ds);
    if (!se && !(se = http_series_new(s, r[i].ds))) {
      refused++;
      continue;
    }
    if (r[i].time_ms >= se->last_time) {
      http_learn_interval(se, r[i].time_ms);
      se->last_time = r[i].time_ms;
      se->last_value = r[i].value;
    }
    if (se->recent) http_recent_add(se->recent, r[i].time_ms, r[i].value);
    if (se->b) http_bucket_add(s, se, r[i].time_ms, r[i].value);
  }
  kk_metric_add(s->m_refused, refused);
  s->last_update = kk_now_ms();
  s->gen++;
  return 0;
}

size_t http_recent_sorted(const http_series_t *se, int64_t *t, double *v) {
  size_t n = 0;
  if (!se->recent) return 0;
  for (size_t k = 0; k < HTTP_RECENT; k++)
    if (se->recent->t[k] != INT64_MIN) {
      size_t j = n++;
      while (j > 0 && t[j - 1] > se->recent->t[k]) {
        t[j] = t[j - 1];
        v[j] = v[j - 1];
        j--;
      }
      t[j] = se->recent->t[k];
      v[j] = se->recent->v[k];
    }
  return n;
}

/* ---- rendered pages ----------------------------------------------------- */

static void http_page_slot_free(http_state_t *s, struct http_page_cache *c) {
  if (c->body) s->cache_bytes -= c->len;
  free(c->key);
  free(c->ctype);
  free(c->body);
  c->key = c->ctype = c->body = NULL;
  c->len = 0;
}

/* Keeps a copy of a rendered page under `key` (borrowed) for the current
 * data generation, replacing the oldest of the HTTP_PAGE_CACHE slots;
 * pages that would take the cache over HTTP_PAGE_CACHE_BYTES are not
 * kept. */
void http_cache_put_page(http_state_t *s, const char *key, const char *ctype,
                         const kk_buf_t *body) {
  if (body->len > HTTP_PAGE_CACHE_BYTES / 4) return;
  struct http_page_cache *c = &s->cache[s->cache_next++ % HTTP_PAGE_CACHE];
  http_page_slot_free(s, c);
  for (size_t i = 0; s->cache_bytes + body->len > HTTP_PAGE_CACHE_BYTES &&
                     i < HTTP_PAGE_CACHE;
       i++)
    http_page_slot_free(s, &s->cache[i]);
  c->key = strdup(key);
  c->ctype = strdup(ctype);
  c->body = malloc(body->len + 1);
  if (!c->key || !c->ctype || !c->body) {
    free(c->key);
    free(c->ctype);
    free(c->body);
    c->key = c->ctype = c->body = NULL;
    return;
  }
  memcpy(c->body, body->p ? body->p : "", body->len);
  c->len = body->len;
  c->gen = s->gen;
  c->at = kk_now_ms();
  s->cache_bytes += c->len;
}

/* The page rendered for `key` while the data was as it is now, or NULL. */
const struct http_page_cache *http_cache_get_page(const http_state_t *s,
                                                  const char *key) {
  int64_t now = kk_now_ms();
  for (size_t i = 0; i < HTTP_PAGE_CACHE; i++) {
    const struct http_page_cache *c = &s->cache[i];
    if (c->key && c->gen == s->gen && now - c->at < HTTP_PAGE_CACHE_MS &&
        strcmp(c->key, key) == 0)
      return c;
  }
  return NULL;
}

void http_cache_free(http_state_t *s) {
  for (size_t i = 0; i < s->nseries; i++) {
    free(s->series[i]->b);
    free(s->series[i]->recent);
    free(s->series[i]);
  }
  free(s->series);
  free(s->index);
  for (size_t i = 0; i < HTTP_PAGE_CACHE; i++)
    http_page_slot_free(s, &s->cache[i]);
}
