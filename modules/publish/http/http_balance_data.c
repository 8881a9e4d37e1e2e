/*
 * modules/publish/http/http_balance_data.c - the data of a climate balance
 * as the page reads it (calc.bisko, calc.target and calc.degree_days
 * datastreams by local year), its stacked SVG chart, and the downloads
 * /climate.csv and /climate.svg.  See http_balance_impl.h.
 */
#include "publish/http/http_balance_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Okabe-Ito colours: told apart with the common colour-vision
 * deficiencies. */
const char *const bal_colours[8] = {"#0072B2", "#E69F00", "#CC79A7", "#009E73",
                                    "#D55E00", "#56B4E9", "#F0E442", "#7f7f7f"};

static const char *const bal_props[BAL_F_N] = {"co2e_households",
                                               "co2e_commerce",
                                               "co2e_industry",
                                               "co2e_municipal",
                                               "co2e_transport",
                                               "co2e_total",
                                               "co2e_per_capita",
                                               "population",
                                               "data_quality",
                                               "balance_status",
                                               "co2e_total_extrapolated",
                                               "target_path",
                                               "target_milestone",
                                               "change_vs_base",
                                               "on_track",
                                               "on_track_extrapolated",
                                               "remaining_budget",
                                               "budget_years_left",
                                               "co2e_total_weather_corrected"};

static int bal_local_year(const http_state_t *s, int64_t ms) {
  struct tm tm;
  kk_tz_local(s->tz, kk_floor_div(ms, 1000), &tm);
  return tm.tm_year + 1900;
}

static bal_year_t *bal_slot(bal_t *d, int year, int64_t t) {
  for (size_t i = 0; i < d->n; i++)
    if (d->y[i].year == year) return &d->y[i];
  if (d->n == BAL_MAX_YEARS) return NULL;
  bal_year_t *y = &d->y[d->n++];
  y->year = year;
  y->t = t;
  for (int k = 0; k < BAL_F_N; k++)
    y->f[k] = NAN;
  for (int k = 0; k < BAL_MAX_CARRIERS; k++)
    y->car[k] = NAN;
  return y;
}

/* Reads one series into field `f` (f < 0: carrier -f - 1). */
static void bal_series(http_state_t *s, bal_t *d, const char *prop, int f) {
  int64_t t[HTTP_RECENT];
  double v[HTTP_RECENT];
  const char *unit = "";
  size_t n = http_points(s, d->thing, prop, t, v, HTTP_RECENT, &unit);
  for (size_t i = 0; i < n; i++) {
    bal_year_t *y = bal_slot(d, bal_local_year(s, t[i]), t[i]);
    if (!y) break;
    if (f >= 0)
      y->f[f] = v[i];
    else
      y->car[-f - 1] = v[i];
  }
  if (n && f >= 0) d->have[f] = 1;
  if (n && f == BAL_F_TOTAL) d->unit = unit;
}

static int bal_cmp(const void *a, const void *b) {
  return ((const bal_year_t *)a)->year - ((const bal_year_t *)b)->year;
}

/* Loads what the page shows of `thing`; 0 when it has no total. */
int bal_load(http_state_t *s, const char *thing, bal_t *d) {
  memset(d, 0, sizeof *d);
  d->thing = thing;
  d->unit = "t";
  d->current_year = bal_local_year(s, kk_now_ms());
  for (int f = 0; f < BAL_F_N; f++)
    bal_series(s, d, bal_props[f], f);
  if (!d->have[BAL_F_TOTAL]) return 0;
  http_items_t it;
  if (http_items_load(s, thing, kk_now_ms(), &it) == 0) {
    for (size_t i = 0; i < it.len && d->ncar < BAL_MAX_CARRIERS; i++) {
      const char *p = it.items[i].property;
      if (strncmp(p, "co2e_carrier_", 13) != 0) continue;
      int dup = 0;
      for (size_t k = 0; k < d->ncar; k++)
        dup |= strcmp(d->car[k], p + 13) == 0;
      if (dup) continue;
      snprintf(d->car[d->ncar], sizeof d->car[0], "%s", p + 13);
      bal_series(s, d, p, -(int)d->ncar - 1);
      d->ncar++;
    }
    http_items_free(&it);
  }
  qsort(d->y, d->n, sizeof *d->y, bal_cmp);
  return 1;
}

/* 0 final, 1 provisional, 2 incomplete; a year without a status that is
 * not over yet is provisional. */
