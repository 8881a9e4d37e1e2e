/* core/reading_json.c - a reading from its parts or its JSON text, and
 * the metadata of a raw message (klimakit/reading.h). */
#include <klimakit.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* The sources write meta as one flat object of string members
 * ({"topic":"city/sensors/s0001/up","thing":"s0001"}), and every decoder
 * looks up a member or two of it per message: scanned in place instead
 * of parsed into a tree (a parse per message was a tenth of a decoder's
 * time).  Returns 0 (found, copied), -1 (not there or empty), 2 (not the
 * simple form: an escape other than \" \\ \/, a value that is not a
 * string, odd spacing; the caller parses it properly). */
static int meta_scan(const char *p, const char *key, char *out, size_t outlen) {
  size_t klen = strlen(key);
  int found = -1; /* the answer once the whole object proved simple */
  if (*p++ != '{') return 2;
  if (*p == '}') return p[1] ? 2 : -1;
  for (;;) {
    if (*p++ != '"') return 2;
    const char *k = p;
    while (*p && *p != '"' && *p != '\\')
      p++;
    if (*p != '"') return 2;
    /* The first of duplicate keys counts, as in cJSON. */
    int match =
        found < 0 && (size_t)(p - k) == klen && memcmp(k, key, klen) == 0;
    p++;
    if (*p++ != ':' || *p++ != '"') return 2;
    size_t n = 0, vlen = 0;
    while (*p && *p != '"') {
      char c = *p++;
      if (c == '\\') {
        c = *p++;
        if (c != '"' && c != '\\' && c != '/') return 2;
      } else if ((unsigned char)c < 0x20) {
        return 2;
      }
      vlen++;
      if (match && n + 1 < outlen) out[n++] = c;
    }
    if (*p++ != '"') return 2;
    if (match) {
      /* Cut like snprintf; the answer depends on the value, not on what
       * fit.  A key with an empty value is found, and is -1 (as an
       * absent one), and later duplicates do not count. */
      if (outlen) out[n] = '\0';
      found = vlen ? 0 : 1;
    }
    if (*p == '}') return p[1] ? 2 : found == 0 ? 0 : -1;
    if (*p++ != ',') return 2;
  }
}

int kk_raw_meta_get(const char *meta, const char *key, char *out,
                    size_t outlen) {
  if (outlen) out[0] = '\0';
  if (!meta || !*meta) return -1;
  if (meta[0] != '{') {
    if (strcmp(key, "topic") && strcmp(key, "path")) return -1;
    snprintf(out, outlen, "%s", meta);
    return out[0] ? 0 : -1;
  }
  int fast = meta_scan(meta, key, out, outlen);
  if (fast != 2) return fast;
  if (outlen) out[0] = '\0'; /* what the scan may have copied */
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

int kk_reading_make(const char *thing, const char *property, const char *unit,
                    int64_t time_ms, double value, kk_reading_t *out, char *err,
                    size_t errlen) {
  if (!isfinite(value)) {
    snprintf(err, errlen, "value must be a finite number");
    return KK_ERANGE;
  }
  uint32_t id = kk_datastream_id(thing, property, unit);
  if (id == 0) {
    /* The datastream limits refuse with the limit's name; otherwise the
     * registry could not grow. */
    const char *why = kk__datastream_refusal();
    if (why) {
      snprintf(err, errlen, "new datastream %s/%s [%s] refused: %s", thing,
               property, unit, why);
      return KK_EFULL;
    }
    snprintf(err, errlen, "cannot register datastream (out of memory)");
    return KK_ENOMEM;
  }
  out->time_ms = time_ms;
  out->value = value;
  out->ds = id;
  out->flags = 0;
  return 0;
}

/* Fetches member `name` as a non-empty string. */
static int rj_string(const cJSON *obj, const char *name, const char **out,
                     char *err, size_t errlen) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (!it) {
    snprintf(err, errlen, "field '%s' missing", name);
    return KK_EMISSING;
  }
  if (!cJSON_IsString(it) || !it->valuestring || !*it->valuestring) {
    snprintf(err, errlen, "field '%s' must be a non-empty string", name);
    return KK_ETYPE;
  }
  *out = it->valuestring;
  return 0;
}

