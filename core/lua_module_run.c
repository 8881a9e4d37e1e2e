/* core/lua_module_run.c - the stages made from a Lua module.
 *
 * Every stage gets its own sandboxed state, loads the module file again
 * there, calls `create(opts)` for its state and then `process` for each
 * batch, under the state's budget, deadline and memory cap.  Runs on the
 * loop thread. */
#include "lua_module.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct linst {
  lua_State *L;
  int proc_ref, state_ref;
  int sink;
  /* Modules with save/restore (lm->persist), like the C calculators:
   * the state saved covers every journal record up to `seq`. */
  kk_stage_t *st;
  int persist, save_ref, restore_ref;
  uint64_t seq;         /* last journal record absorbed */
  uint64_t snapshot_ms; /* save period */
  uv_timer_t timer;
  int timer_open;
  kk_stop_cb stop_cb;
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
  if (sc->lm->persist) {
    if (lua_getfield(L, mod, "save") != LUA_TFUNCTION ||
        lua_getfield(L, mod, "restore") != LUA_TFUNCTION)
      return luaL_error(L, "%s no longer has save and restore", sc->lm->path);
    sc->in->restore_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sc->in->save_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
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
  in->proc_ref = in->state_ref = in->save_ref = in->restore_ref = LUA_NOREF;
  in->sink = lm->m.kind == KK_KIND_SINK;
  in->st = st;
  in->persist = lm->persist;
  if (in->persist) in->snapshot_ms = kk_opt_duration_ms(opts, "snapshot");
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

/* ---- saved state ---------------------------------------------------- */

/* Pushes the JSON value j as Lua (objects and arrays as tables).  Runs
 * under kk__lua_pcall. */
static void push_json(lua_State *L, const cJSON *j, int depth) {
  if (depth > 32) luaL_error(L, "saved state nested too deeply");
  luaL_checkstack(L, 4, "saved state");
  if (cJSON_IsBool(j)) {
    lua_pushboolean(L, cJSON_IsTrue(j));
  } else if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (d == (double)(lua_Integer)d && d > -9.0e15 && d < 9.0e15)
      lua_pushinteger(L, (lua_Integer)d);
    else
      lua_pushnumber(L, d);
  } else if (cJSON_IsString(j)) {
    lua_pushstring(L, j->valuestring);
  } else if (cJSON_IsArray(j)) {
    lua_newtable(L);
    lua_Integer i = 1;
    for (const cJSON *c = j->child; c; c = c->next) {
      push_json(L, c, depth + 1);
      lua_rawseti(L, -2, i++);
    }
  } else if (cJSON_IsObject(j)) {
    lua_newtable(L);
    for (const cJSON *c = j->child; c; c = c->next) {
      push_json(L, c, depth + 1);
      lua_setfield(L, -2, c->string);
    }
  } else {
    lua_pushnil(L);
  }
}

typedef struct restore_ctx {
  linst_t *in;
  const cJSON *saved;
} restore_ctx_t;

static int lm_restore(lua_State *L) {
  restore_ctx_t *rc = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rc->in->restore_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rc->in->state_ref);
  push_json(L, rc->saved, 0);
  lua_call(L, 2, 0);
  return 0;
}

typedef struct save_ctx {
  linst_t *in;
  char *text; /* JSON of what save(state) returned */
} save_ctx_t;

static int lm_save(lua_State *L) {
  save_ctx_t *sc = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, sc->in->save_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, sc->in->state_ref);
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1))
    return luaL_error(L, "save(state) must return a table, got %s",
                      luaL_typename(L, -1));
  cJSON *j = kk__lua_to_json(L, -1);
  if (!j)
    return luaL_error(L, "save(state) returned a table klimakit cannot "
                         "keep: only strings, numbers, booleans and tables "
                         "(string keys or a sequence), 32 levels deep");
  sc->text = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!sc->text) return luaL_error(L, "out of memory");
  return 0;
}

static void state_path(kk_stage_t *st, char *buf, size_t len, int tmp) {
  snprintf(buf, len, "%s/state.json%s", kk_stage_data_dir(st),
           tmp ? ".tmp" : "");
}

