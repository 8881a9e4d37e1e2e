/*
 * modules/forward/forward_spool.c - the spool of a forwarding sink: the
 * bounded on-disk queue of readings not yet acknowledged by the receiver
 * (see forward_spool.h for its layout).  Opening recovers it after a crash;
 * appending writes one line per batch; the head window parses the items at
 * the read position for the delivery loop (forward_delivery.c), and
 * consuming moves the saved read position past what was delivered.  Runs
 * on the loop thread.
 */
#include <klimakit.h>
#include "forward/forward_spool.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FW_SEG_SIZE (4u << 20) /* a new segment starts past this size */

/* ---- files ----------------------------------------------------------- */

static void fw_seg_path(const fw_t *fw, uint64_t seg, char *out, size_t len) {
  snprintf(out, len, "%s/%012" PRIu64 ".jsonl", fw->dir, seg);
}

static uint64_t fw_file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* ---- opening and recovery ------------------------------------------ */

static int fw_save_pos(fw_t *fw) {
  char path[4200], tmp[4300];
  snprintf(path, sizeof path, "%s/pos", fw->dir);
  snprintf(tmp, sizeof tmp, "%s/pos.tmp", fw->dir);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  char buf[96];
  int n = snprintf(buf, sizeof buf, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
                   fw->rseg, fw->roff, fw->rsub);
  int rc = write(fd, buf, (size_t)n) == n ? 0 : -errno;
  if (close(fd) != 0 && rc == 0) rc = -errno;
  if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
  return rc;
}

/* Finds the highest seq in the newest segment and cuts a torn last line
 * (one without its newline: the process died inside write()). */
static int fw_recover_tail(fw_t *fw) {
  char path[4200];
  fw_seg_path(fw, fw->wseg, path, sizeof path);
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? 0 : -errno;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  uint64_t good = 0;
  while ((n = getline(&line, &cap, f)) > 0) {
    if (line[n - 1] != '\n') break;
    good += (uint64_t)n;
    cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
    cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
    if (cJSON_IsNumber(seq) && seq->valuedouble > (double)fw->last_seq)
      fw->last_seq = (uint64_t)seq->valuedouble;
    cJSON_Delete(j);
  }
  free(line);
  fclose(f);
  if (fw_file_size(path) != good) {
    kk_stage_log(fw->st, KK_LOG_WARN,
                 "spool: cutting a torn record at the "
                 "end of %s",
                 path);
    if (truncate(path, (off_t)good) != 0) return -errno;
  }
  fw->wsize = good;
  return 0;
}

int fw_spool_open(fw_t *fw) {
  int rc = kk_mkdirs(fw->dir, 0);
  if (rc) return rc;
  DIR *d = opendir(fw->dir);
  if (!d) return -errno;
  uint64_t lo = UINT64_MAX, hi = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    char *end;
    unsigned long long v = strtoull(de->d_name, &end, 10);
    if (end == de->d_name || strcmp(end, ".jsonl") != 0) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  closedir(d);
  if (lo == UINT64_MAX) lo = hi = 1;
  fw->wseg = hi;
  fw->rseg = lo;
  fw->roff = fw->rsub = 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/pos", fw->dir);
  FILE *f = fopen(path, "r");
  if (f) {
    uint64_t s, o, i;
    if (fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64, &s, &o, &i) == 3 &&
        s >= lo && s <= hi) {
      fw->rseg = s;
      fw->roff = o;
      fw->rsub = i;
    }
    fclose(f);
  }
  if ((rc = fw_recover_tail(fw)) != 0) return rc;
  /* Segments wholly before the read position are done. */
  for (uint64_t s = lo; s < fw->rseg; s++) {
    fw_seg_path(fw, s, path, sizeof path);
    unlink(path);
  }
  fw->pending = 0;
  for (uint64_t s = fw->rseg; s <= fw->wseg; s++) {
    fw_seg_path(fw, s, path, sizeof path);
    fw->pending += fw_file_size(path);
  }
  fw->pending = fw->pending > fw->roff ? fw->pending - fw->roff : 0;
  fw_seg_path(fw, fw->wseg, path, sizeof path);
  fw->wfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fw->wfd < 0) return -errno;
  return 0;
}

