/* core/engine_run.c - running the engine: create, start, tick, shut down.
 *
 * kk__engine_run() opens the journal, creates and starts the stages and
 * runs the loop; the tick saves cursors and metrics; a signal, the end
 * of every source or a failed stage starts the phased shutdown.  Runs
 * on the loop thread. */
#include "engine_impl.h"
#include "notify.h"
#include "reload.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- cursors, metrics and the tick ---------------------------------- */

void kk__engine_save_cursors(kk__engine_t *e) {
  if (!e->journal) return;
  uint64_t last = kk__journal_last_seq(e->journal);
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != KK_KIND_SINK) continue;
    /* Nothing in flight means every appended record reached this sink (or
     * was filtered out on the way): delivery is synchronous. */
    if (st->fifo_len == 0 && e->replay_done) st->cursor = last;
    if (e->undelivered_from && st->cursor >= e->undelivered_from)
      st->cursor = e->undelivered_from - 1;
    uint64_t later = kk__engine_later_first(e);
    if (later && st->cursor >= later) st->cursor = later - 1;
    if (st->cursor_capped && st->cursor > st->cursor_cap)
      st->cursor = st->cursor_cap;
    kk__journal_cursor_set(e->journal, st->name, st->cursor);
    st->saved_cursor = st->cursor;
    kk_metric_set(st->m_lag, (int64_t)(last - st->cursor));
  }
  int rc = kk__journal_cursors_save(e->journal);
  if (rc)
    kk_log(KK_LOG_ERROR, "core", "journal", "saving cursors failed: %s",
           kk_strerror(rc));
}

/* Writes every metric to <data_dir>/metrics.prom (Prometheus text format,
 * replaced atomically), which node_exporter's textfile collector can pick
 * up until the HTTP publisher serves /metrics. */
static void write_metrics_file(kk__engine_t *e) {
  char path[4096], tmp[4200];
  if (e->journal) {
    kk__journal_stats_t s;
    kk__journal_stats(e->journal, &s);
    kk_metric_set(e->m_corrupt, (int64_t)s.corrupt);
    kk_metric_set(e->m_journal_bytes, (int64_t)s.disk_bytes);
  }
  snprintf(path, sizeof path, "%s/metrics.prom", e->cfg->data_dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  char *text = kk_metrics_render();
  if (!text) return;
  FILE *f = fopen(tmp, "w");
  if (f) {
    int ok = fputs(text, f) >= 0;
    ok &= fclose(f) == 0;
    if (ok)
      rename(tmp, path);
    else
      remove(tmp);
  }
  free(text);
}

static void save_cursors_if_moved(kk__engine_t *e) {
  uint64_t last = kk__journal_last_seq(e->journal);
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != KK_KIND_SINK) continue;
    uint64_t pos = st->fifo_len == 0 && e->replay_done ? last : st->cursor;
    uint64_t later = kk__engine_later_first(e);
    if (later && pos >= later) pos = later - 1;
    if (e->undelivered_from && pos >= e->undelivered_from)
      pos = e->undelivered_from - 1;
    if (pos != st->saved_cursor) {
      kk__engine_save_cursors(e);
      return;
    }
  }
}

static void tick_cb(uv_timer_t *h) {
  kk__engine_t *e = h->data;
  if (!e->journal) return;
  kk__journal_tick(e->journal);
  uint64_t now = uv_now(&e->loop);
  kk__notify_tick(now);
  /* Cursors are saved on every tick that moved one: the fewer records a
   * crash finds past a cursor, the fewer duplicates the replay makes. */
  save_cursors_if_moved(e);
  if (now - e->last_cursor_save >= 1000) {
    e->last_cursor_save = now;
    if (++e->ticks_since_metrics >= 5) {
      e->ticks_since_metrics = 0;
      write_metrics_file(e);
    }
  }
  if (now - e->last_disk_check >= 1000) {
    e->last_disk_check = now;
    kk__engine_disk_check(e);
  }
  if (now - e->last_retire >= 10000) {
    e->last_retire = now;
    kk__journal_retire(e->journal);
  }
}

/* ---- shutdown ------------------------------------------------------- */

