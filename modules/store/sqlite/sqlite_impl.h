/*
 * modules/store/sqlite/sqlite_impl.h - shared by sqlite.c (the sink and its
 * writer thread) and sqlite_query.c (the read side).
 */
#ifndef KK_MODULES_SQLITE_IMPL_H
#define KK_MODULES_SQLITE_IMPL_H

#include <sqlite3.h>

#include <klimakit/store_backend.h>

/* The schema version this build writes; see sq_migrations in sqlite.c. */
#define SQ_SCHEMA_VERSION 1

/* Opens `path` for reading (WAL: readers never block the writer), checks
 * that it is a klimakit store of a known schema version and wraps it as
 * an unregistered kk_store_t named `name`.  With `lazy`, a file that
 * cannot be opened now (read-only file system, I/O error) is opened at
 * the first query instead.  Returns 0 or a negative code with the reason
 * in kk_store_errmsg(). */
int sq_query_open(const char *path, const char *name, int lazy,
                  kk_store_t **out);

/* Names the failure class of a SQLite result code for logs and metric
 * labels: "disk_full", "read_only", "io", "busy", "damaged", "other". */
const char *sq_reason(int rc);

/* `klimakit backup` (sqlite_cli.c), for the descriptor; terminated by
 * {NULL}. */
extern const kk_command_t sq_commands[];

#endif
