/*
 * modules/publish/http/http_calc_pages.c - the pages fed by calculators:
 * indoor air (CO₂ now with the Umweltbundesamt's class in words, minutes
 * above 1000 and 2000 ppm today), the climate balance by sector against
 * the target path (calc.bisko, calc.target; drawn by http_balance.c)
 * and measures (calc.measures).  Data from the store when there is one,
 * else from memory (http_data.c).  Runs on the loop thread.
 */
#include "publish/http/http_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish/http/http_balance.h"
#include "publish/http/http_chart.h"

static void http_th_m(http_state_t *s, kk_buf_t *b, http_msg_t m) {
  kk_buf_puts(b, "<th scope=\"col\">");
  kk_buf_html(b, http_t(&s->reg, m));
  kk_buf_puts(b, "</th>");
}

/* "<td class=... data-label=...>text</td>" */
static void http_td(http_state_t *s, kk_buf_t *b, const char *cls,
                    http_msg_t label, const char *text) {
  kk_buf_printf(b, "<td class=\"%s\" data-label=\"", cls);
  kk_buf_html(b, http_t(&s->reg, label));
  kk_buf_puts(b, "\">");
  kk_buf_html(b, text);
  kk_buf_puts(b, "</td>");
}

static void http_thing_link(kk_buf_t *b, const char *thing, const char *shown) {
  kk_buf_puts(b, "<a href=\"/things/");
  kk_buf_url(b, thing);
  kk_buf_puts(b, "\">");
  kk_buf_html(b, shown);
  kk_buf_puts(b, "</a>");
}

/* ---- indoor air ---------------------------------------------------------- */

/* The value of (thing, property) among the items of one thing, if it was
 * read since `since`. */
static int http_item_since(const http_items_t *it, const char *thing,
                           const char *property, int64_t since, double *v) {
  for (size_t i = 0; i < it->len; i++) {
    const http_item_t *x = &it->items[i];
    if (strcmp(x->thing, thing) == 0 && strcmp(x->property, property) == 0 &&
        x->last_time != INT64_MIN && x->last_time >= since) {
      *v = x->last_value;
      return 1;
    }
  }
  return 0;
}

static void http_indoor_row(http_state_t *s, kk_buf_t *b,
                            const http_items_t *it, const http_item_t *co2) {
  /* The room's "today" is the local day of its latest reading (replayed
   * or stale data may be older than the wall clock). */
  int64_t now = kk_now_ms(), ref = co2->last_time < now ? co2->last_time : now;
  int64_t day = http_local_midnight(s->tz, ref);
  int64_t w = s->store_name ? 5 * 60000 : s->width_ms;
  size_t n = (size_t)((KK_DAY_MS + KK_HOUR_MS + w - 1) / w);
  int64_t *edges = malloc((n + 1) * sizeof *edges);
  http_agg_t a = {0};
  char err[256];
  double m1 = 0, m2 = 0, max = -INFINITY;
  int64_t next = http_local_midnight(s->tz, day + 26 * KK_HOUR_MS);
  if (edges) {
    for (size_t i = 0; i <= n; i++)
      edges[i] = kk_floor_div(day, w) * w + (int64_t)i * w;
    if (http_agg_load(s, co2, edges, n, &a, err, sizeof err) == 0)
      for (size_t i = 0; i < n; i++) {
        if (!a.count[i] || edges[i] < day || edges[i] >= next) continue;
        double avg = a.sum[i] / (double)a.count[i];
        if (avg >= 1000) m1 += (double)w / 60000;
        if (avg > 2000) m2 += (double)w / 60000;
        if (a.max[i] > max) max = a.max[i];
      }
  }
  http_agg_free(&a);
  free(edges);
  http_item_since(it, co2->thing, "minutes_above_1000ppm", day, &m1);
  http_item_since(it, co2->thing, "minutes_above_2000ppm", day, &m2);
  char val[64], v1[32], v2[32], hi[64], when[40];
  kk_buf_printf(b, "<tr%s><th scope=\"row\" data-label=\"",
                co2->stale ? " class=\"stale\"" : "");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_col_room));
  kk_buf_puts(b, "\">");
  http_thing_link(b, co2->thing, co2->thing);
  kk_buf_puts(b, "</th>");
  http_value_text(s, co2->last_value, co2->unit, val, sizeof val);
  if (co2->stale) {
    kk_buf_t t = {0};
    http_date(&s->reg, s->tz, co2->last_time, HTTP_M_fmt_datetime, when,
              sizeof when);
    http_say(&t, &s->reg, 0, HTTP_M_stale_since, when, NULL);
    http_td(s, b, "num stale", HTTP_M_col_co2_now, val);
    http_td(s, b, "stale", HTTP_M_col_class, t.p ? t.p : "");
    kk_buf_free(&t);
  } else {
    int c = http_co2_class(co2->last_value);
    char cls[16];
    snprintf(cls, sizeof cls, "num c%d", c);
    http_td(s, b, cls, HTTP_M_col_co2_now, val);
    http_td(s, b, cls + 4, HTTP_M_col_class,
            http_t(&s->reg, HTTP_M_class_1 + c - 1));
  }
  http_num(&s->reg, m1, 0, v1, sizeof v1);
  http_num(&s->reg, m2, 0, v2, sizeof v2);
  http_value_text(s, isfinite(max) ? max : co2->last_value, co2->unit, hi,
                  sizeof hi);
  http_td(s, b, "num", HTTP_M_col_minutes_1000, v1);
  http_td(s, b, "num", HTTP_M_col_minutes_2000, v2);
  http_td(s, b, "num", HTTP_M_col_highest, hi);
  kk_buf_puts(b, "</tr>");
}

