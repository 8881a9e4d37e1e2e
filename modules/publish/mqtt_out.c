/*
 * modules/publish/mqtt_out.c - forward.mqtt: readings republished to an
 * MQTT broker.
 *
 * Each reading becomes one PUBLISH on a topic made from a template
 * ("klimakit/{thing}/{property}"), with a JSON payload
 * {"time":"2026-11-21T10:00:00.000Z","value":812,"unit":"ppm"} or a SenML
 * record, optionally retained so that a late subscriber gets the latest
 * value at once.
 *
 * Batches go through the store-and-forward spool of modules/common/
 * forward.h: the engine's cursor moves on once a batch is spooled, so a
 * broker that is down for hours never pauses the node (until the spool is
 * full).  Deliveries leave the spool in order: at QoS 1 a delivery is
 * acknowledged once every PUBACK came back (on_publish with the message
 * ids), at QoS 0 once libmosquitto has written every packet to the
 * socket.  A connection lost mid-delivery acknowledges the leading
 * messages whose PUBACK came and sends the rest again after reconnecting
 * (QoS 1 is at-least-once).
 *
 * libmosquitto runs on the loop through its external-loop API, as in
 * source.mqtt: connect on a worker thread (it blocks), uv_poll on
 * mosquitto_socket() with writable interest from mosquitto_want_write(),
 * a 1 s uv_timer for mosquitto_loop_misc() (keepalive) and the delivery
 * timeout, the poll stopped before the library closes its socket, and
 * reconnects with exponential backoff and jitter.
 */
#include <klimakit.h>

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/mqtt_common.h"
#include "../common/forward.h"
#include "../common/reading_json.h"
#include "../common/strbuf.h"

typedef struct mqtt_out_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  struct mosquitto *m;
  char host[256];
  int port, tls, qos, retain, senml, keepalive;
  const char *topic_tpl;
  uint64_t backoff_min_ms, backoff_max_ms, timeout_ms;
  char *client_id;
  fw_t *fw;
  /* connection */
  uv_poll_t *poll; /* heap; freed in its close callback */
  int poll_events;
  uv_timer_t misc, retry;
  uv_work_t work;
  int work_rc, connecting, connected, retry_pending;
  unsigned attempts;
  /* the delivery in flight */
  int *mids; /* message id per item, 0 once acknowledged */
  size_t nmids, capmids, unacked;
  int inflight;
  uint64_t sent_at;
  kk_sb_t topic, payload;
  /* lifecycle */
  int started, stopping;
  size_t nhandles;
  kk_stop_cb stop_cb;
  kk_ratelimit_t rl;
  kk_metric_t *m_published, *m_connects, *m_disconnects;
} mqtt_out_state_t;

static void mqtt_out_update_poll(mqtt_out_state_t *s);
static void mqtt_out_schedule_retry(mqtt_out_state_t *s);

/* ---- handles --------------------------------------------------------- */

static void mqtt_out_maybe_stopped(mqtt_out_state_t *s) {
  if (s->stopping && s->nhandles == 0 && !s->connecting && s->stop_cb) {
    kk_stop_cb cb = s->stop_cb;
    s->stop_cb = NULL;
    cb(s->st);
  }
}

static void mqtt_out_handle_closed(uv_handle_t *h) {
  mqtt_out_state_t *s = h->data;
  if ((void *)h != (void *)&s->misc && (void *)h != (void *)&s->retry) free(h);
  s->nhandles--;
  mqtt_out_maybe_stopped(s);
}

static void mqtt_out_poll_close(mqtt_out_state_t *s) {
  if (!s->poll) return;
  uv_poll_stop(s->poll);
  uv_close((uv_handle_t *)s->poll, mqtt_out_handle_closed);
  s->poll = NULL;
  s->poll_events = 0;
}

/* Ends the delivery in flight: the leading items whose PUBACK came are
 * acknowledged, the rest is retried. */
static void mqtt_out_end_delivery(mqtt_out_state_t *s, const char *why) {
  if (!s->inflight) return;
  s->inflight = 0;
  size_t k = 0;
  while (k < s->nmids && s->mids[k] == 0)
    k++;
  if (k > 0)
    fw_result(s->fw, FW_ACK, k, 0, NULL, NULL, NULL);
  else
    fw_result(s->fw, FW_RETRY, 0, 0, why, NULL, NULL);
}

