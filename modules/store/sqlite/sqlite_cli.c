/*
 * modules/store/sqlite/sqlite_cli.c - `klimakit backup`: the online
 * backup of a SQLite store from the command line, declared in
 * store.sqlite's descriptor (sq_commands).
 *
 * The copy itself is the store API's (kk_store_backup() over the query
 * connection, sqlite_query.c), so it is consistent while a running
 * klimakit writes.  The command belongs to store.sqlite rather than to
 * the core because only this backend can do it: PostgreSQL has pg_dump.
 *
 * Exit codes: 0 written, 1 runtime failure, 2 usage.
 */
#include <klimakit.h>
#include <klimakit/store.h>

#include <stdio.h>
#include <string.h>

#include "store/sqlite/sqlite_impl.h"

static const char sq_backup_help[] =
    "usage: klimakit backup sqlite:DATABASE DEST\n"
    "\n"
    "Copies a consistent snapshot of a SQLite store to DEST (which must not\n"
    "exist) with SQLite's online backup, also while klimakit is writing to\n"
    "it.  For PostgreSQL use pg_dump or a replica.\n";

static int sq_backup_main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(sq_backup_help, stdout);
      return 0;
    }
  if (argc != 3 || strncmp(argv[1], "sqlite:", 7) != 0) {
    fputs(sq_backup_help, stderr);
    return 2;
  }
  const char *db = argv[1] + 7, *dest = argv[2];
  kk_store_t *s = NULL;
  int rc = kk_store_open("sqlite", db, &s);
  if (rc == 0) rc = kk_store_backup(s, dest);
  kk_store_unref(s);
  if (rc != 0) {
    const char *m = kk_store_errmsg();
    fprintf(stderr, "klimakit: backup failed: %s\n", *m ? m : kk_strerror(rc));
    return 1;
  }
  printf("%s: backup of %s written\n", dest, db);
  return 0;
}

const kk_command_t sq_commands[] = {
    {.name = "backup",
     .summary = "online backup of a SQLite store",
     .usage = "sqlite:DB DEST",
     .main = sq_backup_main},
    {NULL}};
