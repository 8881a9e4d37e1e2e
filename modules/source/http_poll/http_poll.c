/*
 * modules/source/http_poll/http_poll.c - source.http_poll: polls HTTP(S)
 * APIs on the loop, journals every response body, moves a saved cursor.
 *
 * The time window of each request comes from a cursor saved in the
 * stage's data directory: the end of the last window whose responses are
 * all in the journal.  Each body is appended to the journal (raw, with
 * url, status, from, to, page in its metadata) before the cursor moves,
 * so a crash never skips a window: a window whose cursor was not saved
 * is fetched and journalled again, and the stores, idempotent on
 * (datastream, time), keep it once.  The poll cycle is hp_sched.c, one
 * request hp_request.c, the cursor file hp_cursor.c, the options
 * hp_options.c.
 *
 * format = "raw" (the default) decodes nothing here: the raw messages go
 * on to a decode.* stage, as with source.mqtt.  "json" and "jsonl" read
 * klimakit's reading JSON (kk_reading_parse_json) for simple APIs.
 */
#include "source/http_poll/http_poll.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- decode ---------------------------------------------------------- */

static int hp_decode_one(hp_t *s, const char *p, size_t n, kk_batch_t *out,
                         size_t *bad, char *why, size_t whylen) {
  kk_reading_t r;
  char err[160];
  int rc = kk_reading_parse_json(p, n, &r, err, sizeof err);
  if (rc == 0) rc = kk_batch_push(out, &r);
  if (rc == KK_ENOMEM) return rc;
  if (rc) {
    if ((*bad)++ == 0) snprintf(why, whylen, "%s", err);
    kk_metric_add(kk_stage_counter(s->st, "kk_rejected_total", "reading",
                                   "Input records rejected, by reason."),
                  1);
  }
  return 0;
}

/* A body of klimakit readings: an array of them (at `items`, or the body
 * itself) or one reading.  Bad readings are counted and skipped. */
static int hp_decode_json(hp_t *s, const kk_raw_t *raw, kk_batch_t *out,
                          size_t *n, size_t *bad, char *why, size_t whylen) {
  cJSON *root = cJSON_ParseWithLength((const char *)raw->data, raw->len);
  char key[64];
  if (!root) {
    kk_stage_error(s->st, "the body is not JSON");
    return KK_EPARSE;
  }
  if (kk_json_duplicate_key(root, key, sizeof key)) {
    cJSON_Delete(root);
    kk_stage_error(s->st, "duplicate key '%s' in the body", key);
    return KK_EPARSE;
  }
  const cJSON *items =
      s->items_field ? hp_json_find(root, s->items_field) : root;
  int rc = 0;
  if (cJSON_IsArray(items)) {
    const cJSON *e;
    cJSON_ArrayForEach(e, items) {
      char *t = cJSON_PrintUnformatted(e);
      rc =
          t ? hp_decode_one(s, t, strlen(t), out, bad, why, whylen) : KK_ENOMEM;
      free(t);
      if (rc) break;
      (*n)++;
    }
  } else if (cJSON_IsObject(items) && !s->items_field) {
    rc = hp_decode_one(s, (const char *)raw->data, raw->len, out, bad, why,
                       whylen);
    (*n)++;
  } else {
    kk_stage_error(s->st, "%s is not an array of readings",
                   s->items_field ? s->items_field : "the body");
    rc = KK_ETYPE;
  }
  cJSON_Delete(root);
  return rc;
}

