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
#include "publish/http/http_balance_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the page part -------------------------------------------------- */

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
                st > 0 ? " class=\"partial\"" : "", y->year);
  if (st < 0) { /* nobody said: the page does not guess */
    bal_cell(s, b, "muted", HTTP_M_bal_col_status, "–");
    return st;
  }
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
    bal_number(s, y->f[BAL_F_TOTAL], -1, num, sizeof num);
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
      bal_number(s, y->f[BAL_F_PATH], -1, num, sizeof num);
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
      /* A fragment of the town corrected is still a fragment. */
      bal_number(s, st == 2 ? NAN : y->f[BAL_F_WEATHER], -1, num, sizeof num);
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
      bal_number(s, y->f[BAL_F_SEC + k], -1, num, sizeof num);
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
