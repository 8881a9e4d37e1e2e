/*
 * modules/calc/calc_util.c - rejection counters, cumulative meters and
 * state snapshots shared by the calc modules.
 */
#include "calc/calc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const calc_rej_names[CALC_REJ_N] = {
    "nan",       "negative",     "unit",           "unknown_carrier",
    "no_factor", "out_of_order", "meter_decrease", "too_late",
    "unmapped"};

static kk_metric_t *calc_reject_counter(kk_stage_t *st, calc_rej_t why) {
  return st ? kk_stage_counter(st, "kk_rejected_total", calc_rej_names[why],
                               "Readings rejected by a stage, by reason")
            : NULL;
}

void calc_rejects_init(calc_rejects_t *r, kk_stage_t *st, unsigned reasons) {
  memset(r, 0, sizeof *r);
  r->st = st;
  r->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 10);
  for (int i = 0; i < CALC_REJ_N; i++)
    if (reasons & CALC_REJ_BIT(i)) r->m[i] = calc_reject_counter(st, i);
}

void calc_reject(calc_rejects_t *r, calc_rej_t why, const kk_reading_t *rd,
                 const char *fmt, ...) {
  r->n[why]++;
  if (!r->m[why]) r->m[why] = calc_reject_counter(r->st, why);
  kk_metric_add(r->m[why], 1);
  if (!r->st || !kk_ratelimit_ok(&r->rl)) return;
  char msg[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  kk_stage_log(r->st, KK_LOG_WARN,
               "reading %s/%s at %" PRId64 " rejected (%s): %s",
               calc_thing(rd->ds), calc_property(rd->ds), rd->time_ms,
               calc_rej_names[why], msg);
}

void calc_rejects_restored(calc_rejects_t *r, uint32_t ds) {
  if (!ds || calc_grow((void **)&r->replaying, &r->nreplaying, ds, 1)) return;
  r->replaying[ds] = 1;
}

void calc_rejects_live(calc_rejects_t *r, uint32_t ds) {
  if (ds < r->nreplaying) r->replaying[ds] = 0;
}

void calc_replay_count(calc_rejects_t *r, const kk_reading_t *rd) {
  r->replayed++;
  if (!r->m_replayed && r->st)
    r->m_replayed = kk_stage_counter(
        r->st, "kk_replayed_total", NULL,
        "Readings skipped because the state restored from the snapshot "
        "already holds them (history a source produced again after a "
        "restart)");
  kk_metric_add(r->m_replayed, 1);
  if (r->replay_told || !r->st) return;
  r->replay_told = 1;
  kk_stage_log(r->st, KK_LOG_INFO,
               "reading %s/%s at %" PRId64
               " (and any further one the restored state already holds) "
               "skipped: history produced again after a restart, counted "
               "in kk_replayed_total, not as out of order",
               calc_thing(rd->ds), calc_property(rd->ds), rd->time_ms);
}

int calc_replayed(calc_rejects_t *r, const kk_reading_t *rd) {
  if (rd->ds >= r->nreplaying || !r->replaying[rd->ds]) return 0;
  calc_replay_count(r, rd);
  return 1;
}

void calc_rejects_free(calc_rejects_t *r) {
  free(r->replaying);
  r->replaying = NULL;
  r->nreplaying = 0;
}

double calc_kwh_per_unit(const char *u) {
  static const struct {
    const char *u;
    double f;
  } t[] = {{"kW.h", 1},   {"kWh", 1},    {"W.h", 1e-3},
           {"Wh", 1e-3},  {"MW.h", 1e3}, {"MWh", 1e3},
           {"GW.h", 1e6}, {"GWh", 1e6},  {NULL, 0}};
  for (size_t i = 0; u && t[i].u; i++)
    if (strcmp(u, t[i].u) == 0) return t[i].f;
  return 0;
}

const char *calc_thing(uint32_t ds) {
  const kk_datastream_t *d = kk_datastream_get(ds);
  return d ? d->thing : "";
}
const char *calc_property(uint32_t ds) {
  const kk_datastream_t *d = kk_datastream_get(ds);
  return d ? d->property : "";
}
const char *calc_unit(uint32_t ds) {
  const kk_datastream_t *d = kk_datastream_get(ds);
  return d ? d->unit : "";
}

int calc_grow(void **arr, size_t *cap, size_t i, size_t size) {
  if (i < *cap) return 0;
  size_t n = *cap ? *cap : 64;
  while (n <= i)
    n *= 2;
  char *p = realloc(*arr, n * size);
  if (!p) return KK_ENOMEM;
  memset(p + *cap * size, 0, (n - *cap) * size);
  *arr = p;
  *cap = n;
  return 0;
}

/* ---- meters ----------------------------------------------------------- */

int calc_meter_step(calc_meters_t *ms, calc_rejects_t *rj,
                    const kk_reading_t *r, double *delta) {
  if (calc_grow((void **)&ms->m, &ms->cap, r->ds, sizeof *ms->m)) return -1;
  calc_meter_t *m = &ms->m[r->ds];
  if (!m->have) {
    m->have = 1;
    m->t = r->time_ms;
    m->v = r->value;
    return 0;
  }
  if (r->time_ms <= m->t) {
    if (r->time_ms == m->t && r->value == m->v) return 0; /* a duplicate */
    if (m->restored) {
      calc_replay_count(rj, r); /* what the snapshot holds, again */
      return -1;
    }
    calc_reject(rj, CALC_REJ_OUT_OF_ORDER, r,
                "meter reading older than the last one (%" PRId64 ")", m->t);
    return -1;
  }
  m->restored = 0;
  double d = r->value - m->v;
  m->t = r->time_ms;
  m->v = r->value;
  if (d < 0) {
    calc_reject(rj, CALC_REJ_METER_DECREASE, r,
                "cumulative meter went down by %g: new baseline", -d);
    return -1;
  }
  *delta = d;
  return 1;
}

void calc_meters_free(calc_meters_t *ms) {
  free(ms->m);
  ms->m = NULL;
  ms->cap = 0;
}

/* Datastreams are saved by name: ids are not stable across runs. */
int calc_meters_save(const calc_meters_t *ms, FILE *f) {
  for (size_t i = 0; i < ms->cap; i++)
    if (ms->m[i].have)
      fprintf(f, "M\t%s\t%s\t%s\t%" PRId64 "\t%.17g\n", calc_thing((uint32_t)i),
              calc_property((uint32_t)i), calc_unit((uint32_t)i), ms->m[i].t,
              ms->m[i].v);
  return 0;
}

/* Splits a tab-separated line in place into at most n fields. */
static int split(char *s, char **f, int n) {
  int k = 0;
  while (k < n) {
    f[k++] = s;
    char *t = strchr(s, '\t');
    if (!t) break;
    *t = 0;
    s = t + 1;
  }
  return k;
}

int calc_meters_load(calc_meters_t *ms, const char *line) {
  if (line[0] != 'M' || line[1] != '\t') return 0;
  char buf[1024], *f[6];
  snprintf(buf, sizeof buf, "%s", line + 2);
  if (split(buf, f, 5) != 5) return KK_EPARSE;
  uint32_t ds = kk_datastream_id(f[0], f[1], f[2]);
  if (!ds || calc_grow((void **)&ms->m, &ms->cap, ds, sizeof *ms->m))
    return KK_ENOMEM;
  ms->m[ds].have = 1;
  ms->m[ds].restored = 1;
  ms->m[ds].t = strtoll(f[3], NULL, 10);
  ms->m[ds].v = strtod(f[4], NULL);
  return 0;
}

/* ---- snapshots ----------------------------------------------------------- */

int calc_snapshot_save(kk_stage_t *st, uint64_t seq, calc_save_fn fn,
                       void *state) {
  const char *dir = kk_stage_data_dir(st);
  if (!dir) return 0;
  int rc = kk_mkdirs(dir, 0);
  if (rc) return rc;
  char tmp[4200], path[4200];
  snprintf(path, sizeof path, "%s/state.txt", dir);
  snprintf(tmp, sizeof tmp, "%s/state.txt.tmp", dir);
  FILE *f = fopen(tmp, "w");
  if (!f) return -errno;
  fprintf(f, "klimakit-calc-state 1\nS\t%" PRIu64 "\n", seq);
  rc = fn(state, f);
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = rc ? rc : -errno;
  if (fclose(f) != 0) rc = rc ? rc : -errno;
  if (!rc && rename(tmp, path) != 0) rc = -errno;
  if (rc) {
    unlink(tmp);
    kk_stage_log(st, KK_LOG_ERROR, "cannot save state to %s: %s", path,
                 kk_strerror(rc));
  }
  return rc;
}

int calc_snapshot_load(kk_stage_t *st, uint64_t *seq, calc_load_fn fn,
                       void *state) {
  *seq = 0;
  const char *dir = kk_stage_data_dir(st);
  if (!dir) return 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/state.txt", dir);
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? 0 : -errno;
  /* getline: a line holds a day's slot bitmap (calc.outdoor_air), which
   * at short intervals is longer than any fixed buffer. */
  char *line = NULL;
  size_t cap = 0;
  int rc = 0, lineno = 0;
  while (!rc && getline(&line, &cap, f) >= 0) {
    lineno++;
    line[strcspn(line, "\n")] = 0;
    if (lineno == 1) {
      if (strcmp(line, "klimakit-calc-state 1") != 0) rc = KK_ECORRUPT;
      continue;
    }
    if (line[0] == 'S' && line[1] == '\t')
      *seq = strtoull(line + 2, NULL, 10);
    else
      rc = fn(state, line);
  }
  free(line);
  fclose(f);
  if (rc)
    kk_stage_error(st, "%s:%d: cannot read saved state: %s", path, lineno,
                   kk_strerror(rc));
  return rc;
}

/* ---- lifecycle ------------------------------------------------------------
 */

void calc_base_init(calc_base_t *b, kk_stage_t *st, uint64_t interval_ms,
                    calc_save_fn save, calc_load_fn load, void *state) {
  memset(b, 0, sizeof *b);
  b->st = st;
  b->interval_ms = interval_ms;
  b->save = save;
  b->load = load;
  b->state = state;
}

/* Saves the snapshot; once it is on disk, the journal is held at its
 * position: after a crash the engine replays from there, so batches
 * absorbed after the snapshot are absorbed again (calc_base_skip drops
 * those the snapshot already has).  No hold before the first snapshot:
 * a new calculator starts with what comes, not with the whole journal. */
static void base_save(calc_base_t *b) {
  if (calc_snapshot_save(b->st, b->seq, b->save, b->state) == 0 && b->seq)
    kk_stage_hold(b->st, b->seq);
}

static void base_tick(uv_timer_t *h) {
  base_save(h->data);
}

int calc_base_start(calc_base_t *b) {
  int rc = calc_snapshot_load(b->st, &b->seq, b->load, b->state);
  if (rc) return rc;
  if (b->seq) kk_stage_hold(b->st, b->seq);
  if (b->interval_ms) {
    uv_timer_init(kk_stage_loop(b->st), &b->timer);
    b->timer.data = b;
    b->timer_open = 1;
    uv_timer_start(&b->timer, base_tick, b->interval_ms, b->interval_ms);
    uv_unref((uv_handle_t *)&b->timer);
  }
  return 0;
}

int calc_base_skip(calc_base_t *b, const kk_batch_t *batch) {
  uint64_t seq = kk_batch_seq(batch);
  /* Journal positions only grow while the engine runs, so a batch at or
   * below the last absorbed one is a replay after a restart (the position
   * says more than KK_READING_REPLAY: which replays the state has). */
  if (seq && seq <= b->seq) return 1;
  if (seq > b->seq) b->seq = seq;
  return 0;
}

static void base_closed(uv_handle_t *h) {
  calc_base_t *b = h->data;
  base_save(b);
  b->stop_cb(b->st);
}

void calc_base_stop(calc_base_t *b, kk_stop_cb cb) {
  b->stop_cb = cb;
  if (b->timer_open) {
    b->timer_open = 0;
    uv_close((uv_handle_t *)&b->timer, base_closed);
    return;
  }
  base_save(b);
  cb(b->st);
}
