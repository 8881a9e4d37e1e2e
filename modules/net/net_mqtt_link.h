/*
 * modules/net/net_mqtt_link.h - one libmosquitto client on the libuv loop,
 * connected in the background and reconnected with backoff.  Shared by
 * source.mqtt and forward.mqtt; not a module.
 *
 * libmosquitto's external-loop API: a uv_poll on mosquitto_socket() with
 * writable interest from mosquitto_want_write(), a 1 s uv_timer for
 * mosquitto_loop_misc() (keepalive), the poll closed before the library
 * closes its socket.  mosquitto_connect blocks (name lookup, TCP connect,
 * TLS handshake), so it runs on a libuv worker thread while the loop does
 * not touch the client.  The caller creates and configures the client,
 * keeps its own mosquitto callbacks, and reads from the socket itself
 * (`readable`): how much to read per wake-up, and what must happen before
 * anything queued is written, is the caller's business.
 *
 * Everything here runs on the loop thread.
 */
#ifndef KK_MODULES_COMMON_MQTT_LINK_H
#define KK_MODULES_COMMON_MQTT_LINK_H

#include <klimakit.h>
#include <mosquitto.h>

/* `arg` is net_mqtt_link_cfg_t.arg. */
typedef void (*net_mqtt_link_cb)(void *arg);
/* `why` is valid only during the callback. */
typedef void (*net_mqtt_link_lost_cb)(void *arg, const char *why);

typedef struct net_mqtt_link_cfg {
  kk_stage_t *st;      /* the loop, log lines and the connect failures */
  struct mosquitto *m; /* the caller's; destroy it only after the stop */
  const char *host;    /* must outlive the link */
  int port;
  const mosquitto_property *props; /* CONNECT properties (MQTT 5) or NULL */
  kk_ratelimit_t *rl;              /* limits the "cannot connect" lines */
  kk_metric_t *m_disconnects;      /* counts connections lost */
  /* Set when the caller made the client threaded
   * (mosquitto_threaded_set): the library then only queues packets, and
   * every net_mqtt_link_update_poll() writes them out. */
  int threaded;
  /* The socket is readable: read it with mosquitto_loop_read(), and call
   * net_mqtt_link_lost() on failure.  A threaded client's queued packets
   * (acknowledgements) go out only after it returns.  Required. */
  net_mqtt_link_cb readable;
  /* The connection is gone, after its "disconnected" line and before the
   * reconnect is planned.  May be NULL. */
  net_mqtt_link_lost_cb lost;
  /* Nothing is left to write: every queued packet reached the socket.
   * Called from net_mqtt_link_update_poll(), which it may call again.  May
   * be NULL. */
  net_mqtt_link_cb written;
  /* Once a second while the socket is watched, before
   * mosquitto_loop_misc(); it may drop the connection.  May be NULL. */
  net_mqtt_link_cb tick;
  void *arg;
} net_mqtt_link_cfg_t;

/* Embedded in the caller's state; only `poll`, `connected` and `paused`
 * may be read outside mqtt_link.c. */
typedef struct net_mqtt_link {
  net_mqtt_link_cfg_t cfg;
  uv_poll_t *poll; /* non-NULL while the socket is watched */
  int connected;   /* from net_mqtt_link_connected() until the loss */
  int paused;      /* see net_mqtt_link_pause() */
  int keepalive;   /* seconds */
  uint64_t backoff_min_ms, backoff_max_ms; /* see net_mqtt_backoff_ms() */
  int poll_events, started, stopping;
  int connecting, work_rc, retry_pending;
  const char *why; /* net_mqtt_link_disconnect()'s reason while it runs */
  unsigned attempts;
  uint64_t connected_at; /* uv_now() of the last net_mqtt_link_connected() */
  size_t nhandles;
  uv_timer_t misc, retry;
  uv_work_t work;
  kk_stop_cb stop_cb;
} net_mqtt_link_t;

/* Copies `cfg` and reads the options `keepalive` (at least 5 s),
 * `backoff_min` (at least 10 ms) and `backoff_max` (at least backoff_min)
 * from `o`: the module declares them.  Opens nothing, so a link that is
 * never started needs no cleanup. */
void net_mqtt_link_init(net_mqtt_link_t *l, const net_mqtt_link_cfg_t *cfg,
                        const kk_opts_t *o);

/* Starts the timers and the first connect. */
void net_mqtt_link_start(net_mqtt_link_t *l);

/* A connection lost before it stayed up this long does not reset the
 * reconnect backoff. */
#define NET_MQTT_LINK_STABLE_MS 10000

/* Call from the client's on_connect callback when the broker accepted:
 * marks the link connected.  The backoff is reset when a connection that
 * lasted NET_MQTT_LINK_STABLE_MS is lost. */
void net_mqtt_link_connected(net_mqtt_link_t *l);

/* The connection is gone or must go (call it from on_disconnect too):
 * closes the poll, logs and counts the loss if it was connected, calls
 * `lost` and plans a reconnect unless stopping. */
void net_mqtt_link_lost(net_mqtt_link_t *l, const char *why);

/* Sends DISCONNECT, then net_mqtt_link_lost(l, why).  The poll is closed
 * first: an unthreaded client closes its socket as soon as DISCONNECT is
 * written. */
void net_mqtt_link_disconnect(net_mqtt_link_t *l, const char *why);

/* Recomputes the poll's interest (readable unless paused, writable while
 * mosquitto_want_write()); call it after queueing packets outside the
 * link's callbacks. */
void net_mqtt_link_update_poll(net_mqtt_link_t *l);

/* Writes the packets libmosquitto has queued (threaded mode: PUBACKs)
 * now, from inside the link's `readable` callback; `packets` is about how
 * many (more than one: they go out in one TCP segment).  What the socket
 * does not take stays queued for the poll.  A write error is left for the
 * poll callback to report. */
void net_mqtt_link_flush(net_mqtt_link_t *l, size_t packets);

/* While paused the socket is not read, so TCP flow control holds the
 * broker back; queued packets still go out. */
void net_mqtt_link_pause(net_mqtt_link_t *l, int paused);

/* Writes what is queued and a DISCONNECT, closes the handles and calls
 * cb(cfg.st) once they are closed and no connect is running on the worker
 * (at once when the link was never started). */
void net_mqtt_link_stop(net_mqtt_link_t *l, kk_stop_cb cb);

#endif
