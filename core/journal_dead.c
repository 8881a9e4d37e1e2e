/* core/journal_dead.c - dead letters and the in-flight marker; see
 * journal_dead.h. */
#include "journal_dead.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

#define KK__DEAD_MAGIC "KKDEAD01\n"
#define KK__DEAD_MAGIC_LEN 9

static uint64_t kk__dead_dropped; /* since the process started */

/* ---- the format ----------------------------------------------------- */

static void kk__dead_esc(kk_buf_t *b, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '%' || *p < 0x20 || *p >= 0x7f)
      kk_buf_printf(b, "%%%02X", *p);
    else
      kk_buf_put(b, (const char *)p, 1);
  }
}

static int kk__dead_hex(int c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                : -1;
}

/* Reads "KEY VALUE\n" at *p (bounded by end); the value is copied
 * unescaped into out (size n).  Returns 0 or -1. */
static int kk__dead_field(const uint8_t **p, const uint8_t *end,
                          const char *key, char *out, size_t n) {
  size_t kl = strlen(key);
  const uint8_t *s = *p;
  if ((size_t)(end - s) < kl + 1 || memcmp(s, key, kl) != 0 || s[kl] != ' ')
    return -1;
  s += kl + 1;
  size_t o = 0;
  while (s < end && *s != '\n') {
    int c = *s++;
    if (c == '%') {
      int hi = s < end ? kk__dead_hex(*s) : -1;
      int lo = hi >= 0 && s + 1 < end ? kk__dead_hex(s[1]) : -1;
      if (lo < 0) return -1;
      c = hi * 16 + lo;
      s += 2;
      if (c == 0) return -1;
    } else if (c < 0x20 || c >= 0x7f) {
      return -1;
    }
    if (o + 1 >= n) return -1;
    out[o++] = (char)c;
  }
  if (s == end) return -1;
  out[o] = 0;
  *p = s + 1;
  return 0;
}

static int kk__dead_num(const uint8_t **p, const uint8_t *end, const char *key,
                        int sign, uint64_t max, uint64_t *v) {
  char t[32], *e;
  if (kk__dead_field(p, end, key, t, sizeof t) != 0 || !t[0]) return -1;
  if (!((t[0] >= '0' && t[0] <= '9') || (sign && t[0] == '-'))) return -1;
  errno = 0;
  if (sign) {
    long long x = strtoll(t, &e, 10);
    if (errno || *e) return -1;
    *v = (uint64_t)x;
  } else {
    unsigned long long x = strtoull(t, &e, 10);
    if (errno || *e || x > max) return -1;
    *v = x;
  }
  return 0;
}

int kk__dead_parse(const uint8_t *buf, size_t len, kk__dead_t *out, char *err,
                   size_t errlen) {
  memset(out, 0, sizeof *out);
  const uint8_t *p = buf, *end = buf + len;
  uint64_t v[5], ml, dl;
  const char *what = "not a dead letter (no KKDEAD01 header)";
  if (len < KK__DEAD_MAGIC_LEN || memcmp(p, KK__DEAD_MAGIC, 9) != 0) goto bad;
  p += KK__DEAD_MAGIC_LEN;
  static const char *const nums[] = {"seq", "time_ms", "format", "attempts",
                                     "dead_ms"};
  static const uint64_t maxes[] = {UINT64_MAX, 0, UINT32_MAX, UINT32_MAX, 0};
  for (int i = 0; i < 5; i++) {
    what = nums[i];
    int sign = i == 1 || i == 4;
    if (kk__dead_num(&p, end, nums[i], sign, maxes[i], &v[i]) != 0) goto bad;
  }
  what = "source";
  if (kk__dead_field(&p, end, "source", out->source, sizeof out->source))
    goto bad;
  what = "stage";
  if (kk__dead_field(&p, end, "stage", out->stage, sizeof out->stage)) goto bad;
  what = "reason";
  if (kk__dead_field(&p, end, "reason", out->reason, sizeof out->reason))
    goto bad;
  what = "meta_len";
  if (kk__dead_num(&p, end, "meta_len", 0, 65535, &ml)) goto bad;
  what = "data_len";
  if (kk__dead_num(&p, end, "data_len", 0, 16u << 20, &dl)) goto bad;
  what = "the empty line after the header";
  if (p >= end || *p != '\n') goto bad;
  p++;
  what = "meta and data (length differs from meta_len + data_len)";
  if ((uint64_t)(end - p) != ml + dl) goto bad;
  what = "meta (holds a NUL byte)";
  if (memchr(p, 0, ml)) goto bad;
  char *meta = malloc(ml + 1);
  if (!meta) {
    snprintf(err, errlen, "out of memory");
    return KK_ENOMEM;
  }
  memcpy(meta, p, ml);
  meta[ml] = 0;
  out->seq = v[0];
  out->time_ms = (int64_t)v[1];
  out->format = (uint32_t)v[2];
  out->attempts = (uint32_t)v[3];
  out->dead_ms = (int64_t)v[4];
  out->meta = meta;
  out->data = p + ml;
  out->len = (uint32_t)dl;
  return 0;
bad:
  if (err && errlen) snprintf(err, errlen, "bad dead letter: %s", what);
  return KK_EPARSE;
}

