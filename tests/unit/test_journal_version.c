/*
 * tests/unit/test_journal_version.c - the journal's segment format
 * versions (core/journal.c): a version-1 segment (klimakit 0.1.0) and a
 * version-2 segment (zlib CRC-32, klimakit before CRC32C), both written
 * here byte for byte as those releases wrote them, are read and never
 * rewritten; appends roll to a version-3 segment (CRC32C); a journal
 * holding v1, v2 and v3 segments replays in order; an empty old segment
 * is rewritten in place; a flipped byte is caught in every version; a
 * damaged or misnamed header is quarantined; and a segment of a newer
 * version stops the open with a message instead of being quarantined.
 */
#include "kk_test.h"

#include "crc32c.h"
#include "journal.h"
#include <klimakit/error.h>

#include <dirent.h>
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

/* Writes a segment of version 1 or 2 as klimakit wrote them before
 * version 3, records seq first .. first + n - 1, data "r<seq>".
 * Version 1 (klimakit 0.1.0): "KKJRNL01", then records.  Version 2:
 * "KKJRNL02" | u32 32 | u64 first | i64 created | u32 zlib crc32 of those
 * 28 bytes.  Both: u32 body_len | u32 zlib crc32(body) | body. */
static void write_old(int version, uint64_t first, int n) {
  char path[128];
  seg_path(path, sizeof path, first);
  FILE *f = fopen(path, "wb");
  KK_CHECK(f != NULL);
  if (version == 1) {
    fwrite("KKJRNL01", 1, 8, f);
  } else {
    uint8_t h[32];
    memcpy(h, "KKJRNL02", 8);
    put32(h + 8, 32);
    put64(h + 12, first);
    put64(h + 20, 1790000000000ull);
    put32(h + 28, (uint32_t)crc32(0L, h, 28));
    fwrite(h, 1, sizeof h, f);
  }
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
static void write_v1(uint64_t first, int n) {
  write_old(1, first, n);
}
static void write_v2(uint64_t first, int n) {
  write_old(2, first, n);
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
  /* In order and without gaps: one more than the record before. */
  if (c->n > 0 && r->seq != c->last + 1) c->bad++;
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

/* Appends records "r<seq>" from source "tcp" until seq `last`. */
static void add_until(kk__journal_t *j, uint64_t last) {
  uint64_t seq = kk__journal_last_seq(j);
  while (seq < last) {
    char d[24];
    int n = snprintf(d, sizeof d, "r%" PRIu64, seq + 1);
    KK_CHECK_INT(kk__journal_append(j, "tcp", 1, 0, NULL, d, (size_t)n, &seq),
                 ==, 0);
  }
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
}

static void flip(uint64_t first, long off) {
  char path[128];
  seg_path(path, sizeof path, first);
  FILE *f = fopen(path, "r+b");
  KK_CHECK(f != NULL);
  KK_CHECK_INT(fseek(f, off, SEEK_SET), ==, 0);
  int c = fgetc(f);
  KK_CHECK(c != EOF);
  KK_CHECK_INT(fseek(f, off, SEEK_SET), ==, 0);
  fputc(c ^ 0x01, f);
  fclose(f);
}

static size_t slurp(uint64_t first, uint8_t *out, size_t cap) {
  char path[128];
  seg_path(path, sizeof path, first);
  FILE *f = fopen(path, "rb");
  KK_CHECK(f != NULL);
  size_t n = fread(out, 1, cap, f);
  fclose(f);
  return n;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static int quarantined(void) {
  char q[128];
  int n = 0;
  snprintf(q, sizeof q, "%s/quarantine", test_dir);
  DIR *d = opendir(q);
  KK_CHECK(d != NULL);
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* Every old version: the segment is read, left as it was, and appends go
 * to a new version-3 segment; all of it reads again after a reopen. */
static void old_segment_rolls_to_v3(int version) {
  tmpdir();
  write_old(version, 1, 5);
  char path[128], err[512], h[9], want[9];
  seg_path(path, sizeof path, 1);
  snprintf(want, sizeof want, "KKJRNL%02d", version);
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
  KK_CHECK_INT(st.segments, ==, 2);
  kk__journal_close(j);
  /* The old segment is as it was; record 6 is in a new v3 segment. */
  KK_CHECK_INT(stat(path, &after), ==, 0);
  KK_CHECK_INT(after.st_size, ==, before.st_size);
  head(1, h, 8);
  KK_CHECK_STR(h, want);
  head(6, h, 8);
  KK_CHECK_STR(h, "KKJRNL03");
  /* And it all reads again after a reopen, without another roll. */
  j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  c = (coll_t){0};
  KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
  KK_CHECK_INT(c.n, ==, 6);
  KK_CHECK_INT(c.last, ==, 6);
  KK_CHECK_INT(c.bad, ==, 0);
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.segments, ==, 2);
  KK_CHECK_INT(st.corrupt, ==, 0);
  kk__journal_close(j);
}

KK_TEST(v1_segment_read_and_appends_roll_to_v3) {
  old_segment_rolls_to_v3(1);
}
KK_TEST(v2_segment_read_and_appends_roll_to_v3) {
  old_segment_rolls_to_v3(2);
}

/* The bytes of a version-3 segment: the header's and the record's
 * checksums are CRC32C, not zlib's CRC-32. */
KK_TEST(v3_segment_bytes_carry_crc32c) {
  tmpdir();
  char err[512];
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  add_until(j, 1);
  kk__journal_close(j);
  uint8_t b[256];
  size_t n = slurp(1, b, sizeof b);
  KK_CHECK_INT(n, ==, 32 + 8 + 24 + 3 + 2);
  KK_CHECK(memcmp(b, "KKJRNL03", 8) == 0);
  KK_CHECK_INT(get32(b + 8), ==, 32);
  KK_CHECK_INT(get32(b + 28), ==, kk__crc32c(0, b, 28));
  KK_CHECK(get32(b + 28) != (uint32_t)crc32(0L, b, 28));
  uint32_t blen = get32(b + 32);
  KK_CHECK_INT(blen, ==, 24 + 3 + 2);
  KK_CHECK_INT(get32(b + 36), ==, kk__crc32c(0, b + 40, blen));
  KK_CHECK(get32(b + 36) != (uint32_t)crc32(0L, b + 40, blen));
  KK_CHECK(memcmp(b + 40 + 24, "tcpr1", 5) == 0);
}

KK_TEST(empty_old_segments_rewritten_as_v3) {
  for (int version = 1; version <= 2; version++) {
    tmpdir();
    write_old(version, 7, 0);
    char err[512], h[9];
    int rc;
    kk__journal_t *j = jopen(err, sizeof err, &rc);
    KK_CHECK_INT(rc, ==, 0);
    KK_CHECK_INT(kk__journal_last_seq(j), ==, 6);
    uint64_t seq = 0;
    KK_CHECK_INT(kk__journal_append(j, "tcp", 1, 0, NULL, "r7", 2, &seq), ==,
                 0);
    KK_CHECK_INT(kk__journal_commit(j), ==, 0);
    kk__journal_close(j);
    head(7, h, 8);
    KK_CHECK_STR(h, "KKJRNL03");
    j = jopen(err, sizeof err, &rc);
    coll_t c = {0};
    KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
    KK_CHECK_INT(c.n, ==, 1);
    KK_CHECK_INT(c.bad, ==, 0);
    kk__journal_stats_t st;
    kk__journal_stats(j, &st);
    KK_CHECK_INT(st.segments, ==, 1);
    kk__journal_close(j);
    rmrf();
  }
}

/* An upgrade from 0.1 over the release before this one: v1, v2 and v3
 * segments side by side replay in sequence order, from any start. */
KK_TEST(mixed_journal_replays_in_order) {
  tmpdir();
  write_v1(1, 3);
  write_v2(4, 3);
  char err[512], h[9];
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 6);
  add_until(j, 9);
  kk__journal_close(j);
  head(7, h, 8);
  KK_CHECK_STR(h, "KKJRNL03");
  j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 9);
  for (uint64_t from = 1; from <= 10; from++) {
    coll_t c = {0};
    KK_CHECK_INT(kk__journal_read(j, from, coll, &c), ==, 0);
    KK_CHECK_INT(c.n, ==, 10 - from);
    KK_CHECK_INT(c.bad, ==, 0);
    if (from <= 9) KK_CHECK_INT(c.last, ==, 9);
  }
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.segments, ==, 3);
  KK_CHECK_INT(st.corrupt, ==, 0);
  kk__journal_close(j);
}

