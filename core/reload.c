/* core/reload.c - reloading the recipe in the running process.
 *
 * SIGHUP (`klimakit reload`, systemd's ExecReload) re-reads the recipe
 * and checks it the way `klimakit check` does: the Lua runs, every option
 * is validated and every stage is created and destroyed again.  On any
 * error the running pipeline goes on untouched and the errors are
 * logged (and written to <data_dir>/reload.status for `klimakit reload`).
 * Otherwise the running pipeline is drained exactly as on SIGTERM
 * (sources stop and stop acknowledging, sinks finish, cursors are saved)
 * and the new one is started in the same process on the same data
 * directory: the journal stays, sinks find their cursors by stage name
 * and replay what they had not finished, stages with saved state
 * (kk_stage_hold) find it under their names.  Nothing acknowledged is
 * lost: what a source acknowledged is in the journal, and what it had not
 * acknowledged its peer sends again (MQTT QoS 1 with a persistent
 * session, HTTP/CoAP retries).
 *
 * The data directory cannot change on a reload (it holds the journal
 * the new pipeline must continue); that needs a restart.  Runs on the
 * loop thread. */
#include "reload.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_impl.h"
#include "lua_sandbox.h"

#define EXIT_USAGE 2
#define EXIT_RECIPE 3

static struct {
  kk__engine_t *e;       /* the engine running now */
  const char *path;      /* the recipe file */
  const char *data_dir;  /* of the running recipe */
  kk__recipe_t *pending; /* checked, waiting for the drain */
  int cancelled;         /* a stop signal came during the drain */
  uv_signal_t hup, term, intr;
  int attached;
  uint64_t t_hup, t_checked; /* uv_hrtime() of the request, of its check */
} rl;

static volatile sig_atomic_t stop_between; /* SIGTERM between two engines */

/* ---- the status file `klimakit reload` waits for ---------------------- */

static void status_path(const char *data_dir, const char *name, char *buf,
                        size_t len) {
  snprintf(buf, len, "%s/%s", data_dir, name);
}

static unsigned long status_generation(const char *data_dir) {
  char path[4200];
  status_path(data_dir, "reload.status", path, sizeof path);
  FILE *f = fopen(path, "r");
  unsigned long g = 0;
  if (f) {
    if (fscanf(f, "generation %lu", &g) != 1) g = 0;
    fclose(f);
  }
  return g;
}

/* Replaces <data_dir>/reload.status: "generation N", "result R", then
 * the message lines. */
static void status_write(const char *data_dir, const char *result,
                         const char *text) {
  char path[4200], tmp[4300];
  unsigned long g = status_generation(data_dir) + 1;
  status_path(data_dir, "reload.status", path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "generation %lu\nresult %s\n%s", g, result, text ? text : "");
  if (fclose(f) == 0)
    rename(tmp, path);
  else
    remove(tmp);
}

/* ---- checking the new recipe ------------------------------------------ */

/* Loads and checks the recipe again; returns it when it may replace the
 * running one, else NULL with every error logged and in *report. */
static kk__recipe_t *check_new(char **report) {
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  kk__lua_limits_t saved;
  kk__lua_default_limits(&saved);
  kk__recipe_t *nr = kk__recipe_load(rl.path);
  size_t bad = 0;
  if (!nr) {
    if (m) fprintf(m, "out of memory\n");
    bad = 1;
  } else {
    bad = kk__recipe_nerrors(nr);
    for (size_t i = 0; m && i < bad; i++)
      fprintf(m, "%s\n", kk__recipe_error(nr, i));
    if (!bad && m) {
      const kk__engine_cfg_t *c = kk__recipe_config(nr);
      if (strcmp(c->data_dir, rl.data_dir) != 0) {
        fprintf(m,
                "%s: data_dir changed from %s to %s: a reload keeps the "
                "journal, so this needs a restart\n",
                rl.path, rl.data_dir, c->data_dir);
        bad++;
      } else {
        kk__engine_t *ne = kk__recipe_engine(nr);
        bad += kk__engine_try_create(ne, c, m);
        /* kk__engine_run sets each stage's directory again. */
        for (size_t i = 0; i < kk__engine_nstages(ne); i++) {
          kk_stage_t *st = kk__engine_stage(ne, i);
          free(st->data_dir);
          st->data_dir = NULL;
        }
      }
    }
  }
  if (m) fclose(m);
  *report = text;
  if (!bad) return nr;
  /* Loading set the process's Lua defaults from the new kk.config. */
  kk__lua_set_default_limits(&saved);
  for (char *p = text, *nl; p && *p; p = nl + 1) {
    nl = strchr(p, '\n');
    if (!nl) nl = p + strlen(p) - 1;
    kk_log(KK_LOG_ERROR, "core", "reload", "%.*s", (int)(nl - p), p);
  }
  kk_log(KK_LOG_ERROR, "core", "reload",
         "reload refused: %zu error%s in %s; the running pipeline goes on "
         "unchanged",
         bad, bad == 1 ? "" : "s", rl.path);
  kk__recipe_free(nr);
  return NULL;
}

