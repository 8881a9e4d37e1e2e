/*
 * modules/net/net_coap.h - a libcoap context on the libuv loop.
 *
 * libcoap 4.3.1 (Debian's build) keeps every socket and its retransmission
 * timer (a timerfd) in one epoll descriptor, coap_context_get_coap_fd().
 * We watch that descriptor with a uv_poll.  When it is readable we do what
 * coap_io_process() would do, minus its waste: one epoll_wait() on that
 * descriptor with no timeout, coap_io_do_epoll() on the events it gave
 * (each ready socket reads one datagram; libcoap then re-arms its timer
 * once), and again while datagrams keep coming, up to NET_COAP_ROUNDS
 * rounds per wake-up so that the rest of the loop gets its turn.  That is
 * one epoll_wait and one timerfd_settime per datagram in a burst instead
 * of two each, and the loop's own epoll_wait once per burst.  (What
 * coap_io_process() also does and this does not: expire coap_cache
 * entries and trigger coap_async requests; neither API is used here.)
 *
 * Code that sends outside a libcoap callback must call net_coap_kick()
 * after coap_send(), so that libcoap arms its timer and flushes.
 */
#ifndef KK_MODULES_COAP_LOOP_H
#define KK_MODULES_COAP_LOOP_H

#include <coap3/coap.h>
#include <klimakit.h>

/* Rounds (datagrams per socket) one wake-up handles at most. */
#define NET_COAP_ROUNDS 64

typedef struct net_coap {
  uv_poll_t poll; /* poll.data = this */
  coap_context_t *ctx;
  void (*closed)(void *arg); /* called once the context is freed */
  void *arg;
  int fd; /* coap_context_get_coap_fd(ctx) */
  int open;
  int draining; /* inside net_coap_drain(): it does not nest */
} net_coap_t;

/* Starts libcoap once per process (log lines go to kk_log as
 * [lib:coap], warnings and worse only).  Safe to call repeatedly. */
void net_coap_global_init(void);

/* Watches ctx's descriptor on `loop`.  On success the loop owns ctx and
 * frees it in net_coap_close().  Returns 0 or a negative uv code. */
int net_coap_start(net_coap_t *l, uv_loop_t *loop, coap_context_t *ctx);

/* Runs libcoap's pending work now (after a coap_send outside callbacks). */
void net_coap_kick(net_coap_t *l);

/* Handles what is ready on the context's sockets and timer now, up to
 * `rounds` datagrams per socket; returns the rounds that found work
 * (0 when nothing was ready, or when called from inside a libcoap
 * callback of a drain: libcoap is not re-entered). */
int net_coap_drain(net_coap_t *l, int rounds);

/* Stops watching, frees the context and then calls closed(arg).  When
 * the loop was never started it frees ctx (if any) and calls closed at
 * once. */
void net_coap_close(net_coap_t *l, void (*closed)(void *), void *arg);

#endif
