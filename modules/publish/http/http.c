/*
 * modules/publish/http/http.c - publish.http: the dashboard, a JSON API,
 * /metrics, /healthz and /readyz on one HTTP server on the loop (h2o 2.2,
 * libuv build).
 *
 * As a sink it keeps, for every datastream, the latest reading and a ring
 * of time buckets (average, min, max, count) covering `history`, so the
 * dashboard can draw charts with no store behind it (the embedded default
 * of the demo).  Late readings update the bucket they belong to.
 */
#include <klimakit.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net_httpd.h"
#include "publish/http/http_markdown.h"
#include "publish/http/http_chart.h"

typedef struct bucket {
  int64_t start; /* bucket start in ms; INT64_MIN when empty */
  double sum, min, max;
  uint32_t n;
} bucket_t;

/* The last RECENT distinct times of a series, exact: what yearly
 * balances, targets and measures need (their points lie far outside the
 * bucket ring). */
#define RECENT 64

typedef struct series {
  uint32_t ds;
  int64_t last_time;
  double last_value;
  bucket_t *b; /* npoints buckets, indexed by (time / width) % npoints */
  int64_t rt[RECENT]; /* recent times, unordered; INT64_MIN when free */
  double rv[RECENT];
} series_t;

typedef struct http_state {
  kk_stage_t *st;
  const char *title, *tz;
  uint64_t history_ms, refresh_ms;
  size_t npoints;
  int64_t width_ms;
  series_t **by_ds; /* indexed by datastream id; grows */
  size_t by_ds_cap;
  size_t nseries;
  int64_t last_update;
  char *listen;
  const char *cors;
  char *docs_root; /* realpath of docs_dir, NULL: no /docs */
  net_httpd_tls_t tls;
  net_httpd_use_t use;
  /* Rendered pages, reused until new data arrives (gen changes). */
  uint64_t gen;
  struct page_cache {
    char *key, *ctype, *body;
    size_t len;
    uint64_t gen;
  } cache[32];
  size_t cache_next;
  const char *cache_key; /* the request being rendered, if cacheable */
  kk_metric_t *m_requests, *m_errors;
} http_state_t;

/* ---- the sink side ---------------------------------------------------- */

static series_t *series_for(http_state_t *s, uint32_t ds) {
  if (ds >= s->by_ds_cap) {
    size_t ncap = s->by_ds_cap ? s->by_ds_cap : 256;
    while (ncap <= ds) ncap *= 2;
    series_t **n = realloc(s->by_ds, ncap * sizeof *n);
    if (!n) return NULL;
    memset(n + s->by_ds_cap, 0, (ncap - s->by_ds_cap) * sizeof *n);
    s->by_ds = n;
    s->by_ds_cap = ncap;
  }
  if (!s->by_ds[ds]) {
    series_t *se = calloc(1, sizeof *se);
    bucket_t *b = se ? malloc(s->npoints * sizeof *b) : NULL;
    if (!b) {
      free(se);
      return NULL;
    }
    for (size_t i = 0; i < s->npoints; i++) b[i].start = INT64_MIN;
    se->ds = ds;
    se->b = b;
    se->last_time = INT64_MIN;
    for (size_t i = 0; i < RECENT; i++) se->rt[i] = INT64_MIN;
    s->by_ds[ds] = se;
    s->nseries++;
  }
  return s->by_ds[ds];
}

static int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int http_process(kk_stage_t *st, void *state, kk_batch_t *batch) {
  (void)st;
  http_state_t *s = state;
  const kk_reading_t *r = kk_batch_readings(batch);
  for (size_t i = 0, n = kk_batch_len(batch); i < n; i++) {
    if (!isfinite(r[i].value)) continue;
    series_t *se = series_for(s, r[i].ds);
    if (!se) return KK_ENOMEM;
    if (r[i].time_ms >= se->last_time) {
      se->last_time = r[i].time_ms;
      se->last_value = r[i].value;
    }
    /* Keep the value per distinct time (a re-emitted value replaces the
     * old one); when full, the oldest time gives way. */
    size_t slot = RECENT, oldest = 0;
    for (size_t k = 0; k < RECENT; k++) {
      if (se->rt[k] == r[i].time_ms) {
        slot = k;
        break;
      }
      if (se->rt[k] < se->rt[oldest]) oldest = k;
    }
    if (slot == RECENT && r[i].time_ms > se->rt[oldest]) slot = oldest;
    if (slot < RECENT) {
      se->rt[slot] = r[i].time_ms;
      se->rv[slot] = r[i].value;
    }
    int64_t start = floor_div(r[i].time_ms, s->width_ms) * s->width_ms;
    bucket_t *b =
        &se->b[(size_t)(floor_div(start, s->width_ms) % (int64_t)s->npoints +
                        (int64_t)s->npoints) % s->npoints];
    if (b->start != start) {
      if (b->start > start) continue; /* older than the ring holds */
      b->start = start;
      b->n = 0;
      b->sum = 0;
      b->min = INFINITY;
      b->max = -INFINITY;
    }
    b->n++;
    b->sum += r[i].value;
    if (r[i].value < b->min) b->min = r[i].value;
    if (r[i].value > b->max) b->max = r[i].value;
  }
  s->last_update = kk_now_ms();
  s->gen++;
  return 0;
}

