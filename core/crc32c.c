/* core/crc32c.c - CRC32C; see crc32c.h.
 *
 * Buffers shorter than KK__CRC32C_SHORT on x86-64 with SSE4.2 (the journal's
 * records, ~150 bytes) go through the crc32 instruction inline, 8 bytes a
 * step: ISA-L's folding code sets up vector registers and reloads the
 * record the append has just stored, which in the journal bench made it
 * ~30 % slower per record than this loop.  Everything longer, every other
 * CPU and the table fallback are ISA-L's.
 *
 * ISA-L neither inverts the CRC on the way in and out (its callers pass ~0
 * and invert the result) nor takes a size_t length, and its buffer pointer
 * is not const although it only reads. */
#include "crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define KK__CRC32C_SHORT 256u

/* The instruction's CRC register is CRC32C's without the inversions. */
__attribute__((target("sse4.2"))) static uint32_t
kk__crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len) {
  uint64_t c = ~crc & 0xFFFFFFFFu;
  for (; len >= 8; p += 8, len -= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = (uint32_t)c;
  if (len >= 4) {
    uint32_t v;
    memcpy(&v, p, 4);
    c32 = _mm_crc32_u32(c32, v);
    p += 4;
    len -= 4;
  }
  while (len--)
    c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}

/* The same while copying: the crc32 instruction's latency (3 cycles per
 * 8 bytes) leaves room for the load and store of the copy. */
__attribute__((target("sse4.2"))) static uint32_t
kk__crc32c_copy_sse42(uint32_t crc, uint8_t *d, const uint8_t *p, size_t len) {
  uint64_t c = ~crc & 0xFFFFFFFFu;
  for (; len >= 8; p += 8, d += 8, len -= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    memcpy(d, &v, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = (uint32_t)c;
  while (len--) {
    *d++ = *p;
    c32 = _mm_crc32_u8(c32, *p++);
  }
  return ~c32;
}
#endif

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
#if defined(__x86_64__)
  if (len < KK__CRC32C_SHORT && __builtin_cpu_supports("sse4.2"))
    return kk__crc32c_sse42(crc, p, len);
#endif
  if (len > (size_t)INT_MAX) return kk__crc32c_long(crc32_iscsi, crc, p, len);
  return ~crc32_iscsi((unsigned char *)(uintptr_t)p, (int)len, ~crc);
}

uint32_t kk__crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len) {
#if defined(__x86_64__)
  if (len < KK__CRC32C_SHORT && __builtin_cpu_supports("sse4.2"))
    return kk__crc32c_copy_sse42(crc, dst, src, len);
#endif
  if (len) memcpy(dst, src, len);
  return kk__crc32c(crc, dst, len);
}

uint32_t kk__crc32c_portable(uint32_t crc, const void *p, size_t len) {
  return kk__crc32c_long(crc32_iscsi_base, crc, p, len);
}
