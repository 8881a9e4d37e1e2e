/*
 * modules/publish/http/http_heat.c - /heat: heat and cold days per place
 * (calc.heat_days: Sommertage, heiße Tage, Tropennächte, Frost- und
 * Eistage) by year with the long-term mean and by month of the newest
 * year, and the heating degree days with the climate factor
 * (calc.degree_days).  A year with gaps says how many days it has.  Charts
 * through http_chart.c.  Runs on the loop thread.
 */
#include "publish/http/http_balance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEAT_NKIND 5

static const char *const heat_kinds[HEAT_NKIND] = {
    "summer_days", "hot_days", "tropical_nights", "frost_days", "ice_days"};
static const http_msg_t heat_cols[HEAT_NKIND] = {
    HTTP_M_heat_col_summer, HTTP_M_heat_col_hot, HTTP_M_heat_col_tropical,
    HTTP_M_heat_col_frost, HTTP_M_heat_col_ice};

/* A series of (thing, <base>_<period>) in time order. */
typedef struct heat_series {
  int64_t t[HTTP_RECENT];
  double v[HTTP_RECENT];
  size_t n;
} heat_series_t;

static void heat_load(http_state_t *s, const char *thing, const char *base,
                      const char *period, heat_series_t *out) {
  char prop[96];
  const char *unit = "";
  snprintf(prop, sizeof prop, "%s_%s", base, period);
  out->n = http_points(s, thing, prop, out->t, out->v, HTTP_RECENT, &unit);
}

static double heat_at(const heat_series_t *x, int64_t t) {
  for (size_t i = 0; i < x->n; i++)
    if (x->t[i] == t) return x->v[i];
  return NAN;
}

static void heat_th(http_state_t *s, kk_buf_t *b, http_msg_t m) {
  kk_buf_puts(b, "<th scope=\"col\">");
  kk_buf_html(b, http_t(&s->reg, m));
  kk_buf_puts(b, "</th>");
}

static void heat_td(http_state_t *s, kk_buf_t *b, http_msg_t label, double v,
                    int dec, const char *cls) {
  char num[48] = "–";
  if (!isnan(v)) http_num(&s->reg, v, dec, num, sizeof num);
  kk_buf_printf(b, "<td class=\"num%s%s\" data-label=\"", *cls ? " " : "", cls);
  kk_buf_html(b, http_t(&s->reg, label));
  kk_buf_puts(b, "\">");
  kk_buf_html(b, num);
  kk_buf_puts(b, "</td>");
}

static int heat_year(const http_state_t *s, int64_t ms, int month) {
  struct tm tm;
  kk_tz_local(s->tz, kk_floor_div(ms, 1000), &tm);
  return month ? tm.tm_mon + 1 : tm.tm_year + 1900;
}

static int heat_days_in_year(int y) {
  return (int)(kk_days_from_civil(y + 1, 1, 1) - kk_days_from_civil(y, 1, 1));
}

/* Summer days, hot days and tropical nights per year as grouped bars (a
 * year with gaps pale), the long-term means as short dashed lines. */