/* ---- responses ---------------------------------------------------------- */

static void respond(http_state_t *s, h2o_req_t *req, int status,
                    const char *reason, const char *ctype, kk_buf_t *body) {
  (void)reason;
  if (status >= 400) kk_metric_add(s->m_errors, 1);
  if (s->cache_key && status == 200 && !body->oom) {
    struct page_cache *c = &s->cache[s->cache_next++ % 32];
    free(c->key);
    free(c->ctype);
    free(c->body);
    c->key = strdup(s->cache_key);
    c->ctype = strdup(ctype);
    c->body = malloc(body->len + 1);
    if (c->body) memcpy(c->body, body->p ? body->p : "", body->len);
    c->len = body->len;
    c->gen = s->gen;
    if (!c->key || !c->ctype || !c->body) {
      free(c->key);
      free(c->ctype);
      free(c->body);
      c->key = c->ctype = c->body = NULL;
    }
  }
  s->cache_key = NULL;
  net_httpd_respond(req, status, ctype, body,
                   strncmp(ctype, "application/json", 16) == 0 ? s->cors : NULL);
}

static void fmt_local(http_state_t *s, int64_t ms, const char *fmt, char *buf,
                      size_t len) {
  struct tm tm;
  kk_tz_local(s->tz, ms / 1000, &tm);
  strftime(buf, len, fmt, &tm);
}

static void iso_utc(int64_t ms, char *buf, size_t len) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, len - n, ".%03dZ", (int)(((ms % 1000) + 1000) % 1000));
}

/* UBA indoor-air classes for CO2 (Ad-hoc-AG IRK/AOLG 2008). */
static int co2_class(double ppm) { return ppm > 2000 ? 3 : ppm >= 1000 ? 2 : 1; }
static const char *const co2_labels[] = {"", "harmless", "ventilate",
                                         "unacceptable"};

static int is_co2(const kk_datastream_t *d) {
  return strcmp(d->property, "co2") == 0 && strcmp(d->unit, "ppm") == 0;
}

static void page_head(http_state_t *s, kk_buf_t *b, const char *title) {
  kk_buf_puts(b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
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
      ".chart .ref text{fill:#b3261e}</style></head><body><header><h1><a href=\"/\">");
  kk_buf_html(b, s->title);
  kk_buf_puts(b, "</a></h1><nav aria-label=\"pages\"><a href=\"/\">Overview</a>"
                "<a href=\"/indoor\">Indoor air</a><a href=\"/climate\">Climate "
                "balance</a><a href=\"/measures\">Measures</a>");
  if (s->docs_root) kk_buf_puts(b, "<a href=\"/docs/\">Documentation</a>");
  kk_buf_puts(b, "</nav></header><main>");
}

static void page_tail(kk_buf_t *b) {
  kk_buf_puts(b, "<p class=\"muted\">klimakit " KK_VERSION_STRING
                " &middot; <a href=\"/api/latest\">JSON</a> &middot; "
                "<a href=\"/metrics\">metrics</a></p></main></body></html>");
}

/* Latest value of (thing, property) or NULL. */
static const series_t *find_series(http_state_t *s, const char *thing,
                                   const char *property) {
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    const series_t *se = s->by_ds[i];
    if (!se) continue;
    const kk_datastream_t *d = kk_datastream_get(se->ds);
    if (d && strcmp(d->thing, thing) == 0 && strcmp(d->property, property) == 0)
      return se;
  }
  return NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted distinct thing names (pointers into the registry); caller frees
 * the array. */
static const char **things(http_state_t *s, size_t *n) {
  const char **t = malloc((s->nseries + 1) * sizeof *t);
  *n = 0;
  if (!t) return NULL;
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    if (!s->by_ds[i]) continue;
    const char *name = kk_datastream_get(s->by_ds[i]->ds)->thing;
    size_t k;
    for (k = 0; k < *n; k++)
      if (strcmp(t[k], name) == 0) break;
    if (k == *n) t[(*n)++] = name;
  }
  qsort(t, *n, sizeof *t, cmp_str);
  return t;
}

static void cell(kk_buf_t *b, const series_t *se, const char *unit_label) {
  char num[32];
  if (!se) {
    kk_buf_puts(b, "<td class=\"num muted\">&ndash;</td>");
    return;
  }
  http_chart_fmt(num, sizeof num, se->last_value);
  kk_buf_printf(b, "<td class=\"num\">%s %s</td>", num, unit_label);
}

