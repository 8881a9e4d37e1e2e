/*
 * modules/sink/file/file.c - sink.file: readings to files that another
 * program reads: CSV (RFC 4180, header with units), the klimakit reading
 * JSON line, or a line template; long (one line per reading) or wide (one
 * line per thing and time, a column per chosen property); rotation by
 * time or size; an fsync policy; no torn lines after a crash.
 *
 * When a batch counts as finished.  The engine moves the sink's journal
 * cursor past a batch once process() returned 0 or kk_stage_done() was
 * called for it, and an idle sink's cursor jumps to the journal's end.
 * So a batch is finished here only when (1) every reading of it is in a
 * line that was written (wide mode holds rows open across batches), and
 * (2) with fsync "always" or "interval", an fdatasync() that started
 * after that write has completed.  Until then process() returns KK_ASYNC
 * and the batch waits in a FIFO (pend).  kk_stage_hold() is not the tool
 * for this: it makes replay start earlier, but a sink is not handed
 * replayed batches at or below its own cursor, so held rows would still
 * be lost; an unfinished batch keeps the cursor itself back.  After a
 * crash the journal replays every unfinished batch: rows written before
 * the crash from those batches come again (at-least-once; see
 * docs/guide/file-sink.md for how to deduplicate).
 *
 * Not blocking the loop: lines are rendered into one buffer per batch and
 * written with one write() to the page cache (microseconds, as in
 * sink.jsonl); every fdatasync() runs on the libuv thread pool.
 */
#include "sink/file/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int file_pend_push(file_state_t *s, size_t readings) {
  if (s->plen == s->pcap) {
    size_t n = s->pcap ? s->pcap * 2 : 64;
    file_pend_t *p = malloc(n * sizeof *p);
    if (!p) return KK_ENOMEM;
    for (size_t i = 0; i < s->plen; i++)
      p[i] = s->pend[(s->phead + i) % s->pcap];
    free(s->pend);
    s->pend = p;
    s->phead = 0;
    s->pcap = n;
  }
  s->pend[(s->phead + s->plen++) % s->pcap] =
      (file_pend_t){++s->next_batch, 0, 0, 1, readings};
  s->held_readings += readings;
  return 0;
}

/* Marks the batches whose readings are all written with the current
 * write generation. */
static void file_stamp(file_state_t *s) {
  uint64_t low = s->wide ? sink_file_wide_low(s) : UINT64_MAX;
  for (size_t i = 0; i < s->plen; i++) {
    file_pend_t *p = &s->pend[(s->phead + i) % s->pcap];
    if (p->stamped) continue;
    if (p->id >= low) break;
    p->stamped = 1;
    p->gen = s->wgen;
    s->held_readings -= p->readings;
  }
}

/* Finishes, in order, the batches that are written (and synced). */
void sink_file_release(file_state_t *s) {
  if (s->failed) return;
  file_stamp(s);
  while (s->plen) {
    file_pend_t *p = &s->pend[s->phead];
    if (!p->stamped || p->gen > s->synced_gen) break;
    int cur = p->current;
    s->phead = (s->phead + 1) % s->pcap;
    s->plen--;
    if (cur)
      s->cur_done = 1; /* process() returns 0 for it */
    else
      kk_stage_done(s->st);
  }
}

/* Wide rows hold back more readings than max_held: write the oldest. */
static void file_shed_held(file_state_t *s) {
  while (s->held_readings > s->max_held && s->nrows) {
    kk_metric_add(s->m_early, 1);
    sink_file_wide_close_upto(s, sink_file_wide_low(s));
    file_stamp(s);
  }
}

static int file_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  file_state_t *s = state;
  if (s->failed) {
    kk_stage_error(st, "stopped after an earlier failure");
    return KK_EIO;
  }
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  s->cur_done = 0;
  if (file_pend_push(s, n)) return KK_ENOMEM;
  uint64_t id = s->next_batch;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = s->wide ? sink_file_wide_add(s, &r[i], id) : sink_file_long(s, &r[i]);
  if (rc == 0 && s->wide) file_shed_held(s);
  if (rc == 0)
    rc = sink_file_write(s);
  else
    kk_stage_error(st, "out of memory rendering a batch of %zu readings", n);
  if (rc) {
    /* The engine keeps its cursor before this batch; drop it from ours. */
    s->out.len = 0;
    file_pend_t *last = &s->pend[(s->phead + s->plen - 1) % s->pcap];
    if (!last->stamped) s->held_readings -= last->readings;
    s->plen--;
    return rc;
  }
  sink_file_release(s);
  sink_file_sync_kick(s);
  if (s->cur_done) return 0;
  s->pend[(s->phead + s->plen - 1) % s->pcap].current = 0;
  return KK_ASYNC;
}

