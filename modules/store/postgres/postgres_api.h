/*
 * modules/store/postgres/postgres_api.h - libpq, loaded when a stage or
 * a command first needs it (net/net_lib.h: libpq brings GnuTLS, LDAP and
 * Kerberos, some 3 MB of touched pages, into every process otherwise).
 * Included by postgres_impl.h after <libpq-fe.h>: from here on PQexec()
 * and the others call through pg_api, which pg_fn() fills on first use.
 * store.postgres checks the library in its create and pg_query_open()
 * before it connects (pg_lib_check).
 */
#ifndef KK_MODULES_STORE_POSTGRES_API_H
#define KK_MODULES_STORE_POSTGRES_API_H

#include <libpq-fe.h>

#include "net/net_lib.h"

/* Every libpq function klimakit calls. */
#define PG_FUNCS(X)                                                            \
  X(PQclear)                                                                   \
  X(PQconnectPoll)                                                             \
  X(PQconnectStart)                                                            \
  X(PQconnectdbParams)                                                         \
  X(PQconninfoFree)                                                            \
  X(PQconninfoParse)                                                           \
  X(PQconsumeInput)                                                            \
  X(PQerrorMessage)                                                            \
  X(PQescapeLiteral)                                                           \
  X(PQexec)                                                                    \
  X(PQexecParams)                                                              \
  X(PQfinish)                                                                  \
  X(PQflush)                                                                   \
  X(PQfreemem)                                                                 \
  X(PQgetResult)                                                               \
  X(PQgetisnull)                                                               \
  X(PQgetvalue)                                                                \
  X(PQisBusy)                                                                  \
  X(PQnfields)                                                                 \
  X(PQntuples)                                                                 \
  X(PQputCopyData)                                                             \
  X(PQputCopyEnd)                                                              \
  X(PQresultErrorField)                                                        \
  X(PQresultErrorMessage)                                                      \
  X(PQresultStatus)                                                            \
  X(PQsendQuery)                                                               \
  X(PQsendQueryParams)                                                         \
  X(PQsetnonblocking)                                                          \
  X(PQsocket)                                                                  \
  X(PQstatus)

typedef struct pg_api {
#define PG_PTR(f) __typeof__(f) *f;
  PG_FUNCS(PG_PTR)
#undef PG_PTR
} pg_api_t;

extern pg_api_t pg_api;
extern net_lib_t pg_lib;

static inline const pg_api_t *pg_fn(void) {
  if (__atomic_load_n(&pg_lib.state, __ATOMIC_ACQUIRE) <= 0)
    net_lib_need(&pg_lib);
  return &pg_api;
}

/* 0, or KK_EMISSING with the reason in err (errlen bytes). */
int pg_lib_check(char *err, size_t errlen);

#ifndef PG_API_IMPL
#define PQclear (pg_fn()->PQclear)
#define PQconnectPoll (pg_fn()->PQconnectPoll)
#define PQconnectStart (pg_fn()->PQconnectStart)
#define PQconnectdbParams (pg_fn()->PQconnectdbParams)
#define PQconninfoFree (pg_fn()->PQconninfoFree)
#define PQconninfoParse (pg_fn()->PQconninfoParse)
#define PQconsumeInput (pg_fn()->PQconsumeInput)
#define PQerrorMessage (pg_fn()->PQerrorMessage)
#define PQescapeLiteral (pg_fn()->PQescapeLiteral)
#define PQexec (pg_fn()->PQexec)
#define PQexecParams (pg_fn()->PQexecParams)
#define PQfinish (pg_fn()->PQfinish)
#define PQflush (pg_fn()->PQflush)
#define PQfreemem (pg_fn()->PQfreemem)
#define PQgetResult (pg_fn()->PQgetResult)
#define PQgetisnull (pg_fn()->PQgetisnull)
#define PQgetvalue (pg_fn()->PQgetvalue)
#define PQisBusy (pg_fn()->PQisBusy)
#define PQnfields (pg_fn()->PQnfields)
#define PQntuples (pg_fn()->PQntuples)
#define PQputCopyData (pg_fn()->PQputCopyData)
#define PQputCopyEnd (pg_fn()->PQputCopyEnd)
#define PQresultErrorField (pg_fn()->PQresultErrorField)
#define PQresultErrorMessage (pg_fn()->PQresultErrorMessage)
#define PQresultStatus (pg_fn()->PQresultStatus)
#define PQsendQuery (pg_fn()->PQsendQuery)
#define PQsendQueryParams (pg_fn()->PQsendQueryParams)
#define PQsetnonblocking (pg_fn()->PQsetnonblocking)
#define PQsocket (pg_fn()->PQsocket)
#define PQstatus (pg_fn()->PQstatus)
#endif

#endif