void http_page_indoor(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  http_items_t it;
  if (http_items_load(s, NULL, kk_now_ms(), &it) != 0) b.oom = 1;
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_nav_indoor), 1);
  char per[48];
  http_width_text(s, s->store_name ? 5 * 60000 : s->width_ms, per, sizeof per);
  kk_buf_puts(&b, "<h2>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_indoor_title));
  kk_buf_puts(&b, "</h2><p>");
  http_say(&b, &s->reg, 1, HTTP_M_indoor_intro, per, NULL);
  kk_buf_puts(&b, "</p><table class=\"stack indoor\"><thead><tr>");
  static const http_msg_t cols[] = {
      HTTP_M_col_room,         HTTP_M_col_co2_now,      HTTP_M_col_class,
      HTTP_M_col_minutes_1000, HTTP_M_col_minutes_2000, HTTP_M_col_highest};
  for (size_t k = 0; k < sizeof cols / sizeof *cols; k++)
    http_th_m(s, &b, cols[k]);
  kk_buf_puts(&b, "</tr></thead><tbody>");
  int rows = 0;
  for (size_t i = 0; i < it.len; i++) {
    const http_item_t *x = &it.items[i];
    if (!http_is_co2(x->property, x->unit) || x->last_time == INT64_MIN)
      continue;
    rows++;
    http_indoor_row(s, &b, &it, x);
  }
  kk_buf_puts(&b, "</tbody></table>");
  if (!rows) {
    kk_buf_puts(&b, "<p>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_indoor_none));
    kk_buf_puts(&b, "</p>");
  }
  http_items_free(&it);
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}

/* ---- climate balance ----------------------------------------------------- */

/* Distinct things that have `property`, from the items. */
static size_t http_things_with(const http_items_t *it, const char *property,
                               const char **out) {
  size_t n = 0;
  for (size_t i = 0; i < it->len; i++)
    if (strcmp(it->items[i].property, property) == 0 &&
        (!n || strcmp(out[n - 1], it->items[i].thing) != 0))
      out[n++] = it->items[i].thing;
  return n;
}

void http_page_climate(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  http_items_t it;
  if (http_items_load(s, NULL, kk_now_ms(), &it) != 0) b.oom = 1;
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_nav_climate), 1);
  kk_buf_puts(&b, "<h2>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_climate_title));
  kk_buf_puts(&b, "</h2>");
  const char **t = malloc((it.len + 1) * sizeof *t);
  size_t n = t ? http_things_with(&it, "co2e_total", t) : 0;
  for (size_t i = 0; i < n; i++)
    http_balance_thing(s, &b, t[i]);
  if (!n) {
    kk_buf_puts(&b, "<p>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_climate_none));
    kk_buf_puts(&b, "</p>");
  }
  free(t);
  http_items_free(&it);
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}
