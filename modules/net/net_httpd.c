/* modules/net/net_httpd.c - see httpd.h. */
#include <klimakit.h>
#include "net/net_httpd.h"
#include "net/net_httpd_impl.h"

#include <mbedtls/md.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct root_handler {
  h2o_handler_t super;
  net_httpd_t *h;
} root_handler_t;

/* Servers live on the loop thread only; a list is enough for a handful. */
static net_httpd_t *net_httpd_servers;

const route_t *net_httpd_match(const net_httpd_t *h, const char *path) {
  const route_t *best = NULL;
  for (size_t i = 0; i < h->nroutes; i++) {
    const route_t *r = &h->routes[i];
    int match =
        strcmp(r->prefix, "/") == 0 ||
        (strncmp(path, r->prefix, r->len) == 0 &&
         (path[r->len] == 0 || path[r->len] == '/' || path[r->len] == '('));
    /* A live route wins over a draining one of the same length. */
    if (match && (!best || r->len > best->len ||
                  (r->len == best->len && r->fn && !best->fn)))
      best = r;
  }
  return best;
}

static int net_httpd_on_req(h2o_handler_t *self, h2o_req_t *req) {
  net_httpd_t *h = ((root_handler_t *)self)->h;
  /* The body is in: its connection is past the gate's deadline and its
   * reservation. */
  h2o_socket_t *sock = req->conn->callbacks->get_socket
                           ? req->conn->callbacks->get_socket(req->conn)
                           : NULL;
  net_httpd_gate_arrived(h, sock);
  if (h->guarded) req->http1_is_persistent = 0;
  char path[2048];
  size_t n = req->path_normalized.len;
  if (n >= sizeof path) {
    net_httpd_text(req, 414, "URI too long\n");
    return 0;
  }
  memcpy(path, req->path_normalized.base, n);
  path[n] = 0;
  const route_t *best = net_httpd_match(h, path);
  if (!best) {
    net_httpd_text(req, 404, "not found\n");
    return 0;
  }
  if (!best->fn) {
    /* The route's stage is stopping: a 404 would tell a gateway that the
     * path is gone for good, so say "later" and close the connection. */
    req->http1_is_persistent = 0;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   H2O_STRLIT("5"));
    net_httpd_text(req, 503, "shutting down: try again later\n");
    return 0;
  }
  return best->fn(best->ud, req, path);
}

static void net_httpd_on_accept(uv_stream_t *l, int status) {
  net_httpd_t *h = l->data;
  if (status != 0) return;
  /* Plain or TLS, the gate reads the request head first. */
  net_httpd_gate_accept(h, l);
}

static void net_httpd_free(net_httpd_t *h) {
  for (size_t i = 0; i < h->nroutes; i++)
    free(h->routes[i].prefix);
  free(h->routes);
  h2o_config_dispose(&h->config);
  if (h->ssl) SSL_CTX_free(h->ssl);
  free(h->listen);
  free(h);
}

/* Close callback of a listener that never served: frees the bare server. */
static void net_httpd_listener_failed(uv_handle_t *l) {
  net_httpd_t *h = l->data;
  free(h->listen);
  free(h);
}

static int net_httpd_setup_tls(net_httpd_t *h, const net_httpd_tls_t *tls,
                               char *err, size_t errlen) {
  h->ssl = SSL_CTX_new(TLS_server_method());
  if (!h->ssl) goto fail;
  SSL_CTX_set_min_proto_version(h->ssl, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(h->ssl, tls->cert_file) != 1 ||
      SSL_CTX_use_PrivateKey_file(h->ssl, tls->key_file, SSL_FILETYPE_PEM) !=
          1 ||
      SSL_CTX_check_private_key(h->ssl) != 1)
    goto fail;
  h->accept.ssl_ctx = h->ssl;
  return 0;
fail:
  snprintf(err, errlen, "TLS with %s / %s: %s", tls->cert_file, tls->key_file,
           ERR_reason_error_string(ERR_get_error()));
  return KK_EINVAL;
}

