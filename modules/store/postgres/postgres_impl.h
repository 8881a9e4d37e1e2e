/*
 * modules/store/postgres/postgres_impl.h - shared by the files of
 * store.postgres: postgres.c (the module callbacks), postgres_conn.c (the
 * libpq state machine), postgres_sql.c (a transaction's SQL and data) and
 * postgres_query.c (the read side).
 */
#ifndef KK_MODULES_POSTGRES_IMPL_H
#define KK_MODULES_POSTGRES_IMPL_H

#include <klimakit.h>
#include <klimakit/store_backend.h>

#include <cJSON.h>
#include <libpq-fe.h>
#include <uv.h>

#include "store/postgres/postgres_api.h"

#define PG_SCHEMA_VERSION 3

/* Wraps a blocking query connection to `conninfo` as an unregistered
 * store named `name`.  With connect_now, connects and checks the schema
 * version at once (kk_store_open); otherwise on first use.  Returns 0 or
 * a negative code with the reason in kk_store_errmsg(). */
int pg_query_open(const char *conninfo, const char *name, int connect_now,
                  kk_store_t **out);

/* postgres_backup.c: pg_dump of `conninfo` to the new file `dest`
 * (custom format); 0 or a negative code with kk_store_errmsg(). */
int pg_backup(const char *conninfo, const char *dest);

/* Formats ms since the epoch as a timestamptz literal in UTC
 * ("2025-01-01 00:05:00.000+00"); sec and cache remember the last second
 * formatted (start with *sec = INT64_MIN).  Returns the length, or 0
 * outside years 1-9999. */
size_t pg_time_text(int64_t ms, char out[48], int64_t *sec, char cache[32]);

/* ---- the sink (loop thread only) ------------------------------------- */

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
  struct pg_latest {          /* by process datastream id */
    int64_t time;
    double value;
  } * latest;
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
  /* Thing descriptions (klimakit/thing.h) stored up to things_version;
   * things_pending: sent in the transaction or setup script in flight. */
  uint64_t things_version, things_pending;
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
  char sqlstate[8]; /* of the first failed result of the transaction */
  /* The server refused the data (a constraint or type error): the
   * transactions take one batch each (isolate) until the refused one is
   * found; refused the PG_REFUSED_TRIES-th time alone, it is a dead
   * letter (kk_stage_done_dead). */
  int isolate;
  uint32_t refusals;
  kk_metric_t *m_refused;
  int paused;

  /* Ring of queued batches, oldest first.  Each is the sink's own copy of
   * readings only (no raw payloads, no metadata): consecutive process()
   * calls append to the newest one until a transaction takes it
   * (tail_open), and qcalls[] counts the calls it answers with
   * kk_stage_done().  A queued reading costs its 24 bytes (with the
   * batch's growth, up to 48) plus the engine's 24-byte in-flight entry
   * per call, instead of the source's whole batch. */
  kk_batch_t **q;
  uint32_t *qcalls;
  size_t qhead, qlen, qcap;
  int tail_open;
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

/* Tries of a batch the server refuses before it is a dead letter. */
#define PG_REFUSED_TRIES 3

/* Partitions one transaction creates at most; the rest wait for the next. */
#define PG_PART_MAX 16

/* postgres_conn.c: the state machine. */
/* Starts connecting (the retry timer calls it again after a failure). */
void pg_connect(pg_state_t *s);
/* Starts the next transaction when idle and batches wait; when stopping
 * with nothing queued, closes the connection and the handles. */
void pg_kick(pg_state_t *s);
/* Closes the connection, the poll and the timer for good (stop); the
 * last close callback calls stop_cb. */
void pg_close(pg_state_t *s);

/* postgres_sql.c: statements and a transaction's data. */
extern const char pg_resolve_sql[]; /* upserts thing and datastream */
/* The script run on every new connection (schema, session, things).
 * Caller free()s it; NULL when out of memory. */
char *pg_setup_sql(pg_state_t *s);
/* The i-th queued batch (borrowed). */
kk_batch_t *pg_batch(pg_state_t *s, size_t i);
/* Builds t from the `take` queued batches from index `first` (every
 * datastream resolved): COPY text, rollup deltas, latest values, SQL for
 * replaced values.  Returns 0 or KK_ENOMEM. */
int pg_prepare(pg_state_t *s, pg_txn_t *t, size_t first, size_t take);
/* s->sql := the statement that ends the current transaction.  Returns 0
 * or KK_ENOMEM. */
int pg_finish_sql(pg_state_t *s);
/* Appends upserts of the thing descriptions changed since
 * s->things_version (klimakit/thing.h) to b; s->things_pending gets their
 * version, which becomes things_version once the statement succeeded. */
void pg_things_changed(pg_state_t *s, kk_buf_t *b);
/* Batches from queue index `first` for one transaction. */
size_t pg_take_count(pg_state_t *s, size_t first);
/* Builds the next transaction's data while the server works on this
 * one's COPY, when it needs no round trip first. */
void pg_prefetch(pg_state_t *s);
/* The CREATE TABLE ... PARTITION OF statement for the months the current
 * transaction needs (at most PG_PART_MAX, their months into seen); the
 * count, 0 when none is needed. */
int pg_partition_sql(pg_state_t *s, char *sql, size_t cap,
                     int seen[PG_PART_MAX]);

/* kk_store_open("postgres", ...): named in the module descriptor. */
extern const kk_store_backend_t pgq_backend;

#endif
