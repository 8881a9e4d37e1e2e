/* core/opts.c - validating recipe option tables against module schemas.
 *
 * The schema is the module's kk_option_t table; the same table drives
 * `klimakit modules`.  Values are converted once, at recipe time, so that
 * modules read plain C values. */
#include "core.h"

#include <cJSON.h>
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const kk_option_t kk__common_options[] = {
    {"name", KK_OPT_STRING, 0, NULL,
     "Stage name in logs, metrics and journal cursors (default: the module "
     "name, numbered from the second use).",
     NULL, 0, 0},
    {"queue", KK_OPT_INT, 0, "65536",
     "Sinks: readings that may be in flight before sources are paused (a "
     "module may declare its own default, as the stores do).",
     NULL, 1, 1e9},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}};

typedef struct opt_val {
  int set;
  char *s;
  int64_t i;
  double d;
  uint64_t u;
  char **list;
  size_t nlist;
  int fnref;
} opt_val_t;

struct kk_opts {
  const kk_module_t *m;
  size_t n;
  opt_val_t *v; /* n declared options, then the common ones */
  lua_State *L;
};

static size_t ncommon(void) {
  size_t n = 0;
  while (kk__common_options[n].name)
    n++;
  return n;
}

static const kk_option_t *opt_decl(const kk_opts_t *o, size_t i) {
  return i < o->n ? &o->m->options[i] : &kk__common_options[i - o->n];
}

static opt_val_t *find(const kk_opts_t *o, const char *name) {
  size_t total = o->n + ncommon();
  for (size_t i = 0; i < total; i++)
    if (strcmp(opt_decl(o, i)->name, name) == 0) return &o->v[i];
  return NULL;
}

int kk__edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 99;
  int d[64][64];
  for (size_t i = 0; i <= la; i++)
    d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      d[i][j] = c;
    }
  return d[la][lb];
}

int kk_parse_duration_ms(const char *s, uint64_t *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || !(v >= 0) || isinf(v)) return KK_EPARSE;
  double mult;
  if (*end == 0 || strcmp(end, "s") == 0)
    mult = 1000;
  else if (strcmp(end, "ms") == 0)
    mult = 1;
  else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
    mult = 60e3;
  else if (strcmp(end, "h") == 0)
    mult = 3600e3;
  else if (strcmp(end, "d") == 0)
    mult = 86400e3;
  else
    return KK_EPARSE;
  *out = (uint64_t)llround(v * mult);
  return 0;
}

int kk_parse_size(const char *s, uint64_t *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || !(v >= 0) || isinf(v)) return KK_EPARSE;
  static const struct {
    const char *suffix;
    double mult;
  } units[] = {{"", 1},
               {"B", 1},
               {"KiB", 1024.0},
               {"MiB", 1048576.0},
               {"GiB", 1073741824.0},
               {"kB", 1e3},
               {"KB", 1e3},
               {"MB", 1e6},
               {"GB", 1e9}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcmp(end, units[i].suffix) == 0) {
      *out = (uint64_t)llround(v * units[i].mult);
      return 0;
    }
  return KK_EPARSE;
}

static const char *type_name(kk_opt_type_t t) {
  static const char *names[] = {"?",       "string",   "integer", "number",
                                "boolean", "duration", "size",    "enum",
                                "list",    "table",    "function"};
  return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* Returns the index of `s` in "a|b|c", or -1. */
static int enum_index(const char *choices, const char *s) {
  int idx = 0;
  size_t ls = strlen(s);
  for (const char *p = choices; p; idx++) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == ls && strncmp(p, s, n) == 0) return idx;
    p = bar ? bar + 1 : NULL;
  }
  return -1;
}

/* "a|b|c" as "a, b, c" (every choice, however many), and a "did you
 * mean" hint for `s` when one choice is close. */
static void enum_list(const char *choices, const char *s, char *out,
                      size_t outlen, char *hint, size_t hintlen) {
  size_t n = 0;
  const char *best = NULL;
  size_t bestlen = 0;
  int bestd = 3;
  out[0] = hint[0] = 0;
  for (const char *p = choices ? choices : ""; p && *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    char one[128];
    snprintf(one, sizeof one, "%.*s", (int)len, p);
    int dd = s ? kk__edit_distance(s, one) : 99;
    /* A tie goes to the choice with the same first letter. */
    if (dd < bestd ||
        (dd == bestd && best && *p == *s && *best != *s && dd < 3))
      bestd = dd, best = p, bestlen = len;
    if (n < outlen)
      n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? ", " : "", one);
    p = bar ? bar + 1 : NULL;
  }
  if (!n) snprintf(out, outlen, "(none)");
  if (best)
    snprintf(hint, hintlen, " (did you mean '%.*s'?)", (int)bestlen, best);
}

