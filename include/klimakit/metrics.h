/*
 * klimakit/metrics.h - counters and gauges.
 *
 * Metrics are registered by name plus an optional label set in Prometheus
 * syntax (`stage="tcp",reason="parse"`) and live until the process exits,
 * so a module may keep the pointer.  Updates are atomic and cheap (one
 * relaxed add); they may come from any thread.
 */
#ifndef KLIMAKIT_METRICS_H
#define KLIMAKIT_METRICS_H

#include <stdint.h>

typedef struct kk_metric kk_metric_t;

/* Returns the counter `name{labels}`, creating it (value 0) the first time.
 * `labels` may be NULL.  `help` is used when the metric is first created.
 * Returns NULL only when out of memory; updating NULL is a no-op. */
kk_metric_t *kk_counter(const char *name, const char *labels, const char *help);
kk_metric_t *kk_gauge(const char *name, const char *labels, const char *help);

void kk_metric_add(kk_metric_t *m, int64_t delta);
void kk_metric_set(kk_metric_t *m, int64_t value);
int64_t kk_metric_value(const kk_metric_t *m);

/* Writes every metric in Prometheus text exposition format into a new
 * string; the caller frees it with free().  NULL when out of memory. */
char *kk_metrics_render(void);

#endif