static int hp_decode(kk_stage_t *st, void *state, const kk_raw_t *raw,
                     kk_batch_t *out) {
  hp_t *s = state;
  size_t n = 0, bad = 0;
  char why[160] = "";
  int rc = 0;
  if (s->format == HP_FMT_RAW) return 0; /* a decode.* stage follows */
  if (s->format == HP_FMT_JSON) {
    rc = hp_decode_json(s, raw, out, &n, &bad, why, sizeof why);
  } else {
    const char *p = (const char *)raw->data, *end = p + raw->len;
    while (p < end && rc == 0) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      const char *le = nl ? nl : end;
      size_t len = (size_t)(le - p);
      if (len && p[len - 1] == '\r') len--;
      if (len) {
        rc = hp_decode_one(s, p, len, out, &bad, why, sizeof why);
        n++;
      }
      p = le + 1;
    }
  }
  if (rc) return rc;
  if (bad && bad == n) {
    kk_stage_error(st, "no reading in the body: %s", why);
    return KK_EPARSE;
  }
  if (bad && kk_ratelimit_ok(&s->rl))
    kk_stage_log(st, KK_LOG_WARN,
                 "journal record %llu: %zu of %zu readings "
                 "skipped: %s",
                 (unsigned long long)raw->seq, bad, n, why);
  return 0;
}

/* ---- create ---------------------------------------------------------- */

static const char *hp_optstr(const kk_opts_t *o, const char *name) {
  return kk_opt_isset(o, name) && *kk_opt_str(o, name) ? kk_opt_str(o, name)
                                                       : NULL;
}

/* Reads the options that shape the requests.  Returns 0 or a negative
 * code with the message set. */
static int hp_read_options(hp_t *s, kk_stage_t *st, const kk_opts_t *o) {
  char err[256], probe[128];
  s->url_tpl = kk_opt_str(o, "url");
  if (strncasecmp(s->url_tpl, "http://", 7) &&
      strncasecmp(s->url_tpl, "https://", 8)) {
    kk_stage_error(st, "url must begin with http:// or https://");
    return KK_EINVAL;
  }
  if (hp_template_check(s->url_tpl, err, sizeof err) != 0) {
    kk_stage_error(st, "url: %s", err);
    return KK_EINVAL;
  }
  s->time_fmt = kk_opt_str(o, "time_format");
  s->tz = kk_opt_str(o, "tz");
  if (kk_tz_check(s->tz) != 0) {
    kk_stage_error(st, "tz '%s' is not supported (UTC, Europe/Berlin, CET...)",
                   s->tz);
    return KK_EINVAL;
  }
  if (hp_time_format(0, s->time_fmt, strlen(s->time_fmt), "UTC", probe,
                     sizeof probe) != 0) {
    kk_stage_error(st,
                   "time_format '%s' is not iso, iso_ms, epoch, epoch_ms, "
                   "date or a %%-pattern",
                   s->time_fmt);
    return KK_EINVAL;
  }
  s->every_ms = kk_opt_duration_ms(o, "every");
  s->window_ms = kk_opt_duration_ms(o, "window");
  s->lag_ms = kk_opt_duration_ms(o, "lag");
  if (s->every_ms == 0) {
    kk_stage_error(st, "every must be longer than 0s");
    return KK_EINVAL;
  }
  s->jitter_ms = kk_opt_isset(o, "jitter") ? kk_opt_duration_ms(o, "jitter")
                                           : s->every_ms / 10;
  s->next_field = hp_optstr(o, "next");
  s->items_field = hp_optstr(o, "items");
  s->page_param = hp_optstr(o, "page_param");
  s->offset_param = hp_optstr(o, "offset_param");
  s->link_header = kk_opt_bool(o, "link_header");
  if (!!s->next_field + s->link_header + !!s->page_param + !!s->offset_param >
      1) {
    kk_stage_error(st, "choose one way of paging: next, link_header, "
                       "page_param or offset_param");
    return KK_EINVAL;
  }
  s->page_start = kk_opt_int(o, "page_start");
  s->page_size = kk_opt_int(o, "page_size");
  s->max_pages = kk_opt_int(o, "max_pages");
  if (kk_opt_isset(o, "rate") &&
      hp_parse_rate(kk_opt_str(o, "rate"), &s->rate_ms) != 0) {
    kk_stage_error(st, "rate '%s' is not N/s, N/m, N/h, N/d or N/<duration>",
                   kk_opt_str(o, "rate"));
    return KK_EINVAL;
  }
  return 0;
}

/* Parses `start` into s->start_ms (0 and has_start unset: the default,
 * computed in start). */
