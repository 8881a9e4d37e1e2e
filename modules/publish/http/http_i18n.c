/*
 * modules/publish/http/http_i18n.c - see http_i18n.h.  The catalogues are
 * compiled in from messages_<lang>.def, the registry's unit labels and
 * meters from registry.def.
 */
#include "publish/http/http_i18n.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define KK_PROP(p, name)
#define KK_MSG(id, text) text,
static const char *const http_msgs_de[] = {
#include "publish/http/messages_de.def"
};
static const char *const http_msgs_en[] = {
#include "publish/http/messages_en.def"
};
#undef KK_MSG
#undef KK_PROP

typedef struct http_pair {
  const char *key, *text;
} http_pair_t;

#define KK_MSG(id, text)
#define KK_PROP(p, name) {p, name},
static const http_pair_t http_props_de[] = {
#include "publish/http/messages_de.def"
    {NULL, NULL}};
static const http_pair_t http_props_en[] = {
#include "publish/http/messages_en.def"
    {NULL, NULL}};
#undef KK_MSG
#undef KK_PROP

#define KK_UNIT(code, label) {code, label},
#define KK_METER(p)
static const http_pair_t http_units[] = {
#include "publish/http/registry.def"
    {NULL, NULL}};
#undef KK_UNIT
#undef KK_METER
#define KK_UNIT(code, label)
#define KK_METER(p) p,
static const char *const http_meters[] = {
#include "publish/http/registry.def"
    NULL};
#undef KK_UNIT
#undef KK_METER

_Static_assert(sizeof http_msgs_de / sizeof *http_msgs_de == HTTP_M_COUNT,
               "messages_de.def is the list of ids");
_Static_assert(sizeof http_msgs_en / sizeof *http_msgs_en == HTTP_M_COUNT,
               "messages_en.def has every id of messages_de.def");

int http_registry_init(http_registry_t *r, const char *lang,
                       const char *props_json, const char *units_json,
                       char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  r->lang = lang && strcmp(lang, "en") == 0 ? HTTP_LANG_EN : HTTP_LANG_DE;
  if (props_json) {
    r->props = cJSON_Parse(props_json);
    if (!cJSON_IsObject(r->props)) {
      snprintf(err, errlen,
               "properties: a table of property = { name = ..., meter = "
               "true|false }");
      return KK_EINVAL;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, r->props) {
      if (!cJSON_IsObject(p) && !cJSON_IsString(p)) {
        snprintf(err, errlen,
                 "properties.%s: a name or a table { name = ..., "
                 "name_en = ..., meter = ... }",
                 p->string);
        return KK_EINVAL;
      }
    }
  }
  if (units_json) {
    r->units = cJSON_Parse(units_json);
    const cJSON *u;
    int bad = !cJSON_IsObject(r->units);
    if (!bad) cJSON_ArrayForEach(u, r->units) bad |= !cJSON_IsString(u);
    if (bad) {
      snprintf(err, errlen, "units: a table of UCUM code = \"label\"");
      return KK_EINVAL;
    }
  }
  return 0;
}

void http_registry_free(http_registry_t *r) {
  cJSON_Delete(r->props);
  cJSON_Delete(r->units);
  r->props = r->units = NULL;
}

const char *http_t(const http_registry_t *r, http_msg_t m) {
  if ((unsigned)m >= HTTP_M_COUNT) return "";
  return (r->lang == HTTP_LANG_EN ? http_msgs_en : http_msgs_de)[m];
}

void http_say(kk_buf_t *b, const http_registry_t *r, int html, http_msg_t m,
              ...) {
  const char *t = http_t(r, m);
  va_list ap;
  va_start(ap, m);
  const char *arg = va_arg(ap, const char *);
  for (;;) {
    const char *hole = strstr(t, "{}");
    size_t n = hole ? (size_t)(hole - t) : strlen(t);
    char piece[512];
    while (n) {
      size_t k = n < sizeof piece - 1 ? n : sizeof piece - 1;
      memcpy(piece, t, k);
      piece[k] = 0;
      if (html)
        kk_buf_html(b, piece);
      else
        kk_buf_puts(b, piece);
      t += k;
      n -= k;
    }
    if (!hole) break;
    if (arg) {
      if (html)
        kk_buf_html(b, arg);
      else
        kk_buf_puts(b, arg);
      arg = va_arg(ap, const char *);
    }
    t += 2;
  }
  va_end(ap);
}