int bal_status(const bal_t *d, const bal_year_t *y) {
  if (!isnan(y->f[BAL_F_STATUS])) return (int)y->f[BAL_F_STATUS];
  return y->year >= d->current_year ? 1 : -1;
}

const bal_year_t *bal_base(const bal_t *d) {
  for (size_t i = 0; i < d->n; i++)
    if (!isnan(d->y[i].f[BAL_F_PATH])) return &d->y[i];
  return NULL;
}

const bal_year_t *bal_latest_final(const bal_t *d) {
  for (size_t i = d->n; i-- > 0;)
    if (!isnan(d->y[i].f[BAL_F_TOTAL]) && bal_status(d, &d->y[i]) == 0)
      return &d->y[i];
  return NULL;
}

/* The carrier's display name: the catalogue's, else the id. */
const char *bal_carrier_name(http_state_t *s, const char *id, char *buf,
                             size_t len) {
  char prop[96], fallback[96];
  snprintf(prop, sizeof prop, "co2e_carrier_%s", id);
  const char *n = http_prop_name(&s->reg, prop, buf, len);
  snprintf(fallback, sizeof fallback, "co2e carrier %s", id);
  for (char *p = fallback; *p; p++)
    if (*p == '_') *p = ' ';
  if (strcmp(n, fallback) != 0 && strcmp(n, prop) != 0) return n;
  snprintf(buf, len, "%s", id);
  return buf;
}

void bal_grade(double q, char *buf, size_t len) {
  /* The nearest of A = 1, B = 0.5, C = 0.25, D = 0. */
  char g = q >= 0.75 ? 'A' : q >= 0.375 ? 'B' : q >= 0.125 ? 'C' : 'D';
  snprintf(buf, len, "%c", g);
}

/* ---- the stacked chart ----------------------------------------------------
 */

