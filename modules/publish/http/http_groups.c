/*
 * modules/publish/http/http_groups.c - groups of things (a school and its
 * rooms, a city and its stations): the order of the overview by group,
 * aggregates over a group's things with current data (what a public view
 * with `min_group` shows instead of single rooms: Lübeck publishes school
 * CO2 values only over at least five measuring points), and the group
 * page /gruppe/<id> with the group's table, its open alerts and a chart
 * of the group's mean over a chosen range.  Runs on the loop thread.
 */
#include "publish/http/http_model.h"

#include <klimakit/thing.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish/http/http_chart.h"

/* ---- order by group ------------------------------------------------------ */

typedef struct http_gkey {
  const char *gid, *glabel, *tlabel;
  http_item_t it;
} http_gkey_t;

static int http_str0(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "");
}

static int http_gkey_cmp(const void *a, const void *b) {
  const http_gkey_t *x = a, *y = b;
  if (!x->gid != !y->gid) return x->gid ? -1 : 1; /* ungrouped last */
  int c = http_str0(x->glabel, y->glabel);
  if (!c) c = http_str0(x->gid, y->gid);
  if (!c) c = strcoll(x->tlabel, y->tlabel);
  if (!c) c = strcmp(x->it.thing, y->it.thing);
  if (!c) c = strcmp(x->it.property, y->it.property);
  if (!c) c = strcmp(x->it.unit, y->it.unit);
  return c;
}

size_t http_groups_make(http_state_t *s, http_items_t *it, http_group_t **out) {
  *out = NULL;
  const http_things_t *th = http_things(s);
  http_gkey_t *k = malloc((it->len + 1) * sizeof *k);
  if (!k) return 0;
  for (size_t i = 0; i < it->len; i++) {
    const http_thing_t *t = http_thing_find(th, it->items[i].thing);
    k[i].gid = t ? t->group : NULL;
    k[i].glabel = t ? t->group_label : NULL;
    k[i].tlabel = t && t->label ? t->label : it->items[i].thing;
    k[i].it = it->items[i];
  }
  qsort(k, it->len, sizeof *k, http_gkey_cmp);
  size_t ng = 0;
  for (size_t i = 0; i < it->len; i++)
    if (!i || http_str0(k[i].gid, k[i - 1].gid)) ng++;
  http_group_t *g = calloc(ng + 1, sizeof *g);
  if (!g) {
    free(k);
    return 0;
  }
  ng = 0;
  for (size_t i = 0; i < it->len; i++) {
    it->items[i] = k[i].it;
    if (!i || http_str0(k[i].gid, k[i - 1].gid)) {
      g[ng].id = k[i].gid;
      g[ng].label = k[i].glabel ? k[i].glabel : k[i].gid;
      g[ng].from = i;
      ng++;
    }
    g[ng - 1].to = i + 1;
    if (!i || strcmp(k[i].it.thing, k[i - 1].it.thing)) g[ng - 1].nthings++;
  }
  free(k);
  *out = g;
  return ng;
}

/* ---- aggregates over a group ------------------------------------------- */

void http_group_now(http_state_t *s, const http_items_t *it,
                    const http_group_t *g, const char *property,
                    http_group_now_t *out) {
  memset(out, 0, sizeof *out);
  double sum = 0;
  for (size_t i = g->from; i < g->to; i++) {
    const http_item_t *x = &it->items[i];
    if (strcmp(x->property, property) != 0) continue;
    if (!out->unit) out->unit = x->unit;
    if (strcmp(out->unit, x->unit) != 0) continue;
    if (x->stale || x->last_time == INT64_MIN) continue;
    out->n++;
    sum += x->last_value;
    if (http_is_co2(x->property, x->unit))
      out->classes[http_co2_class(x->last_value)]++;
    if (x->last_time > out->last) out->last = x->last_time;
  }
  out->mean = out->n ? sum / (double)out->n : NAN;
  out->shown = out->n && out->n >= (size_t)s->pub.min_group;
  if (!s->view_public || !s->pub.min_group) out->shown = out->n > 0;
}

/* The quantities a group's table shows: those of calc-free datastreams
 * most things of the group have, CO2 first (at most HTTP_MAX_COLUMNS). */
