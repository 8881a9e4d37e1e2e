/*
 * modules/publish/http/http_measures.c - the measures tracker pages:
 * /measures (every measure by Handlungsfeld with its schedule light,
 * phase, completion and planned against achieved t CO2e, sums per field
 * and in all, filters by GET query that work without JavaScript),
 * /measures/<id> (one measure: its fields, every year's impact against
 * the expectation in a chart and a table, the indicators per year
 * against their baseline, the partner updates with time and author) and
 * /api/measures (the catalogue as JSON).
 *
 * The catalogue is calc.measures' (modules/calc/calc_catalogue.h, found
 * through its registry); the readings it emits feed the store and the
 * page cache's generation like every other series.  Loop thread.
 */
#include "publish/http/http_measures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc_catalogue.h"
#include "publish/http/http_chart.h"

/* Styles the dashboard's sheet has no rule for: the lights, the filter
 * form, the field list. */
static const char hm_css[] =
    "<style>.light{display:inline-block;width:.9rem;height:.9rem;"
    "border-radius:50%;vertical-align:-.1rem;margin-right:.35rem;"
    "border:1px solid #555}.l1{background:#2e7d32}.l2{background:#f5b400}"
    ".l3{background:#b3261e}.l0{background:#bbb}.l4{background:#0b4f3c}"
    "form.filter{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;"
    "margin:.6rem 0 1rem;background:#fff;padding:.6rem;border:1px solid #ddd}"
    "form.filter label{display:flex;flex-direction:column;font-size:.9rem}"
    "form.filter select,form.filter input,form.filter button{font:inherit;"
    "padding:.25rem .4rem;min-width:9rem}dl.fields{display:grid;"
    "grid-template-columns:minmax(9rem,14rem) 1fr;gap:.3rem 1rem;"
    "background:#fff;padding:.6rem;border:1px solid #ddd}dl.fields dt{"
    "font-weight:600}dl.fields dd{margin:0}.neg{color:#b3261e;"
    "font-weight:600}.sums td,.sums th{background:#eef4f1}"
    "td.num,.lights{white-space:nowrap}.lights{margin-right:.5rem}"
    "@media (max-width:40rem){dl.fields{grid-template-columns:1fr}"
    "dl.fields dd{margin-bottom:.4rem}form.filter label{width:100%}}"
    "</style>";

static const http_msg_t hm_status_msg[CAT_ST_N] = {
    HTTP_M_ms_status_unknown, HTTP_M_ms_status_on_time, HTTP_M_ms_status_late,
    HTTP_M_ms_status_cancelled};
static const http_msg_t hm_phase_msg[CAT_PH_N] = {
    HTTP_M_ms_phase_unknown, HTTP_M_ms_phase_not_started,
    HTTP_M_ms_phase_planning, HTTP_M_ms_phase_implementation,
    HTTP_M_ms_phase_completed};
static const http_msg_t hm_class_msg[CAT_CL_N] = {
    HTTP_M_ms_class_high, HTTP_M_ms_class_high,     HTTP_M_ms_class_medium,
    HTTP_M_ms_class_low,  HTTP_M_ms_class_indirect, HTTP_M_ms_class_zero};

static void hm_th(http_state_t *s, kk_buf_t *b, http_msg_t m) {
  kk_buf_puts(b, "<th scope=\"col\">");
  kk_buf_html(b, http_t(&s->reg, m));
  kk_buf_puts(b, "</th>");
}

static void hm_td_open(http_state_t *s, kk_buf_t *b, const char *cls,
                       http_msg_t label) {
  kk_buf_printf(b, "<td class=\"%s\" data-label=\"", cls);
  kk_buf_html(b, http_t(&s->reg, label));
  kk_buf_puts(b, "\">");
}

static void hm_td(http_state_t *s, kk_buf_t *b, const char *cls,
                  http_msg_t label, const char *text) {
  hm_td_open(s, b, cls, label);
  kk_buf_html(b, text);
  kk_buf_puts(b, "</td>");
}

/* The light of a measure: completed phase dark green, else by schedule. */
static int hm_light(const cat_measure_t *m) {
  if (m->phase == CAT_PH_COMPLETED && m->status != CAT_ST_CANCELLED) return 4;
  return (int)m->status;
}

static void hm_light_html(http_state_t *s, kk_buf_t *b,
                          const cat_measure_t *m) {
  kk_buf_printf(b, "<span class=\"light l%d\" aria-hidden=\"true\"></span>",
                hm_light(m));
  kk_buf_html(b, http_t(&s->reg, m->phase == CAT_PH_COMPLETED &&
                                         m->status != CAT_ST_CANCELLED
                                     ? HTTP_M_ms_phase_completed
                                     : hm_status_msg[m->status]));
}

/* t with one decimal below 100, none above; "–" for NaN. */
static void hm_t(http_state_t *s, double v, char *buf, size_t len) {
  if (isnan(v)) {
    snprintf(buf, len, "–");
    return;
  }
  http_num(&s->reg, v, fabs(v) < 100 ? 1 : 0, buf, len);
}

