/*
 * modules/source/mqtt.c - source.mqtt: an MQTT subscriber, journaled.
 *
 * libmosquitto runs on our libuv loop through modules/net/net_mqtt_link.h
 * (its external-loop API, the blocking connect on a worker thread,
 * reconnects with backoff); reading the socket is done here.
 *
 * Acknowledgement after the journal append.  libmosquitto 2.0.11 (Debian
 * 12) queues the PUBACK of a QoS 1 message *before* it calls on_message,
 * and in its default mode writes that queue at once - so an append inside
 * on_message would come after the PUBACK went out (measured: a subscriber
 * that dies inside on_message never gets the message again).  With
 * mosquitto_threaded_set(true) the library only queues packets and our
 * own mosquitto_loop_write() sends them.  So: on_message adds the message
 * to a batch, and when mosquitto_loop_read() has drained the socket, the
 * batch is appended (one write() for the whole read), then the queued
 * PUBACKs are written, and only then does the pipeline run on the batch.  If
 * the append fails, the socket is shut down before anything is written: the
 * broker never sees the PUBACKs and redelivers the messages after our reconnect
 * (libmosquitto drops queued packets when it reconnects).
 *
 * Every message becomes one raw message with meta as a JSON object of its
 * topic and the named parts of `pattern` (see kk_raw_meta_get() in
 * klimakit/reading.h); decoding happens downstream (decode.senml,
 * decode.ttn_v3...).
 */
#include <klimakit.h>

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/net_mqtt.h"
#include "net/net_mqtt_link.h"

#define MQTT_MAX_PARTS 16
#define MQTT_META_MAX 2048
#define MQTT_READS_PER_WAKE 1024
#define MQTT_BATCH 256 /* messages journaled and handed on together */

typedef struct mqtt_state {
  kk_stage_t *st;
  struct mosquitto *m;
  /* options */
  char host[256];
  int port, tls, v5, qos, clean;
  uint32_t format;
  uint64_t session_expiry_s, max_payload;
  const char *client_id, *pattern, *thing_part;
  char **topics;
  size_t ntopics;
  net_mqtt_link_t link;
  mosquitto_property *props; /* CONNECT properties (v5) */
  /* read cycle */
  kk_batch_t *pending;
  int pending_fail;
  kk_ratelimit_t rl;
  kk_metric_t *m_msgs, *m_journal, *m_too_big, *m_nomem, *m_connects,
      *m_refused;
} mqtt_state_t;

/* ---- messages -------------------------------------------------------- */

/* Matches `topic` against the pattern; named parts ({name}) go to meta. */
static int mqtt_meta(mqtt_state_t *s, const char *topic, char *buf,
                     size_t cap) {
  size_t len = 0;
  buf[len++] = '{';
  buf[len] = '\0';
  int rc = 0;
  rc |= kk_json_str(buf, &len, cap, "topic", 5);
  if (len + 1 < cap) buf[len++] = ':';
  rc |= kk_json_str(buf, &len, cap, topic, strlen(topic));
  if (s->pattern && *s->pattern) {
    const char *p = s->pattern, *t = topic;
    for (;;) {
      const char *pe = strchr(p, '/'), *te = strchr(t, '/');
      size_t pl = pe ? (size_t)(pe - p) : strlen(p);
      size_t tl = te ? (size_t)(te - t) : strlen(t);
      if (pl == 1 && p[0] == '#') break;
      if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
        const char *name = p + 1;
        size_t nl = pl - 2;
        int is_thing =
            strlen(s->thing_part) == nl && !memcmp(name, s->thing_part, nl);
        for (int k = 0; k < 1 + is_thing; k++) {
          if (len + 1 < cap) buf[len++] = ',';
          rc |= k ? kk_json_str(buf, &len, cap, "thing", 5)
                  : kk_json_str(buf, &len, cap, name, nl);
          if (len + 1 < cap) buf[len++] = ':';
          rc |= kk_json_str(buf, &len, cap, t, tl);
        }
      } else if (!(pl == 1 && p[0] == '+') && (pl != tl || memcmp(p, t, pl))) {
        break; /* no match: only the topic */
      }
      if (!pe || !te) break;
      p = pe + 1;
      t = te + 1;
    }
  }
  if (len + 2 > cap) return -1;
  buf[len++] = '}';
  buf[len] = '\0';
  return rc ? -1 : 0;
}

