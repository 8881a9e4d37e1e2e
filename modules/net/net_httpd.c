/* modules/net/net_httpd.c - see httpd.h. */
#include <klimakit.h>
#include "net/net_httpd.h"

#include <mbedtls/md.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct route {
  char *prefix;
  size_t len;
  net_httpd_fn fn;
  void *ud;
  const void *owner; /* NULL once unrouted: the route is draining */
  net_httpd_gate_fn gate;
  void *gate_ud;
  size_t max_body;
} route_t;

/* picohttpparser, which libh2o carries and exports (h2o parses HTTP/1
 * with it); its header is not installed with h2o's. */
struct phr_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method,
                      size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers,
                      size_t *num_headers, size_t last_len);

#define NET_HTTPD_HEAD_MAX 8192
#define NET_HTTPD_PENDING_MAX 4096
#define NET_HTTPD_HEADERS_MAX 64

/* A plain-HTTP connection from accept until h2o has read its request:
 * the head is read here first (the gate), then the socket and the bytes
 * read go to h2o. */
typedef struct gate_conn {
  uv_tcp_t tcp; /* first: the close callbacks get its address */
  uv_timer_t timer;
  net_httpd_t *h;
  h2o_socket_t *sock; /* once handed to h2o */
  struct gate_conn *next, **prevp;
  uint64_t reserved; /* body bytes counted against the budget */
  size_t len;
  int handles, lingering;
  char *buf; /* NET_HTTPD_HEAD_MAX bytes, from the first byte on */
} gate_conn_t;

struct net_httpd {
  net_httpd_t *next;
  uv_loop_t *loop;
  char *listen;
  int refs;
  int port;
  route_t *routes;
  size_t nroutes;
  h2o_globalconf_t config;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept;
  SSL_CTX *ssl;
  uv_tcp_t listener;
  uv_timer_t drain;
  void (*done)(void *);
  void *done_ud;
  int guarded;         /* routes with a gate */
  uint64_t body_bytes; /* bodies in flight (reserved by the gate) */
  gate_conn_t *gates;  /* connections not yet through their first request */
  size_t ngates;       /* gate connections whose handles are open */
  kk_metric_t *m_refused;
};

typedef struct root_handler {
  h2o_handler_t super;
  net_httpd_t *h;
} root_handler_t;

/* Servers live on the loop thread only; a list is enough for a handful. */
static net_httpd_t *net_httpd_servers;

static const route_t *net_httpd_match(const net_httpd_t *h, const char *path) {
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

static void gate_release(gate_conn_t *g) {
  g->h->body_bytes -= g->reserved;
  g->reserved = 0;
}

static int net_httpd_on_req(h2o_handler_t *self, h2o_req_t *req) {
  net_httpd_t *h = ((root_handler_t *)self)->h;
  /* The body is in: its connection is past the gate's deadline and its
   * reservation. */
  h2o_socket_t *sock = req->conn->callbacks->get_socket
                           ? req->conn->callbacks->get_socket(req->conn)
                           : NULL;
  for (gate_conn_t *g = h->gates; g && sock; g = g->next)
    if (g->sock == sock) {
      uv_timer_stop(&g->timer);
      gate_release(g);
      break;
    }
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

/* ---- the gate: the request head before h2o reads the body ------------- */

static void gate_unref(gate_conn_t *g) {
  if (--g->handles > 0) return;
  g->h->ngates--;
  free(g->buf);
  free(g);
}

static void gate_timer_closed(uv_handle_t *hd) {
  gate_unref(hd->data);
}

static void gate_unlink(gate_conn_t *g) {
  if (!g->prevp) return;
  *g->prevp = g->next;
  if (g->next) g->next->prevp = g->prevp;
  g->prevp = NULL;
}

/* The TCP handle closed (by us, or by h2o after the connection; h2o has
 * set its `data` to its socket, so the handle's address is what finds the
 * connection). */
static void gate_tcp_closed(uv_handle_t *hd) {
  gate_conn_t *g = (gate_conn_t *)hd;
  gate_release(g);
  gate_unlink(g);
  if (!uv_is_closing((uv_handle_t *)&g->timer))
    uv_close((uv_handle_t *)&g->timer, gate_timer_closed);
  gate_unref(g);
}

static void gate_close(gate_conn_t *g) {
  if (!uv_is_closing((uv_handle_t *)&g->tcp))
    uv_close((uv_handle_t *)&g->tcp, gate_tcp_closed);
}

static void gate_timeout(uv_timer_t *t) {
  gate_conn_t *g = t->data;
  if (!g->sock) {
    gate_close(g);
    return;
  }
  /* h2o owns the socket: end the connection under it, and h2o closes. */
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&g->tcp, &fd) == 0) shutdown(fd, SHUT_RDWR);
}