net_httpd_t *net_httpd_acquire(uv_loop_t *loop, const char *listen,
                               const net_httpd_tls_t *tls, size_t max_body,
                               char *err, size_t errlen) {
  for (net_httpd_t *h = net_httpd_servers; h; h = h->next)
    if (h->loop == loop && strcmp(h->listen, listen) == 0) {
      /* The server-wide limit is the largest any user wants; each route
       * checks its own. */
      if (max_body > h->config.max_request_entity_size)
        h->config.max_request_entity_size = max_body;
      h->refs++;
      return h;
    }
  const char *colon = strrchr(listen, ':');
  char host[256], *end;
  long port = colon ? strtol(colon + 1, &end, 10) : -1;
  if (!colon || *end || port < 0 || port > 65535 || colon == listen ||
      (size_t)(colon - listen) >= sizeof host) {
    snprintf(err, errlen, "listen must be HOST:PORT, got '%s'", listen);
    return NULL;
  }
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = 0;
  if (host[0] == '[') { /* [::1]:8080 */
    memmove(host, host + 1, strlen(host));
    char *rb = strchr(host, ']');
    if (rb) *rb = 0;
  }
  struct sockaddr_storage addr;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr) != 0) {
    snprintf(err, errlen,
             "cannot parse listen address '%s' (an IP address "
             "is needed)",
             host);
    return NULL;
  }
  net_httpd_t *h = calloc(1, sizeof *h);
  if (!h || !(h->listen = strdup(listen))) {
    free(h);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  h->loop = loop;
  h->refs = 1;
  /* Bind first: a busy port must fail before any h2o state exists. */
  uv_tcp_init(loop, &h->listener);
  h->listener.data = h;
  int rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&h->listener, 128, net_httpd_on_accept);
  if (rc != 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", listen, uv_strerror(rc));
    uv_close((uv_handle_t *)&h->listener, net_httpd_listener_failed);
    return NULL;
  }
  h2o_config_init(&h->config);
  h->config.max_request_entity_size = max_body;
  h2o_hostconf_t *host_conf = h2o_config_register_host(
      &h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *pc = h2o_config_register_path(host_conf, "/", 0);
  root_handler_t *rh = (root_handler_t *)h2o_create_handler(pc, sizeof *rh);
  rh->super.on_req = net_httpd_on_req;
  rh->h = h;
  if (tls && tls->cert_file && net_httpd_setup_tls(h, tls, err, errlen) != 0) {
    h2o_config_dispose(&h->config);
    if (h->ssl) SSL_CTX_free(h->ssl);
    uv_close((uv_handle_t *)&h->listener, net_httpd_listener_failed);
    return NULL;
  }
  h2o_context_init(&h->ctx, loop, &h->config);
  h->accept.ctx = &h->ctx;
  h->accept.hosts = h->config.hosts;
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&h->listener, (struct sockaddr *)&bound, &blen);
  h->port = ntohs(bound.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *)&bound)->sin6_port
                      : ((struct sockaddr_in *)&bound)->sin_port);
  char labels[300];
  snprintf(labels, sizeof labels, "listen=\"%s\"", listen);
  h->m_refused = kk_counter("kk_http_refused_before_body_total", labels,
                            "Requests answered from their head alone (no "
                            "token, too large, bodies over the budget, "
                            "malformed), their bodies never read");
  h->next = net_httpd_servers;
  net_httpd_servers = h;
  return h;
}

int net_httpd_route(net_httpd_t *h, const char *prefix, net_httpd_fn fn,
                    void *ud, const void *owner) {
  /* A stage that serves the prefix again replaces its draining route. */
  size_t o = 0;
  for (size_t i = 0; i < h->nroutes; i++) {
    if (!h->routes[i].fn && strcmp(h->routes[i].prefix, prefix) == 0) {
      free(h->routes[i].prefix);
      continue;
    }
    h->routes[o++] = h->routes[i];
  }
  h->nroutes = o;
  route_t *n = realloc(h->routes, (h->nroutes + 1) * sizeof *n);
  if (!n) return KK_ENOMEM;
  h->routes = n;
  route_t *r = &h->routes[h->nroutes];
  if (!(r->prefix = strdup(prefix))) return KK_ENOMEM;
  r->len = strlen(prefix);
  r->fn = fn;
  r->ud = ud;
  r->owner = owner;
  r->gate = NULL;
  r->gate_ud = NULL;
  r->max_body = 0;
  h->nroutes++;
  return 0;
}

void net_httpd_unroute(net_httpd_t *h, const void *owner) {
  /* The route stays, without its handler, until the server closes or the
   * prefix is routed again: requests to it get 503 with Retry-After, never
   * the 404 of a path that does not exist. */
  for (size_t i = 0; i < h->nroutes; i++)
    if (h->routes[i].owner == owner && h->routes[i].fn) {
      if (h->routes[i].gate) h->guarded--;
      h->routes[i].fn = NULL;
      h->routes[i].ud = NULL;
      h->routes[i].owner = NULL;
      h->routes[i].gate = NULL;
    }
}

