/*
 * modules/source/coap_observe.c - source.coap_observe: subscribes to
 * resources on devices (RFC 7641) and journals every notification.
 *
 * One libcoap client context for the stage, one UDP session per URI.  A
 * subscription is a GET with Observe=0; every 2.05 answer (the first one
 * and each notification) is appended to the journal before libcoap
 * acknowledges it (the response handler runs before the ACK of a CON
 * notification is sent), as a raw message with the Content-Format and
 * meta {"path":..,"peer":"<host:port>","thing":..}, decoded like source.coap's
 * bodies.
 *
 * Liveness: a deadline timer per subscription.  After each notification it
 * is set to the notification's Max-Age (60 s when absent) plus `margin`,
 * or `max_silence` when that is shorter.  When it fires (the device went
 * quiet, restarted and forgot us, or never answered), the session is
 * dropped and a new registration sent, with exponential backoff from
 * `backoff_min` to `backoff_max` while registrations fail.
 *
 * Backpressure: while the pipeline is paused a notification is refused
 * with RST (it was not journaled, so it must not be acknowledged); RFC 7641
 * makes the device forget the observation, and we register again once the
 * pipeline resumes.
 */
#include <klimakit.h>

#include <coap3/coap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_coap.h"
#include "source/source_payload.h"

typedef struct obs_state obs_state_t;

typedef struct obs_sub {
  obs_state_t *s;
  const char *uri; /* borrowed from the opts */
  coap_address_t dst;
  char hostport[80];
  char path[256];          /* "/a/b" */
  char query[256];         /* "a=1&b=2" or "" */
  coap_session_t *session; /* owned reference */
  uv_timer_t deadline;     /* deadline.data = this */
  uint64_t backoff_ms;
  int registered; /* a 2.05 with Observe arrived since the last send */
  int refused;    /* RST sent while paused: register again on resume */
} obs_sub_t;

struct obs_state {
  kk_stage_t *st;
  net_coap_t loop;
  source_paths_t paths;
  obs_sub_t *subs;
  size_t nsubs;
  size_t open_timers;
  uint64_t margin_ms, max_silence_ms, backoff_min_ms, backoff_max_ms;
  int stopping, ctx_open;
  kk_stop_cb stop_cb;
  kk_ratelimit_t rl;
  kk_metric_t *m_notes, *m_regs, *m_paused, *m_journal, *m_errors;
};

static int obs_decode(kk_stage_t *st, void *state, const kk_raw_t *raw,
                      kk_batch_t *out) {
  return source_payload_decode_stage(st, &((obs_state_t *)state)->paths, raw,
                                     out);
}

/* ---- registration ---------------------------------------------------- */

static void obs_deadline_cb(uv_timer_t *t);

static void obs_arm(obs_sub_t *u, uint64_t ms) {
  if (u->s->stopping) return;
  uv_timer_start(&u->deadline, obs_deadline_cb, ms, 0);
}

static void obs_add_segments(coap_pdu_t *pdu, uint16_t opt, const char *s,
                             int sep) {
  while (*s) {
    const char *e = strchr(s, sep);
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n > 0) coap_add_option(pdu, opt, n, (const uint8_t *)s);
    if (!e) break;
    s = e + 1;
  }
}

/* Drops the old session and sends a new registration; the deadline is the
 * current backoff, which doubles for the next failure. */
