/*
 * modules/store/sqlite/sqlite_impl.h - shared by the files of store.sqlite:
 * sqlite.c (the loop side), sqlite_writer.c (the writer thread),
 * sqlite_query.c (the read side) and sqlite_cli.c (`klimakit backup`).
 */
#ifndef KK_MODULES_SQLITE_IMPL_H
#define KK_MODULES_SQLITE_IMPL_H

#include <cJSON.h>
#include <sqlite3.h>
#include <uv.h>

#include <klimakit/store_backend.h>

/* The schema version this build writes; see sq_migrations in sqlite_writer.c.
 */
#define SQ_SCHEMA_VERSION 2

/* Opens `path` for reading (WAL: readers never block the writer), checks
 * that it is a klimakit store of a known schema version and wraps it as
 * an unregistered kk_store_t named `name`.  With `lazy`, a file that
 * cannot be opened now (read-only file system, I/O error) is opened at
 * the first query instead.  Returns 0 or a negative code with the reason
 * in kk_store_errmsg(). */
int sq_query_open(const char *path, const char *name, int lazy,
                  kk_store_t **out);

/* Names the failure class of a SQLite result code for logs and metric
 * labels: "disk_full", "read_only", "io", "busy", "damaged", "other". */
const char *sq_reason(int rc);

/* Statements of the writer connection (sq_wsql in sqlite_writer.c). */
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
  SQ_W_INSN,  /* SQ_W_INS for SQ_INS_ROWS rows at once */
  SQ_W_HOURN, /* SQ_W_HOUR for SQ_INS_ROWS buckets at once */
  SQ_W_DAYN,  /* SQ_W_DAY for SQ_INS_ROWS buckets at once */
  SQ_NW
};

/* Rows per multi-row INSERT (SQ_W_INSN) and upsert (SQ_W_HOURN, _DAYN). */
#define SQ_INS_ROWS 32

/* The failure classes of sq_reason(), in the order of the metrics. */
#define SQ_NREASONS 6
extern const char *const sq_reasons[SQ_NREASONS];

/* The sink's state.  The loop thread owns it until the writer thread
 * starts; then the writer owns the writer connection, its statements, the
 * id map, the rows and `touched`, and `lock` guards the queue and the
 * flags between the two. */
#define SQ_TAKE_MAX 2048 /* batches per transaction at most */

typedef struct sq_state {
  kk_stage_t *st;
  char *name; /* stage name, for logs from the writer thread */
  char *path;
  int sync;           /* 0 normal, 1 full, 2 off */
  uint64_t retain_ms; /* 0: keep raw data */
  uint64_t max_backoff_ms;
  size_t txn_readings;     /* readings per transaction at most */
  uint64_t cache_kib;      /* the writer's page cache (option cache) */
  size_t linger_readings;  /* a transaction waits for this many */
  uint64_t linger_ns;      /* ... or this long (commit_interval) */
  uint64_t last_commit_ns; /* uv_hrtime() of the last commit (writer) */
  char *sectors_json, *things_json;
  uint64_t things_version; /* kk_things_json() written up to (writer) */

  sqlite3 *w; /* writer connection: the writer thread's once started */
  sqlite3_stmt *ws[SQ_NW];
  int64_t *dsmap; /* process datastream id -> store id, 0 unknown */
  size_t ndsmap;
  cJSON *sectors; /* property -> sector */

  uv_mutex_t lock; /* guards everything below */
  uv_cond_t cond;
  kk_batch_t **q; /* ring of queued batches, oldest first */
  size_t qhead, qlen, qcap;
  size_t qreadings; /* readings in the queue */
  /* What the writer waits for (lock held): 0 nothing (working, backing
   * off), 1 any batch, 2 linger_readings queued; sq_process wakes it only
   * then, not for every batch. */
  int waiting;
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
  } * touched;
  size_t ntouched, captouched;
  /* The current transaction's rows in order (writer thread): the rows,
   * a row count then position per process datastream id (zero between
   * transactions), the transaction's datastreams, and a merge sort's
   * buffer for a datastream whose rows came out of time order. */
  struct sq_row *rows, *tmp;
  size_t caprows, captmp;
  uint32_t *slot;
  struct sq_group *groups;
  size_t capslot, capgroups;
  /* Transactions left that insert row by row (writer thread): after a
   * multi-row INSERT met a row the store already held (a replay after a
   * crash), where more of them are likely. */
  unsigned single_txns;
  kk_metric_t *m_err[SQ_NREASONS]; /* by sq_reason(), as sq_reasons */
} sq_state_t;

/* Opens the database for writing, applies migrations, prepares the
 * statements.  Runs on the loop thread in start(), and on the writer
 * thread when it reopens a database that was read-only.  Returns 0 or a
 * negative code with the reason in err. */
int sq_open_writer(sq_state_t *s, char *err, size_t errlen);
/* Closes the writer connection (NULL-safe). */
void sq_close_writer(sq_state_t *s);

/* Writer thread helpers: one SQL text on `db` (sqlite_writer.c); one
 * step and reset of `q`, SQLITE_OK when it is done or gave a row
 * (sqlite_txn.c). */
int sq_exec(sqlite3 *db, const char *sql);
int sq_step_done(sqlite3_stmt *q);

/* Writes `n` queued batches in one transaction (sqlite_txn.c).  Returns a
 * SQLite code; on failure everything is rolled back. */
int sq_write(sq_state_t *s, kk_batch_t **b, size_t n);
/* Upserts the things of the `things` option (loop thread, in start()).
 * Returns 0 or a negative code with the reason set on the stage. */
int sq_load_things(sq_state_t *s);
/* Writes the thing descriptions (klimakit/thing.h) that changed since the
 * last call, merged into the things table (the writer's thread; failures
 * are logged and retried next time). */
void sq_store_described(sq_state_t *s);
/* The writer thread's body (uv_thread_create with s): runs until stop
 * and the queue is drained, then sets `exited` and wakes the loop. */
void sq_writer(void *arg);

/* `klimakit backup` (sqlite_cli.c), for the descriptor; terminated by
 * {NULL}. */
extern const kk_command_t sq_commands[];

/* kk_store_open("sqlite", ...): named in the module descriptor. */
extern const kk_store_backend_t sq_backend;

#endif
