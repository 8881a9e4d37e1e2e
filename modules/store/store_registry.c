/*
 * modules/store/store_registry.c - the store registry and the backend-independent
 * part of the query API (include/klimakit/store.h).
 *
 * Not a module.  Backends implement a few primitive queries (one table at
 * a time); the choice of resolution by span and the composition of an
 * aggregate from daily, hourly and raw parts live here, so that every
 * backend answers the same way.  Would belong in core/ (the engine could
 * then list stores in /healthz); it lives beside the stores so that the
 * storage work needs no core change.
 */
#include <klimakit.h>

#include <cJSON.h>
#include <klimakit/store.h>

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "store/store_impl.h"

struct kk_store {
  atomic_int refs;
  int registered;
  int closed; /* the sink stopped: queries fail with KK_ECLOSED */
  char *name, *backend;
  const kk_store_vtable_t *vt;
  void *impl;
  uv_mutex_t lock; /* serialises calls into the backend */
};

static uv_once_t store_once = UV_ONCE_INIT;
static uv_mutex_t store_reg_lock;
static kk_store_t **store_reg;
static size_t store_nreg, store_capreg;
static _Thread_local char store_err[512];

static void store_init(void) {
  uv_mutex_init(&store_reg_lock);
}

void kk_store_set_errmsg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(store_err, sizeof store_err, fmt, ap);
  va_end(ap);
}

const char *kk_store_errmsg(void) {
  return store_err;
}

kk_store_t *kk_store_new(const char *name, const char *backend,
                         const kk_store_vtable_t *vt, void *impl) {
  kk_store_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->name = strdup(name ? name : backend);
  s->backend = strdup(backend);
  if (!s->name || !s->backend || uv_mutex_init(&s->lock) != 0) {
    free(s->name);
    free(s->backend);
    free(s);
    return NULL;
  }
  atomic_init(&s->refs, 1);
  s->vt = vt;
  s->impl = impl;
  return s;
}

kk_store_t *kk_store_ref(kk_store_t *s) {
  if (s) atomic_fetch_add(&s->refs, 1);
  return s;
}

void kk_store_unref(kk_store_t *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  if (s->vt->close) s->vt->close(s->impl);
  uv_mutex_destroy(&s->lock);
  free(s->name);
  free(s->backend);
  free(s);
}

int kk_store_register(kk_store_t *s) {
  uv_once(&store_once, store_init);
  int rc = 0;
  uv_mutex_lock(&store_reg_lock);
  for (size_t i = 0; i < store_nreg; i++)
    if (strcmp(store_reg[i]->name, s->name) == 0) rc = KK_EEXIST;
  if (rc == 0 && store_nreg == store_capreg) {
    size_t n = store_capreg ? store_capreg * 2 : 4;
    kk_store_t **nr = realloc(store_reg, n * sizeof *nr);
    if (!nr)
      rc = KK_ENOMEM;
    else
      store_reg = nr, store_capreg = n;
  }
  if (rc == 0) {
    store_reg[store_nreg++] = kk_store_ref(s);
    s->registered = 1;
    uv_mutex_lock(&s->lock);
    s->closed = 0;
    uv_mutex_unlock(&s->lock);
  }
  uv_mutex_unlock(&store_reg_lock);
  return rc;
}

void kk_store_unregister(kk_store_t *s) {
  if (!s) return;
  uv_once(&store_once, store_init);
  int found = 0;
  uv_mutex_lock(&store_reg_lock);
  for (size_t i = 0; i < store_nreg; i++)
    if (store_reg[i] == s) {
      memmove(store_reg + i, store_reg + i + 1,
              (store_nreg - i - 1) * sizeof *store_reg);
      store_nreg--;
      found = 1;
      break;
    }
  if (store_nreg == 0) {
    free(store_reg);
    store_reg = NULL;
    store_capreg = 0;
  }
  uv_mutex_unlock(&store_reg_lock);
  /* Holders of a reference may still call: they get KK_ECLOSED from now
   * on, and the backend may release its connections. */
  uv_mutex_lock(&s->lock);
  s->closed = 1;
  s->registered = 0;
  uv_mutex_unlock(&s->lock);
  if (found) kk_store_unref(s);
}

kk_store_t *kk_store_find(const char *name) {
  uv_once(&store_once, store_init);
  kk_store_t *r = NULL;
  uv_mutex_lock(&store_reg_lock);
  for (size_t i = 0; i < store_nreg && !r; i++)
    if (!name || strcmp(store_reg[i]->name, name) == 0) r = store_reg[i];
  uv_mutex_unlock(&store_reg_lock);
  return r;
}

