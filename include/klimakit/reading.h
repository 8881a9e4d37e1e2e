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

/* ---- Readings as text ---------------------------------------------------
 *
 * The JSON shape of one reading, shared by every module that reads or
 * writes readings as JSON (file and tcp sources, the jsonl sink, MQTT
 * forwarding, ingest payloads):
 *   {"thing":"room-001","property":"co2","unit":"ppm",
 *    "time":"2026-11-21T10:00:00.000Z","value":812}
 * `time` is an ISO 8601 date-time with `Z` or an offset, or an integer
 * number of milliseconds since 1970-01-01T00:00:00Z.  Other members are
 * ignored. */

/* Builds `out` from its parts, registering the datastream (loop thread
 * only).  Returns 0, or a negative code (KK_ERANGE for a value that is not
 * finite, KK_ENOMEM) with a reason in err (errlen bytes). */
int kk_reading_make(const char *thing, const char *property, const char *unit,
                    int64_t time_ms, double value, kk_reading_t *out, char *err,
                    size_t errlen);

/* Parses one JSON reading of `len` bytes (need not be NUL-terminated) into
 * `out`, registering its datastream (loop thread only).  Returns 0, or a
 * negative code (KK_EPARSE, KK_EMISSING, KK_ETYPE, KK_ERANGE, KK_ENOMEM)
 * with a one-line reason such as "field 'value' must be a number" written
 * into err (errlen bytes, always NUL-terminated). */
int kk_reading_parse_json(const char *data, size_t len, kk_reading_t *out,
                          char *err, size_t errlen);

/* The metadata string of a raw message (kk_raw_t.meta).  Sources write a
 * flat JSON object of strings, e.g. the MQTT source
 *   {"topic":"v3/app1/devices/dev1/up","app":"app1","device":"dev1",
 *    "thing":"dev1"}
 * (the named parts of its topic pattern, and "thing" for the part that
 * names the thing), or plain text (a peer address, a CoAP path).
 * Decoders read it with kk_raw_meta_get() and need not know which source
 * wrote it.  Copies the string member `key` into `out` (`outlen` bytes,
 * NUL-terminated, truncated if longer); for a meta that is not a JSON
 * object, the keys "topic" and "path" give the whole text.  Returns 0 when
 * found and non-empty, -1 otherwise (out is then ""). */
int kk_raw_meta_get(const char *meta, const char *key, char *out,
                    size_t outlen);

/* Duplicate object keys in a parsed JSON document (RFC 8259 leaves their
 * meaning open; klimakit refuses them wherever it reads JSON from
 * outside, so that two parsers can never read different values).  `root`
 * is a cJSON tree (cJSON keeps every duplicate as its own child).  Returns
 * 1 and copies the first duplicated key into `key` (keylen bytes,
 * NUL-terminated, truncated) when some object at any depth has one,
 * otherwise 0. */
struct cJSON;
int kk_json_duplicate_key(const struct cJSON *root, char *key, size_t keylen);

#endif