static void on_hup(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  kk__engine_t *e = rl.e;
  if (!e || e->stopping || rl.pending) {
    const char *why = rl.pending ? "already reloading" : "stopping";
    kk_log(KK_LOG_INFO, "core", "reload", "SIGHUP ignored: the pipeline is %s",
           why);
    /* A reload already under way will write its own outcome. */
    if (!rl.pending && rl.data_dir) {
      char msg[64];
      snprintf(msg, sizeof msg, "ignored: the pipeline is %s\n", why);
      status_write(rl.data_dir, "failed", msg);
    }
    return;
  }
  kk_log(KK_LOG_INFO, "core", "reload", "SIGHUP: re-reading %s", rl.path);
  rl.t_hup = uv_hrtime();
  char *report = NULL;
  kk__recipe_t *nr = check_new(&report);
  rl.t_checked = uv_hrtime();
  if (!nr) {
    status_write(rl.data_dir, "failed", report);
    free(report);
    return;
  }
  free(report);
  rl.pending = nr;
  status_write(rl.data_dir, "draining", NULL);
  kk_log(KK_LOG_INFO, "core", "reload",
         "recipe ok (%zu stages): draining the running pipeline, then "
         "starting the new one",
         kk__engine_nstages(kk__recipe_engine(nr)));
  kk__engine_stop(e);
}

/* SIGINT/SIGTERM while a reload drains: stop for good afterwards (the
 * engine's own handler runs as well). */
static void on_stop(uv_signal_t *h, int signum) {
  (void)h;
  if (rl.pending && !rl.cancelled) {
    rl.cancelled = 1;
    kk_log(KK_LOG_INFO, "core", "reload",
           "signal %d during the reload: exiting after the drain", signum);
  }
}

static void write_pid_file(const char *data_dir) {
  char path[4200], tmp[4300];
  status_path(data_dir, "klimakit.pid", path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "%ld\n", (long)getpid());
  if (fclose(f) == 0)
    rename(tmp, path);
  else
    remove(tmp);
}

void kk__reload_attach(kk__engine_t *e) {
  if (!rl.path || rl.attached) return; /* not run through kk__reload_run */
  rl.e = e;
  rl.attached = 1;
  uv_signal_init(&e->loop, &rl.hup);
  uv_signal_init(&e->loop, &rl.term);
  uv_signal_init(&e->loop, &rl.intr);
  uv_signal_start(&rl.hup, on_hup, SIGHUP);
  uv_signal_start(&rl.term, on_stop, SIGTERM);
  uv_signal_start(&rl.intr, on_stop, SIGINT);
  uv_unref((uv_handle_t *)&rl.hup);
  uv_unref((uv_handle_t *)&rl.term);
  uv_unref((uv_handle_t *)&rl.intr);
  write_pid_file(rl.data_dir);
  /* A stop signal that came while no engine ran. */
  if (stop_between) kk__engine_stop(e);
}

void kk__reload_detach(void) {
  if (!rl.attached) return;
  rl.attached = 0;
  uv_close((uv_handle_t *)&rl.hup, NULL);
  uv_close((uv_handle_t *)&rl.term, NULL);
  uv_close((uv_handle_t *)&rl.intr, NULL);
  /* Until the next engine listens, a SIGHUP must not end the process. */
  signal(SIGHUP, SIG_IGN);
}