static int hp_read_start(hp_t *s, kk_stage_t *st, const kk_opts_t *o,
                         int64_t *ago_ms, int *absolute) {
  *absolute = 0;
  *ago_ms = -1;
  const char *v = hp_optstr(o, "start");
  if (!v) return 0;
  uint64_t d;
  if (kk_time_parse_iso8601(v, strlen(v), &s->start_ms) == 0) {
    *absolute = 1;
  } else if (kk_parse_duration_ms(v, &d) == 0) {
    *ago_ms = (int64_t)d;
  } else {
    kk_stage_error(st,
                   "start '%s' is not an ISO 8601 time with zone "
                   "(2026-11-01T00:00:00Z) or a duration (7d)",
                   v);
    return KK_EINVAL;
  }
  return 0;
}

static void hp_metrics(hp_t *s, kk_stage_t *st) {
  static const char *const cls[] = {"2xx", "3xx", "4xx", "5xx", "error"};
  char labels[256];
  for (int i = 0; i < 5; i++) {
    snprintf(labels, sizeof labels, "stage=\"%s\",class=\"%s\"",
             kk_stage_name(st), cls[i]);
    s->m_req[i] = kk_counter("kk_http_poll_requests_total", labels,
                             "Requests by outcome: status class, or error "
                             "(no response: connect, timeout, cut off).");
  }
  s->m_bytes = kk_stage_counter(st, "kk_http_poll_bytes_total", NULL,
                                "Response body bytes received.");
  s->m_not_modified =
      kk_stage_counter(st, "kk_http_poll_not_modified_total", NULL,
                       "304 Not Modified answers (nothing journalled).");
  s->m_dups = kk_stage_counter(st, "kk_http_poll_duplicates_total", NULL,
                               "Bodies identical to the last journalled one, "
                               "not journalled again.");
  s->m_retries = kk_stage_counter(st, "kk_http_poll_retries_total", NULL,
                                  "Failed requests that will be retried.");
  s->m_windows = kk_stage_counter(st, "kk_http_poll_windows_total", NULL,
                                  "Windows fetched completely (cursor moved).");
  s->m_journalled =
      kk_stage_counter(st, "kk_http_poll_journalled_total", NULL,
                       "Response bodies appended to the journal.");
  s->m_invalid = kk_stage_counter(st, "kk_http_poll_invalid_total", NULL,
                                  "2xx bodies that were not valid JSON.");
  s->m_journal_fail = kk_stage_counter(st, "kk_rejected_total", "journal",
                                       "Input records rejected, by reason.");
  snprintf(labels, sizeof labels, "stage=\"%s\"", kk_stage_name(st));
  s->m_lag = kk_gauge("kk_http_poll_cursor_lag_seconds", labels,
                      "How far the cursor is behind now.");
  s->m_cursor = kk_gauge("kk_http_poll_cursor_seconds", labels,
                         "The cursor (Unix time).");
}

typedef struct hp_stage {
  hp_t s;
  int64_t start_ago_ms;
  int start_absolute;
} hp_stage_t;

