/* core/lua_module_run.c - the stages made from a Lua module.
 *
 * Every stage gets its own sandboxed state, loads the module file again
 * there, calls `create(opts)` for its state and then `process` for each
 * batch, under the state's budget, deadline and memory cap.  Runs on the
 * loop thread. */
#include "lua_module.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct linst {
  lua_State *L;
  int proc_ref, state_ref;
  int sink;
} linst_t;

typedef struct setup_ctx {
  const lmod_t *lm;
  const kk_opts_t *opts;
  linst_t *in;
} setup_ctx_t;

/* Loads the module file into the stage's state, builds the opts table and
 * calls create(opts).  Runs under kk__lua_pcall. */
static int lm_setup(lua_State *L) {
  setup_ctx_t *sc = lua_touserdata(L, 1);
  if (luaL_loadfilex(L, sc->lm->path, "t") != LUA_OK) return lua_error(L);
  lua_call(L, 0, 1);
  int mod = lua_gettop(L);
  if (!lua_istable(L, mod) || lua_getfield(L, mod, "process") != LUA_TFUNCTION)
    return luaL_error(L, "%s no longer returns a module table with process",
                      sc->lm->path);
  sc->in->proc_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  for (const kk_option_t *o = sc->lm->opts; o->name; o++) {
    kk__opt_push(L, sc->opts, o->name);
    lua_setfield(L, -2, o->name);
  }
  if (lua_getfield(L, mod, "create") == LUA_TFUNCTION) {
    lua_insert(L, -2);
    lua_call(L, 1, 1);
  } else {
    lua_pop(L, 1); /* no create: the state is the opts table */
  }
  sc->in->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

void kk__lmod_destroy(void *state) {
  linst_t *in = state;
  if (!in) return;
  kk__lua_close(in->L);
  free(in);
}

int kk__lmod_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  const lmod_t *lm = (const lmod_t *)kk_stage_module(st);
  char e[1024];
  linst_t *in = calloc(1, sizeof *in);
  if (!in) return KK_ENOMEM;
  in->proc_ref = in->state_ref = LUA_NOREF;
  in->sink = lm->m.kind == KK_KIND_SINK;
  kk__lua_limits_t lim = {kk_opt_size(opts, "memory"),
                          (uint64_t)kk_opt_int(opts, "budget"),
                          kk_opt_duration_ms(opts, "deadline")};
  in->L = kk__lua_new(&lim, kk_stage_name(st), e, sizeof e);
  if (!in->L) {
    kk_stage_error(st, "%s", e);
    kk__lmod_destroy(in);
    return KK_ENOMEM;
  }
  kk__lua_allow_path(in->L, lm->dir, 0);
  /* Modules may use the C modules' Lua functions (kk.factor...). */
  kk__lua_set_preload(in->L, "klimakit", kk__lua_open_surfaces);
  kk__lua_limits_t setup = {0, 0, SETUP_DEADLINE_MS};
  if (setup.deadline_ms < lim.deadline_ms) setup.deadline_ms = lim.deadline_ms;
  setup_ctx_t sc = {lm, opts, in};
  lua_pushcfunction(in->L, lm_setup);
  lua_pushlightuserdata(in->L, &sc);
  int rc = kk__lua_pcall_limits(in->L, 1, 0, &setup, e, sizeof e);
  if (rc) {
    kk_stage_error(st, "%s", kk__lmod_first_line(e));
    kk__lmod_destroy(in);
    return rc;
  }
  *state = in;
  return 0;
}

static const char *reason_of(int rc) {
  return rc == KK_EBUDGET ? "budget" : rc == KK_EMEMCAP ? "memcap" : "error";
}

int kk__lmod_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  linst_t *in = state;
  lua_State *L = in->L;
  char e[1024];
  kk_batch_t *out = NULL;
  if (!in->sink && !(out = kk_batch_new(kk_batch_len(b)))) return KK_ENOMEM;
  int top = lua_gettop(L);
  int rc = kk__lua_push_borrowed(L, b, out, e, sizeof e);
  if (rc == 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->proc_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->state_ref);
    lua_pushvalue(L, top + 1);
    lua_pushvalue(L, top + 2);
    rc = kk__lua_pcall(L, 3, 0, e, sizeof e);
    kk__lua_invalidate_borrowed(L, top + 1);
  }
  lua_settop(L, top);
  if (rc) {
    /* The engine logs the failed batch (rate-limited) with this detail. */
    kk_metric_add(kk_stage_counter(st, "kk_lua_errors_total", reason_of(rc),
                                   "Lua calls that failed (budget: instruction "
                                   "budget or deadline, memcap: memory cap, "
                                   "error: a Lua error)"),
                  1);
    kk_stage_error(st, "%s", kk__lmod_first_line(e));
    kk_batch_unref(out);
    return rc;
  }
  if (out && kk_batch_len(out) > 0) {
    kk_batch_set_seq(out, kk_batch_seq(b));
    kk_stage_emit(st, out);
  }
  kk_batch_unref(out);
  return 0;
}
