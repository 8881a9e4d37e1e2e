/* core/journal_hdr.h - the header of a journal segment file (internal,
 * for core/journal.c).
 *
 * "KKJRNL" and two decimal digits of format version start every segment.
 * Version 1 (klimakit 0.1): those 8 bytes alone, records follow.
 * Version 2: magic "KKJRNL02" | u32 header length (32; records start
 * there, so a later version may add fields) | u64 first seq (must match
 * the file name) | i64 created (ms since 1970) | u32 crc32 of the 28
 * bytes before it, all little-endian.  Records of versions 1 and 2 carry
 * zlib's CRC-32 (the IEEE 802.3 polynomial).
 * Version 3: the layout of version 2 with magic "KKJRNL03"; the header's
 * and every record's checksum is CRC32C (Castagnoli, core/crc32c.h),
 * which the CPU computes in hardware.
 * A segment of an older version is read as it is and never rewritten;
 * journal_open rolls appends over to a segment of KK__J_VERSION.  A
 * segment of a version newer than KK__J_VERSION stops journal_open with a
 * message (an older klimakit never cuts or quarantines a newer one's
 * journal). */
#ifndef KK_CORE_JOURNAL_HDR_H
#define KK_CORE_JOURNAL_HDR_H

#include <stddef.h>
#include <stdint.h>

#define KK__J_MAGIC_LEN 8u /* magic + version digits, the shortest header */
#define KK__J_VERSION 3
#define KK__J_SEGHDR 32u /* the header length this version writes */

/* A record: u32 body length | u32 checksum of the body | body: u64 seq,
 * i64 time_ms, u32 format, u16 source length, u16 meta length, source,
 * meta, data. */
#define KK__J_HDR 8u       /* u32 body_len | u32 crc */
#define KK__J_BODY_HDR 24u /* seq, time_ms, format, source_len, meta_len */
#define KK__J_MAX_BODY (16u << 20)

/* The format version in the first 8 bytes of a segment, 0 when they are
 * not "KKJRNL" and two digits. */
int kk__jhdr_version(const uint8_t *p);

/* Checks the header of segment `first` (`size` bytes mapped at `map`).
 * Returns the offset of its first record and its version in *version, 0
 * for the remains of a header a crash interrupted (an empty segment), or
 * -1 with *why set. */
int64_t kk__jhdr_read(const uint8_t *map, uint64_t size, uint64_t first,
                      int *version, const char **why);

/* The checksum of records (and of the header) in a segment of format
 * `version`: zlib's CRC-32 up to version 2, CRC32C from version 3. */
uint32_t kk__jhdr_crc(int version, const void *p, size_t len);

/* Writes a header of format `version` (2 or 3) for segment `first` at the
 * start of fd.  Returns 0 or -errno. */
int kk__jhdr_write(int fd, uint64_t first, int version);

/* 0, or KK_EINVAL with a message in `msg` when segment `name` (in the
 * directory `dirfd`) has a newer format version than this build. */
int kk__jhdr_newer(int dirfd, const char *name, char *msg, size_t len);

/* Where records begin, noted as they are appended (the first record that
 * starts in each 256 KiB of a segment, the last KK__J_CKS of them: the
 * last 64 MiB written), so that a reader of a record in the middle of a
 * segment starts its walk at most 256 KiB before it.  Without them, the
 * first read of a run (deliver-later reading a backlog back) walked and
 * mapped the segment from its start: tens of MB of resident pages and
 * CRCs for records it did not want. */
#define KK__J_CKS 256u
#define KK__J_CK_SHIFT 18u
typedef struct kk__jck {
  uint64_t first[KK__J_CKS], seq[KK__J_CKS], off[KK__J_CKS];
  unsigned next;  /* the slot to fill next */
  uint64_t block; /* (segment first, 256 KiB block) of the last one + 1 */
} kk__jck_t;

/* Notes record `seq` appended at `off` of segment `first` when it is the
 * first in its 256 KiB block. */
void kk__jck_add(kk__jck_t *c, uint64_t first, uint64_t seq, uint64_t off);

/* A segment file read through a window of it mapped at a time.  Not the
 * whole file: on the development machine's kernel (Linux 6.18, ext4) a
 * read-back that walked at most 386 KB of a segment mapped whole had 4-7
 * MB of it resident, as if each fault mapped all of a large page-cache
 * folio (ext4 caches files in folios of up to 2 MiB) lying inside the
 * mapping.  Through a window of KK__J_WINDOW the resident part stays
 * within the window. */
#define KK__J_WINDOW (256u << 10)
typedef struct kk__jmap {
  int fd;
  uint64_t size; /* the bytes of the file that count */
  uint8_t *base; /* [at, at + len) of the file, or NULL */
  uint64_t at, len;
} kk__jmap_t;

/* Bytes [off, off + n) of the file (0 < n <= size - off), mapping a new
 * window when the current one does not hold them; earlier pointers are
 * then invalid.  NULL with errno set when mmap fails. */
const uint8_t *kk__jmap_at(kk__jmap_t *m, uint64_t off, uint64_t n);
/* Unmaps the window (the fd stays the caller's). */
void kk__jmap_close(kk__jmap_t *m);

/* A record as kk__jrec_check() found it; `body` points into the window. */
typedef struct kk__jrec {
  const uint8_t *body;
  uint64_t seq;
  uint32_t blen, sl, ml; /* body, source and meta lengths */
} kk__jrec_t;

/* Checks the record at `off` of a segment of format `version` (read
 * through `m`) whose previous record is `prev`.  Returns NULL with *r
 * filled when it is good; the reason when it is not; NULL with r->body
 * NULL and errno set when its bytes could not be mapped. */
const char *kk__jrec_check(kk__jmap_t *m, int version, uint64_t off,
                           uint64_t prev, kk__jrec_t *r);

/* The latest checkpoint of segment `first` (read through `m`) at or
 * before record `from` whose record is there: its offset and seq.
 * Returns 0 when there is none. */
int kk__jck_find(const kk__jck_t *c, kk__jmap_t *m, uint64_t first,
                 uint64_t from, uint64_t *off, uint64_t *seq);

#endif