static cJSON *lua_to_json(lua_State *L, int idx, int depth) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return cJSON_CreateNull();
  case LUA_TBOOLEAN:
    return cJSON_CreateBool(lua_toboolean(L, idx));
  case LUA_TNUMBER:
    return cJSON_CreateNumber(lua_tonumber(L, idx));
  case LUA_TSTRING:
    return cJSON_CreateString(lua_tostring(L, idx));
  case LUA_TTABLE:
    break;
  default:
    return NULL;
  }
  if (depth > 32) return NULL;
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  cJSON *j = n > 0 ? cJSON_CreateArray() : cJSON_CreateObject();
  if (!j) return NULL;
  if (n > 0) {
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, i);
      cJSON *c = lua_to_json(L, -1, depth + 1);
      lua_pop(L, 1);
      if (!c) goto fail;
      cJSON_AddItemToArray(j, c);
    }
    return j;
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 2);
      goto fail;
    }
    cJSON *c = lua_to_json(L, -1, depth + 1);
    if (!c) {
      lua_pop(L, 2);
      goto fail;
    }
    cJSON_AddItemToObject(j, lua_tostring(L, -2), c);
    lua_pop(L, 1);
  }
  return j;
fail:
  cJSON_Delete(j);
  return NULL;
}

cJSON *kk__lua_to_json(lua_State *L, int idx) {
  return lua_to_json(L, idx, 0);
}

/* Converts a default written in recipe syntax into v. */
static int parse_text(const kk_option_t *d, const char *text, opt_val_t *v,
                      char *err, size_t errlen) {
  char *end;
  switch (d->type) {
  case KK_OPT_STRING:
  case KK_OPT_TABLE:
    v->s = strdup(text);
    break;
  case KK_OPT_INT:
    v->i = strtoll(text, &end, 10);
    if (*end) goto bad;
    break;
  case KK_OPT_DOUBLE:
    v->d = strtod(text, &end);
    if (*end) goto bad;
    break;
  case KK_OPT_BOOL:
    if (strcmp(text, "true") == 0)
      v->i = 1;
    else if (strcmp(text, "false") == 0)
      v->i = 0;
    else
      goto bad;
    break;
  case KK_OPT_DURATION:
    if (kk_parse_duration_ms(text, &v->u)) goto bad;
    break;
  case KK_OPT_SIZE:
    if (kk_parse_size(text, &v->u)) goto bad;
    break;
  case KK_OPT_ENUM:
    if ((v->i = enum_index(d->choices ? d->choices : "", text)) < 0) goto bad;
    v->s = strdup(text);
    break;
  case KK_OPT_LIST: {
    /* Defaults of lists are comma separated. */
    char *copy = strdup(text);
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
      v->list = realloc(v->list, (v->nlist + 1) * sizeof *v->list);
      v->list[v->nlist++] = strdup(tok);
    }
    free(copy);
    break;
  }
  case KK_OPT_FUNCTION:
    goto bad;
  }
  v->set = 1;
  return 0;
bad:
  snprintf(err, errlen, "bad default '%s' for option '%s'", text, d->name);
  return KK_EINVAL;
}