/* A flipped byte is caught with the CRC of its segment's version: in the
 * v1, the v2 and the v3 segment the records before it replay and the rest
 * of that segment goes to quarantine. */
KK_TEST(flipped_byte_caught_in_every_version) {
  tmpdir();
  write_v1(1, 3);
  write_v2(4, 3);
  char err[512];
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  add_until(j, 9);
  kk__journal_close(j);
  /* Each record "r<seq>" of 37 bytes: 8 framing + 24 + "tcp" + "r<d>";
   * flip the digit of the second record of each segment. */
  flip(1, 8 + 37 + 8 + 24 + 3 + 1);
  flip(4, 32 + 37 + 8 + 24 + 3 + 1);
  flip(7, 32 + 37 + 8 + 24 + 3 + 1);
  j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  /* The newest segment is checked at open: record 8 is gone. */
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 7);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 1);
  coll_t c = {0};
  KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
  /* 1, then 4, then 7: the gaps are the quarantined tails (which coll
   * counts as bad: not one more than the record before). */
  KK_CHECK_INT(c.n, ==, 3);
  KK_CHECK_INT(c.bad, ==, 2);
  KK_CHECK_INT(c.last, ==, 7);
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 3);
  KK_CHECK_INT(quarantined(), ==, 3);
  /* New records go on after 7 in the v3 segment. */
  add_until(j, 8);
  c = (coll_t){0};
  KK_CHECK_INT(kk__journal_read(j, 7, coll, &c), ==, 0);
  KK_CHECK_INT(c.n, ==, 2);
  KK_CHECK_INT(c.bad, ==, 0);
  kk__journal_close(j);
}

