/*
 * modules/source/http.c - source.http: readings pushed over HTTP.
 *
 * POST (or PUT) to the ingest path with a bearer token; the body is
 * appended to the journal before the answer, so a 202 means "stored".
 * Content types: application/senml+json, application/senml+cbor,
 * application/json (a reading object or an array of them),
 * application/cbor, text/plain ("co2=812 ppm"); with format =
 * "sensor.community" every body is an airrohr push (X-Sensor and X-PIN
 * go to the message's meta; Basic auth carries the token as password,
 * since the firmware has no bearer field).  The payload rules are the
 * CoAP source's (modules/source/source_payload.h): one decoder for both.
 *
 * The token and the size are checked from the request head, before the
 * body is read (net_httpd_guard); a 401 or 413 costs no body memory.
 *
 * Answers: 202 {"seq":N} after the journal append; 400 with the reason
 * when the body does not decode (it is journaled all the same, so a fixed
 * decoder can replay it); 401 without a valid token; 404 for other paths;
 * 405 for other methods; 413 above max_body (h2o refuses it); 415 for
 * unknown content types; 503 with Retry-After while sinks are full; 500
 * when the journal append fails.  The server is shared with publish.http
 * when both listen on the same address.
 */
#include <klimakit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "decode/decode_common.h"
#include "source/source_payload.h"
#include "source/source_sensor_community.h"
#include "net/net_httpd.h"

typedef struct http_in {
  kk_stage_t *st;
  char *listen;
  const char *path;
  source_paths_t paths;
  net_httpd_tokens_t tokens;
  int anonymous;
  uint64_t retry_after_s;
  size_t max_body;
  net_httpd_tls_t tls;
  net_httpd_use_t use;
  int paused;
  int format; /* 0 by Content-Type, 1 sensor.community */
  kk_ratelimit_t rl;
} http_in_t;

static const struct {
  const char *type;
  uint32_t format;
} content_types[] = {{"application/senml+json", 110},
                     {"application/senml+cbor", 112},
                     {"application/json", COAP_CF_JSON},
                     {"application/cbor", COAP_CF_CBOR},
                     {"text/plain", COAP_CF_TEXT}};

/* "Authorization: Basic base64(user:token)": the airrohr firmware's
 * own-API settings offer a user and a password, no bearer token.  The
 * password is checked like a bearer token (its SHA-256 against the
 * digests, every digest compared in full); the user is not checked. */
static int basic_value_ok(const net_httpd_tokens_t *t, const char *value,
                          size_t len) {
  if (!value || t->n == 0) return 0;
  if (len < 7 || len > 700 || strncasecmp(value, "Basic ", 6) != 0) return 0;
  uint8_t raw[600];
  long n = decode_base64(value + 6, len - 6, raw);
  const uint8_t *colon = n > 0 ? memchr(raw, ':', (size_t)n) : NULL;
  if (!colon) return 0;
  const uint8_t *pw = colon + 1;
  size_t pl = (size_t)(raw + n - pw);
  unsigned char d[32];
  if (pl == 0 ||
      mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), pw, pl, d) != 0)
    return 0;
  int found = 0;
  for (size_t k = 0; k < t->n; k++) {
    unsigned diff = 0;
    for (int j = 0; j < 32; j++)
      diff |= (unsigned)(d[j] ^ t->digest[k][j]);
    found |= diff == 0;
  }
  return found;
}

static int basic_ok(const net_httpd_tokens_t *t, h2o_req_t *req) {
  ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
  if (i < 0) return 0;
  h2o_iovec_t v = req->headers.entries[i].value;
  return basic_value_ok(t, v.base, v.len);
}

static void count(http_in_t *s, const char *reason);

/* The gate (net_httpd_guard): a body without a valid token is refused
 * from the headers, before a byte of it is read. */
static int in_gate(void *ud, const net_httpd_head_t *head) {
  http_in_t *s = ud;
  if (s->anonymous) return 0;
  size_t len = 0;
  const char *v = net_httpd_head_get(head, "authorization", &len);
  if (net_httpd_bearer_ok(&s->tokens, v, len) ||
      (s->format == 1 && basic_value_ok(&s->tokens, v, len)))
    return 0;
  count(s, "unauthorized");
  return 401;
}

/* Copies request header `name` into buf (len bytes, "" when missing). */
static void header(h2o_req_t *req, const char *name, char *buf, size_t len) {
  ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
  buf[0] = '\0';
  if (i < 0) return;
  h2o_iovec_t v = req->headers.entries[i].value;
  snprintf(buf, len, "%.*s", (int)v.len, v.base);
}

static void count(http_in_t *s, const char *reason) {
  kk_metric_add(kk_stage_counter(s->st, "kk_rejected_total", reason,
                                 "Messages rejected, by reason"),
                1);
}

static int in_decode(kk_stage_t *st, void *state, const kk_raw_t *raw,
                     kk_batch_t *out) {
  return source_payload_decode_stage(st, &((http_in_t *)state)->paths, raw,
                                     out);
}

