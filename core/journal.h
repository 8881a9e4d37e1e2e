/*
 * core/journal.h - the append-only, segmented on-disk log (internal).
 *
 * Sources append raw messages here before they acknowledge them; every
 * sink has a persisted cursor (the highest sequence number it has durably
 * handled).  After a restart the engine re-reads the journal from the
 * lowest cursor, so nothing acknowledged is lost.
 *
 * Layout under `dir`:
 *   <20-digit first seq>.kkj   segment files, each starting with a
 *                              header "KKJRNL<2-digit format version>..."
 *                              (version 3: 32 bytes, see journal_hdr.h;
 *                              segments of versions 1 and 2 are still
 *                              read, each with its own CRC)
 *   cursors/<sink name>        one decimal seq per file, replaced
 *                              atomically (write tmp, fsync, rename)
 *   quarantine/<segment>.<off> the rest of a segment after a corrupt
 *                              record
 *
 * Record (little-endian):
 *   u32 body_len | u32 crc(body) | body
 *   body = u64 seq | i64 time_ms | u32 format | u16 source_len |
 *          u16 meta_len | source | meta | data
 *   crc = CRC32C (Castagnoli, core/crc32c.h; in hardware where the CPU
 *         has it) in version-3 segments, zlib's CRC-32 (IEEE) in the
 *         version-1 and version-2 segments of earlier releases.  A
 *         journal holding old segments followed by new ones (after an
 *         upgrade) replays in sequence order across all of them.
 *
 * Not thread-safe: one loop thread uses it.
 */
#ifndef KK_CORE_JOURNAL_H
#define KK_CORE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct kk__journal kk__journal_t;

typedef enum kk__fsync {
  KK__FSYNC_NEVER = 0, /* write() before ack: survives a process crash */
  KK__FSYNC_INTERVAL,  /* plus fdatasync every interval (kk__journal_tick) */
  KK__FSYNC_ALWAYS     /* fdatasync in every commit: survives power loss */
} kk__fsync_t;

typedef struct kk__journal_cfg {
  const char *dir;       /* created if missing */
  uint64_t segment_size; /* roll to a new segment past this; 0: 64 MiB */
  kk__fsync_t fsync;
  uint64_t fsync_interval_ms; /* for KK__FSYNC_INTERVAL; 0: 1000 */
  uint64_t retain_size;       /* keep consumed segments up to this many bytes;
                                 0: no size cap (the age alone decides) */
  uint64_t retain_age_ms; /* ... and no longer than this; 0 = retire at once */
  int version; /* segment format version new segments get: 0 = the current
                  one (KK__J_VERSION, CRC32C); 2 = the previous one (zlib
                  CRC-32), for the comparison bench; KK_EINVAL otherwise */
} kk__journal_cfg_t;

typedef struct kk__journal_rec {
  uint64_t seq;
  int64_t time_ms;
  uint32_t format;
  const char *source; /* NUL-terminated copies valid during the callback */
  const char *meta;   /* "" when the record was appended without meta */
  const uint8_t *data;
  uint32_t len;
} kk__journal_rec_t;

typedef struct kk__journal_stats {
  uint64_t appended;      /* records appended since open */
  uint64_t bytes_written; /* bytes written since open */
  uint64_t corrupt;       /* corrupt records found (quarantined) */
  uint64_t segments;      /* segment files present */
  uint64_t retired;       /* segments deleted since open */
  uint64_t disk_bytes;    /* bytes in segment files */
} kk__journal_stats_t;

/* Opens (creating) the journal in cfg->dir.  Validates the newest segment
 * and moves a torn or corrupt tail to quarantine.  Returns 0 and *out, or a
 * negative code with a message in `err` (size `errlen`). */
int kk__journal_open(const kk__journal_cfg_t *cfg, kk__journal_t **out,
                     char *err, size_t errlen);

/* Commits, syncs, saves cursors and frees.  NULL is a no-op. */
void kk__journal_close(kk__journal_t *j);

/* Buffers one record and returns its sequence number in *seq (the first
 * record ever is 1).  The record is durable only after
 * kk__journal_commit().  `meta` may be NULL.  Records larger than 16 MiB
 * (24-byte header, source, meta and data together) are refused with
 * KK_ETOOBIG, and so are source or meta longer than 65535 bytes.  Commits
 * first when the buffer is full or the segment rolls over, so it may also
 * return commit's errors; the record is then not appended. */
int kk__journal_append(kk__journal_t *j, const char *source, int64_t time_ms,
                       uint32_t format, const char *meta, const void *data,
                       size_t len, uint64_t *seq);

/* Writes every buffered record with write() (and fdatasync under
 * KK__FSYNC_ALWAYS).  Returns 0 or -errno (disk full...).  On failure the
 * buffered records stay buffered and the call may be repeated. */
int kk__journal_commit(kk__journal_t *j);

/* Periodic work, call about every 100 ms: interval fsync. */
void kk__journal_tick(kk__journal_t *j);

/* Highest sequence number appended so far (0 for an empty journal). */
uint64_t kk__journal_last_seq(const kk__journal_t *j);

/* Registers the cursor of sink `name` for this run and returns its value
 * in *seq.  A sink seen for the first time starts at the current end
 * (kk__journal_last_seq) and that position is persisted at once.  Only
 * registered cursors hold segments back. */
int kk__journal_cursor_register(kk__journal_t *j, const char *name,
                                uint64_t *seq);

/* Moves a registered cursor (in memory; never backwards). */
void kk__journal_cursor_set(kk__journal_t *j, const char *name, uint64_t seq);

/* Persists every registered cursor atomically.  Returns 0 or -errno. */
int kk__journal_cursors_save(kk__journal_t *j);

/* Deletes segments whose records every registered cursor has passed and
 * that retention no longer keeps.  Returns the number deleted. */
int kk__journal_retire(kk__journal_t *j);

/* Calls `cb` for each record with seq >= from, in order, until `cb`
 * returns non-zero (which is then returned).  Commits buffered records
 * first; records appended while the read runs (by cb) are not delivered.
 * A corrupt record moves the rest of its segment to quarantine (counted in
 * stats, logged) and reading goes on with the next segment.  Returns 0,
 * cb's value, or -errno. */
int kk__journal_read(kk__journal_t *j, uint64_t from,
                     int (*cb)(void *ud, const kk__journal_rec_t *rec),
                     void *ud);

void kk__journal_stats(const kk__journal_t *j, kk__journal_stats_t *st);

#endif