int net_httpd_port(const net_httpd_t *h) {
  return h->port;
}
int net_httpd_is_tls(const net_httpd_t *h) {
  return h->ssl != NULL;
}

static void net_httpd_drain_closed(uv_handle_t *t) {
  net_httpd_t *h = t->data;
  void (*done)(void *) = h->done;
  void *ud = h->done_ud;
  net_httpd_free(h);
  if (done) done(ud);
}

/* h2o_context_dispose() requires that no connection is left, and h2o 2.2
 * has no call that waits for that: poll its connection lists. */
static void net_httpd_drain_tick(uv_timer_t *t) {
  net_httpd_t *h = t->data;
  net_httpd_gate_close_pending(h);
  if (!h2o_linklist_is_empty(&h->ctx.http1._conns) ||
      !h2o_linklist_is_empty(&h->ctx.http2._conns) || h->ngates)
    return;
  uv_timer_stop(t);
  if (h2o_timeout_is_linked(&h->ctx.http2._graceful_shutdown_timeout))
    h2o_timeout_unlink(&h->ctx.http2._graceful_shutdown_timeout);
  h2o_context_dispose(&h->ctx);
  uv_close((uv_handle_t *)t, net_httpd_drain_closed);
}

void net_httpd_release(net_httpd_t *h, void (*done)(void *ud), void *ud) {
  if (--h->refs > 0) {
    if (done) done(ud);
    return;
  }
  for (net_httpd_t **p = &net_httpd_servers; *p; p = &(*p)->next)
    if (*p == h) {
      *p = h->next;
      break;
    }
  h->done = done;
  h->done_ud = ud;
  uv_close((uv_handle_t *)&h->listener, NULL);
  h2o_context_request_shutdown(&h->ctx);
  uv_timer_init(h->loop, &h->drain);
  h->drain.data = h;
  uv_timer_start(&h->drain, net_httpd_drain_tick, 0, 20);
}

void net_httpd_respond_buf(h2o_req_t *req, int status, const char *ctype,
                           const char *body, size_t len,
                           const char *cors_origin) {
  req->res.status = status;
  req->res.reason = status < 300   ? "OK"
                    : status < 400 ? "Redirect"
                    : status < 500 ? "Client Error"
                                   : "Server Error";
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                 ctype, strlen(ctype));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                 H2O_STRLIT("no-store"));
  h2o_add_header_by_str(&req->pool, &req->res.headers,
                        H2O_STRLIT("x-content-type-options"), 0, NULL,
                        H2O_STRLIT("nosniff"));
  if (cors_origin)
    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("access-control-allow-origin"), 0, NULL,
                          cors_origin, strlen(cors_origin));
  /* h2o_send_inline() copies the body into the request's pool and leaves
   * the length unset (chunked); a known length is cheaper for clients. */
  req->res.content_length = len;
  h2o_send_inline(req, body ? body : "", len);
}

void net_httpd_respond(h2o_req_t *req, int status, const char *ctype,
                       kk_buf_t *body, const char *cors_origin) {
  if (body->oom) {
    kk_buf_free(body);
    net_httpd_text(req, 500, "out of memory\n");
    return;
  }
  net_httpd_respond_buf(req, status, ctype, body->p, body->len, cors_origin);
  kk_buf_free(body);
}

void net_httpd_text(h2o_req_t *req, int status, const char *text) {
  kk_buf_t b = {0};
  kk_buf_puts(&b, text);
  net_httpd_respond(req, status, "text/plain; charset=utf-8", &b, NULL);
}

static int net_httpd_hexval(int c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

int net_httpd_tokens_load(net_httpd_tokens_t *t, const char *path, char *err,
                          size_t errlen) {
  memset(t, 0, sizeof *t);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cannot read token file %s", path);
    return KK_EIO;
  }
  char line[512];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *s = line;
    while (*s == ' ' || *s == '\t')
      s++;
    if (*s == '#' || *s == '\n' || *s == 0) continue;
    unsigned char d[32];
    int ok = 1;
    for (int i = 0; i < 32 && ok; i++) {
      int hi = net_httpd_hexval(s[2 * i]),
          lo = hi < 0 ? -1 : net_httpd_hexval(s[2 * i + 1]);
      if (hi < 0 || lo < 0)
        ok = 0;
      else
        d[i] = (unsigned char)(hi * 16 + lo);
    }
    char after = ok ? s[64] : 0;
    if (!ok || (after && after != '\n' && after != ' ' && after != '\t' &&
                after != '\r')) {
      snprintf(err, errlen,
               "%s:%d: expected the SHA-256 of a token as 64 hex digits "
               "(make one with: printf %%s TOKEN | sha256sum)",
               path, lineno);
      fclose(f);
      net_httpd_tokens_free(t);
      return KK_EPARSE;
    }
    unsigned char(*n)[32] = realloc(t->digest, (t->n + 1) * sizeof *n);
    if (!n) {
      fclose(f);
      net_httpd_tokens_free(t);
      return KK_ENOMEM;
    }
    t->digest = n;
    memcpy(t->digest[t->n++], d, 32);
  }
  fclose(f);
  return (int)t->n;
}

