/*
 * modules/publish/http/http_access.c - public and internal views.
 *
 * Without `public` and `tokens_file` every page is open (a dashboard on
 * 127.0.0.1 or behind the city's own access control).  With
 * `tokens_file` (SHA-256 digests of tokens, one per line, as
 * source.http's) a request is internal when it carries
 * "Authorization: Bearer <token>" or the session cookie that POST /login
 * sets (HttpOnly, SameSite=Strict, Secure over HTTPS, 12 h; only the
 * SHA-256 of the cookie is kept, at most HTTP_MAX_SESSIONS; more than
 * HTTP_LOGIN_FAILURES failed logins a minute answer 429).  Every other
 * request gets the public view when `public` is set and its path is one
 * of `public.pages` (default "/", "/karte", "/gruppe/...", "/api/latest",
 * "/docs/..."), else 401 with a login form.  /healthz, /readyz, /login and
 * /logout are always reachable.
 *
 * What the public view shows (http_data.c filters, the pages follow):
 * things not marked public = false (or, with public.things = "internal",
 * only those marked public = true), the quantities of public.properties
 * (default all), never calc.alert's events; and with public.min_group = n
 * (default 5) no single thing at all: the overview, group pages, map and
 * /api/latest show aggregates over groups of at least n things with
 * current data, thing pages and CSV are internal.  Lübeck publishes
 * school CO2 only this way, over at least five measuring points, as
 * agreed with its data-protection officer (Vorlage 2022/11077-01-01).
 */
#include "publish/http/http_model.h"

#include <klimakit/thing.h>

#include <cJSON.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define HTTP_SESSION_MS (12 * KK_HOUR_MS)
#define HTTP_COOKIE "kk_session"
#define HTTP_LOGIN_FAILURES 20

static const char *const http_public_default[] = {
    "/", "/karte", "/gruppe/...", "/api/latest", "/docs", "/docs/..."};

static int http_str_list(cJSON *a, char **out, size_t cap, size_t *n) {
  const cJSON *e;
  *n = 0;
  cJSON_ArrayForEach(e, a) {
    if (!cJSON_IsString(e) || *n >= cap) return -1;
    if (!(out[(*n)++] = strdup(e->valuestring))) return -1;
  }
  return 0;
}

int http_access_init(http_state_t *s, const char *public_json,
                     const char *tokens_file) {
  if (tokens_file) {
    char err[512];
    int n = net_httpd_tokens_load(&s->tokens, tokens_file, err, sizeof err);
    if (n < 0) {
      kk_stage_error(s->st, "%s", err);
      return KK_EINVAL;
    }
    if (n == 0) {
      kk_stage_error(s->st, "%s holds no token digest", tokens_file);
      return KK_EINVAL;
    }
    s->have_tokens = 1;
  }
  s->pub.things_default = KK_THING_PUBLIC;
  if (!public_json) return 0;
  cJSON *p = cJSON_Parse(public_json);
  int rc = 0;
  if (cJSON_IsTrue(p)) {
    cJSON_Delete(p);
    p = cJSON_CreateObject();
  }
  if (!cJSON_IsObject(p)) {
    kk_stage_error(s->st, "public: a table { pages = {...}, min_group = 5, "
                          "properties = {...}, things = \"public\" }");
    cJSON_Delete(p);
    return KK_EINVAL;
  }
  s->pub.on = 1;
  s->pub.min_group = 5;
  const cJSON *m;
  cJSON_ArrayForEach(m, p) {
    if (strcmp(m->string, "min_group") == 0 && cJSON_IsNumber(m) &&
        m->valuedouble >= 0 && m->valuedouble <= 1000) {
      s->pub.min_group = (int)m->valuedouble;
    } else if (strcmp(m->string, "pages") == 0 && cJSON_IsArray(m)) {
      if (http_str_list((cJSON *)m, s->pub.pages, HTTP_MAX_PUBLIC_PAGES,
                        &s->pub.npages))
        rc = KK_EINVAL;
    } else if (strcmp(m->string, "properties") == 0 && cJSON_IsArray(m)) {
      if (http_str_list((cJSON *)m, s->pub.props, HTTP_MAX_PUBLIC_PROPS,
                        &s->pub.nprops))
        rc = KK_EINVAL;
    } else if (strcmp(m->string, "things") == 0 && cJSON_IsString(m) &&
               (!strcmp(m->valuestring, "public") ||
                !strcmp(m->valuestring, "internal"))) {
      s->pub.things_default = strcmp(m->valuestring, "public") == 0
                                  ? KK_THING_PUBLIC
                                  : KK_THING_INTERNAL;
    } else {
      kk_stage_error(s->st,
                     "public.%s: unknown or wrong (pages = { \"/\", ... }, "
                     "min_group = 0..1000, properties = { \"co2\", ... }, "
                     "things = \"public\" | \"internal\")",
                     m->string);
      rc = KK_EINVAL;
      break;
    }
  }
  if (rc == KK_EINVAL && !s->pub.npages)
    kk_stage_error(s->st, "public.pages / properties: at most %d strings",
                   HTTP_MAX_PUBLIC_PAGES);
  for (size_t i = 0;
       !rc && !cJSON_GetObjectItem(p, "pages") &&
       i < sizeof http_public_default / sizeof *http_public_default;
       i++)
    s->pub.pages[s->pub.npages++] = strdup(http_public_default[i]);
  cJSON_Delete(p);
  if (!rc && !s->have_tokens)
    kk_stage_log(s->st, KK_LOG_WARN,
                 "public view without tokens_file: internal pages cannot be "
                 "reached");
  return rc;
}

