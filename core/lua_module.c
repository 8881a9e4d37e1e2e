/* core/lua_module.c - transforms and sinks written in Lua.
 *
 * A Lua module is a file returning a table (see examples/lua-module/
 * README.md).  Loading it runs it once in a throw-away sandbox to read and
 * validate that table and turn it into a kk_module_t with a real option
 * table, so `klimakit modules`, recipe checking and the docs treat it like
 * a C module.  Every stage made from it gets its own sandboxed state,
 * loads the file again there, and calls `process` under the state's
 * budget.
 *
 * Every Lua API call that may allocate runs inside a protected call: the
 * memory cap makes any allocation fail, and an unprotected failure would
 * abort the process. */
#include "core.h"
#include "lua_sandbox.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loading the file and running `create` may build tables: give it more
 * wall-clock time than one batch gets. */
#define SETUP_DEADLINE_MS 1000u

/* The options of every stage, defined by the core (core/opts.c); module
 * options must not shadow them. */
extern const kk_option_t kk__common_options[];

/* No defaults here: unset limits take the process defaults, which the
 * recipe's kk.config { lua_memory, lua_budget, lua_deadline } sets. */
const kk_option_t kk__lua_limit_options[] = {
    {"memory", KK_OPT_SIZE, 0, NULL,
     "Memory cap of the stage's Lua state (default: kk.config lua_memory, "
     "64MiB); past it a call fails.",
     NULL, 0, 0},
    {"budget", KK_OPT_INT, 0, NULL,
     "Lua VM instructions one call of `process` may use (default: kk.config "
     "lua_budget, 50000000).",
     NULL, 1000, 1e15},
    {"deadline", KK_OPT_DURATION, 0, NULL,
     "Wall-clock time one call of `process` may take (default: kk.config "
     "lua_deadline, 50ms).",
     NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}};

typedef struct lmod {
  kk_module_t m; /* first: kk_stage_module() hands it back to create() */
  char *path;    /* canonical */
  char *dir;
  kk_option_t *opts; /* own options, then the limit options, then {NULL} */
  size_t nown;
} lmod_t;

/* ---- loading ------------------------------------------------------------ */

typedef struct load_ctx {
  lmod_t *lm;
  char *err;
  size_t errlen;
  int failed;
} load_ctx_t;

static int ident_ok(const char *s) {
  if (!s || !(islower((unsigned char)*s) || *s == '_')) return 0;
  for (; *s; s++)
    if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) ||
          *s == '_'))
      return 0;
  return 1;
}

/* The first line at or after `from` where `key` appears as a table key
 * (`key =` or `["key"] =`); 0 if none.  Good enough to point an author at
 * the right place. */
static int find_line(const char *path, const char *key, int from) {
  FILE *f = key ? fopen(path, "r") : NULL;
  if (!f) return 0;
  char *buf = NULL;
  size_t cap = 0, klen = strlen(key);
  int line = 0, found = 0;
  while (!found && getline(&buf, &cap, f) >= 0) {
    if (++line < from) continue;
    for (char *p = buf; !found && (p = strstr(p, key)); p++) {
      if (p > buf && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) continue;
      char *q = p + klen;
      if (isalnum((unsigned char)*q) || *q == '_') continue;
      if (*q == '"' || *q == '\'') {
        if (q[1] != ']') continue;
        q += 2;
      }
      while (*q == ' ' || *q == '\t')
        q++;
      if (*q == '=' && q[1] != '=') found = line;
    }
  }
  free(buf);
  fclose(f);
  return found;
}

static int fail(load_ctx_t *lc, const char *key, int from, const char *fmt, ...)
    KK__PRINTF(4, 5);
static int fail(load_ctx_t *lc, const char *key, int from, const char *fmt,
                ...) {
  if (lc->failed) return -1;
  lc->failed = 1;
  int line = find_line(lc->lm->path, key, from);
  int n = line ? snprintf(lc->err, lc->errlen, "%s:%d: ", lc->lm->path, line)
               : snprintf(lc->err, lc->errlen, "%s: ", lc->lm->path);
  if (n < 0 || (size_t)n >= lc->errlen) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(lc->err + n, lc->errlen - (size_t)n, fmt, ap);
  va_end(ap);
  return -1;
}

