/* modules/decode/decode_uplink.c - LoRaWAN network-server uplinks (see
 * decode_uplink.h). */
#include <klimakit.h>
#include "decode/decode_uplink.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_common.h"

static int up_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    KK_PRINTF(4, 5);
static int up_fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static const cJSON *up_get(const cJSON *o, const char *path) {
  char key[64];
  while (o && *path) {
    size_t n = strcspn(path, ".");
    if (n >= sizeof key) return NULL;
    memcpy(key, path, n);
    key[n] = '\0';
    o = cJSON_GetObjectItemCaseSensitive(o, key);
    path += n;
    if (*path == '.') path++;
  }
  return o;
}

static void up_str(const cJSON *o, const char *path, char *out, size_t len) {
  const cJSON *v = up_get(o, path);
  if (cJSON_IsString(v)) snprintf(out, len, "%s", v->valuestring);
}

static int up_time(const cJSON *o, const char *path, int64_t *ms) {
  const cJSON *v = up_get(o, path);
  if (!v) return 0;
  if (!cJSON_IsString(v) ||
      kk_time_parse_iso8601(v->valuestring, strlen(v->valuestring), ms) != 0)
    return -1;
  return 0;
}

/* The earliest `field` of the gateway entries in `arr` into *ms (left
 * alone when none has one).  Returns -1 when one is not ISO 8601. */
static int up_gateway_time(const cJSON *arr, const char *field, int64_t *ms) {
  if (!cJSON_IsArray(arr)) return 0;
  int have = 0;
  int64_t best = 0;
  for (const cJSON *g = arr->child; g; g = g->next) {
    int64_t t = 0;
    if (!cJSON_IsObject(g) || !cJSON_GetObjectItemCaseSensitive(g, field))
      continue;
    if (up_time(g, field, &t) != 0) return -1;
    if (!have || t < best) best = t;
    have = 1;
  }
  if (have) *ms = best;
  return 0;
}

static void up_init(uplink_t *u) {
  memset(u, 0, sizeof *u);
  u->fport = -1;
  u->fcnt = -1;
}

static int up_payload(uplink_t *u, const cJSON *v, char *err, size_t errlen,
                      const char *field) {
  if (!v) return 0;
  if (!cJSON_IsString(v))
    return up_fail(err, errlen, KK_EPARSE, "'%s' must be a base64 string",
                   field);
  size_t n = strlen(v->valuestring);
  u->payload = malloc(n / 4 * 3 + 4);
  if (!u->payload) return KK_ENOMEM;
  long k = decode_base64(v->valuestring, n, u->payload);
  if (k < 0)
    return up_fail(err, errlen, KK_EPARSE, "'%s' is not base64", field);
  u->payload_len = (size_t)k;
  u->has_payload = 1;
  return 0;
}

static int up_finite(const cJSON *v) {
  return cJSON_IsNumber(v) && isfinite(v->valuedouble);
}

/* The best gateway's RSSI and SNR (see decode_uplink.h). */
static void up_radio(uplink_t *u, const cJSON *arr) {
  if (!cJSON_IsArray(arr)) return;
  for (const cJSON *g = arr->child; g; g = g->next) {
    if (!cJSON_IsObject(g)) continue;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(g, "rssi");
    if (!up_finite(r)) r = cJSON_GetObjectItemCaseSensitive(g, "channel_rssi");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(g, "snr");
    if (up_finite(r) && (!u->has_rssi || r->valuedouble > u->rssi)) {
      u->has_rssi = 1;
      u->rssi = r->valuedouble;
      u->has_snr = up_finite(s);
      u->snr = u->has_snr ? s->valuedouble : 0;
    }
  }
}

/* Takes the decoded object out of the tree (u->decoded) and keeps its
 * text (u->decoded_json). */
static int up_decoded(uplink_t *u, cJSON *parent, cJSON *obj) {
  if (!cJSON_IsObject(obj)) return 0;
  u->decoded = cJSON_DetachItemViaPointer(parent, obj);
  u->decoded_json = cJSON_PrintUnformatted(u->decoded);
  return u->decoded_json ? 0 : KK_ENOMEM;
}

static cJSON *up_parse_root(const void *data, size_t len, int *rc, char *err,
                            size_t errlen) {
  cJSON *root = flatjson_parse(data, len, rc, err, errlen);
  if (root && !cJSON_IsObject(root)) {
    *rc = up_fail(err, errlen, KK_EPARSE, "not a JSON object");
    cJSON_Delete(root);
    root = NULL;
  }
  return root;
}

static int up_int(const cJSON *v, int64_t *out) {
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
      fabs(v->valuedouble) > 9e15)
    return -1;
  *out = (int64_t)v->valuedouble;
  return 0;
}

