/*
 * modules/store/sqlite/sqlite_writer.c - store.sqlite's writer: the
 * schema, the writer connection and the writer thread.
 *
 * Threads: sq_writer() is the writer thread's body and everything it
 * calls runs there; sq_open_writer() and sq_load_things() also run on
 * the loop thread in start(), before the writer thread exists, and
 * sq_close_writer() in destroy(), after it was joined.
 *
 * The writer takes every queued batch (up to `batch` readings) into one
 * transaction (sq_write in sqlite_txn.c; group commit: the busier the pipeline,
 * the bigger the transaction), inserts with INSERT OR IGNORE (a redelivered
 * reading never doubles), and sums only the rows that were really new per
 * (datastream, bucket), folding each bucket into the rollups with an
 * upsert as the rows leave it, before COMMIT.  Late data lands in old buckets
 * the same way; a duplicate changes nothing.  After COMMIT it counts the
 * batches as done and wakes the loop (sqlite.c finishes them there).
 *
 * Faults: when a transaction fails (disk full, read-only file, I/O error,
 * locked, damaged page) the writer rolls back, logs why once, sets the
 * gauge kk_store_paused{stage,reason} and counts
 * kk_store_write_errors_total, and retries the same batches with backoff
 * (250 ms doubling to `max_backoff`).
 */
#include <klimakit.h>
#include <klimakit/store_backend.h>
#include <klimakit/thing.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    /* 2: which klimakit wrote the store last (and created it), so that an
     * older release refusing a newer store can name the one to use. */
    "CREATE TABLE kk_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
};

#define SQ_UPSERT(table)                                                       \
  "INSERT INTO " table "(ds, bucket, count, sum, min, max, avg) "              \
  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?4 / ?3) ON CONFLICT(ds, bucket) DO "        \
  "UPDATE SET count = count + excluded.count, sum = sum + excluded.sum, "      \
  "min = min(min, excluded.min), max = max(max, excluded.max), "               \
  "avg = (sum + excluded.sum) / (count + excluded.count)"

/* A reading flagged KK_READING_UPDATE (a calculator's window re-emitted
 * after a late reading) replaces the stored value; the rollup buckets it
 * lies in are then recomputed from the raw rows. */
#define SQ_RECOMPUTE(table, width)                                             \
  "INSERT OR REPLACE INTO " table "(ds, bucket, count, sum, min, max, avg) "   \
  "SELECT ?1, ?2, count(*), total(value), min(value), max(value), "            \
  "avg(value) FROM observations WHERE ds = ?1 AND time >= ?2 AND time < ?2 "   \
  "+ " width

