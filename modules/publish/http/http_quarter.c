/*
 * modules/publish/http/http_quarter.c - the page /quarter: the energy
 * balance of each quarter that calc.quarter computes (things
 * `quarter/<name>`): this year's key figures (production, consumption,
 * balance, self-sufficiency, self-consumption, surplus, grid import,
 * avoided CO2e with the factor named), daily production against
 * consumption as a chart, and tables by month and by year.  A period that
 * is not over yet says so.  Reads the exact period values from the store
 * (http_points); without a store only the latest values are known, and
 * the page says that a store is needed for the history.  Loop thread.
 */
#include "publish/http/http_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "publish/http/http_chart.h"

#define QUARTER_DAYS 31 /* days in the chart */
#define QUARTER_MONTHS 13

/* The columns of the month and year tables, in order. */
static const struct {
  const char *prop; /* without the _<period> suffix */
  http_msg_t label;
  int pct;
  int cons; /* about consumption: left out for producers only */
} quarter_cols[] = {
    {"production", HTTP_M_q_production, 0, 0},
    {"production_pv", HTTP_M_q_pv, 0, 0},
    {"production_wind", HTTP_M_q_wind, 0, 0},
    {"production_chp", HTTP_M_q_chp, 0, 0},
    {"production_other", HTTP_M_q_other, 0, 0},
    {"consumption", HTTP_M_q_consumption, 0, 1},
    {"self_consumed", HTTP_M_q_self_consumed, 0, 1},
    {"surplus", HTTP_M_q_surplus, 0, 0},
    {"deficit", HTTP_M_q_deficit, 0, 1},
    {"balance", HTTP_M_q_balance, 0, 1},
    {"autarky", HTTP_M_q_autarky, 1, 1},
    {"self_consumption", HTTP_M_q_self_consumption, 1, 1},
    {"co2e_avoided", HTTP_M_q_avoided, 0, 0},
};
#define QUARTER_NCOLS (sizeof quarter_cols / sizeof *quarter_cols)

typedef struct quarter_series {
  int64_t t[HTTP_RECENT];
  double v[HTTP_RECENT];
  size_t n;
  const char *unit;
} quarter_series_t;

static void quarter_load(http_state_t *s, const char *thing, const char *prop,
                         const char *period, quarter_series_t *x) {
  char name[96];
  snprintf(name, sizeof name, "%s_%s", prop, period);
  x->unit = "";
  x->n = http_points(s, thing, name, x->t, x->v, HTTP_RECENT, &x->unit);
}

static double quarter_at(const quarter_series_t *x, int64_t t) {
  for (size_t i = 0; i < x->n; i++)
    if (x->t[i] == t) return x->v[i];
  return NAN;
}

/* A quarter of producers only (PV roofs of a town): its consumption is 0
 * throughout, and the columns about consumption say nothing. */
static void quarter_drop_consumption(quarter_series_t *cols) {
  const quarter_series_t *c = &cols[5];
  for (size_t i = 0; i < c->n; i++)
    if (c->v[i] != 0) return;
  for (size_t k = 0; k < QUARTER_NCOLS; k++)
    if (quarter_cols[k].cons) cols[k].n = 0;
}

/* Is the period starting at t (month: 1, year: 0) still running? */
static int quarter_running(http_state_t *s, int64_t t, int month) {
  struct tm a, b;
  kk_tz_local(s->tz, kk_floor_div(t, 1000), &a);
  kk_tz_local(s->tz, kk_floor_div(kk_now_ms(), 1000), &b);
  return a.tm_year == b.tm_year && (!month || a.tm_mon == b.tm_mon);
}

/* "Erzeugung (kWh)": a column's label with its unit, for the header and
 * the stacked (narrow) layout alike. */
static void quarter_label(http_state_t *s, char *buf, size_t len, size_t c,
                          const char *unit) {
  const char *u = quarter_cols[c].pct ? "%" : http_unit_label(&s->reg, unit);
  snprintf(buf, len, "%s%s%s%s", http_t(&s->reg, quarter_cols[c].label),
           *u ? " (" : "", u, *u ? ")" : "");
}

static void quarter_cell(http_state_t *s, kk_buf_t *b, const char *label,
                         double v, int pct) {
  char txt[64] = "–";
  if (!isnan(v)) http_num(&s->reg, v, pct ? 1 : -1, txt, sizeof txt);
  kk_buf_printf(b, "<td class=\"%s\" data-label=\"",
                isnan(v) ? "num muted" : "num");
  kk_buf_html(b, label);
  kk_buf_puts(b, "\">");
  kk_buf_html(b, txt);
  kk_buf_puts(b, "</td>");
}

