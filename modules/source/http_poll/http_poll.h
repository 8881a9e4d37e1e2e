/*
 * modules/source/http_poll/http_poll.h - the parts of source.http_poll.
 *
 *   http_poll.c   descriptor, create/start/stop, decode
 *   hp_options.c  the option table, request headers and their secrets
 *   hp_sched.c    the poll cycle: windows, pages, retries, rate limit
 *   hp_request.c  one request through libcurl on the loop
 *   hp_cursor.c   the cursor file (saved atomically after the append)
 *   hp_text.c     stage-free text work: URL templates, time formats,
 *                 Link headers, next links in JSON, rates (fuzzed)
 *
 * Names are prefixed hp_.  Loop thread only.
 */
#ifndef KK_SOURCE_HTTP_POLL_H
#define KK_SOURCE_HTTP_POLL_H

#include <klimakit.h>

#include <stddef.h>
#include <stdint.h>

#include "net/net_curl.h"

/* ---- hp_text.c: stage-free, fuzzed ---------------------------------- */

/* Checks a URL template: every {...} is {from}, {to}, {from:FMT} or
 * {to:FMT}, and "{{" / "}}" stand for braces.  Returns 0, or -1 with a
 * reason in err. */
int hp_template_check(const char *tpl, char *err, size_t errlen);
/* The same for a body template, where braces are text and only {from},
 * {to}, {from:FMT} and {to:FMT} are placeholders. */
int hp_template_check_body(const char *tpl, char *err, size_t errlen);

/* Expands a checked template for the window [from_ms, to_ms): values are
 * formatted with `deffmt` or the placeholder's own FMT (see
 * hp_time_format) in zone `tz`, then percent-encoded.  Returns 0, or -1
 * (b->oom, a bad FMT). */
int hp_template_expand(kk_buf_t *b, const char *tpl, int64_t from_ms,
                       int64_t to_ms, const char *deffmt, const char *tz);
/* The same for a request body: values are escaped for a JSON string when
 * `json` is set (the body is JSON), else inserted as they are. */
int hp_template_expand_body(kk_buf_t *b, const char *tpl, int64_t from_ms,
                            int64_t to_ms, const char *deffmt, const char *tz,
                            int json);

/* Formats `ms` in zone `tz` as FMT: "iso" (2026-11-01T00:00:00Z, or with
 * the zone's offset), "iso_ms" (with milliseconds), "epoch" (seconds),
 * "epoch_ms", "date" (2026-11-01), or a strftime-like pattern (contains
 * '%': %Y %m %d %H %M %S %j %y %e %b %a ..., plus %s epoch seconds, %L
 * milliseconds, %z +0100 and %:z +01:00).  Returns 0, or -1 for an unknown
 * name or a result longer than `cap`. */
int hp_time_format(int64_t ms, const char *fmt, size_t fmtlen, const char *tz,
                   char *out, size_t cap);

/* The target of the first rel="next" link in an HTTP Link header value
 * (RFC 8288: `<url>; rel="next", <url2>; rel=prev`).  Copies it into out
 * and returns its length, or -1 when there is none or it does not fit. */
int hp_link_next(const char *value, size_t len, char *out, size_t cap);

/* Looks `name` up in a parsed JSON body: a top-level member of that name
 * ("@iot.nextLink", "next"), or, when it starts with '/', a JSON pointer
 * (RFC 6901, "/links/next", "/data/0").  Returns the item or NULL. */
struct cJSON;
const struct cJSON *hp_json_find(const struct cJSON *root, const char *name);

/* Parses a rate "N/s", "N/m", "N/h", "N/d" or "N/<duration>" into the
 * minimal spacing of requests in ms.  Returns 0 or -1. */
int hp_parse_rate(const char *s, uint64_t *spacing_ms);

/* 64-bit FNV-1a of the bytes, the duplicate check's fingerprint. */
uint64_t hp_hash(const void *data, size_t len);

/* ---- hp_cursor.c ---------------------------------------------------- */

typedef struct hp_cursor {
  int64_t cursor_ms; /* end of the last window whose responses are in the
                        journal */
  uint64_t hash;     /* of the last journalled body, valid if has_hash */
  int has_hash;
  char etag[256];          /* validators of validator_url's last 200 */
  char last_modified[128]; /* (empty: none) */
  char *validator_url;     /* malloc'd, or NULL */
} hp_cursor_t;

/* Loads <dir>/cursor.json into c.  Returns 1 when loaded, 0 when there is
 * no cursor yet, or a negative code (file unreadable or corrupt: message
 * in err). */