static void file_tick(uv_timer_t *h) {
  file_state_t *s = h->data;
  if (s->failed || s->stopping) return;
  if (s->wide) sink_file_wide_close_old(s, uv_now(h->loop), 0);
  int rc = sink_file_write(s);
  if (rc == 0) rc = sink_file_rotate_by_time(s); /* an idle file, too */
  if (rc) {
    /* Rows closed here have no batch to fail: stop before a cursor
     * passes them. */
    s->failed = 1;
    kk_stage_fail(s->st, rc);
    return;
  }
  sink_file_release(s);
  sink_file_sync_kick(s);
}

static int file_create_checks(file_state_t *s, const kk_opts_t *opts, char *err,
                              size_t errlen) {
  const char *d = kk_opt_str(opts, "delimiter");
  if (strlen(d) != 1 || strchr("\"\r\n", d[0])) {
    snprintf(err, errlen,
             "delimiter must be one character, not a quote or "
             "line end");
    return KK_EINVAL;
  }
  s->delim = d[0];
  if (kk_tz_check(s->tz) != 0) {
    snprintf(err, errlen,
             "tz '%s' is not supported (UTC, Europe/Berlin, "
             "CET and the other UTC+1 EU zones)",
             s->tz);
    return KK_EINVAL;
  }
  int rc = sink_file_path_check(s->path_tmpl, err, errlen);
  if (rc) return rc;
  if (kk_opt_isset(opts, "columns")) {
    s->wide = 1;
    if ((rc = sink_file_columns(s, opts, err, errlen))) return rc;
    if (s->ncols == 0) {
      snprintf(err, errlen, "columns: name at least one property");
      return KK_EINVAL;
    }
  }
  const char *t =
      kk_opt_isset(opts, "template") ? kk_opt_str(opts, "template") : NULL;
  if (s->format == FILE_TEMPLATE && !t) {
    snprintf(err, errlen, "format \"template\" needs the option template");
    return KK_EINVAL;
  }
  if (s->format != FILE_TEMPLATE && t) {
    snprintf(err, errlen, "template is only used with format = \"template\"");
    return KK_EINVAL;
  }
  if (t && (rc = sink_file_template(s, t, err, errlen))) return rc;
  return 0;
}

static int file_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  file_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = s;
  s->st = st;
  s->fd = -1;
  s->path_tmpl = kk_opt_str(opts, "path");
  s->format = kk_opt_enum(opts, "format");
  s->time_how = kk_opt_enum(opts, "time_format");
  s->tz = kk_opt_str(opts, "tz");
  s->header = kk_opt_bool(opts, "header");
  s->crlf = kk_opt_enum(opts, "newline") == 1;
  s->rotate_size = kk_opt_size(opts, "rotate_size");
  s->fsync = kk_opt_enum(opts, "fsync");
  s->fsync_interval = kk_opt_duration_ms(opts, "fsync_interval");
  s->hold_ms = kk_opt_duration_ms(opts, "hold");
  s->lateness_ms = kk_opt_duration_ms(opts, "lateness");
  s->max_rows = (size_t)kk_opt_int(opts, "max_rows");
  s->max_held = (size_t)kk_opt_int(opts, "max_held");
  char err[256] = "";
  int rc = file_create_checks(s, opts, err, sizeof err);
  sink_fmt_init(&s->fmt, s->delim, s->tz);
  if (!rc) rc = sink_file_header(s);
  if (!rc && s->format == FILE_TEMPLATE &&
      kk_opt_isset(opts, "template_header")) {
    const char *h = kk_opt_str(opts, "template_header");
    char *line = malloc(strlen(h) + 3);
    if (!line)
      rc = KK_ENOMEM;
    else {
      sprintf(line, "%s%s", h, s->crlf ? "\r\n" : "\n");
      free(s->header_line);
      s->header_line = line;
    }
  }
  if (rc) {
    kk_stage_error(st, "%s", err[0] ? err : kk_strerror(rc));
    return rc;
  }
  s->m_bytes =
      kk_stage_counter(st, "kk_sink_bytes_total", NULL, "Bytes a sink wrote.");
  s->m_rows = kk_stage_counter(st, "kk_file_rows_total", NULL,
                               "Wide rows sink.file wrote.");
  s->m_partial =
      kk_stage_counter(st, "kk_file_partial_rows_total", NULL,
                       "Wide rows written with empty cells (a column did "
                       "not come within hold or before time moved on).");
  s->m_torn = kk_stage_counter(
      st, "kk_file_torn_lines_total", NULL,
      "Torn last lines (a crash mid-write) cut off when a file was opened.");
  s->m_rot = kk_stage_counter(st, "kk_file_rotations_total", NULL,
                              "Files sink.file rotated out.");
  s->m_nocol = kk_stage_counter(st, "kk_file_skipped_total", "no_column",
                                "Readings sink.file did not write, by reason.");
  s->m_early = kk_stage_counter(
      st, "kk_file_early_rows_total", NULL,
      "Times wide rows were written early (max_rows or max_held reached).");
  return 0;
}