/* Reads optional string field `f` of the table at idx into a new string
 * (def when absent).  Returns -1 after fail(). */
static int str_field(lua_State *L, load_ctx_t *lc, int idx, const char *f,
                     const char *def, char **out, int from) {
  int t = lua_getfield(L, idx, f);
  const char *s = def;
  if (t == LUA_TSTRING)
    s = lua_tostring(L, -1);
  else if (t != LUA_TNIL) {
    lua_pop(L, 1);
    return fail(lc, f, from, "field '%s' must be a string, got %s", f,
                lua_typename(L, t));
  }
  *out = s ? strdup(s) : NULL;
  lua_pop(L, 1);
  if (s && !*out) return fail(lc, NULL, 0, "out of memory");
  return 0;
}

static const struct {
  const char *name;
  kk_opt_type_t type;
} opt_types[] = {{"string", KK_OPT_STRING}, {"int", KK_OPT_INT},
                 {"integer", KK_OPT_INT},   {"double", KK_OPT_DOUBLE},
                 {"number", KK_OPT_DOUBLE}, {"bool", KK_OPT_BOOL},
                 {"boolean", KK_OPT_BOOL},  {"duration", KK_OPT_DURATION},
                 {"size", KK_OPT_SIZE},     {"enum", KK_OPT_ENUM},
                 {"list", KK_OPT_LIST},     {"table", KK_OPT_TABLE}};

/* Converts the default at the top of L into recipe syntax (as the core
 * parses option defaults: see parse_text in core/opts.c). */
static int default_text(lua_State *L, load_ctx_t *lc, const kk_option_t *o,
                        int line, char **out) {
  char buf[64];
  const char *text = NULL;
  int t = lua_type(L, -1);
  double x = t == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
  uint64_t u;
  switch (o->type) {
  case KK_OPT_STRING:
    if (t != LUA_TSTRING) goto wrong;
    text = lua_tostring(L, -1);
    break;
  case KK_OPT_INT:
    if (t != LUA_TNUMBER || x != floor(x) || fabs(x) > 9.0e15) goto wrong;
    snprintf(buf, sizeof buf, "%lld",
             lua_isinteger(L, -1) ? (long long)lua_tointeger(L, -1)
                                  : (long long)x);
    text = buf;
    break;
  case KK_OPT_DOUBLE:
    if (t != LUA_TNUMBER || isnan(x)) goto wrong;
    snprintf(buf, sizeof buf, "%.17g", x);
    text = buf;
    break;
  case KK_OPT_BOOL:
    if (t != LUA_TBOOLEAN) goto wrong;
    text = lua_toboolean(L, -1) ? "true" : "false";
    break;
  case KK_OPT_DURATION:
  case KK_OPT_SIZE:
    if (t == LUA_TNUMBER && x >= 0 && !isinf(x)) {
      snprintf(buf, sizeof buf, "%.17g", x);
      text = buf;
    } else if (t == LUA_TSTRING) {
      text = lua_tostring(L, -1);
      if ((o->type == KK_OPT_DURATION ? kk_parse_duration_ms(text, &u)
                                      : kk_parse_size(text, &u)) != 0)
        goto wrong;
    } else {
      goto wrong;
    }
    break;
  case KK_OPT_ENUM: {
    if (t != LUA_TSTRING) goto wrong;
    text = lua_tostring(L, -1);
    size_t n = strlen(text);
    const char *p = o->choices;
    int ok = 0;
    while (p && !ok) {
      const char *bar = strchr(p, '|');
      size_t len = bar ? (size_t)(bar - p) : strlen(p);
      ok = len == n && strncmp(p, text, n) == 0;
      p = bar ? bar + 1 : NULL;
    }
    if (!ok)
      return fail(lc, o->name, line,
                  "option '%s': default '%s' is not one "
                  "of its choices (%s)",
                  o->name, text, o->choices);
    break;
  }
  case KK_OPT_LIST: {
    /* Lists are written comma separated in recipe syntax. */
    if (t == LUA_TSTRING) {
      text = lua_tostring(L, -1);
      if (strchr(text, ','))
        return fail(lc, o->name, line,
                    "option '%s': list items must not "
                    "contain ','",
                    o->name);
      break;
    }
    if (t != LUA_TTABLE) goto wrong;
    size_t n = lua_rawlen(L, -1), len = 0;
    char *acc = calloc(1, 1);
    for (size_t i = 1; acc && i <= n; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i);
      const char *item =
          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
      if (!item || strchr(item, ',')) {
        lua_pop(L, 1);
        free(acc);
        return fail(lc, o->name, line,
                    "option '%s': the default list must "
                    "hold strings without ','",
                    o->name);
      }
      size_t sl = strlen(item);
      char *na = realloc(acc, len + sl + 2);
      if (na) {
        if (len) na[len++] = ',';
        memcpy(na + len, item, sl + 1);
        len += sl;
      } else {
        free(acc);
      }
      acc = na;
      lua_pop(L, 1);
    }
    if (!acc) return fail(lc, NULL, 0, "out of memory");
    *out = acc;
    return 0;
  }
  case KK_OPT_TABLE: {
    if (t != LUA_TTABLE) goto wrong;
    cJSON *j = kk__lua_to_json(L, -1);
    if (!j)
      return fail(lc, o->name, line,
                  "option '%s': the default table must "
                  "hold only strings, numbers, booleans and tables with "
                  "string keys",
                  o->name);
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return *out ? 0 : fail(lc, NULL, 0, "out of memory");
  }
  case KK_OPT_FUNCTION:
    goto wrong;
  }
  if (o->min < o->max && (o->type == KK_OPT_INT || o->type == KK_OPT_DOUBLE) &&
      (x < o->min || x > o->max))
    return fail(lc, o->name, line,
                "option '%s': default %g is outside "
                "[%g, %g]",
                o->name, x, o->min, o->max);
  *out = strdup(text);
  return *out ? 0 : fail(lc, NULL, 0, "out of memory");
