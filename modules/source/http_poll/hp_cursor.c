/*
 * modules/source/http_poll/hp_cursor.c - the cursor of source.http_poll.
 *
 * <stage data dir>/cursor.json holds the end of the last window whose
 * responses are all in the journal, the fingerprint of the last journalled
 * body (the duplicate check) and the validators (ETag, Last-Modified) of
 * the last request.  It is written only after the journal append, and
 * replaced atomically: a temporary file is written and fsync'ed, renamed
 * over the old one, and the directory fsync'ed, so that a crash leaves
 * either the old cursor or the new one, never a torn file.
 */
#include "source/http_poll/http_poll.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HP_CURSOR_MAX (64 * 1024)

void hp_cursor_free(hp_cursor_t *c) {
  free(c->validator_url);
  c->validator_url = NULL;
}

static void hp_copy(char *dst, size_t cap, const cJSON *v) {
  dst[0] = 0;
  if (cJSON_IsString(v)) snprintf(dst, cap, "%s", v->valuestring);
}

int hp_cursor_load(const char *dir, hp_cursor_t *c, char *err, size_t errlen) {
  char path[4096];
  snprintf(path, sizeof path, "%s/cursor.json", dir);
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return 0;
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return -errno;
  }
  char *text = malloc(HP_CURSOR_MAX + 1);
  size_t n = text ? fread(text, 1, HP_CURSOR_MAX, f) : 0;
  fclose(f);
  if (!text) return KK_ENOMEM;
  text[n] = 0;
  cJSON *root = cJSON_Parse(text);
  free(text);
  const cJSON *cur = cJSON_GetObjectItemCaseSensitive(root, "cursor_ms");
  if (!cJSON_IsNumber(cur) || !(cur->valuedouble > -9e15) ||
      !(cur->valuedouble < 9e15)) {
    cJSON_Delete(root);
    snprintf(err, errlen,
             "%s is not a cursor file (remove it to start again from "
             "`start`)",
             path);
    return KK_EPARSE;
  }
  c->cursor_ms = (int64_t)cur->valuedouble;
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "hash");
  c->has_hash = 0;
  if (cJSON_IsString(h) && strlen(h->valuestring) == 16) {
    char *end;
    c->hash = strtoull(h->valuestring, &end, 16);
    c->has_hash = *end == 0;
  }
  hp_copy(c->etag, sizeof c->etag,
          cJSON_GetObjectItemCaseSensitive(root, "etag"));
  hp_copy(c->last_modified, sizeof c->last_modified,
          cJSON_GetObjectItemCaseSensitive(root, "last_modified"));
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "validator_url");
  free(c->validator_url);
  c->validator_url = cJSON_IsString(u) ? strdup(u->valuestring) : NULL;
  cJSON_Delete(root);
  return 1;
}

static int hp_write_all(int fd, const char *p, size_t n) {
  while (n) {
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

int hp_cursor_save(const char *dir, const hp_cursor_t *c) {
  char path[4096], tmp[4200], iso[KK_TIME_ISO_MAX];
  int rc = kk_mkdirs(dir, 0);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/cursor.json", dir);
  snprintf(tmp, sizeof tmp, "%s/cursor.json.tmp", dir);
  kk_buf_t b = {0};
  kk_time_format_iso8601(c->cursor_ms, iso);
  kk_buf_printf(&b, "{\"version\":1,\"cursor\":\"%s\",\"cursor_ms\":%" PRId64,
                iso, c->cursor_ms);
  if (c->has_hash) kk_buf_printf(&b, ",\"hash\":\"%016" PRIx64 "\"", c->hash);
  const char *names[] = {"etag", "last_modified", "validator_url"};
  const char *vals[] = {c->etag, c->last_modified, c->validator_url};
  for (int i = 0; i < 3; i++) {
    if (!vals[i] || !*vals[i]) continue;
    kk_buf_printf(&b, ",\"%s\":\"", names[i]);
    kk_buf_json(&b, vals[i]);
    kk_buf_puts(&b, "\"");
  }
  kk_buf_puts(&b, "}\n");
  if (b.oom) {
    kk_buf_free(&b);
    return KK_ENOMEM;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    kk_buf_free(&b);
    return -errno;
  }
  rc = hp_write_all(fd, b.p, b.len);
  kk_buf_free(&b);
  if (rc == 0 && fsync(fd) != 0) rc = -errno;
  if (close(fd) != 0 && rc == 0) rc = -errno;
  if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
  if (rc) {
    unlink(tmp);
    return rc;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}
