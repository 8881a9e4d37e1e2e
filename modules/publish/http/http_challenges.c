/*
 * modules/publish/http/http_challenges.c - /challenges: the public
 * leaderboard of the Klima-Challenges (calc.challenges, found through
 * calc/calc_challenges.h).  Only teams (with at least the stage's
 * min_team participants) and districts appear, never a participant;
 * every rule is shown with its points and its CO2e factor and source, so
 * a reader can recompute each figure.  Loop thread.
 */
#include "publish/http/http_measures.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "calc/calc_challenges.h"

static const char hc_css[] =
    "<style>table.board td.rank{width:3rem}table.board td.num{white-space:"
    "nowrap}ol.rules{padding-left:1.2rem}"
    "ol.rules li{margin-bottom:.4rem}.privacy{background:#eef4f1;"
    "padding:.6rem;border:1px solid #cfe0d8}</style>";

static void hc_th(http_state_t *s, kk_buf_t *b, http_msg_t m) {
  kk_buf_puts(b, "<th scope=\"col\">");
  kk_buf_html(b, http_t(&s->reg, m));
  kk_buf_puts(b, "</th>");
}

static void hc_td(http_state_t *s, kk_buf_t *b, const char *cls, http_msg_t m,
                  const char *text) {
  kk_buf_printf(b, "<td class=\"%s\" data-label=\"", cls);
  kk_buf_html(b, http_t(&s->reg, m));
  kk_buf_puts(b, "\">");
  kk_buf_html(b, text);
  kk_buf_puts(b, "</td>");
}

static const char *hc_type(http_state_t *s, const char *type) {
  if (strcmp(type, "school_class") == 0)
    return http_t(&s->reg, HTTP_M_ch_type_school_class);
  if (strcmp(type, "company") == 0)
    return http_t(&s->reg, HTTP_M_ch_type_company);
  if (strcmp(type, "district") == 0)
    return http_t(&s->reg, HTTP_M_ch_type_district);
  if (strcmp(type, "club") == 0) return http_t(&s->reg, HTTP_M_ch_type_club);
  return type;
}

static void hc_table(http_state_t *s, kk_buf_t *b, const calc_board_t *bd,
                     const ch_row_t *rows, size_t n, int teams) {
  kk_buf_printf(b, "<table class=\"stack board %s\"><thead><tr>",
                teams ? "teams" : "districts");
  hc_th(s, b, HTTP_M_ch_col_rank);
  hc_th(s, b, teams ? HTTP_M_ch_col_team : HTTP_M_ch_col_district);
  if (teams) {
    hc_th(s, b, HTTP_M_ch_col_type);
    hc_th(s, b, HTTP_M_ch_col_district);
  }
  hc_th(s, b, HTTP_M_ch_col_participants);
  for (size_t k = 0; k < bd->nrules; k++) {
    kk_buf_puts(b, "<th scope=\"col\">");
    kk_buf_html(b, bd->rules[k].title);
    kk_buf_puts(b, "</th>");
  }
  hc_th(s, b, HTTP_M_ch_col_points);
  hc_th(s, b, HTTP_M_ch_col_co2);
  kk_buf_puts(b, "</tr></thead><tbody>");
  for (size_t i = 0; i < n; i++) {
    const ch_row_t *r = &rows[i];
    char num[64];
    kk_buf_printf(b, "<tr><td class=\"rank num\" data-label=\"");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_ch_col_rank));
    kk_buf_printf(b, "\">%zu</td><th scope=\"row\">", i + 1);
    kk_buf_html(b, r->name);
    kk_buf_puts(b, "</th>");
    if (teams) {
      hc_td(s, b, "", HTTP_M_ch_col_type, hc_type(s, r->type));
      hc_td(s, b, "", HTTP_M_ch_col_district, r->district);
    }
    snprintf(num, sizeof num, "%zu", r->participants);
    hc_td(s, b, "num", HTTP_M_ch_col_participants, num);
    for (size_t k = 0; k < bd->nrules; k++) {
      char a[48], p[48];
      http_num(&s->reg, r->rule_amount[k],
               bd->rules[k].kind == CH_ACTION ? 0 : 1, a, sizeof a);
      http_num(&s->reg, r->rule_points[k], 0, p, sizeof p);
      kk_buf_puts(b, "<td class=\"num\" data-label=\"");
      kk_buf_html(b, bd->rules[k].title);
      kk_buf_puts(b, "\">");
      kk_buf_html(b, a);
      if (*bd->rules[k].unit_label) {
        kk_buf_puts(b, " ");
        kk_buf_html(b, bd->rules[k].unit_label);
      }
      kk_buf_puts(b, "<br><span class=\"muted\">");
      kk_buf_html(b, p);
      kk_buf_puts(b, " P</span></td>");
    }
    http_num(&s->reg, r->points, 0, num, sizeof num);
    hc_td(s, b, "num", HTTP_M_ch_col_points, num);
    http_num(&s->reg, r->co2e_kg, 1, num, sizeof num);
    hc_td(s, b, "num", HTTP_M_ch_col_co2, num);
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table>");
}