static void page_overview(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  page_head(s, &b, "Overview");
  size_t n;
  const char **t = things(s, &n);
  int counts[4] = {0};
  for (size_t i = 0; i < n; i++) {
    const series_t *co2 = find_series(s, t[i], "co2");
    if (co2) counts[co2_class(co2->last_value)]++;
  }
  char when[64] = "no data yet";
  if (s->last_update) fmt_local(s, s->last_update, "%d.%m.%Y %H:%M:%S", when, sizeof when);
  kk_buf_printf(&b, "<p>%zu things, %zu datastreams; last update %s (%s).</p>", n,
               s->nseries, when, s->tz);
  if (counts[1] + counts[2] + counts[3])
    kk_buf_printf(&b,
                 "<h2>Indoor air now</h2><p>CO<sub>2</sub> classes of the "
                 "Umweltbundesamt: <span class=\"c1\">%d harmless (&lt; 1000 "
                 "ppm)</span>, <span class=\"c2\">%d ventilate (1000&ndash;2000 "
                 "ppm)</span>, <span class=\"c3\">%d unacceptable (&gt; 2000 "
                 "ppm)</span>.</p>",
                 counts[1], counts[2], counts[3]);
  kk_buf_puts(&b, "<h2>Latest readings</h2><table><thead><tr><th scope=\"col\">"
                 "Thing</th><th scope=\"col\">CO<sub>2</sub></th><th "
                 "scope=\"col\">Class</th><th scope=\"col\">Temperature</th><th "
                 "scope=\"col\">Humidity</th><th scope=\"col\">Energy meter</th>"
                 "<th scope=\"col\">As of</th></tr></thead><tbody>");
  for (size_t i = 0; i < n; i++) {
    const series_t *co2 = find_series(s, t[i], "co2");
    const series_t *temp = find_series(s, t[i], "air_temperature");
    const series_t *hum = find_series(s, t[i], "relative_humidity");
    const series_t *en = find_series(s, t[i], "energy");
    int c = co2 ? co2_class(co2->last_value) : 0;
    kk_buf_puts(&b, "<tr><th scope=\"row\"><a href=\"/things/");
    kk_buf_url(&b, t[i]);
    kk_buf_puts(&b, "\">");
    kk_buf_html(&b, t[i]);
    kk_buf_puts(&b, "</a></th>");
    cell(&b, co2, "ppm");
    kk_buf_printf(&b, "<td class=\"c%d\">%s</td>", c, co2_labels[c]);
    cell(&b, temp, "&deg;C");
    cell(&b, hum, "%");
    cell(&b, en, "kWh");
    int64_t last = INT64_MIN;
    const series_t *all[] = {co2, temp, hum, en};
    for (int k = 0; k < 4; k++)
      if (all[k] && all[k]->last_time > last) last = all[k]->last_time;
    char ts[32] = "";
    if (last != INT64_MIN) fmt_local(s, last, "%d.%m. %H:%M", ts, sizeof ts);
    kk_buf_printf(&b, "<td>%s</td></tr>", ts);
  }
  kk_buf_puts(&b, "</tbody></table>");
  free(t);
  page_tail(&b);
  respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}

/* One chart of a series over the history window ending now (or at the
 * series' last reading when that is older, e.g. replayed data). */
static void chart_for(http_state_t *s, kk_buf_t *b, const series_t *se) {
  const kk_datastream_t *d = kk_datastream_get(se->ds);
  int64_t end = floor_div(se->last_time, s->width_ms) * s->width_ms + s->width_ms;
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
    const bucket_t *bk = &se->b[i];
    if (bk->start == INT64_MIN || bk->start < from || bk->start >= end) continue;
    size_t idx = (size_t)((bk->start - from) / s->width_ms);
    if (idx >= s->npoints) continue;
    v[idx] = bk->sum / bk->n;
    p[idx] = 1;
  }
  char title[256];
  snprintf(title, sizeof title, "%s %s (%s), last %llu h", d->thing, d->property,
           d->unit, (unsigned long long)(s->history_ms / 3600000));
  http_chart_t c = {.title = title, .unit = d->unit, .tz = s->tz,
                  .from_ms = from, .to_ms = end, .value = v, .present = p,
                  .n = s->npoints};
  if (is_co2(d)) {
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
  fmt_local(s, se->last_time, "%d.%m.%Y %H:%M", ts, sizeof ts);
  kk_buf_printf(b, "<figcaption>Latest: %s ", num);
  kk_buf_html(b, d->unit);
  kk_buf_printf(b, " at %s (%s). Averages per %lld min.</figcaption></figure>",
               ts, s->tz, (long long)(s->width_ms / 60000));
  free(v);
  free(p);
}

static int url_decode(char *s) {
  char *o = s;
  for (; *s; s++) {
    if (*s == '%' && s[1] && s[2]) {
      char hex[3] = {s[1], s[2], 0};
      char *end;
      long c = strtol(hex, &end, 16);
      if (*end || c == 0) return -1;
      *o++ = (char)c;
      s += 2;
    } else {
      *o++ = *s;
    }
  }
  *o = 0;
  return 0;
}