static void hm_eur(http_state_t *s, double v, char *buf, size_t len) {
  if (isnan(v)) {
    snprintf(buf, len, "–");
    return;
  }
  char n[40];
  http_num(&s->reg, v, 0, n, sizeof n);
  snprintf(buf, len, "%.40s €", n);
}

/* "2025-03-01" -> "01.03.2025" / "03/2025" / "2025" in the page's
 * language. */
static void hm_date(http_state_t *s, const char *d, char *buf, size_t len) {
  int y = 0, m = 0, dd = 0;
  if (!d[0]) {
    snprintf(buf, len, "–");
    return;
  }
  sscanf(d, "%d-%d-%d", &y, &m, &dd);
  int de = s->reg.lang == HTTP_LANG_DE;
  if (dd)
    snprintf(buf, len, de ? "%02d.%02d.%04d" : "%04d-%02d-%02d", de ? dd : y, m,
             de ? y : dd);
  else if (m)
    snprintf(buf, len, de ? "%02d/%04d" : "%04d-%02d", de ? m : y, de ? y : m);
  else
    snprintf(buf, len, "%04d", y);
}

static int hm_this_year(http_state_t *s) {
  struct tm tm;
  kk_tz_local(s->tz, kk_floor_div(kk_now_ms(), 1000), &tm);
  return tm.tm_year + 1900;
}

static int64_t hm_year_ms(http_state_t *s, int y) {
  int64_t t = kk_days_from_civil(y, 1, 1) * KK_DAY_MS;
  return t - (int64_t)kk_tz_offset(s->tz, t / 1000) * 1000;
}

/* The year as a label, "(unvollständig)" while it runs. */
static void hm_year_label(http_state_t *s, int y, char *buf, size_t len) {
  char yy[16];
  snprintf(yy, sizeof yy, "%d", y);
  if (y < hm_this_year(s)) {
    snprintf(buf, len, "%s", yy);
    return;
  }
  kk_buf_t t = {0};
  http_say(&t, &s->reg, 0, HTTP_M_year_partial, yy, NULL);
  snprintf(buf, len, "%s", t.p && !t.oom ? t.p : yy);
  kk_buf_free(&t);
}

/* ---- the overview ------------------------------------------------------ */

typedef struct hm_filter {
  char sector[200], q[200];
  int status, phase; /* -1: all */
} hm_filter_t;

static int hm_contains(const char *hay, const char *needle) {
  return !*needle || strcasestr(hay, needle) != NULL;
}

static int hm_match(const hm_filter_t *f, const cat_measure_t *m) {
  if (f->sector[0] && strcmp(f->sector, m->sector) != 0) return 0;
  if (f->status >= 0 && (int)m->status != f->status) return 0;
  if (f->phase >= 0 && (int)m->phase != f->phase) return 0;
  if (f->q[0] && !hm_contains(m->title, f->q) && !hm_contains(m->id, f->q) &&
      !hm_contains(m->responsible, f->q) && !hm_contains(m->partners, f->q) &&
      !hm_contains(m->description, f->q))
    return 0;
  return 1;
}

typedef struct hm_sum {
  size_t n, lights[5];
  double planned, achieved, budget, spent, completion;
  size_t ncompletion, nclass;
} hm_sum_t;

static double hm_achieved_year(const cat_measure_t *m, int year) {
  for (size_t k = 0; k < m->nyears; k++)
    if (m->years[k].year == year)
      return calc_cat_achieved(m, &m->years[k], NULL);
  return NAN;
}

static void hm_sum_add(hm_sum_t *u, const cat_measure_t *m, int year) {
  u->n++;
  u->lights[hm_light(m)]++;
  if (m->status != CAT_ST_CANCELLED && !isnan(m->planned_t))
    u->planned += m->planned_t;
  if (isnan(m->planned_t) && m->planned_class) u->nclass++;
  double a = hm_achieved_year(m, year);
  if (!isnan(a)) u->achieved += a;
  if (!isnan(m->budget)) u->budget += m->budget;
  if (!isnan(m->spent)) u->spent += m->spent;
  if (!isnan(m->completion)) {
    u->completion += m->completion;
    u->ncompletion++;
  }
}

