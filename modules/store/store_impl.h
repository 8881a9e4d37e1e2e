/*
 * modules/store/store_impl.h - shared by the store backends and
 * store.c; not part of the public API.
 */
#ifndef KK_MODULES_STORE_IMPL_H
#define KK_MODULES_STORE_IMPL_H

#include <klimakit/store.h>
#include <stddef.h>
#include <stdint.h>

#define KK__STORE_HOUR_MS 3600000LL
#define KK__STORE_DAY_MS 86400000LL

/* The `queue` option of every store sink: half of it is the largest
 * transaction, so stores default far above the engine's 65536. */
#define KK__STORE_QUEUE_OPTION                                                 \
  {.name = "queue",                                                            \
   .type = KK_OPT_INT,                                                         \
   .def = "1000000",                                                           \
   .min = 1,                                                                   \
   .max = 1e9,                                                                 \
   .description = "Readings in flight before sources are paused; half of "     \
                  "it is the largest transaction, so a store wants more than " \
                  "other sinks (24 bytes a reading)."}

/* Query-only openers behind kk_store_open(). */
int kk__store_sqlite_open(const char *path, kk_store_t **out);
int kk__store_postgres_open(const char *conninfo, kk_store_t **out);

/* Start of the bucket of width `width` that holds t. */
int64_t kk__store_floor(int64_t t, int64_t width);

/* Rollup deltas of one transaction: an open-addressing map
 * (ds, bucket) -> count, sum, min, max.  Both backends compute them from
 * the rows they insert and fold them into obs_hourly / obs_daily. */
typedef struct kk__store_delta {
  int64_t ds, bucket, count; /* count 0: empty slot */
  double sum, min, max;
} kk__store_delta_t;

typedef struct kk__store_map {
  kk__store_delta_t *slot;
  size_t cap, len; /* cap is a power of two */
} kk__store_map_t;

/* Adds an aggregate (count >= 1) to the bucket (ds, bucket). */
int kk__store_map_put(kk__store_map_t *m, int64_t ds, int64_t bucket,
                      int64_t count, double sum, double min, double max);
/* Folds hourly deltas into daily ones (a UTC day is 24 whole hours). */
int kk__store_map_days(const kk__store_map_t *hours, kk__store_map_t *days);
/* Empties the map (and frees a huge one). */
void kk__store_map_clear(kk__store_map_t *m);

/* Appends a point, growing the array (*cap its capacity). */
int kk__store_push_point(kk_store_series_t *out, size_t *cap,
                         const kk_store_point_t *p);

char *kk__store_strdup(const char *s);

/* One entry of a store's `things` option as text for the database:
 * *props its properties as JSON, *geojson its location as GeoJSON ({lon,
 * lat} becomes a Point); NULL where absent.  Caller free()s both. */
struct cJSON;
void kk__store_thing_json(const struct cJSON *thing, char **props,
                          char **geojson);

/* Writes v (finite) as the shortest decimal with at most 9 fraction
 * digits that reads back as exactly v ("21.3", "412"), else with %.17g;
 * for COPY text.  out holds 32 bytes; returns the length. */
size_t kk__store_fmt_double(char *out, double v);

/* kk.query for Lua (store_lua.c); the stores' lua_open. */
struct lua_State;
int kk__store_lua_open(struct lua_State *L);

#endif
