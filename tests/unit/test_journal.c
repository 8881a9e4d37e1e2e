/*
 * tests/unit/test_journal.c - the segmented journal (core/journal.c).
 *
 * Every test works in its own mkdtemp() directory under /tmp.  Record
 * contents are a function of the sequence number, so a reader can check
 * each record it gets without keeping a copy.
 */
#include "kk_test.h"

#include "journal.h"
#include <klimakit/error.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#define T0 1700000000000LL

/* The journal exports no count of its syncs, so the test binary counts
 * them: this definition takes the place of libc's fdatasync() for the
 * journal code linked in, and passes the call on to the kernel. */
static int fdatasync_calls;
int fdatasync(int fd) {
  fdatasync_calls++;
  return (int)syscall(SYS_fdatasync, fd);
}

/* ---- helpers --------------------------------------------------------------
 */

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *f) {
  (void)sb, (void)flag, (void)f;
  return remove(p);
}

static char test_dir[64];

/* Runs at exit, so that a failing check (which exits) cleans up too. */
static void rmrf(void) {
  if (test_dir[0]) nftw(test_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One directory per test; each test runs in its own process. */
static char *tmpdir(void) {
  strcpy(test_dir, "/tmp/kk-journal-XXXXXX");
  KK_CHECK(mkdtemp(test_dir) != NULL);
  atexit(rmrf);
  return test_dir;
}

static kk__journal_t *jopen(const char *dir, uint64_t segsize, kk__fsync_t fs,
                            uint64_t age, uint64_t size) {
  kk__journal_cfg_t cfg = {.dir = dir,
                           .segment_size = segsize,
                           .fsync = fs,
                           .fsync_interval_ms = 1,
                           .retain_size = size,
                           .retain_age_ms = age};
  kk__journal_t *j = NULL;
  char err[256] = "";
  int rc = kk__journal_open(&cfg, &j, err, sizeof err);
  if (rc != 0) fprintf(stderr, "  open: %s\n", err);
  KK_CHECK_INT(rc, ==, 0);
  KK_CHECK(j != NULL);
  return j;
}

/* The contents of record `seq`: a function of seq alone. */
static size_t gen_len(uint64_t seq) {
  return 20 + (size_t)(seq * 7 % 180);
}
static uint8_t gen_byte(uint64_t seq, size_t i) {
  return (uint8_t)(seq * 31 + i);
}
static void gen_src(uint64_t seq, char *out) {
  snprintf(out, 16, "src%d", (int)(seq % 3));
}
static int gen_meta(uint64_t seq, char *out) {
  snprintf(out, 32, "m=%" PRIu64, seq);
  return seq % 4 != 0; /* every fourth record has no meta */
}

static void append_n(kk__journal_t *j, uint64_t n) {
  uint8_t data[256];
  char src[16], meta[32];
  for (uint64_t i = 0; i < n; i++) {
    uint64_t seq = kk__journal_last_seq(j) + 1, got = 0;
    size_t len = gen_len(seq);
    for (size_t k = 0; k < len; k++)
      data[k] = gen_byte(seq, k);
    gen_src(seq, src);
    int has_meta = gen_meta(seq, meta);
    KK_CHECK_INT(kk__journal_append(j, src, T0 + (int64_t)seq,
                                    (uint32_t)(seq % 5), has_meta ? meta : NULL,
                                    data, len, &got),
                 ==, 0);
    KK_CHECK_INT(got, ==, seq);
  }
}

typedef struct coll {
  uint64_t n, first, last;
  uint64_t stop_at; /* return 7 from the callback at this seq */
} coll_t;

static int check_cb(void *ud, const kk__journal_rec_t *r) {
  coll_t *c = ud;
  char src[16], meta[32];
  if (c->n == 0) c->first = r->seq;
  KK_CHECK(c->n == 0 || r->seq > c->last);
  c->n++;
  c->last = r->seq;
  gen_src(r->seq, src);
  KK_CHECK_STR(r->source, src);
  if (gen_meta(r->seq, meta))
    KK_CHECK_STR(r->meta, meta);
  else
    KK_CHECK_STR(r->meta, "");
  KK_CHECK_INT(r->time_ms, ==, T0 + (int64_t)r->seq);
  KK_CHECK_INT(r->format, ==, r->seq % 5);
  KK_CHECK_INT(r->len, ==, gen_len(r->seq));
  for (size_t k = 0; k < r->len; k++)
    KK_CHECK_INT(r->data[k], ==, gen_byte(r->seq, k));
  return c->stop_at && r->seq == c->stop_at ? 7 : 0;
}

static coll_t read_all(kk__journal_t *j, uint64_t from) {
  coll_t c = {0};
  KK_CHECK_INT(kk__journal_read(j, from, check_cb, &c), ==, 0);
  return c;
}

static int seg_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The first seqs of the segment files in `dir`, sorted. */
static size_t list_segs(const char *dir, uint64_t *firsts, size_t max) {
  DIR *d = opendir(dir);
  struct dirent *de;
  size_t n = 0;
  KK_CHECK(d != NULL);
  while ((de = readdir(d)))
    if (strlen(de->d_name) == 24 && strstr(de->d_name, ".kkj") && n < max)
      firsts[n++] = strtoull(de->d_name, NULL, 10);
  closedir(d);
  qsort(firsts, n, sizeof *firsts, seg_cmp);
  return n;
}

static void seg_path(char *out, size_t n, const char *dir, uint64_t first) {
  snprintf(out, n, "%s/%020" PRIu64 ".kkj", dir, first);
}

static uint64_t file_size(const char *path) {
  struct stat sb;
  KK_CHECK_INT(stat(path, &sb), ==, 0);
  return (uint64_t)sb.st_size;
}

static size_t count_files(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *de;
  size_t n = 0;
  KK_CHECK(d != NULL);
  while ((de = readdir(d)))
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* ---- tests ----------------------------------------------------------------
 */

KK_TEST(roundtrip) {
  char *dir = tmpdir();
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  kk__journal_stats_t st;
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 0);
  append_n(j, 100);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.appended, ==, 100);
  KK_CHECK_INT(st.segments, ==, 1);
  KK_CHECK_INT(st.disk_bytes, ==, st.bytes_written + 32) /* segment header */;
  KK_CHECK_INT(st.corrupt, ==, 0);
  kk__journal_close(j);

  char path[128];
  seg_path(path, sizeof path, dir, 1);
  KK_CHECK_INT(file_size(path), ==, st.disk_bytes);
  j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 100);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, 100);
  KK_CHECK_INT(c.first, ==, 1);
  KK_CHECK_INT(c.last, ==, 100);
  c = read_all(j, 50);
  KK_CHECK_INT(c.n, ==, 51);
  KK_CHECK_INT(c.first, ==, 50);
  c = read_all(j, 101);
  KK_CHECK_INT(c.n, ==, 0);
  kk__journal_close(j);
}

