/*
 * modules/publish/http/http_model.h - what the files of publish.http share:
 * the stage's state with its in-memory series (http_cache.c), and the
 * pages (http_pages.c) and /docs (http_docs.c) that http.c routes to.
 * Everything runs on the loop thread.
 */
#ifndef KK_PUBLISH_HTTP_MODEL_H
#define KK_PUBLISH_HTTP_MODEL_H

#include <klimakit.h>

#include <stddef.h>
#include <stdint.h>

#include "net/net_httpd.h"

/* Rendered pages kept for reuse. */
#define HTTP_PAGE_CACHE 32

typedef struct http_bucket {
  int64_t start; /* bucket start in ms; INT64_MIN when empty */
  double sum, min, max;
  uint32_t n;
} http_bucket_t;

/* The last HTTP_RECENT distinct times of a series, exact: what yearly
 * balances, targets and measures need (their points lie far outside the
 * bucket ring). */
#define HTTP_RECENT 64

typedef struct http_series {
  uint32_t ds;
  int64_t last_time;
  double last_value;
  http_bucket_t *b; /* npoints buckets, indexed by (time / width) % npoints */
  int64_t rt[HTTP_RECENT]; /* recent times, unordered; INT64_MIN when free */
  double rv[HTTP_RECENT];
} http_series_t;

typedef struct http_state {
  kk_stage_t *st;
  const char *title, *tz;
  uint64_t history_ms, refresh_ms;
  size_t npoints;
  int64_t width_ms;
  http_series_t **by_ds; /* indexed by datastream id; grows */
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
  struct http_page_cache {
    char *key, *ctype, *body;
    size_t len;
    uint64_t gen;
  } cache[HTTP_PAGE_CACHE];
  size_t cache_next;
  const char *cache_key; /* the request being rendered, if cacheable */
  kk_metric_t *m_requests, *m_errors;
} http_state_t;

/* ---- the in-memory series and page cache (http_cache.c) ---------------- */

/* Adds the finite readings of `batch` (borrowed) to their series and
 * starts a new data generation.  0 or KK_ENOMEM. */
int http_cache_add(http_state_t *s, const kk_batch_t *batch);
/* The series of (thing, property), any unit (the first found), or NULL. */
const http_series_t *http_find_series(http_state_t *s, const char *thing,
                                      const char *property);
/* Sorted distinct thing names (borrowed from the datastream registry) in
 * a new array the caller frees; *n gets their number. */
const char **http_things(http_state_t *s, size_t *n);
/* Copies the recent points of a series in time order into t and v (of
 * HTTP_RECENT entries each); returns their number. */
size_t http_recent_sorted(const http_series_t *se, int64_t *t, double *v);
void http_cache_put_page(http_state_t *s, const char *key, const char *ctype,
                         const kk_buf_t *body);
const struct http_page_cache *http_cache_get_page(const http_state_t *s,
                                                  const char *key);
/* Frees the series and the cached pages (not s). */
void http_cache_free(http_state_t *s);

/* ---- pages (http_pages.c) and /docs (http_docs.c) ---------------------- */

/* Sends `body` (consumed) and keeps it in the page cache when the request
 * being rendered is cacheable (s->cache_key) and it succeeded. */
void http_respond(http_state_t *s, h2o_req_t *req, int status,
                  const char *reason, const char *ctype, kk_buf_t *body);
/* The dashboard's frame around a page's content. */
void http_page_head(http_state_t *s, kk_buf_t *b, const char *title);
void http_page_tail(kk_buf_t *b);
void http_page_not_found(http_state_t *s, h2o_req_t *req, const char *what);
void http_page_overview(http_state_t *s, h2o_req_t *req);
void http_page_thing(http_state_t *s, h2o_req_t *req, const char *name);
void http_page_indoor(http_state_t *s, h2o_req_t *req);
void http_page_climate(http_state_t *s, h2o_req_t *req);
void http_page_measures(http_state_t *s, h2o_req_t *req);
void http_api_latest(http_state_t *s, h2o_req_t *req);
/* Serves `path` ("/docs..."), which lies below s->docs_root. */
void http_serve_docs(http_state_t *s, h2o_req_t *req, const char *path);

#endif