static void mqtt_out_lost(mqtt_out_state_t *s, const char *why) {
  mqtt_out_poll_close(s);
  if (s->connected) {
    s->connected = 0;
    kk_metric_add(s->m_disconnects, 1);
    kk_stage_log(s->st, KK_LOG_WARN, "disconnected from %s:%d: %s", s->host,
                 s->port, why);
  }
  mqtt_out_end_delivery(s, why);
  if (!s->stopping) mqtt_out_schedule_retry(s);
}

/* ---- publishing ------------------------------------------------------ */

/* Topic levels may not contain wildcards; they become '_'. */
static void mqtt_out_topic_part(kk_sb_t *b, const char *v) {
  for (; *v; v++)
    kk_sb_put(b, (*v == '+' || *v == '#') ? "_" : v, 1);
}

static void mqtt_out_render_topic(mqtt_out_state_t *s, const fw_item_t *it) {
  kk_sb_t *b = &s->topic;
  b->len = 0;
  for (const char *p = s->topic_tpl; *p;) {
    if (!strncmp(p, "{thing}", 7)) {
      mqtt_out_topic_part(b, it->thing);
      p += 7;
    } else if (!strncmp(p, "{property}", 10)) {
      mqtt_out_topic_part(b, it->property);
      p += 10;
    } else if (!strncmp(p, "{unit}", 6)) {
      mqtt_out_topic_part(b, it->unit);
      p += 6;
    } else {
      kk_sb_put(b, p++, 1);
    }
  }
  kk_sb_put(b, "", 1);
}

static void mqtt_out_render_payload(mqtt_out_state_t *s, const fw_item_t *it) {
  kk_sb_t *b = &s->payload;
  char num[READING_JSON_NUMBER_MAX], t[READING_JSON_TIME_MAX];
  b->len = 0;
  size_t nl = it->has_value ? reading_json_number_format(it->value, num) : 0;
  if (!it->has_value) {
    memcpy(num, "null", 5);
    nl = 4;
  }
  if (s->senml) {
    /* RFC 8428: base name urn:dev:klimakit:<thing>:, time in seconds */
    kk_sb_puts(b, "[{\"bn\":\"urn:dev:klimakit:");
    kk_sb_json(b, it->thing);
    kk_sb_puts(b, ":\",\"n\":\"");
    kk_sb_json(b, it->property);
    kk_sb_puts(b, "\",\"u\":\"");
    kk_sb_json(b, it->unit);
    kk_sb_printf(
        b, "\",\"t\":%lld.%03d,\"v\":", (long long)(it->time_ms / 1000),
        (int)(it->time_ms % 1000 + (it->time_ms % 1000 < 0 ? 1000 : 0)));
    kk_sb_put(b, num, nl);
    kk_sb_puts(b, "}]");
  } else {
    reading_json_time_format(it->time_ms, t);
    kk_sb_printf(b, "{\"time\":\"%s\",\"value\":", t);
    kk_sb_put(b, num, nl);
    kk_sb_puts(b, ",\"unit\":\"");
    kk_sb_json(b, it->unit);
    kk_sb_puts(b, "\"}");
  }
}

static int mqtt_out_send(void *ctx, const fw_item_t *items, size_t n) {
  mqtt_out_state_t *s = ctx;
  if (!s->connected || !s->poll) return FW_NOT_READY;
  if (n > s->capmids) {
    int *nm = realloc(s->mids, n * sizeof *nm);
    if (!nm) return KK_ENOMEM;
    s->mids = nm;
    s->capmids = n;
  }
  s->nmids = n;
  s->unacked = 0;
  s->inflight = 1;
  s->sent_at = uv_now(kk_stage_loop(s->st));
  for (size_t i = 0; i < n; i++) {
    mqtt_out_render_topic(s, &items[i]);
    mqtt_out_render_payload(s, &items[i]);
    if (s->topic.oom || s->payload.oom) {
      s->topic.oom = s->payload.oom = 0;
      s->inflight = 0;
      return KK_ENOMEM;
    }
    int mid = 0;
    int rc = mosquitto_publish(s->m, &mid, s->topic.p, (int)s->payload.len,
                               s->payload.p, s->qos, s->retain);
    if (rc != MOSQ_ERR_SUCCESS) {
      /* Items before i went out; the connection is probably gone. */
      s->nmids = i;
      if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_PAYLOAD_SIZE ||
          rc == MOSQ_ERR_MALFORMED_UTF8) {
        /* This item can never be published: dead-letter it alone. */
        if (i == 0) {
          s->inflight = 0;
          char why[300];
          snprintf(why, sizeof why, "%s (topic '%s')", mosquitto_strerror(rc),
                   s->topic.p);
          fw_result(s->fw, FW_DEAD, 1, 0, why, NULL, NULL);
          return 0;
        }
        if (s->qos == 0) {
          s->inflight = 0;
          fw_result(s->fw, FW_ACK, i, 0, NULL, NULL, NULL);
          return 0;
        }
        break; /* wait for the PUBACKs of items before i */
      }
      kk_stage_log(s->st, KK_LOG_WARN, "publish: %s", mosquitto_strerror(rc));
      mqtt_out_lost(s, mosquitto_strerror(rc));
      return 0;
    }
    s->mids[i] = s->qos ? mid : 0;
    if (s->qos) s->unacked++;
  }
  kk_metric_add(s->m_published, (int64_t)s->nmids);
  mqtt_out_update_poll(s);
  return 0;
}

