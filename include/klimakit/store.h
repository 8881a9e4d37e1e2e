/*
 * klimakit/store.h - the query API of the stores.
 *
 * Publishers (the HTTP API, SensorThings, exports) and Lua read stored
 * observations through this header without knowing which store holds
 * them.  A store sink (store.sqlite, store.postgres) registers a kk_store_t
 * under its stage name when it starts and withdraws it when it stops;
 * kk_store_find() and kk_store_default() look stores up.  What a backend
 * implements is in klimakit/store_backend.h; the registry and the
 * backend-independent parts of the queries are the core's (core/store.c).
 *
 * Data model (OGC SensorThings): a thing has datastreams (thing x observed
 * property x UCUM unit, plus a BISKO sector where it applies); an
 * observation is (datastream, time, value) and unique on (datastream,
 * time).  Datastream ids here are the *store's* ids (kk_store_ds_t.id):
 * stable in the store and shared by every node writing to it, unlike the
 * process-local ids of kk_datastream_id().
 *
 * Times are UTC milliseconds since 1970; ranges are half-open [from, to).
 * Rollups: every store keeps hourly and daily buckets (count, sum, min,
 * max) aligned to UTC hours and days, updated as data arrives (late data
 * included, duplicates never counted twice) and kept after raw data has
 * expired under retention.
 *
 * Threading: every call is synchronous and meant for short queries; it may
 * be made from the loop thread (it blocks it for the query's duration:
 * typically well below a millisecond for latest values, a few
 * milliseconds for a year through daily rollups) or from any other
 * thread.  Calls on one store are serialised inside the store.  A store
 * stays valid from kk_store_find() until the pipeline stops; a caller
 * that may outlive the pipeline holds it with kk_store_ref().
 *
 * Errors: 0 or a negative KK_E* code; kk_store_errmsg() gives the
 * detail of the last failure on the calling thread.
 */
#ifndef KLIMAKIT_STORE_H
#define KLIMAKIT_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kk_store kk_store_t;

/* Resolution of a series. */
typedef enum kk_store_res {
  KK_STORE_AUTO = -1, /* chosen by span: see kk_store_range() */
  KK_STORE_RAW = 0,
  KK_STORE_HOUR = 1,
  KK_STORE_DAY = 2
} kk_store_res_t;

/* Spans up to which KK_STORE_AUTO picks raw data and hourly rollups;
 * longer spans use daily rollups. */
#define KK_STORE_AUTO_RAW_MS (2LL * 86400000)
#define KK_STORE_AUTO_HOUR_MS (92LL * 86400000)

/* One point of a series.  Raw: time and value of an observation, count 1,
 * min = max = sum = avg = value.  Rollup: start of the bucket, and the
 * aggregates of the observations in it. */
typedef struct kk_store_point {
  int64_t time_ms;
  int64_t count;
  double sum, min, max, avg;
} kk_store_point_t;

/* A datastream as the store knows it.  Strings belong to the list. */
typedef struct kk_store_ds {
  int64_t id;
  const char *thing;
  const char *property;
  const char *unit;   /* UCUM code */
  const char *sector; /* BISKO sector or NULL */
} kk_store_ds_t;

/* A thing; `location` is GeoJSON text or NULL, `properties` a JSON
 * object text or NULL. */
typedef struct kk_store_thing {
  int64_t id;
  const char *name;
  const char *location;
  const char *properties;
} kk_store_thing_t;

/* Filter for listings: a NULL member matches everything; strings match
 * exactly, except that a trailing '*' matches any suffix ("room-*"). */
typedef struct kk_store_filter {
  const char *thing;
  const char *property;
  const char *unit;
  const char *sector;
} kk_store_filter_t;

/* Results own their memory; free each with its function (NULL is a
 * no-op). */
typedef struct kk_store_ds_list {
  size_t len;
  kk_store_ds_t *items;
} kk_store_ds_list_t;
void kk_store_ds_list_free(kk_store_ds_list_t *l);

typedef struct kk_store_thing_list {
  size_t len;
  kk_store_thing_t *items;
} kk_store_thing_list_t;
void kk_store_thing_list_free(kk_store_thing_list_t *l);

typedef struct kk_store_series {
  kk_store_res_t res; /* the resolution used (never AUTO) */
  int truncated;      /* 1 when `limit` cut the series */
  size_t len;
  kk_store_point_t *points; /* in time order */
} kk_store_series_t;
void kk_store_series_free(kk_store_series_t *s);