static void mqtt_on_message(struct mosquitto *m, void *obj,
                            const struct mosquitto_message *msg,
                            const mosquitto_property *props) {
  (void)m;
  (void)props;
  mqtt_state_t *s = obj;
  kk_metric_add(s->m_msgs, 1);
  if ((uint64_t)msg->payloadlen > s->max_payload) {
    /* Not journaled: it could not be decoded anyway.  Counted, logged. */
    kk_metric_add(s->m_too_big, 1);
    if (kk_ratelimit_ok(&s->rl))
      kk_stage_log(s->st, KK_LOG_WARN,
                   "dropped a message of %d bytes on '%s' (max_payload %llu)",
                   msg->payloadlen, msg->topic,
                   (unsigned long long)s->max_payload);
    return;
  }
  char meta[MQTT_META_MAX];
  if (mqtt_meta(s, msg->topic, meta, sizeof meta) != 0) {
    size_t len = 0;
    meta[0] = '{', len = 1;
    kk_json_str(meta, &len, sizeof meta - 2, "topic", 5);
    meta[len++] = ':';
    meta[len] = '\0';
    if (kk_json_str(meta, &len, sizeof meta - 2, msg->topic,
                    strlen(msg->topic)))
      len = 1;
    meta[len++] = '}';
    meta[len] = '\0';
  }
  if (!s->pending) s->pending = kk_batch_new(64);
  if (!s->pending ||
      kk_batch_push_raw(s->pending, 0, kk_now_ms(), s->format, meta,
                        msg->payload, (size_t)msg->payloadlen) != 0) {
    kk_metric_add(s->m_nomem, 1);
    s->pending_fail = 1;
  }
}

/* Appends what the last reads collected.  Returns 0 when the queued
 * PUBACKs may go out. */
static int mqtt_flush(mqtt_state_t *s) {
  kk_batch_t *b = s->pending;
  int fail = s->pending_fail;
  s->pending = NULL;
  s->pending_fail = 0;
  int rc = fail ? KK_ENOMEM : 0;
  if (b && kk_batch_raw_len(b) > 0 && rc == 0) {
    rc = kk_stage_journal(s->st, b);
    if (rc == 0) {
      /* Durable: the PUBACKs go out now, so that the broker refills its
       * in-flight window (20 messages by default) while the pipeline
       * works on these, instead of after it. */
      net_mqtt_link_flush(&s->link, s->qos ? kk_batch_raw_len(b) : 0);
      /* The engine runs the pipeline on it between reads: a broker does
       * not wait for a slow client, it drops what its queue cannot hold. */
      kk_stage_deliver_later(s->st, b);
    } else {
      kk_metric_add(s->m_journal, (int64_t)kk_batch_raw_len(b));
      if (kk_ratelimit_ok(&s->rl))
        kk_stage_log(s->st, KK_LOG_ERROR,
                     "journal append failed (%s): not acknowledging %zu "
                     "messages, reconnecting so that the broker sends them "
                     "again",
                     kk_strerror(rc), kk_batch_raw_len(b));
    }
  }
  kk_batch_unref(b);
  return rc;
}

/* ---- socket ---------------------------------------------------------- */