static void note_stop(int sig) {
  (void)sig;
  stop_between = 1;
}

/* ---- the clean-stop line ---------------------------------------------- */

/* A stage saved state of its own: it holds the journal at a position
 * (kk_stage_hold), or left the state file the calculators (state.txt) or
 * a Lua module (state.json) write in its directory. */
static int has_state_file(const kk_stage_t *st) {
  /* state.txt/.json: calculators and Lua modules; position: the
   * position of source.file and source.simulate. */
  static const char *const names[] = {"state.txt", "state.json", "position"};
  for (size_t i = 0; st->data_dir && i < 3; i++) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", st->data_dir, names[i]);
    if (access(p, F_OK) == 0) return 1;
  }
  return 0;
}

/* One line on a clean stop: what the next start continues from. */
static void log_saved(kk__recipe_t *r) {
  kk__engine_t *e = kk__recipe_engine(r);
  size_t sinks = 0, held = 0, n = kk__engine_nstages(e);
  uint64_t pos = 0;
  char names[512] = "";
  size_t nl = 0;
  for (size_t i = 0; i < n; i++) {
    kk_stage_t *st = kk__engine_stage(e, i);
    if (st->m->kind == KK_KIND_SINK) {
      sinks++;
      if (st->cursor > pos) pos = st->cursor;
    }
    if (st->has_state_seq || has_state_file(st)) {
      held++;
      if (nl < sizeof names)
        nl += (size_t)snprintf(names + nl, sizeof names - nl, "%s%s",
                               nl ? ", " : " (", st->name);
    }
  }
  if (held && nl < sizeof names) snprintf(names + nl, sizeof names - nl, ")");
  kk_log(KK_LOG_INFO, "core", "engine",
         "stopped cleanly: saved %zu sink cursor%s (journal record %llu) and "
         "%zu stage state%s%s in %s",
         sinks, sinks == 1 ? "" : "s", (unsigned long long)pos, held,
         held == 1 ? "" : "s", names, kk__recipe_config(r)->data_dir);
}

/* ---- running ---------------------------------------------------------- */

int kk__reload_run(kk__recipe_t *r, const char *path, int *forced) {
  *forced = 0;
  rl.path = path;
  signal(SIGHUP, SIG_IGN); /* until the engine listens */
  int rc;
  for (;;) {
    rl.data_dir = kk__recipe_config(r)->data_dir;
    rl.cancelled = 0;
    rc = kk__engine_run(kk__recipe_engine(r), kk__recipe_config(r));
    rl.e = NULL;
    if (kk__engine_forced(kk__recipe_engine(r))) {
      *forced = 1;
      if (rl.pending) {
        kk_log(KK_LOG_ERROR, "core", "reload",
               "the drain did not finish: exiting instead of reloading "
               "(start again to run the new recipe)");
        status_write(rl.data_dir, "failed",
                     "the drain did not finish; the process exited\n");
      }
      break;
    }
    kk__recipe_t *nr = rl.pending;
    rl.pending = NULL;
    if (!nr) break;
    if (rl.cancelled || stop_between) {
      kk__recipe_free(nr);
      status_write(rl.data_dir, "failed", "stopped during the reload\n");
      break;
    }
    /* A stop signal from here until the new engine listens is kept. */
    signal(SIGTERM, note_stop);
    signal(SIGINT, note_stop);
    if (rc)
      kk_log(KK_LOG_WARN, "core", "reload",
             "the old pipeline stopped with errors (exit %d); starting the "
             "new one anyway",
             rc);
    kk__recipe_free(r);
    r = nr;
    rl.data_dir = kk__recipe_config(r)->data_dir;
    uint64_t now = uv_hrtime();
    kk_log(KK_LOG_INFO, "core", "reload",
           "reloaded %s: %zu stages, journal and cursors kept (check %llu "
           "ms, drain %llu ms)",
           path, kk__engine_nstages(kk__recipe_engine(r)),
           (unsigned long long)((rl.t_checked - rl.t_hup) / 1000000),
           (unsigned long long)((now - rl.t_checked) / 1000000));
    status_write(rl.data_dir, "ok", NULL);
  }
  char pid[4200];
  status_path(kk__recipe_config(r)->data_dir, "klimakit.pid", pid, sizeof pid);
  unlink(pid);
  if (*forced) return rc;
  if (rc == 0) log_saved(r);
  kk__recipe_free(r);
  rl.path = NULL;
  return rc;
}

