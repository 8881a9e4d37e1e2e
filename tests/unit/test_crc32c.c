/*
 * tests/unit/test_crc32c.c - CRC32C (core/crc32c.c), the checksum of
 * journal records from segment format 3 on: known answers (the standard
 * check value and the test vectors of RFC 3720 B.4), chaining, and the
 * CPU's path (kk__crc32c) against the portable table path
 * (kk__crc32c_portable) and a bit-at-a-time reference written here from
 * the polynomial, on random lengths 0..4096 at every start alignment.
 */
#include "kk_test.h"

#include "crc32c.h"

#include <stdint.h>
#include <stdlib.h>

/* Bit at a time, reflected polynomial 0x82F63B78: slow and obviously
 * right. */
static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/* A fixed xorshift stream, so that a failure can be repeated. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

KK_TEST(check_value) {
  KK_CHECK_INT(kk__crc32c(0, "123456789", 9), ==, 0xE3069283u);
  KK_CHECK_INT(kk__crc32c_portable(0, "123456789", 9), ==, 0xE3069283u);
  KK_CHECK_INT(ref_crc32c(0, (const uint8_t *)"123456789", 9), ==, 0xE3069283u);
  /* Nothing in, the start value out. */
  KK_CHECK_INT(kk__crc32c(0, "", 0), ==, 0);
  KK_CHECK_INT(kk__crc32c(0x12345678u, "", 0), ==, 0x12345678u);
  KK_CHECK_INT(kk__crc32c_portable(0x12345678u, "", 0), ==, 0x12345678u);
}

KK_TEST(rfc3720_vectors) {
  uint8_t b[32];
  memset(b, 0, sizeof b);
  KK_CHECK_INT(kk__crc32c(0, b, 32), ==, 0x8A9136AAu);
  memset(b, 0xFF, sizeof b);
  KK_CHECK_INT(kk__crc32c(0, b, 32), ==, 0x62A8AB43u);
  for (int i = 0; i < 32; i++)
    b[i] = (uint8_t)i;
  KK_CHECK_INT(kk__crc32c(0, b, 32), ==, 0x46DD794Eu);
  KK_CHECK_INT(kk__crc32c_portable(0, b, 32), ==, 0x46DD794Eu);
  for (int i = 0; i < 32; i++)
    b[i] = (uint8_t)(31 - i);
  KK_CHECK_INT(kk__crc32c(0, b, 32), ==, 0x113FDB5Cu);
  KK_CHECK_INT(kk__crc32c_portable(0, b, 32), ==, 0x113FDB5Cu);
}

KK_TEST(chains_like_zlib) {
  const char *s = "The quick brown fox jumps over the lazy dog";
  size_t n = strlen(s);
  uint32_t whole = kk__crc32c(0, s, n);
  KK_CHECK_INT(whole, ==, 0x22620404u);
  for (size_t cut = 0; cut <= n; cut++) {
    KK_CHECK_INT(kk__crc32c(kk__crc32c(0, s, cut), s + cut, n - cut), ==,
                 whole);
    KK_CHECK_INT(
        kk__crc32c_portable(kk__crc32c_portable(0, s, cut), s + cut, n - cut),
        ==, whole);
  }
}

/* Every length 0..299 (the inline crc32 loop below 256 bytes, ISA-L's
 * folding code above), then lengths up to 4096 at random, from every
 * start offset 0..15 into an aligned buffer (both CPU paths work in
 * words and have tail code), and the same cut in two at random. */
KK_TEST(cpu_and_table_paths_agree) {
  enum { MAX = 4096, ALIGN = 16 };
  uint8_t *buf = aligned_alloc(64, MAX + 64);
  KK_CHECK(buf != NULL);
  for (size_t i = 0; i < MAX + 64; i++)
    buf[i] = (uint8_t)rng();
  for (int round = 0; round < 3000; round++) {
    size_t len = round < 300 ? (size_t)round : (size_t)(rng() % (MAX + 1));
    size_t off = (size_t)round % ALIGN;
    const uint8_t *p = buf + off;
    uint32_t seed = round % 3 == 0 ? 0 : (uint32_t)rng();
    uint32_t hw = kk__crc32c(seed, p, len);
    uint32_t tab = kk__crc32c_portable(seed, p, len);
    if (hw != tab || hw != ref_crc32c(seed, p, len))
      KK__FAIL("len %zu off %zu seed %08x: cpu %08x table %08x ref %08x", len,
               off, seed, hw, tab, ref_crc32c(seed, p, len));
    size_t cut = len ? (size_t)(rng() % (len + 1)) : 0;
    KK_CHECK_INT(kk__crc32c(kk__crc32c(seed, p, cut), p + cut, len - cut), ==,
                 hw);
  }
  /* A single flipped bit anywhere changes the CRC. */
  uint32_t good = kk__crc32c(0, buf + 3, 1000);
  for (size_t bit = 0; bit < 8000; bit += 37) {
    buf[3 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    KK_CHECK(kk__crc32c(0, buf + 3, 1000) != good);
    buf[3 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  free(buf);
}

/* kk__crc32c_copy copies exactly the bytes it sums, and sums them as
 * kk__crc32c does, for every short length (its own loop) and long ones,
 * at every alignment of source and destination. */
KK_TEST(copy_and_sum) {
  enum { MAX = 1024 };
  uint8_t *src = malloc(MAX + 16), *dst = malloc(MAX + 32);
  KK_CHECK(src != NULL && dst != NULL);
  for (size_t i = 0; i < MAX + 16; i++)
    src[i] = (uint8_t)rng();
  for (int round = 0; round < 2000; round++) {
    size_t len = round < 600 ? (size_t)round / 2 : (size_t)(rng() % (MAX + 1));
    size_t so = (size_t)round % 8, doff = (size_t)(round / 8) % 8;
    uint32_t seed = round % 2 ? (uint32_t)rng() : 0;
    memset(dst, 0xA5, MAX + 32);
    uint32_t c = kk__crc32c_copy(seed, dst + doff, src + so, len);
    KK_CHECK_INT(c, ==, kk__crc32c(seed, src + so, len));
    KK_CHECK(memcmp(dst + doff, src + so, len) == 0);
    for (size_t i = 0; i < doff; i++)
      KK_CHECK_INT(dst[i], ==, 0xA5);
    for (size_t i = doff + len; i < MAX + 32; i++)
      KK_CHECK_INT(dst[i], ==, 0xA5);
  }
  free(src);
  free(dst);
}

KK_TEST_MAIN(KK_CASE(check_value), KK_CASE(rfc3720_vectors),
             KK_CASE(chains_like_zlib), KK_CASE(cpu_and_table_paths_agree),
             KK_CASE(copy_and_sum))
