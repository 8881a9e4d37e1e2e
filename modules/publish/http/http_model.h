/*
 * modules/publish/http/http_model.h - what the files of publish.http share:
 * the stage's state, its bounded in-memory cache (http_cache.c), the data
 * the pages read from the store or from that cache (http_data.c), the
 * ranges of the charts (http_range.c), the things table and groups
 * (http_things.c, http_groups.c), the map (http_map.c), the views
 * (http_access.c), downloads (http_files.c), and the pages (http_pages.c,
 * http_thing.c, http_calc_pages.c) and /docs (http_docs.c) that http.c
 * routes to.  Everything runs on the loop thread.
 */
#ifndef KK_PUBLISH_HTTP_MODEL_H
#define KK_PUBLISH_HTTP_MODEL_H

#include <klimakit.h>
#include <klimakit/store.h>

#include <stddef.h>
#include <stdint.h>

#include "net/net_httpd.h"
#include "publish/http/http_i18n.h"

/* Rendered pages kept for reuse, and the most they may hold in all. */
#define HTTP_PAGE_CACHE 32
#define HTTP_PAGE_CACHE_BYTES (8u << 20)
/* A rendered page is reused for at most this long (ranges end "now",
 * datastreams turn stale as time passes). */
#define HTTP_PAGE_CACHE_MS 10000
/* Charts on one thing page, columns of the overview, rows of the stale
 * list: a thing with 15 000 properties must not make a 150 MB page. */
#define HTTP_MAX_CHARTS 40
#define HTTP_MAX_COLUMNS 8
#define HTTP_MAX_STALE_ROWS 50

typedef struct http_bucket {
  int64_t start; /* bucket start in ms; INT64_MIN when empty */
  double sum, min, max;
  uint32_t n;
} http_bucket_t;

/* The last HTTP_RECENT distinct times of a series, exact: what yearly
 * balances, targets and measures need.  Kept only for the properties of
 * http_keeps_recent() (co2e_*, target_path, impact, expected). */
#define HTTP_RECENT 64

typedef struct http_recent {
  int64_t t[HTTP_RECENT]; /* unordered; INT64_MIN when free */
  double v[HTTP_RECENT];
} http_recent_t;

typedef struct http_series {
  uint32_t ds;
  int64_t last_time; /* INT64_MIN: none yet */
  double last_value;
  int64_t interval_ms; /* learned gap between readings; 0: not yet */
  http_bucket_t *b;    /* npoints buckets (no store only), or NULL */
  http_recent_t *recent;
  uint64_t mark; /* scratch for http_items_load */
} http_series_t;

/* What the dashboard knows about a thing besides its readings
 * (klimakit/thing.h: the store's things table, the descriptions of this
 * process, the recipe's `things`); strings owned by the table. */
typedef struct http_thing {
  char *id, *label, *group, *group_label;
  double lat, lon; /* NAN: no location */
  int public_;     /* KK_THING_* of klimakit/thing.h */
} http_thing_t;

typedef struct http_things {
  size_t len;
  http_thing_t *items; /* by id */
  uint64_t version;    /* kk_things_version() when loaded */
  int64_t at;          /* when loaded */
} http_things_t;

/* The public view (the `public` option): which pages a request without a
 * token may see and what they show. */
#define HTTP_MAX_PUBLIC_PAGES 32
#define HTTP_MAX_PUBLIC_PROPS 32
#define HTTP_MAX_SESSIONS 256
#define HTTP_MAX_FILE_DIRS 8

typedef struct http_public {
  int on;        /* a public view is configured */
  int min_group; /* 0: single things may be shown; n: only aggregates over
                    at least n things with current data */
  size_t npages, nprops;
  char *pages[HTTP_MAX_PUBLIC_PAGES]; /* "/", "/karte", "/gruppe/..." */
  char *props[HTTP_MAX_PUBLIC_PROPS]; /* none: every property */
  int things_default; /* KK_THING_PUBLIC or _INTERNAL for undescribed */
} http_public_t;

typedef struct http_session {
  unsigned char digest[32]; /* SHA-256 of the cookie value */
  int64_t expires;          /* 0: free */
} http_session_t;

/* Expected intervals derived from the store (after a restart, until new
 * readings teach them again): store id -> interval, 0 not known. */
typedef struct http_ival {
  int64_t id, interval_ms;
} http_ival_t;

