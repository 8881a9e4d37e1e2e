/*
 * modules/publish/http/http_map.c - the map (/karte): every thing with a
 * location as a marker on an SVG map that klimakit renders itself (no
 * tile server, no JavaScript, nothing from the internet).  Web Mercator
 * over the things' bounding box; optionally the municipality's outline
 * (`map_outline`, a GeoJSON file) and tiles from a server the city runs
 * (`map_tiles`, "https://karte.stadt.example/{z}/{x}/{y}.png", with
 * `map_attribution`).  A marker links to the thing's page and shows its
 * latest class: CO2 by the Umweltbundesamt's classes, PM10 against the
 * daily and NO2 against the hourly limit value of the 39. BImSchV (for
 * orientation: a single hourly value is not a daily mean); grey when its
 * data is stale.  The
 * class is also given by the marker's shape and in words (its accessible
 * name, the legend and the table under the map), never by colour alone.
 * ?gruppe=<id> shows one group.  In a public view with min_group the
 * markers are the groups (at their things' centre), never single things.
 * Runs on the loop thread.
 */
#include "publish/http/http_model.h"

#include <klimakit/thing.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAP_W 800.0
#define HTTP_MAP_MAX_MARKERS 2000
#define HTTP_MAP_MAX_TILES 64
#define HTTP_MAP_LABELS 24 /* markers named on the map up to this many */

/* Limit values a marker is judged by (besides CO2's classes). */
static const struct {
  const char *property;
  double limit;
  http_msg_t what;
} http_limits[] = {
    {"pm10", 50, HTTP_M_limit_pm10},
    {"no2", 200, HTTP_M_limit_no2},
};
#define HTTP_NLIMITS (sizeof http_limits / sizeof *http_limits)

typedef struct http_marker {
  const char *id, *label, *href_kind; /* "things" or "gruppe" */
  double x, y;                        /* Mercator, unit square */
  int cls;                 /* 0 none, 1 fine, 2 noticeable, 3 bad, -1 stale */
  int limit;               /* index into http_limits, -1: CO2 or none */
  const http_item_t *item; /* the datastream judged, or NULL */
  double value;
  const char *unit;
  int64_t last;
  size_t n; /* group markers: things with current data */
} http_marker_t;

static double http_merc_x(double lon) {
  return (lon + 180.0) / 360.0;
}
static double http_merc_y(double lat) {
  if (lat > 85.05) lat = 85.05;
  if (lat < -85.05) lat = -85.05;
  double r = lat * M_PI / 180.0;
  return (1.0 - log(tan(r) + 1.0 / cos(r)) / M_PI) / 2.0;
}

/* The class of one datastream's latest value, or 0 when it has none. */
static int http_marker_judge(const http_item_t *x, int *limit) {
  *limit = -1;
  if (http_is_co2(x->property, x->unit)) return http_co2_class(x->last_value);
  for (size_t k = 0; k < HTTP_NLIMITS; k++)
    if (strcmp(x->property, http_limits[k].property) == 0 &&
        strcmp(x->unit, "ug/m3") == 0) {
      *limit = (int)k;
      return x->last_value > http_limits[k].limit ? 3 : 1;
    }
  return 0;
}

/* Judges a thing from its items [i, j): the first datastream with a class
 * (CO2 first), grey when every datastream is stale. */
static void http_marker_from_items(http_marker_t *m, const http_item_t *it,
                                   size_t n) {
  int all_stale = 1;
  m->cls = 0;
  m->last = INT64_MIN;
  for (size_t pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < n; i++) {
      const http_item_t *x = &it[i];
      if (http_is_alert(x->property)) continue;
      if (!pass) {
        all_stale &= x->stale;
        if (x->last_time > m->last) m->last = x->last_time;
        continue;
      }
      int lim, c = x->stale ? 0 : http_marker_judge(x, &lim);
      if (c && !m->item) {
        m->item = x;
        m->cls = c;
        m->limit = lim;
        m->value = x->last_value;
        m->unit = x->unit;
      }
    }
  if (all_stale) m->cls = -1;
}

