/* core/recipe.c - the `klimakit` Lua module that recipes build pipelines
 * with, and the checks that run before anything starts.
 *
 * Errors in a recipe are collected rather than thrown where the recipe can
 * go on (a bad option makes a placeholder stage), so that one `klimakit
 * check` reports every mistake it can, like a compiler. */
#include "recipe.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <libgen.h>
#include <klimakit/time.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua_module.h"
#include "lua_sandbox.h"

/* core/registry.c: loads C modules from shared objects. */
int kk__registry_load_path(const char *list, const char *base, char *err,
                           size_t errlen);

#define STAGE_MT "klimakit.stage"
#define MAX_ERRORS 50

struct kk__recipe {
  lua_State *L;
  kk__engine_t *engine;
  char *path;
  char **errors;
  size_t nerrors;
  kk__engine_cfg_t cfg;
  kk_opts_t *cfg_opts;
  char journal_dir[4096];
  char data_dir[4000]; /* the default data_dir when the recipe sets none */
};

static char *default_data_dir;

static const char *const namespaces[] = {"source", "decode",    "calc",
                                         "store",  "publish",   "forward",
                                         "sink",   "transform", NULL};

static kk__recipe_t *recipe_of(lua_State *L) {
  kk__recipe_t *r;
  lua_getfield(L, LUA_REGISTRYINDEX, "klimakit.recipe");
  r = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return r;
}

/* Position of the recipe line that called the running C function. */
static void caller_pos(lua_State *L, char *file, size_t flen, int *line) {
  lua_Debug ar;
  snprintf(file, flen, "?");
  *line = 0;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline > 0) {
      const char *src = ar.source[0] == '@' ? ar.source + 1 : ar.short_src;
      snprintf(file, flen, "%s", src);
      *line = ar.currentline;
      return;
    }
  }
}

static void add_error(kk__recipe_t *r, const char *msg) {
  if (r->nerrors >= MAX_ERRORS) return;
  char **n = realloc(r->errors, (r->nerrors + 1) * sizeof *n);
  if (!n) return;
  r->errors = n;
  r->errors[r->nerrors++] = strdup(msg);
}

static void add_error_at(lua_State *L, const char *fmt, const char *msg) {
  char file[PATH_MAX], buf[PATH_MAX + 2100];
  int line;
  caller_pos(L, file, sizeof file, &line);
  snprintf(buf, sizeof buf, fmt, file, line, msg);
  add_error(recipe_of(L), buf);
}

/* ---- stage userdata ---- */

typedef struct stage_ud {
  kk_stage_t *st; /* NULL: a placeholder for a stage with errors */
} stage_ud_t;

static void push_stage(lua_State *L, kk_stage_t *st) {
  stage_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->st = st;
  luaL_setmetatable(L, STAGE_MT);
}

static int stage_tostring(lua_State *L) {
  stage_ud_t *u = luaL_checkudata(L, 1, STAGE_MT);
  if (u->st)
    lua_pushfstring(L, "%s.%s '%s'", kk_stage_module(u->st)->ns,
                    kk_stage_module(u->st)->name, kk_stage_name(u->st));
  else
    lua_pushliteral(L, "(stage with errors)");
  return 1;
}

/* The line of option `key` in the table of the call at `from` in
 * `file`: the first `key =` at the table's top level between the call
 * line and the brace that closes the table (strings and comments are
 * skipped); 0 when the key is not written there (a table built
 * elsewhere).  Lua keeps no line for table fields, the source does. */
