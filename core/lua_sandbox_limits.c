/* core/lua_sandbox_limits.c - a sandboxed state's memory cap,
 * instruction budget and deadline.
 *
 * The allocator refuses what would pass the memory cap; a count hook
 * stops a call that used its budget or passed its deadline; protected
 * calls (kk__lua_pcall) open a budgeted call and turn what stopped it
 * into KK_EMEMCAP, KK_EBUDGET or KK_ELUA.  xpcall and setmetatable are
 * replaced so that no Lua code runs with hooks off.
 *
 * The count hook alone is not enough: it fires every HOOK_EVERY
 * instructions, and a single instruction may take milliseconds (== or <
 * between two 20 MB strings, a concatenation or string.sub copying one),
 * so a short loop of them ran for seconds between two hooks.  A watchdog
 * timer per thread therefore fires at the deadline of the running call
 * and sets the hook to run at the very next instruction, of the main
 * thread and of the coroutine that runs (as lua.c does for Ctrl-C). */
#include "lua_sandbox_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Deadlines count the CPU time of the thread that runs the call, not
 * the wall clock: a Lua call that loops burns CPU and is stopped alike,
 * but one whose process the kernel did not run for a while (a loaded
 * machine, 2 cores and a compiler) is not stopped for time it never had,
 * which had sent healthy batches to the dead letters.  The instruction
 * budget bounds the rest. */
#define SB_CLOCK CLOCK_THREAD_CPUTIME_ID

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(SB_CLOCK, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- allocator ------------------------------------------------------- */

void *kk__sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  sb_ctx_t *c = ud;
  size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
  if (nsize == 0) {
    free(ptr);
    c->used -= old;
    return NULL;
  }
  if (nsize > old && c->used - old + nsize > c->cap) {
    /* Inside a call, an allocation past the cap is granted from a
     * headroom as large as the cap and the call stops at its next
     * instruction (or at the next charge of a bounded library function).
     * Refusing it would make Lua run an emergency full collection inside
     * the allocation, where no hook reaches: 30-60 ms for a heap of a
     * million small tables near the default cap.  The headroom holds
     * what one step can ask for: a table's array or a buffer doubled
     * (at most the state's size again), a string built from two others.
     * Outside a call, and past the headroom, it is refused as before. */
    size_t total = c->used - old + nsize;
    if (!c->depth || total - c->cap > c->cap) {
      c->call.memcap_hit = 1;
      return NULL;
    }
    c->call.memcap_hit = 1;
    if (!c->call.over_cap) {
      c->call.over_cap = 1;
      lua_sethook(c->main, kk__sb_hook, LUA_MASKCOUNT, 1);
      lua_State *co = c->running;
      if (co && co != c->main) lua_sethook(co, kk__sb_hook, LUA_MASKCOUNT, 1);
    }
  }
  void *p = realloc(ptr, nsize);
  if (!p) return NULL;
  c->used = c->used - old + nsize;
  return p;
}

sb_ctx_t *kk__sb_ctx(lua_State *L) {
  void *ud = NULL;
  lua_Alloc f = lua_getallocf(L, &ud);
  if (f != kk__sb_alloc || !ud) return NULL;
  sb_ctx_t *c = ud;
  return c->magic == CTX_MAGIC ? c : NULL;
}

static kk__lua_limits_t defaults = {KK__LUA_DEFAULT_MEM_CAP,
                                    KK__LUA_DEFAULT_BUDGET,
                                    KK__LUA_DEFAULT_DEADLINE_MS};

void kk__sb_limits_fill(kk__lua_limits_t *dst, const kk__lua_limits_t *src) {
  dst->mem_cap = src && src->mem_cap ? src->mem_cap : defaults.mem_cap;
  dst->budget = src && src->budget ? src->budget : defaults.budget;
  dst->deadline_ms =
      src && src->deadline_ms ? src->deadline_ms : defaults.deadline_ms;
}

void kk__lua_default_limits(kk__lua_limits_t *lim) {
  *lim = defaults;
}

