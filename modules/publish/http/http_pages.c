/*
 * modules/publish/http/http_pages.c - the dashboard's HTML pages (overview,
 * a thing's charts, indoor air, climate balance, measures), the JSON API
 * /api/latest and the page frame they share.  Plain HTML and SVG that work
 * without JavaScript.  Runs on the loop thread.
 */
#include "publish/http/http_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish/http/http_chart.h"

void http_respond(http_state_t *s, h2o_req_t *req, int status,
                  const char *reason, const char *ctype, kk_buf_t *body) {
  (void)reason;
  if (status >= 400) kk_metric_add(s->m_errors, 1);
  if (s->cache_key && status == 200 && !body->oom)
    http_cache_put_page(s, s->cache_key, ctype, body);
  s->cache_key = NULL;
  net_httpd_respond(req, status, ctype, body,
                    strncmp(ctype, "application/json", 16) == 0 ? s->cors
                                                                : NULL);
}

static void http_fmt_local(http_state_t *s, int64_t ms, const char *fmt,
                           char *buf, size_t len) {
  struct tm tm;
  kk_tz_local(s->tz, ms / 1000, &tm);
  strftime(buf, len, fmt, &tm);
}

static int http_co2_class(double ppm) {
  return ppm > 2000 ? 3 : ppm >= 1000 ? 2 : 1;
}
static const char *const http_co2_labels[] = {"", "harmless", "ventilate",
                                              "unacceptable"};

static int http_is_co2(const kk_datastream_t *d) {
  return strcmp(d->property, "co2") == 0 && strcmp(d->unit, "ppm") == 0;
}

void http_page_head(http_state_t *s, kk_buf_t *b, const char *title) {
  kk_buf_puts(b,
              "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
              "<meta name=\"viewport\" content=\"width=device-width, "
              "initial-scale=1\">");
  if (s->refresh_ms)
    kk_buf_printf(b, "<meta http-equiv=\"refresh\" content=\"%llu\">",
                  (unsigned long long)(s->refresh_ms / 1000));
  kk_buf_puts(b, "<title>");
  kk_buf_html(b, title);
  kk_buf_puts(b, " - ");
  kk_buf_html(b, s->title);
  kk_buf_puts(
      b,
      "</title><style>"
      "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;"
      "background:#fafafa}header{background:#0b4f3c;color:#fff;padding:.8rem "
      "1rem}header a{color:#fff}main{padding:1rem;max-width:60rem;margin:auto}"
      "h1{font-size:1.3rem;margin:0}h2{font-size:1.1rem}"
      "table{border-collapse:collapse;width:100%;background:#fff}"
      "th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #ddd}"
      "td.num{text-align:right;font-variant-numeric:tabular-nums}"
      ".c1{background:#d8f0dc}.c2{background:#fff0b3}.c3{background:#f8c9c4}"
      ".chart{width:100%;height:auto;background:#fff;border:1px solid #ddd}"
      ".chart text{font-size:12px;fill:#333}.chart .axis line{stroke:#e3e3e3}"
      ".chart .frame{fill:none;stroke:#999}.chart .data{fill:none;"
      "stroke:#0b4f3c;stroke-width:2}.chart circle.data{fill:#0b4f3c}"
      ".chart .threshold line{stroke:#b3261e;stroke-dasharray:6 4}"
      ".chart .threshold text{fill:#b3261e}.muted{color:#555}"
      "nav a{margin-right:1rem}header nav{margin-top:.4rem}"
      ".bar{display:inline-block;height:.8rem;background:#0b4f3c}"
      ".bar.exp{background:#9bb8ad}.chart .ref polyline{fill:none;"
      "stroke:#b3261e;stroke-width:2;stroke-dasharray:8 4}"
      ".chart .ref text{fill:#b3261e}</style></head><body><header><h1><a "
      "href=\"/\">");
  kk_buf_html(b, s->title);
  kk_buf_puts(b,
              "</a></h1><nav aria-label=\"pages\"><a href=\"/\">Overview</a>"
              "<a href=\"/indoor\">Indoor air</a><a href=\"/climate\">Climate "
              "balance</a><a href=\"/measures\">Measures</a>");
  if (s->docs_root) kk_buf_puts(b, "<a href=\"/docs/\">Documentation</a>");
  kk_buf_puts(b, "</nav></header><main>");
}

