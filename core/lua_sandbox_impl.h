/*
 * core/lua_sandbox_impl.h - what the sandbox's own files share (internal
 * to core/lua_sandbox*.c; the rest of the core uses lua_sandbox.h).
 *
 * lua_sandbox.c builds a state from the allow-list; lua_sandbox_limits.c
 * keeps its memory cap, instruction budget and deadline;
 * lua_sandbox_files.c decides which files it may read, load or require.
 * A state and everything in these files run on one thread at a time, the
 * thread that owns the state.
 */
#ifndef KK_CORE_LUA_SANDBOX_IMPL_H
#define KK_CORE_LUA_SANDBOX_IMPL_H

#include "core.h"
#include "lua_sandbox.h"

#include <lauxlib.h>
#include <signal.h>

/* The count hook fires every HOOK_EVERY VM instructions: often enough to
 * stop a runaway loop within microseconds of its deadline, rarely enough
 * to cost about 1% of a tight loop (one clock_gettime per call). */
#define HOOK_EVERY 1000
#define CTX_MAGIC 0x6b6b4c55u /* "kkLU" */

#define REG_HIDDEN_G "kk.lua.G"      /* the full global table */
#define REG_LOADED "kk.lua.loaded"   /* require's cache */
#define REG_PRELOAD "kk.lua.preload" /* kk__lua_set_preload() */

typedef struct sb_dir {
  char *path; /* canonical, no trailing slash (except "/") */
  size_t len;
  int writable;
} sb_dir_t;

/* What one kk__lua_pcall() tracks; saved and restored around nested
 * calls. */
typedef struct sb_call {
  uint64_t start_ns;
  uint64_t budget;
  uint64_t deadline_ns;
  uint64_t count;
  int budget_hit;
  int memcap_hit; /* an allocation was refused or passed the cap */
  int over_cap;   /* one passed it (granted from the headroom): the call
                     stops at its next instruction */
  /* Why a bounded library function stopped the call (kk__lua_charge);
   * the hook raises it again if Lua code catches it and goes on. */
  char stop[160];
} sb_call_t;

typedef struct sb_ctx {
  uint32_t magic;
  lua_State *main; /* the main thread */
  size_t used, cap;
  kk__lua_limits_t lim;
  int depth; /* kk__lua_pcall() nesting; the hook only acts inside */
  sb_call_t call;
  char name[64];
  sb_dir_t *dirs;
  size_t ndirs;
  char warnbuf[512];
  size_t warnlen;
  /* The thread running Lua code now when it is a coroutine (kept by the
   * sandbox's coroutine.resume and wrap; anchored in the registry), so
   * that the watchdog can stop it. */
  lua_State *volatile running;
  /* Set by the watchdog when the running call's deadline timer fired:
   * bounded C functions that cannot afford a clock read per step check
   * it (kk__sb_late) instead. */
  volatile sig_atomic_t late;
} sb_ctx_t;

/* ---- lua_sandbox_limits.c ---- */

/* The allocator of every sandboxed state; ud is its sb_ctx_t. */
void *kk__sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* The context of a state made by kk__lua_new(), or NULL for any other
 * state.  Valid until kk__lua_close(). */
sb_ctx_t *kk__sb_ctx(lua_State *L);
/* The count hook that enforces the budget and the deadline. */
void kk__sb_hook(lua_State *L, lua_Debug *ar);
/* Copies src into dst, taking the process defaults for what src (or a
 * NULL src) leaves 0. */
void kk__sb_limits_fill(kk__lua_limits_t *dst, const kk__lua_limits_t *src);
/* Opens a budgeted call (limits from `over` where set, else the state's),
 * saving the enclosing one in `saved`; kk__sb_call_end() restores it. */
void kk__sb_call_begin(sb_ctx_t *c, sb_call_t *saved,
                       const kk__lua_limits_t *over);
void kk__sb_call_end(sb_ctx_t *c, const sb_call_t *saved);
/* snprintf into err when err is not NULL. */
void kk__sb_set_err(char *err, size_t errlen, const char *fmt, ...)
    KK_PRINTF(3, 4);
/* Before a stock C call that takes about `ns` and cannot be split:
 * raises the deadline error naming fn now when the call could not end
 * before the deadline. */
void kk__sb_ahead(lua_State *L, uint64_t ns, const char *fn);
/* Raises the deadline error naming fn when the watchdog fired for the
 * running call (one load and a branch otherwise: cheap enough for every
 * comparison of a sort). */
static inline void kk__sb_late(lua_State *L, const char *fn) {
  sb_ctx_t *c = kk__sb_ctx(L);
  if (c && c->late) kk__lua_charge(L, 0, fn);
}
/* coroutine.resume and coroutine.wrap (upvalue 1: the real one), which
 * record the running coroutine for the watchdog. */
void kk__sb_bound_coroutine(lua_State *L);
/* xpcall and setmetatable (upvalue 1: the real one) as the sandbox
 * offers them: neither lets Lua code run outside the budget. */
int kk__sb_xpcall(lua_State *L);
int kk__sb_setmetatable(lua_State *L);

/* ---- lua_sandbox_bounds.c ---- */

/* Replace, in the string (or table) library table on top of L, the
 * functions whose work in C grows with their input (string.rep, upper,
 * lower, reverse; table.concat, sort, move, insert, remove; utf8.len) by
 * versions that charge it to the budget (kk__lua_charge). */
void kk__sb_bound_string(lua_State *L);
void kk__sb_bound_table(lua_State *L);
void kk__sb_bound_utf8(lua_State *L);

/* ---- lua_sandbox_pack.c ---- */

/* Calls the stock library function below its nargs arguments on top of
 * L (nres results), for a sandbox function that hands work to it.  An
 * error the stock function raises itself is raised again as if Lua had
 * called it: with the place of the Lua caller and, for "bad argument #N",
 * the name this call has and the argument's position N + delta in it
 * (N = 1 stays 1; NO_MAP: kept).  Errors of Lua code it called pass
 * unchanged. */
#define NO_MAP (-1000000)
void kk__sb_stock_call(lua_State *L, int nargs, int nres, int delta);

/* string.pack, unpack, packsize and char (on the string table on top of
 * L), os.date (os table), tonumber (the full global table), utf8.char,
 * offset and codes (utf8 table), charged to the budget. */
void kk__sb_bound_pack(lua_State *L);
void kk__sb_bound_os(lua_State *L);
void kk__sb_bound_base(lua_State *L);
void kk__sb_bound_utf8_char(lua_State *L);
/* table.unpack (table library table on top of L). */
void kk__sb_bound_table_unpack(lua_State *L);

/* ---- lua_sandbox_files.c ---- */

/* io.open and io.lines (upvalue 1: the real one) for allowed paths only. */
int kk__sb_io_open(lua_State *L);
int kk__sb_io_lines(lua_State *L);
/* load (upvalue 1: the real one), loadfile and dofile: text chunks only,
 * files from allowed paths only. */
int kk__sb_load(lua_State *L);
int kk__sb_loadfile(lua_State *L);
int kk__sb_dofile(lua_State *L);
/* require: preloaded modules, cjson, and Lua files under allowed paths. */
int kk__sb_require(lua_State *L);

#endif
