/*
 * modules/source/file.c - source.file: replays a file of readings.
 *
 * Reads JSON lines (one reading per line, the shape of sink.jsonl) or CSV
 * (RFC 4180 with a header naming the columns thing, property, unit, time
 * and value in any order; other columns are ignored).  The file is read in
 * 64 KiB chunks with uv_fs_read on the thread pool, so the loop is never
 * blocked for more than the parsing of one chunk; the next chunk is
 * requested only while the pipeline is not paused.
 *
 * Not journaled: the file is its own durable copy.  Instead the stage
 * remembers how far it has read (source_position.h: offset, line and
 * checksums of the bytes before it, in <stage data dir>/position, saved
 * at every stop) and a restart continues there, so that readings are not
 * sent on a second time under a new run: calculators would count them
 * again or reject them as out of order.  A file whose content before the
 * offset changed is read from the start; resume = false reads it from the
 * start at every start.  After a crash (no stop) the file is read again
 * from the position of the last stop: at least once, like the journal.
 */
#include <klimakit.h>

#include "source/source_position.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define FILE_CHUNK 65536
#define FILE_MAX_RECORD (1u << 20) /* longer lines are rejected */

enum { FILE_JSONL, FILE_CSV };
enum {
  FILE_COL_THING,
  FILE_COL_PROPERTY,
  FILE_COL_UNIT,
  FILE_COL_TIME,
  FILE_COL_VALUE,
  FILE_NCOLS
};
static const char *const file_col_names[FILE_NCOLS] = {"thing", "property",
                                                       "unit", "time", "value"};

typedef struct file_state {
  kk_stage_t *st;
  const char *path; /* borrowed from the opts (they outlive the state) */
  int format;
  size_t batch;
  int progress; /* 0 none, 1 a redrawn bar (TTY), 2 a line every 2 s */
  int skip_errors;
  int resume;      /* continue at the saved position */
  int regular;     /* a regular file: positions are byte offsets */
  char *pos_path;  /* owned: <stage data dir>/position, NULL without */
  uint64_t rd_off; /* file offset of the next read */
  uint64_t done;   /* file offset behind the last record consumed */
  uint64_t jump_to, jump_line; /* CSV resume: go there after the header */
  uint64_t from_line;          /* lines skipped by resuming */
  uv_file fd;                  /* -1 when not open */
  int own_fd;                  /* 0 for stdin */
  uv_fs_t req;
  int reading, eof, failed, paused, stopping;
  /* Pending bytes: the unfinished record of the last chunk, then the new
   * chunk, read directly behind it. */
  char *pend; /* owned */
  size_t pend_len, pend_cap;
  int discarding; /* skipping the rest of an over-long line */
  int bom_checked;
  uint64_t size, bytes, line; /* line: physical lines consumed */
  uint64_t records, readings, rejected;
  /* CSV */
  int have_header;
  int col[FILE_NCOLS];
  int ncols;
  char *fields; /* owned scratch: unescaped fields, NUL-terminated */
  size_t fields_cap;
  size_t *fstart; /* owned: field offsets in `fields` */
  size_t fstart_cap;
  kk_batch_t *cur; /* being filled; owned reference */
  uint64_t t0_hr, progress_last;
  kk_ratelimit_t rl;
  kk_metric_t *rej; /* process-lived; the core counts readings out */
  kk_stop_cb stop_cb;
} file_state_t;

static void file_read_next(file_state_t *s);

/* ---- progress ------------------------------------------------------ */

