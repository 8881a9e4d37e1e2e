/*
 * modules/sink/file/file_out.c - sink.file's output file.
 *
 * The file is opened for appending.  A line is only ever written whole
 * inside one write() of whole lines, but a process killed inside a large
 * write() can leave part of it (the kernel copies page by page), so on
 * every open a last line without its line end is cut off and counted
 * (kk_file_torn_lines_total).  A file whose first line is not the header
 * this stage writes (the columns changed) is moved aside, never appended
 * to.  A failed write() is undone with ftruncate() to the last whole line.
 *
 * Rotation: by time when the path holds strftime conversions (%Y %m %d %H
 * %M %j, in the stage's time zone, from the wall clock), by size when
 * rotate_size is set (the full file is renamed to <stem>.<n><ext> with
 * the lowest free n).  A rotated-out file is fdatasync()ed on the libuv
 * thread pool and then closed.
 *
 * fsync policy: with "always" and "interval" the write generation that
 * reached the disk (synced_gen) gates which batches count as finished
 * (file.c); fdatasync() runs on the thread pool, one at a time, so the
 * loop never waits for the disk.  Opening, the tail check and write()
 * run on the loop: they touch the page cache only (microseconds per
 * batch), as in sink.jsonl.
 */
#include "sink/file/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sink_file_path_check(const char *t, char *err, size_t errlen) {
  for (const char *p = strchr(t, '%'); p; p = strchr(p + 2, '%')) {
    if (!p[1] || !strchr("YmdHMj%", p[1])) {
      snprintf(err, errlen,
               "path: '%%%c' is not one of %%Y %%m %%d %%H %%M %%j %%%%",
               p[1] ? p[1] : ' ');
      return KK_EINVAL;
    }
  }
  if (!*t || t[strlen(t) - 1] == '/') {
    snprintf(err, errlen, "path: '%s' names no file", t);
    return KK_EINVAL;
  }
  return 0;
}

/* The file name for wall-clock second `sec`: the template expanded in the
 * stage's zone.  Caller frees. */
static char *file_name(const file_state_t *s, int64_t sec) {
  if (!strchr(s->path_tmpl, '%')) return strdup(s->path_tmpl);
  struct tm tm;
  kk_tz_local(s->tz, sec, &tm);
  size_t cap = strlen(s->path_tmpl) * 4 + 64;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  if (strftime(buf, cap, s->path_tmpl, &tm) == 0) buf[0] = 0;
  return buf;
}

/* The lowest free "<stem>.<n><ext>" beside `path`.  Caller frees. */
static char *file_aside(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  const char *dot = strrchr(base, '.');
  if (!dot || dot == base) dot = base + strlen(base);
  size_t cap = strlen(path) + 24;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (unsigned n = 1; n < 1000000; n++) {
    snprintf(buf, cap, "%.*s.%u%s", (int)(dot - path), path, n, dot);
    struct stat st;
    if (stat(buf, &st) != 0 && errno == ENOENT) return buf;
  }
  free(buf);
  return NULL;
}

/* Cuts a last line that has no line end.  Returns 0 or -errno. */
static int file_repair(file_state_t *s, int fd, uint64_t *size) {
  char buf[65536];
  uint64_t end = *size;
  while (end > 0) {
    size_t n = end < sizeof buf ? (size_t)end : sizeof buf;
    ssize_t r = pread(fd, buf, n, (off_t)(end - n));
    if (r != (ssize_t)n) return r < 0 ? -errno : KK_EIO;
    if (end == *size && buf[n - 1] == '\n') return 0; /* whole */
    size_t i = n;
    while (i > 0 && buf[i - 1] != '\n')
      i--;
    if (i > 0) {
      end = end - n + i;
      break;
    }
    end -= n;
  }
  if (ftruncate(fd, (off_t)end) != 0) return -errno;
  kk_metric_add(s->m_torn, 1);
  kk_stage_log(s->st, KK_LOG_WARN,
               "%s ended in a torn line (a crash mid-write): cut %llu bytes "
               "back to the last whole line",
               s->path, (unsigned long long)(*size - end));
  *size = end;
  return 0;
}

/* 1 when the file starts with this stage's header. */
static int file_has_header(file_state_t *s, int fd, uint64_t size) {
  size_t h = strlen(s->header_line);
  if (size < h) return 0;
  char *buf = malloc(h + 1);
  if (!buf) return 0;
  ssize_t r = pread(fd, buf, h, 0);
  int same = r == (ssize_t)h && memcmp(buf, s->header_line, h) == 0;
  free(buf);
  return same;
}

