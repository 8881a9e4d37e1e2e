/*
 * modules/store/sqlite/sqlite_query.c - the query side of store.sqlite.
 *
 * One read-only connection per store handle.  In WAL mode it reads a
 * consistent snapshot per statement while the writer thread goes on, so
 * queries never wait for a write transaction.  Statements are prepared
 * once and kept; core/store.c serialises calls, so one connection suffices.
 */
#include <klimakit.h>
#include <klimakit/store.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite/sqlite_impl.h"

enum {
  SQ_Q_LATEST,
  SQ_Q_RAW,
  SQ_Q_HOUR,
  SQ_Q_DAY,
  SQ_Q_AGG_RAW,
  SQ_Q_AGG_HOUR,
  SQ_Q_AGG_DAY,
  SQ_Q_DS,
  SQ_Q_THINGS,
  SQ_NQ
};

/* A filter member binds as (text or NULL, prefix flag).  Prefix matches
 * compare the first length(?) characters, so that the match is exact and
 * case-sensitive in both stores (LIKE is not, in SQLite). */
#define SQ_MATCH(col, a, b)                                                    \
  "(?" a " IS NULL OR (?" b " = 0 AND " col " = ?" a ") OR (?" b               \
  " = 1 AND substr(" col ", 1, length(?" a ")) = ?" a "))"

static const char *const sq_sql[SQ_NQ] = {
    [SQ_Q_LATEST] = "SELECT time, value FROM observations WHERE ds = ?1 "
                    "ORDER BY time DESC LIMIT 1",
    [SQ_Q_RAW] = "SELECT time, 1, value, value, value, value FROM "
                 "observations WHERE ds = ?1 AND time >= ?2 AND time < ?3 "
                 "ORDER BY time LIMIT ?4",
    [SQ_Q_HOUR] = "SELECT bucket, count, sum, min, max, avg FROM obs_hourly "
                  "WHERE ds = ?1 AND bucket >= ?2 AND bucket < ?3 "
                  "ORDER BY bucket LIMIT ?4",
    [SQ_Q_DAY] = "SELECT bucket, count, sum, min, max, avg FROM obs_daily "
                 "WHERE ds = ?1 AND bucket >= ?2 AND bucket < ?3 "
                 "ORDER BY bucket LIMIT ?4",
    [SQ_Q_AGG_RAW] = "SELECT count(value), total(value), min(value), "
                     "max(value) FROM observations WHERE ds = ?1 AND "
                     "time >= ?2 AND time < ?3",
    [SQ_Q_AGG_HOUR] = "SELECT total(count), total(sum), min(min), max(max) "
                      "FROM obs_hourly WHERE ds = ?1 AND bucket >= ?2 AND "
                      "bucket < ?3",
    [SQ_Q_AGG_DAY] = "SELECT total(count), total(sum), min(min), max(max) "
                     "FROM obs_daily WHERE ds = ?1 AND bucket >= ?2 AND "
                     "bucket < ?3",
    /* clang-format off */
    [SQ_Q_DS] = "SELECT d.id, t.name, d.property, d.unit, d.sector FROM "
                "datastreams d JOIN things t ON t.id = d.thing_id WHERE "
                SQ_MATCH("t.name", "1", "2") " AND "
                SQ_MATCH("d.property", "3", "4") " AND "
                SQ_MATCH("d.unit", "5", "6") " AND "
                SQ_MATCH("d.sector", "7", "8")
                " ORDER BY t.name, d.property, d.unit",
    [SQ_Q_THINGS] = "SELECT t.id, t.name, l.geojson, t.properties FROM things "
                    "t LEFT JOIN locations l ON l.thing_id = t.id WHERE "
                    SQ_MATCH("t.name", "1", "2") " ORDER BY t.name",
    /* clang-format on */
};

typedef struct sq_reader {
  sqlite3 *db;
  char *path;
  sqlite3_stmt *q[SQ_NQ];
} sq_reader_t;

const char *sq_reason(int rc) {
  switch (rc & 0xff) {
  case SQLITE_FULL:
    return "disk_full";
  case SQLITE_READONLY:
  case SQLITE_PERM:
  case SQLITE_AUTH:
    return "read_only";
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
    return "io";
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return "busy";
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return "damaged";
  default:
    return "other";
  }
}

