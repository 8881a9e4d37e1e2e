/*
 * modules/store/postgres/postgres_query.c - the query side of store.postgres.
 *
 * A separate, blocking libpq connection (opened on first use, reopened
 * once when it broke), so that queries never interleave with the sink's
 * non-blocking COPY traffic.  Queries are short and indexed; a caller on
 * the loop thread blocks it for the round trip.  Results come as text:
 * PostgreSQL (12+) prints doubles in the shortest form that reads back
 * exactly, and times are converted to epoch milliseconds in SQL.  Time
 * bounds go in as timestamptz literals, not as epoch arithmetic
 * (timestamptz + interval is only STABLE): constants let the planner
 * prune the monthly partitions instead of planning every one of them.
 */
#include <klimakit.h>
#include <klimakit/store.h>

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres/postgres_impl.h"

#define PG_MS(col) "(extract(epoch FROM " col ") * 1000)::int8"
#define PG_TS(p) p "::timestamptz"
#define PG_MATCH(col, a, b)                                                    \
  "($" a "::text IS NULL OR ($" b "::int = 0 AND " col " = $" a ") OR ($" b    \
  "::int = 1 AND left(" col ", length($" a ")) = $" a "))"

/* clang-format off */
static const char *const pgq_series_sql[3] = {
    "SELECT " PG_MS("time") ", 1, value, value, value, value "
    "FROM observations WHERE ds = $1 AND time >= " PG_TS("$2")
    " AND time < " PG_TS("$3") " ORDER BY time LIMIT $4",
    "SELECT " PG_MS("bucket") ", count, sum, min, max, avg "
    "FROM obs_hourly WHERE ds = $1 AND bucket >= " PG_TS("$2")
    " AND bucket < " PG_TS("$3") " ORDER BY bucket LIMIT $4",
    "SELECT " PG_MS("bucket") ", count, sum, min, max, avg "
    "FROM obs_daily WHERE ds = $1 AND bucket >= " PG_TS("$2")
    " AND bucket < " PG_TS("$3") " ORDER BY bucket LIMIT $4",
};

static const char *const pgq_agg_sql[3] = {
    "SELECT count(value), coalesce(sum(value), 0), min(value), max(value) "
    "FROM observations WHERE ds = $1 AND time >= " PG_TS("$2")
    " AND time < " PG_TS("$3"),
    "SELECT coalesce(sum(count), 0), coalesce(sum(sum), 0), min(min), "
    "max(max) FROM obs_hourly WHERE ds = $1 AND bucket >= " PG_TS("$2")
    " AND bucket < " PG_TS("$3"),
    "SELECT coalesce(sum(count), 0), coalesce(sum(sum), 0), min(min), "
    "max(max) FROM obs_daily WHERE ds = $1 AND bucket >= " PG_TS("$2")
    " AND bucket < " PG_TS("$3"),
};

/* obs_latest (schema version 2) is kept by the merge. */
static const char pgq_latest_sql[] =
    "SELECT " PG_MS("time") ", value FROM obs_latest WHERE ds = $1";

/* Binary order (COLLATE "C"), as SQLite sorts. */
static const char pgq_ds_sql[] =
    "SELECT d.id, t.name, d.property, d.unit, d.sector FROM datastreams d "
    "JOIN things t ON t.id = d.thing_id WHERE "
    PG_MATCH("t.name", "1", "2") " AND "
    PG_MATCH("d.property", "3", "4") " AND "
    PG_MATCH("d.unit", "5", "6") " AND "
    PG_MATCH("d.sector", "7", "8")
    " ORDER BY t.name COLLATE \"C\", d.property COLLATE \"C\", "
    "d.unit COLLATE \"C\"";

static const char pgq_things_sql[] =
    "SELECT t.id, t.name, l.geojson::text, t.properties::text FROM things t "
    "LEFT JOIN locations l ON l.thing_id = t.id WHERE "
    PG_MATCH("t.name", "1", "2") " ORDER BY t.name COLLATE \"C\"";
/* clang-format on */

typedef struct pgq {
  char *conninfo;
  PGconn *conn;
} pgq_t;

static int pgq_conn(pgq_t *p) {
  if (p->conn && PQstatus(p->conn) == CONNECTION_OK) return 0;
  PQfinish(p->conn);
  /* Queries may run on the loop thread: bound the connect (the string's
   * own connect_timeout, when it has one, wins: it comes later). */
  const char *const keys[] = {"connect_timeout", "dbname", NULL};
  const char *const vals[] = {"3", p->conninfo, NULL};
  p->conn = PQconnectdbParams(keys, vals, 1);
  if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
    kk_store_set_errmsg("cannot connect to PostgreSQL: %s",
                        p->conn ? PQerrorMessage(p->conn) : "out of memory");
    PQfinish(p->conn);
    p->conn = NULL;
    return KK_EIO;
  }
  PGresult *r = PQexec(p->conn, "SET TimeZone = 'UTC'");
  PQclear(r);
  return 0;
}