static int option_line(const char *file, int from, const char *key) {
  FILE *f = key && from > 0 ? fopen(file, "r") : NULL;
  if (!f) return 0;
  char *buf = NULL;
  size_t cap = 0, klen = strlen(key);
  /* found: at the table's top level; nested: deeper (the stage is an
   * argument of kk.pipe on the same line, so its table is one deeper). */
  int line = 0, depth = 0, opened = 0, found = 0, nested = 0, done = 0;
  char quote = 0;
  while (!found && !done && getline(&buf, &cap, f) >= 0) {
    if (++line < from) continue;
    for (char *p = buf; *p && !found && !done; p++) {
      if (quote) {
        if (*p == '\\' && p[1])
          p++;
        else if (*p == quote)
          quote = 0;
        continue;
      }
      if (*p == '"' || *p == '\'') {
        quote = *p;
      } else if (p[0] == '-' && p[1] == '-') {
        break; /* a comment to the end of the line */
      } else if (*p == '{' || *p == '(') {
        depth++, opened = 1;
      } else if (*p == '}' || *p == ')') {
        if (--depth <= 0 && opened) done = 1;
      } else if (depth >= 1 && opened && strncmp(p, key, klen) == 0 &&
                 (p == buf ||
                  !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
        char *q = p + klen;
        while (*q == ' ' || *q == '\t')
          q++;
        if (*q == '=' && q[1] != '=') {
          if (depth == 1)
            found = line;
          else if (!nested)
            nested = line;
        }
      }
    }
    quote = 0; /* short strings end at the line's end */
  }
  free(buf);
  fclose(f);
  return found ? found : nested;
}

typedef struct opt_err_ctx {
  kk__recipe_t *r;
  const char *file;
  int line;
} opt_err_ctx_t;

/* One mistake in a stage's option table, at the option's own line where
 * it can be told. */
static void opt_error(void *ud, const char *key, int vline, const char *msg) {
  opt_err_ctx_t *c = ud;
  int line = vline ? vline : option_line(c->file, c->line, key);
  char buf[PATH_MAX + 2200];
  snprintf(buf, sizeof buf, "%s:%d: %s", c->file, line ? line : c->line, msg);
  add_error(c->r, buf);
}

/* Sorts errors [from, end) by their line (they all start "file:line:"
 * with a file name of `flen` bytes): the option table is walked in hash
 * order, the reader reads top down. */
static void sort_errors(kk__recipe_t *r, size_t from, size_t flen) {
  for (size_t i = from + 1; i < r->nerrors; i++)
    for (size_t k = i; k > from; k--) {
      char *a = r->errors[k - 1], *b = r->errors[k];
      if (!a || !b || strlen(a) <= flen || strlen(b) <= flen ||
          atol(a + flen + 1) <= atol(b + flen + 1))
        break;
      r->errors[k - 1] = b;
      r->errors[k] = a;
    }
}

/* Creates a stage of module m from the option table at `idx`. */
static int make_stage(lua_State *L, const kk_module_t *m, int idx) {
  kk__recipe_t *r = recipe_of(L);
  char file[PATH_MAX];
  int line;
  caller_pos(L, file, sizeof file, &line);
  opt_err_ctx_t ec = {r, file, line};
  size_t before = r->nerrors;
  kk_opts_t *o = kk__opts_from_lua_each(L, idx, m, opt_error, &ec);
  if (!o) {
    sort_errors(r, before, strlen(file));
    push_stage(L, NULL);
    return 1;
  }
  kk_stage_t *st = kk__engine_add_stage(r->engine, m, o, file, line);
  if (!st) {
    kk__opts_free(o);
    return luaL_error(L, "out of memory");
  }
  push_stage(L, st);
  return 1;
}

static int constructor(lua_State *L) {
  const kk_module_t *m = lua_touserdata(L, lua_upvalueindex(1));
  if (lua_gettop(L) > 1) {
    add_error_at(L, "%s:%d: %s",
                 "too many arguments: a module takes one "
                 "option table, kk.<ns>.<name> { ... }");
  }
  return make_stage(L, m, 1);
}

static int placeholder_ctor(lua_State *L) {
  push_stage(L, NULL);
  return 1;
}

/* kk.<ns>.<name>: looks the module up in the registry. */
static int ns_index(lua_State *L) {
  const char *ns = lua_tostring(L, lua_upvalueindex(1));
  const char *name = luaL_checkstring(L, 2);
  const kk_module_t *m = kk__registry_find(ns, name);
  if (!m) {
    char known[1024] = "", hint[160] = "";
    size_t n = 0;
    const char *best = NULL;
    int bestd = 3;
    for (size_t i = 0; (m = kk__registry_at(i)); i++) {
      if (strcmp(m->ns, ns) != 0) continue;
      int d = kk__edit_distance(name, m->name);
      if (d < bestd) bestd = d, best = m->name;
      n += (size_t)snprintf(known + n, n < sizeof known ? sizeof known - n : 0,
                            "%s%s", n ? ", " : "", m->name);
    }
    if (best) snprintf(hint, sizeof hint, " (did you mean '%s'?)", best);
    char msg[1400];
    snprintf(msg, sizeof msg, "unknown module kk.%s.%s%s; known: %s", ns, name,
             hint, *known ? known : "none");
    add_error_at(L, "%s:%d: %s", msg);
    /* A placeholder constructor keeps the recipe going. */
    lua_pushcfunction(L, placeholder_ctor);
    return 1;
  }
  lua_pushlightuserdata(L, (void *)m);
  lua_pushcclosure(L, constructor, 1);
  return 1;
}

/* ---- kk.pipe ---- */

/* Collects the stages of argument `idx` (a stage, a function, or a list
 * of them) into out[]; functions become `transform.fn` stages. */
static size_t pipe_arg(lua_State *L, int idx, kk_stage_t **out, size_t cap,
                       int *placeholder) {
  idx = lua_absindex(L, idx);
  if (lua_isfunction(L, idx)) {
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "fn");
    make_stage(L, kk__registry_find("transform", "fn"), -1);
    stage_ud_t *u = lua_touserdata(L, -1);
    lua_pop(L, 2);
    if (!u->st) {
      *placeholder = 1;
      return 0;
    }
    out[0] = u->st;
    return 1;
  }
  stage_ud_t *u = luaL_testudata(L, idx, STAGE_MT);
  if (u) {
    if (!u->st) {
      *placeholder = 1;
      return 0;
    }
    out[0] = u->st;
    return 1;
  }
  if (lua_istable(L, idx)) {
    size_t n = 0, len = lua_rawlen(L, idx);
    for (size_t i = 1; i <= len && n < cap; i++) {
      lua_rawgeti(L, idx, (lua_Integer)i);
      if (lua_istable(L, -1) && !luaL_testudata(L, -1, STAGE_MT)) {
        lua_pop(L, 1);
        add_error_at(L, "%s:%d: %s",
                     "kk.pipe: lists of stages cannot be nested");
        continue;
      }
      n += pipe_arg(L, -1, out + n, cap - n, placeholder);
      lua_pop(L, 1);
    }
    if (len == 0) add_error_at(L, "%s:%d: %s", "kk.pipe: empty list of stages");
    return n;
  }
  char msg[200];
  snprintf(msg, sizeof msg,
           "kk.pipe: argument %d must be a stage, a function or a list of "
           "them, got %s",
           idx, luaL_typename(L, idx));
  add_error_at(L, "%s:%d: %s", msg);
  *placeholder = 1;
  return 0;
}

