/*
 * modules/store/postgres/postgres.c - store.postgres: the shared store.
 *
 * The same schema as store.sqlite (see docs/guide/storage.md), with times as
 * timestamptz, observations partitioned by month (partitions created on
 * demand) and the JSON columns as jsonb.  Several klimakit nodes may
 * write to one database: every write is idempotent and the rollups are
 * maintained by the statement that inserts, from the rows it really
 * inserted.
 *
 * Files: this one holds the module callbacks and runs on the loop
 * thread, as does everything of the sink; postgres_conn.c the libpq state
 * machine, postgres_sql.c the SQL and the data of a transaction,
 * postgres_query.c the read side (kk_store_t).
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
#include <klimakit/store_backend.h>

#include <cJSON.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres/postgres_impl.h"

/* ---- module callbacks ------------------------------------------------ */

static int pg_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  char why[320];
  if (pg_lib_check(why, sizeof why) != 0) {
    kk_stage_error(st, "%s", why);
    return KK_EMISSING;
  }
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
  s->m_refused = kk_stage_counter(
      st, "kk_store_refused_batches_total", NULL,
      "Batches the server refused for good (a constraint or type error), "
      "their journal records moved to the dead letters.");
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
  size_t n = kk_batch_len(b);
  if (n == 0) return 0;
  const kk_reading_t *r = kk_batch_readings(b);
  if (s->tail_open && s->qlen) {
    size_t tail = (s->qhead + s->qlen - 1) % s->qcap;
    if (kk_batch_len(s->q[tail]) + n <= s->txn_readings) {
      for (size_t i = 0; i < n; i++)
        if (kk_batch_push(s->q[tail], &r[i]) != 0) {
          kk_stage_error(st, "out of memory queueing a batch");
          return KK_ENOMEM; /* the readings pushed so far stay: the same
                               readings again are no duplicate in a store */
        }
      s->qcalls[tail]++;
      pg_kick(s);
      return KK_ASYNC;
    }
  }
  if (s->qlen == s->qcap) {
    size_t ncap = s->qcap ? s->qcap * 2 : 64;
    kk_batch_t **nq = malloc(ncap * sizeof *nq);
    uint32_t *nc = malloc(ncap * sizeof *nc);
    if (!nq || !nc) {
      free(nq);
      free(nc);
      kk_stage_error(st, "out of memory queueing a batch");
      return KK_ENOMEM;
    }
    for (size_t i = 0; i < s->qlen; i++) {
      nq[i] = pg_batch(s, i);
      nc[i] = s->qcalls[(s->qhead + i) % s->qcap];
    }
    free(s->q);
    free(s->qcalls);
    s->q = nq;
    s->qcalls = nc;
    s->qcap = ncap;
    s->qhead = 0;
  }
  kk_batch_t *own = kk_batch_new(n < 16 ? 16 : n);
  for (size_t i = 0; own && i < n; i++)
    if (kk_batch_push(own, &r[i]) != 0) {
      kk_batch_unref(own);
      own = NULL;
    }
  if (!own) {
    kk_stage_error(st, "out of memory queueing a batch");
    return KK_ENOMEM;
  }
  kk_batch_set_seq(own, kk_batch_seq(b));
  size_t at = (s->qhead + s->qlen) % s->qcap;
  s->q[at] = own;
  s->qcalls[at] = 1;
  s->qlen++;
  s->tail_open = 1;
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
    pg_close(s);
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
  free(s->qcalls);
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
        "resumes.  Data the server refuses (SQLSTATE class 22 or 23, say a "
        "CHECK constraint a DBA added) is retried one batch per "
        "transaction until the refused batch is found; refused 3 times "
        "alone, its journal records go to the dead letters "
        "(`klimakit journal`, kk_store_refused_batches_total) and the rest "
        "flows.  Grafana and GIS tools read the tables directly; see "
        "docs/guide/storage.md.",
    .options = pg_options,
    .create = pg_create,
    .start = pg_start,
    .process = pg_process,
    .stop = pg_stop,
    .destroy = pg_destroy,
    .lua_open = kk_store_lua_open,
    .store_backend = &pgq_backend,
};
