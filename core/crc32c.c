/* core/crc32c.c - CRC32C on ISA-L; see crc32c.h.
 *
 * ISA-L neither inverts the CRC on the way in and out (its callers pass ~0
 * and invert the result) nor takes a size_t length, and its buffer pointer
 * is not const although it only reads. */
#include "crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

typedef unsigned int (*kk__crc32c_fn)(unsigned char *, int, unsigned int);

static uint32_t kk__crc32c_long(kk__crc32c_fn fn, uint32_t crc, const void *p,
                                size_t len) {
  unsigned char *b = (unsigned char *)(uintptr_t)p;
  unsigned int c = ~crc;
  while (len > 0) {
    int n = len > (size_t)INT_MAX ? INT_MAX : (int)len;
    c = fn(b, n, c);
    b += n;
    len -= (size_t)n;
  }
  return ~c;
}

uint32_t kk__crc32c(uint32_t crc, const void *p, size_t len) {
  if (len > (size_t)INT_MAX) return kk__crc32c_long(crc32_iscsi, crc, p, len);
  return ~crc32_iscsi((unsigned char *)(uintptr_t)p, (int)len, ~crc);
}

uint32_t kk__crc32c_portable(uint32_t crc, const void *p, size_t len) {
  return kk__crc32c_long(crc32_iscsi_base, crc, p, len);
}
