/*
 * modules/forward/forward_spool.c - spool and delivery loop of the forwarding
 * sinks (see forward.h for the contract and docs/forwarding.md for why).
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

typedef struct fw_wait {
  kk_batch_t *b;
  struct fw_wait *next;
} fw_wait_t;

/* One spool line in the head window. */
typedef struct fw_rec {
  uint64_t off; /* offset of the line in the read segment */
  uint32_t len; /* bytes including the newline */
  size_t first; /* index of its first item in the window */
  size_t n;     /* items loaded into the window */
  int whole;    /* 1: the window holds the rest of the record */
} fw_rec_t;

struct fw {
  kk_stage_t *st;
  const fw_ops_t *ops;
  void *ctx;
  char *dir; /* <data_dir>/spool */
  uint64_t max_bytes, retry_min, retry_max, backoff;
  size_t max_batch;
  /* spool */
  uint64_t rseg, roff, rsub; /* read position: segment, offset, item */
  uint64_t wseg, wsize;      /* write segment and its size */
  int wfd, rfd;              /* -1 when closed */
  uint64_t rfd_seg;
  uint64_t pending; /* bytes not yet acknowledged */
  uint64_t last_seq;
  int broken; /* a spool write failed: refuse every later batch */
  /* head window: parsed items of the records at the read position */
  cJSON **roots;
  fw_rec_t *recs;
  size_t nrecs, caprecs;
  fw_item_t *items;
  size_t nitems, capitems;
  size_t sent; /* items offered to send (from window index 0) */
  /* delivery */
  int inflight, ready_wait, timer_armed;
  /* shutdown: draining (stop asked, delivering on until the spool is
   * empty, a delivery fails or the drain time is over), then stopped */
  int draining, drain_failed, stopped;
  uint64_t drain_ms;
  uv_timer_t timer, drain; /* .data = this */
  void (*stop_cb)(void *);
  void *stop_arg;
  fw_wait_t *wait_head, *wait_tail;
  kk_buf_t line;
  uint64_t dead_files;
  kk_metric_t *m_acked, *m_dead, *m_dead_batches, *m_retries, *m_spooled,
      *m_skipped, *m_spool_bytes;
};

static void fw_pump(fw_t *fw);

char *fw_read_secret(const char *env, const char *file, const char **err) {
  const char *v = env && *env ? getenv(env) : NULL;
  if (v && *v) {
    char *s = strdup(v);
    if (!s) *err = "out of memory";
    return s;
  }
  if (!file || !*file) {
    *err = "no secret: set the environment variable or the secret file";
    return NULL;
  }
  FILE *f = fopen(file, "rb");
  if (!f) {
    *err = "cannot open the secret file";
    return NULL;
  }
  char *s = malloc(4097);
  size_t n = s ? fread(s, 1, 4096, f) : 0;
  fclose(f);
  if (!s) {
    *err = "out of memory";
    return NULL;
  }
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  s[n] = 0;
  if (n == 0) {
    free(s);
    *err = "the secret file is empty";
    return NULL;
  }
  return s;
}

static void fw_seg_path(const fw_t *fw, uint64_t seg, char *out, size_t len) {
  snprintf(out, len, "%s/%012" PRIu64 ".jsonl", fw->dir, seg);
}

static uint64_t fw_file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* ---- spool: recovery ------------------------------------------------ */

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

static int fw_spool_open(fw_t *fw) {
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

/* ---- spool: append -------------------------------------------------- */

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

static void fw_render(fw_t *fw, kk_batch_t *b) {
  kk_buf_t *sb = &fw->line;
  const kk_reading_t *r = kk_batch_readings(b);
  size_t n = kk_batch_len(b);
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
    kk_buf_puts(sb, "]");
  }
  kk_buf_puts(sb, "]}\n");
}

