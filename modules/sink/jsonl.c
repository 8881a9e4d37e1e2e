/*
 * modules/sink/jsonl.c - sink.jsonl: readings as JSON lines.
 *
 * Each reading becomes one line
 *   {"thing":"room-001","property":"co2","unit":"ppm",
 *    "time":"2026-11-21T10:00:00.000Z","value":812}
 * appended to a file (created, with its parent directories) or written to
 * standard output (path "-").  A batch is rendered into one buffer and
 * written with write() before process() returns 0, so the engine moves the
 * sink's cursor only past batches that reached the kernel (and the disk,
 * with fsync = true).  Writing is synchronous on the loop thread: a page
 * cache write of one batch takes microseconds; fsync = true makes every
 * batch wait for the disk and is meant for low rates.
 */
#include <klimakit.h>

#include "sink/sink_format.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct jsonl_state {
  const char *path; /* borrowed from the opts, which outlive the state */
  int fd;           /* -1 until start */
  int own_fd;       /* 0 for stdout */
  int fsync;
  int raw;
  sink_out_t out;     /* reused for every batch */
  sink_fmt_t fmt;     /* the reading line, shared with sink.file */
  kk_metric_t *bytes; /* process-lived; the core counts readings */
} jsonl_state_t;

/* Appends the `n` bytes at `str` as a JSON string literal (with quotes,
 * kk_json_str's escapes); the caller has reserved 6 bytes per input byte
 * and 3 more. */
static void jsonl_str(jsonl_state_t *s, const char *str, size_t n) {
  (void)kk_json_str(s->out.p, &s->out.len, s->out.cap, str, n);
}

static void jsonl_lit(jsonl_state_t *s, const char *lit) {
  sink_put(&s->out, lit, strlen(lit));
}

/* Strict UTF-8 check (no overlong forms, no surrogates, no NUL), so that
 * raw payloads that are text stay readable in the output. */
static int jsonl_is_utf8(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c == 0) return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0)
      k = 1, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
      k = 2, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
      k = 3, cp = c & 0x07;
    else
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if (i + j >= n || (p[i + j] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (p[i + j] & 0x3f);
    }
    if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
        (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += k + 1;
  }
  return 1;
}

static void jsonl_base64(jsonl_state_t *s, const uint8_t *p, size_t n) {
  static const char tb[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *o = s->out.p + s->out.len;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = tb[v >> 18];
    *o++ = tb[(v >> 12) & 63];
    *o++ = tb[(v >> 6) & 63];
    *o++ = tb[v & 63];
  }
  if (i < n) {
    uint32_t v =
        (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    *o++ = tb[v >> 18];
    *o++ = tb[(v >> 12) & 63];
    *o++ = i + 1 < n ? tb[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  s->out.len = (size_t)(o - s->out.p);
}

/* {"seq":N,"meta":"..","raw":".."} or with "encoding":"base64" when the
 * payload is not UTF-8 text. */
static int jsonl_render_raw(jsonl_state_t *s, const kk_raw_t *r) {
  size_t mlen = r->meta ? strlen(r->meta) : 0;
  if (sink_reserve(&s->out, 96 + 6 * (size_t)r->len + 6 * mlen) != 0)
    return KK_ENOMEM;
  char num[32];
  int n = snprintf(num, sizeof num, "%llu", (unsigned long long)r->seq);
  jsonl_lit(s, "{\"seq\":");
  sink_put(&s->out, num, (size_t)n);
  if (mlen) {
    jsonl_lit(s, ",\"meta\":");
    jsonl_str(s, r->meta, mlen);
  }
  if (jsonl_is_utf8(r->data, r->len)) {
    jsonl_lit(s, ",\"raw\":");
    jsonl_str(s, (const char *)r->data, r->len);
    jsonl_lit(s, "}\n");
  } else {
    jsonl_lit(s, ",\"encoding\":\"base64\",\"raw\":\"");
    jsonl_base64(s, r->data, r->len);
    jsonl_lit(s, "\"}\n");
  }
  return 0;
}

/* Writes all of buf, looping on partial writes and waiting when the fd is
 * non-blocking and full (a pipe to a slow reader).  Returns 0 or -errno. */
static int jsonl_write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return -errno;
        continue;
      }
      return -errno;
    }
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

static int jsonl_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  jsonl_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  s->path = kk_opt_str(opts, "path");
  s->fsync = kk_opt_bool(opts, "fsync");
  s->raw = kk_opt_bool(opts, "raw");
  s->fd = -1;
  sink_fmt_init(&s->fmt, ',', "UTC");
  s->bytes =
      kk_stage_counter(st, "kk_sink_bytes_total", NULL, "Bytes a sink wrote.");
  *state = s;
  return 0;
}

