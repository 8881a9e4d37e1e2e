/*
 * modules/sinks/null.c - sink.null: counts readings and drops them.
 *
 * For benchmarks (the cost of the pipeline without any output) and tests.
 * Every batch is "durably handled" at once, so the engine's cursor moves
 * on immediately.
 */
#include <klimakit.h>
#include <stdlib.h>

/* The core counts readings per stage (kk_readings_in_total); this sink
 * adds the batch count, which tells the mean batch size in a benchmark. */
typedef struct null_state {
  kk_metric_t *batches; /* kk_batches_in_total{stage=..}, process-lived */
} null_state_t;

static int null_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  (void)opts;
  null_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  s->batches = kk_stage_counter(st, "kk_batches_in_total", NULL,
                                "Batches a sink received.");
  *state = s;
  return 0;
}

static int null_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  (void)b;
  null_state_t *s = state;
  kk_metric_add(s->batches, 1);
  return 0;
}

static void null_destroy(void *state) {
  free(state);
}

static const kk_option_t null_options[] = {{NULL}};

const kk_module_t null_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "null",
    .ns = "sink",
    .kind = KK_KIND_SINK,
    .summary = "Counts readings and drops them (benchmarks, tests).",
    .description =
        "Accepts every batch at once and forgets it; readings are counted "
        "in `kk_readings_in_total` and batches in `kk_batches_in_total`.  Use "
        "it to measure what a source and the pipeline cost without any "
        "output, or as the end of a test pipeline.",
    .options = null_options,
    .create = null_create,
    .process = null_process,
    .destroy = null_destroy,
};