/* A ring or line of [lon, lat] points as path data. */
static void http_ring(kk_buf_t *b, const cJSON *ring, double x0, double y0,
                      double k, size_t *budget, int close) {
  int first = 1;
  const cJSON *pt;
  cJSON_ArrayForEach(pt, ring) {
    if (!*budget) return;
    (*budget)--;
    const cJSON *lo = cJSON_GetArrayItem(pt, 0),
                *la = cJSON_GetArrayItem(pt, 1);
    if (!cJSON_IsNumber(lo) || !cJSON_IsNumber(la)) continue;
    kk_buf_printf(b, "%s%.1f %.1f", first ? "M" : "L",
                  (http_merc_x(lo->valuedouble) - x0) * k,
                  (http_merc_y(la->valuedouble) - y0) * k);
    first = 0;
  }
  if (!first && close) kk_buf_puts(b, "Z");
}

/* Coordinates nested `nest` deep (1: a line) as path data. */
static void http_coords(kk_buf_t *b, const cJSON *c, int nest, double x0,
                        double y0, double k, size_t *budget, int close) {
  if (nest <= 1) {
    http_ring(b, c, x0, y0, k, budget, close);
    return;
  }
  const cJSON *e;
  cJSON_ArrayForEach(e, c)
      http_coords(b, e, nest - 1, x0, y0, k, budget, close);
}

/* The outline (a GeoJSON geometry, Feature or FeatureCollection) as path
 * data, at most *budget points. */
static void http_outline_path(kk_buf_t *b, const cJSON *g, double x0, double y0,
                              double k, size_t *budget, int depth) {
  if (!g || depth > 6) return;
  const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(g, "type"));
  if (!type) return;
  if (!strcmp(type, "FeatureCollection")) {
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(g, "features"))
        http_outline_path(b, f, x0, y0, k, budget, depth + 1);
    return;
  }
  if (!strcmp(type, "Feature")) {
    http_outline_path(b, cJSON_GetObjectItem(g, "geometry"), x0, y0, k, budget,
                      depth + 1);
    return;
  }
  static const struct {
    const char *type;
    int nest, close;
  } kinds[] = {{"LineString", 1, 0},
               {"MultiLineString", 2, 0},
               {"Polygon", 2, 1},
               {"MultiPolygon", 3, 1}};
  for (size_t i = 0; i < 4; i++)
    if (!strcmp(type, kinds[i].type))
      http_coords(b, cJSON_GetObjectItem(g, "coordinates"), kinds[i].nest, x0,
                  y0, k, budget, kinds[i].close);
}

/* Bounding box of the outline's points (Mercator). */
static void http_outline_bbox(const cJSON *g, double *bb, int depth) {
  if (!g || depth > 8) return;
  if (cJSON_IsArray(g) && cJSON_GetArraySize(g) >= 2 &&
      cJSON_IsNumber(g->child) && cJSON_IsNumber(g->child->next)) {
    double x = http_merc_x(g->child->valuedouble),
           y = http_merc_y(g->child->next->valuedouble);
    bb[0] = fmin(bb[0], x), bb[1] = fmin(bb[1], y);
    bb[2] = fmax(bb[2], x), bb[3] = fmax(bb[3], y);
    return;
  }
  const cJSON *c;
  cJSON_ArrayForEach(c, g) http_outline_bbox(c, bb, depth + 1);
}

static const char *http_class_word(http_state_t *s, const http_marker_t *m) {
  if (m->cls < 0) return NULL;
  if (m->limit >= 0)
    return http_t(&s->reg,
                  m->cls == 3 ? HTTP_M_limit_above : HTTP_M_limit_below);
  if (m->cls >= 1 && m->cls <= 3)
    return http_t(&s->reg, HTTP_M_class_1 + m->cls - 1);
  return http_t(&s->reg, HTTP_M_map_no_class);
}

/* "CO₂ 850 ppm – hygienisch unbedenklich" or "keine Daten seit ...". */
static void http_marker_text(http_state_t *s, const http_marker_t *m, char *buf,
                             size_t len) {
  char when[48] = "", val[96] = "", pb[128];
  if (m->cls < 0) {
    kk_buf_t t = {0};
    if (m->last == INT64_MIN)
      kk_buf_puts(&t, http_t(&s->reg, HTTP_M_no_data_yet));
    else {
      http_date(&s->reg, s->tz, m->last, HTTP_M_fmt_datetime, when,
                sizeof when);
      http_say(&t, &s->reg, 0, HTTP_M_stale_since, when, NULL);
    }
    snprintf(buf, len, "%s", t.p && !t.oom ? t.p : "");
    kk_buf_free(&t);
    return;
  }
  if (m->item || m->unit) {
    http_value_text(s, m->value, m->unit, val, sizeof val);
    snprintf(buf, len, "%s %s – %s",
             m->item ? http_prop_name(&s->reg, m->item->property, pb, sizeof pb)
                     : "CO₂",
             val, http_class_word(s, m));
  } else {
    snprintf(buf, len, "%s", http_class_word(s, m));
  }
}