static void obs_register(obs_sub_t *u) {
  obs_state_t *s = u->s;
  if (s->stopping) return;
  if (u->session) {
    coap_session_set_app_data(u->session, NULL);
    coap_session_release(u->session);
    u->session = NULL;
  }
  u->registered = 0;
  u->refused = 0;
  uint64_t wait = u->backoff_ms;
  u->backoff_ms = u->backoff_ms * 2 > s->backoff_max_ms ? s->backoff_max_ms
                                                        : u->backoff_ms * 2;
  obs_arm(u, wait);
  u->session =
      coap_new_client_session(s->loop.ctx, NULL, &u->dst, COAP_PROTO_UDP);
  if (!u->session) {
    if (kk_ratelimit_ok(&s->rl))
      kk_stage_log(s->st, KK_LOG_WARN, "%s: cannot open a session", u->uri);
    return;
  }
  coap_session_set_app_data(u->session, u);
  coap_pdu_t *pdu =
      coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, u->session);
  if (!pdu) return;
  uint8_t tok[8], b[4];
  size_t tl;
  coap_session_new_token(u->session, &tl, tok);
  coap_add_token(pdu, tl, tok);
  coap_add_option(pdu, COAP_OPTION_OBSERVE,
                  coap_encode_var_safe(b, sizeof b, COAP_OBSERVE_ESTABLISH), b);
  obs_add_segments(pdu, COAP_OPTION_URI_PATH, u->path, '/');
  obs_add_segments(pdu, COAP_OPTION_URI_QUERY, u->query, '&');
  kk_metric_add(s->m_regs, 1);
  kk_stage_log(s->st, KK_LOG_DEBUG, "registering with %s", u->uri);
  coap_send(u->session, pdu);
  net_coap_kick(&s->loop);
}

static void obs_deadline_cb(uv_timer_t *t) {
  obs_sub_t *u = t->data;
  if (u->registered && kk_ratelimit_ok(&u->s->rl))
    kk_stage_log(u->s->st, KK_LOG_INFO,
                 "%s: no notification in time; registering again", u->uri);
  if (kk_stage_paused(u->s->st)) {
    u->refused = 1; /* resume registers */
    return;
  }
  obs_register(u);
}

static coap_response_t obs_response(coap_session_t *session,
                                    const coap_pdu_t *sent,
                                    const coap_pdu_t *recv,
                                    const coap_mid_t mid) {
  (void)sent;
  (void)mid;
  obs_sub_t *u = coap_session_get_app_data(session);
  if (!u || u->s->stopping) return COAP_RESPONSE_FAIL;
  obs_state_t *s = u->s;
  coap_pdu_code_t code = coap_pdu_get_code(recv);
  if (COAP_RESPONSE_CLASS(code) != 2) {
    kk_metric_add(s->m_errors, 1);
    if (kk_ratelimit_ok(&s->rl))
      kk_stage_log(s->st, KK_LOG_WARN,
                   "%s answered %d.%02d; retrying in %llu ms", u->uri,
                   COAP_RESPONSE_CLASS(code), code & 0x1f,
                   (unsigned long long)u->backoff_ms);
    obs_arm(u, u->backoff_ms);
    return COAP_RESPONSE_OK;
  }
  if (kk_stage_paused(s->st)) {
    kk_metric_add(s->m_paused, 1);
    u->refused = 1;
    uv_timer_stop(&u->deadline);
    return COAP_RESPONSE_FAIL; /* RST: not journaled, not acknowledged */
  }
  coap_opt_iterator_t oi;
  coap_opt_t *o = coap_check_option(recv, COAP_OPTION_CONTENT_FORMAT, &oi);
  unsigned format =
      o ? coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o))
        : COAP_CF_TEXT;
  o = coap_check_option(recv, COAP_OPTION_MAXAGE, &oi);
  uint64_t max_age_ms = 60000;
  if (o)
    max_age_ms =
        1000ull * coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
  int observing = coap_check_option(recv, COAP_OPTION_OBSERVE, &oi) != NULL;
  size_t len = 0, off = 0, total = 0;
  const uint8_t *data = NULL;
  if (!coap_get_data_large(recv, &len, &data, &off, &total)) {
    len = 0;
    data = (const uint8_t *)"";
  }
  char meta[768], thing[COAP_PAYLOAD_NAME_MAX], prop[COAP_PAYLOAD_NAME_MAX];
  source_paths_match(&s->paths, u->path, thing, prop);
  source_payload_meta(meta, sizeof meta, u->path, u->hostport, NULL, thing,
                      prop);
  kk_batch_t *b = kk_batch_new(4);
  int rc = b ? kk_batch_push_raw(b, 0, kk_now_ms(), format, meta, data, len)
             : KK_ENOMEM;
  if (rc == 0) rc = kk_stage_ingest(s->st, b, NULL);
  kk_batch_unref(b);
  if (rc != 0) {
    kk_metric_add(s->m_journal, 1);
    obs_arm(u, s->backoff_min_ms);
    return COAP_RESPONSE_FAIL; /* not journaled: do not acknowledge */
  }
  kk_metric_add(s->m_notes, 1);
  if (!u->registered && observing)
    kk_stage_log(s->st, KK_LOG_INFO, "observing %s", u->uri);
  u->registered = observing;
  u->backoff_ms = s->backoff_min_ms;
  uint64_t next = max_age_ms + s->margin_ms;
  if (s->max_silence_ms && s->max_silence_ms < next) next = s->max_silence_ms;
  /* Without Observe the device only answered the GET: ask again then. */
  obs_arm(u, next);
  return COAP_RESPONSE_OK;
}

