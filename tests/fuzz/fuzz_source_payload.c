/* libFuzzer target: the ingest payload decoder of the CoAP and HTTP
 * sources (modules/source/source_payload.c).
 *
 * The first input byte chooses the content format (text, JSON, CBOR and
 * the four SenML ones, one the decoder does not know, or an airrohr
 * push); the second
 * chooses the request path among a few fixed ones, or, with bit 2 set,
 * takes it from the input up to the first newline, as a client sends it;
 * bit 4 chooses the SenML name rule (base or split).
 * The rest is the payload.  The meta JSON is built the way the sources
 * build it, so that its escaping and parsing run too. */
#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/source_payload.h"
#include "source/source_sensor_community.h"

static const uint32_t fuzz_formats[] = {
    0, 50, 60, 110, 111, 112, 113, 42, SOURCE_FMT_SENSOR_COMMUNITY};
#define FUZZ_NF (sizeof fuzz_formats / sizeof fuzz_formats[0])
static const char *const fuzz_paths[] = {"/r/room-1", "/s/room-2/co2", "/senml",
                                         "/nomatch/x"};
static source_paths_t fuzz_pats;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  static const char *const pats[] = {"/r/{thing}", "/s/{thing}/{property}",
                                     "/senml"};
  char err[256];
  if (source_paths_init(&fuzz_pats, pats, 3, err, sizeof err) != 0) {
    fprintf(stderr, "fuzz_source_payload: %s\n", err);
    abort();
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint8_t fmt = data[0], sel = data[1];
  data += 2, size -= 2;
  char path[600];
  if (sel & 4) {
    /* A path from the input: up to the first newline, NUL-free. */
    size_t n = 0;
    while (n < size && n < sizeof path - 1 && data[n] != '\n' && data[n])
      n++;
    memcpy(path, data, n);
    path[n] = '\0';
    if (n < size) n++;
    data += n, size -= n;
  } else {
    snprintf(path, sizeof path, "%s", fuzz_paths[sel % 4]);
  }
  char thing[COAP_PAYLOAD_NAME_MAX], prop[COAP_PAYLOAD_NAME_MAX];
  if (source_paths_match(&fuzz_pats, path, thing, prop) < 0)
    thing[0] = prop[0] = '\0';
  char meta[1024];
  source_payload_meta(meta, sizeof meta, path, "127.0.0.1:40312",
                      (sel & 8) ? "sensor-1" : NULL, thing, prop);
  kk_raw_t raw = {
      7,   1767225600000, data, (uint32_t)size, fuzz_formats[fmt % FUZZ_NF],
      meta};
  kk_batch_t *b = kk_batch_new(4);
  if (!b) return 0;
  char err[256];
  size_t skipped = 0;
  fuzz_pats.senml_names = (sel >> 4) & 1;
  int rc =
      source_payload_decode(&fuzz_pats, &raw, b, &skipped, err, sizeof err);
  if (rc == 0) {
    const kk_reading_t *r = kk_batch_readings(b);
    volatile double acc = 0;
    for (size_t i = 0; i < kk_batch_len(b); i++) {
      const kk_datastream_t *d = kk_datastream_get(r[i].ds);
      acc += r[i].value + (double)strlen(d->thing) + (double)strlen(d->unit);
    }
    (void)acc;
  } else if (rc != KK_ENOMEM && !err[0]) {
    abort(); /* a refusal always says why */
  }
  kk_batch_unref(b);
  return 0;
}