KK_TEST(seq_continuity_across_reopen) {
  char *dir = tmpdir();
  for (int round = 0; round < 3; round++) {
    kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
    KK_CHECK_INT(kk__journal_last_seq(j), ==, round * 5);
    append_n(j, 5); /* close commits */
    kk__journal_close(j);
  }
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  coll_t c = read_all(j, 1);
  KK_CHECK_INT(c.n, ==, 15);
  KK_CHECK_INT(c.last, ==, 15);
  kk__journal_close(j);
}

KK_TEST(read_sees_uncommitted_appends) {
  char *dir = tmpdir();
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 10);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, 10);
  append_n(j, 3);
  c = read_all(j, 9);
  KK_CHECK_INT(c.n, ==, 5);
  c = (coll_t){.stop_at = 4};
  KK_CHECK_INT(kk__journal_read(j, 0, check_cb, &c), ==, 7);
  KK_CHECK_INT(c.n, ==, 4);
  kk__journal_close(j);
}

/* Appends one record per record read, and retires everything it can. */
static int append_cb(void *ud, const kk__journal_rec_t *r) {
  kk__journal_t *j = ud;
  KK_CHECK_INT(check_cb(&(coll_t){0}, r), ==, 0);
  kk__journal_cursor_set(j, "a", r->seq);
  kk__journal_retire(j);
  append_n(j, 1);
  return 0;
}

KK_TEST(read_from_end_is_incremental) {
  char *dir = tmpdir(), path[128];
  kk__journal_t *j = jopen(dir, 2048, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 100);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, 100);
  for (int round = 0; round < 20; round++) {
    append_n(j, 7);
    c = read_all(j, kk__journal_last_seq(j) - 6);
    KK_CHECK_INT(c.n, ==, 7);
    KK_CHECK_INT(c.last, ==, kk__journal_last_seq(j));
  }
  /* Going back still finds everything. */
  c = read_all(j, 50);
  KK_CHECK_INT(c.n, ==, 191);
  /* Damage behind the read position is found by the next full read. */
  uint64_t segs[256];
  size_t n = list_segs(dir, segs, 256);
  seg_path(path, sizeof path, dir, segs[n - 1]);
  int fd = open(path, O_RDWR);
  KK_CHECK(fd >= 0);
  KK_CHECK_INT(pwrite(fd, "\xff", 1, 44), ==, 1); /* past the header */
  close(fd);
  c = read_all(j, 0);
  KK_CHECK_INT(c.last, <, segs[n - 1]);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 1);
  append_n(j, 1);
  c = read_all(j, kk__journal_last_seq(j));
  KK_CHECK_INT(c.n, ==, 1);
  kk__journal_close(j);
}