void http_page_tail(kk_buf_t *b) {
  kk_buf_puts(b, "<p class=\"muted\">klimakit " KK_VERSION_STRING
                 " &middot; <a href=\"/api/latest\">JSON</a> &middot; "
                 "<a href=\"/metrics\">metrics</a></p></main></body></html>");
}

static void http_cell(kk_buf_t *b, const http_series_t *se,
                      const char *unit_label) {
  char num[32];
  if (!se) {
    kk_buf_puts(b, "<td class=\"num muted\">&ndash;</td>");
    return;
  }
  http_chart_fmt(num, sizeof num, se->last_value);
  kk_buf_printf(b, "<td class=\"num\">%s %s</td>", num, unit_label);
}

void http_page_overview(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  http_page_head(s, &b, "Overview");
  size_t n;
  const char **t = http_things(s, &n);
  int counts[4] = {0};
  for (size_t i = 0; i < n; i++) {
    const http_series_t *co2 = http_find_series(s, t[i], "co2");
    if (co2) counts[http_co2_class(co2->last_value)]++;
  }
  char when[64] = "no data yet";
  if (s->last_update)
    http_fmt_local(s, s->last_update, "%d.%m.%Y %H:%M:%S", when, sizeof when);
  kk_buf_printf(&b, "<p>%zu things, %zu datastreams; last update %s (%s).</p>",
                n, s->nseries, when, s->tz);
  if (counts[1] + counts[2] + counts[3])
    kk_buf_printf(
        &b,
        "<h2>Indoor air now</h2><p>CO<sub>2</sub> classes of the "
        "Umweltbundesamt: <span class=\"c1\">%d harmless (&lt; 1000 "
        "ppm)</span>, <span class=\"c2\">%d ventilate (1000&ndash;2000 "
        "ppm)</span>, <span class=\"c3\">%d unacceptable (&gt; 2000 "
        "ppm)</span>.</p>",
        counts[1], counts[2], counts[3]);
  kk_buf_puts(&b,
              "<h2>Latest readings</h2><table><thead><tr><th scope=\"col\">"
              "Thing</th><th scope=\"col\">CO<sub>2</sub></th><th "
              "scope=\"col\">Class</th><th scope=\"col\">Temperature</th><th "
              "scope=\"col\">Humidity</th><th scope=\"col\">Energy meter</th>"
              "<th scope=\"col\">As of</th></tr></thead><tbody>");
  for (size_t i = 0; i < n; i++) {
    const http_series_t *co2 = http_find_series(s, t[i], "co2");
    const http_series_t *temp = http_find_series(s, t[i], "air_temperature");
    const http_series_t *hum = http_find_series(s, t[i], "relative_humidity");
    const http_series_t *en = http_find_series(s, t[i], "energy");
    int c = co2 ? http_co2_class(co2->last_value) : 0;
    kk_buf_puts(&b, "<tr><th scope=\"row\"><a href=\"/things/");
    kk_buf_url(&b, t[i]);
    kk_buf_puts(&b, "\">");
    kk_buf_html(&b, t[i]);
    kk_buf_puts(&b, "</a></th>");
    http_cell(&b, co2, "ppm");
    kk_buf_printf(&b, "<td class=\"c%d\">%s</td>", c, http_co2_labels[c]);
    http_cell(&b, temp, "&deg;C");
    http_cell(&b, hum, "%");
    http_cell(&b, en, "kWh");
    int64_t last = INT64_MIN;
    const http_series_t *all[] = {co2, temp, hum, en};
    for (int k = 0; k < 4; k++)
      if (all[k] && all[k]->last_time > last) last = all[k]->last_time;
    char ts[32] = "";
    if (last != INT64_MIN)
      http_fmt_local(s, last, "%d.%m. %H:%M", ts, sizeof ts);
    kk_buf_printf(&b, "<td>%s</td></tr>", ts);
  }
  kk_buf_puts(&b, "</tbody></table>");
  free(t);
  http_page_tail(&b);
  http_respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}