static void file_progress(file_state_t *s, int final) {
  if (!s->progress) return;
  uint64_t now = uv_hrtime();
  uint64_t every = s->progress == 1 ? 200000000u : 2000000000u;
  if (!final && now - s->progress_last < every) return;
  s->progress_last = now;
  double secs = (double)(now - s->t0_hr) / 1e9;
  double rate = secs > 0 ? (double)s->records / secs : 0;
  char line[256];
  int n;
  if (s->size)
    n = snprintf(line, sizeof line,
                 "%s[source:file] %s %5.1f%% (%.1f/%.1f MiB) %llu lines "
                 "%.0f lines/s%s",
                 s->progress == 1 ? "\r" : "", s->path,
                 100.0 * (double)s->bytes / (double)s->size,
                 (double)s->bytes / 1048576.0, (double)s->size / 1048576.0,
                 (unsigned long long)s->records, rate,
                 s->progress == 1 ? "\033[K" : "\n");
  else
    n = snprintf(line, sizeof line,
                 "%s[source:file] %s %.1f MiB %llu lines %.0f lines/s%s",
                 s->progress == 1 ? "\r" : "", s->path,
                 (double)s->bytes / 1048576.0, (unsigned long long)s->records,
                 rate, s->progress == 1 ? "\033[K" : "\n");
  if (n > 0 && (size_t)n < sizeof line) {
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    if (final && s->progress == 1) w = write(STDERR_FILENO, "\n", 1);
    (void)w;
  }
}

/* Clears the bar so that a log line does not land inside it. */
static void file_progress_clear(file_state_t *s) {
  if (s->progress == 1) {
    ssize_t w = write(STDERR_FILENO, "\r\033[K", 4);
    (void)w;
  }
}

/* ---- output -------------------------------------------------------- */

static void file_flush(file_state_t *s) {
  if (!s->cur || kk_batch_len(s->cur) == 0) return;
  size_t n = kk_batch_len(s->cur);
  s->readings += n;
  kk_stage_emit(s->st, s->cur);
  kk_batch_unref(s->cur);
  s->cur = NULL;
}

static int file_push(file_state_t *s, const kk_reading_t *r) {
  if (!s->cur && !(s->cur = kk_batch_new(s->batch))) return KK_ENOMEM;
  int rc = kk_batch_push(s->cur, r);
  if (rc == 0 && kk_batch_len(s->cur) >= s->batch) file_flush(s);
  return rc;
}

/* Stops reading for good after a fatal error (message already set). */
static void file_fail(file_state_t *s) {
  s->failed = 1;
  file_flush(s); /* the readings before the error are good */
  file_progress_clear(s);
  kk_stage_log(s->st, KK_LOG_ERROR, "%s; stopped reading",
               kk_stage_last_error(s->st));
  kk_stage_eof(s->st);
  kk_stage_fail(s->st, KK_EPARSE); /* the process exits 1 */
}

/* A record that cannot be read: counted, logged (rate-limited) and
 * skipped, or fatal without skip_errors. */
static void file_reject(file_state_t *s, uint64_t line, const char *why) {
  s->rejected++;
  kk_metric_add(s->rej, 1);
  if (!s->skip_errors) {
    kk_stage_error(s->st, "%s:%llu: %s", s->path, (unsigned long long)line,
                   why);
    file_fail(s);
    return;
  }
  if (kk_ratelimit_ok(&s->rl)) {
    file_progress_clear(s);
    kk_stage_log(s->st, KK_LOG_WARN, "%s:%llu: %s (line skipped)", s->path,
                 (unsigned long long)line, why);
  }
}

/* ---- CSV ----------------------------------------------------------- */

/* Splits one record into NUL-terminated, unescaped fields in s->fields.
 * Returns the number of fields, or -1 with a reason in `why`. */
static int file_csv_split(file_state_t *s, const char *p, size_t n, char *why,
                          size_t whylen) {
  if (n + 1 > s->fields_cap) {
    char *nf = realloc(s->fields, n + 1);
    if (!nf) {
      snprintf(why, whylen, "out of memory");
      return -1;
    }
    s->fields = nf;
    s->fields_cap = n + 1;
  }
  char *o = s->fields;
  size_t i = 0, nf = 0;
  for (;;) {
    if (nf == s->fstart_cap) {
      size_t ncap = s->fstart_cap ? s->fstart_cap * 2 : 16;
      size_t *ns = realloc(s->fstart, ncap * sizeof *ns);
      if (!ns) {
        snprintf(why, whylen, "out of memory");
        return -1;
      }
      s->fstart = ns;
      s->fstart_cap = ncap;
    }
    s->fstart[nf++] = (size_t)(o - s->fields);
    if (i < n && p[i] == '"') {
      for (i++;; i++) {
        if (i >= n) {
          snprintf(why, whylen, "unterminated quoted field %zu", nf);
          return -1;
        }
        if (p[i] == '"') {
          if (i + 1 < n && p[i + 1] == '"') {
            *o++ = '"';
            i++;
          } else {
            i++;
            break;
          }
        } else {
          *o++ = p[i];
        }
      }
      if (i < n && p[i] != ',') {
        snprintf(why, whylen, "text after the closing quote of field %zu", nf);
        return -1;
      }
    } else {
      while (i < n && p[i] != ',')
        *o++ = p[i++];
    }
    *o++ = '\0';
    if (i >= n) break;
    i++; /* the comma */
  }
  return (int)nf;
}