/* Runs a query with text parameters; retries once on a broken
 * connection (a database restart).  Caller PQclear()s *out. */
static int pgq_exec(pgq_t *p, const char *sql, int n, const char *const *v,
                    PGresult **out) {
  for (int attempt = 0; attempt < 2; attempt++) {
    int rc = pgq_conn(p);
    if (rc != 0) return rc;
    PGresult *r = PQexecParams(p->conn, sql, n, NULL, v, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      *out = r;
      return 0;
    }
    kk_store_set_errmsg("query failed: %s", PQerrorMessage(p->conn));
    PQclear(r);
    if (PQstatus(p->conn) == CONNECTION_OK) return KK_EIO;
  }
  return KK_EIO;
}

static char *pgq_text(PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static double pgq_num(PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}

/* Fills two parameter slots for a filter member. */
static void pgq_match(const char *v, char **slot, char *bufv, size_t n,
                      const char **pv, const char **pf) {
  if (!v) {
    *pv = NULL;
    *pf = "0";
    return;
  }
  size_t len = strlen(v);
  int prefix = len > 0 && v[len - 1] == '*';
  if (prefix && len - 1 < n) {
    memcpy(bufv, v, len - 1);
    bufv[len - 1] = 0;
    *pv = bufv;
  } else {
    *pv = v;
    prefix = 0;
  }
  *pf = prefix ? "1" : "0";
  (void)slot;
}

static int pgq_things(void *impl, const kk_store_filter_t *f,
                      kk_store_thing_list_t **out) {
  pgq_t *p = impl;
  char b[512];
  const char *v[2];
  pgq_match(f->thing, NULL, b, sizeof b, &v[0], &v[1]);
  PGresult *r;
  int rc = pgq_exec(p, pgq_things_sql, 2, v, &r);
  if (rc != 0) return rc;
  kk_store_thing_list_t *l = calloc(1, sizeof *l);
  int n = PQntuples(r);
  if (l && n) l->items = calloc((size_t)n, sizeof *l->items);
  if (!l || (n && !l->items)) {
    free(l);
    PQclear(r);
    return KK_ENOMEM;
  }
  for (int i = 0; i < n; i++) {
    kk_store_thing_t *t = &l->items[l->len++];
    t->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    t->name = pgq_text(r, i, 1);
    t->location = pgq_text(r, i, 2);
    t->properties = pgq_text(r, i, 3);
  }
  PQclear(r);
  *out = l;
  return 0;
}

static int pgq_datastreams(void *impl, const kk_store_filter_t *f,
                           kk_store_ds_list_t **out) {
  pgq_t *p = impl;
  char b[4][512];
  const char *v[8];
  pgq_match(f->thing, NULL, b[0], sizeof b[0], &v[0], &v[1]);
  pgq_match(f->property, NULL, b[1], sizeof b[1], &v[2], &v[3]);
  pgq_match(f->unit, NULL, b[2], sizeof b[2], &v[4], &v[5]);
  pgq_match(f->sector, NULL, b[3], sizeof b[3], &v[6], &v[7]);
  PGresult *r;
  int rc = pgq_exec(p, pgq_ds_sql, 8, v, &r);
  if (rc != 0) return rc;
  kk_store_ds_list_t *l = calloc(1, sizeof *l);
  int n = PQntuples(r);
  if (l && n) l->items = calloc((size_t)n, sizeof *l->items);
  if (!l || (n && !l->items)) {
    free(l);
    PQclear(r);
    return KK_ENOMEM;
  }
  for (int i = 0; i < n; i++) {
    kk_store_ds_t *d = &l->items[l->len++];
    d->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    d->thing = pgq_text(r, i, 1);
    d->property = pgq_text(r, i, 2);
    d->unit = pgq_text(r, i, 3);
    d->sector = pgq_text(r, i, 4);
  }
  PQclear(r);
  *out = l;
  return 0;
}

static int pgq_latest(void *impl, const int64_t *ids, size_t n,
                      kk_store_point_t *out) {
  pgq_t *p = impl;
  for (size_t i = 0; i < n; i++) {
    char id[32];
    const char *v[1] = {id};
    snprintf(id, sizeof id, "%lld", (long long)ids[i]);
    PGresult *r;
    int rc = pgq_exec(p, pgq_latest_sql, 1, v, &r);
    if (rc != 0) return rc;
    if (PQntuples(r) == 1) {
      double x = pgq_num(r, 0, 1);
      out[i] =
          (kk_store_point_t){.time_ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10),
                             .count = 1,
                             .sum = x,
                             .min = x,
                             .max = x,
                             .avg = x};
    }
    PQclear(r);
  }
  return 0;
}

