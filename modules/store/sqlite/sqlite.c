/*
 * modules/store/sqlite/sqlite.c - store.sqlite: the embedded default store.
 *
 * Schema (version 1; see docs/storage.md): things, locations,
 * datastreams (thing x observed property x UCUM unit, sector),
 * observations (ds, time, value) keyed (ds, time) WITHOUT ROWID, and the
 * rollups obs_hourly and obs_daily (count, sum, min, max, avg per UTC
 * hour / day).  Times are integer UTC milliseconds.
 *
 * Writing happens on a writer thread with its own connection: process()
 * takes a reference to the batch, queues it and returns KK_ASYNC.  The
 * writer takes every queued batch (up to `batch` readings) into one
 * transaction (group commit: the busier the pipeline, the bigger the
 * transaction), inserts with INSERT OR IGNORE (a redelivered reading
 * never doubles), and adds only the rows that were really new into
 * per-(datastream, bucket) deltas, which it folds into the rollups with
 * upserts before COMMIT.  Late data lands in old buckets the same way; a
 * duplicate changes nothing.  After COMMIT the batches are finished, in
 * order, through a uv_async on the loop (kk_stage_done() there, so that
 * the last completions are ordered before the stop callback).
 *
 * Faults: when a transaction fails (disk full, read-only file, I/O error,
 * locked, damaged page) the writer rolls back, logs why once, sets the
 * gauge kk_store_paused{stage,reason} and counts
 * kk_store_write_errors_total, and retries the same batches with backoff
 * (250 ms doubling to `max_backoff`).  The batches stay unfinished, so
 * the engine's queue fills and the sources pause; the data waits in the
 * journal.  When a retry succeeds the sink logs that it resumed.
 *
 * Reads (the kk_store_t query API) use a separate connection; see
 * sqlite_query.c.
 */
#include <klimakit.h>
#include <klimakit/store.h>

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite/sqlite_impl.h"

/* ---- schema ---------------------------------------------------------- */

/* Migrations, applied in order in one transaction each; index i brings
 * the schema to version i + 1.  Append only. */
static const char *const sq_migrations[SQ_SCHEMA_VERSION] = {
    "CREATE TABLE things(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " properties TEXT);"
    "CREATE TABLE locations(id INTEGER PRIMARY KEY,"
    " thing_id INTEGER NOT NULL UNIQUE REFERENCES things(id),"
    " name TEXT, geojson TEXT NOT NULL);"
    "CREATE TABLE datastreams(id INTEGER PRIMARY KEY,"
    " thing_id INTEGER NOT NULL REFERENCES things(id),"
    " property TEXT NOT NULL, unit TEXT NOT NULL, sector TEXT,"
    " UNIQUE(thing_id, property, unit));"
    "CREATE TABLE observations(ds INTEGER NOT NULL, time INTEGER NOT NULL,"
    " value REAL, PRIMARY KEY(ds, time)) WITHOUT ROWID;"
    "CREATE TABLE obs_hourly(ds INTEGER NOT NULL, bucket INTEGER NOT NULL,"
    " count INTEGER NOT NULL, sum REAL NOT NULL, min REAL, max REAL,"
    " avg REAL, PRIMARY KEY(ds, bucket)) WITHOUT ROWID;"
    "CREATE TABLE obs_daily(ds INTEGER NOT NULL, bucket INTEGER NOT NULL,"
    " count INTEGER NOT NULL, sum REAL NOT NULL, min REAL, max REAL,"
    " avg REAL, PRIMARY KEY(ds, bucket)) WITHOUT ROWID;",
};

#define SQ_UPSERT(table)                                                       \
  "INSERT INTO " table "(ds, bucket, count, sum, min, max, avg) "              \
  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?4 / ?3) ON CONFLICT(ds, bucket) DO "        \
  "UPDATE SET count = count + excluded.count, sum = sum + excluded.sum, "      \
  "min = min(min, excluded.min), max = max(max, excluded.max), "               \
  "avg = (sum + excluded.sum) / (count + excluded.count)"

enum {
  SQ_W_INS,
  SQ_W_HOUR,
  SQ_W_DAY,
  SQ_W_THING,
  SQ_W_DS,
  SQ_W_DSID,
  SQ_W_RETAIN,
  SQ_W_UPD,
  SQ_W_REHOUR,
  SQ_W_REDAY,
  SQ_NW
};

/* A reading flagged KK_READING_UPDATE (a calculator's window re-emitted
 * after a late reading) replaces the stored value; the rollup buckets it
 * lies in are then recomputed from the raw rows. */
#define SQ_RECOMPUTE(table, width)                                             \
  "INSERT OR REPLACE INTO " table "(ds, bucket, count, sum, min, max, avg) "   \
  "SELECT ?1, ?2, count(*), total(value), min(value), max(value), "            \
  "avg(value) FROM observations WHERE ds = ?1 AND time >= ?2 AND time < ?2 + " \
  width

