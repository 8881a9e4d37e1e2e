/*
 * modules/publish/http/http_measures.c - the measures tracker's overview
 * /measures: every measure by Handlungsfeld with its schedule light,
 * phase, completion and planned against achieved t CO2e, sums per field
 * and in all, filters by GET query that work without JavaScript; and the
 * helpers the measure page (http_measure.c) shares.
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
const char http_ms_css[] =
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
    "@media (max-width:40rem){td.num{white-space:normal}"
    "table.stack td,table.stack th{flex-wrap:wrap;overflow-wrap:anywhere}"
    "table.stack th span{text-align:right}dl.fields{grid-template-columns:1fr}"
    "dl.fields dd{margin-bottom:.4rem}form.filter label{width:100%}}"
    "</style>";

const http_msg_t http_ms_status_msg[CAT_ST_N] = {
    HTTP_M_ms_status_unknown, HTTP_M_ms_status_on_time, HTTP_M_ms_status_late,
    HTTP_M_ms_status_cancelled};
const http_msg_t http_ms_phase_msg[CAT_PH_N] = {
    HTTP_M_ms_phase_unknown, HTTP_M_ms_phase_not_started,
    HTTP_M_ms_phase_planning, HTTP_M_ms_phase_implementation,
    HTTP_M_ms_phase_completed};
const http_msg_t http_ms_class_msg[CAT_CL_N] = {
    HTTP_M_ms_class_high, HTTP_M_ms_class_high,     HTTP_M_ms_class_medium,
    HTTP_M_ms_class_low,  HTTP_M_ms_class_indirect, HTTP_M_ms_class_zero};

void http_ms_th(http_state_t *s, kk_buf_t *b, http_msg_t m) {
  kk_buf_puts(b, "<th scope=\"col\">");
  kk_buf_html(b, http_t(&s->reg, m));
  kk_buf_puts(b, "</th>");
}

void http_ms_td_open(http_state_t *s, kk_buf_t *b, const char *cls,
                     http_msg_t label) {
  kk_buf_printf(b, "<td class=\"%s\" data-label=\"", cls);
  kk_buf_html(b, http_t(&s->reg, label));
  kk_buf_puts(b, "\">");
}

void http_ms_td(http_state_t *s, kk_buf_t *b, const char *cls, http_msg_t label,
                const char *text) {
  http_ms_td_open(s, b, cls, label);
  kk_buf_html(b, text);
  kk_buf_puts(b, "</td>");
}

/* The light of a measure: completed phase dark green, else by schedule. */
int http_ms_light(const cat_measure_t *m) {
  if (m->phase == CAT_PH_COMPLETED && m->status != CAT_ST_CANCELLED) return 4;
  return (int)m->status;
}

void http_ms_light_html(http_state_t *s, kk_buf_t *b, const cat_measure_t *m) {
  kk_buf_printf(b,
                "<span><span class=\"light l%d\" aria-hidden=\"true\"></span>",
                http_ms_light(m));
  kk_buf_html(b, http_t(&s->reg, m->phase == CAT_PH_COMPLETED &&
                                         m->status != CAT_ST_CANCELLED
                                     ? HTTP_M_ms_phase_completed
                                     : http_ms_status_msg[m->status]));
  kk_buf_puts(b, "</span>");
}

/* t with one decimal below 100, none above; "–" for NaN. */
void http_ms_t(http_state_t *s, double v, char *buf, size_t len) {
  if (isnan(v)) {
    snprintf(buf, len, "–");
    return;
  }
  http_num(&s->reg, v, fabs(v) < 100 ? 1 : 0, buf, len);
}