/* The marker: a shape per class (circle fine, square noticeable, triangle
 * bad, hollow grey circle stale, small dot without class). */
static void http_marker_svg(kk_buf_t *b, const http_marker_t *m, double x,
                            double y) {
  kk_buf_printf(b, "<g class=\"m c%d\" transform=\"translate(%.1f %.1f)\">",
                m->cls < 0 ? 0 : m->cls, x, y);
  switch (m->cls) {
  case 1:
    kk_buf_puts(b, "<circle r=\"9\"/>");
    break;
  case 2:
    kk_buf_puts(b, "<rect x=\"-8.5\" y=\"-8.5\" width=\"17\" height=\"17\"/>");
    break;
  case 3:
    kk_buf_puts(b, "<path d=\"M0 -11L10 8H-10Z\"/>");
    break;
  case -1:
    kk_buf_puts(b, "<circle class=\"stale\" r=\"8\"/>");
    break;
  default:
    kk_buf_puts(b, "<circle r=\"6\"/>");
  }
  kk_buf_puts(b, "</g>");
}

static void http_map_legend(http_state_t *s, kk_buf_t *b, int co2, int lim) {
  const http_registry_t *r = &s->reg;
  kk_buf_puts(b, "<ul class=\"legend\">");
  struct {
    int cls, show;
    const char *text;
  } rows[] = {{1, co2, http_t(r, HTTP_M_class_1)},
              {2, co2, http_t(r, HTTP_M_class_2)},
              {3, co2, http_t(r, HTTP_M_class_3)},
              {1, lim, http_t(r, HTTP_M_limit_below)},
              {3, lim, http_t(r, HTTP_M_limit_above)},
              {-1, 1, http_t(r, HTTP_M_map_stale)}};
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    if (!rows[i].show) continue;
    http_marker_t m = {.cls = rows[i].cls};
    kk_buf_puts(b, "<li><svg class=\"key\" width=\"24\" height=\"24\" "
                   "viewBox=\"-12 -12 24 24\" aria-hidden=\"true\">");
    http_marker_svg(b, &m, 0, 0);
    kk_buf_puts(b, "</svg> ");
    kk_buf_html(b, rows[i].text);
    kk_buf_puts(b, "</li>");
  }
  for (size_t k = 0; lim && k < HTTP_NLIMITS; k++) {
    kk_buf_puts(b, "<li>");
    kk_buf_html(b, http_t(r, http_limits[k].what));
    kk_buf_puts(b, "</li>");
  }
  kk_buf_puts(b, "</ul>");
}

/* The markers: things with a location (or, in an aggregate view, the
 * groups at their things' centre).  Returns their number. */
static size_t http_map_markers(http_state_t *s, http_items_t *it,
                               const char *only_group, http_marker_t *mk,
                               size_t cap) {
  const http_things_t *th = http_things(s);
  size_t n = 0;
  if (http_single_things(s)) {
    for (size_t i = 0, j; i < it->len && n < cap; i = j) {
      for (j = i;
           j < it->len && !strcmp(it->items[j].thing, it->items[i].thing); j++)
        ;
      const http_thing_t *t = http_thing_find(th, it->items[i].thing);
      if (!t || isnan(t->lat)) continue;
      if (only_group && (!t->group || strcmp(t->group, only_group))) continue;
      http_marker_t *m = &mk[n++];
      memset(m, 0, sizeof *m);
      m->id = t->id;
      m->label = t->label ? t->label : t->id;
      m->href_kind = "things";
      m->x = http_merc_x(t->lon);
      m->y = http_merc_y(t->lat);
      http_marker_from_items(m, &it->items[i], j - i);
    }
    return n;
  }
  http_group_t *g = NULL;
  size_t ng = http_groups_make(s, it, &g);
  for (size_t i = 0; i < ng && n < cap; i++) {
    if (!g[i].id || (only_group && strcmp(g[i].id, only_group))) continue;
    double sx = 0, sy = 0;
    size_t nl = 0;
    for (size_t k = g[i].from; k < g[i].to; k++) {
      if (k > g[i].from && !strcmp(it->items[k].thing, it->items[k - 1].thing))
        continue;
      const http_thing_t *t = http_thing_find(th, it->items[k].thing);
      if (!t || isnan(t->lat)) continue;
      sx += http_merc_x(t->lon);
      sy += http_merc_y(t->lat);
      nl++;
    }
    http_group_now_t now;
    http_group_now(s, it, &g[i], "co2", &now);
    /* A group with too few things with current data is not shown. */
    if (!nl || !now.shown) continue;
    http_marker_t *m = &mk[n++];
    memset(m, 0, sizeof *m);
    m->id = g[i].id;
    m->label = g[i].label;
    m->href_kind = "gruppe";
    m->x = sx / (double)nl;
    m->y = sy / (double)nl;
    m->limit = -1;
    m->n = now.n;
    m->cls = http_co2_class(now.mean);
    m->value = now.mean;
    m->unit = now.unit;
  }
  free(g);
  return n;
}