/* 0 appended or skipped, KK_EFULL, or a write error. */
static int fw_append(fw_t *fw, kk_batch_t *b) {
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

/* Moves batches that waited for room into the spool, in order. */
static void fw_flush_wait(fw_t *fw) {
  while (fw->wait_head && !fw->broken) {
    int rc = fw_append(fw, fw->wait_head->b);
    if (rc == KK_EFULL) return;
    if (rc < 0) {
      fw->broken = 1;
      kk_stage_log(fw->st, KK_LOG_ERROR,
                   "spool write failed: %s; later batches stay in the "
                   "journal for the next start",
                   kk_strerror(rc));
      return;
    }
    fw_wait_t *w = fw->wait_head;
    fw->wait_head = w->next;
    if (!fw->wait_head) fw->wait_tail = NULL;
    kk_batch_unref(w->b);
    free(w);
    kk_stage_done(fw->st);
  }
}

int fw_process(fw_t *fw, kk_batch_t *b) {
  if (fw->broken) {
    kk_stage_error(fw->st, "the spool could not be written earlier");
    return KK_EIO;
  }
  int rc = fw->wait_head ? KK_EFULL : fw_append(fw, b);
  if (rc == KK_EFULL) {
    fw_wait_t *w = malloc(sizeof *w);
    if (!w) return KK_ENOMEM;
    w->b = kk_batch_ref(b);
    w->next = NULL;
    if (fw->wait_tail)
      fw->wait_tail->next = w;
    else
      fw->wait_head = w;
    fw->wait_tail = w;
    return KK_ASYNC;
  }
  if (rc < 0) {
    fw->broken = 1;
    kk_stage_error(fw->st, "cannot write the spool in %s: %s", fw->dir,
                   kk_strerror(rc));
    return rc;
  }
  fw_pump(fw);
  return 0;
}

/* ---- spool: the head window ----------------------------------------- */

static void fw_window_clear(fw_t *fw) {
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
    cJSON *v = cJSON_GetArrayItem(e, 4);
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
    rec->n++;
  }
  return 0;
}

/* Fills the window with up to max_batch items from the read position.
 * Moves to the next segment when the read segment is done. */
static int fw_window_load(fw_t *fw) {
  fw_window_clear(fw);
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
static void fw_consume(fw_t *fw, size_t n) {
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
  fw_window_clear(fw);
}

/* ---- delivery ------------------------------------------------------- */

static void fw_timer_cb(uv_timer_t *t) {
  fw_t *fw = t->data;
  fw->timer_armed = 0;
  fw_pump(fw);
}

static void fw_schedule(fw_t *fw, uint64_t delay_ms) {
  if (fw->stopped) return;
  fw->timer_armed = 1;
  uv_timer_start(&fw->timer, fw_timer_cb, delay_ms, 0);
}

static void fw_pump(fw_t *fw) {
  if (fw->inflight || fw->stopped || fw->timer_armed) return;
  if (fw->nitems == fw->sent || fw->sent == 0) {
    int rc = fw_window_load(fw);
    if (rc) {
      kk_stage_log(fw->st, KK_LOG_ERROR, "cannot read the spool: %s",
                   kk_strerror(rc));
      fw_schedule(fw, fw->retry_max);
      return;
    }
  }
  if (fw->nitems == 0) return;
  fw->inflight = 1;
  fw->sent = fw->nitems;
  int rc = fw->ops->send(fw->ctx, fw->items, fw->nitems);
  if (rc == FW_NOT_READY) {
    fw->inflight = 0;
    fw->sent = 0;
    fw->ready_wait = 1;
  } else if (rc < 0) {
    fw->inflight = 0;
    fw->sent = 0;
    fw_result(fw, FW_RETRY, 0, 0, kk_strerror(rc), NULL, NULL);
  }
}

void fw_delivery_id(const fw_t *fw, char *buf, size_t len) {
  snprintf(buf, len, "%" PRIu64 "-%" PRIu64 "-%" PRIu64, fw->rseg, fw->roff,
           fw->rsub);
}

void fw_kick(fw_t *fw) {
  fw->ready_wait = 0;
  if (!fw->inflight && !fw->stopped) fw_schedule(fw, 0);
}

static void fw_dead_letter(fw_t *fw, size_t n, int status, const char *reason,
                           const char *request, const char *response) {
  char dir[4200], path[4400];
  snprintf(dir, sizeof dir, "%s/../dead-letter", fw->dir);
  if (kk_mkdirs(dir, 0) != 0) return;
  cJSON *o = cJSON_CreateObject();
  char t[KK_TIME_ISO_MAX];
  kk_time_format_iso8601(kk_now_ms(), t);
  cJSON_AddStringToObject(o, "time", t);
  cJSON_AddStringToObject(o, "stage", kk_stage_name(fw->st));
  cJSON_AddNumberToObject(o, "status", status);
  cJSON_AddStringToObject(o, "reason", reason ? reason : "");
  cJSON *req = request ? cJSON_Parse(request) : NULL;
  if (req)
    cJSON_AddItemToObject(o, "request", req);
  else if (request)
    cJSON_AddStringToObject(o, "request", request);
  if (response) cJSON_AddStringToObject(o, "response", response);
  cJSON *rs = cJSON_AddArrayToObject(o, "readings");
  for (size_t i = 0; i < n && i < fw->nitems; i++) {
    const fw_item_t *it = &fw->items[i];
    char tt[KK_TIME_ISO_MAX];
    kk_time_format_iso8601(it->time_ms, tt);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "thing", it->thing);
    cJSON_AddStringToObject(r, "property", it->property);
    cJSON_AddStringToObject(r, "unit", it->unit);
    cJSON_AddStringToObject(r, "time", tt);
    if (it->has_value)
      cJSON_AddNumberToObject(r, "value", it->value);
    else
      cJSON_AddNullToObject(r, "value");
    cJSON_AddItemToArray(rs, r);
  }
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  if (!text) return;
  snprintf(path, sizeof path, "%s/%" PRId64 "-%" PRIu64 "-%" PRIu64 ".json",
           dir, kk_now_ms(), fw->rseg, fw->roff);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fputc('\n', f);
    fclose(f);
  }
  free(text);
}

