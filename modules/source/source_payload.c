/*
 * modules/source/source_payload.c - CoAP payloads to readings (see .h).
 */
#include <klimakit.h>
#include "source/source_payload.h"

#include <cJSON.h>
#include <cbor.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_senml.h"
#include "source/source_sensor_community.h"

/* ---- path patterns --------------------------------------------------- */

int source_paths_init(source_paths_t *p, const char *const *pats, size_t n,
                      char *err, size_t errlen) {
  p->pat = calloc(n ? n : 1, sizeof *p->pat);
  p->n = 0;
  if (!p->pat) {
    snprintf(err, errlen, "out of memory");
    return KK_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const char *s = pats[i];
    while (*s == '/')
      s++;
    if (!*s) {
      snprintf(err, errlen, "path pattern '%s' is empty", pats[i]);
      return KK_EINVAL;
    }
    for (const char *q = s; (q = strchr(q, '{')) != NULL; q++) {
      if (strncmp(q, "{thing}", 7) != 0 && strncmp(q, "{property}", 10) != 0) {
        snprintf(err, errlen,
                 "path pattern '%s': only {thing} and {property} may be "
                 "captured",
                 pats[i]);
        return KK_EINVAL;
      }
    }
    p->pat[i] = strdup(s);
    if (!p->pat[i]) {
      snprintf(err, errlen, "out of memory");
      return KK_ENOMEM;
    }
    p->n = i + 1;
  }
  return 0;
}

void source_paths_free(source_paths_t *p) {
  for (size_t i = 0; i < p->n; i++)
    free(p->pat[i]);
  free(p->pat);
  p->pat = NULL;
  p->n = 0;
}

/* Copies [s, s+n) into a name buffer; 0 when empty or too long. */
static int cp_name(char *dst, const char *s, size_t n) {
  if (n == 0 || n >= COAP_PAYLOAD_NAME_MAX) return 0;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return 1;
}

static int match_one(const char *pat, const char *path, char *thing,
                     char *property) {
  thing[0] = property[0] = '\0';
  for (;;) {
    const char *pe = strchr(pat, '/');
    const char *se = strchr(path, '/');
    size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
    size_t sl = se ? (size_t)(se - path) : strlen(path);
    if (pl == 7 && memcmp(pat, "{thing}", 7) == 0) {
      if (!cp_name(thing, path, sl)) return 0;
    } else if (pl == 10 && memcmp(pat, "{property}", 10) == 0) {
      if (!cp_name(property, path, sl)) return 0;
    } else if (pl != sl || memcmp(pat, path, pl) != 0) {
      return 0;
    }
    if (!pe && !se) return 1;
    if (!pe || !se) return 0;
    pat = pe + 1;
    path = se + 1;
  }
}

int source_paths_match(const source_paths_t *p, const char *path, char *thing,
                       char *property) {
  while (*path == '/')
    path++;
  for (size_t i = 0; i < p->n; i++)
    if (match_one(p->pat[i], path, thing, property)) return (int)i;
  thing[0] = property[0] = '\0';
  return -1;
}

int source_payload_format_ok(uint32_t f) {
  return f == COAP_CF_TEXT || f == COAP_CF_JSON || f == COAP_CF_CBOR ||
         f == SENML_CF_JSON || f == SENML_CF_SENSML_JSON ||
         f == SENML_CF_CBOR || f == SENML_CF_SENSML_CBOR;
}

void source_payload_meta_add(char *buf, size_t len, const char *key,
                             const char *value) {
  size_t n = strlen(buf);
  if (!value || !value[0] || n < 2 || buf[n - 1] != '}') return;
  size_t mark = n - 1, o = mark, cap = len - 2;
  int fits = o + 1 < cap;
  if (fits && o > 1) buf[o++] = ',';
  fits = fits && kk_json_str(buf, &o, cap, key, strlen(key)) == 0;
  fits = fits && o + 1 < cap;
  if (fits) buf[o++] = ':';
  fits = fits && kk_json_str(buf, &o, cap, value, strlen(value)) == 0;
  if (!fits) o = mark;
  buf[o++] = '}';
  buf[o] = '\0';
}

