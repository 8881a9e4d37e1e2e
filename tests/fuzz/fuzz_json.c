/* libFuzzer target: flat JSON messages (modules/decode/decode_flat.c):
 * the strict parse (trailing bytes, duplicate keys), the time field, the
 * walk with and without numeric strings. */
#include <stddef.h>
#include <stdint.h>

#include "decode/decode_flat.h"

static int sink(void *ctx, const char *name, double v) {
  (void)ctx, (void)name, (void)v;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const fields[] = {"a", "b.c", NULL};
  flatjson_stats_t st = {0, 0, 0};
  flatjson_opts_t o = {.time_field = "ts",
                       .time_unit = (int)(size % 4),
                       .thing_field = "id",
                       .fields = size % 2 ? fields : NULL,
                       .numeric_strings = (int)(size % 3 == 0),
                       .stats = &st};
  int64_t t = 0;
  char thing[64], err[128];
  flatjson_message(data, size, &o, &t, thing, sizeof thing, sink, NULL, err,
                   sizeof err);
  return 0;
}
