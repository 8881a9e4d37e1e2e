/*
 * modules/publish/http/http.c - publish.http: the dashboard, a JSON API,
 * /metrics, /healthz and /readyz on one HTTP server on the loop (h2o 2.2,
 * libuv build).
 *
 * As a sink it keeps, for every datastream, the latest reading and a ring
 * of time buckets (average, min, max, count) covering `history`, so the
 * dashboard can draw charts with no store behind it (the embedded default
 * of the demo).  Late readings update the bucket they belong to.
 *
 * The files of the module: http_cache.c (the in-memory series and the
 * rendered pages), http_pages.c (the dashboard's pages and /api/latest),
 * http_docs.c (/docs), http_chart.c (SVG charts), http_markdown.c
 * (Markdown to HTML) and this one (routing, the stage's lifecycle and the
 * descriptor).  Everything runs on the loop thread.
 */
#include "publish/http/http_model.h"

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

static int http_on_req(void *ud, h2o_req_t *req, const char *reqpath) {
  http_state_t *s = ud;
  kk_metric_add(s->m_requests, 1);
  char path[2048];
  snprintf(path, sizeof path, "%s", reqpath);
  kk_buf_t b = {0};
  /* Pages and the JSON API only change when data arrives: serve the last
   * rendering while the data generation is the same, unless the client
   * asks for a fresh one (Cache-Control: no-cache). */
  int cacheable =
      h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
      (strcmp(path, "/") == 0 || strncmp(path, "/things/", 8) == 0 ||
       strcmp(path, "/indoor") == 0 || strcmp(path, "/climate") == 0 ||
       strcmp(path, "/measures") == 0 || strcmp(path, "/api/latest") == 0);
  ssize_t cc = h2o_find_header(&req->headers, H2O_TOKEN_CACHE_CONTROL, -1);
  if (cc >= 0 && h2o_contains_token(req->headers.entries[cc].value.base,
                                    req->headers.entries[cc].value.len,
                                    H2O_STRLIT("no-cache"), ','))
    cacheable = 0;
  if (cacheable) {
    const struct http_page_cache *c = http_cache_get_page(s, path);
    if (c) {
      net_httpd_respond_buf(
          req, 200, c->ctype, c->body, c->len,
          strncmp(c->ctype, "application/json", 16) == 0 ? s->cors : NULL);
      return 0;
    }
    s->cache_key = path;
  }
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
      !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
    kk_buf_puts(&b, "method not allowed\n");
    http_respond(s, req, 405, "Method Not Allowed", "text/plain; charset=utf-8",
                 &b);
  } else if (strcmp(path, "/") == 0) {
    http_page_overview(s, req);
  } else if (strcmp(path, "/indoor") == 0) {
    http_page_indoor(s, req);
  } else if (strcmp(path, "/climate") == 0) {
    http_page_climate(s, req);
  } else if (strcmp(path, "/measures") == 0) {
    http_page_measures(s, req);
  } else if (strncmp(path, "/things/", 8) == 0 && path[8]) {
    if (http_url_decode(path + 8) != 0)
      http_page_not_found(s, req, "Bad thing name.");
    else
      http_page_thing(s, req, path + 8);
  } else if (s->docs_root &&
             (strcmp(path, "/docs") == 0 || strncmp(path, "/docs/", 6) == 0)) {
    http_serve_docs(s, req, path);
  } else if (strcmp(path, "/api/latest") == 0) {
    http_api_latest(s, req);
  } else if (strcmp(path, "/metrics") == 0) {
    char *m = kk_metrics_render();
    if (m)
      kk_buf_puts(&b, m);
    else
      b.oom = 1;
    free(m);
    http_respond(s, req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                 &b);
  } else if (strcmp(path, "/healthz") == 0) {
    kk_buf_puts(&b, "ok\n");
    http_respond(s, req, 200, "OK", "text/plain; charset=utf-8", &b);
  } else if (strcmp(path, "/readyz") == 0) {
    /* Ready while the sources are not held back by a full sink. */
    int paused = kk_stage_paused(s->st);
    kk_buf_puts(&b, paused ? "paused: a sink queue is full\n" : "ready\n");
    http_respond(s, req, paused ? 503 : 200,
                 paused ? "Service Unavailable" : "OK",
                 "text/plain; charset=utf-8", &b);
  } else {
    http_page_not_found(s, req, "There is no page at this address.");
  }
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
    {.name = "history",
     .type = KK_OPT_DURATION,
     .def = "24h",
     .description = "Span of the charts kept in memory per datastream."},
    {.name = "points",
     .type = KK_OPT_INT,
     .def = "288",
     .min = 10,
     .max = 100000,
     .description = "Buckets per chart: history / points is the averaging "
                    "interval (24h / 288 = 5 min)."},
    {.name = "refresh",
     .type = KK_OPT_DURATION,
     .def = "60s",
     .description = "Pages reload themselves this often (0: never); works "
                    "without JavaScript."},
    {.name = "cors",
     .type = KK_OPT_STRING,
     .description = "Origin allowed to read the JSON API from a browser "
                    "(Access-Control-Allow-Origin), e.g. \"*\" or "
                    "\"https://geoportal.example.de\"; unset: none."},
    {.name = "docs_dir",
     .type = KK_OPT_STRING,
     .description = "Directory served under /docs/ (Markdown rendered to "
                    "HTML with cmark-gfm, other files as they are; nothing "
                    "outside it is reachable).  Unset: no /docs."},
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
