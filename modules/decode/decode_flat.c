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
    KK_PRINTF(4, 5);
static int flat_fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return rc;
}

cJSON *flatjson_parse(const void *data, size_t len, int *rc, char *err,
                      size_t errlen) {
  const char *text = data, *stop = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &stop, 0);
  if (!root) {
    *rc = KK_EPARSE;
    if (stop && stop >= text && stop <= text + len)
      flat_fail(err, errlen, KK_EPARSE, "invalid JSON at byte %zu",
                (size_t)(stop - text) + 1);
    else
      flat_fail(err, errlen, KK_EPARSE, "invalid JSON");
    return NULL;
  }
  size_t at =
      stop && stop >= text && stop <= text + len ? (size_t)(stop - text) : len;
  while (at < len && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' ||
                      text[at] == '\r'))
    at++;
  char key[64];
  if (at < len) {
    *rc = flat_fail(err, errlen, KK_EPARSE,
                    "%zu bytes after the JSON value (from byte %zu)", len - at,
                    at + 1);
  } else if (kk_json_duplicate_key(root, key, sizeof key)) {
    *rc = flat_fail(err, errlen, KK_EPARSE, "duplicate key '%s'", key);
  } else {
    *rc = 0;
    return root;
  }
  cJSON_Delete(root);
  return NULL;
}

/* A string holding exactly one JSON number (RFC 8259 section 6: no
 * leading '+', no leading zeros, no hex, no inf/nan, no spaces) gives
 * its value; anything else is not numeric. */
static int flat_numeric_string(const char *s, double *v) {
  const char *p = s;
  if (*p == '-') p++;
  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    while (*p >= '0' && *p <= '9')
      p++;
  else
    return 0;
  if (*p == '.') {
    p++;
    if (!(*p >= '0' && *p <= '9')) return 0;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!(*p >= '0' && *p <= '9')) return 0;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  if (*p != '\0' || p - s > 64) return 0;
  char *end;
  *v = strtod(s, &end);
  return end == p && isfinite(*v);
}

typedef struct fj_walker {
  flatjson_cb cb;
  void *ctx;
  const flatjson_opts_t *opt; /* message options, or NULL */
  int numeric_strings;
  flatjson_stats_t *stats;
  char name[256];
} fj_walker_t;

static void fj_count(size_t *n) {
  if (n) (*n)++;
}

#define FJ_STAT(w, f) fj_count((w)->stats ? &(w)->stats->f : NULL)

/* Calls cb for every number and boolean below object `o`; w->name holds
 * the dotted path (nlen bytes). */
static int fj_walk(fj_walker_t *w, const cJSON *o, size_t nlen, int depth) {
  const flatjson_opts_t *opt = w->opt;
  for (const cJSON *m = o->child; m; m = m->next) {
    if (!m->string) continue;
    size_t kl = strlen(m->string);
    if (depth > 8 || nlen + kl + 2 > sizeof w->name) {
      FJ_STAT(w, too_deep);
      continue;
    }
    size_t l = nlen;
    if (l) w->name[l++] = '.';
    memcpy(w->name + l, m->string, kl + 1);
    if (opt && depth == 0 &&
        ((opt->time_field && !strcmp(m->string, opt->time_field)) ||
         (opt->thing_field && !strcmp(m->string, opt->thing_field))))
      goto next;
    if (opt && opt->fields) {
      int want = 0;
      for (size_t i = 0; opt->fields[i]; i++)
        if (!strcmp(opt->fields[i], w->name)) want = 1;
      if (!want && !cJSON_IsObject(m)) goto next;
    }
    int rc = 0;
    double v;
    if (cJSON_IsNumber(m)) {
      if (isfinite(m->valuedouble))
        rc = w->cb(w->ctx, w->name, m->valuedouble);
      else
        FJ_STAT(w, nonfinite);
    } else if (cJSON_IsBool(m)) {
      rc = w->cb(w->ctx, w->name, cJSON_IsTrue(m) ? 1.0 : 0.0);
    } else if (cJSON_IsString(m)) {
      if (w->numeric_strings && flat_numeric_string(m->valuestring, &v))
        rc = w->cb(w->ctx, w->name, v);
      else
        FJ_STAT(w, strings);
    } else if (cJSON_IsObject(m)) {
      rc = fj_walk(w, m, l + kl, depth + 1);
    }
    if (rc) return rc;
  next:
    w->name[nlen] = '\0';
  }
  return 0;
}

int flatjson_walk_tree(const cJSON *obj, int numeric_strings,
                       flatjson_stats_t *stats, flatjson_cb cb, void *ctx) {
  fj_walker_t w = {cb, ctx, NULL, numeric_strings, stats, ""};
  return cJSON_IsObject(obj) ? fj_walk(&w, obj, 0, 0) : 0;
}

int flatjson_walk(const char *json, size_t len, flatjson_cb cb, void *ctx,
                  char *err, size_t errlen) {
  int rc;
  cJSON *root = flatjson_parse(json, len, &rc, err, errlen);
  if (root && !cJSON_IsObject(root))
    rc = flat_fail(err, errlen, KK_EPARSE, "not a JSON object");
  else if (root)
    rc = flatjson_walk_tree(root, 0, NULL, cb, ctx);
  cJSON_Delete(root);
  return rc;
}

int flatjson_message(const void *data, size_t len, const flatjson_opts_t *o,
                     int64_t *time_ms, char *thing, size_t thing_len,
                     flatjson_cb cb, void *ctx, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  int rc = 0;
  cJSON *root = flatjson_parse(data, len, &rc, err, errlen);
  if (!root) return rc;
  if (!cJSON_IsObject(root)) {
    rc = flat_fail(err, errlen, KK_EPARSE, "not a JSON object");
    goto out;
  }
  if (o->thing_field) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, o->thing_field);
    if (cJSON_IsString(t) && t->valuestring[0])
      snprintf(thing, thing_len, "%s", t->valuestring);
    else if (cJSON_IsNumber(t)) {
      char num[KK_FMT_DOUBLE_MAX];
      kk_fmt_double(t->valuedouble, num);
      snprintf(thing, thing_len, "%s", num);
    }
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
  fj_walker_t w = {cb, ctx, o, o->numeric_strings, o->stats, ""};
  rc = fj_walk(&w, root, 0, 0);
out:
  cJSON_Delete(root);
  return rc;
}