kk_store_t *kk_store_default(void) {
  return kk_store_find(NULL);
}
const char *kk_store_name(const kk_store_t *s) {
  return s->name;
}
const char *kk_store_backend(const kk_store_t *s) {
  return s->backend;
}

int kk_store_open(const char *backend, const char *target, kk_store_t **out) {
  if (!backend || !target || !out) return KK_EINVAL;
  *out = NULL;
  if (strcmp(backend, "sqlite") == 0) return kk__store_sqlite_open(target, out);
  if (strcmp(backend, "postgres") == 0)
    return kk__store_postgres_open(target, out);
  kk_store_set_errmsg("unknown store backend '%s' (sqlite, postgres)", backend);
  return KK_EUNKNOWN;
}

/* Enters the backend, or fails when the store was closed. */
static int store_enter(kk_store_t *s) {
  if (!s) {
    kk_store_set_errmsg("no store");
    return KK_EINVAL;
  }
  store_err[0] = 0;
  uv_mutex_lock(&s->lock);
  if (s->closed) {
    uv_mutex_unlock(&s->lock);
    kk_store_set_errmsg("store '%s' is closed", s->name);
    return KK_ECLOSED;
  }
  return 0;
}

static void store_leave(kk_store_t *s) {
  uv_mutex_unlock(&s->lock);
}

void kk_store_ds_list_free(kk_store_ds_list_t *l) {
  if (!l) return;
  for (size_t i = 0; i < l->len; i++) {
    free((char *)l->items[i].thing);
    free((char *)l->items[i].property);
    free((char *)l->items[i].unit);
    free((char *)l->items[i].sector);
  }
  free(l->items);
  free(l);
}

void kk_store_thing_list_free(kk_store_thing_list_t *l) {
  if (!l) return;
  for (size_t i = 0; i < l->len; i++) {
    free((char *)l->items[i].name);
    free((char *)l->items[i].location);
    free((char *)l->items[i].properties);
  }
  free(l->items);
  free(l);
}

void kk_store_series_free(kk_store_series_t *s) {
  if (!s) return;
  free(s->points);
  free(s);
}

int kk_store_things(kk_store_t *s, const kk_store_filter_t *f,
                    kk_store_thing_list_t **out) {
  kk_store_filter_t none = {0};
  int rc = store_enter(s);
  if (rc != 0) return rc;
  rc = s->vt->things(s->impl, f ? f : &none, out);
  store_leave(s);
  return rc;
}

int kk_store_datastreams(kk_store_t *s, const kk_store_filter_t *f,
                         kk_store_ds_list_t **out) {
  kk_store_filter_t none = {0};
  int rc = store_enter(s);
  if (rc != 0) return rc;
  rc = s->vt->datastreams(s->impl, f ? f : &none, out);
  store_leave(s);
  return rc;
}

int kk_store_datastream_id(kk_store_t *s, const char *thing,
                           const char *property, const char *unit,
                           int64_t *id) {
  if (!thing || !property || !unit || !id) return KK_EINVAL;
  /* Exact match: a name ending in '*' would be a pattern. */
  if (strchr(thing, '*') || strchr(property, '*') || strchr(unit, '*'))
    return KK_EINVAL;
  kk_store_filter_t f = {.thing = thing, .property = property, .unit = unit};
  kk_store_ds_list_t *l = NULL;
  int rc = kk_store_datastreams(s, &f, &l);
  if (rc != 0) return rc;
  if (l->len == 0) {
    kk_store_set_errmsg("no datastream %s/%s/%s", thing, property, unit);
    rc = KK_EUNKNOWN;
  } else {
    *id = l->items[0].id;
  }
  kk_store_ds_list_free(l);
  return rc;
}

int kk_store_latest(kk_store_t *s, const int64_t *ids, size_t n,
                    kk_store_point_t *out) {
  if (n && (!ids || !out)) return KK_EINVAL;
  int rc = store_enter(s);
  if (rc != 0) return rc;
  if (n) {
    memset(out, 0, n * sizeof *out);
    rc = s->vt->latest(s->impl, ids, n, out);
  }
  store_leave(s);
  return rc;
}

/* Query bounds within the years 1 to 9999, which hold every stored
 * time: so that spans and bucket arithmetic cannot overflow whatever a
 * script passes (math.mininteger, math.maxinteger). */
static void store_clamp(int64_t *from_ms, int64_t *to_ms) {
  const int64_t lo = -62135596800000LL, hi = 253402300800000LL;
  *from_ms = *from_ms < lo ? lo : *from_ms > hi ? hi : *from_ms;
  *to_ms = *to_ms < lo ? lo : *to_ms > hi ? hi : *to_ms;
}