static int hp_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  if (net_curl_check(st) != 0) return KK_EMISSING;
  hp_stage_t *hs = calloc(1, sizeof *hs);
  if (!hs) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = hs;
  hp_t *s = &hs->s;
  s->st = st;
  kk_ratelimit_t rl = KK_RATELIMIT_INIT(10000, 5);
  s->rl = rl;
  int rc = hp_read_options(s, st, o);
  if (rc == 0)
    rc = hp_read_start(s, st, o, &hs->start_ago_ms, &hs->start_absolute);
  if (rc) return rc;
  s->timeout_ms = kk_opt_duration_ms(o, "timeout");
  s->connect_ms = kk_opt_duration_ms(o, "connect_timeout");
  s->backoff_min_ms = kk_opt_duration_ms(o, "backoff_min");
  s->backoff_max_ms = kk_opt_duration_ms(o, "backoff_max");
  s->retry_after_max_ms = kk_opt_duration_ms(o, "retry_after_max");
  s->drain_ms = kk_opt_duration_ms(o, "drain");
  s->max_body = kk_opt_size(o, "max_body");
  if (s->backoff_min_ms == 0) s->backoff_min_ms = 1;
  if (s->backoff_max_ms < s->backoff_min_ms)
    s->backoff_max_ms = s->backoff_min_ms;
  if (s->max_body == 0 || s->max_body > (15u << 20)) {
    kk_stage_error(st, "max_body must be between 1 byte and 15MiB");
    return KK_EINVAL;
  }
  s->format = kk_opt_enum(o, "format");
  s->validate = kk_opt_enum(o, "validate");
  s->dedup = kk_opt_enum(o, "dedup");
  s->conditional = kk_opt_bool(o, "conditional");
  s->body_tpl = hp_optstr(o, "body");
  s->body_type = kk_opt_str(o, "body_type");
  if (s->body_tpl) {
    char err[256];
    if (hp_template_check_body(s->body_tpl, err, sizeof err) != 0) {
      kk_stage_error(st, "body: %s", err);
      return KK_EINVAL;
    }
    if (s->dedup == HP_DEDUP_URL) {
      kk_stage_error(st, "dedup = \"url\" cannot tell the windows of a POST "
                         "apart (they share one URL): use \"body\" or \"off\"");
      return KK_EINVAL;
    }
    /* Validators are kept per URL, and every window of a POST has the same
     * URL: a 304 could stand for another window's answer. */
    s->conditional = 0;
  }
  s->follow = kk_opt_bool(o, "follow_redirects");
  s->ca_file = hp_optstr(o, "ca_file");
  if ((rc = hp_build_headers(s, o)) != 0) return rc;
  hp_metrics(s, st);
  return 0;
}

/* ---- start, pause, stop ---------------------------------------------- */

/* The cursor from the file, or from `start`. */
static int hp_load_cursor(hp_stage_t *hs, kk_stage_t *st) {
  hp_t *s = &hs->s;
  char err[512];
  int rc = hp_cursor_load(kk_stage_data_dir(st), &s->cur, err, sizeof err);
  if (rc < 0) {
    kk_stage_error(st, "%s", err);
    return rc;
  }
  char iso[KK_TIME_ISO_MAX];
  if (rc == 1) {
    kk_time_format_iso8601(s->cur.cursor_ms, iso);
    kk_stage_log(st, KK_LOG_INFO, "resuming at %s (%s/cursor.json)", iso,
                 kk_stage_data_dir(st));
    return 0;
  }
  int64_t now = kk_now_ms() - (int64_t)s->lag_ms, w = (int64_t)s->window_ms;
  if (hs->start_absolute)
    s->cur.cursor_ms = s->start_ms;
  else if (hs->start_ago_ms >= 0)
    s->cur.cursor_ms = w ? kk_floor_div(now - hs->start_ago_ms, w) * w
                         : now - hs->start_ago_ms;
  else
    s->cur.cursor_ms =
        w ? (kk_floor_div(now, w) - 1) * w : now - (int64_t)s->every_ms;
  kk_time_format_iso8601(s->cur.cursor_ms, iso);
  kk_stage_log(st, KK_LOG_INFO, "no cursor yet: starting at %s", iso);
  return 0;
}

static int hp_start(kk_stage_t *st, void *state) {
  hp_stage_t *hs = state;
  hp_t *s = &hs->s;
  int rc = hp_load_cursor(hs, st);
  if (rc) return rc;
  if ((rc = net_curl_new(kk_stage_loop(st), &s->cl)) != 0) {
    kk_stage_error(st, "cannot set up libcurl: %s", kk_strerror(rc));
    return rc;
  }
  s->rng = uv_hrtime() | 1;
  uv_timer_init(kk_stage_loop(st), &s->timer);
  s->timer.data = s;
  s->timer_open = 1;
  uv_timer_init(kk_stage_loop(st), &s->drain_timer);
  s->drain_timer.data = s;
  s->drain_open = 1;
  s->started = 1;
  hp_sched_start(s);
  return 0;
}