/* Tiles of the city's server under the markers (Web Mercator). */
static void http_map_tiles(http_state_t *s, kk_buf_t *b, double x0, double y0,
                           double k, double w, double h) {
  int z = (int)floor(log2(k / 256.0) + 0.5);
  if (z < 0) z = 0;
  if (z > 19) z = 19;
  double nt = (double)(1 << z), ts = k / nt;
  long tx0 = (long)floor(x0 * nt), ty0 = (long)floor(y0 * nt);
  long tx1 = (long)floor((x0 + w / k) * nt),
       ty1 = (long)floor((y0 + h / k) * nt);
  if ((tx1 - tx0 + 1) * (ty1 - ty0 + 1) > HTTP_MAP_MAX_TILES) return;
  for (long ty = ty0; ty <= ty1; ty++)
    for (long tx = tx0; tx <= tx1; tx++) {
      if (tx < 0 || ty < 0 || tx >= (long)nt || ty >= (long)nt) continue;
      kk_buf_t url = {0};
      for (const char *p = s->map_tiles; *p; p++) {
        if (!strncmp(p, "{z}", 3))
          kk_buf_printf(&url, "%d", z), p += 2;
        else if (!strncmp(p, "{x}", 3))
          kk_buf_printf(&url, "%ld", tx), p += 2;
        else if (!strncmp(p, "{y}", 3))
          kk_buf_printf(&url, "%ld", ty), p += 2;
        else
          kk_buf_put(&url, p, 1);
      }
      kk_buf_printf(b,
                    "<image class=\"tile\" x=\"%.1f\" y=\"%.1f\" "
                    "width=\"%.2f\" height=\"%.2f\" href=\"",
                    ((double)tx / nt - x0) * k, ((double)ty / nt - y0) * k,
                    ts + 0.5, ts + 0.5);
      kk_buf_html(b, url.p ? url.p : "");
      kk_buf_puts(b, "\"/>");
      kk_buf_free(&url);
    }
}

