/*
 * klimakit/store_backend.h - what a store backend implements, and the
 * helpers the backends share.
 *
 * A user of the stores needs only klimakit/store.h.  A backend module
 * (store.sqlite, store.postgres, a future out-of-tree one) implements the
 * few primitive queries of kk_store_vtable_t, one table at a time; the
 * core (core/store.c) chooses the resolution by span, composes aggregates
 * from daily, hourly and raw parts, serialises calls and keeps the
 * registry, so that every backend answers the same way.
 *
 * Life of a store handle: the sink creates it with kk_store_new() in its
 * start, makes it findable with kk_store_register(), withdraws it with
 * kk_store_unregister() in its stop and drops its reference with
 * kk_store_unref() in destroy.  A backend that can also open a store
 * outside a pipeline (kk_store_open(): CLI tools, tests) registers an
 * opener with kk_store_backend_register().
 *
 * Threading: the helpers below keep no global state and may be called
 * from any thread (a writer thread, the loop); a kk_store_map_t belongs
 * to one thread at a time.
 */
#ifndef KLIMAKIT_STORE_BACKEND_H
#define KLIMAKIT_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "time.h"

/* ---- the backend ------------------------------------------------------ */

/* What a backend implements.  Every function gets the backend's `impl`
 * pointer and is called with the store's lock held (never twice at
 * once).  Strings and arrays handed out are allocated with malloc: the
 * free functions of store.h release them (a list's items array and each
 * string separately).  `series` fills `out` (its `res` is set, never
 * AUTO; append with kk_store_series_push()).  `agg` aggregates one table
 * (res RAW, HOUR or DAY) over [from, to) into *out (count, sum, min, max;
 * count 0 when nothing).  `backup` and `close` may be NULL.  `close`
 * releases impl once the last reference is gone. */
typedef struct kk_store_vtable {
  int (*things)(void *impl, const kk_store_filter_t *f,
                kk_store_thing_list_t **out);
  int (*datastreams)(void *impl, const kk_store_filter_t *f,
                     kk_store_ds_list_t **out);
  int (*latest)(void *impl, const int64_t *ids, size_t n,
                kk_store_point_t *out);
  int (*series)(void *impl, int64_t id, int64_t from_ms, int64_t to_ms,
                kk_store_res_t res, size_t limit, kk_store_series_t *out);
  int (*agg)(void *impl, int64_t id, int64_t from_ms, int64_t to_ms,
             kk_store_res_t res, kk_store_point_t *out);
  int (*backup)(void *impl, const char *dest);
  void (*close)(void *impl);
} kk_store_vtable_t;

/* Creates a store handle over a backend (one reference, held by the
 * caller, dropped with kk_store_unref()).  `name` (NULL: the backend's
 * name) and `backend` are copied; `vt` must outlive the handle; `impl`
 * is the backend's and is released by vt->close.  NULL when out of
 * memory (impl is then still the caller's). */
kk_store_t *kk_store_new(const char *name, const char *backend,
                         const kk_store_vtable_t *vt, void *impl);
/* Makes `s` findable (a sink's start; the registry takes a reference of
 * its own) / no longer findable, and failing with KK_ECLOSED for holders
 * of a reference (its stop).  Register returns KK_EEXIST when the name
 * is taken.  Unregister accepts NULL and a store never registered. */
int kk_store_register(kk_store_t *s);
void kk_store_unregister(kk_store_t *s);
/* Sets the detail message of the current failure on this thread, which
 * kk_store_errmsg() then returns. */
