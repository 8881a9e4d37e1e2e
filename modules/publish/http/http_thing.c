/*
 * modules/publish/http/http_thing.c - a thing's page: a range choice
 * (links and a GET form, no JavaScript), per datastream a chart of the
 * range (averages as a line; cumulative meters as consumption bars per
 * hour, day or month, the counter only in the table), a text summary and
 * a table of the values as its text alternative, staleness in grey, and
 * a CSV download of exactly what the chart shows (/csv).  Data from the
 * store when there is one (http_data.c).  Runs on the loop thread.
 */
#include "publish/http/http_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish/http/http_chart.h"

/* What one chart shows. */
typedef struct http_view {
  int meter;
  size_t n;
  int64_t *edges;
  int64_t width; /* line charts */
  http_msg_t period;
  double *v;
  uint8_t *present, *partial;
  http_agg_t agg;
  size_t npresent;
  double lo, hi, sum;
  char err[256];
  int failed;
} http_view_t;

static void http_view_free(http_view_t *w) {
  free(w->edges);
  free(w->v);
  free(w->present);
  free(w->partial);
  http_agg_free(&w->agg);
}

/* Meters: consumption of bucket i is the counter's rise since the bucket
 * before (the leading extra bucket gives the first one its start); a
 * counter that went back (a reset, a new meter) counts its rise within
 * the bucket only. */
static void http_view_meter(http_view_t *w, int64_t now) {
  const http_agg_t *a = &w->agg;
  double prev = NAN;
  for (size_t i = 0; i < a->n; i++) {
    if (!a->count[i]) continue;
    if (i > 0) {
      double d = isnan(prev) ? a->max[i] - a->min[i] : a->max[i] - prev;
      if (d < 0) d = a->max[i] - a->min[i];
      w->v[i - 1] = d;
      w->present[i - 1] = 1;
      w->partial[i - 1] = w->edges[i + 1] > now;
    }
    prev = a->max[i];
  }
}

static int http_view_load(http_state_t *s, const http_item_t *x,
                          const http_range_t *r, int64_t now, http_view_t *w) {
  memset(w, 0, sizeof *w);
  w->meter = http_is_meter(&s->reg, x->property);
  /* Bars: the buckets include one in front of the range. */
  size_t na = w->meter ? http_range_bar_edges(s, r, &w->edges, &w->period)
                       : http_range_line_edges(s, r, &w->edges, &w->width);
  size_t nb = w->meter && na ? na - 1 : na;
  if (!w->edges) return KK_ENOMEM;
  int rc = http_agg_load(s, x, w->edges, na, &w->agg, w->err, sizeof w->err);
  if (rc == KK_ENOMEM) return rc;
  w->failed = rc != 0;
  w->n = nb;
  w->v = calloc(nb + 1, sizeof *w->v);
  w->present = calloc(nb + 1, 1);
  w->partial = calloc(nb + 1, 1);
  if (!w->v || !w->present || !w->partial) return KK_ENOMEM;
  if (w->meter) {
    http_view_meter(w, now);
  } else {
    for (size_t i = 0; i < nb; i++)
      if (w->agg.count[i]) {
        w->v[i] = w->agg.sum[i] / (double)w->agg.count[i];
        w->present[i] = 1;
        /* An average over part of an hour is no news; part of a day or
         * more is said. */
        w->partial[i] = w->edges[i + 1] > now && w->width >= KK_DAY_MS;
      }
  }
  w->lo = INFINITY;
  w->hi = -INFINITY;
  for (size_t i = 0; i < nb; i++) {
    if (!w->present[i]) continue;
    w->npresent++;
    w->sum += w->v[i];
    if (w->v[i] < w->lo) w->lo = w->v[i];
    if (w->v[i] > w->hi) w->hi = w->v[i];
  }
  return 0;
}

/* The edges of bar i of a view (bars skip the leading bucket). */
static const int64_t *http_view_edges(const http_view_t *w) {
  return w->meter ? w->edges + 1 : w->edges;
}

/* ---- the range choice ---------------------------------------------------- */