/* A version-3 header is checked with CRC32C: one flipped bit in its
 * creation time makes it a damaged header. */
KK_TEST(v3_header_crc_checked) {
  tmpdir();
  char err[512], h[9];
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  add_until(j, 3);
  kk__journal_close(j);
  flip(1, 20);
  j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  kk__journal_stats_t st;
  kk__journal_stats(j, &st);
  KK_CHECK_INT(st.corrupt, ==, 1);
  KK_CHECK_INT(kk__journal_last_seq(j), ==, 0);
  KK_CHECK_INT(quarantined(), ==, 1);
  kk__journal_close(j);
  head(1, h, 8);
  KK_CHECK_STR(h, "KKJRNL03");
}

KK_TEST(newer_version_refused_and_kept) {
  tmpdir();
  write_v1(1, 3);
  char path[128], err[512], h[9];
  seg_path(path, sizeof path, 4);
  FILE *f = fopen(path, "wb");
  KK_CHECK(f != NULL);
  fputs("KKJRNL04 from a later klimakit, 32+ bytes of header", f);
  fclose(f);
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK(j == NULL);
  KK_CHECK_INT(rc, ==, KK_EINVAL);
  KK_CHECK(strstr(err, "format version 4, this klimakit reads up to 3") !=
           NULL);
  head(4, h, 8);
  KK_CHECK_STR(h, "KKJRNL04");
  /* Nothing moved to quarantine. */
  KK_CHECK_INT(quarantined(), ==, 0);
}

KK_TEST(header_with_wrong_first_seq_quarantined) {
  tmpdir();
  char err[512];
  int rc;
  kk__journal_t *j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  add_until(j, 3);
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
  uint64_t seq;
  KK_CHECK_INT(kk__journal_append(j, "tcp", 1, 0, NULL, "r9", 2, &seq), ==, 0);
  KK_CHECK_INT(seq, ==, 9);
  KK_CHECK_INT(kk__journal_commit(j), ==, 0);
  coll_t c = {0};
  KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
  KK_CHECK_INT(c.n, ==, 1);
  KK_CHECK_INT(c.last, ==, 9);
  kk__journal_close(j);
}

/* cfg.version 2 (the comparison bench) writes what the release before
 * wrote, which a default open reads and rolls over from; other versions
 * are refused. */
KK_TEST(write_version_2_for_comparison) {
  tmpdir();
  char err[512], h[9];
  kk__journal_cfg_t cfg = {.dir = test_dir, .version = 2};
  kk__journal_t *j = NULL;
  KK_CHECK_INT(kk__journal_open(&cfg, &j, err, sizeof err), ==, 0);
  add_until(j, 4);
  kk__journal_close(j);
  head(1, h, 8);
  KK_CHECK_STR(h, "KKJRNL02");
  uint8_t b[256];
  KK_CHECK_INT(slurp(1, b, sizeof b), ==, 32 + 4 * (8 + 29));
  KK_CHECK_INT(get32(b + 28), ==, (uint32_t)crc32(0L, b, 28));
  KK_CHECK_INT(get32(b + 36), ==, (uint32_t)crc32(0L, b + 40, get32(b + 32)));
  int rc;
  j = jopen(err, sizeof err, &rc);
  KK_CHECK_INT(rc, ==, 0);
  add_until(j, 5);
  coll_t c = {0};
  KK_CHECK_INT(kk__journal_read(j, 1, coll, &c), ==, 0);
  KK_CHECK_INT(c.n, ==, 5);
  KK_CHECK_INT(c.bad, ==, 0);
  kk__journal_close(j);
  head(5, h, 8);
  KK_CHECK_STR(h, "KKJRNL03");
  for (int v = -1; v <= 5; v++) {
    if (v == 0 || v == 2 || v == 3) continue;
    cfg.version = v;
    KK_CHECK_INT(kk__journal_open(&cfg, &j, err, sizeof err), ==, KK_EINVAL);
    KK_CHECK(j == NULL);
  }
}

KK_TEST_MAIN(KK_CASE(v1_segment_read_and_appends_roll_to_v3),
             KK_CASE(v2_segment_read_and_appends_roll_to_v3),
             KK_CASE(v3_segment_bytes_carry_crc32c),
             KK_CASE(empty_old_segments_rewritten_as_v3),
             KK_CASE(mixed_journal_replays_in_order),
             KK_CASE(flipped_byte_caught_in_every_version),
             KK_CASE(v3_header_crc_checked),
             KK_CASE(newer_version_refused_and_kept),
             KK_CASE(header_with_wrong_first_seq_quarantined),
             KK_CASE(write_version_2_for_comparison))
