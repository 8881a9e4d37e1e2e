/*
 * modules/store/postgres/postgres.c - store.postgres: the shared store.
 *
 * The same schema as store.sqlite (see docs/storage.md), with times as
 * timestamptz, observations partitioned by month (partitions created on
 * demand) and the JSON columns as jsonb.  Several klimakit nodes may
 * write to one database: every write is idempotent and the rollups are
 * maintained by the statement that inserts, from the rows it really
 * inserted.
 *
 * libpq runs non-blocking on the loop (uv_poll on PQsocket()).  process()
 * queues the batch (a reference) and returns KK_ASYNC; one transaction at
 * a time takes the queued batches (up to `batch` readings):
 *   1. new datastreams are upserted (once per process and datastream),
 *   2. missing monthly partitions are created (under an advisory lock, so
 *      that nodes do not race),
 *   3. BEGIN; SAVEPOINT; COPY observations FROM STDIN with the readings
 *      as text: the fast path, as cheap as a bare COPY.  The hourly and
 *      daily rollup deltas and the latest value per datastream are
 *      computed here while the text is built, and one statement folds
 *      them into obs_hourly, obs_daily and obs_latest (upserts of a few
 *      hundred rows instead of aggregating the batch in the server);
 *      COMMIT.
 *   4. When a key exists already (a redelivery after a crash, another
 *      node's write), the COPY fails with unique_violation: ROLLBACK TO
 *      SAVEPOINT, the same text is copied into a temporary staging table
 *      and merged with INSERT ... ON CONFLICT DO NOTHING RETURNING, so
 *      that only the rows really inserted reach the rollups; COMMIT.
 *   Readings flagged KK_READING_UPDATE (a calculator re-emitting a window
 *   after late data) are not copied: in the same transaction they replace
 *   the stored value (INSERT ... ON CONFLICT DO UPDATE) and the rollup
 *   buckets they lie in are recomputed from the raw rows.
 * Then the batches are finished in order.  Any failure (the connection
 * lost, the server restarting, a deadlock between nodes on a rollup row)
 * drops the connection, which rolls the transaction back; the sink stays
 * paused (batches unfinished, so the queue fills and sources pause; the
 * data waits in the journal), logs why once, sets kk_store_paused and
 * reconnects with backoff (250 ms doubling to `max_backoff`), then
 * retries the same batches.
 *
 * The connection string comes from the environment variable named by the
 * `env` option (libpq keywords or a postgresql:// URI), so that secrets
 * stay out of recipes.
 */
#include <klimakit.h>
#include <klimakit/store.h>

#include <cJSON.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/postgres/postgres_impl.h"

/* Schema versions 1 and 2; every statement is idempotent, and the whole script
 * runs under an advisory lock, so nodes starting together do not race. */