/* kk.pipe(a, b, {c, d}, ...): connects every stage of each argument to
 * every stage of the next.  Returns the stages of the last argument. */
static int l_pipe(lua_State *L) {
  int n = lua_gettop(L);
  if (n < 2) {
    add_error_at(L, "%s:%d: %s",
                 "kk.pipe needs at least two stages (a source and a sink)");
    return 0;
  }
  kk_stage_t *prev[64], *cur[64];
  size_t nprev = 0;
  int placeholder = 0;
  for (int i = 1; i <= n; i++) {
    size_t ncur = pipe_arg(L, i, cur, 64, &placeholder);
    for (size_t a = 0; a < nprev; a++)
      for (size_t b = 0; b < ncur; b++) {
        char err[512];
        if (kk__engine_connect(prev[a], cur[b], err, sizeof err) != 0)
          add_error_at(L, "%s:%d: %s", err);
      }
    memcpy(prev, cur, ncur * sizeof *cur);
    nprev = ncur;
  }
  lua_pushvalue(L, n);
  return 1;
}

static int make_lua_stage(lua_State *L, const char *name) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_createtable(L, 0, 2);
  if (lua_istable(L, 2)) {
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -4);
    }
  }
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "fn");
  return make_stage(L, kk__registry_find("transform", name), -1);
}

/* kk.map(fn [, opts]) and kk.filter(fn [, opts]). */
static int l_map(lua_State *L) {
  return make_lua_stage(L, "map");
}
static int l_filter(lua_State *L) {
  return make_lua_stage(L, "filter");
}

/* kk.env(name [, default]): the environment variable, converted to the
 * type of the default so that numbers stay numbers. */