void http_range_form(http_state_t *s, kk_buf_t *b, const http_range_t *r) {
  static const http_msg_t names[HTTP_RANGE_COUNT] = {
      HTTP_M_range_24h, HTTP_M_range_7d, HTTP_M_range_30d, HTTP_M_range_1y};
  static const char *const keys[HTTP_RANGE_COUNT] = {"24h", "7d", "30d", "1y"};
  kk_buf_puts(b, "<form class=\"range\" method=\"get\"><span>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_range_label));
  kk_buf_puts(b, ":</span>");
  for (int i = 0; i < HTTP_RANGE_COUNT; i++) {
    kk_buf_printf(b, "<a href=\"?range=%s\"%s>", keys[i],
                  r->preset == i ? " aria-current=\"true\"" : "");
    kk_buf_html(b, http_t(&s->reg, names[i]));
    kk_buf_puts(b, "</a>");
  }
  /* Dates for the inputs: machine format, the browser shows them in the
   * reader's locale. */
  char from[16], to[16];
  struct tm tm;
  kk_tz_local(s->tz, kk_floor_div(r->from, 1000), &tm);
  strftime(from, sizeof from, "%Y-%m-%d", &tm);
  kk_tz_local(s->tz, kk_floor_div(r->to - 1, 1000), &tm);
  strftime(to, sizeof to, "%Y-%m-%d", &tm);
  kk_buf_puts(b, "<label>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_range_from));
  kk_buf_printf(b,
                " <input type=\"date\" name=\"from\" value=\"%s\"></label>"
                "<label>",
                from);
  kk_buf_html(b, http_t(&s->reg, HTTP_M_range_to));
  kk_buf_printf(b,
                " <input type=\"date\" name=\"to\" value=\"%s\"></label>"
                "<button type=\"submit\">",
                to);
  kk_buf_html(b, http_t(&s->reg, HTTP_M_range_show));
  kk_buf_puts(b, "</button></form>");
  char a[40], z[40];
  http_date(&s->reg, s->tz, r->from, HTTP_M_fmt_datetime, a, sizeof a);
  http_date(&s->reg, s->tz, r->to, HTTP_M_fmt_datetime, z, sizeof z);
  kk_buf_puts(b, "<p class=\"muted\">");
  http_say(b, &s->reg, 1, HTTP_M_range_shown, a, z, NULL);
  kk_buf_puts(b, "</p>");
}

/* ---- one datastream ------------------------------------------------------ */

/* The values as a table: the chart's text alternative. */
static void http_view_table(http_state_t *s, kk_buf_t *b, const http_view_t *w,
                            const char *unit) {
  const http_registry_t *g = &s->reg;
  kk_buf_puts(b, "<details><summary>");
  kk_buf_html(b, http_t(g, HTTP_M_table_of_values));
  kk_buf_puts(b, "</summary><table class=\"stack values\"><thead><tr>");
  http_msg_t cols[4] = {HTTP_M_col_time, HTTP_M_col_mean, HTTP_M_col_min,
                        HTTP_M_col_max};
  if (w->meter) {
    cols[0] = HTTP_M_col_period;
    cols[1] = HTTP_M_col_consumption;
    cols[2] = HTTP_M_counter_reading;
  }
  size_t ncols = w->meter ? 3 : 4;
  for (size_t k = 0; k < ncols; k++) {
    kk_buf_puts(b, "<th scope=\"col\">");
    kk_buf_html(b, http_t(g, cols[k]));
    kk_buf_puts(b, "</th>");
  }
  kk_buf_puts(b, "</tr></thead><tbody>");
  const int64_t *e = http_view_edges(w);
  http_msg_t fmt = w->meter && w->period == HTTP_M_per_month ? HTTP_M_fmt_month
                   : w->meter && w->period == HTTP_M_per_day
                       ? HTTP_M_fmt_date
                       : HTTP_M_fmt_datetime;
  for (size_t i = 0; i < w->n; i++) {
    if (!w->present[i]) continue;
    size_t a = w->meter ? i + 1 : i;
    char when[40], v[3][96];
    http_date(g, s->tz, e[i], fmt, when, sizeof when);
    http_value_text(s, w->v[i], unit, v[0], sizeof v[0]);
    http_value_text(s, w->meter ? w->agg.max[a] : w->agg.min[a], unit, v[1],
                    sizeof v[1]);
    http_value_text(s, w->agg.max[a], unit, v[2], sizeof v[2]);
    kk_buf_puts(b, "<tr><th scope=\"row\" data-label=\"");
    kk_buf_html(b, http_t(g, cols[0]));
    kk_buf_puts(b, "\">");
    kk_buf_html(b, when);
    if (w->partial[i]) {
      kk_buf_puts(b, " (");
      kk_buf_html(b, http_t(g, HTTP_M_partial));
      kk_buf_puts(b, ")");
    }
    kk_buf_puts(b, "</th>");
    for (size_t k = 1; k < ncols; k++) {
      kk_buf_puts(b, "<td class=\"num\" data-label=\"");
      kk_buf_html(b, http_t(g, cols[k]));
      kk_buf_puts(b, "\">");
      kk_buf_html(b, v[k - 1]);
      kk_buf_puts(b, "</td>");
    }
    kk_buf_puts(b, "</tr>");
  }
  kk_buf_puts(b, "</tbody></table></details>");
}

/* Latest value or "no data since", the bucket size, the partial note
 * and the CSV link. */
static void http_view_caption(http_state_t *s, kk_buf_t *b,
                              const http_item_t *x, const http_view_t *w,
                              const http_range_t *r, const char *what) {
  const http_registry_t *g = &s->reg;
  char val[96], when[40], per[48];
  kk_buf_puts(b, "<figcaption>");
  if (x->last_time != INT64_MIN)
    http_date(g, s->tz, x->last_time, HTTP_M_fmt_datetime, when, sizeof when);
  if (x->stale) {
    kk_buf_puts(b, "<span class=\"stale\">");
    if (x->last_time == INT64_MIN)
      kk_buf_html(b, http_t(g, HTTP_M_no_data_yet));
    else
      http_say(b, g, 1, HTTP_M_stale_since, when, NULL);
    kk_buf_puts(b, "</span> ");
  } else {
    http_value_text(s, x->last_value, x->unit, val, sizeof val);
    http_say(b, g, 1, HTTP_M_latest_at, val, when, NULL);
    kk_buf_puts(b, " ");
  }
  if (w->meter) {
    http_say(b, g, 1, HTTP_M_consumption_per, http_t(g, w->period), NULL);
    kk_buf_puts(b, ". ");
  } else {
    http_width_text(s, w->width, per, sizeof per);
    http_say(b, g, 1, HTTP_M_averages_per, per, NULL);
    kk_buf_puts(b, " ");
  }
  if (w->npresent && w->partial[w->n - 1] && w->present[w->n - 1]) {
    kk_buf_html(b, http_t(g, HTTP_M_partial_note));
    kk_buf_puts(b, " ");
  }
  if (w->failed) {
    kk_buf_puts(b, "<span class=\"stale\">");
    http_say(b, g, 1, HTTP_M_store_error, w->err, NULL);
    kk_buf_puts(b, "</span> ");
  }
  kk_buf_puts(b, "<a download href=\"/csv?thing=");
  kk_buf_url(b, x->thing);
  kk_buf_puts(b, "&amp;property=");
  kk_buf_url(b, x->property);
  if (x->unit_ambiguous) {
    kk_buf_puts(b, "&amp;unit=");
    kk_buf_url(b, x->unit);
  }
  kk_buf_printf(b, "&amp;%s\">", r->query);
  kk_buf_html(b, http_t(g, HTTP_M_csv_download));
  kk_buf_puts(b, "</a>");
  (void)what;
  kk_buf_puts(b, "</figcaption>");
}

/* lo, hi and the mean with the unit label as everywhere (http_value_text);
 * when lowest and highest differ but would read alike, all three with as
 * many decimals as it takes to tell them apart (21,20 and 21,23 °C, not
 * "between 21,2 and 21,2 °C"). */
static void http_view_span_values(http_state_t *s, const http_view_t *w,
                                  const char *unit, char *lo, char *hi,
                                  char *mean, size_t len) {
  double m = w->sum / (double)w->npresent;
  http_value_text(s, w->lo, unit, lo, len);
  http_value_text(s, w->hi, unit, hi, len);
  http_value_text(s, m, unit, mean, len);
  if (w->lo == w->hi || strcmp(lo, hi) != 0) return;
  int dec = http_num_auto(w->lo), dh = http_num_auto(w->hi);
  if (dh > dec) dec = dh;
  char a[64], b[64], c[64];
  do {
    dec++;
    http_num(&s->reg, w->lo, dec, a, sizeof a);
    http_num(&s->reg, w->hi, dec, b, sizeof b);
  } while (strcmp(a, b) == 0 && dec < 6);
  http_num(&s->reg, m, dec, c, sizeof c);
  const char *u = http_unit_label(&s->reg, unit);
  const char *sp = *u ? " " : "";
  snprintf(lo, len, "%s%s%s", a, sp, u);
  snprintf(hi, len, "%s%s%s", b, sp, u);
  snprintf(mean, len, "%s%s%s", c, sp, u);
}

/* The sentence that says what the chart shows. */
static void http_view_summary(http_state_t *s, kk_buf_t *b,
                              const http_view_t *w, const char *title,
                              const char *unit, const http_range_t *r) {
  char a[40], z[40], span[96], n[24], lo[96], hi[96], mean[96];
  http_date(&s->reg, s->tz, r->from, HTTP_M_fmt_datetime, a, sizeof a);
  http_date(&s->reg, s->tz, r->to, HTTP_M_fmt_datetime, z, sizeof z);
  snprintf(span, sizeof span, "%s – %s", a, z);
  kk_buf_puts(b, "<p class=\"alt-text\">");
  if (!w->npresent) {
    http_say(b, &s->reg, 1, HTTP_M_chart_alt_empty, title, span, NULL);
  } else {
    snprintf(n, sizeof n, "%zu", w->npresent);
    http_view_span_values(s, w, unit, lo, hi, mean, sizeof lo);
    http_say(b, &s->reg, 1, HTTP_M_chart_alt, title, span, n, lo, hi, mean,
             NULL);
  }
  kk_buf_puts(b, "</p>");
}

static int http_chart_item(http_state_t *s, kk_buf_t *b, const http_item_t *x,
                           const http_range_t *r, int64_t now) {
  http_view_t w;
  if (http_view_load(s, x, r, now, &w) != 0) {
    http_view_free(&w);
    return KK_ENOMEM;
  }
  char pbuf[128], title[256];
  const char *pname = http_prop_name(&s->reg, x->property, pbuf, sizeof pbuf);
  const char *unit = http_unit_label(&s->reg, x->unit);
  kk_buf_puts(b, "<section class=\"datastream\"><h3>");
  kk_buf_html(b, pname);
  if (*unit) {
    kk_buf_puts(b, " (");
    kk_buf_html(b, unit);
    kk_buf_puts(b, ")");
  }
  kk_buf_puts(b, "</h3><figure>");
  kk_buf_t tb = {0};
  if (w.meter)
    http_say(&tb, &s->reg, 0, HTTP_M_consumption_of, pname,
             http_t(&s->reg, w.period), NULL);
  else
    kk_buf_puts(&tb, pname);
  snprintf(title, sizeof title, "%s", tb.p && !tb.oom ? tb.p : pname);
  kk_buf_free(&tb);
  const int64_t *e = http_view_edges(&w);
  http_chart_t c = {.reg = &s->reg,
                    .title = title,
                    .unit = unit,
                    .tz = s->tz,
                    .from_ms = e[0],
                    .to_ms = e[w.n],
                    .value = w.v,
                    .present = w.present,
                    .n = w.n,
                    .edges = w.meter ? e : NULL,
                    .partial = w.partial,
                    .period_fmt =
                        w.period == HTTP_M_per_month ? HTTP_M_fmt_month
                        : w.period == HTTP_M_per_day ? HTTP_M_fmt_date
                                                     : HTTP_M_fmt_datetime};
  if (http_is_co2(x->property, x->unit) && !w.meter) {
    c.threshold[0] = 1000;
    c.threshold_label[0] = http_t(&s->reg, HTTP_M_threshold_1000);
    c.threshold[1] = 2000;
    c.threshold_label[1] = http_t(&s->reg, HTTP_M_threshold_2000);
    c.nthresholds = 2;
  }
  http_chart_svg(b, &c);
  http_view_caption(s, b, x, &w, r, title);
  kk_buf_puts(b, "</figure>");
  http_view_summary(s, b, &w, title, x->unit, r);
  http_view_table(s, b, &w, x->unit);
  kk_buf_puts(b, "</section>");
  http_view_free(&w);
  return 0;
}

void http_page_thing(http_state_t *s, h2o_req_t *req, const char *name) {
  int64_t now = kk_now_ms();
  http_items_t it;
  if (http_items_load(s, name, now, &it) != 0 || !it.len) {
    http_items_free(&it);
    http_page_not_found(s, req, HTTP_M_no_thing);
    return;
  }
  http_range_t r;
  http_range_parse(s, req, now, &r);
  kk_buf_t b = {0};
  http_page_head(s, &b, name, 0);
  kk_buf_puts(&b, "<nav><a href=\"/\">");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_back_overview));
  kk_buf_puts(&b, "</a></nav><h2>");
  kk_buf_html(&b, name);
  kk_buf_puts(&b, "</h2>");
  if (r.bad) {
    kk_buf_puts(&b, "<p class=\"stale\">");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_range_bad));
    kk_buf_puts(&b, "</p>");
  }
  http_range_form(s, &b, &r);
  if (!s->store_name) {
    char h[48], num[24];
    kk_buf_t hb = {0};
    int days = s->history_ms % KK_DAY_MS == 0 && s->history_ms > KK_DAY_MS;
    snprintf(
        num, sizeof num, "%llu",
        (unsigned long long)(s->history_ms / (days ? KK_DAY_MS : KK_HOUR_MS)));
    http_say(&hb, &s->reg, 0, days ? HTTP_M_per_days : HTTP_M_per_hours, num,
             NULL);
    snprintf(h, sizeof h, "%s", hb.p && !hb.oom ? hb.p : "");
    kk_buf_free(&hb);
    kk_buf_puts(&b, "<p class=\"muted\">");
    http_say(&b, &s->reg, 1, HTTP_M_memory_only, h, NULL);
    kk_buf_puts(&b, "</p>");
  }
  for (size_t i = 0; i < it.len && i < HTTP_MAX_CHARTS; i++)
    if (http_chart_item(s, &b, &it.items[i], &r, now) != 0) b.oom = 1;
  if (it.len > HTTP_MAX_CHARTS) {
    char a[24], z[24];
    snprintf(a, sizeof a, "%d", HTTP_MAX_CHARTS);
    snprintf(z, sizeof z, "%zu", it.len);
    kk_buf_puts(&b, "<p class=\"muted\">");
    http_say(&b, &s->reg, 1, HTTP_M_charts_limited, a, z, NULL);
    kk_buf_puts(&b, "</p>");
  }
  http_items_free(&it);
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}