static void obs_nack(coap_session_t *session, const coap_pdu_t *sent,
                     const coap_nack_reason_t reason, const coap_mid_t mid) {
  (void)sent;
  (void)mid;
  obs_sub_t *u = coap_session_get_app_data(session);
  if (!u || u->s->stopping) return;
  if (kk_ratelimit_ok(&u->s->rl))
    kk_stage_log(u->s->st, KK_LOG_WARN,
                 "%s: no answer (%s); retrying in "
                 "%llu ms",
                 u->uri, reason == COAP_NACK_RST ? "reset" : "timeout",
                 (unsigned long long)u->backoff_ms);
  obs_arm(u, u->backoff_ms);
}

/* ---- module callbacks ------------------------------------------------ */

static int obs_parse_uri(obs_sub_t *u, char *err, size_t errlen) {
  coap_uri_t uri;
  if (coap_split_uri((const uint8_t *)u->uri, strlen(u->uri), &uri) != 0) {
    snprintf(err, errlen, "uri '%s' is not a coap:// URI", u->uri);
    return KK_EINVAL;
  }
  if (uri.scheme != COAP_URI_SCHEME_COAP) {
    snprintf(err, errlen,
             "uri '%s': only coap:// (UDP) is supported for "
             "observing",
             u->uri);
    return KK_EINVAL;
  }
  char host[64];
  if (uri.host.length == 0 || uri.host.length >= sizeof host ||
      uri.path.length >= sizeof u->path - 1 ||
      uri.query.length >= sizeof u->query) {
    snprintf(err, errlen, "uri '%s': host, path or query too long", u->uri);
    return KK_EINVAL;
  }
  memcpy(host, uri.host.s, uri.host.length);
  host[uri.host.length] = '\0';
  if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
  coap_address_init(&u->dst);
  if (uv_ip4_addr(host, uri.port, &u->dst.addr.sin) == 0) {
    u->dst.size = sizeof u->dst.addr.sin;
    snprintf(u->hostport, sizeof u->hostport, "%s:%u", host, uri.port);
  } else if (uv_ip6_addr(host, uri.port, &u->dst.addr.sin6) == 0) {
    u->dst.size = sizeof u->dst.addr.sin6;
    snprintf(u->hostport, sizeof u->hostport, "[%s]:%u", host, uri.port);
  } else {
    snprintf(err, errlen,
             "uri '%s': the host must be an IP address (name "
             "lookups would block the loop)",
             u->uri);
    return KK_EINVAL;
  }
  snprintf(u->path, sizeof u->path, "/%.*s", (int)uri.path.length,
           (const char *)uri.path.s);
  snprintf(u->query, sizeof u->query, "%.*s", (int)uri.query.length,
           (const char *)uri.query.s);
  return 0;
}