/* ---- appending ----------------------------------------------------- */

static int fw_write_all(int fd, const char *p, size_t n) {
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

/* An event batch (FW_EVENT_META, forward.h) has a document per reading. */
static int fw_is_event_batch(kk_batch_t *b) {
  size_t n = kk_batch_raw_len(b);
  if (n == 0 || n != kk_batch_len(b)) return 0;
  const kk_raw_t *raw = kk_batch_raw(b, 0);
  return raw->meta && strcmp(raw->meta, FW_EVENT_META) == 0;
}

static void fw_render(fw_t *fw, kk_batch_t *b) {
  kk_buf_t *sb = &fw->line;
  const kk_reading_t *r = kk_batch_readings(b);
  size_t n = kk_batch_len(b);
  int events = fw_is_event_batch(b);
  char num[KK_FMT_DOUBLE_MAX];
  sb->len = 0;
  kk_buf_printf(sb, "{\"seq\":%" PRIu64 ",\"r\":[", kk_batch_seq(b));
  for (size_t i = 0; i < n; i++) {
    const kk_datastream_t *d = kk_datastream_get(r[i].ds);
    kk_buf_puts(sb, i ? ",[\"" : "[\"");
    kk_buf_json(sb, d ? d->thing : "");
    kk_buf_puts(sb, "\",\"");
    kk_buf_json(sb, d ? d->property : "");
    kk_buf_puts(sb, "\",\"");
    kk_buf_json(sb, d ? d->unit : "");
    kk_buf_printf(sb, "\",%" PRId64 ",", r[i].time_ms);
    size_t k = kk_fmt_double(r[i].value, num);
    kk_buf_put(sb, num, k);
    if (events) { /* the event document, as a JSON string */
      const kk_raw_t *raw = kk_batch_raw(b, i);
      char *doc = strndup((const char *)raw->data, raw->len);
      if (!doc) sb->oom = 1;
      kk_buf_puts(sb, ",\"");
      kk_buf_json(sb, doc ? doc : "");
      kk_buf_puts(sb, "\"");
      free(doc);
    }
    kk_buf_puts(sb, "]");
  }
  kk_buf_puts(sb, "]}\n");
}

/* 0 appended or skipped, KK_EFULL, or a write error. */
int fw_spool_append(fw_t *fw, kk_batch_t *b) {
  uint64_t seq = kk_batch_seq(b);
  if (kk_batch_len(b) == 0) return 0;
  if (seq && seq <= fw->last_seq) {
    if (kk_batch_readings(b)[0].flags & KK_READING_REPLAY) {
      /* Replayed after a restart, but spooled before it. */
      kk_metric_add(fw->m_skipped, (int64_t)kk_batch_len(b));
      return 0;
    }
    /* A live batch below the spool's mark: the journal was started
     * afresh.  Forget the mark rather than drop live data. */
    kk_stage_log(fw->st, KK_LOG_WARN,
                 "journal sequence %" PRIu64 " is below the spool's %" PRIu64
                 " (a new journal?); spooling from here on",
                 seq, fw->last_seq);
    fw->last_seq = 0;
  }
  fw_render(fw, b);
  if (fw->line.oom) {
    fw->line.oom = 0;
    return KK_ENOMEM;
  }
  if (fw->pending > 0 && fw->pending + fw->line.len > fw->max_bytes)
    return KK_EFULL;
  if (fw->wsize >= FW_SEG_SIZE) {
    char path[4200];
    fw_seg_path(fw, fw->wseg + 1, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    close(fw->wfd);
    fw->wfd = fd;
    fw->wseg++;
    fw->wsize = 0;
  }
  int rc = fw_write_all(fw->wfd, fw->line.p, fw->line.len);
  if (rc) return rc;
  fw->wsize += fw->line.len;
  fw->pending += fw->line.len;
  if (seq) fw->last_seq = seq;
  kk_metric_add(fw->m_spooled, (int64_t)kk_batch_len(b));
  kk_metric_set(fw->m_spool_bytes, (int64_t)fw->pending);
  if (fw->line.cap > (8u << 20)) {
    kk_buf_free(&fw->line);
    memset(&fw->line, 0, sizeof fw->line);
  }
  return 0;
}

/* ---- the head window ----------------------------------------------- */

void fw_spool_clear_window(fw_t *fw) {
  for (size_t i = 0; i < fw->nrecs; i++)
    cJSON_Delete(fw->roots[i]);
  fw->nrecs = fw->nitems = fw->sent = 0;
}

static int fw_window_grow(fw_t *fw, size_t nitems) {
  if (fw->nrecs == fw->caprecs) {
    size_t n = fw->caprecs ? fw->caprecs * 2 : 16;
    fw_rec_t *r = realloc(fw->recs, n * sizeof *r);
    if (!r) return KK_ENOMEM;
    fw->recs = r;
    cJSON **ro = realloc(fw->roots, n * sizeof *ro);
    if (!ro) return KK_ENOMEM;
    fw->roots = ro;
    fw->caprecs = n;
  }
  if (fw->nitems + nitems > fw->capitems) {
    size_t n = fw->capitems ? fw->capitems : 256;
    while (n < fw->nitems + nitems)
      n *= 2;
    fw_item_t *it = realloc(fw->items, n * sizeof *it);
    if (!it) return KK_ENOMEM;
    fw->items = it;
    fw->capitems = n;
  }
  return 0;
}

/* Reads one line at `off` of the read segment into a malloc'ed buffer.
 * Returns its length (with newline), 0 at the end, or a negative code. */
static ssize_t fw_read_line(fw_t *fw, uint64_t off, char **out) {
  if (fw->rfd < 0 || fw->rfd_seg != fw->rseg) {
    if (fw->rfd >= 0) close(fw->rfd);
    char path[4200];
    fw_seg_path(fw, fw->rseg, path, sizeof path);
    fw->rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (fw->rfd < 0) return errno == ENOENT ? 0 : -errno;
    fw->rfd_seg = fw->rseg;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) return KK_ENOMEM;
  for (;;) {
    if (len == cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        return KK_ENOMEM;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = pread(fw->rfd, buf + len, cap - len, (off_t)(off + len));
    if (r < 0) {
      if (errno == EINTR) continue;
      free(buf);
      return -errno;
    }
    char *nl = memchr(buf + len, '\n', (size_t)r);
    if (nl) {
      *out = buf;
      return nl - buf + 1;
    }
    if (r == 0) { /* end of segment (a line is written whole) */
      free(buf);
      return 0;
    }
    len += (size_t)r;
  }
}

static int fw_parse_line(fw_t *fw, char *line, size_t len, uint64_t off,
                         size_t skip) {
  cJSON *root = cJSON_ParseWithLength(line, len);
  cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "r");
  size_t n = (size_t)cJSON_GetArraySize(r);
  if (!cJSON_IsArray(r) || fw_window_grow(fw, n) != 0) {
    cJSON_Delete(root);
    return root ? KK_ENOMEM : KK_ECORRUPT;
  }
  fw_rec_t *rec = &fw->recs[fw->nrecs];
  fw->roots[fw->nrecs++] = root;
  rec->off = off;
  rec->len = (uint32_t)len;
  rec->first = fw->nitems;
  rec->n = 0;
  size_t i = 0, room = fw->max_batch - fw->nitems;
  cJSON *e;
  rec->whole = 1;
  cJSON_ArrayForEach(e, r) {
    if (i++ < skip) continue;
    if (rec->n == room) {
      rec->whole = 0; /* the rest comes in a later window */
      break;
    }
    cJSON *t = cJSON_GetArrayItem(e, 0), *p = cJSON_GetArrayItem(e, 1);
    cJSON *u = cJSON_GetArrayItem(e, 2), *tm = cJSON_GetArrayItem(e, 3);
    cJSON *v = cJSON_GetArrayItem(e, 4), *ev = cJSON_GetArrayItem(e, 5);
    if (!cJSON_IsString(t) || !cJSON_IsString(p) || !cJSON_IsString(u) ||
        !cJSON_IsNumber(tm))
      continue;
    fw_item_t *it = &fw->items[fw->nitems++];
    it->thing = t->valuestring;
    it->property = p->valuestring;
    it->unit = u->valuestring;
    it->time_ms = (int64_t)tm->valuedouble;
    it->has_value = cJSON_IsNumber(v);
    it->value = it->has_value ? v->valuedouble : NAN;
    it->event = NULL;
    if (cJSON_IsString(ev)) { /* sinks embed it: it must be an object */
      cJSON *doc = cJSON_Parse(ev->valuestring);
      if (cJSON_IsObject(doc)) it->event = ev->valuestring;
      cJSON_Delete(doc);
    }
    rec->n++;
  }
  return 0;
}

/* Fills the window with up to max_batch items from the read position.
 * Moves to the next segment when the read segment is done. */
int fw_spool_load(fw_t *fw) {
  fw_spool_clear_window(fw);
  uint64_t off = fw->roff;
  size_t skip = (size_t)fw->rsub;
  while (fw->nitems < fw->max_batch) {
    char *line = NULL;
    ssize_t n = fw_read_line(fw, off, &line);
    if (n < 0) return (int)n;
    if (n == 0) {
      if (fw->nrecs || fw->rseg >= fw->wseg) break;
      /* The read segment is done and a newer one exists. */
      char path[4200];
      fw_seg_path(fw, fw->rseg, path, sizeof path);
      fw->rseg++;
      fw->roff = fw->rsub = off = 0;
      skip = 0;
      fw_save_pos(fw);
      unlink(path);
      continue;
    }
    int rc = fw_parse_line(fw, line, (size_t)n, off, skip);
    free(line);
    if (rc == KK_ECORRUPT) {
      kk_stage_log(fw->st, KK_LOG_ERROR,
                   "spool: skipping an unreadable record in segment %" PRIu64,
                   fw->rseg);
      if (fw->nrecs == 0) {
        fw->roff += (uint64_t)n;
        fw->rsub = 0;
        fw->pending -= fw->pending >= (uint64_t)n ? (uint64_t)n : fw->pending;
      }
      off += (uint64_t)n;
      skip = 0;
      continue;
    }
    if (rc) return rc;
    off += (uint64_t)n;
    skip = 0;
  }
  return 0;
}

/* The first `n` items of the window are done (acknowledged or dead). */
void fw_spool_consume(fw_t *fw, size_t n) {
  size_t i = 0;
  for (; i < fw->nrecs && n > 0; i++) {
    fw_rec_t *rec = &fw->recs[i];
    /* rec->n counts the record's items past rsub (record 0) or all. */
    if (n >= rec->n && rec->whole) {
      n -= rec->n;
      fw->roff = rec->off + rec->len;
      fw->rsub = 0;
      fw->pending -= fw->pending >= rec->len ? rec->len : fw->pending;
    } else {
      fw->rsub += n;
      n = 0;
      break;
    }
  }
  int rc = fw_save_pos(fw);
  if (rc)
    kk_stage_log(fw->st, KK_LOG_ERROR, "cannot save the spool position: %s",
                 kk_strerror(rc));
  kk_metric_set(fw->m_spool_bytes, (int64_t)fw->pending);
  fw_spool_clear_window(fw);
}

void fw_spool_close(fw_t *fw) {
  fw_spool_clear_window(fw);
  if (fw->wfd >= 0) close(fw->wfd);
  if (fw->rfd >= 0) close(fw->rfd);
  fw->wfd = fw->rfd = -1;
  free(fw->roots);
  free(fw->recs);
  free(fw->items);
  fw->roots = NULL;
  fw->recs = NULL;
  fw->items = NULL;
  fw->caprecs = fw->capitems = 0;
  kk_buf_free(&fw->line);
}
