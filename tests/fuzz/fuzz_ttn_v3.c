/* libFuzzer target: The Things Stack v3 uplinks
 * (modules/decode/decode_uplink.c); fuzz_chirpstack_v4.c includes it with
 * FUZZ_PARSE set to its parser. */
#ifndef FUZZ_PARSE
#define FUZZ_PARSE uplink_parse_ttn_v3
#endif
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decode/decode_uplink.h"

static int sink(void *ctx, const char *name, double v) {
  (void)ctx, (void)v;
  volatile size_t n = strlen(name);
  (void)n;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uplink_t u;
  char err[128];
  if (FUZZ_PARSE(data, size, &u, err, sizeof err) == 0) {
    /* The tree (as decode.ttn_v3 walks it, with and without numeric
     * strings) and its text (as a reprint must parse again). */
    flatjson_stats_t st = {0, 0, 0};
    flatjson_walk_tree(u.decoded, (int)(size & 1), &st, sink, NULL);
    if (u.decoded_json)
      flatjson_walk(u.decoded_json, strlen(u.decoded_json), sink, NULL, err,
                    sizeof err);
    uplink_free(&u);
  }
  return 0;
}
