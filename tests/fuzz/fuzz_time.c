/* libFuzzer target: times as text (kk_time_parse_iso8601 and
 * kk_time_parse_text, core/time.c), as readings, CSV files and queries
 * carry them.  The first input byte chooses the parser; the rest is the
 * text, without a NUL terminator.  A time that parses is written back
 * with kk_time_format_iso8601() and must parse again to the same
 * milliseconds (within the years 0000-9999 that the format covers). */
#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t n = size - 1;
  char *s = malloc(n ? n : 1);
  if (!s) return 0;
  memcpy(s, data + 1, n);
  int64_t ms;
  int rc = data[0] & 1 ? kk_time_parse_text(s, n, &ms)
                       : kk_time_parse_iso8601(s, n, &ms);
  free(s);
  if (rc != 0) return 0;
  char buf[KK_TIME_ISO_MAX];
  size_t len = kk_time_format_iso8601(ms, buf);
  if (len == 24 && buf[0] >= '0' && buf[0] <= '9') {
    int64_t back;
    if (kk_time_parse_iso8601(buf, len, &back) != 0 || back != ms) abort();
  }
  return 0;
}