wrong:
  return fail(
      lc, o->name, line, "option '%s': default must be %s, got %s%s%s", o->name,
      o->type == KK_OPT_DURATION ? "seconds or a duration such as \"5s\""
      : o->type == KK_OPT_SIZE   ? "bytes or a size such as \"16MiB\""
      : o->type == KK_OPT_INT    ? "an integer"
      : o->type == KK_OPT_DOUBLE ? "a number"
      : o->type == KK_OPT_BOOL   ? "a boolean"
      : o->type == KK_OPT_LIST   ? "a list of strings"
      : o->type == KK_OPT_TABLE  ? "a table"
                                 : "a string",
      lua_typename(L, t), t == LUA_TSTRING ? " " : "",
      t == LUA_TSTRING ? lua_tostring(L, -1) : "");
}

static int reserved_name(const char *n) {
  for (size_t i = 0; kk__common_options[i].name; i++)
    if (strcmp(kk__common_options[i].name, n) == 0) return 1;
  for (size_t i = 0; kk__lua_limit_options[i].name; i++)
    if (strcmp(kk__lua_limit_options[i].name, n) == 0) return 1;
  return 0;
}

typedef struct optline {
  kk_option_t o;
  int line;
} optline_t;

static int cmp_optline(const void *a, const void *b) {
  const optline_t *x = a, *y = b;
  if (x->line != y->line) return x->line < y->line ? -1 : 1;
  return strcmp(x->o.name, y->o.name);
}

static void free_option_strings(kk_option_t *o) {
  free((char *)o->name);
  free((char *)o->def);
  free((char *)o->description);
  free((char *)o->choices);
}

