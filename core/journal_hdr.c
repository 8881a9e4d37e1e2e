/* core/journal_hdr.c - reading and writing journal segment headers; the
 * format is described in journal_hdr.h. */
#include "journal_hdr.h"
#include "crc32c.h"

#include <klimakit/error.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return le32toh(v);
}
static uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return le64toh(v);
}

int kk__jhdr_version(const uint8_t *p) {
  if (memcmp(p, "KKJRNL", 6) != 0 || p[6] < '0' || p[6] > '9' || p[7] < '0' ||
      p[7] > '9')
    return 0;
  return (p[6] - '0') * 10 + (p[7] - '0');
}

uint32_t kk__jhdr_crc(int version, const void *p, size_t len) {
  if (version >= 3) return kk__crc32c(0, p, len);
  return (uint32_t)crc32(0L, p, (uInt)len); /* records are <= 16 MiB */
}

static void magic(char out[KK__J_MAGIC_LEN + 1], int version) {
  snprintf(out, KK__J_MAGIC_LEN + 1, "KKJRNL%02d", version);
}

int64_t kk__jhdr_read(const uint8_t *map, uint64_t size, uint64_t first,
                      int *version, const char **why) {
  char m[KK__J_MAGIC_LEN + 1];
  if (size < KK__J_MAGIC_LEN) {
    for (int k = 1; k <= KK__J_VERSION; k++) {
      magic(m, k);
      if (memcmp(map, m, size) == 0) return 0;
    }
    *why = "bad magic";
    return -1;
  }
  int v = kk__jhdr_version(map);
  *version = v;
  if (v == 1) return KK__J_MAGIC_LEN;
  if (v < 2 || v > KK__J_VERSION) {
    *why = v > KK__J_VERSION ? "format version newer than this klimakit"
                             : "bad magic";
    return -1;
  }
  if (size < KK__J_SEGHDR) return 0; /* "KKJRNL0v" and a torn rest */
  uint32_t hlen = rd32(map + 8);
  if (hlen < KK__J_SEGHDR || hlen > size ||
      kk__jhdr_crc(v, map, 28) != rd32(map + 28)) {
    *why = "bad segment header";
    return -1;
  }
  if (rd64(map + 12) != first) {
    *why = "segment header names another first sequence number";
    return -1;
  }
  return hlen;
}