/* The link writes the queued PUBACKs after this returns. */
static void mqtt_read(void *arg) {
  mqtt_state_t *s = arg;
  int rc = MOSQ_ERR_SUCCESS;
  /* One packet per call; the socket is drained when a call brings no
   * message.  Not errno: at QoS 1 libmosquitto queues each PUBACK with a
   * write to its wake-up pipe that fails with EAGAIN, which ended every
   * read after one message (batches of one, a journal write, a pipeline
   * pass and a sink write per message). */
  int frc = 0;
  for (int i = 0; i < MQTT_READS_PER_WAKE && s->link.poll; i++) {
    size_t before = s->pending ? kk_batch_raw_len(s->pending) : 0;
    int64_t fails = s->pending_fail;
    rc = mosquitto_loop_read(s->m, 1);
    if (rc != MOSQ_ERR_SUCCESS) break;
    size_t after = s->pending ? kk_batch_raw_len(s->pending) : 0;
    if (after == before && s->pending_fail == fails) break;
    if (s->link.paused) break;
    /* Batches of MQTT_BATCH: the engine delivers them in slices between
     * reads, and a smaller batch is a finer slice. */
    if (after >= MQTT_BATCH && (frc = mqtt_flush(s)) != 0) break;
  }
  if (frc == 0) frc = mqtt_flush(s);
  if (frc != 0 && s->link.poll) {
    /* Nothing queued may be written now: cut the connection. */
    shutdown(mosquitto_socket(s->m), SHUT_RDWR);
    net_mqtt_link_lost(&s->link, "journal append failed");
    return;
  }
  if (rc != MOSQ_ERR_SUCCESS && s->link.poll)
    net_mqtt_link_lost(&s->link, mosquitto_strerror(rc));
}

/* ---- connecting ------------------------------------------------------ */

static void mqtt_on_connect(struct mosquitto *m, void *obj, int rc, int flags,
                            const mosquitto_property *props) {
  (void)props;
  mqtt_state_t *s = obj;
  if (rc != 0) {
    kk_metric_add(s->m_refused, 1);
    kk_stage_log(s->st, KK_LOG_ERROR, "broker %s:%d refused the connection: %s",
                 s->host, s->port,
                 s->v5 ? mosquitto_reason_string(rc)
                       : mosquitto_connack_string(rc));
    return; /* the broker closes; the link retries with backoff */
  }
  net_mqtt_link_connected(&s->link);
  kk_metric_add(s->m_connects, 1);
  kk_stage_log(s->st, KK_LOG_INFO, "connected to %s:%d (MQTT %s, session %s)",
               s->host, s->port, s->v5 ? "5" : "3.1.1",
               (flags & 1) ? "resumed" : "new");
  int src = mosquitto_subscribe_multiple(m, NULL, (int)s->ntopics, s->topics,
                                         s->qos, 0, NULL);
  if (src != MOSQ_ERR_SUCCESS)
    kk_stage_log(s->st, KK_LOG_ERROR, "subscribe: %s", mosquitto_strerror(src));
}

static void mqtt_on_subscribe(struct mosquitto *m, void *obj, int mid,
                              int count, const int *granted,
                              const mosquitto_property *props) {
  (void)m;
  (void)mid;
  (void)props;
  mqtt_state_t *s = obj;
  for (int i = 0; i < count && (size_t)i < s->ntopics; i++) {
    if (granted[i] >= 0x80)
      kk_stage_log(s->st, KK_LOG_ERROR, "the broker refused subscription '%s'",
                   s->topics[i]);
    else
      kk_stage_log(s->st, KK_LOG_DEBUG, "subscribed to '%s' (QoS %d)",
                   s->topics[i], granted[i]);
  }
}

static void mqtt_on_disconnect(struct mosquitto *m, void *obj, int rc,
                               const mosquitto_property *props) {
  (void)m;
  (void)props;
  mqtt_state_t *s = obj;
  /* The library has just closed the socket; nothing ran in between. */
  net_mqtt_link_lost(&s->link, rc == 0 ? "closed" : mosquitto_strerror(rc));
}

/* ---- options --------------------------------------------------------- */

/* Reads the first line of a file (a password); NULL on failure. */
static char *mqtt_read_secret(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char buf[1024];
  char *r = fgets(buf, sizeof buf, f);
  fclose(f);
  if (!r) return NULL;
  buf[strcspn(buf, "\r\n")] = '\0';
  return strdup(buf);
}

