/*
 * modules/forward/mqtt.c - forward.mqtt: readings republished to an
 * MQTT broker.
 *
 * Each reading becomes one PUBLISH on a topic made from a template
 * ("klimakit/{thing}/{property}"), with a JSON payload
 * {"time":"2026-11-21T10:00:00.000Z","value":812,"unit":"ppm"} or a SenML
 * record, optionally retained so that a late subscriber gets the latest
 * value at once.  An event reading of calc.alert carries its document as
 * "event" in the JSON payload.
 *
 * Batches go through the store-and-forward spool (modules/forward/
 * forward.h): the engine's cursor moves on once a batch is spooled, so a
 * broker that is down for hours never pauses the node (until the spool is
 * full).  Deliveries leave the spool in order: at QoS 1 a delivery is
 * acknowledged once every PUBACK came back (on_publish with the message
 * ids), at QoS 0 once libmosquitto has written every packet to the
 * socket.  A connection lost mid-delivery acknowledges the leading
 * messages whose PUBACK came and sends the rest again after reconnecting
 * (QoS 1 is at-least-once).
 *
 * libmosquitto runs on the loop through modules/net/net_mqtt_link.h, as in
 * source.mqtt; its 1 s tick also checks the delivery timeout.
 */
#include <klimakit.h>

#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_mqtt.h"
#include "net/net_mqtt_link.h"
#include "forward/forward.h"

typedef struct mqtt_out_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  struct mosquitto *m;
  char host[256];
  int port, tls, qos, retain, senml;
  const char *topic_tpl;
  uint64_t timeout_ms;
  char *client_id;
  fw_t *fw;
  net_mqtt_link_t link;
  /* the delivery in flight */
  int *mids; /* message id per item, 0 once acknowledged */
  size_t nmids, capmids, unacked;
  int inflight;
  uint64_t sent_at;
  kk_buf_t topic, payload;
  kk_stop_cb stop_cb;
  kk_ratelimit_t rl;
  kk_metric_t *m_published, *m_connects;
} mqtt_out_state_t;

/* Ends the delivery in flight: the leading items whose PUBACK came are
 * acknowledged, the rest is retried. */
static void mqtt_out_end_delivery(void *arg, const char *why) {
  mqtt_out_state_t *s = arg;
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

/* ---- publishing ------------------------------------------------------ */

/* Topic levels may not contain wildcards; they become '_'. */
static void mqtt_out_topic_part(kk_buf_t *b, const char *v) {
  for (; *v; v++)
    kk_buf_put(b, (*v == '+' || *v == '#') ? "_" : v, 1);
}

static void mqtt_out_render_topic(mqtt_out_state_t *s, const fw_item_t *it) {
  kk_buf_t *b = &s->topic;
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
      kk_buf_put(b, p++, 1);
    }
  }
  kk_buf_put(b, "", 1);
}

static void mqtt_out_render_payload(mqtt_out_state_t *s, const fw_item_t *it) {
  kk_buf_t *b = &s->payload;
  char num[KK_FMT_DOUBLE_MAX], t[KK_TIME_ISO_MAX];
  b->len = 0;
  size_t nl = it->has_value ? kk_fmt_double(it->value, num) : 0;
  if (!it->has_value) {
    memcpy(num, "null", 5);
    nl = 4;
  }
  if (s->senml) {
    /* RFC 8428: base name urn:dev:klimakit:<thing>:, time in seconds */
    kk_buf_puts(b, "[{\"bn\":\"urn:dev:klimakit:");
    kk_buf_json(b, it->thing);
    kk_buf_puts(b, ":\",\"n\":\"");
    kk_buf_json(b, it->property);
    kk_buf_puts(b, "\",\"u\":\"");
    kk_buf_json(b, it->unit);
    /* Sign and magnitude, so that -500 ms is -0.500 s, not 0.500. */
    uint64_t mag =
        it->time_ms < 0 ? 0u - (uint64_t)it->time_ms : (uint64_t)it->time_ms;
    kk_buf_printf(b, "\",\"t\":%s%llu.%03u,\"v\":", it->time_ms < 0 ? "-" : "",
                  (unsigned long long)(mag / 1000), (unsigned)(mag % 1000));
    kk_buf_put(b, num, nl);
    kk_buf_puts(b, "}]");
  } else {
    kk_time_format_iso8601(it->time_ms, t);
    kk_buf_printf(b, "{\"time\":\"%s\",\"value\":", t);
    kk_buf_put(b, num, nl);
    kk_buf_puts(b, ",\"unit\":\"");
    kk_buf_json(b, it->unit);
    kk_buf_puts(b, "\"");
    if (it->event) { /* calc.alert's event document (forward.h) */
      kk_buf_puts(b, ",\"event\":");
      kk_buf_puts(b, it->event);
    }
    kk_buf_puts(b, "}");
  }
}