void http_access_free(http_state_t *s) {
  for (size_t i = 0; i < s->pub.npages; i++)
    free(s->pub.pages[i]);
  for (size_t i = 0; i < s->pub.nprops; i++)
    free(s->pub.props[i]);
  s->pub.npages = s->pub.nprops = 0;
  net_httpd_tokens_free(&s->tokens);
}

/* A pattern ending in a star matches any rest ("/gruppe/" + star);
 * others match exactly. */
static int http_path_match(const char *pat, const char *path) {
  size_t n = strlen(pat);
  if (n && pat[n - 1] == '*') return strncmp(pat, path, n - 1) == 0;
  return strcmp(pat, path) == 0;
}

int http_public_path(const http_state_t *s, const char *path) {
  for (size_t i = 0; i < s->pub.npages; i++)
    if (http_path_match(s->pub.pages[i], path)) return 1;
  return 0;
}

int http_public_property(const http_state_t *s, const char *property) {
  if (!s->pub.nprops) return 1;
  for (size_t i = 0; i < s->pub.nprops; i++)
    if (strcmp(s->pub.props[i], property) == 0) return 1;
  return 0;
}

int http_public_thing(http_state_t *s, const char *thing) {
  const http_thing_t *t = http_thing_find(http_things(s), thing);
  int p = t ? t->public_ : KK_THING_PUBLIC_UNSET;
  if (p == KK_THING_PUBLIC_UNSET) p = s->pub.things_default;
  return p == KK_THING_PUBLIC;
}

int http_single_things(const http_state_t *s) {
  return !s->view_public || !s->pub.min_group;
}

/* ---- sessions ---------------------------------------------------------- */

static void http_sha256(const void *p, size_t n, unsigned char d[32]) {
  if (mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), p, n, d) != 0)
    memset(d, 0, 32);
}

/* The value of cookie `name` in the request, or NULL (*len set). */
static const char *http_cookie(h2o_req_t *req, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (ssize_t i = -1;
       (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) >= 0;) {
    const char *p = req->headers.entries[i].value.base;
    const char *end = p + req->headers.entries[i].value.len;
    while (p < end) {
      while (p < end && (*p == ' ' || *p == ';'))
        p++;
      const char *semi = memchr(p, ';', (size_t)(end - p));
      const char *stop = semi ? semi : end;
      if ((size_t)(stop - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
        *len = (size_t)(stop - p - (ptrdiff_t)nl - 1);
        return p + nl + 1;
      }
      p = stop;
    }
  }
  return NULL;
}

static int http_session_valid(http_state_t *s, h2o_req_t *req) {
  size_t len;
  const char *v = http_cookie(req, HTTP_COOKIE, &len);
  if (!v || len != 64) return 0;
  unsigned char d[32];
  http_sha256(v, len, d);
  int64_t now = kk_now_ms();
  int found = 0;
  for (size_t k = 0; k < HTTP_MAX_SESSIONS; k++) {
    if (s->sessions[k].expires <= now) continue;
    unsigned diff = 0;
    for (int j = 0; j < 32; j++)
      diff |= (unsigned)(d[j] ^ s->sessions[k].digest[j]);
    found |= diff == 0;
  }
  return found;
}

static int http_internal(http_state_t *s, h2o_req_t *req) {
  if (!s->have_tokens) return 0;
  return net_httpd_authorized(&s->tokens, req) || http_session_valid(s, req);
}

/* The login form (with the page the reader wanted). */
static void http_login_form(http_state_t *s, kk_buf_t *b, const char *next,
                            int failed) {
  kk_buf_puts(b, "<h2>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_login_title));
  kk_buf_puts(b, "</h2><p>");
  kk_buf_html(
      b, http_t(&s->reg, failed ? HTTP_M_login_failed : HTTP_M_login_intro));
  kk_buf_puts(b, "</p><form class=\"login\" method=\"post\" "
                 "action=\"/login\"><input type=\"hidden\" name=\"next\" "
                 "value=\"");
  kk_buf_html(b, next && *next == '/' && next[1] != '/' && next[1] != '\\'
                     ? next
                     : "/");
  kk_buf_puts(b, "\"><label>");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_login_token));
  kk_buf_puts(b, " <input type=\"password\" name=\"token\" "
                 "autocomplete=\"current-password\" required></label> "
                 "<button type=\"submit\">");
  kk_buf_html(b, http_t(&s->reg, HTTP_M_login_submit));
  kk_buf_puts(b, "</button></form>");
}