static const char pg_schema[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(7408201);"
    "CREATE TABLE IF NOT EXISTS schema_version(version int PRIMARY KEY,"
    " applied timestamptz NOT NULL DEFAULT now());"
    "DO $$ BEGIN IF (SELECT max(version) FROM schema_version) > 2 THEN"
    " RAISE EXCEPTION 'database schema version is newer than this klimakit"
    " (2)'; END IF; END $$;"
    "CREATE TABLE IF NOT EXISTS things(id bigserial PRIMARY KEY,"
    " name text NOT NULL UNIQUE, properties jsonb);"
    "CREATE TABLE IF NOT EXISTS locations(id bigserial PRIMARY KEY,"
    " thing_id bigint NOT NULL UNIQUE REFERENCES things(id), name text,"
    " geojson jsonb NOT NULL);"
    "CREATE TABLE IF NOT EXISTS datastreams(id bigserial PRIMARY KEY,"
    " thing_id bigint NOT NULL REFERENCES things(id), property text NOT NULL,"
    " unit text NOT NULL, sector text, UNIQUE(thing_id, property, unit));"
    "CREATE TABLE IF NOT EXISTS observations(ds bigint NOT NULL,"
    " time timestamptz NOT NULL, value double precision,"
    " PRIMARY KEY(ds, time)) PARTITION BY RANGE (time);"
    "CREATE TABLE IF NOT EXISTS obs_hourly(ds bigint NOT NULL,"
    " bucket timestamptz NOT NULL, count bigint NOT NULL,"
    " sum double precision NOT NULL, min double precision,"
    " max double precision, avg double precision, PRIMARY KEY(ds, bucket));"
    "CREATE TABLE IF NOT EXISTS obs_daily(ds bigint NOT NULL,"
    " bucket timestamptz NOT NULL, count bigint NOT NULL,"
    " sum double precision NOT NULL, min double precision,"
    " max double precision, avg double precision, PRIMARY KEY(ds, bucket));"
    "INSERT INTO schema_version(version) VALUES (1) ON CONFLICT DO NOTHING;"
    /* Version 2: the latest observation per datastream, so that "latest"
     * is one key lookup however many monthly partitions there are. */
    "CREATE TABLE IF NOT EXISTS obs_latest(ds bigint PRIMARY KEY,"
    " time timestamptz NOT NULL, value double precision);"
    "INSERT INTO obs_latest SELECT DISTINCT ON (ds) ds, time, value"
    " FROM observations WHERE NOT EXISTS (SELECT 1 FROM schema_version"
    " WHERE version = 2) ORDER BY ds, time DESC ON CONFLICT DO NOTHING;"
    "INSERT INTO schema_version(version) VALUES (2) ON CONFLICT DO NOTHING;"
    "COMMIT;"
    "SET TimeZone = 'UTC';"
    "CREATE TEMP TABLE IF NOT EXISTS kk_staging(ds bigint,"
    " time timestamptz, value double precision) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS kk_upd(ds bigint, time timestamptz,"
    " value double precision) ON COMMIT DELETE ROWS;";

#define PG_ROLLUP(table, unit, src)                                            \
  "INSERT INTO " table " AS o (ds, bucket, count, sum, min, max, avg) "        \
  "SELECT ds, date_trunc('" unit "', time), count(*), sum(value), "            \
  "min(value), max(value), avg(value) FROM " src " GROUP BY 1, 2 "             \
  "ORDER BY 1, 2 "                                                             \
  "ON CONFLICT (ds, bucket) DO UPDATE SET count = o.count + excluded.count, "  \
  "sum = o.sum + excluded.sum, min = least(o.min, excluded.min), "             \
  "max = greatest(o.max, excluded.max), "                                      \
  "avg = (o.sum + excluded.sum) / (o.count + excluded.count) RETURNING 1"

#define PG_LATEST(src)                                                         \
  "INSERT INTO obs_latest AS o (ds, time, value) SELECT DISTINCT ON (ds) "     \
  "ds, time, value FROM " src " ORDER BY ds, time DESC ON CONFLICT (ds) DO "   \
  "UPDATE SET time = excluded.time, value = excluded.value "                   \
  "WHERE excluded.time > o.time RETURNING 1"

/* The idempotent path: the rows are in kk_staging; only rows really
 * inserted reach the rollups.  Returns (inserted, staged). */
/* clang-format off */
static const char pg_merge[] =
    "WITH ins AS (INSERT INTO observations(ds, time, value) "
    "SELECT ds, time, value FROM kk_staging "
    "ON CONFLICT DO NOTHING RETURNING ds, time, value), "
    "h AS (" PG_ROLLUP("obs_hourly", "hour", "ins") "), "
    "d AS (" PG_ROLLUP("obs_daily", "day", "ins") "), "
    "l AS (" PG_LATEST("ins") ") "
    "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM kk_staging);";

/* The fast path's rollup deltas, computed by the sink: arrays of
 * (ds, bucket in ms since the epoch, count, sum, min, max). */
#define PG_FOLD(table)                                                         \
  "INSERT INTO " table " AS o (ds, bucket, count, sum, min, max, avg) "        \
  "SELECT ds, timestamptz 'epoch' + b * interval '1 millisecond', c, su, mi, " \
  "ma, su / c FROM unnest(%s) AS u(ds, b, c, su, mi, ma) ORDER BY 1, 2 "       \
  "ON CONFLICT (ds, bucket) DO UPDATE SET count = o.count + excluded.count, "  \
  "sum = o.sum + excluded.sum, min = least(o.min, excluded.min), "             \
  "max = greatest(o.max, excluded.max), "                                      \
  "avg = (o.sum + excluded.sum) / (o.count + excluded.count);"

/* Replaced values: kk_upd holds them (the last one per key); the rows are
 * upserted and every bucket they touch is recomputed from the raw rows. */
#define PG_RECOMPUTE(table, unit)                                              \
  "INSERT INTO " table " AS o (ds, bucket, count, sum, min, max, avg) "        \
  "SELECT x.ds, k.b, count(*), sum(x.value), min(x.value), max(x.value), "     \
  "avg(x.value) FROM (SELECT DISTINCT ds, date_trunc('" unit "', time) AS b "  \
  "FROM kk_upd) k JOIN observations x ON x.ds = k.ds AND x.time >= k.b AND "   \
  "x.time < k.b + interval '1 " unit "' GROUP BY 1, 2 ORDER BY 1, 2 "          \
  "ON CONFLICT (ds, bucket) DO UPDATE SET count = excluded.count, "            \
  "sum = excluded.sum, min = excluded.min, max = excluded.max, "               \
  "avg = excluded.avg;"
static const char pg_update_tail[] =
    "WITH u AS (INSERT INTO observations AS o (ds, time, value) "
    "SELECT ds, time, value FROM kk_upd ORDER BY ds, time "
    "ON CONFLICT (ds, time) DO UPDATE SET value = excluded.value "
    "WHERE o.value IS DISTINCT FROM excluded.value RETURNING 1) "
    "SELECT count(*) FROM u;"
    PG_RECOMPUTE("obs_hourly", "hour")
    PG_RECOMPUTE("obs_daily", "day")
    "INSERT INTO obs_latest AS o (ds, time, value) SELECT DISTINCT ON (ds) "
    "ds, time, value FROM kk_upd ORDER BY ds, time DESC ON CONFLICT (ds) DO "
    "UPDATE SET time = excluded.time, value = excluded.value "
    "WHERE excluded.time >= o.time;";
/* clang-format on */

static const char pg_resolve[] =
    "WITH t AS (INSERT INTO things(name) VALUES ($1) ON CONFLICT (name) DO "
    "UPDATE SET name = excluded.name RETURNING id) "
    "INSERT INTO datastreams(thing_id, property, unit, sector) "
    "SELECT id, $2, $3, $4 FROM t ON CONFLICT (thing_id, property, unit) DO "
    "UPDATE SET property = excluded.property RETURNING id";

typedef enum {
  PG_DOWN = 0, /* no connection; the retry timer runs */
  PG_CONNECTING,
  PG_SETUP, /* schema script */
  PG_IDLE,
  PG_RESOLVE, /* upserting one datastream */
  PG_PART,    /* creating partitions */
  PG_COPY_START,
  PG_COPY, /* sending COPY data */
  PG_FOLD, /* the fast path's rollups (and updates), COMMIT */
  PG_MERGE /* the idempotent merge (and updates), COMMIT */
} pg_phase_t;

typedef struct pg_state pg_state_t;

/* One transaction's data, built from its batches before it starts. */
typedef struct pg_txn {
  int ready;   /* built for the first `take` queued batches */
  size_t take; /* batches */
  char *buf;   /* COPY text: rows for observations and kk_staging alike */
  size_t len, cap, off;
  int64_t copied, skipped;
  kk_store_map_t hours, days; /* the fast path's rollup deltas */
  struct pg_latest {           /* by process datastream id */
    int64_t time;
    double value;
  } *latest;
  uint32_t *latest_ids; /* process ids with a latest value */
  size_t nlatest, caplatest;
  kk_buf_t upd; /* replaced values: SQL filling kk_upd */
} pg_txn_t;

/* One uv_poll per socket; freed in its close callback. */
typedef struct pg_poll {
  uv_poll_t h;
  pg_state_t *s;
  int fd, events;
} pg_poll_t;

struct pg_state {
  kk_stage_t *st;
  char *env, *conninfo;
  uint64_t max_backoff_ms, backoff;
  size_t txn_readings;
  char *things_json;
  cJSON *sectors;

  PGconn *conn;
  pg_poll_t *poll;
  uv_timer_t timer;
  int timer_init;
  pg_phase_t phase;
  int failed_result; /* a result of the current query failed */
  int fast;          /* the COPY goes into observations (else kk_staging) */
  int conflict;      /* the fast COPY met an existing key */
  char err[512];
  int paused;

  kk_batch_t **q; /* ring: queued batches, oldest first */
  size_t qhead, qlen, qcap;
  size_t take;    /* batches in the current transaction (= t[cur].take) */
  int64_t *dsmap; /* process datastream id -> store id */
  size_t ndsmap;
  uint32_t resolving;
  int *months; /* partitions known to exist: year * 12 + month */
  size_t nmonths, capmonths;
  /* t[cur] is the transaction being written; t[!cur] the next one,
   * prepared while the server works on this one's COPY. */
  pg_txn_t t[2];
  int cur;
  int64_t merged_new, merged_staged, updated;
  kk_buf_t sql; /* the statement that ends the transaction */

  int stopping, closing;
  size_t open_handles;
  kk_stop_cb stop_cb;
  kk_store_t *store;
  kk_metric_t *m_paused, *m_rows, *m_dups, *m_txns, *m_errors, *m_skipped,
      *m_updates, *m_slow;
};

static void pg_kick(pg_state_t *s);
static void pg_connect(pg_state_t *s);
static void pg_poll_cb(uv_poll_t *h, int status, int events);

/* ---- handles -------------------------------------------------------- */

static void pg_handle_closed(uv_handle_t *h) {
  pg_state_t *s = h->data;
  if (h != (uv_handle_t *)&s->timer) free(h);
  if (--s->open_handles == 0 && s->closing && s->stop_cb) s->stop_cb(s->st);
}

static void pg_poll_close(pg_state_t *s) {
  if (!s->poll) return;
  uv_poll_stop(&s->poll->h);
  s->poll->h.data = s;
  uv_close((uv_handle_t *)&s->poll->h, pg_handle_closed);
  s->poll = NULL;
}

/* Watches the connection's socket for `events`, re-creating the poll
 * when libpq changed sockets (reconnects, multi-host). */
static void pg_watch(pg_state_t *s, int events) {
  int fd = PQsocket(s->conn);
  if (s->poll && s->poll->fd != fd) pg_poll_close(s);
  if (!s->poll) {
    pg_poll_t *p = calloc(1, sizeof *p);
    if (!p || uv_poll_init(kk_stage_loop(s->st), &p->h, fd) != 0) {
      free(p);
      return; /* the retry timer will try again */
    }
    p->s = s;
    p->fd = fd;
    p->h.data = p;
    s->poll = p;
    s->open_handles++;
  }
  if (s->poll->events != events) {
    s->poll->events = events;
    uv_poll_start(&s->poll->h, events, pg_poll_cb);
  }
}

/* ---- failure and retry ---------------------------------------------- */

static void pg_retry_cb(uv_timer_t *t) {
  pg_state_t *s = t->data;
  if (!s->stopping) pg_connect(s);
}

static void pg_fail(pg_state_t *s, const char *what);

/* libpq enforces connect_timeout only for blocking connects: a host that
 * never answers would keep us connecting for ever. */
#define PG_CONNECT_TIMEOUT_MS 10000

static void pg_connect_timeout_cb(uv_timer_t *t) {
  pg_state_t *s = t->data;
  if (s->phase != PG_CONNECTING && s->phase != PG_SETUP) return;
  snprintf(s->err, sizeof s->err, "no answer within %d s",
           PG_CONNECT_TIMEOUT_MS / 1000);
  pg_fail(s, "cannot connect to PostgreSQL");
}

/* The connection is unusable or a statement failed: drop it (the server
 * rolls an open transaction back) and reconnect later. */
static void pg_fail(pg_state_t *s, const char *what) {
  kk_metric_add(s->m_errors, 1);
  if (!s->paused) {
    s->paused = 1;
    kk_metric_set(s->m_paused, 1);
    kk_stage_log(s->st, KK_LOG_ERROR,
                 "%s: %s; paused, the data waits in the journal, "
                 "reconnecting with backoff",
                 what, s->err[0] ? s->err : "connection lost");
  } else {
    kk_stage_log(s->st, KK_LOG_DEBUG, "%s: %s", what, s->err);
  }
  pg_poll_close(s);
  PQfinish(s->conn);
  s->conn = NULL;
  s->phase = PG_DOWN;
  s->take = 0;
  s->t[0].ready = s->t[1].ready = 0; /* rebuilt after the reconnect */
  /* Partitions believed to exist are checked again (one round trip): a
   * failure may have hit their creation, or retention dropped one. */
  s->nmonths = 0;
  if (s->stopping) {
    /* Unfinished batches are replayed from the journal next time. */
    s->closing = 1;
    if (s->timer_init) {
      s->timer_init = 0;
      uv_close((uv_handle_t *)&s->timer, pg_handle_closed);
    }
    return;
  }
  uv_timer_start(&s->timer, pg_retry_cb, s->backoff, 0);
  s->backoff =
      s->backoff * 2 > s->max_backoff_ms ? s->max_backoff_ms : s->backoff * 2;
}

static void pg_set_err(pg_state_t *s, const char *msg) {
  snprintf(s->err, sizeof s->err, "%s", msg ? msg : "");
  size_t n = strlen(s->err);
  while (n && (s->err[n - 1] == '\n' || s->err[n - 1] == ' '))
    s->err[--n] = 0;
}

/* ---- connecting ------------------------------------------------------ */

static void pg_connect_step(pg_state_t *s) {
  switch (PQconnectPoll(s->conn)) {
  case PGRES_POLLING_READING:
    pg_watch(s, UV_READABLE);
    break;
  case PGRES_POLLING_WRITING:
    pg_watch(s, UV_WRITABLE);
    break;
  case PGRES_POLLING_OK: {
    /* Things from the option are upserted with the schema script. */
    size_t extra = s->things_json ? strlen(s->things_json) * 4 + 1024 : 0;
    char *sql = malloc(sizeof pg_schema + extra);
    if (!sql) {
      pg_set_err(s, "out of memory");
      pg_fail(s, "setting up the schema");
      return;
    }
    memcpy(sql, pg_schema, sizeof pg_schema);
    cJSON *root = s->things_json ? cJSON_Parse(s->things_json) : NULL;
    size_t len = strlen(sql);
    for (cJSON *t = root ? root->child : NULL; t; t = t->next) {
      char *pj, *lj;
      kk_store_thing_json(t, &pj, &lj);
      char *n = PQescapeLiteral(s->conn, t->string, strlen(t->string));
      char *pe = pj ? PQescapeLiteral(s->conn, pj, strlen(pj)) : NULL;
      char *le = lj ? PQescapeLiteral(s->conn, lj, strlen(lj)) : NULL;
      if (n)
        len += (size_t)snprintf(
            sql + len, sizeof pg_schema + extra - len,
            "INSERT INTO things(name, properties) VALUES (%s, %s::jsonb) ON "
            "CONFLICT (name) DO UPDATE SET properties = excluded.properties;",
            n, pe ? pe : "NULL");
      if (n && le)
        len += (size_t)snprintf(
            sql + len, sizeof pg_schema + extra - len,
            "INSERT INTO locations(thing_id, name, geojson) SELECT id, name, "
            "%s::jsonb FROM things WHERE name = %s ON CONFLICT (thing_id) DO "
            "UPDATE SET geojson = excluded.geojson;",
            le, n);
      PQfreemem(n);
      PQfreemem(pe);
      PQfreemem(le);
      free(pj);
      free(lj);
    }
    cJSON_Delete(root);
    s->phase = PG_SETUP;
    s->failed_result = 0;
    int ok = PQsendQuery(s->conn, sql);
    free(sql);
    if (!ok) {
      pg_set_err(s, PQerrorMessage(s->conn));
      pg_fail(s, "setting up the schema");
      return;
    }
    pg_watch(s, UV_READABLE | UV_WRITABLE);
    break;
  }
  default:
    pg_set_err(s, PQerrorMessage(s->conn));
    pg_fail(s, "cannot connect to PostgreSQL");
  }
}

static void pg_connect(pg_state_t *s) {
  s->phase = PG_CONNECTING;
  s->conn = PQconnectStart(s->conninfo);
  if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD) {
    pg_set_err(s, s->conn ? PQerrorMessage(s->conn) : "out of memory");
    pg_fail(s, "cannot connect to PostgreSQL");
    return;
  }
  PQsetnonblocking(s->conn, 1);
  pg_watch(s, UV_WRITABLE);
  uv_timer_start(&s->timer, pg_connect_timeout_cb, PG_CONNECT_TIMEOUT_MS, 0);
}