static double bal_step(double top) {
  double raw = top / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* Where the chart's parts go. */
typedef struct bal_geom {
  int W, H, ml, mr, mt, mb, first, last;
  double pw, ph, sw; /* plot size, slot width per year */
  double scale, y1, step;
  size_t nser;
  int by_carrier;
  const char *unit;
} bal_geom_t;

static double bal_value(const bal_geom_t *g, const bal_year_t *y, size_t k) {
  return g->by_carrier ? y->car[k] : y->f[BAL_F_SEC + k];
}

static double bal_x(const bal_geom_t *g, int year) {
  return g->ml + g->sw * (year - g->first + 0.5);
}

static double bal_y(const bal_geom_t *g, double v) {
  return g->mt + g->ph * (1 - v / g->scale / g->y1);
}

static void bal_fit(http_state_t *s, const bal_t *d, int by_carrier,
                    bal_geom_t *g) {
  *g = (bal_geom_t){.W = 760,
                    .H = 360,
                    .ml = 70,
                    .mr = 14,
                    .mt = 34,
                    .mb = 86,
                    .by_carrier = by_carrier};
  g->pw = g->W - g->ml - g->mr;
  g->ph = g->H - g->mt - g->mb;
  g->first = d->n ? d->y[0].year : 0;
  g->last = d->n ? d->y[d->n - 1].year : 0;
  g->sw = g->pw / (g->last - g->first + 1);
  g->nser = by_carrier ? d->ncar : 5;
  double top = 0;
  for (size_t i = 0; i < d->n; i++) {
    const bal_year_t *y = &d->y[i];
    double sum = 0;
    for (size_t k = 0; k < g->nser; k++) {
      double v = bal_value(g, y, k);
      if (isfinite(v) && v > 0) sum += v;
    }
    double t = y->f[BAL_F_TOTAL], p = y->f[BAL_F_PATH];
    if (sum > top) top = sum;
    if (isfinite(t) && t > top) top = t;
    if (!by_carrier && isfinite(p) && p > top) top = p;
  }
  g->scale = top >= 1e5 ? 1000 : 1;
  g->step = top > 0 ? bal_step(top / g->scale) : 1;
  g->y1 = top > 0 ? ceil(top / g->scale / g->step) * g->step : 5;
  g->unit =
      http_t(&s->reg, g->scale > 1 ? HTTP_M_bal_unit_kt : HTTP_M_bal_unit_t);
}

static void bal_axes(http_state_t *s, kk_buf_t *b, const bal_geom_t *g) {
  char num[48];
  for (double v = 0; v <= g->y1 + g->step / 2; v += g->step) {
    double y = g->mt + g->ph * (1 - v / g->y1);
    http_num(&s->reg, v, g->step < 1 ? 1 : 0, num, sizeof num);
    kk_buf_printf(b,
                  "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"#e3e3e3\"/><text x=\"%d\" y=\"%.1f\" "
                  "text-anchor=\"end\" fill=\"#333\">",
                  g->ml, g->W - g->mr, y, y, g->ml - 6, y + 4);
    kk_buf_html(b, num);
    kk_buf_puts(b, "</text>");
  }
  /* Every year when few, else every 5th (10th) and the first and last. */
  int nslot = g->last - g->first + 1;
  int every = nslot <= 12 ? 1 : nslot <= 30 ? 5 : 10;
  for (int yr = g->first; yr <= g->last; yr++) {
    int edge = yr == g->first || yr == g->last;
    if (!edge && (yr % every || g->last - yr < every / 2 + 1 ||
                  yr - g->first < every / 2 + 1))
      continue;
    kk_buf_printf(b,
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                  "fill=\"#333\">%d</text>",
                  bal_x(g, yr), g->mt + g->ph + 16, yr);
  }
}

/* The stacked bars; returns how many years have one, *partial whether
 * one of them is not final. */
static int bal_bars(http_state_t *s, kk_buf_t *b, const bal_t *d,
                    const bal_geom_t *g, int *partial) {
  int points = 0;
  char num[48];
  for (size_t i = 0; i < d->n; i++) {
    const bal_year_t *y = &d->y[i];
    if (isnan(y->f[BAL_F_TOTAL])) continue;
    int st = bal_status(d, y), pale = st > 0;
    *partial |= pale;
    double x = g->ml + g->sw * (y->year - g->first) + g->sw * 0.15,
           w = g->sw * 0.7, base = 0;
    kk_buf_printf(b, "<g%s><title>%d", pale ? " opacity=\"0.4\"" : "", y->year);
    if (pale) {
      kk_buf_puts(b, " (");
      kk_buf_html(b, http_t(&s->reg, st == 1 ? HTTP_M_bal_status_provisional
                                             : HTTP_M_bal_status_incomplete));
      kk_buf_puts(b, ")");
    }
    http_num(&s->reg, y->f[BAL_F_TOTAL] / g->scale, -1, num, sizeof num);
    kk_buf_printf(b, ": %s %s</title>", num, g->unit);
    for (size_t k = 0; k < g->nser; k++) {
      double v = bal_value(g, y, k);
      if (!isfinite(v) || v <= 0) continue;
      double h = g->ph * (v / g->scale) / g->y1;
      kk_buf_printf(b,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\" fill=\"%s\"/>",
                    x, bal_y(g, base * g->scale) - h, w, h, bal_colours[k % 8]);
      base += v / g->scale;
    }
    if (pale)
      kk_buf_printf(b,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\" fill=\"none\" stroke=\"#1b1b1b\" "
                    "stroke-dasharray=\"3 2\"/>",
                    x, bal_y(g, base * g->scale), w, g->ph * base / g->y1);
    kk_buf_puts(b, "</g>");
    points++;
  }
  return points;
}

static void bal_path(http_state_t *s, kk_buf_t *b, const bal_t *d,
                     const bal_geom_t *g) {
  kk_buf_puts(b, "<polyline fill=\"none\" stroke=\"#b3261e\" "
                 "stroke-width=\"2\" stroke-dasharray=\"8 4\" points=\"");
  for (size_t i = 0; i < d->n; i++)
    if (!isnan(d->y[i].f[BAL_F_PATH]))
      kk_buf_printf(b, "%.1f,%.1f ", bal_x(g, d->y[i].year),
                    bal_y(g, d->y[i].f[BAL_F_PATH]));
  kk_buf_puts(b, "\"/>");
  char num[48];
  for (size_t i = 0; i < d->n; i++) {
    const bal_year_t *y = &d->y[i];
    if (isnan(y->f[BAL_F_MILESTONE])) continue;
    double cx = bal_x(g, y->year), cy = bal_y(g, y->f[BAL_F_MILESTONE]);
    http_num(&s->reg, y->f[BAL_F_MILESTONE] / g->scale, -1, num, sizeof num);
    kk_buf_printf(b,
                  "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#b3261e\">"
                  "<title>%d: %s %s</title></circle><text x=\"%.1f\" "
                  "y=\"%.1f\" text-anchor=\"middle\" fill=\"#b3261e\">",
                  cx, cy, y->year, num, g->unit, cx, cy - 8);
    kk_buf_html(b, num);
    kk_buf_puts(b, "</text>");
  }
}

/* Swatches in rows below the axis. */
static void bal_legend(http_state_t *s, kk_buf_t *b, const bal_t *d,
                       const bal_geom_t *g, int any_partial) {
  double lx = g->ml, ly = g->mt + g->ph + 36;
  char name[96];
  for (size_t k = 0; k <= g->nser + 1; k++) {
    const char *label = NULL, *colour = NULL;
    int dashed = 0;
    if (k < g->nser) {
      label = g->by_carrier ? bal_carrier_name(s, d->car[k], name, sizeof name)
                            : http_t(&s->reg, HTTP_M_sector_households + k);
      colour = bal_colours[k % 8];
    } else if (k == g->nser && !g->by_carrier && d->have[BAL_F_PATH]) {
      label = http_t(&s->reg, HTTP_M_target_path);
      colour = "#b3261e";
      dashed = 1;
    } else if (k == g->nser + 1 && any_partial) {
      label = http_t(&s->reg, HTTP_M_bal_legend_partial);
      colour = "#bbbbbb";
    }
    if (!label) continue;
    double wlab = 22 + 6.6 * (double)strlen(label);
    if (lx + wlab > g->W - g->mr) {
      lx = g->ml;
      ly += 18;
    }
    if (dashed)
      kk_buf_printf(b,
                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                    "stroke=\"%s\" stroke-width=\"2\" "
                    "stroke-dasharray=\"6 3\"/>",
                    lx, lx + 14, ly - 4, ly - 4, colour);
    else
      kk_buf_printf(b,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" "
                    "fill=\"%s\"/>",
                    lx, ly - 9, colour);
    kk_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#1b1b1b\">", lx + 18,
                  ly);
    kk_buf_html(b, label);
    kk_buf_puts(b, "</text>");
    lx += wlab + 12;
  }
}

