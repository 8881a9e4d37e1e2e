/*
 * core/lua_sandbox.h - the Lua runtime (internal): sandboxed states with
 * an instruction budget and a memory cap, the batch and reading userdata
 * that Lua code sees, Lua integrator modules and the recipe stages
 * map / filter / fn.
 *
 * Every Lua state klimakit runs untrusted or semi-trusted code in (recipes,
 * Lua modules, Lua decoders) comes from kk__lua_new().  Such a state:
 *  - allocates through a counting allocator: past `mem_cap` bytes an
 *    allocation fails and Lua raises a memory error (KK_EMEMCAP);
 *  - sees only an allow-list of globals: the basic functions without
 *    collectgarbage/dofile/loadfile/require/load (which are replaced by
 *    restricted versions), string (without string.dump), table, math, utf8,
 *    coroutine, os.time/clock/date/getenv, io.open/io.lines/io.type limited
 *    to the paths given to kk__lua_allow_path(), and print, which logs at
 *    info level as `[lua:<name>]`.  No package, debug, io.popen,
 *    os.execute, binary chunks;
 *  - `require` resolves only preloads registered with kk__lua_set_preload()
 *    ("klimakit"), "cjson" and "cjson.safe" (the system's lua-cjson; the
 *    binary must be linked with -Wl,-E), the visible standard libraries by
 *    name, and Lua files under the allowed paths ("a.b" -> a/b.lua or
 *    a/b/init.lua);
 *  - runs code through kk__lua_pcall(), which stops it with a clear error
 *    once it has used its instruction budget or its wall-clock deadline.
 *
 * All functions are for the thread that owns the state (the loop thread).
 */
#ifndef KK_CORE_LUA_SANDBOX_H
#define KK_CORE_LUA_SANDBOX_H

#include <klimakit.h>
#include <klimakit/lua.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#define KK__LUA_DEFAULT_MEM_CAP ((size_t)64 << 20) /* 64 MiB */
#define KK__LUA_DEFAULT_BUDGET 50000000u           /* VM instructions */
#define KK__LUA_DEFAULT_DEADLINE_MS 50u

/* The public kk_lua_limits_t (include/klimakit/lua.h); zero fields are
 * the defaults. */
typedef kk_lua_limits_t kk__lua_limits_t;

/* ---- states (core/lua_sandbox.c) ------------------------------------- */

/* The process-wide defaults that zero fields of a kk__lua_limits_t stand
 * for (initially the KK__LUA_DEFAULT_* values; the recipe's kk.config
 * lua_budget / lua_deadline / lua_memory change them).  Zero fields given
 * to the setter keep the built-in defaults. */
void kk__lua_default_limits(kk__lua_limits_t *lim);
void kk__lua_set_default_limits(const kk__lua_limits_t *lim);

/* Creates a sandboxed state with limits `lim` (NULL or zero fields: the
 * defaults) and the log name `name` (NULL: "lua").  The caller closes it
 * with kk__lua_close().  Returns NULL with a message in err when out of
 * memory or when the memory cap is too small for the standard
 * libraries. */
lua_State *kk__lua_new(const kk__lua_limits_t *lim, const char *name, char *err,
                       size_t errlen);

/* Closes L (NULL is a no-op).  Lua finalizers that run at close are still
 * bound by the state's budget. */
void kk__lua_close(lua_State *L);

/* Replaces the limits of L (zero fields take the process defaults).  A lower
 * memory cap does not free anything; it only refuses further growth. */
void kk__lua_set_limits(lua_State *L, const kk__lua_limits_t *lim);
void kk__lua_get_limits(lua_State *L, kk__lua_limits_t *lim);

/* Bytes the state holds now. */
size_t kk__lua_mem_used(lua_State *L);

/* The name used by print() and warnings: `[lua:<name>]`.  Copied (up to 63
 * bytes); the default is "lua". */
void kk__lua_set_name(lua_State *L, const char *name);
const char *kk__lua_name(lua_State *L);

