/* core/lua_stages.c - recipe functions as stages: transform.map,
 * transform.filter and transform.fn.
 *
 * The function lives in the recipe's Lua state (a KK_OPT_FUNCTION option).
 * Per batch there is one protected call, under the stage's budget and
 * deadline: for map and filter a C driver loops over the readings and
 * calls the function with one reusable reading view, so the hot path makes
 * no table and no userdata per reading.  A failing call (error, budget,
 * memory cap) loses that batch for this stage only; it is counted in
 * kk_lua_errors_total{stage,reason} and returned with its message through
 * kk_stage_error(), which the engine logs (rate-limited). */
#include "core.h"
#include "lua_sandbox.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LS_MAP, LS_FILTER, LS_FN };

typedef struct lstage {
  int kind;
  lua_State *L; /* the recipe's state; not ours to close */
  int ref;      /* the function, owned by the opts */
  kk__lua_limits_t lim;
} lstage_t;

/* Readings per protected call at most.  The budget and the deadline are
 * per call; a batch is as large as what arrived while the loop was busy
 * (thousands of readings after a pause, or on a loaded machine), so a
 * call over the whole batch could miss a deadline that its readings meet
 * one chunk at a time, and its raw messages would go to the dead letters
 * although nothing is wrong with them. */
#define LS_CHUNK 1024u

typedef struct drive {
  lstage_t *s;
  kk_batch_t *in, *out;
  size_t from, to; /* the readings of this call */
} drive_t;

/* drive(ctx): map or filter readings [from, to) of ctx->in into ctx->out. */
static int drive(lua_State *L) {
  drive_t *d = lua_touserdata(L, 1);
  const kk_reading_t *rs = kk_batch_readings(d->in);
  size_t n = d->to;
  int map = d->s->kind == LS_MAP;
  kk_reading_t *view = kk__lua_push_reading(L, NULL); /* 2 */
  lua_rawgeti(L, LUA_REGISTRYINDEX, d->s->ref);       /* 3 */
  for (size_t i = d->from; i < n; i++) {
    *view = rs[i];
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 2);
    lua_call(L, 1, 1);
    kk_reading_t r = rs[i];
    int keep;
    if (!map) {
      keep = lua_toboolean(L, -1);
    } else {
      switch (lua_type(L, -1)) {
      case LUA_TNIL:
        keep = 0;
        break;
      case LUA_TBOOLEAN:
        keep = lua_toboolean(L, -1);
        break;
      case LUA_TNUMBER:
        r.value = lua_tonumber(L, -1);
        keep = 1;
        break;
      case LUA_TTABLE:
      case LUA_TUSERDATA:
        kk__lua_check_reading(L, -1, &rs[i], &r, "map");
        keep = 1;
        break;
      default:
        return luaL_error(L,
                          "map: fn must return nil (drop), a number (new "
                          "value), a reading or a table, got %s",
                          luaL_typename(L, -1));
      }
    }
    lua_pop(L, 1);
    if (keep && kk_batch_push(d->out, &r) != 0)
      return luaL_error(L, "%s: out of memory", map ? "map" : "filter");
  }
  return 0;
}

static const char *reason_of(int rc) {
  return rc == KK_EBUDGET ? "budget" : rc == KK_EMEMCAP ? "memcap" : "error";
}

/* One protected call over readings [from, to) of b (fn: over `part`, a
 * batch of just those readings, or b itself when it is one chunk). */
static int ls_call(lstage_t *s, kk_batch_t *b, kk_batch_t *part, size_t from,
                   size_t to, kk_batch_t *out, char *e, size_t elen) {
  lua_State *L = s->L;
  int top = lua_gettop(L), rc;
  if (s->kind == LS_FN) {
    rc = kk__lua_push_borrowed(L, part ? part : b, out, e, elen);
    if (rc == 0) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref);
      lua_pushvalue(L, top + 1);
      lua_pushvalue(L, top + 2);
      rc = kk__lua_pcall_limits(L, 2, 0, &s->lim, e, elen);
      kk__lua_invalidate_borrowed(L, top + 1);
    }
  } else {
    drive_t d = {s, b, out, from, to};
    lua_pushcfunction(L, drive);
    lua_pushlightuserdata(L, &d);
    rc = kk__lua_pcall_limits(L, 1, 0, &s->lim, e, elen);
  }
  lua_settop(L, top);
  return rc;
}