/* ---- one transaction ------------------------------------------------- */

static int pg_reserve(pg_txn_t *t, size_t n) {
  if (t->len + n <= t->cap) return 0;
  size_t ncap = t->cap ? t->cap : 1 << 20;
  while (ncap < t->len + n)
    ncap *= 2;
  char *nb = realloc(t->buf, ncap);
  if (!nb) return KK_ENOMEM;
  t->buf = nb;
  t->cap = ncap;
  return 0;
}

static int pg_month(int64_t ms) {
  time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

/* The month of ms and its bounds [lo, hi) in ms, so that loops over
 * readings call gmtime only when a reading leaves the last month. */
static int pg_month_span(int64_t ms, int64_t *lo, int64_t *hi) {
  int m = pg_month(ms);
  struct tm a = {.tm_year = m / 12 - 1900, .tm_mon = m % 12, .tm_mday = 1};
  struct tm b = {.tm_year = (m + 1) / 12 - 1900,
                 .tm_mon = (m + 1) % 12,
                 .tm_mday = 1};
  *lo = (int64_t)timegm(&a) * 1000;
  *hi = (int64_t)timegm(&b) * 1000;
  return m;
}

static int pg_month_known(pg_state_t *s, int m) {
  for (size_t i = 0; i < s->nmonths; i++)
    if (s->months[i] == m) return 1;
  return 0;
}

static kk_batch_t *pg_batch(pg_state_t *s, size_t i) {
  return s->q[(s->qhead + i) % s->qcap];
}

/* Formats ms since the epoch as a timestamptz literal in UTC
 * ("2025-01-01 00:05:00.000+00"); sec and cache remember the last
 * second formatted.  Returns the length, or 0 outside years 1-9999. */
size_t pg_time_text(int64_t ms, char out[48], int64_t *sec, char cache[32]) {
  /* 0001-01-01T00:00Z to 9999-12-31T23:59:59.999Z; checked first, so
   * that the arithmetic below cannot overflow (a Lua query may pass
   * math.mininteger). */
  if (ms < -62135596800000LL || ms > 253402300799999LL) return 0;
  int64_t sc = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  if (sc != *sec) {
    time_t t = (time_t)sc;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 ||
        tm.tm_year + 1900 > 9999)
      return 0;
    snprintf(cache, 32, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    *sec = sc;
  }
  return (size_t)snprintf(out, 48, "%s.%03d+00", cache, (int)(ms - sc * 1000));
}

/* Appends one array literal of the map's field k (0 ds, 1 bucket,
 * 2 count, 3 sum, 4 min, 5 max). */
static void pg_map_array(kk_buf_t *b, const kk_store_map_t *m, int k) {
  kk_buf_puts(b, "'{");
  int first = 1;
  for (size_t i = 0; i < m->cap; i++) {
    const kk_store_delta_t *d = &m->slot[i];
    if (!d->count) continue;
    if (!first) kk_buf_put(b, ",", 1);
    first = 0;
    if (k < 3)
      kk_buf_printf(b, "%lld",
                   (long long)(k == 0 ? d->ds : k == 1 ? d->bucket : d->count));
    else
      kk_buf_printf(b, "%.17g", k == 3 ? d->sum : k == 4 ? d->min : d->max);
  }
  kk_buf_puts(b, k < 3 ? "}'::bigint[]" : "}'::float8[]");
}

static void pg_fold_sql(kk_buf_t *b, const kk_store_map_t *m,
                        const char *fmt) {
  if (!m->len) return;
  kk_buf_t args = {0};
  for (int k = 0; k < 6; k++) {
    if (k) kk_buf_puts(&args, ", ");
    pg_map_array(&args, m, k);
  }
  if (args.oom) b->oom = 1;
  else kk_buf_printf(b, fmt, args.p);
  kk_buf_free(&args);
}

/* Builds t from the `take` queued batches from index `first`: the COPY
 * text, the fast path's rollup deltas and latest values, and the SQL for
 * replaced values.  Every datastream must be resolved.  Returns 0 or
 * KK_ENOMEM. */
static int pg_prepare(pg_state_t *s, pg_txn_t *t, size_t first, size_t take) {
  t->ready = 0;
  t->take = take;
  t->len = t->off = 0;
  t->copied = t->skipped = 0;
  kk_buf_free(&t->upd);
  kk_store_map_clear(&t->hours);
  kk_store_map_clear(&t->days);
  for (size_t i = 0; i < t->nlatest; i++)
    t->latest[t->latest_ids[i]].time = INT64_MIN;
  t->nlatest = 0;
  if (t->caplatest < s->ndsmap) {
    struct pg_latest *nl = realloc(t->latest, s->ndsmap * sizeof *nl);
    if (!nl) return KK_ENOMEM;
    t->latest = nl;
    uint32_t *ni = realloc(t->latest_ids, s->ndsmap * sizeof *ni);
    if (!ni) return KK_ENOMEM;
    t->latest_ids = ni;
    for (size_t i = t->caplatest; i < s->ndsmap; i++)
      t->latest[i].time = INT64_MIN;
    t->caplatest = s->ndsmap;
  }
  kk_buf_t ud = {0}, ut = {0}, uv = {0}; /* replaced values as arrays */
  int64_t skipped = 0, sec = INT64_MIN;
  int rc = 0;
  char cache[32], ts[48];
  for (size_t k = first; k < first + take; k++) {
    const kk_reading_t *r = kk_batch_readings(pg_batch(s, k));
    size_t n = kk_batch_len(pg_batch(s, k));
    if (pg_reserve(t, n * 80) != 0) {
      rc = KK_ENOMEM;
      goto out;
    }
    for (size_t i = 0; i < n; i++) {
      int64_t sid = r[i].ds < s->ndsmap ? s->dsmap[r[i].ds] : 0;
      size_t tl = sid && isfinite(r[i].value)
                      ? pg_time_text(r[i].time_ms, ts, &sec, cache)
                      : 0;
      if (!tl) {
        skipped++;
        continue;
      }
      if (r[i].flags & KK_READING_UPDATE) {
        const char *sep = ud.len ? "," : "";
        kk_buf_printf(&ud, "%s%lld", sep, (long long)sid);
        kk_buf_printf(&ut, "%s%lld", sep, (long long)r[i].time_ms);
        char num[32];
        kk_fmt_double(r[i].value, num);
        kk_buf_printf(&uv, "%s%s", sep, num);
        continue;
      }
      /* "ds\ttime\tvalue\n" by hand: printf costs more than the rest of
       * the client's work together. */
      char *o = t->buf + t->len, *o0 = o;
      char digits[24];
      int nd = 0;
      for (uint64_t u = (uint64_t)sid; u; u /= 10)
        digits[nd++] = (char)('0' + u % 10);
      while (nd)
        *o++ = digits[--nd];
      *o++ = '\t';
      memcpy(o, ts, tl);
      o += tl;
      *o++ = '\t';
      o += kk_fmt_double(r[i].value, o);
      *o++ = '\n';
      t->len += (size_t)(o - o0);
      t->copied++;
      double v = r[i].value;
      if (kk_store_map_put(&t->hours, sid,
                            kk_store_bucket(r[i].time_ms, KK_HOUR_MS),
                            1, v, v, v) != 0) {
        rc = KK_ENOMEM;
        goto out;
      }
      struct pg_latest *l = &t->latest[r[i].ds];
      if (l->time == INT64_MIN) t->latest_ids[t->nlatest++] = r[i].ds;
      if (r[i].time_ms >= l->time) {
        l->time = r[i].time_ms;
        l->value = v;
      }
    }
  }
  t->skipped = skipped;
  if (kk_store_map_days(&t->hours, &t->days) != 0) {
    rc = KK_ENOMEM;
    goto out;
  }
  if (ud.len) {
    /* The last value given for a key wins (WITH ORDINALITY). */
    kk_buf_puts(&t->upd, "INSERT INTO kk_upd SELECT DISTINCT ON (ds, t) ds, "
                        "timestamptz 'epoch' + t * interval '1 millisecond', "
                        "v FROM unnest('{");
    kk_buf_put(&t->upd, ud.p, ud.len);
    kk_buf_puts(&t->upd, "}'::bigint[], '{");
    kk_buf_put(&t->upd, ut.p, ut.len);
    kk_buf_puts(&t->upd, "}'::bigint[], '{");
    kk_buf_put(&t->upd, uv.p, uv.len);
    kk_buf_puts(&t->upd, "}'::float8[]) WITH ORDINALITY AS u(ds, t, v, n) "
                        "ORDER BY ds, t, n DESC;");
    kk_buf_puts(&t->upd, pg_update_tail);
  }
  if (ud.oom || ut.oom || uv.oom || t->upd.oom) rc = KK_ENOMEM;
out:
  kk_buf_free(&ud);
  kk_buf_free(&ut);
  kk_buf_free(&uv);
  if (rc) return rc;
  t->ready = 1;
  return 0;
}

/* The statement that ends the transaction: the fast path's rollups and
 * latest values, or the idempotent merge; then replaced values; COMMIT. */
static int pg_finish_sql(pg_state_t *s) {
  kk_buf_t *b = &s->sql;
  pg_txn_t *t = &s->t[s->cur];
  kk_buf_free(b);
  if (s->fast) {
    pg_fold_sql(b, &t->hours, PG_FOLD("obs_hourly"));
    pg_fold_sql(b, &t->days, PG_FOLD("obs_daily"));
    if (t->nlatest) {
      kk_buf_puts(b, "INSERT INTO obs_latest AS o (ds, time, value) SELECT "
                    "ds, timestamptz 'epoch' + t * interval '1 millisecond', "
                    "v FROM unnest('{");
      for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < t->nlatest; i++) {
          uint32_t id = t->latest_ids[i];
          const char *sep = i ? "," : "";
          if (k == 0)
            kk_buf_printf(b, "%s%lld", sep, (long long)s->dsmap[id]);
          else if (k == 1)
            kk_buf_printf(b, "%s%lld", sep, (long long)t->latest[id].time);
          else
            kk_buf_printf(b, "%s%.17g", sep, t->latest[id].value);
        }
        kk_buf_puts(b, k == 0   ? "}'::bigint[], '{"
                      : k == 1 ? "}'::bigint[], '{"
                               : "}'::float8[]) AS u(ds, t, v) ORDER BY 1 ");
      }
      kk_buf_puts(b, "ON CONFLICT (ds) DO UPDATE SET time = excluded.time, "
                    "value = excluded.value WHERE excluded.time > o.time;");
    }
    s->merged_new = s->merged_staged = t->copied;
  } else {
    kk_buf_puts(b, pg_merge);
  }
  if (t->upd.len) kk_buf_put(b, t->upd.p, t->upd.len);
  kk_buf_puts(b, "COMMIT");
  return b->oom ? KK_ENOMEM : 0;
}