static void http_map_svg(http_state_t *s, kk_buf_t *b, const http_marker_t *mk,
                         size_t n, const cJSON *outline) {
  double bb[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
  for (size_t i = 0; i < n; i++) {
    bb[0] = fmin(bb[0], mk[i].x), bb[1] = fmin(bb[1], mk[i].y);
    bb[2] = fmax(bb[2], mk[i].x), bb[3] = fmax(bb[3], mk[i].y);
  }
  if (outline) http_outline_bbox(outline, bb, 0);
  /* At least about 150 m across (the rooms of one school); 8 % margin on
   * each side. */
  double minspan = 150.0 / 40075016.0 / cos(M_PI / 180.0 * 51.0);
  double cx = (bb[0] + bb[2]) / 2, cy = (bb[1] + bb[3]) / 2;
  /* The larger side at least minspan; a row of points gets a low map. */
  double big = fmax(fmax(bb[2] - bb[0], bb[3] - bb[1]), minspan);
  double dx = fmax(bb[2] - bb[0], big * 0.4) * 1.16,
         dy = fmax(bb[3] - bb[1], big * 0.4) * 1.16;
  double h = HTTP_MAP_W * dy / dx;
  if (h < 320) h = 320, dy = dx * h / HTTP_MAP_W;
  if (h > 640) h = 640, dx = dy * HTTP_MAP_W / h;
  double k = fmin(HTTP_MAP_W / dx, h / dy);
  double x0 = cx - HTTP_MAP_W / k / 2, y0 = cy - h / k / 2;
  kk_buf_printf(b,
                "<svg class=\"map\" viewBox=\"0 0 %.0f %.0f\" role=\"group\" "
                "aria-labelledby=\"map-title\" data-markers=\"%zu\">"
                "<title id=\"map-title\">",
                HTTP_MAP_W, h, n);
  kk_buf_html(b, http_t(&s->reg, HTTP_M_map_title));
  kk_buf_printf(b,
                "</title><rect class=\"sea\" width=\"%.0f\" height=\"%.0f\"/>",
                HTTP_MAP_W, h);
  if (s->map_tiles) http_map_tiles(s, b, x0, y0, k, HTTP_MAP_W, h);
  if (outline) {
    size_t budget = 50000;
    kk_buf_puts(b, "<path class=\"outline\" d=\"");
    http_outline_path(b, outline, x0, y0, k, &budget, 0);
    kk_buf_puts(b, "\"/>");
  }
  double lab[HTTP_MAP_LABELS][3];
  size_t nlab = 0;
  for (size_t i = 0; i < n; i++) {
    const http_marker_t *m = &mk[i];
    char text[400], name[600];
    http_marker_text(s, m, text, sizeof text);
    snprintf(name, sizeof name, "%s: %s", m->label, text);
    double x = (m->x - x0) * k, y = (m->y - y0) * k;
    kk_buf_printf(b, "<a href=\"/%s/", m->href_kind);
    kk_buf_url(b, m->id);
    kk_buf_puts(b, "\" aria-label=\"");
    kk_buf_html(b, name);
    kk_buf_puts(b, "\"><title>");
    kk_buf_html(b, name);
    kk_buf_puts(b, "</title>");
    http_marker_svg(b, m, x, y);
    /* A name beside the marker where it does not cover another name
     * (right, else left); the others are in the title and the table. */
    double tw = 8.0 * (double)strlen(m->label) * 0.9, th = 18;
    for (int side = 0; n <= HTTP_MAP_LABELS && side < 2; side++) {
      double lx = side ? x - 14 - tw : x + 14, ly = y - 8;
      if (lx < 0 || lx + tw > HTTP_MAP_W) continue;
      int clash = 0;
      for (size_t j = 0; j < nlab && !clash; j++)
        clash = lx < lab[j][0] + lab[j][2] && lab[j][0] < lx + tw &&
                ly < lab[j][1] + th && lab[j][1] < ly + th;
      for (size_t j = 0; j < n && !clash; j++) {
        double mx = (mk[j].x - x0) * k, my = (mk[j].y - y0) * k;
        clash = j != i && mx + 9 > lx && mx - 9 < lx + tw && my + 9 > ly &&
                my - 9 < ly + th;
      }
      if (clash) continue;
      if (nlab < HTTP_MAP_LABELS) {
        lab[nlab][0] = lx, lab[nlab][1] = ly, lab[nlab][2] = tw;
        nlab++;
      }
      kk_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\"%s>", side ? x - 14 : x + 14,
                    y + 5, side ? " text-anchor=\"end\"" : "");
      kk_buf_html(b, m->label);
      kk_buf_puts(b, "</text>");
      break;
    }
    kk_buf_puts(b, "</a>");
  }
  kk_buf_puts(b, "</svg>");
  if (s->map_tiles && s->map_attribution) {
    kk_buf_puts(b, "<p class=\"muted\">");
    kk_buf_html(b, s->map_attribution);
    kk_buf_puts(b, "</p>");
  }
}

/* The table under the map: the markers in words. */
static void http_map_table(http_state_t *s, kk_buf_t *b,
                           const http_marker_t *mk, size_t n) {
  const http_registry_t *r = &s->reg;
  kk_buf_puts(b, "<table class=\"stack map-list\"><caption>");
  kk_buf_html(b, http_t(r, HTTP_M_map_table));
  kk_buf_puts(b, "</caption><thead><tr><th scope=\"col\">");
  kk_buf_html(b, http_t(r, HTTP_M_col_thing));
  kk_buf_puts(b, "</th><th scope=\"col\">");
  kk_buf_html(b, http_t(r, HTTP_M_col_state));
  kk_buf_puts(b, "</th></tr></thead><tbody>");
  for (size_t i = 0; i < n; i++) {
    char text[400];
    http_marker_text(s, &mk[i], text, sizeof text);
    kk_buf_printf(b, "<tr%s><th scope=\"row\" data-label=\"",
                  mk[i].cls < 0 ? " class=\"stale\"" : "");
    kk_buf_html(b, http_t(r, HTTP_M_col_thing));
    kk_buf_printf(b, "\"><a href=\"/%s/", mk[i].href_kind);
    kk_buf_url(b, mk[i].id);
    kk_buf_puts(b, "\">");
    kk_buf_html(b, mk[i].label);
    kk_buf_printf(b, "</a></th><td class=\"c%d\" data-label=\"",
                  mk[i].cls < 0 ? 0 : mk[i].cls);
    kk_buf_html(b, http_t(r, HTTP_M_col_state));
    kk_buf_puts(b, "\">");
    kk_buf_html(b, text);
    kk_buf_puts(b, "</td></tr>");
  }
  kk_buf_puts(b, "</tbody></table>");
}

