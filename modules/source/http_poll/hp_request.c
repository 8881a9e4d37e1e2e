/*
 * modules/source/http_poll/hp_request.c - one request (a GET, or a POST
 * with the window in its body) of source.http_poll
 * through libcurl's multi interface on the loop (modules/net/net_curl.h).
 *
 * The body is collected up to `max_body` (a larger one aborts the
 * transfer: it would not fit a journal record anyway); the headers the
 * poll cycle needs (ETag, Last-Modified, Link, Content-Type) are kept from
 * the final response, after redirects.  Retry-After comes from libcurl
 * (CURLINFO_RETRY_AFTER reads both its forms, seconds and HTTP-date).
 */
#include "source/http_poll/http_poll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void hp_resp_reset(hp_resp_t *r) {
  r->body.len = 0;
  r->body.oom = 0;
  if (r->body.p) r->body.p[0] = 0;
  r->content_type[0] = r->etag[0] = r->last_modified[0] = 0;
  r->link_next[0] = 0;
  r->too_big = 0;
}

static size_t hp_write_cb(char *p, size_t size, size_t nmemb, void *arg) {
  hp_t *s = arg;
  size_t n = size * nmemb;
  if (s->resp.body.len + n > s->max_body) {
    s->resp.too_big = 1;
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  kk_buf_put(&s->resp.body, p, n);
  return s->resp.body.oom ? 0 : n;
}

/* Copies the header value of `line` (n bytes, "Name: value\r\n") into dst
 * when its name is `name`. */
static void hp_header(const char *line, size_t n, const char *name, char *dst,
                      size_t cap) {
  size_t nl = strlen(name);
  if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0) return;
  size_t i = nl + 1;
  while (i < n && (line[i] == ' ' || line[i] == '\t'))
    i++;
  size_t e = n;
  while (e > i && (line[e - 1] == '\r' || line[e - 1] == '\n' ||
                   line[e - 1] == ' ' || line[e - 1] == '\t'))
    e--;
  if (e - i >= cap) return; /* too long: better none than a cut one */
  memcpy(dst, line + i, e - i);
  dst[e - i] = 0;
}

static size_t hp_header_cb(char *p, size_t size, size_t nmemb, void *arg) {
  hp_t *s = arg;
  size_t n = size * nmemb;
  hp_resp_t *r = &s->resp;
  if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
    /* a new response (after a redirect or a 100): forget the last one */
    r->etag[0] = r->last_modified[0] = r->link_next[0] = 0;
    return n;
  }
  hp_header(p, n, "ETag", r->etag, sizeof r->etag);
  hp_header(p, n, "Last-Modified", r->last_modified, sizeof r->last_modified);
  if (s->link_header && n > 5 && strncasecmp(p, "Link:", 5) == 0 &&
      !r->link_next[0]) {
    hp_link_next(p + 5, n - 5, r->link_next, sizeof r->link_next);
  }
  return n;
}

static void hp_done(CURL *easy, CURLcode res, void *arg) {
  hp_t *s = arg;
  long status = 0;
  curl_off_t ra = -1;
  char *ct = NULL;
  if (res == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK ||
        ra <= 0)
      ra = -1;
    if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
      snprintf(s->resp.content_type, sizeof s->resp.content_type, "%s", ct);
  }
  s->easy = NULL;
  curl_easy_cleanup(easy);
  curl_slist_free_all(s->req_headers);
  s->req_headers = NULL;
  hp_on_response(s, res, status, ra > 0x7fffffff ? 0x7fffffff : (long)ra);
}

/* The request's own headers: the static ones plus the validators of the
 * last response to this very URL (conditional request). */
static struct curl_slist *hp_request_headers(hp_t *s) {
  struct curl_slist *hl = NULL;
  for (struct curl_slist *h = s->headers; h; h = h->next)
    hl = curl_slist_append(hl, h->data);
  if (s->req_body) {
    char line[300];
    snprintf(line, sizeof line, "Content-Type: %s", s->body_type);
    hl = curl_slist_append(hl, line);
  }
  if (s->conditional && s->cur.validator_url &&
      strcmp(s->cur.validator_url, s->req_url) == 0) {
    char line[512];
    if (s->cur.etag[0]) {
      snprintf(line, sizeof line, "If-None-Match: %s", s->cur.etag);
      hl = curl_slist_append(hl, line);
    }
    if (s->cur.last_modified[0]) {
      snprintf(line, sizeof line, "If-Modified-Since: %s",
               s->cur.last_modified);
      hl = curl_slist_append(hl, line);
    }
  }
  return hl;
}

int hp_request_start(hp_t *s) {
  CURL *e = curl_easy_init();
  if (!e) return KK_ENOMEM;
  hp_resp_reset(&s->resp);
  s->errbuf[0] = 0;
  s->req_headers = hp_request_headers(s);
  curl_easy_setopt(e, CURLOPT_URL, s->req_url);
  if (s->req_body) {
    /* libcurl copies nothing: req_body lives until the next window. */
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->req_body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)strlen(s->req_body));
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  if (s->req_headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->req_headers);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, hp_write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, hp_header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "klimakit/" KK_VERSION_STRING);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, s->follow ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* what libcurl decodes */
  if (s->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
  int rc = net_curl_add(s->cl, e, hp_done, s);
  if (rc) {
    curl_easy_cleanup(e);
    curl_slist_free_all(s->req_headers);
    s->req_headers = NULL;
    return rc;
  }
  s->easy = e;
  return 0;
}
