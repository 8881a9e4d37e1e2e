/*
 * modules/store/sqlite/sqlite_txn.c - store.sqlite's write transaction:
 * new datastreams resolved to store ids, the rows of the queued batches
 * placed in the table's order and inserted (32 to a statement), the
 * rollups summed as they go in, replaced observations' buckets
 * recomputed.  Writer thread only (see
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

/* ---- rollups -------------------------------------------------------- */

/* The bucket of a rollup being summed (count 0: none), and the finished
 * ones that wait to be upserted SQ_INS_ROWS to a statement. */
typedef struct sq_roll {
  kk_store_delta_t cur;
  kk_store_delta_t pend[SQ_INS_ROWS];
  int npend;
  int64_t width; /* KK_HOUR_MS or KK_DAY_MS */
  sqlite3_stmt *q1, *qn;
} sq_roll_t;

static void sq_bind_delta(sqlite3_stmt *q, int at, const kk_store_delta_t *d) {
  sqlite3_bind_int64(q, at + 1, d->ds);
  sqlite3_bind_int64(q, at + 2, d->bucket);
  sqlite3_bind_int64(q, at + 3, d->count);
  sqlite3_bind_double(q, at + 4, d->sum);
  sqlite3_bind_double(q, at + 5, d->min);
  sqlite3_bind_double(q, at + 6, d->max);
}

/* Upserts the finished buckets: all in one statement when there are
 * SQ_INS_ROWS of them, else one by one (the last of a transaction). */
static int sq_roll_flush(sq_roll_t *r) {
  int rc = SQLITE_OK;
  if (r->npend == SQ_INS_ROWS) {
    for (int k = 0; k < SQ_INS_ROWS; k++) {
      sq_bind_delta(r->qn, 7 * k, &r->pend[k]);
      sqlite3_bind_double(r->qn, 7 * k + 7,
                          r->pend[k].sum / (double)r->pend[k].count);
    }
    rc = sq_step_done(r->qn);
  } else {
    for (int k = 0; k < r->npend && rc == SQLITE_OK; k++) {
      sq_bind_delta(r->q1, 0, &r->pend[k]);
      rc = sq_step_done(r->q1);
    }
  }
  r->npend = 0;
  return rc;
}

static int sq_roll_add(sq_roll_t *r, sq_roll_t *up, int64_t ds, int64_t bucket,
                       int64_t count, double sum, double min, double max);

/* Finishes r's open bucket: adds it to its day when r is the hourly
 * rollup (`up`), and queues it for the upsert. */
static int sq_roll_close(sq_roll_t *r, sq_roll_t *up) {
  kk_store_delta_t *c = &r->cur;
  if (!c->count) return SQLITE_OK;
  int rc = SQLITE_OK;
  if (up) {
    rc = sq_roll_add(up, NULL, c->ds, kk_store_bucket(c->bucket, up->width),
                     c->count, c->sum, c->min, c->max);
    if (rc != SQLITE_OK) return rc;
  }
  r->pend[r->npend++] = *c;
  c->count = 0;
  return r->npend == SQ_INS_ROWS ? sq_roll_flush(r) : SQLITE_OK;
}

/* Adds new rows' aggregate to bucket (ds, bucket) of r.  The rows of a
 * transaction come grouped by datastream and in time order, so one
 * datastream's hour (and day) is one run: a bucket is finished when the
 * next rows leave it, and no map of all the transaction's buckets is
 * needed; the upserts walk the rollup tables in (ds, bucket) order as
 * the rows walk the observations. */
static int sq_roll_add(sq_roll_t *r, sq_roll_t *up, int64_t ds, int64_t bucket,
                       int64_t count, double sum, double min, double max) {
  kk_store_delta_t *c = &r->cur;
  if (c->count && (c->ds != ds || c->bucket != bucket)) {
    int rc = sq_roll_close(r, up);
    if (rc != SQLITE_OK) return rc;
  }
  if (!c->count) {
    *c = (kk_store_delta_t){ds, bucket, count, sum, min, max};
  } else {
    c->count += count;
    c->sum += sum;
    if (min < c->min) c->min = min;
    if (max > c->max) c->max = max;
  }
  return SQLITE_OK;
}