/* Batches from queue index `first` for one transaction: up to
 * txn_readings readings, at least one batch. */
static size_t pg_take_count(pg_state_t *s, size_t first) {
  size_t n = 0, readings = 0;
  while (first + n < s->qlen && (n == 0 || readings < s->txn_readings)) {
    readings += kk_batch_len(pg_batch(s, first + n));
    n++;
  }
  return n;
}

/* While the server works on this transaction's COPY, the next one's data
 * is built, when its datastreams and partitions need no round trip; the
 * client's work then overlaps the server's instead of adding to it. */
static void pg_prefetch(pg_state_t *s) {
  pg_txn_t *t = &s->t[!s->cur];
  size_t first = s->take;
  if (t->ready || first >= s->qlen) return;
  size_t n = pg_take_count(s, first);
  int64_t lo = 0, hi = 0;
  for (size_t k = first; k < first + n; k++) {
    const kk_reading_t *r = kk_batch_readings(pg_batch(s, k));
    size_t len = kk_batch_len(pg_batch(s, k));
    for (size_t i = 0; i < len; i++) {
      if (!(r[i].ds < s->ndsmap && s->dsmap[r[i].ds]) &&
          kk_datastream_get(r[i].ds))
        return; /* a new datastream: pg_next resolves it */
      if (r[i].time_ms >= lo && r[i].time_ms < hi) continue;
      int m = pg_month_span(r[i].time_ms, &lo, &hi);
      if (m >= 12 && m < 10000 * 12 && !pg_month_known(s, m)) return;
    }
  }
  if (pg_prepare(s, t, first, n) != 0) t->ready = 0; /* built later */
}