static void page_not_found(http_state_t *s, h2o_req_t *req, const char *what) {
  kk_buf_t b = {0};
  page_head(s, &b, "Not found");
  kk_buf_puts(&b, "<h2>Not found</h2><p>");
  kk_buf_html(&b, what);
  kk_buf_puts(&b, "</p>");
  page_tail(&b);
  respond(s, req, 404, "Not Found", "text/html; charset=utf-8", &b);
}

static void page_thing(http_state_t *s, h2o_req_t *req, const char *name) {
  kk_buf_t b = {0};
  int found = 0;
  page_head(s, &b, name);
  kk_buf_puts(&b, "<nav><a href=\"/\">&larr; overview</a></nav><h2>");
  kk_buf_html(&b, name);
  kk_buf_puts(&b, "</h2>");
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    const series_t *se = s->by_ds[i];
    if (!se || strcmp(kk_datastream_get(se->ds)->thing, name) != 0) continue;
    found++;
    chart_for(s, &b, se);
  }
  page_tail(&b);
  if (!found) {
    kk_buf_free(&b);
    page_not_found(s, req, "No thing of that name has sent data.");
    return;
  }
  respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}

static void api_latest(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  int first = 1;
  kk_buf_puts(&b, "[");
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    const series_t *se = s->by_ds[i];
    if (!se) continue;
    const kk_datastream_t *d = kk_datastream_get(se->ds);
    char ts[40], num[40];
    iso_utc(se->last_time, ts, sizeof ts);
    snprintf(num, sizeof num, "%.17g", se->last_value);
    kk_buf_printf(&b, "%s{\"datastream\":%u,\"thing\":\"", first ? "" : ",", d->id);
    kk_buf_json(&b, d->thing);
    kk_buf_puts(&b, "\",\"property\":\"");
    kk_buf_json(&b, d->property);
    kk_buf_puts(&b, "\",\"unit\":\"");
    kk_buf_json(&b, d->unit);
    kk_buf_printf(&b, "\",\"time\":\"%s\",\"value\":%s}", ts, num);
    first = 0;
  }
  kk_buf_puts(&b, "]\n");
  respond(s, req, 200, "OK", "application/json", &b);
}


/* ---- indoor air, climate balance, measures --------------------------------- */

/* Series of `thing` and `property`, any unit (first found). */
static const series_t *series_of(http_state_t *s, const char *thing,
                                 const char *property) {
  return find_series(s, thing, property);
}

/* Recent points of a series in time order; returns the count. */
static size_t recent_sorted(const series_t *se, int64_t *t, double *v) {
  size_t n = 0;
  for (size_t k = 0; k < RECENT; k++)
    if (se->rt[k] != INT64_MIN) {
      size_t j = n++;
      while (j > 0 && t[j - 1] > se->rt[k]) {
        t[j] = t[j - 1];
        v[j] = v[j - 1];
        j--;
      }
      t[j] = se->rt[k];
      v[j] = se->rv[k];
    }
  return n;
}

static void page_indoor(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  page_head(s, &b, "Indoor air");
  kk_buf_puts(&b, "<h2>Indoor air: CO<sub>2</sub> by room</h2><p>Classes of the "
                 "Umweltbundesamt (Ad-hoc-AG IRK/AOLG 2008): below 1000 ppm "
                 "harmless, 1000&ndash;2000 ppm ventilate, above 2000 ppm "
                 "unacceptable.  Minutes today count the room's averages per "
                 "bucket of the chart memory");
  kk_buf_printf(&b, " (%lld min)", (long long)(s->width_ms / 60000));
  kk_buf_puts(&b, ", or come from calc.indoor_air when it runs.</p><table><thead>"
                 "<tr><th scope=\"col\">Room</th><th scope=\"col\">CO<sub>2</sub> "
                 "now</th><th scope=\"col\">Class</th><th scope=\"col\">Minutes "
                 "&ge; 1000 ppm today</th><th scope=\"col\">Minutes &gt; 2000 "
                 "ppm today</th><th scope=\"col\">Highest today</th></tr></thead>"
                 "<tbody>");
  size_t n;
  const char **t = things(s, &n);
  int64_t now = kk_now_ms();
  struct tm lt;
  kk_tz_local(s->tz, now / 1000, &lt);
  int64_t day_start = now - ((int64_t)lt.tm_hour * 3600 + lt.tm_min * 60 +
                             lt.tm_sec) * 1000 - now % 1000;
  int rows = 0;
  for (size_t i = 0; i < n; i++) {
    const series_t *co2 = series_of(s, t[i], "co2");
    if (!co2) continue;
    rows++;
    double m1 = 0, m2 = 0, max = -INFINITY;
    int64_t day = day_start;
    /* The room's "today" is the local day of its latest reading (replayed
     * data may be older than the wall clock). */
    if (co2->last_time < day_start) {
      struct tm rl;
      kk_tz_local(s->tz, co2->last_time / 1000, &rl);
      day = co2->last_time - ((int64_t)rl.tm_hour * 3600 + rl.tm_min * 60 +
                              rl.tm_sec) * 1000 - co2->last_time % 1000;
    }
    for (size_t k = 0; k < s->npoints; k++) {
      const bucket_t *bk = &co2->b[k];
      if (bk->start == INT64_MIN || bk->start < day || bk->start >= day + 86400000)
        continue;
      double avg = bk->sum / bk->n;
      if (avg >= 1000) m1 += (double)s->width_ms / 60000;
      if (avg > 2000) m2 += (double)s->width_ms / 60000;
      if (bk->max > max) max = bk->max;
    }
    const series_t *c1 = series_of(s, t[i], "minutes_above_1000ppm");
    const series_t *c2 = series_of(s, t[i], "minutes_above_2000ppm");
    if (c1 && c1->last_time >= day) m1 = c1->last_value;
    if (c2 && c2->last_time >= day) m2 = c2->last_value;
    int c = co2_class(co2->last_value);
    kk_buf_puts(&b, "<tr><th scope=\"row\"><a href=\"/things/");
    kk_buf_url(&b, t[i]);
    kk_buf_puts(&b, "\">");
    kk_buf_html(&b, t[i]);
    kk_buf_printf(&b, "</a></th><td class=\"num c%d\">%.0f ppm</td><td class=\"c%d\">"
                     "%s</td><td class=\"num\">%.0f</td><td class=\"num\">%.0f</td>"
                     "<td class=\"num\">%.0f ppm</td></tr>",
                 c, co2->last_value, c, co2_labels[c], m1, m2,
                 isfinite(max) ? max : co2->last_value);
  }
  free(t);
  kk_buf_puts(&b, "</tbody></table>");
  if (!rows) kk_buf_puts(&b, "<p>No CO<sub>2</sub> readings (property co2, unit ppm) yet.</p>");
  page_tail(&b);
  respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}