static void hp_pause(kk_stage_t *st, void *state) {
  (void)st;
  (void)state; /* hp_step sees kk_stage_paused() and defers */
}

static void hp_resume(kk_stage_t *st, void *state) {
  (void)st;
  hp_t *s = &((hp_stage_t *)state)->s;
  if (s->deferred) hp_step(s);
}

/* Close callbacks: the timers, then libcurl; the last one ends the stop. */
static void hp_closed_one(hp_t *s) {
  if (--s->timer_open > 0) return;
  kk_stop_cb cb = s->stop_cb;
  s->stop_cb = NULL;
  if (cb) cb(s->st);
}

static void hp_timer_closed(uv_handle_t *h) {
  hp_closed_one(h->data);
}

static void hp_curl_closed(void *arg) {
  hp_t *s = arg;
  s->cl = NULL;
  hp_closed_one(s);
}

void hp_stop_finish(hp_t *s) {
  if (s->drain_open == 2) return; /* already closing */
  s->drain_open = 2;
  uv_timer_stop(&s->timer);
  uv_timer_stop(&s->drain_timer);
  s->timer_open = 3; /* timer, drain timer, libcurl */
  uv_close((uv_handle_t *)&s->timer, hp_timer_closed);
  uv_close((uv_handle_t *)&s->drain_timer, hp_timer_closed);
  net_curl_close(s->cl, hp_curl_closed, s);
}

static void hp_drain_expired(uv_timer_t *t) {
  hp_t *s = t->data;
  kk_stage_log(s->st, KK_LOG_WARN,
               "stopping: the request in flight did not finish within drain; "
               "its window is fetched again at the next start");
  hp_stop_finish(s);
}

static void hp_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  hp_t *s = &((hp_stage_t *)state)->s;
  s->stopping = 1;
  s->stop_cb = cb;
  if (!s->started) {
    cb(st);
    return;
  }
  uv_timer_stop(&s->timer);
  if (s->easy)
    uv_timer_start(&s->drain_timer, hp_drain_expired, s->drain_ms, 0);
  else
    hp_stop_finish(s);
}

static void hp_destroy(void *state) {
  hp_stage_t *hs = state;
  if (!hs) return;
  hp_t *s = &hs->s;
  curl_slist_free_all(s->headers);
  curl_slist_free_all(s->req_headers);
  kk_buf_free(&s->resp.body);
  hp_cursor_free(&s->cur);
  free(s->req_url);
  free(s->req_body);
  free(hs);
}

const kk_module_t source_http_poll_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "http_poll",
    .ns = "source",
    .kind = KK_KIND_SOURCE,
    .summary = "Polls an HTTP(S) API in time windows; every response is "
               "journaled before the saved cursor moves.",
    .description =
        "Asks an API for the window [from, to) after its cursor (`url` "
        "with {from} and {to}), every `every` with jitter, page by page "
        "(`next`, `link_header`, `page_param`, `offset_param`), paced by "
        "`rate`, with timeouts, and with exponential backoff on errors, "
        "429 and 5xx that honours Retry-After.  Each response body is "
        "appended to the journal as a raw message (meta: url, status, "
        "from, to, page, content_type) before the cursor, kept in the "
        "stage's data directory, moves past the window; a crash before "
        "that means the window is fetched again, and the stores keep each "
        "(datastream, time) once.  A body identical to the last one and a "
        "304 answer to a conditional request (ETag, Last-Modified) are not "
        "journalled again.  Secrets go in headers from the environment or "
        "files (`header_env`, `header_file`, `bearer_env`).  With format "
        "raw a decode.* stage after it decodes the bodies; json and jsonl "
        "read klimakit readings.  While the pipeline is paused no request "
        "starts.  See docs/guide/http-poll.md.",
    .options = hp_options,
    .create = hp_create,
    .start = hp_start,
    .decode = hp_decode,
    .pause = hp_pause,
    .resume = hp_resume,
    .stop = hp_stop,
    .destroy = hp_destroy,
};
