/*
 * modules/source/http_poll/hp_text.c - the text work of source.http_poll
 * that needs no stage: URL templates and the time formats of their
 * placeholders, the next link of an HTTP Link header, members of a JSON
 * body by name or pointer, rates.  Link headers and JSON bodies come from
 * outside, so this file is fuzzed (tests/fuzz/fuzz_http_poll.c).
 */
#include "source/http_poll/http_poll.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- time formats ------------------------------------------------------ */

/* Appends the zone offset of `off_s` as +hhmm or, with colon, +hh:mm. */
static int hp_put_offset(char *out, size_t cap, size_t *n, int off_s,
                         int colon) {
  int a = off_s < 0 ? -off_s : off_s;
  int w = snprintf(out + *n, cap - *n, colon ? "%c%02d:%02d" : "%c%02d%02d",
                   off_s < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  if (w < 0 || (size_t)w >= cap - *n) return -1;
  *n += (size_t)w;
  return 0;
}

/* The strftime-like pattern: %s, %L, %z, %:z and %% here, every other
 * conversion through strftime on the local civil time. */
static int hp_pattern(int64_t ms, const char *fmt, size_t fmtlen,
                      const char *tz, char *out, size_t cap) {
  int64_t sec = kk_floor_div(ms, 1000);
  int off = kk_tz_offset(tz, sec);
  struct tm tm;
  kk_tz_local(tz, sec, &tm);
  size_t n = 0;
  out[0] = 0;
  for (size_t i = 0; i < fmtlen; i++) {
    if (fmt[i] != '%') {
      if (n + 1 >= cap) return -1;
      out[n++] = fmt[i];
      continue;
    }
    if (++i >= fmtlen) return -1;
    char c = fmt[i];
    int w = 0;
    if (c == '%') {
      w = snprintf(out + n, cap - n, "%%");
    } else if (c == 's') {
      w = snprintf(out + n, cap - n, "%lld", (long long)sec);
    } else if (c == 'L') {
      w = snprintf(out + n, cap - n, "%03d", (int)(ms - sec * 1000));
    } else if (c == 'z') {
      if (hp_put_offset(out, cap, &n, off, 0)) return -1;
      continue;
    } else if (c == ':' && i + 1 < fmtlen && fmt[i + 1] == 'z') {
      i++;
      if (hp_put_offset(out, cap, &n, off, 1)) return -1;
      continue;
    } else if (strchr("aAbBdeHIjmMpSuwyYGgVUWCDFTRhn", c) && c) {
      char one[3] = {'%', c, 0};
      size_t k = strftime(out + n, cap - n, one, &tm);
      if (k == 0) return -1;
      n += k;
      continue;
    } else {
      return -1; /* a conversion we do not define (%Z needs tzdata) */
    }
    if (w < 0 || (size_t)w >= cap - n) return -1;
    n += (size_t)w;
  }
  out[n] = 0;
  return 0;
}

static int hp_is(const char *fmt, size_t len, const char *name) {
  return strlen(name) == len && memcmp(fmt, name, len) == 0;
}

int hp_time_format(int64_t ms, const char *fmt, size_t fmtlen, const char *tz,
                   char *out, size_t cap) {
  int utc = strcmp(tz, "UTC") == 0;
  const char *pat = NULL;
  if (memchr(fmt, '%', fmtlen))
    return hp_pattern(ms, fmt, fmtlen, tz, out, cap);
  if (hp_is(fmt, fmtlen, "iso"))
    pat = utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%S%:z";
  else if (hp_is(fmt, fmtlen, "iso_ms"))
    pat = utc ? "%Y-%m-%dT%H:%M:%S.%LZ" : "%Y-%m-%dT%H:%M:%S.%L%:z";
  else if (hp_is(fmt, fmtlen, "date"))
    pat = "%Y-%m-%d";
  if (pat) return hp_pattern(ms, pat, strlen(pat), tz, out, cap);
  int w = -1;
  if (hp_is(fmt, fmtlen, "epoch"))
    w = snprintf(out, cap, "%lld", (long long)kk_floor_div(ms, 1000));
  else if (hp_is(fmt, fmtlen, "epoch_ms"))
    w = snprintf(out, cap, "%lld", (long long)ms);
  return w < 0 || (size_t)w >= cap ? -1 : 0;
}

/* ---- URL templates ---------------------------------------------------- */

/* The placeholder at tpl[0] == '{': name and format spans and its end.
 * Returns 0, or -1 when it is not {from}, {to}, {from:FMT}, {to:FMT}. */
static int hp_placeholder(const char *tpl, int *is_to, const char **fmt,
                          size_t *fmtlen, size_t *end) {
  const char *close = strchr(tpl, '}');
  if (!close) return -1;
  const char *p = tpl + 1;
  size_t nl = strcspn(p, ":}");
  if (nl == 4 && memcmp(p, "from", 4) == 0)
    *is_to = 0;
  else if (nl == 2 && memcmp(p, "to", 2) == 0)
    *is_to = 1;
  else
    return -1;
  *fmt = NULL;
  *fmtlen = 0;
  if (p[nl] == ':') {
    *fmt = p + nl + 1;
    *fmtlen = (size_t)(close - *fmt);
    if (*fmtlen == 0) return -1;
  }
  *end = (size_t)(close - tpl) + 1;
  return 0;
}

/* In a body (JSON, form data) braces are text: only {from...} and
 * {to...} are placeholders there. */
static int hp_body_placeholder_at(const char *p) {
  return p[0] == '{' &&
         (!strncmp(p + 1, "from}", 5) || !strncmp(p + 1, "from:", 5) ||
          !strncmp(p + 1, "to}", 3) || !strncmp(p + 1, "to:", 3));
}

int hp_template_check_body(const char *tpl, char *err, size_t errlen) {
  for (size_t i = 0; tpl[i]; i++) {
    if (!hp_body_placeholder_at(tpl + i)) continue;
    int is_to;
    const char *fmt;
    size_t fl, end;
    char probe[128];
    if (hp_placeholder(tpl + i, &is_to, &fmt, &fl, &end) != 0 ||
        (fmt && hp_time_format(0, fmt, fl, "UTC", probe, sizeof probe) != 0)) {
      snprintf(err, errlen,
               "bad placeholder at offset %zu: use {from}, {to}, "
               "{from:FMT} or {to:FMT}",
               i);
      return -1;
    }
    i += end - 1;
  }
  return 0;
}

int hp_template_check(const char *tpl, char *err, size_t errlen) {
  for (size_t i = 0; tpl[i]; i++) {
    if ((tpl[i] == '{' && tpl[i + 1] == '{') ||
        (tpl[i] == '}' && tpl[i + 1] == '}')) {
      i++;
      continue;
    }
    if (tpl[i] == '}') {
      snprintf(err, errlen, "a lone '}' at offset %zu (write '}}')", i);
      return -1;
    }
    if (tpl[i] != '{') continue;
    int is_to;
    const char *fmt;
    size_t fl, end;
    char probe[128];
    if (hp_placeholder(tpl + i, &is_to, &fmt, &fl, &end) != 0) {
      snprintf(err, errlen,
               "unknown placeholder at offset %zu: use {from}, {to}, "
               "{from:FMT} or {to:FMT} ('{{' for a brace)",
               i);
      return -1;
    }
    if (fmt && hp_time_format(0, fmt, fl, "UTC", probe, sizeof probe) != 0) {
      snprintf(err, errlen, "unknown time format '%.*s' in the url", (int)fl,
               fmt);
      return -1;
    }
    i += end - 1;
  }
  return 0;
}

/* enc: 0 percent-encoded (URL), 1 JSON string body, 2 as it is. */
static int hp_expand(kk_buf_t *b, const char *tpl, int64_t from_ms,
                     int64_t to_ms, const char *deffmt, const char *tz,
                     int enc) {
  for (size_t i = 0; tpl[i]; i++) {
    if (enc != 0) { /* a body: braces are text but for the placeholders */
      if (!hp_body_placeholder_at(tpl + i)) {
        kk_buf_put(b, tpl + i, 1);
        continue;
      }
    } else if ((tpl[i] == '{' && tpl[i + 1] == '{') ||
               (tpl[i] == '}' && tpl[i + 1] == '}')) {
      kk_buf_put(b, tpl + i, 1);
      i++;
      continue;
    } else if (tpl[i] != '{') {
      kk_buf_put(b, tpl + i, 1);
      continue;
    }
    int is_to;
    const char *fmt;
    size_t fl, end;
    char v[256];
    if (hp_placeholder(tpl + i, &is_to, &fmt, &fl, &end) != 0) return -1;
    if (!fmt) {
      fmt = deffmt;
      fl = strlen(deffmt);
    }
    if (hp_time_format(is_to ? to_ms : from_ms, fmt, fl, tz, v, sizeof v))
      return -1;
    if (enc == 0)
      kk_buf_url(b, v);
    else if (enc == 1)
      kk_buf_json(b, v);
    else
      kk_buf_puts(b, v);
    i += end - 1;
  }
  if (!b->p) kk_buf_puts(b, "");
  return b->oom ? -1 : 0;
}

int hp_template_expand(kk_buf_t *b, const char *tpl, int64_t from_ms,
                       int64_t to_ms, const char *deffmt, const char *tz) {
  return hp_expand(b, tpl, from_ms, to_ms, deffmt, tz, 0);
}

int hp_template_expand_body(kk_buf_t *b, const char *tpl, int64_t from_ms,
                            int64_t to_ms, const char *deffmt, const char *tz,
                            int json) {
  return hp_expand(b, tpl, from_ms, to_ms, deffmt, tz, json ? 1 : 2);
}

/* ---- Link headers (RFC 8288) ------------------------------------------ */

static int hp_ows(char c) {
  return c == ' ' || c == '\t';
}

/* Does the parameter value v[0..n) (maybe quoted) name the relation
 * "next" among its space-separated relation types? */
static int hp_rel_has_next(const char *v, size_t n) {
  if (n >= 2 && v[0] == '"' && v[n - 1] == '"') v++, n -= 2;
  size_t i = 0;
  while (i < n) {
    while (i < n && hp_ows(v[i]))
      i++;
    size_t s = i;
    while (i < n && !hp_ows(v[i]))
      i++;
    if (i - s == 4 && strncasecmp(v + s, "next", 4) == 0) return 1;
  }
  return 0;
}

int hp_link_next(const char *h, size_t len, char *out, size_t cap) {
  size_t i = 0;
  while (i < len) {
    while (i < len && (hp_ows(h[i]) || h[i] == ','))
      i++;
    if (i >= len || h[i] != '<') return -1;
    size_t us = ++i;
    while (i < len && h[i] != '>')
      i++;
    if (i >= len) return -1;
    size_t ul = i++ - us;
    int next = 0;
    /* parameters up to the ',' that ends this link-value */
    while (i < len && h[i] != ',') {
      while (i < len && (hp_ows(h[i]) || h[i] == ';'))
        i++;
      size_t ns = i;
      while (i < len && h[i] != '=' && h[i] != ';' && h[i] != ',')
        i++;
      size_t nl = i - ns;
      while (nl && hp_ows(h[ns + nl - 1]))
        nl--;
      size_t vs = i, vl = 0;
      if (i < len && h[i] == '=') {
        i++;
        while (i < len && hp_ows(h[i]))
          i++;
        vs = i;
        if (i < len && h[i] == '"') {
          for (i++; i < len && h[i] != '"'; i++)
            if (h[i] == '\\' && i + 1 < len) i++;
          if (i < len) i++;
        } else {
          while (i < len && h[i] != ';' && h[i] != ',')
            i++;
        }
        vl = i - vs;
        while (vl && hp_ows(h[vs + vl - 1]))
          vl--;
      }
      if (nl == 3 && strncasecmp(h + ns, "rel", 3) == 0 &&
          hp_rel_has_next(h + vs, vl))
        next = 1;
    }
    if (next) {
      if (ul == 0 || ul >= cap || memchr(h + us, 0, ul)) return -1;
      memcpy(out, h + us, ul);
      out[ul] = 0;
      return (int)ul;
    }
  }
  return -1;
}

/* ---- JSON members ----------------------------------------------------- */

const cJSON *hp_json_find(const cJSON *root, const char *name) {
  if (!root || !name || !*name) return NULL;
  if (name[0] != '/')
    return cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, name)
                                : NULL;
  const cJSON *cur = root;
  const char *p = name;
  char tok[256];
  while (*p == '/' && cur) {
    p++;
    size_t n = 0;
    while (*p && *p != '/') {
      char c = *p++;
      if (c == '~' && (*p == '0' || *p == '1')) c = *p++ == '0' ? '~' : '/';
      if (n + 1 >= sizeof tok) return NULL;
      tok[n++] = c;
    }
    tok[n] = 0;
    if (cJSON_IsObject(cur)) {
      cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    } else if (cJSON_IsArray(cur)) {
      char *end;
      long k = strtol(tok, &end, 10);
      if (n == 0 || *end || k < 0 || (n > 1 && tok[0] == '0')) return NULL;
      cur = cJSON_GetArrayItem(cur, (int)k);
    } else {
      return NULL;
    }
  }
  return cur;
}

/* ---- rates and hashes ------------------------------------------------- */

int hp_parse_rate(const char *s, uint64_t *spacing_ms) {
  char *end;
  double n = strtod(s, &end);
  if (end == s || !(n > 0) || n > 1e6 || *end != '/') return -1;
  const char *u = end + 1;
  uint64_t per = 0;
  if (!strcmp(u, "s"))
    per = 1000;
  else if (!strcmp(u, "m") || !strcmp(u, "min"))
    per = 60000;
  else if (!strcmp(u, "h"))
    per = 3600000;
  else if (!strcmp(u, "d"))
    per = 86400000;
  else if (kk_parse_duration_ms(u, &per) != 0 || per == 0)
    return -1;
  *spacing_ms = (uint64_t)((double)per / n);
  return 0;
}

uint64_t hp_hash(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}