static void mqtt_out_on_publish(struct mosquitto *m, void *obj, int mid) {
  (void)m;
  mqtt_out_state_t *s = obj;
  if (!s->inflight || s->qos == 0) return;
  for (size_t i = 0; i < s->nmids; i++)
    if (s->mids[i] == mid) {
      s->mids[i] = 0;
      s->unacked--;
      break;
    }
  if (s->unacked == 0) {
    s->inflight = 0;
    fw_result(s->fw, FW_ACK, s->nmids, 0, NULL, NULL, NULL);
  }
}

static const fw_ops_t mqtt_out_ops = {.send = mqtt_out_send};

/* ---- socket ---------------------------------------------------------- */

static void mqtt_out_poll_cb(uv_poll_t *h, int status, int events) {
  mqtt_out_state_t *s = h->data;
  if (h != s->poll) return;
  if (status < 0) {
    mqtt_out_lost(s, uv_strerror(status));
    return;
  }
  if (events & UV_READABLE) {
    int rc = mosquitto_loop_read(s->m, 16);
    if (rc != MOSQ_ERR_SUCCESS) {
      if (s->poll) mqtt_out_lost(s, mosquitto_strerror(rc));
      return;
    }
  }
  if (s->poll == h && (events & UV_WRITABLE)) {
    int rc = mosquitto_loop_write(s->m, 16);
    if (rc != MOSQ_ERR_SUCCESS) {
      if (s->poll) mqtt_out_lost(s, mosquitto_strerror(rc));
      return;
    }
  }
  mqtt_out_update_poll(s);
}

static void mqtt_out_update_poll(mqtt_out_state_t *s) {
  if (!s->poll) return;
  int ww = mosquitto_want_write(s->m);
  if (!ww && s->inflight && s->qos == 0) {
    /* QoS 0: every packet of the delivery reached the socket. */
    s->inflight = 0;
    fw_result(s->fw, FW_ACK, s->nmids, 0, NULL, NULL, NULL);
    if (!s->poll) return;
    ww = mosquitto_want_write(s->m);
  }
  int ev = UV_READABLE | (ww ? UV_WRITABLE : 0);
  if (ev == s->poll_events) return;
  s->poll_events = ev;
  uv_poll_start(s->poll, ev, mqtt_out_poll_cb);
}

/* ---- connecting ------------------------------------------------------ */

static void mqtt_out_on_connect(struct mosquitto *m, void *obj, int rc) {
  (void)m;
  mqtt_out_state_t *s = obj;
  if (rc != 0) {
    kk_stage_log(s->st, KK_LOG_ERROR, "broker %s:%d refused the connection: %s",
                 s->host, s->port, mosquitto_connack_string(rc));
    return;
  }
  s->connected = 1;
  s->attempts = 0;
  kk_metric_add(s->m_connects, 1);
  kk_stage_log(s->st, KK_LOG_INFO, "connected to %s:%d", s->host, s->port);
  fw_kick(s->fw);
}

static void mqtt_out_on_disconnect(struct mosquitto *m, void *obj, int rc) {
  (void)m;
  mqtt_out_state_t *s = obj;
  mqtt_out_lost(s, rc == 0 ? "closed" : mosquitto_strerror(rc));
}

