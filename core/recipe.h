/*
 * core/recipe.h - loading and checking Lua recipes (internal).
 *
 * A recipe is a Lua file run in the sandbox with `require "klimakit"`
 * available.  Running it builds the pipeline in an engine; mistakes are
 * collected as compiler-style "file:line: message" lines.
 */
#ifndef KK_CORE_RECIPE_H
#define KK_CORE_RECIPE_H

#include "engine.h"

typedef struct kk__recipe kk__recipe_t;

/* Loads and runs `path`, building stages into a new engine, then checks
 * the graph.  Always returns a recipe (NULL only when out of memory);
 * kk__recipe_errors() tells whether it is usable. */
kk__recipe_t *kk__recipe_load(const char *path);
/* Number of errors; each is "file:line: message". */
size_t kk__recipe_nerrors(const kk__recipe_t *r);
const char *kk__recipe_error(const kk__recipe_t *r, size_t i);
kk__engine_t *kk__recipe_engine(kk__recipe_t *r);
/* Engine settings from kk.config{} merged over defaults and flags. */
const kk__engine_cfg_t *kk__recipe_config(kk__recipe_t *r);
/* Sets the data directory before kk.config{} may override it (CLI). */
void kk__recipe_set_default_data_dir(const char *dir);
/* Frees the engine, then the Lua state. */
void kk__recipe_free(kk__recipe_t *r);

/* Loads the Lua modules shipped with klimakit (the Lua files under modules/
 * next to the binary, $KLIMAKIT_LUA_PATH, the install prefix) into the
 * registry. */
void kk__recipe_load_builtin_lua_modules(void);

/* The options of kk.config{} (core/recipe_config.c), documented like a
 * module's. */
const kk_module_t *kk__config_module(void);
/* Applies kk.config's engine-wide limits (max_datastreams...). */
void kk__config_apply_limits(const kk_opts_t *o);

#endif
