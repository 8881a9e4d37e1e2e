/*
 * modules/forward/webhook.c - forward.webhook: readings POSTed as signed
 * JSON to a URL.
 *
 * Body: {"id":"<delivery id>","stage":"..","readings":[{"thing":..,
 * "property":..,"unit":..,"time":"2026-11-21T10:00:00.000Z","value":..}]}
 * (an event reading of calc.alert also has "event":{...}, its document)
 * with header X-Klimakit-Signature: sha256=<hex HMAC-SHA256 of the body>
 * keyed with a secret from an environment variable or a file.  Delivery
 * goes through the store-and-forward spool (modules/forward/forward.h) and
 * libcurl on the loop (forward_http.h): retried with backoff on 5xx and
 * connection errors, refused items (4xx) in dead-letter/.
 */
#include <klimakit.h>

#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/forward_http.h"

typedef struct webhook_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  const char *url;
  char *secret; /* owned */
  fwh_t *h;
  kk_buf_t body;
} webhook_state_t;

static int webhook_sign(const char *key, const char *msg, size_t len,
                        char hex[65]) {
  unsigned char mac[32];
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  if (!md || mbedtls_md_hmac(md, (const unsigned char *)key, strlen(key),
                             (const unsigned char *)msg, len, mac) != 0)
    return KK_EIO;
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  return 0;
}

static int webhook_send(void *ctx, const fw_item_t *items, size_t n) {
  webhook_state_t *s = ctx;
  kk_buf_t *b = &s->body;
  char t[32], hex[65], id[96];
  b->len = 0;
  fw_delivery_id(fwh_fw(s->h), id, sizeof id);
  kk_buf_printf(b, "{\"id\":\"%s\",\"stage\":\"", id);
  kk_buf_json(b, kk_stage_name(s->st));
  kk_buf_puts(b, "\",\"readings\":[");
  for (size_t i = 0; i < n; i++) {
    const fw_item_t *it = &items[i];
    fwh_time(it->time_ms, t);
    kk_buf_puts(b, i ? ",{\"thing\":\"" : "{\"thing\":\"");
    kk_buf_json(b, it->thing);
    kk_buf_puts(b, "\",\"property\":\"");
    kk_buf_json(b, it->property);
    kk_buf_puts(b, "\",\"unit\":\"");
    kk_buf_json(b, it->unit);
    kk_buf_printf(b, "\",\"time\":\"%s\",\"value\":", t);
    fwh_number(b, it);
    if (it->event) { /* calc.alert's event document (forward.h) */
      kk_buf_puts(b, ",\"event\":");
      kk_buf_puts(b, it->event);
    }
    kk_buf_puts(b, "}");
  }
  kk_buf_puts(b, "]}");
  if (b->oom) {
    b->oom = 0;
    return KK_ENOMEM;
  }
  if (webhook_sign(s->secret, b->p, b->len, hex) != 0) return KK_EIO;
  char hdr[128];
  snprintf(hdr, sizeof hdr, "X-Klimakit-Signature: sha256=%s", hex);
  struct curl_slist *extra = curl_slist_append(NULL, hdr);
  return fwh_post(s->h, s->url, "application/json", b->p, b->len, extra, n);
}

static const fw_ops_t webhook_ops = {.send = webhook_send};

static int webhook_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  if (net_curl_check(st) != 0) return KK_EMISSING;
  webhook_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  s->st = st;
  s->opts = opts;
  s->url = kk_opt_str(opts, "url");
  const char *err = NULL;
  s->secret = fw_read_secret(kk_opt_str(opts, "secret_env"),
                             kk_opt_isset(opts, "secret_file")
                                 ? kk_opt_str(opts, "secret_file")
                                 : NULL,
                             &err);
  *state = s;
  if (!s->secret) {
    kk_stage_error(
        st, "%s (secret_env = %s%s%s)", err, kk_opt_str(opts, "secret_env"),
        kk_opt_isset(opts, "secret_file") ? ", secret_file = " : "",
        kk_opt_isset(opts, "secret_file") ? kk_opt_str(opts, "secret_file")
                                          : "");
    return KK_EMISSING;
  }
  return 0;
}

static int webhook_start(kk_stage_t *st, void *state) {
  webhook_state_t *s = state;
  return fwh_new(st, s->opts, &webhook_ops, s, &s->h);
}

static int webhook_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  webhook_state_t *s = state;
  (void)st;
  return fw_process(fwh_fw(s->h), b);
}

static void webhook_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  webhook_state_t *s = state;
  (void)st;
  fwh_stop(s->h, cb);
}

static void webhook_destroy(void *state) {
  webhook_state_t *s = state;
  if (!s) return;
  fwh_free(s->h);
  if (s->secret) {
    memset(s->secret, 0, strlen(s->secret));
    free(s->secret);
  }
  kk_buf_free(&s->body);
  free(s);
}

static const kk_option_t webhook_options[] = {
    {.name = "url",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "URL to POST batches to (http:// or https://)."},
    {.name = "secret_env",
     .type = KK_OPT_STRING,
     .def = "KLIMAKIT_WEBHOOK_SECRET",
     .description = "Environment variable holding the HMAC-SHA256 key of "
                    "the X-Klimakit-Signature header."},
    {.name = "secret_file",
     .type = KK_OPT_STRING,
     .description = "File holding the key, used when the environment "
                    "variable is not set (trailing newline ignored)."},
    FWH_OPTIONS,
    FW_OPTIONS,
    {NULL}};

const kk_module_t forward_webhook_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "webhook",
    .ns = "forward",
    .kind = KK_KIND_SINK,
    .summary = "POSTs readings as signed JSON to a webhook URL.",
    .description =
        "Each delivery is one POST of `{\"id\":..,\"stage\":..,\"readings\":"
        "[{\"thing\":..,\"property\":..,\"unit\":..,\"time\":..,\"value\":..}"
        "]}` (events of `calc.alert` carry their document as `\"event\"`, "
        "see docs/guide/alerts.md) with the header `X-Klimakit-Signature: "
        "sha256=<hex>`, the "
        "HMAC-SHA256 of the body keyed with the secret.  Batches go through "
        "an on-disk spool: a receiver that is down does not pause the "
        "node; deliveries are retried with exponential backoff on 5xx, 408, "
        "429 and connection errors, in order, and each acknowledged (2xx) "
        "delivery is sent once.  Refused deliveries (other 4xx) are written "
        "to `dead-letter/` in the stage directory.  See "
        "docs/guide/forwarding.md.",
    .options = webhook_options,
    .create = webhook_create,
    .start = webhook_start,
    .process = webhook_process,
    .stop = webhook_stop,
    .destroy = webhook_destroy,
};