static void mqtt_out_work(uv_work_t *w) {
  mqtt_out_state_t *s = w->data;
  s->work_rc = mosquitto_connect(s->m, s->host, s->port, s->keepalive);
}

static void mqtt_out_after_work(uv_work_t *w, int status) {
  mqtt_out_state_t *s = w->data;
  s->connecting = 0;
  if (s->stopping || status == UV_ECANCELED) {
    mqtt_out_maybe_stopped(s);
    return;
  }
  if (s->work_rc != MOSQ_ERR_SUCCESS) {
    if (kk_ratelimit_ok(&s->rl))
      kk_stage_log(
          s->st, KK_LOG_WARN, "cannot connect to %s:%d: %s", s->host, s->port,
          s->work_rc == MOSQ_ERR_ERRNO ? "connection failed"
                                       : mosquitto_strerror(s->work_rc));
    mqtt_out_schedule_retry(s);
    return;
  }
  int fd = mosquitto_socket(s->m);
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  s->poll = malloc(sizeof *s->poll);
  if (!s->poll || uv_poll_init_socket(kk_stage_loop(s->st), s->poll, fd) != 0) {
    free(s->poll);
    s->poll = NULL;
    kk_stage_log(s->st, KK_LOG_ERROR, "cannot watch the MQTT socket");
    mqtt_out_schedule_retry(s);
    return;
  }
  s->poll->data = s;
  s->nhandles++;
  s->poll_events = 0;
  mqtt_out_update_poll(s);
}

static void mqtt_out_connect(mqtt_out_state_t *s) {
  if (s->connecting || s->poll || s->stopping) return;
  s->connecting = 1;
  s->work.data = s;
  if (uv_queue_work(kk_stage_loop(s->st), &s->work, mqtt_out_work,
                    mqtt_out_after_work) != 0) {
    s->connecting = 0;
    mqtt_out_schedule_retry(s);
  }
}

static void mqtt_out_retry_cb(uv_timer_t *t) {
  mqtt_out_state_t *s = t->data;
  s->retry_pending = 0;
  mqtt_out_connect(s);
}

static void mqtt_out_schedule_retry(mqtt_out_state_t *s) {
  if (s->retry_pending || s->connecting || s->stopping) return;
  uint64_t delay =
      kk_mqtt_backoff_ms(s->backoff_min_ms, s->backoff_max_ms, s->attempts);
  if (s->attempts < 64) s->attempts++;
  s->retry_pending = 1;
  uv_timer_start(&s->retry, mqtt_out_retry_cb, delay, 0);
}

static void mqtt_out_misc_cb(uv_timer_t *t) {
  mqtt_out_state_t *s = t->data;
  if (!s->poll) return;
  if (s->inflight &&
      uv_now(kk_stage_loop(s->st)) - s->sent_at > s->timeout_ms) {
    /* The broker does not acknowledge: reconnect and send again. */
    mqtt_out_poll_close(s);
    mosquitto_disconnect(s->m);
    mqtt_out_lost(s, "no PUBACK within the timeout");
    return;
  }
  int rc = mosquitto_loop_misc(s->m);
  if (rc != MOSQ_ERR_SUCCESS) {
    mqtt_out_lost(s, mosquitto_strerror(rc));
    return;
  }
  mqtt_out_update_poll(s);
}

/* ---- options --------------------------------------------------------- */


/* ---- module callbacks ------------------------------------------------ */