/* A field without surrounding blanks, for numbers and times. */
static const char *file_trim(char *f, size_t *len) {
  while (*f == ' ' || *f == '\t')
    f++;
  size_t n = strlen(f);
  while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\t'))
    f[--n] = '\0';
  *len = n;
  return f;
}

static void file_csv_record(file_state_t *s, const char *p, size_t n,
                            uint64_t line) {
  char why[256];
  int nf = file_csv_split(s, p, n, why, sizeof why);
  if (nf < 0) {
    file_reject(s, line, why);
    return;
  }
  if (!s->have_header) {
    for (int c = 0; c < FILE_NCOLS; c++)
      s->col[c] = -1;
    for (int f = 0; f < nf; f++) {
      size_t len;
      const char *name = file_trim(s->fields + s->fstart[f], &len);
      for (int c = 0; c < FILE_NCOLS; c++)
        if (strcasecmp(name, file_col_names[c]) == 0 && s->col[c] < 0)
          s->col[c] = f;
    }
    for (int c = 0; c < FILE_NCOLS; c++)
      if (s->col[c] < 0) {
        kk_stage_error(s->st,
                       "%s:%llu: the CSV header has no column '%s' (it needs "
                       "thing, property, unit, time and value)",
                       s->path, (unsigned long long)line, file_col_names[c]);
        file_fail(s);
        return;
      }
    s->have_header = 1;
    s->ncols = nf;
    return;
  }
  s->records++;
  for (int c = 0; c < FILE_NCOLS; c++)
    if (s->col[c] >= nf) {
      snprintf(why, sizeof why, "%d fields, the header has %d", nf, s->ncols);
      file_reject(s, line, why);
      return;
    }
  const char *f[FILE_NCOLS];
  for (int c = 0; c < FILE_NCOLS; c++)
    f[c] = s->fields + s->fstart[s->col[c]];
  size_t tl, vl;
  const char *ts = file_trim((char *)f[FILE_COL_TIME], &tl);
  const char *vs = file_trim((char *)f[FILE_COL_VALUE], &vl);
  int64_t t;
  if (kk_time_parse_text(ts, tl, &t) != 0) {
    snprintf(why, sizeof why,
             "column 'time' is not an ISO 8601 date-time with zone nor "
             "milliseconds: '%.40s'",
             ts);
    file_reject(s, line, why);
    return;
  }
  char *end;
  errno = 0;
  double v = vl ? strtod(vs, &end) : 0;
  if (vl == 0 || *end != '\0' || !isfinite(v)) {
    snprintf(why, sizeof why, "column 'value' is not a number: '%.40s'", vs);
    file_reject(s, line, why);
    return;
  }
  kk_reading_t r;
  int rc = kk_reading_make(f[FILE_COL_THING], f[FILE_COL_PROPERTY],
                           f[FILE_COL_UNIT], t, v, &r, why, sizeof why);
  if (rc == KK_ENOMEM || (rc == 0 && (rc = file_push(s, &r)) != 0)) {
    kk_stage_error(s->st, "out of memory");
    file_fail(s);
  } else if (rc != 0) {
    file_reject(s, line, why);
  }
}

/* ---- records ------------------------------------------------------- */

