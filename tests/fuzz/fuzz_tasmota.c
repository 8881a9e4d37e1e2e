/* libFuzzer target: decode.tasmota (modules/decode/tasmota.c, included so
 * that its static decoder is reachable and instrumented), driven through a
 * stage made with klimakit/testing.h.  The first input byte picks the
 * topic (with or without a thing part) and the zone; the rest is the
 * message. */
#include <klimakit/testing.h>

#include "decode/tasmota.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kk_testing_t *fuzz_t[2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int z = data[0] & 1;
  char err[256];
  if (!fuzz_t[z] &&
      kk_testing_new(&decode_tasmota_module, z ? "{ tz = 'UTC' }" : "{}", NULL,
                     &fuzz_t[z], err, sizeof err) != 0)
    abort();
  tasmota_stage_t *s = kk_testing_state(fuzz_t[z]);
  static const char *const metas[] = {"{\"topic\":\"tele/meter-1/SENSOR\"}",
                                      "{\"topic\":\"tele/x/SENSOR\","
                                      "\"thing\":\"m\"}",
                                      "{}", "{\"topic\":\"tele//\"}"};
  kk_raw_t raw = {1,        1767225600000,
                  data + 1, (uint32_t)(size - 1),
                  50,       metas[(data[0] >> 1) & 3]};
  kk_batch_t *b = kk_batch_new(8);
  if (!b) return 0;
  decode_out_t out;
  memset(&out, 0, sizeof out);
  out.dc = &s->dc;
  out.b = b;
  out.raw = &raw;
  kk_raw_meta_get(raw.meta, "thing", out.thing, sizeof out.thing);
  char why[200] = "";
  const char *reason = "parse";
  int rc = tasmota_decode(s, &out, why, sizeof why, &reason);
  if (rc != 0 && rc != KK_ENOMEM && !why[0]) abort();
  kk_batch_unref(b);
  return 0;
}
