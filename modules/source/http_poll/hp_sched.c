/*
 * modules/source/http_poll/hp_sched.c - the poll cycle of source.http_poll.
 *
 * One timer drives one request at a time.  A poll takes the window after
 * the cursor, [cursor, cursor + window) once it lies before now - lag (or
 * [cursor, now - lag) with window = 0), and fetches it page by page; each
 * response body is appended to the journal as it arrives, and only when
 * the last page is in, the cursor moves to the window's end and is saved.
 * Then the next complete window follows at once (catching up, paced by
 * `rate`), or the cycle waits `every` plus jitter.  A failed request
 * (no answer, timeout, 408/429/5xx, other errors, an invalid body) is
 * tried again after an exponential backoff with jitter, or after the
 * server's Retry-After when that is longer; the cursor never moves past a
 * window that was not journalled.
 */
#include "source/http_poll/http_poll.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t hp_random(hp_t *s, uint64_t below) {
  if (below == 0) return 0;
  s->rng ^= s->rng << 13;
  s->rng ^= s->rng >> 7;
  s->rng ^= s->rng << 17;
  return s->rng % below;
}

static void hp_timer_cb(uv_timer_t *t) {
  hp_step(t->data);
}

static void hp_arm(hp_t *s, hp_phase_t phase, uint64_t delay_ms) {
  s->phase = phase;
  uv_timer_start(&s->timer, hp_timer_cb, delay_ms, 0);
}

static void hp_gauges(hp_t *s) {
  kk_metric_set(s->m_lag, (kk_now_ms() - s->cur.cursor_ms) / 1000);
  kk_metric_set(s->m_cursor, kk_floor_div(s->cur.cursor_ms, 1000));
}

/* The URL of page s->page of the current window: the expanded template
 * plus the page or offset parameter.  Returns a malloc'd string or NULL. */
static char *hp_page_url(hp_t *s) {
  kk_buf_t b = {0};
  if (hp_template_expand(&b, s->url_tpl, s->win_from, s->win_to, s->time_fmt,
                         s->tz) != 0) {
    kk_buf_free(&b);
    return NULL;
  }
  const char *param = s->page_param ? s->page_param : s->offset_param;
  if (!param) return b.p;
  CURLU *u = curl_url();
  char q[320], *out = NULL;
  snprintf(q, sizeof q, "%s=%lld", param, (long long)s->page_item);
  if (u && curl_url_set(u, CURLUPART_URL, b.p, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY) == CURLUE_OK)
    curl_url_get(u, CURLUPART_URL, &out, 0);
  curl_url_cleanup(u);
  kk_buf_free(&b);
  char *r = out ? strdup(out) : NULL;
  curl_free(out);
  return r;
}

/* Resolves a next link (maybe relative) against the request's URL; only
 * http and https.  Returns a malloc'd string or NULL. */
static char *hp_resolve(const char *base, const char *link) {
  CURLU *u = curl_url();
  char *out = NULL, *scheme = NULL, *r = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, link, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      (!strcmp(scheme, "http") || !strcmp(scheme, "https")) &&
      curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
    r = strdup(out);
  curl_free(out);
  curl_free(scheme);
  curl_url_cleanup(u);
  return r;
}

static void hp_send(hp_t *s) {
  uint64_t now = uv_now(kk_stage_loop(s->st));
  if (s->rate_ms && now < s->next_slot) {
    hp_arm(s, HP_RATE, s->next_slot - now);
    return;
  }
  s->next_slot = now + s->rate_ms;
  s->phase = HP_BUSY;
  int rc = hp_request_start(s);
  if (rc) {
    s->phase = HP_IDLE;
    snprintf(s->errbuf, sizeof s->errbuf, "cannot start the request: %s",
             kk_strerror(rc));
    hp_on_response(s, CURLE_FAILED_INIT, 0, -1);
  }
}

/* Starts the next complete window, or waits for the next poll. */
static void hp_poll(hp_t *s) {
  int64_t horizon = kk_now_ms() - (int64_t)s->lag_ms;
  int64_t from = s->cur.cursor_ms;
  int64_t to = s->window_ms ? from + (int64_t)s->window_ms : horizon;
  hp_gauges(s);
  if (to > horizon || to <= from) {
    hp_arm(s, HP_IDLE, s->every_ms + hp_random(s, s->jitter_ms));
    return;
  }
  s->in_window = 1;
  s->win_from = from;
  s->win_to = to;
  s->page = 1;
  s->page_item = s->offset_param ? 0 : s->page_start;
  s->attempts = 0;
  free(s->req_url);
  s->req_url = hp_page_url(s);
  free(s->req_body);
  s->req_body = NULL;
  if (s->req_url && s->body_tpl) {
    kk_buf_t b = {0};
    if (hp_template_expand_body(&b, s->body_tpl, s->win_from, s->win_to,
                                s->time_fmt, s->tz,
                                strstr(s->body_type, "json") != NULL) == 0)
      s->req_body = b.p;
    else
      kk_buf_free(&b);
  }
  if (!s->req_url || (s->body_tpl && !s->req_body)) {
    kk_stage_error(s->st, "cannot build the request of the window");
    kk_stage_fail(s->st, KK_ENOMEM);
    return;
  }
  hp_send(s);
}