void http_page_map(http_state_t *s, h2o_req_t *req) {
  int64_t now = kk_now_ms();
  http_items_t it;
  kk_buf_t b = {0};
  char group[256];
  int has_group = net_httpd_query(req, "gruppe", group, sizeof group) == 0;
  if (http_items_load(s, NULL, now, &it) != 0) b.oom = 1;
  http_marker_t *mk = malloc(HTTP_MAP_MAX_MARKERS * sizeof *mk);
  size_t n = mk ? http_map_markers(s, &it, has_group ? group : NULL, mk,
                                   HTTP_MAP_MAX_MARKERS)
                : 0;
  if (!mk) b.oom = 1;
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_nav_map), 0);
  kk_buf_puts(&b, "<h2>");
  kk_buf_html(&b, http_t(&s->reg, HTTP_M_map_title));
  kk_buf_puts(&b, "</h2>");
  int co2 = 0, lim = 0;
  for (size_t i = 0; i < n; i++) {
    co2 |= mk[i].limit < 0 && mk[i].cls > 0;
    lim |= mk[i].limit >= 0;
  }
  if (!n) {
    kk_buf_puts(&b, "<p>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_map_none));
    kk_buf_puts(&b, "</p>");
  } else {
    cJSON *outline = s->map_outline ? cJSON_Parse(s->map_outline) : NULL;
    kk_buf_puts(&b, "<figure class=\"mapfig\">");
    http_map_svg(s, &b, mk, n, outline);
    cJSON_Delete(outline);
    kk_buf_puts(&b, "<figcaption>");
    http_map_legend(s, &b, co2 || !lim, lim);
    if (!http_single_things(s)) {
      char m[16];
      snprintf(m, sizeof m, "%d", s->pub.min_group);
      http_say(&b, &s->reg, 1, HTTP_M_public_aggregates, m, NULL);
    }
    kk_buf_puts(&b, "</figcaption></figure>");
    http_map_table(s, &b, mk, n);
  }
  free(mk);
  http_items_free(&it);
  http_page_tail(s, &b);
  http_respond(s, req, 200, "text/html; charset=utf-8", &b);
}

int http_map_init(http_state_t *s, const char *tiles, const char *outline,
                  const char *attribution) {
  if (tiles && (!strstr(tiles, "{z}") || !strstr(tiles, "{x}") ||
                !strstr(tiles, "{y}"))) {
    kk_stage_error(s->st, "map_tiles: a URL template with {z}, {x} and {y}");
    return KK_EINVAL;
  }
  s->map_tiles = tiles ? strdup(tiles) : NULL;
  s->map_attribution = attribution ? strdup(attribution) : NULL;
  if (!outline) return 0;
  FILE *f = fopen(outline, "rb");
  kk_buf_t b = {0};
  char chunk[65536];
  size_t n;
  while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (16u << 20))
    kk_buf_put(&b, chunk, n);
  if (f) fclose(f);
  cJSON *g = f && !b.oom && b.len < (16u << 20)
                 ? cJSON_ParseWithLength(b.p, b.len)
                 : NULL;
  if (!g || !cJSON_GetObjectItem(g, "type")) {
    kk_stage_error(s->st,
                   "map_outline %s: not a readable GeoJSON file (at most "
                   "16 MiB)",
                   outline);
    cJSON_Delete(g);
    kk_buf_free(&b);
    return KK_EINVAL;
  }
  cJSON_Delete(g);
  s->map_outline = strndup(b.p, b.len);
  kk_buf_free(&b);
  return s->map_outline ? 0 : KK_ENOMEM;
}