static void file_record(file_state_t *s, const char *p, size_t n,
                        uint64_t line) {
  if (n > 0 && p[n - 1] == '\r') n--;
  size_t k = 0;
  while (k < n && isspace((unsigned char)p[k]))
    k++;
  if (k == n) return; /* blank lines are allowed */
  if (s->format == FILE_CSV) {
    file_csv_record(s, p, n, line);
    return;
  }
  s->records++;
  kk_reading_t r;
  char why[256];
  int rc = kk_reading_parse_json(p, n, &r, why, sizeof why);
  if (rc == KK_ENOMEM || (rc == 0 && (rc = file_push(s, &r)) != 0)) {
    kk_stage_error(s->st, "out of memory");
    file_fail(s);
  } else if (rc != 0) {
    file_reject(s, line, why);
  }
}

/* Finds the end of the record at p (the newline that ends it, outside
 * quotes for CSV).  Returns its offset or -1 when the record continues
 * beyond n; *newlines gets the newlines inside a CSV record. */
static long file_record_end(const file_state_t *s, const char *p, size_t n,
                            uint64_t *newlines) {
  *newlines = 0;
  if (s->format == FILE_JSONL) {
    const char *nl = memchr(p, '\n', n);
    return nl ? (long)(nl - p) : -1;
  }
  int quoted = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '"')
      quoted = !quoted; /* "" toggles twice: no change */
    else if (p[i] == '\n') {
      if (!quoted) return (long)i;
      (*newlines)++;
    }
  }
  return -1;
}

/* Consumes complete records from the pending bytes; at EOF also the last
 * record without a newline.  Keeps the unfinished rest. */
static void file_consume(file_state_t *s, int at_eof) {
  char *p = s->pend;
  size_t n = s->pend_len;
  uint64_t base = s->rd_off - s->pend_len; /* file offset of pend[0] */
  if (!s->bom_checked && (n >= 3 || at_eof)) {
    s->bom_checked = 1;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3, n -= 3;
  }
  while (n > 0 && !s->failed && !s->stopping) {
    if (s->discarding) {
      const char *nl = memchr(p, '\n', n);
      if (!nl) {
        n = 0;
        break;
      }
      s->discarding = 0;
      s->line++;
      n -= (size_t)(nl + 1 - p);
      p = (char *)nl + 1;
      s->done = base + (uint64_t)(p - s->pend);
      continue;
    }
    uint64_t inner;
    long end = file_record_end(s, p, n, &inner);
    if (end < 0) {
      if (n > FILE_MAX_RECORD) {
        file_reject(s, s->line + 1, "line longer than 1 MiB");
        s->discarding = 1;
        s->line += inner;
        n = 0;
        continue;
      }
      if (!at_eof) break;
      end = (long)n; /* the last line has no newline */
    }
    uint64_t line = s->line + 1;
    s->line += 1 + inner;
    file_record(s, p, (size_t)end, line);
    size_t used = (size_t)end < n ? (size_t)end + 1 : n;
    p += used;
    n -= used;
    if (s->failed) break; /* the failing record is not behind us */
    s->done = base + (uint64_t)(p - s->pend);
    if (s->jump_to && s->have_header) {
      /* Resuming a CSV file: the header is read again, then the records
       * already sent on are skipped by reading on at the saved offset. */
      if (s->jump_to > s->done) {
        s->rd_off = s->bytes = s->done = s->jump_to;
        s->line = s->jump_line;
        n = 0;
        p = s->pend;
      }
      s->jump_to = 0;
    }
  }
  if (n > 0 && p != s->pend) memmove(s->pend, p, n);
  s->pend_len = n;
}

/* ---- reading ------------------------------------------------------- */

static void file_close_cb(uv_fs_t *req) {
  file_state_t *s = req->data;
  uv_fs_req_cleanup(req);
  s->fd = -1;
  if (s->stop_cb) s->stop_cb(s->st);
}

/* Saves how far the file has been read: behind the last record consumed
 * (every one of them has been sent on: file_finish_stop flushes first). */
static void file_pos_save(file_state_t *s) {
  if (!s->pos_path || !s->regular || s->fd < 0) return;
  source_pos_t p = {.offset = s->done, .line = s->line};
  int rc = source_pos_sums(s->fd, &p);
  if (!rc) rc = source_pos_save(s->pos_path, &p);
  if (rc)
    kk_stage_log(s->st, KK_LOG_WARN,
                 "cannot save the position in %s to %s: %s; the next start "
                 "reads it again from the last saved position",
                 s->path, s->pos_path, kk_strerror(rc));
}