static void heat_chart(http_state_t *s, kk_buf_t *b, const char *thing,
                       const heat_series_t *year, const heat_series_t *lt,
                       const heat_series_t *cov) {
  static const int kinds[3] = {0, 1, 2}; /* summer, hot, tropical */
  static const char *const colour[3] = {"#E69F00", "#D55E00", "#0072B2"};
  const int W = 720, H = 280, ml = 44, mr = 12, mt = 30, mb = 56;
  double pw = W - ml - mr, ph = H - mt - mb, top = 5;
  size_t n = year[0].n;
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < year[kinds[k]].n; i++)
      if (year[kinds[k]].v[i] > top) top = year[kinds[k]].v[i];
  double step = top <= 10   ? 2
                : top <= 25 ? 5
                : top <= 50 ? 10
                            : 20,
         y1 = ceil(top / step) * step;
  kk_buf_t title = {0};
  http_say(&title, &s->reg, 0, HTTP_M_heat_chart, thing, NULL);
  kk_buf_printf(
      b,
      "<figure style=\"overflow-x:auto;direction:rtl\"><svg viewBox=\"0 0 "
      "%d %d\" style=\"direction:ltr;width:100%%;min-width:560px;"
      "height:auto;background:#fff;border:1px solid #ddd\" "
      "role=\"img\" font-family=\"system-ui,sans-serif\" "
      "font-size=\"12\" data-points=\"%zu\" aria-label=\"",
      W, H, n);
  kk_buf_html(b, title.p ? title.p : thing);
  kk_buf_puts(b, "\"><text x=\"4\" y=\"16\" font-weight=\"600\">");
  kk_buf_html(b, title.p ? title.p : thing);
  kk_buf_puts(b, "</text>");
  kk_buf_free(&title);
  for (double v = 0; v <= y1 + step / 2; v += step) {
    double y = mt + ph * (1 - v / y1);
    kk_buf_printf(b,
                  "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"#e3e3e3\"/><text x=\"%d\" y=\"%.1f\" "
                  "text-anchor=\"end\" fill=\"#333\">%.0f</text>",
                  ml, W - mr, y, y, ml - 6, y + 4, v);
  }
  double gw = pw / (double)(n ? n : 1), bw = gw * 0.8 / 3;
  for (size_t i = 0; i < n; i++) {
    int64_t t = year[0].t[i];
    double c = heat_at(cov, t), gx = ml + gw * (double)i + gw * 0.1;
    int pale = !isnan(c) && c < 0.9;
    kk_buf_printf(b, "<g%s>", pale ? " opacity=\"0.4\"" : "");
    for (int k = 0; k < 3; k++) {
      double v = heat_at(&year[kinds[k]], t);
      if (isnan(v)) continue;
      double h = ph * v / y1;
      kk_buf_printf(b,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\" fill=\"%s\"><title>%d: %.0f</title>"
                    "</rect>",
                    gx + bw * k, mt + ph - h, bw * 0.92, h, colour[k],
                    heat_year(s, t, 0), v);
    }
    kk_buf_printf(b,
                  "</g><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                  "fill=\"#333\">%d</text>",
                  gx + gw * 0.4, mt + ph + 16, heat_year(s, t, 0));
  }
  /* The long-term means as dashed lines across the plot. */
  for (int k = 0; k < 3; k++) {
    const heat_series_t *m = &lt[kinds[k]];
    if (!m->n) continue;
    double y = mt + ph * (1 - m->v[m->n - 1] / y1);
    kk_buf_printf(b,
                  "<line x1=\"%d\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"%s\" stroke-width=\"1.5\" "
                  "stroke-dasharray=\"6 4\"/>",
                  ml, ml + pw, y, y, colour[k]);
  }
  kk_buf_printf(b,
                "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" "
                "fill=\"none\" stroke=\"#999\"/>",
                ml, mt, pw, ph);
  double lx = ml;
  for (int k = 0; k < 4; k++) {
    const char *label = k < 3 ? http_t(&s->reg, heat_cols[kinds[k]])
                              : http_t(&s->reg, HTTP_M_heat_longterm);
    if (k < 3)
      kk_buf_printf(b,
                    "<rect x=\"%.1f\" y=\"%d\" width=\"14\" height=\"10\" "
                    "fill=\"%s\"/>",
                    lx, H - 22, colour[k]);
    else
      kk_buf_printf(b,
                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" "
                    "stroke=\"#333\" stroke-dasharray=\"6 4\"/>",
                    lx, lx + 14, H - 17, H - 17);
    kk_buf_printf(b, "<text x=\"%.1f\" y=\"%d\">", lx + 18, H - 13);
    kk_buf_html(b, label);
    kk_buf_puts(b, "</text>");
    lx += 30 + 7 * (double)strlen(label);
  }
  kk_buf_puts(b, "</svg></figure>");
}

