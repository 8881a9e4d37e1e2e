/*
 * modules/source/source_position.c - a source's saved read position in a
 * file (see source_position.h).
 */
#include "source/source_position.h"

#include <klimakit.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint64_t pos_fnv(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* FNV-1a of `n` bytes of fd at `off`; KK_EPARSE when fewer are there. */
static int pos_sum(int fd, uint64_t off, size_t n, uint64_t *h) {
  unsigned char buf[SOURCE_POS_PROBE];
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, buf + got, n - got, (off_t)(off + got));
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (k == 0) return KK_EPARSE;
    got += (size_t)k;
  }
  *h = pos_fnv(buf, n);
  return 0;
}

int source_pos_sums(int fd, source_pos_t *p) {
  size_t n = p->offset < SOURCE_POS_PROBE ? (size_t)p->offset
                                          : (size_t)SOURCE_POS_PROBE;
  int rc = pos_sum(fd, 0, n, &p->head);
  if (!rc) rc = pos_sum(fd, p->offset - n, n, &p->tail);
  return rc;
}

int source_pos_matches(int fd, uint64_t size, const source_pos_t *p) {
  if (p->offset > size) return 0;
  source_pos_t now = {.offset = p->offset};
  return source_pos_sums(fd, &now) == 0 && now.head == p->head &&
         now.tail == p->tail;
}

int source_pos_load(const char *path, source_pos_t *p) {
  FILE *f = fopen(path, "r");
  if (!f) return -errno;
  memset(p, 0, sizeof *p);
  int n = fscanf(f,
                 "klimakit-file-position 1 %" SCNu64 " %" SCNu64 " %" SCNx64
                 " %" SCNx64,
                 &p->offset, &p->line, &p->head, &p->tail);
  fclose(f);
  return n == 4 ? 0 : KK_EPARSE;
}

int source_pos_save(const char *path, const source_pos_t *p) {
  int rc = kk_mkdirs(path, 1);
  if (rc) return rc;
  char tmp[4200];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
    return KK_ETOOBIG;
  FILE *f = fopen(tmp, "w");
  if (!f) return -errno;
  fprintf(f,
          "klimakit-file-position 1 %" PRIu64 " %" PRIu64 " %016" PRIx64
          " %016" PRIx64 "\n",
          p->offset, p->line, p->head, p->tail);
  rc = 0;
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = -errno;
  if (fclose(f) != 0 && !rc) rc = -errno;
  if (!rc && rename(tmp, path) != 0) rc = -errno;
  if (rc) unlink(tmp);
  return rc;
}