static void hc_rules(http_state_t *s, kk_buf_t *b, const calc_board_t *bd) {
  kk_buf_puts(b, "<h3>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_ch_rules_title));
  kk_buf_puts(b, "</h3><ol class=\"rules\">");
  for (size_t k = 0; k < bd->nrules; k++) {
    const ch_rule_t *r = &bd->rules[k];
    char from[32], to[32], pp[32], fa[32];
    http_date(&s->reg, s->tz, r->from, HTTP_M_fmt_date, from, sizeof from);
    http_date(&s->reg, s->tz, r->to - 1, HTTP_M_fmt_date, to, sizeof to);
    http_num(&s->reg, r->points_per,
             r->points_per == (long)r->points_per ? 0 : -1, pp, sizeof pp);
    http_num(&s->reg, r->factor, r->factor == 0 ? 0 : 3, fa, sizeof fa);
    const char *unit = r->kind == CH_ENERGY ? "kWh"
                       : r->kind == CH_CYCLING
                           ? "km"
                           : http_t(&s->reg, HTTP_M_ch_unit_action);
    kk_buf_puts(b, "<li><strong>");
    kk_buf_html(b, r->title);
    kk_buf_puts(b, "</strong> (");
    kk_buf_html(b, from);
    kk_buf_puts(b, " – ");
    kk_buf_html(b, to);
    kk_buf_puts(b, "): ");
    http_say(b, &s->reg, 1,
             r->kind == CH_ENERGY    ? HTTP_M_ch_rule_energy
             : r->kind == CH_CYCLING ? HTTP_M_ch_rule_cycling
                                     : HTTP_M_ch_rule_action,
             pp, unit, fa, NULL);
    kk_buf_puts(b, " ");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_ch_factor_source));
    kk_buf_puts(b, " ");
    kk_buf_html(b, r->factor_source);
    kk_buf_puts(b, "</li>");
  }
  kk_buf_puts(b, "</ol>");
}

void http_page_challenges(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_ch_title), 0);
  kk_buf_puts(&b, hc_css);
  kk_buf_puts(&b, "<h2>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_ch_title));
  kk_buf_puts(&b, "</h2>");
  if (!calc_board_first()) {
    kk_buf_puts(&b, "<p>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_ch_none));
    kk_buf_puts(&b, "</p>");
  }
  for (calc_board_t *bd = calc_board_first(); bd; bd = calc_board_next(bd)) {
    char np[32], mt[32];
    snprintf(np, sizeof np, "%zu", bd->participants);
    snprintf(mt, sizeof mt, "%zu", bd->min_team);
    kk_buf_puts(&b, "<p>");
    http_say(&b, &s->reg, 1, HTTP_M_ch_intro, np, NULL);
    kk_buf_puts(&b, "</p><h3>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_ch_teams));
    kk_buf_puts(&b, "</h3>");
    hc_table(s, &b, bd, bd->teams, bd->nteams, 1);
    if (bd->hidden_teams) {
      char h[32];
      snprintf(h, sizeof h, "%zu", bd->hidden_teams);
      kk_buf_puts(&b, "<p class=\"muted\">");
      http_say(&b, &s->reg, 1, HTTP_M_ch_hidden, h, mt, NULL);
      kk_buf_puts(&b, "</p>");
    }
    kk_buf_puts(&b, "<h3>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_ch_districts));
    kk_buf_puts(&b, "</h3>");
    hc_table(s, &b, bd, bd->districts, bd->ndistricts, 0);
    hc_rules(s, &b, bd);
    char end[32], days[32];
    http_date(&s->reg, s->tz, bd->end_ms - 1, HTTP_M_fmt_date, end, sizeof end);
    snprintf(days, sizeof days, "%lld",
             (long long)(bd->retention_ms / KK_DAY_MS));
    kk_buf_puts(&b, "<p class=\"privacy\">");
    http_say(&b, &s->reg, 1,
             bd->purged         ? HTTP_M_ch_privacy_purged
             : bd->retention_ms ? HTTP_M_ch_privacy
                                : HTTP_M_ch_privacy_kept,
             mt, bd->purged ? end : days, end, NULL);
    kk_buf_puts(&b, "</p>");
  }
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}