void kk__lua_set_default_limits(const kk__lua_limits_t *lim) {
  defaults.mem_cap =
      lim && lim->mem_cap ? lim->mem_cap : KK__LUA_DEFAULT_MEM_CAP;
  defaults.budget = lim && lim->budget ? lim->budget : KK__LUA_DEFAULT_BUDGET;
  defaults.deadline_ms =
      lim && lim->deadline_ms ? lim->deadline_ms : KK__LUA_DEFAULT_DEADLINE_MS;
}

/* ---- watchdog ------------------------------------------------------------ */

typedef struct sb_watch {
  int state; /* 0 not set up yet, 1 ready, -1 unavailable */
  timer_t id;
  sb_ctx_t *volatile active; /* the state whose call runs now */
} sb_watch_t;

static _Thread_local sb_watch_t watch;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;
static int watch_sig;

/* Runs on the thread the timer belongs to, between any two machine
 * instructions of it: only stores and lua_sethook, which is made for
 * this (its writes are single words the interpreter reads at its next
 * instruction). */
static void watch_fire(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  if (si->si_code != SI_TIMER) return;
  sb_watch_t *w = si->si_value.sival_ptr;
  sb_ctx_t *c = w ? w->active : NULL;
  if (!c || !c->depth) return;
  /* A timer left armed by a call that ended sooner is not this call's. */
  if (now_ns() - c->call.start_ns < c->call.deadline_ns) return;
  c->late = 1;
  lua_sethook(c->main, kk__sb_hook, LUA_MASKCOUNT, 1);
  lua_State *co = c->running;
  if (co && co != c->main) lua_sethook(co, kk__sb_hook, LUA_MASKCOUNT, 1);
}

/* A forked child has no timers: it makes its own on first use. */
static void watch_forked(void) {
  watch.state = 0;
  watch.active = NULL;
}

static void watch_install(void) {
  pthread_atfork(NULL, NULL, watch_forked);
  int sig = SIGRTMIN + 7;
  if (sig > SIGRTMAX) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = watch_fire;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) == 0) watch_sig = sig;
}

/* This thread's timer, made on first use; NULL when the system has none
 * (then the count hook alone bounds the call).  A thread that ends keeps
 * its timer: states run on the loop thread, which lives as long as the
 * process. */
static sb_watch_t *watch_get(void) {
  if (watch.state == 0) {
    pthread_once(&watch_once, watch_install);
    watch.state = -1;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = watch_sig;
    ev.sigev_value.sival_ptr = &watch;
    ev._sigev_un._tid = gettid();
    if (watch_sig && timer_create(SB_CLOCK, &ev, &watch.id) == 0)
      watch.state = 1;
    else
      kk_log(KK_LOG_WARN, "lua", "sandbox",
             "no deadline timer (%s): Lua deadlines are checked every %d "
             "instructions only",
             strerror(errno), HOOK_EVERY);
  }
  return watch.state == 1 ? &watch : NULL;
}

/* Fires at the deadline of c's running call (at once when it is past). */
static void watch_arm(sb_watch_t *w, sb_ctx_t *c) {
  uint64_t at = c->call.start_ns + c->call.deadline_ns;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(at / 1000000000u);
  its.it_value.tv_nsec = (long)(at % 1000000000u);
  c->late = 0;
  w->active = c;
  timer_settime(w->id, TIMER_ABSTIME, &its, NULL);
}

/* The timer stays armed (a syscall saved per call): when it fires, the
 * handler finds no call, or one whose deadline is still ahead. */
static void watch_idle(sb_watch_t *w) {
  w->active = NULL;
}

/* ---- budget ------------------------------------------------------------ */

/* Marks the running call as over its budget.  From now on every
 * instruction fails, so a pcall in Lua cannot swallow the error and go on
 * looping; the main thread too when this is a coroutine (new coroutines
 * inherit its rate). */
