/* libFuzzer target: the Sensor.Community (airrohr) push parser of
 * source.http (modules/source/source_sensor_community.c, included so that
 * it is instrumented).  The first input byte says whether an X-Sensor
 * header came with the body; the rest is the body. */
#include "source/source_sensor_community.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_value(void *ctx, const char *property, const char *unit,
                      double value) {
  (void)ctx;
  if (!property[0] || !unit[0] || !isfinite(value)) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  char thing[128], err[200];
  size_t skipped;
  err[0] = '\0';
  int rc =
      sc_decode(data + 1, size - 1, (data[0] & 1) ? "esp8266-1" : NULL, thing,
                sizeof thing, fuzz_value, NULL, &skipped, err, sizeof err);
  if (rc != 0 && rc != KK_ENOMEM && !err[0]) abort(); /* a refusal says why */
  return 0;
}