void source_payload_meta(char *buf, size_t len, const char *path,
                         const char *peer, const char *identity,
                         const char *thing, const char *property) {
  const char *keys[] = {"path", "peer", "identity", "thing", "property"};
  const char *vals[] = {path, peer, identity, thing, property};
  size_t n = 0;
  if (len < 3) {
    if (len) buf[0] = '\0';
    return;
  }
  size_t cap = len - 2; /* room for '}' and the NUL */
  buf[n++] = '{';
  for (size_t i = 0; i < 5; i++) {
    if (!vals[i] || !vals[i][0]) continue;
    size_t mark = n;
    int fits = n + 1 < cap;
    if (fits && n > 1) buf[n++] = ',';
    fits = fits && kk_json_str(buf, &n, cap, keys[i], strlen(keys[i])) == 0;
    fits = fits && n + 1 < cap;
    if (fits) buf[n++] = ':';
    fits = fits && kk_json_str(buf, &n, cap, vals[i], strlen(vals[i])) == 0;
    if (!fits) n = mark;
  }
  buf[n++] = '}';
  buf[n] = '\0';
}

/* ---- collecting readings all or nothing ------------------------------ */

typedef struct collect {
  kk_reading_t *r;
  size_t n, cap;
  const char *thing;    /* from the path, "" when none */
  const char *property; /* from the path, "" when none */
  int64_t now;
  int names;           /* SENML_NAMES_* */
  senml_guard_t guard; /* SenML: one datastream per resolved name */
  size_t skipped;      /* SenML string and data values */
  char *err;
  size_t errlen;
} collect_t;

/* True for well-formed UTF-8 without control characters: names end up in
 * stores, JSON files and dashboards. */
