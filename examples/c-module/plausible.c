/*
 * examples/c-module/plausible.c - transform.plausible, a klimakit module
 * built out of the tree as a shared object (see README.md).
 *
 * Drops readings of one observed property whose value lies outside a
 * plausible range (a CO2 sensor reporting 0 ppm or 65535 ppm after a
 * fault, a thermometer at -273 Cel) and counts them in
 * kk_rejected_total{stage, reason="implausible"}; everything else passes
 * unchanged.  One stage checks one property; chain stages for more.
 *
 * Built against the installed headers only:
 *   cc -shared -fPIC $(pkg-config --cflags klimakit) plausible.c -o
 * plausible.so The kk_ functions it calls are resolved from the klimakit
 * executable when it is loaded, so it links against nothing of klimakit's.
 */
#include <klimakit.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct plausible_state {
  char *property;
  double min, max;
  kk_metric_t *rejected;
} plausible_state_t;

static int plausible_create(kk_stage_t *st, const kk_opts_t *opts,
                            void **state) {
  plausible_state_t *s = calloc(1, sizeof *s);
  if (!s || !(s->property = strdup(kk_opt_str(opts, "property")))) {
    free(s);
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  s->min = kk_opt_double(opts, "min");
  s->max = kk_opt_double(opts, "max");
  if (!(s->min <= s->max)) {
    kk_stage_error(st, "min (%g) must not be above max (%g)", s->min, s->max);
    free(s->property);
    free(s);
    return KK_ERANGE;
  }
  s->rejected = kk_stage_counter(st, "kk_rejected_total", "implausible",
                                 "Readings dropped by a stage, by reason.");
  *state = s;
  return 0;
}

static int plausible_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  plausible_state_t *s = state;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  kk_batch_t *out = kk_batch_new(n);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  uint64_t dropped = 0;
  for (size_t i = 0; i < n; i++) {
    const kk_datastream_t *ds = kk_datastream_get(r[i].ds);
    if (ds && strcmp(ds->property, s->property) == 0 &&
        (isnan(r[i].value) || r[i].value < s->min || r[i].value > s->max)) {
      dropped++;
      continue;
    }
    if (kk_batch_push(out, &r[i]) != 0) {
      kk_batch_unref(out);
      return KK_ENOMEM;
    }
  }
  if (dropped) {
    kk_metric_add(s->rejected, (int64_t)dropped);
    kk_stage_log(st, KK_LOG_DEBUG, "%llu implausible %s readings dropped",
                 (unsigned long long)dropped, s->property);
  }
  kk_stage_emit(st, out);
  kk_batch_unref(out);
  return 0;
}

static void plausible_destroy(void *state) {
  plausible_state_t *s = state;
  if (!s) return;
  free(s->property);
  free(s);
}

static const kk_option_t plausible_options[] = {
    {.name = "property",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "Observed property to check (co2, air_temperature, ...)."},
    {.name = "min",
     .type = KK_OPT_DOUBLE,
     .def = "-1e308",
     .description = "Lowest plausible value, in the reading's unit."},
    {.name = "max",
     .type = KK_OPT_DOUBLE,
     .def = "1e308",
     .description = "Highest plausible value, in the reading's unit."},
    {NULL}};

static const kk_module_t transform_plausible_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "plausible",
    .ns = "transform",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Drops readings of a property outside a plausible range.",
    .description =
        "Readings of `property` below `min` or above `max` (or NaN) are "
        "dropped and counted in `kk_rejected_total{reason=\"implausible\"}`; "
        "all other readings pass unchanged.  An out-of-tree example module "
        "(examples/c-module/).",
    .options = plausible_options,
    .create = plausible_create,
    .process = plausible_process,
    .destroy = plausible_destroy,
};

/* What klimakit looks for in a module's shared object: its descriptors,
 * NULL-terminated. */
const kk_module_t *const klimakit_modules[] = {&transform_plausible_module,
                                               NULL};