int kk__jhdr_write(int fd, uint64_t first, int version) {
  uint8_t h[KK__J_SEGHDR];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint32_t len = htole32(KK__J_SEGHDR);
  uint64_t f = htole64(first), t = htole64((uint64_t)ts.tv_sec * 1000u +
                                           (uint64_t)ts.tv_nsec / 1000000u);
  char m[KK__J_MAGIC_LEN + 1];
  magic(m, version);
  memcpy(h, m, KK__J_MAGIC_LEN);
  memcpy(h + 8, &len, 4);
  memcpy(h + 12, &f, 8);
  memcpy(h + 20, &t, 8);
  uint32_t crc = htole32(kk__jhdr_crc(version, h, 28));
  memcpy(h + 28, &crc, 4);
  size_t done = 0;
  while (done < sizeof h) {
    ssize_t n = pwrite(fd, h + done, sizeof h - done, (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return KK_EIO;
    done += (size_t)n;
  }
  return 0;
}

int kk__jhdr_newer(int dirfd, const char *name, char *msg, size_t len) {
  uint8_t h[KK__J_MAGIC_LEN];
  ssize_t n;
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0; /* the walk reports it */
  do
    n = pread(fd, h, sizeof h, 0);
  while (n < 0 && errno == EINTR);
  close(fd);
  int v = n == (ssize_t)sizeof h ? kk__jhdr_version(h) : 0;
  if (v <= KK__J_VERSION) return 0;
  snprintf(msg, len,
           "segment %s has format version %d, this klimakit reads up to %d: "
           "run the newer klimakit or restore a backup made before it",
           name, v, KK__J_VERSION);
  return KK_EINVAL;
}

/* ---- checkpoints (journal_hdr.h) ------------------------------------- */

void kk__jck_add(kk__jck_t *c, uint64_t first, uint64_t seq, uint64_t off) {
  uint64_t block = (first << 20 ^ off >> KK__J_CK_SHIFT) + 1;
  if (block == c->block) return;
  c->block = block;
  c->first[c->next] = first;
  c->seq[c->next] = seq;
  c->off[c->next] = off;
  c->next = (c->next + 1) % KK__J_CKS;
}

int kk__jck_find(const kk__jck_t *c, kk__jmap_t *m, uint64_t first,
                 uint64_t from, uint64_t *off, uint64_t *seq) {
  /* The latest candidate first: verifying one maps its window. */
  uint64_t below = from + 1;
  for (;;) {
    unsigned best = KK__J_CKS;
    for (unsigned i = 0; i < KK__J_CKS; i++)
      if (c->seq[i] && c->first[i] == first && c->seq[i] < below &&
          (best == KK__J_CKS || c->seq[i] > c->seq[best]))
        best = i;
    if (best == KK__J_CKS) return 0;
    /* The record must be there still (a failed commit or a quarantine
     * truncates a segment; seqs are not reused, offsets may be).  The
     * record's seq follows its 8-byte header (length, CRC). */
    const uint8_t *p = c->off[best] + 16 > m->size
                           ? NULL
                           : kk__jmap_at(m, c->off[best] + 8, 8);
    if (p && rd64(p) == c->seq[best]) {
      *off = c->off[best];
      *seq = c->seq[best];
      return 1;
    }
    below = c->seq[best];
  }
}

const uint8_t *kk__jmap_at(kk__jmap_t *m, uint64_t off, uint64_t n) {
  if (m->base && off >= m->at && off + n <= m->at + m->len)
    return m->base + (off - m->at);
  kk__jmap_close(m);
  uint64_t at = off & ~(uint64_t)(sysconf(_SC_PAGESIZE) - 1);
  uint64_t len = off - at + n > KK__J_WINDOW ? off - at + n : KK__J_WINDOW;
  if (len > m->size - at) len = m->size - at;
  void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, m->fd, (off_t)at);
  if (p == MAP_FAILED) return NULL;
  m->base = p;
  m->at = at;
  m->len = len;
  return m->base + (off - at);
}

void kk__jmap_close(kk__jmap_t *m) {
  if (m->base) munmap(m->base, (size_t)m->len);
  m->base = NULL;
}

static uint16_t rd16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return le16toh(v);
}

const char *kk__jrec_check(kk__jmap_t *m, int version, uint64_t off,
                           uint64_t prev, kk__jrec_t *r) {
  uint64_t left = m->size - off;
  memset(r, 0, sizeof *r);
  if (left < KK__J_HDR) return "torn record header";
  const uint8_t *p = kk__jmap_at(m, off, KK__J_HDR);
  if (!p) return NULL;
  uint32_t blen = rd32(p), crc = rd32(p + 4);
  if (blen < KK__J_BODY_HDR || blen > KK__J_MAX_BODY)
    return "bad record length";
  if (blen > left - KK__J_HDR) return "record past end of file";
  const uint8_t *b = kk__jmap_at(m, off + KK__J_HDR, blen);
  if (!b) return NULL;
  if (kk__jhdr_crc(version, b, blen) != crc) return "crc mismatch";
  uint64_t seq = rd64(b);
  if (seq <= prev) return "sequence not increasing";
  uint32_t sl = rd16(b + 20), ml = rd16(b + 22);
  if (sl + ml > blen - KK__J_BODY_HDR) return "bad field lengths";
  *r = (kk__jrec_t){.body = b, .seq = seq, .blen = blen, .sl = sl, .ml = ml};
  return NULL;
}
