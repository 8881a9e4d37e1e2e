/* libFuzzer target: decode.dwd's parser (modules/decode/dwd.c) on DWD
 * product files and degree-day tables, plain or as zip archives (libzip
 * itself is not instrumented; the member selection, the inflate cap and
 * the text parser are).  The module is included with its descriptor
 * renamed; values and rejections go to stubs.  max_unzipped is 1 MiB, so
 * that a small archive can hit the cap. */
#define decode_dwd_module fuzz_dwd_module_unused
#include "../../modules/decode/decode_opendata.c"
#include "../../modules/decode/dwd.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_value(od_emit_t *e, const char *thing, const char *name,
                      const char *prop, const char *unit, int64_t t, double v) {
  (void)e, (void)t, (void)v;
  volatile size_t n = strlen(thing) + strlen(name) + (prop ? strlen(prop) : 0) +
                      (unit ? strlen(unit) : 0);
  (void)n;
  return 0;
}

static void fuzz_reject(od_emit_t *e, const char *reason, const char *d) {
  (void)e;
  volatile size_t n = strlen(reason) + strlen(d);
  (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dwd_state_t s = {.prefix = "dwd-",
                   .time_end = (int)(size & 1),
                   .min_quality = (size & 2) ? 5 : 0,
                   .max_size = 1 << 20,
                   .max_unzipped = 1 << 20};
  od_emit_t e = {.value = fuzz_value, .reject = fuzz_reject};
  char why[200];
  const char *reason = "parse";
  dwd_parse(&s, data, size, &e, why, sizeof why, &reason);
  return 0;
}