int http_num_auto(double v) {
  double a = fabs(v);
  return a >= 100 || a == 0 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
}

void http_num(const http_registry_t *r, double v, int dec, char *buf,
              size_t len) {
  if (!isfinite(v)) {
    snprintf(buf, len, "–");
    return;
  }
  if (dec < 0) dec = http_num_auto(v);
  if (dec > 6) dec = 6;
  char raw[64];
  snprintf(raw, sizeof raw, "%.*f", dec, v);
  if (strcmp(raw, "-0") == 0 ||
      (raw[0] == '-' && strspn(raw + 1, "0.") == strlen(raw + 1)))
    memmove(raw, raw + 1, strlen(raw));
  const char *dsep = http_t(r, HTTP_M_decimal_sep);
  const char *gsep = http_t(r, HTTP_M_group_sep);
  const char *p = raw;
  size_t o = 0;
  if (*p == '-') {
    if (o + 1 < len) buf[o++] = '-';
    p++;
  }
  size_t intlen = strcspn(p, ".");
  int group = intlen > 3;
  for (size_t i = 0; i < intlen && o + 4 < len; i++) {
    if (group && i && (intlen - i) % 3 == 0)
      for (const char *g = gsep; *g && o + 1 < len; g++)
        buf[o++] = *g;
    buf[o++] = p[i];
  }
  if (p[intlen] == '.') {
    for (const char *d = dsep; *d && o + 1 < len; d++)
      buf[o++] = *d;
    for (const char *f = p + intlen + 1; *f && o + 1 < len; f++)
      buf[o++] = *f;
  }
  buf[o < len ? o : len - 1] = 0;
}

void http_date(const http_registry_t *r, const char *tz, int64_t ms,
               http_msg_t fmt, char *buf, size_t len) {
  struct tm tm;
  kk_tz_local(tz, kk_floor_div(ms, 1000), &tm);
  if (strftime(buf, len, http_t(r, fmt), &tm) == 0 && len) buf[0] = 0;
}

static const cJSON *http_prop_entry(const http_registry_t *r,
                                    const char *property) {
  return r->props ? cJSON_GetObjectItemCaseSensitive(r->props, property) : NULL;
}

const char *http_prop_name(const http_registry_t *r, const char *property,
                           char *buf, size_t len) {
  const cJSON *e = http_prop_entry(r, property);
  if (cJSON_IsString(e)) return e->valuestring;
  if (e) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(
        e, r->lang == HTTP_LANG_EN ? "name_en" : "name");
    if (!cJSON_IsString(n)) n = cJSON_GetObjectItemCaseSensitive(e, "name");
    if (cJSON_IsString(n)) return n->valuestring;
  }
  const http_pair_t *t =
      r->lang == HTTP_LANG_EN ? http_props_en : http_props_de;
  for (; t->key; t++)
    if (strcmp(t->key, property) == 0) return t->text;
  snprintf(buf, len, "%s", property);
  for (char *c = buf; *c; c++)
    if (*c == '_') *c = ' ';
  return buf;
}

const char *http_unit_label(const http_registry_t *r, const char *unit) {
  const cJSON *u =
      r->units ? cJSON_GetObjectItemCaseSensitive(r->units, unit) : NULL;
  if (cJSON_IsString(u)) return u->valuestring;
  for (const http_pair_t *t = http_units; t->key; t++)
    if (strcmp(t->key, unit) == 0) return t->text;
  return unit;
}

int http_is_meter(const http_registry_t *r, const char *property) {
  const cJSON *e = http_prop_entry(r, property);
  const cJSON *m = e ? cJSON_GetObjectItemCaseSensitive(e, "meter") : NULL;
  if (cJSON_IsBool(m)) return cJSON_IsTrue(m);
  for (const char *const *p = http_meters; *p; p++)
    if (strcmp(*p, property) == 0) return 1;
  return 0;
}