static int mqtt_out_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  mqtt_out_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(60000, 3);
  if (kk_mqtt_parse_url(kk_opt_str(o, "url"), s->host, sizeof s->host,
                        &s->port, &s->tls) != 0) {
    kk_stage_error(st,
                   "url: expected mqtt://host[:port] or mqtts://host[:port]");
    return KK_EPARSE;
  }
  s->topic_tpl = kk_opt_str(o, "topic");
  if (!*s->topic_tpl || strpbrk(s->topic_tpl, "+#")) {
    kk_stage_error(st, "topic: a template without '+' or '#' is needed");
    return KK_EINVAL;
  }
  s->qos = (int)kk_opt_int(o, "qos");
  s->retain = kk_opt_bool(o, "retain");
  s->senml = kk_opt_enum(o, "format") == 1;
  s->keepalive = (int)(kk_opt_duration_ms(o, "keepalive") / 1000);
  if (s->keepalive < 5) s->keepalive = 5;
  s->backoff_min_ms = kk_opt_duration_ms(o, "backoff_min");
  s->backoff_max_ms = kk_opt_duration_ms(o, "backoff_max");
  if (s->backoff_min_ms < 10) s->backoff_min_ms = 10;
  if (s->backoff_max_ms < s->backoff_min_ms)
    s->backoff_max_ms = s->backoff_min_ms;
  s->timeout_ms = kk_opt_duration_ms(o, "timeout");
  const char *cid =
      kk_opt_isset(o, "client_id") ? kk_opt_str(o, "client_id") : NULL;
  char buf[160];
  if (!cid) {
    snprintf(buf, sizeof buf, "klimakit-%s", kk_stage_name(st));
    cid = buf;
  }
  s->client_id = strdup(cid);
  mosquitto_lib_init();
  s->m = s->client_id ? mosquitto_new(s->client_id, true, s) : NULL;
  if (!s->m) {
    kk_stage_error(st, "mosquitto_new: %s", strerror(errno));
    return KK_ENOMEM;
  }
  mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_int_option(s->m, MOSQ_OPT_TCP_NODELAY, 1);
  if (kk_opt_isset(o, "username")) {
    const char *pw = NULL;
    if (kk_opt_isset(o, "password_env"))
      pw = getenv(kk_opt_str(o, "password_env"));
    int rc = mosquitto_username_pw_set(s->m, kk_opt_str(o, "username"), pw);
    if (rc != MOSQ_ERR_SUCCESS) {
      kk_stage_error(st, "credentials: %s", mosquitto_strerror(rc));
      return KK_EINVAL;
    }
  }
  if (s->tls) {
    const char *ca =
        kk_opt_isset(o, "ca_file") ? kk_opt_str(o, "ca_file") : NULL;
    if (!ca) mosquitto_int_option(s->m, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
    int rc = ca ? mosquitto_tls_set(s->m, ca, NULL, NULL, NULL, NULL)
                : MOSQ_ERR_SUCCESS;
    if (rc != MOSQ_ERR_SUCCESS) {
      kk_stage_error(st, "TLS: %s", mosquitto_strerror(rc));
      return KK_EINVAL;
    }
  }
  mosquitto_connect_callback_set(s->m, mqtt_out_on_connect);
  mosquitto_disconnect_callback_set(s->m, mqtt_out_on_disconnect);
  mosquitto_publish_callback_set(s->m, mqtt_out_on_publish);
  s->m_published = kk_stage_counter(st, "kk_mqtt_out_published_total", NULL,
                                    "Messages the MQTT republisher sent");
  s->m_connects = kk_stage_counter(st, "kk_mqtt_out_connects_total", NULL,
                                   "Connections made to the broker");
  s->m_disconnects = kk_stage_counter(st, "kk_mqtt_out_disconnects_total", NULL,
                                      "Connections lost");
  return 0;
}

static int mqtt_out_start(kk_stage_t *st, void *state) {
  mqtt_out_state_t *s = state;
  uv_loop_t *loop = kk_stage_loop(st);
  int rc = fw_new(st, s->opts, &mqtt_out_ops, s, &s->fw);
  if (rc) return rc;
  uv_timer_init(loop, &s->misc);
  uv_timer_init(loop, &s->retry);
  s->misc.data = s->retry.data = s;
  s->nhandles = 2;
  s->started = 1;
  uv_timer_start(&s->misc, mqtt_out_misc_cb, 1000, 1000);
  kk_stage_log(st, KK_LOG_INFO, "connecting to %s:%d%s, topic %s, QoS %d%s",
               s->host, s->port, s->tls ? " (TLS)" : "", s->topic_tpl, s->qos,
               s->retain ? ", retained" : "");
  mqtt_out_connect(s);
  return 0;
}

static int mqtt_out_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  mqtt_out_state_t *s = state;
  (void)st;
  return fw_process(s->fw, b);
}

static void mqtt_out_fw_stopped(void *arg) {
  mqtt_out_state_t *s = arg;
  s->stopping = 1;
  s->inflight = 0; /* an abandoned delivery */
  if (s->poll) {
    mqtt_out_poll_close(s);
    mosquitto_disconnect(s->m);
    for (int i = 0; i < 16 && mosquitto_want_write(s->m); i++)
      if (mosquitto_loop_write(s->m, 1) != MOSQ_ERR_SUCCESS) break;
  }
  uv_timer_stop(&s->misc);
  uv_timer_stop(&s->retry);
  uv_close((uv_handle_t *)&s->misc, mqtt_out_handle_closed);
  uv_close((uv_handle_t *)&s->retry, mqtt_out_handle_closed);
}