static int l_env(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *v = getenv(name);
  if (!v) {
    lua_settop(L, 2);
    return 1;
  }
  switch (lua_type(L, 2)) {
  case LUA_TNUMBER:
    if (!lua_stringtonumber(L, v))
      return luaL_error(L, "environment variable %s='%s' is not a number", name,
                        v);
    return 1;
  case LUA_TBOOLEAN:
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
      lua_pushboolean(L, 1);
    else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 ||
             strcmp(v, "no") == 0 || *v == 0)
      lua_pushboolean(L, 0);
    else
      return luaL_error(L, "environment variable %s='%s' is not a boolean",
                        name, v);
    return 1;
  default:
    lua_pushstring(L, v);
    return 1;
  }
}

static int l_config(lua_State *L) {
  kk__recipe_t *r = recipe_of(L);
  char file[PATH_MAX];
  int line;
  caller_pos(L, file, sizeof file, &line);
  opt_err_ctx_t ec = {r, file, line};
  size_t before = r->nerrors;
  kk_opts_t *o =
      kk__opts_from_lua_each(L, 1, kk__config_module(), opt_error, &ec);
  if (!o) {
    sort_errors(r, before, strlen(file));
    return 0;
  }
  if (kk_tz_check(kk_opt_str(o, "tz")) != 0) {
    char msg[300];
    snprintf(msg, sizeof msg,
             "option 'tz' of kk.config: unknown time zone '%s' (UTC, "
             "Europe/Berlin, CET and the other UTC+1 EU zones)",
             kk_opt_str(o, "tz"));
    opt_error(&ec, "tz", 0, msg);
    kk__opts_free(o);
    return 0;
  }
  kk__opts_free(r->cfg_opts);
  r->cfg_opts = o;
  const char *dd = kk_opt_str(o, "data_dir");
  if (dd) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, "klimakit.kk") == LUA_TTABLE) {
      lua_pushstring(L, dd);
      lua_setfield(L, -2, "data_dir");
    }
    lua_pop(L, 1);
  }
  const char *mp = kk_opt_str(o, "modules_path");
  if (mp && *mp) {
    char err[1024];
    char *dup = strdup(r->path);
    int rc = dup ? kk__registry_load_path(mp, dirname(dup), err, sizeof err)
                 : KK_ENOMEM;
    free(dup);
    if (rc) add_error_at(L, "%s:%d: kk.config: modules_path: %s", err);
  }
  return 0;
}

/* Loads and registers one module file; returns its descriptor or NULL
 * after adding the error. */
static const kk_module_t *load_module_file(lua_State *L, const char *path) {
  char err[1024];
  const kk_module_t *m = kk__lua_module_load(path, err, sizeof err);
  if (!m) {
    add_error_at(L, "%s:%d: kk.load_module: %s", err);
    return NULL;
  }
  int rc = kk__registry_add(m);
  if (rc == KK_EEXIST) {
    const kk_module_t *old = kk__registry_find(m->ns, m->name);
    const char *op = kk__lua_module_path(old), *np = kk__lua_module_path(m);
    char msg[1200];
    /* Loading the same file twice is harmless; another module with the
     * same name is a mistake. */
    int same = op && np && strcmp(op, np) == 0;
    snprintf(msg, sizeof msg, "%s: %s.%s is already defined by %s", path, m->ns,
             m->name, op ? op : "a built-in C module");
    kk__lua_module_free(m);
    if (!same) {
      add_error_at(L, "%s:%d: kk.load_module: %s", msg);
      return NULL;
    }
    return old;
  } else if (rc) {
    kk__lua_module_free(m);
    char msg[1200];
    snprintf(msg, sizeof msg, "%s: %s", path, kk_strerror(rc));
    add_error_at(L, "%s:%d: kk.load_module: %s", msg);
    return NULL;
  }
  return m;
}

static int module_file(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return d->d_name[0] != '.' && n > 11 &&
         strcmp(d->d_name + n - 11, ".module.lua") == 0;
}

/* kk.load_module(path): registers an integrator's Lua module so that
 * kk.<ns>.<name> creates it, and returns the module name.  A folder
 * loads its *.module.lua files (decoders, recipes and libraries beside
 * them are left alone) and returns a list of their names. */