void http_ms_eur(http_state_t *s, double v, char *buf, size_t len) {
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
void http_ms_date(http_state_t *s, const char *d, char *buf, size_t len) {
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

int http_ms_this_year(http_state_t *s) {
  struct tm tm;
  kk_tz_local(s->tz, kk_floor_div(kk_now_ms(), 1000), &tm);
  return tm.tm_year + 1900;
}

int64_t http_ms_year_ms(http_state_t *s, int y) {
  int64_t t = kk_days_from_civil(y, 1, 1) * KK_DAY_MS;
  return t - (int64_t)kk_tz_offset(s->tz, t / 1000) * 1000;
}

/* The year as a label, "(unvollständig)" while it runs. */
void http_ms_year_label(http_state_t *s, int y, char *buf, size_t len) {
  char yy[16];
  snprintf(yy, sizeof yy, "%d", y);
  if (y < http_ms_this_year(s)) {
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
  u->lights[http_ms_light(m)]++;
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
  http_ms_t(s, u->planned, p, sizeof p);
  http_ms_t(s, u->achieved, a, sizeof a);
  http_ms_eur(s, u->budget, bu, sizeof bu);
  http_ms_eur(s, u->spent, sp, sizeof sp);
  if (u->ncompletion)
    http_num(&s->reg, u->completion / (double)u->ncompletion, 0, c, sizeof c);
  kk_buf_puts(b, "<tr class=\"sums\"><th scope=\"row\">");
  kk_buf_html(b, label);
  kk_buf_puts(b, "</th>");
  http_ms_td(s, b, "num", HTTP_M_ms_col_count, n);
  http_ms_td_open(s, b, "", HTTP_M_ms_col_lights);
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
  http_ms_td(s, b, "num", HTTP_M_ms_col_planned, p);
  http_ms_td_open(s, b, "num", HTTP_M_ms_col_achieved);
  kk_buf_html(b, a);
  kk_buf_puts(b, "</td>");
  http_ms_td(s, b, "num", HTTP_M_ms_col_completion_avg, c);
  http_ms_td(s, b, "num", HTTP_M_ms_col_budget, bu);
  http_ms_td(s, b, "num", HTTP_M_ms_col_spent, sp);
  kk_buf_puts(b, "</tr>");
  (void)year;
}

static void hm_measure_row(http_state_t *s, kk_buf_t *b, const cat_measure_t *m,
                           int year) {
  char p[64], a[48], c[32] = "–";
  kk_buf_puts(b, "<tr><th scope=\"row\" data-label=\"");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_col_measure));
  kk_buf_puts(b, "\"><span><a href=\"/measures/");
  kk_buf_url(b, m->id);
  kk_buf_puts(b, "\">");
  kk_buf_html(b, m->id);
  kk_buf_puts(b, "</a> ");
  kk_buf_html(b, m->title);
  kk_buf_puts(b, "</span></th>");
  http_ms_td_open(s, b, "", HTTP_M_ms_col_status);
  http_ms_light_html(s, b, m);
  kk_buf_puts(b, "</td>");
  http_ms_td(s, b, "", HTTP_M_ms_col_phase,
             http_t(&s->reg, http_ms_phase_msg[m->phase]));
  http_ms_td_open(s, b, "num", HTTP_M_ms_col_completion);
  if (!isnan(m->completion)) {
    http_num(&s->reg, m->completion, 0, c, sizeof c);
    kk_buf_printf(b,
                  "<span class=\"bar\" style=\"width:%.1frem\"></span> %s %%",
                  m->completion / 100 * 4, c);
  } else
    kk_buf_puts(b, "–");
  kk_buf_puts(b, "</td>");
  http_ms_td(s, b, "", HTTP_M_ms_col_responsible, m->responsible);
  if (isnan(m->planned_t) && m->planned_class)
    snprintf(p, sizeof p, "%s",
             http_t(&s->reg, http_ms_class_msg[m->planned_class]));
  else
    http_ms_t(s, m->planned_t, p, sizeof p);
  http_ms_td(s, b, isnan(m->planned_t) ? "muted" : "num", HTTP_M_ms_col_planned,
             p);
  double av = hm_achieved_year(m, year);
  http_ms_t(s, av, a, sizeof a);
  http_ms_td(s, b, av < 0 ? "num neg" : "num", HTTP_M_ms_col_achieved, a);
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
    hm_option(b, cat_status_keys[k], http_t(&s->reg, http_ms_status_msg[k]),
              f->status == k);
  kk_buf_puts(b, "</select></label><label>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ms_col_phase));
  kk_buf_puts(b, "<select name=\"phase\">");
  hm_option(b, "", all, f->phase < 0);
  for (int k = 0; k < CAT_PH_N; k++)
    hm_option(b, cat_phase_keys[k], http_t(&s->reg, http_ms_phase_msg[k]),
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
  http_ms_th(s, b, HTTP_M_col_measure);
  http_ms_th(s, b, HTTP_M_ms_col_status);
  http_ms_th(s, b, HTTP_M_ms_col_phase);
  http_ms_th(s, b, HTTP_M_ms_col_completion);
  http_ms_th(s, b, HTTP_M_ms_col_responsible);
  http_ms_th(s, b, HTTP_M_ms_col_planned);
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
  int year = http_ms_this_year(s) - 1; /* the last whole year */
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_nav_measures), 0);
  kk_buf_puts(&b, http_ms_css);
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
  http_ms_th(s, &b, HTTP_M_ms_col_sector);
  http_ms_th(s, &b, HTTP_M_ms_col_count);
  http_ms_th(s, &b, HTTP_M_ms_col_lights);
  http_ms_th(s, &b, HTTP_M_ms_col_planned);
  kk_buf_puts(&b, "<th scope=\"col\">");
  http_say(&b, &s->reg, 1, HTTP_M_ms_col_achieved_year, ys, NULL);
  kk_buf_puts(&b, "</th>");
  http_ms_th(s, &b, HTTP_M_ms_col_completion_avg);
  http_ms_th(s, &b, HTTP_M_ms_col_budget);
  http_ms_th(s, &b, HTTP_M_ms_col_spent);
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