/* Reads the connection, topic and payload options into s.  Returns 0, or
 * a negative code with the message set on st. */
static int mqtt_read_options(mqtt_state_t *s, kk_stage_t *st,
                             const kk_opts_t *o) {
  const char *url = kk_opt_str(o, "url");
  if (net_mqtt_parse_url(url, s->host, sizeof s->host, &s->port, &s->tls) !=
      0) {
    kk_stage_error(
        st, "url '%s' is not mqtt://host[:port] or mqtts://host[:port]", url);
    return KK_EINVAL;
  }
  s->ntopics = kk_opt_list_len(o, "topic");
  if (s->ntopics == 0) {
    kk_stage_error(st, "give at least one topic filter");
    return KK_EMISSING;
  }
  s->topics = calloc(s->ntopics, sizeof *s->topics);
  if (!s->topics) return KK_ENOMEM;
  for (size_t i = 0; i < s->ntopics; i++) {
    const char *t = kk_opt_list_item(o, "topic", i);
    if (mosquitto_sub_topic_check(t) != MOSQ_ERR_SUCCESS) {
      kk_stage_error(st, "topic filter '%s' is not valid", t);
      return KK_EINVAL;
    }
    s->topics[i] = (char *)t;
  }
  s->qos = (int)kk_opt_int(o, "qos");
  s->v5 = kk_opt_enum(o, "protocol") == 0;
  s->client_id =
      kk_opt_isset(o, "client_id") ? kk_opt_str(o, "client_id") : NULL;
  s->clean = kk_opt_bool(o, "clean_start");
  if (!s->client_id && !s->clean) {
    kk_stage_error(st, "a persistent session (clean_start = false) needs a "
                       "client_id; set one, or clean_start = true");
    return KK_EINVAL;
  }
  s->session_expiry_s = kk_opt_duration_ms(o, "session_expiry") / 1000;
  s->max_payload = kk_opt_size(o, "max_payload");
  s->pattern = kk_opt_isset(o, "pattern") ? kk_opt_str(o, "pattern") : NULL;
  s->thing_part = kk_opt_str(o, "thing_part");
  static const uint32_t formats[] = {50, 110, 112, 60, 0, 42};
  s->format = formats[kk_opt_enum(o, "format")];
  return 0;
}

/* Sets the username and password on s->m; never literal passwords in a
 * recipe: the password comes from the environment or a file.  Returns 0,
 * or a negative code with the message set on st. */
static int mqtt_set_credentials(mqtt_state_t *s, kk_stage_t *st,
                                const kk_opts_t *o) {
  const char *user = NULL;
  if (kk_opt_isset(o, "username")) user = kk_opt_str(o, "username");
  if (kk_opt_isset(o, "username_env")) {
    user = getenv(kk_opt_str(o, "username_env"));
    if (!user) {
      kk_stage_error(st, "environment variable %s (username_env) is not set",
                     kk_opt_str(o, "username_env"));
      return KK_EMISSING;
    }
  }
  char *pass = NULL;
  if (kk_opt_isset(o, "password_env")) {
    const char *p = getenv(kk_opt_str(o, "password_env"));
    if (!p) {
      kk_stage_error(st, "environment variable %s (password_env) is not set",
                     kk_opt_str(o, "password_env"));
      return KK_EMISSING;
    }
    pass = strdup(p);
  } else if (kk_opt_isset(o, "password_file")) {
    pass = mqtt_read_secret(kk_opt_str(o, "password_file"));
    if (!pass) {
      kk_stage_error(st, "cannot read password_file %s",
                     kk_opt_str(o, "password_file"));
      return KK_EIO;
    }
  }
  if (pass && !user) {
    free(pass);
    kk_stage_error(st,
                   "a password needs a username (username or username_env)");
    return KK_EINVAL;
  }
  if (user) {
    int rc = mosquitto_username_pw_set(s->m, user, pass);
    free(pass);
    if (rc != MOSQ_ERR_SUCCESS) {
      kk_stage_error(st, "credentials: %s", mosquitto_strerror(rc));
      return KK_EINVAL;
    }
  }
  return 0;
}