static int l_load_module(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    struct dirent **list;
    int n = scandir(path, &list, module_file, alphasort);
    if (n < 0) {
      char msg[1200];
      snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
      add_error_at(L, "%s:%d: kk.load_module: %s", msg);
      return 0;
    }
    lua_createtable(L, n, 0);
    int k = 0;
    for (int i = 0; i < n; i++) {
      char file[PATH_MAX];
      snprintf(file, sizeof file, "%s/%s", path, list[i]->d_name);
      free(list[i]);
      const kk_module_t *m = load_module_file(L, file);
      if (!m) continue;
      lua_pushstring(L, m->name);
      lua_rawseti(L, -2, ++k);
    }
    free(list);
    return 1;
  }
  const kk_module_t *m = load_module_file(L, path);
  if (!m) return 0;
  lua_pushstring(L, m->name);
  return 1;
}

/* kk.date(format, ms [, tz]): strftime of UTC milliseconds `ms` in
 * local time of `tz` (default: kk.config tz, Europe/Berlin), so that
 * what a recipe prints reads like the dashboard; %Z is CET, CEST or
 * UTC.  Raises on a bad zone or a format longer than 200 bytes. */
static int l_date(lua_State *L) {
  const char *fmt = luaL_checkstring(L, 1);
  lua_Integer ms = luaL_checkinteger(L, 2);
  const char *tz = luaL_optstring(L, 3, NULL);
  if (!tz) {
    kk__recipe_t *r = recipe_of(L);
    tz = r && r->cfg_opts ? kk_opt_str(r->cfg_opts, "tz") : "Europe/Berlin";
  }
  if (kk_tz_check(tz) != 0)
    return luaL_error(L, "kk.date: unknown time zone '%s'", tz);
  if (strlen(fmt) > 200) return luaL_error(L, "kk.date: format too long");
  int64_t secs = kk_floor_div((int64_t)ms, 1000);
  struct tm tm;
  kk_tz_local(tz, secs, &tm);
  int off = kk_tz_offset(tz, secs);
  tm.tm_gmtoff = off;
  tm.tm_zone = off == 0 ? "UTC" : off == 3600 ? "CET" : "CEST";
  char out[512];
  size_t n = strftime(out, sizeof out, fmt, &tm);
  lua_pushlstring(L, out, n);
  return 1;
}

static int l_log(lua_State *L) {
  kk_log(KK_LOG_INFO, "lua", "recipe", "%s", luaL_checkstring(L, 1));
  return 0;
}

/* The data directory when kk.config{} names none, into buf: --data-dir,
 * else the state directory systemd made for the service, else `var`
 * beside the recipe (so that the state of a recipe never lands in
 * whatever directory it was started from).  Returns 1 for the last. */
static int default_dir(const kk__recipe_t *r, char *buf, size_t len) {
  const char *state = getenv("STATE_DIRECTORY");
  if (default_data_dir) {
    snprintf(buf, len, "%s", default_data_dir);
  } else if (state && *state) {
    /* Several StateDirectory= entries arrive colon-separated. */
    snprintf(buf, len, "%.*s", (int)strcspn(state, ":"), state);
  } else {
    char *dup = strdup(r->path);
    snprintf(buf, len, "%s/var", dup ? dirname(dup) : ".");
    free(dup);
    return 1;
  }
  return 0;
}

static int luaopen_klimakit(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"pipe", l_pipe}, {"map", l_map},       {"filter", l_filter},
      {"env", l_env},   {"config", l_config}, {"load_module", l_load_module},
      {"log", l_log},   {"date", l_date},     {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_pushliteral(L, KK_VERSION_STRING);
  lua_setfield(L, -2, "version");
  /* kk.dir: the recipe's directory, for paths next to it; absolute, so
   * that kk.dir .. "/data/x.csv" names the same file from any working
   * directory and for the sandbox (which takes relative paths from the
   * recipe's folder). */
  kk__recipe_t *r = recipe_of(L);
  char *dup = strdup(r->path), real[PATH_MAX];
  const char *dir = dup ? dirname(dup) : ".";
  lua_pushstring(L, realpath(dir, real) ? real : dir);
  free(dup);
  lua_setfield(L, -2, "dir");
  /* kk.data_dir: where the state goes, for files a recipe writes itself
   * (alert lists, exports); kk.config{data_dir=} changes it. */
  char dd[4000];
  default_dir(r, dd, sizeof dd);
  lua_pushstring(L, dd);
  lua_setfield(L, -2, "data_dir");
  lua_pushvalue(L, -1); /* for kk.config{} to update kk.data_dir */
  lua_setfield(L, LUA_REGISTRYINDEX, "klimakit.kk");
  for (size_t i = 0; namespaces[i]; i++) {
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushstring(L, namespaces[i]);
    lua_pushcclosure(L, ns_index, 1);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, namespaces[i]);
  }
  kk__registry_lua_surfaces(L);
  return 1;
}

