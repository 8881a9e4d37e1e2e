/*
 * modules/store/sqlite/sqlite_txn.c - store.sqlite's write transaction:
 * new datastreams resolved to store ids, the rows of the queued batches
 * sorted and inserted (32 to a statement), the rollup deltas folded in,
 * replaced observations' buckets recomputed.  Writer thread only (see
 * sqlite_writer.c).
 */
#include <klimakit.h>
#include <klimakit/store_backend.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite/sqlite_impl.h"

int sq_step_done(sqlite3_stmt *q) {
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Store id of process datastream `id`, creating thing and datastream. */
static int sq_resolve(sq_state_t *s, uint32_t id, int64_t *out) {
  if (id < s->ndsmap && s->dsmap[id]) {
    *out = s->dsmap[id];
    return SQLITE_OK;
  }
  const kk_datastream_t *d = kk_datastream_get(id);
  if (!d) return SQLITE_MISMATCH;
  const char *sector = NULL;
  cJSON *sj = cJSON_GetObjectItemCaseSensitive(s->sectors, d->property);
  if (cJSON_IsString(sj)) sector = sj->valuestring;
  sqlite3_stmt *t = s->ws[SQ_W_THING], *q = s->ws[SQ_W_DS],
               *g = s->ws[SQ_W_DSID];
  sqlite3_bind_text(t, 1, d->thing, -1, SQLITE_STATIC);
  int rc = sq_step_done(t);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(q, 1, d->thing, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, d->property, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, d->unit, -1, SQLITE_STATIC);
  if (sector)
    sqlite3_bind_text(q, 4, sector, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 4);
  if ((rc = sq_step_done(q)) != SQLITE_OK) return rc;
  sqlite3_bind_text(g, 1, d->thing, -1, SQLITE_STATIC);
  sqlite3_bind_text(g, 2, d->property, -1, SQLITE_STATIC);
  sqlite3_bind_text(g, 3, d->unit, -1, SQLITE_STATIC);
  rc = sqlite3_step(g);
  int64_t sid = rc == SQLITE_ROW ? sqlite3_column_int64(g, 0) : 0;
  sqlite3_reset(g);
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SQLITE_INTERNAL : rc;
  if (id >= s->ndsmap) {
    size_t n = s->ndsmap ? s->ndsmap : 256;
    while (n <= id)
      n *= 2;
    int64_t *nm = realloc(s->dsmap, n * sizeof *nm);
    if (!nm) return SQLITE_NOMEM;
    memset(nm + s->ndsmap, 0, (n - s->ndsmap) * sizeof *nm);
    s->dsmap = nm;
    s->ndsmap = n;
  }
  s->dsmap[id] = sid;
  *out = sid;
  return SQLITE_OK;
}

/* The datastreams the batches name for the first time, all in one
 * transaction of their own before the rows' (a new town's first minute
 * makes thousands; one commit each cost two thirds of the writer's time).
 * The id map must not keep ids of a transaction that was rolled back, so
 * the ids entered here are taken out again when it fails. */
static int sq_resolve_new(sq_state_t *s, kk_batch_t **b, size_t n) {
  uint32_t *fresh = NULL;
  size_t nfresh = 0, capfresh = 0;
  int rc = SQLITE_OK, open = 0;
  for (size_t k = 0; rc == SQLITE_OK && k < n; k++) {
    const kk_reading_t *r = kk_batch_readings(b[k]);
    size_t len = kk_batch_len(b[k]);
    for (size_t i = 0; rc == SQLITE_OK && i < len; i++) {
      if (r[i].ds < s->ndsmap && s->dsmap[r[i].ds]) continue;
      if (!open) {
        if ((rc = sq_exec(s->w, "BEGIN IMMEDIATE")) != SQLITE_OK) break;
        open = 1;
      }
      if (nfresh == capfresh) {
        size_t nc = capfresh ? capfresh * 2 : 64;
        uint32_t *nf = realloc(fresh, nc * sizeof *nf);
        if (!nf) {
          rc = SQLITE_NOMEM;
          break;
        }
        fresh = nf;
        capfresh = nc;
      }
      int64_t sid;
      rc = sq_resolve(s, r[i].ds, &sid);
      if (rc == SQLITE_OK)
        fresh[nfresh++] = r[i].ds;
      else if (rc == SQLITE_MISMATCH)
        rc = SQLITE_OK; /* unknown id: its readings are skipped */
    }
  }
  if (open && rc == SQLITE_OK) rc = sq_exec(s->w, "COMMIT");
  if (open && rc != SQLITE_OK) {
    sq_exec(s->w, "ROLLBACK");
    for (size_t i = 0; i < nfresh; i++)
      s->dsmap[fresh[i]] = 0;
  }
  free(fresh);
  return rc;
}

static int sq_delta_cmp(const void *a, const void *b) {
  const kk_store_delta_t *x = a, *y = b;
  if (x->ds != y->ds) return x->ds < y->ds ? -1 : 1;
  return (x->bucket > y->bucket) - (x->bucket < y->bucket);
}

static void sq_bind_delta(sqlite3_stmt *q, int at, const kk_store_delta_t *d) {
  sqlite3_bind_int64(q, at + 1, d->ds);
  sqlite3_bind_int64(q, at + 2, d->bucket);
  sqlite3_bind_int64(q, at + 3, d->count);
  sqlite3_bind_double(q, at + 4, d->sum);
  sqlite3_bind_double(q, at + 5, d->min);
  sqlite3_bind_double(q, at + 6, d->max);
}

/* Upserts the buckets of `m` in (ds, bucket) order, which walks the
 * rollup table's pages once: SQ_INS_ROWS to a statement (`qn`), the rest
 * one by one (`q1`). */
static int sq_flush_map(sq_state_t *s, kk_store_map_t *m, sqlite3_stmt *q1,
                        sqlite3_stmt *qn) {
  if (m->len == 0) return SQLITE_OK; /* (qsort must not get NULL) */
  if (m->len > s->capdeltas) {
    kk_store_delta_t *n = realloc(s->deltas, m->len * sizeof *n);
    if (!n) return SQLITE_NOMEM;
    s->deltas = n;
    s->capdeltas = m->len;
  }
  size_t n = 0;
  for (size_t i = 0; i < m->cap && n < m->len; i++)
    if (m->slot[i].count) s->deltas[n++] = m->slot[i];
  qsort(s->deltas, n, sizeof *s->deltas, sq_delta_cmp);
  size_t i = 0;
  for (; i + SQ_INS_ROWS <= n; i += SQ_INS_ROWS) {
    for (int k = 0; k < SQ_INS_ROWS; k++) {
      const kk_store_delta_t *d = &s->deltas[i + (size_t)k];
      sq_bind_delta(qn, 7 * k, d);
      sqlite3_bind_double(qn, 7 * k + 7, d->sum / (double)d->count);
    }
    int rc = sq_step_done(qn);
    if (rc != SQLITE_OK) return rc;
  }
  for (; i < n; i++) {
    sq_bind_delta(q1, 0, &s->deltas[i]);
    int rc = sq_step_done(q1);
    if (rc != SQLITE_OK) return rc;
  }
  if (s->capdeltas > 65536) { /* give back the memory of a huge one */
    free(s->deltas);
    s->deltas = NULL;
    s->capdeltas = 0;
  }
  return SQLITE_OK;
}

/* Writes `n` batches in one transaction.  Returns a SQLite code; on
 * failure everything is rolled back. */
/* Remembers an observation replaced in this transaction. */
static int sq_touch(sq_state_t *s, int64_t ds, int64_t time) {
  if (s->ntouched == s->captouched) {
    size_t ncap = s->captouched ? s->captouched * 2 : 64;
    struct sq_touched *n = realloc(s->touched, ncap * sizeof *n);
    if (!n) return -1;
    s->touched = n;
    s->captouched = ncap;
  }
  s->touched[s->ntouched].ds = ds;
  s->touched[s->ntouched].time = time;
  s->ntouched++;
  return 0;
}

/* One row of a transaction, in (store id, time, arrival) order. */
typedef struct sq_row {
  int64_t sid, time;
  double value;
  uint32_t flags, seq;
} sq_row_t;

static int sq_row_cmp(const void *a, const void *b) {
  const sq_row_t *x = a, *y = b;
  if (x->sid != y->sid) return x->sid < y->sid ? -1 : 1;
  if (x->time != y->time) return x->time < y->time ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Inserts one row (or replaces it, for an update); counts what happened. */
static int sq_put_row(sq_state_t *s, const sq_row_t *w, int64_t *rows,
                      int64_t *dups, int64_t *updates) {
  sqlite3_stmt *ins = s->ws[SQ_W_INS];
  sqlite3_bind_int64(ins, 1, w->sid);
  sqlite3_bind_int64(ins, 2, w->time);
  sqlite3_bind_double(ins, 3, w->value);
  int rc = sqlite3_step(ins);
  sqlite3_reset(ins);
  if (rc != SQLITE_DONE) return rc;
  if (sqlite3_changes(s->w) == 0) {
    if (w->flags & KK_READING_UPDATE) {
      sqlite3_stmt *u = s->ws[SQ_W_UPD];
      sqlite3_bind_int64(u, 1, w->sid);
      sqlite3_bind_int64(u, 2, w->time);
      sqlite3_bind_double(u, 3, w->value);
      rc = sqlite3_step(u);
      sqlite3_reset(u);
      if (rc != SQLITE_DONE) return rc;
      if (sqlite3_changes(s->w) > 0) {
        if (sq_touch(s, w->sid, w->time) != 0) return SQLITE_NOMEM;
        (*updates)++;
        return SQLITE_OK;
      }
    }
    (*dups)++;
    return SQLITE_OK;
  }
  (*rows)++;
  if (kk_store_map_put(&s->hours, w->sid, kk_store_bucket(w->time, KK_HOUR_MS),
                       1, w->value, w->value, w->value) != 0)
    return SQLITE_NOMEM;
  return SQLITE_OK;
}

/* The rows whose insert sq_put_rows() cannot tell apart: the store may
 * have held any of them, which a multi-row INSERT reports only as a
 * total. */
#define SQ_REDO (-1000)

/* Inserts SQ_INS_ROWS new rows (none of them an update) with one
 * statement and adds them to the hourly deltas, a datastream's hour at a
 * time.  SQ_REDO when the store already held one of them: the
 * transaction is then written again row by row. */
static int sq_put_rows(sq_state_t *s, const sq_row_t *w, int64_t *rows) {
  sqlite3_stmt *q = s->ws[SQ_W_INSN];
  for (int i = 0; i < SQ_INS_ROWS; i++) {
    sqlite3_bind_int64(q, 3 * i + 1, w[i].sid);
    sqlite3_bind_int64(q, 3 * i + 2, w[i].time);
    sqlite3_bind_double(q, 3 * i + 3, w[i].value);
  }
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return rc;
  if (sqlite3_changes(s->w) != SQ_INS_ROWS) return SQ_REDO;
  *rows += SQ_INS_ROWS;
  for (int i = 0; i < SQ_INS_ROWS;) {
    int64_t bucket = kk_store_bucket(w[i].time, KK_HOUR_MS);
    double sum = 0, min = w[i].value, max = w[i].value;
    int k = i;
    for (; k < SQ_INS_ROWS && w[k].sid == w[i].sid &&
           kk_store_bucket(w[k].time, KK_HOUR_MS) == bucket;
         k++) {
      sum += w[k].value;
      if (w[k].value < min) min = w[k].value;
      if (w[k].value > max) max = w[k].value;
    }
    if (kk_store_map_put(&s->hours, w[i].sid, bucket, k - i, sum, min, max) !=
        0)
      return SQLITE_NOMEM;
    i = k;
  }
  return SQLITE_OK;
}

/* Whether w[0..SQ_INS_ROWS) may go in one multi-row INSERT. */
static int sq_rows_plain(const sq_row_t *w) {
  for (int i = 0; i < SQ_INS_ROWS; i++)
    if (w[i].flags & KK_READING_UPDATE) return 0;
  return 1;
}

/* Writes `n` batches in one transaction.  The rows go in sorted by
 * datastream and time, not in arrival order: a thousand sensors round
 * robin would otherwise touch every datastream's last page once per
 * message, and a transaction larger than the page cache would spill and
 * reread each page many times; sorted, each page is changed in one go.
 * Readings of the same datastream and time keep their order (a value
 * and its later update).  Returns a SQLite code; on failure everything
 * is rolled back. */
static int sq_write_once(sq_state_t *s, kk_batch_t **b, size_t n, int multi) {
  int64_t rows = 0, dups = 0, skipped = 0, updates = 0;
  s->ntouched = 0;
  int rc = sq_resolve_new(s, b, n);
  if (rc != SQLITE_OK) return rc;
  size_t total = 0, nrows = 0;
  for (size_t k = 0; k < n; k++)
    total += kk_batch_len(b[k]);
  if (total > s->caprows) {
    sq_row_t *nr = realloc(s->rows, total * sizeof *nr);
    if (!nr) return SQLITE_NOMEM;
    s->rows = nr;
    s->caprows = total;
  }
  sq_row_t *w = s->rows;
  for (size_t k = 0; k < n; k++) {
    const kk_reading_t *r = kk_batch_readings(b[k]);
    size_t len = kk_batch_len(b[k]);
    for (size_t i = 0; i < len; i++) {
      int64_t sid = r[i].ds < s->ndsmap ? s->dsmap[r[i].ds] : 0;
      if (!sid || !isfinite(r[i].value)) {
        skipped++;
        continue;
      }
      w[nrows] = (sq_row_t){.sid = sid,
                            .time = r[i].time_ms,
                            .value = r[i].value,
                            .flags = r[i].flags,
                            .seq = (uint32_t)nrows};
      nrows++;
    }
  }
  qsort(w, nrows, sizeof *w, sq_row_cmp);
  rc = sq_exec(s->w, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return rc;
  for (size_t i = 0; rc == SQLITE_OK && i < nrows;) {
    if (multi && nrows - i >= SQ_INS_ROWS && sq_rows_plain(&w[i])) {
      rc = sq_put_rows(s, &w[i], &rows);
      i += SQ_INS_ROWS;
    } else {
      rc = sq_put_row(s, &w[i], &rows, &dups, &updates);
      i++;
    }
  }
  if (rc == SQLITE_OK && kk_store_map_days(&s->hours, &s->days) != 0)
    rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK)
    rc = sq_flush_map(s, &s->hours, s->ws[SQ_W_HOUR], s->ws[SQ_W_HOURN]);
  if (rc == SQLITE_OK)
    rc = sq_flush_map(s, &s->days, s->ws[SQ_W_DAY], s->ws[SQ_W_DAYN]);
  /* After the deltas of new rows: recompute the buckets of replaced ones. */
  for (size_t t = 0; rc == SQLITE_OK && t < s->ntouched; t++) {
    for (int k = 0; k < 2 && rc == SQLITE_OK; k++) {
      sqlite3_stmt *q = s->ws[k ? SQ_W_REDAY : SQ_W_REHOUR];
      int64_t w = k ? KK_DAY_MS : KK_HOUR_MS;
      sqlite3_bind_int64(q, 1, s->touched[t].ds);
      sqlite3_bind_int64(q, 2, kk_store_bucket(s->touched[t].time, w));
      rc = sqlite3_step(q);
      sqlite3_reset(q);
      rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
  }
  if (rc == SQLITE_OK) rc = sq_exec(s->w, "COMMIT");
  if (rc != SQLITE_OK) {
    int saved = rc;
    sq_exec(s->w, "ROLLBACK");
    rc = saved;
  }
  kk_store_map_clear(&s->hours);
  kk_store_map_clear(&s->days);
  if (rc == SQLITE_OK) {
    kk_metric_add(s->m_rows, rows);
    kk_metric_add(s->m_dups, dups);
    kk_metric_add(s->m_updates, updates);
    kk_metric_add(s->m_skipped, skipped);
    kk_metric_add(s->m_txns, 1);
  }
  return rc;
}

/* Multi-row INSERTs, unless the store held rows of a recent transaction
 * already: then that transaction is written again row by row (each row's
 * insert says whether it was new, which the rollups need), and so are the
 * next few. */
int sq_write(sq_state_t *s, kk_batch_t **b, size_t n) {
  int rc = sq_write_once(s, b, n, s->single_txns == 0);
  if (rc == SQ_REDO) {
    s->single_txns = 16;
    rc = sq_write_once(s, b, n, 0);
  } else if (s->single_txns) {
    s->single_txns--;
  }
  return rc;
}
