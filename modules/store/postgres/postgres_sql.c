/*
 * modules/store/postgres/postgres_sql.c - store.postgres: the SQL of a
 * write transaction and the data it sends.
 *
 * The statements (the schema script, the fast path's folds, the
 * idempotent merge, replaced values) and the building of one
 * transaction's data from its batches: the COPY text, the rollup deltas,
 * the latest values, the partitions it needs.  No I/O: the state machine
 * in postgres_conn.c sends what is built here.  Runs on the loop thread.
 */
#include <klimakit.h>
#include <klimakit/store_backend.h>
#include <klimakit/thing.h>

#include <cJSON.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres/postgres_impl.h"

/* Schema versions 1 to 3; every statement is idempotent, the whole script
 * is one transaction (an upgrade happens whole or not at all) and runs
 * under an advisory lock, so nodes starting together do not race.  A
 * database of a newer version is refused before anything is changed. */
static const char pg_schema[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(7408201);"
    "CREATE TABLE IF NOT EXISTS schema_version(version int PRIMARY KEY,"
    " applied timestamptz NOT NULL DEFAULT now());"
    "DO $$ DECLARE v int; wb text; BEGIN"
    " SELECT max(version) INTO v FROM schema_version;"
    " IF v > 3 THEN"
    "  IF to_regclass('kk_meta') IS NOT NULL THEN"
    "   EXECUTE 'SELECT value FROM kk_meta WHERE key = $1' INTO wb"
    "    USING 'written_by';"
    "  END IF;"
    "  RAISE EXCEPTION 'database schema version % (written by %) is newer than"
    " this klimakit " KK_VERSION_STRING " knows (3): run that release again, or"
    " restore the dump made before the upgrade (docs/guide/upgrade.md)',"
    " v, coalesce(wb, 'a newer klimakit');"
    " END IF; END $$;"
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
    /* Version 3: which klimakit created the database and wrote it last. */
    "CREATE TABLE IF NOT EXISTS kk_meta(key text PRIMARY KEY,"
    " value text NOT NULL);"
    "INSERT INTO kk_meta VALUES ('created_by', 'klimakit " KK_VERSION_STRING
    "') ON CONFLICT DO NOTHING;"
    "INSERT INTO kk_meta VALUES ('written_by', 'klimakit " KK_VERSION_STRING
    "') ON CONFLICT (key) DO UPDATE SET value = excluded.value;"
    "INSERT INTO schema_version(version) VALUES (3) ON CONFLICT DO NOTHING;"
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

const char pg_resolve_sql[] =
    "WITH t AS (INSERT INTO things(name) VALUES ($1) ON CONFLICT (name) DO "
    "UPDATE SET name = excluded.name RETURNING id) "
    "INSERT INTO datastreams(thing_id, property, unit, sector) "
    "SELECT id, $2, $3, $4 FROM t ON CONFLICT (thing_id, property, unit) DO "
    "UPDATE SET property = excluded.property RETURNING id";

/* Appends upserts of a things object in the form of the `things` option;
 * `merge`: properties merged member by member (klimakit/thing.h). */
static void pg_things_append(pg_state_t *s, kk_buf_t *b, const char *json,
                             int merge) {
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  for (cJSON *t = root ? root->child : NULL; t; t = t->next) {
    char *pj, *lj;
    kk_store_thing_json(t, &pj, &lj);
    char *n = PQescapeLiteral(s->conn, t->string, strlen(t->string));
    char *pe = pj ? PQescapeLiteral(s->conn, pj, strlen(pj)) : NULL;
    char *le = lj ? PQescapeLiteral(s->conn, lj, strlen(lj)) : NULL;
    if (n)
      kk_buf_printf(b,
                    "INSERT INTO things(name, properties) VALUES (%s, "
                    "%s::jsonb) ON CONFLICT (name) DO UPDATE SET properties "
                    "= %sexcluded.properties;",
                    n, pe ? pe : "NULL",
                    merge ? "coalesce(things.properties, '{}'::jsonb) || "
                          : "");
    if (n && le)
      kk_buf_printf(b,
                    "INSERT INTO locations(thing_id, name, geojson) SELECT "
                    "id, name, %s::jsonb FROM things WHERE name = %s ON "
                    "CONFLICT (thing_id) DO UPDATE SET geojson = "
                    "excluded.geojson;",
                    le, n);
    PQfreemem(n);
    PQfreemem(pe);
    PQfreemem(le);
    free(pj);
    free(lj);
  }
  cJSON_Delete(root);
}

/* The script run on every new connection: the schema (created or
 * upgraded), the session settings, the things of the `things` option
 * upserted, and the thing descriptions known so far merged in (pending
 * until the script succeeded: pg_things_written).  Caller free()s it;
 * NULL when out of memory. */
char *pg_setup_sql(pg_state_t *s) {
  kk_buf_t b = {0};
  kk_buf_puts(&b, pg_schema);
  pg_things_append(s, &b, s->things_json, 0);
  char *desc = kk_things_json(0, &s->things_pending);
  pg_things_append(s, &b, desc, 1);
  free(desc);
  if (b.oom) {
    kk_buf_free(&b);
    return NULL;
  }
  return b.p;
}

void pg_things_changed(pg_state_t *s, kk_buf_t *b) {
  if (kk_things_version() <= s->things_version) return;
  char *desc = kk_things_json(s->things_version, &s->things_pending);
  pg_things_append(s, b, desc, 1);
  free(desc);
}

/* ---- one transaction's data ------------------------------------------ */

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

/* The month of ms as year * 12 + (month - 1). */
static int pg_month(int64_t ms) {
  int64_t y;
  unsigned m, d;
  kk_civil_from_days(kk_floor_div(ms, KK_DAY_MS), &y, &m, &d);
  /* Years outside 1-9999 are skipped by the COPY anyway; clamped, their
   * month still fits an int. */
  y = y < 0 ? 0 : y > 10000 ? 10000 : y;
  return (int)(y * 12 + (m - 1));
}

/* The month of ms and its bounds [lo, hi) in ms, so that loops over
 * readings do the calendar arithmetic only when a reading leaves the
 * last month. */
static int pg_month_span(int64_t ms, int64_t *lo, int64_t *hi) {
  int m = pg_month(ms);
  int64_t y = kk_floor_div(m, 12), y2 = kk_floor_div(m + 1, 12);
  *lo = kk_days_from_civil(y, (unsigned)(m - y * 12) + 1, 1) * KK_DAY_MS;
  *hi = kk_days_from_civil(y2, (unsigned)(m + 1 - y2 * 12) + 1, 1) * KK_DAY_MS;
  return m;
}

static int pg_month_known(pg_state_t *s, int m) {
  for (size_t i = 0; i < s->nmonths; i++)
    if (s->months[i] == m) return 1;
  return 0;
}

kk_batch_t *pg_batch(pg_state_t *s, size_t i) {
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
  int64_t sc = kk_floor_div(ms, KK_SECOND_MS);
  if (sc != *sec) {
    int64_t days = kk_floor_div(sc, 86400), y;
    unsigned mo, d;
    int tod = (int)(sc - days * 86400);
    kk_civil_from_days(days, &y, &mo, &d);
    snprintf(cache, 32, "%04d-%02u-%02u %02d:%02d:%02d", (int)y, mo, d,
             tod / 3600, tod / 60 % 60, tod % 60);
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
                    (long long)(k == 0   ? d->ds
                                : k == 1 ? d->bucket
                                         : d->count));
    else
      kk_buf_printf(b, "%.17g", k == 3 ? d->sum : k == 4 ? d->min : d->max);
  }
  kk_buf_puts(b, k < 3 ? "}'::bigint[]" : "}'::float8[]");
}