static void hm_sum_row(http_state_t *s, kk_buf_t *b, const hm_sum_t *u,
                       const char *label, int year) {
  char n[32], p[48], a[48], bu[64], sp[64], c[32] = "–";
  snprintf(n, sizeof n, "%zu", u->n);
  hm_t(s, u->planned, p, sizeof p);
  hm_t(s, u->achieved, a, sizeof a);
  hm_eur(s, u->budget, bu, sizeof bu);
  hm_eur(s, u->spent, sp, sizeof sp);
  if (u->ncompletion)
    http_num(&s->reg, u->completion / (double)u->ncompletion, 0, c, sizeof c);
  kk_buf_puts(b, "<tr class=\"sums\"><th scope=\"row\">");
  kk_buf_html(b, label);
  kk_buf_puts(b, "</th>");
  hm_td(s, b, "num", HTTP_M_ms_col_count, n);
  hm_td_open(s, b, "", HTTP_M_ms_col_lights);
  for (int l = 1; l <= 4; l++)
    if (u->lights[l])
      kk_buf_printf(b,
                    "<span class=\"lights\"><span class=\"light l%d\"></span>"
                    "%zu</span> ",
                    l, u->lights[l]);
  if (u->lights[0])
    kk_buf_printf(b,
                  "<span class=\"lights\"><span class=\"light "
                  "l0\"></span>%zu</span>",
                  u->lights[0]);
  kk_buf_puts(b, "</td>");
  hm_td(s, b, "num", HTTP_M_ms_col_planned, p);
  hm_td_open(s, b, "num", HTTP_M_ms_col_achieved);
  kk_buf_html(b, a);
  kk_buf_puts(b, "</td>");
  hm_td(s, b, "num", HTTP_M_ms_col_completion_avg, c);
  hm_td(s, b, "num", HTTP_M_ms_col_budget, bu);
  hm_td(s, b, "num", HTTP_M_ms_col_spent, sp);
  kk_buf_puts(b, "</tr>");
  (void)year;
}

static void hm_measure_row(http_state_t *s, kk_buf_t *b, const cat_measure_t *m,
                           int year) {
  char p[64], a[48], c[32] = "–";
  kk_buf_puts(b, "<tr><th scope=\"row\" data-label=\"");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_col_measure));
  kk_buf_puts(b, "\"><a href=\"/measures/");
  kk_buf_url(b, m->id);
  kk_buf_puts(b, "\">");
  kk_buf_html(b, m->id);
  kk_buf_puts(b, "</a> ");
  kk_buf_html(b, m->title);
  kk_buf_puts(b, "</th>");
  hm_td_open(s, b, "", HTTP_M_ms_col_status);
  hm_light_html(s, b, m);
  kk_buf_puts(b, "</td>");
  hm_td(s, b, "", HTTP_M_ms_col_phase, http_t(&s->reg, hm_phase_msg[m->phase]));
  hm_td_open(s, b, "num", HTTP_M_ms_col_completion);
  if (!isnan(m->completion)) {
    http_num(&s->reg, m->completion, 0, c, sizeof c);
    kk_buf_printf(b,
                  "<span class=\"bar\" style=\"width:%.1frem\"></span> %s %%",
                  m->completion / 100 * 4, c);
  } else
    kk_buf_puts(b, "–");
  kk_buf_puts(b, "</td>");
  hm_td(s, b, "", HTTP_M_ms_col_responsible, m->responsible);
  if (isnan(m->planned_t) && m->planned_class)
    snprintf(p, sizeof p, "%s",
             http_t(&s->reg, hm_class_msg[m->planned_class]));
  else
    hm_t(s, m->planned_t, p, sizeof p);
  hm_td(s, b, isnan(m->planned_t) ? "muted" : "num", HTTP_M_ms_col_planned, p);
  double av = hm_achieved_year(m, year);
  hm_t(s, av, a, sizeof a);
  hm_td(s, b, av < 0 ? "num neg" : "num", HTTP_M_ms_col_achieved, a);
  kk_buf_puts(b, "</tr>");
}

static void hm_option(kk_buf_t *b, const char *value, const char *label,
                      int selected) {
  kk_buf_puts(b, "<option value=\"");
  kk_buf_html(b, value);
  kk_buf_printf(b, "\"%s>", selected ? " selected" : "");
  kk_buf_html(b, label);
  kk_buf_puts(b, "</option>");
}

/* Distinct sectors of all catalogues in first-seen order. */
static size_t hm_sectors(const char **out, size_t cap) {
  size_t n = 0;
  for (calc_cat_t *c = calc_cat_first(); c; c = calc_cat_next(c))
    for (size_t i = 0; i < c->n; i++) {
      size_t k = 0;
      while (k < n && strcmp(out[k], c->m[i].sector) != 0)
        k++;
      if (k == n && n < cap) out[n++] = c->m[i].sector;
    }
  return n;
}