/* Finishes a stop that waited for a read, or was asked with nothing in
 * flight: sends on what is batched, saves the position, closes the file
 * asynchronously, then calls the stop callback. */
static void file_finish_stop(file_state_t *s, kk_stop_cb cb) {
  s->stop_cb = cb;
  file_flush(s);
  file_pos_save(s);
  if (s->fd >= 0 && s->own_fd) {
    s->req.data = s;
    if (uv_fs_close(kk_stage_loop(s->st), &s->req, s->fd, file_close_cb) == 0)
      return;
  }
  s->fd = -1;
  cb(s->st);
}

static void file_at_eof(file_state_t *s) {
  s->eof = 1;
  file_consume(s, 1);
  file_flush(s);
  file_progress(s, 1);
  double secs = (double)(uv_hrtime() - s->t0_hr) / 1e9;
  char from[64] = "";
  if (s->from_line)
    snprintf(from, sizeof from, " after line %llu",
             (unsigned long long)s->from_line);
  kk_stage_log(s->st, KK_LOG_INFO,
               "end of %s: %llu lines%s, %llu readings, %llu rejected in "
               "%.2f s (%.0f lines/s)",
               s->path, (unsigned long long)s->records, from,
               (unsigned long long)s->readings, (unsigned long long)s->rejected,
               secs, secs > 0 ? (double)s->records / secs : 0.0);
  kk_stage_eof(s->st); /* may stop this stage before it returns */
}

static void file_read_cb(uv_fs_t *req) {
  file_state_t *s = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  s->reading = 0;
  if (s->stopping) {
    file_finish_stop(s, s->stop_cb);
    return;
  }
  if (n < 0) {
    kk_stage_error(s->st, "cannot read %s: %s", s->path, uv_strerror((int)n));
    file_fail(s);
    return;
  }
  if (n == 0) {
    file_at_eof(s);
    return;
  }
  s->pend_len += (size_t)n;
  s->bytes += (uint64_t)n;
  s->rd_off += (uint64_t)n;
  file_consume(s, 0);
  file_progress(s, 0);
  if (!s->failed && !s->paused) file_read_next(s);
}

static void file_read_next(file_state_t *s) {
  if (s->reading || s->eof || s->failed || s->stopping || s->fd < 0) return;
  if (s->pend_cap - s->pend_len < FILE_CHUNK) {
    size_t ncap = s->pend_cap ? s->pend_cap * 2 : 2 * FILE_CHUNK;
    while (ncap - s->pend_len < FILE_CHUNK)
      ncap *= 2;
    char *np = realloc(s->pend, ncap);
    if (!np) {
      kk_stage_error(s->st, "out of memory");
      file_fail(s);
      return;
    }
    s->pend = np;
    s->pend_cap = ncap;
  }
  uv_buf_t buf = uv_buf_init(s->pend + s->pend_len, FILE_CHUNK);
  s->req.data = s;
  int rc = uv_fs_read(kk_stage_loop(s->st), &s->req, s->fd, &buf, 1,
                      s->regular ? (int64_t)s->rd_off : -1, file_read_cb);
  if (rc < 0) {
    kk_stage_error(s->st, "cannot read %s: %s", s->path, uv_strerror(rc));
    file_fail(s);
    return;
  }
  s->reading = 1;
}

/* ---- module callbacks ---------------------------------------------- */