static int name_ok(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    unsigned c = *p, n;
    if (c < 0x20 || c == 0x7f) return 0;
    if (c < 0x80) {
      p++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf)
      n = 1;
    else if (c >= 0xe0 && c <= 0xef)
      n = 2;
    else if (c >= 0xf0 && c <= 0xf4)
      n = 3;
    else
      return 0;
    unsigned cp = c & (0x3f >> n);
    for (unsigned i = 1; i <= n; i++) {
      if ((p[i] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return 0;
    p += n + 1;
  }
  return 1;
}

static int collect_add(collect_t *c, const char *thing, const char *property,
                       const char *unit, int64_t t, double v) {
  const char *bad = !name_ok(thing)      ? "thing"
                    : !name_ok(property) ? "property"
                    : !name_ok(unit)     ? "unit"
                                         : NULL;
  if (bad) {
    snprintf(c->err, c->errlen,
             "%s is not UTF-8 text without control "
             "characters",
             bad);
    return KK_EPARSE;
  }
  if (c->n == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 16;
    kk_reading_t *nr = realloc(c->r, ncap * sizeof *nr);
    if (!nr) {
      snprintf(c->err, c->errlen, "out of memory");
      return KK_ENOMEM;
    }
    c->r = nr;
    c->cap = ncap;
  }
  int rc = kk_reading_make(thing, property, unit, t, v, &c->r[c->n], c->err,
                           c->errlen);
  if (rc == 0) c->n++;
  return rc;
}

/* ---- SenML ----------------------------------------------------------- */

static int senml_add(collect_t *c, const senml_record_t *r, const char *thing,
                     const char *prop, const char *unit, double v) {
  char why[200];
  int rc = senml_guard_check(&c->guard, thing, prop, r->name, why, sizeof why);
  if (rc == 0)
    rc = collect_add(c, thing, prop, unit, r->time_ms, v);
  else
    snprintf(c->err, c->errlen, "%s", why);
  if (rc != 0) {
    snprintf(why, sizeof why, "%s", c->err);
    snprintf(c->err, c->errlen, "senml: record %zu: %s", r->index, why);
  }
  return rc;
}

static int senml_cb(void *ctx, const senml_record_t *r) {
  collect_t *c = ctx;
  if (r->vtype == SENML_VALUE_STRING || r->vtype == SENML_VALUE_DATA) {
    c->skipped++; /* vs, vd: no number to store; counted by the source */
    if (!r->has_sum) return 0;
  }
  char thing[COAP_PAYLOAD_NAME_MAX], prop[COAP_PAYLOAD_NAME_MAX], why[200];
  int rc = senml_map_name(r, c->names, c->thing, c->property, thing, prop,
                          sizeof prop, why, sizeof why);
  if (rc != 0) {
    snprintf(c->err, c->errlen, "senml: record %zu: %s", r->index, why);
    return rc;
  }
  const char *unit = r->unit && r->unit[0] ? r->unit : "1";
  if (r->vtype == SENML_VALUE_NUMBER || r->vtype == SENML_VALUE_BOOL) {
    double v =
        r->vtype == SENML_VALUE_BOOL ? (r->boolean ? 1.0 : 0.0) : r->value;
    if ((rc = senml_add(c, r, thing, prop, unit, v)) != 0) return rc;
  }
  if (r->has_sum) {
    /* A sum is the integral of the values over time (section 4.2): its
     * own datastream, never the value's. */
    char sp[COAP_PAYLOAD_NAME_MAX + 8], su[COAP_PAYLOAD_NAME_MAX + 8];
    char sn[COAP_PAYLOAD_NAME_MAX * 2];
    snprintf(sp, sizeof sp, "%s.sum", prop);
    snprintf(sn, sizeof sn, "%s (sum)", r->name);
    senml_sum_unit(r->unit, su, sizeof su);
    senml_record_t rs = *r;
    rs.name = sn;
    return senml_add(c, &rs, thing, sp, su, r->sum);
  }
  return 0;
}
static int decode_senml(collect_t *c, const kk_raw_t *raw) {
  char why[200];
  why[0] = '\0';
  c->err[0] = '\0';
  int rc = senml_decode(raw->format, raw->data, raw->len, raw->time_ms,
                        senml_cb, c, why, sizeof why);
  if (rc != 0 && !c->err[0])
    snprintf(c->err, c->errlen, "senml: %s", why[0] ? why : kk_strerror(rc));
  return rc;
}

/* ---- JSON (50) ------------------------------------------------------- */

static int json_str(const cJSON *o, const char *name, const char *fallback,
                    const char **out, char *err, size_t errlen, size_t idx) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!it) {
    if (fallback && fallback[0]) {
      *out = fallback;
      return 0;
    }
    snprintf(err, errlen, "json: reading %zu: field '%s' missing", idx, name);
    return KK_EMISSING;
  }
  if (!cJSON_IsString(it) || !it->valuestring || !it->valuestring[0]) {
    snprintf(err, errlen,
             "json: reading %zu: field '%s' must be a non-empty "
             "string",
             idx, name);
    return KK_ETYPE;
  }
  *out = it->valuestring;
  return 0;
}

static int json_one(collect_t *c, const cJSON *o, size_t idx) {
  const char *thing, *prop, *unit;
  int rc;
  if (!cJSON_IsObject(o)) {
    snprintf(c->err, c->errlen, "json: reading %zu: must be an object", idx);
    return KK_ETYPE;
  }
  if ((rc = json_str(o, "thing", c->thing, &thing, c->err, c->errlen, idx)) ||
      (rc = json_str(o, "property", c->property, &prop, c->err, c->errlen,
                     idx)) ||
      (rc = json_str(o, "unit", NULL, &unit, c->err, c->errlen, idx)))
    return rc;
  int64_t t = c->now;
  const cJSON *tm = cJSON_GetObjectItemCaseSensitive(o, "time");
  if (tm && cJSON_IsNumber(tm)) {
    double v = tm->valuedouble;
    if (v != floor(v) || fabs(v) > 9007199254740992.0) {
      snprintf(c->err, c->errlen,
               "json: reading %zu: field 'time' must be "
               "integer milliseconds since 1970",
               idx);
      return KK_ERANGE;
    }
    t = (int64_t)v;
  } else if (tm && cJSON_IsString(tm) && tm->valuestring) {
    if (kk_time_parse_iso8601(tm->valuestring, strlen(tm->valuestring), &t) !=
        0) {
      snprintf(c->err, c->errlen,
               "json: reading %zu: field 'time' is not an "
               "ISO 8601 date-time with zone",
               idx);
      return KK_EPARSE;
    }
  } else if (tm) {
    snprintf(c->err, c->errlen,
             "json: reading %zu: field 'time' must be an "
             "ISO 8601 string or milliseconds",
             idx);
    return KK_ETYPE;
  }
  const cJSON *val = cJSON_GetObjectItemCaseSensitive(o, "value");
  if (!val) {
    snprintf(c->err, c->errlen, "json: reading %zu: field 'value' missing",
             idx);
    return KK_EMISSING;
  }
  if (!cJSON_IsNumber(val)) {
    snprintf(c->err, c->errlen,
             "json: reading %zu: field 'value' must be a "
             "number",
             idx);
    return KK_ETYPE;
  }
  return collect_add(c, thing, prop, unit, t, val->valuedouble);
}