static void hm_filter_form(http_state_t *s, kk_buf_t *b, const hm_filter_t *f,
                           const char **sec, size_t nsec) {
  const char *all = http_t(&s->reg, HTTP_M_ms_filter_all);
  kk_buf_puts(b, "<form class=\"filter\" method=\"get\" action=\"/measures\">"
                 "<label>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_col_sector));
  kk_buf_puts(b, "<select name=\"sector\">");
  hm_option(b, "", all, !f->sector[0]);
  for (size_t i = 0; i < nsec; i++)
    hm_option(b, sec[i], *sec[i] ? sec[i] : "–",
              strcmp(f->sector, sec[i]) == 0);
  kk_buf_puts(b, "</select></label><label>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_col_status));
  kk_buf_puts(b, "<select name=\"status\">");
  hm_option(b, "", all, f->status < 0);
  for (int k = 0; k < CAT_ST_N; k++)
    hm_option(b, cat_status_keys[k], http_t(&s->reg, hm_status_msg[k]),
              f->status == k);
  kk_buf_puts(b, "</select></label><label>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_col_phase));
  kk_buf_puts(b, "<select name=\"phase\">");
  hm_option(b, "", all, f->phase < 0);
  for (int k = 0; k < CAT_PH_N; k++)
    hm_option(b, cat_phase_keys[k], http_t(&s->reg, hm_phase_msg[k]),
              f->phase == k);
  kk_buf_puts(b, "</select></label><label>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_filter_q));
  kk_buf_puts(b, "<input type=\"search\" name=\"q\" value=\"");
  kk_buf_html(b, f->q);
  kk_buf_puts(b, "\"></label><button type=\"submit\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_filter));
  kk_buf_puts(b, "</button><a href=\"/measures\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_filter_reset));
  kk_buf_puts(b, "</a></form>");
}

static void hm_table_head(http_state_t *s, kk_buf_t *b, int year) {
  kk_buf_puts(b, "<table class=\"stack measures\"><thead><tr>");
  hm_th(s, b, HTTP_M_col_measure);
  hm_th(s, b, HTTP_M_ms_col_status);
  hm_th(s, b, HTTP_M_ms_col_phase);
  hm_th(s, b, HTTP_M_ms_col_completion);
  hm_th(s, b, HTTP_M_ms_col_responsible);
  hm_th(s, b, HTTP_M_ms_col_planned);
  char y[16];
  snprintf(y, sizeof y, "%d", year);
  kk_buf_puts(b, "<th scope=\"col\">");
  http_say(b, &s->reg, 1, HTTP_M_ms_col_achieved_year, y, NULL);
  kk_buf_puts(b, "</th></tr></thead><tbody>");
}

void http_page_measures(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  hm_filter_t f = {.status = -1, .phase = -1};
  char v[64];
  net_httpd_query(req, "sector", f.sector, sizeof f.sector);
  net_httpd_query(req, "q", f.q, sizeof f.q);
  if (net_httpd_query(req, "status", v, sizeof v) == 0 && *v)
    f.status = calc_cat_parse_status(v);
  if (net_httpd_query(req, "phase", v, sizeof v) == 0 && *v)
    f.phase = calc_cat_parse_phase(v);
  int year = hm_this_year(s) - 1; /* the last whole year */
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_nav_measures), 0);
  kk_buf_puts(&b, hm_css);
  kk_buf_puts(&b, "<h2>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_ms_title));
  kk_buf_puts(&b, "</h2>");
  if (!calc_cat_first()) {
    kk_buf_puts(&b, "<p>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_measures_none));
    kk_buf_puts(&b, "</p>");
    http_page_tail(s, &b);
    http_respond(s, req, 200, "text/html; charset=utf-8", &b);
    return;
  }
  char ys[16];
  snprintf(ys, sizeof ys, "%d", year);
  kk_buf_puts(&b, "<p>");
  http_say(&b, &s->reg, 1, HTTP_M_ms_intro, ys, NULL);
  kk_buf_puts(&b, "</p>");
  const char *sec[64];
  size_t nsec = hm_sectors(sec, 64);
  hm_filter_form(s, &b, &f, sec, nsec);
  /* Sums first: in all, then per field. */
  hm_sum_t total = {0}, shown = {0};
  hm_sum_t *per = calloc(nsec ? nsec : 1, sizeof *per);
  if (!per) b.oom = 1;
  for (calc_cat_t *c = calc_cat_first(); c && per; c = calc_cat_next(c))
    for (size_t i = 0; i < c->n; i++) {
      const cat_measure_t *m = &c->m[i];
      hm_sum_add(&total, m, year);
      if (!hm_match(&f, m)) continue;
      hm_sum_add(&shown, m, year);
      for (size_t k = 0; k < nsec; k++)
        if (strcmp(sec[k], m->sector) == 0) hm_sum_add(&per[k], m, year);
    }
  char a[32], t[32];
  snprintf(a, sizeof a, "%zu", shown.n);
  snprintf(t, sizeof t, "%zu", total.n);
  kk_buf_puts(&b, "<p>");
  http_say(&b, &s->reg, 1, HTTP_M_ms_shown, a, t, NULL);
  kk_buf_puts(&b, "</p><table class=\"stack sums-table\"><thead><tr>");
  hm_th(s, &b, HTTP_M_ms_col_sector);
  hm_th(s, &b, HTTP_M_ms_col_count);
  hm_th(s, &b, HTTP_M_ms_col_lights);
  hm_th(s, &b, HTTP_M_ms_col_planned);
  kk_buf_puts(&b, "<th scope=\"col\">");
  http_say(&b, &s->reg, 1, HTTP_M_ms_col_achieved_year, ys, NULL);
  kk_buf_puts(&b, "</th>");
  hm_th(s, &b, HTTP_M_ms_col_completion_avg);
  hm_th(s, &b, HTTP_M_ms_col_budget);
  hm_th(s, &b, HTTP_M_ms_col_spent);
  kk_buf_puts(&b, "</tr></thead><tbody>");
  for (size_t k = 0; k < nsec && per; k++)
    if (per[k].n) hm_sum_row(s, &b, &per[k], *sec[k] ? sec[k] : "–", year);
  hm_sum_row(s, &b, &shown, http_t(&s->reg, HTTP_M_ms_total), year);
  kk_buf_puts(&b, "</tbody></table>");
  /* Then every field with its measures. */
  for (size_t k = 0; k < nsec && per; k++) {
    if (!per[k].n) continue;
    char n[32];
    snprintf(n, sizeof n, "%zu", per[k].n);
    kk_buf_puts(&b, "<section><h3>");
    kk_buf_html(&b, *sec[k] ? sec[k] : "–");
    kk_buf_puts(&b, " <span class=\"muted\">(");
    kk_buf_html(&b, n);
    kk_buf_puts(&b, ")</span></h3>");
    hm_table_head(s, &b, year);
    for (calc_cat_t *c = calc_cat_first(); c; c = calc_cat_next(c))
      for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->m[i].sector, sec[k]) == 0 && hm_match(&f, &c->m[i]))
          hm_measure_row(s, &b, &c->m[i], year);
    kk_buf_puts(&b, "</tbody></table></section>");
  }
  free(per);
  kk_buf_puts(&b, "<p class=\"muted\">");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_ms_update_hint));
  kk_buf_puts(&b, " <a href=\"/api/measures\">JSON</a></p>");
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}

/* ---- one measure --------------------------------------------------------- */

static void hm_field(http_state_t *s, kk_buf_t *b, http_msg_t label,
                     const char *text) {
  if (!text || !*text) return;
  kk_buf_puts(b, "<dt>");
  kk_buf_html(b, http_t(&s->reg, label));
  kk_buf_puts(b, "</dt><dd>");
  kk_buf_html(b, text);
  kk_buf_puts(b, "</dd>");
}

static void hm_fields(http_state_t *s, kk_buf_t *b, const cat_measure_t *m) {
  char x[96], y[96], t[256];
  kk_buf_puts(b, "<dl class=\"fields\">");
  hm_field(s, b, HTTP_M_ms_col_sector, m->sector);
  hm_field(s, b, HTTP_M_ms_f_description, m->description);
  hm_field(s, b, HTTP_M_ms_col_responsible, m->responsible);
  hm_field(s, b, HTTP_M_ms_f_partners, m->partners);
  hm_field(s, b, HTTP_M_ms_f_target_group, m->target_group);
  hm_field(s, b, HTTP_M_ms_f_source, m->source);
  hm_field(s, b, HTTP_M_ms_f_priority, m->priority);
  hm_date(s, m->planned_start, x, sizeof x);
  hm_date(s, m->planned_end, y, sizeof y);
  snprintf(t, sizeof t, "%s – %s", x, y);
  hm_field(s, b, HTTP_M_ms_f_planned_dates, t);
  if (m->actual_start[0] || m->actual_end[0]) {
    hm_date(s, m->actual_start, x, sizeof x);
    hm_date(s, m->actual_end, y, sizeof y);
    snprintf(t, sizeof t, "%s – %s", x, y);
    hm_field(s, b, HTTP_M_ms_f_actual_dates, t);
  }
  if (isnan(m->planned_t) && m->planned_class)
    snprintf(t, sizeof t, "%s",
             http_t(&s->reg, hm_class_msg[m->planned_class]));
  else {
    hm_t(s, m->planned_t, x, sizeof x);
    snprintf(t, sizeof t, "%s t CO₂e/a", x);
  }
  hm_field(s, b, HTTP_M_ms_col_planned_short, t);
  if (!isnan(m->budget) || !isnan(m->spent)) {
    hm_eur(s, m->budget, x, sizeof x);
    hm_eur(s, m->spent, y, sizeof y);
    snprintf(t, sizeof t, "%s / %s", x, y);
    hm_field(s, b, HTTP_M_ms_f_budget_spent, t);
  }
  if (m->nind) {
    kk_buf_puts(b, "<dt>");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_f_indicators));
    kk_buf_puts(b, "</dt><dd>");
    for (size_t k = 0; k < m->nind; k++) {
      const char *slash = strchr(m->ind[k], '/');
      char thing[200];
      snprintf(thing, sizeof thing, "%.*s", (int)(slash - m->ind[k]),
               m->ind[k]);
      kk_buf_puts(b, k ? ", <a href=\"/things/" : "<a href=\"/things/");
      kk_buf_url(b, thing);
      kk_buf_puts(b, "\">");
      kk_buf_html(b, m->ind[k]);
      kk_buf_puts(b, "</a>");
    }
    snprintf(t, sizeof t, "%d–%d", m->base_from, m->base_to);
    kk_buf_puts(b, "</dd>");
    hm_field(s, b, HTTP_M_ms_f_baseline, t);
  }
  if (m->updated_ms) {
    http_date(&s->reg, s->tz, m->updated_ms, HTTP_M_fmt_datetime, x, sizeof x);
    hm_field(s, b, HTTP_M_ms_f_updated, x);
  }
  kk_buf_puts(b, "</dl>");
}