/* Parses one option spec (the table at the top of L) named `name`. */
static int parse_option(lua_State *L, load_ctx_t *lc, const char *name,
                        int from, optline_t *ol) {
  int line = find_line(lc->lm->path, name, from);
  kk_option_t *o = &ol->o;
  ol->line = line ? line : INT_MAX;
  int spec = lua_gettop(L);
  if (!ident_ok(name))
    return fail(lc, name, from,
                "option name '%s' must be lower case letters, "
                "digits and '_'",
                name);
  if (reserved_name(name))
    return fail(lc, name, from,
                "option name '%s' is reserved (every stage "
                "has it)",
                name);
  if (!(o->name = strdup(name))) return fail(lc, NULL, 0, "out of memory");
  if (!lua_istable(L, spec))
    return fail(lc, name, from,
                "option '%s' must be a table {type = ..., "
                "description = ...}, got %s",
                name, luaL_typename(L, spec));

  static const char *const known[] = {"type",        "required", "default",
                                      "description", "choices",  "min",
                                      "max",         NULL};
  lua_pushnil(L);
  while (lua_next(L, spec)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    size_t i = 0;
    while (k && known[i] && strcmp(known[i], k) != 0)
      i++;
    if (!k || !known[i]) {
      lua_pop(L, 2);
      return fail(lc, name, from,
                  "option '%s': unknown field '%s' (fields: "
                  "type, required, default, description, choices, min, max)",
                  name, k ? k : "?");
    }
    lua_pop(L, 1);
  }

  if (lua_getfield(L, spec, "type") != LUA_TSTRING) {
    lua_pop(L, 1);
    return fail(lc, name, from,
                "option '%s' has no 'type' (one of string, "
                "int, double, bool, duration, size, enum, list, table)",
                name);
  }
  const char *tn = lua_tostring(L, -1);
  size_t ti = 0, nt = sizeof opt_types / sizeof opt_types[0];
  while (ti < nt && strcmp(opt_types[ti].name, tn) != 0)
    ti++;
  if (ti == nt) {
    fail(lc, name, from,
         "option '%s': unknown type '%s' (one of string, int, "
         "double, bool, duration, size, enum, list, table)",
         name, tn);
    lua_pop(L, 1);
    return -1;
  }
  o->type = opt_types[ti].type;
  lua_pop(L, 1);

  int t = lua_getfield(L, spec, "required");
  if (t != LUA_TNIL && t != LUA_TBOOLEAN) {
    lua_pop(L, 1);
    return fail(lc, name, from, "option '%s': 'required' must be a boolean",
                name);
  }
  o->flags = lua_toboolean(L, -1) ? KK_OPT_REQUIRED : 0;
  lua_pop(L, 1);

  char *s = NULL;
  if (str_field(L, lc, spec, "description", "", &s, from)) return -1;
  o->description = s;

  t = lua_getfield(L, spec, "choices");
  if (t != LUA_TNIL) {
    size_t n = t == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
    if (o->type != KK_OPT_ENUM || n == 0) {
      lua_pop(L, 1);
      return fail(lc, name, from,
                  o->type != KK_OPT_ENUM
                      ? "option '%s': 'choices' is only for type enum"
                      : "option '%s': 'choices' must be a list of strings",
                  name);
    }
    size_t len = 0;
    char *acc = NULL;
    for (size_t i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i);
      const char *c =
          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
      if (!c || !*c || strchr(c, '|')) {
        lua_pop(L, 2);
        free(acc);
        return fail(lc, name, from,
                    "option '%s': choices must be non-empty "
                    "strings without '|'",
                    name);
      }
      size_t cl = strlen(c);
      char *na = realloc(acc, len + cl + 2);
      if (!na) {
        lua_pop(L, 2);
        free(acc);
        return fail(lc, NULL, 0, "out of memory");
      }
      acc = na;
      if (len) acc[len++] = '|';
      memcpy(acc + len, c, cl + 1);
      len += cl;
      lua_pop(L, 1);
    }
    o->choices = acc;
  } else if (o->type == KK_OPT_ENUM) {
    lua_pop(L, 1);
    return fail(lc, name, from,
                "option '%s' of type enum needs 'choices' "
                "= { \"a\", \"b\", ... }",
                name);
  }
  lua_pop(L, 1);

  for (int k = 0; k < 2; k++) {
    const char *f = k ? "max" : "min";
    t = lua_getfield(L, spec, f);
    if (t != LUA_TNIL) {
      if (t != LUA_TNUMBER ||
          (o->type != KK_OPT_INT && o->type != KK_OPT_DOUBLE)) {
        lua_pop(L, 1);
        return fail(lc, name, from,
                    "option '%s': '%s' must be a number, and "
                    "only for int and double options",
                    name, f);
      }
      *(k ? &o->max : &o->min) = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
  }
  if ((o->min != 0 || o->max != 0) && !(o->min < o->max))
    return fail(lc, name, from, "option '%s': min must be below max", name);

  if (lua_getfield(L, spec, "default") != LUA_TNIL) {
    if (o->flags & KK_OPT_REQUIRED) {
      lua_pop(L, 1);
      return fail(lc, name, from,
                  "option '%s' is required and has a "
                  "default: drop one of them",
                  name);
    }
    char *d = NULL;
    int rc = default_text(L, lc, o, from, &d);
    o->def = d;
    lua_pop(L, 1);
    if (rc) return -1;
  } else {
    lua_pop(L, 1);
  }
  return 0;
}

