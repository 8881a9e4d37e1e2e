/* libFuzzer target: the SensorThings request parsers
 * (modules/publish/sensorthings/sta_query.c): query options with
 * $filter/$expand, the resource path and ISO 8601 times, as a client sends
 * them.  The first byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "publish/sensorthings/sta_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  char *s = malloc(size);
  if (!s) return 0;
  memcpy(s, data + 1, size - 1);
  s[size - 1] = 0;
  sta_err_t err;
  switch (data[0] % 3) {
  case 0: {
    sta_opts_t o;
    memset(&o, 0, sizeof o);
    if (sta_opts_parse(s, size - 1, &o, &err) == 0) sta_opts_free(&o);
    break;
  }
  case 1: {
    sta_path_t p;
    memset(&p, 0, sizeof p);
    if (sta_path_parse(s, &p, &err) == 0) sta_path_free(&p);
    break;
  }
  default: {
    int64_t ms;
    sta_time_parse(s, size - 1, &ms);
    break;
  }
  }
  free(s);
  return 0;
}