KK_TEST(read_from_the_middle_starts_near_it) {
  /* A reader of record 30000 of a 40000-record segment starts at the
   * checkpoint before it (journal_hdr.h), not at the segment's start:
   * damage to record 1 is not on its way (the next full read finds it). */
  char *dir = tmpdir(), path[128];
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 40000);
  coll_t c = read_all(j, 30000);
  KK_CHECK_INT(c.n, ==, 10001);
  uint64_t segs[4];
  KK_CHECK_INT(list_segs(dir, segs, 4), ==, 1);
  seg_path(path, sizeof path, dir, segs[0]);
  int fd = open(path, O_RDWR);
  KK_CHECK(fd >= 0);
  KK_CHECK_INT(pwrite(fd, "\xff", 1, 44), ==, 1); /* record 1's body */
  close(fd);
  c = read_all(j, 30000);
  KK_CHECK_INT(c.n, ==, 10001);
  KK_CHECK_INT(c.last, ==, 40000);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 0);
  c = read_all(j, 0);
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 1);
  kk__journal_close(j);
}

/* Resident kB of this process's mappings of `path` (from /proc/self/smaps). */
static long mapped_kb(const char *path) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  long kb = 0;
  int ours = 0;
  KK_CHECK(f != NULL);
  while (f && fgets(line, sizeof line, f)) {
    unsigned long a, b;
    long v;
    if (sscanf(line, "%lx-%lx", &a, &b) == 2)
      ours = strstr(line, path) != NULL;
    else if (ours && sscanf(line, "Rss: %ld kB", &v) == 1)
      kb += v;
  }
  if (f) fclose(f);
  return kb;
}

typedef struct resident {
  coll_t c;
  const char *path;
  long max_kb;
} resident_t;

static int resident_cb(void *ud, const kk__journal_rec_t *r) {
  resident_t *x = ud;
  int rc = check_cb(&x->c, r);
  if (r->seq % 5000 == 0) {
    long kb = mapped_kb(x->path);
    if (kb > x->max_kb) x->max_kb = kb;
  }
  return rc;
}

KK_TEST(reader_maps_a_window_not_the_segment) {
  /* A walk over megabytes of a segment keeps only a window of it mapped
   * (journal_hdr.h): a mapping of the whole file put every page walked
   * (on the development machine's kernel, apparently all of every large
   * page-cache folio touched) into the resident set. */
  char *dir = tmpdir(), path[128];
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 60000);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  uint64_t segs[4];
  KK_CHECK_INT(list_segs(dir, segs, 4), ==, 1);
  seg_path(path, sizeof path, dir, segs[0]);
  KK_CHECK_INT(file_size(path), >, 8u << 20);
  resident_t x = {.path = path};
  KK_CHECK_INT(kk__journal_read(j, 0, resident_cb, &x), ==, 0);
  KK_CHECK_INT(x.c.n, ==, 60000);
  KK_CHECK_INT(x.max_kb, >, 0);
  KK_CHECK_INT(x.max_kb, <=, 1024);
  kk__journal_close(j);
}

/* Record `seq` of the window test: big ones straddle windows. */
static size_t win_len(uint64_t seq) {
  return seq % 7 == 3 ? 300000 + (size_t)seq * 1000 : 100 + (size_t)seq % 50;
}

static int win_cb(void *ud, const kk__journal_rec_t *r) {
  coll_t *c = ud;
  if (c->n == 0) c->first = r->seq;
  c->n++;
  c->last = r->seq;
  KK_CHECK_INT(r->len, ==, win_len(r->seq));
  size_t bad = 0;
  for (size_t k = 0; k < r->len; k++)
    bad += r->data[k] != (uint8_t)(r->seq * 13 + k);
  KK_CHECK_INT(bad, ==, 0);
  return 0;
}

KK_TEST(records_larger_than_the_window) {
  /* Records of 300-400 KB between small ones: each is read whole, from
   * any starting record, in a new journal and after reopening. */
  char *dir = tmpdir();
  uint8_t *data = malloc(400000);
  KK_CHECK(data != NULL);
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  for (uint64_t seq = 1; seq <= 60; seq++) {
    uint64_t got = 0;
    for (size_t k = 0; k < win_len(seq); k++)
      data[k] = (uint8_t)(seq * 13 + k);
    KK_CHECK_INT(
        kk__journal_append(j, "s", 0, 0, NULL, data, win_len(seq), &got), ==,
        0);
    KK_CHECK_INT(got, ==, seq);
  }
  free(data);
  for (int round = 0; round < 2; round++) {
    for (uint64_t from = 1; from <= 60; from += 7) {
      coll_t c = {0};
      KK_CHECK_INT(kk__journal_read(j, from, win_cb, &c), ==, 0);
      KK_CHECK_INT(c.first, ==, from);
      KK_CHECK_INT(c.n, ==, 61 - from);
    }
    kk__journal_close(j);
    j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  }
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 0);
  kk__journal_close(j);
}

KK_TEST(read_callback_may_append_and_retire) {
  char *dir = tmpdir();
  uint64_t seq;
  kk__journal_t *j = jopen(dir, 1024, KK__FSYNC_NEVER, 0, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "a", &seq), ==, 0);
  append_n(j, 100);
  /* Stops at the end as it was when the read started. */
  KK_CHECK_INT(kk__journal_read(j, 0, append_cb, j), ==, 0);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 200);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.retired, >, 0);
  coll_t c = read_all(j, 101);
  KK_CHECK_INT(c.n, ==, 100);
  kk__journal_close(j);
}