static int parse_options(lua_State *L, load_ctx_t *lc, int tbl) {
  lmod_t *lm = lc->lm;
  int from = find_line(lm->path, "options", 0);
  size_t n = 0, cap = 8;
  optline_t *ol = NULL;
  int t = lua_getfield(L, tbl, "options");
  if (t != LUA_TNIL && t != LUA_TTABLE) {
    lua_pop(L, 1);
    return fail(lc, "options", 0,
                "field 'options' must be a table { name = "
                "{ type = ... }, ... }, got %s",
                lua_typename(L, t));
  }
  int opts = lua_gettop(L);
  if (t == LUA_TTABLE) {
    if (!(ol = calloc(cap, sizeof *ol)))
      return fail(lc, NULL, 0, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, opts)) {
      if (lua_type(L, -2) != LUA_TSTRING) {
        lua_pop(L, 2);
        fail(lc, "options", 0,
             "option names must be strings: write options "
             "= { name = { type = ... } }");
        goto out;
      }
      if (n == cap) {
        optline_t *nn = realloc(ol, 2 * cap * sizeof *nn);
        if (!nn) {
          lua_pop(L, 2);
          fail(lc, NULL, 0, "out of memory");
          goto out;
        }
        memset(nn + cap, 0, cap * sizeof *nn);
        ol = nn;
        cap *= 2;
      }
      int rc = parse_option(L, lc, lua_tostring(L, -2), from, &ol[n++]);
      lua_pop(L, 1);
      if (rc) {
        lua_pop(L, 1);
        goto out;
      }
    }
    qsort(ol, n, sizeof *ol, cmp_optline);
  }
  size_t nlim = 0;
  while (kk__lua_limit_options[nlim].name)
    nlim++;
  lm->opts = calloc(n + nlim + 1, sizeof *lm->opts);
  if (!lm->opts) {
    fail(lc, NULL, 0, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    lm->opts[i] = ol[i].o;
  memcpy(lm->opts + n, kk__lua_limit_options, (nlim + 1) * sizeof *lm->opts);
  lm->nown = n;
  n = 0; /* now owned by lm->opts */
out:
  for (size_t i = 0; i < n; i++)
    free_option_strings(&ol[i].o);
  free(ol);
  lua_settop(L, opts - 1);
  return lc->failed ? -1 : 0;
}

static const char *const top_fields[] = {"name",    "kind",        "ns",
                                         "summary", "description", "options",
                                         "create",  "process",     NULL};

/* validate(ctx, module_table): checks the table into lc->lm.  Runs under
 * kk__lua_pcall; validation failures are reported through lc, not raised,
 * so that they come without a traceback. */
static int validate(lua_State *L) {
  load_ctx_t *lc = lua_touserdata(L, 1);
  lmod_t *lm = lc->lm;
  lua_remove(L, 1);
  if (!lua_istable(L, 1)) {
    fail(lc, NULL, 0,
         "the file must return the module table { name = ..., "
         "kind = \"transform\", process = function(state, batch, emit) ... "
         "end }, got %s",
         luaL_typename(L, 1));
    return 0;
  }
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    size_t i = 0;
    while (k && top_fields[i] && strcmp(top_fields[i], k) != 0)
      i++;
    if (!k || !top_fields[i]) {
      fail(lc, k, 0,
           "unknown field '%s' in the module table (fields: name, "
           "kind, ns, summary, description, options, create, process)",
           k ? k : luaL_typename(L, -2));
      return 0;
    }
    lua_pop(L, 1);
  }

  char *s = NULL;
  if (str_field(L, lc, 1, "name", NULL, &s, 0)) return 0;
  lm->m.name = s;
  if (!s) {
    fail(lc, NULL, 0,
         "the module table has no 'name' (a string such as "
         "\"dew_point\")");
    return 0;
  }
  if (!ident_ok(s)) {
    fail(lc, "name", 0,
         "name '%s' must be lower case letters, digits and "
         "'_'",
         s);
    return 0;
  }

  if (str_field(L, lc, 1, "kind", NULL, &s, 0)) return 0;
  if (!s || (strcmp(s, "transform") != 0 && strcmp(s, "sink") != 0)) {
    fail(lc, s ? "kind" : NULL, 0,
         "field 'kind' must be \"transform\" or "
         "\"sink\"%s%s%s",
         s ? " (got \"" : "", s ? s : "", s ? "\")" : "");
    free(s);
    return 0;
  }
  lm->m.kind = strcmp(s, "sink") == 0 ? KK_KIND_SINK : KK_KIND_TRANSFORM;

  char *ns = NULL;
  int rc = str_field(L, lc, 1, "ns", s, &ns, 0);
  free(s);
  if (rc) return 0;
  lm->m.ns = ns;
  if (!ident_ok(ns)) {
    fail(lc, "ns", 0, "ns '%s' must be lower case letters, digits and '_'", ns);
    return 0;
  }

  const char *base = strrchr(lm->path, '/');
  char defsum[256];
  snprintf(defsum, sizeof defsum, "Lua module %s", base ? base + 1 : lm->path);
  if (str_field(L, lc, 1, "summary", defsum, &s, 0)) return 0;
  lm->m.summary = s;
  if (str_field(L, lc, 1, "description", "", &s, 0)) return 0;
  lm->m.description = s;

  int t = lua_getfield(L, 1, "process");
  lua_pop(L, 1);
  if (t != LUA_TFUNCTION) {
    fail(lc, t == LUA_TNIL ? NULL : "process", 0,
         "field 'process' must be a function(state, batch, emit)%s%s",
         t == LUA_TNIL ? "" : ", got ",
         t == LUA_TNIL ? "" : lua_typename(L, t));
    return 0;
  }
  t = lua_getfield(L, 1, "create");
  lua_pop(L, 1);
  if (t != LUA_TNIL && t != LUA_TFUNCTION) {
    fail(lc, "create", 0,
         "field 'create' must be a function(opts) returning "
         "the stage's state, got %s",
         lua_typename(L, t));
    return 0;
  }
  parse_options(L, lc, 1);
  return 0;
}

