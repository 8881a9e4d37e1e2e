/*
 * modules/calc/window.c - calc.window: tumbling windows per hour, day,
 * month and year with sum, avg, min, max and count.
 *
 * Boundaries are local time (Europe/Berlin by default, summer time by the
 * EU rule, see calc_time.c): a local day is 23 or 25 hours long on the
 * switch days.  A window is emitted once it closes (a later reading of
 * the same datastream arrived); a late reading updates its window and the
 * updated aggregate is emitted again under the same (datastream, time),
 * which a store replaces.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"

typedef struct win_out {
  uint32_t ds[CALC_P_N][CALC_S_N];
} win_out_t;

typedef struct window_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_windows_t *w;
  unsigned periods, stats;
  int flush_at_stop;
  uint8_t *want; /* per input ds: 0 unknown, 1 aggregate, 2 ignore */
  size_t nwant;
  win_out_t *out;
  size_t nout;
  uint64_t batches;
} window_state_t;

static int window_save(void *state, FILE *f) {
  return calc_windows_save(((window_state_t *)state)->w, f);
}
static int window_load(void *state, const char *line) {
  return calc_windows_load(((window_state_t *)state)->w, line);
}

static uint32_t out_ds(window_state_t *s, uint32_t key, int p, int stat) {
  if (calc_grow((void **)&s->out, &s->nout, key, sizeof *s->out)) return 0;
  uint32_t *o = &s->out[key].ds[p][stat];
  if (!*o) {
    char prop[256];
    snprintf(prop, sizeof prop, "%s_%s_%s", calc_property(key),
             calc_period_names[p], calc_stat_names[stat]);
    *o = kk_datastream_id(calc_thing(key), prop,
                          stat == CALC_S_COUNT ? "1" : calc_unit(key));
  }
  return *o;
}

static void window_emit(void *ctx, uint32_t key, int p, int64_t start,
                        int64_t end, const calc_agg_t *a, kk_batch_t *out) {
  (void)end;
  window_state_t *s = ctx;
  for (int k = 0; k < CALC_S_N; k++) {
    if (!(s->stats & (1u << k))) continue;
    double v = k == CALC_S_SUM   ? a->sum
               : k == CALC_S_AVG ? a->sum / (double)a->count
               : k == CALC_S_MIN ? a->min
               : k == CALC_S_MAX ? a->max
                                 : (double)a->count;
    kk_reading_t r = {start, v, out_ds(s, key, p, k), KK_READING_UPDATE};
    if (r.ds) kk_batch_push(out, &r);
  }
}

static int bits_of(kk_stage_t *st, const kk_opts_t *o, const char *opt,
                   const char *const *names, int n, unsigned *mask) {
  *mask = 0;
  for (size_t i = 0; i < kk_opt_list_len(o, opt); i++) {
    const char *v = kk_opt_list_item(o, opt, i);
    int k = 0;
    while (k < n && strcmp(v, names[k]) != 0)
      k++;
    if (k == n) {
      kk_stage_error(st, "%s: '%s' is not one of %s%s%s%s%s", opt, v, names[0],
                     n > 1 ? ", " : "", n > 1 ? names[1] : "",
                     n > 2 ? ", ..." : "", "");
      return KK_EINVAL;
    }
    *mask |= 1u << k;
  }
  if (!*mask) {
    kk_stage_error(st, "%s: empty", opt);
    return KK_EINVAL;
  }
  return 0;
}

static int window_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  window_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  calc_rejects_init(
      &s->rj, st, CALC_REJ_BIT(CALC_REJ_NAN) | CALC_REJ_BIT(CALC_REJ_TOO_LATE));
  int rc = bits_of(st, o, "periods", calc_period_names, CALC_P_N, &s->periods);
  if (!rc) rc = bits_of(st, o, "stats", calc_stat_names, CALC_S_N, &s->stats);
  if (rc) return rc;
  s->flush_at_stop = kk_opt_bool(o, "flush_at_stop");
  s->w = calc_windows_new((calc_tz_t)kk_opt_enum(o, "tz"), s->periods,
                          (int64_t)kk_opt_duration_ms(o, "lateness"),
                          kk_opt_enum(o, "emit") == 1, window_emit, s);
  if (!s->w) return KK_ENOMEM;
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), window_save,
                 window_load, s);
  return 0;
}

