/*
 * modules/publish/http/http_pages.c - the page frame every page shares
 * (language, navigation, styles for 360 to 1920 px, visible keyboard
 * focus), the overview (latest value per thing and quantity, CO₂ classes
 * of the Umweltbundesamt as words and colour, stale datastreams in grey
 * with their date), /api/latest, the 404 page and the gauges of
 * /metrics.  Every text comes from the message catalogue (http_i18n.h).
 * Plain HTML and SVG that work without JavaScript.  Runs on the loop
 * thread.
 */
#include "publish/http/http_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http_respond(http_state_t *s, h2o_req_t *req, int status,
                  const char *ctype, kk_buf_t *body) {
  if (status >= 400) kk_metric_add(s->m_errors, 1);
  if (s->cache_key && status == 200 && !body->oom)
    http_cache_put_page(s, s->cache_key, ctype, body);
  s->cache_key = NULL;
  net_httpd_respond(req, status, ctype, body,
                    strncmp(ctype, "application/json", 16) == 0 ? s->cors
                                                                : NULL);
}

int http_co2_class(double ppm) {
  return ppm > 2000 ? 3 : ppm >= 1000 ? 2 : 1;
}

int http_is_co2(const char *property, const char *unit) {
  return strcmp(property, "co2") == 0 &&
         (strcmp(unit, "ppm") == 0 || strcmp(unit, "[ppm]") == 0);
}

void http_value_text(http_state_t *s, double v, const char *unit, char *buf,
                     size_t len) {
  char num[48];
  /* Minutes and counts (unit 1) that are whole are written whole. */
  int whole = (strcmp(unit, "min") == 0 || strcmp(unit, "1") == 0) &&
              v == floor(v) && fabs(v) < 1e15;
  http_num(&s->reg, v, whole ? 0 : -1, num, sizeof num);
  const char *u = http_unit_label(&s->reg, unit);
  snprintf(buf, len, "%s%s%s", num, *u ? " " : "", u);
}

