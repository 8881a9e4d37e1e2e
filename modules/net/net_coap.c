/*
 * modules/net/net_coap.c - a libcoap context on the libuv loop.
 */
#include "net/net_coap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

static kk_ratelimit_t net_coap_rl = KK_RATELIMIT_INIT(10000, 10);

static void net_coap_log(coap_log_t level, const char *message) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", message);
  size_t n = strlen(buf);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  const char *m = buf;
  if (!kk_ratelimit_ok(&net_coap_rl)) return;
  kk_log(level <= LOG_ERR       ? KK_LOG_ERROR
         : level <= LOG_WARNING ? KK_LOG_WARN
         : level <= LOG_INFO    ? KK_LOG_INFO
                                : KK_LOG_DEBUG,
         "lib", "coap", "%s", m);
}

void net_coap_global_init(void) {
  static int done;
  if (done) return;
  done = 1;
  coap_startup();
  coap_set_log_handler(net_coap_log);
  coap_set_log_level(LOG_WARNING);
  coap_dtls_set_log_level(LOG_ERR);
}

int net_coap_drain(net_coap_t *l, int rounds) {
  struct epoll_event ev[16];
  int done = 0;
  if (l->draining) return 0; /* called from inside a libcoap callback */
  l->draining = 1;
  while (l->ctx && done < rounds) {
    int n = epoll_wait(l->fd, ev, (int)(sizeof ev / sizeof ev[0]), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    coap_io_do_epoll(l->ctx, ev, (size_t)n);
    done++;
  }
  l->draining = 0;
  return done;
}

static void net_coap_cb(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  net_coap_drain(h->data, NET_COAP_ROUNDS);
}

int net_coap_start(net_coap_t *l, uv_loop_t *loop, coap_context_t *ctx) {
  int fd = coap_context_get_coap_fd(ctx);
  if (fd < 0) return UV_EINVAL;
  int rc = uv_poll_init(loop, &l->poll, fd);
  if (rc) return rc;
  l->poll.data = l;
  l->ctx = ctx;
  l->fd = fd;
  l->open = 1;
  rc = uv_poll_start(&l->poll, UV_READABLE, net_coap_cb);
  if (rc) return rc; /* caller closes with net_coap_close() */
  coap_io_process(ctx, COAP_IO_NO_WAIT);
  return 0;
}

void net_coap_kick(net_coap_t *l) {
  if (l->ctx) coap_io_process(l->ctx, COAP_IO_NO_WAIT);
}

static void net_coap_closed(uv_handle_t *h) {
  net_coap_t *l = h->data;
  if (l->ctx) coap_free_context(l->ctx);
  l->ctx = NULL;
  if (l->closed) l->closed(l->arg);
}

void net_coap_close(net_coap_t *l, void (*closed)(void *), void *arg) {
  l->closed = closed;
  l->arg = arg;
  if (!l->open) {
    if (l->ctx) coap_free_context(l->ctx);
    l->ctx = NULL;
    if (closed) closed(arg);
    return;
  }
  l->open = 0;
  uv_poll_stop(&l->poll);
  uv_close((uv_handle_t *)&l->poll, net_coap_closed);
}