/* Next step of the transaction over the first s->take batches. */
static void pg_next(pg_state_t *s) {
  /* 1. datastreams */
  for (size_t k = 0; k < s->take; k++) {
    const kk_reading_t *r = kk_batch_readings(pg_batch(s, k));
    size_t n = kk_batch_len(pg_batch(s, k));
    for (size_t i = 0; i < n; i++) {
      if (r[i].ds < s->ndsmap && s->dsmap[r[i].ds]) continue;
      const kk_datastream_t *d = kk_datastream_get(r[i].ds);
      if (!d) continue;
      cJSON *sj = cJSON_GetObjectItemCaseSensitive(s->sectors, d->property);
      const char *v[4] = {d->thing, d->property, d->unit,
                          cJSON_IsString(sj) ? sj->valuestring : NULL};
      s->resolving = r[i].ds;
      s->phase = PG_RESOLVE;
      if (!PQsendQueryParams(s->conn, pg_resolve, 4, NULL, v, NULL, NULL, 0)) {
        pg_set_err(s, PQerrorMessage(s->conn));
        pg_fail(s, "upserting a datastream");
        return;
      }
      pg_watch(s, UV_READABLE | UV_WRITABLE);
      return;
    }
  }
  /* 2. partitions */
  char sql[8192];
  size_t len = (size_t)snprintf(
      sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(7408202);");
  int nnew = 0, seen[16];
  for (size_t k = 0; k < s->take && nnew < 16; k++) {
    const kk_reading_t *r = kk_batch_readings(pg_batch(s, k));
    size_t n = kk_batch_len(pg_batch(s, k));
    int64_t lo = 0, hi = 0; /* the month handled last */
    for (size_t i = 0; i < n && nnew < 16; i++) {
      if (r[i].time_ms >= lo && r[i].time_ms < hi) continue;
      int m = pg_month_span(r[i].time_ms, &lo, &hi);
      if (m < 12 || m >= 10000 * 12) continue; /* skipped in the COPY */
      if (pg_month_known(s, m)) continue;
      int dup = 0;
      for (int j = 0; j < nnew; j++)
        dup |= seen[j] == m;
      if (dup) continue;
      seen[nnew++] = m;
      int y = m / 12, mo = m % 12 + 1, y2 = (m + 1) / 12,
          mo2 = (m + 1) % 12 + 1;
      len += (size_t)snprintf(
          sql + len, sizeof sql - len,
          "CREATE TABLE IF NOT EXISTS observations_y%04dm%02d PARTITION OF "
          "observations FOR VALUES FROM ('%04d-%02d-01 00:00:00+00') TO "
          "('%04d-%02d-01 00:00:00+00');",
          y, mo, y, mo, y2, mo2);
    }
  }
  if (nnew) {
    snprintf(sql + len, sizeof sql - len, "COMMIT;");
    for (int j = 0; j < nnew; j++) {
      if (s->nmonths == s->capmonths) {
        size_t nc = s->capmonths ? s->capmonths * 2 : 32;
        int *nm = realloc(s->months, nc * sizeof *nm);
        if (!nm) {
          pg_set_err(s, "out of memory");
          pg_fail(s, "creating partitions");
          return;
        }
        s->months = nm;
        s->capmonths = nc;
      }
      /* Counted as known now; any failure (pg_fail) empties the list. */
      s->months[s->nmonths++] = seen[j];
    }
    s->phase = PG_PART;
    if (!PQsendQuery(s->conn, sql)) {
      pg_set_err(s, PQerrorMessage(s->conn));
      pg_fail(s, "creating partitions");
      return;
    }
    pg_watch(s, UV_READABLE | UV_WRITABLE);
    return;
  }
  /* 3. COPY text, rollup deltas, latest values, replaced values (built
   * already when it was prepared during the previous transaction) */
  pg_txn_t *t = &s->t[s->cur];
  if (!(t->ready && t->take == s->take) && pg_prepare(s, t, 0, s->take) != 0) {
    pg_set_err(s, "out of memory");
    pg_fail(s, "building COPY data");
    return;
  }
  s->phase = PG_COPY_START;
  s->fast = 1;
  if (!PQsendQuery(s->conn, "BEGIN; SAVEPOINT kk_fast; "
                            "COPY observations(ds, time, value) FROM STDIN")) {
    pg_set_err(s, PQerrorMessage(s->conn));
    pg_fail(s, "starting COPY");
    return;
  }
  pg_watch(s, UV_READABLE | UV_WRITABLE);
}

/* Sends COPY data as far as the socket takes it.  Returns 1 when all is
 * sent and the end marked, 0 to wait for writability, -1 on error. */
static int pg_copy_send(pg_state_t *s) {
  pg_txn_t *t = &s->t[s->cur];
  while (t->off < t->len) {
    size_t n = t->len - t->off;
    if (n > (1u << 20)) n = 1u << 20;
    int rc = PQputCopyData(s->conn, t->buf + t->off, (int)n);
    if (rc < 0) return -1;
    if (rc == 0) return 0;
    t->off += n;
  }
  if (t->off == t->len) {
    int rc = PQputCopyEnd(s->conn, NULL);
    if (rc < 0) return -1;
    if (rc == 0) return 0;
    t->off = t->len + 1; /* end sent */
  }
  return 1;
}

/* The current query finished (every result read). */
static void pg_query_done(pg_state_t *s) {
  if (s->failed_result) {
    const char *what = s->phase == PG_SETUP     ? "setting up the schema"
                       : s->phase == PG_RESOLVE ? "upserting a datastream"
                       : s->phase == PG_PART    ? "creating partitions"
                                                : "writing observations";
    pg_fail(s, what);
    return;
  }
  switch (s->phase) {
  case PG_SETUP:
    uv_timer_stop(&s->timer);
    kk_stage_log(s->st, s->paused ? KK_LOG_WARN : KK_LOG_INFO,
                 "connected to PostgreSQL%s", s->paused ? "; resumed" : "");
    s->phase = PG_IDLE;
    pg_watch(s, UV_READABLE);
    pg_kick(s);
    break;
  case PG_RESOLVE:
  case PG_PART:
    pg_next(s);
    break;
  case PG_COPY_START:
  case PG_COPY:
    if (s->fast && s->conflict) {
      /* A key exists already: the same rows through kk_staging. */
      s->fast = 0;
      s->conflict = 0;
      kk_metric_add(s->m_slow, 1);
      s->phase = PG_COPY_START;
      s->t[s->cur].off = 0;
      if (!PQsendQuery(s->conn, "ROLLBACK TO SAVEPOINT kk_fast; "
                                "COPY kk_staging FROM STDIN")) {
        pg_set_err(s, PQerrorMessage(s->conn));
        pg_fail(s, "starting COPY");
        return;
      }
      pg_watch(s, UV_READABLE | UV_WRITABLE);
      break;
    }
    if (pg_finish_sql(s) != 0) {
      pg_set_err(s, "out of memory");
      pg_fail(s, "merging");
      return;
    }
    s->phase = s->fast ? PG_FOLD : PG_MERGE;
    if (!PQsendQuery(s->conn, s->sql.p)) {
      pg_set_err(s, PQerrorMessage(s->conn));
      pg_fail(s, "merging");
      return;
    }
    pg_watch(s, UV_READABLE | UV_WRITABLE);
    break;
  case PG_FOLD:
  case PG_MERGE: {
    size_t n = s->take;
    s->take = 0;
    s->phase = PG_IDLE;
    s->backoff = 250;
    if (s->paused) {
      s->paused = 0;
      kk_metric_set(s->m_paused, 0);
      kk_stage_log(s->st, KK_LOG_WARN, "writing works again; resumed");
    }
    kk_metric_add(s->m_rows, s->merged_new);
    kk_metric_add(s->m_dups, s->merged_staged - s->merged_new);
    kk_metric_add(s->m_txns, 1);
    kk_metric_add(s->m_updates, s->updated);
    kk_metric_add(s->m_skipped, s->t[s->cur].skipped);
    kk_buf_free(&s->sql);
    /* The next transaction's data may be built already. */
    s->t[s->cur].ready = 0;
    s->cur = !s->cur;
    for (size_t i = 0; i < n; i++) {
      kk_batch_unref(pg_batch(s, 0));
      s->qhead = (s->qhead + 1) % s->qcap;
      s->qlen--;
      kk_stage_done(s->st);
    }
    pg_watch(s, UV_READABLE);
    pg_kick(s);
    break;
  }
  default:
    break;
  }
}

static void pg_result(pg_state_t *s, PGresult *r) {
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COPY_IN) {
    if (s->phase != PG_COPY_START) return; /* already sending */
    s->phase = PG_COPY;
    s->t[s->cur].off = 0;
    return;
  }
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (s->fast && s->phase == PG_COPY_START && state &&
        strcmp(state, "23505") == 0) {
      s->conflict = 1; /* unique_violation: take the idempotent path */
      return;
    }
    if (!s->failed_result) pg_set_err(s, PQresultErrorMessage(r));
    s->failed_result = 1;
    return;
  }
  if (s->phase == PG_RESOLVE && st == PGRES_TUPLES_OK && PQntuples(r) == 1) {
    uint32_t id = s->resolving;
    if (id >= s->ndsmap) {
      size_t n = s->ndsmap ? s->ndsmap : 256;
      while (n <= id)
        n *= 2;
      int64_t *nm = realloc(s->dsmap, n * sizeof *nm);
      if (!nm) {
        s->failed_result = 1;
        pg_set_err(s, "out of memory");
        return;
      }
      memset(nm + s->ndsmap, 0, (n - s->ndsmap) * sizeof *nm);
      s->dsmap = nm;
      s->ndsmap = n;
    }
    s->dsmap[id] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  } else if ((s->phase == PG_MERGE || s->phase == PG_FOLD) &&
             st == PGRES_TUPLES_OK && PQntuples(r) == 1) {
    if (PQnfields(r) == 2) { /* pg_merge: (inserted, staged) */
      s->merged_new = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
      s->merged_staged = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    } else if (PQnfields(r) == 1) { /* pg_update_tail: values replaced */
      s->updated = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
  }
}