static const char http_css[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;"
    "background:#fafafa;line-height:1.45}a{color:#0b4f3c}"
    "header{background:#0b4f3c;color:#fff;padding:.8rem 1rem}"
    "header a{color:#fff}.skip{position:absolute;left:-9999px}"
    ".skip:focus{left:1rem;top:.5rem;background:#fff;color:#000;"
    "padding:.3rem .6rem}:focus-visible{outline:3px solid #f5b400;"
    "outline-offset:2px}main{padding:1rem;max-width:72rem;margin:auto}"
    "h1{font-size:1.3rem;margin:0}h2{font-size:1.15rem}h3{font-size:1.05rem;"
    "margin-bottom:.3rem}table{border-collapse:collapse;width:100%;"
    "background:#fff}th,td{text-align:left;padding:.4rem .5rem;"
    "border-bottom:1px solid #ddd;vertical-align:top}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".c1{background:#d8f0dc}.c2{background:#fff0b3}.c3{background:#f8c9c4}"
    ".stale,.stale a{color:#555;background:#e9e9e9}.muted{color:#555}"
    "header nav{margin-top:.4rem}header nav a{margin-right:1rem;"
    "display:inline-block;padding:.15rem 0}"
    ".range{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;"
    "margin:.6rem 0}.range a{padding:.2rem .1rem}.range a[aria-current]{"
    "font-weight:700;text-decoration:none;border-bottom:3px solid #0b4f3c}"
    ".range input,.range button{font:inherit;padding:.2rem .4rem}"
    ".chart{width:100%;height:auto;background:#fff;border:1px solid #ddd}"
    ".chart text{font-size:12px;fill:#333}.chart .axis line{stroke:#e3e3e3}"
    ".chart .frame{fill:none;stroke:#999}.chart .data{fill:none;"
    "stroke:#0b4f3c;stroke-width:2}.chart circle.data{fill:#0b4f3c}"
    ".chart rect.col{fill:#0b4f3c}.chart rect.col.partial{fill:#a9c4ba;"
    "stroke:#0b4f3c;stroke-dasharray:4 3}"
    ".chart .threshold line{stroke:#b3261e;stroke-dasharray:6 4}"
    ".chart .threshold text{fill:#b3261e}figure{margin:0 0 .5rem}"
    "figcaption{margin:.3rem 0}details{margin:.3rem 0 1.2rem}"
    ".bar{display:inline-block;height:.8rem;background:#0b4f3c}"
    ".chart .ref polyline{fill:none;stroke:#b3261e;stroke-width:2;"
    "stroke-dasharray:8 4}.chart .ref text{fill:#b3261e}"
    ".map{width:100%;height:auto;background:#fff;border:1px solid #ddd}"
    ".map .sea{fill:#f3f6f4}.map .outline{fill:#e6eee9;stroke:#6d8a7d;"
    "stroke-width:1.5}.map text{font-size:14px;fill:#1b1b1b;"
    "paint-order:stroke;stroke:#fff;stroke-width:3px}"
    ".m *{stroke:#1b1b1b;stroke-width:1.5}.m.c1 *{fill:#2e8540}"
    ".m.c2 *{fill:#f5b400}.m.c3 *{fill:#b3261e}.m.c0 *{fill:#6b6b6b}"
    ".m .stale{fill:#d0d0d0 !important;stroke:#555;stroke-dasharray:3 2}"
    ".map a:focus-visible .m *{stroke:#f5b400;stroke-width:4}"
    ".m>*{transform-box:fill-box;transform-origin:center}"
    ".legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;"
    "gap:.3rem 1.2rem}.legend svg{vertical-align:middle}"
    ".chips span{display:inline-block;padding:0 .35rem;margin:0 .2rem .2rem 0;"
    "border-radius:.2rem}"
    "@media (max-width:40rem){main{padding:.6rem}"
    ".map text{display:none}.map .m>*{scale:2.2}"
    "table.stack thead{position:absolute;left:-9999px}"
    "table.stack tr{display:block;border-bottom:2px solid #bbb;"
    "padding:.3rem 0}table.stack th,table.stack td{display:flex;"
    "justify-content:space-between;gap:1rem;border:0;padding:.15rem .4rem;"
    "text-align:right}table.stack [data-label]::before{"
    "content:attr(data-label);font-weight:600;text-align:left;color:#1b1b1b}"
    ".chart text{font-size:24px}.chart text.alt{display:none}}";

void http_page_head(http_state_t *s, kk_buf_t *b, const char *title,
                    int refresh) {
  kk_buf_printf(b,
                "<!doctype html><html lang=\"%s\"><head><meta "
                "charset=\"utf-8\"><meta name=\"viewport\" "
                "content=\"width=device-width, initial-scale=1\">",
                http_t(&s->reg, HTTP_M_lang));
  if (refresh && s->refresh_ms)
    kk_buf_printf(b, "<meta http-equiv=\"refresh\" content=\"%llu\">",
                  (unsigned long long)(s->refresh_ms / 1000));
  kk_buf_puts(b, "<title>");
  kk_buf_html(b, title);
  kk_buf_puts(b, " – ");
  kk_buf_html(b, s->title);
  kk_buf_puts(b, "</title><style>");
  kk_buf_puts(b, http_css);
  kk_buf_puts(b, "</style></head><body><a class=\"skip\" href=\"#main\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_skip_to_content));
  kk_buf_puts(b, "</a><header><h1><a href=\"/\">");
  kk_buf_html(b, s->title);
  kk_buf_puts(b, "</a></h1><nav aria-label=\"");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_nav_label));
  kk_buf_puts(b, "\">");
  static const struct {
    const char *href;
    http_msg_t label;
  } nav[] = {
      {"/", HTTP_M_nav_overview},       {"/karte", HTTP_M_nav_map},
      {"/indoor", HTTP_M_nav_indoor},   {"/climate", HTTP_M_nav_climate},
      {"/heat", HTTP_M_nav_heat},       {"/measures", HTTP_M_nav_measures},
      {"/quarter", HTTP_M_nav_quarter}, {"/challenges", HTTP_M_nav_challenges},
      {"/docs/", HTTP_M_nav_docs}};
  for (size_t i = 0; i < sizeof nav / sizeof *nav; i++) {
    if (nav[i].label == HTTP_M_nav_docs && !s->docs_root) continue;
    if (s->view_public &&
        !(nav[i].label == HTTP_M_nav_docs ? http_public_path(s, "/docs")
                                          : http_public_path(s, nav[i].href)))
      continue;
    kk_buf_printf(b, "<a href=\"%s\">", nav[i].href);
    kk_buf_html(b, http_t(&s->reg, nav[i].label));
    kk_buf_puts(b, "</a>");
  }
  if (s->have_tokens) {
    kk_buf_printf(b, "<a href=\"%s\">", s->view_public ? "/login" : "/logout");
    kk_buf_html(b, http_t(&s->reg,
                          s->view_public ? HTTP_M_login_title : HTTP_M_logout));
    kk_buf_puts(b, "</a>");
  }
  kk_buf_puts(b, "</nav></header><main id=\"main\">");
}

void http_page_tail(http_state_t *s, kk_buf_t *b) {
  kk_buf_puts(b, "<p class=\"muted\">klimakit " KK_VERSION_STRING
                 " · <a href=\"/api/latest\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_footer_json));
  kk_buf_puts(b, "</a> · <a href=\"/metrics\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_footer_metrics));
  kk_buf_puts(b, "</a></p></main></body></html>");
}

void http_page_not_found(http_state_t *s, h2o_req_t *req, http_msg_t what) {
  kk_buf_t b = {0};
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_not_found), 0);
  kk_buf_puts(&b, "<h2>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_not_found));
  kk_buf_puts(&b, "</h2><p>");
  kk_buf_html(&b, http_t(&s->reg, what));
  kk_buf_puts(&b, "</p>");
  http_page_tail(s, &b);
  http_respond(s, req, 404, "text/html; charset=utf-8", &b);
}

/* ---- overview --------------------------------------------------------- */

/* The quantities the overview shows as columns: CO2, temperature and
 * humidity first, then the others on most things, at most
 * HTTP_MAX_COLUMNS (of the first 64 distinct ones). */
static size_t http_columns(const http_items_t *it, const char **col) {
  static const char *const first[] = {"co2", "air_temperature",
                                      "relative_humidity"};
  const char *prop[64];
  size_t cnt[64], np = 0, n = 0;
  for (size_t i = 0; i < it->len; i++) {
    size_t k = 0;
    if (http_is_derived(it->items[i].property)) continue;
    while (k < np && strcmp(prop[k], it->items[i].property) != 0)
      k++;
    if (k == np && np < 64) prop[np] = it->items[i].property, cnt[np++] = 0;
    if (k < np) cnt[k]++;
  }
  for (size_t f = 0; f < 3; f++)
    for (size_t k = 0; k < np; k++)
      if (cnt[k] && strcmp(prop[k], first[f]) == 0) {
        col[n++] = prop[k];
        cnt[k] = 0;
      }
  while (n < HTTP_MAX_COLUMNS) {
    size_t best = np;
    for (size_t k = 0; k < np; k++)
      if (cnt[k] && (best == np || cnt[k] > cnt[best])) best = k;
    if (best == np) break;
    col[n++] = prop[best];
    cnt[best] = 0;
  }
  return n;
}

static void http_td_stale(http_state_t *s, kk_buf_t *b, const char *label,
                          int64_t last) {
  char when[40] = "";
  if (last != INT64_MIN)
    http_date(&s->reg, s->tz, last, HTTP_M_fmt_datetime, when, sizeof when);
  kk_buf_puts(b, "<td class=\"stale\" data-label=\"");
  kk_buf_html(b, label);
  kk_buf_puts(b, "\">");
  if (last == INT64_MIN)
    kk_buf_html(b, http_t(&s->reg, HTTP_M_no_data_yet));
  else
    http_say(b, &s->reg, 1, HTTP_M_stale_since, when, NULL);
  kk_buf_puts(b, "</td>");
}

/* One row of the overview: the thing's items are it[0..n). */
static void http_overview_row(http_state_t *s, kk_buf_t *b,
                              const http_item_t *it, size_t n, const char **col,
                              size_t ncol, int has_co2, int *counts) {
  int64_t last = INT64_MIN, now = kk_now_ms();
  int all_stale = 1;
  for (size_t i = 0; i < n; i++) {
    if (http_is_alert(it[i].property)) continue;
    /* As of the newest reading that is not in the future (a target path). */
    if (it[i].last_time > last && it[i].last_time <= now)
      last = it[i].last_time;
    all_stale &= it[i].stale;
  }
  kk_buf_printf(b, "<tr%s><th scope=\"row\" data-label=\"",
                all_stale ? " class=\"stale\"" : "");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_col_thing));
  kk_buf_puts(b, "\"><a href=\"/things/");
  kk_buf_url(b, it[0].thing);
  kk_buf_puts(b, "\">");
  kk_buf_html(b, http_thing_label(s, it[0].thing));
  kk_buf_puts(b, "</a></th>");
  const http_item_t *co2 = NULL;
  for (size_t k = 0; k < ncol; k++) {
    const http_item_t *x = NULL;
    for (size_t i = 0; i < n && !x; i++)
      if (strcmp(it[i].property, col[k]) == 0) x = &it[i];
    char name[128], val[96];
    const char *label = http_prop_name(&s->reg, col[k], name, sizeof name);
    if (x && http_is_co2(x->property, x->unit)) co2 = x;
    kk_buf_printf(b, "<td class=\"num%s\" data-label=\"",
                  !x || x->stale ? " stale" : "");
    kk_buf_html(b, label);
    kk_buf_puts(b, "\">");
    if (x && x->last_time != INT64_MIN) {
      http_value_text(s, x->last_value, x->unit, val, sizeof val);
      kk_buf_html(b, val);
    } else {
      kk_buf_puts(b, "–");
    }
    kk_buf_puts(b, "</td>");
  }
  const char *cl = http_t(&s->reg, HTTP_M_col_class);
  if (has_co2 && co2 && !co2->stale) {
    int c = http_co2_class(co2->last_value);
    counts[c]++;
    kk_buf_printf(b, "<td class=\"c%d\" data-label=\"", c);
    kk_buf_html(b, cl);
    kk_buf_puts(b, "\">");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_class_1 + c - 1));
    kk_buf_puts(b, "</td>");
  } else if (has_co2 && co2) {
    counts[0]++;
    http_td_stale(s, b, cl, co2->last_time);
  } else if (has_co2) {
    kk_buf_puts(b, "<td data-label=\"");
    kk_buf_html(b, cl);
    kk_buf_puts(b, "\">–</td>");
  }
  if (all_stale) {
    http_td_stale(s, b, http_t(&s->reg, HTTP_M_col_asof), last);
  } else {
    char ts[40];
    http_date(&s->reg, s->tz, last, HTTP_M_fmt_datetime, ts, sizeof ts);
    kk_buf_puts(b, "<td data-label=\"");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_col_asof));
    kk_buf_printf(b, "\">%s</td>", ts);
  }
  kk_buf_puts(b, "</tr>");
}

