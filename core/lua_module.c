/* core/lua_module.c - loading transforms and sinks written in Lua.
 *
 * A Lua module is a file returning a table (see examples/lua-module/
 * README.md).  Loading it runs it once in a throw-away sandbox to read and
 * validate that table and turn it into a kk_module_t with a real option
 * table (lua_module_opts.c), so `klimakit modules`, recipe checking and
 * the docs treat it like a C module.  The stages made from it run in
 * lua_module_run.c.
 *
 * Every Lua API call that may allocate runs inside a protected call: the
 * memory cap makes any allocation fail, and an unprotected failure would
 * abort the process. */
#include "lua_module.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
     "CPU time one call of `process` may take (default: kk.config "
     "lua_deadline, 50ms).",
     NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}};

int kk__lmod_ident_ok(const char *s) {
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
int kk__lmod_find_line(const char *path, const char *key, int from) {
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
int kk__lmod_fail(load_ctx_t *lc, const char *key, int from, const char *fmt,
                  ...) {
  if (lc->failed) return -1;
  lc->failed = 1;
  int line = kk__lmod_find_line(lc->lm->path, key, from);
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
 * (def when absent).  Returns -1 after kk__lmod_fail(). */
int kk__lmod_str_field(lua_State *L, load_ctx_t *lc, int idx, const char *f,
                       const char *def, char **out, int from) {
  int t = lua_getfield(L, idx, f);
  const char *s = def;
  if (t == LUA_TSTRING)
    s = lua_tostring(L, -1);
  else if (t != LUA_TNIL) {
    lua_pop(L, 1);
    return kk__lmod_fail(lc, f, from, "field '%s' must be a string, got %s", f,
                         lua_typename(L, t));
  }
  *out = s ? strdup(s) : NULL;
  lua_pop(L, 1);
  if (s && !*out) return kk__lmod_fail(lc, NULL, 0, "out of memory");
  return 0;
}
static const char *const top_fields[] = {
    "name",   "kind",    "ns",   "summary", "description", "options",
    "create", "process", "save", "restore", NULL};

const kk_option_t kk__lua_state_options[] = {
    {"snapshot", KK_OPT_DURATION, 0, "1m",
     "How often the module's state is saved (also on a clean stop and when "
     "process returns true); after a crash the journal is replayed from the "
     "last save, so keep kk.config retain_age longer.",
     NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}};

/* validate(ctx, module_table): checks the table into lc->lm.  Runs under
 * kk__lua_pcall; validation failures are reported through lc, not raised,
 * so that they come without a traceback. */
static int validate(lua_State *L) {
  load_ctx_t *lc = lua_touserdata(L, 1);
  lmod_t *lm = lc->lm;
  lua_remove(L, 1);
  if (!lua_istable(L, 1)) {
    kk__lmod_fail(
        lc, NULL, 0,
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
      kk__lmod_fail(lc, k, 0,
                    "unknown field '%s' in the module table (fields: name, "
                    "kind, ns, summary, description, options, create, "
                    "process, save, restore)",
                    k ? k : luaL_typename(L, -2));
      return 0;
    }
    lua_pop(L, 1);
  }

  char *s = NULL;
  if (kk__lmod_str_field(L, lc, 1, "name", NULL, &s, 0)) return 0;
  lm->m.name = s;
  if (!s) {
    kk__lmod_fail(lc, NULL, 0,
                  "the module table has no 'name' (a string such as "
                  "\"dew_point\")");
    return 0;
  }
  if (!kk__lmod_ident_ok(s)) {
    kk__lmod_fail(lc, "name", 0,
                  "name '%s' must be lower case letters, digits and "
                  "'_'",
                  s);
    return 0;
  }

  if (kk__lmod_str_field(L, lc, 1, "kind", NULL, &s, 0)) return 0;
  if (!s || (strcmp(s, "transform") != 0 && strcmp(s, "sink") != 0)) {
    kk__lmod_fail(lc, s ? "kind" : NULL, 0,
                  "field 'kind' must be \"transform\" or "
                  "\"sink\"%s%s%s",
                  s ? " (got \"" : "", s ? s : "", s ? "\")" : "");
    free(s);
    return 0;
  }
  lm->m.kind = strcmp(s, "sink") == 0 ? KK_KIND_SINK : KK_KIND_TRANSFORM;

  char *ns = NULL;
  int rc = kk__lmod_str_field(L, lc, 1, "ns", s, &ns, 0);
  free(s);
  if (rc) return 0;
  lm->m.ns = ns;
  if (!kk__lmod_ident_ok(ns)) {
    kk__lmod_fail(lc, "ns", 0,
                  "ns '%s' must be lower case letters, digits and '_'", ns);
    return 0;
  }

  const char *base = strrchr(lm->path, '/');
  char defsum[256];
  snprintf(defsum, sizeof defsum, "Lua module %s", base ? base + 1 : lm->path);
  if (kk__lmod_str_field(L, lc, 1, "summary", defsum, &s, 0)) return 0;
  lm->m.summary = s;
  if (kk__lmod_str_field(L, lc, 1, "description", "", &s, 0)) return 0;
  lm->m.description = s;

  int t = lua_getfield(L, 1, "process");
  lua_pop(L, 1);
  if (t != LUA_TFUNCTION) {
    kk__lmod_fail(lc, t == LUA_TNIL ? NULL : "process", 0,
                  "field 'process' must be a function(state, batch, emit)%s%s",
                  t == LUA_TNIL ? "" : ", got ",
                  t == LUA_TNIL ? "" : lua_typename(L, t));
    return 0;
  }
  t = lua_getfield(L, 1, "create");
  lua_pop(L, 1);
  if (t != LUA_TNIL && t != LUA_TFUNCTION) {
    kk__lmod_fail(lc, "create", 0,
                  "field 'create' must be a function(opts) returning "
                  "the stage's state, got %s",
                  lua_typename(L, t));
    return 0;
  }
  /* save(state) -> table and restore(state, saved): both or neither. */
  int ts = lua_getfield(L, 1, "save");
  int tr = lua_getfield(L, 1, "restore");
  lua_pop(L, 2);
  if ((ts != LUA_TNIL && ts != LUA_TFUNCTION) ||
      (tr != LUA_TNIL && tr != LUA_TFUNCTION)) {
    int bad_save = ts != LUA_TNIL && ts != LUA_TFUNCTION;
    kk__lmod_fail(lc, bad_save ? "save" : "restore", 0,
                  "field '%s' must be a function, got %s",
                  bad_save ? "save" : "restore",
                  lua_typename(L, bad_save ? ts : tr));
    return 0;
  }
  if ((ts == LUA_TFUNCTION) != (tr == LUA_TFUNCTION)) {
    kk__lmod_fail(lc, ts == LUA_TFUNCTION ? "save" : "restore", 0,
                  "a module with '%s' needs '%s' too: save(state) returns "
                  "a table to keep, restore(state, saved) puts it back",
                  ts == LUA_TFUNCTION ? "save" : "restore",
                  ts == LUA_TFUNCTION ? "restore" : "save");
    return 0;
  }
  lm->persist = ts == LUA_TFUNCTION;
  kk__lmod_parse_options(L, lc, 1);
  return 0;
}
void kk__lua_module_free(const kk_module_t *m) {
  if (!m) return;
  lmod_t *lm = (lmod_t *)m;
  free((char *)lm->m.name);
  free((char *)lm->m.ns);
  free((char *)lm->m.summary);
  free((char *)lm->m.description);
  if (lm->opts)
    for (size_t i = 0; i < lm->nown; i++)
      kk__lmod_free_option_strings(&lm->opts[i]);
  free(lm->opts);
  free(lm->path);
  free(lm->dir);
  free(lm);
}

/* Cuts a message at its first newline (before the traceback, whose
 * frames run through the core); returns it. */
char *kk__lmod_first_line(char *msg) {
  char *nl = strchr(msg, '\n');
  if (nl) *nl = 0;
  return msg;
}

/* An error of the module's own code: its first line (the traceback runs
 * through the core), prefixed with the file unless Lua named it already. */
static void load_error(char *err, size_t errlen, const char *path, char *msg) {
  kk__lmod_first_line(msg);
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
  lm->m.create = kk__lmod_create;
  lm->m.process = kk__lmod_process;
  lm->m.destroy = kk__lmod_destroy;
  if (lm->persist) {
    lm->m.start = kk__lmod_start;
    lm->m.stop = kk__lmod_stop;
  }
  return &lm->m;
fail:
  kk__lua_close(L);
  kk__lua_module_free(&lm->m);
  return NULL;
}

const char *kk__lua_module_path(const kk_module_t *m) {
  return m && m->create == kk__lmod_create ? ((const lmod_t *)m)->path : NULL;
}

/* A module file declares itself by its name: `*.module.lua`, so that a
 * folder may also hold decoders, recipes and libraries. */
static int has_suffix(const char *name, const char *suffix) {
  size_t n = strlen(name), k = strlen(suffix);
  return name[0] != '.' && n > k && strcmp(name + n - k, suffix) == 0;
}
static int module_file(const struct dirent *d) {
  return has_suffix(d->d_name, ".module.lua");
}
static int any_lua_file(const struct dirent *d) {
  return has_suffix(d->d_name, ".lua");
}

static int scan(const char *dir, int (*filter)(const struct dirent *)) {
  struct dirent **list;
  int n = scandir(dir, &list, filter, alphasort);
  if (n < 0) return -errno;
  int count = 0;
  for (int i = 0; i < n; i++) {
    char path[PATH_MAX], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
    free(list[i]);
    const kk_module_t *m = kk__lua_module_load(path, err, sizeof err);
    if (!m) {
      /* err starts with the file: which one failed, and why. */
      kk_log(KK_LOG_ERROR, "core", "lua", "module file not loaded: %s", err);
      continue;
    }
    int rc = kk__registry_add(m);
    if (rc) {
      const char *op = kk__lua_module_path(kk__registry_find(m->ns, m->name));
      kk_log(KK_LOG_ERROR, "core", "lua", "%s: cannot register %s.%s: %s%s%s",
             path, m->ns, m->name, kk_strerror(rc),
             op ? ", already defined by " : "", op ? op : "");
      kk__lua_module_free(m);
      continue;
    }
    count++;
  }
  free(list);
  return count;
}

int kk__lua_module_scan(const char *dir) {
  return scan(dir, module_file);
}

int kk__lua_module_scan_tree(const char *dir) {
  return scan(dir, any_lua_file);
}
