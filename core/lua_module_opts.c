/* core/lua_module_opts.c - a Lua module's `options` table as kk_option_t.
 *
 * Each entry { type = ..., default = ..., ... } becomes one option of the
 * module's descriptor, in the order the file lists them, with its
 * default written in recipe syntax, so that the core validates and
 * documents a Lua module's options as it does a C module's. */
#include "lua_module.h"

#include <cJSON.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    kk_fmt_double(x, buf); /* shortest that reads back: 0.1, not 0.1000...1 */
    text = buf;
    break;
  case KK_OPT_BOOL:
    if (t != LUA_TBOOLEAN) goto wrong;
    text = lua_toboolean(L, -1) ? "true" : "false";
    break;
  case KK_OPT_DURATION:
  case KK_OPT_SIZE:
    if (t == LUA_TNUMBER && x >= 0 && !isinf(x)) {
      kk_fmt_double(x, buf);
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
      return kk__lmod_fail(lc, o->name, line,
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
        return kk__lmod_fail(lc, o->name, line,
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
        return kk__lmod_fail(lc, o->name, line,
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
    if (!acc) return kk__lmod_fail(lc, NULL, 0, "out of memory");
    *out = acc;
    return 0;
  }
  case KK_OPT_TABLE: {
    if (t != LUA_TTABLE) goto wrong;
    cJSON *j = kk__lua_to_json(L, -1);
    if (!j)
      return kk__lmod_fail(
          lc, o->name, line,
          "option '%s': the default table must "
          "hold only strings, numbers, booleans and tables with "
          "string keys",
          o->name);
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return *out ? 0 : kk__lmod_fail(lc, NULL, 0, "out of memory");
  }
  case KK_OPT_FUNCTION:
    goto wrong;
  }
  if (o->min < o->max && (o->type == KK_OPT_INT || o->type == KK_OPT_DOUBLE) &&
      (x < o->min || x > o->max))
    return kk__lmod_fail(lc, o->name, line,
                         "option '%s': default %g is outside "
                         "[%g, %g]",
                         o->name, x, o->min, o->max);
  *out = strdup(text);
  return *out ? 0 : kk__lmod_fail(lc, NULL, 0, "out of memory");
wrong:
  return kk__lmod_fail(
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

void kk__lmod_free_option_strings(kk_option_t *o) {
  free((char *)o->name);
  free((char *)o->def);
  free((char *)o->description);
  free((char *)o->choices);
}

/* Reads field `choices` of the option spec at `spec` into o->choices
 * ("a|b|c"); only enums have it, and they must.  Returns 0, or -1 after
 * kk__lmod_fail(). */
static int parse_choices(lua_State *L, load_ctx_t *lc, int spec, kk_option_t *o,
                         int from) {
  const char *name = o->name;
  int t = lua_getfield(L, spec, "choices");
  if (t != LUA_TNIL) {
    size_t n = t == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
    if (o->type != KK_OPT_ENUM || n == 0) {
      lua_pop(L, 1);
      return kk__lmod_fail(
          lc, name, from,
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
        return kk__lmod_fail(lc, name, from,
                             "option '%s': choices must be non-empty "
                             "strings without '|'",
                             name);
      }
      size_t cl = strlen(c);
      char *na = realloc(acc, len + cl + 2);
      if (!na) {
        lua_pop(L, 2);
        free(acc);
        return kk__lmod_fail(lc, NULL, 0, "out of memory");
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
    return kk__lmod_fail(lc, name, from,
                         "option '%s' of type enum needs 'choices' "
                         "= { \"a\", \"b\", ... }",
                         name);
  }
  lua_pop(L, 1);
  return 0;
}

/* Reads fields `min` and `max` of the option spec at `spec` (numbers,
 * for int and double options only).  Returns 0, or -1 after
 * kk__lmod_fail(). */
static int parse_range(lua_State *L, load_ctx_t *lc, int spec, kk_option_t *o,
                       int from) {
  const char *name = o->name;
  for (int k = 0; k < 2; k++) {
    const char *f = k ? "max" : "min";
    int t = lua_getfield(L, spec, f);
    if (t != LUA_TNIL) {
      if (t != LUA_TNUMBER ||
          (o->type != KK_OPT_INT && o->type != KK_OPT_DOUBLE)) {
        lua_pop(L, 1);
        return kk__lmod_fail(lc, name, from,
                             "option '%s': '%s' must be a number, and "
                             "only for int and double options",
                             name, f);
      }
      *(k ? &o->max : &o->min) = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* Parses one option spec (the table at the top of L) named `name`. */
static int parse_option(lua_State *L, load_ctx_t *lc, const char *name,
                        int from, optline_t *ol) {
  int line = kk__lmod_find_line(lc->lm->path, name, from);
  kk_option_t *o = &ol->o;
  ol->line = line ? line : INT_MAX;
  int spec = lua_gettop(L);
  if (!kk__lmod_ident_ok(name))
    return kk__lmod_fail(lc, name, from,
                         "option name '%s' must be lower case letters, "
                         "digits and '_'",
                         name);
  if (reserved_name(name))
    return kk__lmod_fail(lc, name, from,
                         "option name '%s' is reserved (every stage "
                         "has it)",
                         name);
  if (!(o->name = strdup(name)))
    return kk__lmod_fail(lc, NULL, 0, "out of memory");
  if (!lua_istable(L, spec))
    return kk__lmod_fail(lc, name, from,
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
      return kk__lmod_fail(
          lc, name, from,
          "option '%s': unknown field '%s' (fields: "
          "type, required, default, description, choices, min, max)",
          name, k ? k : "?");
    }
    lua_pop(L, 1);
  }

  if (lua_getfield(L, spec, "type") != LUA_TSTRING) {
    lua_pop(L, 1);
    return kk__lmod_fail(
        lc, name, from,
        "option '%s' has no 'type' (one of string, "
        "int, double, bool, duration, size, enum, list, table)",
        name);
  }
  const char *tn = lua_tostring(L, -1);
  size_t ti = 0, nt = sizeof opt_types / sizeof opt_types[0];
  while (ti < nt && strcmp(opt_types[ti].name, tn) != 0)
    ti++;
  if (ti == nt) {
    kk__lmod_fail(lc, name, from,
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
    return kk__lmod_fail(lc, name, from,
                         "option '%s': 'required' must be a boolean", name);
  }
  o->flags = lua_toboolean(L, -1) ? KK_OPT_REQUIRED : 0;
  lua_pop(L, 1);

  char *s = NULL;
  if (kk__lmod_str_field(L, lc, spec, "description", "", &s, from)) return -1;
  o->description = s;

  if (parse_choices(L, lc, spec, o, from)) return -1;
  if (parse_range(L, lc, spec, o, from)) return -1;
  if ((o->min != 0 || o->max != 0) && !(o->min < o->max))
    return kk__lmod_fail(lc, name, from, "option '%s': min must be below max",
                         name);

  if (lua_getfield(L, spec, "default") != LUA_TNIL) {
    if (o->flags & KK_OPT_REQUIRED) {
      lua_pop(L, 1);
      return kk__lmod_fail(lc, name, from,
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

int kk__lmod_parse_options(lua_State *L, load_ctx_t *lc, int tbl) {
  lmod_t *lm = lc->lm;
  int from = kk__lmod_find_line(lm->path, "options", 0);
  size_t n = 0, cap = 8;
  optline_t *ol = NULL;
  int t = lua_getfield(L, tbl, "options");
  if (t != LUA_TNIL && t != LUA_TTABLE) {
    lua_pop(L, 1);
    return kk__lmod_fail(lc, "options", 0,
                         "field 'options' must be a table { name = "
                         "{ type = ... }, ... }, got %s",
                         lua_typename(L, t));
  }
  int opts = lua_gettop(L);
  if (t == LUA_TTABLE) {
    if (!(ol = calloc(cap, sizeof *ol)))
      return kk__lmod_fail(lc, NULL, 0, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, opts)) {
      if (lua_type(L, -2) != LUA_TSTRING) {
        lua_pop(L, 2);
        kk__lmod_fail(lc, "options", 0,
                      "option names must be strings: write options "
                      "= { name = { type = ... } }");
        goto out;
      }
      if (n == cap) {
        optline_t *nn = realloc(ol, 2 * cap * sizeof *nn);
        if (!nn) {
          lua_pop(L, 2);
          kk__lmod_fail(lc, NULL, 0, "out of memory");
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
  size_t nlim = 0, nstate = 0;
  while (kk__lua_limit_options[nlim].name)
    nlim++;
  while (lm->persist && kk__lua_state_options[nstate].name)
    nstate++;
  lm->opts = calloc(n + nlim + nstate + 1, sizeof *lm->opts);
  if (!lm->opts) {
    kk__lmod_fail(lc, NULL, 0, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    lm->opts[i] = ol[i].o;
  memcpy(lm->opts + n, kk__lua_state_options, nstate * sizeof *lm->opts);
  memcpy(lm->opts + n + nstate, kk__lua_limit_options,
         (nlim + 1) * sizeof *lm->opts);
  lm->nown = n;
  n = 0; /* now owned by lm->opts */
out:
  for (size_t i = 0; i < n; i++)
    kk__lmod_free_option_strings(&ol[i].o);
  free(ol);
  lua_settop(L, opts - 1);
  return lc->failed ? -1 : 0;
}