/* Lets Lua code in L read files under `dir` (and write them, if
 * `writable`).  `dir` is canonicalised with realpath() now; every later
 * access is canonicalised too and must stay inside one of the allowed
 * trees ('..' and symlinks leading out are refused).  Returns 0 or -errno
 * when `dir` cannot be resolved. */
int kk__lua_allow_path(lua_State *L, const char *dir, int writable);

/* Makes `require(name)` call `open(name)` (once; the result is cached like
 * package.loaded). */
void kk__lua_set_preload(lua_State *L, const char *name, lua_CFunction open);

/* Loads the Lua text file `path` (never a binary chunk) as a function on
 * top of L, with chunk name "@path" so that errors read `path:line:`.  The
 * path is not checked against the allowed paths: this is for files the
 * core itself chose (recipes, modules).  Returns 0, or KK_ELUA / KK_EIO /
 * KK_EMEMCAP with a message in err and nothing pushed. */
int kk__lua_loadfile(lua_State *L, const char *path, char *err, size_t errlen);

/* Like lua_pcall(L, nargs, nresults, <traceback handler>), under the
 * state's instruction budget and deadline, which start afresh with every
 * call.  Returns 0 (results on the stack) or, with the function and its
 * arguments popped and a message in err:
 *  - KK_EBUDGET: "instruction budget exceeded (N instructions in M ms)",
 *    also when the deadline passed (Lua code cannot catch it: every pcall
 *    it tries fails again at once);
 *  - KK_EMEMCAP: the memory cap was reached (the garbage is collected
 *    before returning);
 *  - KK_ELUA: any other error, with a stack traceback.
 * L stays usable afterwards.  Nested calls get their own budget.  A state
 * that does not come from kk__lua_new() runs without a budget. */
int kk__lua_pcall(lua_State *L, int nargs, int nresults, char *err,
                  size_t errlen);

/* The same with per-call limits: the non-zero `budget` and `deadline_ms`
 * of `lim` (which may be NULL) replace the state's for this call only
 * (mem_cap is ignored). */
int kk__lua_pcall_limits(lua_State *L, int nargs, int nresults,
                         const kk__lua_limits_t *lim, char *err, size_t errlen);

/* For a C function that may run long inside one call (the sandbox's own
 * string and table functions): adds `steps` (its work in units of about
 * one VM instruction) to the running call's instruction count and, once
 * the call is over its budget or past its deadline, raises "<fn>:
 * deadline of N ms exceeded in stage <name>" (or "instruction budget of
 * N exceeded"), which kk__lua_pcall() reports as KK_EBUDGET.  Costs one
 * clock read: call it every thousand steps or so, not for each.  A no-op
 * outside kk__lua_pcall() and for states not from kk__lua_new(). */
void kk__lua_charge(lua_State *L, uint64_t steps, const char *fn);

/* Call after pushing the result string such a function built: the final
 * copy into a Lua string (and the collector step it may run) takes time
 * too, and a deadline that passes there would otherwise be caught by the
 * count hook at the next VM instruction, naming no function.  Charges
 * only a large result (64 KiB or more), so small calls pay one length
 * read. */
static inline void kk__lua_charge_result(lua_State *L, const char *fn) {
  if (lua_rawlen(L, -1) >= ((size_t)1 << 16)) kk__lua_charge(L, 1, fn);
}

/* ---- batches, readings, emit (core/lua_batch.c) ---------------------- */

/* Pushes a batch userdata for `b`, which is borrowed: call
 * kk__lua_batch_invalidate() on it before the borrow ends; from then on
 * every use raises "batch used after its call returned".  Lua sees:
 *   #batch                  number of readings
 *   batch:get(i)            a new table {thing, property, unit, time (ms
 *                           integer), value, ds}, nil when out of range
 *   for r in batch:readings() do ... end
 *                           reading views (see below); the loop reuses
 *                           one view object: copy fields, not the view,
 *                           to keep them
 *   batch:raw_count(), batch:raw(i)
 *                           raw messages as {data=string, format=int,
 *                           meta=string, time=int, seq=int}
 *   batch:seq()             journal position (integer) */