typedef struct http_state {
  kk_stage_t *st;
  const char *title, *tz, *store_name, *cors;
  http_registry_t reg;
  uint64_t history_ms, refresh_ms;
  int64_t interval_ms, stale_ms; /* options; 0: learned / 3 x interval */
  size_t npoints;
  int64_t width_ms;
  /* The held series: `series` in arrival order, `index` an open-addressing
   * table by datastream id (size index_cap, a power of two). */
  http_series_t **series;
  size_t nseries, max_series;
  uint32_t *index;
  size_t index_cap;
  size_t mem_bytes, max_memory;
  int limit_hit;
  uint64_t mark;
  int64_t last_update;
  char *listen;
  char *docs_root; /* realpath of docs_dir, NULL: no /docs */
  net_httpd_tls_t tls;
  net_httpd_use_t use;
  /* Rendered pages, reused until new data arrives (gen changes). */
  uint64_t gen;
  struct http_page_cache {
    char *key, *ctype, *body;
    size_t len;
    uint64_t gen;
    int64_t at;
  } cache[HTTP_PAGE_CACHE];
  size_t cache_next, cache_bytes;
  const char *cache_key; /* the request being rendered, if cacheable */
  kk_metric_t *m_requests, *m_errors, *m_refused, *m_held, *m_stale,
      *m_store_errors;
  /* Things (http_things.c), map (http_map.c), views (http_access.c). */
  http_things_t things;
  char *map_tiles;   /* tile URL template, or NULL */
  char *map_outline; /* GeoJSON text of the municipality, or NULL */
  char *map_attribution;
  http_public_t pub;
  net_httpd_tokens_t tokens;
  int have_tokens;
  http_session_t sessions[HTTP_MAX_SESSIONS];
  int64_t login_window; /* failed logins counted since (ms) */
  int login_failures;
  int view_public; /* the request being rendered gets the public view */
  http_ival_t *ivals;
  size_t ivals_cap, ivals_len;
  struct http_file_dir {
    char *prefix, *root; /* "/daten/", realpath of the directory */
  } files[HTTP_MAX_FILE_DIRS];
  size_t nfiles;
  kk_metric_t *m_denied, *m_logins;
} http_state_t;

/* ---- the bounded in-memory cache (http_cache.c) ------------------------ */

/* Options that size the cache (called from create). */
int http_cache_init(http_state_t *s, size_t max_series, size_t max_memory);
/* Adds the finite readings of `batch` (borrowed) to their series and
 * starts a new data generation.  Readings of datastreams beyond the
 * limits are counted (kk_http_datastreams_refused_total), not kept. */
int http_cache_add(http_state_t *s, const kk_batch_t *batch);
/* The held series of a datastream id, or NULL. */
http_series_t *http_series_get(const http_state_t *s, uint32_t ds);
/* Copies the recent points of a series in time order into t and v (of
 * HTTP_RECENT entries each); returns their number. */
size_t http_recent_sorted(const http_series_t *se, int64_t *t, double *v);
void http_cache_put_page(http_state_t *s, const char *key, const char *ctype,
                         const kk_buf_t *body);
const struct http_page_cache *http_cache_get_page(const http_state_t *s,
                                                  const char *key);
/* Frees the series and the cached pages (not s). */
void http_cache_free(http_state_t *s);

/* ---- what the pages read (http_data.c) --------------------------------- */

/* A datastream as the pages see it, from the store and/or memory. */
typedef struct http_item {
  const char *thing, *property, *unit; /* borrowed from list or registry */
  int64_t store_id;                    /* 0: not in the store */
  const http_series_t *mem;            /* NULL: not in memory */
  int64_t last_time;                   /* INT64_MIN: no reading */
  double last_value;
  int64_t interval_ms; /* expected interval; 0: not known */
  int64_t stale_after; /* ms without a reading that make it stale */
  int stale;
  int unit_ambiguous; /* the thing has this property in another unit too */
} http_item_t;

typedef struct http_items {
  size_t len;
  http_item_t *items; /* by thing, property, unit */
  kk_store_ds_list_t *dsl;
  int store_failed; /* the store was asked and did not answer */
} http_items_t;

/* The store the dashboard reads, or NULL (no `store` option, or it is not
 * running: then *missing is 1). */
kk_store_t *http_store(http_state_t *s, int *missing);
/* The datastreams of `thing` (NULL: all) with their latest readings and
 * whether they are stale at `now`.  0 or KK_ENOMEM. */
int http_items_load(http_state_t *s, const char *thing, int64_t now,
                    http_items_t *out);
void http_items_free(http_items_t *it);

