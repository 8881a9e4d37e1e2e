/*
 * modules/publish/http/http_measure.c - /measures/<id>: one measure with
 * its fields, every year's impact against the expectation (chart and
 * table; a negative year stays beside the others), the indicators per
 * year against their baseline, and the partner updates with time and
 * author; and /api/measures, the catalogues as JSON.  Loop thread.
 */
#include "publish/http/http_measures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc_catalogue.h"
#include "publish/http/http_chart.h"

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
  http_ms_date(s, m->planned_start, x, sizeof x);
  http_ms_date(s, m->planned_end, y, sizeof y);
  snprintf(t, sizeof t, "%s – %s", x, y);
  hm_field(s, b, HTTP_M_ms_f_planned_dates, t);
  if (m->actual_start[0] || m->actual_end[0]) {
    http_ms_date(s, m->actual_start, x, sizeof x);
    http_ms_date(s, m->actual_end, y, sizeof y);
    snprintf(t, sizeof t, "%s – %s", x, y);
    hm_field(s, b, HTTP_M_ms_f_actual_dates, t);
  }
  if (isnan(m->planned_t) && m->planned_class)
    snprintf(t, sizeof t, "%s",
             http_t(&s->reg, http_ms_class_msg[m->planned_class]));
  else {
    http_ms_t(s, m->planned_t, x, sizeof x);
    snprintf(t, sizeof t, "%s t CO₂e/a", x);
  }
  hm_field(s, b, HTTP_M_ms_col_planned_short, t);
  if (!isnan(m->budget) || !isnan(m->spent)) {
    http_ms_eur(s, m->budget, x, sizeof x);
    http_ms_eur(s, m->spent, y, sizeof y);
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
  int now = http_ms_this_year(s), from = calc_cat_start_year(m), to = now;
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
    int64_t ms = http_ms_year_ms(s, yr) + 182 * KK_DAY_MS;
    if (!isnan(ach)) t[na] = ms, v[na++] = ach;
    if (!isnan(exp)) et[ne] = ms, ev[ne++] = exp;
    char yl[48], e[48], a[48], sh[32] = "–", mi[64] = "–";
    http_ms_year_label(s, yr, yl, sizeof yl);
    http_ms_t(s, exp, e, sizeof e);
    http_ms_t(s, ach, a, sizeof a);
    if (!isnan(ach) && !isnan(exp) && exp != 0) {
      http_num(&s->reg, ach / exp * 100, 0, sh, sizeof sh);
      strcat(sh, " %");
    }
    if (!isnan(imp))
      http_value_text(s, imp, m->unit[0] ? m->unit : "1", mi, sizeof mi);
    kk_buf_printf(&rows, "<tr data-year=\"%d\"><th scope=\"row\">", yr);
    kk_buf_html(&rows, yl);
    kk_buf_puts(&rows, "</th>");
    http_ms_td(s, &rows, "num", HTTP_M_ms_col_expected_t, e);
    http_ms_td(s, &rows, ach < 0 ? "num neg" : "num", HTTP_M_ms_col_achieved_t,
               a);
    http_ms_td(s, &rows, "", HTTP_M_ms_col_basis,
               how == 'm'   ? http_t(&s->reg, HTTP_M_ms_basis_metered)
               : how == 'r' ? http_t(&s->reg, HTTP_M_ms_basis_reported)
                            : "–");
    http_ms_td(s, &rows, "num", HTTP_M_col_share, sh);
    if (m->nind)
      http_ms_td(s, &rows, imp < 0 ? "num neg" : "num", HTTP_M_ms_col_metered,
                 mi);
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
                        .from_ms = http_ms_year_ms(s, from),
                        .to_ms = http_ms_year_ms(s, to + 1),
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
    http_ms_th(s, b, HTTP_M_col_year);
    http_ms_th(s, b, HTTP_M_ms_col_expected_t);
    http_ms_th(s, b, HTTP_M_ms_col_achieved_t);
    http_ms_th(s, b, HTTP_M_ms_col_basis);
    http_ms_th(s, b, HTTP_M_col_share);
    if (m->nind) http_ms_th(s, b, HTTP_M_ms_col_metered);
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
    t[n] = http_ms_year_ms(s, y->year) + 182 * KK_DAY_MS;
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
  rt[0] = http_ms_year_ms(s, y0);
  rt[1] = http_ms_year_ms(s, y1 + 1);
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
         http_ms_status_msg},
        {"phase: ", HTTP_M_ms_col_phase, cat_phase_keys, CAT_PH_N,
         http_ms_phase_msg},
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
  http_ms_th(s, b, HTTP_M_ms_col_time);
  http_ms_th(s, b, HTTP_M_ms_col_author);
  http_ms_th(s, b, HTTP_M_ms_col_change);
  http_ms_th(s, b, HTTP_M_ms_col_note);
  kk_buf_puts(b, "</tr></thead><tbody>");
  for (size_t k = m->nhist; k-- > 0;) {
    const cat_hist_t *h = &m->hist[k];
    char when[48];
    http_date(&s->reg, s->tz, h->time_ms, HTTP_M_fmt_datetime, when,
              sizeof when);
    kk_buf_puts(b, "<tr><th scope=\"row\">");
    kk_buf_html(b, when);
    kk_buf_puts(b, "</th>");
    http_ms_td(s, b, "", HTTP_M_ms_col_author, h->author);
    http_ms_td_open(s, b, "", HTTP_M_ms_col_change);
    hm_change(s, b, h->summary);
    kk_buf_puts(b, "</td>");
    http_ms_td(s, b, "", HTTP_M_ms_col_note, h->note ? h->note : "");
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
  kk_buf_puts(&b, http_ms_css);
  kk_buf_puts(&b, "<p><a href=\"/measures\">← ");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_ms_back));
  kk_buf_puts(&b, "</a></p><h2>");
  kk_buf_html(&b, m->id);
  kk_buf_puts(&b, " – ");
  kk_buf_html(&b, m->title);
  kk_buf_puts(&b, "</h2><p class=\"state\">");
  http_ms_light_html(s, &b, m);
  kk_buf_puts(&b, " · ");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_ms_col_phase));
  kk_buf_puts(&b, ": ");
  kk_buf_html(&b, http_t(&s->reg, http_ms_phase_msg[m->phase]));
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
