/*
 * modules/common/strbuf.h - a growing string for building responses.
 *
 * Appends never fail loudly: on allocation failure the buffer remembers
 * it (`oom`) and ignores further appends, so a renderer checks once at the
 * end.  The caller frees `p` with free() (kk_sb_free).
 */
#ifndef KK_MODULES_COMMON_STRBUF_H
#define KK_MODULES_COMMON_STRBUF_H

#include <stddef.h>

typedef struct kk_sb {
  char *p;
  size_t len, cap;
  int oom;
} kk_sb_t;

void kk_sb_printf(kk_sb_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void kk_sb_put(kk_sb_t *b, const char *s, size_t n);
void kk_sb_puts(kk_sb_t *b, const char *s);
/* Appends s with &, <, >, " and ' escaped for HTML text and attributes. */
void kk_sb_html(kk_sb_t *b, const char *s);
/* Appends s as the body of a JSON string (no quotes). */
void kk_sb_json(kk_sb_t *b, const char *s);
/* Appends s percent-encoded for a URL path segment. */
void kk_sb_url(kk_sb_t *b, const char *s);
void kk_sb_free(kk_sb_t *b);

#endif
