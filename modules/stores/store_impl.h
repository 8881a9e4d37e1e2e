/*
 * modules/stores/store_impl.h - shared by the store backends and
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

/* Appends a point, growing the array (*cap its capacity). */
int kk__store_push_point(kk_store_series_t *out, size_t *cap,
                         const kk_store_point_t *p);

char *kk__store_strdup(const char *s);

/* kk.query for Lua (store_lua.c); the stores' lua_open. */
struct lua_State;
int kk__store_lua_open(struct lua_State *L);

#endif