/* Calls the function chunk by chunk (LS_CHUNK readings each).  A batch
 * that carries raw messages (a fn right after a source) is one call. */
static int ls_run(lstage_t *s, kk_batch_t *b, kk_batch_t *out, char *e,
                  size_t elen) {
  size_t n = kk_batch_len(b);
  /* A batch with raw messages stays whole: a chunk could not carry
   * them to batch:raw(). */
  if (n <= LS_CHUNK || kk_batch_raw_len(b) > 0)
    return ls_call(s, b, NULL, 0, n, out, e, elen);
  const kk_reading_t *rs = kk_batch_readings(b);
  kk_batch_t *part = NULL;
  int rc = 0;
  for (size_t from = 0; from < n && rc == 0; from += LS_CHUNK) {
    size_t to = n - from > LS_CHUNK ? from + LS_CHUNK : n;
    if (s->kind == LS_FN) {
      if (!part && !(part = kk_batch_new(LS_CHUNK))) return KK_ENOMEM;
      kk__batch_clear(part);
      for (size_t i = from; i < to; i++)
        if (kk_batch_push(part, &rs[i]) != 0) {
          kk_batch_unref(part);
          return KK_ENOMEM;
        }
      kk_batch_set_seq(part, kk_batch_seq(b));
    }
    rc = ls_call(s, b, part, from, to, out, e, elen);
  }
  kk_batch_unref(part);
  return rc;
}

static int ls_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  lstage_t *s = state;
  lua_State *L = s->L;
  char e[1024];
  size_t n = kk_batch_len(b);
  if (n == 0 && s->kind != LS_FN) return 0;
  kk_batch_t *out = kk_batch_new(n);
  if (!out) return KK_ENOMEM;
  /* The recipe's state runs every recipe stage: name the one running, so
   * that a bounded library function's error says which stage it was. */
  char prev[64];
  snprintf(prev, sizeof prev, "%s", kk__lua_name(L));
  kk__lua_set_name(L, kk_stage_name(st));
  int rc = ls_run(s, b, out, e, sizeof e);
  kk__lua_set_name(L, prev);
  if (rc) {
    kk_metric_add(kk_stage_counter(st, "kk_lua_errors_total", reason_of(rc),
                                   "Lua calls that failed (budget: instruction "
                                   "budget or deadline, memcap: memory cap, "
                                   "error: a Lua error)"),
                  1);
    /* The engine logs the failed batch (rate-limited) with this detail;
     * the first line holds the message and the place. */
    char *nl = strchr(e, '\n');
    if (nl) *nl = 0;
    kk_stage_error(st, "%s", e);
    kk_batch_unref(out);
    return rc;
  }
  if (s->kind == LS_FILTER && kk_batch_len(out) == n) {
    kk_stage_emit(st, b); /* everything kept: pass the batch on as is */
  } else if (kk_batch_len(out) > 0) {
    kk_batch_set_seq(out, kk_batch_seq(b));
    kk_stage_emit(st, out);
  }
  kk_batch_unref(out);
  return 0;
}

static int ls_create(kk_stage_t *st, const kk_opts_t *opts, void **state,
                     int kind) {
  lstage_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  s->kind = kind;
  if (kk__opt_function(opts, "fn", &s->L, &s->ref) != 0 || !s->L) {
    kk_stage_error(st, "option 'fn' must be a function");
    free(s);
    return KK_EMISSING;
  }
  s->lim.budget = (uint64_t)kk_opt_int(opts, "budget");
  s->lim.deadline_ms = kk_opt_duration_ms(opts, "deadline");
  *state = s;
  return 0;
}

static int map_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  return ls_create(st, o, state, LS_MAP);
}
static int filter_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  return ls_create(st, o, state, LS_FILTER);
}
static int fn_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  return ls_create(st, o, state, LS_FN);
}