/* One chart of a series over the history window ending now (or at the
 * series' last reading when that is older, e.g. replayed data). */
static void http_chart_for(http_state_t *s, kk_buf_t *b,
                           const http_series_t *se) {
  const kk_datastream_t *d = kk_datastream_get(se->ds);
  int64_t end =
      kk_floor_div(se->last_time, s->width_ms) * s->width_ms + s->width_ms;
  int64_t from = end - (int64_t)s->history_ms;
  double *v = calloc(s->npoints, sizeof *v);
  uint8_t *p = calloc(s->npoints, 1);
  if (!v || !p) {
    b->oom = 1;
    free(v);
    free(p);
    return;
  }
  for (size_t i = 0; i < s->npoints; i++) {
    const http_bucket_t *bk = &se->b[i];
    if (bk->start == INT64_MIN || bk->start < from || bk->start >= end)
      continue;
    size_t idx = (size_t)((bk->start - from) / s->width_ms);
    if (idx >= s->npoints) continue;
    v[idx] = bk->sum / bk->n;
    p[idx] = 1;
  }
  char title[256];
  snprintf(title, sizeof title, "%s %s (%s), last %llu h", d->thing,
           d->property, d->unit, (unsigned long long)(s->history_ms / 3600000));
  http_chart_t c = {.title = title,
                    .unit = d->unit,
                    .tz = s->tz,
                    .from_ms = from,
                    .to_ms = end,
                    .value = v,
                    .present = p,
                    .n = s->npoints};
  if (http_is_co2(d)) {
    c.threshold[0] = 1000;
    c.threshold_label[0] = "1000 ppm: ventilate (UBA)";
    c.threshold[1] = 2000;
    c.threshold_label[1] = "2000 ppm: unacceptable (UBA)";
    c.nthresholds = 2;
  }
  kk_buf_puts(b, "<h2>");
  kk_buf_html(b, d->property);
  kk_buf_puts(b, "</h2><figure>");
  http_chart_svg(b, &c);
  char num[32], ts[32];
  http_chart_fmt(num, sizeof num, se->last_value);
  http_fmt_local(s, se->last_time, "%d.%m.%Y %H:%M", ts, sizeof ts);
  kk_buf_printf(b, "<figcaption>Latest: %s ", num);
  kk_buf_html(b, d->unit);
  kk_buf_printf(b, " at %s (%s). Averages per %lld min.</figcaption></figure>",
                ts, s->tz, (long long)(s->width_ms / 60000));
  free(v);
  free(p);
}

void http_page_not_found(http_state_t *s, h2o_req_t *req, const char *what) {
  kk_buf_t b = {0};
  http_page_head(s, &b, "Not found");
  kk_buf_puts(&b, "<h2>Not found</h2><p>");
  kk_buf_html(&b, what);
  kk_buf_puts(&b, "</p>");
  http_page_tail(&b);
  http_respond(s, req, 404, "Not Found", "text/html; charset=utf-8", &b);
}

void http_page_thing(http_state_t *s, h2o_req_t *req, const char *name) {
  kk_buf_t b = {0};
  int found = 0;
  http_page_head(s, &b, name);
  kk_buf_puts(&b, "<nav><a href=\"/\">&larr; overview</a></nav><h2>");
  kk_buf_html(&b, name);
  kk_buf_puts(&b, "</h2>");
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    const http_series_t *se = s->by_ds[i];
    if (!se || strcmp(kk_datastream_get(se->ds)->thing, name) != 0) continue;
    found++;
    http_chart_for(s, &b, se);
  }
  http_page_tail(&b);
  if (!found) {
    kk_buf_free(&b);
    http_page_not_found(s, req, "No thing of that name has sent data.");
    return;
  }
  http_respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}