static void year_of(http_state_t *s, int64_t ms, char *buf, size_t len) {
  fmt_local(s, ms, "%Y", buf, len);
}

/* Things with a yearly CO2e balance (calc.bisko: co2e_total), their
 * sectors and the target path (calc.target: target_path). */
static void page_climate(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  page_head(s, &b, "Climate balance");
  kk_buf_puts(&b, "<h2>CO<sub>2</sub>e balance by sector against the target "
                 "path</h2>");
  size_t n, shown = 0;
  const char **t = things(s, &n);
  int64_t tt[RECENT], pt[RECENT];
  double tv[RECENT], pv[RECENT];
  for (size_t i = 0; i < n; i++) {
    const series_t *tot = series_of(s, t[i], "co2e_total");
    if (!tot) continue;
    shown++;
    const kk_datastream_t *d = kk_datastream_get(tot->ds);
    size_t nt = recent_sorted(tot, tt, tv), np = 0;
    const series_t *path = series_of(s, t[i], "target_path");
    if (path) np = recent_sorted(path, pt, pv);
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
    http_chart_t c = {.title = title, .unit = d->unit, .tz = s->tz,
                    .from_ms = from, .to_ms = to, .xy_t = tt, .xy_v = tv,
                    .xy_n = nt, .ref_t = pt, .ref_v = pv, .ref_n = np,
                    .ref_label = "target path"};
    http_chart_svg(&b, &c);
    kk_buf_puts(&b, "</figure>");
    /* Table: year, total, each sector, path, on track. */
    static const char *const sectors[] = {"households", "commerce", "industry",
                                          "municipal", "transport"};
    kk_buf_puts(&b, "<table><thead><tr><th scope=\"col\">Year</th>");
    int has[5] = {0};
    const series_t *sec[5];
    for (int k = 0; k < 5; k++) {
      char prop[64];
      snprintf(prop, sizeof prop, "co2e_%s", sectors[k]);
      sec[k] = series_of(s, t[i], prop);
      if ((has[k] = sec[k] != NULL))
        kk_buf_printf(&b, "<th scope=\"col\">%s</th>", sectors[k]);
    }
    kk_buf_printf(&b, "<th scope=\"col\">Total (%s)</th>%s</tr></thead><tbody>",
                 d->unit, np ? "<th scope=\"col\">Target path</th><th "
                               "scope=\"col\">On track</th>" : "");
    for (size_t k = 0; k < nt; k++) {
      char y[8];
      year_of(s, tt[k], y, sizeof y);
      kk_buf_printf(&b, "<tr><th scope=\"row\">%s</th>", y);
      for (int q = 0; q < 5; q++) {
        if (!has[q]) continue;
        double v = NAN;
        for (size_t r = 0; r < RECENT; r++)
          if (sec[q]->rt[r] == tt[k]) v = sec[q]->rv[r];
        if (isnan(v)) kk_buf_puts(&b, "<td class=\"num muted\">&ndash;</td>");
        else kk_buf_printf(&b, "<td class=\"num\">%.1f</td>", v);
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
          kk_buf_printf(&b, "<td class=\"num\">%.1f</td><td class=\"c%d\">%s</td>",
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
  page_tail(&b);
  respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}

/* Measures (calc.measures: things "measure/<name>" with impact and
 * expected per year). */
static void page_measures(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  page_head(s, &b, "Measures");
  kk_buf_puts(&b, "<h2>Measures: measured impact against expectation</h2>");
  size_t n, shown = 0;
  const char **t = things(s, &n);
  for (size_t i = 0; i < n; i++) {
    const series_t *imp = series_of(s, t[i], "impact");
    const series_t *exp = series_of(s, t[i], "expected");
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
    year_of(s, imp->last_time, y, sizeof y);
    kk_buf_puts(&b, "<tr><th scope=\"row\">");
    kk_buf_html(&b, strncmp(t[i], "measure/", 8) == 0 ? t[i] + 8 : t[i]);
    kk_buf_printf(&b, "</th><td>%s</td><td class=\"num\">%.1f ", y, imp->last_value);
    kk_buf_html(&b, d->unit);
    kk_buf_puts(&b, "</td><td class=\"num\">");
    if (isnan(e)) kk_buf_puts(&b, "&ndash;");
    else {
      kk_buf_printf(&b, "%.1f ", e);
      kk_buf_html(&b, d->unit);
    }
    kk_buf_puts(&b, "</td><td>");
    if (!isnan(share)) {
      double w = share < 0 ? 0 : share > 1.5 ? 1.5 : share;
      kk_buf_printf(&b, "<span class=\"bar\" style=\"width:%.1frem\"></span> %.0f %%",
                   w * 8, share * 100);
    }
    kk_buf_puts(&b, "</td></tr>");
  }
  free(t);
  if (shown) kk_buf_puts(&b, "</tbody></table>");
  else
    kk_buf_puts(&b, "<p>No measures yet: a recipe with calc.measures feeds this "
                   "page.</p>");
  page_tail(&b);
  respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
}

/* ---- /docs: static files, Markdown rendered ------------------------------ */

static const char *content_type(const char *name) {
  static const struct { const char *ext, *type; } types[] = {
      {".html", "text/html; charset=utf-8"}, {".css", "text/css"},
      {".png", "image/png"}, {".svg", "image/svg+xml"},
      {".jpg", "image/jpeg"}, {".txt", "text/plain; charset=utf-8"},
      {".lua", "text/plain; charset=utf-8"}, {".csv", "text/csv; charset=utf-8"},
      {".json", "application/json"}, {".pdf", "application/pdf"}};
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
    if (strcmp(dot, types[i].ext) == 0) return types[i].type;
  return "application/octet-stream";
}

static int read_file(const char *path, kk_buf_t *b) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  char buf[16384];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) kk_buf_put(b, buf, n);
  fclose(f);
  return 0;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void serve_docs(http_state_t *s, h2o_req_t *req, const char *path) {
  /* Resolve inside the root only: realpath() removes "..", symlinks and
   * percent-decoded tricks alike, and the result must stay under root. */
  char want[PATH_MAX], real[PATH_MAX];
  snprintf(want, sizeof want, "%s/%s", s->docs_root, path + 5);
  size_t rl = strlen(s->docs_root);
  if (!realpath(want, real) ||
      (strncmp(real, s->docs_root, rl) != 0 || (real[rl] && real[rl] != '/'))) {
    page_not_found(s, req, "There is no document at this address.");
    return;
  }
  struct stat stt;
  if (stat(real, &stt) != 0) {
    page_not_found(s, req, "There is no document at this address.");
    return;
  }
  kk_buf_t b = {0};
  if (S_ISDIR(stt.st_mode)) {
    char idx[PATH_MAX];
    int il = snprintf(idx, sizeof idx, "%s/index.md", real);
    if (il > 0 && (size_t)il < sizeof idx && access(idx, R_OK) == 0) {
      memcpy(real, idx, (size_t)il + 1);
    } else {
      DIR *d = opendir(real);
      char *names[512];
      size_t n = 0;
      struct dirent *de;
      while (d && (de = readdir(d)) && n < 512)
        if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
      if (d) closedir(d);
      qsort(names, n, sizeof *names, cmp_name);
      page_head(s, &b, "Documentation");
      kk_buf_puts(&b, "<h2>Documentation</h2><ul>");
      const char *rel = real + rl;
      for (size_t i = 0; i < n; i++) {
        if (!names[i]) continue;
        kk_buf_printf(&b, "<li><a href=\"/docs%s/", rel);
        kk_buf_url(&b, names[i]);
        kk_buf_puts(&b, "\">");
        kk_buf_html(&b, names[i]);
        kk_buf_puts(&b, "</a></li>");
        free(names[i]);
      }
      kk_buf_puts(&b, "</ul>");
      page_tail(&b);
      respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
      return;
    }
  }
  kk_buf_t raw = {0};
  if (read_file(real, &raw) != 0) {
    kk_buf_free(&raw);
    page_not_found(s, req, "The document cannot be read.");
    return;
  }
  size_t len = strlen(real);
  if (len > 3 && strcmp(real + len - 3, ".md") == 0) {
    char *html = http_markdown_html(raw.p ? raw.p : "", raw.len);
    const char *title = strrchr(real, '/') + 1;
    page_head(s, &b, title);
    kk_buf_puts(&b, "<nav><a href=\"/docs/\">&larr; documentation</a></nav>"
                   "<article>");
    if (html) kk_buf_puts(&b, html);
    else b.oom = 1;
    kk_buf_puts(&b, "</article>");
    page_tail(&b);
    free(html);
    kk_buf_free(&raw);
    respond(s, req, 200, "OK", "text/html; charset=utf-8", &b);
    return;
  }
  respond(s, req, 200, "OK", content_type(real), &raw);
}

static int on_req(void *ud, h2o_req_t *req, const char *reqpath) {
  http_state_t *s = ud;
  kk_metric_add(s->m_requests, 1);
  char path[2048];
  snprintf(path, sizeof path, "%s", reqpath);
  kk_buf_t b = {0};
  /* Pages and the JSON API only change when data arrives: serve the last
   * rendering while the data generation is the same, unless the client
   * asks for a fresh one (Cache-Control: no-cache). */
  int cacheable = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
                  (strcmp(path, "/") == 0 || strncmp(path, "/things/", 8) == 0 ||
                   strcmp(path, "/indoor") == 0 || strcmp(path, "/climate") == 0 ||
                   strcmp(path, "/measures") == 0 ||
                   strcmp(path, "/api/latest") == 0);
  ssize_t cc = h2o_find_header(&req->headers, H2O_TOKEN_CACHE_CONTROL, -1);
  if (cc >= 0 && h2o_contains_token(req->headers.entries[cc].value.base,
                                    req->headers.entries[cc].value.len,
                                    H2O_STRLIT("no-cache"), ','))
    cacheable = 0;
  if (cacheable) {
    for (size_t i = 0; i < 32; i++) {
      struct page_cache *c = &s->cache[i];
      if (c->key && c->gen == s->gen && strcmp(c->key, path) == 0) {
        net_httpd_respond_buf(req, 200, c->ctype, c->body, c->len,
                             strncmp(c->ctype, "application/json", 16) == 0
                                 ? s->cors
                                 : NULL);
        return 0;
      }
    }
    s->cache_key = path;
  }
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
      !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
    kk_buf_puts(&b, "method not allowed\n");
    respond(s, req, 405, "Method Not Allowed", "text/plain; charset=utf-8", &b);
  } else if (strcmp(path, "/") == 0) {
    page_overview(s, req);
  } else if (strcmp(path, "/indoor") == 0) {
    page_indoor(s, req);
  } else if (strcmp(path, "/climate") == 0) {
    page_climate(s, req);
  } else if (strcmp(path, "/measures") == 0) {
    page_measures(s, req);
  } else if (strncmp(path, "/things/", 8) == 0 && path[8]) {
    if (url_decode(path + 8) != 0) page_not_found(s, req, "Bad thing name.");
    else page_thing(s, req, path + 8);
  } else if (s->docs_root &&
             (strcmp(path, "/docs") == 0 || strncmp(path, "/docs/", 6) == 0)) {
    serve_docs(s, req, path);
  } else if (strcmp(path, "/api/latest") == 0) {
    api_latest(s, req);
  } else if (strcmp(path, "/metrics") == 0) {
    char *m = kk_metrics_render();
    if (m) kk_buf_puts(&b, m);
    else b.oom = 1;
    free(m);
    respond(s, req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", &b);
  } else if (strcmp(path, "/healthz") == 0) {
    kk_buf_puts(&b, "ok\n");
    respond(s, req, 200, "OK", "text/plain; charset=utf-8", &b);
  } else if (strcmp(path, "/readyz") == 0) {
    /* Ready while the sources are not held back by a full sink. */
    int paused = kk_stage_paused(s->st);
    kk_buf_puts(&b, paused ? "paused: a sink queue is full\n" : "ready\n");
    respond(s, req, paused ? 503 : 200, paused ? "Service Unavailable" : "OK",
            "text/plain; charset=utf-8", &b);
  } else {
    page_not_found(s, req, "There is no page at this address.");
  }
  return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

static int http_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  http_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->title = kk_opt_str(opts, "title");
  s->tz = kk_opt_str(opts, "tz");
  s->history_ms = kk_opt_duration_ms(opts, "history");
  s->refresh_ms = kk_opt_duration_ms(opts, "refresh");
  s->npoints = (size_t)kk_opt_int(opts, "points");
  s->cors = kk_opt_str(opts, "cors");
  s->tls.cert_file = kk_opt_str(opts, "tls_cert");
  s->tls.key_file = kk_opt_str(opts, "tls_key");
  if (!s->tls.cert_file != !s->tls.key_file) {
    kk_stage_error(st, "tls_cert and tls_key go together");
    return KK_EINVAL;
  }
  if (kk_tz_check(s->tz) != 0) {
    kk_stage_error(st, "time zone '%s' is not supported (UTC, Europe/Berlin "
                       "and the other EU zones on UTC+1)", s->tz);
    return KK_EINVAL;
  }
  if (s->history_ms < 60000 || s->history_ms / s->npoints < 1000) {
    kk_stage_error(st, "history must be at least 1m and at least 1 s per point");
    return KK_ERANGE;
  }
  s->width_ms = (int64_t)(s->history_ms / s->npoints);
  s->listen = strdup(kk_opt_str(opts, "listen"));
  const char *docs = kk_opt_str(opts, "docs_dir");
  if (docs) {
    char real[PATH_MAX];
    if (!realpath(docs, real)) {
      kk_stage_error(st, "docs_dir %s: no such directory", docs);
      return KK_EINVAL;
    }
    s->docs_root = strdup(real);
  }
  s->m_requests = kk_stage_counter(st, "kk_http_requests_total", NULL,
                                   "HTTP requests served");
  s->m_errors = kk_stage_counter(st, "kk_http_errors_total", NULL,
                                 "HTTP responses with status >= 400");
  return s->listen ? 0 : KK_ENOMEM;
}

static int http_start(kk_stage_t *st, void *state) {
  http_state_t *s = state;
  /* The dashboard takes every path nobody else claimed. */
  int rc = net_httpd_use(&s->use, st, s->listen, &s->tls, 1 << 20, "/", on_req, s);
  if (rc) return rc;
  char url[320];
  net_httpd_base_url(s->use.httpd, s->listen, url, sizeof url);
  kk_stage_log(st, KK_LOG_INFO, "dashboard at %s/", url);
  return 0;
}

static void http_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  net_httpd_unuse(&((http_state_t *)state)->use, cb);
}

static void http_destroy(void *state) {
  http_state_t *s = state;
  if (!s) return;
  for (size_t i = 0; i < s->by_ds_cap; i++) {
    if (!s->by_ds[i]) continue;
    free(s->by_ds[i]->b);
    free(s->by_ds[i]);
  }
  free(s->by_ds);
  for (size_t i = 0; i < 32; i++) {
    free(s->cache[i].key);
    free(s->cache[i].ctype);
    free(s->cache[i].body);
  }
  free(s->listen);
  free(s->docs_root);
  free(s);
}

static const kk_option_t http_options[] = {
    {.name = "listen", .type = KK_OPT_STRING, .def = "127.0.0.1:8080",
     .description = "Address and port to serve on (127.0.0.1 keeps it local; "
                    "port 0 picks a free one and logs it)."},
    {.name = "title", .type = KK_OPT_STRING, .def = "klimakit",
     .description = "Name shown in the page header (the municipality, the "
                    "school)."},
    {.name = "tz", .type = KK_OPT_STRING, .def = "Europe/Berlin",
     .description = "Time zone of the labels: UTC or an EU zone on UTC+1 "
                    "with EU summer time (Europe/Berlin, Europe/Vienna...)."},
    {.name = "history", .type = KK_OPT_DURATION, .def = "24h",
     .description = "Span of the charts kept in memory per datastream."},
    {.name = "points", .type = KK_OPT_INT, .def = "288", .min = 10, .max = 100000,
     .description = "Buckets per chart: history / points is the averaging "
                    "interval (24h / 288 = 5 min)."},
    {.name = "refresh", .type = KK_OPT_DURATION, .def = "60s",
     .description = "Pages reload themselves this often (0: never); works "
                    "without JavaScript."},
    {.name = "cors", .type = KK_OPT_STRING,
     .description = "Origin allowed to read the JSON API from a browser "
                    "(Access-Control-Allow-Origin), e.g. \"*\" or "
                    "\"https://geoportal.example.de\"; unset: none."},
    {.name = "docs_dir", .type = KK_OPT_STRING,
     .description = "Directory served under /docs/ (Markdown rendered to "
                    "HTML with cmark-gfm, other files as they are; nothing "
                    "outside it is reachable).  Unset: no /docs."},
    {.name = "tls_cert", .type = KK_OPT_STRING,
     .description = "PEM certificate chain: serve HTTPS (with tls_key)."},
    {.name = "tls_key", .type = KK_OPT_STRING,
     .description = "PEM private key of tls_cert."},
    {NULL}};

const kk_module_t publish_http_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "http",
    .ns = "publish",
    .kind = KK_KIND_SINK,
    .summary = "Dashboard, JSON API, /metrics, /healthz and /readyz over HTTP",
    .description =
        "Serves a dashboard of the readings it receives: an overview of the "
        "latest value per thing with the Umweltbundesamt's indoor-air class "
        "for CO2, and per thing a chart of every datastream over `history` "
        "(axes with units, local-time labels, threshold lines at 1000 and "
        "2000 ppm for CO2, gaps shown as gaps).  Pages are plain HTML and SVG "
        "and work without JavaScript.  Also `/api/latest` (JSON), `/metrics` "
        "(Prometheus text format), `/healthz` and `/readyz` (503 while "
        "sources are paused by a full sink).  The chart data lives in memory "
        "(the last `history` per datastream); long spans come from a store.",
    .options = http_options,
    .create = http_create,
    .start = http_start,
    .process = http_process,
    .stop = http_stop,
    .destroy = http_destroy,
};