/* ---- CSV ------------------------------------------------------------------
 */

/* A number for the CSV: shortest round trip, with the language's decimal
 * separator (German spreadsheets read 1234,5 with ';' between fields). */
static void http_csv_num(http_state_t *s, kk_buf_t *b, double v) {
  char num[KK_FMT_DOUBLE_MAX];
  kk_fmt_double(v, num);
  const char *d = http_t(&s->reg, HTTP_M_decimal_sep);
  for (char *c = num; *c; c++)
    if (*c == '.') *c = d[0];
  kk_buf_puts(b, num);
}

static void http_csv_rows(http_state_t *s, kk_buf_t *b, const http_view_t *w) {
  const char *sep = http_t(&s->reg, HTTP_M_csv_sep);
  const int64_t *e = http_view_edges(w);
  for (size_t i = 0; i < w->n; i++) {
    if (!w->present[i]) continue;
    size_t a = w->meter ? i + 1 : i;
    char iso[KK_TIME_ISO_MAX], local[40];
    kk_time_format_iso8601(e[i], iso);
    http_date(&s->reg, s->tz, e[i], HTTP_M_fmt_datetime, local, sizeof local);
    kk_buf_printf(b, "%s%s%s%s", iso, sep, local, sep);
    http_csv_num(s, b, w->v[i]);
    kk_buf_puts(b, sep);
    http_csv_num(s, b, w->meter ? w->agg.max[a] : w->agg.min[a]);
    if (!w->meter) {
      kk_buf_puts(b, sep);
      http_csv_num(s, b, w->agg.max[a]);
      kk_buf_printf(b, "%s%lld", sep, (long long)w->agg.count[a]);
    }
    kk_buf_printf(b, "%s%s\r\n", sep,
                  w->partial[i] ? http_t(&s->reg, HTTP_M_partial) : "");
  }
}