void kk_store_set_errmsg(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* A backend that kk_store_open() can open outside a pipeline.  `open`
 * opens `target` (a file path, a connection string) for queries only and
 * returns 0 with *out set (one reference, the caller's), or a negative
 * code with the reason set through kk_store_set_errmsg(). */
typedef struct kk_store_backend {
  const char *name; /* "sqlite": the `backend` argument of kk_store_open */
  int (*open)(const char *target, kk_store_t **out);
} kk_store_backend_t;

/* Makes `b` (static: it must outlive the process) known to
 * kk_store_open().  A store module names its backend in its descriptor
 * (kk_module_t.store_backend) and the core calls this when it registers
 * the module; call it yourself only for a backend without a module.
 * Registering is thread-safe.  Returns 0, KK_EEXIST when a backend of
 * that name is known, KK_ENOMEM when the (small, fixed) table is full. */
int kk_store_backend_register(const kk_store_backend_t *b);

/* The `queue` option of every store sink: half of it is the largest
 * transaction, so stores default far above the engine's 65536.  Put it in
 * the module's option table. */
#define KK_STORE_QUEUE_OPTION                                                  \
  {                                                                            \
    .name = "queue", .type = KK_OPT_INT, .def = "1000000", .min = 1,           \
    .max = 1e9,                                                                \
    .description =                                                             \
        "Readings in flight before sources are paused; half of "               \
        "it is the largest transaction, so a store wants more than "           \
        "other sinks (24 bytes a reading)."                                    \
  }

/* ---- helpers shared by the backends --------------------------------- */

/* Start of the bucket of width `width` (KK_HOUR_MS, KK_DAY_MS) that holds
 * t, also for times before 1970. */
static inline int64_t kk_store_bucket(int64_t t, int64_t width) {
  return kk_floor_div(t, width) * width;
}

/* Appends a point to a series, growing its array (*cap is the capacity
 * of out->points, 0 for a new series).  The series owns the memory
 * (kk_store_series_free() releases it).  Returns 0 or KK_ENOMEM (the
 * series is then unchanged). */
int kk_store_series_push(kk_store_series_t *out, size_t *cap,
                         const kk_store_point_t *p);

/* Rollup deltas of one transaction: an open-addressing map
 * (ds, bucket) -> count, sum, min, max.  Both backends compute them from
 * the rows they insert and fold them into obs_hourly / obs_daily.  A
 * zeroed map is empty and ready; iterate over slot[0..cap) and skip the
 * slots with count 0. */
typedef struct kk_store_delta {
  int64_t ds, bucket, count; /* count 0: empty slot */
  double sum, min, max;
} kk_store_delta_t;

typedef struct kk_store_map {
  kk_store_delta_t *slot;
  size_t cap, len; /* cap is a power of two */
} kk_store_map_t;

/* Adds an aggregate (count >= 1) to the bucket (ds, bucket).  Returns 0
 * or KK_ENOMEM (the map is then unchanged). */
int kk_store_map_put(kk_store_map_t *m, int64_t ds, int64_t bucket,
                     int64_t count, double sum, double min, double max);
/* Adds hourly deltas into daily ones (a UTC day is 24 whole hours), so
 * that each new row costs one map update, not two.  Returns 0 or
 * KK_ENOMEM. */
int kk_store_map_days(const kk_store_map_t *hours, kk_store_map_t *days);
/* Empties the map for the next transaction (and gives back the memory of
 * a huge one). */
void kk_store_map_clear(kk_store_map_t *m);
/* Frees the map's memory; the map is empty and usable again. */
void kk_store_map_free(kk_store_map_t *m);

/* One entry of a store's `things` option (the cJSON value of
 * { location = <GeoJSON geometry or {lon, lat}>, properties = {...} }) as
 * text for the database: *props its properties as JSON, *geojson its
 * location as GeoJSON ({lon, lat} becomes a Point); NULL where absent or
 * out of memory.  Caller free()s both. */
struct cJSON;
void kk_store_thing_json(const struct cJSON *thing, char **props,
                         char **geojson);

/* ---- Lua -------------------------------------------------------------- */

/* Sets kk.query (the query API for Lua, see core/store_lua.c) on the
 * `klimakit` table on top of L's stack: a store backend's
 * kk_module_t.lua_open.  Leaves the stack as it found it; returns 0. */
struct lua_State;
int kk_store_lua_open(struct lua_State *L);

#endif