void http_api_latest(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  int first = 1;
  kk_buf_puts(&b, "[");
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    const http_series_t *se = s->by_ds[i];
    if (!se) continue;
    const kk_datastream_t *d = kk_datastream_get(se->ds);
    char ts[KK_TIME_ISO_MAX], num[KK_FMT_DOUBLE_MAX];
    kk_time_format_iso8601(se->last_time, ts);
    kk_fmt_double(se->last_value, num);
    kk_buf_printf(&b, "%s{\"datastream\":%u,\"thing\":\"", first ? "" : ",",
                  d->id);
    kk_buf_json(&b, d->thing);
    kk_buf_puts(&b, "\",\"property\":\"");
    kk_buf_json(&b, d->property);
    kk_buf_puts(&b, "\",\"unit\":\"");
    kk_buf_json(&b, d->unit);
    kk_buf_printf(&b, "\",\"time\":\"%s\",\"value\":%s}", ts, num);
    first = 0;
  }
  kk_buf_puts(&b, "]\n");
  http_respond(s, req, 200, "OK", "application/json", &b);
}

/* ---- indoor air, climate balance, measures ---------------------------------
 */

void http_page_indoor(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  http_page_head(s, &b, "Indoor air");
  kk_buf_puts(&b,
              "<h2>Indoor air: CO<sub>2</sub> by room</h2><p>Classes of the "
              "Umweltbundesamt (Ad-hoc-AG IRK/AOLG 2008): below 1000 ppm "
              "harmless, 1000&ndash;2000 ppm ventilate, above 2000 ppm "
              "unacceptable.  Minutes today count the room's averages per "
              "bucket of the chart memory");
  kk_buf_printf(&b, " (%lld min)", (long long)(s->width_ms / 60000));
  kk_buf_puts(&b,
              ", or come from calc.indoor_air when it runs.</p><table><thead>"
              "<tr><th scope=\"col\">Room</th><th scope=\"col\">CO<sub>2</sub> "
              "now</th><th scope=\"col\">Class</th><th scope=\"col\">Minutes "
              "&ge; 1000 ppm today</th><th scope=\"col\">Minutes &gt; 2000 "
              "ppm today</th><th scope=\"col\">Highest today</th></tr></thead>"
              "<tbody>");
  size_t n;
  const char **t = http_things(s, &n);
  int64_t now = kk_now_ms();
  struct tm lt;
  kk_tz_local(s->tz, now / 1000, &lt);
  int64_t day_start =
      now - ((int64_t)lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec) * 1000 -
      now % 1000;
  int rows = 0;
  for (size_t i = 0; i < n; i++) {
    const http_series_t *co2 = http_find_series(s, t[i], "co2");
    if (!co2) continue;
    rows++;
    double m1 = 0, m2 = 0, max = -INFINITY;
    int64_t day = day_start;
    /* The room's "today" is the local day of its latest reading (replayed
     * data may be older than the wall clock). */
    if (co2->last_time < day_start) {
      struct tm rl;
      kk_tz_local(s->tz, co2->last_time / 1000, &rl);
      day = co2->last_time -
            ((int64_t)rl.tm_hour * 3600 + rl.tm_min * 60 + rl.tm_sec) * 1000 -
            co2->last_time % 1000;
    }
    for (size_t k = 0; k < s->npoints; k++) {
      const http_bucket_t *bk = &co2->b[k];
      if (bk->start == INT64_MIN || bk->start < day ||
          bk->start >= day + 86400000)
        continue;
      double avg = bk->sum / bk->n;
      if (avg >= 1000) m1 += (double)s->width_ms / 60000;
      if (avg > 2000) m2 += (double)s->width_ms / 60000;
      if (bk->max > max) max = bk->max;
    }
    const http_series_t *c1 =
        http_find_series(s, t[i], "minutes_above_1000ppm");
    const http_series_t *c2 =
        http_find_series(s, t[i], "minutes_above_2000ppm");
    if (c1 && c1->last_time >= day) m1 = c1->last_value;
    if (c2 && c2->last_time >= day) m2 = c2->last_value;
    int c = http_co2_class(co2->last_value);
    kk_buf_puts(&b, "<tr><th scope=\"row\"><a href=\"/things/");
    kk_buf_url(&b, t[i]);
    kk_buf_puts(&b, "\">");
    kk_buf_html(&b, t[i]);
    kk_buf_printf(
        &b,
        "</a></th><td class=\"num c%d\">%.0f ppm</td><td class=\"c%d\">"
        "%s</td><td class=\"num\">%.0f</td><td class=\"num\">%.0f</td>"
        "<td class=\"num\">%.0f ppm</td></tr>",
        c, co2->last_value, c, http_co2_labels[c], m1, m2,
        isfinite(max) ? max : co2->last_value);
  }
  free(t);
  kk_buf_puts(&b, "</tbody></table>");
  if (!rows)
    kk_buf_puts(
        &b, "<p>No CO<sub>2</sub> readings (property co2, unit ppm) yet.</p>");
  http_page_tail(&b);
  http_respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}

