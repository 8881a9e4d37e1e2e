/*
 * modules/store/sqlite/sqlite.c - store.sqlite: the embedded default store.
 *
 * Schema (version 1; see docs/guide/storage.md): things, locations,
 * datastreams (thing x observed property x UCUM unit, sector),
 * observations (ds, time, value) keyed (ds, time) WITHOUT ROWID, and the
 * rollups obs_hourly and obs_daily (count, sum, min, max, avg per UTC
 * hour / day).  Times are integer UTC milliseconds.
 *
 * This file is the loop side and runs on the loop thread: the module's
 * callbacks and the uv_async through which the writer thread
 * (sqlite_writer.c) reports committed batches.  process() takes a
 * reference to the batch, queues it for the writer and returns KK_ASYNC;
 * after COMMIT the batches are finished, in order, on the loop
 * (kk_stage_done() there, so that the last completions are ordered
 * before the stop callback).  While the writer retries a failed
 * transaction the batches stay unfinished, so the engine's queue fills
 * and the sources pause; the data waits in the journal.
 *
 * Reads (the kk_store_t query API) use a separate connection; see
 * sqlite_query.c.  `klimakit backup` is in sqlite_cli.c.
 */
#include <klimakit.h>
#include <klimakit/store_backend.h>

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/sqlite/sqlite_impl.h"

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
  s->linger_readings = s->txn_readings;
  s->linger_ns = kk_opt_duration_ms(opts, "commit_interval") * 1000000u;
  uint64_t cache = kk_opt_size(opts, "cache");
  s->cache_kib = cache / 1024u;
  if (s->cache_kib < 64) {
    kk_stage_error(st, "option 'cache': %llu bytes is less than 64KiB",
                   (unsigned long long)cache);
    return KK_ERANGE;
  }
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
  for (int i = 0; i < SQ_NREASONS; i++)
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
  kk_stage_log(st, KK_LOG_INFO,
               "storing in %s (transactions of up to %zu readings, commit "
               "interval %llu ms, page cache %llu KiB)",
               s->path, s->txn_readings,
               (unsigned long long)(s->linger_ns / 1000000u),
               (unsigned long long)s->cache_kib);
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
  s->qreadings += kk_batch_len(b);
  if (s->waiting == 1 ||
      (s->waiting == 2 && s->qreadings >= s->linger_readings))
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
  free(s->rows);
  free(s->tmp);
  free(s->slot);
  free(s->groups);
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

/* Not KK_STORE_QUEUE_OPTION's million: the rows of a transaction are
 * put in the table's order and committed at most every commit_interval, so a
 * transaction of half this (65536 readings) already changes each datastream's
 * page once for ten rows of a thousand sensors' six quantities, and what is in
 * flight stays a few MiB (65536 in flight cost the writer a third more
 * CPU on that workload, 262144 saved a fifth for 4 MiB more). */
static const kk_option_t sq_options[] = {
    {.name = "queue",
     .type = KK_OPT_INT,
     .def = "131072",
     .min = 1,
     .max = 1e9,
     .description = "Readings in flight before sources are paused; half of "
                    "it is the largest transaction (about 50 bytes a "
                    "reading in flight)."},
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
    {.name = "commit_interval",
     .type = KK_OPT_DURATION,
     .def = "500ms",
     .description = "While data flows, a write transaction waits until "
                    "this long after the last commit for more readings (or "
                    "until `batch` are queued; the first batch after a "
                    "quiet spell is written at once): with "
                    "thousands of datastreams each commit rewrites a page "
                    "per datastream, so fewer, larger transactions cost a "
                    "fraction.  Readings reach the database (and the "
                    "dashboard) this much later; nothing waits for it "
                    "upstream, the journal holds them.  0 commits at "
                    "once."},
    {.name = "cache",
     .type = KK_OPT_SIZE,
     .def = "4MiB",
     .description = "Page cache of the writer connection.  With thousands "
                    "of datastreams each commit changes the last page of "
                    "every one it touches; what the cache does not hold "
                    "is read again.  Less saves memory for writer CPU "
                    "(1MiB: 3-4 MB less at the peak of a busy node for "
                    "an eighth to a fifth more writer CPU; see "
                    "docs/guide/storage.md)."},
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
        "query API (`include/klimakit/store.h`).  See docs/guide/storage.md.",
    .options = sq_options,
    .create = sq_create,
    .start = sq_start,
    .process = sq_process,
    .stop = sq_stop,
    .destroy = sq_destroy,
    .lua_open = kk_store_lua_open,
    .commands = sq_commands,
    .store_backend = &sq_backend,
};