/* One <svg>: bars stacked by sector (or carrier) for the years with a
 * total, the target path as a dashed line through every year to the
 * target year, the interim targets as dots, and a legend.  `standalone`
 * adds what a file needs.  data-points: the bars drawn (for tests). */
void bal_chart(http_state_t *s, kk_buf_t *b, const bal_t *d, int by_carrier,
               int standalone) {
  bal_geom_t g;
  bal_fit(s, d, by_carrier, &g);
  int points = 0;
  for (size_t i = 0; i < d->n; i++)
    points += !isnan(d->y[i].f[BAL_F_TOTAL]);
  kk_buf_t title = {0};
  char ty[16];
  snprintf(ty, sizeof ty, "%d", g.last);
  if (by_carrier)
    http_say(&title, &s->reg, 0, HTTP_M_bal_chart_carrier, d->thing, g.unit,
             NULL);
  else
    http_say(&title, &s->reg, 0, HTTP_M_bal_chart_sector, d->thing, g.unit, ty,
             NULL);
  const char *t = title.p ? title.p : d->thing;
  if (standalone)
    kk_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  kk_buf_printf(b,
                "<svg%s class=\"balchart\" viewBox=\"0 0 %d %d\" "
                "data-points=\"%d\" role=\"img\" aria-label=\"",
                standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : "", g.W,
                g.H, points);
  kk_buf_html(b, t);
  kk_buf_puts(b, "\" font-family=\"system-ui,sans-serif\" font-size=\"12\">");
  if (standalone)
    kk_buf_printf(b, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>", g.W,
                  g.H);
  kk_buf_puts(b,
              "<text x=\"4\" y=\"16\" font-weight=\"600\" fill=\"#1b1b1b\">");
  kk_buf_html(b, t);
  kk_buf_puts(b, "</text>");
  kk_buf_free(&title);
  bal_axes(s, b, &g);
  int partial = 0;
  bal_bars(s, b, d, &g, &partial);
  if (!by_carrier && d->have[BAL_F_PATH]) bal_path(s, b, d, &g);
  kk_buf_printf(b,
                "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" "
                "fill=\"none\" stroke=\"#999\"/>",
                g.ml, g.mt, g.pw, g.ph);
  bal_legend(s, b, d, &g, partial);
  kk_buf_puts(b, "</svg>");
}

/* ---- downloads ------------------------------------------------------------
 */

static bal_t *bal_request(http_state_t *s, h2o_req_t *req, char *thing,
                          size_t len) {
  if (net_httpd_query(req, "thing", thing, len) != 0) {
    http_page_not_found(s, req, HTTP_M_no_thing);
    return NULL;
  }
  bal_t *d = malloc(sizeof *d);
  if (!d || !bal_load(s, thing, d)) {
    free(d);
    http_page_not_found(s, req, HTTP_M_no_thing);
    return NULL;
  }
  return d;
}