static int sq_fail(sq_reader_t *r, int rc, const char *what) {
  kk_store_set_errmsg("%s: %s", what, sqlite3_errmsg(r->db));
  switch (rc & 0xff) {
  case SQLITE_NOMEM:
    return KK_ENOMEM;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return KK_ECORRUPT;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return KK_EBUSY;
  default:
    return KK_EIO;
  }
}

static int sq_reader_connect(sq_reader_t *r);

static int sq_stmt(sq_reader_t *r, int i, sqlite3_stmt **out) {
  if (!r->db) {
    int rc = sq_reader_connect(r);
    if (rc != 0) return rc;
  }
  if (!r->q[i]) {
    int rc = sqlite3_prepare_v3(r->db, sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                &r->q[i], NULL);
    if (rc != SQLITE_OK) return sq_fail(r, rc, "preparing a query");
  }
  sqlite3_reset(r->q[i]);
  sqlite3_clear_bindings(r->q[i]);
  *out = r->q[i];
  return 0;
}

/* Binds a filter member at (a, a + 1). */
static void sq_bind_match(sqlite3_stmt *q, int a, const char *v) {
  if (!v) return; /* NULL stays bound */
  size_t n = strlen(v);
  int prefix = n > 0 && v[n - 1] == '*';
  sqlite3_bind_text(q, a, v, (int)(n - (size_t)prefix), SQLITE_STATIC);
  sqlite3_bind_int(q, a + 1, prefix);
}

static char *sq_col_text(sqlite3_stmt *q, int i) {
  const unsigned char *t = sqlite3_column_text(q, i);
  return t ? strdup((const char *)t) : NULL;
}

static int sq_things(void *impl, const kk_store_filter_t *f,
                     kk_store_thing_list_t **out) {
  sq_reader_t *r = impl;
  sqlite3_stmt *q;
  int rc = sq_stmt(r, SQ_Q_THINGS, &q);
  if (rc != 0) return rc;
  sq_bind_match(q, 1, f->thing);
  kk_store_thing_list_t *l = calloc(1, sizeof *l);
  size_t cap = 0;
  if (!l) return KK_ENOMEM;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (l->len == cap) {
      size_t n = cap ? cap * 2 : 16;
      kk_store_thing_t *ni = realloc(l->items, n * sizeof *ni);
      if (!ni) break;
      l->items = ni;
      cap = n;
    }
    kk_store_thing_t *t = &l->items[l->len++];
    t->id = sqlite3_column_int64(q, 0);
    t->name = sq_col_text(q, 1);
    t->location = sq_col_text(q, 2);
    t->properties = sq_col_text(q, 3);
  }
  int err = rc == SQLITE_DONE  ? 0
            : rc == SQLITE_ROW ? KK_ENOMEM
                               : sq_fail(r, rc, "listing things");
  sqlite3_reset(q);
  if (err) {
    kk_store_thing_list_free(l);
    return err;
  }
  *out = l;
  return 0;
}

static int sq_datastreams(void *impl, const kk_store_filter_t *f,
                          kk_store_ds_list_t **out) {
  sq_reader_t *r = impl;
  sqlite3_stmt *q;
  int rc = sq_stmt(r, SQ_Q_DS, &q);
  if (rc != 0) return rc;
  sq_bind_match(q, 1, f->thing);
  sq_bind_match(q, 3, f->property);
  sq_bind_match(q, 5, f->unit);
  sq_bind_match(q, 7, f->sector);
  kk_store_ds_list_t *l = calloc(1, sizeof *l);
  size_t cap = 0;
  if (!l) return KK_ENOMEM;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (l->len == cap) {
      size_t n = cap ? cap * 2 : 16;
      kk_store_ds_t *ni = realloc(l->items, n * sizeof *ni);
      if (!ni) break;
      l->items = ni;
      cap = n;
    }
    kk_store_ds_t *d = &l->items[l->len++];
    d->id = sqlite3_column_int64(q, 0);
    d->thing = sq_col_text(q, 1);
    d->property = sq_col_text(q, 2);
    d->unit = sq_col_text(q, 3);
    d->sector = sq_col_text(q, 4);
  }
  int err = rc == SQLITE_DONE  ? 0
            : rc == SQLITE_ROW ? KK_ENOMEM
                               : sq_fail(r, rc, "listing datastreams");
  sqlite3_reset(q);
  if (err) {
    kk_store_ds_list_free(l);
    return err;
  }
  *out = l;
  return 0;
}