/* ---- the area --------------------------------------------------------- */

static void kk__dead_path(char *out, size_t n, const char *jdir, uint64_t seq) {
  snprintf(out, n, "%s/dead/%020" PRIu64 ".kkd", jdir, seq);
}

static int kk__dead_name_seq(const char *name, uint64_t *seq) {
  if (strlen(name) != 24 || strcmp(name + 20, ".kkd") != 0) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9') return 0;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *seq = v;
  return 1;
}

typedef struct kk__dead_ent {
  uint64_t seq, size;
} kk__dead_ent_t;

static int kk__dead_ent_cmp(const void *a, const void *b) {
  uint64_t x = ((const kk__dead_ent_t *)a)->seq,
           y = ((const kk__dead_ent_t *)b)->seq;
  return x < y ? -1 : x > y;
}

/* The letters in seq order; *n entries, caller frees.  Returns 0 (an
 * absent area is empty) or -errno. */
static int kk__dead_scan(const char *jdir, kk__dead_ent_t **out, size_t *n) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/dead", jdir);
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : -errno;
  size_t cap = 0;
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d))) {
    uint64_t seq;
    if (!kk__dead_name_seq(de->d_name, &seq)) continue;
    struct stat sb;
    if (fstatat(dirfd(d), de->d_name, &sb, 0) != 0) continue;
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      kk__dead_ent_t *ne = realloc(*out, nc * sizeof *ne);
      if (!ne) {
        rc = KK_ENOMEM;
        break;
      }
      *out = ne;
      cap = nc;
    }
    (*out)[(*n)++] = (kk__dead_ent_t){seq, (uint64_t)sb.st_size};
  }
  closedir(d);
  if (*n > 1) qsort(*out, *n, sizeof **out, kk__dead_ent_cmp);
  return rc;
}

/* What the area held at the last scan plus what was put since, so that a
 * flood of rejected records does not list the directory per letter. */
static struct {
  char jdir[4096];
  int valid;
  uint64_t letters, bytes;
} kk__dead_cache;