static void fw_finish_stop(fw_t *fw) {
  if (fw->stopped) return;
  fw->stopped = 1;
  uv_timer_stop(&fw->timer);
  uv_timer_stop(&fw->drain);
  uv_close((uv_handle_t *)&fw->timer, NULL);
  uv_close((uv_handle_t *)&fw->drain, NULL);
  if (fw->pending)
    kk_stage_log(fw->st, KK_LOG_INFO,
                 "stopping with %" PRIu64 " spooled bytes not yet "
                 "acknowledged; they are sent after the next start",
                 fw->pending);
  void (*cb)(void *) = fw->stop_cb;
  fw->stop_cb = NULL;
  if (cb) cb(fw->stop_arg);
}

static void fw_drain_check(fw_t *fw) {
  if (!fw->draining || fw->stopped || fw->inflight) return;
  if (fw->drain_failed || (fw->pending == 0 && !fw->wait_head))
    fw_finish_stop(fw);
  else
    fw_pump(fw);
}

static void fw_drain_cb(uv_timer_t *t) {
  /* Drain time is over: a delivery still in flight is abandoned (the
   * sink closes its connection); it is sent again after the next start. */
  fw_finish_stop(t->data);
}

void fw_result(fw_t *fw, fw_outcome_t outcome, size_t n, int status,
               const char *reason, const char *request, const char *response) {
  fw->inflight = 0;
  if (fw->stopped) { /* an abandoned delivery ended */
    fw_window_clear(fw);
    return;
  }
  if (n > fw->nitems) n = fw->nitems;
  if (outcome == FW_ACK && n > 0) {
    kk_metric_add(fw->m_acked, (int64_t)n);
    fw->backoff = 0;
    fw_consume(fw, n);
  } else if (outcome == FW_DEAD && n > 0) {
    kk_metric_add(fw->m_dead, (int64_t)n);
    kk_metric_add(fw->m_dead_batches, 1);
    kk_stage_log(fw->st, KK_LOG_WARN,
                 "receiver refused %zu readings for good (%d %s): written to "
                 "dead-letter/",
                 n, status, reason ? reason : "");
    fw_dead_letter(fw, n, status, reason, request, response);
    fw_consume(fw, n);
  } else {
    kk_metric_add(fw->m_retries, 1);
    fw->backoff = fw->backoff ? fw->backoff * 2 : fw->retry_min;
    if (fw->backoff > fw->retry_max) fw->backoff = fw->retry_max;
    /* up to a quarter of jitter, so that many nodes do not retry in step */
    uint64_t delay = fw->backoff + (uint64_t)rand() % (fw->backoff / 4 + 1);
    fw->sent = 0;
    if (fw->draining) {
      fw->drain_failed = 1;
      fw_window_clear(fw);
    } else {
      kk_stage_log(fw->st, KK_LOG_WARN,
                   "delivery failed (%s); retrying in "
                   "%" PRIu64 " ms",
                   reason ? reason : "?", delay);
      fw_schedule(fw, delay);
    }
  }
  fw_flush_wait(fw);
  if (fw->draining) {
    fw_drain_check(fw);
    return;
  }
  if (outcome != FW_RETRY) fw_schedule(fw, 0);
}

/* ---- life cycle ----------------------------------------------------- */

