/*
 * modules/publish/http/http.c - publish.http: the dashboard, a JSON API,
 * /metrics, /healthz and /readyz on one HTTP server on the loop (h2o 2.2,
 * libuv build).
 *
 * With `store` it reads every chart and table from that store; as a sink
 * it then keeps only the latest reading and the learned interval of each
 * datastream.  Without one it also keeps a ring of time buckets (average,
 * min, max, count) covering `history`, so the dashboard can draw charts
 * with no store behind it.  Both are bounded (max_datastreams,
 * max_memory).
 *
 * The files of the module: http_cache.c (the bounded in-memory series and
 * the rendered pages), http_data.c (what the pages read: store or
 * memory), http_range.c (chart ranges and buckets), http_i18n.c (message
 * catalogue messages_<lang>.def, number and date formats, the property
 * registry registry.def), http_pages.c (frame, overview, /api/latest),
 * http_thing.c (a thing's charts and CSV), http_calc_pages.c (indoor air,
 * the climate page's frame), http_balance*.c (the balance and target
 * path, its CSV and SVG), http_heat.c (/heat), http_measures.c and
 * http_measure.c (/measures, one measure, /api/measures),
 * http_challenges.c (/challenges), http_docs.c (/docs, the built
 * documentation site), http_chart.c (SVG charts), http_things.c (the things
 * table, thing labels, open alerts), http_groups.c (groups and their
 * pages), http_map.c (/karte), http_access.c (public and internal views,
 * /login), http_files.c (the `files` downloads) and this one (routing,
 * the stage's lifecycle and the descriptor).  Everything runs on the loop
 * thread.
 */
