/* modules/common/rawmeta.c - the metadata string of a raw message. */
#include "rawmeta.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

int rawmeta_get(const char *meta, const char *key, char *out, size_t outlen) {
  if (outlen) out[0] = '\0';
  if (!meta || !*meta) return -1;
  if (meta[0] != '{') {
    if (strcmp(key, "topic") && strcmp(key, "path")) return -1;
    snprintf(out, outlen, "%s", meta);
    return out[0] ? 0 : -1;
  }
  cJSON *o = cJSON_Parse(meta);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  int rc = -1;
  if (cJSON_IsString(v) && v->valuestring[0]) {
    snprintf(out, outlen, "%s", v->valuestring);
    rc = 0;
  }
  cJSON_Delete(o);
  return rc;
}

int rawmeta_json_str(char *buf, size_t *len, size_t cap, const char *s,
                     size_t slen) {
  size_t o = *len;
  if (o + 2 > cap) return -1;
  buf[o++] = '"';
  for (size_t i = 0; i < slen; i++) {
    unsigned char ch = (unsigned char)s[i];
    char esc[8];
    size_t n;
    if (ch == '"' || ch == '\\') {
      esc[0] = '\\', esc[1] = (char)ch, n = 2;
    } else if (ch < 0x20) {
      n = (size_t)snprintf(esc, sizeof esc, "\\u%04x", ch);
    } else {
      esc[0] = (char)ch, n = 1;
    }
    if (o + n + 2 > cap) return -1;
    memcpy(buf + o, esc, n);
    o += n;
  }
  buf[o++] = '"';
  buf[o] = '\0';
  *len = o;
  return 0;
}