/* ---- klimakit reload -------------------------------------------------- */

static const char *reload_help =
    "usage: klimakit reload [RECIPE] [--data-dir DIR] [--no-wait]\n"
    "\n"
    "Asks the `klimakit run` that uses DIR (default: the data directory\n"
    "RECIPE names, else ./var) to re-read its recipe: it sends SIGHUP to\n"
    "the pid in DIR/klimakit.pid and waits (up to 60 s) for the outcome.\n"
    "The running process checks the recipe like `klimakit check`; on an\n"
    "error it goes on unchanged, else it drains and starts the new\n"
    "pipeline, keeping the journal and every sink's cursor.  systemd:\n"
    "ExecReload=/bin/kill -HUP $MAINPID, or this command.\n"
    "\n"
    "  --no-wait   only send the signal\n"
    "\n"
    "exit codes: 0 reloaded, 1 no running klimakit or no answer, 2 usage,\n"
    "3 the recipe has errors (printed; the old pipeline keeps running)\n";

int kk__cmd_reload(int argc, char **argv) {
  const char *dir = NULL, *recipe = NULL;
  int wait = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(reload_help, stdout);
      return 0;
    } else if (strcmp(a, "--no-wait") == 0) {
      wait = 0;
    } else if (strcmp(a, "--data-dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (strncmp(a, "--data-dir=", 11) == 0) {
      dir = a + 11;
    } else if (a[0] != '-' && !recipe) {
      recipe = a;
    } else {
      fputs(reload_help, stderr);
      return EXIT_USAGE;
    }
  }
  kk__log_setup(KK__LOGFMT_TEXT, KK_LOG_ERROR);
  kk__recipe_t *r = NULL;
  if (!dir && recipe) {
    kk__recipe_load_builtin_lua_modules();
    r = kk__recipe_load(recipe);
    if (r) dir = kk__recipe_config(r)->data_dir;
  }
  if (!dir) dir = "var";
  char path[4200];
  status_path(dir, "klimakit.pid", path, sizeof path);
  FILE *f = fopen(path, "r");
  long pid = 0;
  if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 0) {
    fprintf(stderr,
            "klimakit: no running klimakit found: cannot read a pid from "
            "%s (%s)\n",
            path, f ? "no number" : strerror(errno));
    if (f) fclose(f);
    kk__recipe_free(r);
    return 1;
  }
  fclose(f);
  char sdir[4096];
  snprintf(sdir, sizeof sdir, "%s", dir);
  kk__recipe_free(r);
  unsigned long before = status_generation(sdir);
  if (kill((pid_t)pid, SIGHUP) != 0) {
    fprintf(stderr, "klimakit: cannot signal pid %ld (from %s): %s\n", pid,
            path, strerror(errno));
    return 1;
  }
  if (!wait) return 0;
  /* "draining" comes first; "ok" once the new pipeline is built. */
  for (int i = 0; i < 600; i++) {
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    if (status_generation(sdir) == before) continue;
    char sp[4200], line[4096], result[32] = "";
    status_path(sdir, "reload.status", sp, sizeof sp);
    FILE *s = fopen(sp, "r");
    if (!s) continue;
    if (!fgets(line, sizeof line, s) || !fgets(line, sizeof line, s) ||
        sscanf(line, "result %31s", result) != 1) {
      fclose(s);
      continue;
    }
    if (strcmp(result, "draining") == 0) {
      fclose(s);
      continue;
    }
    if (strcmp(result, "ok") == 0) {
      fclose(s);
      printf("reloaded (pid %ld)\n", pid);
      return 0;
    }
    while (fgets(line, sizeof line, s))
      fputs(line, stderr);
    fclose(s);
    fprintf(stderr, "klimakit: reload refused; pid %ld runs the old recipe\n",
            pid);
    return EXIT_RECIPE;
  }
  fprintf(stderr, "klimakit: pid %ld did not answer the reload in 60 s\n", pid);
  return 1;
}
