/* modules/decode/decode_senml.c - SenML (RFC 8428) decoding, JSON and CBOR.
 *
 * Both front ends fill one senml_fields_t per record; senml_resolve()
 * applies the base fields (RFC 8428 section 4.6) and calls back.  Section
 * numbers below refer to RFC 8428. */
#include "decode/decode_senml.h"

#include <cJSON.h>
#include <cbor.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Section 4.5.3: times below 2^28 s are relative to "now". */
#define SENML_REL_LIMIT 268435456.0
/* Keep times where int64 milliseconds cannot overflow (year ~ 300000). */
#define SENML_TIME_MAX 1e13
#define SENML_NAME_MAX 4096

enum {
  F_BN = 1u << 0,
  F_BT = 1u << 1,
  F_BU = 1u << 2,
  F_BV = 1u << 3,
  F_BS = 1u << 4,
  F_BVER = 1u << 5,
  F_N = 1u << 6,
  F_U = 1u << 7,
  F_V = 1u << 8,
  F_VS = 1u << 9,
  F_VB = 1u << 10,
  F_VD = 1u << 11,
  F_S = 1u << 12,
  F_T = 1u << 13,
  F_UT = 1u << 14
};

/* One record as written, before resolution.  Strings are borrowed from
 * the parser's tree and need not be NUL-terminated. */
typedef struct senml_fields {
  unsigned has;
  const char *bn, *bu, *n, *u, *vs;
  size_t bn_len, bu_len, n_len, u_len, vs_len;
  const uint8_t *vd; /* CBOR: raw bytes; JSON: base64url text */
  size_t vd_len;
  int vd_is_text;
  double bt, bv, bs, v, s, t, ut;
  int64_t bver;
  int vb;
} senml_fields_t;

typedef struct senml_ctx {
  int64_t now_ms;
  senml_record_cb cb;
  void *ud;
  char *err;
  size_t errlen;
  /* base state, in force until overridden (section 4.1) */
  char *bn;
  char *bu;
  double bt, bv, bs;
  int64_t bver;
  /* scratch */
  char *name, *unit, *str, *n;
  uint8_t *data;
} senml_ctx_t;

static int senml_fail(senml_ctx_t *c, int rc, const char *fmt, ...)
    KK_PRINTF(3, 4);