int kk_store_range(kk_store_t *s, int64_t id, int64_t from_ms, int64_t to_ms,
                   kk_store_res_t res, size_t limit, kk_store_series_t **out) {
  if (!out || to_ms < from_ms || res < KK_STORE_AUTO || res > KK_STORE_DAY)
    return KK_EINVAL;
  store_clamp(&from_ms, &to_ms);
  if (res == KK_STORE_AUTO) {
    int64_t span = to_ms - from_ms;
    res = span <= KK_STORE_AUTO_RAW_MS    ? KK_STORE_RAW
          : span <= KK_STORE_AUTO_HOUR_MS ? KK_STORE_HOUR
                                          : KK_STORE_DAY;
  }
  kk_store_series_t *r = calloc(1, sizeof *r);
  if (!r) return KK_ENOMEM;
  r->res = res;
  int rc = store_enter(s);
  if (rc == 0) {
    rc = s->vt->series(s->impl, id, from_ms, to_ms, res, limit, r);
    store_leave(s);
  }
  if (rc != 0) {
    kk_store_series_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* Start of the bucket that holds t (floor, also for times before 1970). */
int64_t kk__store_floor(int64_t t, int64_t width) {
  int64_t m = t % width;
  return m < 0 ? t - m - width : t - m;
}

static int64_t store_ceil(int64_t t, int64_t width) {
  int64_t f = kk__store_floor(t, width);
  return f == t ? t : f + width;
}

static void store_merge(kk_store_point_t *acc, const kk_store_point_t *p) {
  if (p->count == 0) return;
  if (acc->count == 0) {
    acc->min = p->min;
    acc->max = p->max;
  } else {
    if (p->min < acc->min) acc->min = p->min;
    if (p->max > acc->max) acc->max = p->max;
  }
  acc->count += p->count;
  acc->sum += p->sum;
}

/* Aggregates [a, b) of one table into acc. */
static int store_part(kk_store_t *s, int64_t id, int64_t a, int64_t b,
                      kk_store_res_t res, kk_store_point_t *acc) {
  if (a >= b) return 0;
  kk_store_point_t p = {0};
  int rc = s->vt->agg(s->impl, id, a, b, res, &p);
  if (rc == 0) store_merge(acc, &p);
  return rc;
}

int kk_store_aggregate(kk_store_t *s, int64_t id, int64_t from_ms,
                       int64_t to_ms, kk_store_point_t *out) {
  const int64_t H = 3600000, D = 86400000;
  if (!out || to_ms < from_ms) return KK_EINVAL;
  kk_store_point_t acc = {.time_ms = from_ms};
  store_clamp(&from_ms, &to_ms);
  int rc = store_enter(s);
  if (rc != 0) return rc;
  /* [from, h0) raw | [h0, d0) hours | [d0, d1) days | [d1, h1) hours |
   * [h1, to) raw, where each inner range may be empty. */
  int64_t h0 = store_ceil(from_ms, H), h1 = kk__store_floor(to_ms, H);
  if (h0 >= h1) {
    rc = store_part(s, id, from_ms, to_ms, KK_STORE_RAW, &acc);
  } else {
    int64_t d0 = store_ceil(h0, D), d1 = kk__store_floor(h1, D);
    rc = store_part(s, id, from_ms, h0, KK_STORE_RAW, &acc);
    if (rc == 0 && d0 < d1) {
      rc = store_part(s, id, h0, d0, KK_STORE_HOUR, &acc);
      if (rc == 0) rc = store_part(s, id, d0, d1, KK_STORE_DAY, &acc);
      if (rc == 0) rc = store_part(s, id, d1, h1, KK_STORE_HOUR, &acc);
    } else if (rc == 0) {
      rc = store_part(s, id, h0, h1, KK_STORE_HOUR, &acc);
    }
    if (rc == 0) rc = store_part(s, id, h1, to_ms, KK_STORE_RAW, &acc);
  }
  store_leave(s);
  if (rc != 0) return rc;
  if (acc.count == 0) {
    acc.min = acc.max = acc.avg = NAN;
    acc.sum = 0;
  } else {
    acc.avg = acc.sum / (double)acc.count;
  }
  *out = acc;
  return 0;
}

int kk_store_backup(kk_store_t *s, const char *dest) {
  if (!dest) return KK_EINVAL;
  int rc = store_enter(s);
  if (rc != 0) return rc;
  if (!s->vt->backup) {
    kk_store_set_errmsg("store '%s' (%s) has no online backup; use the "
                        "database's own tools",
                        s->name, s->backend);
    rc = KK_EINVAL;
  } else {
    rc = s->vt->backup(s->impl, dest);
  }
  store_leave(s);
  return rc;
}

/* ---- helpers shared by the backends -------------------------------- */

int kk__store_push_point(kk_store_series_t *out, size_t *cap,
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

char *kk__store_strdup(const char *s) {
  return s ? strdup(s) : NULL;
}

/* ---- rollup deltas (store_impl.h) ---------------------------------- */

static size_t store_hash(int64_t ds, int64_t bucket, size_t cap) {
  uint64_t h = (uint64_t)ds * 0x9E3779B97F4A7C15u ^
               (uint64_t)bucket * 0xC2B2AE3D27D4EB4Fu;
  h ^= h >> 31;
  return (size_t)(h & (cap - 1));
}

/* Adds an aggregate (count >= 1) to the bucket (ds, bucket). */
int kk__store_map_put(kk__store_map_t *m, int64_t ds, int64_t bucket, int64_t count,
                      double sum, double min, double max) {
  if ((m->len + 1) * 2 > m->cap) {
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    kk__store_delta_t *ns = calloc(ncap, sizeof *ns);
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
  }
  size_t j = store_hash(ds, bucket, m->cap);
  while (m->slot[j].count &&
         (m->slot[j].ds != ds || m->slot[j].bucket != bucket))
    j = (j + 1) & (m->cap - 1);
  kk__store_delta_t *d = &m->slot[j];
  if (!d->count) {
    *d = (kk__store_delta_t){ds, bucket, count, sum, min, max};
    m->len++;
  } else {
    d->count += count;
    d->sum += sum;
    if (min < d->min) d->min = min;
    if (max > d->max) d->max = max;
  }
  return 0;
}

/* Folds hourly deltas into daily ones (a UTC day is 24 whole hours), so
 * that each new row costs one map update, not two. */
int kk__store_map_days(const kk__store_map_t *hours, kk__store_map_t *days) {
  for (size_t i = 0; i < hours->cap; i++) {
    const kk__store_delta_t *h = &hours->slot[i];
    if (h->count &&
        kk__store_map_put(days, h->ds, kk__store_floor(h->bucket, KK__STORE_DAY_MS),
                   h->count, h->sum, h->min, h->max) != 0)
      return KK_ENOMEM;
  }
  return 0;
}

void kk__store_map_clear(kk__store_map_t *m) {
  if (m->cap > 65536) { /* give back the memory of a huge transaction */
    free(m->slot);
    m->slot = NULL;
    m->cap = 0;
  } else if (m->len) {
    memset(m->slot, 0, m->cap * sizeof *m->slot);
  }
  m->len = 0;
}

/* ---- numbers as text ---------------------------------------------------- */

/* Sensor values mostly have a few decimals; printf's exact conversion
 * (%.17g: "21.300000000000001") costs most of a COPY's client time and
 * makes the server parse 17 digits.  m / 10^k == v with m and 10^k exact
 * doubles means the decimal m * 10^-k rounds to v (IEEE division is
 * correctly rounded), so it reads back exactly. */
size_t kk__store_fmt_double(char *out, double v) {
  static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4,
                               1e5, 1e6, 1e7, 1e8, 1e9};
  if (v == 0) return (size_t)snprintf(out, 32, signbit(v) ? "-0" : "0");
  for (int k = 0; k < 10; k++) {
    double x = v * p10[k];
    if (!(fabs(x) < 9007199254740992.0)) break; /* 2^53: m not exact */
    double m = nearbyint(x);
    if (m / p10[k] != v) continue;
    long long n = (long long)m;
    unsigned long long u = n < 0 ? 0ull - (unsigned long long)n : (unsigned long long)n;
    char d[24];
    int nd = 0;
    while (u || nd <= k) { /* at least k + 1 digits: "0.05" */
      d[nd++] = (char)('0' + u % 10);
      u /= 10;
    }
    size_t len = 0;
    if (n < 0) out[len++] = '-';
    for (int i = nd - 1; i >= 0; i--) {
      out[len++] = d[i];
      if (i == k && k > 0) out[len++] = '.';
    }
    out[len] = 0;
    return len;
  }
  return (size_t)snprintf(out, 32, "%.17g", v);
}

/* ---- things from the option ------------------------------------------- */

void kk__store_thing_json(const cJSON *thing, char **props, char **geojson) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(thing, "properties");
  const cJSON *where = cJSON_GetObjectItemCaseSensitive(thing, "location");
  *props = p ? cJSON_PrintUnformatted(p) : NULL;
  *geojson = NULL;
  if (cJSON_IsArray(where) && cJSON_GetArraySize(where) == 2) {
    char b[128];
    snprintf(b, sizeof b, "{\"type\":\"Point\",\"coordinates\":[%.8g,%.8g]}",
             cJSON_GetArrayItem(where, 0)->valuedouble,
             cJSON_GetArrayItem(where, 1)->valuedouble);
    *geojson = kk__store_strdup(b);
  } else if (where) {
    *geojson = cJSON_PrintUnformatted(where);
  }
}