static void http_denied(http_state_t *s, h2o_req_t *req, const char *path) {
  kk_metric_add(s->m_denied, 1);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE,
                 NULL, H2O_STRLIT("Bearer realm=\"klimakit\""));
  kk_buf_t b = {0};
  if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/csv") == 0 ||
      strcmp(path, "/metrics") == 0) {
    kk_buf_puts(&b, http_t(&s->reg, HTTP_M_login_needed));
    kk_buf_puts(&b, "\n");
    s->cache_key = NULL;
    http_respond(s, req, 401, "text/plain; charset=utf-8", &b);
    return;
  }
  s->view_public = 1;
  http_page_head(s, &b, http_t(&s->reg, HTTP_M_login_title), 0);
  if (s->have_tokens) {
    http_login_form(s, &b, path, 0);
  } else {
    kk_buf_puts(&b, "<p>");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_login_needed));
    kk_buf_puts(&b, "</p>");
  }
  http_page_tail(s, &b);
  s->cache_key = NULL;
  http_respond(s, req, 401, "text/html; charset=utf-8", &b);
}

int http_access_check(http_state_t *s, h2o_req_t *req, const char *path) {
  s->view_public = 0;
  if (!s->pub.on && !s->have_tokens) return 1;
  if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz") ||
      !strcmp(path, "/login") || !strcmp(path, "/logout"))
    return 1;
  if (http_internal(s, req)) return 1;
  if (s->pub.on && http_public_path(s, path) &&
      /* single things are internal while aggregates are asked for */
      !(s->pub.min_group &&
        (strncmp(path, "/things/", 8) == 0 || strcmp(path, "/csv") == 0))) {
    s->view_public = 1;
    return 1;
  }
  http_denied(s, req, path);
  return 0;
}

