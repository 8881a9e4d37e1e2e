/* core/text.c - the growable buffer, the escapes and the number
 * formatter of klimakit/text.h. */
#include <klimakit/text.h>

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_reserve(kk_buf_t *b, size_t more) {
  if (b->oom) return -1;
  if (b->len + more + 1 <= b->cap) return 0;
  size_t ncap = b->cap ? b->cap : 4096;
  while (ncap < b->len + more + 1)
    ncap *= 2;
  char *np = realloc(b->p, ncap);
  if (!np) {
    b->oom = 1;
    return -1;
  }
  b->p = np;
  b->cap = ncap;
  return 0;
}

void kk_buf_put(kk_buf_t *b, const char *s, size_t n) {
  if (buf_reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void kk_buf_puts(kk_buf_t *b, const char *s) {
  kk_buf_put(b, s, strlen(s));
}

void kk_buf_printf(kk_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || buf_reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void kk_buf_html(kk_buf_t *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&':
      kk_buf_puts(b, "&amp;");
      break;
    case '<':
      kk_buf_puts(b, "&lt;");
      break;
    case '>':
      kk_buf_puts(b, "&gt;");
      break;
    case '"':
      kk_buf_puts(b, "&quot;");
      break;
    case '\'':
      kk_buf_puts(b, "&#39;");
      break;
    default:
      kk_buf_put(b, s, 1);
    }
  }
}

/* The one JSON string escape: writes the escaped form of byte `c` into
 * `esc` (at least 7 bytes) and returns its length. */
static size_t json_escape(unsigned char c, char *esc) {
  static const char hex[] = "0123456789abcdef";
  if (c == '"' || c == '\\') {
    esc[0] = '\\';
    esc[1] = (char)c;
    return 2;
  }
  if (c < 0x20) {
    memcpy(esc, "\\u00", 4);
    esc[4] = hex[c >> 4];
    esc[5] = hex[c & 15];
    return 6;
  }
  esc[0] = (char)c;
  return 1;
}

void kk_buf_json(kk_buf_t *b, const char *s) {
  char esc[8];
  for (; *s; s++)
    kk_buf_put(b, esc, json_escape((unsigned char)*s, esc));
}

int kk_json_str(char *buf, size_t *len, size_t cap, const char *s,
                size_t slen) {
  size_t o = *len;
  if (o + 2 > cap) return -1;
  buf[o++] = '"';
  for (size_t i = 0; i < slen; i++) {
    char esc[8];
    size_t n = json_escape((unsigned char)s[i], esc);
    if (o + n + 2 > cap) return -1;
    memcpy(buf + o, esc, n);
    o += n;
  }
  buf[o++] = '"';
  buf[o] = '\0';
  *len = o;
  return 0;
}

void kk_buf_url(kk_buf_t *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~')
      kk_buf_put(b, s, 1);
    else
      kk_buf_printf(b, "%%%02X", c);
  }
}

void kk_buf_free(kk_buf_t *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

void kk_buf_double(kk_buf_t *b, double v) {
  char tmp[KK_FMT_DOUBLE_MAX];
  kk_buf_put(b, tmp, kk_fmt_double(v, tmp));
}

/* Writes the decimal digits of |x| (< 2^63) ending at `end`; returns the
 * start. */
static char *utoa_rev(uint64_t x, char *end) {
  do {
    *--end = (char)('0' + x % 10);
    x /= 10;
  } while (x);
  return end;
}

size_t kk_fmt_double(double v, char *buf) {
  static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
  if (!isfinite(v)) {
    memcpy(buf, "null", 5);
    return 4;
  }
  /* Sensor values have few decimals.  If x / 10^k == v for an integer x
   * (exact below 2^53), the decimal x*10^-k reads back as exactly v,
   * because strtod and the division both round correctly; the first such
   * k is the shortest form.  This avoids printf for the common case. */
  if (fabs(v) < 1e9 && !(v == 0 && signbit(v))) {
    for (int k = 0; k <= 6; k++) {
      double x = nearbyint(v * pow10[k]);
      if (x / pow10[k] != v) continue;
      uint64_t ux = (uint64_t)fabs(x);
      char tmp[KK_FMT_DOUBLE_MAX], *end = tmp + sizeof tmp;
      char *p = utoa_rev(ux, end);
      while (end - p <= k)
        *--p = '0'; /* 0.05: at least one integer digit */
      size_t n = 0;
      if (x < 0) buf[n++] = '-';
      size_t ndig = (size_t)(end - p), nint = ndig - (size_t)k;
      memcpy(buf + n, p, nint);
      n += nint;
      if (k > 0) {
        buf[n++] = '.';
        memcpy(buf + n, p + nint, (size_t)k);
        n += (size_t)k;
      }
      buf[n] = '\0';
      return n;
    }
  }
  /* A normal double whose shortest form has at most 15 digits prints
   * exactly that way with %.15g (two 15-digit decimals are never within
   * half an ulp of the same double); otherwise 16 or 17 digits do.
   * Subnormals have fewer significant bits: search from 1 digit. */
  int n = 0;
  for (int prec = fabs(v) < 2.2250738585072014e-308 ? 1 : 15; prec <= 17;
       prec++) {
    n = snprintf(buf, KK_FMT_DOUBLE_MAX, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  return n < 0 ? 0 : (size_t)n;
}