void hp_step(hp_t *s) {
  if (s->stopping || s->phase == HP_BUSY) return;
  if (kk_stage_paused(s->st)) {
    s->deferred = 1; /* resume() runs it */
    return;
  }
  s->deferred = 0;
  if (s->phase == HP_IDLE)
    hp_poll(s);
  else
    hp_send(s);
}

void hp_sched_start(hp_t *s) {
  s->phase = HP_IDLE;
  hp_gauges(s);
  uv_timer_start(&s->timer, hp_timer_cb, hp_random(s, s->jitter_ms), 0);
}

/* ---- outcomes ---------------------------------------------------------- */

static void hp_fail(hp_t *s, const char *why, long retry_after_s) {
  kk_metric_add(s->m_retries, 1);
  s->attempts++;
  uint32_t sh = s->attempts - 1 > 20 ? 20 : s->attempts - 1;
  uint64_t d = s->backoff_min_ms << sh;
  if (d > s->backoff_max_ms) d = s->backoff_max_ms;
  d = d / 2 + hp_random(s, d / 2 + 1); /* jitter: a half to the whole */
  if (retry_after_s >= 0) {
    uint64_t r = (uint64_t)retry_after_s * 1000;
    if (r > s->retry_after_max_ms) r = s->retry_after_max_ms;
    if (r > d) d = r;
  }
  if (kk_ratelimit_ok(&s->rl))
    kk_stage_log(s->st, KK_LOG_WARN, "GET %s: %s; try %u again in %.1f s",
                 s->req_url, why, s->attempts + 1, (double)d / 1000.0);
  hp_arm(s, HP_RETRY, d);
}

static void hp_window_done(hp_t *s) {
  kk_metric_add(s->m_windows, 1);
  s->cur.cursor_ms = s->win_to;
  s->in_window = 0;
  int rc = hp_cursor_save(kk_stage_data_dir(s->st), &s->cur);
  if (rc && kk_ratelimit_ok(&s->rl))
    kk_stage_log(s->st, KK_LOG_ERROR,
                 "cannot save the cursor in %s: %s (the window is fetched "
                 "again after a restart)",
                 kk_stage_data_dir(s->st), kk_strerror(rc));
  hp_gauges(s);
  s->phase = HP_IDLE;
  if (s->window_ms == 0) {
    /* [cursor, now - lag) was all there is: the next one after `every` */
    if (!s->stopping)
      hp_arm(s, HP_IDLE, s->every_ms + hp_random(s, s->jitter_ms));
    return;
  }
  hp_step(s); /* the next complete window at once: catching up */
}

/* Content format numbers (CoAP's) for the raw message, from the media
 * type, so that decode.senml picks JSON or CBOR. */
static uint32_t hp_content_format(const char *ct) {
  if (!strncasecmp(ct, "application/senml+json", 22)) return 110;
  if (!strncasecmp(ct, "application/senml+cbor", 22)) return 112;
  if (!strncasecmp(ct, "application/cbor", 16)) return 60;
  if (strstr(ct, "json")) return 50;
  if (!strncasecmp(ct, "text/", 5) || !*ct) return 0;
  return 42;
}

static void hp_meta_str(kk_buf_t *m, const char *key, const char *val) {
  kk_buf_printf(m, "%s\"%s\":\"", m->len > 1 ? "," : "", key);
  kk_buf_json(m, val);
  kk_buf_puts(m, "\"");
}

/* Appends the body to the journal with its metadata. */
static int hp_journal(hp_t *s, long status) {
  kk_buf_t m = {0};
  char num[32], iso[KK_TIME_ISO_MAX];
  kk_buf_puts(&m, "{");
  hp_meta_str(&m, "url", s->req_url);
  snprintf(num, sizeof num, "%ld", status);
  hp_meta_str(&m, "status", num);
  kk_time_format_iso8601(s->win_from, iso);
  hp_meta_str(&m, "from", iso);
  kk_time_format_iso8601(s->win_to, iso);
  hp_meta_str(&m, "to", iso);
  snprintf(num, sizeof num, "%lld", (long long)s->page);
  hp_meta_str(&m, "page", num);
  if (s->resp.content_type[0])
    hp_meta_str(&m, "content_type", s->resp.content_type);
  kk_buf_puts(&m, "}");
  kk_batch_t *b = kk_batch_new(0);
  int rc = m.oom || !b ? KK_ENOMEM : 0;
  if (rc == 0)
    rc = kk_batch_push_raw(b, 0, kk_now_ms(),
                           hp_content_format(s->resp.content_type), m.p,
                           s->resp.body.p, s->resp.body.len);
  if (rc == 0) rc = kk_stage_ingest(s->st, b, NULL);
  kk_batch_unref(b);
  kk_buf_free(&m);
  return rc;
}

/* Does the body need to be JSON?  Then a cut or garbled one is a failed
 * request, tried again, instead of a journalled body no decoder reads. */