static size_t http_group_props(http_state_t *s, const http_items_t *it,
                               const http_group_t *g, const char **col) {
  const char *prop[64];
  size_t cnt[64], np = 0, n = 0;
  for (size_t i = g->from; i < g->to; i++) {
    const char *p = it->items[i].property;
    /* Means of counters and of daily minutes say nothing. */
    if (http_is_derived(p) || http_is_meter(&s->reg, p) ||
        strcmp(it->items[i].unit, "min") == 0)
      continue;
    size_t k = 0;
    while (k < np && strcmp(prop[k], p) != 0)
      k++;
    if (k == np && np < 64) prop[np] = p, cnt[np++] = 0;
    if (k < np) cnt[k]++;
  }
  for (size_t k = 0; k < np; k++)
    if (strcmp(prop[k], "co2") == 0) col[n++] = prop[k], cnt[k] = 0;
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

static void http_cell(kk_buf_t *b, const char *cls, const char *label,
                      const char *text) {
  kk_buf_printf(b, "<td%s%s%s data-label=\"", cls ? " class=\"" : "",
                cls ? cls : "", cls ? "\"" : "");
  kk_buf_html(b, label);
  kk_buf_puts(b, "\">");
  kk_buf_html(b, text);
  kk_buf_puts(b, "</td>");
}

/* One row of aggregates of a group: things with current data, the mean of
 * each quantity, the CO2 classes as counts.  Hidden values when fewer
 * than min_group things have current data (public view). */
static void http_group_row(http_state_t *s, kk_buf_t *b, const http_items_t *it,
                           const http_group_t *g, const char **col, size_t ncol,
                           int link) {
  const http_registry_t *r = &s->reg;
  kk_buf_puts(b, "<tr><th scope=\"row\" data-label=\"");
  kk_buf_html(b, http_t(r, HTTP_M_col_group));
  kk_buf_puts(b, "\">");
  const char *label = g->label ? g->label : http_t(r, HTTP_M_group_other);
  if (link && g->id) {
    kk_buf_puts(b, "<a href=\"/gruppe/");
    kk_buf_url(b, g->id);
    kk_buf_puts(b, "\">");
    kk_buf_html(b, label);
    kk_buf_puts(b, "</a>");
  } else {
    kk_buf_html(b, label);
  }
  kk_buf_puts(b, "</th>");
  http_group_now_t now[HTTP_MAX_COLUMNS];
  size_t fresh = 0;
  for (size_t k = 0; k < ncol; k++) {
    http_group_now(s, it, g, col[k], &now[k]);
    if (now[k].n > fresh) fresh = now[k].n;
  }
  char cnt[96];
  snprintf(cnt, sizeof cnt, "%zu / %zu", fresh, g->nthings);
  http_cell(b, "num", http_t(r, HTTP_M_col_points_current), cnt);
  int co2 = -1;
  for (size_t k = 0; k < ncol; k++) {
    char name[128], val[96] = "–";
    const char *pl = http_prop_name(r, col[k], name, sizeof name);
    char label2[200];
    snprintf(label2, sizeof label2, "%s (%s)", pl, http_t(r, HTTP_M_col_mean));
    if (now[k].shown)
      http_value_text(s, now[k].mean, now[k].unit, val, sizeof val);
    http_cell(b, now[k].shown ? "num" : "num stale", label2, val);
    if (strcmp(col[k], "co2") == 0) co2 = (int)k;
  }
  if (co2 >= 0) {
    /* Counts per class in words and colour: "10 unbedenklich". */
    kk_buf_puts(b, "<td class=\"chips\" data-label=\"");
    kk_buf_html(b, http_t(r, HTTP_M_col_classes));
    kk_buf_puts(b, "\">");
    for (int c = 1; now[co2].shown && c <= 3; c++) {
      char n[16];
      snprintf(n, sizeof n, "%d", now[co2].classes[c]);
      kk_buf_printf(b, "<span class=\"c%d\">", c);
      http_say(b, r, 1, HTTP_M_class_short, n,
               http_t(r, HTTP_M_class_short_1 + c - 1), NULL);
      kk_buf_puts(b, "</span>");
    }
    if (!now[co2].shown) kk_buf_puts(b, "–");
    kk_buf_puts(b, "</td>");
  }
  size_t min = (size_t)s->pub.min_group;
  kk_buf_t note = {0};
  if (s->view_public && min && fresh < min) {
    char m[24];
    snprintf(m, sizeof m, "%zu", min);
    http_say(&note, r, 0, HTTP_M_group_too_small, m, NULL);
  }
  http_cell(b, note.len ? "stale" : NULL, http_t(r, HTTP_M_col_note),
            note.p ? note.p : "");
  kk_buf_free(&note);
  kk_buf_puts(b, "</tr>");
}

static void http_th(kk_buf_t *b, const char *text) {
  kk_buf_puts(b, "<th scope=\"col\">");
  kk_buf_html(b, text);
  kk_buf_puts(b, "</th>");
}

void http_groups_table(http_state_t *s, kk_buf_t *b, const http_items_t *it,
                       const http_group_t *g, size_t ng, int link) {
  const http_registry_t *r = &s->reg;
  /* Columns: the quantities of all groups shown (CO2 first). */
  http_group_t all = {.from = 0, .to = it->len};
  const char *col[HTTP_MAX_COLUMNS];
  size_t ncol = http_group_props(s, it, &all, col);
  if (s->view_public && s->pub.min_group) {
    kk_buf_puts(b, "<p>");
    char m[16];
    snprintf(m, sizeof m, "%d", s->pub.min_group);
    http_say(b, r, 1, HTTP_M_public_aggregates, m, NULL);
    kk_buf_puts(b, "</p>");
  }
  kk_buf_puts(b, "<table class=\"stack groups\"><thead><tr>");
  http_th(b, http_t(r, HTTP_M_col_group));
  http_th(b, http_t(r, HTTP_M_col_points_current));
  int co2 = 0;
  for (size_t k = 0; k < ncol; k++) {
    char name[128], h[200];
    snprintf(h, sizeof h, "%s (%s)",
             http_prop_name(r, col[k], name, sizeof name),
             http_t(r, HTTP_M_col_mean));
    http_th(b, h);
    co2 |= strcmp(col[k], "co2") == 0;
  }
  if (co2) http_th(b, http_t(r, HTTP_M_col_classes));
  http_th(b, http_t(r, HTTP_M_col_note));
  kk_buf_puts(b, "</tr></thead><tbody>");
  for (size_t i = 0; i < ng; i++)
    http_group_row(s, b, it, &g[i], col, ncol, link);
  kk_buf_puts(b, "</tbody></table>");
}

/* ---- the group page ------------------------------------------------------ */

/* The group's mean of `property` over the range: per bucket the mean of
 * the things' bucket means, shown only where at least min_group things
 * (public view) or one thing have data. */
static int http_group_chart(http_state_t *s, kk_buf_t *b,
                            const http_items_t *it, const http_group_t *g,
                            const char *property, const http_range_t *r) {
  int64_t *edges = NULL, width;
  size_t n = http_range_line_edges(s, r, &edges, &width);
  if (!edges) return KK_ENOMEM;
  double *sum = calloc(n + 1, sizeof *sum), *v = calloc(n + 1, sizeof *v);
  size_t *cnt = calloc(n + 1, sizeof *cnt);
  uint8_t *present = calloc(n + 1, 1);
  const char *unit = NULL;
  int rc = sum && v && cnt && present ? 0 : KK_ENOMEM;
  for (size_t i = g->from; !rc && i < g->to; i++) {
    const http_item_t *x = &it->items[i];
    if (strcmp(x->property, property) != 0) continue;
    if (!unit) unit = x->unit;
    if (strcmp(unit, x->unit) != 0) continue;
    http_agg_t a;
    char err[256];
    int arc = http_agg_load(s, x, edges, n, &a, err, sizeof err);
    if (arc == KK_ENOMEM) rc = arc;
    for (size_t k = 0; arc == 0 && k < n; k++)
      if (a.count[k]) {
        sum[k] += a.sum[k] / (double)a.count[k];
        cnt[k]++;
      }
    http_agg_free(&a);
  }
  size_t min =
      s->view_public && s->pub.min_group ? (size_t)s->pub.min_group : 1;
  size_t np = 0, hidden = 0;
  for (size_t k = 0; !rc && k < n; k++) {
    if (cnt[k] >= min) {
      v[k] = sum[k] / (double)cnt[k];
      present[k] = 1;
      np++;
    } else if (cnt[k]) {
      hidden++;
    }
  }
  if (!rc && unit) {
    char pbuf[128], title[300];
    const char *pname = http_prop_name(&s->reg, property, pbuf, sizeof pbuf);
    kk_buf_t tb = {0};
    http_say(&tb, &s->reg, 0, HTTP_M_group_mean_of, pname, NULL);
    snprintf(title, sizeof title, "%s", tb.p && !tb.oom ? tb.p : pname);
    kk_buf_free(&tb);
    const char *ul = http_unit_label(&s->reg, unit);
    kk_buf_puts(b, "<section class=\"datastream\"><h3>");
    kk_buf_html(b, title);
    if (*ul) {
      kk_buf_puts(b, " (");
      kk_buf_html(b, ul);
      kk_buf_puts(b, ")");
    }
    kk_buf_puts(b, "</h3><figure>");
    http_chart_t c = {.reg = &s->reg,
                      .title = title,
                      .unit = ul,
                      .tz = s->tz,
                      .from_ms = edges[0],
                      .to_ms = edges[n],
                      .value = v,
                      .present = present,
                      .n = n};
    if (http_is_co2(property, unit)) {
      c.threshold[0] = 1000;
      c.threshold_label[0] = http_t(&s->reg, HTTP_M_threshold_1000);
      c.threshold[1] = 2000;
      c.threshold_label[1] = http_t(&s->reg, HTTP_M_threshold_2000);
      c.nthresholds = 2;
    }
    http_chart_svg(b, &c);
    char per[48], m[24];
    http_width_text(s, width, per, sizeof per);
    kk_buf_puts(b, "<figcaption>");
    http_say(b, &s->reg, 1, HTTP_M_group_mean_caption, per, NULL);
    if (hidden) {
      snprintf(m, sizeof m, "%zu", min);
      kk_buf_puts(b, " ");
      http_say(b, &s->reg, 1, HTTP_M_group_hidden_buckets, m, NULL);
    }
    kk_buf_puts(b, "</figcaption></figure></section>");
  }
  free(edges);
  free(sum);
  free(v);
  free(cnt);
  free(present);
  return rc;
}

void http_page_group(http_state_t *s, h2o_req_t *req, const char *group) {
  int64_t now = kk_now_ms();
  http_items_t it;
  kk_buf_t b = {0};
  if (http_items_load(s, NULL, now, &it) != 0) {
    http_page_not_found(s, req, HTTP_M_no_group);
    return;
  }
  http_group_t *g = NULL;
  size_t ng = http_groups_make(s, &it, &g), gi = ng;
  for (size_t i = 0; i < ng; i++)
    if (g[i].id && strcmp(g[i].id, group) == 0) gi = i;
  if (gi == ng) {
    free(g);
    http_items_free(&it);
    http_page_not_found(s, req, HTTP_M_no_group);
    return;
  }
  http_range_t r;
  http_range_parse(s, req, now, &r);
  const http_group_t *gr = &g[gi];
  http_page_head(s, &b, gr->label, 0);
  kk_buf_puts(&b, "<nav><a href=\"/\">");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_back_overview));
  kk_buf_puts(&b, "</a></nav><h2>");
  kk_buf_html(&b, gr->label);
  kk_buf_puts(&b, "</h2>");
  http_groups_table(s, &b, &it, gr, 1, 0);
  if (http_single_things(s)) {
    http_alerts_section(s, &b, &it, NULL);
    http_items_t sub = {.len = gr->to - gr->from, .items = it.items + gr->from};
    kk_buf_puts(&b, "<h3>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_group_things));
    kk_buf_puts(&b, "</h3>");
    http_things_table(s, &b, &sub);
  }
  kk_buf_puts(&b, "<p><a href=\"/karte?gruppe=");
  kk_buf_url(&b, gr->id);
  kk_buf_puts(&b, "\">");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_group_on_map));
  kk_buf_puts(&b, "</a></p>");
  http_range_form(s, &b, &r);
  const char *col[HTTP_MAX_COLUMNS];
  size_t ncol = http_group_props(s, &it, gr, col);
  for (size_t k = 0; k < ncol && k < 4; k++) {
    if (http_group_chart(s, &b, &it, gr, col[k], &r) != 0) b.oom = 1;
  }
  free(g);
  http_items_free(&it);
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}