static int file_write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Opens s->path (already set), repairs, checks or writes the header. */
static int file_open_path(file_state_t *s) {
  int rc = kk_mkdirs(s->path, 1);
  if (rc) {
    kk_stage_error(s->st, "cannot create the directory of %s: %s", s->path,
                   kk_strerror(rc));
    return rc;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    int fd = open(s->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
      rc = -errno;
      if (fd >= 0) close(fd);
      kk_stage_error(s->st, "cannot open %s: %s", s->path, kk_strerror(rc));
      return rc;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size > 0 && (rc = file_repair(s, fd, &size)) != 0) {
      close(fd);
      kk_stage_error(s->st, "cannot repair %s: %s", s->path, kk_strerror(rc));
      return rc;
    }
    size_t h = strlen(s->header_line);
    if (size > 0 && h > 0 && !file_has_header(s, fd, size) && attempt == 0) {
      /* Another header (the columns changed): keep that file apart. */
      close(fd);
      char *aside = file_aside(s->path);
      if (!aside || rename(s->path, aside) != 0) {
        rc = aside ? -errno : KK_ENOMEM;
        kk_stage_error(s->st,
                       "%s has another header and cannot be moved "
                       "aside: %s",
                       s->path, kk_strerror(rc));
        free(aside);
        return rc;
      }
      kk_stage_log(s->st, KK_LOG_WARN, "%s has another header; moved it to %s",
                   s->path, aside);
      free(aside);
      continue;
    }
    if (size == 0 && h > 0) {
      rc = file_write_all(fd, s->header_line, h);
      if (rc) {
        if (ftruncate(fd, 0) != 0) { /* nothing more to undo */
        }
        close(fd);
        kk_stage_error(s->st, "cannot write %s: %s", s->path, kk_strerror(rc));
        return rc;
      }
      size = h;
      s->wgen++;
    }
    s->fd = fd;
    s->size = size;
    if (s->fsync == FILE_FSYNC_NEVER) s->synced_gen = s->wgen;
    return 0;
  }
  return KK_EIO;
}

int sink_file_open(file_state_t *s) {
  int64_t now = kk_floor_div(kk_now_ms(), 1000);
  free(s->path);
  s->path = file_name(s, now);
  if (!s->path) return KK_ENOMEM;
  s->name_sec = now;
  return file_open_path(s);
}

/* Synchronously syncs and closes rotated-out file i (not in flight). */
static void file_rot_close_now(file_state_t *s, size_t i) {
  if (fdatasync(s->rot[i].fd) != 0)
    kk_stage_log(s->st, KK_LOG_ERROR, "fdatasync of a rotated file: %s",
                 kk_strerror(-errno));
  close(s->rot[i].fd);
  /* synced_gen moves when a later file's sync completes: it covers this. */
  memmove(&s->rot[i], &s->rot[i + 1], (s->nrot - i - 1) * sizeof s->rot[0]);
  s->nrot--;
}

/* Hands the open file to the sync queue and opens `next` (owned). */
static int file_rotate(file_state_t *s, char *next, int rename_old) {
  if (s->nrot == sizeof s->rot / sizeof s->rot[0]) file_rot_close_now(s, 0);
  s->rot[s->nrot].fd = s->fd;
  s->rot[s->nrot].gen = s->wgen;
  s->nrot++;
  s->fd = -1;
  if (rename_old) {
    char *aside = file_aside(s->path);
    if (!aside || rename(s->path, aside) != 0) {
      int rc = aside ? -errno : KK_ENOMEM;
      kk_stage_log(s->st, KK_LOG_ERROR, "cannot rotate %s: %s", s->path,
                   kk_strerror(rc));
    }
    free(aside);
  }
  kk_metric_add(s->m_rot, 1);
  free(s->path);
  s->path = next;
  int rc = file_open_path(s);
  sink_file_sync_kick(s);
  return rc;
}

int sink_file_rotate_by_time(file_state_t *s) {
  if (!strchr(s->path_tmpl, '%')) return 0;
  int64_t now = kk_floor_div(kk_now_ms(), 1000);
  if (now == s->name_sec && s->fd >= 0) return 0;
  s->name_sec = now;
  char *name = file_name(s, now);
  if (!name) return KK_ENOMEM;
  if (s->fd >= 0 && strcmp(name, s->path) == 0) {
    free(name);
    return 0;
  }
  if (s->fd < 0) {
    free(s->path);
    s->path = name;
    return file_open_path(s);
  }
  return file_rotate(s, name, 0);
}