static int decode_json(collect_t *c, const kk_raw_t *raw) {
  const char *stop = NULL;
  cJSON *root =
      cJSON_ParseWithLengthOpts((const char *)raw->data, raw->len, &stop, 0);
  if (!root) {
    if (stop && stop >= (const char *)raw->data &&
        stop <= (const char *)raw->data + raw->len)
      snprintf(c->err, c->errlen, "json: invalid JSON at byte %zu",
               (size_t)(stop - (const char *)raw->data) + 1);
    else
      snprintf(c->err, c->errlen, "json: invalid JSON");
    return KK_EPARSE;
  }
  const char *e = (const char *)raw->data + raw->len;
  while (stop && stop < e &&
         (*stop == ' ' || *stop == '\t' || *stop == '\n' || *stop == '\r'))
    stop++;
  char dup[64];
  if (stop && stop < e) {
    snprintf(c->err, c->errlen, "json: %zu bytes after the JSON value",
             (size_t)(e - stop));
    cJSON_Delete(root);
    return KK_EPARSE;
  }
  if (kk_json_duplicate_key(root, dup, sizeof dup)) {
    snprintf(c->err, c->errlen, "json: duplicate key '%s'", dup);
    cJSON_Delete(root);
    return KK_EPARSE;
  }
  int rc = 0;
  if (cJSON_IsArray(root)) {
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
      if ((rc = json_one(c, it, ++i)) != 0) break;
    }
    if (rc == 0 && i == 0) {
      snprintf(c->err, c->errlen, "json: empty array");
      rc = KK_EMISSING;
    }
  } else {
    rc = json_one(c, root, 1);
  }
  cJSON_Delete(root);
  return rc;
}

/* ---- CBOR (60) ------------------------------------------------------- */

static int cbor_num(const cbor_item_t *it, double *out) {
  if (cbor_isa_uint(it)) {
    *out = (double)cbor_get_int(it);
    return 1;
  }
  if (cbor_isa_negint(it)) {
    *out = -1.0 - (double)cbor_get_int(it);
    return 1;
  }
  if (cbor_isa_float_ctrl(it) && !cbor_float_ctrl_is_ctrl(it)) {
    *out = cbor_float_get_float(it);
    return 1;
  }
  return 0;
}

static int cbor_key_is(const cbor_item_t *k, const char *name) {
  size_t n = strlen(name);
  return cbor_isa_string(k) && cbor_string_is_definite(k) &&
         cbor_string_length(k) == n &&
         memcmp(cbor_string_handle(k), name, n) == 0;
}

/* Copies a definite text string into buf; 0 when not one or too long. */
static int cbor_text(const cbor_item_t *v, char *buf, size_t len) {
  if (!cbor_isa_string(v) || !cbor_string_is_definite(v)) return 0;
  size_t n = cbor_string_length(v);
  if (n == 0 || n >= len || memchr(cbor_string_handle(v), 0, n)) return 0;
  memcpy(buf, cbor_string_handle(v), n);
  buf[n] = '\0';
  return 1;
}