static int file_start(kk_stage_t *st, void *state) {
  file_state_t *s = state;
  int rc = sink_file_open(s);
  if (rc) return rc;
  uint64_t period = 250;
  if (s->wide && s->hold_ms / 4 < period) period = s->hold_ms / 4;
  if (s->fsync == FILE_FSYNC_INTERVAL && s->fsync_interval / 4 < period)
    period = s->fsync_interval / 4;
  if (period < 5) period = 5;
  uv_timer_init(kk_stage_loop(st), &s->timer);
  s->timer.data = s;
  s->timer_open = 1;
  uv_timer_start(&s->timer, file_tick, period, period);
  return 0;
}

static void file_closed(uv_handle_t *h) {
  file_state_t *s = h->data;
  s->stop_cb(s->st);
}

void sink_file_stop_step(file_state_t *s) {
  if (s->sync_busy || !s->stop_cb) return;
  if (!s->failed) {
    int rc = sink_file_sync_now(s);
    if (rc)
      kk_stage_log(s->st, KK_LOG_ERROR, "fdatasync of %s failed: %s", s->path,
                   kk_strerror(rc));
    else
      sink_file_release(s);
  }
  sink_file_close(s);
  if (s->timer_open) {
    s->timer_open = 0;
    uv_close((uv_handle_t *)&s->timer, file_closed);
  } else {
    kk_stop_cb cb = s->stop_cb;
    s->stop_cb = NULL;
    cb(s->st);
  }
}

/* Stopping writes every open row, syncs and closes the file. */
static void file_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  file_state_t *s = state;
  s->stopping = 1;
  s->stop_cb = cb;
  if (s->timer_open) uv_timer_stop(&s->timer);
  if (s->wide && !s->failed) {
    sink_file_wide_close_old(s, 0, 1);
    int rc = sink_file_write(s);
    if (rc) {
      kk_stage_log(st, KK_LOG_ERROR, "%s", kk_stage_last_error(st));
      s->failed = 1;
    }
  }
  sink_file_stop_step(s);
}

static void file_destroy(void *state) {
  file_state_t *s = state;
  if (!s) return;
  sink_file_close(s);
  sink_file_wide_free(s);
  for (size_t i = 0; i < s->ncols; i++) {
    free(s->cols[i].property);
    free(s->cols[i].unit);
  }
  free(s->cols);
  free(s->segs);
  free(s->header_line);
  free(s->path);
  free(s->pend);
  sink_fmt_free(&s->fmt);
  sink_out_free(&s->out);
  free(s);
}

