/*
 * modules/store/sqlite/sqlite_cli.c - `klimakit backup` and `klimakit
 * restore` for the stores, declared in store.sqlite's descriptor
 * (sq_commands).
 *
 * backup: the store API's kk_store_backup() on a store opened with
 * kk_store_open(): SQLite's online backup over the query connection
 * (sqlite_query.c), pg_dump for PostgreSQL (postgres_backup.c); both are
 * consistent while a running klimakit writes.  restore: SQLite here (the
 * file checked, the current one kept), pg_restore for PostgreSQL.
 *
 * Exit codes: 0 written, 1 runtime failure, 2 usage.
 */
#include <klimakit.h>
#include <klimakit/store.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/sqlite/sqlite_impl.h"
#include "store/store_tool.h"

static const char sq_backup_help[] =
    "usage: klimakit backup sqlite:DATABASE DEST\n"
    "       klimakit backup postgres:CONNINFO DEST\n"
    "\n"
    "Copies a consistent snapshot of a store to DEST (which must not exist),\n"
    "also while klimakit is writing to it: SQLite's online backup, or\n"
    "pg_dump's custom format for PostgreSQL (CONNINFO as libpq takes it:\n"
    "\"host=/run/postgresql dbname=klimakit\" or a postgresql:// URI).\n"
    "`klimakit restore` puts it back.\n";

static int sq_backup_main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(sq_backup_help, stdout);
      return 0;
    }
  const char *colon = argc == 3 ? strchr(argv[1], ':') : NULL;
  if (!colon || (strncmp(argv[1], "sqlite:", 7) != 0 &&
                 strncmp(argv[1], "postgres:", 9) != 0)) {
    fputs(sq_backup_help, stderr);
    return 2;
  }
  char backend[16];
  snprintf(backend, sizeof backend, "%.*s", (int)(colon - argv[1]), argv[1]);
  const char *db = colon + 1, *dest = argv[2];
  kk_store_t *s = NULL;
  int rc = kk_store_open(backend, db, &s);
  if (rc == 0) rc = kk_store_backup(s, dest);
  kk_store_unref(s);
  if (rc != 0) {
    const char *m = kk_store_errmsg();
    fprintf(stderr, "klimakit: backup failed: %s\n", *m ? m : kk_strerror(rc));
    return 1;
  }
  printf("%s: backup of %s written\n", dest,
         strcmp(backend, "sqlite") ? backend : db);
  return 0;
}

/* restore postgres:CONNINFO BACKUP: pg_restore turns the backup into a
 * SQL script (dropping each of its objects first, --clean), then psql
 * runs it in ONE transaction after dropping `observations` with its
 * monthly partitions (pg_restore's --clean cannot drop the partitions'
 * inherited keys): the database holds the backup's state afterwards, or,
 * when anything fails, what it held before. */
static int sq_restore_postgres(const char *conninfo, const char *backup) {
  char tmp[] = "/tmp/klimakit-restore-XXXXXX";
  int fd = mkstemp(tmp);
  if (fd < 0) {
    perror("klimakit: restore: temporary file");
    return 1;
  }
  close(fd);
  size_t n = strlen(conninfo) + 16;
  char *db = malloc(n), file[64];
  if (!db) return 1;
  snprintf(db, n, "--dbname=%s", conninfo);
  snprintf(file, sizeof file, "--file=%s", tmp);
  char *dump[] = {"pg_restore", "--clean",      "--if-exists", "--no-owner",
                  file,         (char *)backup, NULL};
  char *load[] = {"psql",
                  "-X",
                  "-q",
                  "-v",
                  "ON_ERROR_STOP=1",
                  "--single-transaction",
                  "-c",
                  "DROP TABLE IF EXISTS public.observations CASCADE",
                  "-f",
                  tmp,
                  db,
                  NULL};
  int rc = store_run_tool(dump);
  if (rc == 0) rc = store_run_tool(load);
  unlink(tmp);
  free(db);
  if (rc != 0) {
    fprintf(stderr, "klimakit: restore failed, the database is unchanged: %s\n",
            kk_store_errmsg());
    return 1;
  }
  printf("postgres: restored from %s\n", backup);
  return 0;
}

static const char sq_restore_help[] =
    "usage: klimakit restore sqlite:DATABASE BACKUP\n"
    "       klimakit restore postgres:CONNINFO BACKUP\n"
    "\n"
    "Puts BACKUP (a file `klimakit backup` wrote, or the .schemaN.bak copy\n"
    "made before a migration) in place of DATABASE.  Stop klimakit first:\n"
    "the restore refuses a database another process has open.  BACKUP is\n"
    "checked first (a SQLite file that passes quick_check, with a klimakit\n"
    "schema this release can read or migrate); the current DATABASE, when\n"
    "there is one, is kept as DATABASE.before-restore.  A backup of an older\n"
    "schema version is migrated at the next start.  The journal is not\n"
    "touched: what it still holds past the sinks' cursors is replayed.\n"
    "PostgreSQL: a `klimakit backup` (pg_dump -Fc) file is restored with\n"
    "pg_restore and psql in one transaction: klimakit's tables are dropped\n"
    "and made again from the backup, or, if anything fails, left as they\n"
    "were.\n";

