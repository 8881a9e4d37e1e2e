/* libFuzzer target: decode.telraam's parser (modules/decode/telraam.c) on
 * reports/traffic responses; the module is included with its descriptor
 * renamed, values and rejections go to stubs. */
#define decode_telraam_module fuzz_telraam_module_unused
#include "../../modules/decode/decode_opendata.c"
#include "../../modules/decode/telraam.c"

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
  telraam_state_t s = {.prefix = "telraam-",
                       .time_end = (int)(size & 1),
                       .observed = (int)((size >> 1) & 1),
                       .min_uptime = (size & 4) ? 0.5 : 0,
                       .max_size = 1 << 20};
  od_emit_t e = {.value = fuzz_value, .reject = fuzz_reject};
  char why[200];
  const char *reason = "parse";
  telraam_parse(&s, data, size, &e, why, sizeof why, &reason);
  return 0;
}
