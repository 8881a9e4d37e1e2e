/*
 * klimakit/text.h - building text: a growable buffer, escapes for JSON,
 * HTML and URLs, and the one number formatter.
 *
 * Every module that writes JSON, HTML, SQL or CSV uses these, so that a
 * value looks the same in every output and every escape is written once.
 */
#ifndef KLIMAKIT_TEXT_H
#define KLIMAKIT_TEXT_H

#include <stddef.h>

#include "log.h" /* KK_PRINTF */

/* A growing string.  Start with `kk_buf_t b = {0};`.  Appends never fail
 * loudly: on allocation failure the buffer remembers it (`oom`) and
 * ignores further appends, so a writer checks once at the end.  `p` is
 * NUL-terminated once anything was appended; the caller frees it with
 * kk_buf_free() (or takes `p` and frees it with free()). */
typedef struct kk_buf {
  char *p;
  size_t len, cap;
  int oom;
} kk_buf_t;

void kk_buf_put(kk_buf_t *b, const char *s, size_t n);
void kk_buf_puts(kk_buf_t *b, const char *s);
void kk_buf_printf(kk_buf_t *b, const char *fmt, ...) KK_PRINTF(2, 3);
/* Appends s with &, <, >, " and ' escaped for HTML text and attributes. */
void kk_buf_html(kk_buf_t *b, const char *s);
/* Appends s as the body of a JSON string (no quotes): `"` and `\` are
 * escaped, control characters as \u00XX; other bytes pass (UTF-8). */
void kk_buf_json(kk_buf_t *b, const char *s);
/* Appends s percent-encoded for a URL path segment (RFC 3986
 * unreserved characters pass). */
void kk_buf_url(kk_buf_t *b, const char *s);
/* Appends `v` as kk_fmt_double() writes it. */
void kk_buf_double(kk_buf_t *b, double v);
/* Frees the text; the buffer can be used again. */
void kk_buf_free(kk_buf_t *b);

/* Appends the `slen` bytes at `s` as a JSON string literal (with quotes,
 * escaped as kk_buf_json) to the fixed buffer buf[*len..cap), keeping it
 * NUL-terminated.  Returns 0, or -1 when it does not fit (nothing past
 * *len is then valid). */
int kk_json_str(char *buf, size_t *len, size_t cap, const char *s, size_t slen);

/* Longest output of kk_fmt_double(), including the NUL. */
#define KK_FMT_DOUBLE_MAX 32

/* Writes `v` in the shortest decimal form that reads back exactly with
 * strtod: plain digits for values below 1e9 with up to 6 decimals (812,
 * 21.5, 0.05), else the shortest of %.15g, %.16g, %.17g.  -0 is "-0";
 * NaN and the infinities, which JSON cannot carry, are "null".  `buf`
 * holds at least KK_FMT_DOUBLE_MAX bytes.  Returns the length without
 * NUL. */
size_t kk_fmt_double(double v, char *buf);

#endif
