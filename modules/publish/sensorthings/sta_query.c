/* modules/publish/sensorthings/sta_query.c - see sta_query.h. */
#include "publish/sensorthings/sta_query.h"

#include <klimakit/time.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(sta_err_t *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(sta_err_t *e, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->status = status;
  return status;
}

static char *dupn(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int sta_url_decode(char *s, int plus) {
  char *o = s;
  for (; *s; s++) {
    if (*s == '%') {
      int h = hexval(s[1]), l = h >= 0 ? hexval(s[2]) : -1;
      if (h < 0 || l < 0 || (h == 0 && l == 0)) return -1;
      *o++ = (char)(h * 16 + l);
      s += 2;
    } else if (*s == '+' && plus) {
      *o++ = ' ';
    } else {
      *o++ = *s;
    }
  }
  *o = 0;
  return 0;
}

/* ---- times ---------------------------------------------------------- */

/* SensorThings times are klimakit/time.h's ISO 8601, with one addition:
 * a bare date "YYYY-MM-DD" in $filter means its midnight UTC. */
int sta_time_parse(const char *s, size_t len, int64_t *ms) {
  if (len == 10) {
    char dt[17];
    memcpy(dt, s, 10);
    memcpy(dt + 10, "T00:00Z", 7);
    return kk_time_parse_iso8601(dt, sizeof dt, ms) == 0 ? 0 : -1;
  }
  return kk_time_parse_iso8601(s, len, ms) == 0 ? 0 : -1;
}

/* The SensorThings form leaves out ".000" on whole seconds. */
void sta_time_format(int64_t ms, char *buf, size_t len) {
  char iso[KK_TIME_ISO_MAX];
  size_t n = kk_time_format_iso8601(ms, iso);
  if (n >= 5 && memcmp(iso + n - 5, ".000Z", 5) == 0) {
    iso[n - 5] = 'Z';
    iso[n - 4] = 0;
  }
  snprintf(buf, len, "%s", iso);
}

/* ---- $filter ---------------------------------------------------------- */

typedef struct lex {
  const char *p;
  sta_err_t *err;
} lex_t;

static void skip_ws(lex_t *l) {
  while (*l->p == ' ' || *l->p == '\t')
    l->p++;
}

static int is_word(const char *p, const char *w) {
  size_t n = strlen(w);
  return strncmp(p, w, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_';
}

static int path_char(int c) {
  return isalnum(c) || c == '@' || c == '_' || c == '.' || c == '/';
}

static const struct {
  const char *name;
  sta_op_t op;
} ops[] = {{"eq", STA_EQ}, {"ne", STA_NE}, {"gt", STA_GT},
           {"ge", STA_GE}, {"lt", STA_LT}, {"le", STA_LE}};

static char *norm_path(const char *s, size_t n) {
  if (n == 2 && strncmp(s, "id", 2) == 0) return dupn("@iot.id", 7);
  char *p = dupn(s, n);
  /* "Thing/id" -> "Thing/@iot.id" */
  size_t pl = p ? strlen(p) : 0;
  if (p && pl > 3 && strcmp(p + pl - 3, "/id") == 0) {
    char *q = malloc(pl + 6);
    if (q) snprintf(q, pl + 6, "%.*s/@iot.id", (int)(pl - 3), p);
    free(p);
    p = q;
  }
  return p;
}

static int parse_cmp(lex_t *l, sta_opts_t *o) {
  skip_ws(l);
  const char *s = l->p;
  if (!isalpha((unsigned char)*s) && *s != '@')
    return fail(l->err, 400, "$filter: expected a property at '%.20s'", s);
  while (path_char((unsigned char)*l->p))
    l->p++;
  size_t n = (size_t)(l->p - s);
  if (*l->p == '(')
    return fail(l->err, 501, "$filter: function %.*s() is not supported",
                (int)n, s);
  skip_ws(l);
  int op = -1;
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
    if (is_word(l->p, ops[i].name)) op = (int)i;
  if (op < 0) {
    if (is_word(l->p, "add") || is_word(l->p, "sub") || is_word(l->p, "mul") ||
        is_word(l->p, "div") || is_word(l->p, "mod"))
      return fail(l->err, 501, "$filter: arithmetic is not supported");
    return fail(l->err, 400,
                "$filter: expected eq, ne, gt, ge, lt or le after "
                "'%.*s'",
                (int)n, s);
  }
  l->p += 2;
  skip_ws(l);
  sta_cmp_t c = {.op = ops[op].op};
  const char *v = l->p;
  if (*v == '\'') {
    size_t cap = strlen(v), k = 0;
    char *str = malloc(cap + 1);
    if (!str) return fail(l->err, 400, "out of memory");
    for (v++;; v++) {
      if (!*v) {
        free(str);
        return fail(l->err, 400, "$filter: unterminated string");
      }
      if (*v == '\'') {
        if (v[1] != '\'') break;
        v++;
      }
      str[k++] = *v;
    }
    str[k] = 0;
    l->p = v + 1;
    c.kind = STA_LIT_STR;
    c.str = str;
  } else if (is_word(v, "true") || is_word(v, "false")) {
    c.kind = STA_LIT_BOOL;
    c.num = *v == 't';
    l->p += *v == 't' ? 4 : 5;
  } else if (is_word(v, "null")) {
    c.kind = STA_LIT_NULL;
    l->p += 4;
  } else if (isdigit((unsigned char)*v) || *v == '-') {
    const char *e = v + 1;
    while (isalnum((unsigned char)*e) || *e == ':' || *e == '.' || *e == '-' ||
           *e == '+')
      e++;
    size_t vn = (size_t)(e - v);
    if (vn >= 10 && v[4] == '-' && isdigit((unsigned char)v[0])) {
      if (sta_time_parse(v, vn, &c.time_ms) != 0)
        return fail(l->err, 400,
                    "$filter: bad time '%.*s' (ISO 8601 with "
                    "zone, e.g. 2026-11-21T00:00:00Z)",
                    (int)vn, v);
      c.kind = STA_LIT_TIME;
    } else {
      char buf[64];
      char *end;
      if (vn >= sizeof buf) return fail(l->err, 400, "$filter: bad number");
      memcpy(buf, v, vn);
      buf[vn] = 0;
      errno = 0;
      c.num = strtod(buf, &end);
      if (*end || errno)
        return fail(l->err, 400, "$filter: bad literal '%s'", buf);
      c.kind = STA_LIT_NUM;
    }
    l->p = e;
  } else {
    return fail(l->err, 400, "$filter: expected a literal at '%.20s'", v);
  }
  c.path = norm_path(s, n);
  sta_cmp_t *nf = realloc(o->filter, (o->nfilter + 1) * sizeof *nf);
  if (!c.path || !nf) {
    free(c.path);
    free(c.str);
    if (nf) o->filter = nf;
    return fail(l->err, 400, "out of memory");
  }
  o->filter = nf;
  o->filter[o->nfilter++] = c;
  return 0;
}

/* expr := term ("and" term)* ; term := "(" expr ")" | cmp.  Only
 * conjunctions are supported, so grouping changes nothing. */
static int parse_expr(lex_t *l, sta_opts_t *o, int depth) {
  if (depth > 16) return fail(l->err, 400, "$filter: nested too deeply");
  for (;;) {
    skip_ws(l);
    int rc;
    if (is_word(l->p, "not"))
      return fail(l->err, 501, "$filter: 'not' is not supported");
    if (*l->p == '(') {
      l->p++;
      if ((rc = parse_expr(l, o, depth + 1)) != 0) return rc;
      skip_ws(l);
      if (*l->p != ')') return fail(l->err, 400, "$filter: missing ')'");
      l->p++;
    } else if ((rc = parse_cmp(l, o)) != 0) {
      return rc;
    }
    skip_ws(l);
    if (is_word(l->p, "and")) {
      l->p += 3;
      continue;
    }
    if (is_word(l->p, "or"))
      return fail(l->err, 501, "$filter: 'or' is not supported (only 'and')");
    return 0;
  }
}

int sta_filter_parse(const char *s, sta_opts_t *o, sta_err_t *err) {
  lex_t l = {.p = s, .err = err};
  int rc = parse_expr(&l, o, 0);
  if (rc) return rc;
  skip_ws(&l);
  if (*l.p) return fail(err, 400, "$filter: unexpected '%.20s'", l.p);
  return 0;
}

/* ---- options ------------------------------------------------------------ */

static int parse_long(const char *v, long max, long *out) {
  char *end;
  if (!isdigit((unsigned char)*v)) return -1;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (*end || errno || n < 0) return -1;
  *out = n > max ? max : n;
  return 0;
}

/* Splits s at `sep` outside parentheses and quotes; calls fn for each
 * non-empty trimmed piece. */
static int split_top(const char *s, char sep,
                     int (*fn)(const char *, size_t, void *, sta_err_t *),
                     void *ud, sta_err_t *err) {
  int depth = 0, quote = 0;
  const char *start = s;
  for (const char *p = s;; p++) {
    if (*p == '\'')
      quote = !quote;
    else if (!quote && *p == '(')
      depth++;
    else if (!quote && *p == ')')
      depth--;
    if (depth < 0) return fail(err, 400, "unbalanced ')'");
    if (!*p || (*p == sep && !depth && !quote)) {
      const char *a = start, *b = p;
      while (a < b && *a == ' ')
        a++;
      while (b > a && b[-1] == ' ')
        b--;
      if (b > a) {
        int rc = fn(a, (size_t)(b - a), ud, err);
        if (rc) return rc;
      }
      if (!*p) break;
      start = p + 1;
    }
  }
  if (depth || quote) return fail(err, 400, "unbalanced '(' or quote");
  return 0;
}

static int add_select(const char *s, size_t n, void *ud, sta_err_t *err) {
  sta_opts_t *o = ud;
  char **ns = realloc(o->select, (o->nselect + 1) * sizeof *ns);
  if (!ns) return fail(err, 400, "out of memory");
  o->select = ns;
  if (memchr(s, '/', n))
    return fail(err, 501, "$select: paths are not supported");
  char *v =
      n == 2 && strncmp(s, "id", 2) == 0 ? dupn("@iot.id", 7) : dupn(s, n);
  if (!v) return fail(err, 400, "out of memory");
  o->select[o->nselect++] = v;
  return 0;
}

static int parse_one(sta_opts_t *o, const char *name, const char *val,
                     int nested, sta_err_t *err);

static int add_nested_opt(const char *s, size_t n, void *ud, sta_err_t *err) {
  sta_opts_t *o = ud;
  char *kv = dupn(s, n);
  if (!kv) return fail(err, 400, "out of memory");
  char *eq = strchr(kv, '=');
  if (!eq) {
    free(kv);
    return fail(err, 400, "$expand: expected $option=value inside ()");
  }
  *eq = 0;
  int rc = parse_one(o, kv, eq + 1, 1, err);
  free(kv);
  return rc;
}

static int add_expand(const char *s, size_t n, void *ud, sta_err_t *err) {
  sta_opts_t *o = ud;
  const char *paren = memchr(s, '(', n);
  size_t nl = paren ? (size_t)(paren - s) : n;
  if (memchr(s, '/', nl))
    return fail(err, 501, "$expand: only one level is supported");
  sta_expand_t *ne = realloc(o->expand, (o->nexpand + 1) * sizeof *ne);
  if (!ne) return fail(err, 400, "out of memory");
  o->expand = ne;
  sta_expand_t *x = &o->expand[o->nexpand];
  memset(x, 0, sizeof *x);
  x->opts.top = -1;
  x->name = dupn(s, nl);
  if (!x->name) return fail(err, 400, "out of memory");
  o->nexpand++;
  if (paren) {
    if (s[n - 1] != ')') return fail(err, 400, "$expand: missing ')'");
    char *inner = dupn(paren + 1, n - nl - 2);
    if (!inner) return fail(err, 400, "out of memory");
    int rc = split_top(inner, ';', add_nested_opt, &x->opts, err);
    free(inner);
    if (rc) return rc;
  }
  return 0;
}

static int parse_one(sta_opts_t *o, const char *name, const char *val,
                     int nested, sta_err_t *err) {
  if (strcmp(name, "$top") == 0) {
    if (parse_long(val, STA_TOP_MAX, &o->top))
      return fail(err, 400, "$top must be a non-negative integer");
  } else if (strcmp(name, "$skip") == 0) {
    if (parse_long(val, 1L << 40, &o->skip))
      return fail(err, 400, "$skip must be a non-negative integer");
  } else if (strcmp(name, "$count") == 0) {
    if (strcmp(val, "true") == 0)
      o->count = 1;
    else if (strcmp(val, "false") == 0)
      o->count = 0;
    else
      return fail(err, 400, "$count must be true or false");
  } else if (strcmp(name, "$orderby") == 0) {
    if (strchr(val, ','))
      return fail(err, 501, "$orderby: only one property is supported");
    char prop[128], dir[16] = "asc";
    int k = sscanf(val, " %127s %15s", prop, dir);
    if (k < 1) return fail(err, 400, "$orderby: property missing");
    if (strcmp(dir, "asc") && strcmp(dir, "desc"))
      return fail(err, 400, "$orderby: direction must be asc or desc");
    free(o->orderby);
    o->orderby =
        strcmp(prop, "id") == 0 ? dupn("@iot.id", 7) : dupn(prop, strlen(prop));
    if (!o->orderby) return fail(err, 400, "out of memory");
    o->desc = strcmp(dir, "desc") == 0;
  } else if (strcmp(name, "$filter") == 0) {
    return sta_filter_parse(val, o, err);
  } else if (strcmp(name, "$select") == 0) {
    return split_top(val, ',', add_select, o, err);
  } else if (strcmp(name, "$expand") == 0) {
    if (nested) return fail(err, 501, "$expand: only one level is supported");
    return split_top(val, ',', add_expand, o, err);
  } else if (strcmp(name, "$resultFormat") == 0) {
    if (strcmp(val, "dataArray") == 0)
      o->data_array = 1;
    else if (strcmp(val, "default") != 0)
      return fail(err, 501,
                  "$resultFormat=%.40s is not supported "
                  "(dataArray is)",
                  val);
  } else if (strcmp(name, "$search") == 0 || strcmp(name, "$format") == 0 ||
             strcmp(name, "$levels") == 0) {
    return fail(err, 501, "%s is not supported", name);
  } else {
    return fail(err, 400, "unknown query option %.40s", name);
  }
  return 0;
}

int sta_opts_parse(const char *q, size_t len, sta_opts_t *o, sta_err_t *err) {
  memset(o, 0, sizeof *o);
  o->top = -1;
  err->status = 0;
  err->msg[0] = 0;
  const char *end = q ? q + len : q;
  int rc = 0;
  while (q && q < end && !rc) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *stop = amp ? amp : end;
    char *kv = dupn(q, (size_t)(stop - q));
    if (!kv) {
      rc = fail(err, 400, "out of memory");
      break;
    }
    char *eq = strchr(kv, '=');
    if (eq) *eq = 0;
    char *val = eq ? eq + 1 : kv + strlen(kv);
    if (sta_url_decode(kv, 1) || sta_url_decode(val, 1))
      rc = fail(err, 400, "bad percent-encoding in the query");
    else if (kv[0] == '$')
      rc = parse_one(o, kv, val, 0, err);
    free(kv);
    q = stop + 1;
  }
  if (rc) sta_opts_free(o);
  return rc;
}

void sta_opts_free(sta_opts_t *o) {
  if (!o) return;
  free(o->orderby);
  for (size_t i = 0; i < o->nfilter; i++) {
    free(o->filter[i].path);
    free(o->filter[i].str);
  }
  free(o->filter);
  for (size_t i = 0; i < o->nselect; i++)
    free(o->select[i]);
  free(o->select);
  for (size_t i = 0; i < o->nexpand; i++) {
    free(o->expand[i].name);
    sta_opts_free(&o->expand[i].opts);
  }
  free(o->expand);
  memset(o, 0, sizeof *o);
  o->top = -1;
}

/* ---- paths ------------------------------------------------------------- */

int sta_path_parse(const char *path, sta_path_t *p, sta_err_t *err) {
  memset(p, 0, sizeof *p);
  char *buf = dupn(path, strlen(path));
  if (!buf) return fail(err, 400, "out of memory");
  if (sta_url_decode(buf, 0)) {
    free(buf);
    return fail(err, 400, "bad percent-encoding in the path");
  }
  int rc = 0;
  char *s = buf;
  while (*s && !rc) {
    while (*s == '/')
      s++;
    if (!*s) break;
    /* A segment ends at '/' outside quotes. */
    char *e = s;
    int quote = 0;
    while (*e && (quote || *e != '/')) {
      if (*e == '\'') quote = !quote;
      e++;
    }
    char save = *e;
    *e = 0;
    if (p->n == sizeof p->seg / sizeof *p->seg) {
      rc = fail(err, 400, "path too long");
      break;
    }
    sta_seg_t *g = &p->seg[p->n];
    char *par = strchr(s, '(');
    if (par) {
      size_t sl = strlen(par);
      if (sl < 3 || par[sl - 1] != ')') {
        rc = fail(err, 400, "bad id in '%.60s'", s);
        break;
      }
      par[sl - 1] = 0;
      char *id = par + 1;
      size_t il = strlen(id);
      if (il >= 2 && id[0] == '\'' && id[il - 1] == '\'') {
        id[il - 1] = 0;
        id++;
      }
      *par = 0;
      g->id = dupn(id, strlen(id));
    }
    g->name = dupn(s, strlen(s));
    p->n++;
    if (!g->name || (par && !g->id)) rc = fail(err, 400, "out of memory");
    *e = save;
    s = e;
  }
  free(buf);
  if (rc) sta_path_free(p);
  return rc;
}

void sta_path_free(sta_path_t *p) {
  for (size_t i = 0; i < p->n; i++) {
    free(p->seg[i].name);
    free(p->seg[i].id);
  }
  p->n = 0;
}