/* Aggregates of one datastream in buckets [edges[i], edges[i+1]). */
typedef struct http_agg {
  size_t n;
  const int64_t *edges; /* n + 1, borrowed */
  int64_t *count;
  double *sum, *min, *max;
  int from_store;
} http_agg_t;

/* Fills `out` (arrays allocated here; free with http_agg_free) for the
 * item over the buckets `edges` (n + 1 ascending times).  0, KK_ENOMEM, or
 * a store error (message in err). */
int http_agg_load(http_state_t *s, const http_item_t *it, const int64_t *edges,
                  size_t n, http_agg_t *out, char *err, size_t errlen);
void http_agg_free(http_agg_t *a);
/* Up to `cap` latest exact points of (thing, property) in time order (the
 * yearly values of balances and measures), from memory or the store;
 * *unit gets the unit.  Returns their number. */
size_t http_points(http_state_t *s, const char *thing, const char *property,
                   int64_t *t, double *v, size_t cap, const char **unit);

/* ---- chart ranges (http_range.c) --------------------------------------- */

typedef enum http_preset {
  HTTP_RANGE_CUSTOM = -1,
  HTTP_RANGE_24H,
  HTTP_RANGE_7D,
  HTTP_RANGE_30D,
  HTTP_RANGE_1Y,
  HTTP_RANGE_COUNT
} http_preset_t;

typedef struct http_range {
  http_preset_t preset;
  int64_t from, to; /* the span shown */
  int bad;          /* the request's range was refused (24 h shown) */
  char query[160];  /* "range=7d" or "from=...&amp;to=..." for links */
} http_range_t;

/* Reads range=, from= and to= of the request (dates YYYY-MM-DD in local
 * time, or ISO 8601 date-times). */
void http_range_parse(http_state_t *s, h2o_req_t *req, int64_t now,
                      http_range_t *r);
/* "24h", "7d", "30d", "1y" of a preset. */
const char *http_range_key(http_preset_t p);
/* Bucket edges of a line chart over the range (n + 1 into *edges, which
 * the caller frees); the width goes to *width. */
size_t http_range_line_edges(const http_state_t *s, const http_range_t *r,
                             int64_t **edges, int64_t *width);
/* Bucket edges of consumption bars: local hours, days or months, with
 * one more bucket in front (the counter before the range).  *period gets
 * HTTP_M_per_hour, _day or _month. */
size_t http_range_bar_edges(const http_state_t *s, const http_range_t *r,
                            int64_t **edges, http_msg_t *period);
/* The range choice of a chart page: links, a GET form, the span shown. */
void http_range_form(http_state_t *s, kk_buf_t *b, const http_range_t *r);
/* Local midnight at or before `ms`. */
int64_t http_local_midnight(const char *tz, int64_t ms);
/* "5 Minuten", "Stunde", "3 Stunden", "Tag" for a bucket width. */
void http_width_text(const http_state_t *s, int64_t width, char *buf,
                     size_t len);

/* ---- pages (http_pages.c, http_thing.c, http_calc_pages.c) and /docs -- */

/* Sends `body` (consumed) and keeps it in the page cache when the request
 * being rendered is cacheable (s->cache_key) and it succeeded. */
void http_respond(http_state_t *s, h2o_req_t *req, int status,
                  const char *ctype, kk_buf_t *body);
/* The dashboard's frame around a page's content; `refresh`: the page may
 * reload itself (the overview only). */
void http_page_head(http_state_t *s, kk_buf_t *b, const char *title,
                    int refresh);
void http_page_tail(http_state_t *s, kk_buf_t *b);
void http_page_not_found(http_state_t *s, h2o_req_t *req, http_msg_t what);
void http_page_overview(http_state_t *s, h2o_req_t *req);
void http_page_thing(http_state_t *s, h2o_req_t *req, const char *name);
void http_csv(http_state_t *s, h2o_req_t *req);
void http_page_indoor(http_state_t *s, h2o_req_t *req);
void http_page_climate(http_state_t *s, h2o_req_t *req);
void http_page_measures(http_state_t *s, h2o_req_t *req);
void http_api_latest(http_state_t *s, h2o_req_t *req);
/* Updates the gauges of held and stale datastreams (before /metrics). */
void http_metrics_update(http_state_t *s);
/* The site /docs serves when docs_dir is not given: the installed one
 * (KK_DATADIR/docs/html), else the one beside a source tree's binary
 * (build/site); malloc'ed realpath, NULL when there is none. */
char *http_docs_default_root(void);

/* Serves `path` ("/docs..."), which lies below s->docs_root. */
void http_serve_docs(http_state_t *s, h2o_req_t *req, const char *path);

