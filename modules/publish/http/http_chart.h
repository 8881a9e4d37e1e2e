/*
 * modules/publish/http/http_chart.h - server-rendered SVG charts.
 *
 * A chart a person reads at a glance without JavaScript: y axis with
 * "nice" ticks and the unit, x axis with local-time labels, dashed
 * threshold lines with labels, and gaps (empty buckets) drawn as gaps.
 * Values are n evenly spaced buckets from `from_ms` to `to_ms` (a line),
 * or bars between `edges` (consumption per hour, day or month; a bar that
 * is not complete yet is drawn hatched and says so in its title).
 * Numbers and dates are written in the registry's language.
 */
#ifndef KK_PUBLISH_HTTP_CHART_H
#define KK_PUBLISH_HTTP_CHART_H

#include <klimakit.h>
#include <stddef.h>

#include "publish/http/http_i18n.h"
#include <stdint.h>

#define KK_CHART_MAX_THRESHOLDS 4

typedef struct http_chart {
  const http_registry_t *reg;
  const char *title; /* also the accessible name */
  const char *unit;  /* unit label shown on the axis ("°C") */
  const char *tz;    /* time zone for labels (klimakit/time.h) */
  int64_t from_ms, to_ms;
  const double *value;    /* n bucket values (averages) */
  const uint8_t *present; /* n flags: 0 = no data (a gap) */
  size_t n;
  double threshold[KK_CHART_MAX_THRESHOLDS];
  const char *threshold_label[KK_CHART_MAX_THRESHOLDS];
  int nthresholds;
  int width, height; /* viewBox size; 0 = 720 x 240 */
  /* Optional second series at arbitrary times (a target path), drawn
   * dashed and labelled; NULL/0 for none.  Points of the main series may
   * also be given this way (xy_*) instead of buckets. */
  const int64_t *ref_t;
  const double *ref_v;
  size_t ref_n;
  const char *ref_label;
  const int64_t *xy_t; /* main series as points (with n = 0) */
  const double *xy_v;
  size_t xy_n;
  /* Bars instead of a line: n bars between edges[i] and edges[i + 1]
   * (value/present as above); partial[i] marks a period not over yet. */
  const int64_t *edges;
  const uint8_t *partial;
  http_msg_t period_fmt; /* date format of a bar's title */
} http_chart_t;

/* Appends one <svg> element to b.  The element carries
 * data-points="<number of points drawn>" for tests. */
void http_chart_svg(kk_buf_t *b, const http_chart_t *c);

#endif
