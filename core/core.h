/*
 * core/core.h - internals shared between core files (never for modules).
 */
#ifndef KK_CORE_CORE_H
#define KK_CORE_CORE_H

#include <klimakit.h>
#include <lua.h>
#include <stdbool.h>

/* ---- module registry (core/registry.c) ---- */

/* Registers a module (built-ins at start-up, Lua modules when loaded).
 * The descriptor must outlive the process.  Returns 0, KK_EEXIST when
 * ns.name is taken, KK_EABI on a version mismatch. */
int kk__registry_add(const kk_module_t *m);
const kk_module_t *kk__registry_find(const char *ns, const char *name);
/* Iterates in registration order; returns NULL past the end. */
const kk_module_t *kk__registry_at(size_t i);
/* Registers the generated table of built-in C modules and the core ones. */
void kk__registry_init(void);
/* core/engine_limits.c: 1 when a new datastream may be registered next to
 * the `count` there are. */
int kk__datastream_admit(uint32_t count);
/* Why the last kk__datastream_admit() refused, naming the limit, or NULL. */
const char *kk__datastream_refusal(void);
/* Subcommands the registered modules contribute (kk_module_t.commands):
 * the i-th in registration order, or the one called `name`; NULL past the
 * end or when unknown.  *owner (if not NULL) is set to its module. */
const kk_command_t *kk__registry_command_at(size_t i,
                                            const kk_module_t **owner);
const kk_command_t *kk__registry_command(const char *name,
                                         const kk_module_t **owner);

struct cJSON;
/* The Lua value at idx as JSON (nil -> null; a table with a sequence ->
 * array, else an object with string keys); NULL for other key or value
 * types and below 32 levels.  Caller cJSON_Delete()s. */
struct cJSON *kk__lua_to_json(lua_State *L, int idx);

/* Calls every registered module's lua_open with the table on top of L. */
void kk__registry_lua_surfaces(lua_State *L);
/* luaopen-style loader of "klimakit" for Lua module states: only the
 * modules' Lua surfaces (no constructors, no kk.pipe). */
int kk__lua_open_surfaces(lua_State *L);

/* ---- options (core/opts.c) ---- */

/* Validates the table at `idx` in L against `m->options` and returns new
 * opts (caller frees with kk__opts_free) or NULL with a message in err,
 * e.g. "unknown option 'pth' for source.file (did you mean 'path'?)".
 * Function values are kept as registry references in L. */
kk_opts_t *kk__opts_from_lua(lua_State *L, int idx, const kk_module_t *m,
                             char *err, size_t errlen);
/* Same, reporting every mistake through fn instead of the first: `key`
 * is the option it is about (NULL: the table as a whole or a missing
 * option), `line` the line Lua knows for the value (a function's
 * definition; 0 otherwise).  Returns NULL when there was any. */
typedef void (*kk__opts_err_fn)(void *ud, const char *key, int line,
                                const char *msg);
kk_opts_t *kk__opts_from_lua_each(lua_State *L, int idx, const kk_module_t *m,
                                  kk__opts_err_fn fn, void *ud);
void kk__opts_free(kk_opts_t *o);
/* KK_OPT_FUNCTION: the Lua state and registry reference of the function. */
int kk__opt_function(const kk_opts_t *o, const char *name, lua_State **L,
                     int *ref);
/* Pushes the option value onto L as Lua would see it (for Lua modules). */
void kk__opt_push(lua_State *L, const kk_opts_t *o, const char *name);
/* Options every stage accepts besides its own (kk__common_options):
 * `name` (NULL if not given) and `queue` (sinks: readings in flight). */
const char *kk__opts_stage_name(const kk_opts_t *o);
uint64_t kk__opts_queue(const kk_opts_t *o);
extern const kk_option_t kk__common_options[];
/* Levenshtein distance, for "did you mean" hints. */
int kk__edit_distance(const char *a, const char *b);

/* ---- batches (core/batch.c) ---- */
/* Sets the journal sequence number of raw message i (engine only). */
void kk__batch_set_raw_seq(kk_batch_t *b, size_t i, uint64_t seq);
/* Empties a batch the caller owns alone (readings and raw messages),
 * keeping its storage. */
void kk__batch_clear(kk_batch_t *b);

/* ---- time ---- */
uint64_t kk__hrtime_ms(void);

/* ---- logging setup (core/log.c) ---- */
typedef enum {
  KK__LOGFMT_AUTO = 0,
  KK__LOGFMT_TEXT,
  KK__LOGFMT_JSON
} kk__logfmt_t;
void kk__log_setup(kk__logfmt_t fmt, kk_log_level_t level);

#endif
