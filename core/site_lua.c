/*
 * core/site_lua.c - Lua source as HTML with spans for comments, strings,
 * numbers, keywords and the kk.* API, for the recipe beside its
 * playbook.  A lexer for display only: it never fails, and every byte of
 * the source appears in the output (escaped).  See site.h.
 */
#include "site.h"

#include <ctype.h>
#include <string.h>

static const char *const keywords[] = {
    "and",      "break",  "do",   "else", "elseif", "end",   "false", "for",
    "function", "goto",   "if",   "in",   "local",  "nil",   "not",   "or",
    "repeat",   "return", "then", "true", "until",  "while", NULL};

static void span(kk_buf_t *b, const char *cls, const char *s, size_t n) {
  kk_buf_printf(b, "<span class=\"%s\">", cls);
  char tmp[256];
  while (n > 0) {
    size_t k = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
    memcpy(tmp, s, k);
    tmp[k] = 0;
    kk_buf_html(b, tmp);
    s += k, n -= k;
  }
  kk_buf_puts(b, "</span>");
}

/* Length of a long bracket [[...]] / [==[...]==] at s, 0 if none. */
static size_t long_bracket(const char *s) {
  if (s[0] != '[') return 0;
  size_t level = 0;
  while (s[1 + level] == '=')
    level++;
  if (s[1 + level] != '[') return 0;
  for (const char *c = s + 2 + level; *c; c++) {
    if (*c != ']') continue;
    size_t k = 0;
    while (c[1 + k] == '=')
      k++;
    if (k == level && c[1 + k] == ']') return (size_t)(c + 2 + k - s);
  }
  return strlen(s);
}

static size_t quoted(const char *s) {
  const char *c = s + 1;
  while (*c && *c != *s && *c != '\n')
    c += (*c == '\\' && c[1]) ? 2 : 1;
  return (size_t)(c - s) + (*c == *s);
}

static size_t word(const char *s) {
  size_t n = 0;
  while (isalnum((unsigned char)s[n]) || s[n] == '_')
    n++;
  return n;
}

static int is_keyword(const char *s, size_t n) {
  for (int i = 0; keywords[i]; i++)
    if (strlen(keywords[i]) == n && strncmp(keywords[i], s, n) == 0) return 1;
  return 0;
}

/* One token at s: appends it and returns its length (>= 1). */
static size_t token(kk_buf_t *b, const char *s) {
  size_t n;
  if (s[0] == '-' && s[1] == '-') {
    n = long_bracket(s + 2);
    n = n ? n + 2 : strcspn(s, "\n");
    span(b, "c", s, n);
  } else if (s[0] == '"' || s[0] == '\'') {
    span(b, "s", s, n = quoted(s));
  } else if ((n = long_bracket(s)) > 0) {
    span(b, "s", s, n);
  } else if (isdigit((unsigned char)s[0])) {
    n = word(s);
    while (s[n] == '.' || isalnum((unsigned char)s[n]))
      n++;
    span(b, "n", s, n);
  } else if (isalpha((unsigned char)s[0]) || s[0] == '_') {
    n = word(s);
    if (is_keyword(s, n))
      span(b, "k", s, n);
    else if (n == 2 && strncmp(s, "kk", 2) == 0 && s[2] == '.') {
      n += 1 + word(s + 3);
      while (s[n] == '.' && word(s + n + 1))
        n += 1 + word(s + n + 1);
      span(b, "f", s, n);
    } else
      kk_buf_put(b, s, n); /* letters, digits, '_': nothing to escape */
  } else {
    char one[2] = {s[0], 0};
    kk_buf_html(b, one);
    n = 1;
  }
  return n;
}

void site_lua_html(kk_buf_t *b, const char *src) {
  for (const char *c = src ? src : ""; *c;)
    c += token(b, c);
}
