/*
 * modules/forward/forward_http.h - HTTP(S) delivery for the forwarding
 * sinks forward.webhook, publish.sensorthings and forward.ngsild.
 *
 * Owns a net_curl_t (libcurl multi-socket on the stage's loop) and a
 * forwarder (forward.h).  A sink's `send` renders a request body and calls
 * fwh_post(); the answer is classified once for all of them:
 *   2xx                         acknowledged (fw_result FW_ACK)
 *   408, 429, 5xx, other codes,
 *   connection errors, timeouts retried with backoff (FW_RETRY)
 *   4xx other than 408 and 429  refused for good (FW_DEAD: dead-letter/)
 */
#ifndef KK_MODULES_COMMON_FORWARD_HTTP_H
#define KK_MODULES_COMMON_FORWARD_HTTP_H

#include <klimakit.h>

#include "net/net_curl.h"
#include "forward/forward.h"

#define FWH_OPTIONS                                                            \
  {.name = "timeout",                                                          \
   .type = KK_OPT_DURATION,                                                    \
   .def = "30s",                                                               \
   .description = "Longest time one request may take; then it is retried."},   \
      {.name = "headers",                                                      \
       .type = KK_OPT_TABLE,                                                   \
       .description = "Extra request headers as a table of name = value."},    \
      {.name = "bearer_env",                                                   \
       .type = KK_OPT_STRING,                                                  \
       .description = "Environment variable holding a token sent as "          \
                      "`Authorization: Bearer <token>`."},                     \
  {                                                                            \
    .name = "ca_file", .type = KK_OPT_STRING,                                  \
    .description = "CA certificates (PEM) to verify the receiver with, "       \
                   "instead of the system's."                                  \
  }

typedef struct fwh fwh_t;

/* Creates the HTTP forwarder of `st` (call from start): reads the
 * FW_OPTIONS and FWH_OPTIONS values, opens the spool, and calls
 * ops->send(ctx, ...) for deliveries.  Returns 0 or a negative code with
 * kk_stage_error() set. */
int fwh_new(kk_stage_t *st, const kk_opts_t *opts, const fw_ops_t *ops,
            void *ctx, fwh_t **out);

/* The forwarder, for fw_process() from the sink's process(). */
fw_t *fwh_fw(fwh_t *h);

/* Posts `body` (copied) as `content_type` to `url` for `n` items; `extra`
 * (may be NULL) are additional headers, freed by fwh.  The outcome goes
 * to fw_result().  Returns 0 or a negative code (nothing started). */
int fwh_post(fwh_t *h, const char *url, const char *content_type,
             const char *body, size_t len, struct curl_slist *extra, size_t n);

/* Stops: waits for the request in flight, closes the curl loop, then
 * calls cb(st).  fwh_free() afterwards. */
void fwh_stop(fwh_t *h, kk_stop_cb cb);
void fwh_free(fwh_t *h);

/* Formats a time as ISO 8601 UTC with milliseconds into buf (32 bytes). */
void fwh_time(int64_t ms, char *buf);
/* Appends a number (JSON null for NaN). */
void fwh_number(kk_buf_t *sb, const fw_item_t *it);

#endif