/* Finishes the open hour and day and upserts what waits. */
static int sq_roll_finish(sq_roll_t *h, sq_roll_t *d) {
  int rc = sq_roll_close(h, d);
  if (rc == SQLITE_OK) rc = sq_roll_close(d, NULL);
  if (rc == SQLITE_OK) rc = sq_roll_flush(h);
  if (rc == SQLITE_OK) rc = sq_roll_flush(d);
  return rc;
}

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

/* ---- rows in order -------------------------------------------------- */

/* One row of a transaction (24 bytes: a transaction of 65 536 readings
 * holds 1.5 MiB of them).  `ds` is the process datastream id; its store
 * id is s->dsmap[ds]. */
typedef struct sq_row {
  int64_t time;
  double value;
  uint32_t ds, flags;
} sq_row_t;

#define SID(s, w) ((s)->dsmap[(w)->ds])

/* A datastream of the transaction, for ordering the groups. */
struct sq_group {
  int64_t sid;
  uint32_t ds;
};

static int sq_group_cmp(const void *a, const void *b) {
  const struct sq_group *x = a, *y = b;
  return (x->sid > y->sid) - (x->sid < y->sid);
}

/* Sorts one datastream's rows by time, stably (a value and its later
 * update keep their order).  They arrive in time order nearly always, so
 * the check is all the work; else an insertion sort for a few, a merge
 * sort (with s->tmp) for many. */
static int sq_time_sort(sq_state_t *s, sq_row_t *w, size_t g) {
  size_t i = 1;
  while (i < g && w[i - 1].time <= w[i].time)
    i++;
  if (i >= g) return 0;
  if (g <= 32) {
    for (; i < g; i++) {
      sq_row_t x = w[i];
      size_t j = i;
      for (; j > 0 && w[j - 1].time > x.time; j--)
        w[j] = w[j - 1];
      w[j] = x;
    }
    return 0;
  }
  if (g > s->captmp) {
    sq_row_t *n = realloc(s->tmp, g * sizeof *n);
    if (!n) return -1;
    s->tmp = n;
    s->captmp = g;
  }
  sq_row_t *a = w, *b = s->tmp;
  for (size_t run = 1; run < g; run *= 2) {
    for (size_t lo = 0; lo < g; lo += 2 * run) {
      size_t mid = lo + run < g ? lo + run : g;
      size_t hi = lo + 2 * run < g ? lo + 2 * run : g;
      size_t x = lo, y = mid, o = lo;
      while (x < mid && y < hi)
        b[o++] = a[y].time < a[x].time ? a[y++] : a[x++];
      while (x < mid)
        b[o++] = a[x++];
      while (y < hi)
        b[o++] = a[y++];
    }
    sq_row_t *t = a;
    a = b;
    b = t;
  }
  if (a != w) memcpy(w, a, g * sizeof *w);
  if (s->captmp > 65536) { /* give back the memory of a huge one */
    free(s->tmp);
    s->tmp = NULL;
    s->captmp = 0;
  }
  return 0;
}

/* Places the storable readings of b[0..n) in s->rows grouped by store id
 * (ascending), each group in time order: the order the table keeps them
 * in (WITHOUT ROWID, by datastream and time), so that each page is
 * changed in one go; in arrival order a thousand sensors round robin
 * would touch every datastream's last page once per message, and a
 * transaction larger than the page cache would spill and reread pages.
 * Counting the rows of each datastream first and placing them second is
 * linear and needs no second array of rows (sorting them did, and glibc's
 * qsort is a merge sort with a buffer as large as its input).  Sets
 * *nrows and *skipped; returns 0 or -1 out of memory. */
