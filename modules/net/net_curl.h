/*
 * modules/net/net_curl.h - libcurl's multi-socket API on the libuv loop.
 *
 * One net_curl_t wraps a CURLM handle whose sockets are watched with
 * uv_poll handles and whose timeout is a uv_timer, so transfers never
 * block the loop.  Shared by the forwarding sinks (publish.webhook,
 * publish.sensorthings, publish.ngsild); not a module.
 *
 * libcurl's global state is initialised with the first loop and cleaned
 * up with the last one (loop thread only).
 */
#ifndef KK_MODULES_COMMON_CURL_LOOP_H
#define KK_MODULES_COMMON_CURL_LOOP_H

/* libcurl's type-checking macros would wrap the calls net_curl_api.h
 * routes through its table. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <uv.h>

#include "net/net_curl_api.h"

typedef struct net_curl net_curl_t;

/* Called on the loop thread when a transfer ended (`res` CURLE_OK means a
 * response arrived; read its status with CURLINFO_RESPONSE_CODE).  The
 * easy handle has been removed from the multi handle; the callback owns
 * it again (curl_easy_cleanup or reuse).  Not called for transfers still
 * running when the loop is closed: net_curl_close() hands those back
 * through `cb` with CURLE_ABORTED_BY_CALLBACK. */
typedef void (*net_curl_done_cb)(CURL *easy, CURLcode res, void *arg);

/* Creates a loop on `loop`.  Returns 0 and sets *out, or a negative
 * KK_E* code.  Free it with net_curl_close(). */
int net_curl_new(uv_loop_t *loop, net_curl_t **out);

/* Starts the transfer `easy` (configured by the caller); `cb(easy, res,
 * arg)` runs once it ended.  Returns 0, or a negative code (the callback
 * is then never called and the caller keeps the handle). */
int net_curl_add(net_curl_t *cl, CURL *easy, net_curl_done_cb cb, void *arg);

/* Aborts running transfers (their callbacks run with
 * CURLE_ABORTED_BY_CALLBACK), closes every handle and frees `cl` once the
 * loop ran the close callbacks; then calls closed(arg) if not NULL.
 * NULL is a no-op. */
void net_curl_close(net_curl_t *cl, void (*closed)(void *arg), void *arg);

#endif
