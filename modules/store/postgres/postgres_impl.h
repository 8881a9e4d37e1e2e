/*
 * modules/store/postgres/postgres_impl.h - shared by postgres.c (the sink) and
 * postgres_query.c (the read side).
 */
#ifndef KK_MODULES_POSTGRES_IMPL_H
#define KK_MODULES_POSTGRES_IMPL_H

#include <klimakit/store_backend.h>

#define PG_SCHEMA_VERSION 2

/* Wraps a blocking query connection to `conninfo` as an unregistered
 * store named `name`.  With connect_now, connects and checks the schema
 * version at once (kk_store_open); otherwise on first use.  Returns 0 or
 * a negative code with the reason in kk_store_errmsg(). */
int pg_query_open(const char *conninfo, const char *name, int connect_now,
                  kk_store_t **out);

/* Formats ms since the epoch as a timestamptz literal in UTC
 * ("2025-01-01 00:05:00.000+00"); sec and cache remember the last second
 * formatted (start with *sec = INT64_MIN).  Returns the length, or 0
 * outside years 1-9999. */
size_t pg_time_text(int64_t ms, char out[48], int64_t *sec, char cache[32]);

#endif