KK_TEST(segment_rollover) {
  char *dir = tmpdir(), path[128];
  uint64_t segs[512];
  kk__journal_t *j = jopen(dir, 1024, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 200);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  kk__journal_close(j);

  size_t n = list_segs(dir, segs, 512);
  KK_CHECK_INT(n, >, 10);
  KK_CHECK_INT(st.segments, ==, n);
  KK_CHECK_INT(segs[0], ==, 1);
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    seg_path(path, sizeof path, dir, segs[i]);
    total += file_size(path);
    KK_CHECK_INT(file_size(path), <=, 1024);
  }
  KK_CHECK_INT(total, ==, st.disk_bytes);

  j = jopen(dir, 1024, KK__FSYNC_NEVER, 0, 0);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 200);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, 200);
  /* Each file name is the seq of its first record. */
  for (size_t i = 0; i < n; i++) {
    c = read_all(j, segs[i]);
    KK_CHECK_INT(c.first, ==, segs[i]);
    KK_CHECK_INT(c.n, ==, 201 - segs[i]);
  }
  c = read_all(j, 137);
  KK_CHECK_INT(c.first, ==, 137);
  KK_CHECK_INT(c.n, ==, 64);
  kk__journal_close(j);
}

KK_TEST(cursor_register_set_save_reopen) {
  char *dir = tmpdir();
  uint64_t seq = 99;
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 10);
  KK_CHECK_INT(kk__journal_cursor_register(j, "store.sqlite-1_a", &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 10);
  KK_CHECK_INT(kk__journal_cursor_register(j, "pub", &seq), ==, 0);
  append_n(j, 10);
  kk__journal_cursor_set(j, "store.sqlite-1_a", 15);
  kk__journal_cursor_set(j, "store.sqlite-1_a", 12); /* never backwards */
  kk__journal_cursor_set(j, "pub", 18);
  kk__journal_cursor_set(j, "unknown", 18); /* ignored */
  KK_CHECK_INT(kk__journal_cursor_register(j, "store.sqlite-1_a", &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 15);
  KK_CHECK_INT(kk__journal_cursors_save(j), ==, 0);
  kk__journal_close(j);

  char path[128], text[32] = "";
  snprintf(path, sizeof path, "%s/cursors/store.sqlite-1_a", dir);
  FILE *f = fopen(path, "r");
  KK_CHECK(f != NULL);
  KK_CHECK(fgets(text, sizeof text, f) != NULL);
  fclose(f);
  KK_CHECK_STR(text, "15\n");
  snprintf(path, sizeof path, "%s/cursors", dir);
  KK_CHECK_INT(count_files(path), ==, 2); /* no .tmp left behind */

  j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "store.sqlite-1_a", &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 15);
  KK_CHECK_INT(kk__journal_cursor_register(j, "pub", &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 18);

  const char *bad[] = {"",        ".",     "..",     "../x", "a/b",
                       ".hidden", "x.tmp", "sp ace", "ä",    NULL};
  for (int i = 0; bad[i]; i++)
    KK_CHECK_INT(kk__journal_cursor_register(j, bad[i], &seq), ==, KK_EINVAL);
  KK_CHECK_INT(kk__journal_cursor_register(j, NULL, &seq), ==, KK_EINVAL);
  kk__journal_close(j);
}

KK_TEST(new_cursor_starts_at_end_and_is_persisted) {
  char *dir = tmpdir(), path[128], text[32] = "";
  uint64_t seq = 0;
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 10);
  KK_CHECK_INT(kk__journal_cursor_register(j, "late", &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 10);
  /* On disk before any save or close. */
  snprintf(path, sizeof path, "%s/cursors/late", dir);
  FILE *f = fopen(path, "r");
  KK_CHECK(f != NULL);
  KK_CHECK(fgets(text, sizeof text, f) != NULL);
  fclose(f);
  KK_CHECK_STR(text, "10\n");

  /* A cursor past the end (the journal lost its tail) is moved back. */
  snprintf(path, sizeof path, "%s/cursors/ghost", dir);
  f = fopen(path, "w");
  KK_CHECK(f != NULL);
  fputs("999\n", f);
  fclose(f);
  KK_CHECK_INT(kk__journal_cursor_register(j, "ghost", &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 10);
  /* A cursor file with garbage is an error, not a silent restart. */
  snprintf(path, sizeof path, "%s/cursors/junk", dir);
  f = fopen(path, "w");
  KK_CHECK(f != NULL);
  fputs("12x\n", f);
  fclose(f);
  KK_CHECK_INT(kk__journal_cursor_register(j, "junk", &seq), ==, KK_ECORRUPT);
  kk__journal_close(j);
}

KK_TEST(retire_respects_cursors_age_zero) {
  char *dir = tmpdir(), path[128];
  uint64_t segs[512], seq;
  kk__journal_t *j = jopen(dir, 1024, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 200);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  size_t n = list_segs(dir, segs, 512);
  KK_CHECK_INT(n, >, 5);
  /* Without registered cursors nothing is consumed. */
  KK_CHECK_INT(kk__journal_retire(j), ==, 0);

  KK_CHECK_INT(kk__journal_cursor_register(j, "slow", &seq), ==, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "fast", &seq), ==, 0);
  kk__journal_cursors_save(j);
  kk__journal_close(j);
  /* Put both cursors back to 0, as if they were registered long ago. */
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/cursors/%s", dir, i ? "slow" : "fast");
    FILE *f = fopen(path, "w");
    KK_CHECK(f != NULL);
    fputs("0\n", f);
    fclose(f);
  }
  j = jopen(dir, 1024, KK__FSYNC_NEVER, 0, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "slow", &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "fast", &seq), ==, 0);
  KK_CHECK_INT(kk__journal_retire(j), ==, 0);

  kk__journal_cursor_set(j, "fast", 200);
  /* One short of the end of segment 2: only segment 1 is consumed. */
  kk__journal_cursor_set(j, "slow", segs[2] - 2);
  KK_CHECK_INT(kk__journal_retire(j), ==, 1);
  kk__journal_cursor_set(j, "slow", segs[2] - 1);
  KK_CHECK_INT(kk__journal_retire(j), ==, 1);
  seg_path(path, sizeof path, dir, segs[0]);
  KK_CHECK(access(path, F_OK) != 0);
  seg_path(path, sizeof path, dir, segs[2]);
  KK_CHECK(access(path, F_OK) == 0);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.first, ==, segs[2]);
  KK_CHECK_INT(c.last, ==, 200);

  /* Everything consumed: all but the active segment go. */
  kk__journal_cursor_set(j, "slow", 200);
  KK_CHECK_INT(kk__journal_retire(j), ==, (int)n - 3);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.segments, ==, 1);
  KK_CHECK_INT(st.retired, ==, n - 1);
  KK_CHECK_INT(list_segs(dir, segs + 500, 12), ==, 1);
  KK_CHECK_INT(segs[500], ==, segs[n - 1]);
  /* Appending and reopening still work after retiring. */
  append_n(j, 5);
  kk__journal_close(j);
  j = jopen(dir, 1024, KK__FSYNC_NEVER, 0, 0);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 205);
  c = read_all(j, 0);
  KK_CHECK_INT(c.first, ==, segs[n - 1]);
  KK_CHECK_INT(c.last, ==, 205);
  kk__journal_close(j);
}

