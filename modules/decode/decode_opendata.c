/* modules/decode/decode_opendata.c - what the open-data decoders share. */
#include <klimakit.h>

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_opendata.h"

int od_value(od_emit_t *e, const char *thing, const char *name,
             const char *prop, const char *unit, int64_t time_ms, double v) {
  if (!isfinite(v)) {
    od_reject(e, "not_finite", "%s: value is not finite", name);
    return 0;
  }
  e->nvalues++;
  return e->value ? e->value(e, thing, name, prop, unit, time_ms, v) : 0;
}

void od_reject(od_emit_t *e, const char *reason, const char *fmt, ...) {
  char detail[240];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  e->nrejected++;
  if (e->reject) e->reject(e, reason, detail);
}

/* ---- the stage binding ------------------------------------------------ */

static int od_stage_value(od_emit_t *e, const char *thing, const char *name,
                          const char *prop, const char *unit, int64_t time_ms,
                          double v) {
  decode_out_t *out = e->ctx;
  decode_common_t *dc = out->dc;
  size_t i;
  for (i = 0; i < dc->nmap; i++)
    if (!strcmp(dc->map[i].name, name)) break;
  if (i == dc->nmap && !prop) /* unknown: decode_common's policy */
    return decode_out_value(out, thing, name, unit, time_ms, v);
  if (i < dc->nmap) {
    prop = dc->map[i].property;
    unit = dc->map[i].unit;
  }
  if (dc->thing) thing = dc->thing;
  if (!thing || !*thing) thing = out->thing;
  if (!*thing) thing = "unknown";
  uint32_t ds = kk_datastream_id(thing, prop, unit && *unit ? unit : "1");
  if (!ds) return KK_ENOMEM;
  kk_reading_t r = {.time_ms = time_ms, .value = v, .ds = ds, .flags = 0};
  out->nvalues++;
  return kk_batch_push(out->b, &r);
}

static void od_stage_reject(od_emit_t *e, const char *reason,
                            const char *detail) {
  decode_out_t *out = e->ctx;
  decode_common_t *dc = out->dc;
  kk_metric_add(kk_stage_counter(dc->st, "kk_rejected_total", reason,
                                 "Input records rejected, by reason."),
                1);
  if (kk_ratelimit_ok(&dc->rl))
    kk_stage_log(dc->st, decode_log_level(dc),
                 "rejected value (journal seq %llu): %s: %s",
                 (unsigned long long)out->raw->seq, reason, detail);
}

void od_bind(od_emit_t *e, decode_out_t *out) {
  memset(e, 0, sizeof *e);
  e->value = od_stage_value;
  e->reject = od_stage_reject;
  e->ctx = out;
}

/* ---- JSON ------------------------------------------------------------- */

cJSON *od_json_parse(const uint8_t *data, size_t len, char *why,
                     size_t whylen) {
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts((const char *)data, len, &end, 0);
  if (!root) {
    snprintf(why, whylen, "not JSON (at byte %zu)",
             end ? (size_t)(end - (const char *)data) : (size_t)0);
    return NULL;
  }
  size_t at = (size_t)(end - (const char *)data);
  while (at < len && (data[at] == ' ' || data[at] == '\t' || data[at] == '\r' ||
                      data[at] == '\n'))
    at++;
  if (at < len && !(at + 1 == len && data[at] == 0)) {
    snprintf(why, whylen, "trailing bytes after the JSON document (byte %zu)",
             at);
    cJSON_Delete(root);
    return NULL;
  }
  char key[64];
  if (kk_json_duplicate_key(root, key, sizeof key)) {
    snprintf(why, whylen, "duplicate JSON key '%s'", key);
    cJSON_Delete(root);
    return NULL;
  }
  return root;
}

int od_parse_double(const char *s, size_t len, double *v) {
  while (len && isspace((unsigned char)*s))
    s++, len--;
  while (len && isspace((unsigned char)s[len - 1]))
    len--;
  if (len == 0 || len > 63) return -1;
  char buf[64];
  memcpy(buf, s, len);
  buf[len] = 0;
  for (size_t i = 0; i < len; i++) /* decimal only: no hex, inf, nan */
    if (!strchr("0123456789+-.eE", buf[i])) return -1;
  char *end;
  errno = 0;
  double d = strtod(buf, &end);
  if (end != buf + len || errno == ERANGE || !isfinite(d)) return -1;
  *v = d;
  return 0;
}

int od_json_number(const cJSON *j, double *v) {
  if (cJSON_IsNumber(j)) {
    *v = j->valuedouble;
    return isfinite(*v) ? 0 : -1;
  }
  if (cJSON_IsString(j))
    return od_parse_double(j->valuestring, strlen(j->valuestring), v);
  return -1;
}

int od_json_id(const cJSON *j, char *out, size_t outlen) {
  if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (!(d >= -9e15 && d <= 9e15) || d != floor(d)) return -1;
    int n = snprintf(out, outlen, "%lld", (long long)d);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
  }
  if (!cJSON_IsString(j)) return -1;
  size_t n = strlen(j->valuestring);
  if (n == 0 || n >= outlen) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)j->valuestring[i];
    if (c <= ' ' || c >= 0x7f || c == '/') return -1;
  }
  memcpy(out, j->valuestring, n + 1);
  return 0;
}

/* ---- text ------------------------------------------------------------- */

int od_latin1_utf8(const char *s, size_t len, char *out, size_t outlen) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
      if (o + 1 >= outlen) return -1;
      out[o++] = (char)c;
    } else {
      if (o + 2 >= outlen) return -1;
      out[o++] = (char)(0xc0 | (c >> 6));
      out[o++] = (char)(0x80 | (c & 0x3f));
    }
  }
  if (o >= outlen) return -1;
  out[o] = 0;
  return 0;
}

int od_property_name(const char *label, char *out, size_t outlen) {
  size_t o = 0;
  int gap = 0;
  for (const char *p = label; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (isalnum(c) && c < 0x80) {
      if (gap && o > 0) {
        if (o + 1 >= outlen) return -1;
        out[o++] = '_';
      }
      gap = 0;
      if (o + 1 >= outlen) return -1;
      out[o++] = (char)tolower(c);
    } else {
      gap = 1;
    }
  }
  if (o == 0) return -1;
  out[o] = 0;
  return 0;
}

int od_thing(char *out, size_t outlen, const char *prefix, const char *id) {
  int n = snprintf(out, outlen, "%s%s", prefix, id);
  return n > 0 && (size_t)n < outlen ? 0 : -1;
}