static int sq_latest(void *impl, const int64_t *ids, size_t n,
                     kk_store_point_t *out) {
  sq_reader_t *r = impl;
  sqlite3_stmt *q;
  int rc = sq_stmt(r, SQ_Q_LATEST, &q);
  if (rc != 0) return rc;
  for (size_t i = 0; i < n; i++) {
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, ids[i]);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
      double v = sqlite3_column_double(q, 1);
      out[i] = (kk_store_point_t){.time_ms = sqlite3_column_int64(q, 0),
                                  .count = 1,
                                  .sum = v,
                                  .min = v,
                                  .max = v,
                                  .avg = v};
    } else if (rc != SQLITE_DONE) {
      sqlite3_reset(q);
      return sq_fail(r, rc, "reading the latest value");
    }
  }
  sqlite3_reset(q);
  return 0;
}

static int sq_series(void *impl, int64_t id, int64_t from_ms, int64_t to_ms,
                     kk_store_res_t res, size_t limit, kk_store_series_t *out) {
  sq_reader_t *r = impl;
  sqlite3_stmt *q;
  int rc = sq_stmt(r,
                   res == KK_STORE_RAW    ? SQ_Q_RAW
                   : res == KK_STORE_HOUR ? SQ_Q_HOUR
                                          : SQ_Q_DAY,
                   &q);
  if (rc != 0) return rc;
  sqlite3_bind_int64(q, 1, id);
  sqlite3_bind_int64(q, 2, from_ms);
  sqlite3_bind_int64(q, 3, to_ms);
  sqlite3_bind_int64(q, 4, limit ? (int64_t)limit + 1 : -1);
  size_t cap = 0;
  int err = 0;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (limit && out->len == limit) {
      out->truncated = 1;
      break;
    }
    kk_store_point_t p = {.time_ms = sqlite3_column_int64(q, 0),
                          .count = sqlite3_column_int64(q, 1),
                          .sum = sqlite3_column_double(q, 2),
                          .min = sqlite3_column_double(q, 3),
                          .max = sqlite3_column_double(q, 4),
                          .avg = sqlite3_column_double(q, 5)};
    if ((err = kk_store_series_push(out, &cap, &p)) != 0) break;
  }
  if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW)
    err = sq_fail(r, rc, "reading a series");
  sqlite3_reset(q);
  return err;
}

static int sq_agg(void *impl, int64_t id, int64_t from_ms, int64_t to_ms,
                  kk_store_res_t res, kk_store_point_t *out) {
  sq_reader_t *r = impl;
  sqlite3_stmt *q;
  int rc = sq_stmt(r,
                   res == KK_STORE_RAW    ? SQ_Q_AGG_RAW
                   : res == KK_STORE_HOUR ? SQ_Q_AGG_HOUR
                                          : SQ_Q_AGG_DAY,
                   &q);
  if (rc != 0) return rc;
  sqlite3_bind_int64(q, 1, id);
  sqlite3_bind_int64(q, 2, from_ms);
  sqlite3_bind_int64(q, 3, to_ms);
  rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) {
    out->count = (int64_t)sqlite3_column_double(q, 0);
    out->sum = sqlite3_column_double(q, 1);
    out->min = sqlite3_column_double(q, 2);
    out->max = sqlite3_column_double(q, 3);
    rc = 0;
  } else {
    rc = sq_fail(r, rc, "aggregating");
  }
  sqlite3_reset(q);
  return rc;
}