/* ---- finding a store ------------------------------------------------ */

/* The store registered under `name` (a stage name such as "sqlite" or the
 * recipe's `name` option), or NULL. */
kk_store_t *kk_store_find(const char *name);
/* The first store registered, or NULL when the pipeline has none. */
kk_store_t *kk_store_default(void);
/* Name and backend ("sqlite", "postgres") of a store; static for its
 * life. */
const char *kk_store_name(const kk_store_t *s);
const char *kk_store_backend(const kk_store_t *s);

/* Keeps `s` alive after its sink stopped (queries then fail with
 * KK_ECLOSED); drop with kk_store_unref().  Returns s. */
kk_store_t *kk_store_ref(kk_store_t *s);
void kk_store_unref(kk_store_t *s);

/* Opens a store for queries only, outside a pipeline (CLI tools, tests,
 * other processes): `backend` "sqlite" with a database file path, or
 * "postgres" with a libpq connection string (any backend registered with
 * kk_store_backend_register()).  The store is not registered.  Returns 0
 * and sets *out (caller drops it with kk_store_unref()), KK_EUNKNOWN for a
 * backend this build does not have, or another negative code, each with
 * the reason in kk_store_errmsg(). */
int kk_store_open(const char *backend, const char *target, kk_store_t **out);

/* Detail of the last failure of a kk_store_* call on this thread;
 * never NULL, static per thread. */
const char *kk_store_errmsg(void);

/* ---- queries -------------------------------------------------------- */

/* Things matching `f->thing` (other filter members are ignored; f may be
 * NULL), ordered by name.  *out is set on success; caller frees with
 * kk_store_thing_list_free(). */
int kk_store_things(kk_store_t *s, const kk_store_filter_t *f,
                    kk_store_thing_list_t **out);

/* Datastreams matching `f` (NULL: all), ordered by thing, property, unit.
 * Caller frees *out with kk_store_ds_list_free(). */
int kk_store_datastreams(kk_store_t *s, const kk_store_filter_t *f,
                         kk_store_ds_list_t **out);

/* Looks up the store id of one datastream; 0 and *id set, or KK_EUNKNOWN
 * when the store has no such datastream. */
int kk_store_datastream_id(kk_store_t *s, const char *thing,
                           const char *property, const char *unit, int64_t *id);

/* Latest observation of each of the `n` datastreams `ids`: out[i] gets
 * it (count 1), or count 0 when the datastream has none.  SQLite answers
 * from raw data (count 0 once retention expired all of it); PostgreSQL
 * keeps the latest observation apart and still knows it.  `out` is the
 * caller's array of n points. */
int kk_store_latest(kk_store_t *s, const int64_t *ids, size_t n,
                    kk_store_point_t *out);

/* Observations of datastream `id` in [from_ms, to_ms), at resolution
 * `res`.  KK_STORE_AUTO picks raw for spans up to KK_STORE_AUTO_RAW_MS,
 * hourly rollups up to KK_STORE_AUTO_HOUR_MS, daily beyond.  Rollup
 * buckets are those whose start lies in the range.  At most `limit`
 * points (0: no limit) from the start; `truncated` says whether more
 * exist.  Caller frees *out with kk_store_series_free(). */
int kk_store_range(kk_store_t *s, int64_t id, int64_t from_ms, int64_t to_ms,
                   kk_store_res_t res, size_t limit, kk_store_series_t **out);

/* Aggregates (count, sum, min, max, avg) of datastream `id` over exactly
 * [from_ms, to_ms), into *out (time_ms = from_ms).  Whole days come from
 * daily rollups, whole hours from hourly ones, the ragged edges from raw
 * data, so a year costs about as much as a day; edges whose raw data has
 * expired under retention are missing from the result.  count 0 (and
 * sum 0, min/max/avg NaN) when there is nothing. */
int kk_store_aggregate(kk_store_t *s, int64_t id, int64_t from_ms,
                       int64_t to_ms, kk_store_point_t *out);

/* Copies a consistent snapshot of the store to `dest` while it runs: a
 * SQLite file through the online backup API (dest must not exist yet);
 * PostgreSQL answers KK_EINVAL (use pg_dump or a replica).  Returns 0 or a
 * negative code. */
int kk_store_backup(kk_store_t *s, const char *dest);

#endif
