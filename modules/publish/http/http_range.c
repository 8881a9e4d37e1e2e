/*
 * modules/publish/http/http_range.c - the time range of a thing's charts:
 * range=24h|7d|30d|1y or from=/to= in the URL (plain links and a GET
 * form, no JavaScript), and the buckets a range is drawn in: evenly
 * spaced averages for line charts (aligned to the store's hourly and
 * daily rollups), local hours, days or months for consumption bars.
 */
#include "publish/http/http_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *key;
  int64_t span, width;
} http_presets[HTTP_RANGE_COUNT] = {
    {"24h", KK_DAY_MS, 5 * 60000},
    {"7d", 7 * KK_DAY_MS, KK_HOUR_MS},
    {"30d", 30 * KK_DAY_MS, 3 * KK_HOUR_MS},
    {"1y", 365 * KK_DAY_MS, KK_DAY_MS},
};

/* UTC ms of local midnight starting civil date y-m-d. */
static int64_t http_local_day(const char *tz, int64_t y, unsigned m,
                              unsigned d) {
  int64_t t = kk_days_from_civil(y, m, d) * 86400;
  int off = kk_tz_offset(tz, t);
  off = kk_tz_offset(tz, t - off);
  return (t - off) * 1000;
}

int64_t http_local_midnight(const char *tz, int64_t ms) {
  struct tm tm;
  kk_tz_local(tz, kk_floor_div(ms, 1000), &tm);
  return http_local_day(tz, tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                        (unsigned)tm.tm_mday);
}

/* A date (YYYY-MM-DD, local midnight; `end`: the midnight after it) or an
 * ISO 8601 date-time. */
static int http_parse_when(const char *tz, const char *v, int end,
                           int64_t *ms) {
  int y, m, d, used = 0;
  if (strlen(v) == 10 && sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &used) == 3 &&
      used == 10 && m >= 1 && m <= 12 && d >= 1 &&
      d <= (int)kk_days_in_month(y, (unsigned)m)) {
    *ms =
        http_local_day(tz, y, (unsigned)m, (unsigned)d) + (end ? KK_DAY_MS : 0);
    if (end) *ms = http_local_midnight(tz, *ms + KK_HOUR_MS * 3);
    return 0;
  }
  return kk_time_parse_iso8601(v, strlen(v), ms);
}

/* Only characters of dates and times go back into links. */
static int http_safe_when(const char *v) {
  return *v && strspn(v, "0123456789-:TZ.+ ") == strlen(v);
}

void http_range_parse(http_state_t *s, h2o_req_t *req, int64_t now,
                      http_range_t *r) {
  char from[48] = "", to[48] = "", key[16];
  memset(r, 0, sizeof *r);
  r->preset = HTTP_RANGE_24H;
  int hf = net_httpd_query(req, "from", from, sizeof from) == 0 && *from;
  int ht = net_httpd_query(req, "to", to, sizeof to) == 0 && *to;
  /* An unescaped '+' of a zone offset arrives as ' ' (form encoding). */
  for (char *c = from + (strlen(from) > 16 ? 16 : strlen(from)); hf && *c; c++)
    if (*c == ' ') *c = '+';
  for (char *c = to + (strlen(to) > 16 ? 16 : strlen(to)); ht && *c; c++)
    if (*c == ' ') *c = '+';
  if (hf || ht) {
    int64_t f = 0, t = now;
    int ok =
        (!hf ||
         (http_safe_when(from) && http_parse_when(s->tz, from, 0, &f) == 0)) &&
        (!ht || (http_safe_when(to) && http_parse_when(s->tz, to, 1, &t) == 0));
    if (ok && !hf) f = t - KK_DAY_MS;
    if (ok && t > f && t - f <= 20 * 366 * KK_DAY_MS) {
      r->preset = HTTP_RANGE_CUSTOM;
      r->from = f;
      r->to = t;
      kk_buf_t q = {0};
      kk_buf_puts(&q, "from=");
      if (hf) kk_buf_url(&q, from);
      kk_buf_puts(&q, "&amp;to=");
      if (ht) kk_buf_url(&q, to);
      snprintf(r->query, sizeof r->query, "%s", q.p && !q.oom ? q.p : "");
      kk_buf_free(&q);
      return;
    }
    r->bad = 1;
  } else if (net_httpd_query(req, "range", key, sizeof key) == 0) {
    int found = 0;
    for (int i = 0; i < HTTP_RANGE_COUNT; i++)
      if (strcmp(key, http_presets[i].key) == 0) {
        r->preset = (http_preset_t)i;
        found = 1;
      }
    r->bad = !found;
  }
  r->to = now;
  r->from = now - http_presets[r->preset].span;
  snprintf(r->query, sizeof r->query, "range=%s", http_presets[r->preset].key);
}

const char *http_range_key(http_preset_t p) {
  return p >= 0 && p < HTTP_RANGE_COUNT ? http_presets[p].key : "";
}