/* Every year from the first with data or expectation up to this one. */
static void hm_years(http_state_t *s, kk_buf_t *b, const cat_measure_t *m) {
  int now = hm_this_year(s), from = calc_cat_start_year(m), to = now;
  for (size_t k = 0; k < m->nyears; k++) {
    const cat_year_t *y = &m->years[k];
    int has = !isnan(calc_cat_achieved(m, y, NULL)) || !isnan(y->impact);
    if (has && (!from || y->year < from)) from = y->year;
    if (has && y->year > to) to = y->year;
  }
  kk_buf_puts(b, "<h3>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_years_title));
  kk_buf_puts(b, "</h3>");
  if (!from || to - from > 80) {
    kk_buf_puts(b, "<p>");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_years_none));
    kk_buf_puts(b, "</p>");
    return;
  }
  size_t n = (size_t)(to - from + 1);
  int64_t *t = calloc(2 * n, sizeof *t);
  double *v = calloc(2 * n, sizeof *v);
  if (!t || !v) {
    free(t);
    free(v);
    b->oom = 1;
    return;
  }
  size_t na = 0, ne = 0;
  int64_t *et = t + n;
  double *ev = v + n;
  kk_buf_t rows = {0};
  int any = 0;
  for (int yr = from; yr <= to; yr++) {
    const cat_year_t *y = NULL;
    for (size_t k = 0; k < m->nyears; k++)
      if (m->years[k].year == yr) y = &m->years[k];
    char how = 0;
    double ach = y ? calc_cat_achieved(m, y, &how) : NAN;
    double exp = calc_cat_expected(m, yr);
    double imp = y ? y->impact : NAN;
    if (isnan(ach) && isnan(exp) && isnan(imp)) continue;
    any = 1;
    int64_t ms = hm_year_ms(s, yr) + 182 * KK_DAY_MS;
    if (!isnan(ach)) t[na] = ms, v[na++] = ach;
    if (!isnan(exp)) et[ne] = ms, ev[ne++] = exp;
    char yl[48], e[48], a[48], sh[32] = "–", mi[64] = "–";
    hm_year_label(s, yr, yl, sizeof yl);
    hm_t(s, exp, e, sizeof e);
    hm_t(s, ach, a, sizeof a);
    if (!isnan(ach) && !isnan(exp) && exp != 0) {
      http_num(&s->reg, ach / exp * 100, 0, sh, sizeof sh);
      strcat(sh, " %");
    }
    if (!isnan(imp))
      http_value_text(s, imp, m->unit[0] ? m->unit : "1", mi, sizeof mi);
    kk_buf_printf(&rows, "<tr data-year=\"%d\"><th scope=\"row\">", yr);
    kk_buf_html(&rows, yl);
    kk_buf_puts(&rows, "</th>");
    hm_td(s, &rows, "num", HTTP_M_ms_col_expected_t, e);
    hm_td(s, &rows, ach < 0 ? "num neg" : "num", HTTP_M_ms_col_achieved_t, a);
    hm_td(s, &rows, "", HTTP_M_ms_col_basis,
          how == 'm'   ? http_t(&s->reg, HTTP_M_ms_basis_metered)
          : how == 'r' ? http_t(&s->reg, HTTP_M_ms_basis_reported)
                       : "–");
    hm_td(s, &rows, "num", HTTP_M_col_share, sh);
    if (m->nind)
      hm_td(s, &rows, imp < 0 ? "num neg" : "num", HTTP_M_ms_col_metered, mi);
    kk_buf_puts(&rows, "</tr>");
  }
  if (!any) {
    kk_buf_puts(b, "<p>");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_years_none));
    kk_buf_puts(b, "</p>");
  } else {
    if (na) {
      kk_buf_t tb = {0};
      http_say(&tb, &s->reg, 0, HTTP_M_ms_chart, m->title, NULL);
      http_chart_t c = {.reg = &s->reg,
                        .title = tb.p ? tb.p : m->id,
                        .unit = "t CO₂e",
                        .tz = s->tz,
                        .from_ms = hm_year_ms(s, from),
                        .to_ms = hm_year_ms(s, to + 1),
                        .xy_t = t,
                        .xy_v = v,
                        .xy_n = na,
                        .ref_t = et,
                        .ref_v = ev,
                        .ref_n = ne,
                        .ref_label =
                            http_t(&s->reg, HTTP_M_col_expected_impact)};
      kk_buf_puts(b, "<figure class=\"impact\">");
      http_chart_svg(b, &c);
      kk_buf_puts(b, "</figure>");
      kk_buf_free(&tb);
    }
    kk_buf_puts(b, "<table class=\"stack years\"><thead><tr>");
    hm_th(s, b, HTTP_M_col_year);
    hm_th(s, b, HTTP_M_ms_col_expected_t);
    hm_th(s, b, HTTP_M_ms_col_achieved_t);
    hm_th(s, b, HTTP_M_ms_col_basis);
    hm_th(s, b, HTTP_M_col_share);
    if (m->nind) hm_th(s, b, HTTP_M_ms_col_metered);
    kk_buf_puts(b, "</tr></thead><tbody>");
    kk_buf_put(b, rows.p ? rows.p : "", rows.len);
    kk_buf_puts(b, "</tbody></table>");
  }
  if (rows.oom) b->oom = 1;
  kk_buf_free(&rows);
  free(t);
  free(v);
}

