/*
 * core/journal_dead.h - the journal's dead letters and its in-flight
 * marker (internal).
 *
 * A journal record that a stage cannot get through (its decoder rejects
 * it, a transform fails on it, the process dies while replaying it
 * KK__DEAD_MAX_CRASHES times) is copied here with its reason, so that the
 * pipeline moves on and an operator can look at it, fix the decoder and
 * put it back (`klimakit journal requeue`).
 *
 * Layout under the journal directory:
 *   dead/<20-digit seq>.kkd    one dead letter per journal record
 *   inflight                   "FIRST LAST CRASHES\n": the replay batch
 *                              being processed; present at start means
 *                              the process died while processing it
 *
 * A dead letter is a text header, an empty line, then meta and data:
 *   KKDEAD01\n
 *   seq N\n time_ms N\n format N\n attempts N\n dead_ms N\n
 *   source S\n stage S\n reason S\n meta_len N\n data_len N\n
 *   \n
 *   <meta_len bytes of meta><data_len bytes of data>
 * S is escaped: '%', control bytes and bytes >= 0x7f as %XX.  The keys
 * appear in this order; a reader refuses anything else (kk__dead_parse is
 * fuzzed: tests/fuzz/fuzz_dead_letter.c).
 *
 * The area is bounded: past KK__DEAD_MAX_FILES letters or
 * KK__DEAD_MAX_BYTES bytes the oldest letters are dropped, down to 90 % of
 * both bounds so that a flood of garbage lists the directory once per
 * thousand letters, not per letter (counted in kk__dead_stats and in
 * kk_dead_letters_dropped_total, logged rate-limited).  The oldest go, not
 * the newest: the journal still holds an old record within its retention,
 * and after a decoder is fixed it is the recent letters that matter.  Loop
 * thread only (or a CLI process holding the journal's lock).
 */
#ifndef KK_CORE_JOURNAL_DEAD_H
#define KK_CORE_JOURNAL_DEAD_H

#include <stddef.h>
#include <stdint.h>

#include <klimakit/text.h>

#include "journal.h"

#define KK__DEAD_MAX_FILES 10000
#define KK__DEAD_MAX_BYTES (64ull << 20)
/* Deaths of the process while one record was being replayed (alone)
 * before that record goes to the dead letters. */
#define KK__DEAD_MAX_CRASHES 3
/* Tries of a sink's batch that fails for good before its records go to
 * the dead letters (engine_dead.c). */
#define KK__DEAD_SINK_TRIES 3

/* One dead letter as parsed: strings and bytes point into the buffer
 * given to kk__dead_parse (source, stage, reason, meta are copied
 * NUL-terminated into `text`). */
typedef struct kk__dead {
  uint64_t seq;
  int64_t time_ms;
  uint32_t format;
  uint32_t attempts;
  int64_t dead_ms; /* when it was moved here (UTC ms) */
  char source[256];
  char stage[256];
  char reason[1024];
  const char *meta; /* NUL-terminated copy, caller frees with free() */
  const uint8_t *data;
  uint32_t len;
} kk__dead_t;

/* Parses a dead letter file's bytes.  On success fills *out (out->meta is
 * malloc'ed, free it; out->data points into buf) and returns 0; otherwise
 * KK_EPARSE with the reason in err. */
int kk__dead_parse(const uint8_t *buf, size_t len, kk__dead_t *out, char *err,
                   size_t errlen);

/* Appends the dead letter of `rec` in the format above to b. */
void kk__dead_format(kk_buf_t *b, const kk__journal_rec_t *rec,
                     const char *stage, const char *reason, uint32_t attempts,
                     int64_t dead_ms);

/* Writes the dead letter of journal record `rec` (stage that failed, why,
 * how often it was tried) under `jdir`/dead/, replacing an earlier one of
 * the same seq, then trims the area to its bounds.  Returns 0 or -errno. */
int kk__dead_put(const char *jdir, const kk__journal_rec_t *rec,
                 const char *stage, const char *reason, uint32_t attempts);

/* Calls cb for each dead letter in seq order (the letter's memory is valid
 * during the call) until it returns non-zero.  Unreadable letters are
 * reported through cb with `d` NULL and the file name in `why`.  Returns
 * 0, cb's value, or -errno. */
int kk__dead_list(const char *jdir,
                  int (*cb)(void *ud, const kk__dead_t *d, const char *why),
                  void *ud);

/* Loads the dead letter of `seq` into *out and *file (the file's bytes:
 * free both *file and out->meta).  Returns 0, -ENOENT, KK_EPARSE or
 * another -errno. */
int kk__dead_load(const char *jdir, uint64_t seq, kk__dead_t *out,
                  uint8_t **file, char *err, size_t errlen);

/* 1 when a dead letter of `seq` is in the area. */
int kk__dead_exists(const char *jdir, uint64_t seq);

/* Deletes the dead letter of `seq`.  Returns 0 or -errno. */
int kk__dead_remove(const char *jdir, uint64_t seq);

typedef struct kk__dead_stats {
  uint64_t letters, bytes; /* in the area now */
  uint64_t dropped;        /* oldest letters deleted by the bounds */
} kk__dead_stats_t;
void kk__dead_stats(const char *jdir, kk__dead_stats_t *st);

/* The in-flight marker.  kk__dead_mark() replaces it (write, fdatasync,
 * rename): records first..last are about to be processed and the process
 * has died `crashes` times on them before.  kk__dead_unmark() removes it.
 * kk__dead_marked() reads it: 1 and the values when present, 0 when not. */
int kk__dead_mark(const char *jdir, uint64_t first, uint64_t last,
                  uint32_t crashes);
void kk__dead_unmark(const char *jdir);
int kk__dead_marked(const char *jdir, uint64_t *first, uint64_t *last,
                    uint32_t *crashes);

#endif