static const char *const sq_wsql[SQ_NW] = {
    [SQ_W_UPD] = "UPDATE observations SET value = ?3 WHERE ds = ?1 AND "
                 "time = ?2 AND value IS NOT ?3",
    [SQ_W_REHOUR] = SQ_RECOMPUTE("obs_hourly", "3600000"),
    [SQ_W_REDAY] = SQ_RECOMPUTE("obs_daily", "86400000"),
    [SQ_W_INS] = "INSERT OR IGNORE INTO observations(ds, time, value) "
                 "VALUES(?1, ?2, ?3)",
    [SQ_W_HOUR] = SQ_UPSERT("obs_hourly"),
    [SQ_W_DAY] = SQ_UPSERT("obs_daily"),
    [SQ_W_THING] = "INSERT OR IGNORE INTO things(name) VALUES(?1)",
    [SQ_W_DS] = "INSERT OR IGNORE INTO datastreams(thing_id, property, unit,"
                " sector) SELECT id, ?2, ?3, ?4 FROM things WHERE name = ?1",
    [SQ_W_DSID] = "SELECT d.id FROM datastreams d JOIN things t ON t.id = "
                  "d.thing_id WHERE t.name = ?1 AND d.property = ?2 AND "
                  "d.unit = ?3",
    [SQ_W_RETAIN] = "DELETE FROM observations WHERE ds IN (SELECT id FROM "
                    "datastreams) AND time < ?1",
};

/* ---- state ----------------------------------------------------------- */

#define SQ_TAKE_MAX 256       /* batches per transaction at most */
#define SQ_LINGER_NS 5000000u /* 5 ms: see sq_writer */

typedef struct sq_state {
  kk_stage_t *st;
  char *name; /* stage name, for logs from the writer thread */
  char *path;
  int sync;           /* 0 normal, 1 full, 2 off */
  uint64_t retain_ms; /* 0: keep raw data */
  uint64_t max_backoff_ms;
  size_t txn_readings;    /* readings per transaction at most */
  size_t linger_readings; /* a transaction waits briefly for this many */
  char *sectors_json, *things_json;

  sqlite3 *w; /* writer connection: the writer thread's once started */
  sqlite3_stmt *ws[SQ_NW];
  int64_t *dsmap; /* process datastream id -> store id, 0 unknown */
  size_t ndsmap;
  kk_store_map_t hours, days;
  cJSON *sectors; /* property -> sector */

  uv_mutex_t lock; /* guards everything below */
  uv_cond_t cond;
  kk_batch_t **q; /* ring of queued batches, oldest first */
  size_t qhead, qlen, qcap;
  size_t done_pending; /* batches committed, not yet kk_stage_done() */
  int stopping, exited;
  int paused; /* the writer is retrying a failed transaction */

  int sync_init, thread_started, async_init, closing;
  uv_thread_t thread;
  uv_async_t async;
  kk_stop_cb stop_cb;
  kk_store_t *store;
  int64_t next_retain_ms;

  kk_metric_t *m_paused, *m_rows, *m_dups, *m_txns, *m_skipped, *m_updates;
  /* Observations replaced in the current transaction (writer thread). */
  struct sq_touched {
    int64_t ds, time;
  } *touched;
  size_t ntouched, captouched;
  kk_metric_t *m_err[6]; /* by sq_reason() */
} sq_state_t;

static const char *const sq_reasons[6] = {"disk_full", "read_only", "io",
                                          "busy",      "damaged",   "other"};

static kk_metric_t *sq_err_metric(sq_state_t *s, int rc) {
  const char *r = sq_reason(rc);
  for (int i = 0; i < 6; i++)
    if (strcmp(r, sq_reasons[i]) == 0) return s->m_err[i];
  return NULL;
}

/* ---- the writer connection ------------------------------------------ */