int uplink_parse_ttn_v3(const void *data, size_t len, uplink_t *u, char *err,
                        size_t errlen) {
  up_init(u);
  if (err && errlen) err[0] = '\0';
  int rc = 0;
  cJSON *root = up_parse_root(data, len, &rc, err, errlen);
  if (!root) return rc;
  cJSON *up = cJSON_GetObjectItemCaseSensitive(root, "uplink_message");
  if (!cJSON_IsObject(up)) {
    rc = up_fail(err, errlen, KK_EMISSING,
                 "no uplink_message (not a TTS v3 uplink)");
    goto out;
  }
  up_str(root, "end_device_ids.device_id", u->device_id, sizeof u->device_id);
  up_str(root, "end_device_ids.application_ids.application_id",
         u->application_id, sizeof u->application_id);
  up_str(root, "end_device_ids.dev_eui", u->dev_eui, sizeof u->dev_eui);
  if (!u->device_id[0]) {
    rc = up_fail(err, errlen, KK_EMISSING, "no end_device_ids.device_id");
    goto out;
  }
  /* Top-level received_at (application server), else the uplink's
   * (network server), else the earliest gateway time. */
  if (up_time(root, "received_at", &u->time_ms) != 0 ||
      (!u->time_ms && up_time(up, "received_at", &u->time_ms) != 0)) {
    rc = up_fail(err, errlen, KK_EPARSE, "received_at is not an ISO 8601 time");
    goto out;
  }
  if (!u->time_ms &&
      up_gateway_time(cJSON_GetObjectItemCaseSensitive(up, "rx_metadata"),
                      "time", &u->time_ms) != 0) {
    rc = up_fail(err, errlen, KK_EPARSE,
                 "rx_metadata[].time is not an ISO 8601 time");
    goto out;
  }
  int64_t k;
  const cJSON *fp = cJSON_GetObjectItemCaseSensitive(up, "f_port");
  if (fp) {
    if (up_int(fp, &k) || k < 0 || k > 255) {
      rc = up_fail(err, errlen, KK_EPARSE, "f_port must be 0..255");
      goto out;
    }
    u->fport = (int)k;
  }
  if (up_int(cJSON_GetObjectItemCaseSensitive(up, "f_cnt"), &k) == 0)
    u->fcnt = k;
  rc = up_payload(u, cJSON_GetObjectItemCaseSensitive(up, "frm_payload"), err,
                  errlen, "frm_payload");
  if (rc) goto out;
  up_radio(u, cJSON_GetObjectItemCaseSensitive(up, "rx_metadata"));
  rc = up_decoded(u, up,
                  cJSON_GetObjectItemCaseSensitive(up, "decoded_payload"));
out:
  cJSON_Delete(root);
  if (rc) uplink_free(u);
  return rc;
}

int uplink_parse_chirpstack_v4(const void *data, size_t len, uplink_t *u,
                               char *err, size_t errlen) {
  up_init(u);
  if (err && errlen) err[0] = '\0';
  int rc = 0;
  cJSON *root = up_parse_root(data, len, &rc, err, errlen);
  if (!root) return rc;
  const cJSON *di = cJSON_GetObjectItemCaseSensitive(root, "deviceInfo");
  if (!cJSON_IsObject(di)) {
    rc = up_fail(err, errlen, KK_EMISSING,
                 "no deviceInfo (not a ChirpStack v4 up event)");
    goto out;
  }
  up_str(di, "devEui", u->dev_eui, sizeof u->dev_eui);
  up_str(di, "devEui", u->device_id, sizeof u->device_id);
  up_str(di, "deviceName", u->device_name, sizeof u->device_name);
  up_str(di, "applicationId", u->application_id, sizeof u->application_id);
  if (!u->device_id[0]) {
    rc = up_fail(err, errlen, KK_EMISSING, "no deviceInfo.devEui");
    goto out;
  }
  const cJSON *rx = cJSON_GetObjectItemCaseSensitive(root, "rxInfo");
  if (up_time(root, "time", &u->time_ms) != 0) {
    rc = up_fail(err, errlen, KK_EPARSE, "time is not an ISO 8601 time");
    goto out;
  }
  if (!u->time_ms &&
      (up_gateway_time(rx, "nsTime", &u->time_ms) != 0 ||
       (!u->time_ms && up_gateway_time(rx, "gwTime", &u->time_ms) != 0))) {
    rc = up_fail(err, errlen, KK_EPARSE,
                 "rxInfo[].nsTime / gwTime is not an ISO 8601 time");
    goto out;
  }
  int64_t k;
  const cJSON *fp = cJSON_GetObjectItemCaseSensitive(root, "fPort");
  if (fp) {
    if (up_int(fp, &k) || k < 0 || k > 255) {
      rc = up_fail(err, errlen, KK_EPARSE, "fPort must be 0..255");
      goto out;
    }
    u->fport = (int)k;
  }
  /* proto3 JSON omits zero values: fCnt absent means 0. */
  u->fcnt = 0;
  if (up_int(cJSON_GetObjectItemCaseSensitive(root, "fCnt"), &k) == 0)
    u->fcnt = k;
  rc = up_payload(u, cJSON_GetObjectItemCaseSensitive(root, "data"), err,
                  errlen, "data");
  if (rc) goto out;
  up_radio(u, rx);
  rc = up_decoded(u, root, cJSON_GetObjectItemCaseSensitive(root, "object"));
out:
  cJSON_Delete(root);
  if (rc) uplink_free(u);
  return rc;
}

void uplink_free(uplink_t *u) {
  if (!u) return;
  free(u->payload);
  free(u->decoded_json);
  cJSON_Delete(u->decoded);
  u->payload = NULL;
  u->decoded_json = NULL;
  u->decoded = NULL;
  u->has_payload = 0;
}