static void close_engine_handles(kk__engine_t *e) {
  if (e->handles_closed) return;
  e->handles_closed = 1;
  kk__engine_save_cursors(e);
  write_metrics_file(e);
  kk__journal_close(e->journal);
  e->journal = NULL;
  uv_close((uv_handle_t *)&e->sigint, NULL);
  uv_close((uv_handle_t *)&e->sigterm, NULL);
  kk__reload_detach();
  /* Closing the handles gave the signals back their default action, and
   * everything is saved: a late signal (timeout(1) signals the process
   * group as well as the process) must not turn a clean exit into death
   * by SIGTERM. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  uv_close((uv_handle_t *)&e->tick, NULL);
  uv_close((uv_handle_t *)&e->deadline, NULL);
  uv_close((uv_handle_t *)&e->done_async, NULL);
  uv_close((uv_handle_t *)&e->replay_idle, NULL);
  uv_close((uv_handle_t *)&e->later_idle, NULL);
}

static void advance_shutdown(kk__engine_t *e);

static void stage_stopped(kk_stage_t *st) {
  kk__engine_t *e = st->eng;
  if (st->stopped) return;
  st->stopped = 1;
  e->pending_stops--;
  if (e->pending_stops == 0) advance_shutdown(e);
}

/* Stops the started stages of `kind`; for sinks, `stores` selects the
 * store sinks (ns "store") or the others. */
static void stop_kind(kk__engine_t *e, kk_kind_t kind, int stores) {
  e->pending_stops = 1; /* held while we iterate */
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != kind || !st->started || st->stopping) continue;
    if (kind == KK_KIND_SINK && (strcmp(st->m->ns, "store") == 0) != stores)
      continue;
    st->stopping = 1;
    e->pending_stops++;
    if (st->m->stop)
      st->m->stop(st, st->state, stage_stopped);
    else
      stage_stopped(st);
  }
  e->pending_stops--;
  if (e->pending_stops == 0) advance_shutdown(e);
}

/* Shutdown runs in phases: stop sources; then (everything they produced
 * has been delivered synchronously) stop transforms, which may emit what
 * they hold (a calculator's last window) to sinks that still run; then
 * stop the sinks other than stores, which flush and finish their queues
 * (an exporter may still read a store); then the stores; then save
 * cursors and close. */
static void advance_shutdown(kk__engine_t *e) {
  if (e->stopping == 1) {
    /* The sources are stopped: what waits in memory for a later delivery
     * goes now; what waits in the journal stays for the next start. */
    kk__engine_later_flush(e, 0);
    if (kk__engine_later_first(e))
      kk_log(KK_LOG_INFO, "core", "engine",
             "records from %llu on wait in the journal; the next start "
             "delivers them",
             (unsigned long long)kk__engine_later_first(e));
    e->stopping = 2;
    stop_kind(e, KK_KIND_TRANSFORM, 0);
  } else if (e->stopping == 2) {
    e->stopping = 3;
    stop_kind(e, KK_KIND_SINK, 0);
  } else if (e->stopping == 3) {
    e->stopping = 4;
    stop_kind(e, KK_KIND_SINK, 1);
  } else if (e->stopping == 4) {
    e->stopping = 5;
    for (size_t i = 0; i < e->n; i++)
      if (e->stages[i]->fifo_len)
        kk_log(KK_LOG_WARN, "core", "engine",
               "sink '%s' stopped with %zu unfinished batches; they will be "
               "replayed from the journal at the next start",
               e->stages[i]->name, e->stages[i]->fifo_len);
    /* What was lost to the senders is what was never acknowledged;
     * everything acknowledged is in the journal. */
    if (e->refused)
      kk_log(KK_LOG_WARN, "core", "engine",
             "%llu messages were refused during this run (disk full or "
             "journal errors) and never acknowledged: their senders still "
             "hold them; everything acknowledged is in the journal",
             (unsigned long long)e->refused);
    close_engine_handles(e);
  }
}

/* Gives up on the stages still stopping: cursors saved, journal closed,
 * the loop stopped for good.  kk__engine_run returns at once and the
 * caller must not free the stages (their handles are still live): see
 * kk__engine_forced.  Nothing acknowledged is lost; it is in the journal
 * and replayed at the next start. */
static void force_exit(kk__engine_t *e) {
  e->exit_code = 1;
  e->stopping = 5;
  e->forced = 1;
  close_engine_handles(e);
  uv_stop(&e->loop);
}

static void deadline_cb(uv_timer_t *h) {
  kk__engine_t *e = h->data;
  kk_log(KK_LOG_ERROR, "core", "engine",
         "shutdown did not finish within %llu ms; exiting, unfinished data "
         "stays in the journal",
         (unsigned long long)e->cfg->shutdown_timeout_ms);
  force_exit(e);
}

