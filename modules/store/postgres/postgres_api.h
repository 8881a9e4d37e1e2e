/*
 * modules/store/postgres/postgres_api.h - libpq, loaded when a stage or
 * a command first needs it (net/net_lib.h: libpq brings GnuTLS, LDAP and
 * Kerberos, some 3 MB of touched pages, into every process otherwise).
 * Included by postgres_impl.h after <libpq-fe.h>: from here on PQexec()
 * and the others call through pg_api, which is filled on first use.
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

NET_LIB_TABLE(pg_api, pg_lib, PG_FUNCS)

/* 0, or KK_EMISSING with the reason in err (errlen bytes). */
int pg_lib_check(char *err, size_t errlen);

#ifndef PG_API_IMPL
#define PQclear (pg_api_fn()->PQclear)
#define PQconnectPoll (pg_api_fn()->PQconnectPoll)
#define PQconnectStart (pg_api_fn()->PQconnectStart)
#define PQconnectdbParams (pg_api_fn()->PQconnectdbParams)
#define PQconninfoFree (pg_api_fn()->PQconninfoFree)
#define PQconninfoParse (pg_api_fn()->PQconninfoParse)
#define PQconsumeInput (pg_api_fn()->PQconsumeInput)
#define PQerrorMessage (pg_api_fn()->PQerrorMessage)
#define PQescapeLiteral (pg_api_fn()->PQescapeLiteral)
#define PQexec (pg_api_fn()->PQexec)
#define PQexecParams (pg_api_fn()->PQexecParams)
#define PQfinish (pg_api_fn()->PQfinish)
#define PQflush (pg_api_fn()->PQflush)
#define PQfreemem (pg_api_fn()->PQfreemem)
#define PQgetResult (pg_api_fn()->PQgetResult)
#define PQgetisnull (pg_api_fn()->PQgetisnull)
#define PQgetvalue (pg_api_fn()->PQgetvalue)
#define PQisBusy (pg_api_fn()->PQisBusy)
#define PQnfields (pg_api_fn()->PQnfields)
#define PQntuples (pg_api_fn()->PQntuples)
#define PQputCopyData (pg_api_fn()->PQputCopyData)
#define PQputCopyEnd (pg_api_fn()->PQputCopyEnd)
#define PQresultErrorField (pg_api_fn()->PQresultErrorField)
#define PQresultErrorMessage (pg_api_fn()->PQresultErrorMessage)
#define PQresultStatus (pg_api_fn()->PQresultStatus)
#define PQsendQuery (pg_api_fn()->PQsendQuery)
#define PQsendQueryParams (pg_api_fn()->PQsendQueryParams)
#define PQsetnonblocking (pg_api_fn()->PQsetnonblocking)
#define PQsocket (pg_api_fn()->PQsocket)
#define PQstatus (pg_api_fn()->PQstatus)
#endif

#endif