static void kk__dead_trim(const char *jdir, uint64_t added) {
  if (kk__dead_cache.valid && strcmp(kk__dead_cache.jdir, jdir) == 0) {
    kk__dead_cache.letters++;
    kk__dead_cache.bytes += added;
    if (kk__dead_cache.letters <= KK__DEAD_MAX_FILES &&
        kk__dead_cache.bytes <= KK__DEAD_MAX_BYTES)
      return;
  }
  /* Over a bound: trim to 90 % of both, so that the next scan is a tenth
   * of the area away. */
  const uint64_t keep_files = KK__DEAD_MAX_FILES / 10 * 9,
                 keep_bytes = KK__DEAD_MAX_BYTES / 10 * 9;
  int over = 0;
  kk__dead_ent_t *e;
  size_t n;
  kk__dead_cache.valid = 0;
  if (kk__dead_scan(jdir, &e, &n) != 0) return;
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; i++)
    bytes += e[i].size;
  over = n > KK__DEAD_MAX_FILES || bytes > KK__DEAD_MAX_BYTES;
  size_t i = 0;
  uint64_t dropped = 0;
  while (over && i + 1 < n && (n - i > keep_files || bytes > keep_bytes)) {
    if (kk__dead_remove(jdir, e[i].seq) == 0) dropped++;
    bytes -= e[i].size;
    i++;
  }
  free(e);
  snprintf(kk__dead_cache.jdir, sizeof kk__dead_cache.jdir, "%s", jdir);
  kk__dead_cache.valid = 1;
  kk__dead_cache.letters = n - i;
  kk__dead_cache.bytes = bytes;
  if (dropped) {
    static kk_ratelimit_t rl = KK_RATELIMIT_INIT(60000, 3);
    static uint64_t unlogged;
    kk__dead_dropped += dropped;
    kk_metric_add(kk_counter("kk_dead_letters_dropped_total", NULL,
                             "Oldest dead letters deleted to keep the area "
                             "within its bounds"),
                  (int64_t)dropped);
    unlogged += dropped;
    if (kk_ratelimit_ok(&rl)) {
      kk_log(KK_LOG_WARN, "core", "journal",
             "dead letters: %llu oldest dropped to stay within %d letters and "
             "%llu MiB (%llu since the process started; "
             "kk_dead_letters_dropped_total)",
             (unsigned long long)unlogged, KK__DEAD_MAX_FILES,
             (unsigned long long)(KK__DEAD_MAX_BYTES >> 20),
             (unsigned long long)kk__dead_dropped);
      unlogged = 0;
    }
  }
}

/* write() and rename(): the file survives a crash of the process, as the
 * journal's records do with its default fsync = "never"; a dead letter or
 * marker on a loop thread must not wait for the disk on every call. */
static int kk__write_file(const char *path, const void *p, size_t n) {
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int rc = w < 0 ? -errno : KK_EIO;
      close(fd);
      unlink(tmp);
      return rc;
    }
    c += w;
    n -= (size_t)w;
  }
  if (close(fd) != 0) {
    int rc = -errno;
    unlink(tmp);
    return rc;
  }
  if (rename(tmp, path) != 0) {
    int rc = -errno;
    unlink(tmp);
    return rc;
  }
  return 0;
}

void kk__dead_format(kk_buf_t *b, const kk__journal_rec_t *rec,
                     const char *stage, const char *reason, uint32_t attempts,
                     int64_t dead_ms) {
  const char *meta = rec->meta ? rec->meta : "";
  kk_buf_printf(b,
                KK__DEAD_MAGIC "seq %" PRIu64 "\ntime_ms %" PRId64
                               "\nformat %" PRIu32 "\nattempts %" PRIu32
                               "\ndead_ms %" PRId64 "\nsource ",
                rec->seq, rec->time_ms, rec->format, attempts, dead_ms);
  /* Each field as long as a reader keeps it (kk__dead_t). */
  char src[sizeof((kk__dead_t *)0)->source], stg[sizeof src];
  snprintf(src, sizeof src, "%s", rec->source ? rec->source : "");
  snprintf(stg, sizeof stg, "%s", stage ? stage : "");
  kk__dead_esc(b, src);
  kk_buf_puts(b, "\nstage ");
  kk__dead_esc(b, stg);
  kk_buf_puts(b, "\nreason ");
  char r[sizeof((kk__dead_t *)0)->reason];
  snprintf(r, sizeof r, "%s", reason ? reason : "");
  kk__dead_esc(b, r);
  kk_buf_printf(b, "\nmeta_len %zu\ndata_len %" PRIu32 "\n\n", strlen(meta),
                rec->len);
  kk_buf_put(b, meta, strlen(meta));
  kk_buf_put(b, (const char *)rec->data, rec->len);
}

int kk__dead_put(const char *jdir, const kk__journal_rec_t *rec,
                 const char *stage, const char *reason, uint32_t attempts) {
  char dir[4200], path[4300];
  snprintf(dir, sizeof dir, "%s/dead", jdir);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -errno;
  kk_buf_t b = {0};
  kk__dead_format(&b, rec, stage, reason, attempts, kk_now_ms());
  if (b.oom) {
    kk_buf_free(&b);
    return KK_ENOMEM;
  }
  kk__dead_path(path, sizeof path, jdir, rec->seq);
  size_t len = b.len;
  int rc = kk__write_file(path, b.p, len);
  kk_buf_free(&b);
  if (rc == 0) kk__dead_trim(jdir, len);
  return rc;
}

