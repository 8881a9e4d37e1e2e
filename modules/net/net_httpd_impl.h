/*
 * modules/net/net_httpd_impl.h - what net_httpd.c and net_httpd_gate.c
 * share (internal to the HTTP server; modules use net_httpd.h).
 */
#ifndef KK_MODULES_NET_HTTPD_IMPL_H
#define KK_MODULES_NET_HTTPD_IMPL_H

#include "net/net_httpd.h"

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

/* A connection from accept until h2o has read its request: the head is
 * read here first (the gate), then the socket and the bytes read go to
 * h2o.  On plain HTTP the gate reads the TCP handle itself; over TLS it
 * wraps the handle in an h2o socket at once, does the handshake and reads
 * the decrypted head from the socket's input. */
typedef struct gate_conn {
  uv_tcp_t tcp; /* first: the close callbacks get its address */
  uv_timer_t timer;
  net_httpd_t *h;
  h2o_socket_t *sock; /* once handed to h2o; over TLS from the accept */
  int handed;         /* h2o serves the connection */
  int tls, sock_closing;
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

/* net_httpd.c: the route for a normalised path (the longest prefix; a
 * live route before a draining one), or NULL. */
const route_t *net_httpd_match(const net_httpd_t *h, const char *path);

/* net_httpd_gate.c: a plain-HTTP connection is accepted through the gate;
 * the request on `sock` reached the handler (its body is in: the
 * connection's deadline and reservation end); the connections still
 * sending their head are closed (the server drains). */
void net_httpd_gate_accept(net_httpd_t *h, uv_stream_t *l);
void net_httpd_gate_arrived(net_httpd_t *h, h2o_socket_t *sock);
void net_httpd_gate_close_pending(net_httpd_t *h);

#endif
