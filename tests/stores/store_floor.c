/*
 * tests/stores/store_floor.c - kk-store-floor: the raw insert floors the
 * store benchmarks compare against, on the same table and data shape as
 * the store (round-robin over DS datastreams, one reading each per
 * interval, like source.simulate).
 *
 *   kk-store-floor sqlite PATH N DS INTERVAL_MS START_MS
 *       plain prepared INSERT into observations(ds, time, value)
 *       WITHOUT ROWID, WAL, synchronous=NORMAL, 262144 rows per
 *       transaction; no rollups, no duplicate check beyond the key.
 *   kk-store-floor postgres CONNINFO N DS INTERVAL_MS START_MS
 *       plain COPY into a table shaped like observations (partitioned by
 *       month, primary key (ds, time)), 262144 rows per COPY; values as
 *       text the way store.postgres writes them (kk_fmt_double),
 *       so that the server parses the same bytes.
 *
 * Values have the simulator's precision (CO2 in whole ppm, temperature
 * and humidity to 0.1, energy to 0.001), so both sides send the same
 * kind of numbers.
 *
 * Prints "<readings/s>".
 */
#include <libpq-fe.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <klimakit.h>

#define CHUNK 262144

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double value(long i) {
  static const double scale[4] = {1, 10, 10, 1000};
  double v = 400.0 + 300.0 * sin((double)i * 0.001), sc = scale[i % 4];
  return round(v * sc) / sc;
}

static int floor_sqlite(const char *path, long n, long nds, int64_t step,
                        int64_t start) {
  sqlite3 *db;
  sqlite3_stmt *q;
  if (sqlite3_open(path, &db) != SQLITE_OK) return 1;
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
               "PRAGMA cache_size=-65536;"
               "CREATE TABLE observations(ds INTEGER NOT NULL, time "
               "INTEGER NOT NULL, value REAL, PRIMARY KEY(ds, time)) "
               "WITHOUT ROWID",
               NULL, NULL, NULL);
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO observations(ds, time, value) "
                         "VALUES(?1, ?2, ?3)",
                         -1, &q, NULL) != SQLITE_OK)
    return 1;
  double t0 = now_s();
  for (long i = 0; i < n;) {
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (long k = 0; k < CHUNK && i < n; k++, i++) {
      sqlite3_bind_int64(q, 1, 1 + i % nds);
      sqlite3_bind_int64(q, 2, start + (i / nds) * step);
      sqlite3_bind_double(q, 3, value(i));
      if (sqlite3_step(q) != SQLITE_DONE) {
        fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
        return 1;
      }
      sqlite3_reset(q);
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return 1;
  }
  /* Closing checkpoints the WAL into the database, as the store's exit
   * does: part of the same work. */
  sqlite3_finalize(q);
  sqlite3_close(db);
  double t = now_s() - t0;
  printf("%.0f\n", (double)n / t);
  return 0;
}

static int pg_ok(PGconn *c, PGresult *r) {
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
           PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) fprintf(stderr, "postgres: %s", PQerrorMessage(c));
  PQclear(r);
  return ok;
}

static int floor_pg(const char *ci, long n, long nds, int64_t step,
                    int64_t start) {
  PGconn *c = PQconnectdb(ci);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "connect: %s", PQerrorMessage(c));
    return 1;
  }
  if (!pg_ok(c, PQexec(c, "SET TimeZone='UTC'; DROP TABLE IF EXISTS "
                          "floor_obs; CREATE TABLE floor_obs(ds bigint NOT "
                          "NULL, time timestamptz NOT NULL, value double "
                          "precision, PRIMARY KEY(ds, time)) PARTITION BY "
                          "RANGE (time)")))
    return 1;
  /* Partitions for every month of the data, before the clock starts. */
  int64_t end = start + (n / nds + 1) * step;
  for (int64_t t = start - 31LL * 86400000; t < end + 31LL * 86400000;
       t += 86400000LL * 28) {
    time_t s = (time_t)(t / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    int y = tm.tm_year + 1900, m = tm.tm_mon + 1;
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS floor_obs_%04d%02d PARTITION OF "
             "floor_obs FOR VALUES FROM ('%04d-%02d-01+00') TO "
             "('%04d-%02d-01+00')",
             y, m, y, m, m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
    if (!pg_ok(c, PQexec(c, sql))) return 1;
  }
  char *buf = malloc((size_t)CHUNK * 96);
  double t0 = now_s();
  char ts[64] = "";
  int64_t ts_for = INT64_MIN;
  for (long i = 0; i < n;) {
    size_t len = 0;
    for (long k = 0; k < CHUNK && i < n; k++, i++) {
      int64_t t = start + (i / nds) * step;
      if (t != ts_for) { /* one time per round: format it once */
        time_t s = (time_t)(t / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        size_t l = strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(ts + l, sizeof ts - l, ".%03d+00", (int)(t % 1000));
        ts_for = t;
      }
      len += (size_t)snprintf(buf + len, 96, "%ld\t%s\t", 1 + i % nds, ts);
      len += kk_fmt_double(value(i), buf + len);
      buf[len++] = '\n';
    }
    PGresult *cr = PQexec(c, "COPY floor_obs FROM STDIN");
    int in = PQresultStatus(cr) == PGRES_COPY_IN;
    PQclear(cr);
    if (!in) {
      fprintf(stderr, "copy: %s", PQerrorMessage(c));
      return 1;
    }
    if (PQputCopyData(c, buf, (int)len) != 1 || PQputCopyEnd(c, NULL) != 1)
      return 1;
    PGresult *r;
    while ((r = PQgetResult(c))) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "copy: %s", PQerrorMessage(c));
        return 1;
      }
      PQclear(r);
    }
  }
  double t = now_s() - t0;
  free(buf);
  PQclear(PQexec(c, "DROP TABLE floor_obs"));
  PQfinish(c);
  printf("%.0f\n", (double)n / t);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: kk-store-floor sqlite|postgres TARGET N DS "
                    "INTERVAL_MS START_MS\n");
    return 2;
  }
  long n = atol(argv[3]), nds = atol(argv[4]);
  int64_t step = atoll(argv[5]), start = atoll(argv[6]);
  if (strcmp(argv[1], "sqlite") == 0)
    return floor_sqlite(argv[2], n, nds, step, start);
  return floor_pg(argv[2], n, nds, step, start);
}