/* Converts the Lua value at the top of L into v for declaration d. */
static int from_lua(lua_State *L, const kk_option_t *d, opt_val_t *v,
                    const char *where, char *err, size_t errlen) {
  int t = lua_type(L, -1);
  const char *got = lua_typename(L, t);
  switch (d->type) {
  case KK_OPT_STRING:
    if (t != LUA_TSTRING) goto wrong;
    v->s = strdup(lua_tostring(L, -1));
    break;
  case KK_OPT_INT:
    if (!lua_isinteger(L, -1)) {
      if (t == LUA_TNUMBER) {
        double x = lua_tonumber(L, -1);
        if (x != floor(x) || fabs(x) > 9.0e15) {
          char num[KK_FMT_DOUBLE_MAX];
          kk_fmt_double(x, num);
          snprintf(err, errlen, "option '%s' of %s expects an integer, got %s",
                   d->name, where, num);
          return KK_ETYPE;
        }
        v->i = (int64_t)x;
        break;
      }
      goto wrong;
    }
    v->i = lua_tointeger(L, -1);
    break;
  case KK_OPT_DOUBLE:
    if (t != LUA_TNUMBER) goto wrong;
    v->d = lua_tonumber(L, -1);
    if (isnan(v->d)) {
      snprintf(err, errlen, "option '%s' of %s must not be NaN", d->name,
               where);
      return KK_ERANGE;
    }
    break;
  case KK_OPT_BOOL:
    if (t != LUA_TBOOLEAN) goto wrong;
    v->i = lua_toboolean(L, -1);
    break;
  case KK_OPT_DURATION:
  case KK_OPT_SIZE:
    if (t == LUA_TNUMBER) {
      double x = lua_tonumber(L, -1);
      if (!(x >= 0)) {
        snprintf(err, errlen, "option '%s' of %s must not be negative", d->name,
                 where);
        return KK_ERANGE;
      }
      v->u = d->type == KK_OPT_DURATION ? (uint64_t)llround(x * 1000)
                                        : (uint64_t)llround(x);
    } else if (t == LUA_TSTRING) {
      const char *s = lua_tostring(L, -1);
      int rc = d->type == KK_OPT_DURATION ? kk_parse_duration_ms(s, &v->u)
                                          : kk_parse_size(s, &v->u);
      if (rc) {
        snprintf(err, errlen,
                 d->type == KK_OPT_DURATION
                     ? "option '%s' of %s: '%s' is not a duration (expected "
                       "seconds or a number with ms, s, m, h or d)"
                     : "option '%s' of %s: '%s' is not a size (expected bytes "
                       "or a number with KiB, MiB, GiB)",
                 d->name, where, s);
        return KK_EPARSE;
      }
    } else {
      goto wrong;
    }
    break;
  case KK_OPT_ENUM: {
    if (t != LUA_TSTRING) goto wrong;
    const char *s = lua_tostring(L, -1);
    v->i = enum_index(d->choices ? d->choices : "", s);
    if (v->i < 0) {
      char list[1024], hint[128];
      enum_list(d->choices, s, list, sizeof list, hint, sizeof hint);
      snprintf(err, errlen, "option '%s' of %s: '%s' is not one of %s%s",
               d->name, where, s, list, hint);
      return KK_EINVAL;
    }
    v->s = strdup(s);
    break;
  }
  case KK_OPT_LIST: {
    if (t == LUA_TSTRING) { /* a single item is a list of one */
      v->list = malloc(sizeof *v->list);
      v->list[0] = strdup(lua_tostring(L, -1));
      v->nlist = 1;
      break;
    }
    if (t != LUA_TTABLE) goto wrong;
    size_t n = lua_rawlen(L, -1);
    v->list = calloc(n ? n : 1, sizeof *v->list);
    for (size_t i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i);
      if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
        snprintf(err, errlen,
                 "option '%s' of %s: item %zu must be a string, "
                 "got %s",
                 d->name, where, i, luaL_typename(L, -1));
        lua_pop(L, 1);
        return KK_ETYPE;
      }
      v->list[v->nlist++] = strdup(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    break;
  }
  case KK_OPT_TABLE: {
    if (t != LUA_TTABLE) goto wrong;
    cJSON *j = lua_to_json(L, -1, 0);
    if (!j) {
      snprintf(err, errlen,
               "option '%s' of %s: table must hold only "
               "strings, numbers, booleans and tables with string keys",
               d->name, where);
      return KK_ETYPE;
    }
    v->s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    break;
  }
  case KK_OPT_FUNCTION:
    if (t != LUA_TFUNCTION) goto wrong;
    lua_pushvalue(L, -1);
    v->fnref = luaL_ref(L, LUA_REGISTRYINDEX);
    break;
  }
  if (d->min < d->max) {
    double x = d->type == KK_OPT_INT ? (double)v->i : v->d;
    if ((d->type == KK_OPT_INT || d->type == KK_OPT_DOUBLE) &&
        (x < d->min || x > d->max)) {
      char a[KK_FMT_DOUBLE_MAX], lo[KK_FMT_DOUBLE_MAX], hi[KK_FMT_DOUBLE_MAX];
      kk_fmt_double(x, a);
      kk_fmt_double(d->min, lo);
      kk_fmt_double(d->max, hi);
      snprintf(err, errlen, "option '%s' of %s: %s is out of range [%s, %s]",
               d->name, where, a, lo, hi);
      return KK_ERANGE;
    }
  }
  v->set = 1;
  return 0;
wrong:;
  char list[1024] = "", hint[8];
  if (d->type == KK_OPT_ENUM)
    enum_list(d->choices, NULL, list, sizeof list, hint, sizeof hint);
  snprintf(err, errlen, "option '%s' of %s expects %s%s%s, got %s", d->name,
           where,
           d->type == KK_OPT_ENUM  ? "one of "
           : d->type == KK_OPT_INT ? "an "
                                   : "a ",
           d->type == KK_OPT_ENUM ? list : type_name(d->type),
           d->type == KK_OPT_DURATION ? " (\"5s\", \"100ms\" or seconds)"
           : d->type == KK_OPT_SIZE   ? " (\"16MiB\" or bytes)"
                                      : "",
           got);
  return KK_ETYPE;
}