void kk__engine_stop(kk__engine_t *e) {
  if (e->stopping) return;
  e->stopping = 1;
  kk_log(KK_LOG_INFO, "core", "engine", "stopping: draining the pipeline");
  kk__notify_stopping();
  uv_timer_start(&e->deadline, deadline_cb, e->cfg->shutdown_timeout_ms, 0);
  uv_unref((uv_handle_t *)&e->deadline);
  uv_unref((uv_handle_t *)&e->tick);
  uv_unref((uv_handle_t *)&e->done_async);
  uv_idle_stop(&e->replay_idle);
  kk__engine_later_pause(e, 1);
  uv_unref((uv_handle_t *)&e->sigint);
  uv_unref((uv_handle_t *)&e->sigterm);
  stop_kind(e, KK_KIND_SOURCE, 0);
}

static void signal_cb(uv_signal_t *h, int signum) {
  kk__engine_t *e = h->data;
  uint64_t now = uv_hrtime();
  if (e->stopping && now - e->signal_ns < 100 * 1000000ull) {
    /* The same stop request twice: timeout(1) and terminals signal the
     * process and its process group.  No person presses Ctrl-C twice
     * within 100 ms. */
    kk_log(KK_LOG_DEBUG, "core", "engine", "signal %d again: already stopping",
           signum);
    return;
  }
  int first = e->signal_ns == 0;
  e->signal_ns = now;
  if (e->stopping && first) {
    /* Stopping already (every source done, a stage failed): this is the
     * first request, and a drain is under way. */
    kk_log(KK_LOG_INFO, "core", "engine",
           "signal %d received; already stopping, a second one exits at once",
           signum);
    return;
  }
  if (e->stopping) {
    kk_log(KK_LOG_WARN, "core", "engine", "second signal %d: exiting now",
           signum);
    force_exit(e);
    return;
  }
  kk_log(KK_LOG_INFO, "core", "engine", "signal %d received", signum);
  kk__engine_stop(e);
}

/* ---- start ---------------------------------------------------------- */

static kk_metric_t *stage_gauge(kk_stage_t *st, const char *name,
                                const char *help) {
  char labels[160];
  snprintf(labels, sizeof labels, "stage=\"%s\"", st->name);
  return kk_gauge(name, labels, help);
}

static void stage_metrics(kk_stage_t *st) {
  st->m_in = kk_stage_counter(st, "kk_readings_in_total", NULL,
                              "Readings received by the stage");
  st->m_out = kk_stage_counter(st, "kk_readings_out_total", NULL,
                               "Readings sent on by the stage");
  st->m_fail = kk_stage_counter(st, "kk_readings_failed_total", NULL,
                                "Readings in batches the stage failed on");
  if (st->m->kind == KK_KIND_SINK) {
    st->m_queue = stage_gauge(st, "kk_queue_readings",
                              "Readings in flight in the sink's queue");
    st->m_lag = stage_gauge(st, "kk_journal_lag_records",
                            "Journal records the sink has not finished");
  }
  if (st->m->kind == KK_KIND_SOURCE)
    st->m_rejected = kk_stage_counter(st, "kk_source_rejected_total", NULL,
                                      "Raw messages the source rejected");
}

int kk__engine_start_kind(kk__engine_t *e, kk_kind_t kind) {
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (st->m->kind != kind) continue;
    int rc = st->m->start ? st->m->start(st, st->state) : 0;
    if (rc) {
      kk_log(KK_LOG_ERROR, st->m->ns, st->name, "%s:%d: cannot start: %s",
             st->file, st->line, st->err[0] ? st->err : kk_strerror(rc));
      return -1;
    }
    st->started = 1;
  }
  return 0;
}