static int cbor_one(collect_t *c, const cbor_item_t *m, size_t idx) {
  char thing[COAP_PAYLOAD_NAME_MAX], prop[COAP_PAYLOAD_NAME_MAX],
      unit[COAP_PAYLOAD_NAME_MAX], ts[64];
  int have_t = 0, have_p = 0, have_u = 0, have_v = 0;
  int64_t t = c->now;
  double v = 0;
  if (!cbor_isa_map(m) || !cbor_map_is_definite(m)) {
    snprintf(c->err, c->errlen, "cbor: reading %zu: must be a map", idx);
    return KK_ETYPE;
  }
  struct cbor_pair *kv = cbor_map_handle(m);
  for (size_t i = 0; i < cbor_map_size(m); i++) {
    const cbor_item_t *k = kv[i].key, *val = kv[i].value;
    const char *bad = NULL;
    if (cbor_key_is(k, "thing")) {
      if (!(have_t = cbor_text(val, thing, sizeof thing))) bad = "thing";
    } else if (cbor_key_is(k, "property")) {
      if (!(have_p = cbor_text(val, prop, sizeof prop))) bad = "property";
    } else if (cbor_key_is(k, "unit")) {
      if (!(have_u = cbor_text(val, unit, sizeof unit))) bad = "unit";
    } else if (cbor_key_is(k, "value")) {
      if (!(have_v = cbor_num(val, &v))) {
        snprintf(c->err, c->errlen,
                 "cbor: reading %zu: field 'value' must "
                 "be a number",
                 idx);
        return KK_ETYPE;
      }
    } else if (cbor_key_is(k, "time")) {
      double d;
      if (cbor_isa_tag(val) && cbor_tag_value(val) == 1) {
        cbor_item_t *in = cbor_tag_item(val);
        int okn = cbor_num(in, &d);
        cbor_decref(&in);
        if (!okn || !isfinite(d) || fabs(d) > 9.0e12) {
          snprintf(c->err, c->errlen,
                   "cbor: reading %zu: tag 1 time must be "
                   "epoch seconds",
                   idx);
          return KK_ERANGE;
        }
        t = (int64_t)llround(d * 1000.0);
      } else if (cbor_num(val, &d)) {
        if (d != floor(d) || fabs(d) > 9007199254740992.0) {
          snprintf(c->err, c->errlen,
                   "cbor: reading %zu: field 'time' must "
                   "be integer milliseconds since 1970",
                   idx);
          return KK_ERANGE;
        }
        t = (int64_t)d;
      } else if (cbor_text(val, ts, sizeof ts)) {
        if (kk_time_parse_iso8601(ts, strlen(ts), &t) != 0) {
          snprintf(c->err, c->errlen,
                   "cbor: reading %zu: field 'time' is not "
                   "an ISO 8601 date-time with zone",
                   idx);
          return KK_EPARSE;
        }
      } else {
        snprintf(c->err, c->errlen,
                 "cbor: reading %zu: field 'time' must be "
                 "milliseconds, ISO 8601 text or tag 1",
                 idx);
        return KK_ETYPE;
      }
    }
    if (bad) {
      snprintf(c->err, c->errlen,
               "cbor: reading %zu: field '%s' must be a "
               "non-empty text string",
               idx, bad);
      return KK_ETYPE;
    }
  }
  const char *miss = !have_t && !c->thing[0]      ? "thing"
                     : !have_p && !c->property[0] ? "property"
                     : !have_u                    ? "unit"
                     : !have_v                    ? "value"
                                                  : NULL;
  if (miss) {
    snprintf(c->err, c->errlen, "cbor: reading %zu: field '%s' missing", idx,
             miss);
    return KK_EMISSING;
  }
  return collect_add(c, have_t ? thing : c->thing, have_p ? prop : c->property,
                     unit, t, v);
}

/* Checks that `p` holds one well-formed CBOR item whose declared lengths
 * fit in the bytes that are there, nested at most `depth` deep; returns
 * the end of the item or NULL.  libcbor's cbor_load() allocates what an
 * array or map header declares before it reads the elements: a 40-byte
 * body declaring 2^31 elements held the loop for 20 seconds. */