/* The line a function value was defined on (0 for other values): for a
 * function, Lua knows where the option itself is. */
static int value_line(lua_State *L) {
  if (lua_type(L, -1) != LUA_TFUNCTION || lua_iscfunction(L, -1)) return 0;
  lua_Debug ar;
  lua_pushvalue(L, -1);
  if (!lua_getinfo(L, ">S", &ar)) return 0;
  return ar.linedefined > 0 ? ar.linedefined : 0;
}

kk_opts_t *kk__opts_from_lua_each(lua_State *L, int idx, const kk_module_t *m,
                                  kk__opts_err_fn fn, void *ud) {
  char where[128], err[2048];
  const size_t errlen = sizeof err;
  size_t nerr = 0;
  snprintf(where, sizeof where, "%s.%s", m->ns, m->name);
  idx = lua_absindex(L, idx);
  kk_opts_t *o = calloc(1, sizeof *o);
  if (!o) goto oom;
  o->m = m;
  o->L = L;
  while (m->options && m->options[o->n].name)
    o->n++;
  size_t total = o->n + ncommon();
  o->v = calloc(total, sizeof *o->v);
  if (!o->v) goto oom;
  for (size_t i = 0; i < total; i++)
    o->v[i].fnref = LUA_NOREF;

  /* Every mistake is reported, not only the first: a wrong option does
   * not stop the others from being checked. */
  if (!lua_isnoneornil(L, idx)) {
    if (!lua_istable(L, idx)) {
      snprintf(err, errlen, "%s expects an option table { ... }, got %s", where,
               luaL_typename(L, idx));
      fn(ud, NULL, 0, err);
      goto fail;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      if (lua_type(L, -2) != LUA_TSTRING) {
        snprintf(err, errlen, "%s: option names must be strings (got %s key)",
                 where, luaL_typename(L, -2));
        fn(ud, NULL, value_line(L), err);
        nerr++;
        lua_pop(L, 1);
        continue;
      }
      const char *key = lua_tostring(L, -2);
      size_t i;
      for (i = 0; i < total; i++)
        if (strcmp(opt_decl(o, i)->name, key) == 0) break;
      if (i == total) {
        const char *best = NULL;
        int bestd = 3;
        for (size_t k = 0; k < total; k++) {
          int dd = kk__edit_distance(key, opt_decl(o, k)->name);
          if (dd < bestd) bestd = dd, best = opt_decl(o, k)->name;
        }
        if (best)
          snprintf(err, errlen,
                   "unknown option '%s' for %s (did you mean '%s'?)", key,
                   where, best);
        else
          snprintf(err, errlen,
                   "unknown option '%s' for %s (see `klimakit "
                   "modules %s.%s`)",
                   key, where, m->ns, m->name);
        fn(ud, key, value_line(L), err);
        nerr++;
        lua_pop(L, 1);
        continue;
      }
      if (from_lua(L, opt_decl(o, i), &o->v[i], where, err, errlen)) {
        fn(ud, key, value_line(L), err);
        nerr++;
        o->v[i].set = 1; /* given, if wrong: not also "missing" */
      }
      lua_pop(L, 1);
    }
  }
  for (size_t i = 0; i < total; i++) {
    const kk_option_t *d = opt_decl(o, i);
    if (o->v[i].set) continue;
    if (d->flags & KK_OPT_REQUIRED) {
      snprintf(err, errlen, "missing required option '%s' (%s) for %s", d->name,
               type_name(d->type), where);
      fn(ud, NULL, 0, err);
      nerr++;
      continue;
    }
    if (d->def && parse_text(d, d->def, &o->v[i], err, errlen)) {
      fn(ud, NULL, 0, err);
      nerr++;
    }
  }
  if (nerr) goto fail;
  return o;
oom:
  fn(ud, NULL, 0, "out of memory");
fail:
  kk__opts_free(o);
  return NULL;
}

