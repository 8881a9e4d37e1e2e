/*
 * modules/sink/sink_format.h - the text forms of readings that the sink
 * family writes: the klimakit reading JSON line (sink.jsonl, sink.file),
 * RFC 4180 CSV fields and the time forms (ISO 8601 UTC, milliseconds,
 * local time with its offset).
 *
 * Output goes to a sink_out_t, a growable buffer a sink renders a whole
 * batch into before one write().  Writers reserve first and then append
 * without checks, so the hot loop does no per-byte bounds test.  The
 * constant parts of a datastream's line (thing, property, unit, escaped)
 * are rendered once per datastream and cached in a sink_fmt_t.
 * Loop thread only (the datastream registry is read here).
 */
#ifndef KK_SINK_FORMAT_H
#define KK_SINK_FORMAT_H

#include <klimakit.h>

#include <string.h>

/* A growable output buffer.  Start with {0}; free with sink_out_free. */
typedef struct sink_out {
  char *p;
  size_t len, cap;
} sink_out_t;

/* Makes room for `n` more bytes.  Returns 0 or KK_ENOMEM. */
int sink_reserve(sink_out_t *o, size_t n);
/* Gives back the memory of an unusually large batch (over 8 MiB). */
void sink_out_trim(sink_out_t *o);
void sink_out_free(sink_out_t *o);

/* Appends `n` bytes; the caller has reserved them. */
static inline void sink_put(sink_out_t *o, const char *s, size_t n) {
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

/* Appends the `n` bytes at `s` as one RFC 4180 field: as they are, or in
 * double quotes (inner quotes doubled) when they hold the delimiter, a
 * quote, CR or LF.  The caller has reserved 2 * n + 2 bytes. */
void sink_csv_field(sink_out_t *o, const char *s, size_t n, char delim);

/* How a time is written. */
enum { SINK_TIME_ISO, SINK_TIME_MS, SINK_TIME_LOCAL };

/* Longest output of sink_time(), including the NUL. */
#define SINK_TIME_MAX 40

/* Per-stage formatting state: cached line starts per datastream and the
 * last formatted time (readings of a batch mostly share it). */
typedef struct sink_fmt {
  struct sink_prefix *json; /* owned, indexed by datastream id */
  size_t njson;
  struct sink_prefix *csv; /* owned: "thing,property,unit," escaped */
  size_t ncsv;
  char delim;     /* CSV delimiter */
  const char *tz; /* local time zone (kk_tz_check'ed), borrowed */
  int64_t last_ms[3];
  char last[3][SINK_TIME_MAX];
  size_t last_len[3];
} sink_fmt_t;

/* Sets up `f` ({0} before) for CSV delimiter `delim` and zone `tz`. */
void sink_fmt_init(sink_fmt_t *f, char delim, const char *tz);
void sink_fmt_free(sink_fmt_t *f);

/* Writes the time `ms` in form `how` (SINK_TIME_*) into buf (at least
 * SINK_TIME_MAX bytes): "2026-11-21T10:00:00.000Z", "1795255200000" or
 * "2026-11-21T11:00:00.000+01:00".  Returns the length without NUL. */
size_t sink_time(sink_fmt_t *f, int64_t ms, int how, char *buf);

/* Appends reading `r` as the klimakit reading JSON line
 *   {"thing":"room-001","property":"co2","unit":"ppm",
 *    "time":"2026-11-21T10:00:00.000Z","value":812}\n
 * Returns 0 or KK_ENOMEM. */
int sink_fmt_json(sink_fmt_t *f, sink_out_t *o, const kk_reading_t *r);

/* Appends `r` as the CSV record thing,property,unit,time,value with the
 * time in form `how` and the line end `nl` ("\n" or "\r\n").  Returns 0 or
 * KK_ENOMEM. */
int sink_fmt_csv(sink_fmt_t *f, sink_out_t *o, const kk_reading_t *r, int how,
                 const char *nl);

#endif
