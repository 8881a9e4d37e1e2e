/*
 * klimakit/log.h - logging.
 *
 * Lines are prefixed with the component as `[kind:name]` (for example
 * `[source:tcp]`, `[core:journal]`).  On a terminal they are written for a
 * person; otherwise (or with `--log-format json`) as one JSON object per
 * line with ts, level, component and msg.  Logging is for the loop thread
 * and worker threads alike (lines are written with a single write()).
 */
#ifndef KLIMAKIT_LOG_H
#define KLIMAKIT_LOG_H

#include <stdint.h>

typedef enum kk_log_level {
  KK_LOG_ERROR = 0,
  KK_LOG_WARN,
  KK_LOG_INFO,
  KK_LOG_DEBUG
} kk_log_level_t;

#if defined(__GNUC__)
#define KK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KK_PRINTF(a, b)
#endif

/* Writes one line for component `kind:name` if `level` is enabled. */
void kk_log(kk_log_level_t level, const char *kind, const char *name,
            const char *fmt, ...) KK_PRINTF(4, 5);

/* A rate limit for repeated messages (bad input from a device, say): at
 * most `burst` lines per `interval_ms`, then one summary line with the
 * number suppressed.  Zero-initialise with KK_RATELIMIT_INIT. */
typedef struct kk_ratelimit {
  uint64_t interval_ms;
  uint32_t burst;
  uint32_t used;
  uint64_t window_start;
  uint64_t suppressed;
} kk_ratelimit_t;

#define KK_RATELIMIT_INIT(interval_ms, burst)                                  \
  { (interval_ms), (burst), 0, 0, 0 }

/* Returns 1 if a line may be written now, 0 if it is suppressed. */
int kk_ratelimit_ok(kk_ratelimit_t *rl);

#endif
