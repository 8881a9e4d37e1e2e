/* modules/net/net_httpd_gate.c - the HTTP server's gate: every
 * connection's request head is read here before h2o sees it, so that a
 * guarded route refuses a request (no token, too large, over the body
 * budget) without reading its body; then the socket and the bytes read
 * so far go to h2o.  Over TLS the gate does the handshake on an h2o
 * socket and reads the decrypted head from it, then hands the socket to
 * h2o's HTTP/1 server (the TLS context offers no ALPN, so HTTP/1.1 it
 * is), with the same refusals, body budget and timeouts as plain HTTP.
 * See net_httpd_guard() in net_httpd.h. */
#include <klimakit.h>
#include "net/net_httpd.h"
#include "net/net_httpd_impl.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <h2o/http1.h>

static void gate_release(gate_conn_t *g) {
  g->h->body_bytes -= g->reserved;
  g->reserved = 0;
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

/* Over TLS before the hand-over: closes the h2o socket once. */
static void gate_tls_close(gate_conn_t *g) {
  if (g->sock_closing) return;
  g->sock_closing = 1;
  h2o_socket_close(g->sock); /* closes the TCP handle: gate_tcp_closed */
}

static void gate_timeout(uv_timer_t *t) {
  gate_conn_t *g = t->data;
  if (g->tls && !g->handed) {
    gate_tls_close(g);
    return;
  }
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

static int gate_response(char *resp, size_t n, int status, const char *extra) {
  const char *text = status == 401   ? "a valid bearer token is needed"
                     : status == 413 ? "request body too large"
                     : status == 431 ? "request header fields too large"
                     : status == 400 ? "bad request"
                     : status == 503 ? "busy: try again later"
                                     : "refused";
  return snprintf(resp, n,
                  "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
                  "charset=utf-8\r\nContent-Length: %zu\r\n%sConnection: "
                  "close\r\nCache-Control: no-store\r\n\r\n%s\n",
                  status, status < 500 ? "Client Error" : "Server Error",
                  strlen(text) + 1, extra ? extra : "", text);
}

static void gate_tls_discard(h2o_socket_t *sock, const char *err) {
  if (err) {
    gate_tls_close(sock->data);
    return;
  }
  h2o_buffer_consume(&sock->input, sock->input->size);
}

static void gate_tls_written(h2o_socket_t *sock, const char *err) {
  if (err) {
    gate_tls_close(sock->data);
    return;
  }
  /* Read and drop what the client still sends until the linger ends, so
   * that it gets the answer rather than a reset. */
  h2o_socket_read_start(sock, gate_tls_discard);
}

/* Answers at once and closes after a short linger, without reading the
 * body into memory: the client gets the answer rather than a reset. */
static void gate_refuse(gate_conn_t *g, int status, const char *extra) {
  kk_metric_add(g->h->m_refused, 1);
  g->lingering = 1;
  uv_timer_start(&g->timer, gate_timeout, 2000, 0);
  if (g->tls) {
    /* g->buf is not the head's buffer over TLS: it holds the answer until
     * it is written. */
    free(g->buf);
    g->buf = malloc(512);
    if (!g->buf) {
      gate_tls_close(g);
      return;
    }
    int n = gate_response(g->buf, 512, status, extra);
    h2o_socket_read_stop(g->sock);
    h2o_buffer_consume(&g->sock->input, g->sock->input->size);
    h2o_iovec_t v = h2o_iovec_init(g->buf, (size_t)n);
    h2o_socket_write(g->sock, &v, 1, gate_tls_written);
    return;
  }
  char resp[512];
  int n = gate_response(resp, sizeof resp, status, extra);
  uv_buf_t b = uv_buf_init(resp, (unsigned)n);
  uv_try_write((uv_stream_t *)&g->tcp, &b, 1);
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&g->tcp, &fd) == 0) shutdown(fd, SHUT_WR);
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
  g->handed = 1;
  h2o_accept(&h->accept, g->sock);
}

/* The head so far (buf, len bytes): refuses, waits for more (returns 0)
 * or reserves the body's budget and returns 1 (hand it to h2o). */
