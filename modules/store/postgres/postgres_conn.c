/*
 * modules/store/postgres/postgres_conn.c - store.postgres: the libpq
 * connection as a non-blocking state machine on the loop.
 *
 * uv_poll on PQsocket() drives connecting (with a timeout libpq does not
 * enforce for non-blocking connects), the schema script, and one
 * transaction at a time through its phases: datastreams, partitions,
 * COPY (the fast path, or the idempotent merge after a unique
 * violation), the folding statement and COMMIT; then the batches are
 * finished in order.  Any failure drops the connection and reconnects
 * with backoff (pg_fail).  The SQL comes from postgres_sql.c.  Everything
 * here runs on the loop thread.
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
    char *sql = pg_setup_sql(s);
    if (!sql) {
      pg_set_err(s, "out of memory");
      pg_fail(s, "setting up the schema");
      return;
    }
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

void pg_connect(pg_state_t *s) {
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
      if (!PQsendQueryParams(s->conn, pg_resolve_sql, 4, NULL, v, NULL, NULL,
                             0)) {
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
  int seen[PG_PART_MAX];
  int nnew = pg_partition_sql(s, sql, sizeof sql, seen);
  if (nnew) {
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

/* SQLSTATE classes 22 (data exception) and 23 (integrity constraint
 * violation, but for the unique violation the merge path takes): the
 * server refuses this data and will refuse it again.  Anything else (the
 * connection, the disk, a lock, the server shutting down) may pass. */
static int pg_refuses_data(const char *state) {
  return state[0] == '2' && (state[1] == '2' || state[1] == '3') &&
         strcmp(state, "23505") != 0;
}

/* A transaction that wrote observations was refused: isolate the batch
 * it is about, and once one batch alone was refused PG_REFUSED_TRIES
 * times, give its journal records to the dead letters and go on. */
static void pg_refused(pg_state_t *s) {
  s->refusals++;
  if (s->take != 1 || s->refusals < PG_REFUSED_TRIES) {
    s->isolate = 1;
    return;
  }
  char reason[700];
  snprintf(reason, sizeof reason,
           "PostgreSQL refused the data (SQLSTATE %s) %u times: %s",
           s->sqlstate, s->refusals, s->err);
  kk_metric_add(s->m_refused, 1);
  kk_stage_log(s->st, KK_LOG_WARN,
               "a batch of %zu readings was refused %u times (SQLSTATE %s): "
               "its journal records go to the dead letters",
               kk_batch_len(pg_batch(s, 0)), s->refusals, s->sqlstate);
  kk_batch_unref(pg_batch(s, 0));
  uint32_t calls = s->qcalls[s->qhead];
  s->qhead = (s->qhead + 1) % s->qcap;
  s->qlen--;
  s->refusals = 0;
  s->isolate = 0;
  for (uint32_t c = 0; c < calls; c++)
    kk_stage_done_dead(s->st, reason);
}

/* The current query finished (every result read). */
static void pg_query_done(pg_state_t *s) {
  if (s->failed_result) {
    const char *what = s->phase == PG_SETUP     ? "setting up the schema"
                       : s->phase == PG_RESOLVE ? "upserting a datastream"
                       : s->phase == PG_PART    ? "creating partitions"
                                                : "writing observations";
    if ((s->phase == PG_COPY_START || s->phase == PG_COPY ||
         s->phase == PG_MERGE || s->phase == PG_FOLD) &&
        s->take && pg_refuses_data(s->sqlstate))
      pg_refused(s);
    pg_fail(s, what);
    return;
  }
  switch (s->phase) {
  case PG_SETUP:
    if (s->things_pending > s->things_version)
      s->things_version = s->things_pending;
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
    if (s->things_pending > s->things_version)
      s->things_version = s->things_pending;
    s->take = 0;
    s->phase = PG_IDLE;
    s->backoff = 250;
    s->refusals = 0;
    s->isolate = 0;
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
      uint32_t calls = s->qcalls[s->qhead];
      s->qhead = (s->qhead + 1) % s->qcap;
      s->qlen--;
      for (uint32_t c = 0; c < calls; c++)
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
    if (!s->failed_result) {
      pg_set_err(s, PQresultErrorMessage(r));
      snprintf(s->sqlstate, sizeof s->sqlstate, "%s", state ? state : "");
    }
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

void pg_close(pg_state_t *s) {
  s->closing = 1;
  pg_poll_close(s);
  PQfinish(s->conn);
  s->conn = NULL;
  if (s->timer_init) {
    s->timer_init = 0;
    uv_close((uv_handle_t *)&s->timer, pg_handle_closed);
  }
}

void pg_kick(pg_state_t *s) {
  if (s->phase != PG_IDLE) return;
  if (s->qlen == 0) {
    if (s->stopping && !s->closing) pg_close(s);
    return;
  }
  pg_txn_t *t = &s->t[s->cur];
  s->take = t->ready ? t->take : pg_take_count(s, 0);
  if (s->isolate && s->take > 1) s->take = 1; /* finding a refused batch */
  s->failed_result = 0;
  s->sqlstate[0] = 0;
  s->conflict = 0;
  s->merged_new = s->merged_staged = s->updated = 0;
  pg_next(s);
}