void kk__lua_push_batch(lua_State *L, kk_batch_t *b);
void kk__lua_batch_invalidate(lua_State *L, int idx);

/* Pushes a new reading view (a small userdata holding a copy of `r`) and
 * returns it, so that C may refill it in place with kk__lua_reading_set().
 * Fields: thing, property, unit, time, value, ds, flags; assignable:
 * value, time, thing, property, unit (the last three change the
 * datastream) and ds. */
kk_reading_t *kk__lua_push_reading(lua_State *L, const kk_reading_t *r);
/* The reading inside the view at idx, or NULL if it is not a view. */
kk_reading_t *kk__lua_toreading(lua_State *L, int idx);

/* Converts the value at idx (a view, or a table {thing=, property=,
 * unit=, ds=, time=, value=}) into *out, raising a Lua error prefixed
 * with `who` ("emit: field 'value' must be a number") when it is neither.
 * Table fields left out come from `def` when not NULL; without `def`,
 * value and either ds or thing/property/unit are required and time
 * defaults to now. */
void kk__lua_check_reading(lua_State *L, int idx, const kk_reading_t *def,
                           kk_reading_t *out, const char *who);

/* Pushes an `emit` function appending readings to `out` (borrowed, like a
 * batch; invalidate it with kk__lua_emitter_invalidate() before the
 * borrow ends).  emit(r) takes what kk__lua_check_reading() takes.  At
 * most KK__LUA_EMIT_MAX readings per emitter. */
#define KK__LUA_EMIT_MAX 1000000u
void kk__lua_push_emitter(lua_State *L, kk_batch_t *out);
void kk__lua_emitter_invalidate(lua_State *L, int idx);

/* Pushes a batch userdata for `b` and an emitter for `out` (nil when out
 * is NULL) under protection, so that hitting the memory cap fails cleanly
 * instead of aborting: pushing userdata directly outside a protected call
 * is only safe far below the cap.  Returns 0 with the two values pushed,
 * or a kk__lua_pcall() code with nothing pushed.  Invalidate both with
 * kk__lua_invalidate_borrowed(L, index of the batch) when the call that
 * used them returned. */
int kk__lua_push_borrowed(lua_State *L, kk_batch_t *b, kk_batch_t *out,
                          char *err, size_t errlen);
void kk__lua_invalidate_borrowed(lua_State *L, int idx);

/* ---- Lua integrator modules (core/lua_module.c) ----------------------- */

/* Loads the Lua module file at `path` (a file returning a module table,
 * see examples/lua-module/README.md), validates it and returns a new
 * descriptor for kk__registry_add().  The descriptor lives until
 * kk__lua_module_free() (the registry keeps it for the process's life).
 * NULL with `file:line: message` in err when the file is not a valid
 * module. */
const kk_module_t *kk__lua_module_load(const char *path, char *err,
                                       size_t errlen);
/* Frees a descriptor from kk__lua_module_load() (NULL is a no-op); only
 * for descriptors that were never registered. */
void kk__lua_module_free(const kk_module_t *m);
/* The canonical path of the file a Lua module descriptor came from, or
 * NULL when `m` is not a Lua module (so a second kk.load_module of the same
 * file can be told from another module taking the same name). */
const char *kk__lua_module_path(const kk_module_t *m);
/* Loads and registers every *.lua in `dir` (in name order).  Files that
 * fail are logged as errors and skipped.  Returns the number registered
 * or -errno when dir cannot be read. */
int kk__lua_module_scan(const char *dir);

/* Options every Lua module gets on top of its own (the limits of its own
 * state): memory (size), budget (int), deadline (duration). */
extern const kk_option_t kk__lua_limit_options[];

/* ---- recipe stages (core/lua_stages.c) -------------------------------- */

/* transform.map, transform.filter, transform.fn: a recipe function run for
 * each reading (map, filter) or each batch (fn), in the recipe's state. */
extern const kk_module_t kk__map_module, kk__filter_module, kk__luafn_module;

#endif