#include "publish/http/http_model.h"
#include "publish/http/http_measures.h"
#include "publish/http/http_balance.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Percent-decodes a thing name in place; -1 on a NUL escape. */
static int http_url_decode(char *s) {
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

/* ---- routing ---------------------------------------------------------------
 */

static void http_route_overview(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_page_overview(s, req);
}
static void http_route_indoor(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_page_indoor(s, req);
}
static void http_route_climate(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_page_climate(s, req);
}
static void http_route_measures(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_page_measures(s, req);
}
static void http_route_measure(http_state_t *s, h2o_req_t *req, char *path) {
  if (http_url_decode(path) != 0)
    http_page_not_found(s, req, HTTP_M_ms_no_measure);
  else
    http_page_measure(s, req, path);
}
static void http_route_challenges(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_page_challenges(s, req);
}
static void http_route_api_measures(http_state_t *s, h2o_req_t *req,
                                    char *rest) {
  (void)rest;
  http_api_measures(s, req);
}
static void http_route_thing(http_state_t *s, h2o_req_t *req, char *path) {
  char *rest = path + strlen("/things/");
  if (!*rest || http_url_decode(rest) != 0)
    http_page_not_found(s, req, HTTP_M_bad_thing);
  else
    http_page_thing(s, req, rest);
}
static void http_route_group(http_state_t *s, h2o_req_t *req, char *path) {
  char *rest = path + strlen("/gruppe/");
  if (!*rest || http_url_decode(rest) != 0)
    http_page_not_found(s, req, HTTP_M_no_group);
  else
    http_page_group(s, req, rest);
}
static void http_route_map(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_page_map(s, req);
}
static void http_route_login(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_page_login(s, req);
}
static void http_route_logout(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_page_logout(s, req);
}
static void http_route_csv(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_csv(s, req);
}
static void http_route_latest(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  http_api_latest(s, req);
}
static void http_route_docs(http_state_t *s, h2o_req_t *req, char *path) {
  if (!s->docs_root) {
    http_page_not_found(s, req, HTTP_M_no_page);
    return;
  }
  http_serve_docs(s, req, path);
}
static void http_route_metrics(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  kk_buf_t b = {0};
  http_metrics_update(s);
  char *m = kk_metrics_render();
  if (m)
    kk_buf_puts(&b, m);
  else
    b.oom = 1;
  free(m);
  http_respond(s, req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}
static void http_route_healthz(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  kk_buf_t b = {0};
  kk_buf_puts(&b, "ok\n");
  http_respond(s, req, 200, "text/plain; charset=utf-8", &b);
}
static void http_route_readyz(http_state_t *s, h2o_req_t *req, char *rest) {
  (void)rest;
  /* Ready while the sources are not held back by a full sink. */
  kk_buf_t b = {0};
  int paused = kk_stage_paused(s->st);
  kk_buf_puts(&b, paused ? "paused: a sink queue is full\n" : "ready\n");
  http_respond(s, req, paused ? 503 : 200, "text/plain; charset=utf-8", &b);
}

/* The pages.  `prefix`: the path continues ("/things/<name>"); handlers
 * get the whole path.  `cacheable`: a GET is served from the page cache
 * while the data has not changed (http_cache.c).  New pages (groups, a
 * map, views with access rules) are one line here each.  Which view a
 * request gets (public or internal) is decided before (http_access.c). */
void http_route_quarter(http_state_t *s, h2o_req_t *req, char *path);
static const struct http_route {
  const char *path;
  int prefix, cacheable;
  void (*fn)(http_state_t *s, h2o_req_t *req, char *path);
} http_routes[] = {
    {"/", 0, 1, http_route_overview},
    {"/indoor", 0, 1, http_route_indoor},
    {"/climate", 0, 1, http_route_climate},
    {"/climate.csv", 0, 1, http_route_balance_csv},
    {"/climate.svg", 0, 1, http_route_balance_svg},
    {"/heat", 0, 1, http_route_heat},
    {"/measures", 0, 1, http_route_measures},
    {"/measures/", 1, 1, http_route_measure},
    {"/api/measures", 0, 1, http_route_api_measures},
    {"/challenges", 0, 1, http_route_challenges},
    {"/quarter", 0, 1, http_route_quarter},
    {"/things/", 1, 1, http_route_thing},
    {"/csv", 0, 0, http_route_csv},
    {"/api/latest", 0, 1, http_route_latest},
    {"/docs", 0, 0, http_route_docs},
    {"/docs/", 1, 0, http_route_docs},
    {"/metrics", 0, 0, http_route_metrics},
    {"/healthz", 0, 0, http_route_healthz},
    {"/readyz", 0, 0, http_route_readyz},
    {"/gruppe/", 1, 1, http_route_group},
    {"/karte", 0, 1, http_route_map},
    {"/login", 0, 0, http_route_login},
    {"/logout", 0, 0, http_route_logout},
};

static int http_on_req(void *ud, h2o_req_t *req, const char *reqpath) {
  http_state_t *s = ud;
  kk_metric_add(s->m_requests, 1);
  char path[2048];
  snprintf(path, sizeof path, "%s", reqpath);
  const struct http_route *r = NULL;
  for (size_t i = 0; i < sizeof http_routes / sizeof *http_routes && !r; i++) {
    size_t n = strlen(http_routes[i].path);
    if (http_routes[i].prefix ? strncmp(path, http_routes[i].path, n) == 0
                              : strcmp(path, http_routes[i].path) == 0)
      r = &http_routes[i];
  }
  int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
  int login_post =
      r && r->fn == http_route_login &&
      h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
  if (!get && !login_post &&
      !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
    kk_buf_t b = {0};
    kk_buf_puts(&b, http_t(&s->reg, HTTP_M_method_not_allowed));
    kk_buf_puts(&b, "\n");
    http_respond(s, req, 405, "text/plain; charset=utf-8", &b);
    return 0;
  }
  if (!http_access_check(s, req, path)) return 0;
  if (!r) {
    if (!http_files_serve(s, req, path))
      http_page_not_found(s, req, HTTP_M_no_page);
    s->view_public = 0;
    return 0;
  }
  /* Pages and the JSON API only change when data arrives (and as time
   * passes: HTTP_PAGE_CACHE_MS): serve the last rendering while the data
   * generation is the same, unless the client asks for a fresh one
   * (Cache-Control: no-cache).  The key includes the query (the range). */
  char key[2600];
  snprintf(key, sizeof key, "%c%s?%.*s", s->view_public ? 'p' : 'i', path,
           req->query_at == SIZE_MAX ? 0
                                     : (int)(req->path.len - req->query_at - 1),
           req->query_at == SIZE_MAX ? "" : req->path.base + req->query_at + 1);
  int cacheable = get && r->cacheable;
  ssize_t cc = h2o_find_header(&req->headers, H2O_TOKEN_CACHE_CONTROL, -1);
  if (cc >= 0 && h2o_contains_token(req->headers.entries[cc].value.base,
                                    req->headers.entries[cc].value.len,
                                    H2O_STRLIT("no-cache"), ','))
    cacheable = 0;
  if (cacheable) {
    const struct http_page_cache *c = http_cache_get_page(s, key);
    if (c) {
      net_httpd_respond_buf(
          req, 200, c->ctype, c->body, c->len,
          strncmp(c->ctype, "application/json", 16) == 0 ? s->cors : NULL);
      return 0;
    }
    s->cache_key = key;
  }
  r->fn(s, req, path);
  s->cache_key = NULL;
  s->view_public = 0;
  return 0;
}

/* ---- lifecycle ------------------------------------------------------------
 */

static int http_process(kk_stage_t *st, void *state, kk_batch_t *batch) {
  (void)st;
  return http_cache_add(state, batch);
}

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
    kk_stage_error(st,
                   "time zone '%s' is not supported (UTC, Europe/Berlin "
                   "and the other EU zones on UTC+1)",
                   s->tz);
    return KK_EINVAL;
  }
  if (s->history_ms < 60000 || s->history_ms / s->npoints < 1000) {
    kk_stage_error(st,
                   "history must be at least 1m and at least 1 s per point");
    return KK_ERANGE;
  }
  s->width_ms = (int64_t)(s->history_ms / s->npoints);
  s->store_name = kk_opt_str(opts, "store");
  s->interval_ms = (int64_t)kk_opt_duration_ms(opts, "interval");
  s->stale_ms = (int64_t)kk_opt_duration_ms(opts, "stale");
  char err[256];
  if (http_registry_init(&s->reg, kk_opt_str(opts, "lang"),
                         kk_opt_json(opts, "properties"),
                         kk_opt_json(opts, "units"), err, sizeof err) != 0) {
    kk_stage_error(st, "%s", err);
    return KK_EINVAL;
  }
  if (http_things_init(s, kk_opt_json(opts, "things"),
                       kk_opt_str(opts, "things_file")) != 0 ||
      http_access_init(s, kk_opt_json(opts, "public"),
                       kk_opt_str(opts, "tokens_file")) != 0 ||
      http_files_init(s, kk_opt_json(opts, "files")) != 0 ||
      http_map_init(s, kk_opt_str(opts, "map_tiles"),
                    kk_opt_str(opts, "map_outline"),
                    kk_opt_str(opts, "map_attribution")) != 0)
    return KK_EINVAL;
  if (http_cache_init(s, (size_t)kk_opt_int(opts, "max_datastreams"),
                      (size_t)kk_opt_size(opts, "max_memory")) != 0)
    return KK_ENOMEM;
  s->listen = strdup(kk_opt_str(opts, "listen"));
  const char *docs = kk_opt_str(opts, "docs_dir");
  if (docs) {
    char real[PATH_MAX];
    if (!realpath(docs, real)) {
      kk_stage_error(st, "docs_dir %s: no such directory", docs);
      return KK_EINVAL;
    }
    s->docs_root = strdup(real);
  } else {
    s->docs_root = http_docs_default_root();
  }
  s->m_requests = kk_stage_counter(st, "kk_http_requests_total", NULL,
                                   "HTTP requests served");
  s->m_errors = kk_stage_counter(st, "kk_http_errors_total", NULL,
                                 "HTTP responses with status >= 400");
  s->m_refused = kk_stage_counter(
      st, "kk_http_datastreams_refused_total", NULL,
      "Readings the dashboard did not keep: their datastream is beyond "
      "max_datastreams or max_memory");
  s->m_store_errors = kk_stage_counter(st, "kk_http_store_errors_total", NULL,
                                       "Store queries of the dashboard that "
                                       "failed");
  s->m_denied = kk_stage_counter(st, "kk_http_denied_total", NULL,
                                 "Requests for internal pages without a "
                                 "valid token or session, failed logins");
  s->m_logins = kk_stage_counter(st, "kk_http_logins_total", NULL,
                                 "Sessions opened through /login");
  char labels[160];
  snprintf(labels, sizeof labels, "stage=\"%s\"", kk_stage_name(st));
  s->m_held = kk_gauge("kk_http_datastreams", labels,
                       "Datastreams the dashboard holds in memory");
  s->m_stale = kk_gauge("kk_http_datastreams_stale", labels,
                        "Datastreams without a reading for longer than "
                        "expected (at the last /metrics)");
  return s->listen ? 0 : KK_ENOMEM;
}

