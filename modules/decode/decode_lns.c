/*
 * modules/decode/decode_lns.c - what decode.ttn_v3 and decode.chirpstack_v4
 * share.
 *
 * Network-server uplink envelopes whose payload the network server already
 * decoded (TTS `decoded_payload`, ChirpStack `object`): every number of
 * that object becomes a reading on the device (TTS device_id, ChirpStack
 * devEui), at received_at / time (else the reception time).  RSSI and SNR
 * of the best gateway are optional readings ("rssi" dB.mW, "snr" dB).  An
 * uplink without a decoded object is rejected with reason
 * "no_decoded_payload": decode its bytes with decode.lua instead.
 */
#include "decode/decode_lns.h"

#include <stdlib.h>
#include <string.h>

#include "decode/decode_common.h"
#include "decode/decode_flat.h"
#include "decode/decode_uplink.h"

typedef struct lns_stage {
  decode_common_t dc;
  int chirpstack;
  int radio;
} lns_stage_t;

typedef struct lns_emit {
  decode_out_t *out;
  const char *thing;
  int64_t time_ms;
} lns_emit_t;

static int lns_value(void *ctx, const char *name, double v) {
  lns_emit_t *e = ctx;
  return decode_out_value(e->out, e->thing, name, NULL, e->time_ms, v);
}

static int lns_decode(void *state, decode_out_t *out, char *why, size_t whylen,
                      const char **reason) {
  lns_stage_t *s = state;
  uplink_t u;
  int rc =
      s->chirpstack
          ? uplink_parse_chirpstack_v4(out->raw->data, out->raw->len, &u, why,
                                       whylen)
          : uplink_parse_ttn_v3(out->raw->data, out->raw->len, &u, why, whylen);
  if (rc) return rc;
  lns_emit_t e = {out, u.device_id, u.time_ms ? u.time_ms : out->raw->time_ms};
  if (!u.decoded_json) {
    *reason = "no_decoded_payload";
    snprintf(why, whylen, "uplink has no %s (use decode.lua for the bytes)",
             s->chirpstack ? "object" : "decoded_payload");
    uplink_free(&u);
    return KK_EMISSING;
  }
  rc = flatjson_walk(u.decoded_json, strlen(u.decoded_json), lns_value, &e, why,
                     whylen);
  if (rc == 0 && s->radio && u.has_rssi)
    rc = decode_out_value(out, e.thing, "rssi", "dB.mW", e.time_ms, u.rssi);
  if (rc == 0 && s->radio && u.has_snr)
    rc = decode_out_value(out, e.thing, "snr", "dB", e.time_ms, u.snr);
  uplink_free(&u);
  return rc;
}

int decode_lns_create(kk_stage_t *st, const kk_opts_t *o, void **state,
                      int chirpstack) {
  lns_stage_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->chirpstack = chirpstack;
  s->radio = kk_opt_bool(o, "radio");
  return decode_common_init(&s->dc, st, o);
}

int decode_lns_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  lns_stage_t *s = state;
  return decode_common_process(&s->dc, b, lns_decode, s);
}

void decode_lns_destroy(void *state) {
  lns_stage_t *s = state;
  if (!s) return;
  decode_common_free(&s->dc);
  free(s);
}