KK_TEST(retire_respects_retention_size_and_age) {
  char *dir = tmpdir(), path[128];
  uint64_t segs[512], sizes[512], seq;
  const uint64_t hour = 3600 * 1000;
  kk__journal_t *j = jopen(dir, 1024, KK__FSYNC_NEVER, 0, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "a", &seq), ==, 0);
  append_n(j, 200);
  kk__journal_close(j);
  size_t n = list_segs(dir, segs, 512);
  KK_CHECK_INT(n, >, 8);
  for (size_t i = 0; i < n; i++) {
    seg_path(path, sizeof path, dir, segs[i]);
    sizes[i] = file_size(path);
  }

  /* Young segments, no size cap: an hour's retention keeps them all. */
  j = jopen(dir, 1024, KK__FSYNC_NEVER, hour, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "a", &seq), ==, 0);
  kk__journal_cursor_set(j, "a", 200);
  KK_CHECK_INT(kk__journal_retire(j), ==, 0);
  kk__journal_close(j);

  /* A size cap of 3000 bytes drops the oldest consumed segments until the
   * consumed rest fits. */
  j = jopen(dir, 1024, KK__FSYNC_NEVER, hour, 3000);
  KK_CHECK_INT(kk__journal_cursor_register(j, "a", &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 200);
  uint64_t total = 0;
  size_t expect = 0;
  for (size_t i = 0; i + 1 < n; i++)
    total += sizes[i];
  while (total > 3000)
    total -= sizes[expect++];
  KK_CHECK_INT(expect, >, 0);
  KK_CHECK_INT(kk__journal_retire(j), ==, (int)expect);
  KK_CHECK_INT(kk__journal_retire(j), ==, 0);
  seg_path(path, sizeof path, dir, segs[expect - 1]);
  KK_CHECK(access(path, F_OK) != 0);
  seg_path(path, sizeof path, dir, segs[expect]);
  KK_CHECK(access(path, F_OK) == 0);
  kk__journal_close(j);

  /* Age the next two segments by two hours: they go, the rest stays. */
  struct timespec ts[2];
  clock_gettime(CLOCK_REALTIME, &ts[0]);
  ts[0].tv_sec -= 7200;
  ts[1] = ts[0];
  for (size_t i = expect; i < expect + 2; i++) {
    seg_path(path, sizeof path, dir, segs[i]);
    KK_CHECK_INT(utimensat(AT_FDCWD, path, ts, 0), ==, 0);
  }
  j = jopen(dir, 1024, KK__FSYNC_NEVER, hour, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "a", &seq), ==, 0);
  KK_CHECK_INT(kk__journal_retire(j), ==, 2);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.first, ==, segs[expect + 2]);
  kk__journal_close(j);
}

