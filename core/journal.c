/*
 * core/journal.c - the append-only, segmented on-disk log.
 *
 * Appends are encoded into an in-memory buffer and reach the active segment
 * with one pwrite() per commit, so a source can acknowledge a whole burst
 * with one system call.  Writes always go to an explicit offset (the last
 * good size of the segment): a failed or partial commit is cut off with
 * ftruncate() and, should even that fail, a retry simply overwrites it.
 * The format is described in journal.h.
 */
#include "journal.h"
#include "crc32c.h"
#include "journal_hdr.h"

#include <klimakit/error.h>
#include <klimakit/log.h>
#include <klimakit/module.h>

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KK__J_BUF (256u << 10)
#define KK__J_NAME_MAX 128u
#define KK__J_SEGNAME 32u

typedef struct kk__seg {
  uint64_t first; /* seq of its first record, also its file name */
  uint64_t size;  /* bytes known good (for the active one: committed) */
  uint32_t hdr;   /* header length, where records start; 0: not read yet */
  int version;    /* its format version (the CRC); 0: not read yet */
} kk__seg_t;

typedef struct kk__cursor {
  char name[KK__J_NAME_MAX + 1];
  uint64_t seq;
  uint64_t saved; /* the value on disk, to skip unchanged cursors */
} kk__cursor_t;

struct kk__journal {
  kk__journal_cfg_t cfg;
  char *dir;
  int dirfd; /* holds the flock; every path is relative to it */
  int fd;    /* the active segment: always the last of segs */
  kk__seg_t *segs;
  size_t nseg, segcap;
  kk__cursor_t *curs;
  size_t ncur, curcap;
  uint8_t *buf; /* encoded records not yet written */
  size_t buflen, bufcap;
  char *scratch; /* NUL-terminated source and meta handed to readers */
  size_t scratchcap;
  uint64_t last_seq;
  int version; /* of the segments it writes (cfg.version or KK__J_VERSION) */
  /* Where the last walk stopped: every record of segment hint_first before
   * hint_off was checked and has seq <= hint_seq.  Lets a reader that polls
   * from the end skip the CRCs of the whole active segment. */
  uint64_t hint_first, hint_off, hint_seq;
  int dirty; /* written since the last fdatasync */
  uint64_t last_sync_ms;
  kk__journal_stats_t st;
  /* Where records begin, for readers of older ones; the next is due at
   * ck_due of segment ck_seg (one compare an append). */
  uint64_t ck_seg, ck_due;
  kk__jck_t ck;
};

typedef int (*kk__journal_cb)(void *ud, const kk__journal_rec_t *rec);

/* Little-endian fields at any alignment. */
#define KK__J_WR(bits)                                                         \
  static inline void kk__wr##bits(uint8_t *p, uint##bits##_t v) {              \
    v = htole##bits(v);                                                        \
    memcpy(p, &v, sizeof v);                                                   \
  }                                                                            \
  static inline uint##bits##_t kk__rd##bits(const uint8_t *p) {                \
    uint##bits##_t v;                                                          \
    memcpy(&v, p, sizeof v);                                                   \
    return le##bits##toh(v);                                                   \
  }
KK__J_WR(16)
KK__J_WR(32)
KK__J_WR(64)

static uint64_t kk__clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void kk__seg_name(char *out, uint64_t first) {
  snprintf(out, KK__J_SEGNAME, "%020" PRIu64 ".kkj", first);
}

