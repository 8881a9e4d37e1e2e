/*
 * modules/publish/http/http_data.c - what the pages read: the datastreams
 * with their latest readings and staleness, aggregates in chart buckets
 * and exact yearly points.  With a `store` they come from the store
 * (through klimakit/store.h; long spans through its rollups), merged with
 * the newest readings in memory; without one from the in-memory cache.
 * Runs on the loop thread (store queries block it briefly, see store.h).
 */
#include "publish/http/http_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

kk_store_t *http_store(http_state_t *s, int *missing) {
  if (missing) *missing = 0;
  if (!s->store_name) return NULL;
  kk_store_t *st = kk_store_find(s->store_name);
  if (!st && missing) *missing = 1;
  return st;
}

static int http_item_cmp(const void *a, const void *b) {
  const http_item_t *x = a, *y = b;
  int c = strcmp(x->thing, y->thing);
  if (!c) c = strcmp(x->property, y->property);
  if (!c) c = strcmp(x->unit, y->unit);
  return c;
}

/* ---- expected intervals from the store ---------------------------------- */

/* The slot of store id `id` in s->ivals (open addressing). */
static http_ival_t *http_ival_slot(http_state_t *s, int64_t id) {
  if (!s->ivals) {
    s->ivals_cap = 64;
    while (s->ivals_cap < 2 * s->max_series && s->ivals_cap < (1u << 22))
      s->ivals_cap *= 2;
    s->ivals = calloc(s->ivals_cap, sizeof *s->ivals);
    if (!s->ivals) return NULL;
  }
  size_t m = s->ivals_cap - 1, i = ((uint64_t)id * 0x9e3779b97f4a7c15ull) >> 40;
  for (i &= m; s->ivals[i].id && s->ivals[i].id != id; i = (i + 1) & m)
    ;
  return &s->ivals[i];
}