static void pg_poll_cb(uv_poll_t *h, int status, int events) {
  pg_poll_t *p = h->data;
  pg_state_t *s = p->s;
  if (status < 0) {
    pg_set_err(s, uv_strerror(status));
    pg_fail(s, "socket error");
    return;
  }
  if (s->phase == PG_CONNECTING) {
    pg_connect_step(s);
    return;
  }
  if (events & UV_WRITABLE) {
    if (s->phase == PG_COPY) {
      int rc = pg_copy_send(s);
      if (rc < 0) {
        pg_set_err(s, PQerrorMessage(s->conn));
        pg_fail(s, "sending COPY data");
        return;
      }
      if (rc == 1) {
        s->phase = PG_COPY_START; /* wait for its result */
        if (s->fast) pg_prefetch(s);
      }
    }
    int f = PQflush(s->conn);
    if (f < 0) {
      pg_set_err(s, PQerrorMessage(s->conn));
      pg_fail(s, "sending");
      return;
    }
    if (f == 0 && s->phase != PG_COPY) pg_watch(s, UV_READABLE);
  }
  if (events & UV_READABLE) {
    if (!PQconsumeInput(s->conn)) {
      pg_set_err(s, PQerrorMessage(s->conn));
      pg_fail(s, "the connection to PostgreSQL was lost");
      return;
    }
    /* While COPY data is still going out, PQgetResult would only
     * repeat the COPY_IN result. */
    while (s->conn && s->phase != PG_COPY && !PQisBusy(s->conn)) {
      PGresult *r = PQgetResult(s->conn);
      if (!r) {
        if (s->phase != PG_IDLE && s->phase != PG_DOWN) pg_query_done(s);
        break;
      }
      pg_phase_t before = s->phase;
      pg_result(s, r);
      PQclear(r);
      if (before != PG_COPY && s->phase == PG_COPY) {
        /* COPY IN started: send the data now. */
        int rc = pg_copy_send(s);
        if (rc < 0) {
          pg_set_err(s, PQerrorMessage(s->conn));
          pg_fail(s, "sending COPY data");
          return;
        }
        pg_watch(s, UV_READABLE | UV_WRITABLE);
        if (rc == 0) break;
        s->phase = PG_COPY_START; /* data sent: wait for the result */
        if (s->fast) pg_prefetch(s);
      }
    }
    if (s->phase == PG_IDLE && s->conn && PQstatus(s->conn) == CONNECTION_BAD) {
      pg_set_err(s, PQerrorMessage(s->conn));
      pg_fail(s, "the connection to PostgreSQL was lost");
    }
  }
}