/* Accepts exactly the names kk__seg_name produces (first seq >= 1). */
static int kk__seg_parse(const char *name, uint64_t *first) {
  uint64_t v = 0;
  if (strlen(name) != 24 || strcmp(name + 20, ".kkj") != 0) return 0;
  for (int i = 0; i < 20; i++) {
    unsigned d = (unsigned)(name[i] - '0');
    if (d > 9 || v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *first = v;
  return v != 0;
}

static int kk__seg_cmp(const void *a, const void *b) {
  uint64_t x = ((const kk__seg_t *)a)->first, y = ((const kk__seg_t *)b)->first;
  return x < y ? -1 : x > y;
}

/* Returns `arr` grown (by doubling) to hold `need` elements of `size`
 * bytes, or NULL with `arr` untouched. */
static void *kk__grow(void *arr, size_t *cap, size_t need, size_t size) {
  size_t n = *cap ? *cap : 8;
  if (need <= *cap) return arr;
  while (n < need)
    n *= 2;
  if ((arr = realloc(arr, n * size))) *cap = n;
  return arr;
}

static int kk__seg_push(kk__journal_t *j, uint64_t first, uint64_t size) {
  kk__seg_t *s = kk__grow(j->segs, &j->segcap, j->nseg + 1, sizeof *s);
  if (!s) return KK_ENOMEM;
  j->segs = s;
  j->segs[j->nseg].first = first;
  j->segs[j->nseg].size = size;
  j->segs[j->nseg].hdr = 0;
  j->segs[j->nseg].version = 0;
  j->nseg++;
  return 0;
}

static int kk__pwrite_all(int fd, const void *p, size_t len, uint64_t off) {
  const uint8_t *b = p;
  while (len > 0) {
    ssize_t n = pwrite(fd, b, len, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return KK_EIO; /* would loop forever otherwise */
    b += n;
    len -= (size_t)n;
    off += (uint64_t)n;
  }
  return 0;
}

static int kk__fsync_at(int dirfd, const char *path) {
  int rc = 0, fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (fsync(fd) != 0) rc = -errno;
  close(fd);
  return rc;
}

/* Moves the bytes from `off` to the end of a segment aside and cuts the
 * segment there.  A person can still look at the damage, while the journal
 * goes on with a clean tail.  The cut happens even when the copy fails
 * (disk full): unreadable bytes must not block appends. */
static void kk__quarantine(kk__journal_t *j, uint64_t first, const uint8_t *p,
                           size_t len, uint64_t off, const char *why) {
  char seg[KK__J_SEGNAME], path[96];
  int fd = -1, saved = 0;
  kk__seg_name(seg, first);
  /* Never overwrite earlier evidence from the same offset. */
  for (int k = 0; k < 100 && fd < 0; k++) {
    if (k == 0)
      snprintf(path, sizeof path, "quarantine/%s.%" PRIu64, seg, off);
    else
      snprintf(path, sizeof path, "quarantine/%s.%" PRIu64 ".%d", seg, off, k);
    fd = openat(j->dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd >= 0) {
    saved = kk__pwrite_all(fd, p, len, 0) == 0 && fsync(fd) == 0;
    close(fd);
  }
  j->st.corrupt++;
  kk_log(KK_LOG_WARN, "core", "journal",
         "%s: %s at offset %" PRIu64 "; %zu bytes %s %s", seg, why, off, len,
         saved ? "moved to" : "dropped, could not write to", path);
  fd = openat(j->dirfd, seg, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)off) != 0)
    kk_log(KK_LOG_ERROR, "core", "journal", "%s: cannot truncate: %s", seg,
           strerror(errno));
  if (fd >= 0) close(fd);
  for (size_t i = 0; i < j->nseg; i++)
    if (j->segs[i].first == first) j->segs[i].size = off;
}

/* Walks segment `idx`: checks every record and calls cb (if any) for those
 * with from <= seq <= to.  At the first record that does not check out, the
 * rest of the segment goes to quarantine.  *last gets the last good seq (first
 * - 1 if there is none).  Returns 0, cb's value or -errno. */
static int kk__seg_walk(kk__journal_t *j, size_t idx, uint64_t from,
                        uint64_t to, kk__journal_cb cb, void *ud,
                        uint64_t *last) {
  char name[KK__J_SEGNAME];
  const uint64_t first = j->segs[idx].first;
  uint64_t prev = first - 1, off = 0, size = 0;
  kk__jmap_t m = {.fd = -1};
  const uint8_t *rest = NULL;
  const char *why = NULL;
  struct stat sb;
  int rc = 0, fd, version = 0;

  *last = prev;
  kk__seg_name(name, first);
  fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (fstat(fd, &sb) != 0) {
    rc = -errno;
    goto out;
  }
  size = (uint64_t)sb.st_size;
  /* The active segment may hold the remains of a failed commit that
   * ftruncate() could not remove; they are not records yet. */
  if (j->fd >= 0 && idx == j->nseg - 1 && size > j->segs[idx].size)
    size = j->segs[idx].size;
  if (size == 0) goto out;
  m.fd = fd;
  m.size = size;
  /* A crash while a segment was being created leaves part of the header:
   * that is an empty segment, not damage. */
  const uint8_t *h =
      kk__jmap_at(&m, 0, size < KK__J_SEGHDR ? size : KK__J_SEGHDR);
  if (!h) {
    rc = -errno;
    goto out;
  }
  int64_t hdr = kk__jhdr_read(h, size, first, &version, &why);
  if (hdr == 0) goto out;
  off = hdr > 0 ? (uint64_t)hdr : 0;
  j->segs[idx].hdr = hdr > 0 ? (uint32_t)hdr : 0;
  j->segs[idx].version = hdr > 0 ? version : 0;
  if (!why && j->hint_first == first && j->hint_seq < from &&
      j->hint_off <= size) {
    off = j->hint_off;
    prev = *last = j->hint_seq;
  }
  uint64_t ck_off, ck_seq;
  if (!why && kk__jck_find(&j->ck, &m, first, from, &ck_off, &ck_seq) &&
      ck_off > off)
    prev = *last = (off = ck_off, ck_seq - 1);
  while (!why && off < size) {
    kk__jrec_t r;
    if ((why = kk__jrec_check(&m, version, off, prev, &r))) break;
    if (!r.body) {
      rc = -errno;
      goto out;
    }
    const uint8_t *b = r.body;
    uint64_t seq = r.seq;
    uint32_t blen = r.blen, sl = r.sl, ml = r.ml;
    if (cb && seq >= from && seq <= to) {
      char *s = kk__grow(j->scratch, &j->scratchcap, sl + ml + 2, 1);
      if (!s) {
        rc = KK_ENOMEM;
        goto out;
      }
      j->scratch = s;
      memcpy(j->scratch, b + KK__J_BODY_HDR, sl);
      j->scratch[sl] = '\0';
      memcpy(j->scratch + sl + 1, b + KK__J_BODY_HDR + sl, ml);
      j->scratch[sl + 1 + ml] = '\0';
      kk__journal_rec_t rec = {
          .seq = seq,
          .time_ms = (int64_t)kk__rd64(b + 8),
          .format = kk__rd32(b + 16),
          .source = j->scratch,
          .meta = j->scratch + sl + 1,
          .data = b + KK__J_BODY_HDR + sl + ml,
          .len = blen - KK__J_BODY_HDR - sl - ml,
      };
      rc = cb(ud, &rec);
      if (rc != 0) goto out;
    }
    *last = prev = seq;
    off += KK__J_HDR + blen;
  }
out:
  if (why && !(rest = kk__jmap_at(&m, off, size - off))) {
    rc = -errno; /* the segment stays as it is */
    why = NULL;
  }
  if (why) kk__quarantine(j, first, rest, (size_t)(size - off), off, why);
  /* The active segment lost its header: appends need a new one. */
  if (why && off == 0 && j->fd >= 0 && idx == j->nseg - 1 &&
      kk__jhdr_write(j->fd, first, j->version) == 0) {
    j->segs[idx].size = j->segs[idx].hdr = KK__J_SEGHDR;
    j->segs[idx].version = j->version;
  }
  if (off >= KK__J_MAGIC_LEN && j->segs[idx].hdr) {
    j->hint_first = first;
    j->hint_off = off;
    j->hint_seq = prev;
  }
  kk__jmap_close(&m);
  close(fd);
  return rc;
}

/* Creates segment `first` and makes it the active one.  The previous one is
 * synced first under the interval policy, because kk__journal_tick only
 * ever syncs the active segment. */
static int kk__seg_create(kk__journal_t *j, uint64_t first) {
  char name[KK__J_SEGNAME];
  int rc, fd;
  kk__seg_name(name, first);
  fd = openat(j->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  rc = kk__jhdr_write(fd, first, j->version);
  /* The new name must survive a power loss, or so would not its records. */
  if (rc == 0 && j->cfg.fsync != KK__FSYNC_NEVER && fsync(j->dirfd) != 0)
    rc = -errno;
  if (rc == 0) rc = kk__seg_push(j, first, KK__J_SEGHDR);
  if (rc == 0) {
    j->segs[j->nseg - 1].hdr = KK__J_SEGHDR;
    j->segs[j->nseg - 1].version = j->version;
  }
  if (rc != 0) {
    close(fd);
    unlinkat(j->dirfd, name, 0);
    return rc;
  }
  if (j->fd >= 0) {
    if (j->dirty && j->cfg.fsync != KK__FSYNC_NEVER && fdatasync(j->fd) != 0)
      kk_log(KK_LOG_WARN, "core", "journal", "fdatasync: %s", strerror(errno));
    close(j->fd);
  }
  j->fd = fd;
  j->dirty = 0;
  return 0;
}

int kk__journal_open(const kk__journal_cfg_t *cfg, kk__journal_t **out,
                     char *err, size_t errlen) {
  kk__journal_t *j = NULL;
  DIR *d = NULL;
  const char *what = "invalid configuration";
  char name[KK__J_SEGNAME], newer[160];
  struct dirent *de;
  int rc = KK_EINVAL;

  if (out) *out = NULL;
  if (!cfg || !out || !cfg->dir || !*cfg->dir ||
      (cfg->version != 0 && cfg->version != 2 && cfg->version != KK__J_VERSION))
    goto fail;
  what = "out of memory";
  rc = KK_ENOMEM;
  if (!(j = calloc(1, sizeof *j))) goto fail;
  j->dirfd = j->fd = -1;
  j->cfg = *cfg;
  j->version = cfg->version ? cfg->version : KK__J_VERSION;
  if (!j->cfg.segment_size) j->cfg.segment_size = 64u << 20;
  if (!j->cfg.fsync_interval_ms) j->cfg.fsync_interval_ms = 1000;
  if (!(j->dir = strdup(cfg->dir)) || !(j->buf = malloc(KK__J_BUF))) goto fail;
  j->cfg.dir = j->dir;
  j->bufcap = KK__J_BUF;

  what = "cannot create the directory";
  if ((rc = kk_mkdirs(j->dir, 0)) != 0) goto fail;
  what = "cannot open the directory";
  j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (j->dirfd < 0) goto fail_errno;
  /* Two writers on one journal would interleave records. */
  what = "journal is in use by another process";
  if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) goto fail_errno;
    rc = KK_EBUSY;
    goto fail;
  }
  what = "cannot create cursors/ or quarantine/";
  if ((mkdirat(j->dirfd, "cursors", 0755) != 0 && errno != EEXIST) ||
      (mkdirat(j->dirfd, "quarantine", 0755) != 0 && errno != EEXIST))
    goto fail_errno;

  what = "cannot list segments";
  if (!(d = opendir(j->dir))) goto fail_errno;
  while ((errno = 0, de = readdir(d))) {
    uint64_t first;
    struct stat sb;
    if (!kk__seg_parse(de->d_name, &first)) continue;
    if (fstatat(j->dirfd, de->d_name, &sb, 0) != 0) goto fail_errno;
    if ((rc = kk__jhdr_newer(j->dirfd, de->d_name, newer, sizeof newer)) != 0) {
      what = newer;
      goto fail;
    }
    if ((rc = kk__seg_push(j, first, (uint64_t)sb.st_size)) != 0) goto fail;
  }
  if (errno != 0) goto fail_errno;
  if (j->nseg > 1) qsort(j->segs, j->nseg, sizeof *j->segs, kk__seg_cmp);

  what = "cannot create the first segment";
  if (j->nseg == 0) {
    if ((rc = kk__seg_create(j, 1)) != 0) goto fail;
  } else {
    /* Only the newest segment can have a torn tail: older ones were
     * complete when the journal rolled over. */
    what = "cannot check the newest segment";
    if ((rc = kk__seg_walk(j, j->nseg - 1, 0, 0, NULL, NULL, &j->last_seq)) !=
        0)
      goto fail;
    kk__seg_t *a = &j->segs[j->nseg - 1];
    kk__seg_name(name, a->first);
    what = "cannot open the newest segment";
    j->fd = openat(j->dirfd, name, O_WRONLY | O_CLOEXEC);
    if (j->fd < 0) goto fail_errno;
    /* Repeat the cut: if quarantine could not truncate, this fails. */
    if (ftruncate(j->fd, (off_t)a->size) != 0) goto fail_errno;
    if (a->hdr == 0 || (a->version != j->version && a->size == a->hdr)) {
      /* An interrupted header, or an empty segment of an older version:
       * written again as this version's. */
      a->size = 0;
      if (ftruncate(j->fd, 0) != 0) goto fail_errno;
      if ((rc = kk__jhdr_write(j->fd, a->first, j->version)) != 0) goto fail;
      a->size = a->hdr = KK__J_SEGHDR;
      a->version = j->version;
    } else if (a->version != j->version) {
      /* The upgrade: an older segment with records stays as it is (read
       * with its own CRC, replayed and retired like any other); new
       * records go to a new segment of this version. */
      what = "cannot start a segment of the current format";
      kk_log(KK_LOG_INFO, "core", "journal",
             "%s: format version %d; appending to a new version-%d segment",
             name, a->version, j->version);
      if ((rc = kk__seg_create(j, j->last_seq + 1)) != 0) goto fail;
    }
  }
  closedir(d);
  j->last_sync_ms = kk__clock_ms(CLOCK_MONOTONIC);
  *out = j;
  return 0;

fail_errno:
  rc = errno ? -errno : KK_EIO;
fail:
  if (err && errlen)
    snprintf(err, errlen, "journal %s: %s (%s)",
             cfg && cfg->dir ? cfg->dir : "", what, kk_strerror(rc));
  if (d) closedir(d);
  kk__journal_close(j);
  return rc;
}

int kk__journal_commit(kk__journal_t *j) {
  int rc;
  if (!j) return KK_EINVAL;
  if (j->buflen == 0) return 0;
  kk__seg_t *a = &j->segs[j->nseg - 1];
  rc = kk__pwrite_all(j->fd, j->buf, j->buflen, a->size);
  if (rc == 0 && j->cfg.fsync == KK__FSYNC_ALWAYS && fdatasync(j->fd) != 0)
    rc = -errno;
  if (rc != 0) {
    /* Keep the records buffered and cut off whatever part of them reached
     * the file, so that a crash before the retry leaves no torn copy. */
    if (ftruncate(j->fd, (off_t)a->size) != 0)
      kk_log(KK_LOG_WARN, "core", "journal", "ftruncate: %s", strerror(errno));
    return rc;
  }
  a->size += j->buflen;
  j->st.bytes_written += j->buflen;
  j->buflen = 0;
  j->dirty = j->cfg.fsync != KK__FSYNC_ALWAYS;
  /* Give back the memory of an oversized record. */
  if (j->bufcap > KK__J_BUF) {
    uint8_t *b = realloc(j->buf, KK__J_BUF);
    if (b) {
      j->buf = b;
      j->bufcap = KK__J_BUF;
    }
  }
  return 0;
}

int kk__journal_append(kk__journal_t *j, const char *source, int64_t time_ms,
                       uint32_t format, const char *meta, const void *data,
                       size_t len, uint64_t *seq) {
  size_t sl = source ? strlen(source) : 0, ml = meta ? strlen(meta) : 0;
  int rc;
  if (!j || !seq || (!data && len)) return KK_EINVAL;
  if (sl > UINT16_MAX || ml > UINT16_MAX ||
      len > KK__J_MAX_BODY - KK__J_BODY_HDR - sl - ml)
    return KK_ETOOBIG;
  size_t blen = KK__J_BODY_HDR + sl + ml + len, rlen = KK__J_HDR + blen;
  uint64_t used = j->segs[j->nseg - 1].size + j->buflen;
  /* Roll over before a record that would carry the segment past its size;
   * a record bigger than a whole segment gets an empty one to itself. */
  if (used + rlen > j->cfg.segment_size && used > j->segs[j->nseg - 1].hdr) {
    if ((rc = kk__journal_commit(j)) != 0) return rc;
    if ((rc = kk__seg_create(j, j->last_seq + 1)) != 0) return rc;
  }
  if (j->buflen + rlen > j->bufcap) {
    if ((rc = kk__journal_commit(j)) != 0) return rc;
    if (rlen > j->bufcap) {
      uint8_t *b = realloc(j->buf, rlen);
      if (!b) return KK_ENOMEM;
      j->buf = b;
      j->bufcap = rlen;
    }
  }
  uint8_t *p = j->buf + j->buflen, *b = p + KK__J_HDR;
  kk__wr32(p, (uint32_t)blen);
  kk__wr64(b, j->last_seq + 1);
  kk__wr64(b + 8, (uint64_t)time_ms);
  kk__wr32(b + 16, format);
  kk__wr16(b + 20, (uint16_t)sl);
  kk__wr16(b + 22, (uint16_t)ml);
  if (sl) memcpy(b + KK__J_BODY_HDR, source, sl);
  if (ml) memcpy(b + KK__J_BODY_HDR + sl, meta, ml);
  if (j->version >= 3) {
    /* The data is copied and summed in one pass. */
    uint32_t crc = kk__crc32c(0, b, KK__J_BODY_HDR + sl + ml);
    kk__wr32(p + 4,
             kk__crc32c_copy(crc, b + KK__J_BODY_HDR + sl + ml, data, len));
  } else {
    if (len) memcpy(b + KK__J_BODY_HDR + sl + ml, data, len);
    kk__wr32(p + 4, kk__jhdr_crc(j->version, b, blen));
  }
  const kk__seg_t *sg = &j->segs[j->nseg - 1];
  if (sg->size + j->buflen >= j->ck_due || sg->first != j->ck_seg) {
    kk__jck_add(&j->ck, sg->first, j->last_seq + 1, sg->size + j->buflen);
    j->ck_seg = sg->first;
    j->ck_due = ((sg->size + j->buflen) | ((1u << KK__J_CK_SHIFT) - 1)) + 1;
  }
  j->buflen += rlen;
  j->st.appended++;
  *seq = ++j->last_seq;
  return 0;
}

void kk__journal_tick(kk__journal_t *j) {
  if (!j || j->cfg.fsync != KK__FSYNC_INTERVAL || !j->dirty) return;
  uint64_t now = kk__clock_ms(CLOCK_MONOTONIC);
  if (now - j->last_sync_ms < j->cfg.fsync_interval_ms) return;
  if (fdatasync(j->fd) == 0)
    j->dirty = 0;
  else
    kk_log(KK_LOG_WARN, "core", "journal", "fdatasync: %s", strerror(errno));
  j->last_sync_ms = now;
}

uint64_t kk__journal_last_seq(const kk__journal_t *j) {
  return j ? j->last_seq : 0;
}

/* Sink names become file names: no separators, no dot files (which covers
 * "." and ".."), and no ".tmp" suffix, which would collide with the
 * temporary file of another cursor. */
static int kk__cursor_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > KK__J_NAME_MAX || name[0] == '.') return 0;
  if (n >= 4 && strcmp(name + n - 4, ".tmp") == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

static kk__cursor_t *kk__cursor_find(kk__journal_t *j, const char *name) {
  for (size_t i = 0; i < j->ncur; i++)
    if (strcmp(j->curs[i].name, name) == 0) return &j->curs[i];
  return NULL;
}

/* Replaces cursors/<name> atomically; the caller syncs the directory. */
static int kk__cursor_write(kk__journal_t *j, kk__cursor_t *c) {
  char path[KK__J_NAME_MAX + 16], tmp[KK__J_NAME_MAX + 16], text[24];
  int rc, fd, n = snprintf(text, sizeof text, "%" PRIu64 "\n", c->seq);
  snprintf(path, sizeof path, "cursors/%s", c->name);
  snprintf(tmp, sizeof tmp, "cursors/%s.tmp", c->name);
  fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  rc = kk__pwrite_all(fd, text, (size_t)n, 0);
  /* Under fsync = never the journal promises to survive a crash of the
   * process, which the page cache does; a cursor torn by a power loss
   * is read as 0 (cursor_register).  The engine saves cursors on every
   * tick that moved one, and two fsyncs per save were the loop's
   * longest stalls under load. */
  if (rc == 0 && j->cfg.fsync != KK__FSYNC_NEVER && fsync(fd) != 0) rc = -errno;
  close(fd);
  if (rc == 0 && renameat(j->dirfd, tmp, j->dirfd, path) != 0) rc = -errno;
  if (rc != 0)
    unlinkat(j->dirfd, tmp, 0);
  else
    c->saved = c->seq;
  return rc;
}

int kk__journal_cursor_register(kk__journal_t *j, const char *name,
                                uint64_t *seq) {
  char path[KK__J_NAME_MAX + 16], text[32];
  kk__cursor_t *c;
  int rc = 0, fd;
  if (!j || !seq || !kk__cursor_name_ok(name)) return KK_EINVAL;
  if ((c = kk__cursor_find(j, name))) {
    *seq = c->seq;
    return 0;
  }
  if (!(c = kk__grow(j->curs, &j->curcap, j->ncur + 1, sizeof *c)))
    return KK_ENOMEM;
  j->curs = c;
  c = &j->curs[j->ncur];
  memset(c, 0, sizeof *c);
  memcpy(c->name, name, strlen(name) + 1);
  snprintf(path, sizeof path, "cursors/%s", name);
  fd = openat(j->dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n;
    do
      n = read(fd, text, sizeof text - 1);
    while (n < 0 && errno == EINTR);
    rc = -errno;
    close(fd);
    if (n < 0) return rc;
    text[n] = '\0';
    char *end;
    errno = 0;
    c->seq = c->saved = strtoull(text, &end, 10);
    if (n == 0 && j->cfg.fsync == KK__FSYNC_NEVER) {
      /* Saved without fsync (above) and torn by a power loss: replay
       * everything the journal still holds (at least once). */
      kk_log(KK_LOG_WARN, "core", "journal",
             "cursor %s is empty (a power loss under fsync never?): "
             "replaying from the oldest record kept",
             name);
      c->seq = c->saved = 0;
    } else if (n == 0 || text[0] < '0' || text[0] > '9' || errno ||
               (*end && strcmp(end, "\n") != 0)) {
      return KK_ECORRUPT;
    }
    /* A cursor past the end means the journal lost its tail (power loss
     * under fsync never) or was wiped: new records will reuse those seqs
     * and the sink must not skip them. */
    if (c->seq > j->last_seq) {
      kk_log(KK_LOG_WARN, "core", "journal",
             "cursor %s at %" PRIu64 " is past the end (%" PRIu64
             "), moved back",
             name, c->seq, j->last_seq);
      c->seq = j->last_seq;
    }
  } else if (errno == ENOENT) {
    /* A new sink starts at the end; persist that at once so that a crash
     * does not move its start to a later end. */
    c->seq = j->last_seq;
    if ((rc = kk__cursor_write(j, c)) != 0 ||
        (rc = kk__fsync_at(j->dirfd, "cursors")) != 0)
      return rc;
  } else {
    return -errno;
  }
  j->ncur++;
  *seq = c->seq;
  return 0;
}

void kk__journal_cursor_set(kk__journal_t *j, const char *name, uint64_t seq) {
  kk__cursor_t *c = j && name ? kk__cursor_find(j, name) : NULL;
  if (c && seq > c->seq) c->seq = seq;
}

int kk__journal_cursors_save(kk__journal_t *j) {
  int rc = 0, wrote = 0;
  if (!j) return KK_EINVAL;
  for (size_t i = 0; i < j->ncur; i++) {
    if (j->curs[i].seq == j->curs[i].saved) continue;
    int r = kk__cursor_write(j, &j->curs[i]);
    if (r == 0) wrote = 1;
    if (r != 0 && rc == 0) rc = r;
  }
  if (wrote && j->cfg.fsync != KK__FSYNC_NEVER) {
    int r = kk__fsync_at(j->dirfd, "cursors");
    if (rc == 0) rc = r;
  }
  return rc;
}

int kk__journal_retire(kk__journal_t *j) {
  char name[KK__J_SEGNAME];
  uint64_t min = UINT64_MAX, total = 0, now;
  size_t k = 0, n = 0;
  if (!j || j->ncur == 0) return 0;
  for (size_t i = 0; i < j->ncur; i++)
    if (j->curs[i].seq < min) min = j->curs[i].seq;
  /* Consumed: every cursor is at or past the segment's last seq, which is
   * the next segment's first seq minus one.  The active one never is. */
  while (k + 1 < j->nseg && j->segs[k + 1].first - 1 <= min)
    total += j->segs[k++].size;
  now = kk__clock_ms(CLOCK_REALTIME);
  /* Oldest first, and stop at the first one retention keeps, so that the
   * journal stays contiguous. */
  for (; n < k; n++) {
    int drop = j->cfg.retain_age_ms == 0 ||
               (j->cfg.retain_size && total > j->cfg.retain_size);
    kk__seg_name(name, j->segs[n].first);
    if (!drop) {
      struct stat sb;
      if (fstatat(j->dirfd, name, &sb, 0) != 0) break;
      uint64_t mtime = (uint64_t)sb.st_mtim.tv_sec * 1000u +
                       (uint64_t)sb.st_mtim.tv_nsec / 1000000u;
      drop = now > mtime && now - mtime > j->cfg.retain_age_ms;
    }
    if (!drop) break;
    if (unlinkat(j->dirfd, name, 0) != 0 && errno != ENOENT) {
      kk_log(KK_LOG_WARN, "core", "journal", "cannot delete %s: %s", name,
             strerror(errno));
      break;
    }
    total -= j->segs[n].size;
  }
  memmove(j->segs, j->segs + n, (j->nseg - n) * sizeof *j->segs);
  if (n) j->hint_first = 0;
  j->nseg -= n;
  j->st.retired += n;
  return (int)n;
}

int kk__journal_read(kk__journal_t *j, uint64_t from,
                     int (*cb)(void *ud, const kk__journal_rec_t *rec),
                     void *ud) {
  uint64_t cur, last, to;
  size_t i = 0;
  int rc;
  if (!j || !cb) return KK_EINVAL;
  /* Readers must see everything appended so far.  If the disk refuses the
   * commit they still get what is on disk, and the rest later. */
  (void)kk__journal_commit(j);
  /* Only what exists now: a callback that appends must not chase its own
   * records from segment to segment. */
  to = j->last_seq;
  while (i + 1 < j->nseg && j->segs[i + 1].first <= from)
    i++;
  cur = j->segs[i].first;
  for (;;) {
    if ((rc = kk__seg_walk(j, i, from, to, cb, ud, &last)) != 0) return rc;
    /* The callback may have appended (rolling over) or retired: find the
     * next segment by its first seq, not by its index. */
    for (i = 0; i < j->nseg && j->segs[i].first <= cur; i++) {
    }
    if (i == j->nseg || j->segs[i].first > to) return 0;
    cur = j->segs[i].first;
  }
}

void kk__journal_stats(const kk__journal_t *j, kk__journal_stats_t *st) {
  memset(st, 0, sizeof *st);
  if (!j) return;
  *st = j->st;
  st->segments = j->nseg;
  for (size_t i = 0; i < j->nseg; i++)
    st->disk_bytes += j->segs[i].size;
}

void kk__journal_close(kk__journal_t *j) {
  int rc;
  if (!j) return;
  if (j->fd >= 0) {
    if ((rc = kk__journal_commit(j)) != 0)
      kk_log(KK_LOG_ERROR, "core", "journal",
             "%zu buffered bytes lost at close: %s", j->buflen,
             kk_strerror(rc));
    if (j->dirty && fdatasync(j->fd) != 0)
      kk_log(KK_LOG_WARN, "core", "journal", "fdatasync: %s", strerror(errno));
    close(j->fd);
  }
  if (j->dirfd >= 0) {
    if ((rc = kk__journal_cursors_save(j)) != 0)
      kk_log(KK_LOG_ERROR, "core", "journal", "cannot save cursors: %s",
             kk_strerror(rc));
    close(j->dirfd);
  }
  free(j->segs);
  free(j->curs);
  free(j->buf);
  free(j->scratch);
  free(j->dir);
  free(j);
}