/* Saves the state to <stage dir>/state.json (written to a temporary
 * file, synced, renamed), then holds the journal at its position: after
 * a crash the engine replays from there and process() skips what the
 * state already has.  Without a journal position yet there is nothing
 * to hold. */
static int lmod_save(linst_t *in) {
  kk_stage_t *st = in->st;
  char e[1024], path[4200], tmp[4200];
  save_ctx_t sc = {in, NULL};
  lua_pushcfunction(in->L, lm_save);
  lua_pushlightuserdata(in->L, &sc);
  kk__lua_limits_t lim = {0, 0, SETUP_DEADLINE_MS};
  int rc = kk__lua_pcall_limits(in->L, 1, 0, &lim, e, sizeof e);
  if (rc) {
    free(sc.text);
    kk_stage_log(st, KK_LOG_ERROR, "state not saved: %s",
                 kk__lmod_first_line(e));
    return rc;
  }
  rc = kk_mkdirs(kk_stage_data_dir(st), 0);
  state_path(st, path, sizeof path, 0);
  state_path(st, tmp, sizeof tmp, 1);
  FILE *f = rc ? NULL : fopen(tmp, "w");
  if (!rc && !f) rc = -errno;
  if (f) {
    fprintf(f,
            "{\"format\":\"klimakit-lua-state 1\",\"seq\":%" PRIu64
            ",\"state\":%s}\n",
            in->seq, sc.text);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = -errno;
    if (fclose(f) != 0 && !rc) rc = -errno;
    if (!rc && rename(tmp, path) != 0) rc = -errno;
    if (rc) unlink(tmp);
  }
  free(sc.text);
  if (rc) {
    kk_stage_log(st, KK_LOG_ERROR, "cannot save state to %s: %s", path,
                 kk_strerror(rc));
    return rc;
  }
  if (in->seq) kk_stage_hold(st, in->seq);
  return 0;
}

static void lmod_tick(uv_timer_t *h) {
  lmod_save(h->data);
}

int kk__lmod_start(kk_stage_t *st, void *state) {
  linst_t *in = state;
  char path[4200], e[1024];
  state_path(st, path, sizeof path, 0);
  FILE *f = fopen(path, "r");
  if (!f && errno != ENOENT) {
    kk_stage_error(st, "cannot read saved state %s: %s", path, strerror(errno));
    return KK_EIO;
  }
  if (f) {
    kk_buf_t b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
      kk_buf_put(&b, chunk, n);
    fclose(f);
    cJSON *root = b.len && !b.oom ? cJSON_ParseWithLength(b.p, b.len) : NULL;
    kk_buf_free(&b);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(root, "seq");
    const cJSON *saved = cJSON_GetObjectItemCaseSensitive(root, "state");
    if (!cJSON_IsString(fmt) ||
        strcmp(fmt->valuestring, "klimakit-lua-state 1") != 0 ||
        !cJSON_IsNumber(seq) || seq->valuedouble < 0 || !saved) {
      cJSON_Delete(root);
      kk_stage_error(st,
                     "%s: not a saved state of this version (move it away "
                     "to start afresh)",
                     path);
      return KK_ECORRUPT;
    }
    in->seq = (uint64_t)seq->valuedouble;
    restore_ctx_t rc = {in, saved};
    lua_pushcfunction(in->L, lm_restore);
    lua_pushlightuserdata(in->L, &rc);
    kk__lua_limits_t lim = {0, 0, SETUP_DEADLINE_MS};
    int r = kk__lua_pcall_limits(in->L, 1, 0, &lim, e, sizeof e);
    cJSON_Delete(root);
    if (r) {
      kk_stage_error(st, "restore(state, saved) from %s failed: %s", path,
                     kk__lmod_first_line(e));
      return r;
    }
    if (in->seq) kk_stage_hold(st, in->seq);
  }
  if (in->snapshot_ms) {
    uv_timer_init(kk_stage_loop(st), &in->timer);
    in->timer.data = in;
    in->timer_open = 1;
    uv_timer_start(&in->timer, lmod_tick, in->snapshot_ms, in->snapshot_ms);
    uv_unref((uv_handle_t *)&in->timer);
  }
  return 0;
}