/* Sets up TLS on s->m for an mqtts:// url (the system's CA certificates
 * unless cafile is given, a client certificate when certfile and keyfile
 * are), and refuses the TLS options without one.  Returns 0, or a
 * negative code with the message set on st. */
static int mqtt_set_tls(mqtt_state_t *s, kk_stage_t *st, const kk_opts_t *o) {
  if (s->tls) {
    const char *ca = kk_opt_isset(o, "cafile") ? kk_opt_str(o, "cafile") : NULL;
    const char *cert =
        kk_opt_isset(o, "certfile") ? kk_opt_str(o, "certfile") : NULL;
    const char *key =
        kk_opt_isset(o, "keyfile") ? kk_opt_str(o, "keyfile") : NULL;
    if (!!cert != !!key) {
      kk_stage_error(st, "certfile and keyfile go together");
      return KK_EINVAL;
    }
    if (!ca) mosquitto_int_option(s->m, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
    int rc = ca || cert ? mosquitto_tls_set(s->m, ca, NULL, cert, key, NULL)
                        : MOSQ_ERR_SUCCESS;
    if (rc != MOSQ_ERR_SUCCESS) {
      kk_stage_error(st, "TLS setup: %s (check cafile/certfile/keyfile)",
                     mosquitto_strerror(rc));
      return KK_EINVAL;
    }
  } else if (kk_opt_isset(o, "cafile") || kk_opt_isset(o, "certfile")) {
    kk_stage_error(st, "cafile/certfile need an mqtts:// url");
    return KK_EINVAL;
  }
  return 0;
}

static int mqtt_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  mqtt_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = s;
  s->st = st;
  kk_ratelimit_t rl = KK_RATELIMIT_INIT(10000, 10);
  s->rl = rl;
  int rc = mqtt_read_options(s, st, o);
  if (rc) return rc;

  mosquitto_lib_init(); /* reference counted by libmosquitto, idempotent */
  s->m = mosquitto_new(s->client_id, s->clean, s);
  if (!s->m) {
    kk_stage_error(st, "mosquitto_new: %s", strerror(errno));
    return KK_ENOMEM;
  }
  mosquitto_threaded_set(s->m, true); /* see the header comment */
  mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION,
                       s->v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
  mosquitto_int_option(s->m, MOSQ_OPT_TCP_NODELAY, 1);
  if (s->v5) {
    mosquitto_int_option(s->m, MOSQ_OPT_RECEIVE_MAXIMUM,
                         (int)kk_opt_int(o, "receive_maximum"));
    if (!s->clean && s->session_expiry_s > 0)
      mosquitto_property_add_int32(&s->props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                   (uint32_t)(s->session_expiry_s > 0xfffffffeu
                                                  ? 0xfffffffeu
                                                  : s->session_expiry_s));
  }
  if ((rc = mqtt_set_credentials(s, st, o)) != 0 ||
      (rc = mqtt_set_tls(s, st, o)) != 0)
    return rc;
  mosquitto_connect_v5_callback_set(s->m, mqtt_on_connect);
  mosquitto_disconnect_v5_callback_set(s->m, mqtt_on_disconnect);
  mosquitto_message_v5_callback_set(s->m, mqtt_on_message);
  mosquitto_subscribe_v5_callback_set(s->m, mqtt_on_subscribe);

  s->m_msgs = kk_stage_counter(st, "net_mqtt_messages_total", NULL,
                               "MQTT messages received.");
  const char *help = "Input records rejected, by reason.";
  s->m_journal = kk_stage_counter(st, "kk_rejected_total", "journal", help);
  s->m_too_big = kk_stage_counter(st, "kk_rejected_total", "too_big", help);
  s->m_nomem = kk_stage_counter(st, "kk_rejected_total", "nomem", help);
  s->m_connects = kk_stage_counter(st, "net_mqtt_connects_total", NULL,
                                   "MQTT connections established.");
  kk_metric_t *disconnects = kk_stage_counter(st, "net_mqtt_disconnects_total",
                                              NULL, "MQTT connections lost.");
  s->m_refused = kk_stage_counter(st, "net_mqtt_refused_total", NULL,
                                  "MQTT connections refused by the broker.");
  net_mqtt_link_cfg_t link = {
      .st = st,
      .m = s->m,
      .host = s->host,
      .port = s->port,
      .props = s->v5 ? s->props : NULL,
      .rl = &s->rl,
      .m_disconnects = disconnects,
      .threaded = 1, /* see the header comment */
      .readable = mqtt_read,
      .arg = s,
  };
  net_mqtt_link_init(&s->link, &link, o);
  return 0;
}