/* 2^53: the largest range in which a JSON number is an exact integer. */
#define RJ_MAX_EXACT 9007199254740992.0

int kk_reading_parse_json(const char *data, size_t len, kk_reading_t *out,
                          char *err, size_t errlen) {
  const char *thing, *property, *unit;
  int64_t t = 0;
  int rc;
  const char *stop = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, &stop, 0);
  if (!root) {
    if (stop && stop >= data && stop <= data + len)
      snprintf(err, errlen, "invalid JSON at column %zu",
               (size_t)(stop - data) + 1);
    else
      snprintf(err, errlen, "invalid JSON");
    return KK_EPARSE;
  }
  if (!cJSON_IsObject(root)) {
    snprintf(err, errlen, "a reading must be a JSON object");
    rc = KK_ETYPE;
    goto done;
  }
  if ((rc = rj_string(root, "thing", &thing, err, errlen)) ||
      (rc = rj_string(root, "property", &property, err, errlen)) ||
      (rc = rj_string(root, "unit", &unit, err, errlen)))
    goto done;
  const cJSON *tm = cJSON_GetObjectItemCaseSensitive(root, "time");
  if (!tm) {
    snprintf(err, errlen, "field 'time' missing");
    rc = KK_EMISSING;
    goto done;
  }
  if (cJSON_IsNumber(tm)) {
    double v = tm->valuedouble;
    if (v != floor(v) || fabs(v) > RJ_MAX_EXACT) {
      snprintf(err, errlen,
               "field 'time' must be integer milliseconds since 1970");
      rc = KK_ERANGE;
      goto done;
    }
    t = (int64_t)v;
  } else if (cJSON_IsString(tm) && tm->valuestring) {
    if (kk_time_parse_iso8601(tm->valuestring, strlen(tm->valuestring), &t) !=
        0) {
      snprintf(err, errlen,
               "field 'time' is not an ISO 8601 date-time with zone: '%.40s'",
               tm->valuestring);
      rc = KK_EPARSE;
      goto done;
    }
  } else {
    snprintf(err, errlen,
             "field 'time' must be an ISO 8601 string or milliseconds");
    rc = KK_ETYPE;
    goto done;
  }
  const cJSON *val = cJSON_GetObjectItemCaseSensitive(root, "value");
  if (!val) {
    snprintf(err, errlen, "field 'value' missing");
    rc = KK_EMISSING;
    goto done;
  }
  if (!cJSON_IsNumber(val)) {
    snprintf(err, errlen, "field 'value' must be a number");
    rc = KK_ETYPE;
    goto done;
  }
  rc = kk_reading_make(thing, property, unit, t, val->valuedouble, out, err,
                       errlen);
done:
  cJSON_Delete(root);
  return rc;
}

/* Siblings are compared pairwise: objects from sensors and APIs have a few
 * dozen members, where a sort or a hash set costs more than it saves.  A
 * pathological object (thousands of members) costs O(n^2) string
 * compares of bounded input, never unbounded memory. */
int kk_json_duplicate_key(const cJSON *root, char *key, size_t keylen) {
  if (!root) return 0;
  for (const cJSON *c = root->child; c; c = c->next) {
    if (cJSON_IsObject(root) && c->string)
      for (const cJSON *o = c->next; o; o = o->next)
        if (o->string && strcmp(c->string, o->string) == 0) {
          if (keylen) snprintf(key, keylen, "%s", c->string);
          return 1;
        }
    if ((cJSON_IsObject(c) || cJSON_IsArray(c)) &&
        kk_json_duplicate_key(c, key, keylen))
      return 1;
  }
  return 0;
}