static int file_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  file_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = s;
  s->st = st;
  s->fd = -1;
  s->path = kk_opt_str(opts, "path");
  s->batch = (size_t)kk_opt_int(opts, "batch");
  s->skip_errors = kk_opt_bool(opts, "skip_errors");
  s->resume = kk_opt_bool(opts, "resume");
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 10);
  int fmt = kk_opt_enum(opts, "format"); /* auto|jsonl|csv */
  if (fmt == 0) {
    const char *dot = strrchr(s->path, '.');
    if (dot && (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson") ||
                !strcasecmp(dot, ".json")))
      fmt = 1;
    else if (dot && !strcasecmp(dot, ".csv"))
      fmt = 2;
    else {
      kk_stage_error(st,
                     "cannot tell the format of '%s' from its extension; set "
                     "format = \"jsonl\" or \"csv\"",
                     s->path);
      return KK_EINVAL;
    }
  }
  s->format = fmt == 2 ? FILE_CSV : FILE_JSONL;
  int progress = kk_opt_enum(opts, "progress"); /* auto|always|never */
  int tty = isatty(STDERR_FILENO);
  s->progress = progress == 2 ? 0 : tty ? 1 : progress == 1 ? 2 : 0;
  s->rej = kk_stage_counter(st, "kk_rejected_total", "parse",
                            "Input records rejected, by reason.");
  return 0;
}

/* In start: continues at the saved position when the file still holds
 * what it was taken from.  Returns 1 when it logged how it starts. */
static int file_pos_resume(file_state_t *s) {
  const char *dir = kk_stage_data_dir(s->st);
  if (!s->regular || !dir) return 0;
  size_t len = strlen(dir) + sizeof "/position";
  if (!(s->pos_path = malloc(len))) return 0; /* then not saved either */
  snprintf(s->pos_path, len, "%s/position", dir);
  if (!s->resume) return 0;
  source_pos_t p;
  int rc = source_pos_load(s->pos_path, &p);
  if (rc == -ENOENT) return 0;
  if (rc || !source_pos_matches(s->fd, s->size, &p)) {
    kk_stage_log(s->st, KK_LOG_INFO,
                 "%s is not the file whose position %s holds (replaced, "
                 "rewritten or shortened): reading it from the start "
                 "(%s, %.1f MiB)",
                 s->path, s->pos_path,
                 s->format == FILE_CSV ? "CSV" : "JSON lines",
                 (double)s->size / 1048576.0);
    return 1;
  }
  if (p.offset == 0) return 0;
  s->from_line = p.line;
  if (s->format == FILE_CSV) {
    s->jump_to = p.offset; /* after the header (file_consume) */
    s->jump_line = p.line;
  } else {
    s->rd_off = s->bytes = s->done = p.offset;
    s->line = p.line;
    s->bom_checked = 1;
  }
  kk_stage_log(s->st, KK_LOG_INFO,
               "continuing %s after line %llu (byte %llu of %llu; position in "
               "%s; resume = false reads it from the start)",
               s->path, (unsigned long long)p.line,
               (unsigned long long)p.offset, (unsigned long long)s->size,
               s->pos_path);
  return 1;
}

static int file_start(kk_stage_t *st, void *state) {
  file_state_t *s = state;
  if (strcmp(s->path, "-") == 0) {
    s->fd = STDIN_FILENO;
  } else {
    uv_fs_t req;
    int fd = uv_fs_open(kk_stage_loop(st), &req, s->path, O_RDONLY | O_CLOEXEC,
                        0, NULL);
    uv_fs_req_cleanup(&req);
    if (fd < 0) {
      kk_stage_error(st, "cannot open %s: %s", s->path, uv_strerror(fd));
      return fd;
    }
    s->fd = fd;
    s->own_fd = 1;
    if (uv_fs_fstat(kk_stage_loop(st), &req, fd, NULL) == 0 &&
        (req.statbuf.st_mode & S_IFMT) == S_IFREG) {
      s->size = req.statbuf.st_size;
      s->regular = 1;
    }
    uv_fs_req_cleanup(&req);
  }
  s->t0_hr = uv_hrtime();
  s->paused = kk_stage_paused(st);
  if (!file_pos_resume(s))
    kk_stage_log(st, KK_LOG_INFO, "replaying %s (%s, %.1f MiB)", s->path,
                 s->format == FILE_CSV ? "CSV" : "JSON lines",
                 (double)s->size / 1048576.0);
  if (!s->paused) file_read_next(s);
  return 0;
}

static void file_pause(kk_stage_t *st, void *state) {
  (void)st;
  ((file_state_t *)state)->paused = 1; /* the read in flight finishes */
}