static void gate_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *b) {
  (void)hint;
  gate_conn_t *g = (gate_conn_t *)hd;
  /* An idle connection holds no buffer. */
  if (!g->buf && !(g->buf = malloc(NET_HTTPD_HEAD_MAX))) {
    *b = uv_buf_init(NULL, 0);
    return;
  }
  if (g->lingering) { /* discarded: the same bytes again */
    *b = uv_buf_init(g->buf, NET_HTTPD_HEAD_MAX);
    return;
  }
  *b = uv_buf_init(g->buf + g->len, (unsigned)(NET_HTTPD_HEAD_MAX - g->len));
}

/* Answers at once and closes after a short linger, without reading the
 * body into memory: the client gets the answer rather than a reset. */
static void gate_refuse(gate_conn_t *g, int status, const char *extra) {
  char resp[512];
  const char *text = status == 401   ? "a valid bearer token is needed"
                     : status == 413 ? "request body too large"
                     : status == 431 ? "request header fields too large"
                     : status == 400 ? "bad request"
                     : status == 503 ? "busy: try again later"
                                     : "refused";
  int n = snprintf(resp, sizeof resp,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
                   "charset=utf-8\r\nContent-Length: %zu\r\n%sConnection: "
                   "close\r\nCache-Control: no-store\r\n\r\n%s\n",
                   status, status < 500 ? "Client Error" : "Server Error",
                   strlen(text) + 1, extra ? extra : "", text);
  uv_buf_t b = uv_buf_init(resp, (unsigned)n);
  uv_try_write((uv_stream_t *)&g->tcp, &b, 1);
  kk_metric_add(g->h->m_refused, 1);
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&g->tcp, &fd) == 0) shutdown(fd, SHUT_WR);
  g->lingering = 1;
  uv_timer_start(&g->timer, gate_timeout, 2000, 0);
}

static uint64_t gate_content_length(const struct phr_header *hd, size_t n) {
  uint64_t cl = 0;
  for (size_t i = 0; i < n; i++) {
    if (hd[i].name_len == 17 &&
        strncasecmp(hd[i].name, "transfer-encoding", 17) == 0)
      return UINT64_MAX;
    if (hd[i].name_len == 14 &&
        strncasecmp(hd[i].name, "content-length", 14) == 0) {
      cl = 0;
      for (size_t k = 0; k < hd[i].value_len; k++) {
        char c = hd[i].value[k];
        if (c < '0' || c > '9' || cl > UINT64_MAX / 10 - 10) return UINT64_MAX;
        cl = cl * 10 + (uint64_t)(c - '0');
      }
    }
  }
  return cl;
}

const char *net_httpd_head_get(const net_httpd_head_t *head, const char *name,
                               size_t *len) {
  const struct phr_header *hd = head->headers;
  size_t nl = strlen(name);
  for (size_t i = 0; i < head->nheaders; i++)
    if (hd[i].name_len == nl && strncasecmp(hd[i].name, name, nl) == 0) {
      *len = hd[i].value_len;
      return hd[i].value;
    }
  return NULL;
}

static void gate_hand_over(gate_conn_t *g) {
  net_httpd_t *h = g->h;
  uv_read_stop((uv_stream_t *)&g->tcp);
  g->sock = h2o_uv_socket_create((uv_stream_t *)&g->tcp, gate_tcp_closed);
  if (!g->sock) {
    gate_close(g);
    return;
  }
  h2o_iovec_t room = h2o_buffer_reserve(&g->sock->input, g->len);
  if (!room.base) {
    h2o_socket_close(g->sock);
    return;
  }
  memcpy(room.base, g->buf, g->len);
  g->sock->input->size += g->len;
  free(g->buf);
  g->buf = NULL;
  h2o_accept(&h->accept, g->sock);
}