static int senml_fail(senml_ctx_t *c, int rc, const char *fmt, ...) {
  if (c->err && c->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static char *senml_strdup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* Section 4.5.1: names start with a letter or digit and continue with
 * letters, digits and "-:./_". */
static int senml_name_ok(const char *s) {
  if (!s[0]) return 0;
  for (size_t i = 0; s[i]; i++) {
    unsigned char ch = (unsigned char)s[i];
    int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9');
    if (i == 0 && !alnum) return 0;
    if (!alnum && !strchr("-:./_", ch)) return 0;
  }
  return 1;
}

/* RFC 4648 section 5 (base64url); also accepts the standard alphabet and
 * '=' padding, which senders produce by mistake. */
static int senml_b64url(const char *in, size_t n, uint8_t *out,
                        size_t *outlen) {
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  while (n > 0 && in[n - 1] == '=')
    n--;
  for (size_t i = 0; i < n; i++) {
    char ch = in[i];
    int v;
    if (ch >= 'A' && ch <= 'Z')
      v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z')
      v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9')
      v = ch - '0' + 52;
    else if (ch == '-' || ch == '+')
      v = 62;
    else if (ch == '_' || ch == '/')
      v = 63;
    else
      return KK_EPARSE;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  if (bits >= 6) return KK_EPARSE; /* a lone sextet is not a byte */
  *outlen = o;
  return 0;
}

static int senml_resolve(senml_ctx_t *c, size_t idx, const senml_fields_t *f) {
  /* Base fields first: they apply to this record too. */
  if (f->has & F_BN) {
    char *p = senml_strdup(f->bn, f->bn_len);
    if (!p) return senml_fail(c, KK_ENOMEM, "out of memory");
    free(c->bn);
    c->bn = p;
  }
  if (f->has & F_BU) {
    char *p = senml_strdup(f->bu, f->bu_len);
    if (!p) return senml_fail(c, KK_ENOMEM, "out of memory");
    free(c->bu);
    c->bu = p;
  }
  if (f->has & F_BT) c->bt = f->bt;
  if (f->has & F_BV) c->bv = f->bv;
  if (f->has & F_BS) c->bs = f->bs;
  if (f->has & F_BVER) {
    if (f->bver < 1)
      return senml_fail(c, KK_EPARSE, "record %zu: bad 'bver' %lld", idx,
                        (long long)f->bver);
    if (f->bver > 10)
      return senml_fail(c, KK_EPARSE,
                        "record %zu: SenML version %lld is not supported "
                        "(up to 10)",
                        idx, (long long)f->bver);
    c->bver = f->bver;
  }

  senml_record_t r;
  memset(&r, 0, sizeof r);
  r.index = idx;
  r.version = c->bver;

  int nvals = !!(f->has & F_V) + !!(f->has & F_VS) + !!(f->has & F_VB) +
              !!(f->has & F_VD);
  if (nvals > 1)
    return senml_fail(c, KK_EPARSE, "record %zu: more than one value field",
                      idx);
  if (nvals == 0 && !(f->has & F_S)) {
    /* Section 5.1.7: a record of base fields only sets the base state for
     * the records after it. */
    if (!(f->has & (F_N | F_U | F_T | F_UT)) &&
        (f->has & (F_BN | F_BT | F_BU | F_BV | F_BS | F_BVER)))
      return 0;
    return senml_fail(c, KK_EPARSE, "record %zu: no value and no sum", idx);
  }

  /* Name: bn + n. */
  size_t bnl = c->bn ? strlen(c->bn) : 0;
  size_t nl = (f->has & F_N) ? f->n_len : 0;
  if (bnl + nl > SENML_NAME_MAX)
    return senml_fail(c, KK_EPARSE, "record %zu: name longer than %d bytes",
                      idx, SENML_NAME_MAX);
  if ((f->has & F_N) && memchr(f->n, '\0', nl))
    return senml_fail(c, KK_EPARSE, "record %zu: NUL byte in 'n'", idx);
  free(c->name);
  free(c->n);
  c->name = malloc(bnl + nl + 1);
  c->n = senml_strdup(nl ? f->n : "", nl);
  if (!c->name || !c->n) return senml_fail(c, KK_ENOMEM, "out of memory");
  if (bnl) memcpy(c->name, c->bn, bnl);
  if (nl) memcpy(c->name + bnl, f->n, nl);
  c->name[bnl + nl] = '\0';
  if (!senml_name_ok(c->name))
    return senml_fail(c, KK_EPARSE,
                      "record %zu: invalid name '%.64s' (section 4.5.1: "
                      "letters, digits and -:./_, starting alphanumeric)",
                      idx, c->name);
  r.name = c->name;
  r.base_name = c->bn ? c->bn : "";
  r.short_name = c->n;

  /* Unit: u, else bu. */
  free(c->unit);
  c->unit = NULL;
  if (f->has & F_U) {
    c->unit = senml_strdup(f->u, f->u_len);
    if (!c->unit) return senml_fail(c, KK_ENOMEM, "out of memory");
    r.unit = c->unit[0] ? c->unit : NULL;
  } else if (c->bu && c->bu[0]) {
    r.unit = c->bu;
  }

  if (f->has & F_V) {
    r.vtype = SENML_VALUE_NUMBER;
    r.value = f->v + c->bv;
    if (!isfinite(r.value))
      return senml_fail(c, KK_EPARSE, "record %zu: value is not finite", idx);
  } else if (f->has & F_VS) {
    free(c->str);
    c->str = senml_strdup(f->vs, f->vs_len);
    if (!c->str) return senml_fail(c, KK_ENOMEM, "out of memory");
    r.vtype = SENML_VALUE_STRING;
    r.str = c->str;
    r.str_len = f->vs_len;
  } else if (f->has & F_VB) {
    r.vtype = SENML_VALUE_BOOL;
    r.boolean = f->vb ? 1 : 0;
  } else if (f->has & F_VD) {
    r.vtype = SENML_VALUE_DATA;
    free(c->data);
    c->data = malloc(f->vd_len + 1);
    if (!c->data) return senml_fail(c, KK_ENOMEM, "out of memory");
    if (f->vd_is_text) {
      if (senml_b64url((const char *)f->vd, f->vd_len, c->data, &r.data_len))
        return senml_fail(c, KK_EPARSE, "record %zu: 'vd' is not base64url",
                          idx);
    } else {
      if (f->vd_len) memcpy(c->data, f->vd, f->vd_len);
      r.data_len = f->vd_len;
    }
    r.data = c->data;
  }
  if (f->has & F_S) {
    r.has_sum = 1;
    r.sum = f->s + c->bs;
    if (!isfinite(r.sum))
      return senml_fail(c, KK_EPARSE, "record %zu: sum is not finite", idx);
  }
  if (f->has & F_UT) {
    if (!isfinite(f->ut) || f->ut < 0)
      return senml_fail(c, KK_EPARSE, "record %zu: bad 'ut'", idx);
    r.has_update_time = 1;
    r.update_time_s = f->ut;
  }

  /* Time: bt + t; below 2^28 relative to now (section 4.5.3). */
  double t = c->bt + ((f->has & F_T) ? f->t : 0.0);
  if (!isfinite(t) || fabs(t) > SENML_TIME_MAX)
    return senml_fail(c, KK_EPARSE, "record %zu: time out of range", idx);
  if (t < SENML_REL_LIMIT) {
    r.time_relative = 1;
    r.time_ms = c->now_ms + llround(t * 1000.0);
  } else {
    r.time_ms = llround(t * 1000.0);
  }
  return c->cb ? c->cb(c->ud, &r) : 0;
}

static void senml_ctx_init(senml_ctx_t *c, int64_t now_ms, senml_record_cb cb,
                           void *ud, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  c->now_ms = now_ms;
  c->cb = cb;
  c->ud = ud;
  c->err = err;
  c->errlen = errlen;
  c->bver = 10;
  if (err && errlen) err[0] = '\0';
}

static void senml_ctx_free(senml_ctx_t *c) {
  free(c->bn);
  free(c->bu);
  free(c->name);
  free(c->unit);
  free(c->str);
  free(c->n);
  free(c->data);
}

/* ---- JSON (section 5) ---------------------------------------------- */

static int senml_json_record(senml_ctx_t *c, size_t idx, const cJSON *o) {
  senml_fields_t f;
  memset(&f, 0, sizeof f);
  if (!cJSON_IsObject(o))
    return senml_fail(c, KK_EPARSE, "record %zu is not an object", idx);
  for (const cJSON *m = o->child; m; m = m->next) {
    const char *k = m->string ? m->string : "";
    unsigned bit = 0;
    int kind = 0; /* 1 string, 2 number, 3 bool */
    if (!strcmp(k, "bn"))
      bit = F_BN, kind = 1;
    else if (!strcmp(k, "bt"))
      bit = F_BT, kind = 2;
    else if (!strcmp(k, "bu"))
      bit = F_BU, kind = 1;
    else if (!strcmp(k, "bv"))
      bit = F_BV, kind = 2;
    else if (!strcmp(k, "bs"))
      bit = F_BS, kind = 2;
    else if (!strcmp(k, "bver"))
      bit = F_BVER, kind = 2;
    else if (!strcmp(k, "n"))
      bit = F_N, kind = 1;
    else if (!strcmp(k, "u"))
      bit = F_U, kind = 1;
    else if (!strcmp(k, "v"))
      bit = F_V, kind = 2;
    else if (!strcmp(k, "vs"))
      bit = F_VS, kind = 1;
    else if (!strcmp(k, "vb"))
      bit = F_VB, kind = 3;
    else if (!strcmp(k, "vd"))
      bit = F_VD, kind = 1;
    else if (!strcmp(k, "s"))
      bit = F_S, kind = 2;
    else if (!strcmp(k, "t"))
      bit = F_T, kind = 2;
    else if (!strcmp(k, "ut"))
      bit = F_UT, kind = 2;
    else {
      size_t kl = strlen(k);
      if (kl && k[kl - 1] == '_')
        return senml_fail(c, KK_EPARSE,
                          "record %zu: unknown must-understand field '%.32s'",
                          idx, k);
      continue; /* section 4.4: ignore other unknown fields */
    }
    if (f.has & bit)
      return senml_fail(c, KK_EPARSE, "record %zu: duplicate field '%s'", idx,
                        k);
    if (kind == 1 && !cJSON_IsString(m))
      return senml_fail(c, KK_EPARSE, "record %zu: '%s' must be a string", idx,
                        k);
    if (kind == 2 && !cJSON_IsNumber(m))
      return senml_fail(c, KK_EPARSE, "record %zu: '%s' must be a number", idx,
                        k);
    if (kind == 3 && !cJSON_IsBool(m))
      return senml_fail(c, KK_EPARSE, "record %zu: '%s' must be true or false",
                        idx, k);
    f.has |= bit;
    const char *sv = kind == 1 ? m->valuestring : NULL;
    size_t sl = sv ? strlen(sv) : 0;
    double d = kind == 2 ? m->valuedouble : 0;
    switch (bit) {
    case F_BN:
      f.bn = sv, f.bn_len = sl;
      break;
    case F_BU:
      f.bu = sv, f.bu_len = sl;
      break;
    case F_N:
      f.n = sv, f.n_len = sl;
      break;
    case F_U:
      f.u = sv, f.u_len = sl;
      break;
    case F_VS:
      f.vs = sv, f.vs_len = sl;
      break;
    case F_VD:
      f.vd = (const uint8_t *)sv, f.vd_len = sl, f.vd_is_text = 1;
      break;
    case F_BT:
      f.bt = d;
      break;
    case F_BV:
      f.bv = d;
      break;
    case F_BS:
      f.bs = d;
      break;
    case F_V:
      f.v = d;
      break;
    case F_S:
      f.s = d;
      break;
    case F_T:
      f.t = d;
      break;
    case F_UT:
      f.ut = d;
      break;
    case F_VB:
      f.vb = cJSON_IsTrue(m);
      break;
    case F_BVER:
      if (d != floor(d) || fabs(d) > 1e9)
        return senml_fail(c, KK_EPARSE, "record %zu: 'bver' must be an integer",
                          idx);
      f.bver = (int64_t)d;
      break;
    }
  }
  return senml_resolve(c, idx, &f);
}

int senml_decode_json(const void *data, size_t len, int64_t now_ms,
                      senml_record_cb cb, void *ctx, char *err, size_t errlen) {
  senml_ctx_t c;
  senml_ctx_init(&c, now_ms, cb, ctx, err, errlen);
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts((const char *)data, len, &end, 0);
  int rc = 0;
  char dup[64];
  size_t tail = 0;
  if (root && end) {
    const char *e = (const char *)data + len;
    while (end < e &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
      end++;
    tail = (size_t)(e - end);
  }
  if (!root) {
    rc = senml_fail(&c, KK_EPARSE, "not JSON");
  } else if (tail) {
    rc = senml_fail(&c, KK_EPARSE, "%zu bytes after the JSON pack", tail);
  } else if (kk_json_duplicate_key(root, dup, sizeof dup)) {
    rc = senml_fail(&c, KK_EPARSE, "duplicate key '%s'", dup);
  } else if (!cJSON_IsArray(root)) {
    rc = senml_fail(&c, KK_EPARSE, "a SenML pack must be a JSON array");
  } else if (!root->child) {
    rc = senml_fail(&c, KK_EPARSE, "empty SenML pack");
  } else {
    size_t i = 0;
    for (const cJSON *o = root->child; o && rc == 0; o = o->next, i++)
      rc = senml_json_record(&c, i, o);
  }
  cJSON_Delete(root);
  senml_ctx_free(&c);
  return rc;
}

/* ---- CBOR (section 6) ---------------------------------------------- */

/* Checks that no declared length exceeds what the input can hold and that
 * nesting is shallow, before libcbor allocates anything on the strength of
 * a header.  Returns the number of bytes of one item at p, or 0 when it is
 * malformed or truncated. */
static size_t senml_cbor_scan(const uint8_t *p, size_t n, int depth) {
  if (n == 0 || depth > 16) return 0;
  unsigned mt = p[0] >> 5, ai = p[0] & 31;
  size_t hl = 1;
  uint64_t arg = ai;
  if (ai == 24)
    hl = 2;
  else if (ai == 25)
    hl = 3;
  else if (ai == 26)
    hl = 5;
  else if (ai == 27)
    hl = 9;
  else if (ai >= 28 && ai <= 30)
    return 0;
  if (hl > n) return 0;
  if (hl > 1) {
    arg = 0;
    for (size_t i = 1; i < hl; i++)
      arg = (arg << 8) | p[i];
  }
  if (ai == 31) {          /* indefinite length */
    if (mt == 7) return 0; /* a lone break */
    if (mt < 2) return 0;
    size_t off = 1;
    for (;;) {
      if (off >= n) return 0;
      if (p[off] == 0xff) return off + 1;
      size_t k = senml_cbor_scan(p + off, n - off, depth + 1);
      if (!k) return 0;
      off += k;
    }
  }
  switch (mt) {
  case 0:
  case 1:
  case 7:
    return hl;
  case 2:
  case 3:
    if (arg > n - hl) return 0;
    return hl + (size_t)arg;
  case 4:
  case 5: {
    if (arg > n - hl) return 0; /* each item takes at least one byte */
    uint64_t items = mt == 5 ? arg * 2 : arg;
    size_t off = hl;
    for (uint64_t i = 0; i < items; i++) {
      size_t k = senml_cbor_scan(p + off, n - off, depth + 1);
      if (!k) return 0;
      off += k;
    }
    return off;
  }
  case 6: {
    size_t k = senml_cbor_scan(p + hl, n - hl, depth + 1);
    return k ? hl + k : 0;
  }
  }
  return 0;
}

static int senml_cbor_num(const cbor_item_t *it, double *out) {
  if (cbor_isa_uint(it)) {
    *out = (double)cbor_get_int(it);
    return 0;
  }
  if (cbor_isa_negint(it)) {
    *out = -1.0 - (double)cbor_get_int(it);
    return 0;
  }
  if (cbor_isa_float_ctrl(it) && !cbor_float_ctrl_is_ctrl(it)) {
    *out = cbor_float_get_float(it);
    return 0;
  }
  return -1;
}

/* The CBOR label of a SenML field (RFC 8428, Table 6) -> its bit and the
 * kind of value it takes: 1 text, 2 number, 3 boolean, 4 bytes.  Returns
 * -1 for labels klimakit does not know. */
static int senml_cbor_label(int64_t label, unsigned *bit, int *kind) {
  static const struct {
    int64_t label;
    unsigned bit;
    int kind;
  } labels[] = {{-2, F_BN, 1}, {-3, F_BT, 2},   {-4, F_BU, 1}, {-5, F_BV, 2},
                {-6, F_BS, 2}, {-1, F_BVER, 2}, {0, F_N, 1},   {1, F_U, 1},
                {2, F_V, 2},   {3, F_VS, 1},    {4, F_VB, 3},  {5, F_S, 2},
                {6, F_T, 2},   {7, F_UT, 2},    {8, F_VD, 4}};
  for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
    if (labels[i].label == label) {
      *bit = labels[i].bit;
      *kind = labels[i].kind;
      return 0;
    }
  return -1;
}

/* Stores the checked value `v` (number `d`) of field `bit` in `f`.
 * Returns 0, or the code of senml_fail(). */
static int senml_cbor_store(senml_ctx_t *c, size_t idx, senml_fields_t *f,
                            unsigned bit, const cbor_item_t *v, double d) {
  const char *sv = NULL;
  size_t sl = 0;
  if (bit & (F_BN | F_BU | F_N | F_U | F_VS)) {
    sv = (const char *)cbor_string_handle(v);
    sl = cbor_string_length(v);
  }
  switch (bit) {
  case F_BN:
    f->bn = sv, f->bn_len = sl;
    break;
  case F_BU:
    f->bu = sv, f->bu_len = sl;
    break;
  case F_N:
    f->n = sv, f->n_len = sl;
    break;
  case F_U:
    f->u = sv, f->u_len = sl;
    break;
  case F_VS:
    f->vs = sv, f->vs_len = sl;
    break;
  case F_VD:
    f->vd = cbor_bytestring_handle(v), f->vd_len = cbor_bytestring_length(v);
    break;
  case F_BT:
    f->bt = d;
    break;
  case F_BV:
    f->bv = d;
    break;
  case F_BS:
    f->bs = d;
    break;
  case F_V:
    f->v = d;
    break;
  case F_S:
    f->s = d;
    break;
  case F_T:
    f->t = d;
    break;
  case F_UT:
    f->ut = d;
    break;
  case F_VB:
    f->vb = cbor_get_bool(v);
    break;
  case F_BVER:
    if (d != floor(d) || fabs(d) > 1e9)
      return senml_fail(c, KK_EPARSE, "record %zu: 'bver' must be an integer",
                        idx);
    f->bver = (int64_t)d;
    break;
  }
  return 0;
}

static int senml_cbor_record(senml_ctx_t *c, size_t idx, const cbor_item_t *m) {
  senml_fields_t f;
  memset(&f, 0, sizeof f);
  if (!cbor_isa_map(m) || !cbor_map_is_definite(m))
    return senml_fail(c, KK_EPARSE, "record %zu is not a definite map", idx);
  size_t np = cbor_map_size(m);
  struct cbor_pair *pairs = cbor_map_handle(m);
  for (size_t i = 0; i < np; i++) {
    const cbor_item_t *k = pairs[i].key, *v = pairs[i].value;
    int64_t label;
    if (cbor_isa_uint(k) && cbor_get_int(k) < 1000) {
      label = (int64_t)cbor_get_int(k);
    } else if (cbor_isa_negint(k) && cbor_get_int(k) < 1000) {
      label = -1 - (int64_t)cbor_get_int(k);
    } else if (cbor_isa_string(k)) {
      /* Section 6: labels are integers; a text label ending in "_" is a
       * must-understand extension we do not know. */
      size_t kl = cbor_string_length(k);
      if (cbor_string_is_definite(k) && kl &&
          cbor_string_handle(k)[kl - 1] == '_')
        return senml_fail(c, KK_EPARSE,
                          "record %zu: unknown must-understand field", idx);
      continue;
    } else {
      continue;
    }
    unsigned bit = 0;
    int kind = 0;
    if (senml_cbor_label(label, &bit, &kind) != 0)
      continue; /* other labels: extensions we ignore (section 4.4) */
    if (f.has & bit)
      return senml_fail(c, KK_EPARSE, "record %zu: duplicate label %lld", idx,
                        (long long)label);
    f.has |= bit;
    double d = 0;
    if (kind == 1 || kind == 4) {
      int ok = kind == 1 ? cbor_isa_string(v) : cbor_isa_bytestring(v);
      if (!ok || !(kind == 1 ? cbor_string_is_definite(v)
                             : cbor_bytestring_is_definite(v)))
        return senml_fail(
            c, KK_EPARSE, "record %zu: label %lld must be a definite %s", idx,
            (long long)label, kind == 1 ? "text string" : "byte string");
    } else if (kind == 2) {
      if (senml_cbor_num(v, &d) != 0)
        return senml_fail(c, KK_EPARSE,
                          "record %zu: label %lld must be a "
                          "number",
                          idx, (long long)label);
    } else if (kind == 3) {
      /* cbor_is_bool() asserts on floats in libcbor 0.8 (found by fuzzing):
       check for a simple value first. */
      if (!cbor_isa_float_ctrl(v) || !cbor_float_ctrl_is_ctrl(v) ||
          !cbor_is_bool(v))
        return senml_fail(c, KK_EPARSE, "record %zu: 'vb' must be a boolean",
                          idx);
    }
    int rc = senml_cbor_store(c, idx, &f, bit, v, d);
    if (rc) return rc;
  }
  /* Text fields may hold NUL bytes in CBOR; names are checked later, but
   * a unit or base unit with NUL would be cut short: refuse it. */
  if ((f.u && memchr(f.u, 0, f.u_len)) || (f.bu && memchr(f.bu, 0, f.bu_len)) ||
      (f.bn && memchr(f.bn, 0, f.bn_len)))
    return senml_fail(c, KK_EPARSE, "record %zu: NUL byte in a text field",
                      idx);
  return senml_resolve(c, idx, &f);
}

int senml_decode_cbor(const void *data, size_t len, int64_t now_ms,
                      senml_record_cb cb, void *ctx, char *err, size_t errlen) {
  senml_ctx_t c;
  senml_ctx_init(&c, now_ms, cb, ctx, err, errlen);
  int rc = 0;
  cbor_item_t *root = NULL;
  size_t used = len ? senml_cbor_scan(data, len, 0) : 0;
  if (used == 0) {
    rc = senml_fail(&c, KK_EPARSE, "not CBOR (malformed or truncated)");
  } else if (used != len) {
    rc = senml_fail(&c, KK_EPARSE, "%zu bytes of garbage after the CBOR pack",
                    len - used);
  } else {
    struct cbor_load_result res;
    root = cbor_load(data, len, &res);
    if (!root || res.error.code != CBOR_ERR_NONE)
      rc = senml_fail(&c, KK_EPARSE, "not CBOR (error %d at byte %zu)",
                      (int)res.error.code, res.error.position);
    else if (!cbor_isa_array(root) || !cbor_array_is_definite(root))
      rc = senml_fail(&c, KK_EPARSE, "a SenML pack must be a CBOR array");
    else if (cbor_array_size(root) == 0)
      rc = senml_fail(&c, KK_EPARSE, "empty SenML pack");
    else {
      cbor_item_t **items = cbor_array_handle(root);
      for (size_t i = 0; i < cbor_array_size(root) && rc == 0; i++)
        rc = senml_cbor_record(&c, i, items[i]);
    }
  }
  if (root) cbor_decref(&root);
  senml_ctx_free(&c);
  return rc;
}

int senml_decode(uint32_t format, const void *data, size_t len, int64_t now_ms,
                 senml_record_cb cb, void *ctx, char *err, size_t errlen) {
  switch (format) {
  case SENML_CF_JSON:
  case SENML_CF_SENSML_JSON:
    return senml_decode_json(data, len, now_ms, cb, ctx, err, errlen);
  case SENML_CF_CBOR:
  case SENML_CF_SENSML_CBOR:
    return senml_decode_cbor(data, len, now_ms, cb, ctx, err, errlen);
  }
  if (err && errlen)
    snprintf(err, errlen, "content format %u is not SenML (110..113)",
             (unsigned)format);
  return KK_EUNKNOWN;
}

int senml_split_name(const char *name, char *thing, size_t thing_len,
                     char *property, size_t property_len) {
  const char *a = strrchr(name, ':'), *b = strrchr(name, '/');
  const char *sep = a > b ? a : b;
  size_t tl = sep ? (size_t)(sep - name) : 0;
  const char *prop = sep ? sep + 1 : name;
  int rc = 0;
  if (tl >= thing_len || strlen(prop) >= property_len) rc = KK_ERANGE;
  snprintf(thing, thing_len, "%.*s", (int)tl, name);
  snprintf(property, property_len, "%s", prop);
  return rc;
}
