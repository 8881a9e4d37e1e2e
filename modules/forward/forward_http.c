/*
 * modules/forward/forward_http.c - one request at a time from the spool
 * through libcurl on the loop; see forward_http.h.
 */
#include <klimakit.h>
#include "forward/forward_http.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FWH_RESPONSE_MAX 4096 /* bytes of a response kept for dead-letter */

struct fwh {
  kk_stage_t *st;
  net_curl_t *cl;
  fw_t *fw;
  long timeout_ms;
  const char *ca_file; /* borrowed from opts */
  struct curl_slist *headers;
  /* the request in flight */
  CURL *easy;
  struct curl_slist *req_headers;
  char *body;
  size_t n;
  kk_buf_t resp;
  char reason[128];
  char errbuf[CURL_ERROR_SIZE];
  kk_stop_cb stop_cb;
  kk_ratelimit_t rl;
};

void fwh_time(int64_t ms, char *buf) {
  kk_time_format_iso8601(ms, buf);
}

void fwh_number(kk_buf_t *sb, const fw_item_t *it) {
  char num[KK_FMT_DOUBLE_MAX];
  if (!it->has_value) {
    kk_buf_puts(sb, "null");
    return;
  }
  kk_buf_put(sb, num, kk_fmt_double(it->value, num));
}

fw_t *fwh_fw(fwh_t *h) {
  return h->fw;
}

static size_t fwh_write_cb(char *p, size_t size, size_t nmemb, void *arg) {
  fwh_t *h = arg;
  size_t n = size * nmemb;
  if (h->resp.len < FWH_RESPONSE_MAX)
    kk_buf_put(&h->resp, p,
               n < FWH_RESPONSE_MAX - h->resp.len
                   ? n
                   : FWH_RESPONSE_MAX - h->resp.len);
  return n;
}

/* Keeps the reason phrase of the status line ("HTTP/1.1 503 Busy"). */
static size_t fwh_header_cb(char *p, size_t size, size_t nmemb, void *arg) {
  fwh_t *h = arg;
  size_t n = size * nmemb;
  if (n > 9 && strncmp(p, "HTTP/", 5) == 0) {
    const char *sp = memchr(p, ' ', n);
    if (sp) sp = memchr(sp + 1, ' ', n - (size_t)(sp + 1 - p));
    size_t k = 0;
    if (sp)
      for (sp++; sp < p + n && *sp != '\r' && *sp != '\n' &&
                 k < sizeof h->reason - 1;)
        h->reason[k++] = *sp++;
    h->reason[k] = 0;
  }
  return n;
}

static void fwh_done(CURL *easy, CURLcode res, void *arg) {
  fwh_t *h = arg;
  long status = 0;
  fw_outcome_t out = FW_RETRY;
  char why[256];
  if (res == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
      out = FW_ACK;
    else if (status >= 400 && status < 500 && status != 408 && status != 429)
      out = FW_DEAD;
    snprintf(why, sizeof why, "HTTP %ld%s%s", status, h->reason[0] ? " " : "",
             h->reason);
  } else {
    snprintf(why, sizeof why, "%s",
             h->errbuf[0] ? h->errbuf : curl_easy_strerror(res));
  }
  if (out == FW_RETRY && status >= 300 && status < 400 &&
      kk_ratelimit_ok(&h->rl))
    kk_stage_log(h->st, KK_LOG_WARN,
                 "receiver answered %ld (a redirect is not followed): check "
                 "the url",
                 status);
  char *body = h->body;
  h->body = NULL;
  h->easy = NULL;
  curl_easy_cleanup(easy);
  curl_slist_free_all(h->req_headers);
  h->req_headers = NULL;
  if (h->resp.oom) h->resp.len = 0;
  kk_buf_put(&h->resp, "", 1); /* NUL-terminate */
  fw_result(h->fw, out, h->n, (int)status, out == FW_DEAD ? h->reason : why,
            body, h->resp.len > 1 ? h->resp.p : NULL);
  free(body);
  h->resp.len = 0;
}

