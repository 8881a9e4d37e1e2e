/* libFuzzer target: one JSON reading (kk_reading_parse_json,
 * core/reading_json.c), as the lines of source.file (JSON lines) and
 * source.tcp carry it.  The input is passed without a NUL terminator, the
 * way a line of a file is. */
#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly `size` bytes, so that ASan sees any read past it. */
  char *s = malloc(size ? size : 1);
  if (!s) return 0;
  memcpy(s, data, size);
  kk_reading_t r;
  char err[256];
  int rc = kk_reading_parse_json(s, size, &r, err, sizeof err);
  if (rc == 0) {
    const kk_datastream_t *d = kk_datastream_get(r.ds);
    if (!d || !d->thing[0] || !d->property[0]) abort();
  } else if (strlen(err) >= sizeof err || (rc != KK_ENOMEM && !err[0])) {
    abort(); /* a refusal always says why */
  }
  free(s);
  return 0;
}