static void overrun(lua_State *L, sb_ctx_t *c) {
  c->call.budget_hit = 1;
  if (lua_gethookcount(L) != 1) lua_sethook(L, kk__sb_hook, LUA_MASKCOUNT, 1);
  if (L != c->main && lua_gethookcount(c->main) != 1)
    lua_sethook(c->main, kk__sb_hook, LUA_MASKCOUNT, 1);
}

/* Stops the running call that passed the memory cap (the allocator let it
 * into the headroom).  Every later instruction of the call fails alike,
 * so that a pcall in Lua cannot catch it and go on allocating. */
static void memcap_stop(lua_State *L, sb_ctx_t *c, const char *fn,
                        lua_Debug *ar) {
  if (lua_gethookcount(L) != 1) lua_sethook(L, kk__sb_hook, LUA_MASKCOUNT, 1);
  if (L != c->main && lua_gethookcount(c->main) != 1)
    lua_sethook(c->main, kk__sb_hook, LUA_MASKCOUNT, 1);
  char where[LUA_IDSIZE + 24] = "";
  if (ar && lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
    snprintf(where, sizeof where, "%s:%d: ", ar->short_src, ar->currentline);
  else if (!ar) {
    luaL_where(L, 1);
    snprintf(where, sizeof where, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pushfstring(L, "%s%s%snot enough memory (cap of stage %s)", where,
                  fn ? fn : "", fn ? ": " : "", c->name);
  lua_error(L);
}

static void charge(lua_State *L, sb_ctx_t *c, uint64_t steps, uint64_t ahead,
                   const char *fn) {
  c->call.count += steps;
  if (c->call.over_cap) memcap_stop(L, c, fn, NULL);
  uint64_t elapsed = now_ns() - c->call.start_ns + ahead;
  if (!c->call.budget_hit && c->call.count < c->call.budget &&
      elapsed < c->call.deadline_ns)
    return;
  overrun(L, c);
  luaL_where(L, 1); /* the Lua code that called fn */
  if (elapsed >= c->call.deadline_ns)
    lua_pushfstring(L, "%s: deadline of %d ms exceeded in stage %s", fn,
                    (int)(c->call.deadline_ns / 1000000u), c->name);
  else
    lua_pushfstring(L, "%s: instruction budget of %I exceeded in stage %s", fn,
                    (lua_Integer)c->call.budget, c->name);
  lua_concat(L, 2);
  snprintf(c->call.stop, sizeof c->call.stop, "%s", lua_tostring(L, -1));
  lua_error(L);
}

void kk__lua_charge(lua_State *L, uint64_t steps, const char *fn) {
  sb_ctx_t *c = kk__sb_ctx(L);
  if (c && c->depth) charge(L, c, steps, 0, fn);
}

void kk__sb_ahead(lua_State *L, uint64_t ns, const char *fn) {
  sb_ctx_t *c = kk__sb_ctx(L);
  if (c && c->depth) charge(L, c, 0, ns, fn);
}

void kk__sb_hook(lua_State *L, lua_Debug *ar) {
  sb_ctx_t *c = kk__sb_ctx(L);
  if (!c || !c->depth) return;
  int every = lua_gethookcount(L);
  c->call.count += (uint64_t)every;
  if (c->call.over_cap && !c->call.budget_hit) memcap_stop(L, c, NULL, ar);
  /* With the watchdog timer (on the same clock) `late` says the deadline
   * passed, and the clock, a system call for CPU time, is read only to
   * name the time; without it, at every hook. */
  int timed = watch.state == 1;
  uint64_t elapsed = timed && !c->late ? 0 : now_ns() - c->call.start_ns;
  if (c->call.budget_hit || c->call.count >= c->call.budget ||
      elapsed >= c->call.deadline_ns) {
    if (!elapsed) elapsed = now_ns() - c->call.start_ns;
    overrun(L, c);
    if (c->call.stop[0]) {
      lua_pushstring(L, c->call.stop);
      lua_error(L);
    }
    /* Name the place the code was at: luaL_error's level 1 would be the
     * caller of the looping function. */
    char where[LUA_IDSIZE + 24] = "";
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
      snprintf(where, sizeof where, "%s:%d: ", ar->short_src, ar->currentline);
    lua_pushfstring(L, "%sinstruction budget exceeded (", where);
    char msg[96];
    snprintf(msg, sizeof msg, "%llu instructions in %llu ms)",
             (unsigned long long)c->call.count,
             (unsigned long long)(elapsed / 1000000u));
    lua_pushstring(L, msg);
    if (elapsed >= c->call.deadline_ns && c->call.count < c->call.budget)
      lua_pushfstring(L, ": deadline of %d ms exceeded in stage %s",
                      (int)(c->call.deadline_ns / 1000000u), c->name);
    else
      lua_pushfstring(L, " in stage %s", c->name);
    lua_concat(L, 3);
    lua_error(L);
    return;
  }
  /* A coroutine left at count 1 by an earlier overrun goes back to the
   * cheap rate. */
  if (every != HOOK_EVERY)
    lua_sethook(L, kk__sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

void kk__sb_call_begin(sb_ctx_t *c, sb_call_t *saved,
                       const kk__lua_limits_t *over) {
  *saved = c->call;
  c->depth++;
  memset(&c->call, 0, sizeof c->call);
  c->call.start_ns = now_ns();
  c->call.budget = over && over->budget ? over->budget : c->lim.budget;
  uint64_t dl =
      over && over->deadline_ms ? over->deadline_ms : c->lim.deadline_ms;
  c->call.deadline_ns = dl * 1000000u;
}

void kk__sb_call_end(sb_ctx_t *c, const sb_call_t *saved) {
  c->depth--;
  c->call = *saved;
}

/* After a call stopped at a limit, collects what it left for at most
 * GC_SLICE_NS, in incremental steps: a full collection of a heap near
 * the memory cap (a million small tables) holds the thread for 50 ms and
 * more.  The cycle, if not done, goes on with later allocations.  Under
 * a budget, so that a finalizer cannot hang the caller (its errors
 * become warnings). */
#define GC_SLICE_NS 3000000u

static void guarded_gc(lua_State *L, sb_ctx_t *c) {
  sb_call_t saved;
  kk__sb_call_begin(c, &saved, NULL);
  lua_sethook(L, kk__sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
  uint64_t t0 = now_ns();
  while (!lua_gc(L, LUA_GCSTEP, 0) && now_ns() - t0 < GC_SLICE_NS) {
  }
  kk__sb_call_end(c, &saved);
}

static int sb_msgh(lua_State *L) {
  sb_ctx_t *c = kk__sb_ctx(L);
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
  }
  /* A budget overrun or the memory cap is reported as is: its message
   * already names the place, and a traceback could not be built in a
   * failing state. */
  if (c && (c->call.budget_hit || c->call.over_cap)) {
    lua_pushstring(L, msg);
    return 1;
  }
  /* A traceback without a single Lua frame says nothing. */
  luaL_traceback(L, L, NULL, 1);
  if (strcmp(lua_tostring(L, -1), "stack traceback:\n\t[C]: in ?") == 0) {
    lua_pushstring(L, msg);
    return 1;
  }
  lua_pushstring(L, msg);
  lua_pushliteral(L, "\n");
  lua_rotate(L, -3, 2);
  lua_concat(L, 3);
  return 1;
}

void kk__sb_set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int kk__lua_pcall_limits(lua_State *L, int nargs, int nresults,
                         const kk__lua_limits_t *lim, char *err,
                         size_t errlen) {
  sb_ctx_t *c = kk__sb_ctx(L);
  int base = lua_gettop(L) - nargs; /* the function */
  lua_pushcfunction(L, sb_msgh);
  lua_insert(L, base);
  sb_call_t saved;
  sb_watch_t *w = c ? watch_get() : NULL;
  sb_ctx_t *outer = w ? w->active : NULL;
  if (c) {
    kk__sb_call_begin(c, &saved, lim);
    if (c->depth == 1) c->running = NULL;
    lua_sethook(L, kk__sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
    if (w) watch_arm(w, c);
  }
  int st = lua_pcall(L, nargs, nresults, base);
  if (st == LUA_OK && c && c->call.over_cap && !c->call.budget_hit) {
    /* A C function caught the memory error and returned. */
    lua_settop(L, base);
    lua_pushliteral(L, "not enough memory");
    st = LUA_ERRMEM;
  } else if (st == LUA_OK && c && c->call.budget_hit) {
    /* A C function caught the stop with lua_pcall and returned: the call
     * still failed. */
    lua_settop(L, base);
    lua_pushstring(L, c->call.stop[0] ? c->call.stop
                                      : "instruction budget exceeded");
    st = LUA_ERRRUN;
  }
  int rc = 0;
  if (st != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (c && c->call.budget_hit) {
      rc = KK_EBUDGET;
      kk__sb_set_err(err, errlen, "%s",
                     msg ? msg : "instruction budget exceeded");
    } else if (st == LUA_ERRMEM || (c && c->call.memcap_hit)) {
      rc = KK_EMEMCAP;
      if (c)
        kk__sb_set_err(err, errlen, "memory cap exceeded (cap %zu KiB): %s",
                       c->cap / 1024, msg ? msg : "not enough memory");
      else
        kk__sb_set_err(err, errlen, "%s", msg ? msg : "not enough memory");
    } else {
      rc = KK_ELUA;
      kk__sb_set_err(err, errlen, "%s", msg ? msg : "Lua error");
    }
    lua_pop(L, 1);
  }
  lua_remove(L, base);
  if (c) {
    kk__sb_call_end(c, &saved);
    /* Back to the enclosing call's deadline, if any. */
    if (w) {
      if (outer && outer->depth)
        watch_arm(w, outer);
      else
        watch_idle(w);
    }
    if (rc == KK_EMEMCAP || rc == KK_EBUDGET) guarded_gc(L, c);
  }
  return rc;
}

int kk__lua_pcall(lua_State *L, int nargs, int nresults, char *err,
                  size_t errlen) {
  return kk__lua_pcall_limits(L, nargs, nresults, NULL, err, errlen);
}

void kk__lua_set_limits(lua_State *L, const kk__lua_limits_t *lim) {
  sb_ctx_t *c = kk__sb_ctx(L);
  if (!c) return;
  kk__sb_limits_fill(&c->lim, lim);
  c->cap = c->lim.mem_cap;
}

void kk__lua_get_limits(lua_State *L, kk__lua_limits_t *lim) {
  sb_ctx_t *c = kk__sb_ctx(L);
  if (c)
    *lim = c->lim;
  else
    kk__sb_limits_fill(lim, NULL);
}

size_t kk__lua_mem_used(lua_State *L) {
  sb_ctx_t *c = kk__sb_ctx(L);
  return c ? c->used : (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024u;
}

/* ---- calls that would escape the budget ---------------------------------- */

/* Lua runs a message handler that an error raised inside a hook triggers,
 * and every __gc finalizer, with hooks switched off: a Lua function there
 * could loop forever past the budget.  Hence xpcall calls its handler only
 * after the stack has unwound (hooks on again; without the debug library a
 * handler cannot look at the failed stack anyway), and setmetatable
 * refuses metatables with __gc. */
static int xpcall_finish(lua_State *L, int status, lua_KContext extra) {
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushvalue(L, 2); /* the handler */
    lua_insert(L, -2);
    lua_pcall(L, 1, 1, 0); /* its result or its own error */
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  return lua_gettop(L) - (int)extra;
}

int kk__sb_xpcall(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2); /* f, h, true, f, args... */
  int st = lua_pcallk(L, n - 2, LUA_MULTRET, 0, 2, xpcall_finish);
  return xpcall_finish(L, st, 2);
}

/* setmetatable(t, mt) with upvalue 1 = the real one. */
int kk__sb_setmetatable(lua_State *L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_error(L, "setmetatable: __gc metamethods are not allowed "
                           "here (finalizers would run outside the "
                           "instruction budget)");
    lua_pop(L, 1);
  }
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, 1);
  return 1;
}