static int obs_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  obs_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = s;
  s->st = st;
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 10);
  s->margin_ms = kk_opt_duration_ms(opts, "margin");
  s->max_silence_ms = kk_opt_duration_ms(opts, "max_silence");
  s->backoff_min_ms = kk_opt_duration_ms(opts, "backoff_min");
  s->backoff_max_ms = kk_opt_duration_ms(opts, "backoff_max");
  if (s->backoff_min_ms == 0) s->backoff_min_ms = 100;
  if (s->backoff_max_ms < s->backoff_min_ms)
    s->backoff_max_ms = s->backoff_min_ms;
  char why[200];
  size_t np = kk_opt_list_len(opts, "paths");
  const char *pats[64];
  if (np == 0 || np > 64) {
    kk_stage_error(st, "paths: give 1 to 64 path patterns");
    return KK_EINVAL;
  }
  for (size_t i = 0; i < np; i++)
    pats[i] = kk_opt_list_item(opts, "paths", i);
  int rc = source_paths_init(&s->paths, pats, np, why, sizeof why);
  if (rc) {
    kk_stage_error(st, "paths: %s", why);
    return rc;
  }
  s->paths.senml_names = kk_opt_enum(opts, "senml_names");
  s->nsubs = kk_opt_list_len(opts, "uris");
  if (s->nsubs == 0) {
    kk_stage_error(st, "uris: give at least one coap:// URI to observe");
    return KK_EMISSING;
  }
  s->subs = calloc(s->nsubs, sizeof *s->subs);
  if (!s->subs) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  for (size_t i = 0; i < s->nsubs; i++) {
    obs_sub_t *u = &s->subs[i];
    u->s = s;
    u->uri = kk_opt_list_item(opts, "uris", i);
    u->backoff_ms = s->backoff_min_ms;
    if ((rc = obs_parse_uri(u, why, sizeof why)) != 0) {
      kk_stage_error(st, "%s", why);
      return rc;
    }
  }
  s->m_notes = kk_stage_counter(st, "kk_coap_notifications_total", NULL,
                                "Observe notifications journaled.");
  s->m_regs = kk_stage_counter(st, "kk_coap_registrations_total", NULL,
                               "Observe registrations sent.");
  s->m_paused = kk_stage_counter(st, "kk_rejected_total", "busy",
                                 "Input records rejected, by reason.");
  s->m_journal = kk_stage_counter(st, "kk_rejected_total", "journal",
                                  "Input records rejected, by reason.");
  s->m_errors = kk_stage_counter(st, "kk_coap_error_responses_total", NULL,
                                 "Registrations a device answered with an "
                                 "error code.");
  return 0;
}

static void obs_closed_one(obs_state_t *s) {
  if (s->open_timers || s->ctx_open) return;
  if (s->stop_cb) {
    kk_stop_cb cb = s->stop_cb;
    s->stop_cb = NULL;
    cb(s->st);
  }
}

static void obs_timer_closed(uv_handle_t *h) {
  obs_sub_t *u = h->data;
  u->s->open_timers--;
  obs_closed_one(u->s);
}

static void obs_ctx_closed(void *arg) {
  obs_state_t *s = arg;
  s->ctx_open = 0;
  obs_closed_one(s);
}

static void obs_close_all(obs_state_t *s) {
  s->stopping = 1;
  for (size_t i = 0; i < s->nsubs; i++) {
    obs_sub_t *u = &s->subs[i];
    if (u->session) {
      coap_session_set_app_data(u->session, NULL);
      coap_session_release(u->session);
      u->session = NULL;
    }
    /* deadline.data is set once the timer is initialised. */
    if (u->deadline.data == u && !uv_is_closing((uv_handle_t *)&u->deadline)) {
      uv_timer_stop(&u->deadline);
      uv_close((uv_handle_t *)&u->deadline, obs_timer_closed);
    }
  }
  if (s->ctx_open || s->loop.ctx) {
    s->ctx_open = 1;
    net_coap_close(&s->loop, obs_ctx_closed, s);
  }
}