static int hp_want_json(hp_t *s) {
  if (s->validate == HP_VALIDATE_NONE || s->format == HP_FMT_JSONL) return 0;
  if (s->validate == HP_VALIDATE_JSON || s->format == HP_FMT_JSON ||
      s->next_field || s->items_field)
    return 1;
  return strstr(s->resp.content_type, "json") != NULL;
}

/* The URL of the page after this one, or NULL at the window's end. */
static char *hp_next_page(hp_t *s, const cJSON *root) {
  if (s->next_field) {
    const cJSON *n = hp_json_find(root, s->next_field);
    if (!cJSON_IsString(n) || !*n->valuestring) return NULL;
    return hp_resolve(s->req_url, n->valuestring);
  }
  if (s->link_header && s->resp.link_next[0])
    return hp_resolve(s->req_url, s->resp.link_next);
  if (!s->page_param && !s->offset_param) return NULL;
  const cJSON *items =
      s->items_field ? hp_json_find(root, s->items_field) : root;
  int n = cJSON_IsArray(items) ? cJSON_GetArraySize(items) : 0;
  if (n == 0 || (s->page_size > 0 && n < s->page_size)) return NULL;
  s->page_item += s->offset_param ? n : 1;
  return hp_page_url(s);
}

static void hp_ok(hp_t *s, long status) {
  kk_buf_t *body = &s->resp.body;
  cJSON *root = NULL;
  if (body->len && hp_want_json(s)) {
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(body->p, body->len, &end, 0);
    while (root && end < body->p + body->len &&
           (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
      end++;
    if (!root || end != body->p + body->len) {
      cJSON_Delete(root);
      kk_metric_add(s->m_invalid, 1);
      hp_fail(s, "the body is not valid JSON (cut off?)", -1);
      return;
    }
  }
  char *next = hp_next_page(s, root);
  cJSON_Delete(root);
  if (next && s->page >= s->max_pages) {
    kk_stage_log(s->st, KK_LOG_ERROR,
                 "window %lld..%lld: more than max_pages (%lld) pages; the "
                 "rest of the window is not fetched",
                 (long long)s->win_from, (long long)s->win_to,
                 (long long)s->max_pages);
    free(next);
    next = NULL;
  }
  if (body->len) {
    uint64_t h = hp_hash(body->p, body->len);
    if (s->dedup == HP_DEDUP_URL) h ^= hp_hash(s->req_url, strlen(s->req_url));
    if (s->dedup != HP_DEDUP_OFF && s->cur.has_hash && s->cur.hash == h) {
      kk_metric_add(s->m_dups, 1);
    } else {
      int rc = hp_journal(s, status);
      if (rc) {
        kk_metric_add(s->m_journal_fail, 1);
        free(next);
        hp_fail(s, "journal append failed", -1);
        return;
      }
      kk_metric_add(s->m_journalled, 1);
      s->cur.hash = h;
      s->cur.has_hash = 1;
    }
  }
  if (s->conditional && (s->resp.etag[0] || s->resp.last_modified[0])) {
    free(s->cur.validator_url);
    s->cur.validator_url = strdup(s->req_url);
    memcpy(s->cur.etag, s->resp.etag, sizeof s->cur.etag);
    memcpy(s->cur.last_modified, s->resp.last_modified,
           sizeof s->cur.last_modified);
  }
  s->attempts = 0;
  if (!next) {
    hp_window_done(s);
    return;
  }
  free(s->req_url);
  s->req_url = next;
  s->page++;
  s->phase = HP_RATE;
  hp_step(s);
}

void hp_on_response(hp_t *s, CURLcode res, long status, long retry_after_s) {
  if (res == CURLE_ABORTED_BY_CALLBACK && s->stopping) return;
  s->phase = HP_IDLE;
  int cls = res != CURLE_OK || status < 200 || status > 599
                ? HP_CLASS_ERR
                : (int)(status / 100 - 2);
  kk_metric_add(s->m_req[cls], 1);
  kk_metric_add(s->m_bytes, (int64_t)s->resp.body.len);
  char why[CURL_ERROR_SIZE + 64];
  if (res != CURLE_OK) {
    snprintf(why, sizeof why, "%s",
             s->resp.too_big ? "the response is larger than max_body"
             : s->errbuf[0]  ? s->errbuf
                             : curl_easy_strerror(res));
    hp_fail(s, why, -1);
  } else if (status == 304) {
    kk_metric_add(s->m_not_modified, 1);
    s->attempts = 0;
    hp_window_done(s);
  } else if (status >= 200 && status < 300) {
    hp_ok(s, status);
  } else {
    snprintf(why, sizeof why, "HTTP %ld", status);
    if (status >= 400 && status < 500 && status != 408 && status != 429 &&
        kk_ratelimit_ok(&s->rl))
      kk_stage_log(s->st, KK_LOG_ERROR,
                   "GET %s answered %ld: check the url and the credentials "
                   "(the window stays until it is fetched)",
                   s->req_url, status);
    hp_fail(s, why, retry_after_s);
  }
  if (s->stopping) hp_stop_finish(s);
}