static int lm_create(kk_stage_t *st, const kk_opts_t *opts, void **state);
static int lm_process(kk_stage_t *st, void *state, kk_batch_t *b);
static void lm_destroy(void *state);

void kk__lua_module_free(const kk_module_t *m) {
  if (!m) return;
  lmod_t *lm = (lmod_t *)m;
  free((char *)lm->m.name);
  free((char *)lm->m.ns);
  free((char *)lm->m.summary);
  free((char *)lm->m.description);
  if (lm->opts)
    for (size_t i = 0; i < lm->nown; i++)
      free_option_strings(&lm->opts[i]);
  free(lm->opts);
  free(lm->path);
  free(lm->dir);
  free(lm);
}

/* Cuts a message at its first newline (before the traceback, whose
 * frames run through the core); returns it. */
static char *first_line(char *msg) {
  char *nl = strchr(msg, '\n');
  if (nl) *nl = 0;
  return msg;
}

/* An error of the module's own code: its first line (the traceback runs
 * through the core), prefixed with the file unless Lua named it already. */
static void load_error(char *err, size_t errlen, const char *path, char *msg) {
  first_line(msg);
  if (strncmp(msg, path, strlen(path)) == 0)
    snprintf(err, errlen, "%s", msg);
  else
    snprintf(err, errlen, "%s: %s", path, msg);
}

