/*
 * core/testing.c - one stage without a recipe (klimakit/testing.h).
 *
 * Builds what the recipe layer would: an engine with its loop, the stage
 * with validated options, and a capture sink connected after it, then
 * drives the module's callbacks directly.  No journal is opened, so a
 * source's raw messages are decoded here, not ingested.  Loop thread only.
 */
#include <klimakit/testing.h>

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "engine.h"

struct kk_testing {
  kk__engine_t *eng;
  lua_State *L; /* holds the option table's function references */
  kk_stage_t *st, *cap;
  kk_batch_t *got; /* everything the stage emitted */
  int started, stopped;
};

/* The capture sink: its state is the kk_testing_t. */
static int testing_capture(kk_stage_t *st, void *state, kk_batch_t *b) {
  kk_testing_t *t = state;
  (void)st;
  const kk_reading_t *r = kk_batch_readings(b);
  for (size_t i = 0; i < kk_batch_len(b); i++)
    if (kk_batch_push(t->got, &r[i])) return KK_ENOMEM;
  for (size_t i = 0; i < kk_batch_raw_len(b); i++) {
    const kk_raw_t *x = kk_batch_raw(b, i);
    if (kk_batch_push_raw(t->got, x->seq, x->time_ms, x->format, x->meta,
                          x->data, x->len))
      return KK_ENOMEM;
  }
  return 0;
}

static const kk_module_t testing_capture_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "capture",
    .ns = "sink",
    .kind = KK_KIND_SINK,
    .summary = "what a tested stage emitted",
    .description = "The capture sink of klimakit/testing.h.",
    .process = testing_capture};

const kk_module_t *kk_testing_module(const char *ns, const char *name) {
  kk__registry_init();
  return kk__registry_find(ns, name);
}

/* Stage names key the stage's metrics, which live for the process: a
 * stage without an explicit name is numbered by how many testing stages
 * of its module came before in this process ("traffic", "traffic_2"), as
 * the engine numbers the stages of one recipe. */
static void testing_name(kk_stage_t *st) {
  static struct {
    const char *module;
    int n;
  } seen[128];
  static size_t nseen;
  if (kk__opts_stage_name(st->opts)) return;
  size_t i = 0;
  while (i < nseen && strcmp(seen[i].module, st->m->name) != 0)
    i++;
  if (i == nseen) {
    if (nseen == sizeof seen / sizeof seen[0]) return;
    seen[nseen].module = st->m->name;
    seen[nseen++].n = 0;
  }
  if (++seen[i].n == 1) return;
  char buf[128];
  snprintf(buf, sizeof buf, "%s_%d", st->m->name, seen[i].n);
  char *name = strdup(buf);
  if (!name) return;
  free(st->name);
  st->name = name;
}

/* Validates `lua_table` for m; NULL with the message in err. */
static kk_opts_t *testing_opts(lua_State *L, const kk_module_t *m,
                               const char *lua_table, char *err,
                               size_t errlen) {
  if (!lua_table || !*lua_table) {
    lua_pushnil(L);
  } else {
    size_t n = strlen(lua_table) + 8;
    char *code = malloc(n);
    if (!code) return NULL;
    snprintf(code, n, "return %s", lua_table);
    int rc = luaL_dostring(L, code);
    free(code);
    if (rc != LUA_OK) {
      snprintf(err, errlen, "options: %s", lua_tostring(L, -1));
      lua_pop(L, 1);
      return NULL;
    }
  }
  kk_opts_t *o = kk__opts_from_lua(L, -1, m, err, errlen);
  lua_pop(L, 1);
  return o;
}

int kk_testing_new(const kk_module_t *m, const char *lua_table,
                   const char *data_dir, kk_testing_t **out, char *err,
                   size_t errlen) {
  *out = NULL;
  kk_testing_t *t = calloc(1, sizeof *t);
  if (!t) return KK_ENOMEM;
  t->L = luaL_newstate();
  t->eng = kk__engine_new();
  t->got = kk_batch_new(64);
  if (!t->L || !t->eng || !t->got) {
    snprintf(err, errlen, "out of memory");
    kk_testing_free(t, NULL, 0);
    return KK_ENOMEM;
  }
  luaL_openlibs(t->L);
  kk_opts_t *o = testing_opts(t->L, m, lua_table, err, errlen);
  kk_opts_t *co =
      o ? testing_opts(t->L, &testing_capture_module, NULL, err, errlen) : NULL;
  if (!o || !co) {
    if (o) kk__opts_free(o);
    kk_testing_free(t, NULL, 0);
    return KK_EINVAL;
  }
  t->st = kk__engine_add_stage(t->eng, m, o, "testing", 1);
  t->cap =
      kk__engine_add_stage(t->eng, &testing_capture_module, co, "testing", 2);
  if (!t->st || !t->cap) {
    snprintf(err, errlen, "out of memory");
    kk_testing_free(t, NULL, 0);
    return KK_ENOMEM;
  }
  testing_name(t->st);
  int rc = kk__engine_connect(t->st, t->cap, err, errlen);
  if (rc) {
    kk_testing_free(t, NULL, 0);
    return rc;
  }
  t->cap->state = t;
  t->cap->created = 1;
  if (data_dir) {
    size_t n = strlen(data_dir) + strlen(t->st->name) + 16;
    t->st->data_dir = malloc(n);
    if (t->st->data_dir)
      snprintf(t->st->data_dir, n, "%s/stages/%s", data_dir, t->st->name);
  }
  void *state = NULL;
  rc = m->create ? m->create(t->st, t->st->opts, &state) : 0;
  t->st->state = state;
  t->st->created = 1;
  if (rc) {
    snprintf(err, errlen, "%s", t->st->err[0] ? t->st->err : kk_strerror(rc));
    kk_testing_free(t, NULL, 0);
    return rc;
  }
  *out = t;
  return 0;
}