static void file_resume(kk_stage_t *st, void *state) {
  (void)st;
  file_state_t *s = state;
  s->paused = 0;
  file_read_next(s);
}

static void file_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  file_state_t *s = state;
  s->stopping = 1;
  if (s->reading) {
    s->stop_cb = cb; /* file_read_cb finishes the stop */
    return;
  }
  file_finish_stop(s, cb);
}

static void file_destroy(void *state) {
  file_state_t *s = state;
  if (!s) return;
  if (s->fd >= 0 && s->own_fd) close(s->fd);
  kk_batch_unref(s->cur);
  free(s->pend);
  free(s->fields);
  free(s->fstart);
  free(s->pos_path);
  free(s);
}

static const kk_option_t file_options[] = {
    {.name = "path",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "File to replay, or \"-\" for standard input (then set "
                    "format)."},
    {.name = "format",
     .type = KK_OPT_ENUM,
     .def = "auto",
     .choices = "auto|jsonl|csv",
     .description = "jsonl: one JSON reading per line; csv: RFC 4180 with a "
                    "header naming thing, property, unit, time and value; "
                    "auto: by extension (.jsonl, .ndjson, .json, .csv)."},
    {.name = "batch",
     .type = KK_OPT_INT,
     .def = "1024",
     .description = "Readings per batch.",
     .min = 1,
     .max = 1048576},
    {.name = "progress",
     .type = KK_OPT_ENUM,
     .def = "auto",
     .choices = "auto|always|never",
     .description = "Progress (bytes %, lines, lines/s) on stderr: auto "
                    "when stderr is a terminal; always also as a line every "
                    "2 s when it is not."},
    {.name = "resume",
     .type = KK_OPT_BOOL,
     .def = "true",
     .description = "Continue after a restart where the last run stopped "
                    "reading (the position is saved in the stage's data "
                    "directory at every stop), so that no reading is sent "
                    "on twice; a file whose content before that position "
                    "changed is read from the start.  false: read the "
                    "whole file at every start."},
    {.name = "skip_errors",
     .type = KK_OPT_BOOL,
     .def = "true",
     .description = "Skip a line that cannot be read (counted in "
                    "kk_rejected_total and logged with file:line and "
                    "reason); false: stop at the first such line."},
    {NULL}};

const kk_module_t source_file_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "file",
    .ns = "source",
    .kind = KK_KIND_SOURCE,
    .summary = "Replays readings from a JSON-lines or CSV file.",
    .description =
        "Reads readings from a file and sends them on in batches.  JSON "
        "lines: one object per line, `{\"thing\":..,\"property\":..,"
        "\"unit\":..,\"time\":..,\"value\":..}` with `time` an ISO 8601 "
        "date-time with `Z` or an offset, or integer milliseconds since "
        "1970 (what `sink.jsonl` writes).  CSV: RFC 4180 (quoted fields, "
        "doubled quotes, line breaks in quotes), a header line naming the "
        "columns `thing`, `property`, `unit`, `time` and `value` in any "
        "order; other columns are ignored.  Blank lines are skipped; a bad "
        "line is counted in `kk_rejected_total{reason=\"parse\"}` and "
        "logged (rate-limited) with file:line and reason.  The file is read "
        "in 64 KiB chunks without blocking the loop, and reading pauses "
        "with the pipeline.  A summary is logged at the end.  Not "
        "journaled: the file is its own durable copy.  At every stop the "
        "stage saves how far it has read (`position` in its data "
        "directory: byte offset, line and checksums of the first 4 KiB "
        "and of the 4 KiB before the offset), and the next start "
        "continues there, so that a restart sends on only lines added "
        "since (calculators would otherwise see their history again).  A "
        "file whose content before that offset changed (replaced, "
        "rewritten, shortened) is read from the start, and so is every "
        "file with `resume = false`; after a crash the file is read again "
        "from the last saved position.",
    .options = file_options,
    .create = file_create,
    .start = file_start,
    .pause = file_pause,
    .resume = file_resume,
    .stop = file_stop,
    .destroy = file_destroy,
};