const kk_module_t *kk__lua_module_load(const char *path, char *err,
                                       size_t errlen) {
  char real[PATH_MAX], e[1024];
  if (!realpath(path, real)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  lmod_t *lm = calloc(1, sizeof *lm);
  if (!lm || !(lm->path = strdup(real)) || !(lm->dir = strdup(real))) {
    snprintf(err, errlen, "%s: out of memory", path);
    kk__lua_module_free(lm ? &lm->m : NULL);
    return NULL;
  }
  *strrchr(lm->dir, '/') = 0;
  if (!*lm->dir) strcpy(lm->dir, "/");

  kk__lua_limits_t lim = {0, 0, SETUP_DEADLINE_MS};
  load_ctx_t lc = {lm, err, errlen, 0};
  lua_State *L = kk__lua_new(&lim, strrchr(real, '/') + 1, e, sizeof e);
  if (!L) {
    snprintf(err, errlen, "%s: %s", real, e);
    goto fail;
  }
  kk__lua_allow_path(L, lm->dir, 0);
  kk__lua_set_preload(L, "klimakit", kk__lua_open_surfaces);
  if (kk__lua_loadfile(L, real, e, sizeof e) != 0) {
    snprintf(err, errlen, "%s", e);
    goto fail;
  }
  if (kk__lua_pcall(L, 0, 1, e, sizeof e) != 0) {
    load_error(err, errlen, real, e);
    goto fail;
  }
  /* Light C functions and light userdata allocate nothing. */
  lua_pushcfunction(L, validate);
  lua_insert(L, -2);
  lua_pushlightuserdata(L, &lc);
  lua_insert(L, -2);
  if (kk__lua_pcall(L, 2, 0, e, sizeof e) != 0) {
    if (!lc.failed) load_error(err, errlen, real, e);
    goto fail;
  }
  if (lc.failed) goto fail;
  kk__lua_close(L);
  lm->m.abi = KK_MODULE_ABI;
  lm->m.size = sizeof(kk_module_t);
  lm->m.options = lm->opts;
  lm->m.create = lm_create;
  lm->m.process = lm_process;
  lm->m.destroy = lm_destroy;
  return &lm->m;
fail:
  kk__lua_close(L);
  kk__lua_module_free(&lm->m);
  return NULL;
}

const char *kk__lua_module_path(const kk_module_t *m) {
  return m && m->create == lm_create ? ((const lmod_t *)m)->path : NULL;
}

static int lua_file(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".lua") == 0;
}

int kk__lua_module_scan(const char *dir) {
  struct dirent **list;
  int n = scandir(dir, &list, lua_file, alphasort);
  if (n < 0) return -errno;
  int count = 0;
  for (int i = 0; i < n; i++) {
    char path[PATH_MAX], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
    free(list[i]);
    const kk_module_t *m = kk__lua_module_load(path, err, sizeof err);
    if (!m) {
      kk_log(KK_LOG_ERROR, "core", "lua", "%s", err);
      continue;
    }
    int rc = kk__registry_add(m);
    if (rc) {
      kk_log(KK_LOG_ERROR, "core", "lua", "%s: cannot register %s.%s: %s", path,
             m->ns, m->name, kk_strerror(rc));
      kk__lua_module_free(m);
      continue;
    }
    count++;
  }
  free(list);
  return count;
}

/* ---- stages ---------------------------------------------------------------
 */

typedef struct linst {
  lua_State *L;
  int proc_ref, state_ref;
  int sink;
} linst_t;

typedef struct setup_ctx {
  const lmod_t *lm;
  const kk_opts_t *opts;
  linst_t *in;
} setup_ctx_t;

/* Loads the module file into the stage's state, builds the opts table and
 * calls create(opts).  Runs under kk__lua_pcall. */