static void ls_destroy(void *state) {
  free(state);
}

/* Unset limits (0) take the recipe state's, i.e. kk.config's lua_budget
 * and lua_deadline. */
#define LS_LIMITS                                                              \
  {"budget",                                                                   \
   KK_OPT_INT,                                                                 \
   0,                                                                          \
   NULL,                                                                       \
   "Lua VM instructions the function may use per batch (default: kk.config "   \
   "lua_budget, 50000000).",                                                   \
   NULL,                                                                       \
   1000,                                                                       \
   1e15},                                                                      \
      {"deadline",                                                             \
       KK_OPT_DURATION,                                                        \
       0,                                                                      \
       NULL,                                                                   \
       "CPU time the function may take per batch (default: kk.config "         \
       "lua_deadline, 50ms).",                                                 \
       NULL,                                                                   \
       0,                                                                      \
       0},                                                                     \
  {                                                                            \
    NULL, 0, 0, NULL, NULL, NULL, 0, 0                                         \
  }

static const kk_option_t map_options[] = {
    {"fn", KK_OPT_FUNCTION, KK_OPT_REQUIRED, NULL,
     "fn(r) for each reading r: return nil or false to drop it, true to keep "
     "it, a number for a new value, or a reading or table {thing=, "
     "property=, unit=, time=, value=} for a new reading (fields left out "
     "are r's).",
     NULL, 0, 0},
    LS_LIMITS};

static const kk_option_t filter_options[] = {
    {"fn", KK_OPT_FUNCTION, KK_OPT_REQUIRED, NULL,
     "fn(r) for each reading r: a truthy result keeps it.", NULL, 0, 0},
    LS_LIMITS};

static const kk_option_t fn_options[] = {
    {"fn", KK_OPT_FUNCTION, KK_OPT_REQUIRED, NULL,
     "fn(batch, emit) for each batch: read readings with batch:readings(), "
     "#batch, batch:get(i), send readings on with emit(r).",
     NULL, 0, 0},
    LS_LIMITS};

#define LS_DESC_TAIL                                                           \
  "\n\nThe function runs in the recipe's Lua state under the stage's "         \
  "instruction budget and deadline, which start afresh for every batch "       \
  "(a batch of more than 1024 readings is handed over in chunks of 1024, "     \
  "each under its own).  "                                                     \
  "When it fails (a Lua error, the budget, the memory cap) the batch is "      \
  "dropped for this stage only, counted in "                                   \
  "`kk_lua_errors_total{stage,reason}` and logged.  A reading view `r` is "    \
  "reused for the next reading: copy its fields to keep them."

const kk_module_t kk__map_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "map",
    .ns = "transform",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Changes, replaces or drops each reading with a Lua function",
    .description =
        "Calls `fn(r)` for every reading.  Returning a number keeps the "
        "datastream and time with a new value (`function(r) return r.value "
        "* 1.8 + 32 end`); returning a table makes a new reading from the "
        "fields given plus r's; nil drops the reading." LS_DESC_TAIL,
    .options = map_options,
    .create = map_create,
    .process = ls_process,
    .destroy = ls_destroy,
};

const kk_module_t kk__filter_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "filter",
    .ns = "transform",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Keeps the readings a Lua function accepts",
    .description = "Calls `fn(r)` for every reading and keeps those for "
                   "which it returns a truthy value (`function(r) return "
                   "r.property == \"co2\" end`)." LS_DESC_TAIL,
    .options = filter_options,
    .create = filter_create,
    .process = ls_process,
    .destroy = ls_destroy,
};

const kk_module_t kk__luafn_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "fn",
    .ns = "transform",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Runs a Lua function on each batch",
    .description = "Calls `fn(batch, emit)` once per batch; the function "
                   "sends readings on with `emit(r)` (a reading view or a "
                   "table {thing=, property=, unit=, time=, value=}).  Use it "
                   "for work across readings, such as pairing temperature "
                   "and humidity." LS_DESC_TAIL,
    .options = fn_options,
    .create = fn_create,
    .process = ls_process,
    .destroy = ls_destroy,
};
