/*
 * modules/publish/http/http_balance.c - the climate balance as a council
 * reads it: the latest final year against the base year, per inhabitant
 * and against the remaining budget; a stacked chart by BISKO sector with
 * the target path drawn to the target year and its interim targets; the
 * table by year with the status (final, vorläufig, unvollständig) and the
 * data quality; the breakdown by energy carrier; CSV and SVG downloads.
 *
 * A year that is not final is drawn pale and never called "im Plan":
 * what the page says about being on track comes from calc.target's
 * `on_track`, which that module emits only for final years (or for a
 * provisional year extrapolated by a stated method).  A year without any
 * status (totals from elsewhere) that is not over yet counts as
 * provisional.  Runs on the loop thread.
 */
#include "publish/http/http_balance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BAL_MAX_YEARS (2 * HTTP_RECENT)
#define BAL_MAX_CARRIERS 12

/* Okabe-Ito colours: told apart with the common colour-vision
 * deficiencies. */
static const char *const bal_colours[8] = {"#0072B2", "#E69F00", "#CC79A7",
                                           "#009E73", "#D55E00", "#56B4E9",
                                           "#F0E442", "#7f7f7f"};

enum {
  BAL_F_SEC = 0, /* 5 sectors */
  BAL_F_TOTAL = 5,
  BAL_F_PC,
  BAL_F_POP,
  BAL_F_QUALITY,
  BAL_F_STATUS,
  BAL_F_EXT,
  BAL_F_PATH,
  BAL_F_MILESTONE,
  BAL_F_CHANGE,
  BAL_F_ON,
  BAL_F_ON_EXT,
  BAL_F_BUDGET,
  BAL_F_BUDGET_YEARS,
  BAL_F_WEATHER,
  BAL_F_N
};

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

typedef struct bal_year {
  int year;
  int64_t t;
  double f[BAL_F_N];
  double car[BAL_MAX_CARRIERS];
} bal_year_t;