/* Online backup of the read snapshot into a new file. */
static int sq_backup(void *impl, const char *dest) {
  sq_reader_t *r = impl;
  if (!r->db) {
    int rc = sq_reader_connect(r);
    if (rc != 0) return rc;
  }
  int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = -errno;
    kk_store_set_errmsg("cannot create %s: %s", dest, kk_strerror(e));
    return e;
  }
  close(fd);
  sqlite3 *d = NULL;
  int rc = sqlite3_open_v2(dest, &d, SQLITE_OPEN_READWRITE, NULL);
  sqlite3_backup *b =
      rc == SQLITE_OK ? sqlite3_backup_init(d, "main", r->db, "main") : NULL;
  if (b) {
    /* Steps of 4096 pages: the source is read-locked only per step. */
    while ((rc = sqlite3_backup_step(b, 4096)) == SQLITE_OK ||
           rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
      if (rc != SQLITE_OK) sqlite3_sleep(10);
    sqlite3_backup_finish(b);
  }
  int err = 0;
  if (rc != SQLITE_DONE) {
    kk_store_set_errmsg("backup to %s failed: %s", dest,
                        d ? sqlite3_errmsg(d) : "out of memory");
    err = KK_EIO;
  }
  sqlite3_close(d);
  if (err) unlink(dest);
  return err;
}

static void sq_close(void *impl) {
  sq_reader_t *r = impl;
  if (!r) return;
  for (int i = 0; i < SQ_NQ; i++)
    sqlite3_finalize(r->q[i]);
  sqlite3_close(r->db);
  free(r->path);
  free(r);
}

static const kk_store_vtable_t sq_vtable = {
    .things = sq_things,
    .datastreams = sq_datastreams,
    .latest = sq_latest,
    .series = sq_series,
    .agg = sq_agg,
    .backup = sq_backup,
    .close = sq_close,
};

/* Opens r->db and checks the schema.  Returns 0 or a negative code with
 * the reason in kk_store_errmsg(); r->db is NULL after a failure. */
static int sq_reader_connect(sq_reader_t *r) {
  const char *path = r->path;
  struct stat sb;
  if (stat(path, &sb) != 0) {
    int e = -errno;
    kk_store_set_errmsg("cannot open %s: %s", path, kk_strerror(e));
    return e;
  }
  int rc = sqlite3_open_v2(path, &r->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK) sqlite3_busy_timeout(r->db, 2000);
  sqlite3_stmt *q = NULL;
  int ver = -1;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(r->db, "SELECT max(version) FROM schema_version",
                            -1, &q, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    ver = sqlite3_column_int(q, 0);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(q);
  int e = 0;
  if (rc != SQLITE_OK) {
    e = sq_fail(r, rc, path);
    if (e == KK_ECORRUPT)
      kk_store_set_errmsg("%s is damaged or not a SQLite database (%s)", path,
                          sqlite3_errmsg(r->db));
    else if (rc == SQLITE_ERROR)
      kk_store_set_errmsg("%s is not a klimakit store (%s)", path,
                          sqlite3_errmsg(r->db));
    if (e == KK_EIO && rc == SQLITE_ERROR) e = KK_EINVAL;
  } else if (ver > SQ_SCHEMA_VERSION || ver < 1) {
    kk_store_set_errmsg("%s has schema version %d; this klimakit reads "
                        "1..%d",
                        path, ver, SQ_SCHEMA_VERSION);
    e = KK_EINVAL;
  }
  if (e != 0) {
    sqlite3_close(r->db);
    r->db = NULL;
  }
  return e;
}

int sq_query_open(const char *path, const char *name, int lazy,
                  kk_store_t **out) {
  sq_reader_t *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    kk_store_set_errmsg("out of memory");
    return KK_ENOMEM;
  }
  int rc = sq_reader_connect(r);
  if (rc != 0 && !(lazy && rc == KK_EIO)) {
    sq_close(r);
    return rc;
  }
  *out = kk_store_new(name, "sqlite", &sq_vtable, r);
  if (!*out) {
    sq_close(r);
    kk_store_set_errmsg("out of memory");
    return KK_ENOMEM;
  }
  return 0;
}

/* kk_store_open("sqlite", path): the file must exist and be a store. */
static int sq_open(const char *path, kk_store_t **out) {
  return sq_query_open(path, NULL, 0, out);
}

const kk_store_backend_t sq_backend = {.name = "sqlite", .open = sq_open};