void net_httpd_tokens_free(net_httpd_tokens_t *t) {
  free(t->digest);
  t->digest = NULL;
  t->n = 0;
}

int net_httpd_authorized(const net_httpd_tokens_t *t, h2o_req_t *req) {
  ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
  if (i < 0) return 0;
  h2o_iovec_t v = req->headers.entries[i].value;
  return net_httpd_bearer_ok(t, v.base, v.len);
}

int net_httpd_bearer_ok(const struct net_httpd_tokens *t, const char *value,
                        size_t len) {
  if (!value || t->n == 0) return 0;
  if (len < 8 || strncasecmp(value, "Bearer ", 7) != 0) return 0;
  unsigned char d[32];
  if (mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                 (const unsigned char *)value + 7, len - 7, d) != 0)
    return 0;
  int found = 0;
  /* Every digest is compared in full, whatever matched, so that the time
   * taken says nothing about how close a guess was. */
  for (size_t k = 0; k < t->n; k++) {
    unsigned diff = 0;
    for (int j = 0; j < 32; j++)
      diff |= (unsigned)(d[j] ^ t->digest[k][j]);
    found |= diff == 0;
  }
  return found;
}

int net_httpd_query(h2o_req_t *req, const char *name, char *buf, size_t len) {
  if (req->query_at == SIZE_MAX) return -1;
  const char *q = req->path.base + req->query_at + 1;
  const char *end = req->path.base + req->path.len;
  size_t nl = strlen(name);
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *stop = amp ? amp : end;
    if ((size_t)(stop - q) > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
      size_t o = 0;
      for (const char *p = q + nl + 1; p < stop && o + 1 < len; p++) {
        if (*p == '+') {
          buf[o++] = ' ';
        } else if (*p == '%' && p + 2 < stop + 1 &&
                   net_httpd_hexval(p[1]) >= 0 && net_httpd_hexval(p[2]) >= 0) {
          buf[o++] =
              (char)(net_httpd_hexval(p[1]) * 16 + net_httpd_hexval(p[2]));
          p += 2;
        } else {
          buf[o++] = *p;
        }
      }
      buf[o] = 0;
      return 0;
    }
    q = stop + 1;
  }
  return -1;
}

/* ---- a stage's use of a server ------------------------------------------ */

int net_httpd_use(net_httpd_use_t *u, kk_stage_t *st, const char *listen,
                  const net_httpd_tls_t *tls, size_t max_body,
                  const char *prefix, net_httpd_fn fn, void *ud) {
  char err[512];
  u->st = st;
  u->httpd = net_httpd_acquire(kk_stage_loop(st), listen, tls, max_body, err,
                               sizeof err);
  if (!u->httpd) {
    kk_stage_error(st, "%s", err);
    return KK_EIO;
  }
  if (net_httpd_route(u->httpd, prefix, fn, ud, u) != 0) {
    kk_stage_error(st, "cannot add the route %s on %s", prefix, listen);
    net_httpd_release(u->httpd, NULL, NULL);
    u->httpd = NULL;
    return KK_EIO;
  }
  return 0;
}

static void net_httpd_use_released(void *ud) {
  net_httpd_use_t *u = ud;
  u->httpd = NULL;
  u->stop_cb(u->st);
}

void net_httpd_unuse(net_httpd_use_t *u, kk_stop_cb cb) {
  u->stop_cb = cb;
  if (!u->httpd) {
    cb(u->st);
    return;
  }
  net_httpd_unroute(u->httpd, u);
  net_httpd_release(u->httpd, net_httpd_use_released, u);
}

void net_httpd_base_url(const net_httpd_t *h, const char *listen, char *out,
                        size_t n) {
  char host[256];
  snprintf(host, sizeof host, "%s", listen);
  char *colon = strrchr(host, ':');
  if (colon) *colon = 0;
  snprintf(out, n, "%s://%s:%d", net_httpd_is_tls(h) ? "https" : "http", host,
           net_httpd_port(h));
}