/* ---- loading ---- */

void kk__recipe_set_default_data_dir(const char *dir) {
  free(default_data_dir);
  default_data_dir = dir ? strdup(dir) : NULL;
}

static void apply_config(kk__recipe_t *r) {
  lua_State *L = r->L;
  if (!r->cfg_opts) {
    lua_newtable(L);
    char err[256];
    r->cfg_opts =
        kk__opts_from_lua(L, -1, kk__config_module(), err, sizeof err);
    lua_pop(L, 1);
  }
  kk_opts_t *o = r->cfg_opts;
  kk__engine_cfg_t *c = &r->cfg;
  /* The data directory: the recipe's, else --data-dir, else the state
   * directory systemd made for the service, else `var` beside the
   * recipe (so that the state of a recipe never lands in whatever
   * directory it was started from). */
  c->data_dir = kk_opt_str(o, "data_dir");
  if (!c->data_dir) {
    int beside = default_dir(r, r->data_dir, sizeof r->data_dir);
    /* An installed recipe (/usr/share/klimakit/...) has no writable
     * folder beside it: say so now, not as a failed mkdir later. */
    char *dup = strdup(r->path);
    const char *dir = dup ? dirname(dup) : ".";
    if (beside && access(r->data_dir, W_OK) != 0 && access(dir, W_OK) != 0)
      kk_log(KK_LOG_WARN, "core", "recipe",
             "%s: the default data directory %s (beside the recipe) cannot "
             "be written; pass --data-dir DIR or set data_dir",
             r->path, r->data_dir);
    free(dup);
    c->data_dir = r->data_dir;
  }
  snprintf(r->journal_dir, sizeof r->journal_dir, "%s/journal", c->data_dir);
  c->journal.dir = r->journal_dir;
  c->journal.fsync = (kk__fsync_t)kk_opt_enum(o, "fsync");
  c->journal.fsync_interval_ms = kk_opt_duration_ms(o, "fsync_interval");
  c->journal.segment_size = kk_opt_size(o, "segment_size");
  c->journal.retain_size = kk_opt_size(o, "retain_size");
  c->journal.retain_age_ms = kk_opt_duration_ms(o, "retain_age");
  c->shutdown_timeout_ms = kk_opt_duration_ms(o, "shutdown_timeout");
  c->exit_when_done = kk_opt_bool(o, "exit_when_done");
  kk__lua_limits_t lim;
  kk__lua_get_limits(L, &lim);
  lim.budget = (uint64_t)kk_opt_int(o, "lua_budget");
  lim.deadline_ms = kk_opt_duration_ms(o, "lua_deadline");
  lim.mem_cap = kk_opt_size(o, "lua_memory");
  kk__lua_set_limits(L, &lim);
  kk__lua_set_default_limits(&lim);
  kk__config_apply_limits(o);
}

