/*
 * modules/stores/postgres_impl.h - shared by postgres.c (the sink) and
 * postgres_query.c (the read side).
 */
#ifndef KK_MODULES_POSTGRES_IMPL_H
#define KK_MODULES_POSTGRES_IMPL_H

#include "store_impl.h"

#define PG_SCHEMA_VERSION 2

/* Wraps a blocking query connection to `conninfo` as an unregistered
 * store named `name`.  With connect_now, connects and checks the schema
 * version at once (kk_store_open); otherwise on first use.  Returns 0 or
 * a negative code with the reason in kk_store_errmsg(). */
int pg_query_open(const char *conninfo, const char *name, int connect_now,
                  kk_store_t **out);

#endif
