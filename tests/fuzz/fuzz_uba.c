/* libFuzzer target: decode.uba's parser (modules/decode/uba.c) on UBA air
 * data API responses (measures, components, stations).  The module is
 * included, its descriptor renamed (the library has its own), and the
 * values and rejections go to stubs that read every string, as the stage
 * binding would.  Components learned from one input are forgotten before
 * the next. */
#define decode_uba_module fuzz_uba_module_unused
#include "../../modules/decode/decode_opendata.c"
#include "../../modules/decode/uba.c"

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
  static uba_state_t s;
  memset(&s, 0, sizeof s);
  s.prefix = "uba-";
  s.time_end = (int)(size & 1);
  s.max_size = 1 << 20;
  od_emit_t e = {.value = fuzz_value, .reject = fuzz_reject};
  char why[200];
  const char *reason = "parse";
  uba_parse(&s, data, size, &e, why, sizeof why, &reason);
  /* a second pass with what the first one learned */
  uba_parse(&s, data, size, &e, why, sizeof why, &reason);
  return 0;
}