kk__recipe_t *kk__recipe_load(const char *path) {
  kk__recipe_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->path = strdup(path);
  r->engine = kk__engine_new();
  char err[1024];
  kk__lua_limits_t lim;
  kk__lua_default_limits(&lim);
  /* Building the pipeline may take longer than one stage call. */
  lim.deadline_ms = 5000;
  lim.budget = 1000000000ull;
  r->L = kk__lua_new(&lim, "recipe", err, sizeof err);
  if (!r->L || !r->engine) {
    add_error(r, r->L ? "out of memory" : err);
    return r;
  }
  lua_State *L = r->L;
  lua_pushlightuserdata(L, r);
  lua_setfield(L, LUA_REGISTRYINDEX, "klimakit.recipe");
  luaL_newmetatable(L, STAGE_MT);
  lua_pushcfunction(L, stage_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  kk__lua_set_preload(L, "klimakit", luaopen_klimakit);
  /* The recipe may read files beside it (decoders, fixtures). */
  char *dup = strdup(path);
  kk__lua_allow_path(L, dirname(dup), 0);
  free(dup);
  /* ... and the installed recipes, decoders and docs, so that a recipe
   * in /etc/klimakit may run one of them (core/dist/klimakit.lua). */
  if (access(KK_DATADIR, R_OK) == 0) kk__lua_allow_path(L, KK_DATADIR, 0);

  int rc = kk__lua_loadfile(L, path, err, sizeof err);
  if (rc != 0) {
    /* Syntax errors already read "file:line: message". */
    if (rc == KK_EIO) {
      char msg[1200];
      snprintf(msg, sizeof msg, "%s: cannot read recipe (%s)", path, err);
      add_error(r, msg);
    } else {
      add_error(r, err);
    }
    return r;
  }
  rc = kk__lua_pcall(L, 0, 0, err, sizeof err);
  if (rc) {
    /* Keep only the first line: the traceback points into the core. */
    char *nl = strchr(err, '\n');
    if (nl) *nl = 0;
    add_error(r, err);
  }
  apply_config(r);
  if (r->nerrors == 0 && kk__engine_check(r->engine, err, sizeof err) != 0)
    add_error(r, err);
  return r;
}

size_t kk__recipe_nerrors(const kk__recipe_t *r) {
  return r->nerrors;
}
const char *kk__recipe_error(const kk__recipe_t *r, size_t i) {
  return i < r->nerrors ? r->errors[i] : NULL;
}
kk__engine_t *kk__recipe_engine(kk__recipe_t *r) {
  return r->engine;
}
const kk__engine_cfg_t *kk__recipe_config(kk__recipe_t *r) {
  return &r->cfg;
}

void kk__recipe_free(kk__recipe_t *r) {
  if (!r) return;
  kk__engine_free(r->engine);
  kk__opts_free(r->cfg_opts);
  if (r->L) kk__lua_close(r->L);
  for (size_t i = 0; i < r->nerrors; i++)
    free(r->errors[i]);
  free(r->errors);
  free(r->path);
  free(r);
}

/* Directory holding the binary, to find modules/ in a source tree. */
static int exe_dir(char *buf, size_t len) {
  ssize_t n = readlink("/proc/self/exe", buf, len - 1);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *slash = strrchr(buf, '/');
  if (slash) *slash = 0;
  return 0;
}

void kk__recipe_load_builtin_lua_modules(void) {
  const char *env = getenv("KLIMAKIT_LUA_PATH");
  if (env && *env) {
    char *copy = strdup(env);
    for (char *tok = strtok(copy, ":"); tok; tok = strtok(NULL, ":"))
      kk__lua_module_scan(tok);
    free(copy);
  }
  char dir[PATH_MAX], probe[PATH_MAX + 64];
  if (exe_dir(dir, sizeof dir) == 0) {
    /* build/klimakit and build/san/klimakit in a source tree: Lua modules
     * live beside the C ones, in the folder of their namespace
     * (modules/transform/unit_convert.lua). */
    static const char *const tree[] = {"/../modules", "/../../modules"};
    static const char *const ns[] = {"source", "decode",  "transform", "calc",
                                     "store",  "publish", "forward",   "sink"};
    for (size_t i = 0; i < sizeof tree / sizeof tree[0]; i++) {
      snprintf(probe, sizeof probe, "%s%s/transform", dir, tree[i]);
      if (access(probe, R_OK) != 0) continue;
      for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        snprintf(probe, sizeof probe, "%s%s/%s", dir, tree[i], ns[k]);
        if (access(probe, R_OK) == 0) kk__lua_module_scan_tree(probe);
      }
      return;
    }
    snprintf(probe, sizeof probe, "%s/../share/klimakit/modules", dir);
    if (access(probe, R_OK) == 0) {
      kk__lua_module_scan_tree(probe); /* installed: all are modules */
      return;
    }
  }
  if (access(KK_DATADIR "/modules", R_OK) == 0)
    kk__lua_module_scan_tree(KK_DATADIR "/modules");
}