static int sq_place_rows(sq_state_t *s, kk_batch_t **b, size_t n, size_t *nrows,
                         int64_t *skipped) {
  size_t total = 0, ngroups = 0;
  *nrows = 0;
  for (size_t k = 0; k < n; k++)
    total += kk_batch_len(b[k]);
  if (total > s->caprows) {
    sq_row_t *nr = realloc(s->rows, total * sizeof *nr);
    if (!nr) return -1;
    s->rows = nr;
    s->caprows = total;
  }
  if (total > UINT32_MAX) return -1; /* (slot[] counts in 32 bits) */
  /* Four bytes per datastream the process knows; the list only as long
   * as the transaction can name. */
  if (s->ndsmap > s->capslot) {
    uint32_t *ns = realloc(s->slot, s->ndsmap * sizeof *ns);
    if (!ns) return -1;
    memset(ns + s->capslot, 0, (s->ndsmap - s->capslot) * sizeof *ns);
    s->slot = ns;
    s->capslot = s->ndsmap;
  }
  size_t most = total < s->ndsmap ? total : s->ndsmap;
  if (most > s->capgroups) {
    struct sq_group *ng = realloc(s->groups, most * sizeof *ng);
    if (!ng) return -1;
    s->groups = ng;
    s->capgroups = most;
  }
  /* Count each datastream's rows (slot[ds]), listing each once. */
  for (size_t k = 0; k < n; k++) {
    const kk_reading_t *r = kk_batch_readings(b[k]);
    size_t len = kk_batch_len(b[k]);
    for (size_t i = 0; i < len; i++) {
      if (r[i].ds >= s->ndsmap || !s->dsmap[r[i].ds] || !isfinite(r[i].value)) {
        (*skipped)++;
        continue;
      }
      if (s->slot[r[i].ds]++ == 0)
        s->groups[ngroups++] = (struct sq_group){s->dsmap[r[i].ds], r[i].ds};
    }
  }
  if (ngroups > 1) qsort(s->groups, ngroups, sizeof *s->groups, sq_group_cmp);
  /* slot[ds]: where the datastream's next row goes. */
  size_t at = 0;
  for (size_t g = 0; g < ngroups; g++) {
    size_t c = s->slot[s->groups[g].ds];
    s->slot[s->groups[g].ds] = (uint32_t)at;
    at += c;
  }
  sq_row_t *w = s->rows;
  for (size_t k = 0; k < n; k++) {
    const kk_reading_t *r = kk_batch_readings(b[k]);
    size_t len = kk_batch_len(b[k]);
    for (size_t i = 0; i < len; i++) {
      if (r[i].ds >= s->ndsmap || !s->dsmap[r[i].ds] || !isfinite(r[i].value))
        continue;
      w[s->slot[r[i].ds]++] = (sq_row_t){.time = r[i].time_ms,
                                         .value = r[i].value,
                                         .ds = r[i].ds,
                                         .flags = r[i].flags};
    }
  }
  /* Now slot[ds] is where its group ends; the slots go back to 0. */
  int rc = 0;
  for (size_t g = 0, from = 0; g < ngroups; g++) {
    size_t end = s->slot[s->groups[g].ds];
    s->slot[s->groups[g].ds] = 0;
    if (rc == 0) rc = sq_time_sort(s, w + from, end - from);
    from = end;
  }
  *nrows = at;
  return rc;
}

/* ---- inserts -------------------------------------------------------- */

/* Inserts one row (or replaces it, for an update); counts what happened. */
static int sq_put_row(sq_state_t *s, sq_roll_t *roll, const sq_row_t *w,
                      int64_t *rows, int64_t *dups, int64_t *updates) {
  sqlite3_stmt *ins = s->ws[SQ_W_INS];
  int64_t sid = SID(s, w);
  sqlite3_bind_int64(ins, 1, sid);
  sqlite3_bind_int64(ins, 2, w->time);
  sqlite3_bind_double(ins, 3, w->value);
  int rc = sqlite3_step(ins);
  sqlite3_reset(ins);
  if (rc != SQLITE_DONE) return rc;
  if (sqlite3_changes(s->w) == 0) {
    if (w->flags & KK_READING_UPDATE) {
      sqlite3_stmt *u = s->ws[SQ_W_UPD];
      sqlite3_bind_int64(u, 1, sid);
      sqlite3_bind_int64(u, 2, w->time);
      sqlite3_bind_double(u, 3, w->value);
      rc = sqlite3_step(u);
      sqlite3_reset(u);
      if (rc != SQLITE_DONE) return rc;
      if (sqlite3_changes(s->w) > 0) {
        if (sq_touch(s, sid, w->time) != 0) return SQLITE_NOMEM;
        (*updates)++;
        return SQLITE_OK;
      }
    }
    (*dups)++;
    return SQLITE_OK;
  }
  (*rows)++;
  return sq_roll_add(&roll[0], &roll[1], sid,
                     kk_store_bucket(w->time, KK_HOUR_MS), 1, w->value,
                     w->value, w->value);
}