/* The indicators' yearly sum against the baseline mean. */
static void hm_indicator_chart(http_state_t *s, kk_buf_t *b,
                               const cat_measure_t *m) {
  if (!m->nind || !m->nyears) return;
  int64_t t[CAT_MAX_YEARS], rt[2];
  double v[CAT_MAX_YEARS], rv[2], base = 0;
  size_t n = 0;
  int nb = 0;
  for (size_t k = 0; k < m->nyears; k++) {
    const cat_year_t *y = &m->years[k];
    if (isnan(y->actual)) continue;
    t[n] = hm_year_ms(s, y->year) + 182 * KK_DAY_MS;
    v[n++] = y->actual;
    if (y->year >= m->base_from && y->year <= m->base_to) {
      base += y->actual;
      nb++;
    }
  }
  if (!n) return;
  const char *unit = http_unit_label(&s->reg, m->unit[0] ? m->unit : "1");
  kk_buf_t tb = {0};
  http_say(&tb, &s->reg, 0, HTTP_M_ms_chart_ind, m->title, unit, NULL);
  int y0 = m->years[0].year, y1 = m->years[m->nyears - 1].year;
  rt[0] = hm_year_ms(s, y0);
  rt[1] = hm_year_ms(s, y1 + 1);
  rv[0] = rv[1] = nb ? base / nb : NAN;
  http_chart_t c = {.reg = &s->reg,
                    .title = tb.p ? tb.p : m->id,
                    .unit = unit,
                    .tz = s->tz,
                    .from_ms = rt[0],
                    .to_ms = rt[1],
                    .xy_t = t,
                    .xy_v = v,
                    .xy_n = n,
                    .ref_t = rt,
                    .ref_v = rv,
                    .ref_n = nb ? 2 : 0,
                    .ref_label = http_t(&s->reg, HTTP_M_ms_f_baseline)};
  kk_buf_puts(b, "<h3>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_f_indicators));
  kk_buf_puts(b, "</h3><figure class=\"indicators\">");
  http_chart_svg(b, &c);
  kk_buf_puts(b, "</figure>");
  kk_buf_free(&tb);
}

/* The stored change ("status: late → on_time; completion %: 70 → 85")
 * in the page's language. */
static int hm_key(const char *const *keys, int n, const char *k, size_t len) {
  for (int i = 0; i < n; i++)
    if (strlen(keys[i]) == len && strncmp(keys[i], k, len) == 0) return i;
  return -1;
}

static void hm_change(http_state_t *s, kk_buf_t *b, const char *sum) {
  const char *p = sum;
  while (*p) {
    const char *e = strstr(p, "; ");
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char item[256];
    snprintf(item, sizeof item, "%.*s", (int)len, p);
    char *arrow = strstr(item, " → ");
    const struct {
      const char *prefix;
      http_msg_t label;
      const char *const *keys;
      int nkeys;
      const http_msg_t *msgs;
    } kinds[] = {
        {"status: ", HTTP_M_ms_col_status, cat_status_keys, CAT_ST_N,
         hm_status_msg},
        {"phase: ", HTTP_M_ms_col_phase, cat_phase_keys, CAT_PH_N,
         hm_phase_msg},
        {"completion %: ", HTTP_M_ms_col_completion, NULL, 0, NULL},
        {"spent EUR: ", HTTP_M_ms_col_spent, NULL, 0, NULL},
        {"budget EUR: ", HTTP_M_ms_col_budget, NULL, 0, NULL},
        {"actual_start: ", HTTP_M_ms_ch_actual_start, NULL, 0, NULL},
        {"actual_end: ", HTTP_M_ms_ch_actual_end, NULL, 0, NULL},
        {"reported ", HTTP_M_ms_ch_reported, NULL, 0, NULL},
    };
    int done = 0;
    if (strcmp(item, "confirmed unchanged") == 0) {
      kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_ch_confirmed));
      done = 1;
    }
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds && !done; k++) {
      size_t pl = strlen(kinds[k].prefix);
      if (strncmp(item, kinds[k].prefix, pl) != 0) continue;
      done = 1;
      kk_buf_html(b, http_t(&s->reg, kinds[k].label));
      if (k == 7) { /* "reported 2026: 40 t CO2e" */
        kk_buf_puts(b, " ");
        kk_buf_html(b, item + pl);
        break;
      }
      kk_buf_puts(b, ": ");
      if (!kinds[k].keys) {
        kk_buf_html(b, item + pl);
        break;
      }
      const char *a = item + pl;
      size_t al = arrow ? (size_t)(arrow - a) : strlen(a);
      int ia = hm_key(kinds[k].keys, kinds[k].nkeys, a, al);
      int ib =
          arrow ? hm_key(kinds[k].keys, kinds[k].nkeys, arrow + strlen(" → "),
                         strlen(arrow + strlen(" → ")))
                : -1;
      kk_buf_html(b, ia >= 0 ? http_t(&s->reg, kinds[k].msgs[ia]) : a);
      if (arrow) {
        kk_buf_puts(b, " → ");
        kk_buf_html(b, ib >= 0 ? http_t(&s->reg, kinds[k].msgs[ib])
                               : arrow + strlen(" → "));
      }
    }
    if (!done) kk_buf_html(b, item);
    if (!e) break;
    kk_buf_puts(b, "; ");
    p = e + 2;
  }
}