static void pg_kick(pg_state_t *s) {
  if (s->phase != PG_IDLE) return;
  if (s->qlen == 0) {
    if (s->stopping && !s->closing) {
      s->closing = 1;
      pg_poll_close(s);
      PQfinish(s->conn);
      s->conn = NULL;
      if (s->timer_init) {
        s->timer_init = 0;
        uv_close((uv_handle_t *)&s->timer, pg_handle_closed);
      }
    }
    return;
  }
  pg_txn_t *t = &s->t[s->cur];
  s->take = t->ready ? t->take : pg_take_count(s, 0);
  s->failed_result = 0;
  s->conflict = 0;
  s->merged_new = s->merged_staged = s->updated = 0;
  pg_next(s);
}

/* ---- module callbacks ------------------------------------------------ */

static int pg_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  pg_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = s;
  s->st = st;
  s->env = strdup(kk_opt_str(opts, "env"));
  s->max_backoff_ms = kk_opt_duration_ms(opts, "max_backoff");
  if (s->max_backoff_ms < 250) s->max_backoff_ms = 250;
  s->backoff = 250;
  /* At most half the sink's queue per transaction, so that the sources
   * refill the other half while one is merged. */
  size_t half = (size_t)kk_opt_int(opts, "queue") / 2;
  s->txn_readings = (size_t)kk_opt_int(opts, "batch");
  if (half && s->txn_readings > half) s->txn_readings = half;
  const char *tj = kk_opt_json(opts, "things");
  const char *sj = kk_opt_json(opts, "sectors");
  s->things_json = tj ? strdup(tj) : NULL;
  if (!s->env || (tj && !s->things_json)) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  if (sj && !cJSON_IsObject(s->sectors = cJSON_Parse(sj))) {
    kk_stage_error(st, "option sectors: expected a table property -> sector");
    return KK_ETYPE;
  }
  char labels[256];
  snprintf(labels, sizeof labels, "stage=\"%s\"", kk_stage_name(st));
  s->m_paused = kk_gauge("kk_store_paused", labels,
                         "1 while a store cannot write and retries.");
  s->m_rows = kk_stage_counter(st, "kk_store_rows_total", NULL,
                               "Observations a store inserted.");
  s->m_dups = kk_stage_counter(st, "kk_store_duplicates_total", NULL,
                               "Redelivered observations a store ignored.");
  s->m_skipped = kk_stage_counter(
      st, "kk_store_skipped_total", NULL,
      "Readings a store skipped (value not finite, unknown datastream).");
  s->m_txns = kk_stage_counter(st, "kk_store_transactions_total", NULL,
                               "Write transactions a store committed.");
  s->m_updates = kk_stage_counter(
      st, "kk_store_updates_total", NULL,
      "Stored values replaced by readings flagged as updates (re-emitted "
      "aggregates)");
  s->m_slow = kk_stage_counter(
      st, "kk_store_merges_total", NULL,
      "Transactions that met an existing key and took the idempotent "
      "merge instead of the plain COPY.");
  s->m_errors = kk_stage_counter(st, "kk_store_write_errors_total",
                                 "connection", "Failed store writes.");
  return 0;
}

