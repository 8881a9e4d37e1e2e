/*
 * modules/publish/export/export_file.c - files written atomically, hashed on
 * the way: a temporary file `.NAME.tmp-XXXXXX` in the target directory (so that
 * rename() never crosses a file system), fsync() before rename, and the
 * directory fsync()ed after it, so that a crash leaves either the old file or
 * the new one, never a torn one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "publish/export/export.h"

static char *ex__join(const char *dir, const char *a, const char *b) {
  size_t n = strlen(dir) + strlen(a) + (b ? strlen(b) : 0) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s%s", dir, a, b ? b : "");
  return p;
}

int ex_file_open(ex_file_t *f, const char *dir, const char *name) {
  memset(f, 0, sizeof *f);
  f->fd = -1;
  mbedtls_md_init(&f->md);
  f->name = strdup(name);
  f->path = ex__join(dir, name, NULL);
  size_t n = strlen(name) + 16;
  char *tmpname = malloc(n);
  if (tmpname) snprintf(tmpname, n, ".%s.tmp-XXXXXX", name);
  f->tmp = tmpname ? ex__join(dir, tmpname, NULL) : NULL;
  free(tmpname);
  if (!f->name || !f->path || !f->tmp) return f->err = KK_ENOMEM;
  f->fd = mkostemp(f->tmp, O_CLOEXEC);
  if (f->fd < 0) {
    f->err = -errno;
    free(f->tmp);
    f->tmp = NULL;
    return f->err;
  }
  /* mkstemp makes 0600; published files are for everyone to read. */
  if (fchmod(f->fd, 0644) != 0) return f->err = -errno;
  const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  if (!info || mbedtls_md_setup(&f->md, info, 0) != 0 ||
      mbedtls_md_starts(&f->md) != 0)
    return f->err = KK_ENOMEM;
  f->md_ok = 1;
  return 0;
}

static void ex__flush(ex_file_t *f) {
  if (f->err || f->len == 0) {
    f->len = 0;
    return;
  }
  if (mbedtls_md_update(&f->md, (const unsigned char *)f->buf, f->len) != 0) {
    f->err = KK_EIO;
    return;
  }
  const char *p = f->buf;
  size_t n = f->len;
  while (n > 0) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      f->err = -errno;
      return;
    }
    p += w;
    n -= (size_t)w;
  }
  f->len = 0;
}

void ex_file_put(ex_file_t *f, const void *p, size_t n) {
  if (f->err) return;
  f->bytes += n;
  const char *s = p;
  while (n > 0) {
    size_t room = sizeof f->buf - f->len;
    size_t k = n < room ? n : room;
    memcpy(f->buf + f->len, s, k);
    f->len += k;
    s += k;
    n -= k;
    if (f->len == sizeof f->buf) ex__flush(f);
    if (f->err) return;
  }
}

void ex_file_puts(ex_file_t *f, const char *s) {
  ex_file_put(f, s, strlen(s));
}

void ex_file_printf(ex_file_t *f, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    f->err = KK_EINVAL;
    return;
  }
  if ((size_t)n < sizeof small) {
    ex_file_put(f, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    f->err = KK_ENOMEM;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  ex_file_put(f, big, (size_t)n);
  free(big);
}

int ex_file_close(ex_file_t *f) {
  ex__flush(f);
  if (f->fd >= 0) {
    if (!f->err && fsync(f->fd) != 0) f->err = -errno;
    if (close(f->fd) != 0 && !f->err) f->err = -errno;
    f->fd = -1;
  }
  if (!f->err && f->md_ok) {
    unsigned char h[32];
    if (mbedtls_md_finish(&f->md, h) != 0) return f->err = KK_EIO;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
      f->sha256[2 * i] = hex[h[i] >> 4];
      f->sha256[2 * i + 1] = hex[h[i] & 15];
    }
    f->sha256[64] = 0;
  }
  return f->err;
}

/* fsync of the directory holding `path`, so that the rename is durable. */
static void ex__sync_dir(const char *path) {
  char *d = strdup(path);
  if (!d) return;
  char *slash = strrchr(d, '/');
  if (slash) *slash = 0;
  int fd = open(slash ? d : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(d);
}

int ex_file_commit(ex_file_t *f) {
  if (f->err) return f->err;
  if (!f->tmp || f->fd >= 0) return KK_EINVAL;
  if (rename(f->tmp, f->path) != 0) return f->err = -errno;
  free(f->tmp);
  f->tmp = NULL;
  ex__sync_dir(f->path);
  return 0;
}

void ex_file_free(ex_file_t *f) {
  if (!f) return;
  if (f->path && f->fd >= 0) close(f->fd);
  if (f->tmp) unlink(f->tmp);
  mbedtls_md_free(&f->md);
  free(f->tmp);
  free(f->path);
  free(f->name);
  free(f);
}
