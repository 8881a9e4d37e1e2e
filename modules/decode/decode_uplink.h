/*
 * modules/decode/decode_uplink.h - LoRaWAN network-server uplinks.
 *
 * Stage-free parsers shared by decode.ttn_v3, decode.chirpstack_v4,
 * decode.lua and the fuzz targets.  Field names follow the
 * vendors' documentation:
 *  - The Things Stack v3 "Data Formats" (uplink message: end_device_ids.
 *    device_id / application_ids.application_id / dev_eui, received_at,
 *    uplink_message.f_port / f_cnt / frm_payload (base64) /
 *    decoded_payload / received_at / rx_metadata[].rssi / channel_rssi /
 *    snr / time).
 *  - ChirpStack v4 "Event types", up event (deviceInfo.devEui /
 *    deviceName / applicationId, time, fPort, fCnt, data (base64),
 *    object, rxInfo[].rssi / snr / nsTime / gwTime).
 * The JSON is parsed strictly (flatjson_parse(): no trailing bytes, no
 * duplicate keys).
 *
 * The uplink's time (time_ms):
 *  - TTS: the top-level received_at (application server), else
 *    uplink_message.received_at (network server), else the earliest
 *    rx_metadata[].time (the gateways' clocks);
 *  - ChirpStack: time, else the earliest rxInfo[].nsTime, else the
 *    earliest rxInfo[].gwTime;
 *  - else 0 (the caller uses the reception time).  A time field that is
 *    present but not ISO 8601 makes the uplink a parse error.
 * The best gateway is the one with the highest RSSI (`rssi`, else TTS's
 * `channel_rssi`; the first of equals); rssi and snr come from it alone,
 * so a best gateway without `snr` gives an RSSI and no SNR (never the SNR
 * of another gateway).
 * All functions return 0, KK_EPARSE / KK_EMISSING with a one-line reason
 * in `err` (errlen bytes, NUL-terminated), or KK_ENOMEM.
 */
#ifndef KK_MODULES_UPLINK_H
#define KK_MODULES_UPLINK_H

#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>

/* An uplink's decoded payload (decoded_json) is flat JSON, walked with
 * flatjson_walk(). */
#include "decode/decode_flat.h"

typedef struct uplink {
  char device_id[128];   /* TTS device_id; ChirpStack devEui */
  char device_name[128]; /* ChirpStack deviceName ("" for TTS) */
  char application_id[128];
  char dev_eui[32];
  int64_t time_ms;  /* received_at / time, 0 when absent */
  int fport;        /* -1 when absent */
  int64_t fcnt;     /* -1 when absent */
  uint8_t *payload; /* owned; frm_payload / data decoded */
  size_t payload_len;
  int has_payload;
  char *decoded_json;    /* owned: decoded_payload / object as JSON text */
  struct cJSON *decoded; /* owned: the same object as a tree, or NULL */
  int has_rssi, has_snr; /* best gateway (highest RSSI) */
  double rssi, snr;
} uplink_t;

int uplink_parse_ttn_v3(const void *data, size_t len, uplink_t *u, char *err,
                        size_t errlen);
int uplink_parse_chirpstack_v4(const void *data, size_t len, uplink_t *u,
                               char *err, size_t errlen);
/* Frees what a parse allocated; the struct may be reused.  NULL-safe. */
void uplink_free(uplink_t *u);

#endif