static int obs_start(kk_stage_t *st, void *state) {
  obs_state_t *s = state;
  net_coap_global_init();
  coap_context_t *ctx = coap_new_context(NULL);
  if (!ctx) {
    kk_stage_error(st, "cannot create a CoAP context");
    return KK_ENOMEM;
  }
  coap_set_app_data(ctx, s);
  coap_context_set_block_mode(ctx,
                              COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(ctx, obs_response);
  coap_register_nack_handler(ctx, obs_nack);
  s->loop.ctx = ctx;
  int rc = net_coap_start(&s->loop, kk_stage_loop(st), ctx);
  for (size_t i = 0; rc == 0 && i < s->nsubs; i++) {
    obs_sub_t *u = &s->subs[i];
    uv_timer_init(kk_stage_loop(st), &u->deadline);
    u->deadline.data = u;
    s->open_timers++;
  }
  if (rc != 0) {
    kk_stage_error(st, "cannot watch the CoAP descriptor: %s", uv_strerror(rc));
    s->ctx_open = 1;
    obs_close_all(s); /* destroy runs after the close callbacks */
    return rc;
  }
  for (size_t i = 0; i < s->nsubs; i++)
    obs_register(&s->subs[i]);
  kk_stage_log(st, KK_LOG_INFO, "observing %zu resource%s", s->nsubs,
               s->nsubs == 1 ? "" : "s");
  return 0;
}

static void obs_resume(kk_stage_t *st, void *state) {
  (void)st;
  obs_state_t *s = state;
  for (size_t i = 0; i < s->nsubs; i++)
    if (s->subs[i].refused) obs_register(&s->subs[i]);
}

static void obs_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  obs_state_t *s = state;
  s->stop_cb = cb;
  if (!s->loop.ctx && !s->open_timers) {
    s->stop_cb = NULL;
    cb(st);
    return;
  }
  obs_close_all(s);
}

static void obs_destroy(void *state) {
  obs_state_t *s = state;
  if (!s) return;
  source_paths_free(&s->paths);
  free(s->subs);
  free(s);
}

static const kk_option_t obs_options[] = {
    {.name = "uris",
     .type = KK_OPT_LIST,
     .flags = KK_OPT_REQUIRED,
     .description = "Resources to observe, coap://<ip>:<port>/<path> (an "
                    "IP address or localhost: name lookups would block)."},
    {.name = "paths",
     .type = KK_OPT_LIST,
     .def = "/r/{thing},/{thing}/{property},/{thing}",
     .description = "Path patterns that name the thing (and property) "
                    "from a URI's path, as in source.coap; the first match "
                    "wins."},
    SOURCE_PAYLOAD_SENML_OPTION,
    {.name = "margin",
     .type = KK_OPT_DURATION,
     .def = "5s",
     .description = "Added to a notification's Max-Age (60 s when absent) "
                    "before a silent resource is registered again."},
    {.name = "max_silence",
     .type = KK_OPT_DURATION,
     .def = "0s",
     .description = "If not 0: register again after this much silence "
                    "even when Max-Age + margin is longer."},
    {.name = "backoff_min",
     .type = KK_OPT_DURATION,
     .def = "1s",
     .description = "First wait before a failed registration is retried; "
                    "it doubles on each failure."},
    {.name = "backoff_max",
     .type = KK_OPT_DURATION,
     .def = "60s",
     .description = "Longest wait between registration attempts."},
    {NULL}};

const kk_module_t source_coap_observe_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "coap_observe",
    .ns = "source",
    .kind = KK_KIND_SOURCE,
    .summary = "Observes CoAP resources on devices (RFC 7641), journaled.",
    .description =
        "Registers with each resource in `uris` (GET with Observe) and "
        "appends every notification to the journal before acknowledging "
        "it; the body is decoded by its Content-Format like source.coap's "
        "(SenML JSON/CBOR, JSON, CBOR, text/plain).  A resource that stays "
        "silent for Max-Age + `margin` (or `max_silence`), or that fails, "
        "is registered again with exponential backoff.  While the pipeline "
        "is paused, notifications are refused with RST and the resources "
        "registered again on resume.  See docs/guide/coap.md.",
    .options = obs_options,
    .create = obs_create,
    .start = obs_start,
    .decode = obs_decode,
    .resume = obs_resume,
    .stop = obs_stop,
    .destroy = obs_destroy,
};