static int in_request(void *ud, h2o_req_t *req, const char *path) {
  http_in_t *s = ud;
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) &&
      !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT"))) {
    count(s, "method");
    net_httpd_text(req, 405, "use POST\n");
    return 0;
  }
  if (!s->anonymous && !net_httpd_authorized(&s->tokens, req) &&
      !(s->format == 1 && basic_ok(&s->tokens, req))) {
    count(s, "unauthorized");
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE,
                   NULL, H2O_STRLIT("Bearer"));
    net_httpd_text(req, 401, "a valid bearer token is needed\n");
    return 0;
  }
  if (req->entity.len > s->max_body) {
    count(s, "too_large");
    net_httpd_text(req, 413, "request body too large\n");
    return 0;
  }
  char thing[COAP_PAYLOAD_NAME_MAX], property[COAP_PAYLOAD_NAME_MAX];
  if (source_paths_match(&s->paths, path, thing, property) < 0) {
    count(s, "not_found");
    net_httpd_text(req, 404, "no ingest path here\n");
    return 0;
  }
  ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
  uint32_t format = UINT32_MAX;
  if (ct >= 0) {
    h2o_iovec_t v = req->headers.entries[ct].value;
    size_t n = v.len;
    const char *semi = memchr(v.base, ';', v.len);
    if (semi) n = (size_t)(semi - v.base);
    while (n && v.base[n - 1] == ' ')
      n--;
    for (size_t i = 0; i < sizeof content_types / sizeof *content_types; i++)
      if (strlen(content_types[i].type) == n &&
          strncasecmp(v.base, content_types[i].type, n) == 0)
        format = content_types[i].format;
  }
  /* The firmware sends application/json; whatever it says, a push to a
   * sensor.community path is one. */
  if (s->format == 1) format = SOURCE_FMT_SENSOR_COMMUNITY;
  if (format == UINT32_MAX) {
    count(s, "unsupported_format");
    net_httpd_text(req, 415,
                   "Content-Type must be application/senml+json, "
                   "application/senml+cbor, application/json, application/cbor "
                   "or text/plain\n");
    return 0;
  }
  if (kk_stage_paused(s->st)) {
    count(s, "busy");
    char ra[32];
    int n =
        snprintf(ra, sizeof ra, "%llu", (unsigned long long)s->retry_after_s);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&req->pool, ra, (size_t)n).base, (size_t)n);
    net_httpd_text(req, 503, "busy: try again later\n");
    return 0;
  }
  char meta[512], peer[64] = "";
  struct sockaddr_storage sa;
  socklen_t salen =
      req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&sa);
  if (salen > 0) {
    char ip[INET6_ADDRSTRLEN] = "";
    if (sa.ss_family == AF_INET)
      uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
    else
      uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
    snprintf(peer, sizeof peer, "%s", ip);
  }
  source_payload_meta(meta, sizeof meta, path, peer, NULL, thing, property);
  if (s->format == 1) {
    char hv[COAP_PAYLOAD_NAME_MAX];
    header(req, "x-sensor", hv, sizeof hv);
    source_payload_meta_add(meta, sizeof meta, "sensor", hv);
    header(req, "x-pin", hv, sizeof hv);
    source_payload_meta_add(meta, sizeof meta, "pin", hv);
  }
  kk_batch_t *b = kk_batch_new(16);
  if (!b || kk_batch_push_raw(b, 0, kk_now_ms(), format, meta, req->entity.base,
                              req->entity.len) != 0) {
    kk_batch_unref(b);
    net_httpd_text(req, 500, "out of memory\n");
    return 0;
  }
  int status = 0;
  int rc = kk_stage_ingest(s->st, b, &status);
  kk_buf_t body = {0};
  if (rc != 0) {
    count(s, "journal");
    kk_buf_printf(&body, "journal: %s\n", kk_strerror(rc));
    net_httpd_respond(req, 500, "text/plain; charset=utf-8", &body, NULL);
  } else if (status != 0) {
    /* Journaled, but it does not decode: the reason goes back. */
    kk_buf_printf(&body, "%s\n", kk_stage_last_error(s->st));
    net_httpd_respond(req, 400, "text/plain; charset=utf-8", &body, NULL);
  } else {
    kk_buf_printf(&body, "{\"seq\":%llu,\"readings\":%zu}\n",
                  (unsigned long long)kk_batch_raw(b, 0)->seq, kk_batch_len(b));
    net_httpd_respond(req, 202, "application/json", &body, NULL);
  }
  kk_batch_unref(b);
  return 0;
}

