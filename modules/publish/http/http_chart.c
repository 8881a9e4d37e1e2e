/* modules/publish/http/http_chart.c - see svgchart.h. */
#include <klimakit.h>
#include "publish/http/http_chart.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


void http_chart_fmt(char *buf, size_t len, double v) {
  double a = fabs(v);
  if (a >= 100 || a == 0) snprintf(buf, len, "%.0f", v);
  else if (a >= 10) snprintf(buf, len, "%.1f", v);
  else if (a >= 1) snprintf(buf, len, "%.2f", v);
  else snprintf(buf, len, "%.3g", v);
}

/* A step of 1, 2 or 5 times a power of ten giving about `target` ticks. */
static double nice_step(double range, int target) {
  double raw = range / target;
  double mag = pow(10, floor(log10(raw)));
  double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static const int64_t time_steps_s[] = {
    600, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
    2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400};

void http_chart_svg(kk_buf_t *b, const http_chart_t *c) {
  int W = c->width ? c->width : 720, H = c->height ? c->height : 240;
  const int ml = 64, mr = 16, mt = 14, mb = 34;
  double pw = W - ml - mr, ph = H - mt - mb;
  double lo = INFINITY, hi = -INFINITY;
  size_t npoints = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (!c->present[i]) continue;
    npoints++;
    if (c->value[i] < lo) lo = c->value[i];
    if (c->value[i] > hi) hi = c->value[i];
  }
  for (size_t i = 0; i < c->xy_n; i++, npoints++) {
    if (c->xy_v[i] < lo) lo = c->xy_v[i];
    if (c->xy_v[i] > hi) hi = c->xy_v[i];
  }
  for (size_t i = 0; i < c->ref_n; i++) {
    if (c->ref_v[i] < lo) lo = c->ref_v[i];
    if (c->ref_v[i] > hi) hi = c->ref_v[i];
  }
  /* Thresholds near the data are drawn, so the axis must reach them. */
  for (int k = 0; k < c->nthresholds && npoints; k++) {
    double t = c->threshold[k];
    if (t <= hi * 1.5 + 1e-9 && t >= lo - fabs(lo) * 0.5) {
      if (t > hi) hi = t;
      if (t < lo) lo = t;
    }
  }
  if (!npoints) lo = 0, hi = 1;
  if (hi - lo < 1e-9) {
    double pad = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  double step = nice_step(hi - lo, 5);
  double y0 = floor(lo / step) * step, y1 = ceil(hi / step) * step;
  double span = (double)(c->to_ms - c->from_ms);
#define X(ms) (ml + pw * ((double)((ms) - c->from_ms) / span))
#define Y(v) (mt + ph * (1 - ((v) - y0) / (y1 - y0)))
  kk_buf_printf(b,
               "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
               "aria-label=\"",
               W, H);
  kk_buf_html(b, c->title);
  kk_buf_printf(b, "\" data-points=\"%zu\" data-unit=\"", npoints);
  kk_buf_html(b, c->unit);
  kk_buf_puts(b, "\"><title>");
  kk_buf_html(b, c->title);
  kk_buf_puts(b, "</title>");
  /* y grid, ticks and unit */
  kk_buf_puts(b, "<g class=\"axis y\">");
  char num[32];
  for (double v = y0; v <= y1 + step / 2; v += step) {
    http_chart_fmt(num, sizeof num, fabs(v) < step / 1e6 ? 0 : v);
    kk_buf_printf(b,
                 "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                 "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                 ml, ml + pw, Y(v), Y(v), ml - 6, Y(v) + 4, num);
  }
  kk_buf_printf(b,
               "<text class=\"unit\" x=\"12\" y=\"%.1f\" transform=\"rotate(-90 "
               "12 %.1f)\" text-anchor=\"middle\">",
               mt + ph / 2, mt + ph / 2);
  kk_buf_html(b, c->unit);
  kk_buf_puts(b, "</text></g>");
  /* x ticks in local time */
  int64_t span_s = (c->to_ms - c->from_ms) / 1000, st = time_steps_s[0];
  kk_buf_puts(b, "<g class=\"axis x\">");
  if (span_s > 2 * 366 * 86400) {
    /* Years: ticks on 1 January of every 1, 2, 5, 10... years. */
    struct tm t0, t1;
    kk_tz_local(c->tz, c->from_ms / 1000, &t0);
    kk_tz_local(c->tz, c->to_ms / 1000, &t1);
    int y0 = t0.tm_year + 1900, y1 = t1.tm_year + 1900, step = 1;
    static const int ysteps[] = {1, 2, 5, 10, 20, 50};
    for (size_t i = 0; i < sizeof ysteps / sizeof *ysteps; i++) {
      step = ysteps[i];
      if ((y1 - y0) / step <= 8) break;
    }
    for (int y = (y0 / step + 1) * step; y <= y1; y += step) {
      struct tm tm = {0};
      tm.tm_year = y - 1900;
      tm.tm_mday = 1;
      int64_t t = (int64_t)timegm(&tm);
      t -= kk_tz_offset(c->tz, t);
      double x = X(t * 1000);
      if (x < ml || x > ml + pw) continue;
      kk_buf_printf(b,
                   "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>",
                   x, x, mt, mt + ph, x, mt + ph + 18, y);
    }
  } else {
    for (size_t i = 0; i < sizeof time_steps_s / sizeof *time_steps_s; i++) {
      st = time_steps_s[i];
      if (span_s / st <= 8) break;
    }
    int64_t from_s = c->from_ms / 1000;
    int off = kk_tz_offset(c->tz, from_s);
    int64_t first = ((from_s + off) / st + 1) * st - off;
    for (int64_t t = first; t * 1000 <= c->to_ms; t += st) {
      /* Labels fall on local boundaries even across a DST change. */
      int64_t lt = t + kk_tz_offset(c->tz, t) - off;
      struct tm tm;
      kk_tz_local(c->tz, lt, &tm);
      char lab[32];
      if (st >= 86400)
        strftime(lab, sizeof lab, "%d.%m.", &tm);
      else if (tm.tm_hour == 0 && tm.tm_min == 0)
        strftime(lab, sizeof lab, "%d.%m.", &tm);
      else
        strftime(lab, sizeof lab, "%H:%M", &tm);
      double x = X(lt * 1000);
      if (x < ml || x > ml + pw) continue;
      kk_buf_printf(b,
                   "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                   x, x, mt, mt + ph, x, mt + ph + 18, lab);
    }
  }
  kk_buf_puts(b, "</g>");
  /* thresholds */
  for (int k = 0; k < c->nthresholds; k++) {
    double t = c->threshold[k];
    if (t < y0 || t > y1) continue;
    kk_buf_printf(b,
                 "<g class=\"threshold\"><line x1=\"%d\" x2=\"%.1f\" "
                 "y1=\"%.1f\" y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\" "
                 "text-anchor=\"end\">",
                 ml, ml + pw, Y(t), Y(t), ml + pw - 4, Y(t) - 4);
    kk_buf_html(b, c->threshold_label[k] ? c->threshold_label[k] : "");
    kk_buf_puts(b, "</text></g>");
  }
  /* data: one polyline per run of present buckets */
  double bw = span / (double)(c->n ? c->n : 1);
  int open = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (!c->present[i]) {
      if (open) kk_buf_puts(b, "\"/>");
      open = 0;
      continue;
    }
    double x = X(c->from_ms + bw * ((double)i + 0.5)), y = Y(c->value[i]);
    if (!open) {
      /* A lone point still shows: a polyline of one point draws nothing. */
      int lone = i + 1 >= c->n || !c->present[i + 1];
      if (lone) {
        kk_buf_printf(b, "<circle class=\"data\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\"/>",
                     x, y);
        continue;
      }
      kk_buf_puts(b, "<polyline class=\"data\" points=\"");
      open = 1;
    }
    kk_buf_printf(b, "%.1f,%.1f ", x, y);
  }
  if (open) kk_buf_puts(b, "\"/>");
  /* Point series (yearly values): a line with a marker per point. */
  if (c->xy_n) {
    kk_buf_puts(b, "<polyline class=\"data\" points=\"");
    for (size_t i = 0; i < c->xy_n; i++)
      kk_buf_printf(b, "%.1f,%.1f ", X(c->xy_t[i]), Y(c->xy_v[i]));
    kk_buf_puts(b, "\"/>");
    for (size_t i = 0; i < c->xy_n; i++)
      kk_buf_printf(b, "<circle class=\"data\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>",
                   X(c->xy_t[i]), Y(c->xy_v[i]));
  }
  if (c->ref_n) {
    kk_buf_puts(b, "<g class=\"ref\"><polyline points=\"");
    for (size_t i = 0; i < c->ref_n; i++)
      kk_buf_printf(b, "%.1f,%.1f ", X(c->ref_t[i]), Y(c->ref_v[i]));
    kk_buf_printf(b, "\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                 X(c->ref_t[c->ref_n - 1]) - 4, Y(c->ref_v[c->ref_n - 1]) - 6);
    kk_buf_html(b, c->ref_label ? c->ref_label : "");
    kk_buf_puts(b, "</text></g>");
  }
  kk_buf_printf(b,
               "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%.1f\" "
               "height=\"%.1f\"/></svg>",
               ml, mt, pw, ph);
#undef X
#undef Y
}
