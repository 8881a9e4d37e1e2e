/* modules/decode/decode_flat.c - flat JSON messages (see decode_flat.h). */
#include <klimakit.h>
#include "decode/decode_flat.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int flat_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    KK__PRINTF(4, 5);
static int flat_fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return rc;
}

/* Calls cb for every number and boolean below object `o`; `name` (cap
 * bytes, holding nlen) carries the dotted path. */
static int fj_walk(const cJSON *o, char *name, size_t nlen, size_t cap,
                   flatjson_cb cb, void *ctx, int depth,
                   const flatjson_opts_t *opt) {
  if (depth > 8) return 0;
  for (const cJSON *m = o->child; m; m = m->next) {
    if (!m->string) continue;
    size_t kl = strlen(m->string);
    if (nlen + kl + 2 > cap) continue;
    size_t l = nlen;
    if (l) name[l++] = '.';
    memcpy(name + l, m->string, kl + 1);
    if (opt && depth == 0 &&
        ((opt->time_field && !strcmp(m->string, opt->time_field)) ||
         (opt->thing_field && !strcmp(m->string, opt->thing_field))))
      goto next;
    if (opt && opt->fields) {
      int want = 0;
      for (size_t i = 0; opt->fields[i]; i++)
        if (!strcmp(opt->fields[i], name)) want = 1;
      if (!want && !cJSON_IsObject(m)) goto next;
    }
    int rc = 0;
    if (cJSON_IsNumber(m)) {
      if (isfinite(m->valuedouble)) rc = cb(ctx, name, m->valuedouble);
    } else if (cJSON_IsBool(m)) {
      rc = cb(ctx, name, cJSON_IsTrue(m) ? 1.0 : 0.0);
    } else if (cJSON_IsObject(m)) {
      rc = fj_walk(m, name, l + kl, cap, cb, ctx, depth + 1, opt);
    }
    if (rc) return rc;
  next:
    name[nlen] = '\0';
  }
  return 0;
}

int flatjson_walk(const char *json, size_t len, flatjson_cb cb, void *ctx,
                  char *err, size_t errlen) {
  cJSON *root = cJSON_ParseWithLength(json, len);
  int rc;
  if (!cJSON_IsObject(root)) {
    rc = flat_fail(err, errlen, KK_EPARSE, "not a JSON object");
  } else {
    char name[256] = "";
    rc = fj_walk(root, name, 0, sizeof name, cb, ctx, 0, NULL);
  }
  cJSON_Delete(root);
  return rc;
}

int flatjson_message(const void *data, size_t len, const flatjson_opts_t *o,
                     int64_t *time_ms, char *thing, size_t thing_len,
                     flatjson_cb cb, void *ctx, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  cJSON *root = cJSON_ParseWithLength((const char *)data, len);
  int rc = 0;
  if (!cJSON_IsObject(root)) {
    rc = flat_fail(err, errlen, KK_EPARSE, "not a JSON object");
    goto out;
  }
  if (o->thing_field) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, o->thing_field);
    if (cJSON_IsString(t) && t->valuestring[0])
      snprintf(thing, thing_len, "%s", t->valuestring);
    else if (cJSON_IsNumber(t))
      snprintf(thing, thing_len, "%.17g", t->valuedouble);
  }
  if (o->time_field) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, o->time_field);
    if (t) {
      int unit = o->time_unit;
      if (cJSON_IsString(t) && (unit == 0 || unit == 3)) {
        if (kk_time_parse_iso8601(t->valuestring, strlen(t->valuestring),
                                  time_ms) != 0) {
          rc = flat_fail(err, errlen, KK_EPARSE,
                         "'%s' is not an ISO 8601 time with zone",
                         o->time_field);
          goto out;
        }
      } else if (cJSON_IsNumber(t) && unit != 3 && isfinite(t->valuedouble) &&
                 fabs(t->valuedouble) < 1e16) {
        double v = t->valuedouble;
        if (unit == 0) unit = fabs(v) >= 1e11 ? 2 : 1;
        *time_ms = unit == 2 ? llround(v) : llround(v * 1000.0);
      } else {
        rc = flat_fail(err, errlen, KK_EPARSE,
                       "'%s' has the wrong type or range", o->time_field);
        goto out;
      }
    }
  }
  char name[256] = "";
  rc = fj_walk(root, name, 0, sizeof name, cb, ctx, 0, o);
out:
  cJSON_Delete(root);
  return rc;
}
