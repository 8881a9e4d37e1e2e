/*
 * klimakit/lua.h - sandboxed Lua 5.4 states for modules that run an
 * integrator's Lua code (a payload decoder, a rule): the same sandbox,
 * instruction budget and memory cap as Lua modules and recipe stages.
 *
 * Not part of <klimakit.h>: it needs Lua's headers (`pkg-config --cflags
 * lua5.4`).  A state sees the standard libraries without package, debug,
 * io.popen or os.execute; files only under paths allowed with
 * kk_lua_allow_path(); `require` of "cjson" and of Lua files under those
 * paths.  All functions are for the thread that owns the state (the
 * loop thread).
 */
#ifndef KLIMAKIT_LUA_H
#define KLIMAKIT_LUA_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

/* Zero fields stand for the process defaults (64 MiB, 50 million
 * instructions, 50 ms, or what the recipe's kk.config lua_memory /
 * lua_budget / lua_deadline set). */
typedef struct kk_lua_limits {
  size_t mem_cap;       /* bytes the state may hold */
  uint64_t budget;      /* VM instructions per protected call */
  uint64_t deadline_ms; /* wall-clock ms per protected call */
} kk_lua_limits_t;

/* A new sandboxed state with limits `lim` (NULL: the defaults) and the log
 * name `name` (print() logs as `[lua:<name>]`).  NULL with a message in
 * err when out of memory or the cap is too small.  Close with
 * kk_lua_close(). */
lua_State *kk_lua_new(const kk_lua_limits_t *lim, const char *name, char *err,
                      size_t errlen);
void kk_lua_close(lua_State *L);

/* Lets Lua code read files under `dir` (and write, if `writable`); paths
 * are canonicalised, and '..' or symlinks leading out are refused.
 * Returns 0 or -errno when `dir` cannot be resolved. */
int kk_lua_allow_path(lua_State *L, const char *dir, int writable);

/* lua_pcall under the state's budget and deadline, which start afresh
 * with each call.  They hold inside the library too: pattern matching,
 * string.rep, table.concat/sort and the like count their work and stop
 * with "string.find: deadline of N ms exceeded in stage <name>" (the
 * state's name), which Lua code cannot catch and go on.  Returns 0
 * (results on the stack), or KK_EBUDGET, KK_EMEMCAP or KK_ELUA with a
 * message (and traceback) in err and the function and arguments popped;
 * L stays usable.  The _limits form replaces the non-zero budget and
 * deadline_ms for this call only. */
int kk_lua_pcall(lua_State *L, int nargs, int nresults, char *err,
                 size_t errlen);
int kk_lua_pcall_limits(lua_State *L, int nargs, int nresults,
                        const kk_lua_limits_t *lim, char *err, size_t errlen);

#endif
