/* modules/store/postgres/postgres_api.c - the libpq table
 * (postgres_api.h). */
#include <klimakit.h>

#define PG_API_IMPL
#include "store/postgres/postgres_api.h"

#include <dlfcn.h>
#include <string.h>

#ifndef KK_LIBPQ_SO
#define KK_LIBPQ_SO "libpq.so.5"
#endif

pg_api_t pg_api;

NET_LIB_RESOLVER(pg_resolve, pg_api, PG_FUNCS)

net_lib_t pg_lib = NET_LIB_INIT(KK_LIBPQ_SO, "libpq5", pg_resolve);

int pg_lib_check(char *err, size_t errlen) {
  return net_lib_load(&pg_lib, err, errlen);
}
