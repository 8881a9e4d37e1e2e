/*
 * modules/publish/http/http_chart.c - see http_chart.h.  http_chart_svg()
 * fits the axes to the data (http_chart_fit), then draws the parts in order:
 * the y axis, the x axis (years, or hours and days in local time), the
 * threshold lines, the bucket series or the bars, the point series, the
 * reference series and the frame.  Every other x label carries class
 * "alt" so that narrow screens can hide it (the page's CSS).
 */
#include <klimakit.h>
#include "publish/http/http_chart.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Decimals of the y axis' tick labels for a step. */
static int http_chart_decimals(double step) {
  int d = 0;
  while (d < 6 && fabs(step * pow(10, d) - round(step * pow(10, d))) > 1e-6)
    d++;
  return d;
}

/* A step of 1, 2 or 5 times a power of ten giving about `target` ticks. */
static double nice_step(double range, int target) {
  double raw = range / target;
  double mag = pow(10, floor(log10(raw)));
  double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static const int64_t time_steps_s[] = {
    600,   1800,      3600,      2 * 3600,   3 * 3600,   6 * 3600,  12 * 3600,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400};

/* Where the plot lies in the viewBox and what its axes span. */
typedef struct http_chart_geom {
  int W, H;
  int ml, mt;          /* left and top margins */
  double pw, ph;       /* plot width and height */
  double y0, y1, step; /* y axis range and tick step */
  int64_t from_ms;
  double span; /* to_ms - from_ms */
  size_t npoints;
} http_chart_geom_t;

static double http_chart_x(const http_chart_geom_t *g, double ms) {
  return g->ml + g->pw * ((ms - (double)g->from_ms) / g->span);
}

static double http_chart_y(const http_chart_geom_t *g, double v) {
  return g->mt + g->ph * (1 - (v - g->y0) / (g->y1 - g->y0));
}

/* Fits the y axis to every value and to the thresholds near them. */
static void http_chart_fit(const http_chart_t *c, http_chart_geom_t *g) {
  /* Margins fit the labels at the phone size of the text too (the page's
   * CSS sets 24 units there, so that they read at about 12 px). */
  const int mr = 16, mb = 40;
  g->W = c->width ? c->width : 720;
  g->H = c->height ? c->height : 260;
  g->ml = 84;
  g->mt = 14;
  g->pw = g->W - g->ml - mr;
  g->ph = g->H - g->mt - mb;
  double lo = INFINITY, hi = -INFINITY;
  size_t npoints = 0;
  if (c->edges) lo = 0, hi = 0; /* bars start at zero */
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
  if (c->edges && hi - lo < 1e-9) hi = lo + 1;
  if (hi - lo < 1e-9) {
    double pad = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  g->step = nice_step(hi - lo, 4);
  g->y0 = floor(lo / g->step) * g->step;
  g->y1 = ceil(hi / g->step) * g->step;
  g->from_ms = c->from_ms;
  g->span = (double)(c->to_ms - c->from_ms);
  g->npoints = npoints;
}

/* The opening <svg> with its accessible name. */
static void http_chart_open(kk_buf_t *b, const http_chart_t *c,
                            const http_chart_geom_t *g) {
  kk_buf_printf(b,
                "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
                "aria-label=\"",
                g->W, g->H);
  kk_buf_html(b, c->title);
  kk_buf_printf(b, "\" data-points=\"%zu\" data-kind=\"%s\" data-unit=\"",
                g->npoints, c->edges ? "bars" : "line");
  kk_buf_html(b, c->unit);
  kk_buf_puts(b, "\"><title>");
  kk_buf_html(b, c->title);
  kk_buf_puts(b, "</title>");
}

/* y grid, ticks and unit. */
static void http_chart_axis_y(kk_buf_t *b, const http_chart_t *c,
                              const http_chart_geom_t *g) {
  kk_buf_puts(b, "<g class=\"axis y\">");
  char num[32];
  int dec = http_chart_decimals(g->step);
  for (double v = g->y0; v <= g->y1 + g->step / 2; v += g->step) {
    http_num(c->reg, fabs(v) < g->step / 1e6 ? 0 : v, dec, num, sizeof num);
    kk_buf_printf(b,
                  "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                  "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                  g->ml, g->ml + g->pw, http_chart_y(g, v), http_chart_y(g, v),
                  g->ml - 6, http_chart_y(g, v) + 4, num);
  }
  kk_buf_printf(
      b,
      "<text class=\"unit\" x=\"12\" y=\"%.1f\" transform=\"rotate(-90 "
      "12 %.1f)\" text-anchor=\"middle\">",
      g->mt + g->ph / 2, g->mt + g->ph / 2);
  kk_buf_html(b, c->unit);
  kk_buf_puts(b, "</text></g>");
}

/* One vertical grid line at x with its label. */
static void http_chart_tick_x(kk_buf_t *b, const http_chart_geom_t *g, double x,
                              const char *label, int alt) {
  kk_buf_printf(b,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\"/>"
                "<text%s x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">",
                x, x, g->mt, g->mt + g->ph, alt ? " class=\"alt\"" : "", x,
                g->mt + g->ph + 24, x > g->W - 40 ? "end" : "middle");
  kk_buf_html(b, label);
  kk_buf_puts(b, "</text>");
}

/* Years: ticks on 1 January (local time) of every 1, 2, 5, 10... years. */
static void http_chart_ticks_years(kk_buf_t *b, const http_chart_t *c,
                                   const http_chart_geom_t *g) {
  struct tm t0, t1;
  kk_tz_local(c->tz, c->from_ms / 1000, &t0);
  kk_tz_local(c->tz, c->to_ms / 1000, &t1);
  int y0 = t0.tm_year + 1900, y1 = t1.tm_year + 1900, step = 1;
  static const int ysteps[] = {1, 2, 5, 10, 20, 50};
  for (size_t i = 0; i < sizeof ysteps / sizeof *ysteps; i++) {
    step = ysteps[i];
    if ((y1 - y0) / step <= 8) break;
  }
  int k = 0;
  for (int y = (y0 / step + 1) * step; y <= y1; y += step) {
    int64_t t = kk_days_from_civil(y, 1, 1) * 86400;
    t -= kk_tz_offset(c->tz, t);
    double x = http_chart_x(g, (double)(t * 1000));
    if (x < g->ml || x > g->ml + g->pw) continue;
    char lab[16];
    snprintf(lab, sizeof lab, "%d", y);
    http_chart_tick_x(b, g, x, lab, k++ % 2);
  }
}

/* Hours and days: ticks on local boundaries of a step that gives at most
 * 8 of them. */
static void http_chart_ticks_hours(kk_buf_t *b, const http_chart_t *c,
                                   const http_chart_geom_t *g) {
  int64_t span_s = (c->to_ms - c->from_ms) / 1000, st = time_steps_s[0];
  for (size_t i = 0; i < sizeof time_steps_s / sizeof *time_steps_s; i++) {
    st = time_steps_s[i];
    if (span_s / st <= 8) break;
  }
  int64_t from_s = c->from_ms / 1000;
  int off = kk_tz_offset(c->tz, from_s);
  int64_t first = ((from_s + off) / st + 1) * st - off;
  int k = 0;
  for (int64_t t = first; t * 1000 <= c->to_ms; t += st) {
    /* Labels fall on local boundaries even across a DST change. */
    int64_t lt = t + kk_tz_offset(c->tz, t) - off;
    struct tm tm;
    kk_tz_local(c->tz, lt, &tm);
    char lab[32];
    int day = st >= 86400 || (tm.tm_hour == 0 && tm.tm_min == 0);
    http_date(c->reg, c->tz, lt * 1000,
              day ? HTTP_M_fmt_daymonth : HTTP_M_fmt_time, lab, sizeof lab);
    double x = http_chart_x(g, (double)(lt * 1000));
    if (x < g->ml || x > g->ml + g->pw) continue;
    http_chart_tick_x(b, g, x, lab, k++ % 2);
  }
}

/* x ticks in local time. */
static void http_chart_axis_x(kk_buf_t *b, const http_chart_t *c,
                              const http_chart_geom_t *g) {
  kk_buf_puts(b, "<g class=\"axis x\">");
  if ((c->to_ms - c->from_ms) / 1000 > 2 * 366 * 86400)
    http_chart_ticks_years(b, c, g);
  else
    http_chart_ticks_hours(b, c, g);
  kk_buf_puts(b, "</g>");
}

/* Dashed threshold lines with labels, where they lie on the y axis. */
static void http_chart_thresholds(kk_buf_t *b, const http_chart_t *c,
                                  const http_chart_geom_t *g) {
  for (int k = 0; k < c->nthresholds; k++) {
    double t = c->threshold[k];
    if (t < g->y0 || t > g->y1) continue;
    kk_buf_printf(b,
                  "<g class=\"threshold\"><line x1=\"%d\" x2=\"%.1f\" "
                  "y1=\"%.1f\" y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\" "
                  "text-anchor=\"end\">",
                  g->ml, g->ml + g->pw, http_chart_y(g, t), http_chart_y(g, t),
                  g->ml + g->pw - 4, http_chart_y(g, t) - 4);
    kk_buf_html(b, c->threshold_label[k] ? c->threshold_label[k] : "");
    kk_buf_puts(b, "</text></g>");
  }
}

/* The bucket series: one polyline per run of present buckets. */
static void http_chart_buckets(kk_buf_t *b, const http_chart_t *c,
                               const http_chart_geom_t *g) {
  double bw = g->span / (double)(c->n ? c->n : 1);
  int open = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (!c->present[i]) {
      if (open) kk_buf_puts(b, "\"/>");
      open = 0;
      continue;
    }
    double x = http_chart_x(g, (double)c->from_ms + bw * ((double)i + 0.5));
    double y = http_chart_y(g, c->value[i]);
    if (!open) {
      /* A lone point still shows: a polyline of one point draws nothing. */
      int lone = i + 1 >= c->n || !c->present[i + 1];
      if (lone) {
        kk_buf_printf(
            b, "<circle class=\"data\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\"/>", x,
            y);
        continue;
      }
      kk_buf_puts(b, "<polyline class=\"data\" points=\"");
      open = 1;
    }
    kk_buf_printf(b, "%.1f,%.1f ", x, y);
  }
  if (open) kk_buf_puts(b, "\"/>");
}

/* Bars between edges; a partial one hatched, each with a title that
 * names its period and value (the hover text, no JavaScript needed). */
static void http_chart_bars(kk_buf_t *b, const http_chart_t *c,
                            const http_chart_geom_t *g) {
  if (!c->edges) return;
  double y0 = http_chart_y(g, g->y0 < 0 && g->y1 > 0 ? 0 : g->y0);
  for (size_t i = 0; i < c->n; i++) {
    if (!c->present[i]) continue;
    double x0 = http_chart_x(g, (double)c->edges[i]),
           x1 = http_chart_x(g, (double)c->edges[i + 1]);
    double w = (x1 - x0) * 0.8, y = http_chart_y(g, c->value[i]);
    double top = y < y0 ? y : y0, h = fabs(y0 - y);
    char when[40], num[40];
    http_date(c->reg, c->tz, c->edges[i], c->period_fmt, when, sizeof when);
    http_num(c->reg, c->value[i], -1, num, sizeof num);
    int part = c->partial && c->partial[i];
    kk_buf_printf(b,
                  "<rect class=\"col%s\" x=\"%.1f\" y=\"%.1f\" "
                  "width=\"%.1f\" height=\"%.1f\"><title>",
                  part ? " partial" : "", x0 + (x1 - x0) * 0.1, top,
                  w > 0.5 ? w : 0.5, h > 0.5 ? h : 0.5);
    kk_buf_html(b, when);
    kk_buf_puts(b, ": ");
    kk_buf_html(b, num);
    kk_buf_puts(b, " ");
    kk_buf_html(b, c->unit);
    if (part) {
      kk_buf_puts(b, " (");
      kk_buf_html(b, http_t(c->reg, HTTP_M_partial));
      kk_buf_puts(b, ")");
    }
    kk_buf_puts(b, "</title></rect>");
  }
}

/* The point series (yearly values): a line with a marker per point. */
static void http_chart_points(kk_buf_t *b, const http_chart_t *c,
                              const http_chart_geom_t *g) {
  if (!c->xy_n) return;
  kk_buf_puts(b, "<polyline class=\"data\" points=\"");
  for (size_t i = 0; i < c->xy_n; i++)
    kk_buf_printf(b, "%.1f,%.1f ", http_chart_x(g, (double)c->xy_t[i]),
                  http_chart_y(g, c->xy_v[i]));
  kk_buf_puts(b, "\"/>");
  for (size_t i = 0; i < c->xy_n; i++)
    kk_buf_printf(b, "<circle class=\"data\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>",
                  http_chart_x(g, (double)c->xy_t[i]),
                  http_chart_y(g, c->xy_v[i]));
}

/* The reference series (a target path), dashed and labelled at its end. */
static void http_chart_ref(kk_buf_t *b, const http_chart_t *c,
                           const http_chart_geom_t *g) {
  if (!c->ref_n) return;
  kk_buf_puts(b, "<g class=\"ref\"><polyline points=\"");
  for (size_t i = 0; i < c->ref_n; i++)
    kk_buf_printf(b, "%.1f,%.1f ", http_chart_x(g, (double)c->ref_t[i]),
                  http_chart_y(g, c->ref_v[i]));
  kk_buf_printf(b, "\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                http_chart_x(g, (double)c->ref_t[c->ref_n - 1]) - 4,
                http_chart_y(g, c->ref_v[c->ref_n - 1]) - 6);
  kk_buf_html(b, c->ref_label ? c->ref_label : "");
  kk_buf_puts(b, "</text></g>");
}

void http_chart_svg(kk_buf_t *b, const http_chart_t *c) {
  http_chart_geom_t g;
  http_chart_fit(c, &g);
  http_chart_open(b, c, &g);
  http_chart_axis_y(b, c, &g);
  http_chart_axis_x(b, c, &g);
  http_chart_thresholds(b, c, &g);
  if (c->edges)
    http_chart_bars(b, c, &g);
  else
    http_chart_buckets(b, c, &g);
  http_chart_points(b, c, &g);
  http_chart_ref(b, c, &g);
  if (!g.npoints && c->reg) {
    kk_buf_printf(b,
                  "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" "
                  "text-anchor=\"middle\">",
                  g.ml + g.pw / 2, g.mt + g.ph / 2);
    kk_buf_html(b, http_t(c->reg, HTTP_M_no_data_range));
    kk_buf_puts(b, "</text>");
  }
  kk_buf_printf(b,
                "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%.1f\" "
                "height=\"%.1f\"/></svg>",
                g.ml, g.mt, g.pw, g.ph);
}