int sink_file_write(file_state_t *s) {
  if (s->out.len == 0) return 0;
  int rc = sink_file_rotate_by_time(s);
  size_t h = strlen(s->header_line);
  if (!rc && s->fd >= 0 && s->rotate_size && s->size > h &&
      s->size + s->out.len > s->rotate_size) {
    char *same = strdup(s->path);
    rc = same ? file_rotate(s, same, 1) : KK_ENOMEM;
  }
  if (!rc && s->fd < 0) rc = sink_file_open(s);
  if (!rc) rc = file_write_all(s->fd, s->out.p, s->out.len);
  if (rc) {
    /* Undo a partial write: the file ends at its last whole line. */
    if (s->fd >= 0 && ftruncate(s->fd, (off_t)s->size) != 0) {
    }
    kk_stage_error(s->st, "cannot write %s: %s", s->path ? s->path : "?",
                   kk_strerror(rc));
    s->out.len = 0;
    return rc;
  }
  s->size += s->out.len;
  s->wgen++;
  if (s->fsync == FILE_FSYNC_NEVER) s->synced_gen = s->wgen;
  kk_metric_add(s->m_bytes, (int64_t)s->out.len);
  s->out.len = 0;
  sink_out_trim(&s->out);
  return 0;
}

static void file_sync_done(uv_fs_t *req) {
  file_state_t *s = req->data;
  int rc = (int)req->result;
  uv_fs_req_cleanup(req);
  s->sync_busy = 0;
  if (s->sync_close) close(s->sync_fd);
  s->last_sync = uv_now(kk_stage_loop(s->st));
  if (rc < 0 && !s->failed) {
    /* After a failed fdatasync the kernel may have dropped the dirty
     * pages: nothing written since the last good sync is known to be on
     * disk, so no batch may count as finished.  Stop; the next start
     * replays from the cursor. */
    s->failed = 1;
    kk_stage_error(s->st, "fdatasync of %s failed: %s", s->path,
                   kk_strerror(rc));
    kk_stage_fail(s->st, rc);
  } else if (rc >= 0 && s->sync_target > s->synced_gen) {
    s->synced_gen = s->sync_target;
  }
  sink_file_release(s);
  if (s->stopping)
    sink_file_stop_step(s);
  else
    sink_file_sync_kick(s);
}

void sink_file_sync_kick(file_state_t *s) {
  if (s->sync_busy || s->failed) return;
  uv_loop_t *loop = kk_stage_loop(s->st);
  if (s->nrot) {
    s->sync_fd = s->rot[0].fd;
    s->sync_target = s->fsync == FILE_FSYNC_NEVER ? 0 : s->rot[0].gen;
    s->sync_close = 1;
    memmove(&s->rot[0], &s->rot[1], (s->nrot - 1) * sizeof s->rot[0]);
    s->nrot--;
  } else if (s->fsync != FILE_FSYNC_NEVER && s->fd >= 0 &&
             s->synced_gen < s->wgen &&
             (s->fsync == FILE_FSYNC_ALWAYS ||
              uv_now(loop) - s->last_sync >= s->fsync_interval)) {
    s->sync_fd = s->fd;
    s->sync_target = s->wgen;
    s->sync_close = 0;
  } else {
    return;
  }
  s->sync_req.data = s;
  s->sync_busy = 1;
  int rc = uv_fs_fdatasync(loop, &s->sync_req, s->sync_fd, file_sync_done);
  if (rc < 0) {
    /* The request could not be queued: do it here. */
    s->sync_busy = 0;
    int r = fdatasync(s->sync_fd);
    if (s->sync_close) close(s->sync_fd);
    if (r == 0 && s->sync_target > s->synced_gen)
      s->synced_gen = s->sync_target;
  }
}

int sink_file_sync_now(file_state_t *s) {
  while (s->nrot)
    file_rot_close_now(s, 0);
  int rc = 0;
  if (s->fd >= 0 && fdatasync(s->fd) != 0) rc = -errno;
  if (rc == 0) s->synced_gen = s->wgen;
  return rc;
}

void sink_file_close(file_state_t *s) {
  while (s->nrot) {
    close(s->rot[s->nrot - 1].fd);
    s->nrot--;
  }
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
}
