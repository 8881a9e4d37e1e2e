/*
 * klimakit/reading.h - readings, raw messages, batches and datastreams.
 *
 * A reading is a fixed-size value on a datastream at a time.  Strings
 * (thing, observed property, unit) live once in the datastream registry,
 * never in a reading.  Readings travel in batches: reference-counted arrays
 * that several sinks can hold at once without a copy.  A batch may also
 * carry the raw messages a source received (bytes plus the journal sequence
 * number they were stored under) so that decoder stages can turn them into
 * readings further down the pipeline.
 *
 * Threading: batches may be handed to a worker thread (reference counts are
 * atomic); the datastream registry may be read from any thread but is
 * written only on the loop thread.
 */
#ifndef KLIMAKIT_READING_H
#define KLIMAKIT_READING_H

#include <stddef.h>
#include <stdint.h>

/* Reading flags. */
#define KK_READING_REPLAY 0x1u /* re-delivered from the journal */
/* Replaces an earlier value at the same (datastream, time): a calculator's
 * window re-emitted after a late reading.  Stores overwrite instead of
 * ignoring the duplicate. */
#define KK_READING_UPDATE 0x2u

typedef struct kk_reading {
  int64_t time_ms; /* phenomenon time, UTC milliseconds since 1970 */
  double value;
  uint32_t ds;    /* datastream id from kk_datastream_id() */
  uint32_t flags; /* KK_READING_* */
} kk_reading_t;

/* A raw message as a source received it.  `data` and `meta` point into
 * the batch's own storage and live as long as the batch. */
typedef struct kk_raw {
  uint64_t seq;        /* journal sequence number, 0 if not journaled */
  int64_t time_ms;     /* reception time */
  const uint8_t *data; /* payload bytes (not NUL-terminated) */
  uint32_t len;
  uint32_t format;  /* source-defined content format (CoAP numbers) */
  const char *meta; /* NUL-terminated source metadata (topic, path) */
} kk_raw_t;

typedef struct kk_batch kk_batch_t;

/* Creates an empty batch with room for `cap` readings (it grows).  The
 * caller owns one reference and drops it with kk_batch_unref().  Returns
 * NULL when out of memory. */
kk_batch_t *kk_batch_new(size_t cap);

/* Adds a reference; returns `b`. */
kk_batch_t *kk_batch_ref(kk_batch_t *b);

/* Drops a reference; the batch is freed with the last one.  NULL is a
 * no-op. */
void kk_batch_unref(kk_batch_t *b);

/* Appends a reading (copied).  Returns 0 or KK_ENOMEM.  Only the owner of
 * the single reference may append: a batch that has been emitted is
 * read-only. */
int kk_batch_push(kk_batch_t *b, const kk_reading_t *r);

/* Appends a raw message; data and meta (may be NULL) are copied into the
 * batch.  Returns 0 or KK_ENOMEM. */
int kk_batch_push_raw(kk_batch_t *b, uint64_t seq, int64_t time_ms,
                      uint32_t format, const char *meta, const void *data,
                      size_t len);

/* Number of readings / raw messages, and access to them.  The pointers
 * are valid while the caller holds a reference and nobody pushes. */
size_t kk_batch_len(const kk_batch_t *b);
const kk_reading_t *kk_batch_readings(const kk_batch_t *b);
size_t kk_batch_raw_len(const kk_batch_t *b);
const kk_raw_t *kk_batch_raw(const kk_batch_t *b, size_t i);

/* Journal position the batch derives from: the highest sequence number of
 * any raw message that produced it (0 for sources without journal).  The
 * engine uses it to advance sink cursors; decoders copy it over with
 * kk_batch_set_seq() when they make a new batch from a raw one. */
uint64_t kk_batch_seq(const kk_batch_t *b);
void kk_batch_set_seq(kk_batch_t *b, uint64_t seq);

/* ---- Datastream registry ------------------------------------------- */

/* A datastream is thing x observed property x unit (UCUM code).  Ids are
 * small, dense and start at 1; 0 means "none". */
typedef struct kk_datastream {
  uint32_t id;
  const char *thing;
  const char *property;
  const char *unit;
} kk_datastream_t;

/* Returns the id of the datastream (thing, property, unit), creating it on
 * first use.  Strings are copied.  Returns 0 if an argument is NULL or
 * empty or memory runs out.  Loop thread only. */
uint32_t kk_datastream_id(const char *thing, const char *property,
                          const char *unit);

/* Looks an id up.  Returns NULL for an unknown id.  The returned struct and
 * strings live until the process exits. */
const kk_datastream_t *kk_datastream_get(uint32_t id);

/* Number of datastreams registered so far. */
uint32_t kk_datastream_count(void);

#endif