static void torn_tail(int mode) {
  char *dir = tmpdir(), path[128], qpath[192];
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 10);
  kk__journal_stats_t st;
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  kk__journal_stats(j, &st);
  kk__journal_close(j);

  /* Find where record 10 starts: the size after 9 records. */
  seg_path(path, sizeof path, dir, 1);
  uint64_t size = file_size(path), rec10 = size - (32 + 4 + gen_len(10));
  if (gen_meta(10, qpath)) rec10 -= strlen(qpath);
  uint64_t cut = size;
  if (mode == 0) { /* torn in the middle of the body */
    KK_CHECK_INT(truncate(path, (off_t)(size - 5)), ==, 0);
    cut = size - 5;
  } else if (mode == 1) { /* torn inside the record header */
    KK_CHECK_INT(truncate(path, (off_t)(rec10 + 3)), ==, 0);
    cut = rec10 + 3;
  } else { /* a tail of zeros (preallocated blocks after a crash) */
    KK_CHECK_INT(truncate(path, (off_t)(size + 4096)), ==, 0);
    rec10 = size;
    cut = size + 4096;
  }

  j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 1);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, mode == 2 ? 10 : 9);
  KK_CHECK_INT(file_size(path), ==, rec10);
  snprintf(qpath, sizeof qpath, "%s/quarantine/%020d.kkj.%" PRIu64, dir, 1,
           rec10);
  KK_CHECK_INT(file_size(qpath), ==, cut - rec10);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, mode == 2 ? 10 : 9);
  append_n(j, 2);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, mode == 2 ? 12 : 11);
  kk__journal_close(j);

  j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 0);
  c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, mode == 2 ? 12 : 11);
  KK_CHECK_INT(c.last, ==, mode == 2 ? 12 : 11);
  kk__journal_close(j);
}

KK_TEST(torn_tail_mid_record) {
  torn_tail(0);
}
KK_TEST(torn_tail_in_header) {
  torn_tail(1);
}
KK_TEST(zero_tail) {
  torn_tail(2);
}

KK_TEST(duplicated_record_at_tail) {
  char *dir = tmpdir(), path[128];
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 3);
  kk__journal_close(j);
  /* Record 3 again after itself: its CRC is fine, its seq is not. */
  seg_path(path, sizeof path, dir, 1);
  uint64_t size = file_size(path);
  size_t len = 32 + 4 + gen_len(3) + 3; /* "src0", "m=3" */
  uint8_t rec[512];
  int fd = open(path, O_RDWR);
  KK_CHECK(fd >= 0);
  KK_CHECK_INT(pread(fd, rec, len, (off_t)(size - len)), ==, (ssize_t)len);
  KK_CHECK_INT(pwrite(fd, rec, len, (off_t)size), ==, (ssize_t)len);
  close(fd);
  j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 1);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 3);
  KK_CHECK_INT(file_size(path), ==, size);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, 3);
  kk__journal_close(j);
}

KK_TEST(empty_newest_segment_gives_seq_from_name) {
  char *dir = tmpdir(), path[128];
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  kk__journal_close(j);
  /* Only a freshly rolled segment, with nothing but the magic. */
  seg_path(path, sizeof path, dir, 1);
  KK_CHECK_INT(unlink(path), ==, 0);
  seg_path(path, sizeof path, dir, 42);
  FILE *f = fopen(path, "w");
  KK_CHECK(f != NULL);
  fputs("KKJ", f); /* even a torn magic */
  fclose(f);
  j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 41);
  append_n(j, 1);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 42);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 0);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, 1);
  KK_CHECK_INT(c.first, ==, 42);
  kk__journal_close(j);
}

KK_TEST(flipped_byte_in_older_segment) {
  char *dir = tmpdir(), path[128], qdir[128];
  uint64_t segs[512];
  kk__journal_t *j = jopen(dir, 1024, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 100);
  kk__journal_close(j);
  size_t n = list_segs(dir, segs, 512);
  KK_CHECK_INT(n, >, 3);

  seg_path(path, sizeof path, dir, segs[1]);
  uint64_t size = file_size(path);
  int fd = open(path, O_RDWR);
  KK_CHECK(fd >= 0);
  uint8_t b;
  KK_CHECK_INT(pread(fd, &b, 1, (off_t)(size / 2)), ==, 1);
  b ^= 0x10;
  KK_CHECK_INT(pwrite(fd, &b, 1, (off_t)(size / 2)), ==, 1);
  close(fd);

  /* Open only checks the newest segment. */
  j = jopen(dir, 1024, KK__FSYNC_NEVER, 0, 0);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 0);
  coll_t c = read_all(j, 0);
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 1);
  KK_CHECK_INT(c.first, ==, 1);
  KK_CHECK_INT(c.last, ==, 100);
  uint64_t lost = 100 - c.n;
  KK_CHECK_INT(lost, >=, 1);
  KK_CHECK_INT(lost, <, segs[2] - segs[1]); /* only the rest of that segment */
  uint64_t cut = file_size(path);
  KK_CHECK_INT(cut, <=, size / 2);
  snprintf(qdir, sizeof qdir, "%s/quarantine", dir);
  KK_CHECK_INT(count_files(qdir), ==, 1);
  char qpath[192];
  snprintf(qpath, sizeof qpath, "%s/%020" PRIu64 ".kkj.%" PRIu64, qdir, segs[1],
           cut);
  KK_CHECK_INT(file_size(qpath), ==, size - cut);

  /* The damage is gone: a second read finds the same records, no more. */
  coll_t c2 = read_all(j, 0);
  KK_CHECK_INT(c2.n, ==, c.n);
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 1);
  kk__journal_close(j);
}