static void pg_fold_sql(kk_buf_t *b, const kk_store_map_t *m, const char *fmt) {
  if (!m->len) return;
  kk_buf_t args = {0};
  for (int k = 0; k < 6; k++) {
    if (k) kk_buf_puts(&args, ", ");
    pg_map_array(&args, m, k);
  }
  if (args.oom)
    b->oom = 1;
  else
    kk_buf_printf(b, fmt, args.p);
  kk_buf_free(&args);
}

/* Builds t from the `take` queued batches from index `first`: the COPY
 * text, the fast path's rollup deltas and latest values, and the SQL for
 * replaced values.  Every datastream must be resolved.  Returns 0 or
 * KK_ENOMEM. */
int pg_prepare(pg_state_t *s, pg_txn_t *t, size_t first, size_t take) {
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
                           kk_store_bucket(r[i].time_ms, KK_HOUR_MS), 1, v, v,
                           v) != 0) {
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
int pg_finish_sql(pg_state_t *s) {
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
  pg_things_changed(s, b);
  kk_buf_puts(b, "COMMIT");
  return b->oom ? KK_ENOMEM : 0;
}

/* Batches from queue index `first` for one transaction: up to
 * txn_readings readings, at least one batch. */
size_t pg_take_count(pg_state_t *s, size_t first) {
  size_t n = 0, readings = 0;
  while (first + n < s->qlen && (n == 0 || readings < s->txn_readings)) {
    readings += kk_batch_len(pg_batch(s, first + n));
    n++;
  }
  /* A batch in a transaction takes no more readings. */
  if (first + n == s->qlen) s->tail_open = 0;
  return n;
}

/* While the server works on this transaction's COPY, the next one's data
 * is built, when its datastreams and partitions need no round trip; the
 * client's work then overlaps the server's instead of adding to it. */
void pg_prefetch(pg_state_t *s) {
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

/* The statement creating the monthly partitions that the first s->take
 * batches need and that are not known to exist (at most PG_PART_MAX;
 * the rest wait for the next transaction), into sql[0..cap); their
 * months (year * 12 + month) into seen.  Returns how many; 0 when none is
 * needed (sql then holds no statement to send). */
int pg_partition_sql(pg_state_t *s, char *sql, size_t cap,
                     int seen[PG_PART_MAX]) {
  size_t len = (size_t)snprintf(
      sql, cap, "BEGIN; SELECT pg_advisory_xact_lock(7408202);");
  int nnew = 0;
  for (size_t k = 0; k < s->take && nnew < PG_PART_MAX; k++) {
    const kk_reading_t *r = kk_batch_readings(pg_batch(s, k));
    size_t n = kk_batch_len(pg_batch(s, k));
    int64_t lo = 0, hi = 0; /* the month handled last */
    for (size_t i = 0; i < n && nnew < PG_PART_MAX; i++) {
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
          sql + len, cap - len,
          "CREATE TABLE IF NOT EXISTS observations_y%04dm%02d PARTITION OF "
          "observations FOR VALUES FROM ('%04d-%02d-01 00:00:00+00') TO "
          "('%04d-%02d-01 00:00:00+00');",
          y, mo, y, mo, y2, mo2);
    }
  }
  if (nnew) snprintf(sql + len, cap - len, "COMMIT;");
  return nnew;
}