static void http_year_of(http_state_t *s, int64_t ms, char *buf, size_t len) {
  http_fmt_local(s, ms, "%Y", buf, len);
}

/* Things with a yearly CO2e balance (calc.bisko: co2e_total), their
 * sectors and the target path (calc.target: target_path). */
void http_page_climate(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  http_page_head(s, &b, "Climate balance");
  kk_buf_puts(&b, "<h2>CO<sub>2</sub>e balance by sector against the target "
                  "path</h2>");
  size_t n, shown = 0;
  const char **t = http_things(s, &n);
  int64_t tt[HTTP_RECENT], pt[HTTP_RECENT];
  double tv[HTTP_RECENT], pv[HTTP_RECENT];
  for (size_t i = 0; i < n; i++) {
    const http_series_t *tot = http_find_series(s, t[i], "co2e_total");
    if (!tot) continue;
    shown++;
    const kk_datastream_t *d = kk_datastream_get(tot->ds);
    size_t nt = http_recent_sorted(tot, tt, tv), np = 0;
    const http_series_t *path = http_find_series(s, t[i], "target_path");
    if (path) np = http_recent_sorted(path, pt, pv);
    kk_buf_puts(&b, "<h3>");
    kk_buf_html(&b, t[i]);
    kk_buf_puts(&b, "</h3><figure>");
    char title[256];
    snprintf(title, sizeof title, "%s: CO2e per year (%s)%s", t[i], d->unit,
             np ? " with the target path" : "");
    int64_t from = tt[0], to = tt[nt - 1];
    if (np && pt[0] < from) from = pt[0];
    if (np && pt[np - 1] > to) to = pt[np - 1];
    from -= 180LL * 86400000;
    to += 180LL * 86400000;
    http_chart_t c = {.title = title,
                      .unit = d->unit,
                      .tz = s->tz,
                      .from_ms = from,
                      .to_ms = to,
                      .xy_t = tt,
                      .xy_v = tv,
                      .xy_n = nt,
                      .ref_t = pt,
                      .ref_v = pv,
                      .ref_n = np,
                      .ref_label = "target path"};
    http_chart_svg(&b, &c);
    kk_buf_puts(&b, "</figure>");
    /* Table: year, total, each sector, path, on track. */
    static const char *const sectors[] = {"households", "commerce", "industry",
                                          "municipal", "transport"};
    kk_buf_puts(&b, "<table><thead><tr><th scope=\"col\">Year</th>");
    int has[5] = {0};
    const http_series_t *sec[5];
    for (int k = 0; k < 5; k++) {
      char prop[64];
      snprintf(prop, sizeof prop, "co2e_%s", sectors[k]);
      sec[k] = http_find_series(s, t[i], prop);
      if ((has[k] = sec[k] != NULL))
        kk_buf_printf(&b, "<th scope=\"col\">%s</th>", sectors[k]);
    }
    kk_buf_printf(&b, "<th scope=\"col\">Total (%s)</th>%s</tr></thead><tbody>",
                  d->unit,
                  np ? "<th scope=\"col\">Target path</th><th "
                       "scope=\"col\">On track</th>"
                     : "");
    for (size_t k = 0; k < nt; k++) {
      char y[8];
      http_year_of(s, tt[k], y, sizeof y);
      kk_buf_printf(&b, "<tr><th scope=\"row\">%s</th>", y);
      for (int q = 0; q < 5; q++) {
        if (!has[q]) continue;
        double v = NAN;
        for (size_t r = 0; r < HTTP_RECENT; r++)
          if (sec[q]->rt[r] == tt[k]) v = sec[q]->rv[r];
        if (isnan(v))
          kk_buf_puts(&b, "<td class=\"num muted\">&ndash;</td>");
        else
          kk_buf_printf(&b, "<td class=\"num\">%.1f</td>", v);
      }
      kk_buf_printf(&b, "<td class=\"num\">%.1f</td>", tv[k]);
      if (np) {
        double pv_k = NAN;
        for (size_t r = 0; r < np; r++)
          if (pt[r] == tt[k]) pv_k = pv[r];
        if (isnan(pv_k)) {
          kk_buf_puts(&b, "<td class=\"num muted\">&ndash;</td><td></td>");
        } else {
          int on = tv[k] <= pv_k;
          kk_buf_printf(&b,
                        "<td class=\"num\">%.1f</td><td class=\"c%d\">%s</td>",
                        pv_k, on ? 1 : 3, on ? "yes" : "no");
        }
      }
      kk_buf_puts(&b, "</tr>");
    }
    kk_buf_puts(&b, "</tbody></table>");
  }
  free(t);
  if (!shown)
    kk_buf_puts(&b, "<p>No balance yet: a recipe with calc.bisko (and "
                    "calc.target for the path) feeds this page.</p>");
  http_page_tail(&b);
  http_respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}