int hp_cursor_load(const char *dir, hp_cursor_t *c, char *err, size_t errlen);

/* Writes c to <dir>/cursor.json atomically (temporary file, fsync,
 * rename, fsync of the directory).  Returns 0 or a negative code. */
int hp_cursor_save(const char *dir, const hp_cursor_t *c);

void hp_cursor_free(hp_cursor_t *c);

/* ---- the stage ------------------------------------------------------ */

typedef enum hp_phase {
  HP_IDLE,  /* waiting for the next poll */
  HP_RATE,  /* a request waits for its slot under `rate` */
  HP_RETRY, /* a request waits for its backoff */
  HP_BUSY   /* a transfer is in flight */
} hp_phase_t;

enum { HP_FMT_RAW, HP_FMT_JSON, HP_FMT_JSONL };
enum { HP_VALIDATE_AUTO, HP_VALIDATE_JSON, HP_VALIDATE_NONE };
enum { HP_DEDUP_BODY, HP_DEDUP_URL, HP_DEDUP_OFF };
enum { HP_CLASS_2XX, HP_CLASS_3XX, HP_CLASS_4XX, HP_CLASS_5XX, HP_CLASS_ERR };

typedef struct hp_resp {
  kk_buf_t body;
  char content_type[128];
  char etag[256];
  char last_modified[128];
  char link_next[2048];
  int too_big;
} hp_resp_t;

typedef struct hp {
  kk_stage_t *st;
  /* options */
  const char *url_tpl, *time_fmt, *tz, *next_field, *items_field;
  const char *body_tpl, *body_type; /* POST: body template, Content-Type */
  const char *page_param, *offset_param;
  uint64_t every_ms, jitter_ms, window_ms, lag_ms, timeout_ms, connect_ms;
  uint64_t rate_ms, backoff_min_ms, backoff_max_ms, retry_after_max_ms;
  uint64_t drain_ms, max_body;
  int64_t start_ms; /* first window's start when there is no cursor */
  int64_t page_start, page_size, max_pages;
  int format, validate, dedup, link_header, follow, conditional;
  const char *ca_file;
  struct curl_slist *headers; /* built in create, secrets included */
  /* persisted */
  hp_cursor_t cur;
  /* the window being fetched */
  int in_window;
  int64_t win_from, win_to;
  int64_t page;      /* 1-based number of the request within the window */
  int64_t page_item; /* page_param/offset_param value of the request */
  char *req_url;     /* the request's URL (malloc'd) */
  char *req_body;    /* POST: the request's body (malloc'd), else NULL */
  uint32_t attempts; /* failures in a row of this request */
  /* scheduling */
  hp_phase_t phase;
  uv_timer_t timer;
  int timer_open, deferred, stopping, started;
  uint64_t next_slot; /* uv_now() before which no request may start */
  uint64_t rng;
  net_curl_t *cl;
  CURL *easy; /* in flight */
  struct curl_slist *req_headers;
  hp_resp_t resp;
  char errbuf[CURL_ERROR_SIZE];
  uv_timer_t drain_timer;
  int drain_open;
  kk_stop_cb stop_cb;
  kk_ratelimit_t rl;
  /* metrics */
  kk_metric_t *m_req[5], *m_bytes, *m_not_modified, *m_dups, *m_retries,
      *m_windows, *m_journalled, *m_invalid, *m_lag, *m_cursor, *m_journal_fail;
} hp_t;

/* hp_options.c: the option table, and the request headers (secrets from
 * the environment or files) into s->headers.  Returns 0 or a negative code
 * with the message set on the stage. */
extern const kk_option_t hp_options[];
int hp_build_headers(hp_t *s, const kk_opts_t *o);

/* hp_sched.c */
void hp_sched_start(hp_t *s);
/* Runs what the current phase waits for, unless paused or stopping. */
void hp_step(hp_t *s);
/* Called by hp_request.c when the transfer ended (res, HTTP status 0 when
 * no response arrived, Retry-After in seconds or -1). */
void hp_on_response(hp_t *s, CURLcode res, long status, long retry_after_s);
uint64_t hp_random(hp_t *s, uint64_t below);

/* http_poll.c: closes everything once a stop has drained. */
void hp_stop_finish(hp_t *s);

/* hp_request.c */
/* Starts the request of s->req_url.  Returns 0 or a negative code. */
int hp_request_start(hp_t *s);
void hp_resp_reset(hp_resp_t *r);

#endif