static int http_i64_cmp(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The expected interval of a stored datastream whose interval memory has
 * not learned (after a restart, before new readings): the median gap of
 * its last raw observations (up to 64 in the 6 h, else the 7 days, before
 * its latest), asked once and remembered (at most max_datastreams, about
 * 16 bytes each).  0 when not known. */
static int64_t http_store_interval(http_state_t *s, const http_item_t *it) {
  if (!it->store_id || it->last_time == INT64_MIN) return 0;
  http_ival_t *slot = http_ival_slot(s, it->store_id);
  if (!slot) return 0;
  if (slot->id) return slot->interval_ms;
  if (s->ivals_len >= s->max_series) return 0;
  kk_store_t *st = http_store(s, NULL);
  int64_t iv = 0;
  static const int64_t spans[] = {6 * KK_HOUR_MS, 7 * KK_DAY_MS};
  for (size_t k = 0; st && !iv && k < 2; k++) {
    kk_store_series_t *ser = NULL;
    if (kk_store_range(st, it->store_id, it->last_time - spans[k],
                       it->last_time + 1, KK_STORE_RAW, 0, &ser) != 0)
      break;
    size_t n = ser->len, from = n > 65 ? n - 65 : 0, ng = 0;
    int64_t gaps[64];
    for (size_t i = from + 1; i < n; i++)
      if (ser->points[i].time_ms > ser->points[i - 1].time_ms)
        gaps[ng++] = ser->points[i].time_ms - ser->points[i - 1].time_ms;
    if (ng >= 2) {
      qsort(gaps, ng, sizeof *gaps, http_i64_cmp);
      iv = gaps[ng / 2];
    }
    kk_store_series_free(ser);
  }
  slot->id = it->store_id;
  slot->interval_ms = iv;
  s->ivals_len++;
  return iv;
}

/* Expected interval and staleness of an item at `now`.  calc.alert's
 * events (alert_*) come when something happens, never stale. */
static void http_item_judge(http_state_t *s, http_item_t *it, int64_t now) {
  it->interval_ms = s->interval_ms ? s->interval_ms
                    : it->mem && it->mem->interval_ms
                        ? it->mem->interval_ms
                        : http_store_interval(s, it);
  if (s->stale_ms)
    it->stale_after = s->stale_ms;
  else if (it->interval_ms) {
    it->stale_after = 3 * it->interval_ms;
    if (it->stale_after < 15 * 60000) it->stale_after = 15 * 60000;
  } else
    it->stale_after = 2 * KK_HOUR_MS;
  it->stale =
      it->last_time == INT64_MIN || now - it->last_time > it->stale_after;
  if (http_is_alert(it->property)) it->stale = 0;
}

/* The view's filter: a public view drops the things and properties the
 * recipe did not make public, and calc.alert's events. */
static size_t http_items_filter(http_state_t *s, http_item_t *items, size_t n) {
  if (!s->view_public) return n;
  size_t out = 0;
  for (size_t i = 0; i < n; i++)
    if (!http_is_alert(items[i].property) &&
        http_public_property(s, items[i].property) &&
        http_public_thing(s, items[i].thing))
      items[out++] = items[i];
  return out;
}

static void http_item_from_mem(http_item_t *it, const http_series_t *se) {
  const kk_datastream_t *d = kk_datastream_get(se->ds);
  it->thing = d->thing;
  it->property = d->property;
  it->unit = d->unit;
  it->mem = se;
  it->last_time = se->last_time;
  it->last_value = se->last_value;
}

/* The store's datastreams (matching `thing`) with their latest values
 * into out->items; memory series they match get marked. */
static int http_items_store(kk_store_t *st, const char *thing,
                            http_items_t *out, http_item_t *items) {
  size_t n = out->dsl->len;
  int64_t *ids = malloc((n + 1) * sizeof *ids);
  kk_store_point_t *lp = malloc((n + 1) * sizeof *lp);
  if (!ids || !lp) {
    free(ids);
    free(lp);
    return KK_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    ids[i] = out->dsl->items[i].id;
  int rc = n ? kk_store_latest(st, ids, n, lp) : 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const kk_store_ds_t *d = &out->dsl->items[i];
    if (thing && strcmp(d->thing, thing) != 0) continue;
    http_item_t *it = &items[out->len++];
    memset(it, 0, sizeof *it);
    it->thing = d->thing;
    it->property = d->property;
    it->unit = d->unit;
    it->store_id = d->id;
    it->last_time = lp[i].count ? lp[i].time_ms : INT64_MIN;
    it->last_value = lp[i].count ? lp[i].avg : NAN;
  }
  free(ids);
  free(lp);
  return rc ? -1 : 0;
}

/* Joins the memory series (sorted) into the store items (sorted). */
static size_t http_items_join(http_item_t *items, size_t nstore,
                              http_item_t *mem, size_t nmem) {
  size_t j = 0, out = nstore;
  for (size_t i = 0; i < nmem; i++) {
    while (j < nstore && http_item_cmp(&items[j], &mem[i]) < 0)
      j++;
    if (j < nstore && http_item_cmp(&items[j], &mem[i]) == 0) {
      items[j].mem = mem[i].mem;
      if (mem[i].last_time > items[j].last_time) {
        items[j].last_time = mem[i].last_time;
        items[j].last_value = mem[i].last_value;
      }
    } else {
      items[out++] = mem[i];
    }
  }
  return out;
}

int http_items_load(http_state_t *s, const char *thing, int64_t now,
                    http_items_t *out) {
  memset(out, 0, sizeof *out);
  kk_store_t *st = http_store(s, NULL);
  http_item_t *mem = malloc((s->nseries + 1) * sizeof *mem);
  size_t nmem = 0;
  if (!mem) return KK_ENOMEM;
  for (size_t i = 0; i < s->nseries; i++) {
    const http_series_t *se = s->series[i];
    if (se->last_time == INT64_MIN) continue;
    if (thing && strcmp(kk_datastream_get(se->ds)->thing, thing) != 0) continue;
    memset(&mem[nmem], 0, sizeof *mem);
    http_item_from_mem(&mem[nmem++], se);
  }
  qsort(mem, nmem, sizeof *mem, http_item_cmp);
  size_t nstore = 0;
  http_item_t *items = NULL;
  if (st) {
    kk_store_filter_t f = {.thing = thing};
    if (kk_store_datastreams(st, thing ? &f : NULL, &out->dsl) == 0) {
      items = malloc((out->dsl->len + nmem + 1) * sizeof *items);
      if (!items) {
        free(mem);
        http_items_free(out);
        return KK_ENOMEM;
      }
      int rc = http_items_store(st, thing, out, items);
      if (rc == KK_ENOMEM) {
        free(items);
        free(mem);
        http_items_free(out);
        return rc;
      }
      if (rc) out->len = 0;
      out->store_failed = rc != 0;
    } else {
      out->store_failed = 1;
    }
    if (out->store_failed) kk_metric_add(s->m_store_errors, 1);
    nstore = out->len;
    if (nstore) qsort(items, nstore, sizeof *items, http_item_cmp);
  }
  if (!items && !(items = malloc((nmem + 1) * sizeof *items))) {
    free(mem);
    return KK_ENOMEM;
  }
  out->len = http_items_join(items, nstore, mem, nmem);
  free(mem);
  if (out->len > nstore) qsort(items, out->len, sizeof *items, http_item_cmp);
  out->len = http_items_filter(s, items, out->len);
  for (size_t i = 0; i < out->len; i++) {
    http_item_judge(s, &items[i], now);
    if (i && strcmp(items[i].thing, items[i - 1].thing) == 0 &&
        strcmp(items[i].property, items[i - 1].property) == 0)
      items[i].unit_ambiguous = items[i - 1].unit_ambiguous = 1;
  }
  out->items = items;
  return 0;
}

void http_items_free(http_items_t *it) {
  free(it->items);
  kk_store_ds_list_free(it->dsl);
  memset(it, 0, sizeof *it);
}

/* ---- aggregates ---------------------------------------------------------- */

/* Bucket of time t in edges[0..n], or -1. */
static long http_bucket_of(const int64_t *edges, size_t n, int64_t t) {
  if (t < edges[0] || t >= edges[n]) return -1;
  size_t lo = 0, hi = n;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (edges[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  return (long)lo;
}

static void http_agg_put(http_agg_t *a, long k, int64_t count, double sum,
                         double min, double max) {
  if (k < 0 || !count) return;
  if (!a->count[k] || min < a->min[k]) a->min[k] = min;
  if (!a->count[k] || max > a->max[k]) a->max[k] = max;
  a->count[k] += count;
  a->sum[k] += sum;
}

static int http_agg_store(http_state_t *s, kk_store_t *st, int64_t id,
                          http_agg_t *a, char *err, size_t errlen) {
  const int64_t *e = a->edges;
  int64_t span = e[a->n] - e[0];
  kk_store_res_t res = span <= KK_STORE_AUTO_RAW_MS    ? KK_STORE_RAW
                       : span <= KK_STORE_AUTO_HOUR_MS ? KK_STORE_HOUR
                                                       : KK_STORE_DAY;
  kk_store_series_t *ser = NULL;
  int rc = kk_store_range(st, id, e[0], e[a->n], res, 500000, &ser);
  if (rc) {
    snprintf(err, errlen, "%s", kk_store_errmsg());
    kk_metric_add(s->m_store_errors, 1);
    return rc;
  }
  for (size_t i = 0; i < ser->len; i++) {
    const kk_store_point_t *p = &ser->points[i];
    http_agg_put(a, http_bucket_of(e, a->n, p->time_ms), p->count, p->sum,
                 p->min, p->max);
  }
  kk_store_series_free(ser);
  a->from_store = 1;
  return 0;
}

int http_agg_load(http_state_t *s, const http_item_t *it, const int64_t *edges,
                  size_t n, http_agg_t *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->n = n;
  out->edges = edges;
  out->count = calloc(n + 1, sizeof *out->count);
  out->sum = calloc(n + 1, sizeof *out->sum);
  out->min = calloc(n + 1, sizeof *out->min);
  out->max = calloc(n + 1, sizeof *out->max);
  if (!out->count || !out->sum || !out->min || !out->max) {
    http_agg_free(out);
    return KK_ENOMEM;
  }
  if (!n) return 0;
  kk_store_t *st = it->store_id ? http_store(s, NULL) : NULL;
  if (st) return http_agg_store(s, st, it->store_id, out, err, errlen);
  const http_series_t *se = it->mem;
  for (size_t i = 0; se && se->b && i < s->npoints; i++) {
    const http_bucket_t *b = &se->b[i];
    if (b->start == INT64_MIN || !b->n) continue;
    http_agg_put(out, http_bucket_of(edges, n, b->start), b->n, b->sum, b->min,
                 b->max);
  }
  return 0;
}

void http_agg_free(http_agg_t *a) {
  free(a->count);
  free(a->sum);
  free(a->min);
  free(a->max);
  memset(a, 0, sizeof *a);
}

/* ---- exact points ------------------------------------------------------- */

size_t http_points(http_state_t *s, const char *thing, const char *property,
                   int64_t *t, double *v, size_t cap, const char **unit) {
  for (size_t i = 0; i < s->nseries; i++) {
    const http_series_t *se = s->series[i];
    const kk_datastream_t *d = kk_datastream_get(se->ds);
    if (!se->recent || strcmp(d->thing, thing) || strcmp(d->property, property))
      continue;
    int64_t tt[HTTP_RECENT];
    double vv[HTTP_RECENT];
    size_t n = http_recent_sorted(se, tt, vv), skip = n > cap ? n - cap : 0;
    memcpy(t, tt + skip, (n - skip) * sizeof *t);
    memcpy(v, vv + skip, (n - skip) * sizeof *v);
    *unit = d->unit;
    return n - skip;
  }
  kk_store_t *st = http_store(s, NULL);
  kk_store_filter_t f = {.thing = thing, .property = property};
  kk_store_ds_list_t *l = NULL;
  if (!st || kk_store_datastreams(st, &f, &l) != 0) return 0;
  size_t n = 0;
  kk_store_series_t *ser = NULL;
  for (size_t i = 0; i < l->len && !ser; i++) {
    if (strcmp(l->items[i].thing, thing) != 0) continue;
    /* 1970 to a century ahead: every backend's time type holds it. */
    if (kk_store_range(st, l->items[i].id, 0,
                       kk_now_ms() + 100 * 366 * KK_DAY_MS, KK_STORE_RAW,
                       100000, &ser) != 0)
      ser = NULL;
    /* The unit string must outlive the list: look it up in the
     * registry's copy. */
    else {
      const kk_datastream_t *d = kk_datastream_get(
          kk_datastream_id(thing, property, l->items[i].unit));
      *unit = d ? d->unit : "";
    }
  }
  if (ser) {
    size_t skip = ser->len > cap ? ser->len - cap : 0;
    for (size_t i = skip; i < ser->len; i++, n++) {
      t[n] = ser->points[i].time_ms;
      v[n] = ser->points[i].avg;
    }
  }
  kk_store_series_free(ser);
  kk_store_ds_list_free(l);
  return n;
}