static int window_start(kk_stage_t *st, void *state) {
  window_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return calc_base_start(&s->base);
}

static int wanted(window_state_t *s, uint32_t ds) {
  if (calc_grow((void **)&s->want, &s->nwant, ds, 1)) return 0;
  if (!s->want[ds]) {
    size_t n = kk_opt_list_len(s->opts, "property");
    int ok = n == 0;
    for (size_t i = 0; i < n; i++)
      ok |= strcmp(calc_property(ds),
                   kk_opt_list_item(s->opts, "property", i)) == 0;
    s->want[ds] = ok ? 1 : 2;
  }
  return s->want[ds] == 1;
}

static int window_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  window_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  for (size_t i = 0; i < n; i++) {
    if (!wanted(s, r[i].ds)) continue;
    if (!isfinite(r[i].value)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "value is not a number");
      continue;
    }
    int rc = calc_windows_add(s->w, r[i].ds, r[i].time_ms, r[i].value);
    if (rc == KK_ERANGE)
      calc_reject(&s->rj, CALC_REJ_TOO_LATE, &r[i],
                  "its window closed longer than `lateness` ago");
    else if (rc)
      return rc;
  }
  kk_batch_t *out = kk_batch_new(64);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  calc_windows_flush(s->w, out);
  kk_stage_emit(st, out);
  kk_batch_unref(out);
  if (++s->batches % 64 == 0) calc_windows_evict(s->w);
  return 0;
}

static void window_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  window_state_t *s = state;
  if (s->flush_at_stop) calc_windows_emit_all(st, s->w);
  calc_base_stop(&s->base, cb);
}

static void window_destroy(void *state) {
  window_state_t *s = state;
  if (!s) return;
  calc_windows_free(s->w);
  free(s->want);
  free(s->out);
  free(s);
}

static const kk_option_t window_options[] = {
    {.name = "property",
     .type = KK_OPT_LIST,
     .description = "Observed properties to aggregate (default: every "
                    "reading)."},
    {.name = "periods",
     .type = KK_OPT_LIST,
     .def = "hour",
     .description = "Window lengths: any of hour, day, month, year."},
    {.name = "stats",
     .type = KK_OPT_LIST,
     .def = "avg,min,max,count",
     .description = "Aggregates: any of sum, avg, min, max, count.  Each "
                    "becomes a datastream `<property>_<period>_<stat>` on "
                    "the same thing (count in unit `1`), at the window's "
                    "start."},
    {.name = "emit",
     .type = KK_OPT_ENUM,
     .def = "close",
     .choices = "close|update",
     .description = "`close`: emit a window when it closes and again when a "
                    "late reading changes it; `update`: after every batch "
                    "that changed it (running values for dashboards)."},
    {.name = "lateness",
     .type = KK_OPT_DURATION,
     .def = "2d",
     .description = "How long a closed window still takes late readings; "
                    "older readings are rejected (too_late)."},
    {.name = "flush_at_stop",
     .type = KK_OPT_BOOL,
     .def = "false",
     .description = "Emit the still open windows when the pipeline stops "
                    "(batch jobs over files); otherwise they are saved and "
                    "continue after a restart."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_window_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "window",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Tumbling windows (hour, day, month, year) in local time.",
    .description =
        "Aggregates readings per datastream into tumbling windows whose "
        "boundaries are local time (Europe/Berlin by default: a day is 23 or "
        "25 hours on the summer-time switch days).  Emits "
        "`<property>_<period>_<stat>` readings at the window start when a "
        "window closes; a late reading updates its window and the new "
        "aggregate is emitted again under the same (datastream, time), so a "
        "store must replace the earlier value.  Open windows are saved to "
        "the stage's data directory and continue after a restart.",
    .options = window_options,
    .create = window_create,
    .start = window_start,
    .process = window_process,
    .stop = window_stop,
    .destroy = window_destroy,
};