/* A time bound as a timestamptz literal; before year 1 or after 9999
 * (the store keeps none there) it is -infinity / infinity. */
static void pgq_ts(int64_t ms, char out[48]) {
  int64_t sec = INT64_MIN;
  char cache[32];
  if (pg_time_text(ms, out, &sec, cache) == 0)
    snprintf(out, 48, "%s", ms < 0 ? "-infinity" : "infinity");
}

static int pgq_series(void *impl, int64_t id, int64_t from_ms, int64_t to_ms,
                      kk_store_res_t res, size_t limit,
                      kk_store_series_t *out) {
  pgq_t *p = impl;
  char a[4][48];
  const char *v[4] = {a[0], a[1], a[2], limit ? a[3] : NULL};
  snprintf(a[0], 48, "%lld", (long long)id);
  pgq_ts(from_ms, a[1]);
  pgq_ts(to_ms, a[2]);
  snprintf(a[3], 48, "%zu", limit + 1);
  PGresult *r;
  int rc = pgq_exec(p, pgq_series_sql[res], 4, v, &r);
  if (rc != 0) return rc;
  size_t cap = 0;
  int n = PQntuples(r);
  for (int i = 0; i < n && rc == 0; i++) {
    if (limit && out->len == limit) {
      out->truncated = 1;
      break;
    }
    kk_store_point_t pt = {.time_ms = strtoll(PQgetvalue(r, i, 0), NULL, 10),
                           .count = strtoll(PQgetvalue(r, i, 1), NULL, 10),
                           .sum = pgq_num(r, i, 2),
                           .min = pgq_num(r, i, 3),
                           .max = pgq_num(r, i, 4),
                           .avg = pgq_num(r, i, 5)};
    rc = kk_store_series_push(out, &cap, &pt);
  }
  PQclear(r);
  return rc;
}

static int pgq_agg(void *impl, int64_t id, int64_t from_ms, int64_t to_ms,
                   kk_store_res_t res, kk_store_point_t *out) {
  pgq_t *p = impl;
  char a[3][48];
  const char *v[3] = {a[0], a[1], a[2]};
  snprintf(a[0], 48, "%lld", (long long)id);
  pgq_ts(from_ms, a[1]);
  pgq_ts(to_ms, a[2]);
  PGresult *r;
  int rc = pgq_exec(p, pgq_agg_sql[res], 3, v, &r);
  if (rc != 0) return rc;
  out->count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  out->sum = pgq_num(r, 0, 1);
  out->min = pgq_num(r, 0, 2);
  out->max = pgq_num(r, 0, 3);
  PQclear(r);
  return 0;
}

static void pgq_close(void *impl) {
  pgq_t *p = impl;
  if (!p) return;
  PQfinish(p->conn);
  free(p->conninfo);
  free(p);
}

static int pgq_backup(void *impl, const char *dest) {
  return pg_backup(((pgq_t *)impl)->conninfo, dest);
}

static const kk_store_vtable_t pgq_vtable = {
    .things = pgq_things,
    .datastreams = pgq_datastreams,
    .latest = pgq_latest,
    .series = pgq_series,
    .agg = pgq_agg,
    .backup = pgq_backup,
    .close = pgq_close,
};

int pg_query_open(const char *conninfo, const char *name, int connect_now,
                  kk_store_t **out) {
  char why[320];
  if (pg_lib_check(why, sizeof why) != 0) {
    kk_store_set_errmsg("%s", why);
    return KK_EMISSING;
  }
  pgq_t *p = calloc(1, sizeof *p);
  if (!p || !(p->conninfo = strdup(conninfo))) {
    free(p);
    kk_store_set_errmsg("out of memory");
    return KK_ENOMEM;
  }
  if (connect_now) {
    int rc = pgq_conn(p);
    PGresult *r = NULL;
    if (rc == 0)
      rc = pgq_exec(p, "SELECT max(version) FROM schema_version", 0, NULL, &r);
    if (rc == 0 && (PQgetisnull(r, 0, 0) ||
                    atoi(PQgetvalue(r, 0, 0)) > PG_SCHEMA_VERSION)) {
      kk_store_set_errmsg("the database has no klimakit schema of a known "
                          "version");
      rc = KK_EINVAL;
    }
    PQclear(r);
    if (rc != 0) {
      pgq_close(p);
      return rc;
    }
  }
  *out = kk_store_new(name, "postgres", &pgq_vtable, p);
  if (!*out) {
    pgq_close(p);
    kk_store_set_errmsg("out of memory");
    return KK_ENOMEM;
  }
  return 0;
}

/* kk_store_open("postgres", conninfo): connects and checks the schema
 * at once, so that a wrong connection string fails here. */
static int pgq_open(const char *conninfo, kk_store_t **out) {
  return pg_query_open(conninfo, NULL, 1, out);
}

const kk_store_backend_t pgq_backend = {.name = "postgres", .open = pgq_open};