int fw_new(kk_stage_t *st, const kk_opts_t *opts, const fw_ops_t *ops,
           void *ctx, fw_t **out) {
  fw_t *fw = calloc(1, sizeof *fw);
  if (!fw) return KK_ENOMEM;
  fw->st = st;
  fw->ops = ops;
  fw->ctx = ctx;
  fw->wfd = fw->rfd = -1;
  fw->max_bytes = kk_opt_size(opts, "spool_size");
  fw->retry_min = kk_opt_duration_ms(opts, "retry_min");
  fw->retry_max = kk_opt_duration_ms(opts, "retry_max");
  if (fw->retry_min == 0) fw->retry_min = 1;
  if (fw->retry_max < fw->retry_min) fw->retry_max = fw->retry_min;
  fw->max_batch = (size_t)kk_opt_int(opts, "max_batch");
  fw->drain_ms = kk_opt_duration_ms(opts, "drain");
  size_t dl = strlen(kk_stage_data_dir(st)) + 8;
  fw->dir = malloc(dl);
  if (!fw->dir) {
    free(fw);
    return KK_ENOMEM;
  }
  snprintf(fw->dir, dl, "%s/spool", kk_stage_data_dir(st));
  fw->m_acked = kk_stage_counter(st, "kk_forward_acked_total", NULL,
                                 "Readings the receiver acknowledged");
  fw->m_dead = kk_stage_counter(st, "kk_forward_dead_letter_total", NULL,
                                "Readings the receiver refused for good "
                                "(written to dead-letter/)");
  fw->m_dead_batches =
      kk_stage_counter(st, "kk_forward_dead_letter_files_total", NULL,
                       "Dead-letter files written");
  fw->m_retries = kk_stage_counter(st, "kk_forward_retries_total", NULL,
                                   "Failed deliveries that are retried");
  fw->m_spooled = kk_stage_counter(st, "kk_forward_spooled_total", NULL,
                                   "Readings written to the spool");
  fw->m_skipped =
      kk_stage_counter(st, "kk_forward_replay_skipped_total", NULL,
                       "Replayed readings that were spooled before a restart");
  char labels[160];
  snprintf(labels, sizeof labels, "stage=\"%s\"", kk_stage_name(st));
  fw->m_spool_bytes = kk_gauge("kk_forward_spool_bytes", labels,
                               "Bytes in the spool not yet acknowledged");
  int rc = fw_spool_open(fw);
  if (rc) {
    kk_stage_error(st, "cannot open the spool in %s: %s", fw->dir,
                   kk_strerror(rc));
    if (fw->wfd >= 0) close(fw->wfd);
    free(fw->dir);
    free(fw);
    return rc;
  }
  kk_metric_set(fw->m_spool_bytes, (int64_t)fw->pending);
  /* Replay after a restart must not hand over a batch that mixes records
   * spooled before the crash with later ones: cut replay batches here. */
  if (fw->last_seq) kk_stage_hold(st, fw->last_seq);
  if (fw->pending)
    kk_stage_log(st, KK_LOG_INFO,
                 "spool holds %" PRIu64 " bytes not yet acknowledged; "
                 "resuming delivery",
                 fw->pending);
  uv_timer_init(kk_stage_loop(st), &fw->timer);
  uv_timer_init(kk_stage_loop(st), &fw->drain);
  fw->timer.data = fw->drain.data = fw;
  *out = fw;
  fw_schedule(fw, 0);
  return 0;
}

void fw_stop(fw_t *fw, void (*cb)(void *arg), void *arg) {
  fw->stop_cb = cb;
  fw->stop_arg = arg;
  fw->draining = 1;
  if (fw->drain_ms == 0) {
    fw_finish_stop(fw);
    return;
  }
  uv_timer_start(&fw->drain, fw_drain_cb, fw->drain_ms, 0);
  /* A retry waiting for its backoff is not waited for. */
  if (fw->timer_armed && fw->backoff) fw->drain_failed = 1;
  fw_drain_check(fw);
}

void fw_free(fw_t *fw) {
  if (!fw) return;
  fw_window_clear(fw);
  while (fw->wait_head) {
    fw_wait_t *w = fw->wait_head;
    fw->wait_head = w->next;
    kk_batch_unref(w->b);
    free(w);
  }
  if (fw->wfd >= 0) close(fw->wfd);
  if (fw->rfd >= 0) close(fw->rfd);
  free(fw->roots);
  free(fw->recs);
  free(fw->items);
  kk_buf_free(&fw->line);
  free(fw->dir);
  free(fw);
}