static int gate_head(gate_conn_t *g, const char *buf, size_t len) {
  const char *method, *path;
  size_t ml, pl, nh = NET_HTTPD_HEADERS_MAX;
  int minor;
  struct phr_header hd[NET_HTTPD_HEADERS_MAX];
  int r =
      phr_parse_request(buf, len, &method, &ml, &path, &pl, &minor, hd, &nh, 0);
  if (r == -2) {
    if (len >= NET_HTTPD_HEAD_MAX) gate_refuse(g, 431, NULL);
    return 0;
  }
  if (r < 0) {
    gate_refuse(g, 400, NULL);
    return 0;
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
      return 0;
    }
    if (want != UINT64_MAX && want > rt->max_body) {
      gate_refuse(g, 413, NULL);
      return 0;
    }
  }
  if (want == UINT64_MAX) want = h->config.max_request_entity_size;
  if (want && h->body_bytes + want > NET_HTTPD_BODY_BUDGET) {
    gate_refuse(g, 503, "Retry-After: 5\r\n");
    return 0;
  }
  g->reserved = want;
  h->body_bytes += want;
  if (!want)
    uv_timer_stop(&g->timer);
  else
    uv_timer_start(&g->timer, gate_timeout, NET_HTTPD_BODY_TIMEOUT_MS, 0);
  return 1;
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
  if (gate_head(g, g->buf, g->len)) gate_hand_over(g);
}

/* ---- over TLS ---------------------------------------------------------- */

static void gate_tls_read(h2o_socket_t *sock, const char *err) {
  gate_conn_t *g = sock->data;
  if (err) {
    gate_tls_close(g);
    return;
  }
  if (g->lingering) return;
  if (!gate_head(g, sock->input->bytes, sock->input->size)) return;
  /* The head is in (and maybe the start of the body, decrypted in the
   * socket's input, which h2o reads first). */
  h2o_socket_read_stop(sock);
  g->handed = 1;
  struct timeval now;
  gettimeofday(&now, NULL);
  h2o_http1_accept(&g->h->accept, sock, now);
}

static void gate_tls_handshake(h2o_socket_t *sock, const char *err) {
  if (err) {
    gate_tls_close(sock->data);
    return;
  }
  h2o_socket_read_start(sock, gate_tls_read);
  /* The client's first records may have come with its last handshake
   * message and are decrypted already: no read event will announce them
   * (the connection then waited for the head timeout, one request in
   * five under curl). */
  if (sock->input->size > 0) gate_tls_read(sock, NULL);
}

void net_httpd_gate_accept(net_httpd_t *h, uv_stream_t *l) {
  gate_conn_t *g = malloc(sizeof *g);
  if (!g) return;
  /* Connections still sending their head are bounded in number: each may
   * hold a head buffer. */
  size_t pending = 0;
  for (gate_conn_t *p = h->gates; p && pending < NET_HTTPD_PENDING_MAX;
       p = p->next)
    pending += !p->handed;
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
      (!h->ssl &&
       uv_read_start((uv_stream_t *)&g->tcp, gate_alloc, gate_read) != 0)) {
    if (pending >= NET_HTTPD_PENDING_MAX) kk_metric_add(h->m_refused, 1);
    gate_close(g);
    return;
  }
  /* The head (and over TLS the handshake before it) within the time. */
  uv_timer_start(&g->timer, gate_timeout, NET_HTTPD_HEAD_TIMEOUT_MS, 0);
  if (h->ssl) {
    g->tls = 1;
    g->sock = h2o_uv_socket_create((uv_stream_t *)&g->tcp, gate_tcp_closed);
    if (!g->sock) {
      gate_close(g);
      return;
    }
    g->sock->data = g;
    h2o_socket_ssl_handshake(g->sock, h->ssl, NULL, gate_tls_handshake);
  }
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

void net_httpd_gate_arrived(net_httpd_t *h, h2o_socket_t *sock) {
  for (gate_conn_t *g = h->gates; g && sock; g = g->next)
    if (g->sock == sock) {
      uv_timer_stop(&g->timer);
      gate_release(g);
      break;
    }
}

void net_httpd_gate_close_pending(net_httpd_t *h) {
  for (gate_conn_t *g = h->gates; g; g = g->next)
    if (!g->handed) {
      if (g->tls)
        gate_tls_close(g);
      else
        gate_close(g);
    }
}
