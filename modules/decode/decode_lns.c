/*
 * modules/decode/decode_lns.c - what decode.ttn_v3 and decode.chirpstack_v4
 * share.
 *
 * Network-server uplink envelopes whose payload the network server already
 * decoded (TTS `decoded_payload`, ChirpStack `object`): every number of
 * that object becomes a reading on the device (TTS device_id, ChirpStack
 * devEui), at the uplink's time (decode_uplink.h says which field; else
 * the reception time).  RSSI and SNR of the best gateway are optional
 * readings ("rssi" dB.mW, "snr" dB).  An uplink without a decoded object
 * is rejected with reason "no_decoded_payload": decode its bytes with
 * decode.lua instead.
 *
 * Nothing is left out silently: string members (codecs often write
 * "21.5" or "OK") are counted as string_value, or with numeric_strings
 * the numeric ones become values; numbers beyond the double range
 * (1e999) as non_finite; members nested deeper than 8 levels or with
 * names longer than 255 bytes as too_deep.  A decoded object that holds
 * members but not one value is rejected as no_values; an empty object
 * (the codec's "nothing to store", e.g. a status frame) is decoded with
 * no readings.
 */
#include "decode/decode_lns.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_common.h"
#include "decode/decode_flat.h"
#include "decode/decode_uplink.h"

typedef struct lns_stage {
  decode_common_t dc;
  int chirpstack;
  int radio;
  int numeric_strings;
} lns_stage_t;

typedef struct lns_emit {
  decode_out_t *out;
  const char *thing;
  int64_t time_ms;
  size_t n;
} lns_emit_t;

static int lns_value(void *ctx, const char *name, double v) {
  lns_emit_t *e = ctx;
  e->n++;
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
  lns_emit_t e = {out, u.device_id, u.time_ms ? u.time_ms : out->raw->time_ms,
                  0};
  if (!u.decoded) {
    *reason = "no_decoded_payload";
    snprintf(why, whylen, "uplink has no %s (use decode.lua for the bytes)",
             s->chirpstack ? "object" : "decoded_payload");
    uplink_free(&u);
    return KK_EMISSING;
  }
  flatjson_stats_t fs = {0, 0, 0};
  rc = flatjson_walk_tree(u.decoded, s->numeric_strings, &fs, lns_value, &e);
  if (rc == 0 && e.n == 0 && u.decoded->child) {
    *reason = "no_values";
    snprintf(why, whylen,
             "%s holds no number (%zu strings, %zu non-finite, %zu too deep)",
             s->chirpstack ? "object" : "decoded_payload", fs.strings,
             fs.nonfinite, fs.too_deep);
    uplink_free(&u);
    return KK_EMISSING;
  }
  decode_out_skipped(out, "string_value", fs.strings, "string values");
  decode_out_skipped(out, "non_finite", fs.nonfinite, "non-finite numbers");
  decode_out_skipped(out, "too_deep", fs.too_deep, "members nested too deep");
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
  s->numeric_strings = kk_opt_bool(o, "numeric_strings");
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