static int sq_exec(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Opens the database for writing, applies migrations, prepares the
 * statements.  Runs on the loop thread in start(), and on the writer
 * thread when it reopens a database that was read-only.  Returns 0 or a
 * negative code with the reason in err. */
static int sq_open_writer(sq_state_t *s, char *err, size_t errlen) {
  int rc = sqlite3_open_v2(
      s->path, &s->w,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  const char *step = "opening";
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(s->w, 5000);
    step = "switching to WAL";
    rc = sq_exec(s->w, "PRAGMA journal_mode=WAL");
  }
  if (rc == SQLITE_OK) {
    step = "setting pragmas";
    static const char *const syncs[] = {"PRAGMA synchronous=NORMAL",
                                        "PRAGMA synchronous=FULL",
                                        "PRAGMA synchronous=OFF"};
    rc = sq_exec(s->w, syncs[s->sync]);
    if (rc == SQLITE_OK) rc = sq_exec(s->w, "PRAGMA cache_size=-65536");
    /* Checkpoint every 64 MiB of WAL instead of 4 MiB: each checkpoint
     * costs two fsyncs, and a busy store commits often. */
    if (rc == SQLITE_OK) rc = sq_exec(s->w, "PRAGMA wal_autocheckpoint=16384");
  }
  if (rc == SQLITE_OK) {
    step = "reading the schema version";
    rc = sq_exec(s->w, "CREATE TABLE IF NOT EXISTS schema_version("
                       "version INTEGER PRIMARY KEY, applied_ms INTEGER "
                       "NOT NULL)");
  }
  int ver = 0;
  if (rc == SQLITE_OK) {
    sqlite3_stmt *q;
    rc = sqlite3_prepare_v2(
        s->w, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &q,
        NULL);
    if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
      ver = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
  }
  if (rc != SQLITE_OK) {
    int cls = rc & 0xff;
    if (cls == SQLITE_NOTADB || cls == SQLITE_CORRUPT)
      snprintf(err, errlen,
               "%s is damaged or not a SQLite database (%s while %s); "
               "move it away and restore the last backup, the "
               "journal still holds what it has not retired",
               s->path, s->w ? sqlite3_errmsg(s->w) : "?", step);
    else
      snprintf(err, errlen, "cannot open %s (%s while %s)", s->path,
               s->w ? sqlite3_errmsg(s->w) : "out of memory", step);
    return cls == SQLITE_NOTADB || cls == SQLITE_CORRUPT ? KK_ECORRUPT : KK_EIO;
  }
  if (ver > SQ_SCHEMA_VERSION) {
    snprintf(err, errlen,
             "%s has schema version %d, newer than this klimakit "
             "knows (%d); use a newer klimakit",
             s->path, ver, SQ_SCHEMA_VERSION);
    return KK_EINVAL;
  }
  for (int v = ver; v < SQ_SCHEMA_VERSION; v++) {
    char rec[128];
    snprintf(rec, sizeof rec, "INSERT INTO schema_version VALUES(%d, %lld)",
             v + 1, (long long)kk_now_ms());
    rc = sq_exec(s->w, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) rc = sq_exec(s->w, sq_migrations[v]);
    if (rc == SQLITE_OK) rc = sq_exec(s->w, rec);
    if (rc == SQLITE_OK) rc = sq_exec(s->w, "COMMIT");
    if (rc != SQLITE_OK) {
      snprintf(err, errlen, "migrating %s to schema version %d failed: %s",
               s->path, v + 1, sqlite3_errmsg(s->w));
      sq_exec(s->w, "ROLLBACK");
      return KK_EIO;
    }
    kk_log(KK_LOG_INFO, "store", s->name, "%s: schema version %d", s->path,
           v + 1);
  }
  for (int i = 0; i < SQ_NW; i++) {
    rc = sqlite3_prepare_v3(s->w, sq_wsql[i], -1, SQLITE_PREPARE_PERSISTENT,
                            &s->ws[i], NULL);
    if (rc != SQLITE_OK) {
      snprintf(err, errlen, "preparing statements on %s: %s", s->path,
               sqlite3_errmsg(s->w));
      return KK_EIO;
    }
  }
  return 0;
}

static void sq_close_writer(sq_state_t *s) {
  for (int i = 0; i < SQ_NW; i++) {
    sqlite3_finalize(s->ws[i]);
    s->ws[i] = NULL;
  }
  sqlite3_close(s->w);
  s->w = NULL;
}

/* Things and locations from the `things` option, upserted at start:
 * { ["room-001"] = { location = <GeoJSON geometry or {lon, lat}>,
 *                    properties = { ... } }, ... } */
static int sq_load_things(sq_state_t *s) {
  if (!s->things_json) return 0;
  cJSON *root = cJSON_Parse(s->things_json);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    kk_stage_error(s->st, "option things: expected a table of things");
    return KK_ETYPE;
  }
  int rc = sq_exec(s->w, "BEGIN IMMEDIATE");
  sqlite3_stmt *up = NULL, *loc = NULL;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(
        s->w,
        "INSERT INTO things(name, properties) VALUES(?1, ?2) ON "
        "CONFLICT(name) DO UPDATE SET properties = excluded.properties",
        -1, &up, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(
        s->w,
        "INSERT INTO locations(thing_id, name, geojson) SELECT id, name, ?2 "
        "FROM things WHERE name = ?1 ON CONFLICT(thing_id) DO UPDATE SET "
        "geojson = excluded.geojson",
        -1, &loc, NULL);
  for (cJSON *t = root->child; rc == SQLITE_OK && t; t = t->next) {
    char *ptext, *ltext;
    kk_store_thing_json(t, &ptext, &ltext);
    sqlite3_reset(up);
    sqlite3_bind_text(up, 1, t->string, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 2, ptext, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(up) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    if (rc == SQLITE_OK && ltext) {
      sqlite3_reset(loc);
      sqlite3_bind_text(loc, 1, t->string, -1, SQLITE_STATIC);
      sqlite3_bind_text(loc, 2, ltext, -1, SQLITE_TRANSIENT);
      rc = sqlite3_step(loc) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    free(ptext);
    free(ltext);
  }
  if (rc == SQLITE_OK) rc = sq_exec(s->w, "COMMIT");
  if (rc != SQLITE_OK) {
    kk_stage_error(s->st, "storing things: %s", sqlite3_errmsg(s->w));
    sq_exec(s->w, "ROLLBACK");
  }
  sqlite3_finalize(up);
  sqlite3_finalize(loc);
  cJSON_Delete(root);
  return rc == SQLITE_OK ? 0 : KK_EIO;
}

/* ---- writer thread --------------------------------------------------- */

static int sq_step_done(sqlite3_stmt *q) {
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Store id of process datastream `id`, creating thing and datastream. */
static int sq_resolve(sq_state_t *s, uint32_t id, int64_t *out) {
  if (id < s->ndsmap && s->dsmap[id]) {
    *out = s->dsmap[id];
    return SQLITE_OK;
  }
  const kk_datastream_t *d = kk_datastream_get(id);
  if (!d) return SQLITE_MISMATCH;
  const char *sector = NULL;
  cJSON *sj = cJSON_GetObjectItemCaseSensitive(s->sectors, d->property);
  if (cJSON_IsString(sj)) sector = sj->valuestring;
  sqlite3_stmt *t = s->ws[SQ_W_THING], *q = s->ws[SQ_W_DS],
               *g = s->ws[SQ_W_DSID];
  sqlite3_bind_text(t, 1, d->thing, -1, SQLITE_STATIC);
  int rc = sq_step_done(t);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(q, 1, d->thing, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, d->property, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, d->unit, -1, SQLITE_STATIC);
  if (sector)
    sqlite3_bind_text(q, 4, sector, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 4);
  if ((rc = sq_step_done(q)) != SQLITE_OK) return rc;
  sqlite3_bind_text(g, 1, d->thing, -1, SQLITE_STATIC);
  sqlite3_bind_text(g, 2, d->property, -1, SQLITE_STATIC);
  sqlite3_bind_text(g, 3, d->unit, -1, SQLITE_STATIC);
  rc = sqlite3_step(g);
  int64_t sid = rc == SQLITE_ROW ? sqlite3_column_int64(g, 0) : 0;
  sqlite3_reset(g);
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SQLITE_INTERNAL : rc;
  if (id >= s->ndsmap) {
    size_t n = s->ndsmap ? s->ndsmap : 256;
    while (n <= id)
      n *= 2;
    int64_t *nm = realloc(s->dsmap, n * sizeof *nm);
    if (!nm) return SQLITE_NOMEM;
    memset(nm + s->ndsmap, 0, (n - s->ndsmap) * sizeof *nm);
    s->dsmap = nm;
    s->ndsmap = n;
  }
  s->dsmap[id] = sid;
  *out = sid;
  return SQLITE_OK;
}

static int sq_flush_map(kk_store_map_t *m, sqlite3_stmt *q) {
  for (size_t i = 0; i < m->cap; i++) {
    const kk_store_delta_t *d = &m->slot[i];
    if (!d->count) continue;
    sqlite3_bind_int64(q, 1, d->ds);
    sqlite3_bind_int64(q, 2, d->bucket);
    sqlite3_bind_int64(q, 3, d->count);
    sqlite3_bind_double(q, 4, d->sum);
    sqlite3_bind_double(q, 5, d->min);
    sqlite3_bind_double(q, 6, d->max);
    int rc = sq_step_done(q);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

/* Writes `n` batches in one transaction.  Returns a SQLite code; on
 * failure everything is rolled back. */
/* Remembers an observation replaced in this transaction. */
static int sq_touch(sq_state_t *s, int64_t ds, int64_t time) {
  if (s->ntouched == s->captouched) {
    size_t ncap = s->captouched ? s->captouched * 2 : 64;
    struct sq_touched *n = realloc(s->touched, ncap * sizeof *n);
    if (!n) return -1;
    s->touched = n;
    s->captouched = ncap;
  }
  s->touched[s->ntouched].ds = ds;
  s->touched[s->ntouched].time = time;
  s->ntouched++;
  return 0;
}

static int sq_write(sq_state_t *s, kk_batch_t **b, size_t n) {
  int64_t rows = 0, dups = 0, skipped = 0, updates = 0;
  s->ntouched = 0;
  int rc = SQLITE_OK;
  /* Datastreams first, each in its own small transaction: the id map must
   * not hold ids of a transaction that is rolled back. */
  for (size_t k = 0; rc == SQLITE_OK && k < n; k++) {
    const kk_reading_t *r = kk_batch_readings(b[k]);
    size_t len = kk_batch_len(b[k]);
    int64_t sid;
    for (size_t i = 0; rc == SQLITE_OK && i < len; i++)
      if (r[i].ds >= s->ndsmap || !s->dsmap[r[i].ds]) {
        rc = sq_resolve(s, r[i].ds, &sid);
        if (rc == SQLITE_MISMATCH) rc = SQLITE_OK; /* unknown id: skipped */
      }
  }
  if (rc == SQLITE_OK) rc = sq_exec(s->w, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return rc;
  sqlite3_stmt *ins = s->ws[SQ_W_INS];
  for (size_t k = 0; rc == SQLITE_OK && k < n; k++) {
    const kk_reading_t *r = kk_batch_readings(b[k]);
    size_t len = kk_batch_len(b[k]);
    for (size_t i = 0; i < len; i++) {
      int64_t sid = r[i].ds < s->ndsmap ? s->dsmap[r[i].ds] : 0;
      if (!sid || !isfinite(r[i].value)) {
        skipped++;
        continue;
      }
      sqlite3_bind_int64(ins, 1, sid);
      sqlite3_bind_int64(ins, 2, r[i].time_ms);
      sqlite3_bind_double(ins, 3, r[i].value);
      rc = sqlite3_step(ins);
      sqlite3_reset(ins);
      if (rc != SQLITE_DONE) break;
      rc = SQLITE_OK;
      if (sqlite3_changes(s->w) == 0) {
        if (r[i].flags & KK_READING_UPDATE) {
          sqlite3_stmt *u = s->ws[SQ_W_UPD];
          sqlite3_bind_int64(u, 1, sid);
          sqlite3_bind_int64(u, 2, r[i].time_ms);
          sqlite3_bind_double(u, 3, r[i].value);
          rc = sqlite3_step(u);
          sqlite3_reset(u);
          if (rc != SQLITE_DONE) break;
          rc = SQLITE_OK;
          if (sqlite3_changes(s->w) > 0) {
            if (sq_touch(s, sid, r[i].time_ms) != 0) {
              rc = SQLITE_NOMEM;
              break;
            }
            updates++;
            continue;
          }
        }
        dups++;
        continue;
      }
      rows++;
      double v = r[i].value;
      if (kk_store_map_put(&s->hours, sid,
                     kk_store_bucket(r[i].time_ms, KK_HOUR_MS), 1, v, v,
                     v) != 0) {
        rc = SQLITE_NOMEM;
        break;
      }
    }
  }
  if (rc == SQLITE_OK && kk_store_map_days(&s->hours, &s->days) != 0)
    rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) rc = sq_flush_map(&s->hours, s->ws[SQ_W_HOUR]);
  if (rc == SQLITE_OK) rc = sq_flush_map(&s->days, s->ws[SQ_W_DAY]);
  /* After the deltas of new rows: recompute the buckets of replaced ones. */
  for (size_t t = 0; rc == SQLITE_OK && t < s->ntouched; t++) {
    for (int k = 0; k < 2 && rc == SQLITE_OK; k++) {
      sqlite3_stmt *q = s->ws[k ? SQ_W_REDAY : SQ_W_REHOUR];
      int64_t w = k ? KK_DAY_MS : KK_HOUR_MS;
      sqlite3_bind_int64(q, 1, s->touched[t].ds);
      sqlite3_bind_int64(q, 2, kk_store_bucket(s->touched[t].time, w));
      rc = sqlite3_step(q);
      sqlite3_reset(q);
      rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
  }
  if (rc == SQLITE_OK) rc = sq_exec(s->w, "COMMIT");
  if (rc != SQLITE_OK) {
    int saved = rc;
    sq_exec(s->w, "ROLLBACK");
    rc = saved;
  }
  kk_store_map_clear(&s->hours);
  kk_store_map_clear(&s->days);
  if (rc == SQLITE_OK) {
    kk_metric_add(s->m_rows, rows);
    kk_metric_add(s->m_dups, dups);
    kk_metric_add(s->m_updates, updates);
    kk_metric_add(s->m_skipped, skipped);
    kk_metric_add(s->m_txns, 1);
  }
  return rc;
}

/* Deletes raw observations older than retain_ms; rollups stay.  Runs
 * after the first transaction, then at most hourly, and at stop. */
static void sq_retain(sq_state_t *s, int force) {
  int64_t now = kk_now_ms();
  if (!s->retain_ms || (!force && now < s->next_retain_ms)) return;
  s->next_retain_ms = now + 3600000;
  sqlite3_stmt *q = s->ws[SQ_W_RETAIN];
  sqlite3_bind_int64(q, 1, now - (int64_t)s->retain_ms);
  int rc = sq_step_done(q);
  if (rc != SQLITE_OK)
    kk_log(KK_LOG_WARN, "store", s->name, "retention delete failed: %s",
           sqlite3_errmsg(s->w));
  else if (sqlite3_changes(s->w) > 0)
    kk_log(KK_LOG_INFO, "store", s->name,
           "retention: deleted %d raw observations older than %llu days",
           sqlite3_changes(s->w),
           (unsigned long long)(s->retain_ms / 86400000));
}

/* Readings queued (lock held). */
static size_t sq_queued(const sq_state_t *s) {
  size_t n = 0;
  for (size_t i = 0; i < s->qlen && n < s->linger_readings; i++)
    n += kk_batch_len(s->q[(s->qhead + i) % s->qcap]);
  return n;
}

static void sq_writer(void *arg) {
  sq_state_t *s = arg;
  kk_batch_t *take[SQ_TAKE_MAX];
  uint64_t backoff = 250;
  uv_mutex_lock(&s->lock);
  for (;;) {
    while (s->qlen == 0 && !s->stopping)
      uv_cond_wait(&s->cond, &s->lock);
    if (s->qlen == 0) break; /* stopping and drained */
    /* Linger: right after a commit the engine resumes the paused sources
     * and the first batch arrives alone; a transaction of one batch
     * writes every touched page to the WAL again.  Waiting a few
     * milliseconds for more makes the transactions large when data flows
     * fast and costs a trickle only that much latency. */
    uint64_t until = uv_hrtime() + SQ_LINGER_NS;
    while (!s->stopping && sq_queued(s) < s->linger_readings) {
      uint64_t now = uv_hrtime();
      if (now >= until ||
          uv_cond_timedwait(&s->cond, &s->lock, until - now) != 0)
        break;
    }
    size_t n = 0, readings = 0;
    while (n < s->qlen && n < SQ_TAKE_MAX &&
           (n == 0 || readings < s->txn_readings)) {
      take[n] = s->q[(s->qhead + n) % s->qcap];
      readings += kk_batch_len(take[n]);
      n++;
    }
    uv_mutex_unlock(&s->lock);
    int rc = s->w ? sq_write(s, take, n) : SQLITE_CANTOPEN;
    if (rc == SQLITE_OK) sq_retain(s, 0);
    uv_mutex_lock(&s->lock);
    if (rc == SQLITE_OK) {
      for (size_t i = 0; i < n; i++)
        kk_batch_unref(take[i]);
      s->qhead = (s->qhead + n) % s->qcap;
      s->qlen -= n;
      s->done_pending += n;
      uv_async_send(&s->async);
      if (s->paused) {
        s->paused = 0;
        kk_metric_set(s->m_paused, 0);
        kk_log(KK_LOG_WARN, "store", s->name,
               "writing to %s works again; resumed", s->path);
      }
      backoff = 250;
      continue;
    }
    kk_metric_add(sq_err_metric(s, rc), 1);
    if (!s->paused) {
      s->paused = 1;
      kk_metric_set(s->m_paused, 1);
      kk_log(KK_LOG_ERROR, "store", s->name,
             "cannot write to %s: %s (%s); paused, the data waits in the "
             "journal, retrying with backoff",
             s->path, sqlite3_errstr(rc), sq_reason(rc));
    }
    if (s->stopping) break; /* the journal replays it at the next start */
    uv_cond_timedwait(&s->cond, &s->lock, backoff * 1000000u);
    if (!s->w || strcmp(sq_reason(rc), "read_only") == 0 ||
        strcmp(sq_reason(rc), "io") == 0) {
      /* A connection opened on a read-only file stays read-only, and one
       * that met an I/O error may hold a broken file: open it afresh. */
      char err[1024];
      uv_mutex_unlock(&s->lock);
      sq_close_writer(s);
      if (sq_open_writer(s, err, sizeof err) != 0) {
        kk_log(KK_LOG_DEBUG, "store", s->name, "reopening: %s", err);
        sq_close_writer(s);
      }
      uv_mutex_lock(&s->lock);
    }
    backoff = backoff * 2 > s->max_backoff_ms ? s->max_backoff_ms : backoff * 2;
  }
  int clean = !s->paused;
  uv_mutex_unlock(&s->lock);
  if (clean) sq_retain(s, 1);
  uv_mutex_lock(&s->lock);
  s->exited = 1;
  uv_mutex_unlock(&s->lock);
  uv_async_send(&s->async);
}

/* ---- loop side ------------------------------------------------------- */

static void sq_async_closed(uv_handle_t *h) {
  sq_state_t *s = h->data;
  if (s->stop_cb) s->stop_cb(s->st);
}

static void sq_async_cb(uv_async_t *h) {
  sq_state_t *s = h->data;
  uv_mutex_lock(&s->lock);
  size_t n = s->done_pending;
  s->done_pending = 0;
  int exited = s->exited;
  uv_mutex_unlock(&s->lock);
  while (n--)
    kk_stage_done(s->st);
  if (exited && s->stop_cb && !s->closing) {
    s->closing = 1;
    uv_thread_join(&s->thread);
    s->thread_started = 0;
    uv_close((uv_handle_t *)&s->async, sq_async_closed);
  }
}

static int sq_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  sq_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = s;
  s->st = st;
  s->name = strdup(kk_stage_name(st));
  if (kk_opt_isset(opts, "path")) {
    s->path = strdup(kk_opt_str(opts, "path"));
  } else {
    const char *dir = kk_stage_data_dir(st);
    size_t n = strlen(dir) + 16;
    if ((s->path = malloc(n))) snprintf(s->path, n, "%s/klimakit.db", dir);
  }
  s->sync = kk_opt_enum(opts, "synchronous");
  s->retain_ms = kk_opt_duration_ms(opts, "retain_raw");
  s->max_backoff_ms = kk_opt_duration_ms(opts, "max_backoff");
  if (s->max_backoff_ms < 250) s->max_backoff_ms = 250;
  /* At most half the sink's queue per transaction: while one commits,
   * the engine has resumed the sources and the next half is arriving. */
  size_t half = (size_t)kk_opt_int(opts, "queue") / 2;
  s->txn_readings = (size_t)kk_opt_int(opts, "batch");
  if (half && s->txn_readings > half) s->txn_readings = half;
  s->linger_readings =
      s->txn_readings / 2 < 16384 ? s->txn_readings / 2 : 16384;
  if (s->linger_readings == 0) s->linger_readings = 1;
  const char *sj = kk_opt_json(opts, "sectors");
  const char *tj = kk_opt_json(opts, "things");
  s->things_json = tj ? strdup(tj) : NULL;
  if (!s->name || !s->path || (tj && !s->things_json)) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  if (sj) {
    s->sectors = cJSON_Parse(sj);
    if (!cJSON_IsObject(s->sectors)) {
      kk_stage_error(st, "option sectors: expected a table property -> "
                         "sector, such as { energy = \"municipal\" }");
      return KK_ETYPE;
    }
  }
  char labels[256];
  snprintf(labels, sizeof labels, "stage=\"%s\"", s->name);
  s->m_paused = kk_gauge("kk_store_paused", labels,
                         "1 while a store cannot write and retries.");
  s->m_rows = kk_stage_counter(st, "kk_store_rows_total", NULL,
                               "Observations a store inserted.");
  s->m_updates = kk_stage_counter(st, "kk_store_updates_total", NULL,
                                  "Stored values replaced by readings flagged "
                                  "as updates (re-emitted aggregates)");
  s->m_dups = kk_stage_counter(st, "kk_store_duplicates_total", NULL,
                               "Redelivered observations a store ignored.");
  s->m_skipped = kk_stage_counter(
      st, "kk_store_skipped_total", NULL,
      "Readings a store skipped (value not finite, unknown datastream).");
  s->m_txns = kk_stage_counter(st, "kk_store_transactions_total", NULL,
                               "Write transactions a store committed.");
  for (int i = 0; i < 6; i++)
    s->m_err[i] =
        kk_stage_counter(st, "kk_store_write_errors_total", sq_reasons[i],
                         "Failed store write transactions.");
  if (uv_mutex_init(&s->lock) != 0 || uv_cond_init(&s->cond) != 0) {
    kk_stage_error(st, "cannot create a mutex");
    return KK_ENOMEM;
  }
  s->sync_init = 1;
  return 0;
}

static int sq_start(kk_stage_t *st, void *state) {
  sq_state_t *s = state;
  int rc = kk_mkdirs(s->path, 1);
  if (rc != 0) {
    kk_stage_error(st, "cannot create the directory of %s: %s", s->path,
                   kk_strerror(rc));
    return rc;
  }
  char err[1024];
  if ((rc = sq_open_writer(s, err, sizeof err)) == KK_EIO &&
      access(s->path, F_OK) == 0) {
    /* An existing database that cannot be written now (read-only file
     * system, permissions): start paused; the writer retries. */
    kk_stage_log(st, KK_LOG_ERROR,
                 "%s; paused, the data waits in the journal, retrying with "
                 "backoff",
                 err);
    sq_close_writer(s);
    s->paused = 1;
    kk_metric_set(s->m_paused, 1);
    kk_metric_add(s->m_err[1], 1);
  } else if (rc != 0) {
    kk_stage_error(st, "%s", err);
    return rc;
  } else if ((rc = sq_load_things(s)) != 0) {
    return rc;
  } else if (sqlite3_db_readonly(s->w, "main") == 1) {
    kk_stage_log(st, KK_LOG_WARN,
                 "%s is read-only; writing will pause until it is writable",
                 s->path);
  }
  rc = sq_query_open(s->path, s->name, 1, &s->store);
  if (rc != 0) {
    kk_stage_error(st, "%s", kk_store_errmsg());
    return rc;
  }
  if ((rc = kk_store_register(s->store)) != 0) {
    kk_stage_error(st, "a store named '%s' is registered already", s->name);
    return rc;
  }
  if (uv_async_init(kk_stage_loop(st), &s->async, sq_async_cb) != 0) {
    kk_store_unregister(s->store);
    kk_stage_error(st, "cannot create an async handle");
    return KK_ENOMEM;
  }
  s->async.data = s;
  s->async_init = 1;
  if (uv_thread_create(&s->thread, sq_writer, s) != 0) {
    kk_store_unregister(s->store);
    uv_close((uv_handle_t *)&s->async, NULL);
    kk_stage_error(st, "cannot start the writer thread");
    return KK_ENOMEM;
  }
  s->thread_started = 1;
  kk_stage_log(st, KK_LOG_INFO, "storing in %s", s->path);
  return 0;
}

static int sq_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  sq_state_t *s = state;
  (void)st;
  uv_mutex_lock(&s->lock);
  if (s->qlen == s->qcap) {
    size_t ncap = s->qcap ? s->qcap * 2 : 64;
    kk_batch_t **nq = malloc(ncap * sizeof *nq);
    if (!nq) {
      uv_mutex_unlock(&s->lock);
      kk_stage_error(st, "out of memory queueing a batch");
      return KK_ENOMEM;
    }
    for (size_t i = 0; i < s->qlen; i++)
      nq[i] = s->q[(s->qhead + i) % s->qcap];
    free(s->q);
    s->q = nq;
    s->qcap = ncap;
    s->qhead = 0;
  }
  s->q[(s->qhead + s->qlen) % s->qcap] = kk_batch_ref(b);
  s->qlen++;
  uv_cond_signal(&s->cond);
  uv_mutex_unlock(&s->lock);
  return KK_ASYNC;
}

static void sq_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  sq_state_t *s = state;
  kk_store_unregister(s->store);
  if (!s->thread_started) {
    cb(st);
    return;
  }
  s->stop_cb = cb;
  uv_mutex_lock(&s->lock);
  s->stopping = 1;
  uv_cond_signal(&s->cond);
  uv_mutex_unlock(&s->lock);
  uv_async_send(&s->async); /* in case the writer exited already */
}

static void sq_destroy(void *state) {
  sq_state_t *s = state;
  if (!s) return;
  if (s->thread_started) { /* stop was not called: should not happen */
    uv_mutex_lock(&s->lock);
    s->stopping = 1;
    uv_cond_signal(&s->cond);
    uv_mutex_unlock(&s->lock);
    uv_thread_join(&s->thread);
  }
  for (size_t i = 0; i < s->qlen; i++)
    kk_batch_unref(s->q[(s->qhead + i) % s->qcap]);
  free(s->q);
  sq_close_writer(s);
  kk_store_unref(s->store);
  free(s->dsmap);
  free(s->touched);
  kk_store_map_free(&s->hours);
  kk_store_map_free(&s->days);
  cJSON_Delete(s->sectors);
  if (s->sync_init) {
    uv_cond_destroy(&s->cond);
    uv_mutex_destroy(&s->lock);
  }
  free(s->things_json);
  free(s->path);
  free(s->name);
  free(s);
}

static const kk_option_t sq_options[] = {
    KK_STORE_QUEUE_OPTION,
    {.name = "path",
     .type = KK_OPT_STRING,
     .description = "Database file (created with its parent directories); "
                    "default klimakit.db in the stage's data directory."},
    {.name = "retain_raw",
     .type = KK_OPT_DURATION,
     .def = "0",
     .description = "Delete raw observations older than this (checked "
                    "hourly); hourly and daily rollups are kept.  0 keeps "
                    "raw data for ever."},
    {.name = "synchronous",
     .type = KK_OPT_ENUM,
     .def = "normal",
     .choices = "normal|full|off",
     .description = "SQLite synchronous mode: normal survives a process "
                    "crash (the journal covers a power loss), full "
                    "survives power loss by itself."},
    {.name = "batch",
     .type = KK_OPT_INT,
     .def = "262144",
     .min = 1,
     .max = 16777216,
     .description = "Readings per write transaction at most (queued "
                    "batches are committed together up to this, and up to "
                    "half the sink's `queue`)."},
    {.name = "max_backoff",
     .type = KK_OPT_DURATION,
     .def = "30s",
     .description = "Longest wait between retries while the database "
                    "cannot be written (disk full, read-only)."},
    {.name = "sectors",
     .type = KK_OPT_TABLE,
     .description = "BISKO sector by observed property, stored with new "
                    "datastreams: { energy = \"municipal\" }."},
    {.name = "things",
     .type = KK_OPT_TABLE,
     .description = "Things with location and properties, stored at start: "
                    "{ [\"room-001\"] = { location = {7.47, 51.36}, "
                    "properties = { building = \"Gymnasium\" } } }; a "
                    "location is {lon, lat} or a GeoJSON geometry."},
    {NULL}};

const kk_module_t store_sqlite_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "sqlite",
    .ns = "store",
    .kind = KK_KIND_SINK,
    .summary = "Stores readings in an embedded SQLite database with rollups.",
    .description =
        "Keeps things, datastreams and observations in one SQLite file (WAL "
        "mode) following the SensorThings model, plus hourly and daily "
        "rollups (count, sum, min, max, avg) that are updated as data "
        "arrives, late data included.  Inserts are idempotent: a reading "
        "delivered twice (journal replay) is stored once.  Writes run on "
        "a writer thread in group-committed transactions.  When the disk "
        "is full or the file read-only the sink pauses (the data waits in "
        "the journal), says why in the log and in `kk_store_paused`, and "
        "resumes by itself.  Publishers and Lua read the store through the "
        "query API (`include/klimakit/store.h`).  See docs/storage.md.",
    .options = sq_options,
    .create = sq_create,
    .start = sq_start,
    .process = sq_process,
    .stop = sq_stop,
    .destroy = sq_destroy,
    .lua_open = kk_store_lua_open,
    .commands = sq_commands,
};