static int kk__read_file(const char *path, uint8_t **out, size_t *n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || sb.st_size > (off_t)(17u << 20)) {
    close(fd);
    return KK_ETOOBIG;
  }
  uint8_t *p = malloc((size_t)sb.st_size + 1);
  *n = 0;
  size_t got = 0;
  while (p && got < (size_t)sb.st_size) {
    ssize_t r = read(fd, p + got, (size_t)sb.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (!p) return KK_ENOMEM;
  *out = p;
  *n = got;
  return 0;
}

int kk__dead_load(const char *jdir, uint64_t seq, kk__dead_t *out,
                  uint8_t **file, char *err, size_t errlen) {
  char path[4300];
  kk__dead_path(path, sizeof path, jdir, seq);
  size_t n = 0;
  *file = NULL;
  int rc = kk__read_file(path, file, &n);
  if (rc) {
    snprintf(err, errlen, "%s: %s", path, kk_strerror(rc));
    return rc;
  }
  rc = kk__dead_parse(*file, n, out, err, errlen);
  if (rc) {
    free(*file);
    *file = NULL;
  }
  return rc;
}

int kk__dead_list(const char *jdir,
                  int (*cb)(void *ud, const kk__dead_t *d, const char *why),
                  void *ud) {
  kk__dead_ent_t *e;
  size_t n;
  int rc = kk__dead_scan(jdir, &e, &n);
  if (rc) return rc;
  for (size_t i = 0; i < n && rc == 0; i++) {
    kk__dead_t d;
    uint8_t *file;
    char err[300];
    if (kk__dead_load(jdir, e[i].seq, &d, &file, err, sizeof err) != 0) {
      rc = cb(ud, NULL, err);
      continue;
    }
    rc = cb(ud, &d, NULL);
    free((void *)d.meta);
    free(file);
  }
  free(e);
  return rc;
}

int kk__dead_exists(const char *jdir, uint64_t seq) {
  char path[4300];
  kk__dead_path(path, sizeof path, jdir, seq);
  return access(path, F_OK) == 0;
}

int kk__dead_remove(const char *jdir, uint64_t seq) {
  char path[4300];
  kk__dead_cache.valid = 0;
  kk__dead_path(path, sizeof path, jdir, seq);
  return unlink(path) == 0 ? 0 : -errno;
}

void kk__dead_stats(const char *jdir, kk__dead_stats_t *st) {
  kk__dead_ent_t *e;
  size_t n;
  memset(st, 0, sizeof *st);
  st->dropped = kk__dead_dropped;
  if (kk__dead_scan(jdir, &e, &n) != 0) return;
  st->letters = n;
  for (size_t i = 0; i < n; i++)
    st->bytes += e[i].size;
  free(e);
}

/* ---- the in-flight marker --------------------------------------------- */

int kk__dead_mark(const char *jdir, uint64_t first, uint64_t last,
                  uint32_t crashes) {
  char path[4200], text[96];
  snprintf(path, sizeof path, "%s/inflight", jdir);
  int n = snprintf(text, sizeof text, "%" PRIu64 " %" PRIu64 " %" PRIu32 "\n",
                   first, last, crashes);
  return kk__write_file(path, text, (size_t)n);
}

void kk__dead_unmark(const char *jdir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/inflight", jdir);
  unlink(path);
}

int kk__dead_marked(const char *jdir, uint64_t *first, uint64_t *last,
                    uint32_t *crashes) {
  char path[4200];
  snprintf(path, sizeof path, "%s/inflight", jdir);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  unsigned long long a, b;
  unsigned c;
  int ok = fscanf(f, "%llu %llu %u", &a, &b, &c) == 3 && a <= b;
  fclose(f);
  if (!ok) return 0;
  *first = a;
  *last = b;
  *crashes = c;
  return 1;
}