static int pg_start(kk_stage_t *st, void *state) {
  pg_state_t *s = state;
  const char *ci = getenv(s->env);
  if (!ci || !*ci) {
    kk_stage_error(st,
                   "environment variable %s is not set; it holds the "
                   "PostgreSQL connection string (\"host=... dbname=...\" "
                   "or postgresql://...)",
                   s->env);
    return KK_EMISSING;
  }
  if (!(s->conninfo = strdup(ci))) return KK_ENOMEM;
  /* A malformed string is an error now, not a retry loop. */
  char *perr = NULL;
  PQconninfoOption *o = PQconninfoParse(ci, &perr);
  if (!o) {
    kk_stage_error(st, "%s: %s", s->env, perr ? perr : "out of memory");
    PQfreemem(perr);
    return KK_EINVAL;
  }
  PQconninfoFree(o);
  int rc = pg_query_open(s->conninfo, kk_stage_name(st), 0, &s->store);
  if (rc != 0) {
    kk_stage_error(st, "%s", kk_store_errmsg());
    return rc;
  }
  if ((rc = kk_store_register(s->store)) != 0) {
    kk_stage_error(st, "a store named '%s' is registered already",
                   kk_stage_name(st));
    return rc;
  }
  uv_timer_init(kk_stage_loop(st), &s->timer);
  s->timer.data = s;
  s->timer_init = 1;
  s->open_handles++;
  pg_connect(s);
  return 0;
}

static int pg_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  pg_state_t *s = state;
  if (s->qlen == s->qcap) {
    size_t ncap = s->qcap ? s->qcap * 2 : 64;
    kk_batch_t **nq = malloc(ncap * sizeof *nq);
    if (!nq) {
      kk_stage_error(st, "out of memory queueing a batch");
      return KK_ENOMEM;
    }
    for (size_t i = 0; i < s->qlen; i++)
      nq[i] = pg_batch(s, i);
    free(s->q);
    s->q = nq;
    s->qcap = ncap;
    s->qhead = 0;
  }
  s->q[(s->qhead + s->qlen) % s->qcap] = kk_batch_ref(b);
  s->qlen++;
  pg_kick(s);
  return KK_ASYNC;
}

static void pg_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  pg_state_t *s = state;
  (void)st;
  kk_store_unregister(s->store);
  s->stop_cb = cb;
  s->stopping = 1;
  if (s->phase == PG_DOWN) {
    /* Waiting to reconnect: give up; the journal keeps what is queued.
     * While connecting, the queue is written first (the engine's
     * shutdown deadline bounds the wait). */
    uv_timer_stop(&s->timer);
    s->closing = 1;
    pg_poll_close(s);
    PQfinish(s->conn);
    s->conn = NULL;
    if (s->timer_init) {
      s->timer_init = 0;
      uv_close((uv_handle_t *)&s->timer, pg_handle_closed);
    }
  } else {
    pg_kick(s); /* finishes the queue, then closes */
  }
  if (s->open_handles == 0) cb(st);
}

static void pg_destroy(void *state) {
  pg_state_t *s = state;
  if (!s) return;
  for (size_t i = 0; i < s->qlen; i++)
    kk_batch_unref(pg_batch(s, i));
  free(s->q);
  PQfinish(s->conn);
  kk_store_unref(s->store);
  cJSON_Delete(s->sectors);
  free(s->dsmap);
  free(s->months);
  for (int i = 0; i < 2; i++) {
    pg_txn_t *t = &s->t[i];
    free(t->buf);
    free(t->latest);
    free(t->latest_ids);
    kk_store_map_free(&t->hours);
    kk_store_map_free(&t->days);
    kk_buf_free(&t->upd);
  }
  kk_buf_free(&s->sql);
  free(s->things_json);
  free(s->conninfo);
  free(s->env);
  free(s);
}

static const kk_option_t pg_options[] = {
    KK_STORE_QUEUE_OPTION,
    {.name = "env",
     .type = KK_OPT_STRING,
     .def = "KLIMAKIT_PG",
     .description = "Environment variable holding the libpq connection "
                    "string (\"host=/run/postgresql dbname=klimakit\" or a "
                    "postgresql:// URI), so that passwords stay out of "
                    "recipes."},
    {.name = "batch",
     .type = KK_OPT_INT,
     .def = "262144",
     .min = 1,
     .max = 16777216,
     .description = "Readings per COPY and merge transaction at most (and "
                    "at most half the sink's `queue`)."},
    {.name = "max_backoff",
     .type = KK_OPT_DURATION,
     .def = "30s",
     .description = "Longest wait between reconnection attempts."},
    {.name = "sectors",
     .type = KK_OPT_TABLE,
     .description = "BISKO sector by observed property, stored with new "
                    "datastreams: { energy = \"municipal\" }."},
    {.name = "things",
     .type = KK_OPT_TABLE,
     .description = "Things with location and properties, stored at each "
                    "connect: { [\"room-001\"] = { location = {7.47, 51.36}, "
                    "properties = { building = \"Gymnasium\" } } }."},
    {NULL}};

const kk_module_t store_postgres_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "postgres",
    .ns = "store",
    .kind = KK_KIND_SINK,
    .summary = "Stores readings in PostgreSQL, shared by several nodes.",
    .description =
        "The same schema as `store.sqlite` with observations partitioned by "
        "month, loaded by COPY straight into the partitions, with hourly "
        "and daily rollups and the latest value per datastream folded in "
        "by the same transaction (computed by the sink).  A key that "
        "exists already (a redelivery, another node's write) sends the "
        "batch through a staging table and `ON CONFLICT DO NOTHING`, so "
        "only rows really inserted reach the rollups.  Readings flagged as "
        "updates (re-emitted calculator aggregates) replace the stored "
        "value and their rollup buckets are recomputed.  Several "
        "klimakit nodes can write to one database.  libpq runs "
        "non-blocking on the loop.  A lost connection or a restarting "
        "server pauses the sink (data waits in the journal, "
        "`kk_store_paused` says so); it reconnects with backoff and "
        "resumes.  Grafana and GIS tools read the tables directly; see "
        "docs/storage.md.",
    .options = pg_options,
    .create = pg_create,
    .start = pg_start,
    .process = pg_process,
    .stop = pg_stop,
    .destroy = pg_destroy,
    .lua_open = kk_store_lua_open,
};