/* The rows whose insert sq_put_rows() cannot tell apart: the store may
 * have held any of them, which a multi-row INSERT reports only as a
 * total. */
#define SQ_REDO (-1000)

/* Inserts SQ_INS_ROWS new rows (none of them an update) with one
 * statement and adds them to the hourly rollup, a datastream's hour at a
 * time.  SQ_REDO when the store already held one of them: the
 * transaction is then written again row by row. */
static int sq_put_rows(sq_state_t *s, sq_roll_t *roll, const sq_row_t *w,
                       int64_t *rows) {
  sqlite3_stmt *q = s->ws[SQ_W_INSN];
  for (int i = 0; i < SQ_INS_ROWS; i++) {
    sqlite3_bind_int64(q, 3 * i + 1, SID(s, &w[i]));
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
    for (; k < SQ_INS_ROWS && w[k].ds == w[i].ds &&
           kk_store_bucket(w[k].time, KK_HOUR_MS) == bucket;
         k++) {
      sum += w[k].value;
      if (w[k].value < min) min = w[k].value;
      if (w[k].value > max) max = w[k].value;
    }
    rc = sq_roll_add(&roll[0], &roll[1], SID(s, &w[i]), bucket, k - i, sum, min,
                     max);
    if (rc != SQLITE_OK) return rc;
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

/* Writes `n` batches in one transaction, the rows in the table's order
 * (sq_place_rows), the rollups summed as they go in (sq_roll_add).
 * Returns a SQLite code; on failure everything is rolled back. */
static int sq_write_once(sq_state_t *s, kk_batch_t **b, size_t n, int multi) {
  int64_t rows = 0, dups = 0, skipped = 0, updates = 0;
  s->ntouched = 0;
  int rc = sq_resolve_new(s, b, n);
  if (rc != SQLITE_OK) return rc;
  size_t nrows;
  if (sq_place_rows(s, b, n, &nrows, &skipped) != 0) return SQLITE_NOMEM;
  sq_roll_t roll[2] = {
      {.width = KK_HOUR_MS, .q1 = s->ws[SQ_W_HOUR], .qn = s->ws[SQ_W_HOURN]},
      {.width = KK_DAY_MS, .q1 = s->ws[SQ_W_DAY], .qn = s->ws[SQ_W_DAYN]}};
  rc = sq_exec(s->w, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return rc;
  const sq_row_t *w = s->rows;
  for (size_t i = 0; rc == SQLITE_OK && i < nrows;) {
    if (multi && nrows - i >= SQ_INS_ROWS && sq_rows_plain(&w[i])) {
      rc = sq_put_rows(s, roll, &w[i], &rows);
      i += SQ_INS_ROWS;
    } else {
      rc = sq_put_row(s, roll, &w[i], &rows, &dups, &updates);
      i++;
    }
  }
  if (rc == SQLITE_OK) rc = sq_roll_finish(&roll[0], &roll[1]);
  /* After the deltas of new rows: recompute the buckets of replaced ones. */
  for (size_t t = 0; rc == SQLITE_OK && t < s->ntouched; t++) {
    for (int k = 0; k < 2 && rc == SQLITE_OK; k++) {
      sqlite3_stmt *q = s->ws[k ? SQ_W_REDAY : SQ_W_REHOUR];
      int64_t width = k ? KK_DAY_MS : KK_HOUR_MS;
      sqlite3_bind_int64(q, 1, s->touched[t].ds);
      sqlite3_bind_int64(q, 2, kk_store_bucket(s->touched[t].time, width));
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