static int mqtt_out_send(void *ctx, const fw_item_t *items, size_t n) {
  mqtt_out_state_t *s = ctx;
  if (!s->link.connected || !s->link.poll) return FW_NOT_READY;
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
      net_mqtt_link_lost(&s->link, mosquitto_strerror(rc));
      return 0;
    }
    s->mids[i] = s->qos ? mid : 0;
    if (s->qos) s->unacked++;
  }
  kk_metric_add(s->m_published, (int64_t)s->nmids);
  net_mqtt_link_update_poll(&s->link);
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

static void mqtt_out_readable(void *arg) {
  mqtt_out_state_t *s = arg;
  int rc = mosquitto_loop_read(s->m, 16);
  if (rc != MOSQ_ERR_SUCCESS && s->link.poll)
    net_mqtt_link_lost(&s->link, mosquitto_strerror(rc));
}

/* QoS 0: every packet of the delivery reached the socket. */
static void mqtt_out_written(void *arg) {
  mqtt_out_state_t *s = arg;
  if (!s->inflight || s->qos != 0) return;
  s->inflight = 0;
  fw_result(s->fw, FW_ACK, s->nmids, 0, NULL, NULL, NULL);
}

static void mqtt_out_tick(void *arg) {
  mqtt_out_state_t *s = arg;
  if (s->inflight && uv_now(kk_stage_loop(s->st)) - s->sent_at > s->timeout_ms)
    /* The broker does not acknowledge: reconnect and send again. */
    net_mqtt_link_disconnect(&s->link, "no PUBACK within the timeout");
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
  net_mqtt_link_connected(&s->link);
  kk_metric_add(s->m_connects, 1);
  kk_stage_log(s->st, KK_LOG_INFO, "connected to %s:%d", s->host, s->port);
  fw_kick(s->fw);
}

static void mqtt_out_on_disconnect(struct mosquitto *m, void *obj, int rc) {
  (void)m;
  mqtt_out_state_t *s = obj;
  net_mqtt_link_lost(&s->link, rc == 0 ? "closed" : mosquitto_strerror(rc));
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
  if (net_mqtt_parse_url(kk_opt_str(o, "url"), s->host, sizeof s->host,
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
  s->m_published = kk_stage_counter(st, "net_mqtt_out_published_total", NULL,
                                    "Messages the MQTT republisher sent");
  s->m_connects = kk_stage_counter(st, "net_mqtt_out_connects_total", NULL,
                                   "Connections made to the broker");
  net_mqtt_link_cfg_t link = {
      .st = st,
      .m = s->m,
      .host = s->host,
      .port = s->port,
      .rl = &s->rl,
      .m_disconnects = kk_stage_counter(st, "net_mqtt_out_disconnects_total",
                                        NULL, "Connections lost"),
      .readable = mqtt_out_readable,
      .lost = mqtt_out_end_delivery,
      .written = mqtt_out_written,
      .tick = mqtt_out_tick,
      .arg = s,
  };
  net_mqtt_link_init(&s->link, &link, o);
  return 0;
}

static int mqtt_out_start(kk_stage_t *st, void *state) {
  mqtt_out_state_t *s = state;
  int rc = fw_new(st, s->opts, &mqtt_out_ops, s, &s->fw);
  if (rc) return rc;
  kk_stage_log(st, KK_LOG_INFO, "connecting to %s:%d%s, topic %s, QoS %d%s",
               s->host, s->port, s->tls ? " (TLS)" : "", s->topic_tpl, s->qos,
               s->retain ? ", retained" : "");
  net_mqtt_link_start(&s->link);
  return 0;
}

static int mqtt_out_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  mqtt_out_state_t *s = state;
  (void)st;
  return fw_process(s->fw, b);
}

static void mqtt_out_fw_stopped(void *arg) {
  mqtt_out_state_t *s = arg;
  s->inflight = 0; /* an abandoned delivery */
  net_mqtt_link_stop(&s->link, s->stop_cb);
}

static void mqtt_out_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  mqtt_out_state_t *s = state;
  if (!s->fw) { /* never started */
    cb(st);
    return;
  }
  s->stop_cb = cb;
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
  kk_buf_free(&s->topic);
  kk_buf_free(&s->payload);
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

const kk_module_t forward_mqtt_module = {
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
        "PUBACK came back.  See docs/guide/forwarding.md.",
    .options = mqtt_out_options,
    .create = mqtt_out_create,
    .start = mqtt_out_start,
    .process = mqtt_out_process,
    .stop = mqtt_out_stop,
    .destroy = mqtt_out_destroy,
};