static void gate_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  (void)b;
  gate_conn_t *g = (gate_conn_t *)st;
  if (nread < 0) {
    gate_close(g);
    return;
  }
  if (g->lingering || nread == 0) return;
  g->len += (size_t)nread;
  const char *method, *path;
  size_t ml, pl, nh = NET_HTTPD_HEADERS_MAX;
  int minor;
  struct phr_header hd[NET_HTTPD_HEADERS_MAX];
  int r = phr_parse_request(g->buf, g->len, &method, &ml, &path, &pl, &minor,
                            hd, &nh, 0);
  if (r == -2) {
    if (g->len == NET_HTTPD_HEAD_MAX) gate_refuse(g, 431, NULL);
    return;
  }
  if (r < 0) {
    gate_refuse(g, 400, NULL);
    return;
  }
  net_httpd_t *h = g->h;
  char p[2048];
  const char *q = memchr(path, '?', pl); /* path is not NUL-terminated */
  size_t plen = q ? (size_t)(q - path) : pl;
  snprintf(p, sizeof p, "%.*s", (int)plen, path);
  const route_t *rt = net_httpd_match(h, p);
  net_httpd_head_t head = {.method = method,
                           .method_len = ml,
                           .path = path,
                           .path_len = pl,
                           .headers = hd,
                           .nheaders = nh,
                           .content_length = gate_content_length(hd, nh)};
  uint64_t want = head.content_length;
  if (rt && rt->fn && rt->gate && want) {
    int status = rt->gate(rt->gate_ud, &head);
    if (status) {
      gate_refuse(g, status,
                  status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL);
      return;
    }
    if (want != UINT64_MAX && want > rt->max_body) {
      gate_refuse(g, 413, NULL);
      return;
    }
  }
  if (want == UINT64_MAX) want = h->config.max_request_entity_size;
  if (want && h->body_bytes + want > NET_HTTPD_BODY_BUDGET) {
    gate_refuse(g, 503, "Retry-After: 5\r\n");
    return;
  }
  g->reserved = want;
  h->body_bytes += want;
  if (!want)
    uv_timer_stop(&g->timer);
  else
    uv_timer_start(&g->timer, gate_timeout, NET_HTTPD_BODY_TIMEOUT_MS, 0);
  gate_hand_over(g);
}

static void net_httpd_gate_accept(net_httpd_t *h, uv_stream_t *l) {
  gate_conn_t *g = malloc(sizeof *g);
  if (!g) return;
  /* Connections still sending their head are bounded in number: each may
   * hold a head buffer. */
  size_t pending = 0;
  for (gate_conn_t *p = h->gates; p && pending < NET_HTTPD_PENDING_MAX;
       p = p->next)
    pending += !p->sock;
  memset(g, 0, sizeof *g);
  g->h = h;
  uv_tcp_init(l->loop, &g->tcp);
  uv_timer_init(l->loop, &g->timer);
  g->tcp.data = g->timer.data = g;
  g->handles = 2;
  h->ngates++;
  g->next = h->gates;
  if (g->next) g->next->prevp = &g->next;
  g->prevp = &h->gates;
  h->gates = g;
  if (uv_accept(l, (uv_stream_t *)&g->tcp) != 0 ||
      pending >= NET_HTTPD_PENDING_MAX ||
      uv_read_start((uv_stream_t *)&g->tcp, gate_alloc, gate_read) != 0) {
    if (pending >= NET_HTTPD_PENDING_MAX) kk_metric_add(h->m_refused, 1);
    gate_close(g);
    return;
  }
  uv_timer_start(&g->timer, gate_timeout, NET_HTTPD_HEAD_TIMEOUT_MS, 0);
}

int net_httpd_guard(net_httpd_t *h, const void *owner, net_httpd_gate_fn gate,
                    void *ud, size_t max_body) {
  int found = 0;
  for (size_t i = 0; i < h->nroutes; i++)
    if (h->routes[i].owner == owner && h->routes[i].fn) {
      if (!h->routes[i].gate) h->guarded++;
      h->routes[i].gate = gate;
      h->routes[i].gate_ud = ud;
      h->routes[i].max_body = max_body;
      found = 1;
    }
  return found ? 0 : KK_EUNKNOWN;
}

static void net_httpd_on_accept(uv_stream_t *l, int status) {
  net_httpd_t *h = l->data;
  if (status != 0) return;
  if (!h->ssl) {
    net_httpd_gate_accept(h, l);
    return;
  }
  uv_tcp_t *conn = malloc(sizeof *conn);
  if (!conn) return;
  uv_tcp_init(l->loop, conn);
  if (uv_accept(l, (uv_stream_t *)conn) != 0) {
    uv_close((uv_handle_t *)conn, (uv_close_cb)free);
    return;
  }
  h2o_socket_t *sock =
      h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
  h2o_accept(&h->accept, sock);
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
  for (gate_conn_t *g = h->gates; g; g = g->next)
    if (!g->sock) gate_close(g);
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