typedef struct first_err {
  char *err;
  size_t errlen;
  int have;
} first_err_t;

static void keep_first(void *ud, const char *key, int line, const char *msg) {
  first_err_t *f = ud;
  (void)key;
  (void)line;
  if (f->have++) return;
  snprintf(f->err, f->errlen, "%s", msg);
}

kk_opts_t *kk__opts_from_lua(lua_State *L, int idx, const kk_module_t *m,
                             char *err, size_t errlen) {
  first_err_t f = {err, errlen, 0};
  return kk__opts_from_lua_each(L, idx, m, keep_first, &f);
}

void kk__opts_free(kk_opts_t *o) {
  if (!o) return;
  size_t total = o->v ? o->n + ncommon() : 0;
  for (size_t i = 0; i < total; i++) {
    free(o->v[i].s);
    for (size_t k = 0; k < o->v[i].nlist; k++)
      free(o->v[i].list[k]);
    free(o->v[i].list);
    if (o->v[i].fnref != LUA_NOREF && o->L)
      luaL_unref(o->L, LUA_REGISTRYINDEX, o->v[i].fnref);
  }
  free(o->v);
  free(o);
}

static opt_val_t *get(const kk_opts_t *o, const char *name) {
  opt_val_t *v = find(o, name);
#ifndef NDEBUG
  if (!v) {
    kk_log(KK_LOG_ERROR, "core", "opts", "module %s reads undeclared option %s",
           o->m->name, name);
  }
#endif
  return v;
}

bool kk_opt_isset(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v && v->set;
}
const char *kk_opt_str(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v && v->set ? v->s : NULL;
}
int64_t kk_opt_int(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v ? v->i : 0;
}
double kk_opt_double(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v ? v->d : 0;
}
bool kk_opt_bool(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v && v->i;
}
uint64_t kk_opt_duration_ms(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v ? v->u : 0;
}
uint64_t kk_opt_size(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v ? v->u : 0;
}
int kk_opt_enum(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v && v->set ? (int)v->i : 0;
}
size_t kk_opt_list_len(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v ? v->nlist : 0;
}
const char *kk_opt_list_item(const kk_opts_t *o, const char *name, size_t i) {
  opt_val_t *v = get(o, name);
  return v && i < v->nlist ? v->list[i] : NULL;
}
const char *kk_opt_json(const kk_opts_t *o, const char *name) {
  opt_val_t *v = get(o, name);
  return v && v->set ? v->s : NULL;
}

int kk__opt_function(const kk_opts_t *o, const char *name, lua_State **L,
                     int *ref) {
  opt_val_t *v = get(o, name);
  if (!v || v->fnref == LUA_NOREF) return KK_EMISSING;
  *L = o->L;
  *ref = v->fnref;
  return 0;
}

void kk__opt_push(lua_State *L, const kk_opts_t *o, const char *name) {
  size_t total = o->n + ncommon();
  for (size_t i = 0; i < total; i++) {
    const kk_option_t *d = opt_decl(o, i);
    if (strcmp(d->name, name) != 0) continue;
    const opt_val_t *v = &o->v[i];
    if (!v->set) break;
    switch (d->type) {
    case KK_OPT_STRING:
    case KK_OPT_ENUM:
      lua_pushstring(L, v->s);
      return;
    case KK_OPT_INT:
      lua_pushinteger(L, v->i);
      return;
    case KK_OPT_DOUBLE:
      lua_pushnumber(L, v->d);
      return;
    case KK_OPT_BOOL:
      lua_pushboolean(L, (int)v->i);
      return;
    case KK_OPT_DURATION:
    case KK_OPT_SIZE:
      lua_pushinteger(L, (lua_Integer)v->u);
      return;
    case KK_OPT_LIST:
      lua_createtable(L, (int)v->nlist, 0);
      for (size_t k = 0; k < v->nlist; k++) {
        lua_pushstring(L, v->list[k]);
        lua_rawseti(L, -2, (lua_Integer)k + 1);
      }
      return;
    case KK_OPT_TABLE:
      /* Handed over as JSON text; Lua modules decode it with cjson. */
      lua_pushstring(L, v->s);
      return;
    case KK_OPT_FUNCTION:
      break;
    }
    break;
  }
  lua_pushnil(L);
}

const char *kk__opts_stage_name(const kk_opts_t *o) {
  return kk_opt_str(o, "name");
}

uint64_t kk__opts_queue(const kk_opts_t *o) {
  return (uint64_t)kk_opt_int(o, "queue");
}