static void hm_history(http_state_t *s, kk_buf_t *b, const cat_measure_t *m) {
  kk_buf_puts(b, "<h3>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_history_title));
  kk_buf_puts(b, "</h3>");
  if (!m->nhist) {
    kk_buf_puts(b, "<p>");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_history_none));
    kk_buf_puts(b, "</p>");
    return;
  }
  kk_buf_puts(b, "<table class=\"stack history\"><thead><tr>");
  hm_th(s, b, HTTP_M_ms_col_time);
  hm_th(s, b, HTTP_M_ms_col_author);
  hm_th(s, b, HTTP_M_ms_col_change);
  hm_th(s, b, HTTP_M_ms_col_note);
  kk_buf_puts(b, "</tr></thead><tbody>");
  for (size_t k = m->nhist; k-- > 0;) {
    const cat_hist_t *h = &m->hist[k];
    char when[48];
    http_date(&s->reg, s->tz, h->time_ms, HTTP_M_fmt_datetime, when,
              sizeof when);
    kk_buf_puts(b, "<tr><th scope=\"row\">");
    kk_buf_html(b, when);
    kk_buf_puts(b, "</th>");
    hm_td(s, b, "", HTTP_M_ms_col_author, h->author);
    hm_td_open(s, b, "", HTTP_M_ms_col_change);
    hm_change(s, b, h->summary);
    kk_buf_puts(b, "</td>");
    hm_td(s, b, "", HTTP_M_ms_col_note, h->note ? h->note : "");
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table>");
}