static const char *const sq_wsql[SQ_NW] = {
    [SQ_W_UPD] = "UPDATE observations SET value = ?3 WHERE ds = ?1 AND "
                 "time = ?2 AND value IS NOT ?3",
    [SQ_W_REHOUR] = SQ_RECOMPUTE("obs_hourly", "3600000"),
    [SQ_W_REDAY] = SQ_RECOMPUTE("obs_daily", "86400000"),
    [SQ_W_INS] = "INSERT OR IGNORE INTO observations(ds, time, value) "
                 "VALUES(?1, ?2, ?3)",
    [SQ_W_INSN] = NULL,  /* sq_insn_sql() */
    [SQ_W_HOURN] = NULL, /* sq_upsn_sql() */
    [SQ_W_DAYN] = NULL,
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

const char *const sq_reasons[SQ_NREASONS] = {"disk_full", "read_only", "io",
                                             "busy",      "damaged",   "other"};

static kk_metric_t *sq_err_metric(sq_state_t *s, int rc) {
  const char *r = sq_reason(rc);
  for (int i = 0; i < SQ_NREASONS; i++)
    if (strcmp(r, sq_reasons[i]) == 0) return s->m_err[i];
  return NULL;
}

/* ---- the writer connection ------------------------------------------ */

int sq_exec(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* kk_meta's `key` into buf (left as it is when the table or key is
 * missing: a store of schema version 1, or damage). */
static void sq_meta_get(sqlite3 *db, const char *key, char *buf, size_t len) {
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(db, "SELECT value FROM kk_meta WHERE key = ?1", -1, &q,
                         NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
    snprintf(buf, len, "%s", (const char *)sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
}

/* Before a migration changes an existing store: a consistent copy of it
 * as <path>.schema<ver>.bak (VACUUM INTO; a copy from an earlier attempt
 * is kept, the new one gets a time stamp).  Rolling back is stopping
 * klimakit, moving the copy over the database and running the old
 * release (docs/guide/upgrade.md).  No copy, no migration. */
static int sq_backup_before_migrating(sq_state_t *s, int ver, char *err,
                                      size_t errlen) {
  char dest[4200];
  snprintf(dest, sizeof dest, "%s.schema%d.bak", s->path, ver);
  if (access(dest, F_OK) == 0)
    snprintf(dest, sizeof dest, "%s.schema%d.%lld.bak", s->path, ver,
             (long long)kk_now_ms());
  char *sql = sqlite3_mprintf("VACUUM INTO %Q", dest);
  int rc = sql ? sq_exec(s->w, sql) : SQLITE_NOMEM;
  sqlite3_free(sql);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen,
             "%s: schema version %d needs migrating to %d, but the backup "
             "to %s failed (%s); nothing was changed",
             s->path, ver, SQ_SCHEMA_VERSION, dest, sqlite3_errmsg(s->w));
    return KK_EIO;
  }
  kk_log(KK_LOG_INFO, "store", s->name,
         "%s: schema version %d, backup before migrating to %d: %s", s->path,
         ver, SQ_SCHEMA_VERSION, dest);
  return 0;
}

/* Opens the database for writing, applies migrations, prepares the
 * statements.  Runs on the loop thread in start(), and on the writer
 * thread when it reopens a database that was read-only.  Returns 0 or a
 * negative code with the reason in err. */
/* SQ_W_INS for SQ_INS_ROWS rows: one statement step instead of 32 saves
 * a third of the insert's CPU time (bind, step and reset per row cost
 * about as much as the B-tree work). */
static void sq_insn_sql(char *buf, size_t len) {
  size_t at = (size_t)snprintf(
      buf, len, "INSERT OR IGNORE INTO observations(ds, time, value) VALUES");
  for (int i = 0; i < SQ_INS_ROWS && at < len; i++)
    at += (size_t)snprintf(buf + at, len - at, "%s(?,?,?)", i ? "," : "");
}

/* SQ_UPSERT for SQ_INS_ROWS buckets (ds, bucket, count, sum, min, max,
 * avg each; avg is bound as sum / count): a transaction of a town's
 * readings upserts one hourly and one daily bucket per datastream, some
 * thousands, and one step per 32 of them costs less than 32 steps. */
static void sq_upsn_sql(const char *table, char *buf, size_t len) {
  size_t at = (size_t)snprintf(
      buf, len, "INSERT INTO %s(ds, bucket, count, sum, min, max, avg) VALUES",
      table);
  for (int i = 0; i < SQ_INS_ROWS && at < len; i++)
    at +=
        (size_t)snprintf(buf + at, len - at, "%s(?,?,?,?,?,?,?)", i ? "," : "");
  if (at < len)
    snprintf(buf + at, len - at,
             " ON CONFLICT(ds, bucket) DO UPDATE SET count = count + "
             "excluded.count, sum = sum + excluded.sum, min = min(min, "
             "excluded.min), max = max(max, excluded.max), avg = (sum + "
             "excluded.sum) / (count + excluded.count)");
}

int sq_open_writer(sq_state_t *s, char *err, size_t errlen) {
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
    char cache[48];
    snprintf(cache, sizeof cache, "PRAGMA cache_size=-%llu",
             (unsigned long long)s->cache_kib);
    if (rc == SQLITE_OK) rc = sq_exec(s->w, cache);
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
    char by[96] = "a newer klimakit";
    sq_meta_get(s->w, "written_by", by, sizeof by);
    snprintf(err, errlen,
             "%s has schema version %d (written by %s), newer than this "
             "klimakit %s knows (%d); run that release again, or restore the "
             "backup made before the upgrade (docs/guide/upgrade.md)",
             s->path, ver, by, KK_VERSION_STRING, SQ_SCHEMA_VERSION);
    return KK_EINVAL;
  }
  if (ver > 0 && ver < SQ_SCHEMA_VERSION &&
      (rc = sq_backup_before_migrating(s, ver, err, errlen)) != 0)
    return rc;
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
  rc = sq_exec(s->w, "INSERT OR IGNORE INTO kk_meta VALUES('created_by', "
                     "'klimakit " KK_VERSION_STRING "');"
                     "INSERT OR REPLACE INTO kk_meta VALUES('written_by', "
                     "'klimakit " KK_VERSION_STRING "')");
  /* Not fatal: a read-only store is retried by the writer anyway. */
  if (rc != SQLITE_OK)
    kk_log(KK_LOG_DEBUG, "store", s->name, "%s: kk_meta: %s", s->path,
           sqlite3_errmsg(s->w));
  char insn[80 + SQ_INS_ROWS * 10], hourn[400 + SQ_INS_ROWS * 18],
      dayn[sizeof hourn];
  sq_insn_sql(insn, sizeof insn);
  sq_upsn_sql("obs_hourly", hourn, sizeof hourn);
  sq_upsn_sql("obs_daily", dayn, sizeof dayn);
  for (int i = 0; i < SQ_NW; i++) {
    const char *sql = i == SQ_W_INSN    ? insn
                      : i == SQ_W_HOURN ? hourn
                      : i == SQ_W_DAYN  ? dayn
                                        : sq_wsql[i];
    rc = sqlite3_prepare_v3(s->w, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->ws[i],
                            NULL);
    if (rc != SQLITE_OK) {
      snprintf(err, errlen, "preparing statements on %s: %s", s->path,
               sqlite3_errmsg(s->w));
      return KK_EIO;
    }
  }
  return 0;
}

