/* libFuzzer target: SenML CBOR (modules/decode/decode_senml.c). */
#include <stddef.h>
#include <stdint.h>

#include "decode/decode_senml.h"

static int sink(void *ctx, const senml_record_t *r) {
  (void)ctx;
  volatile size_t n = r->name[0] + (r->unit ? r->unit[0] : 0) + r->data_len;
  (void)n;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[128];
  senml_decode_cbor(data, size, 1700000000000LL, sink, NULL, err, sizeof err);
  return 0;
}
