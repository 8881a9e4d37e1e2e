/* modules/net/net_mqtt_link.c - see mqtt_link.h. */
#include "net/net_mqtt_link.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "net/net_mqtt.h"

static void link_schedule_retry(net_mqtt_link_t *l);

/* ---- handles --------------------------------------------------------- */

static void link_maybe_stopped(net_mqtt_link_t *l) {
  if (l->stopping && l->nhandles == 0 && !l->connecting && l->stop_cb) {
    kk_stop_cb cb = l->stop_cb;
    l->stop_cb = NULL;
    cb(l->cfg.st);
  }
}

static void link_handle_closed(uv_handle_t *h) {
  net_mqtt_link_t *l = h->data;
  if ((void *)h != (void *)&l->misc && (void *)h != (void *)&l->retry) free(h);
  l->nhandles--;
  link_maybe_stopped(l);
}

/* Must run before the library closes the socket. */
static void link_poll_close(net_mqtt_link_t *l) {
  if (!l->poll) return;
  uv_poll_stop(l->poll);
  uv_close((uv_handle_t *)l->poll, link_handle_closed);
  l->poll = NULL;
  l->poll_events = 0;
}

void net_mqtt_link_lost(net_mqtt_link_t *l, const char *why) {
  if (l->why) why = l->why; /* on_disconnect while we disconnect */
  link_poll_close(l);
  if (l->connected) {
    l->connected = 0;
    /* The backoff starts again only after a connection that held: one
     * that the broker accepts and we drop at once (the journal cannot
     * take the messages, the broker cuts a duplicate client id) would
     * otherwise be retried every backoff_min, and the broker would resend
     * its in-flight messages each time. */
    if (uv_now(kk_stage_loop(l->cfg.st)) - l->connected_at >=
        NET_MQTT_LINK_STABLE_MS)
      l->attempts = 0;
    kk_metric_add(l->cfg.m_disconnects, 1);
    /* Our own disconnect at a clean stop or a reload is no warning. */
    kk_stage_log(l->cfg.st, l->stopping ? KK_LOG_INFO : KK_LOG_WARN,
                 "disconnected from %s:%d: %s", l->cfg.host, l->cfg.port, why);
  }
  if (l->cfg.lost) l->cfg.lost(l->cfg.arg, why);
  if (!l->stopping) link_schedule_retry(l);
}

void net_mqtt_link_disconnect(net_mqtt_link_t *l, const char *why) {
  /* libmosquitto calls on_disconnect from inside mosquitto_disconnect();
   * its "closed" would hide the reason. */
  l->why = why;
  link_poll_close(l);
  mosquitto_disconnect(l->cfg.m);
  net_mqtt_link_lost(l, why);
  l->why = NULL;
}

/* ---- socket ---------------------------------------------------------- */

static void link_poll_cb(uv_poll_t *h, int status, int events) {
  net_mqtt_link_t *l = h->data;
  if (h != l->poll) return;
  if (status < 0) {
    net_mqtt_link_lost(l, uv_strerror(status));
    return;
  }
  if (events & UV_READABLE) l->cfg.readable(l->cfg.arg);
  /* `readable` may have lost the connection. */
  if (l->poll == h && (events & UV_WRITABLE)) {
    int rc = mosquitto_loop_write(l->cfg.m, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      if (l->poll) net_mqtt_link_lost(l, mosquitto_strerror(rc));
      return;
    }
  }
  net_mqtt_link_update_poll(l);
}

void net_mqtt_link_update_poll(net_mqtt_link_t *l) {
  if (!l->poll) return;
  if (l->cfg.threaded && mosquitto_want_write(l->cfg.m)) {
    int rc = mosquitto_loop_write(l->cfg.m, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      net_mqtt_link_lost(l, mosquitto_strerror(rc));
      return;
    }
  }
  int ww = mosquitto_want_write(l->cfg.m);
  if (!ww && l->cfg.written) {
    l->cfg.written(l->cfg.arg);
    if (!l->poll) return;
    ww = mosquitto_want_write(l->cfg.m);
  }
  int ev = (l->paused ? 0 : UV_READABLE) | (ww ? UV_WRITABLE : 0);
  if (ev == l->poll_events) return;
  l->poll_events = ev;
  if (ev)
    uv_poll_start(l->poll, ev, link_poll_cb);
  else
    uv_poll_stop(l->poll);
}

void net_mqtt_link_flush(net_mqtt_link_t *l, size_t packets) {
  if (!l->poll || !l->cfg.threaded || !mosquitto_want_write(l->cfg.m)) return;
  /* libmosquitto writes each queued packet with its own write(); corked,
   * the kernel sends them in one segment (TCP_NODELAY is set), which
   * saves a TCP transmit per PUBACK here and a receive in the broker. */
  int fd = packets > 1 ? mosquitto_socket(l->cfg.m) : -1, on = 1, off = 0;
  if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) != 0)
    fd = -1;
  (void)mosquitto_loop_write(l->cfg.m, 1);
  if (fd >= 0) (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
}

void net_mqtt_link_pause(net_mqtt_link_t *l, int paused) {
  l->paused = paused;
  net_mqtt_link_update_poll(l);
}

/* ---- connecting ------------------------------------------------------ */

void net_mqtt_link_connected(net_mqtt_link_t *l) {
  l->connected = 1;
  l->connected_at = uv_now(kk_stage_loop(l->cfg.st));
}