/* The bucket width of a line chart: the preset's, or for a custom span
 * the smallest step giving at most 400 buckets that the store's
 * resolution for the span supports; never finer than the memory ring. */
static int64_t http_line_width(const http_state_t *s, const http_range_t *r) {
  static const int64_t ladder[] = {60000,      5 * 60000,      15 * 60000,
                                   KK_HOUR_MS, 3 * KK_HOUR_MS, 6 * KK_HOUR_MS,
                                   KK_DAY_MS,  7 * KK_DAY_MS,  28 * KK_DAY_MS};
  int64_t span = r->to - r->from, w = ladder[0];
  if (r->preset != HTTP_RANGE_CUSTOM) {
    w = http_presets[r->preset].width;
  } else {
    for (size_t i = 0; i < sizeof ladder / sizeof *ladder; i++) {
      w = ladder[i];
      if (span > KK_STORE_AUTO_RAW_MS && w < KK_HOUR_MS) continue;
      if (span > KK_STORE_AUTO_HOUR_MS && w < KK_DAY_MS) continue;
      if (span / w <= 400) break;
    }
  }
  if (!s->store_name && w < s->width_ms) w = (s->width_ms + w - 1) / w * w;
  return w;
}

size_t http_range_line_edges(const http_state_t *s, const http_range_t *r,
                             int64_t **edges, int64_t *width) {
  int64_t w = http_line_width(s, r);
  int64_t end = kk_floor_div(r->to + w - 1, w) * w, start;
  if (r->preset != HTTP_RANGE_CUSTOM)
    start = end - (http_presets[r->preset].span + w - 1) / w * w;
  else
    start = kk_floor_div(r->from, w) * w;
  size_t n = (size_t)((end - start) / w);
  *width = w;
  *edges = malloc((n + 1) * sizeof **edges);
  if (!*edges) return 0;
  for (size_t i = 0; i <= n; i++)
    (*edges)[i] = start + (int64_t)i * w;
  return n;
}

size_t http_range_bar_edges(const http_state_t *s, const http_range_t *r,
                            int64_t **edges, http_msg_t *period) {
  int64_t span = r->to - r->from;
  size_t cap = 402, n = 0;
  int64_t *e = malloc(cap * sizeof *e);
  *edges = e;
  if (!e) return 0;
  struct tm tm;
  if (span <= 3 * KK_DAY_MS) {
    *period = HTTP_M_per_hour;
    int64_t t = kk_floor_div(r->from, KK_HOUR_MS) * KK_HOUR_MS - KK_HOUR_MS;
    for (; n < cap && (n < 2 || e[n - 1] < r->to); t += KK_HOUR_MS)
      e[n++] = t;
  } else {
    int months = span > 93 * KK_DAY_MS;
    *period = months ? HTTP_M_per_month : HTTP_M_per_day;
    kk_tz_local(s->tz, kk_floor_div(r->from, 1000), &tm);
    int64_t y = tm.tm_year + 1900;
    int m = tm.tm_mon + 1, d = months ? 1 : tm.tm_mday;
    /* One period before the range: the counter at its start. */
    if (months && --m < 1) m = 12, y--;
    int64_t day = kk_days_from_civil(y, (unsigned)m, (unsigned)d) - !months;
    for (; n < cap && (n < 2 || e[n - 1] < r->to);) {
      int64_t yy;
      unsigned mm, dd;
      kk_civil_from_days(day, &yy, &mm, &dd);
      e[n++] = http_local_day(s->tz, yy, mm, dd);
      day += months ? kk_days_in_month(yy, mm) : 1;
    }
  }
  return n ? n - 1 : 0;
}

void http_width_text(const http_state_t *s, int64_t width, char *buf,
                     size_t len) {
  kk_buf_t b = {0};
  char num[24];
  if (width < KK_HOUR_MS) {
    snprintf(num, sizeof num, "%lld", (long long)(width / 60000));
    http_say(&b, &s->reg, 0, HTTP_M_per_minutes, num, NULL);
  } else if (width == KK_HOUR_MS) {
    http_say(&b, &s->reg, 0, HTTP_M_per_hour, NULL);
  } else if (width < KK_DAY_MS) {
    snprintf(num, sizeof num, "%lld", (long long)(width / KK_HOUR_MS));
    http_say(&b, &s->reg, 0, HTTP_M_per_hours, num, NULL);
  } else if (width == KK_DAY_MS) {
    http_say(&b, &s->reg, 0, HTTP_M_per_day, NULL);
  } else if (width == 7 * KK_DAY_MS) {
    http_say(&b, &s->reg, 0, HTTP_M_per_week, NULL);
  } else {
    snprintf(num, sizeof num, "%lld", (long long)(width / KK_DAY_MS));
    http_say(&b, &s->reg, 0, HTTP_M_per_days, num, NULL);
  }
  snprintf(buf, len, "%s", b.p && !b.oom ? b.p : "");
  kk_buf_free(&b);
}
