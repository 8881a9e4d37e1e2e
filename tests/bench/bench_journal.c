/*
 * tests/bench/bench_journal.c - append rate of the journal, and its floor.
 *
 * Included by the bench driver (no main() here).  kk_bench_journal_append
 * appends n records of 120 bytes (fsync never, a commit every 1000 records)
 * into a fresh journal and, in the same call, writes the same number of
 * bytes with plain write() calls of one commit each into a plain file:
 * that is the floor the journal cannot beat, and the ratio shows what
 * framing, CRC and copying cost.
 *
 * For comparison it also appends the same records into a journal that
 * writes segment format 2 (zlib's CRC-32, what klimakit wrote before
 * CRC32C), and it measures CPU time (user and system) beside wall time:
 * on a busy machine the CPU-time ratio moves far less.  It prints those
 * figures itself:
 *   bench journal_append_v2 R records/s
 *   bench journal_append_v2_ratio R ratio
 *   bench journal_append_cpu R records/cpu-s
 *   bench journal_append_floor_cpu R records/cpu-s
 *   bench journal_append_cpu_ratio R ratio
 *   bench journal_append_v2_cpu_ratio R ratio
 *
 * A shared machine stalls now and then, and one stall in a pass of a few
 * hundred ms halves it: each of the three measures is the best of three
 * passes, and the passes take turns (journal, version 2, floor, journal,
 * ...) so that a busy stretch hits all three alike.  Every pass starts
 * with no dirty pages on the file system and deletes its files untimed
 * before the next sync, so the disk never has to take gigabytes of
 * bench data.
 */
#include "journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KK_BENCH_J_BATCH 1000
#define KK_BENCH_J_LEN 120
#define KK_BENCH_J_PASSES 3

static double kk_bench_j_clock(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static double kk_bench_j_now(void) {
  return kk_bench_j_clock(CLOCK_MONOTONIC);
}
/* CPU time of this process, user and system (write()'s copying is system
 * time): what other processes on the machine change least. */
static double kk_bench_j_cpu(void) {
  return kk_bench_j_clock(CLOCK_PROCESS_CPUTIME_ID);
}

/* Flushes the file system that holds `dir`, outside the clock: dirty pages
 * of other writers (or of a pass that failed) would otherwise throttle
 * the next pass through writeback. */
static int kk_bench_j_sync(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = syncfs(fd);
  close(fd);
  return rc;
}

/* Deletes the segments and cursors of the journal in `dir`. */
static void kk_bench_j_wipe(const char *dir) {
  char path[4200];
  DIR *d = opendir(dir);
  struct dirent *de;
  if (!d) return;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l > 4 && strcmp(de->d_name + l - 4, ".kkj") == 0) {
      snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
      unlink(path);
    }
  }
  closedir(d);
}

/* One journal pass: n records into a fresh journal writing segment format
 * `version` (0: the current one).  Returns records/s (0 on failure),
 * records per CPU second in *cpu_rate and the bytes written in *bytes. */
static double kk_bench_j_pass(const char *dir, int version, uint64_t n,
                              uint64_t *bytes, double *cpu_rate) {
  kk__journal_cfg_t cfg = {
      .dir = dir, .fsync = KK__FSYNC_NEVER, .version = version};
  kk__journal_t *j = NULL;
  kk__journal_stats_t st;
  uint8_t data[KK_BENCH_J_LEN];
  char err[256];
  uint64_t seq = 0;
  double t0, c0, rate = 0;

  memset(data, 'x', sizeof data);
  kk_bench_j_wipe(dir);
  if (kk__journal_open(&cfg, &j, err, sizeof err) != 0) {
    fprintf(stderr, "bench journal: %s\n", err);
    return 0;
  }
  if (kk_bench_j_sync(dir) != 0) goto out;
  c0 = kk_bench_j_cpu();
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
  *cpu_rate = (double)n / (kk_bench_j_cpu() - c0);
  kk__journal_stats(j, &st);
  *bytes = st.bytes_written;
out:
  kk__journal_close(j);
  kk_bench_j_wipe(dir);
  if (kk_bench_j_sync(dir) != 0) rate = 0;
  return rate;
}

/* One floor pass: `bytes` in write() calls of `per` bytes each. */
static double kk_bench_j_floor(const char *dir, uint64_t n, uint64_t bytes,
                               const uint8_t *chunk, size_t per,
                               double *cpu_rate) {
  char path[4200];
  double t0, c0, rate = 0;
  snprintf(path, sizeof path, "%s/floor.bin", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return 0;
  if (syncfs(fd) != 0) goto out;
  c0 = kk_bench_j_cpu();
  t0 = kk_bench_j_now();
  for (uint64_t left = bytes; left > 0;) {
    size_t len = left < per ? (size_t)left : per;
    ssize_t w = write(fd, chunk, len);
    if (w <= 0) goto out;
    left -= (uint64_t)w;
  }
  rate = (double)n / (kk_bench_j_now() - t0);
  *cpu_rate = (double)n / (kk_bench_j_cpu() - c0);
out:
  close(fd);
  unlink(path);
  if (kk_bench_j_sync(dir) != 0) rate = 0;
  return rate;
}

/* Returns records/s (0 on failure) and the floor in *floor_rate. */
double kk_bench_journal_append(const char *dir, uint64_t n,
                               double *floor_rate) {
  double best = 0, best_v2 = 0, best_floor = 0, cpu = 0, cpu_v2 = 0,
         cpu_floor = 0;
  uint8_t *chunk = NULL;
  size_t per = 0;

  if (floor_rate) *floor_rate = 0;
  if (n == 0) return 0;
  for (int pass = 0; pass < KK_BENCH_J_PASSES; pass++) {
    uint64_t bytes = 0, bytes_v2 = 0;
    double c = 0, c2 = 0, cf = 0;
    double r = kk_bench_j_pass(dir, 0, n, &bytes, &c);
    double r2 = kk_bench_j_pass(dir, 2, n, &bytes_v2, &c2);
    if (r == 0 || r2 == 0) goto fail;
    if (!chunk) {
      /* The same bytes, in write() calls of one commit each. */
      per = (size_t)(bytes / n) * KK_BENCH_J_BATCH;
      if (per == 0 || !(chunk = malloc(per))) goto fail;
      memset(chunk, 'y', per);
    }
    double f = kk_bench_j_floor(dir, n, bytes, chunk, per, &cf);
    if (f == 0) goto fail;
    if (r > best) best = r;
    if (r2 > best_v2) best_v2 = r2;
    if (f > best_floor) best_floor = f;
    if (c > cpu) cpu = c;
    if (c2 > cpu_v2) cpu_v2 = c2;
    if (cf > cpu_floor) cpu_floor = cf;
  }
  free(chunk);
  printf("bench journal_append_v2 %.0f records/s\n", best_v2);
  printf("bench journal_append_v2_ratio %.2f ratio\n", best_v2 / best_floor);
  printf("bench journal_append_cpu %.0f records/cpu-s\n", cpu);
  printf("bench journal_append_floor_cpu %.0f records/cpu-s\n", cpu_floor);
  printf("bench journal_append_cpu_ratio %.2f ratio\n", cpu / cpu_floor);
  printf("bench journal_append_v2_cpu_ratio %.2f ratio\n", cpu_v2 / cpu_floor);
  if (floor_rate) *floor_rate = best_floor;
  return best;
fail:
  free(chunk);
  return 0;
}