/* The key figures of the latest year. */
static void quarter_figures(http_state_t *s, kk_buf_t *b,
                            quarter_series_t *yr) {
  quarter_series_t *prod = &yr[0];
  if (!prod->n) return;
  int64_t t = prod->t[prod->n - 1];
  char y[16], head[96];
  struct tm a;
  kk_tz_local(s->tz, kk_floor_div(t, 1000), &a);
  snprintf(y, sizeof y, "%d", a.tm_year + 1900);
  kk_buf_t hb = {0};
  http_say(&hb, &s->reg, 0,
           quarter_running(s, t, 0) ? HTTP_M_q_year_running : HTTP_M_q_year, y,
           NULL);
  snprintf(head, sizeof head, "%s", hb.p && !hb.oom ? hb.p : y);
  kk_buf_free(&hb);
  kk_buf_puts(b, "<h4>");
  kk_buf_html(b, head);
  kk_buf_puts(b, "</h4><dl class=\"kpi\">");
  static const size_t shown[] = {0, 5, 9, 10, 11, 7, 8, 12};
  for (size_t k = 0; k < sizeof shown / sizeof *shown; k++) {
    size_t c = shown[k];
    double v = quarter_at(&yr[c], t);
    if (isnan(v)) continue;
    char txt[96];
    if (quarter_cols[c].pct) {
      char num[48];
      http_num(&s->reg, v, 1, num, sizeof num);
      snprintf(txt, sizeof txt, "%s %%", num);
    } else {
      http_value_text(s, v, yr[c].unit, txt, sizeof txt);
    }
    kk_buf_puts(b, "<div><dt>");
    kk_buf_html(b, http_t(&s->reg, quarter_cols[c].label));
    kk_buf_printf(b, "</dt><dd%s>",
                  c == 9 ? (v >= 0 ? " class=\"c1\"" : " class=\"c2\"") : "");
    kk_buf_html(b, txt);
    if (c == 9) {
      kk_buf_puts(b, " – ");
      kk_buf_html(
          b, http_t(&s->reg, v >= 0 ? HTTP_M_q_positive : HTTP_M_q_negative));
    }
    kk_buf_puts(b, "</dd></div>");
  }
  kk_buf_puts(b, "</dl>");
}

/* Daily production as bars, consumption as a line, over the last days. */
static void quarter_chart(http_state_t *s, kk_buf_t *b, const char *name,
                          const char *thing) {
  quarter_series_t *d = calloc(2, sizeof *d);
  if (!d) {
    b->oom = 1;
    return;
  }
  quarter_load(s, thing, "production", "day", &d[0]);
  quarter_load(s, thing, "consumption", "day", &d[1]);
  int any = 0;
  for (size_t i = 0; i < d[1].n; i++)
    any |= d[1].v[i] != 0;
  if (!any) d[1].n = 0;
  if (!d[0].n && !d[1].n) {
    free(d);
    return;
  }
  int64_t last = d[0].n ? d[0].t[d[0].n - 1] : d[1].t[d[1].n - 1];
  if (d[1].n && d[1].t[d[1].n - 1] > last) last = d[1].t[d[1].n - 1];
  int64_t edges[QUARTER_DAYS + 1], ref_t[QUARTER_DAYS];
  double val[QUARTER_DAYS], ref_v[QUARTER_DAYS];
  uint8_t present[QUARTER_DAYS], partial[QUARTER_DAYS];
  /* Local midnights backwards from the last day (23 or 25 hours across
   * the clock changes). */
  edges[QUARTER_DAYS] = http_local_midnight(s->tz, last + 26 * KK_HOUR_MS);
  for (int i = QUARTER_DAYS - 1; i >= 0; i--)
    edges[i] = http_local_midnight(s->tz, edges[i + 1] - 2 * KK_HOUR_MS);
  /* The chart begins with the first day that has data. */
  int first = 0;
  int64_t t0 = d[0].n ? d[0].t[0] : d[1].t[0];
  if (d[1].n && d[1].t[0] < t0) t0 = d[1].t[0];
  while (first < QUARTER_DAYS - 7 && edges[first + 1] <= t0)
    first++;
  size_t nref = 0;
  int64_t today = http_local_midnight(s->tz, kk_now_ms());
  for (int i = first; i < QUARTER_DAYS; i++) {
    double p = quarter_at(&d[0], edges[i]), c = quarter_at(&d[1], edges[i]);
    present[i] = !isnan(p);
    val[i] = present[i] ? p : 0;
    partial[i] = edges[i] == today;
    if (!isnan(c)) {
      ref_t[nref] = edges[i] + (edges[i + 1] - edges[i]) / 2;
      ref_v[nref++] = c;
    }
  }
  kk_buf_t tb = {0};
  const char *unit = http_unit_label(&s->reg, d[0].n ? d[0].unit : d[1].unit);
  http_say(&tb, &s->reg, 0,
           nref ? HTTP_M_q_chart_days : HTTP_M_q_chart_days_production, name,
           unit, NULL);
  http_chart_t c = {.reg = &s->reg,
                    .title = tb.p ? tb.p : name,
                    .unit = unit,
                    .tz = s->tz,
                    .from_ms = edges[first],
                    .to_ms = edges[QUARTER_DAYS],
                    .value = val + first,
                    .present = present + first,
                    .n = (size_t)(QUARTER_DAYS - first),
                    .edges = edges + first,
                    .partial = partial + first,
                    .period_fmt = HTTP_M_fmt_date,
                    .ref_t = ref_t,
                    .ref_v = ref_v,
                    .ref_n = nref,
                    .ref_label = http_t(&s->reg, HTTP_M_q_consumption)};
  kk_buf_puts(b, "<figure>");
  http_chart_svg(b, &c);
  kk_buf_puts(b, "<figcaption>");
  kk_buf_html(b, tb.p ? tb.p : name);
  kk_buf_puts(b, "</figcaption></figure>");
  kk_buf_free(&tb);
  free(d);
}