static int lm_setup(lua_State *L) {
  setup_ctx_t *sc = lua_touserdata(L, 1);
  if (luaL_loadfilex(L, sc->lm->path, "t") != LUA_OK) return lua_error(L);
  lua_call(L, 0, 1);
  int mod = lua_gettop(L);
  if (!lua_istable(L, mod) || lua_getfield(L, mod, "process") != LUA_TFUNCTION)
    return luaL_error(L, "%s no longer returns a module table with process",
                      sc->lm->path);
  sc->in->proc_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  for (const kk_option_t *o = sc->lm->opts; o->name; o++) {
    kk__opt_push(L, sc->opts, o->name);
    lua_setfield(L, -2, o->name);
  }
  if (lua_getfield(L, mod, "create") == LUA_TFUNCTION) {
    lua_insert(L, -2);
    lua_call(L, 1, 1);
  } else {
    lua_pop(L, 1); /* no create: the state is the opts table */
  }
  sc->in->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

static void lm_destroy(void *state) {
  linst_t *in = state;
  if (!in) return;
  kk__lua_close(in->L);
  free(in);
}

static int lm_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  const lmod_t *lm = (const lmod_t *)kk_stage_module(st);
  char e[1024];
  linst_t *in = calloc(1, sizeof *in);
  if (!in) return KK_ENOMEM;
  in->proc_ref = in->state_ref = LUA_NOREF;
  in->sink = lm->m.kind == KK_KIND_SINK;
  kk__lua_limits_t lim = {kk_opt_size(opts, "memory"),
                          (uint64_t)kk_opt_int(opts, "budget"),
                          kk_opt_duration_ms(opts, "deadline")};
  in->L = kk__lua_new(&lim, kk_stage_name(st), e, sizeof e);
  if (!in->L) {
    kk_stage_error(st, "%s", e);
    lm_destroy(in);
    return KK_ENOMEM;
  }
  kk__lua_allow_path(in->L, lm->dir, 0);
  /* Modules may use the C modules' Lua functions (kk.factor...). */
  kk__lua_set_preload(in->L, "klimakit", kk__lua_open_surfaces);
  kk__lua_limits_t setup = {0, 0, SETUP_DEADLINE_MS};
  if (setup.deadline_ms < lim.deadline_ms) setup.deadline_ms = lim.deadline_ms;
  setup_ctx_t sc = {lm, opts, in};
  lua_pushcfunction(in->L, lm_setup);
  lua_pushlightuserdata(in->L, &sc);
  int rc = kk__lua_pcall_limits(in->L, 1, 0, &setup, e, sizeof e);
  if (rc) {
    kk_stage_error(st, "%s", first_line(e));
    lm_destroy(in);
    return rc;
  }
  *state = in;
  return 0;
}

static const char *reason_of(int rc) {
  return rc == KK_EBUDGET ? "budget" : rc == KK_EMEMCAP ? "memcap" : "error";
}

static int lm_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  linst_t *in = state;
  lua_State *L = in->L;
  char e[1024];
  kk_batch_t *out = NULL;
  if (!in->sink && !(out = kk_batch_new(kk_batch_len(b)))) return KK_ENOMEM;
  int top = lua_gettop(L);
  int rc = kk__lua_push_borrowed(L, b, out, e, sizeof e);
  if (rc == 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->proc_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->state_ref);
    lua_pushvalue(L, top + 1);
    lua_pushvalue(L, top + 2);
    rc = kk__lua_pcall(L, 3, 0, e, sizeof e);
    kk__lua_invalidate_borrowed(L, top + 1);
  }
  lua_settop(L, top);
  if (rc) {
    /* The engine logs the failed batch (rate-limited) with this detail. */
    kk_metric_add(kk_stage_counter(st, "kk_lua_errors_total", reason_of(rc),
                                   "Lua calls that failed (budget: instruction "
                                   "budget or deadline, memcap: memory cap, "
                                   "error: a Lua error)"),
                  1);
    kk_stage_error(st, "%s", first_line(e));
    kk_batch_unref(out);
    return rc;
  }
  if (out && kk_batch_len(out) > 0) {
    kk_batch_set_seq(out, kk_batch_seq(b));
    kk_stage_emit(st, out);
  }
  kk_batch_unref(out);
  return 0;
}