static int http_start(kk_stage_t *st, void *state) {
  http_state_t *s = state;
  /* The dashboard takes every path nobody else claimed. */
  int rc = net_httpd_use(&s->use, st, s->listen, &s->tls, 1 << 20, "/",
                         http_on_req, s);
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
  http_cache_free(s);
  http_things_free(&s->things);
  http_access_free(s);
  http_files_free(s);
  free(s->map_tiles);
  free(s->map_outline);
  free(s->map_attribution);
  free(s->ivals);
  http_registry_free(&s->reg);
  free(s->listen);
  free(s->docs_root);
  free(s);
}

static const kk_option_t http_options[] = {
    {.name = "listen",
     .type = KK_OPT_STRING,
     .def = "127.0.0.1:8080",
     .description = "Address and port to serve on (127.0.0.1 keeps it local; "
                    "port 0 picks a free one and logs it)."},
    {.name = "title",
     .type = KK_OPT_STRING,
     .def = "klimakit",
     .description = "Name shown in the page header (the municipality, the "
                    "school)."},
    {.name = "tz",
     .type = KK_OPT_STRING,
     .def = "Europe/Berlin",
     .description = "Time zone of the labels: UTC or an EU zone on UTC+1 "
                    "with EU summer time (Europe/Berlin, Europe/Vienna...)."},
    {.name = "store",
     .type = KK_OPT_STRING,
     .description = "Name of the store stage (store.sqlite, store.postgres) "
                    "every chart and table is read from; memory is then only "
                    "a cache of the latest values.  Unset: charts from "
                    "memory over `history`."},
    {.name = "lang",
     .type = KK_OPT_ENUM,
     .def = "de",
     .choices = "de|en",
     .description = "Language of the pages: German (numbers 1.234,5, dates "
                    "01.12.2026 14:05) or English."},
    {.name = "properties",
     .type = KK_OPT_TABLE,
     .description = "Additions to the property registry: property = "
                    "\"Name\" or { name = \"Gaszähler\", name_en = \"Gas "
                    "meter\", meter = true } (meter: a cumulative counter, "
                    "shown as consumption)."},
    {.name = "units",
     .type = KK_OPT_TABLE,
     .description = "Additions to the unit labels: UCUM code = \"label\", "
                    "e.g. { [\"m3/h\"] = \"m³/h\" }."},
    {.name = "interval",
     .type = KK_OPT_DURATION,
     .description = "Expected interval between readings of every "
                    "datastream.  Unset: learned from the readings."},
    {.name = "stale",
     .type = KK_OPT_DURATION,
     .description = "A datastream without a reading for this long is shown "
                    "as \"keine Daten seit ...\" in grey.  Unset: three "
                    "expected intervals, at least 15 min (2 h while the "
                    "interval is not known)."},
    {.name = "max_datastreams",
     .type = KK_OPT_INT,
     .def = "2000",
     .min = 1,
     .max = 10000000,
     .description = "Most datastreams held in memory; readings of further "
                    "ones are counted in kk_http_datastreams_refused_total "
                    "(a store still shows them)."},
    {.name = "max_memory",
     .type = KK_OPT_SIZE,
     .def = "32MiB",
     .description = "Most memory the held datastreams take (about 40 bytes "
                    "per point and datastream without a store, under 100 "
                    "bytes with one)."},
    {.name = "history",
     .type = KK_OPT_DURATION,
     .def = "24h",
     .description = "Without a store: span of the charts kept in memory per "
                    "datastream."},
    {.name = "points",
     .type = KK_OPT_INT,
     .def = "288",
     .min = 10,
     .max = 4096,
     .description = "Without a store: buckets per datastream in memory; "
                    "history / points is the averaging interval (24h / 288 "
                    "= 5 min)."},
    {.name = "refresh",
     .type = KK_OPT_DURATION,
     .def = "0s",
     .description = "The overview and the indoor-air page reload "
                    "themselves this often (0: never); thing pages and "
                    "documents never do."},
    {.name = "cors",
     .type = KK_OPT_STRING,
     .description = "Origin allowed to read the JSON API from a browser "
                    "(Access-Control-Allow-Origin), e.g. \"*\" or "
                    "\"https://geoportal.example.de\"; unset: none."},
    {.name = "docs_dir",
     .type = KK_OPT_STRING,
     .description = "The documentation site served under /docs/, as "
                    "`klimakit docs build` (make docs) writes it: that "
                    "folder, a folder holding it as html/ (the installed "
                    "share/klimakit/docs) or a source tree's docs/ (its "
                    "build/site).  Nothing outside the site is reachable. "
                    " Unset: the installed site, else the one beside the "
                    "running binary (build/site); neither: no /docs."},
    {.name = "things",
     .type = KK_OPT_TABLE,
     .description = "The things table: { [\"raum-101\"] = { label = \"Raum "
                    "101\", group = \"gs-nord\", group_label = "
                    "\"Grundschule Nord\", lat = 51.34, lon = 12.37, public "
                    "= false, district = \"Mitte\" } }; further members are "
                    "kept as properties.  Handed to the core "
                    "(klimakit/thing.h), so the store keeps it too."},
    {.name = "things_file",
     .type = KK_OPT_STRING,
     .description = "The things table as CSV (UTF-8, ';' or ','): a header "
                    "id;label;group;group_label;lat;lon;public;... and a "
                    "line per thing (public: ja/nein)."},
    {.name = "public",
     .type = KK_OPT_TABLE,
     .description = "A public view for requests without a token: { pages "
                    "= { \"/\", \"/karte\", \"/gruppe/*\", "
                    "\"/api/latest\", \"/docs/*\" }, min_group = 5, "
                    "properties = { \"co2\" }, things = \"public\" | "
                    "\"internal\" }.  min_group n > 0: only aggregates over "
                    "groups of at least n things with current data, never a "
                    "single thing (0: single public things).  Unset: no "
                    "public view."},
    {.name = "tokens_file",
     .type = KK_OPT_STRING,
     .description = "File of SHA-256 digests of the tokens that open the "
                    "internal view (printf %s TOKEN | sha256sum), by "
                    "\"Authorization: Bearer\" or the session cookie of "
                    "/login.  Unset with no `public`: every page is open."},
    {.name = "map_tiles",
     .type = KK_OPT_STRING,
     .description = "Tile URL template of a map server the city runs, "
                    "e.g. \"https://karte.stadt.example/{z}/{x}/{y}.png\" "
                    "(Web Mercator); unset: the map has no background "
                    "(nothing is loaded from elsewhere)."},
    {.name = "map_attribution",
     .type = KK_OPT_STRING,
     .description = "Text shown under the map for its tiles (their "
                    "licence)."},
    {.name = "map_outline",
     .type = KK_OPT_STRING,
     .description = "GeoJSON file (Polygon, MultiPolygon, lines, Feature "
                    "or FeatureCollection, WGS 84) drawn under the markers: "
                    "the municipality's boundary or districts."},
    {.name = "files",
     .type = KK_OPT_TABLE,
     .description = "Directories served as they are under a path, for "
                    "downloads: { [\"/daten/\"] = \"/srv/opendata\" } "
                    "(nothing outside them, no listings, at most 16 MiB a "
                    "file; public only when `public.pages` names the path)."},
    {.name = "tls_cert",
     .type = KK_OPT_STRING,
     .description = "PEM certificate chain: serve HTTPS (with tls_key)."},
    {.name = "tls_key",
     .type = KK_OPT_STRING,
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
        "A municipal dashboard, German first (`lang`): an overview of the "
        "latest value per thing and quantity with the Umweltbundesamt's "
        "indoor-air class for CO2 in words, datastreams without current data "
        "in grey with their date (and listed); per thing a chart of every "
        "datastream over a range chosen by link or form (24 h, 7 d, 30 d, 1 "
        "year, from/to), cumulative meters as consumption bars, each with a "
        "table of its values and a CSV download; indoor air, climate balance "
        "and measures pages.  With `store` every chart and table is read "
        "from that store (long ranges through its rollups), so a restart "
        "shows what the store holds; without one the charts come from "
        "memory over `history`.  Things carry names, groups and places "
        "(`things`, `things_file`, or described by decoders such as "
        "decode.uba: klimakit/thing.h); the overview groups them, each "
        "group has its page (/gruppe/<id>), and /karte draws them on an SVG "
        "map klimakit renders itself (optional `map_outline`, `map_tiles`). "
        "A public view (`public`) shows only what the recipe allows, with "
        "`min_group` only aggregates over groups of at least that many "
        "things; internal pages need a token (`tokens_file`: bearer or the "
        "/login session cookie) and list the open alerts of calc.alert.  "
        "Memory is bounded (`max_datastreams`, "
        "`max_memory`).  Plain HTML and SVG that work without JavaScript, "
        "from 360 px phones up.  Also `/api/latest` (JSON), `/metrics`, "
        "`/healthz` and `/readyz` (503 while sources are paused by a full "
        "sink).  Texts: modules/publish/http/messages_*.def.",
    .options = http_options,
    .create = http_create,
    .start = http_start,
    .process = http_process,
    .stop = http_stop,
    .destroy = http_destroy,
};
