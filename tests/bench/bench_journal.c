/*
 * tests/bench/bench_journal.c - append rate of the journal, and its floor.
 *
 * Included by the bench driver (no main() here).  kk_bench_journal_append
 * appends n records of 120 bytes (fsync never, a commit every 1000 records)
 * and, in the same call, writes the same number of bytes with plain write()
 * calls of the same size into a plain file (best of three passes): that is
 * the floor the journal cannot beat, and the ratio shows what framing, CRC
 * and copying cost.
 */
#include "journal.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KK_BENCH_J_BATCH 1000
#define KK_BENCH_J_LEN 120

static double kk_bench_j_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns records/s (0 on failure) and the floor in *floor_rate. */
double kk_bench_journal_append(const char *dir, uint64_t n,
                               double *floor_rate) {
  kk__journal_cfg_t cfg = {.dir = dir, .fsync = KK__FSYNC_NEVER};
  kk__journal_t *j = NULL;
  uint8_t data[KK_BENCH_J_LEN];
  char err[256], path[4096];
  uint64_t seq = 0, bytes0, bytes;
  uint8_t *chunk = NULL;
  double t0, rate = 0;
  int fd = -1;

  if (floor_rate) *floor_rate = 0;
  memset(data, 'x', sizeof data);
  if (kk__journal_open(&cfg, &j, err, sizeof err) != 0) {
    fprintf(stderr, "bench journal: %s\n", err);
    return 0;
  }
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  bytes0 = st.bytes_written;
  /* Both phases start with no dirty pages on the file system. */
  if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
    (void)syncfs(fd);
    close(fd);
    fd = -1;
  }
  t0 = kk_bench_j_now();
  for (uint64_t i = 0; i < n; i++) {
    data[i % KK_BENCH_J_LEN] = (uint8_t)i; /* not the same record each time */
    if (kk__journal_append(j, "bench", (int64_t)i, 0, NULL, data, sizeof data,
                           &seq) != 0)
      goto out;
    if ((i + 1) % KK_BENCH_J_BATCH == 0 && kk__journal_commit(j) != 0) goto out;
  }
  if (kk__journal_commit(j) != 0) goto out;
  rate = (double)n / (kk_bench_j_now() - t0);
  kk__journal_stats(j, &st);
  bytes = st.bytes_written - bytes0;
  /* Flush outside the clock: dirty pages left by one phase (the journal
   * closes rolled-over segments without syncing under fsync never) would
   * otherwise throttle the other through writeback. */
  kk__journal_close(j);
  j = NULL;
  snprintf(path, sizeof path, "%s/floor.bin", dir);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || syncfs(fd) != 0) {
    rate = 0;
    goto out;
  }

  /* The floor: the same bytes, in write() calls of one batch each. */
  size_t per = (size_t)(bytes / (n ? n : 1)) * KK_BENCH_J_BATCH;
  if (per == 0 || !(chunk = malloc(per))) {
    rate = 0;
    goto out;
  }
  memset(chunk, 'y', per);
  /* The floor phase is short (a few ms per million records), so one stall
   * of the file system would halve it: the best of three passes. */
  for (int pass = 0; pass < 3; pass++) {
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
      rate = 0;
      goto out;
    }
    t0 = kk_bench_j_now();
    for (uint64_t left = bytes; left > 0;) {
      size_t len = left < per ? (size_t)left : per;
      ssize_t w = write(fd, chunk, len);
      if (w <= 0) {
        rate = 0;
        goto out;
      }
      left -= (uint64_t)w;
    }
    double r = (double)n / (kk_bench_j_now() - t0);
    if (floor_rate && r > *floor_rate) *floor_rate = r;
    if (syncfs(fd) != 0) rate = 0;
  }
out:
  if (fd >= 0) {
    close(fd);
    unlink(path);
  }
  free(chunk);
  kk__journal_close(j);
  return rate;
}