/* A table with one row per period (month or year), newest first. */
static void quarter_table(http_state_t *s, kk_buf_t *b, const char *thing,
                          const char *period, http_msg_t title, size_t max,
                          quarter_series_t *cols) {
  int month = strcmp(period, "month") == 0;
  for (size_t c = 0; c < QUARTER_NCOLS; c++)
    quarter_load(s, thing, quarter_cols[c].prop, period, &cols[c]);
  quarter_drop_consumption(cols);
  const quarter_series_t *rows = &cols[0];
  if (!rows->n) rows = &cols[5];
  if (!rows->n) return;
  kk_buf_puts(b, "<h4>");
  kk_buf_html(b, http_t(&s->reg, title));
  kk_buf_puts(b, "</h4><table class=\"stack quarter\"><thead><tr>");
  kk_buf_puts(b, "<th scope=\"col\">");
  kk_buf_html(b, http_t(&s->reg, month ? HTTP_M_q_col_month : HTTP_M_col_year));
  kk_buf_puts(b, "</th>");
  char labels[QUARTER_NCOLS][96];
  for (size_t c = 0; c < QUARTER_NCOLS; c++) {
    if (!cols[c].n) continue;
    quarter_label(s, labels[c], sizeof labels[c], c, cols[c].unit);
    kk_buf_puts(b, "<th scope=\"col\">");
    kk_buf_html(b, labels[c]);
    kk_buf_puts(b, "</th>");
  }
  kk_buf_puts(b, "</tr></thead><tbody>");
  size_t n = rows->n < max ? rows->n : max;
  for (size_t k = 0; k < n; k++) {
    int64_t t = rows->t[rows->n - 1 - k];
    char when[48], label[96];
    if (month) {
      http_date(&s->reg, s->tz, t, HTTP_M_fmt_month, when, sizeof when);
    } else {
      struct tm a;
      kk_tz_local(s->tz, kk_floor_div(t, 1000), &a);
      snprintf(when, sizeof when, "%d", a.tm_year + 1900);
    }
    snprintf(label, sizeof label, "%s", when);
    if (quarter_running(s, t, month)) {
      kk_buf_t lb = {0};
      http_say(&lb, &s->reg, 0, HTTP_M_q_running, when, NULL);
      if (lb.p && !lb.oom) snprintf(label, sizeof label, "%s", lb.p);
      kk_buf_free(&lb);
    }
    kk_buf_puts(b, "<tr><th scope=\"row\">");
    kk_buf_html(b, label);
    kk_buf_puts(b, "</th>");
    for (size_t c = 0; c < QUARTER_NCOLS; c++)
      if (cols[c].n)
        quarter_cell(s, b, labels[c], quarter_at(&cols[c], t),
                     quarter_cols[c].pct);
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table>");
}

/* The factor line: "factor:<set>/<carrier>" or "factor:stated". */
static void quarter_factor(http_state_t *s, kk_buf_t *b, const http_items_t *it,
                           const char *thing) {
  const http_item_t *f = NULL;
  for (size_t i = 0; i < it->len; i++) {
    const http_item_t *x = &it->items[i];
    if (strcmp(x->thing, thing) == 0 &&
        strncmp(x->property, "factor:", 7) == 0 && x->last_time != INT64_MIN &&
        (!f || x->last_time > f->last_time))
      f = x;
  }
  kk_buf_puts(b, "<p class=\"muted\">");
  if (f) {
    char num[48];
    http_num(&s->reg, f->last_value, -1, num, sizeof num);
    const char *name = f->property + 7;
    int stated = strncmp(name, "stated:", 7) == 0;
    http_say(b, &s->reg, 1, stated ? HTTP_M_q_factor_stated : HTTP_M_q_factor,
             stated ? name + 7 : name, num, NULL);
    kk_buf_puts(b, " ");
  }
  kk_buf_html(b, http_t(&s->reg, HTTP_M_q_bisko));
  kk_buf_puts(b, "</p>");
}

static void quarter_one(http_state_t *s, kk_buf_t *b, const http_items_t *it,
                        const char *thing) {
  /* The things table's label, else the quarter's name without its
   * "quarter/" prefix. */
  const char *label = http_thing_label(s, thing);
  const char *name = label != thing                       ? label
                     : strncmp(thing, "quarter/", 8) == 0 ? thing + 8
                                                          : thing;
  quarter_series_t *cols = calloc(QUARTER_NCOLS, sizeof *cols);
  if (!cols) {
    b->oom = 1;
    return;
  }
  kk_buf_puts(b, "<section class=\"quarter\"><h3>");
  kk_buf_html(b, name);
  kk_buf_puts(b, "</h3>");
  for (size_t c = 0; c < QUARTER_NCOLS; c++)
    quarter_load(s, thing, quarter_cols[c].prop, "year", &cols[c]);
  quarter_drop_consumption(cols);
  quarter_figures(s, b, cols);
  quarter_chart(s, b, name, thing);
  quarter_factor(s, b, it, thing);
  quarter_table(s, b, thing, "month", HTTP_M_q_months, QUARTER_MONTHS, cols);
  quarter_table(s, b, thing, "year", HTTP_M_q_years, HTTP_RECENT, cols);
  kk_buf_puts(b, "<p><a href=\"/things/");
  kk_buf_url(b, thing);
  kk_buf_puts(b, "\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_q_all_series));
  kk_buf_puts(b, "</a></p></section>");
  free(cols);
}

/* The route's handler (its line in http.c's http_routes). */
void http_route_quarter(http_state_t *s, h2o_req_t *req, char *path);
void http_route_quarter(http_state_t *s, h2o_req_t *req, char *path) {
  (void)path;
  kk_buf_t b = {0};
  http_items_t it;
  if (http_items_load(s, NULL, kk_now_ms(), &it) != 0) b.oom = 1;
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_nav_quarter), 1);
  kk_buf_puts(&b,
              "<style>dl.kpi{display:grid;grid-template-columns:"
              "repeat(auto-fill,minmax(9rem,1fr));gap:.5rem;margin:0 0 "
              "1rem}dl.kpi div{background:#fff;border:1px solid #ddd;"
              "padding:.4rem .6rem}dl.kpi dt{font-size:.85rem;color:#555}"
              "dl.kpi dd{margin:0;font-size:1.15rem;font-weight:600}"
              "section.quarter{margin-bottom:2rem}"
              "table.quarter{font-size:.85rem}table.quarter th{font-weight:600}"
              "</style><h2>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_q_title));
  kk_buf_puts(&b, "</h2><p>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_q_intro));
  kk_buf_puts(&b, "</p>");
  /* Things with a balance_<period> datastream, each once. */
  const char **t = malloc((it.len + 1) * sizeof *t);
  size_t n = 0;
  for (size_t i = 0; t && i < it.len; i++) {
    const http_item_t *x = &it.items[i];
    if (strncmp(x->property, "balance_", 8) != 0) continue;
    size_t k = 0;
    while (k < n && strcmp(t[k], x->thing) != 0)
      k++;
    if (k == n) t[n++] = x->thing;
  }
  for (size_t i = 0; i < n; i++)
    quarter_one(s, &b, &it, t[i]);
  if (!n) {
    kk_buf_puts(&b, "<p>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_q_none));
    kk_buf_puts(&b, "</p>");
  } else if (!s->store_name) {
    kk_buf_puts(&b, "<p class=\"muted\">");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_q_needs_store));
    kk_buf_puts(&b, "</p>");
  }
  free(t);
  http_items_free(&it);
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}