void sq_close_writer(sq_state_t *s) {
  for (int i = 0; i < SQ_NW; i++) {
    sqlite3_finalize(s->ws[i]);
    s->ws[i] = NULL;
  }
  sqlite3_close(s->w);
  s->w = NULL;
}

/* Upserts a things object in the form of the `things` option:
 * { ["room-001"] = { location = <GeoJSON geometry or {lon, lat}>,
 *                    properties = { ... } }, ... }.  `merge`: the
 * properties are merged member by member into the stored ones (the
 * descriptions of klimakit/thing.h) instead of replacing them.  0, or
 * KK_ETYPE / KK_EIO with the reason in err. */
static int sq_upsert_things(sq_state_t *s, const char *json, int merge,
                            char *err, size_t errlen) {
  cJSON *root = cJSON_Parse(json);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    snprintf(err, errlen, "expected a table of things");
    return KK_ETYPE;
  }
  int rc = sq_exec(s->w, "BEGIN IMMEDIATE");
  sqlite3_stmt *up = NULL, *loc = NULL;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(
        s->w,
        merge ? "INSERT INTO things(name, properties) VALUES(?1, ?2) ON "
                "CONFLICT(name) DO UPDATE SET properties = "
                "json_patch(coalesce(properties, '{}'), excluded.properties)"
              : "INSERT INTO things(name, properties) VALUES(?1, ?2) ON "
                "CONFLICT(name) DO UPDATE SET properties = "
                "excluded.properties",
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
    snprintf(err, errlen, "%s", sqlite3_errmsg(s->w));
    sq_exec(s->w, "ROLLBACK");
  }
  sqlite3_finalize(up);
  sqlite3_finalize(loc);
  cJSON_Delete(root);
  return rc == SQLITE_OK ? 0 : KK_EIO;
}