static int big_cb(void *ud, const kk__journal_rec_t *r) {
  KK_CHECK_INT(r->seq, ==, 4);
  KK_CHECK_INT(r->len, ==, (16u << 20) - 25);
  KK_CHECK(memcmp(r->data, ud, r->len) == 0);
  return 1;
}

KK_TEST(records_over_16_mib_refused) {
  char *dir = tmpdir();
  size_t big = 16u << 20;
  uint8_t *data = malloc(big + 1);
  uint64_t seq = 0;
  KK_CHECK(data != NULL);
  for (size_t i = 0; i <= big; i++)
    data[i] = (uint8_t)(i * 7);
  kk__journal_t *j = jopen(dir, 1 << 20, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 3);
  KK_CHECK_INT(kk__journal_append(j, "s", 0, 0, NULL, data, big + 1, &seq), ==,
               KK_ETOOBIG);
  KK_CHECK_INT(kk__journal_append(j, "s", 0, 0, NULL, data, big, &seq), ==,
               KK_ETOOBIG);
  char meta[70000];
  memset(meta, 'm', sizeof meta - 1);
  meta[sizeof meta - 1] = '\0';
  KK_CHECK_INT(kk__journal_append(j, "s", 0, 0, meta, data, 1, &seq), ==,
               KK_ETOOBIG);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 3);
  /* Just under the limit fits, in a segment of its own. */
  size_t fit = big - 24 - 1;
  KK_CHECK_INT(kk__journal_append(j, "s", 0, 0, NULL, data, fit, &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 4);
  append_n(j, 2);
  kk__journal_close(j);

  j = jopen(dir, 1 << 20, KK__FSYNC_NEVER, 0, 0);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.segments, ==, 3);
  KK_CHECK_INT(kk__journal_read(j, 4, big_cb, data), ==, 1);
  coll_t c = read_all(j, 5);
  KK_CHECK_INT(c.n, ==, 2);
  kk__journal_close(j);
  free(data);
}

KK_TEST(commit_failure_keeps_records_buffered) {
  char *dir = tmpdir(), path[128];
  signal(SIGXFSZ, SIG_IGN); /* so that write() fails with EFBIG instead */
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_ALWAYS, 0, 0);
  append_n(j, 10);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  seg_path(path, sizeof path, dir, 1);
  uint64_t good = file_size(path);
  append_n(j, 1000);

  struct rlimit rl, low;
  KK_CHECK_INT(getrlimit(RLIMIT_FSIZE, &rl), ==, 0);
  low = rl;
  low.rlim_cur = (rlim_t)good + 1000; /* a partial write, then EFBIG */
  KK_CHECK_INT(setrlimit(RLIMIT_FSIZE, &low), ==, 0);
  KK_CHECK_INT(kk__journal_commit(j), ==, -EFBIG);
  KK_CHECK_INT(file_size(path), ==, good); /* the partial write was cut */
  KK_CHECK_INT(kk__journal_commit(j), ==, -EFBIG);
  KK_CHECK_INT(file_size(path), ==, good);
  /* Committed records stay readable while the disk is "full". */
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, 10);
  KK_CHECK_INT(setrlimit(RLIMIT_FSIZE, &rl), ==, 0);

  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.disk_bytes, ==, file_size(path));
  kk__journal_close(j);
  j = jopen(dir, 0, KK__FSYNC_ALWAYS, 0, 0);
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 0);
  c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, 1010);
  KK_CHECK_INT(c.last, ==, 1010);
  kk__journal_close(j);
}

