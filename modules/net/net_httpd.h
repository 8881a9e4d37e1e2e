/*
 * modules/net/net_httpd.h - one HTTP server per listen address, shared by
 * the modules that serve on it (publish.http, source.http, the
 * SensorThings API...).
 *
 * h2o 2.2 (libuv build) runs on the stage's loop.  Modules acquire the
 * server for an address, add routes (a path prefix and a handler), and
 * release it when they stop; the listener closes when the last user is
 * gone.  The first user's TLS settings apply to the address.
 */
#ifndef KK_MODULES_COMMON_HTTPD_H
#define KK_MODULES_COMMON_HTTPD_H

#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <klimakit.h>

typedef struct net_httpd net_httpd_t;

/* Handles one request; returns 0 after responding (net_httpd_respond). */
typedef int (*net_httpd_fn)(void *ud, h2o_req_t *req, const char *path);

typedef struct net_httpd_tls {
  const char *cert_file; /* PEM; NULL: plain HTTP */
  const char *key_file;
} net_httpd_tls_t;

/* Returns the server for `listen` ("HOST:PORT"), starting it on `loop`
 * when it is the first user.  err receives the reason on failure (NULL
 * returned).  Pair with net_httpd_release(). */
net_httpd_t *net_httpd_acquire(uv_loop_t *loop, const char *listen,
                               const net_httpd_tls_t *tls, size_t max_body,
                               char *err, size_t errlen);

/* Adds a route: requests whose normalised path equals `prefix`, or starts
 * with it followed by '/' (prefix "/" matches everything not matched by a
 * longer prefix), go to fn.  The longest prefix wins.  `owner` identifies
 * the routes for net_httpd_unroute(). */
int net_httpd_route(net_httpd_t *h, const char *prefix, net_httpd_fn fn,
                    void *ud, const void *owner);
/* Takes the routes of `owner` out of service: until the server closes (or
 * the prefix is routed again) their requests get 503 with Retry-After, so
 * that a client retries instead of taking a 404 as final. */
void net_httpd_unroute(net_httpd_t *h, const void *owner);

/* The request head as the gate sees it, before any body byte is read.
 * Pointers are valid during the gate call only. */
typedef struct net_httpd_head {
  const char *method, *path; /* not NUL-terminated */
  size_t method_len, path_len;
  const void *headers; /* the parser's array; use net_httpd_head_get() */
  size_t nheaders;
  uint64_t content_length; /* UINT64_MAX: chunked, 0: no body */
} net_httpd_head_t;
/* The value of header `name` (lower case) and its length in *len, or
 * NULL. */
const char *net_httpd_head_get(const net_httpd_head_t *head, const char *name,
                               size_t *len);

/* Returns 0 to let the request in, or the HTTP status to answer with at
 * once (401, 403...): the body is then never read. */
typedef int (*net_httpd_gate_fn)(void *ud, const net_httpd_head_t *head);

/* Guards the routes of `owner` on plain HTTP (TLS connections are served
 * by h2o's own reader): before the body of a request to them is read,
 * `gate` must admit the head and Content-Length must not exceed
 * `max_body` (413 otherwise).  While any route is guarded, every
 * connection closes after its response, so that each request passes the
 * gate.  Every request body in flight on the server counts against
 * NET_HTTPD_BODY_BUDGET (503 with Retry-After past it), heads must arrive
 * within NET_HTTPD_HEAD_TIMEOUT_MS and whole requests within
 * NET_HTTPD_BODY_TIMEOUT_MS (the connection is closed). */
#define NET_HTTPD_BODY_BUDGET (64u << 20)
#define NET_HTTPD_HEAD_TIMEOUT_MS 10000
#define NET_HTTPD_BODY_TIMEOUT_MS 30000
int net_httpd_guard(net_httpd_t *h, const void *owner, net_httpd_gate_fn gate,
                    void *ud, size_t max_body);

/* 1 when `value` (an Authorization header's value) is "Bearer <token>"
 * with a token whose SHA-256 matches one of t's digests (compared in
 * constant time).  Forward declared for the gate; see tokens below. */
struct net_httpd_tokens;
int net_httpd_bearer_ok(const struct net_httpd_tokens *t, const char *value,
                        size_t len);

/* Drops one reference.  With the last one the listener closes, open
 * connections finish, and `done(ud)` runs once everything is closed (it
 * may run before this returns). */
void net_httpd_release(net_httpd_t *h, void (*done)(void *ud), void *ud);

/* A stage's use of the server on its address: what the start and stop
 * of every serving module do.  net_httpd_use() acquires the server and
 * adds one route (owned by u); on failure it sets the stage's error and
 * returns KK_EIO.  net_httpd_unuse() removes the route, releases the
 * server and calls cb once it is closed (at once when not in use). */
typedef struct net_httpd_use {
  net_httpd_t *httpd; /* NULL when not in use */
  kk_stage_t *st;
  kk_stop_cb stop_cb;
} net_httpd_use_t;
int net_httpd_use(net_httpd_use_t *u, kk_stage_t *st, const char *listen,
                  const net_httpd_tls_t *tls, size_t max_body,
                  const char *prefix, net_httpd_fn fn, void *ud);
void net_httpd_unuse(net_httpd_use_t *u, kk_stop_cb cb);
/* "http://HOST:PORT" (or https) of the server for log lines: the host
 * as `listen` names it, the port as bound. */
void net_httpd_base_url(const net_httpd_t *h, const char *listen, char *out,
                        size_t n);

/* The port actually bound (for "HOST:0"). */
int net_httpd_port(const net_httpd_t *h);
int net_httpd_is_tls(const net_httpd_t *h);

/* Sends `body` (taken over and freed) with status and content type.  Adds
 * Cache-Control: no-store, X-Content-Type-Options: nosniff, and the CORS
 * header when `cors_origin` is not NULL. */
void net_httpd_respond(h2o_req_t *req, int status, const char *ctype,
                       kk_buf_t *body, const char *cors_origin);
/* The same for a body the caller keeps (it is copied before return). */
void net_httpd_respond_buf(h2o_req_t *req, int status, const char *ctype,
                           const char *body, size_t len,
                           const char *cors_origin);
/* A short text/plain answer. */
void net_httpd_text(h2o_req_t *req, int status, const char *text);

/* Bearer tokens.  A token file holds one SHA-256 hex digest of a token per
 * line (comments with #); tokens themselves are never stored.  Returns
 * the number of digests loaded (0 on an empty file) or a negative code
 * with a message. */
typedef struct net_httpd_tokens {
  unsigned char (*digest)[32];
  size_t n;
} net_httpd_tokens_t;

int net_httpd_tokens_load(net_httpd_tokens_t *t, const char *path, char *err,
                          size_t errlen);
void net_httpd_tokens_free(net_httpd_tokens_t *t);
/* 1 when the request carries "Authorization: Bearer <token>" whose
 * SHA-256 matches a digest (compared in constant time), else 0. */
int net_httpd_authorized(const net_httpd_tokens_t *t, h2o_req_t *req);

/* Query parameter `name` of the request, URL-decoded into buf; 0 if found,
 * -1 otherwise. */
int net_httpd_query(h2o_req_t *req, const char *name, char *buf, size_t len);

#endif