typedef struct bal {
  const char *thing, *unit;
  bal_year_t y[BAL_MAX_YEARS]; /* sorted by year after bal_load */
  size_t n;
  int have[BAL_F_N];
  char car[BAL_MAX_CARRIERS][64]; /* carrier ids */
  size_t ncar;
  int current_year; /* local year of now */
} bal_t;

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
static int bal_load(http_state_t *s, const char *thing, bal_t *d) {
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
static int bal_status(const bal_t *d, const bal_year_t *y) {
  if (!isnan(y->f[BAL_F_STATUS])) return (int)y->f[BAL_F_STATUS];
  return y->year >= d->current_year ? 1 : 0;
}

static const bal_year_t *bal_base(const bal_t *d) {
  for (size_t i = 0; i < d->n; i++)
    if (!isnan(d->y[i].f[BAL_F_PATH])) return &d->y[i];
  return NULL;
}

static const bal_year_t *bal_latest_final(const bal_t *d) {
  for (size_t i = d->n; i-- > 0;)
    if (!isnan(d->y[i].f[BAL_F_TOTAL]) && bal_status(d, &d->y[i]) == 0)
      return &d->y[i];
  return NULL;
}

/* The carrier's display name: the catalogue's, else the id. */
static const char *bal_carrier_name(http_state_t *s, const char *id, char *buf,
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

static void bal_grade(double q, char *buf, size_t len) {
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

/* One <svg>: bars stacked by sector (or carrier) for the years with a
 * total, the target path as a dashed line through every year to the
 * target year, the interim targets as dots, and a legend.  `standalone`
 * adds the XML namespace and the styles a file needs. */
static void bal_chart(http_state_t *s, kk_buf_t *b, const bal_t *d,
                      int by_carrier, int standalone) {
  const int W = 760, H = 360, ml = 70, mr = 14, mt = 34, mb = 86;
  double pw = W - ml - mr, ph = H - mt - mb;
  int first = d->n ? d->y[0].year : 0, last = d->n ? d->y[d->n - 1].year : 0;
  int nslot = last - first + 1;
  size_t nser = by_carrier ? d->ncar : 5;
  double top = 0;
  for (size_t i = 0; i < d->n; i++) {
    const bal_year_t *y = &d->y[i];
    double sum = 0;
    for (size_t k = 0; k < nser; k++) {
      double v = by_carrier ? y->car[k] : y->f[BAL_F_SEC + k];
      if (isfinite(v) && v > 0) sum += v;
    }
    if (sum > top) top = sum;
    if (isfinite(y->f[BAL_F_TOTAL]) && y->f[BAL_F_TOTAL] > top)
      top = y->f[BAL_F_TOTAL];
    if (!by_carrier && isfinite(y->f[BAL_F_PATH]) && y->f[BAL_F_PATH] > top)
      top = y->f[BAL_F_PATH];
  }
  double scale = top >= 1e5 ? 1000 : 1;
  double step = top > 0 ? bal_step(top / scale) : 1,
         y1 = top > 0 ? ceil(top / scale / step) * step : 5;
  kk_buf_t title = {0};
  const char *unit =
      http_t(&s->reg, scale > 1 ? HTTP_M_bal_unit_kt : HTTP_M_bal_unit_t);
  char ty[16];
  snprintf(ty, sizeof ty, "%d", last);
  if (by_carrier)
    http_say(&title, &s->reg, 0, HTTP_M_bal_chart_carrier, d->thing, unit,
             NULL);
  else
    http_say(&title, &s->reg, 0, HTTP_M_bal_chart_sector, d->thing, unit, ty,
             NULL);
  if (standalone)
    kk_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  kk_buf_printf(b,
                "<svg%s class=\"balchart\" viewBox=\"0 0 %d %d\" "
                "role=\"img\" aria-label=\"",
                standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : "", W,
                H);
  kk_buf_html(b, title.p ? title.p : d->thing);
  kk_buf_puts(b, "\" font-family=\"system-ui,sans-serif\" font-size=\"12\">");
  if (standalone)
    kk_buf_printf(b, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>", W, H);
  kk_buf_puts(b,
              "<text x=\"4\" y=\"16\" font-weight=\"600\" fill=\"#1b1b1b\">");
  kk_buf_html(b, title.p ? title.p : d->thing);
  kk_buf_puts(b, "</text>");
  kk_buf_free(&title);
  /* y axis */
  char num[48];
  for (double v = 0; v <= y1 + step / 2; v += step) {
    double y = mt + ph * (1 - v / y1);
    http_num(&s->reg, v, step < 1 ? 1 : 0, num, sizeof num);
    kk_buf_printf(b,
                  "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"#e3e3e3\"/><text x=\"%d\" y=\"%.1f\" "
                  "text-anchor=\"end\" fill=\"#333\">",
                  ml, W - mr, y, y, ml - 6, y + 4);
    kk_buf_html(b, num);
    kk_buf_puts(b, "</text>");
  }
  /* x labels: every year when few, else every 5th and the last */
  double sw = pw / (nslot > 0 ? nslot : 1);
  int every = nslot <= 12 ? 1 : nslot <= 30 ? 5 : 10;
  for (int yr = first; yr <= last; yr++) {
    if (yr % every && yr != last && yr != first) continue;
    if (yr != last && yr != first && last - yr < every / 2 + 1) continue;
    double x = ml + sw * (yr - first + 0.5);
    kk_buf_printf(b,
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                  "fill=\"#333\">%d</text>",
                  x, mt + ph + 16, yr);
  }
  /* bars */
  int points = 0, any_partial = 0;
  for (size_t i = 0; i < d->n; i++) {
    const bal_year_t *y = &d->y[i];
    if (isnan(y->f[BAL_F_TOTAL])) continue;
    int st = bal_status(d, y);
    any_partial |= st != 0;
    double x = ml + sw * (y->year - first) + sw * 0.15, w = sw * 0.7, base = 0;
    kk_buf_printf(b, "<g%s><title>%d", st ? " opacity=\"0.4\"" : "", y->year);
    if (st) {
      kk_buf_puts(b, " (");
      kk_buf_html(b, http_t(&s->reg, st == 1 ? HTTP_M_bal_status_provisional
                                             : HTTP_M_bal_status_incomplete));
      kk_buf_puts(b, ")");
    }
    http_num(&s->reg, y->f[BAL_F_TOTAL] / scale, scale > 1 ? 1 : 0, num,
             sizeof num);
    kk_buf_printf(b, ": %s %s</title>", num, unit);
    for (size_t k = 0; k < nser; k++) {
      double v = by_carrier ? y->car[k] : y->f[BAL_F_SEC + k];
      if (!isfinite(v) || v <= 0) continue;
      double h = ph * (v / scale) / y1, top_y = mt + ph * (1 - base / y1) - h;
      kk_buf_printf(b,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\" fill=\"%s\"/>",
                    x, top_y, w, h, bal_colours[k % 8]);
      base += v / scale;
    }
    if (st)
      kk_buf_printf(b,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\" fill=\"none\" stroke=\"#1b1b1b\" "
                    "stroke-dasharray=\"3 2\"/>",
                    x, mt + ph * (1 - base / y1), w, ph * base / y1);
    kk_buf_puts(b, "</g>");
    points++;
  }
  /* target path and interim targets */
  if (!by_carrier && d->have[BAL_F_PATH]) {
    kk_buf_puts(b, "<polyline fill=\"none\" stroke=\"#b3261e\" "
                   "stroke-width=\"2\" stroke-dasharray=\"8 4\" points=\"");
    for (size_t i = 0; i < d->n; i++)
      if (!isnan(d->y[i].f[BAL_F_PATH]))
        kk_buf_printf(b, "%.1f,%.1f ", ml + sw * (d->y[i].year - first + 0.5),
                      mt + ph * (1 - d->y[i].f[BAL_F_PATH] / scale / y1));
    kk_buf_puts(b, "\"/>");
    for (size_t i = 0; i < d->n; i++) {
      const bal_year_t *y = &d->y[i];
      if (isnan(y->f[BAL_F_MILESTONE])) continue;
      double cx = ml + sw * (y->year - first + 0.5),
             cy = mt + ph * (1 - y->f[BAL_F_MILESTONE] / scale / y1);
      http_num(&s->reg, y->f[BAL_F_MILESTONE] / scale, scale > 1 ? 1 : 0, num,
               sizeof num);
      kk_buf_printf(b,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#b3261e\">"
                    "<title>%d: %s %s</title></circle><text x=\"%.1f\" "
                    "y=\"%.1f\" text-anchor=\"middle\" fill=\"#b3261e\">",
                    cx, cy, y->year, num, unit, cx, cy - 8);
      kk_buf_html(b, num);
      kk_buf_puts(b, "</text>");
    }
  }
  kk_buf_printf(b,
                "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" "
                "fill=\"none\" stroke=\"#999\"/>",
                ml, mt, pw, ph);
  /* legend: swatches in rows below the axis */
  double lx = ml, ly = mt + ph + 36;
  char name[96];
  for (size_t k = 0; k <= nser + 1; k++) {
    const char *label = NULL, *colour = NULL;
    int dashed = 0;
    if (k < nser) {
      label = by_carrier ? bal_carrier_name(s, d->car[k], name, sizeof name)
                         : http_t(&s->reg, HTTP_M_sector_households + k);
      colour = bal_colours[k % 8];
    } else if (k == nser && !by_carrier && d->have[BAL_F_PATH]) {
      label = http_t(&s->reg, HTTP_M_target_path);
      colour = "#b3261e";
      dashed = 1;
    } else if (k == nser + 1 && any_partial) {
      label = http_t(&s->reg, HTTP_M_bal_legend_partial);
      colour = "#bbbbbb";
    }
    if (!label) continue;
    double wlab = 22 + 6.6 * (double)strlen(label);
    if (lx + wlab > W - mr) {
      lx = ml;
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
  kk_buf_printf(b, "<desc>data-points=%d</desc></svg>", points);
}

/* ---- the page part ----------------------------------------------------------
 */

static void bal_cell(http_state_t *s, kk_buf_t *b, const char *cls,
                     http_msg_t label, const char *text) {
  kk_buf_printf(b, "<td class=\"%s\" data-label=\"", cls);
  kk_buf_html(b, http_t(&s->reg, label));
  kk_buf_puts(b, "\">");
  kk_buf_html(b, text);
  kk_buf_puts(b, "</td>");
}

static void bal_head(http_state_t *s, kk_buf_t *b, http_msg_t m) {
  kk_buf_puts(b, "<th scope=\"col\">");
  kk_buf_html(b, http_t(&s->reg, m));
  kk_buf_puts(b, "</th>");
}

static void bal_number(http_state_t *s, double v, int dec, char *buf,
                       size_t len) {
  if (isnan(v))
    snprintf(buf, len, "–");
  else
    http_num(&s->reg, v, dec, buf, len);
}

static void bal_summary(http_state_t *s, kk_buf_t *b, const bal_t *d) {
  const bal_year_t *lf = bal_latest_final(d), *base = bal_base(d);
  const char *u = http_unit_label(&s->reg, d->unit);
  char num[64], y[16], v[96];
  kk_buf_puts(b, "<ul class=\"balsum\">");
  if (lf) {
    snprintf(y, sizeof y, "%d", lf->year);
    http_num(&s->reg, lf->f[BAL_F_TOTAL], 0, num, sizeof num);
    snprintf(v, sizeof v, "%s %s", num, u);
    kk_buf_puts(b, "<li><strong>");
    http_say(b, &s->reg, 1, HTTP_M_bal_latest, y, v, NULL);
    kk_buf_puts(b, "</strong>");
    if (!isnan(lf->f[BAL_F_PC])) {
      http_num(&s->reg, lf->f[BAL_F_PC], 2, num, sizeof num);
      snprintf(v, sizeof v, "%s %s", num, u);
      kk_buf_puts(b, " · ");
      http_say(b, &s->reg, 1, HTTP_M_bal_per_capita, v, NULL);
    }
    if (!isnan(lf->f[BAL_F_CHANGE]) && base) {
      char by[16];
      http_num(&s->reg, lf->f[BAL_F_CHANGE], 1, num, sizeof num);
      snprintf(v, sizeof v, "%s%s %%", lf->f[BAL_F_CHANGE] > 0 ? "+" : "", num);
      snprintf(by, sizeof by, "%d", base->year);
      kk_buf_puts(b, " · ");
      http_say(b, &s->reg, 1, HTTP_M_bal_vs_base, v, by, NULL);
    }
    kk_buf_puts(b, "</li>");
  } else {
    kk_buf_puts(b, "<li>");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_bal_no_final));
    kk_buf_puts(b, "</li>");
  }
  if (d->have[BAL_F_PATH]) {
    const bal_year_t *ty = NULL;
    kk_buf_t ms = {0};
    for (size_t i = 0; i < d->n; i++) {
      if (!isnan(d->y[i].f[BAL_F_PATH])) ty = &d->y[i];
      if (isnan(d->y[i].f[BAL_F_MILESTONE])) continue;
      http_num(&s->reg, d->y[i].f[BAL_F_MILESTONE], 0, num, sizeof num);
      kk_buf_printf(&ms, "%s%d: %s %s", ms.len ? "; " : "", d->y[i].year, num,
                    u);
    }
    if (ty) {
      snprintf(y, sizeof y, "%d", ty->year);
      http_num(&s->reg, ty->f[BAL_F_PATH], 0, num, sizeof num);
      snprintf(v, sizeof v, "%s %s", num, u);
      kk_buf_puts(b, "<li>");
      http_say(b, &s->reg, 1, HTTP_M_bal_target, y, v, NULL);
      if (ms.len) {
        kk_buf_puts(b, " · ");
        http_say(b, &s->reg, 1, HTTP_M_bal_milestones, ms.p, NULL);
      }
      kk_buf_puts(b, "</li>");
    }
    kk_buf_free(&ms);
  }
  /* The budget after the newest year that has one. */
  for (size_t i = d->n; i-- > 0;) {
    const bal_year_t *x = &d->y[i];
    if (isnan(x->f[BAL_F_BUDGET])) continue;
    snprintf(y, sizeof y, "%d", x->year);
    kk_buf_puts(b, "<li>");
    if (x->f[BAL_F_BUDGET] >= 0) {
      http_num(&s->reg, x->f[BAL_F_BUDGET], 0, num, sizeof num);
      snprintf(v, sizeof v, "%s %s", num, u);
      http_say(b, &s->reg, 1, HTTP_M_bal_budget, y, v, NULL);
      if (!isnan(x->f[BAL_F_BUDGET_YEARS])) {
        http_num(&s->reg, x->f[BAL_F_BUDGET_YEARS], 1, num, sizeof num);
        kk_buf_puts(b, " – ");
        http_say(b, &s->reg, 1, HTTP_M_bal_budget_years, num, NULL);
      }
    } else {
      http_num(&s->reg, -x->f[BAL_F_BUDGET], 0, num, sizeof num);
      snprintf(v, sizeof v, "%s %s", num, u);
      http_say(b, &s->reg, 1, HTTP_M_bal_budget_over, y, v, NULL);
    }
    kk_buf_puts(b, "</li>");
    break;
  }
  kk_buf_puts(b, "</ul>");
}

/* The year's status cell and the row's opening. */
static int bal_row_open(http_state_t *s, kk_buf_t *b, const bal_t *d,
                        const bal_year_t *y) {
  int st = bal_status(d, y);
  kk_buf_printf(b, "<tr%s><th scope=\"row\">%d</th>",
                st ? " class=\"partial\"" : "", y->year);
  http_msg_t sm = st == 0   ? HTTP_M_bal_status_final
                  : st == 1 ? HTTP_M_bal_status_provisional
                            : HTTP_M_bal_status_incomplete;
  bal_cell(s, b, st ? "c2" : "", HTTP_M_bal_col_status, http_t(&s->reg, sm));
  return st;
}

/* The council's table: total, per capita, change, quality, path and the
 * judgement per year. */
static void bal_table(http_state_t *s, kk_buf_t *b, const bal_t *d) {
  kk_buf_puts(b, "<div class=\"scroll\"><table class=\"stack climate\">"
                 "<thead><tr>");
  bal_head(s, b, HTTP_M_col_year);
  bal_head(s, b, HTTP_M_bal_col_status);
  kk_buf_puts(b, "<th scope=\"col\">");
  http_say(b, &s->reg, 1, HTTP_M_col_total, http_unit_label(&s->reg, d->unit),
           NULL);
  kk_buf_puts(b, "</th>");
  if (d->have[BAL_F_PC]) bal_head(s, b, HTTP_M_bal_col_per_capita);
  if (d->have[BAL_F_CHANGE]) bal_head(s, b, HTTP_M_bal_col_change);
  if (d->have[BAL_F_QUALITY]) bal_head(s, b, HTTP_M_bal_col_quality);
  if (d->have[BAL_F_EXT]) bal_head(s, b, HTTP_M_bal_col_extrapolated);
  if (d->have[BAL_F_PATH]) {
    bal_head(s, b, HTTP_M_target_path);
    bal_head(s, b, HTTP_M_col_on_track);
  }
  if (d->have[BAL_F_WEATHER]) bal_head(s, b, HTTP_M_bal_col_weather);
  kk_buf_puts(b, "</tr></thead><tbody>");
  char num[64];
  for (size_t i = 0; i < d->n; i++) {
    const bal_year_t *y = &d->y[i];
    if (isnan(y->f[BAL_F_TOTAL])) continue;
    int st = bal_row_open(s, b, d, y);
    bal_number(s, y->f[BAL_F_TOTAL], 0, num, sizeof num);
    kk_buf_puts(b, "<td class=\"num\" data-label=\"");
    http_say(b, &s->reg, 1, HTTP_M_col_total, http_unit_label(&s->reg, d->unit),
             NULL);
    kk_buf_puts(b, "\"><strong>");
    kk_buf_html(b, num);
    kk_buf_puts(b, "</strong></td>");
    if (d->have[BAL_F_PC]) {
      bal_number(s, y->f[BAL_F_PC], 2, num, sizeof num);
      bal_cell(s, b, "num", HTTP_M_bal_col_per_capita, num);
    }
    if (d->have[BAL_F_CHANGE]) {
      char pct[80];
      bal_number(s, y->f[BAL_F_CHANGE], 1, num, sizeof num);
      snprintf(pct, sizeof pct, "%s%s%s", y->f[BAL_F_CHANGE] > 0 ? "+" : "",
               num, isnan(y->f[BAL_F_CHANGE]) ? "" : " %");
      bal_cell(s, b, "num", HTTP_M_bal_col_change, pct);
    }
    if (d->have[BAL_F_QUALITY]) {
      char q[96], g[4] = "";
      if (!isnan(y->f[BAL_F_QUALITY]))
        bal_grade(y->f[BAL_F_QUALITY], g, sizeof g);
      bal_number(s, y->f[BAL_F_QUALITY], 2, num, sizeof num);
      snprintf(q, sizeof q, "%s%s%s", g, *g ? " · " : "", num);
      bal_cell(s, b, "num", HTTP_M_bal_col_quality, q);
    }
    if (d->have[BAL_F_EXT]) {
      bal_number(s, y->f[BAL_F_EXT], 0, num, sizeof num);
      bal_cell(s, b, "num", HTTP_M_bal_col_extrapolated, num);
    }
    if (d->have[BAL_F_PATH]) {
      bal_number(s, y->f[BAL_F_PATH], 0, num, sizeof num);
      bal_cell(s, b, "num", HTTP_M_target_path, num);
      /* Only calc.target's judgement counts, and it judges final years
       * (and stated extrapolations) only. */
      double on = y->f[BAL_F_ON];
      if (isnan(on) || st == 2 || (st == 1 && y->f[BAL_F_ON_EXT] != 1))
        bal_cell(s, b, "muted", HTTP_M_col_on_track,
                 http_t(&s->reg, HTTP_M_bal_not_judged));
      else if (on >= 1)
        bal_cell(
            s, b, "c1", HTTP_M_col_on_track,
            http_t(&s->reg, st == 1 ? HTTP_M_bal_on_track_ext : HTTP_M_yes));
      else
        bal_cell(s, b, "c3", HTTP_M_col_on_track, http_t(&s->reg, HTTP_M_no));
    }
    if (d->have[BAL_F_WEATHER]) {
      bal_number(s, y->f[BAL_F_WEATHER], 0, num, sizeof num);
      bal_cell(s, b, "num muted", HTTP_M_bal_col_weather, num);
    }
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table></div>");
}

/* t CO2e per BISKO sector and year; a sector without data is "–". */
static void bal_sector_table(http_state_t *s, kk_buf_t *b, const bal_t *d) {
  int sec[5], any = 0;
  for (int k = 0; k < 5; k++)
    any |= sec[k] = d->have[BAL_F_SEC + k];
  if (!any) return;
  kk_buf_puts(b, "<h4>");
  http_say(b, &s->reg, 1, HTTP_M_bal_sectors_title,
           http_unit_label(&s->reg, d->unit), NULL);
  kk_buf_puts(b, "</h4><div class=\"scroll\"><table class=\"stack sectors\">"
                 "<thead><tr>");
  bal_head(s, b, HTTP_M_col_year);
  bal_head(s, b, HTTP_M_bal_col_status);
  for (int k = 0; k < 5; k++)
    if (sec[k]) bal_head(s, b, HTTP_M_sector_households + k);
  kk_buf_puts(b, "</tr></thead><tbody>");
  char num[64];
  for (size_t i = 0; i < d->n; i++) {
    const bal_year_t *y = &d->y[i];
    if (isnan(y->f[BAL_F_TOTAL])) continue;
    bal_row_open(s, b, d, y);
    for (int k = 0; k < 5; k++) {
      if (!sec[k]) continue;
      bal_number(s, y->f[BAL_F_SEC + k], 0, num, sizeof num);
      bal_cell(s, b, isnan(y->f[BAL_F_SEC + k]) ? "num muted" : "num",
               HTTP_M_sector_households + k, num);
    }
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table></div>");
}

/* CO2e, share and final energy per carrier for the newest final year (else
 * the newest year). */
static void bal_carriers(http_state_t *s, kk_buf_t *b, const bal_t *d) {
  if (!d->ncar) return;
  const bal_year_t *y = bal_latest_final(d);
  if (!y)
    for (size_t i = d->n; i-- > 0 && !y;)
      if (!isnan(d->y[i].f[BAL_F_TOTAL])) y = &d->y[i];
  if (!y) return;
  char yr[16], num[64], name[96];
  snprintf(yr, sizeof yr, "%d", y->year);
  kk_buf_puts(b, "<h4>");
  http_say(b, &s->reg, 1, HTTP_M_bal_carriers_title, yr, NULL);
  kk_buf_puts(b, "</h4><table class=\"stack carriers\"><thead><tr>");
  bal_head(s, b, HTTP_M_bal_col_carrier);
  kk_buf_puts(b, "<th scope=\"col\">");
  http_say(b, &s->reg, 1, HTTP_M_col_total, http_unit_label(&s->reg, d->unit),
           NULL);
  kk_buf_puts(b, "</th>");
  bal_head(s, b, HTTP_M_bal_col_share);
  bal_head(s, b, HTTP_M_bal_col_energy);
  kk_buf_puts(b, "</tr></thead><tbody>");
  double tot = y->f[BAL_F_TOTAL];
  for (size_t k = 0; k < d->ncar; k++) {
    double v = y->car[k];
    if (isnan(v)) continue;
    char prop[96];
    snprintf(prop, sizeof prop, "energy_carrier_%s", d->car[k]);
    int64_t t[HTTP_RECENT];
    double e[HTTP_RECENT], mwh = NAN;
    const char *unit = "";
    size_t n = http_points(s, d->thing, prop, t, e, HTTP_RECENT, &unit);
    for (size_t i = 0; i < n; i++)
      if (t[i] == y->t) mwh = e[i] / 1000;
    kk_buf_printf(b,
                  "<tr><th scope=\"row\"><span class=\"sw\" "
                  "style=\"background:%s\"></span> ",
                  bal_colours[k % 8]);
    kk_buf_html(b, bal_carrier_name(s, d->car[k], name, sizeof name));
    kk_buf_puts(b, "</th>");
    bal_number(s, v, 0, num, sizeof num);
    kk_buf_puts(b, "<td class=\"num\">");
    kk_buf_html(b, num);
    kk_buf_puts(b, "</td>");
    char pct[80];
    bal_number(s, tot > 0 ? v / tot * 100 : NAN, 1, num, sizeof num);
    snprintf(pct, sizeof pct, "%s %%", num);
    bal_cell(s, b, "num", HTTP_M_bal_col_share, pct);
    bal_number(s, mwh, 0, num, sizeof num);
    bal_cell(s, b, "num", HTTP_M_bal_col_energy, num);
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table>");
}

static void bal_link(kk_buf_t *b, const char *path, const char *thing,
                     const char *extra, const char *file, const char *label) {
  kk_buf_printf(b, "<a href=\"%s?thing=", path);
  kk_buf_url(b, thing);
  kk_buf_printf(b, "%s\" download=\"", extra);
  kk_buf_html(b, file);
  kk_buf_puts(b, "\">");
  kk_buf_html(b, label);
  kk_buf_puts(b, "</a>");
}

/* The page's own styles: charts scroll sideways on a phone rather than
 * shrinking their labels to nothing. */
static const char bal_css[] =
    "<style>.scroll{overflow-x:auto}.balfig{overflow-x:auto;background:#fff;"
    "border:1px solid #ddd;margin:0 0 .5rem;direction:rtl}.balfig svg{"
    "display:block;direction:ltr;width:100%;min-width:560px;height:auto}."
    "balsum{padding-left:1.2rem}"
    ".balsum li{margin:.2rem 0}tr.partial th{font-style:italic}"
    ".sw{display:inline-block;width:.8rem;height:.8rem;vertical-align:middle}"
    ".downloads a{margin-right:1rem}</style>";

void http_balance_thing(http_state_t *s, kk_buf_t *b, const char *thing) {
  bal_t *d = malloc(sizeof *d);
  if (!d) {
    b->oom = 1;
    return;
  }
  if (!bal_load(s, thing, d)) {
    free(d);
    return;
  }
  kk_buf_puts(b, bal_css);
  kk_buf_puts(b, "<section class=\"balance\"><h3>");
  kk_buf_html(b, thing);
  kk_buf_puts(b, "</h3>");
  bal_summary(s, b, d);
  kk_buf_puts(b, "<figure class=\"balfig\">");
  bal_chart(s, b, d, 0, 0);
  kk_buf_puts(b, "</figure><p class=\"downloads\">");
  char file[160];
  snprintf(file, sizeof file, "bilanz-%s.csv", thing);
  bal_link(b, "/climate.csv", thing, "", file,
           http_t(&s->reg, HTTP_M_bal_download_csv));
  snprintf(file, sizeof file, "bilanz-%s-sektoren.svg", thing);
  bal_link(b, "/climate.svg", thing, "", file,
           http_t(&s->reg, HTTP_M_bal_download_svg));
  if (d->ncar) {
    snprintf(file, sizeof file, "bilanz-%s-energietraeger.svg", thing);
    bal_link(b, "/climate.svg", thing, "&amp;by=carrier", file,
             http_t(&s->reg, HTTP_M_bal_download_carrier_svg));
  }
  kk_buf_puts(b, "</p>");
  bal_table(s, b, d);
  kk_buf_puts(b, "<p class=\"muted\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_bal_partial_note));
  if (d->have[BAL_F_QUALITY]) {
    kk_buf_puts(b, " ");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_bal_quality_note));
  }
  if (d->have[BAL_F_WEATHER]) {
    kk_buf_puts(b, " ");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_bal_weather_note));
  }
  kk_buf_puts(b, "</p>");
  bal_sector_table(s, b, d);
  if (d->ncar) {
    bal_carriers(s, b, d);
    kk_buf_puts(b, "<figure class=\"balfig\">");
    bal_chart(s, b, d, 1, 0);
    kk_buf_puts(b, "</figure>");
  }
  kk_buf_puts(b, "<p><a href=\"/heat\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_bal_heat_link));
  kk_buf_puts(b, "</a></p></section>");
  free(d);
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
