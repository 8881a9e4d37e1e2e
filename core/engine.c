/* core/engine.c - the stage services and the graph.
 *
 * A recipe adds stages (kk__engine_add_stage) and connects them
 * (kk__engine_connect); kk__engine_check() then refuses graphs that
 * could not run.  Delivery is in engine_flow.c, the replay in
 * engine_replay.c, start and shutdown in engine_run.c.  Everything here
 * runs on the loop thread. */
#include "engine_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- stage services ------------------------------------------------ */

uv_loop_t *kk_stage_loop(kk_stage_t *st) {
  return &st->eng->loop;
}
const char *kk_stage_name(const kk_stage_t *st) {
  return st->name;
}
const kk_module_t *kk_stage_module(const kk_stage_t *st) {
  return st->m;
}
const char *kk_stage_data_dir(const kk_stage_t *st) {
  return st->data_dir;
}
int kk_stage_paused(const kk_stage_t *st) {
  return st->eng->paused;
}
int kk_stage_replaying(const kk_stage_t *st) {
  return st->eng->replaying;
}

void kk_stage_error(kk_stage_t *st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->err, sizeof st->err, fmt, ap);
  va_end(ap);
}

const char *kk_stage_last_error(const kk_stage_t *st) {
  return st->err;
}

void kk_stage_log(kk_stage_t *st, kk_log_level_t level, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  kk_log(level, st->m->ns, st->name, "%s", msg);
}

kk_metric_t *kk_stage_counter(kk_stage_t *st, const char *name,
                              const char *reason, const char *help) {
  char labels[256];
  if (reason)
    snprintf(labels, sizeof labels, "stage=\"%s\",reason=\"%s\"", st->name,
             reason);
  else
    snprintf(labels, sizeof labels, "stage=\"%s\"", st->name);
  return kk_counter(name, labels, help);
}

/* ---- engine and graph ---------------------------------------------- */

kk__engine_t *kk__engine_new(void) {
  kk__engine_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  if (uv_loop_init(&e->loop) != 0) {
    free(e);
    return NULL;
  }
  e->loop.data = e;
  uv_mutex_init(&e->done_lock);
  return e;
}

uv_loop_t *kk__engine_loop(kk__engine_t *e) {
  return &e->loop;
}
size_t kk__engine_nstages(const kk__engine_t *e) {
  return e->n;
}
kk_stage_t *kk__engine_stage(const kk__engine_t *e, size_t i) {
  return i < e->n ? e->stages[i] : NULL;
}

kk_stage_t *kk__engine_add_stage(kk__engine_t *e, const kk_module_t *m,
                                 kk_opts_t *opts, const char *file, int line) {
  kk_stage_t *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  if (e->n == e->cap) {
    size_t ncap = e->cap ? e->cap * 2 : 16;
    kk_stage_t **ns = realloc(e->stages, ncap * sizeof *ns);
    if (!ns) {
      free(st);
      return NULL;
    }
    e->stages = ns;
    e->cap = ncap;
  }
  st->eng = e;
  st->m = m;
  st->opts = opts;
  st->file = strdup(file ? file : "?");
  st->line = line;
  st->index = e->n;
  st->err_rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 5);
  /* Names must be stable across restarts (they key journal cursors):
   * the explicit name, else the module name numbered by occurrence. */
  const char *given = kk__opts_stage_name(opts);
  char buf[128];
  if (given) {
    snprintf(buf, sizeof buf, "%s", given);
  } else {
    int nth = 1;
    /* Modules of different namespaces may share a name (source.http,
     * publish.http): count by name so that their defaults differ. */
    for (size_t i = 0; i < e->n; i++)
      if (strcmp(e->stages[i]->m->name, m->name) == 0) nth++;
    if (nth == 1)
      snprintf(buf, sizeof buf, "%s", m->name);
    else
      snprintf(buf, sizeof buf, "%s_%d", m->name, nth);
  }
  st->name = strdup(buf);
  st->queue_cap = kk__opts_queue(opts);
  e->stages[e->n++] = st;
  return st;
}