/* Things and locations from the `things` option, upserted at start,
 * then the descriptions known so far. */
int sq_load_things(sq_state_t *s) {
  char err[512];
  if (s->things_json &&
      sq_upsert_things(s, s->things_json, 0, err, sizeof err) != 0) {
    kk_stage_error(s->st, "option things: %s", err);
    return KK_EINVAL;
  }
  sq_store_described(s);
  return 0;
}

void sq_store_described(sq_state_t *s) {
  if (!s->w || kk_things_version() <= s->things_version) return;
  uint64_t v;
  char *json = kk_things_json(s->things_version, &v), err[512];
  if (!json) return;
  if (sq_upsert_things(s, json, 1, err, sizeof err) == 0)
    s->things_version = v;
  else
    kk_log(KK_LOG_WARN, "store", s->name,
           "storing thing descriptions: %s (retried with the next "
           "transaction)",
           err);
  free(json);
}

/* ---- writer thread --------------------------------------------------- */

/* Deletes raw observations older than retain_ms; rollups stay.  Runs
 * after the first transaction, then at most hourly, and at stop. */
static void sq_retain(sq_state_t *s, int force) {
  int64_t now = kk_now_ms();
  if (!s->retain_ms || (!force && now < s->next_retain_ms)) return;
  s->next_retain_ms = now + KK_HOUR_MS;
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
           (unsigned long long)(s->retain_ms / KK_DAY_MS));
}

void sq_writer(void *arg) {
  sq_state_t *s = arg;
  kk_batch_t *take[SQ_TAKE_MAX];
  uint64_t backoff = 250;
  uv_mutex_lock(&s->lock);
  for (;;) {
    /* Idle: thing descriptions (klimakit/thing.h) are written within a
     * second, not only with the next readings. */
    while (s->qlen == 0 && !s->stopping) {
      if (s->w && kk_things_version() > s->things_version) {
        uv_mutex_unlock(&s->lock);
        sq_store_described(s);
        uv_mutex_lock(&s->lock);
      }
      if (s->qlen == 0 && !s->stopping) {
        s->waiting = 1;
        uv_cond_timedwait(&s->cond, &s->lock, 1000000000ull);
        s->waiting = 0;
      }
    }
    if (s->qlen == 0) break; /* stopping and drained */
    /* Linger (commit_interval): a transaction writes every page it
     * touched to the WAL, one per datastream at least, whether it holds
     * one reading of that datastream or fifty.  Waiting for more makes
     * the transactions large when data flows fast and costs a trickle
     * only that much latency. */
    /* Only while data flows: the first batch after a quiet spell (a
     * trickle, a test's burst, the dashboard's user waiting) is written
     * at once, later ones wait until commit_interval after that commit. */
    uint64_t until = s->last_commit_ns + s->linger_ns;
    while (!s->stopping && s->qreadings < s->linger_readings) {
      uint64_t now = uv_hrtime();
      if (now >= until) break;
      s->waiting = 2;
      int timeout = uv_cond_timedwait(&s->cond, &s->lock, until - now);
      s->waiting = 0;
      if (timeout) break;
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
    if (rc == SQLITE_OK) sq_store_described(s);
    uv_mutex_lock(&s->lock);
    if (rc == SQLITE_OK) {
      s->last_commit_ns = uv_hrtime();
      for (size_t i = 0; i < n; i++)
        kk_batch_unref(take[i]);
      s->qhead = (s->qhead + n) % s->qcap;
      s->qlen -= n;
      s->qreadings -= readings;
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
  if (clean) sq_store_described(s);
  uv_mutex_lock(&s->lock);
  s->exited = 1;
  uv_mutex_unlock(&s->lock);
  uv_async_send(&s->async);
}