/* ---- module callbacks ------------------------------------------------ */

static int mqtt_start(kk_stage_t *st, void *state) {
  mqtt_state_t *s = state;
  net_mqtt_link_pause(&s->link, kk_stage_paused(st));
  kk_stage_log(st, KK_LOG_INFO,
               "connecting to %s:%d%s, %zu topic filter(s), QoS %d", s->host,
               s->port, s->tls ? " (TLS)" : "", s->ntopics, s->qos);
  net_mqtt_link_start(&s->link);
  return 0;
}

static void mqtt_pause(kk_stage_t *st, void *state) {
  (void)st;
  mqtt_state_t *s = state;
  net_mqtt_link_pause(&s->link, 1);
}

static void mqtt_resume(kk_stage_t *st, void *state) {
  (void)st;
  mqtt_state_t *s = state;
  net_mqtt_link_pause(&s->link, 0);
}

static void mqtt_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  mqtt_state_t *s = state;
  net_mqtt_link_stop(&s->link, cb);
}

static void mqtt_destroy(void *state) {
  mqtt_state_t *s = state;
  if (!s) return;
  if (s->m) {
    mosquitto_destroy(s->m);
    mosquitto_lib_cleanup(); /* pairs the init in create */
  }
  mosquitto_property_free_all(&s->props);
  kk_batch_unref(s->pending);
  free(s->topics);
  free(s);
}