void http_csv(http_state_t *s, h2o_req_t *req) {
  char thing[512], prop[256], unit[64];
  int64_t now = kk_now_ms();
  int any_unit = net_httpd_query(req, "unit", unit, sizeof unit) != 0;
  if (net_httpd_query(req, "thing", thing, sizeof thing) != 0 ||
      net_httpd_query(req, "property", prop, sizeof prop) != 0) {
    http_page_not_found(s, req, HTTP_M_no_thing);
    return;
  }
  http_items_t it;
  const http_item_t *x = NULL;
  if (http_items_load(s, thing, now, &it) == 0)
    for (size_t i = 0; i < it.len && !x; i++)
      if (strcmp(it.items[i].property, prop) == 0 &&
          (any_unit || strcmp(it.items[i].unit, unit) == 0))
        x = &it.items[i];
  http_range_t r;
  http_view_t w;
  http_range_parse(s, req, now, &r);
  if (!x || http_view_load(s, x, &r, now, &w) != 0) {
    if (x) http_view_free(&w);
    http_items_free(&it);
    http_page_not_found(s, req, HTTP_M_no_thing);
    return;
  }
  kk_buf_t b = {0};
  const char *sep = http_t(&s->reg, HTTP_M_csv_sep);
  const http_msg_t line[] = {HTTP_M_col_utc, HTTP_M_col_time, HTTP_M_col_mean,
                             HTTP_M_col_min, HTTP_M_col_max,  HTTP_M_col_count,
                             HTTP_M_partial};
  const http_msg_t meter[] = {HTTP_M_col_utc, HTTP_M_col_period,
                              HTTP_M_col_consumption, HTTP_M_counter_reading,
                              HTTP_M_partial};
  const http_msg_t *cols = w.meter ? meter : line;
  size_t ncols = w.meter ? 5 : 7;
  kk_buf_puts(&b, "\xEF\xBB\xBF"); /* BOM: spreadsheets then read UTF-8 */
  for (size_t k = 0; k < ncols; k++) {
    kk_buf_puts(&b, k ? sep : "");
    kk_buf_puts(&b, http_t(&s->reg, cols[k]));
    if (k == 2) {
      const char *u = http_unit_label(&s->reg, x->unit);
      if (*u) kk_buf_printf(&b, " (%s)", u);
    }
  }
  kk_buf_puts(&b, "\r\n");
  http_csv_rows(s, &b, &w);
  http_view_free(&w);
  http_items_free(&it);
  char cd[160];
  snprintf(cd, sizeof cd, "attachment; filename=\"klimakit-%s.csv\"",
           r.preset == HTTP_RANGE_CUSTOM ? "range" : http_range_key(r.preset));
  h2o_iovec_t v = h2o_strdup(&req->pool, cd, SIZE_MAX);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_DISPOSITION,
                 NULL, v.base, v.len);
  http_respond(s, req, 200, "text/csv; charset=utf-8", &b);
}
