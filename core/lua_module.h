/*
 * core/lua_module.h - what the Lua module files share (internal to
 * core/lua_module*.c; the rest of the core uses lua_sandbox.h).
 *
 * lua_module.c loads a module file and validates its table into a
 * descriptor, lua_module_opts.c turns its `options` table into a
 * kk_option_t table, and lua_module_run.c runs the stages made from it.
 * All of it runs on the loop thread (loading also at start-up).
 */
#ifndef KK_CORE_LUA_MODULE_H
#define KK_CORE_LUA_MODULE_H

#include "core.h"
#include "lua_sandbox.h"

/* Loading the file and running `create` may build tables: give it more
 * wall-clock time than one batch gets. */
#define SETUP_DEADLINE_MS 1000u

typedef struct lmod {
  kk_module_t m; /* first: kk_stage_module() hands it back to create() */
  char *path;    /* canonical */
  char *dir;
  kk_option_t *opts; /* own options, then the limit options, then {NULL} */
  size_t nown;
  int persist; /* has save and restore: state survives restarts */
} lmod_t;

/* What loading one file has found so far; the first failure wins. */
typedef struct load_ctx {
  lmod_t *lm;
  char *err;
  size_t errlen;
  int failed;
} load_ctx_t;

/* Records the first failure of a load as "path:line: message" in lc->err,
 * with the line where `key` first appears at or after line `from` (no
 * line when key is NULL or not found).  Returns -1. */
int kk__lmod_fail(load_ctx_t *lc, const char *key, int from, const char *fmt,
                  ...) KK_PRINTF(4, 5);
/* The first line at or after `from` of the file at `path` where `key`
 * appears as a table key; 0 if none. */
int kk__lmod_find_line(const char *path, const char *key, int from);
/* Reads optional string field `f` of the table at idx into a string the
 * caller frees (a copy of def when absent, NULL when def is NULL too).
 * Returns 0, or -1 after kk__lmod_fail(). */
int kk__lmod_str_field(lua_State *L, load_ctx_t *lc, int idx, const char *f,
                       const char *def, char **out, int from);
/* 1 when s is a lower-case identifier (letters, digits, '_'). */
int kk__lmod_ident_ok(const char *s);
/* Cuts msg at its first newline, in place, and returns it. */
char *kk__lmod_first_line(char *msg);

/* lua_module_opts.c: parses field `options` of the module table at tbl
 * into lc->lm->opts (owned by the descriptor).  Returns 0, or -1 after
 * kk__lmod_fail(). */
int kk__lmod_parse_options(lua_State *L, load_ctx_t *lc, int tbl);
/* Frees the strings of one option parsed by kk__lmod_parse_options(). */
void kk__lmod_free_option_strings(kk_option_t *o);

/* lua_module_run.c: the stage callbacks of every Lua module; start and
 * stop only for modules with saved state (lm->persist). */
int kk__lmod_create(kk_stage_t *st, const kk_opts_t *opts, void **state);
int kk__lmod_process(kk_stage_t *st, void *state, kk_batch_t *b);
int kk__lmod_start(kk_stage_t *st, void *state);
void kk__lmod_stop(kk_stage_t *st, void *state, kk_stop_cb cb);
void kk__lmod_destroy(void *state);
/* Loads every *.lua (not only *.module.lua) of a folder of klimakit's
 * own module tree (modules/<ns>/ beside the binary), where every Lua
 * file is a module; see kk__lua_module_scan for the rest. */
int kk__lua_module_scan_tree(const char *dir);
/* The options a module with save/restore gets besides its own. */
extern const kk_option_t kk__lua_state_options[];

#endif