static const uint8_t *cbor_check(const uint8_t *p, const uint8_t *end,
                                 int depth) {
  if (p >= end || depth <= 0) return NULL;
  unsigned major = *p >> 5, ai = *p & 31;
  p++;
  uint64_t v = ai;
  if (ai >= 24 && ai <= 27) {
    size_t n = (size_t)1 << (ai - 24);
    if ((size_t)(end - p) < n) return NULL;
    v = 0;
    for (size_t i = 0; i < n; i++)
      v = v << 8 | *p++;
  } else if (ai >= 28 && ai <= 30) {
    return NULL;
  }
  int indef = ai == 31;
  switch (major) {
  case 0:
  case 1:
    return indef ? NULL : p;
  case 2:
  case 3:
    if (indef) {
      while (p < end && *p != 0xff) {
        if ((unsigned)(*p >> 5) != major || (*p & 31) == 31) return NULL;
        if (!(p = cbor_check(p, end, depth - 1))) return NULL;
      }
      return p < end ? p + 1 : NULL;
    }
    return v <= (uint64_t)(end - p) ? p + v : NULL;
  case 4:
  case 5:
    if (indef) {
      while (p < end && *p != 0xff)
        if (!(p = cbor_check(p, end, depth - 1))) return NULL;
      return p < end ? p + 1 : NULL;
    }
    if (major == 5) {
      if (v > (uint64_t)(end - p) / 2) return NULL;
      v *= 2;
    } else if (v > (uint64_t)(end - p)) {
      return NULL;
    }
    for (uint64_t i = 0; i < v; i++)
      if (!(p = cbor_check(p, end, depth - 1))) return NULL;
    return p;
  case 6:
    return indef ? NULL : cbor_check(p, end, depth - 1);
  default: /* 7: simple values and floats; a lone break is malformed */
    return indef ? NULL : p;
  }
}

static int decode_cbor(collect_t *c, const kk_raw_t *raw) {
  struct cbor_load_result res;
  const uint8_t *end = cbor_check(raw->data, raw->data + raw->len, 16);
  if (!end) {
    snprintf(c->err, c->errlen,
             "cbor: malformed, truncated or nested "
             "deeper than 16");
    return KK_EPARSE;
  }
  cbor_item_t *root = cbor_load(raw->data, raw->len, &res);
  if (!root) {
    snprintf(c->err, c->errlen, "cbor: malformed at byte %zu",
             res.error.position + 1);
    return KK_EPARSE;
  }
  int rc = 0;
  if (res.read != raw->len) {
    snprintf(c->err, c->errlen, "cbor: %zu bytes after the item",
             raw->len - res.read);
    rc = KK_EPARSE;
  } else if (cbor_isa_array(root)) {
    size_t n = cbor_array_size(root);
    cbor_item_t **a = cbor_array_handle(root);
    for (size_t i = 0; i < n && rc == 0; i++)
      rc = cbor_one(c, a[i], i + 1);
    if (rc == 0 && n == 0) {
      snprintf(c->err, c->errlen, "cbor: empty array");
      rc = KK_EMISSING;
    }
  } else {
    rc = cbor_one(c, root, 1);
  }
  cbor_decref(&root);
  return rc;
}

/* ---- text/plain (0) -------------------------------------------------- */