kk_stage_t *kk_testing_stage(kk_testing_t *t) {
  return t->st;
}

uv_loop_t *kk_testing_loop(kk_testing_t *t) {
  return kk__engine_loop(t->eng);
}

void *kk_testing_state(kk_testing_t *t) {
  return t->st->state;
}

int kk_testing_start(kk_testing_t *t) {
  int rc = t->st->m->start ? t->st->m->start(t->st, t->st->state) : 0;
  t->started = rc == 0;
  t->st->started = t->started;
  return rc;
}

int kk_testing_feed(kk_testing_t *t, kk_batch_t *b, int *status) {
  kk_stage_t *st = t->st;
  st->err[0] = 0;
  if (st->m->kind != KK_KIND_SOURCE)
    return st->m->process ? st->m->process(st, st->state, b) : 0;
  if (!st->m->decode) return KK_EINVAL;
  kk_batch_t *out = kk_batch_new(kk_batch_raw_len(b) * 4 + 1);
  if (!out) return KK_ENOMEM;
  uint64_t seq = 0;
  for (size_t i = 0; i < kk_batch_raw_len(b); i++) {
    const kk_raw_t *raw = kk_batch_raw(b, i);
    st->err[0] = 0;
    int rc = st->m->decode(st, st->state, raw, out);
    if (status) status[i] = rc;
    if (rc < 0)
      kk_metric_add(kk_stage_counter(st, "kk_rejected_total", kk_err_name(rc),
                                     "Messages rejected by decoding"),
                    1);
    if (raw->seq > seq) seq = raw->seq;
  }
  kk_batch_set_seq(out, seq);
  kk_stage_emit(st, out);
  kk_batch_unref(out);
  return 0;
}

size_t kk_testing_count(const kk_testing_t *t) {
  return kk_batch_len(t->got);
}

const kk_reading_t *kk_testing_readings(const kk_testing_t *t) {
  return kk_batch_readings(t->got);
}

size_t kk_testing_raw_count(const kk_testing_t *t) {
  return kk_batch_raw_len(t->got);
}

const kk_raw_t *kk_testing_raw(const kk_testing_t *t, size_t i) {
  return kk_batch_raw(t->got, i);
}

void kk_testing_clear(kk_testing_t *t) {
  kk_batch_t *b = kk_batch_new(64);
  if (!b) return; /* keeps the old contents: the caller sees too much */
  kk_batch_unref(t->got);
  t->got = b;
}

static void testing_stopped(kk_stage_t *st) {
  st->stopped = 1;
}

void kk_testing_stop(kk_testing_t *t) {
  kk_stage_t *st = t->st;
  if (!st || t->stopped) return;
  t->stopped = 1;
  if (t->started && st->m->stop) {
    st->m->stop(st, st->state, testing_stopped);
    while (!st->stopped && uv_run(kk__engine_loop(t->eng), UV_RUN_ONCE))
      ;
  }
  st->stopped = 1;
  /* Destroyed here, so that the engine does not destroy it again. */
  if (st->m->destroy && st->created) st->m->destroy(st->state);
  st->state = NULL;
  st->created = 0;
}

/* Lists and closes a handle left open after the stop. */
typedef struct {
  int n;
  char *err;
  size_t errlen, used;
} testing_walk_t;

static void testing_walk(uv_handle_t *h, void *arg) {
  testing_walk_t *w = arg;
  if (uv_is_closing(h)) return;
  if (w->err && w->used < w->errlen) {
    int k =
        snprintf(w->err + w->used, w->errlen - w->used, "%s%s",
                 w->n ? ", " : "", uv_handle_type_name(uv_handle_get_type(h)));
    if (k > 0) w->used += (size_t)k;
  }
  w->n++;
  uv_close(h, NULL);
}

int kk_testing_free(kk_testing_t *t, char *err, size_t errlen) {
  if (!t) return 0;
  testing_walk_t w = {0, errlen ? err : NULL, errlen, 0};
  if (err && errlen) err[0] = 0;
  if (t->eng) {
    kk_testing_stop(t);
    uv_loop_t *loop = kk__engine_loop(t->eng);
    uv_run(loop, UV_RUN_NOWAIT);
    uv_walk(loop, testing_walk, &w);
    uv_run(loop, UV_RUN_DEFAULT);
    kk__engine_free(t->eng);
  }
  kk_batch_unref(t->got);
  if (t->L) lua_close(t->L);
  free(t);
  return w.n;
}