/* Worker thread: the loop does not touch the client while this runs. */
static void link_work(uv_work_t *w) {
  net_mqtt_link_t *l = w->data;
  l->work_rc = mosquitto_connect_bind_v5(l->cfg.m, l->cfg.host, l->cfg.port,
                                         l->keepalive, NULL, l->cfg.props);
}

static void link_after_work(uv_work_t *w, int status) {
  net_mqtt_link_t *l = w->data;
  l->connecting = 0;
  if (l->stopping || status == UV_ECANCELED) {
    link_maybe_stopped(l);
    return;
  }
  if (l->work_rc != MOSQ_ERR_SUCCESS) {
    if (kk_ratelimit_ok(l->cfg.rl))
      kk_stage_log(l->cfg.st, KK_LOG_WARN, "cannot connect to %s:%d: %s",
                   l->cfg.host, l->cfg.port,
                   l->work_rc == MOSQ_ERR_ERRNO
                       ? "connection failed"
                       : mosquitto_strerror(l->work_rc));
    link_schedule_retry(l);
    return;
  }
  int fd = mosquitto_socket(l->cfg.m);
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  l->poll = malloc(sizeof *l->poll);
  if (!l->poll ||
      uv_poll_init_socket(kk_stage_loop(l->cfg.st), l->poll, fd) != 0) {
    free(l->poll);
    l->poll = NULL;
    kk_stage_log(l->cfg.st, KK_LOG_ERROR, "cannot watch the MQTT socket");
    link_schedule_retry(l);
    return;
  }
  l->poll->data = l;
  l->nhandles++;
  l->poll_events = 0;
  net_mqtt_link_update_poll(l);
}

static void link_connect(net_mqtt_link_t *l) {
  if (l->connecting || l->poll || l->stopping) return;
  l->connecting = 1;
  l->work.data = l;
  if (uv_queue_work(kk_stage_loop(l->cfg.st), &l->work, link_work,
                    link_after_work) != 0) {
    l->connecting = 0;
    link_schedule_retry(l);
  }
}

static void link_retry_cb(uv_timer_t *t) {
  net_mqtt_link_t *l = t->data;
  l->retry_pending = 0;
  link_connect(l);
}

static void link_schedule_retry(net_mqtt_link_t *l) {
  if (l->retry_pending || l->connecting || l->stopping) return;
  uint64_t delay =
      net_mqtt_backoff_ms(l->backoff_min_ms, l->backoff_max_ms, l->attempts);
  if (l->attempts < 64) l->attempts++;
  l->retry_pending = 1;
  uv_timer_start(&l->retry, link_retry_cb, delay, 0);
}

static void link_misc_cb(uv_timer_t *t) {
  net_mqtt_link_t *l = t->data;
  if (!l->poll) return;
  if (l->cfg.tick) {
    l->cfg.tick(l->cfg.arg);
    if (!l->poll) return;
  }
  int rc = mosquitto_loop_misc(l->cfg.m);
  if (rc != MOSQ_ERR_SUCCESS) {
    net_mqtt_link_lost(l, mosquitto_strerror(rc));
    return;
  }
  net_mqtt_link_update_poll(l);
}

/* ---- lifecycle ------------------------------------------------------- */

void net_mqtt_link_init(net_mqtt_link_t *l, const net_mqtt_link_cfg_t *cfg,
                        const kk_opts_t *o) {
  *l = (net_mqtt_link_t){.cfg = *cfg};
  l->keepalive = (int)(kk_opt_duration_ms(o, "keepalive") / 1000);
  if (l->keepalive < 5) l->keepalive = 5;
  l->backoff_min_ms = kk_opt_duration_ms(o, "backoff_min");
  l->backoff_max_ms = kk_opt_duration_ms(o, "backoff_max");
  if (l->backoff_min_ms < 10) l->backoff_min_ms = 10;
  if (l->backoff_max_ms < l->backoff_min_ms)
    l->backoff_max_ms = l->backoff_min_ms;
}

void net_mqtt_link_start(net_mqtt_link_t *l) {
  uv_loop_t *loop = kk_stage_loop(l->cfg.st);
  uv_timer_init(loop, &l->misc);
  uv_timer_init(loop, &l->retry);
  l->misc.data = l->retry.data = l;
  l->nhandles = 2;
  l->started = 1;
  uv_timer_start(&l->misc, link_misc_cb, 1000, 1000);
  link_connect(l);
}

void net_mqtt_link_stop(net_mqtt_link_t *l, kk_stop_cb cb) {
  l->stopping = 1;
  if (!l->started) {
    cb(l->cfg.st);
    return;
  }
  l->stop_cb = cb;
  if (l->poll) {
    /* A threaded client only queued its last packets (PUBACKs of journaled
     * messages) and the DISCONNECT: write them now.  The library closes
     * the socket once DISCONNECT is written, so the poll goes first. */
    link_poll_close(l);
    mosquitto_disconnect(l->cfg.m);
    for (int i = 0; i < 16 && mosquitto_want_write(l->cfg.m); i++)
      if (mosquitto_loop_write(l->cfg.m, 1) != MOSQ_ERR_SUCCESS) break;
  }
  uv_timer_stop(&l->misc);
  uv_timer_stop(&l->retry);
  uv_close((uv_handle_t *)&l->misc, link_handle_closed);
  uv_close((uv_handle_t *)&l->retry, link_handle_closed);
}