static const kk_option_t file_options[] = {
    {.name = "path",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "File to append to (created with its parent directories). "
                    "strftime conversions %Y %m %d %H %M %j (in `tz`, by the "
                    "wall clock) make a new file when the name changes: "
                    "\"var/out/readings-%Y-%m-%d.csv\"."},
    {.name = "format",
     .type = KK_OPT_ENUM,
     .def = "csv",
     .choices = "csv|jsonl|template",
     .description = "csv (RFC 4180, a header naming the columns), jsonl (the "
                    "klimakit reading JSON line, as sink.jsonl writes it) or "
                    "template (the option `template`)."},
    {.name = "template",
     .type = KK_OPT_STRING,
     .description = "The line for format = \"template\", e.g. "
                    "\"{thing};{time_ms};{value}\".  Fields: thing, property, "
                    "unit, time (ISO 8601 UTC), time_ms, local (ISO 8601 in "
                    "`tz`), value; in wide mode thing, time, time_ms, local "
                    "and each column's property.  {{ and }} are braces."},
    {.name = "template_header",
     .type = KK_OPT_STRING,
     .description = "A first line for every new file of format = "
                    "\"template\"."},
    {.name = "columns",
     .type = KK_OPT_LIST,
     .description = "Wide mode: one line per (thing, time) with these "
                    "properties as columns, each \"co2\" (any unit) or "
                    "\"co2 [ppm]\" (only that unit); the item is the header "
                    "cell.  Readings of other properties are skipped "
                    "(counted)."},
    {.name = "hold",
     .type = KK_OPT_DURATION,
     .def = "10s",
     .description = "Wide mode: a row still missing a column is written "
                    "after this long (wall clock), with empty cells."},
    {.name = "lateness",
     .type = KK_OPT_DURATION,
     .def = "0s",
     .description = "Wide mode: a row is written once a reading of the same "
                    "thing arrives that is more than this much later; raise "
                    "it when a thing's readings come out of time order."},
    {.name = "max_rows",
     .type = KK_OPT_INT,
     .def = "100000",
     .min = 1,
     .max = 100000000,
     .description = "Wide mode: open rows at most; beyond, the older half is "
                    "written at once."},
    {.name = "max_held",
     .type = KK_OPT_INT,
     .def = "32768",
     .min = 1,
     .max = 1000000000,
     .description = "Wide mode: readings that open rows may keep from "
                    "counting as written (they hold the sink's queue); "
                    "beyond, the oldest rows are written at once.  Keep it "
                    "below the sink's `queue`."},
    {.name = "time_format",
     .type = KK_OPT_ENUM,
     .def = "iso8601",
     .choices = "iso8601|ms|local",
     .description = "The time column of csv and of wide jsonl: ISO 8601 UTC "
                    "(2026-11-21T10:00:00.000Z), milliseconds since 1970, or "
                    "ISO 8601 local time in `tz` with its offset."},
    {.name = "tz",
     .type = KK_OPT_STRING,
     .def = "Europe/Berlin",
     .description = "Time zone of local times and of the date in `path` "
                    "(UTC, Europe/Berlin, CET and the other UTC+1 EU "
                    "zones)."},
    {.name = "header",
     .type = KK_OPT_BOOL,
     .def = "true",
     .description = "csv: start every new file with a header line (long: "
                    "thing,property,unit,time,value; wide: thing,time and "
                    "the columns)."},
    {.name = "delimiter",
     .type = KK_OPT_STRING,
     .def = ",",
     .description = "csv: the field separator (\";\" for German "
                    "spreadsheets)."},
    {.name = "newline",
     .type = KK_OPT_ENUM,
     .def = "lf",
     .choices = "lf|crlf",
     .description = "Line end: lf, or crlf as RFC 4180 writes it."},
    {.name = "rotate_size",
     .type = KK_OPT_SIZE,
     .def = "0",
     .description = "Rotate before a write would take the file past this "
                    "size: the full file becomes <stem>.<n><ext> (lowest "
                    "free n); 0 never."},
    {.name = "fsync",
     .type = KK_OPT_ENUM,
     .def = "never",
     .choices = "never|interval|always",
     .description = "never: a batch counts as written once write() returned "
                    "(survives a crash of klimakit); always: once an "
                    "fdatasync() after it completed; interval: the same, "
                    "with at most one fdatasync() per fsync_interval "
                    "(survive power loss).  fdatasync runs off the loop."},
    {.name = "fsync_interval",
     .type = KK_OPT_DURATION,
     .def = "1s",
     .description = "Time between fdatasync() calls with fsync = "
                    "\"interval\"."},
    {NULL}};

const kk_module_t sink_file_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "file",
    .ns = "sink",
    .kind = KK_KIND_SINK,
    .summary = "Writes readings to CSV, JSON lines or templated text files, "
               "long or wide, with rotation.",
    .description =
        "Appends readings to a file another program reads: `csv` (RFC 4180 "
        "quoting, a header with the unit column, or `property [unit]` "
        "cells), `jsonl` (the line sink.jsonl writes) or a line "
        "`template`.  With `columns` it writes one line per (thing, time) "
        "with those properties as columns; readings of one row that arrive "
        "in different batches are joined (a row is written when complete, "
        "when the thing's time moves on, or after `hold`).  Rotation by "
        "date in the file name or by `rotate_size`; the old file is "
        "fdatasync()ed and closed.  A torn last line left by a crash is cut "
        "off when the file is opened.  At-least-once: after a crash lines "
        "may repeat (deduplicate on thing and time); see "
        "docs/guide/file-sink.md.",
    .options = file_options,
    .create = file_create,
    .start = file_start,
    .process = file_process,
    .stop = file_stop,
    .destroy = file_destroy,
};