static const kk_option_t mqtt_options[] = {
    {.name = "url",
     .type = KK_OPT_STRING,
     .def = "mqtt://127.0.0.1:1883",
     .description = "Broker: mqtt://host[:port] (default port 1883) or "
                    "mqtts://host[:port] (TLS, default port 8883)."},
    {.name = "topic",
     .type = KK_OPT_LIST,
     .flags = KK_OPT_REQUIRED,
     .description = "Topic filters to subscribe to, with + and # wildcards; "
                    "$share/<group>/<filter> spreads messages over the "
                    "nodes of a group (MQTT 5 shared subscription)."},
    {.name = "qos",
     .type = KK_OPT_INT,
     .def = "1",
     .min = 0,
     .max = 1,
     .description = "Subscription QoS: 1 (acknowledged after the journal "
                    "append, redelivered otherwise) or 0 (at most once)."},
    {.name = "protocol",
     .type = KK_OPT_ENUM,
     .def = "5",
     .choices = "5|3.1.1",
     .description = "MQTT protocol version."},
    {.name = "client_id",
     .type = KK_OPT_STRING,
     .description = "Client identifier; needed for a persistent session. "
                    "Give each node its own."},
    {.name = "clean_start",
     .type = KK_OPT_BOOL,
     .def = "true",
     .description = "Start a new session on every connect.  false (with a "
                    "client_id) keeps the session, so the broker queues "
                    "QoS 1 messages while this node is away."},
    {.name = "session_expiry",
     .type = KK_OPT_DURATION,
     .def = "1d",
     .description = "MQTT 5: how long the broker keeps a persistent "
                    "session after a disconnect."},
    {.name = "keepalive",
     .type = KK_OPT_DURATION,
     .def = "30s",
     .description = "Keepalive interval (at least 5 s)."},
    {.name = "receive_maximum",
     .type = KK_OPT_INT,
     .def = "1000",
     .min = 1,
     .max = 65535,
     .description = "MQTT 5: QoS 1 messages the broker may have in flight "
                    "to us (mosquitto's own limit, max_inflight_messages, "
                    "applies to 3.1.1)."},
    {.name = "username",
     .type = KK_OPT_STRING,
     .description = "User name (not secret)."},
    {.name = "username_env",
     .type = KK_OPT_STRING,
     .description = "Name of an environment variable holding the user name."},
    {.name = "password_env",
     .type = KK_OPT_STRING,
     .description = "Name of an environment variable holding the password "
                    "(passwords never go into a recipe)."},
    {.name = "password_file",
     .type = KK_OPT_STRING,
     .description = "File whose first line is the password."},
    {.name = "cafile",
     .type = KK_OPT_STRING,
     .description = "mqtts: CA certificate file (PEM) to verify the broker; "
                    "without it the system's CA store is used."},
    {.name = "certfile",
     .type = KK_OPT_STRING,
     .description = "mqtts: client certificate (PEM), with keyfile."},
    {.name = "keyfile",
     .type = KK_OPT_STRING,
     .description = "mqtts: client private key (PEM), with certfile."},
    {.name = "pattern",
     .type = KK_OPT_STRING,
     .description = "Topic pattern naming parts, e.g. "
                    "v3/{app}/devices/{device}/up: the named parts go into "
                    "the raw message's metadata for the decoders."},
    {.name = "thing_part",
     .type = KK_OPT_STRING,
     .def = "device",
     .description = "Which named part of `pattern` is the thing id."},
    {.name = "format",
     .type = KK_OPT_ENUM,
     .def = "json",
     .choices = "json|senml-json|senml-cbor|cbor|text|octets",
     .description = "Content format stamped on the raw messages (CoAP "
                    "numbers 50, 110, 112, 60, 0, 42); decode.senml uses "
                    "it to pick JSON or CBOR."},
    {.name = "max_payload",
     .type = KK_OPT_SIZE,
     .def = "256KiB",
     .description = "Larger messages are dropped and counted "
                    "(kk_rejected_total{reason=\"too_big\"})."},
    {.name = "backoff_min",
     .type = KK_OPT_DURATION,
     .def = "100ms",
     .description = "First reconnect delay; doubles per failed attempt, "
                    "with random jitter of up to half the delay."},
    {.name = "backoff_max",
     .type = KK_OPT_DURATION,
     .def = "30s",
     .description = "Longest reconnect delay."},
    {NULL}};

const kk_module_t source_mqtt_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "mqtt",
    .ns = "source",
    .kind = KK_KIND_SOURCE,
    .summary = "Subscribes to an MQTT broker; messages are journaled before "
               "they are acknowledged.",
    .description =
        "An MQTT 5 / 3.1.1 subscriber (libmosquitto on the klimakit loop). "
        "Every message is appended to the journal as a raw message (meta: "
        "the topic and the named parts of `pattern`, as JSON) before its "
        "PUBACK is sent; if the append fails the connection is cut without "
        "acknowledging, and the broker delivers again.  Connects in the "
        "background and reconnects with exponential backoff and jitter. "
        "The messages are raw: put a decoder after it (`kk.decode.senml`, "
        "`kk.decode.ttn_v3`, `kk.decode.chirpstack_v4`, `kk.decode.json`, "
        "`kk.decode.lua`).  The pipeline runs on what was read between "
        "reads (a broker drops what a slow client leaves in its queue): "
        "in a burst faster than the pipeline the backlog waits in the "
        "journal and is delivered from there, in order "
        "(`kk_deliver_later_records`).  Full sinks do not stop the reading; "
        "a full disk does (TCP flow control then holds the broker back).",
    .options = mqtt_options,
    .create = mqtt_create,
    .start = mqtt_start,
    .pause = mqtt_pause,
    .resume = mqtt_resume,
    .stop = mqtt_stop,
    .destroy = mqtt_destroy,
};
