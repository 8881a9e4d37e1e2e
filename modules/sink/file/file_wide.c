/*
 * modules/sink/file/file_wide.c - wide mode: readings of one (thing, time)
 * joined into one row with a column per chosen property.
 *
 * Readings of a row may arrive in different batches (a device that
 * publishes each property as its own message).  A row is held open in
 * memory and written, whole, in one of these cases:
 *   - it is complete: every column has a value;
 *   - time moved on: a reading of the same thing arrives whose time is
 *     more than `lateness` after the row's (devices send in time order);
 *   - it has been open for `hold` (wall clock): a column that never comes;
 *   - a cell gets a second, different value (the row is written and a new
 *     one opened, so that no value is overwritten);
 *   - too many rows are open (max_rows), or the open rows hold back too
 *     many readings (max_held): the oldest are written first;
 *   - the stage stops.
 * A row written without every column has empty cells (counted in
 * kk_file_partial_rows_total).  A reading that arrives after its row was
 * written opens a new row for the same (thing, time).
 *
 * A batch counts as finished only once every row holding one of its
 * readings has been written (file.c), so a crash loses no held reading:
 * the journal replays those batches.
 */
#include "sink/file/file.h"

#include <stdlib.h>
#include <string.h>

static size_t file_hash(const char *s) {
  size_t h = 1469598103934665603ull & SIZE_MAX;
  while (*s)
    h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

static int file_thash_grow(file_state_t *s) {
  size_t n = s->nthash ? s->nthash * 2 : 256;
  uint32_t *t = calloc(n, sizeof *t);
  if (!t) return KK_ENOMEM;
  for (size_t i = 0; i < s->nthings; i++) {
    size_t j = file_hash(s->things[i].name) & (n - 1);
    while (t[j])
      j = (j + 1) & (n - 1);
    t[j] = (uint32_t)i + 1;
  }
  free(s->thash);
  s->thash = t;
  s->nthash = n;
  return 0;
}

/* The index of thing `name`, added on first use; -1 when out of memory. */
static long file_thing(file_state_t *s, const char *name) {
  if (2 * (s->nthings + 1) > s->nthash && file_thash_grow(s)) return -1;
  size_t j = file_hash(name) & (s->nthash - 1);
  for (; s->thash[j]; j = (j + 1) & (s->nthash - 1))
    if (strcmp(s->things[s->thash[j] - 1].name, name) == 0)
      return (long)s->thash[j] - 1;
  if (s->nthings == s->capthings) {
    size_t n = s->capthings ? s->capthings * 2 : 64;
    file_thing_t *t = realloc(s->things, n * sizeof *t);
    if (!t) return -1;
    s->things = t;
    s->capthings = n;
  }
  char *copy = strdup(name);
  if (!copy) return -1;
  s->things[s->nthings] = (file_thing_t){copy, NULL};
  s->thash[j] = (uint32_t)++s->nthings;
  return (long)s->nthings - 1;
}

/* Resolves datastream `ds` to its thing and column (-1: no column). */
static int file_ds(file_state_t *s, uint32_t ds, uint32_t *thing, int *col) {
  if (ds >= s->nds) {
    size_t n = s->nds ? s->nds : 64;
    while (n <= ds)
      n *= 2;
    uint32_t *t = realloc(s->ds_thing, n * sizeof *t);
    if (t) s->ds_thing = t;
    int32_t *c = t ? realloc(s->ds_col, n * sizeof *c) : NULL;
    if (!c) return KK_ENOMEM;
    s->ds_col = c;
    memset(t + s->nds, 0, (n - s->nds) * sizeof *t);
    memset(c + s->nds, 0, (n - s->nds) * sizeof *c);
    s->nds = n;
  }
  if (s->ds_col[ds] == 0) {
    const kk_datastream_t *d = kk_datastream_get(ds);
    int32_t found = -1;
    for (size_t i = 0; d && i < s->ncols && found < 0; i++)
      if (strcmp(s->cols[i].property, d->property) == 0 &&
          (!s->cols[i].unit || strcmp(s->cols[i].unit, d->unit) == 0))
        found = (int32_t)i + 1;
    long t = d && found > 0 ? file_thing(s, d->thing) : 0;
    if (t < 0) return KK_ENOMEM;
    s->ds_thing[ds] = (uint32_t)t + 1;
    s->ds_col[ds] = found;
  }
  *thing = s->ds_thing[ds] - 1;
  *col = s->ds_col[ds] > 0 ? s->ds_col[ds] - 1 : -1;
  return 0;
}

static file_row_t *file_row_new(file_state_t *s, uint32_t thing, int64_t t,
                                uint64_t batch) {
  file_row_t *r = s->free_rows;
  if (r) {
    s->free_rows = r->next;
  } else {
    r = malloc(sizeof *r + s->ncols * (sizeof(double) + 1));
    if (!r) return NULL;
    r->val = (double *)(r + 1);
    r->set = (unsigned char *)(r->val + s->ncols);
  }
  memset(r->set, 0, s->ncols);
  r->thing = thing;
  r->time_ms = t;
  r->first_batch = batch;
  r->opened = uv_now(kk_stage_loop(s->st));
  r->nset = 0;
  r->next = NULL;
  s->nrows++;
  return r;
}

/* Writes the row at *link into s->out, unlinks and frees it. */
static int file_row_close(file_state_t *s, file_row_t **link) {
  file_row_t *r = *link;
  int rc = sink_file_row(s, r);
  *link = r->next;
  r->next = s->free_rows;
  s->free_rows = r;
  s->nrows--;
  return rc;
}

/* Writes the rows that hold readings of batches up to `batch` (or every
 * row with `batch` = UINT64_MAX), thing by thing. */
void sink_file_wide_close_upto(file_state_t *s, uint64_t batch) {
  for (size_t i = 0; i < s->nthings; i++)
    for (file_row_t **l = &s->things[i].rows; *l;)
      if ((*l)->first_batch <= batch) {
        if (file_row_close(s, l)) s->failed = 1; /* out of memory */
      } else {
        l = &(*l)->next;
      }
}

void sink_file_wide_close_old(file_state_t *s, uint64_t now, int all) {
  for (size_t i = 0; i < s->nthings; i++)
    for (file_row_t **l = &s->things[i].rows; *l;)
      if (all || now - (*l)->opened >= s->hold_ms) {
        if (file_row_close(s, l)) s->failed = 1;
      } else {
        l = &(*l)->next;
      }
}

uint64_t sink_file_wide_low(const file_state_t *s) {
  uint64_t low = UINT64_MAX;
  if (!s->nrows) return low;
  for (size_t i = 0; i < s->nthings; i++)
    for (const file_row_t *r = s->things[i].rows; r; r = r->next)
      if (r->first_batch < low) low = r->first_batch;
  return low;
}

/* Too many open rows: write the older half (by the batch they began in). */
static void file_rows_shed(file_state_t *s) {
  uint64_t low = sink_file_wide_low(s), high = 0;
  for (size_t i = 0; i < s->nthings; i++)
    for (const file_row_t *r = s->things[i].rows; r; r = r->next)
      if (r->first_batch > high) high = r->first_batch;
  kk_metric_add(s->m_early, 1);
  sink_file_wide_close_upto(s, low + (high - low) / 2);
}

int sink_file_wide_add(file_state_t *s, const kk_reading_t *r, uint64_t batch) {
  uint32_t thing;
  int col, rc = file_ds(s, r->ds, &thing, &col);
  if (rc) return rc;
  if (col < 0) {
    kk_metric_add(s->m_nocol, 1);
    return 0;
  }
  file_row_t **l = &s->things[thing].rows;
  /* Time moved on: rows older than the lateness allows are done. */
  while (*l && (*l)->time_ms + (int64_t)s->lateness_ms < r->time_ms)
    if ((rc = file_row_close(s, l))) return rc;
  while (*l && (*l)->time_ms < r->time_ms)
    l = &(*l)->next;
  if (*l && (*l)->time_ms == r->time_ms && (*l)->set[col]) {
    if ((*l)->val[col] == r->value) return 0;   /* the same reading again */
    if ((rc = file_row_close(s, l))) return rc; /* keep both values */
  }
  if (!*l || (*l)->time_ms != r->time_ms) {
    if (s->nrows >= s->max_rows) {
      file_rows_shed(s);
      return sink_file_wide_add(s, r, batch); /* the links moved */
    }
    file_row_t *n = file_row_new(s, thing, r->time_ms, batch);
    if (!n) return KK_ENOMEM;
    n->next = *l;
    *l = n;
  }
  file_row_t *row = *l;
  row->val[col] = r->value;
  row->set[col] = 1;
  if (++row->nset == s->ncols) return file_row_close(s, l);
  return 0;
}

void sink_file_wide_free(file_state_t *s) {
  for (size_t i = 0; i < s->nthings; i++) {
    while (s->things[i].rows) {
      file_row_t *r = s->things[i].rows;
      s->things[i].rows = r->next;
      free(r);
    }
    free(s->things[i].name);
  }
  while (s->free_rows) {
    file_row_t *r = s->free_rows;
    s->free_rows = r->next;
    free(r);
  }
  free(s->things);
  free(s->thash);
  free(s->ds_thing);
  free(s->ds_col);
}
