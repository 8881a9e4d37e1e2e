/* tests/bench/kk_bench.c - micro-benchmarks that need the library itself.
 *
 *   kk-bench journal DIR N     journal append rate and its write() floor
 *   kk-bench batch N           floor for the pipeline: pushing N readings
 *                              into batches and dropping them, no stages
 *
 * Each prints `bench <name> <value> <unit>` lines. */
#include <klimakit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_journal.c"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_batch(uint64_t n) {
  double t0 = now_s();
  uint64_t sum = 0;
  for (uint64_t done = 0; done < n;) {
    kk_batch_t *b = kk_batch_new(1024);
    for (int i = 0; i < 1024 && done < n; i++, done++) {
      kk_reading_t r = {(int64_t)done, (double)done, 1, 0};
      kk_batch_push(b, &r);
    }
    sum += kk_batch_len(b);
    kk_batch_unref(b);
  }
  double dt = now_s() - t0;
  printf("bench pipeline_floor %.0f readings/s\n", (double)sum / dt);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "journal") == 0) {
    double floor_rate = 0;
    double rate = kk_bench_journal_append(argv[2], strtoull(argv[3], NULL, 10),
                                          &floor_rate);
    if (rate <= 0) return 1;
    printf("bench journal_append %.0f records/s\n", rate);
    printf("bench journal_append_floor %.0f records/s\n", floor_rate);
    printf("bench journal_append_ratio %.2f ratio\n", rate / floor_rate);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "batch") == 0)
    return bench_batch(strtoull(argv[2], NULL, 10));
  fprintf(stderr, "usage: kk-bench journal DIR N | batch N\n");
  return 2;
}
