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
    KK__PRINTF(4, 5);
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

static void up_radio(uplink_t *u, const cJSON *arr) {
  if (!cJSON_IsArray(arr)) return;
  for (const cJSON *g = arr->child; g; g = g->next) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(g, "rssi");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(g, "snr");
    if (cJSON_IsNumber(r) && (!u->has_rssi || r->valuedouble > u->rssi)) {
      u->has_rssi = 1;
      u->rssi = r->valuedouble;
      u->has_snr = cJSON_IsNumber(s);
      u->snr = u->has_snr ? s->valuedouble : 0;
    }
  }
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
  cJSON *root = cJSON_ParseWithLength((const char *)data, len);
  int rc = 0;
  if (!cJSON_IsObject(root)) {
    rc = up_fail(err, errlen, KK_EPARSE, "not a JSON object");
    goto out;
  }
  const cJSON *up = cJSON_GetObjectItemCaseSensitive(root, "uplink_message");
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
  /* Top-level received_at (application server), else the uplink's. */
  if (up_time(root, "received_at", &u->time_ms) != 0 ||
      (!u->time_ms && up_time(up, "received_at", &u->time_ms) != 0)) {
    rc = up_fail(err, errlen, KK_EPARSE, "received_at is not an ISO 8601 time");
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
  const cJSON *dp = cJSON_GetObjectItemCaseSensitive(up, "decoded_payload");
  if (cJSON_IsObject(dp)) {
    u->decoded_json = cJSON_PrintUnformatted(dp);
    if (!u->decoded_json) rc = KK_ENOMEM;
  }
  up_radio(u, cJSON_GetObjectItemCaseSensitive(up, "rx_metadata"));
out:
  cJSON_Delete(root);
  if (rc) uplink_free(u);
  return rc;
}

int uplink_parse_chirpstack_v4(const void *data, size_t len, uplink_t *u,
                               char *err, size_t errlen) {
  up_init(u);
  if (err && errlen) err[0] = '\0';
  cJSON *root = cJSON_ParseWithLength((const char *)data, len);
  int rc = 0;
  if (!cJSON_IsObject(root)) {
    rc = up_fail(err, errlen, KK_EPARSE, "not a JSON object");
    goto out;
  }
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
  if (up_time(root, "time", &u->time_ms) != 0) {
    rc = up_fail(err, errlen, KK_EPARSE, "time is not an ISO 8601 time");
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
  const cJSON *ob = cJSON_GetObjectItemCaseSensitive(root, "object");
  if (cJSON_IsObject(ob)) {
    u->decoded_json = cJSON_PrintUnformatted(ob);
    if (!u->decoded_json) rc = KK_ENOMEM;
  }
  up_radio(u, cJSON_GetObjectItemCaseSensitive(root, "rxInfo"));
out:
  cJSON_Delete(root);
  if (rc) uplink_free(u);
  return rc;
}

void uplink_free(uplink_t *u) {
  if (!u) return;
  free(u->payload);
  free(u->decoded_json);
  u->payload = NULL;
  u->decoded_json = NULL;
  u->has_payload = 0;
}