static void mqtt_out_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  mqtt_out_state_t *s = state;
  s->stop_cb = cb;
  if (!s->started) {
    s->stop_cb = NULL;
    cb(st);
    return;
  }
  /* The forwarder drains the spool while the broker answers (bounded by
   * `drain`); connecting and reconnecting go on meanwhile. */
  fw_stop(s->fw, mqtt_out_fw_stopped, s);
}

static void mqtt_out_destroy(void *state) {
  mqtt_out_state_t *s = state;
  if (!s) return;
  fw_free(s->fw);
  if (s->m) {
    mosquitto_destroy(s->m);
    mosquitto_lib_cleanup();
  }
  free(s->client_id);
  free(s->mids);
  kk_sb_free(&s->topic);
  kk_sb_free(&s->payload);
  free(s);
}

static const kk_option_t mqtt_out_options[] = {
    {.name = "url",
     .type = KK_OPT_STRING,
     .def = "mqtt://127.0.0.1:1883",
     .description = "Broker: mqtt://host[:port] or mqtts://host[:port] "
                    "(TLS)."},
    {.name = "topic",
     .type = KK_OPT_STRING,
     .def = "klimakit/{thing}/{property}",
     .description = "Topic template; {thing}, {property} and {unit} are "
                    "replaced ('+' and '#' in them become '_')."},
    {.name = "qos",
     .type = KK_OPT_INT,
     .def = "1",
     .min = 0,
     .max = 1,
     .description = "0: a delivery counts as done once written to the "
                    "socket; 1: once the broker acknowledged every message "
                    "(PUBACK)."},
    {.name = "retain",
     .type = KK_OPT_BOOL,
     .def = "true",
     .description = "Publish retained, so that a new subscriber gets the "
                    "latest value of each topic at once."},
    {.name = "format",
     .type = KK_OPT_ENUM,
     .def = "json",
     .choices = "json|senml",
     .description = "Payload: {\"time\",\"value\",\"unit\"} JSON, or a SenML "
                    "JSON record (RFC 8428)."},
    {.name = "client_id",
     .type = KK_OPT_STRING,
     .description = "MQTT client id (default klimakit-<stage name>)."},
    {.name = "username",
     .type = KK_OPT_STRING,
     .description = "User name for the broker."},
    {.name = "password_env",
     .type = KK_OPT_STRING,
     .description = "Environment variable holding the password."},
    {.name = "ca_file",
     .type = KK_OPT_STRING,
     .description = "CA certificates (PEM) for mqtts:// instead of the "
                    "system's."},
    {.name = "keepalive",
     .type = KK_OPT_DURATION,
     .def = "30s",
     .description = "MQTT keepalive interval."},
    {.name = "backoff_min",
     .type = KK_OPT_DURATION,
     .def = "500ms",
     .description = "First reconnect delay; doubles per failed attempt."},
    {.name = "backoff_max",
     .type = KK_OPT_DURATION,
     .def = "30s",
     .description = "Longest reconnect delay."},
    {.name = "timeout",
     .type = KK_OPT_DURATION,
     .def = "30s",
     .description = "A delivery without every PUBACK after this long "
                    "reconnects and is sent again."},
    FW_OPTIONS,
    {NULL}};

const kk_module_t mqtt_out_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "mqtt",
    .ns = "forward",
    .kind = KK_KIND_SINK,
    .summary = "Republishes readings to an MQTT broker.",
    .description =
        "Each reading becomes one message on a topic from a template "
        "(`klimakit/{thing}/{property}`) with the payload "
        "`{\"time\":..,\"value\":..,\"unit\":..}` (or a SenML record), "
        "retained by default so that a late subscriber sees the latest "
        "value.  Batches go through an on-disk spool: a broker that is down "
        "does not pause the node; the sink reconnects with backoff and "
        "sends in order.  At QoS 1 a delivery is done only when every "
        "PUBACK came back.  See docs/forwarding.md.",
    .options = mqtt_out_options,
    .create = mqtt_out_create,
    .start = mqtt_out_start,
    .process = mqtt_out_process,
    .stop = mqtt_out_stop,
    .destroy = mqtt_out_destroy,
};