/* ---- things, groups, map and views (http_things.c, http_map.c,
 * http_access.c) ----------------------------------------------------- */

/* Reads the `things` and `things_file` options and describes them
 * (klimakit/thing.h).  0 or KK_EINVAL with the reason on the stage. */
int http_things_init(http_state_t *s, const char *json, const char *csv_path);
/* The thing table, reloaded from the store and the descriptions when it
 * is older than HTTP_PAGE_CACHE_MS or the descriptions changed. */
const http_things_t *http_things(http_state_t *s);
const http_thing_t *http_thing_find(const http_things_t *t, const char *id);
/* Display name of a thing: its label, or its id. */
const char *http_thing_label(http_state_t *s, const char *id);
void http_things_free(http_things_t *t);
/* Groups of the items (http_groups.c): http_groups_make() reorders
 * it->items by group (label), thing label, property, unit, ungrouped
 * things last, and returns the groups (*out, caller frees; id NULL for
 * the ungrouped). */
typedef struct http_group {
  const char *id, *label; /* borrowed from the thing table */
  size_t from, to;        /* items [from, to) */
  size_t nthings;
} http_group_t;
size_t http_groups_make(http_state_t *s, http_items_t *it, http_group_t **out);
/* The current aggregate of one quantity over a group's things with
 * current data; `shown`: enough things for the view (min_group). */
typedef struct http_group_now {
  size_t n;
  double mean;
  int classes[4];
  int64_t last;
  const char *unit;
  int shown;
} http_group_now_t;
void http_group_now(http_state_t *s, const http_items_t *it,
                    const http_group_t *g, const char *property,
                    http_group_now_t *out);
/* A table with one row of aggregates per group (`link`: names link to
 * the group pages). */
void http_groups_table(http_state_t *s, kk_buf_t *b, const http_items_t *it,
                       const http_group_t *g, size_t ng, int link);
/* The overview's table of single things (http_pages.c). */
void http_things_table(http_state_t *s, kk_buf_t *b, const http_items_t *it);
void http_page_group(http_state_t *s, h2o_req_t *req, const char *group);
void http_page_map(http_state_t *s, h2o_req_t *req);
/* The map options (the outline is read and checked here); 0 or KK_EINVAL
 * with the reason on the stage. */
int http_map_init(http_state_t *s, const char *tiles, const char *outline,
                  const char *attribution);
/* The open alert episodes (calc.alert's alert_* datastreams whose latest
 * value is 1) as a section; nothing when there are none. */
void http_alerts_section(http_state_t *s, kk_buf_t *b, const http_items_t *it,
                         const char *thing);
/* 1 for the datastreams of calc.alert (alert_*): events, not series. */
int http_is_alert(const char *property);
/* 1 for datastreams an overview column would repeat: calc.alert's events
 * calc.indoor_air's class, class changes and occupied minutes, the data
 * coverage of calc.outdoor_air (*_coverage); their thing pages still
 * chart them. */
int http_is_derived(const char *property);

/* Options of the views; 0 or KK_EINVAL with the reason on the stage. */
int http_access_init(http_state_t *s, const char *public_json,
                     const char *tokens_file);
void http_access_free(http_state_t *s);
/* Decides the view of a request for `path` and sets s->view_public: 1
 * when the request may go on, 0 when it was answered (401). */
int http_access_check(http_state_t *s, h2o_req_t *req, const char *path);
/* GET/POST /login and /logout. */
void http_page_login(http_state_t *s, h2o_req_t *req);
void http_page_logout(http_state_t *s, h2o_req_t *req);
/* 1 when the public view may show this thing / property at all. */
int http_public_thing(http_state_t *s, const char *thing);
int http_public_path(const http_state_t *s, const char *path);
int http_public_property(const http_state_t *s, const char *property);
/* 1 when a page may show single things (not in a public view with
 * min_group). */
int http_single_things(const http_state_t *s);

/* The `files` option (http_files.c): directories served under a path. */
int http_files_init(http_state_t *s, const char *json);
void http_files_free(http_state_t *s);
/* Answers a request below one of the directories; 0 when `path` is not
 * below any. */
int http_files_serve(http_state_t *s, h2o_req_t *req, const char *path);

/* Shared by the pages (http_pages.c). */
int http_co2_class(double ppm);
int http_is_co2(const char *property, const char *unit);
/* A value with its unit label ("1.234,5 kWh") into buf. */
void http_value_text(http_state_t *s, double v, const char *unit, char *buf,
                     size_t len);

#endif
