/*
 * modules/publish/http/http_markdown.h - CommonMark (GitHub flavour) to HTML
 * with cmark-gfm: tables, task lists, strikethrough, autolinks.  Raw HTML in
 * the Markdown is not passed through (cmark's safe default).
 */
#ifndef KK_MODULES_COMMON_MARKDOWN_H
#define KK_MODULES_COMMON_MARKDOWN_H

#include <stddef.h>

/* Returns HTML for `len` bytes of Markdown; the caller frees it with
 * free().  NULL when out of memory. */
char *http_markdown_html(const char *md, size_t len);

#endif