int kk__engine_run(kk__engine_t *e, const kk__engine_cfg_t *cfg) {
  char err[512];
  e->cfg = cfg;
  e->m_appended = kk_counter("kk_journal_appended_total", NULL,
                             "Records appended to the journal");
  e->m_corrupt = kk_gauge("kk_journal_corrupt_records", NULL,
                          "Corrupt journal records quarantined since start");
  e->m_paused = kk_gauge("kk_sources_paused", NULL,
                         "1 while sources are paused by backpressure");
  e->m_pauses = kk_counter("kk_source_pauses_total", NULL,
                           "Times a full sink queue paused the sources");
  e->pause_rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 3);
  e->m_journal_bytes =
      kk_gauge("kk_journal_disk_bytes", NULL, "Bytes in journal segment files");
  e->m_disk_full = kk_gauge("kk_disk_full", NULL,
                            "1 while the journal's disk is below its high "
                            "mark of free space (input paused)");
  e->m_disk_free =
      kk_gauge("kk_disk_free_bytes", NULL, "Free bytes on the journal's disk");
  int rc = kk_mkdirs(cfg->data_dir, 0);
  if (rc) {
    kk_log(KK_LOG_ERROR, "core", "engine", "cannot create data dir %s: %s",
           cfg->data_dir, kk_strerror(rc));
    return 1;
  }
  rc = kk__journal_open(&cfg->journal, &e->journal, err, sizeof err);
  if (rc) {
    kk_log(KK_LOG_ERROR, "core", "journal", "%s", err);
    return 1;
  }
  uv_signal_init(&e->loop, &e->sigint);
  uv_signal_init(&e->loop, &e->sigterm);
  e->sigint.data = e->sigterm.data = e;
  uv_signal_start(&e->sigint, signal_cb, SIGINT);
  uv_signal_start(&e->sigterm, signal_cb, SIGTERM);
  kk__reload_attach(e); /* SIGHUP: core/reload.c */
  uv_timer_init(&e->loop, &e->tick);
  uv_timer_init(&e->loop, &e->deadline);
  e->tick.data = e->deadline.data = e;
  uv_timer_start(&e->tick, tick_cb, 100, 100);
  uv_async_init(&e->loop, &e->done_async, kk__engine_done_async_cb);
  uv_idle_init(&e->loop, &e->replay_idle);
  e->replay_idle.data = e;
  kk__engine_later_init(e);
  e->done_async.data = e;
  e->last_cursor_save = e->last_retire = uv_now(&e->loop);

  int failed = 0;
  for (size_t i = 0; i < e->n && !failed; i++) {
    kk_stage_t *st = e->stages[i];
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/stages/%s", cfg->data_dir, st->name);
    st->data_dir = strdup(dir);
    stage_metrics(st);
    if (st->m->kind == KK_KIND_SINK &&
        (rc = kk__journal_cursor_register(e->journal, st->name, &st->cursor)) !=
            0) {
      kk_log(KK_LOG_ERROR, st->m->ns, st->name,
             "cannot read the journal cursor of this sink: %s",
             kk_strerror(rc));
      failed = 1;
      break;
    }
    rc = st->m->create ? st->m->create(st, st->opts, &st->state) : 0;
    if (rc) {
      kk_log(KK_LOG_ERROR, st->m->ns, st->name, "%s:%d: cannot create: %s",
             st->file, st->line, st->err[0] ? st->err : kk_strerror(rc));
      failed = 1;
      break;
    }
    st->created = 1;
  }
  /* Sinks start first so that replayed and new data find them ready;
   * sources start once the replay is through (replay_finish). */
  if (!failed && (kk__engine_start_kind(e, KK_KIND_SINK) ||
                  kk__engine_start_kind(e, KK_KIND_TRANSFORM)))
    failed = 1;
  if (failed) {
    e->exit_code = 1;
    kk__engine_stop(e);
  } else {
    kk__engine_replay_begin(e);
    kk__notify_ready(e->n, kk__journal_last_seq(e->journal));
  }
  uv_run(&e->loop, UV_RUN_DEFAULT);
  if (e->forced) return e->exit_code;
  close_engine_handles(e);
  /* Let close callbacks run. */
  uv_run(&e->loop, UV_RUN_DEFAULT);
  return e->exit_code;
}

int kk__engine_forced(const kk__engine_t *e) {
  return e->forced;
}

size_t kk__engine_try_create(kk__engine_t *e, const kk__engine_cfg_t *cfg,
                             FILE *out) {
  size_t failed = 0;
  for (size_t i = 0; i < e->n; i++) {
    kk_stage_t *st = e->stages[i];
    if (!st->data_dir) {
      char dir[4096];
      snprintf(dir, sizeof dir, "%s/stages/%s", cfg->data_dir, st->name);
      st->data_dir = strdup(dir);
    }
    st->err[0] = 0;
    int rc = st->m->create ? st->m->create(st, st->opts, &st->state) : 0;
    if (rc) {
      fprintf(out, "%s:%d: %s: %s\n", st->file, st->line, st->name,
              st->err[0] ? st->err : kk_strerror(rc));
      failed++;
    }
    if (st->m->destroy && st->state) st->m->destroy(st->state);
    st->state = NULL;
    st->err[0] = 0;
  }
  return failed;
}
