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

#include "publish/http/http_chart.h"

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

/* Hot days per year as bars, the long-term mean as the reference line. */
static void heat_chart(http_state_t *s, kk_buf_t *b, const char *thing,
                       const heat_series_t *hot, const heat_series_t *cov,
                       const heat_series_t *lt) {
  size_t n = hot->n;
  int64_t *edges = malloc((n + 1) * sizeof *edges);
  double *val = malloc((n ? n : 1) * sizeof *val);
  uint8_t *present = malloc(n ? n : 1), *partial = malloc(n ? n : 1);
  if (!edges || !val || !present || !partial) {
    b->oom = 1;
    goto done;
  }
  /* One bar per year; a year without data in between is a gap. */
  for (size_t i = 0; i < n; i++) {
    edges[i] = hot->t[i];
    val[i] = hot->v[i];
    present[i] = 1;
    double c = heat_at(cov, hot->t[i]);
    partial[i] = !isnan(c) && c < 0.9;
  }
  edges[n] = n ? hot->t[n - 1] + 366 * KK_DAY_MS : 0;
  kk_buf_t title = {0};
  http_say(&title, &s->reg, 0, HTTP_M_heat_chart, thing, NULL);
  http_chart_t c = {.reg = &s->reg,
                    .title = title.p ? title.p : thing,
                    .unit = "d",
                    .tz = s->tz,
                    .from_ms = n ? hot->t[0] : 0,
                    .to_ms = edges[n],
                    .value = val,
                    .present = present,
                    .n = n,
                    .edges = edges,
                    .partial = partial,
                    .period_fmt = HTTP_M_fmt_year,
                    .ref_t = lt->t,
                    .ref_v = lt->v,
                    .ref_n = lt->n,
                    .ref_label = http_t(&s->reg, HTTP_M_heat_longterm)};
  kk_buf_puts(b, "<figure>");
  http_chart_svg(b, &c);
  kk_buf_puts(b, "</figure>");
  kk_buf_free(&title);
done:
  free(edges);
  free(val);
  free(present);
  free(partial);
}

static void heat_place(http_state_t *s, kk_buf_t *b, const char *thing) {
  heat_series_t *x = calloc(4 * HEAT_NKIND + 2, sizeof *x);
  if (!x) {
    b->oom = 1;
    return;
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
    return;
  }
  kk_buf_puts(b, "<h3>");
  kk_buf_html(b, thing);
  kk_buf_puts(b, "</h3>");
  heat_chart(s, b, thing, &year[1], cov, &lt[1]);
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
    heat_td(s, b, HTTP_M_heat_col_coverage, isnan(c) ? NAN : c * 100, 0,
            !isnan(c) && c < 0.9 ? "c2" : "");
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
  for (size_t i = 0; i < n; i++)
    heat_place(s, &b, t[i]);
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