/* The klimakit schema version of an open database, or -1 with why. */
static int sq_cli_version(sqlite3 *db, const char **why) {
  sqlite3_stmt *q;
  int ver = -1;
  *why = "it has no klimakit schema_version table";
  if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &q,
                         NULL) != SQLITE_OK)
    return -1;
  if (sqlite3_step(q) == SQLITE_ROW &&
      sqlite3_column_type(q, 0) == SQLITE_INTEGER)
    ver = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  return ver;
}

/* Copies database `from` into the file `to` with SQLite's backup API (the
 * destination is locked for the whole copy: a running writer makes it
 * fail with SQLITE_BUSY instead of mixing pages). */
static int sq_cli_copy(sqlite3 *from, const char *to, char *err, size_t len) {
  sqlite3 *d = NULL;
  int rc =
      sqlite3_open_v2(to, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  sqlite3_backup *b =
      rc == SQLITE_OK ? sqlite3_backup_init(d, "main", from, "main") : NULL;
  if (b) {
    rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  } else if (rc == SQLITE_OK) {
    rc = sqlite3_errcode(d);
  }
  if (rc != SQLITE_OK)
    snprintf(err, len, "%s: %s", to,
             (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED
                 ? "in use by another process (stop klimakit first)"
                 : (d ? sqlite3_errmsg(d) : sqlite3_errstr(rc)));
  sqlite3_close(d);
  return rc;
}

/* The pid of another process that has database `db` open, 0 if none.
 * klimakit's stores run in WAL mode, where every connection holds a
 * shared POSIX lock on byte 128 of <db>-shm (the unix VFS's "dead man
 * switch") while it is open; F_GETLK names a holder. */
static long sq_cli_holder(const char *db) {
  char shm[4200];
  snprintf(shm, sizeof shm, "%s-shm", db);
  int fd = open(shm, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock fl = {
      .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 128, .l_len = 1};
  long pid =
      fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? (long)fl.l_pid : 0;
  close(fd);
  return pid;
}

static int sq_restore_main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(sq_restore_help, stdout);
      return 0;
    }
  if (argc == 3 && strncmp(argv[1], "postgres:", 9) == 0)
    return sq_restore_postgres(argv[1] + 9, argv[2]);
  if (argc != 3 || strncmp(argv[1], "sqlite:", 7) != 0) {
    fputs(sq_restore_help, stderr);
    return 2;
  }
  const char *db = argv[1] + 7, *src = argv[2], *why = NULL;
  char err[4400] = "";
  long holder = sq_cli_holder(db);
  if (holder) {
    fprintf(stderr,
            "klimakit: restore: %s is open in process %ld (a running "
            "klimakit?): stop it first\n",
            db, holder);
    return 1;
  }
  sqlite3 *b = NULL;
  int rc = sqlite3_open_v2(src, &b, SQLITE_OPEN_READONLY, NULL), ver = -1;
  if (rc == SQLITE_OK) {
    sqlite3_stmt *q;
    rc = sqlite3_prepare_v2(b, "PRAGMA quick_check", -1, &q, NULL);
    if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0)
      rc = SQLITE_CORRUPT;
    sqlite3_finalize(q);
  }
  if (rc != SQLITE_OK) {
    fprintf(stderr,
            "klimakit: restore: %s is not a readable SQLite database "
            "(%s)\n",
            src, b ? sqlite3_errmsg(b) : sqlite3_errstr(rc));
    sqlite3_close(b);
    return 1;
  }
  if ((ver = sq_cli_version(b, &why)) < 1 || ver > SQ_SCHEMA_VERSION) {
    if (ver > SQ_SCHEMA_VERSION) why = "its schema is newer than this klimakit";
    fprintf(stderr, "klimakit: restore: %s: schema version %d: %s\n", src, ver,
            why);
    sqlite3_close(b);
    return 1;
  }
  if (access(db, F_OK) == 0) {
    /* The current database is kept: a restore can be undone. */
    sqlite3 *cur = NULL;
    char keep[4200];
    snprintf(keep, sizeof keep, "%s.before-restore", db);
    unlink(keep);
    rc = sqlite3_open_v2(db, &cur, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) rc = sq_cli_copy(cur, keep, err, sizeof err);
    sqlite3_close(cur);
    if (rc != SQLITE_OK) {
      fprintf(stderr, "klimakit: restore: cannot keep the current %s: %s\n", db,
              err);
      sqlite3_close(b);
      return 1;
    }
    printf("%s: the database before the restore\n", keep);
  }
  rc = sq_cli_copy(b, db, err, sizeof err);
  sqlite3_close(b);
  if (rc != SQLITE_OK) {
    fprintf(stderr, "klimakit: restore failed: %s\n", err);
    return 1;
  }
  printf("%s: restored from %s (schema version %d%s)\n", db, src, ver,
         ver < SQ_SCHEMA_VERSION ? ", migrated at the next start" : "");
  return 0;
}

const kk_command_t sq_commands[] = {
    {.name = "backup",
     .summary = "online backup of a store (SQLite, PostgreSQL)",
     .usage = "sqlite:DB|postgres:CONN DEST",
     .main = sq_backup_main},
    {.name = "restore",
     .summary = "put a backup of a store back (klimakit stopped)",
     .usage = "sqlite:DB|postgres:CONN BACKUP",
     .main = sq_restore_main},
    {NULL}};
