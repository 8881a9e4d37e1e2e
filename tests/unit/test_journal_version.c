/*
 * tests/unit/test_journal_version.c - the journal's segment format
 * versions (core/journal.c): a version-1 segment (klimakit 0.1.0) is read
 * and never rewritten, appends roll to a version-2 segment, an empty
 * version-1 segment is rewritten in place, a damaged or misnamed v2
 * header is quarantined, and a segment of a newer version stops the open
 * with a message instead of being quarantined.
 */
#include "kk_test.h"

#include "journal.h"
#include <klimakit/error.h>

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char test_dir[64];

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *f) {
  (void)sb, (void)flag, (void)f;
  return remove(p);
}
static void rmrf(void) {
  if (test_dir[0]) nftw(test_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
static char *tmpdir(void) {
  strcpy(test_dir, "/tmp/kk-jver-XXXXXX");
  KK_CHECK(mkdtemp(test_dir) != NULL);
  atexit(rmrf);
  return test_dir;
}

static void seg_path(char *out, size_t len, uint64_t first) {
  snprintf(out, len, "%s/%020" PRIu64 ".kkj", test_dir, first);
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes a version-1 segment as klimakit 0.1.0 did: "KKJRNL01" and
 * records seq first .. first + n - 1, data "r<seq>". */
static void write_v1(uint64_t first, int n) {
  char path[128];
  seg_path(path, sizeof path, first);
  FILE *f = fopen(path, "wb");
  KK_CHECK(f != NULL);
  fwrite("KKJRNL01", 1, 8, f);
  for (int i = 0; i < n; i++) {
    uint8_t rec[8 + 24 + 3 + 16];
    char data[16];
    int dl = snprintf(data, sizeof data, "r%" PRIu64, first + (uint64_t)i);
    uint8_t *b = rec + 8;
    put64(b, first + (uint64_t)i);
    put64(b + 8, 1700000000000ull + (uint64_t)i);
    put32(b + 16, 0);
    b[20] = 3, b[21] = 0; /* source_len */
    b[22] = 0, b[23] = 0; /* meta_len */
    memcpy(b + 24, "tcp", 3);
    memcpy(b + 27, data, (size_t)dl);
    uint32_t blen = 27 + (uint32_t)dl;
    put32(rec, blen);
    put32(rec + 4, (uint32_t)crc32(0L, b, blen));
    fwrite(rec, 1, 8 + blen, f);
  }
  fclose(f);
}

static kk__journal_t *jopen(char *err, size_t errlen, int *rc) {
  kk__journal_cfg_t cfg = {.dir = test_dir};
  kk__journal_t *j = NULL;
  err[0] = 0;
  *rc = kk__journal_open(&cfg, &j, err, errlen);
  return j;
}

typedef struct {
  int n;
  uint64_t last;
  int bad;
} coll_t;
static int coll(void *ud, const kk__journal_rec_t *r) {
  coll_t *c = ud;
  char want[24];
  snprintf(want, sizeof want, "r%" PRIu64, r->seq);
  if (r->len != strlen(want) || memcmp(r->data, want, r->len) != 0 ||
      strcmp(r->source, "tcp") != 0)
    c->bad++;
  c->n++;
  c->last = r->seq;
  return 0;
}

static void head(uint64_t first, char *out, size_t n) {
  char path[128];
  seg_path(path, sizeof path, first);
  FILE *f = fopen(path, "rb");
  KK_CHECK(f != NULL);
  size_t got = fread(out, 1, n, f);
  out[got] = 0;
  fclose(f);
}

KK_TEST(v1_segment_read_and_appends_roll_to_v2) {
  tmpdir();
  write_v1(1, 5);
  char path[128], err[512], h[9];
  seg_path(path, sizeof path, 1);
  struct stat before, after;
  KK_CHECK_INT(stat(path, &before), ==, 0);
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 5);
  coll_t c = {0};
  KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
  KK_CHECK_INT(c.n, ==, 5);
  KK_CHECK_INT(c.bad, ==, 0);
  uint64_t seq = 0;
  KK_CHECK_INT(kk__journal_append(j, "tcp", 1, 0, NULL, "r6", 2, &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 6);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  c = (coll_t){0};
  KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
  KK_CHECK_INT(c.n, ==, 6);
  KK_CHECK_INT(c.bad, ==, 0);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 0);
  kk__journal_close(j);
  /* The old segment is as it was; record 6 is in a new v2 segment. */
  KK_CHECK_INT(stat(path, &after), ==, 0);
  KK_CHECK_INT(after.st_size, ==, before.st_size);
  head(1, h, 8);
  KK_CHECK_STR(h, "KKJRNL01");
  head(6, h, 8);
  KK_CHECK_STR(h, "KKJRNL02");
  /* And it all reads again after a reopen. */
  j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  c = (coll_t){0};
  KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
  KK_CHECK_INT(c.n, ==, 6);
  KK_CHECK_INT(c.last, ==, 6);
  kk__journal_close(j);
}

KK_TEST(empty_v1_segment_rewritten_as_v2) {
  tmpdir();
  write_v1(7, 0);
  char err[512], h[9];
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 6);
  uint64_t seq = 0;
  KK_CHECK_INT(kk__journal_append(j, "tcp", 1, 0, NULL, "r7", 2, &seq), ==, 0);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  kk__journal_close(j);
  head(7, h, 8);
  KK_CHECK_STR(h, "KKJRNL02");
  j = jopen(err, sizeof err, &rc);
  coll_t c = {0};
  KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
  KK_CHECK_INT(c.n, ==, 1);
  KK_CHECK_INT(c.bad, ==, 0);
  kk__journal_close(j);
}

KK_TEST(newer_version_refused_and_kept) {
  tmpdir();
  write_v1(1, 3);
  char path[128], err[512], h[9];
  seg_path(path, sizeof path, 4);
  FILE *f = fopen(path, "wb");
  KK_CHECK(f != NULL);
  fputs("KKJRNL03 from a later klimakit, 32+ bytes of header", f);
  fclose(f);
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK(j == NULL);
  KK_CHECK_INT(rc, ==, KK_EINVAL);
  KK_CHECK(strstr(err, "format version 3, this klimakit reads up to 2") !=
           NULL);
  head(4, h, 8);
  KK_CHECK_STR(h, "KKJRNL03");
  /* Nothing moved to quarantine. */
  char q[128];
  snprintf(q, sizeof q, "%s/quarantine/00000000000000000004.kkj.0", test_dir);
  KK_CHECK_INT(access(q, F_OK), !=, 0);
}

KK_TEST(v2_header_with_wrong_first_seq_quarantined) {
  tmpdir();
  char err[512];
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  uint64_t seq;
  for (int i = 1; i <= 3; i++) {
    char d[8];
    snprintf(d, sizeof d, "r%d", i);
    KK_CHECK_INT(kk__journal_append(j, "tcp", 1, 0, NULL, d, strlen(d), &seq),
                 ==, 0);
  }
  kk__journal_close(j);
  /* The segment renamed as if it began at 9: its header says 1. */
  char from[128], to[128];
  seg_path(from, sizeof from, 1);
  seg_path(to, sizeof to, 9);
  KK_CHECK_INT(rename(from, to), ==, 0);
  j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 1);
  /* The journal goes on at 9 with a fresh header. */
  KK_CHECK_INT(kk__journal_append(j, "tcp", 1, 0, NULL, "r9", 2, &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 9);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  coll_t c = {0};
  KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
  KK_CHECK_INT(c.n, ==, 1);
  KK_CHECK_INT(c.last, ==, 9);
  kk__journal_close(j);
}

KK_TEST_MAIN(KK_CASE(v1_segment_read_and_appends_roll_to_v2),
             KK_CASE(empty_v1_segment_rewritten_as_v2),
             KK_CASE(newer_version_refused_and_kept),
             KK_CASE(v2_header_with_wrong_first_seq_quarantined))