/* Places that have data on fewer than 90 % of the days of every year
 * (own sensors, a season's campaign): one row each, side by side. */
typedef struct heat_brief {
  const char *thing;
  int year;
  double v[HEAT_NKIND], days;
} heat_brief_t;

/* Appends a place's section; a place without one well-covered year fills
 * *brief instead (returns 1). */
static int heat_place(http_state_t *s, kk_buf_t *b, const char *thing,
                      heat_brief_t *brief) {
  heat_series_t *x = calloc(4 * HEAT_NKIND + 2, sizeof *x);
  if (!x) {
    b->oom = 1;
    return 0;
  }
  heat_series_t *year = x, *lt = x + HEAT_NKIND, *mon = x + 2 * HEAT_NKIND,
                *ltm = x + 3 * HEAT_NKIND, *cov = x + 4 * HEAT_NKIND,
                *covm = cov + 1;
  for (int k = 0; k < HEAT_NKIND; k++) {
    char base[64];
    heat_load(s, thing, heat_kinds[k], "year", &year[k]);
    heat_load(s, thing, heat_kinds[k], "month", &mon[k]);
    snprintf(base, sizeof base, "%s_longterm", heat_kinds[k]);
    heat_load(s, thing, base, "year", &lt[k]);
    heat_load(s, thing, base, "month", &ltm[k]);
  }
  heat_load(s, thing, "heat_days_coverage", "year", cov);
  heat_load(s, thing, "heat_days_coverage", "month", covm);
  if (!year[0].n) {
    free(x);
    return 0;
  }
  int covered = 0;
  for (size_t i = 0; i < cov->n; i++)
    covered |= cov->v[i] >= 0.9;
  if (!covered) {
    size_t last = year[0].n - 1;
    int64_t t = year[0].t[last];
    brief->thing = thing;
    brief->year = heat_year(s, t, 0);
    for (int k = 0; k < HEAT_NKIND; k++)
      brief->v[k] = heat_at(&year[k], t);
    double c = heat_at(cov, t);
    brief->days = isnan(c) ? NAN : round(c * heat_days_in_year(brief->year));
    free(x);
    return 1;
  }
  kk_buf_puts(b, "<h3>");
  kk_buf_html(b, thing);
  kk_buf_puts(b, "</h3>");
  heat_chart(s, b, thing, year, lt, cov);
  kk_buf_puts(b, "<table class=\"stack heat\"><thead><tr>");
  heat_th(s, b, HTTP_M_col_year);
  for (int k = 0; k < HEAT_NKIND; k++)
    heat_th(s, b, heat_cols[k]);
  heat_th(s, b, HTTP_M_heat_col_coverage);
  kk_buf_puts(b, "</tr></thead><tbody>");
  for (size_t i = 0; i < year[0].n; i++) {
    int64_t t = year[0].t[i];
    double c = heat_at(cov, t);
    kk_buf_printf(b, "<tr><th scope=\"row\">%d</th>", heat_year(s, t, 0));
    for (int k = 0; k < HEAT_NKIND; k++)
      heat_td(s, b, heat_cols[k], heat_at(&year[k], t), 0, "");
    heat_td(s, b, HTTP_M_heat_col_coverage,
            isnan(c) ? NAN : round(c * heat_days_in_year(heat_year(s, t, 0))),
            0, !isnan(c) && c < 0.9 ? "c2" : "");
    kk_buf_puts(b, "</tr>");
  }
  /* The long-term mean as the newest year has it. */
  if (lt[0].n) {
    kk_buf_puts(b, "<tr class=\"mean\"><th scope=\"row\">");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_heat_longterm));
    kk_buf_puts(b, "</th>");
    for (int k = 0; k < HEAT_NKIND; k++)
      heat_td(s, b, heat_cols[k], lt[k].n ? lt[k].v[lt[k].n - 1] : NAN, 1, "");
    kk_buf_puts(b, "<td></td></tr>");
  }
  kk_buf_puts(b, "</tbody></table><p class=\"muted\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_heat_longterm_note));
  kk_buf_puts(b, "</p>");
  /* The months of the newest year, each with its calendar month's mean. */
  int newest = heat_year(s, year[0].t[year[0].n - 1], 0);
  char yr[16];
  snprintf(yr, sizeof yr, "%d", newest);
  kk_buf_puts(b, "<details><summary>");
  http_say(b, &s->reg, 1, HTTP_M_heat_months, yr, NULL);
  kk_buf_puts(b, "</summary><table class=\"stack heat-months\"><thead><tr>");
  heat_th(s, b, HTTP_M_heat_col_month);
  for (int k = 0; k < HEAT_NKIND; k++)
    heat_th(s, b, heat_cols[k]);
  kk_buf_puts(b, "</tr></thead><tbody>");
  for (size_t i = 0; i < mon[0].n; i++) {
    int64_t t = mon[0].t[i];
    if (heat_year(s, t, 0) != newest) continue;
    char when[32];
    http_date(&s->reg, s->tz, t, HTTP_M_fmt_month, when, sizeof when);
    kk_buf_puts(b, "<tr><th scope=\"row\">");
    kk_buf_html(b, when);
    kk_buf_puts(b, "</th>");
    for (int k = 0; k < HEAT_NKIND; k++) {
      double v = heat_at(&mon[k], t), m = heat_at(&ltm[k], t);
      char num[48] = "–", mean[48], cell[120];
      if (!isnan(v)) http_num(&s->reg, v, 0, num, sizeof num);
      if (!isnan(m)) {
        http_num(&s->reg, m, 1, mean, sizeof mean);
        snprintf(cell, sizeof cell, "%s (Ø %s)", num, mean);
      } else {
        snprintf(cell, sizeof cell, "%s", num);
      }
      kk_buf_puts(b, "<td class=\"num\" data-label=\"");
      kk_buf_html(b, http_t(&s->reg, heat_cols[k]));
      kk_buf_puts(b, "\">");
      kk_buf_html(b, cell);
      kk_buf_puts(b, "</td>");
    }
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table></details>");
  free(x);
  return 0;
}

static void heat_briefs(http_state_t *s, kk_buf_t *b, const heat_brief_t *p,
                        size_t n) {
  if (!n) return;
  kk_buf_puts(b, "<h3>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_heat_places));
  kk_buf_puts(b, "</h3><p>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_heat_places_note));
  kk_buf_puts(b, "</p><table class=\"stack heat-places\"><thead><tr>");
  heat_th(s, b, HTTP_M_heat_col_place);
  heat_th(s, b, HTTP_M_col_year);
  for (int k = 0; k < HEAT_NKIND; k++)
    heat_th(s, b, heat_cols[k]);
  heat_th(s, b, HTTP_M_heat_col_coverage);
  kk_buf_puts(b, "</tr></thead><tbody>");
  for (size_t i = 0; i < n; i++) {
    kk_buf_puts(b, "<tr><th scope=\"row\"><a href=\"/things/");
    kk_buf_url(b, p[i].thing);
    kk_buf_puts(b, "\">");
    kk_buf_html(b, p[i].thing);
    kk_buf_printf(b, "</a></th><td data-label=\"%s\">%d</td>",
                  http_t(&s->reg, HTTP_M_col_year), p[i].year);
    for (int k = 0; k < HEAT_NKIND; k++)
      heat_td(s, b, heat_cols[k], p[i].v[k], 0, "");
    heat_td(s, b, HTTP_M_heat_col_coverage, p[i].days, 0, "c2");
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table>");
}

static void heat_degree_days(http_state_t *s, kk_buf_t *b, const char *thing) {
  heat_series_t *x = calloc(5, sizeof *x);
  if (!x) {
    b->oom = 1;
    return;
  }
  heat_load(s, thing, "degree_days", "year", &x[0]);
  heat_load(s, thing, "heating_days", "year", &x[1]);
  heat_load(s, thing, "degree_days_longterm", "year", &x[2]);
  heat_load(s, thing, "climate_factor", "year", &x[3]);
  heat_load(s, thing, "degree_days_complete", "year", &x[4]);
  if (!x[0].n) {
    free(x);
    return;
  }
  kk_buf_puts(b, "<h3>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_dd_title));
  kk_buf_puts(b, ": ");
  kk_buf_html(b, thing);
  kk_buf_puts(b, "</h3><p>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_dd_intro));
  kk_buf_puts(b, "</p><table class=\"stack degree-days\"><thead><tr>");
  static const http_msg_t cols[] = {HTTP_M_col_year, HTTP_M_dd_col_g,
                                    HTTP_M_dd_col_days, HTTP_M_dd_col_lt,
                                    HTTP_M_dd_col_factor};
  for (size_t k = 0; k < sizeof cols / sizeof *cols; k++)
    heat_th(s, b, cols[k]);
  kk_buf_puts(b, "</tr></thead><tbody>");
  for (size_t i = 0; i < x[0].n; i++) {
    int64_t t = x[0].t[i];
    int complete = heat_at(&x[4], t) == 1;
    kk_buf_printf(b, "<tr><th scope=\"row\">%d", heat_year(s, t, 0));
    if (!complete) {
      kk_buf_puts(b, " <span class=\"muted\">(");
      kk_buf_html(b, http_t(&s->reg, HTTP_M_dd_incomplete));
      kk_buf_puts(b, ")</span>");
    }
    kk_buf_puts(b, "</th>");
    heat_td(s, b, HTTP_M_dd_col_g, x[0].v[i], 0, complete ? "" : "muted");
    heat_td(s, b, HTTP_M_dd_col_days, heat_at(&x[1], t), 0, "");
    heat_td(s, b, HTTP_M_dd_col_lt, heat_at(&x[2], t), 0, "");
    heat_td(s, b, HTTP_M_dd_col_factor, heat_at(&x[3], t), 3, "");
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table>");
  free(x);
}

/* Distinct things of the items that have `property`. */
static size_t heat_things(const http_items_t *it, const char *property,
                          const char **out) {
  size_t n = 0;
  for (size_t i = 0; i < it->len; i++) {
    if (strcmp(it->items[i].property, property) != 0) continue;
    int dup = 0;
    for (size_t k = 0; k < n && !dup; k++)
      dup = strcmp(out[k], it->items[i].thing) == 0;
    if (!dup) out[n++] = it->items[i].thing;
  }
  return n;
}

void http_route_heat(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  kk_buf_t b = {0};
  http_items_t it;
  if (http_items_load(s, NULL, kk_now_ms(), &it) != 0) b.oom = 1;
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_heat_title), 0);
  kk_buf_puts(&b, "<h2>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_heat_title));
  kk_buf_puts(&b, "</h2><p>");
  http_say(&b, &s->reg, 1, HTTP_M_heat_intro, s->tz, NULL);
  kk_buf_puts(&b, "</p>");
  const char **t = malloc((it.len + 1) * sizeof *t);
  size_t n = t ? heat_things(&it, "summer_days_year", t) : 0;
  heat_brief_t *briefs = calloc(n + 1, sizeof *briefs);
  size_t nb = 0;
  for (size_t i = 0; i < n && briefs; i++)
    nb += (size_t)heat_place(s, &b, t[i], &briefs[nb]);
  if (briefs) heat_briefs(s, &b, briefs, nb);
  free(briefs);
  size_t m = t ? heat_things(&it, "degree_days_year", t) : 0;
  for (size_t i = 0; i < m; i++)
    heat_degree_days(s, &b, t[i]);
  if (!n && !m) {
    kk_buf_puts(&b, "<p>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_heat_none));
    kk_buf_puts(&b, "</p>");
  }
  free(t);
  http_items_free(&it);
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}