int fwh_post(fwh_t *h, const char *url, const char *content_type,
             const char *body, size_t len, struct curl_slist *extra, size_t n) {
  CURL *e = curl_easy_init();
  char ct[128];
  if (!e) {
    curl_slist_free_all(extra);
    return KK_ENOMEM;
  }
  h->body = malloc(len + 1);
  if (!h->body) {
    curl_easy_cleanup(e);
    curl_slist_free_all(extra);
    return KK_ENOMEM;
  }
  memcpy(h->body, body, len);
  h->body[len] = 0;
  struct curl_slist *hl = extra;
  snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
  hl = curl_slist_append(hl, ct);
  hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
  for (struct curl_slist *s = h->headers; s; s = s->next)
    hl = curl_slist_append(hl, s->data);
  h->req_headers = hl;
  h->n = n;
  h->reason[0] = 0;
  h->errbuf[0] = 0;
  h->resp.len = 0;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwh_write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fwh_header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "klimakit/" KK_VERSION_STRING);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (h->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
  int rc = net_curl_add(h->cl, e, fwh_done, h);
  if (rc) {
    curl_easy_cleanup(e);
    curl_slist_free_all(hl);
    h->req_headers = NULL;
    free(h->body);
    h->body = NULL;
    return rc;
  }
  h->easy = e;
  return 0;
}

static int fwh_parse_headers(fwh_t *h, const char *json) {
  cJSON *root = cJSON_Parse(json), *e;
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return KK_ETYPE;
  }
  cJSON_ArrayForEach(e, root) {
    char line[1024];
    if (!cJSON_IsString(e) || strpbrk(e->string, ":\r\n") ||
        strpbrk(e->valuestring, "\r\n")) {
      cJSON_Delete(root);
      return KK_ETYPE;
    }
    snprintf(line, sizeof line, "%s: %s", e->string, e->valuestring);
    h->headers = curl_slist_append(h->headers, line);
  }
  cJSON_Delete(root);
  return 0;
}

int fwh_new(kk_stage_t *st, const kk_opts_t *opts, const fw_ops_t *ops,
            void *ctx, fwh_t **out) {
  fwh_t *h = calloc(1, sizeof *h);
  if (!h) return KK_ENOMEM;
  h->st = st;
  h->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(60000, 3);
  h->timeout_ms = (long)kk_opt_duration_ms(opts, "timeout");
  h->ca_file =
      kk_opt_isset(opts, "ca_file") ? kk_opt_str(opts, "ca_file") : NULL;
  int rc = 0;
  if (kk_opt_isset(opts, "headers") &&
      fwh_parse_headers(h, kk_opt_json(opts, "headers")) != 0) {
    kk_stage_error(st, "headers: expected a table of name = \"value\" "
                       "strings without ':' in names or line breaks");
    rc = KK_ETYPE;
  }
  if (rc == 0 && kk_opt_isset(opts, "bearer_env")) {
    const char *tok = getenv(kk_opt_str(opts, "bearer_env"));
    if (!tok || !*tok) {
      kk_stage_error(st, "bearer_env: environment variable %s is not set",
                     kk_opt_str(opts, "bearer_env"));
      rc = KK_EMISSING;
    } else {
      size_t l = strlen(tok) + 32;
      char *line = malloc(l);
      if (line) {
        snprintf(line, l, "Authorization: Bearer %s", tok);
        h->headers = curl_slist_append(h->headers, line);
        free(line);
      }
    }
  }
  if (rc == 0 && (rc = net_curl_new(kk_stage_loop(st), &h->cl)) != 0)
    kk_stage_error(st, "cannot set up libcurl: %s", kk_strerror(rc));
  if (rc == 0) rc = fw_new(st, opts, ops, ctx, &h->fw);
  if (rc) {
    /* start failed: nothing runs yet, close what we opened */
    net_curl_close(h->cl, NULL, NULL);
    h->cl = NULL;
    fwh_free(h);
    return rc;
  }
  *out = h;
  return 0;
}

static void fwh_curl_closed(void *arg) {
  fwh_t *h = arg;
  h->cl = NULL;
  kk_stop_cb cb = h->stop_cb;
  h->stop_cb = NULL;
  if (cb) cb(h->st);
}

static void fwh_fw_stopped(void *arg) {
  fwh_t *h = arg;
  net_curl_close(h->cl, fwh_curl_closed, h);
}

void fwh_stop(fwh_t *h, kk_stop_cb cb) {
  h->stop_cb = cb;
  fw_stop(h->fw, fwh_fw_stopped, h);
}

void fwh_free(fwh_t *h) {
  if (!h) return;
  fw_free(h->fw);
  curl_slist_free_all(h->headers);
  curl_slist_free_all(h->req_headers);
  free(h->body);
  kk_buf_free(&h->resp);
  free(h);
}