static int decode_text(collect_t *c, const kk_raw_t *raw) {
  char buf[256];
  if (raw->len >= sizeof buf) {
    snprintf(c->err, c->errlen, "text: longer than %zu bytes", sizeof buf - 1);
    return KK_ETOOBIG;
  }
  memcpy(buf, raw->data, raw->len);
  buf[raw->len] = '\0';
  if (strlen(buf) != raw->len) {
    snprintf(c->err, c->errlen, "text: contains a NUL byte");
    return KK_EPARSE;
  }
  char *s = buf, *e = buf + raw->len;
  while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
    s++;
  while (e > s &&
         (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
    *--e = '\0';
  const char *prop = c->property;
  char *eq = strchr(s, '=');
  if (eq) {
    *eq = '\0';
    char *pe = eq;
    while (pe > s && (pe[-1] == ' ' || pe[-1] == '\t'))
      *--pe = '\0';
    if (!*s) {
      snprintf(c->err, c->errlen, "text: empty property before '='");
      return KK_EPARSE;
    }
    prop = s;
    s = eq + 1;
    while (*s == ' ' || *s == '\t')
      s++;
  }
  if (!prop[0]) {
    snprintf(c->err, c->errlen,
             "text: no property (send 'property=value' "
             "or use a path with {property})");
    return KK_EMISSING;
  }
  if (!c->thing[0]) {
    snprintf(c->err, c->errlen,
             "text: the path names no thing (use a path "
             "with {thing})");
    return KK_EMISSING;
  }
  char *end;
  double v = strtod(s, &end);
  if (end == s) {
    snprintf(c->err, c->errlen, "text: value '%.40s' is not a number", s);
    return KK_EPARSE;
  }
  while (*end == ' ' || *end == '\t')
    end++;
  const char *unit = *end ? end : "1";
  if (strpbrk(unit, " \t")) {
    snprintf(c->err, c->errlen,
             "text: expected '[property=]value[ unit]', "
             "got extra text after the unit");
    return KK_EPARSE;
  }
  return collect_add(c, c->thing, prop, unit, c->now, v);
}

/* ---- Sensor.Community (airrohr) -------------------------------------- */

typedef struct sc_ctx {
  collect_t *c;
  const char *thing;
} sc_ctx_t;

static int sc_value(void *ctx, const char *property, const char *unit,
                    double value) {
  sc_ctx_t *x = ctx;
  return collect_add(x->c, x->thing, property, unit, x->c->now, value);
}

static int decode_sc(collect_t *c, const kk_raw_t *raw) {
  char sensor[COAP_PAYLOAD_NAME_MAX], thing[COAP_PAYLOAD_NAME_MAX];
  kk_raw_meta_get(raw->meta ? raw->meta : "", "sensor", sensor, sizeof sensor);
  sc_ctx_t x = {c, c->thing[0] ? c->thing : thing};
  int rc = sc_decode(raw->data, raw->len, sensor, thing, sizeof thing, sc_value,
                     &x, &c->skipped, c->err, c->errlen);
  if (rc > 0) rc = KK_EPARSE;
  return rc;
}

/* ---- entry ----------------------------------------------------------- */

int source_payload_decode(const source_paths_t *p, const kk_raw_t *raw,
                          kk_batch_t *out, size_t *skipped, char *err,
                          size_t errlen) {
  char thing[COAP_PAYLOAD_NAME_MAX], prop[COAP_PAYLOAD_NAME_MAX];
  char path[512];
  kk_raw_meta_get(raw->meta ? raw->meta : "", "path", path, sizeof path);
  if (source_paths_match(p, path, thing, prop) < 0) thing[0] = prop[0] = '\0';
  collect_t c = {.thing = thing,
                 .property = prop,
                 .now = raw->time_ms,
                 .names = p->senml_names,
                 .err = err,
                 .errlen = errlen};
  err[0] = '\0';
  int rc;
  switch (raw->format) {
  case SENML_CF_JSON:
  case SENML_CF_SENSML_JSON:
  case SENML_CF_CBOR:
  case SENML_CF_SENSML_CBOR:
    rc = decode_senml(&c, raw);
    break;
  case COAP_CF_JSON:
    rc = decode_json(&c, raw);
    break;
  case COAP_CF_CBOR:
    rc = decode_cbor(&c, raw);
    break;
  case COAP_CF_TEXT:
    rc = decode_text(&c, raw);
    break;
  case SOURCE_FMT_SENSOR_COMMUNITY:
    rc = decode_sc(&c, raw);
    break;
  default:
    snprintf(err, errlen, "unsupported content format %u",
             (unsigned)raw->format);
    rc = KK_EUNKNOWN;
  }
  if (rc > 0) rc = KK_EPARSE; /* a callback's positive value */
  for (size_t i = 0; rc == 0 && i < c.n; i++)
    rc = kk_batch_push(out, &c.r[i]);
  if (skipped) *skipped = rc == 0 ? c.skipped : 0;
  senml_guard_free(&c.guard);
  free(c.r);
  return rc;
}

int source_payload_decode_stage(kk_stage_t *st, const source_paths_t *p,
                                const kk_raw_t *raw, kk_batch_t *out) {
  char why[256];
  size_t skipped = 0;
  int rc = source_payload_decode(p, raw, out, &skipped, why, sizeof why);
  if (rc != 0) kk_stage_error(st, "%s", why);
  if (skipped)
    kk_metric_add(kk_stage_counter(st, "kk_decode_skipped_total", "non_numeric",
                                   "Decoded values skipped, by reason."),
                  skipped);
  return rc;
}