static int jsonl_start(kk_stage_t *st, void *state) {
  jsonl_state_t *s = state;
  if (!s->path || strcmp(s->path, "-") == 0) {
    s->fd = STDOUT_FILENO;
    return 0;
  }
  int rc = kk_mkdirs(s->path, 1);
  if (rc != 0) {
    kk_stage_error(st, "cannot create the directory of %s: %s", s->path,
                   kk_strerror(rc));
    return rc;
  }
  s->fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (s->fd < 0) {
    rc = -errno;
    kk_stage_error(st, "cannot open %s: %s", s->path, kk_strerror(rc));
    return rc;
  }
  s->own_fd = 1;
  return 0;
}

static int jsonl_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  jsonl_state_t *s = state;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  int rc = 0;
  s->out.len = 0;
  if (s->raw)
    for (size_t i = 0; rc == 0 && i < kk_batch_raw_len(b); i++)
      rc = jsonl_render_raw(s, kk_batch_raw(b, i));
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = sink_fmt_json(&s->fmt, &s->out, &r[i]);
  if (rc != 0) {
    kk_stage_error(st, "out of memory rendering a batch of %zu readings", n);
    return rc;
  }
  rc = jsonl_write_all(s->fd, s->out.p, s->out.len);
  if (rc == 0 && s->fsync && s->own_fd && fdatasync(s->fd) != 0) rc = -errno;
  if (rc != 0) {
    /* The core logs the failure with this message. */
    kk_stage_error(st, "cannot write %s: %s", s->own_fd ? s->path : "stdout",
                   kk_strerror(rc));
    return rc;
  }
  kk_metric_add(s->bytes, (int64_t)s->out.len);
  sink_out_trim(&s->out); /* the memory of an unusually large batch */
  return 0;
}

static void jsonl_destroy(void *state) {
  jsonl_state_t *s = state;
  if (!s) return;
  if (s->own_fd && s->fd >= 0) {
    fdatasync(s->fd); /* a clean stop leaves the file on disk */
    close(s->fd);
  }
  sink_fmt_free(&s->fmt);
  sink_out_free(&s->out);
  free(s);
}

static const kk_option_t jsonl_options[] = {
    {.name = "path",
     .type = KK_OPT_STRING,
     .def = "-",
     .description = "File to append to (created with its parent "
                    "directories), or \"-\" for standard output."},
    {.name = "fsync",
     .type = KK_OPT_BOOL,
     .def = "false",
     .description = "fdatasync() after every batch, so that a batch counts "
                    "as handled only once it is on disk (slow; for low "
                    "rates)."},
    {.name = "raw",
     .type = KK_OPT_BOOL,
     .def = "false",
     .description = "Also write the raw messages of each batch as "
                    "{\"seq\":..,\"meta\":..,\"raw\":..} lines (base64 with "
                    "\"encoding\":\"base64\" when not UTF-8 text)."},
    {NULL}};

const kk_module_t sink_jsonl_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "jsonl",
    .ns = "sink",
    .kind = KK_KIND_SINK,
    .summary = "Writes readings as JSON lines to a file or stdout.",
    .description =
        "Writes each reading as one line `{\"thing\":..,\"property\":..,"
        "\"unit\":..,\"time\":\"2026-11-21T10:00:00.000Z\",\"value\":..}` "
        "(time in UTC with milliseconds; numbers in the shortest form that "
        "reads back exactly).  A file is opened for appending and created "
        "with its parent directories; `path = \"-\"` writes to standard "
        "output.  Each batch is written with one write() and, with `fsync`, "
        "flushed to disk before the engine counts it as handled.  The "
        "output is what `source.file` reads back.",
    .options = jsonl_options,
    .create = jsonl_create,
    .start = jsonl_start,
    .process = jsonl_process,
    .destroy = jsonl_destroy,
};