static int in_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  http_in_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 5);
  s->listen = strdup(kk_opt_str(opts, "listen"));
  s->path = kk_opt_str(opts, "path");
  s->anonymous = kk_opt_bool(opts, "allow_anonymous");
  s->retry_after_s = kk_opt_duration_ms(opts, "retry_after") / 1000;
  s->max_body = kk_opt_size(opts, "max_body");
  s->tls.cert_file = kk_opt_str(opts, "tls_cert");
  s->tls.key_file = kk_opt_str(opts, "tls_key");
  if (!s->listen) return KK_ENOMEM;
  char err[512], pat[600];
  snprintf(pat, sizeof pat, "%s/{thing}", s->path);
  const char *pats[] = {s->path, pat};
  if (s->path[0] != '/' ||
      source_paths_init(&s->paths, pats, 2, err, sizeof err) != 0) {
    kk_stage_error(st, "path must start with '/': '%s'", s->path);
    return KK_EINVAL;
  }
  s->paths.senml_names = kk_opt_enum(opts, "senml_names");
  s->format = kk_opt_enum(opts, "format");
  const char *tf = kk_opt_str(opts, "tokens_file");
  if (!tf && !s->anonymous) {
    kk_stage_error(st, "tokens_file is required (or allow_anonymous = true "
                       "for a closed network)");
    return KK_EMISSING;
  }
  if (tf) {
    int n = net_httpd_tokens_load(&s->tokens, tf, err, sizeof err);
    if (n < 0) {
      kk_stage_error(st, "%s", err);
      return n;
    }
    if (n == 0) {
      kk_stage_error(st, "%s holds no token digest", tf);
      return KK_EMISSING;
    }
  }
  return 0;
}

static int in_start(kk_stage_t *st, void *state) {
  http_in_t *s = state;
  int rc = net_httpd_use(&s->use, st, s->listen, &s->tls, s->max_body, s->path,
                         in_request, s);
  if (rc) return rc;
  net_httpd_guard(s->use.httpd, &s->use, in_gate, s, s->max_body);
  char url[320];
  net_httpd_base_url(s->use.httpd, s->listen, url, sizeof url);
  kk_stage_log(st, KK_LOG_INFO, "ingest at %s%s%s", url, s->path,
               s->anonymous ? "; no token needed" : "");
  return 0;
}

static void in_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  net_httpd_unuse(&((http_in_t *)state)->use, cb);
}

static void in_destroy(void *state) {
  http_in_t *s = state;
  if (!s) return;
  source_paths_free(&s->paths);
  net_httpd_tokens_free(&s->tokens);
  free(s->listen);
  free(s);
}

static const kk_option_t in_options[] = {
    {.name = "listen",
     .type = KK_OPT_STRING,
     .def = "127.0.0.1:8080",
     .description = "Address and port; shared with publish.http when equal."},
    {.name = "path",
     .type = KK_OPT_STRING,
     .def = "/api/ingest",
     .description = "Ingest path; PATH/THING names the thing for payloads "
                    "that do not."},
    {.name = "format",
     .type = KK_OPT_ENUM,
     .def = "auto",
     .choices = "auto|sensor.community",
     .description = "auto: the payload format by Content-Type; "
                    "`sensor.community`: every body at `path` is an airrohr "
                    "push (Sensor.Community JSON, X-Sensor header; HTTP Basic "
                    "auth with the token as password is accepted too)."},
    SOURCE_PAYLOAD_SENML_OPTION,
    {.name = "tokens_file",
     .type = KK_OPT_STRING,
     .description = "File of SHA-256 digests of the accepted bearer tokens, "
                    "one per line (printf %s TOKEN | sha256sum)."},
    {.name = "allow_anonymous",
     .type = KK_OPT_BOOL,
     .def = "false",
     .description = "Accept requests without a token (closed networks "
                    "only)."},
    {.name = "max_body",
     .type = KK_OPT_SIZE,
     .def = "1MiB",
     .description = "Largest request body; larger ones get 413."},
    {.name = "retry_after",
     .type = KK_OPT_DURATION,
     .def = "5s",
     .description = "Retry-After of the 503 answer while sinks are full."},
    {.name = "tls_cert",
     .type = KK_OPT_STRING,
     .description = "PEM certificate chain: serve HTTPS (with tls_key)."},
    {.name = "tls_key",
     .type = KK_OPT_STRING,
     .description = "PEM private key of tls_cert."},
    {NULL}};

const kk_module_t source_http_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "http",
    .ns = "source",
    .kind = KK_KIND_SOURCE,
    .summary = "Readings pushed over HTTP(S), journaled before 202",
    .description =
        "POST or PUT SenML (JSON or CBOR), JSON readings, CBOR or text/plain "
        "to `path` (or `path`/THING) with `Authorization: Bearer TOKEN`.  "
        "The body is appended to the journal before the answer: 202 with the "
        "journal sequence number means stored.  400 carries the reason when "
        "the body does not decode (it stays in the journal for a fixed "
        "decoder), 401 without a valid token, 413 above `max_body`, 415 for "
        "unknown content types, 503 with Retry-After while sinks are full.  "
        "Tokens are kept only as SHA-256 digests and compared in constant "
        "time.",
    .options = in_options,
    .create = in_create,
    .start = in_start,
    .decode = in_decode,
    .stop = in_stop,
    .destroy = in_destroy,
};