/* A CSV number: every digit kept, the language's decimal separator. */
static void bal_csv_num(http_state_t *s, kk_buf_t *b, double v) {
  if (isnan(v)) return;
  char num[KK_FMT_DOUBLE_MAX];
  /* Three decimals are more than any figure of a balance carries. */
  kk_fmt_double(round(v * 1000) / 1000, num);
  const char *dec = http_t(&s->reg, HTTP_M_decimal_sep);
  for (char *p = num; *p; p++)
    if (*p == '.')
      kk_buf_puts(b, dec);
    else
      kk_buf_printf(b, "%c", *p);
}

void http_route_balance_csv(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  char thing[512];
  bal_t *d = bal_request(s, req, thing, sizeof thing);
  if (!d) return;
  kk_buf_t b = {0};
  const char *sep = http_t(&s->reg, HTTP_M_csv_sep);
  kk_buf_puts(&b, "\xEF\xBB\xBF"); /* BOM: spreadsheets then read UTF-8 */
  static const http_msg_t head[] = {HTTP_M_col_year,
                                    HTTP_M_bal_col_status,
                                    HTTP_M_sector_households,
                                    HTTP_M_sector_commerce,
                                    HTTP_M_sector_industry,
                                    HTTP_M_sector_municipal,
                                    HTTP_M_sector_transport,
                                    HTTP_M_col_total,
                                    HTTP_M_bal_col_population,
                                    HTTP_M_bal_col_per_capita,
                                    HTTP_M_bal_col_change,
                                    HTTP_M_bal_col_quality,
                                    HTTP_M_bal_col_extrapolated,
                                    HTTP_M_target_path,
                                    HTTP_M_col_on_track,
                                    HTTP_M_bal_col_budget,
                                    HTTP_M_bal_col_weather};
  for (size_t k = 0; k < sizeof head / sizeof *head; k++) {
    kk_buf_puts(&b, k ? sep : "");
    if (head[k] == HTTP_M_col_total)
      http_say(&b, &s->reg, 0, HTTP_M_col_total,
               http_unit_label(&s->reg, d->unit), NULL);
    else
      kk_buf_puts(&b, http_t(&s->reg, head[k]));
  }
  for (size_t k = 0; k < d->ncar; k++) {
    char name[96];
    kk_buf_puts(&b, sep);
    kk_buf_puts(&b, bal_carrier_name(s, d->car[k], name, sizeof name));
  }
  kk_buf_puts(&b, "\r\n");
  static const int cols[] = {
      BAL_F_SEC,   BAL_F_SEC + 1, BAL_F_SEC + 2, BAL_F_SEC + 3, BAL_F_SEC + 4,
      BAL_F_TOTAL, BAL_F_POP,     BAL_F_PC,      BAL_F_CHANGE,  BAL_F_QUALITY,
      BAL_F_EXT,   BAL_F_PATH,    BAL_F_ON,      BAL_F_BUDGET,  BAL_F_WEATHER};
  for (size_t i = 0; i < d->n; i++) {
    const bal_year_t *y = &d->y[i];
    int st = bal_status(d, y);
    kk_buf_printf(&b, "%d%s", y->year, sep);
    if (!isnan(y->f[BAL_F_TOTAL]))
      kk_buf_puts(&b,
                  http_t(&s->reg, st == 0   ? HTTP_M_bal_status_final
                                  : st == 1 ? HTTP_M_bal_status_provisional
                                            : HTTP_M_bal_status_incomplete));
    for (size_t k = 0; k < sizeof cols / sizeof *cols; k++) {
      kk_buf_puts(&b, sep);
      bal_csv_num(s, &b, y->f[cols[k]]);
    }
    for (size_t k = 0; k < d->ncar; k++) {
      kk_buf_puts(&b, sep);
      bal_csv_num(s, &b, y->car[k]);
    }
    kk_buf_puts(&b, "\r\n");
  }
  free(d);
  http_respond(s, req, 200, "text/csv; charset=utf-8", &b);
}

void http_route_balance_svg(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  char thing[512], by[16] = "";
  bal_t *d = bal_request(s, req, thing, sizeof thing);
  if (!d) return;
  net_httpd_query(req, "by", by, sizeof by);
  kk_buf_t b = {0};
  bal_chart(s, &b, d, strcmp(by, "carrier") == 0 && d->ncar, 1);
  free(d);
  http_respond(s, req, 200, "image/svg+xml; charset=utf-8", &b);
}
