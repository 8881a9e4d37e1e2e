/*
 * modules/store/postgres/postgres_backup.c - kk_store_backup() for
 * PostgreSQL stores (so `klimakit backup postgres:CONNINFO DEST` works
 * like the SQLite one): pg_dump in its custom format, which dumps from
 * one snapshot (consistent while klimakit writes) and which `klimakit
 * restore postgres:...` (pg_restore) reads.
 */
#include <klimakit.h>
#include <klimakit/store_backend.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/postgres/postgres_impl.h"
#include "store/store_tool.h"

int pg_backup(const char *conninfo, const char *dest) {
  /* Like the SQLite backup, DEST must not exist. */
  int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    kk_store_set_errmsg("%s: %s", dest, strerror(errno));
    return -errno;
  }
  close(fd);
  size_t n = strlen(dest) + 16, m = strlen(conninfo) + 16;
  char *file = malloc(n), *db = malloc(m);
  int rc = KK_ENOMEM;
  if (file && db) {
    snprintf(file, n, "--file=%s", dest);
    snprintf(db, m, "--dbname=%s", conninfo);
    char *argv[] = {"pg_dump", "--format=custom", "--no-owner", file, db, NULL};
    rc = store_run_tool(argv);
  }
  free(file);
  free(db);
  if (rc != 0) unlink(dest);
  return rc;
}