void http_page_measure(http_state_t *s, h2o_req_t *req, const char *path) {
  const char *id = path + strlen("/measures/");
  cat_measure_t *m = NULL;
  for (calc_cat_t *c = calc_cat_first(); c && !m; c = calc_cat_next(c))
    m = calc_cat_find(c, id);
  if (!m) {
    http_page_not_found(s, req, HTTP_M_ms_no_measure);
    return;
  }
  kk_buf_t b = {0};
  char title[200];
  snprintf(title, sizeof title, "%s %s", m->id, m->title);
  http_page_head(s, &b, title, 0);
  kk_buf_puts(&b, hm_css);
  kk_buf_puts(&b, "<p><a href=\"/measures\">← ");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_ms_back));
  kk_buf_puts(&b, "</a></p><h2>");
  kk_buf_html(&b, m->id);
  kk_buf_puts(&b, " – ");
  kk_buf_html(&b, m->title);
  kk_buf_puts(&b, "</h2><p class=\"state\">");
  hm_light_html(s, &b, m);
  kk_buf_puts(&b, " · ");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_ms_col_phase));
  kk_buf_puts(&b, ": ");
  kk_buf_html(&b, http_t(&s->reg, hm_phase_msg[m->phase]));
  if (!isnan(m->completion)) {
    char c[32];
    http_num(&s->reg, m->completion, 0, c, sizeof c);
    kk_buf_puts(&b, " · ");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_ms_col_completion));
    kk_buf_printf(&b,
                  ": <span class=\"bar\" style=\"width:%.1frem\"></span> %s %%",
                  m->completion / 100 * 6, c);
  }
  kk_buf_puts(&b, "</p>");
  hm_fields(s, &b, m);
  hm_years(s, &b, m);
  hm_indicator_chart(s, &b, m);
  hm_history(s, &b, m);
  kk_buf_puts(&b, "<p class=\"muted\">");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_ms_update_hint));
  kk_buf_puts(&b, "</p>");
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}

void http_api_measures(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  kk_buf_puts(&b, "{\"catalogues\":[");
  for (calc_cat_t *c = calc_cat_first(); c; c = calc_cat_next(c)) {
    kk_buf_puts(&b, c == calc_cat_first() ? "{\"stage\":\"" : ",{\"stage\":\"");
    kk_buf_json(&b, c->name);
    kk_buf_puts(&b, "\",\"measures\":");
    calc_cat_json(c, &b, 1);
    kk_buf_puts(&b, "}");
  }
  kk_buf_puts(&b, "]}\n");
  http_respond(s, req, 200, "application/json", &b);
}
