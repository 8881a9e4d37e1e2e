/*
 * core/store.c - the store registry and the backend-independent part of
 * the query API (include/klimakit/store.h).
 *
 * Backends (include/klimakit/store_backend.h) implement a few primitive
 * queries, one table at a time; the choice of resolution by span and the
 * composition of an aggregate from daily, hourly and raw parts live here,
 * so that every backend answers the same way.  The helpers the backends
 * share are in core/store_backend.c, kk.query in core/store_lua.c.
 */
#include <klimakit.h>
#include <klimakit/store_backend.h>

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core.h"

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

/* Backends kk_store_open() knows: registered with their modules
 * (kk_module_t.store_backend), so a small fixed table suffices and never
 * needs freeing. */
#define STORE_MAX_BACKENDS 16
static const kk_store_backend_t *store_backends[STORE_MAX_BACKENDS];
static size_t store_nbackends;

int kk_store_backend_register(const kk_store_backend_t *b) {
  if (!b || !b->name || !b->open) return KK_EINVAL;
  uv_once(&store_once, store_init);
  int rc = 0;
  uv_mutex_lock(&store_reg_lock);
  for (size_t i = 0; i < store_nbackends && rc == 0; i++)
    if (strcmp(store_backends[i]->name, b->name) == 0) rc = KK_EEXIST;
  if (rc == 0 && store_nbackends == STORE_MAX_BACKENDS) rc = KK_ENOMEM;
  if (rc == 0) store_backends[store_nbackends++] = b;
  uv_mutex_unlock(&store_reg_lock);
  return rc;
}

int kk_store_open(const char *backend, const char *target, kk_store_t **out) {
  if (!backend || !target || !out) return KK_EINVAL;
  *out = NULL;
  kk__registry_init(); /* the built-in store modules bring their backends */
  uv_once(&store_once, store_init);
  const kk_store_backend_t *b = NULL;
  char names[256] = "";
  size_t len = 0;
  uv_mutex_lock(&store_reg_lock);
  for (size_t i = 0; i < store_nbackends; i++) {
    if (strcmp(store_backends[i]->name, backend) == 0) b = store_backends[i];
    int n = snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
                     store_backends[i]->name);
    if (n > 0 && (size_t)n < sizeof names - len) len += (size_t)n;
  }
  uv_mutex_unlock(&store_reg_lock);
  if (b) return b->open(target, out);
  kk_store_set_errmsg("unknown store backend '%s' (%s)", backend, names);
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

static int64_t store_ceil(int64_t t, int64_t width) {
  int64_t f = kk_store_bucket(t, width);
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
  const int64_t H = KK_HOUR_MS, D = KK_DAY_MS;
  if (!out || to_ms < from_ms) return KK_EINVAL;
  kk_store_point_t acc = {.time_ms = from_ms};
  store_clamp(&from_ms, &to_ms);
  int rc = store_enter(s);
  if (rc != 0) return rc;
  /* [from, h0) raw | [h0, d0) hours | [d0, d1) days | [d1, h1) hours |
   * [h1, to) raw, where each inner range may be empty. */
  int64_t h0 = store_ceil(from_ms, H), h1 = kk_store_bucket(to_ms, H);
  if (h0 >= h1) {
    rc = store_part(s, id, from_ms, to_ms, KK_STORE_RAW, &acc);
  } else {
    int64_t d0 = store_ceil(h0, D), d1 = kk_store_bucket(h1, D);
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
