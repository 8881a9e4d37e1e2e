/* modules/common/strbuf.c - see strbuf.h. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sb_reserve(kk_sb_t *b, size_t more) {
  if (b->oom) return -1;
  if (b->len + more + 1 <= b->cap) return 0;
  size_t ncap = b->cap ? b->cap : 4096;
  while (ncap < b->len + more + 1) ncap *= 2;
  char *np = realloc(b->p, ncap);
  if (!np) {
    b->oom = 1;
    return -1;
  }
  b->p = np;
  b->cap = ncap;
  return 0;
}

void kk_sb_put(kk_sb_t *b, const char *s, size_t n) {
  if (sb_reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void kk_sb_puts(kk_sb_t *b, const char *s) { kk_sb_put(b, s, strlen(s)); }

void kk_sb_printf(kk_sb_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || sb_reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void kk_sb_html(kk_sb_t *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': kk_sb_puts(b, "&amp;"); break;
    case '<': kk_sb_puts(b, "&lt;"); break;
    case '>': kk_sb_puts(b, "&gt;"); break;
    case '"': kk_sb_puts(b, "&quot;"); break;
    case '\'': kk_sb_puts(b, "&#39;"); break;
    default: kk_sb_put(b, s, 1);
    }
  }
}

void kk_sb_json(kk_sb_t *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      kk_sb_put(b, e, 2);
    } else if (c < 0x20) {
      kk_sb_printf(b, "\\u%04x", c);
    } else {
      kk_sb_put(b, s, 1);
    }
  }
}

void kk_sb_url(kk_sb_t *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~')
      kk_sb_put(b, s, 1);
    else
      kk_sb_printf(b, "%%%02X", c);
  }
}

void kk_sb_free(kk_sb_t *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
