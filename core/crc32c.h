/* core/crc32c.h - CRC32C (Castagnoli, the iSCSI CRC of RFC 3720), the
 * checksum of journal records from segment format version 3 on.
 *
 * Reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF:
 * kk__crc32c(0, "123456789", 9) == 0xE3069283.  Chains like zlib's
 * crc32(): kk__crc32c(kk__crc32c(0, a, n), b, m) is the CRC of a then b.
 *
 * The work is done by Intel's ISA-L (Debian libisal2), which picks the
 * CPU's CRC instructions at run time (x86-64 SSE4.2 crc32 with PCLMULQDQ
 * folding, the AArch64 CRC and PMULL instructions) and falls back to
 * its table code elsewhere; short buffers on x86-64 use the crc32
 * instruction inline (core/crc32c.c says why).  This header is the one
 * place the rest of core sees.
 */
#ifndef KK_CORE_CRC32C_H
#define KK_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of `len` bytes at `p` (any alignment), continuing `crc` (0 to
 * start). */
uint32_t kk__crc32c(uint32_t crc, const void *p, size_t len);

/* Copies `len` bytes from `src` to `dst` (not overlapping) and returns
 * the CRC32C of them continuing `crc`: one pass over short buffers. */
uint32_t kk__crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len);

/* The same with ISA-L's portable table code only, whatever the CPU
 * offers: for tests that prove the paths agree. */
uint32_t kk__crc32c_portable(uint32_t crc, const void *p, size_t len);

#endif
