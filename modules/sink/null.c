/*
 * modules/sink/null.c - sink.null: counts readings and drops them.
 *
 * For benchmarks (the cost of the pipeline without any output) and tests.
 * Without `delay` every batch is "durably handled" at once.  With `delay`
 * the sink behaves like a slow store: it finishes one batch per delay, in
 * order (KK_ASYNC), so its queue fills and backpressure can be observed.
 */
#include <klimakit.h>
#include <stdlib.h>

/* The core counts readings per stage (kk_readings_in_total); this sink
 * adds the batch count, which tells the mean batch size in a benchmark. */
typedef struct null_state {
  kk_stage_t *st;
  kk_metric_t *batches; /* kk_batches_in_total{stage=..}, process-lived */
  uint64_t delay_ms;
  uint64_t pending; /* batches accepted with KK_ASYNC, not yet done */
  uv_timer_t timer;
  int timer_open;
  kk_stop_cb stop_cb;
} null_state_t;

static int null_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  null_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  s->st = st;
  s->delay_ms = kk_opt_duration_ms(opts, "delay");
  s->batches = kk_stage_counter(st, "kk_batches_in_total", NULL,
                                "Batches a sink received.");
  *state = s;
  return 0;
}

static void null_tick(uv_timer_t *h) {
  null_state_t *s = h->data;
  if (s->pending == 0) {
    uv_timer_stop(h);
    return;
  }
  s->pending--;
  kk_stage_done(s->st);
}

static int null_start(kk_stage_t *st, void *state) {
  null_state_t *s = state;
  if (s->delay_ms == 0) return 0;
  uv_timer_init(kk_stage_loop(st), &s->timer);
  s->timer.data = s;
  s->timer_open = 1;
  return 0;
}

static int null_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  (void)b;
  null_state_t *s = state;
  kk_metric_add(s->batches, 1);
  if (s->delay_ms == 0) return 0;
  if (s->pending++ == 0)
    uv_timer_start(&s->timer, null_tick, s->delay_ms, s->delay_ms);
  return KK_ASYNC;
}

static void null_closed(uv_handle_t *h) {
  null_state_t *s = h->data;
  s->stop_cb(s->st);
}

/* Stopping finishes what is queued: the sink has nothing to flush. */
static void null_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  null_state_t *s = state;
  while (s->pending) {
    s->pending--;
    kk_stage_done(st);
  }
  if (!s->timer_open) {
    cb(st);
    return;
  }
  s->stop_cb = cb;
  uv_close((uv_handle_t *)&s->timer, null_closed);
}

static void null_destroy(void *state) {
  free(state);
}

static const kk_option_t null_options[] = {
    {.name = "delay",
     .type = KK_OPT_DURATION,
     .def = "0s",
     .description = "Finish one batch per delay instead of at once, like a "
                    "slow store (for tests of backpressure)."},
    {NULL}};

const kk_module_t sink_null_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "null",
    .ns = "sink",
    .kind = KK_KIND_SINK,
    .summary = "Counts readings and drops them (benchmarks, tests).",
    .description =
        "Accepts every batch and forgets it; readings are counted in "
        "`kk_readings_in_total` and batches in `kk_batches_in_total`.  Use "
        "it to measure what a source and the pipeline cost without any "
        "output, or as the end of a test pipeline.  With `delay` it "
        "finishes one batch per delay, so that its queue fills and the "
        "sources are paused.",
    .options = null_options,
    .create = null_create,
    .start = null_start,
    .process = null_process,
    .stop = null_stop,
    .destroy = null_destroy,
};