static void lmod_timer_closed(uv_handle_t *h) {
  linst_t *in = h->data;
  lmod_save(in);
  in->stop_cb(in->st);
}

void kk__lmod_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  linst_t *in = state;
  in->stop_cb = cb;
  if (in->timer_open) {
    in->timer_open = 0;
    uv_close((uv_handle_t *)&in->timer, lmod_timer_closed);
    return;
  }
  lmod_save(in);
  cb(st);
}

static const char *reason_of(int rc) {
  return rc == KK_EBUDGET ? "budget" : rc == KK_EMEMCAP ? "memcap" : "error";
}

/* One call of process(state, batch, emit) on `b`; *save_now is set when
 * it returned true. */
static int lmod_call(linst_t *in, kk_batch_t *b, kk_batch_t *out, int *save_now,
                     char *e, size_t elen) {
  lua_State *L = in->L;
  int top = lua_gettop(L);
  int rc = kk__lua_push_borrowed(L, b, out, e, elen);
  if (rc == 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->proc_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->state_ref);
    lua_pushvalue(L, top + 1);
    lua_pushvalue(L, top + 2);
    rc = kk__lua_pcall(L, 3, 1, e, elen);
    kk__lua_invalidate_borrowed(L, top + 1);
  }
  /* process may return true: save the state now (an alert that fired
   * must not fire again after a crash). */
  if (rc == 0 && lua_toboolean(L, -1)) *save_now = 1;
  lua_settop(L, top);
  return rc;
}

/* Calls process on chunks of LMOD_CHUNK readings, each under its own
 * budget and deadline, as the recipe's Lua transforms do: a large batch
 * (a replay, a decoder that makes six readings of each of 1024
 * messages) would otherwise miss a deadline its readings each meet, and
 * its healthy records would go to the dead letters.  A batch that
 * carries raw messages stays whole (batch:raw() needs them). */
#define LMOD_CHUNK 1024u

static int lmod_run(linst_t *in, kk_batch_t *b, kk_batch_t *out, int *save_now,
                    char *e, size_t elen) {
  size_t n = kk_batch_len(b);
  if (n <= LMOD_CHUNK || kk_batch_raw_len(b) > 0)
    return lmod_call(in, b, out, save_now, e, elen);
  const kk_reading_t *rs = kk_batch_readings(b);
  kk_batch_t *part = kk_batch_new(LMOD_CHUNK);
  if (!part) return KK_ENOMEM;
  int rc = 0;
  for (size_t from = 0; from < n && rc == 0; from += LMOD_CHUNK) {
    size_t to = n - from > LMOD_CHUNK ? from + LMOD_CHUNK : n;
    kk__batch_clear(part);
    for (size_t i = from; i < to && rc == 0; i++)
      if (kk_batch_push(part, &rs[i]) != 0) rc = KK_ENOMEM;
    kk_batch_set_seq(part, kk_batch_seq(b));
    if (rc == 0) rc = lmod_call(in, part, out, save_now, e, elen);
  }
  kk_batch_unref(part);
  return rc;
}

int kk__lmod_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  linst_t *in = state;
  char e[1024];
  kk_batch_t *out = NULL;
  uint64_t seq = kk_batch_seq(b);
  if (in->persist && seq) {
    /* Journal positions only grow while the engine runs: a batch at or
     * below the last absorbed one is a replay the saved state has. */
    if (seq <= in->seq) return 0;
  }
  if (!in->sink && !(out = kk_batch_new(kk_batch_len(b)))) return KK_ENOMEM;
  int save_now = 0;
  int rc = lmod_run(in, b, out, &save_now, e, sizeof e);
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
  if (in->persist) {
    if (seq > in->seq) in->seq = seq;
    /* After the emit: a sink downstream has what the state says was
     * sent before the state says so. */
    if (save_now) lmod_save(in);
  }
  return 0;
}