/* Measures (calc.measures: things "measure/<name>" with impact and
 * expected per year). */
void http_page_measures(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  http_page_head(s, &b, "Measures");
  kk_buf_puts(&b, "<h2>Measures: measured impact against expectation</h2>");
  size_t n, shown = 0;
  const char **t = http_things(s, &n);
  for (size_t i = 0; i < n; i++) {
    const http_series_t *imp = http_find_series(s, t[i], "impact");
    const http_series_t *exp = http_find_series(s, t[i], "expected");
    if (!imp) continue;
    if (!shown++)
      kk_buf_puts(&b, "<table><thead><tr><th scope=\"col\">Measure</th><th "
                      "scope=\"col\">Year</th><th scope=\"col\">Impact</th><th "
                      "scope=\"col\">Expected</th><th scope=\"col\">Share "
                      "reached</th></tr></thead><tbody>");
    const kk_datastream_t *d = kk_datastream_get(imp->ds);
    double e = exp ? exp->last_value : NAN;
    double share = exp && e != 0 ? imp->last_value / e : NAN;
    char y[8];
    http_year_of(s, imp->last_time, y, sizeof y);
    kk_buf_puts(&b, "<tr><th scope=\"row\">");
    kk_buf_html(&b, strncmp(t[i], "measure/", 8) == 0 ? t[i] + 8 : t[i]);
    kk_buf_printf(&b, "</th><td>%s</td><td class=\"num\">%.1f ", y,
                  imp->last_value);
    kk_buf_html(&b, d->unit);
    kk_buf_puts(&b, "</td><td class=\"num\">");
    if (isnan(e))
      kk_buf_puts(&b, "&ndash;");
    else {
      kk_buf_printf(&b, "%.1f ", e);
      kk_buf_html(&b, d->unit);
    }
    kk_buf_puts(&b, "</td><td>");
    if (!isnan(share)) {
      double w = share < 0 ? 0 : share > 1.5 ? 1.5 : share;
      kk_buf_printf(
          &b, "<span class=\"bar\" style=\"width:%.1frem\"></span> %.0f %%",
          w * 8, share * 100);
    }
    kk_buf_puts(&b, "</td></tr>");
  }
  free(t);
  if (shown)
    kk_buf_puts(&b, "</tbody></table>");
  else
    kk_buf_puts(&b,
                "<p>No measures yet: a recipe with calc.measures feeds this "
                "page.</p>");
  http_page_tail(&b);
  http_respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}