int kk__engine_connect(kk_stage_t *from, kk_stage_t *to, char *err,
                       size_t errlen) {
  if (from->m->kind == KK_KIND_SINK) {
    snprintf(err, errlen,
             "%s.%s '%s' is a sink: it cannot send data on to '%s'",
             from->m->ns, from->m->name, from->name, to->name);
    return KK_EGRAPH;
  }
  if (to->m->kind == KK_KIND_SOURCE) {
    snprintf(err, errlen,
             "%s.%s '%s' is a source: it cannot take input from '%s'",
             to->m->ns, to->m->name, to->name, from->name);
    return KK_EGRAPH;
  }
  if (from == to) {
    snprintf(err, errlen, "stage '%s' cannot feed itself", from->name);
    return KK_EGRAPH;
  }
  for (size_t i = 0; i < from->nout; i++)
    if (from->out[i] == to) return 0; /* connecting twice is harmless */
  if (from->nout == from->capout) {
    size_t ncap = from->capout ? from->capout * 2 : 4;
    kk_stage_t **n = realloc(from->out, ncap * sizeof *n);
    if (!n) return KK_ENOMEM;
    from->out = n;
    from->capout = ncap;
  }
  from->out[from->nout++] = to;
  to->nin++;
  return 0;
}

/* Depth-first search for a cycle; colour 1 = on the stack, 2 = done. */
static kk_stage_t *find_cycle(kk_stage_t *st, unsigned char *colour) {
  colour[st->index] = 1;
  for (size_t i = 0; i < st->nout; i++) {
    kk_stage_t *t = st->out[i];
    if (colour[t->index] == 1) return t;
    if (colour[t->index] == 0) {
      kk_stage_t *c = find_cycle(t, colour);
      if (c) return c;
    }
  }
  colour[st->index] = 2;
  return NULL;
}

int kk__engine_check(kk__engine_t *e, char *err, size_t errlen) {
  if (e->n == 0) {
    snprintf(err, errlen, "recipe builds no pipeline (no stage was created)");
    return KK_EGRAPH;
  }
  unsigned char *colour = calloc(e->n, 1);
  if (!colour) return KK_ENOMEM;
  for (size_t i = 0; i < e->n; i++) {
    if (colour[i]) continue;
    kk_stage_t *c = find_cycle(e->stages[i], colour);
    if (c) {
      snprintf(err, errlen, "%s:%d: pipeline has a cycle through '%s'", c->file,
               c->line, c->name);
      free(colour);
      return KK_EGRAPH;
    }
  }
  free(colour);
  int nsources = 0;
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    const char *what = NULL;
    if (st->m->kind == KK_KIND_SOURCE) nsources++;
    if (st->m->kind == KK_KIND_SOURCE && st->nout == 0)
      what = "has no output (connect it with kk.pipe)";
    else if (st->m->kind != KK_KIND_SOURCE && st->nin == 0)
      what = "has no input (connect a source to it with kk.pipe)";
    else if (st->m->kind == KK_KIND_TRANSFORM && st->nout == 0)
      what = "has no output: its results would be lost (pipe it into a sink)";
    if (what) {
      snprintf(err, errlen, "%s:%d: %s.%s '%s' %s", st->file, st->line,
               st->m->ns, st->m->name, st->name, what);
      return KK_EGRAPH;
    }
  }
  for (size_t i = 0; i < e->n; i++) {
    /* Names become file names (journal cursors, stage directories). */
    kk_stage_t *st = e->stages[i];
    const char *p = st->name;
    size_t len = strlen(p);
    int ok = len > 0 && len < 100 && p[0] != '.' &&
             !(len >= 4 && strcmp(p + len - 4, ".tmp") == 0);
    for (; *p && ok; p++)
      ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.';
    if (!ok) {
      snprintf(err, errlen,
               "%s:%d: stage name '%s' must be 1-99 letters, digits, '_', "
               "'-' or '.', not start with '.' nor end in \".tmp\"",
               st->file, st->line, st->name);
      return KK_EGRAPH;
    }
  }
  for (size_t i = 0; i < e->n; i++)
    for (size_t k = i + 1; k < e->n; k++)
      if (strcmp(e->stages[i]->name, e->stages[k]->name) == 0) {
        kk_stage_t *st = e->stages[k];
        snprintf(err, errlen, "%s:%d: stage name '%s' is used twice", st->file,
                 st->line, st->name);
        return KK_EGRAPH;
      }
  (void)nsources;
  return 0;
}

void kk__engine_free(kk__engine_t *e) {
  if (!e) return;
  kk__engine_later_free(e);
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->destroy && (st->created || st->state)) st->m->destroy(st->state);
    kk__opts_free(st->opts);
    free(st->out);
    free(st->fifo);
    free(st->name);
    free(st->file);
    free(st->data_dir);
    free(st);
  }
  free(e->stages);
  free(e->done_q);
  uv_mutex_destroy(&e->done_lock);
  if (uv_loop_close(&e->loop) == UV_EBUSY) {
    kk_log(KK_LOG_ERROR, "core", "engine", "loop closed with live handles");
  }
  free(e);
}