KK_TEST(fsync_interval_tick) {
  char *dir = tmpdir();
  struct timespec ts = {0, 2 * 1000 * 1000};
  /* One segment (64 MiB): no rollover sync gets in the way of counting. */
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_INTERVAL, 0, 0);
  for (int i = 0; i < 5; i++) {
    append_n(j, 40);
    KK_CHECK_INT(kk__journal_commit(j), ==, 0);
    /* Under the interval policy commit writes but does not sync ... */
    int before = fdatasync_calls;
    nanosleep(&ts, NULL);
    kk__journal_tick(j);
    /* ... the tick past the interval (1 ms here) does, once ... */
    KK_CHECK_INT(fdatasync_calls, ==, before + 1);
    nanosleep(&ts, NULL);
    kk__journal_tick(j);
    /* ... and a tick with nothing written since does not. */
    KK_CHECK_INT(fdatasync_calls, ==, before + 1);
  }
  kk__journal_close(j);
  /* Within the interval, written data waits for a later tick. */
  kk__journal_cfg_t cfg = {.dir = dir,
                           .fsync = KK__FSYNC_INTERVAL,
                           .fsync_interval_ms = 3600 * 1000};
  char err[256] = "";
  KK_CHECK_INT(kk__journal_open(&cfg, &j, err, sizeof err), ==, 0);
  kk__journal_tick(j);
  append_n(j, 10);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  int before = fdatasync_calls;
  kk__journal_tick(j);
  KK_CHECK_INT(fdatasync_calls, ==, before);
  kk__journal_close(j);
  /* Records survive a reopen under the interval policy, rollovers
   * included. */
  j = jopen(dir, 4096, KK__FSYNC_INTERVAL, 0, 0);
  for (int i = 0; i < 5; i++) {
    append_n(j, 40);
    KK_CHECK_INT(kk__journal_commit(j), ==, 0);
    nanosleep(&ts, NULL);
    kk__journal_tick(j);
  }
  kk__journal_close(j);
  j = jopen(dir, 4096, KK__FSYNC_INTERVAL, 0, 0);
  coll_t c = read_all(j, 0);
  KK_CHECK_INT(c.n, ==, 410);
  kk__journal_close(j);
}

KK_TEST(second_open_is_refused) {
  char *dir = tmpdir(), err[256] = "";
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0), *j2 = NULL;
  kk__journal_cfg_t cfg = {.dir = dir};
  KK_CHECK_INT(kk__journal_open(&cfg, &j2, err, sizeof err), ==, KK_EBUSY);
  KK_CHECK(j2 == NULL);
  KK_CHECK(strstr(err, "in use") != NULL);
  kk__journal_close(j);
  j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  kk__journal_close(j);
  kk__journal_close(NULL);
}

/* Under fsync = never cursors are saved without fsync; one torn to an
 * empty file by a power loss replays from the oldest record (at least
 * once) instead of refusing to start; under fsync = always an empty
 * cursor stays an error (it cannot happen there). */
KK_TEST(empty_cursor_under_fsync_never_replays) {
  char *dir = tmpdir();
  uint64_t seq = 99;
  kk__journal_t *j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  append_n(j, 10);
  KK_CHECK_INT(kk__journal_cursor_register(j, "sink", &seq), ==, 0);
  kk__journal_cursor_set(j, "sink", 7);
  KK_CHECK_INT(kk__journal_cursors_save(j), ==, 0);
  kk__journal_close(j);
  char path[128];
  snprintf(path, sizeof path, "%s/cursors/sink", dir);
  FILE *f = fopen(path, "w"); /* torn: empty */
  KK_CHECK(f != NULL);
  fclose(f);
  j = jopen(dir, 0, KK__FSYNC_NEVER, 0, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "sink", &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 0);
  kk__journal_close(j);
  f = fopen(path, "w");
  KK_CHECK(f != NULL);
  fclose(f);
  j = jopen(dir, 0, KK__FSYNC_ALWAYS, 0, 0);
  KK_CHECK_INT(kk__journal_cursor_register(j, "sink", &seq), ==, KK_ECORRUPT);
  kk__journal_close(j);
}

KK_TEST_MAIN(KK_CASE(empty_cursor_under_fsync_never_replays),
             KK_CASE(roundtrip), KK_CASE(seq_continuity_across_reopen),
             KK_CASE(read_sees_uncommitted_appends),
             KK_CASE(read_from_end_is_incremental),
             KK_CASE(read_from_the_middle_starts_near_it),
             KK_CASE(reader_maps_a_window_not_the_segment),
             KK_CASE(records_larger_than_the_window),
             KK_CASE(read_callback_may_append_and_retire),
             KK_CASE(segment_rollover),
             KK_CASE(cursor_register_set_save_reopen),
             KK_CASE(new_cursor_starts_at_end_and_is_persisted),
             KK_CASE(retire_respects_cursors_age_zero),
             KK_CASE(retire_respects_retention_size_and_age),
             KK_CASE(torn_tail_mid_record), KK_CASE(torn_tail_in_header),
             KK_CASE(zero_tail), KK_CASE(duplicated_record_at_tail),
             KK_CASE(empty_newest_segment_gives_seq_from_name),
             KK_CASE(flipped_byte_in_older_segment),
             KK_CASE(records_over_16_mib_refused),
             KK_CASE(commit_failure_keeps_records_buffered),
             KK_CASE(fsync_interval_tick), KK_CASE(second_open_is_refused))