/* A form field of an application/x-www-form-urlencoded body. */
static int http_form_field(h2o_iovec_t body, const char *name, char *out,
                           size_t len) {
  size_t nl = strlen(name);
  const char *p = body.base, *end = body.base + body.len;
  while (p && p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    if ((size_t)(stop - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
      size_t o = 0;
      for (const char *c = p + nl + 1; c < stop && o + 1 < len; c++) {
        if (*c == '+') {
          out[o++] = ' ';
        } else if (*c == '%' && stop - c > 2) {
          char hex[3] = {c[1], c[2], 0};
          char *e;
          long v = strtol(hex, &e, 16);
          if (*e || v == 0) return -1;
          out[o++] = (char)v;
          c += 2;
        } else {
          out[o++] = *c;
        }
      }
      out[o] = 0;
      return 0;
    }
    p = amp ? amp + 1 : NULL;
  }
  return -1;
}

void http_page_login(http_state_t *s, h2o_req_t *req) {
  int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
  char next[512] = "/", token[512] = "";
  kk_buf_t b = {0};
  if (!post) {
    if (net_httpd_query(req, "next", next, sizeof next) != 0)
      snprintf(next, sizeof next, "/");
    http_page_head(s, &b, http_t(&s->reg, HTTP_M_login_title), 0);
    if (s->have_tokens)
      http_login_form(s, &b, next, 0);
    else {
      kk_buf_puts(&b, "<p>");
      kk_buf_html(&b, http_t(&s->reg, HTTP_M_login_not_needed));
      kk_buf_puts(&b, "</p>");
    }
    http_page_tail(s, &b);
    http_respond(s, req, 200, "text/html; charset=utf-8", &b);
    return;
  }
  /* Only a path of this server: not "//host" nor "/\host" (which
   * browsers read as another host), no header-breaking characters. */
  /* At most HTTP_LOGIN_FAILURES failed logins a minute (for everyone:
   * guessing needs many, a person few). */
  int64_t now0 = kk_now_ms();
  if (now0 - s->login_window >= 60000) {
    s->login_window = now0;
    s->login_failures = 0;
  }
  if (s->login_failures >= HTTP_LOGIN_FAILURES) {
    kk_metric_add(s->m_denied, 1);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   H2O_STRLIT("60"));
    kk_buf_puts(&b, http_t(&s->reg, HTTP_M_login_failed));
    kk_buf_puts(&b, "\n");
    http_respond(s, req, 429, "text/plain; charset=utf-8", &b);
    return;
  }
  if (http_form_field(req->entity, "next", next, sizeof next) != 0 ||
      next[0] != '/' || next[1] == '/' || next[1] == '\\' ||
      strpbrk(next, "\r\n"))
    snprintf(next, sizeof next, "/");
  int ok = 0;
  if (s->have_tokens &&
      http_form_field(req->entity, "token", token, sizeof token) == 0) {
    /* The same check as a bearer token: its digest against the file. */
    unsigned char d[32];
    http_sha256(token, strlen(token), d);
    for (size_t k = 0; k < s->tokens.n; k++) {
      unsigned diff = 0;
      for (int j = 0; j < 32; j++)
        diff |= (unsigned)(d[j] ^ s->tokens.digest[k][j]);
      ok |= diff == 0;
    }
  }
  memset(token, 0, sizeof token);
  unsigned char raw[32];
  if (ok && getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) ok = 0;
  if (!ok) {
    s->login_failures++;
    kk_metric_add(s->m_denied, 1);
    http_page_head(s, &b, http_t(&s->reg, HTTP_M_login_title), 0);
    http_login_form(s, &b, next, 1);
    http_page_tail(s, &b);
    http_respond(s, req, 401, "text/html; charset=utf-8", &b);
    return;
  }
  char value[65];
  for (int i = 0; i < 32; i++)
    snprintf(value + 2 * i, 3, "%02x", raw[i]);
  /* The oldest (or an expired) slot takes the new session. */
  int64_t now = kk_now_ms();
  size_t slot = 0;
  for (size_t k = 1; k < HTTP_MAX_SESSIONS; k++)
    if (s->sessions[k].expires < s->sessions[slot].expires) slot = k;
  http_sha256(value, 64, s->sessions[slot].digest);
  s->sessions[slot].expires = now + HTTP_SESSION_MS;
  kk_metric_add(s->m_logins, 1);
  char cookie[256];
  snprintf(cookie, sizeof cookie,
           HTTP_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
           value, (int)(HTTP_SESSION_MS / 1000),
           net_httpd_is_tls(s->use.httpd) ? "; Secure" : "");
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
                 h2o_strdup(&req->pool, cookie, SIZE_MAX).base, strlen(cookie));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                 h2o_strdup(&req->pool, next, SIZE_MAX).base, strlen(next));
  kk_buf_puts(&b, "\n");
  http_respond(s, req, 303, "text/plain; charset=utf-8", &b);
}

void http_page_logout(http_state_t *s, h2o_req_t *req) {
  size_t len;
  const char *v = http_cookie(req, HTTP_COOKIE, &len);
  if (v && len == 64) {
    unsigned char d[32];
    http_sha256(v, len, d);
    for (size_t k = 0; k < HTTP_MAX_SESSIONS; k++)
      if (memcmp(d, s->sessions[k].digest, 32) == 0) s->sessions[k].expires = 0;
  }
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
                 H2O_STRLIT(HTTP_COOKIE "=; Path=/; Max-Age=0; HttpOnly; "
                                        "SameSite=Strict"));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                 H2O_STRLIT("/"));
  kk_buf_t b = {0};
  kk_buf_puts(&b, "\n");
  http_respond(s, req, 303, "text/plain; charset=utf-8", &b);
}
