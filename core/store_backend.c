/*
 * core/store_backend.c - the helpers the store backends share
 * (include/klimakit/store_backend.h): growing a series, the rollup delta
 * map of a write transaction, and the `things` option as database text.
 *
 * They hold no global state: a writer thread and the loop may use them
 * at once on their own data.
 */
#include <klimakit.h>
#include <klimakit/store_backend.h>

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kk_store_series_push(kk_store_series_t *out, size_t *cap,
                         const kk_store_point_t *p) {
  if (out->len == *cap) {
    size_t n = *cap ? *cap * 2 : 256;
    kk_store_point_t *np = realloc(out->points, n * sizeof *np);
    if (!np) return KK_ENOMEM;
    out->points = np;
    *cap = n;
  }
  out->points[out->len++] = *p;
  return 0;
}

/* ---- rollup deltas ------------------------------------------------------ */

static size_t store_hash(int64_t ds, int64_t bucket, size_t cap) {
  uint64_t h = (uint64_t)ds * 0x9E3779B97F4A7C15u ^
               (uint64_t)bucket * 0xC2B2AE3D27D4EB4Fu;
  h ^= h >> 31;
  return (size_t)(h & (cap - 1));
}

/* Doubles the table (kept at most half full, so probes stay short). */
static int store_map_grow(kk_store_map_t *m) {
  size_t ncap = m->cap ? m->cap * 2 : 1024;
  kk_store_delta_t *ns = calloc(ncap, sizeof *ns);
  if (!ns) return KK_ENOMEM;
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slot[i].count) continue;
    size_t j = store_hash(m->slot[i].ds, m->slot[i].bucket, ncap);
    while (ns[j].count)
      j = (j + 1) & (ncap - 1);
    ns[j] = m->slot[i];
  }
  free(m->slot);
  m->slot = ns;
  m->cap = ncap;
  return 0;
}

int kk_store_map_put(kk_store_map_t *m, int64_t ds, int64_t bucket,
                     int64_t count, double sum, double min, double max) {
  if ((m->len + 1) * 2 > m->cap && store_map_grow(m) != 0) return KK_ENOMEM;
  size_t j = store_hash(ds, bucket, m->cap);
  while (m->slot[j].count &&
         (m->slot[j].ds != ds || m->slot[j].bucket != bucket))
    j = (j + 1) & (m->cap - 1);
  kk_store_delta_t *d = &m->slot[j];
  if (!d->count) {
    *d = (kk_store_delta_t){ds, bucket, count, sum, min, max};
    m->len++;
  } else {
    d->count += count;
    d->sum += sum;
    if (min < d->min) d->min = min;
    if (max > d->max) d->max = max;
  }
  return 0;
}

int kk_store_map_days(const kk_store_map_t *hours, kk_store_map_t *days) {
  for (size_t i = 0; i < hours->cap; i++) {
    const kk_store_delta_t *h = &hours->slot[i];
    if (h->count &&
        kk_store_map_put(days, h->ds, kk_store_bucket(h->bucket, KK_DAY_MS),
                         h->count, h->sum, h->min, h->max) != 0)
      return KK_ENOMEM;
  }
  return 0;
}

void kk_store_map_clear(kk_store_map_t *m) {
  if (m->cap > 65536) { /* give back the memory of a huge transaction */
    kk_store_map_free(m);
  } else if (m->len) {
    memset(m->slot, 0, m->cap * sizeof *m->slot);
  }
  m->len = 0;
}

void kk_store_map_free(kk_store_map_t *m) {
  free(m->slot);
  m->slot = NULL;
  m->cap = m->len = 0;
}

/* ---- things from the option --------------------------------------------- */

void kk_store_thing_json(const cJSON *thing, char **props, char **geojson) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(thing, "properties");
  const cJSON *where = cJSON_GetObjectItemCaseSensitive(thing, "location");
  *props = p ? cJSON_PrintUnformatted(p) : NULL;
  *geojson = NULL;
  if (cJSON_IsArray(where) && cJSON_GetArraySize(where) == 2) {
    char b[128];
    snprintf(b, sizeof b, "{\"type\":\"Point\",\"coordinates\":[%.8g,%.8g]}",
             cJSON_GetArrayItem(where, 0)->valuedouble,
             cJSON_GetArrayItem(where, 1)->valuedouble);
    *geojson = strdup(b);
  } else if (where) {
    *geojson = cJSON_PrintUnformatted(where);
  }
}