static void http_th(kk_buf_t *b, const char *text) {
  kk_buf_puts(b, "<th scope=\"col\">");
  kk_buf_html(b, text);
  kk_buf_puts(b, "</th>");
}

/* The table of stale datastreams (at most HTTP_MAX_STALE_ROWS). */
static void http_stale_list(http_state_t *s, kk_buf_t *b,
                            const http_items_t *it, size_t nstale) {
  if (!nstale) return;
  kk_buf_puts(b, "<h2 id=\"stale\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_stale_title));
  kk_buf_puts(b, "</h2><p>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_stale_intro));
  kk_buf_puts(b, "</p><table class=\"stack stale-list\"><thead><tr>");
  static const http_msg_t cols[] = {HTTP_M_col_thing, HTTP_M_col_quantity,
                                    HTTP_M_col_last_value, HTTP_M_col_since,
                                    HTTP_M_col_expected};
  for (size_t k = 0; k < 5; k++)
    http_th(b, http_t(&s->reg, cols[k]));
  kk_buf_puts(b, "</tr></thead><tbody>");
  size_t shown = 0;
  for (size_t i = 0; i < it->len && shown < HTTP_MAX_STALE_ROWS; i++) {
    const http_item_t *x = &it->items[i];
    if (!x->stale || http_is_alert(x->property)) continue;
    shown++;
    char name[128], val[96] = "–", when[40] = "–", iv[48] = "–";
    if (x->last_time != INT64_MIN) {
      http_value_text(s, x->last_value, x->unit, val, sizeof val);
      http_date(&s->reg, s->tz, x->last_time, HTTP_M_fmt_datetime, when,
                sizeof when);
    }
    if (x->interval_ms) http_width_text(s, x->interval_ms, iv, sizeof iv);
    const char *cells[] = {
        NULL, http_prop_name(&s->reg, x->property, name, sizeof name), val,
        when, iv};
    kk_buf_puts(b, "<tr class=\"stale\"><th scope=\"row\" data-label=\"");
    kk_buf_html(b, http_t(&s->reg, cols[0]));
    kk_buf_puts(b, "\"><a href=\"/things/");
    kk_buf_url(b, x->thing);
    kk_buf_puts(b, "\">");
    kk_buf_html(b, http_thing_label(s, x->thing));
    kk_buf_puts(b, "</a></th>");
    for (size_t k = 1; k < 5; k++) {
      kk_buf_puts(b, "<td data-label=\"");
      kk_buf_html(b, http_t(&s->reg, cols[k]));
      kk_buf_puts(b, "\">");
      kk_buf_html(b, cells[k]);
      kk_buf_puts(b, "</td>");
    }
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table>");
  if (nstale > shown) {
    char more[24];
    snprintf(more, sizeof more, "%zu", nstale - shown);
    kk_buf_puts(b, "<p>");
    http_say(b, &s->reg, 1, HTTP_M_stale_more, more, NULL);
    kk_buf_puts(b, "</p>");
  }
}

/* The sentence with the counts of the CO2 classes (words and colours). */
static void http_class_counts(http_state_t *s, kk_buf_t *b, const int *c) {
  if (!(c[0] + c[1] + c[2] + c[3])) return;
  kk_buf_puts(b, "<h2>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_indoor_now));
  kk_buf_puts(b, "</h2><p>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_classes_intro));
  kk_buf_puts(b, "</p><ul class=\"classes\">");
  for (int k = 1; k <= 3; k++) {
    char num[16], label[160];
    snprintf(num, sizeof num, "%d", c[k]);
    snprintf(label, sizeof label, "%s (%s)",
             http_t(&s->reg, HTTP_M_class_1 + k - 1),
             http_t(&s->reg, HTTP_M_class_range_1 + k - 1));
    kk_buf_printf(b, "<li><span class=\"c%d\">", k);
    http_say(b, &s->reg, 1, HTTP_M_class_count, label, num, NULL);
    kk_buf_puts(b, "</span></li>");
  }
  if (c[0]) {
    char num[16];
    snprintf(num, sizeof num, "%d", c[0]);
    kk_buf_puts(b, "<li><a class=\"stale\" href=\"#stale\">");
    http_say(b, &s->reg, 1, HTTP_M_stale_count, num, NULL);
    kk_buf_puts(b, "</a></li>");
  }
  kk_buf_puts(b, "</ul>");
}

/* The table of single things: a row per thing, the quantities most of
 * them have as columns, the CO2 class where there is CO2. */
void http_things_table(http_state_t *s, kk_buf_t *b, const http_items_t *it) {
  const char *col[HTTP_MAX_COLUMNS];
  size_t ncol = http_columns(it, col);
  int has_co2 = ncol && strcmp(col[0], "co2") == 0, counts[4] = {0};
  kk_buf_puts(b, "<table class=\"stack overview\"><thead><tr>");
  http_th(b, http_t(&s->reg, HTTP_M_col_thing));
  for (size_t k = 0; k < ncol; k++) {
    char name[128];
    http_th(b, http_prop_name(&s->reg, col[k], name, sizeof name));
  }
  if (has_co2) http_th(b, http_t(&s->reg, HTTP_M_col_class));
  http_th(b, http_t(&s->reg, HTTP_M_col_asof));
  kk_buf_puts(b, "</tr></thead><tbody>");
  for (size_t i = 0, j; i < it->len; i = j) {
    for (j = i;
         j < it->len && strcmp(it->items[j].thing, it->items[i].thing) == 0;
         j++)
      ;
    int alerts_only = 1;
    for (size_t k = i; k < j; k++)
      alerts_only &= http_is_alert(it->items[k].property);
    if (!alerts_only)
      http_overview_row(s, b, &it->items[i], j - i, col, ncol, has_co2, counts);
  }
  kk_buf_puts(b, "</tbody></table>");
}

/* CO2 classes of the things with current CO2 (counts[0]: stale ones). */
static void http_count_classes(const http_items_t *it, int *counts) {
  for (size_t i = 0; i < it->len; i++) {
    const http_item_t *x = &it->items[i];
    if (!http_is_co2(x->property, x->unit)) continue;
    if (x->stale)
      counts[0]++;
    else
      counts[http_co2_class(x->last_value)]++;
  }
}

void http_page_overview(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  int64_t now = kk_now_ms();
  http_items_t it;
  if (http_items_load(s, NULL, now, &it) != 0) b.oom = 1;
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_nav_overview), 1);
  size_t nthings = 0, nstale = 0, nds = 0;
  int counts[4] = {0};
  int64_t last = INT64_MIN;
  for (size_t i = 0; i < it.len; i++) {
    const http_item_t *x = &it.items[i];
    if (!i || strcmp(x->thing, it.items[i - 1].thing) != 0) nthings++;
    if (http_is_alert(x->property)) continue;
    nds++;
    nstale += x->stale;
    /* A target path or a forecast lies in the future: "last updated" is
     * when a reading last arrived, never later than now. */
    if (x->last_time > last && x->last_time <= now) last = x->last_time;
  }
  char when[48], nt[24], nd[24];
  snprintf(when, sizeof when, "%s", http_t(&s->reg, HTTP_M_no_data_yet));
  if (last != INT64_MIN)
    http_date(&s->reg, s->tz, last, HTTP_M_fmt_datetime, when, sizeof when);
  snprintf(nt, sizeof nt, "%zu", nthings);
  snprintf(nd, sizeof nd, "%zu", nds);
  kk_buf_puts(&b, "<p>");
  http_say(&b, &s->reg, 1, HTTP_M_summary, nt, nd, when, s->tz, NULL);
  kk_buf_puts(&b, "</p>");
  int missing;
  http_store(s, &missing);
  if (missing || it.store_failed) {
    kk_buf_puts(&b, "<p class=\"stale\">");
    http_say(&b, &s->reg, 1, HTTP_M_store_missing, s->store_name, NULL);
    kk_buf_puts(&b, "</p>");
  }
  /* With a store the datastreams beyond the limit are still shown (from
   * the store, without the newest uncommitted reading). */
  if (s->limit_hit && !s->store_name && !s->view_public) {
    char max[24];
    snprintf(max, sizeof max, "%zu", s->max_series);
    kk_buf_puts(&b, "<p class=\"muted\">");
    http_say(&b, &s->reg, 1, HTTP_M_limit_reached, max, NULL);
    kk_buf_puts(&b, "</p>");
  }
  int single = http_single_things(s);
  if (single) {
    http_count_classes(&it, counts);
    http_class_counts(s, &b, counts);
    http_alerts_section(s, &b, &it, NULL);
  }
  http_group_t *g = NULL;
  size_t ng = http_groups_make(s, &it, &g);
  kk_buf_puts(&b, "<h2>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_latest_readings));
  kk_buf_puts(&b, "</h2>");
  if (!single) {
    http_groups_table(s, &b, &it, g, ng, 1);
  } else if (ng <= 1 && (!ng || !g[0].id)) {
    http_things_table(s, &b, &it);
  } else {
    for (size_t i = 0; i < ng; i++) {
      http_items_t sub = {.len = g[i].to - g[i].from,
                          .items = it.items + g[i].from};
      kk_buf_puts(&b, "<section class=\"group\"><h3>");
      if (g[i].id) {
        kk_buf_puts(&b, "<a href=\"/gruppe/");
        kk_buf_url(&b, g[i].id);
        kk_buf_puts(&b, "\">");
        kk_buf_html(&b, g[i].label);
        kk_buf_puts(&b, "</a>");
      } else {
        kk_buf_html(&b, http_t(&s->reg, HTTP_M_group_other));
      }
      kk_buf_puts(&b, "</h3>");
      http_things_table(s, &b, &sub);
      kk_buf_puts(&b, "</section>");
    }
  }
  free(g);
  if (single) http_stale_list(s, &b, &it, nstale);
  http_items_free(&it);
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}

/* ---- /api/latest and /metrics ------------------------------------------ */

/* /api/latest of a public view with min_group: per group and quantity
 * the mean over the things with current data, only where at least
 * min_group of them have it. */
static void http_api_groups(http_state_t *s, kk_buf_t *b, http_items_t *it) {
  http_group_t *g = NULL;
  size_t ng = http_groups_make(s, it, &g);
  int first = 1;
  kk_buf_puts(b, "[");
  for (size_t i = 0; i < ng; i++) {
    for (size_t k = g[i].from; k < g[i].to; k++) {
      const char *p = it->items[k].property;
      int seen = 0;
      for (size_t j = g[i].from; j < k && !seen; j++)
        seen = strcmp(it->items[j].property, p) == 0;
      if (seen || http_is_meter(&s->reg, p)) continue;
      http_group_now_t now;
      http_group_now(s, it, &g[i], p, &now);
      if (!now.shown) continue;
      char ts[KK_TIME_ISO_MAX], num[KK_FMT_DOUBLE_MAX];
      kk_time_format_iso8601(now.last, ts);
      kk_fmt_double(now.mean, num);
      kk_buf_puts(b, first ? "{\"group\":" : ",{\"group\":");
      if (g[i].id) {
        kk_buf_puts(b, "\"");
        kk_buf_json(b, g[i].id);
        kk_buf_puts(b, "\",\"label\":\"");
        kk_buf_json(b, g[i].label);
        kk_buf_puts(b, "\"");
      } else {
        kk_buf_puts(b, "null");
      }
      kk_buf_puts(b, ",\"property\":\"");
      kk_buf_json(b, p);
      kk_buf_puts(b, "\",\"unit\":\"");
      kk_buf_json(b, now.unit);
      kk_buf_printf(b, "\",\"things\":%zu,\"time\":\"%s\",\"mean\":%s}", now.n,
                    ts, num);
      first = 0;
    }
  }
  kk_buf_puts(b, "]\n");
  free(g);
}

void http_api_latest(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  http_items_t it;
  if (http_items_load(s, NULL, kk_now_ms(), &it) != 0) b.oom = 1;
  if (!http_single_things(s)) {
    http_api_groups(s, &b, &it);
    http_items_free(&it);
    http_respond(s, req, 200, "application/json", &b);
    return;
  }
  kk_buf_puts(&b, "[");
  int first = 1;
  for (size_t i = 0; i < it.len; i++) {
    const http_item_t *x = &it.items[i];
    if (x->last_time == INT64_MIN) continue;
    char ts[KK_TIME_ISO_MAX], num[KK_FMT_DOUBLE_MAX];
    kk_time_format_iso8601(x->last_time, ts);
    kk_fmt_double(x->last_value, num);
    kk_buf_puts(&b, first ? "{" : ",{");
    if (x->mem) kk_buf_printf(&b, "\"datastream\":%u,", x->mem->ds);
    if (x->store_id)
      kk_buf_printf(&b, "\"store_id\":%lld,", (long long)x->store_id);
    kk_buf_puts(&b, "\"thing\":\"");
    kk_buf_json(&b, x->thing);
    kk_buf_puts(&b, "\",\"property\":\"");
    kk_buf_json(&b, x->property);
    kk_buf_puts(&b, "\",\"unit\":\"");
    kk_buf_json(&b, x->unit);
    kk_buf_printf(&b, "\",\"time\":\"%s\",\"value\":%s,\"stale\":%s}", ts, num,
                  x->stale ? "true" : "false");
    first = 0;
  }
  kk_buf_puts(&b, "]\n");
  http_items_free(&it);
  http_respond(s, req, 200, "application/json", &b);
}

void http_metrics_update(http_state_t *s) {
  http_items_t it;
  if (http_items_load(s, NULL, kk_now_ms(), &it) != 0) return;
  int64_t n = 0;
  for (size_t i = 0; i < it.len; i++)
    n += it.items[i].stale;
  kk_metric_set(s->m_stale, n);
  http_items_free(&it);
}
