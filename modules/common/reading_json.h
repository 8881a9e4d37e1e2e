/*
 * modules/common/reading_json.h - readings as JSON text, both ways.
 *
 * Shared by the file and tcp sources (parsing) and the jsonl sink
 * (formatting).  Not a module: modules may not include each other, so the
 * common code lives here and each user includes "../common/reading_json.h".
 *
 * The JSON shape of one reading:
 *   {"thing":"room-001","property":"co2","unit":"ppm",
 *    "time":"2026-11-21T10:00:00.000Z","value":812}
 * `time` is an ISO 8601 date-time with `Z` or an offset, or an integer
 * number of milliseconds since 1970-01-01T00:00:00Z.  Other members are
 * ignored.
 */
#ifndef KK_MODULES_READING_JSON_H
#define KK_MODULES_READING_JSON_H

#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>

/* Longest output of reading_json_time_format() and
 * reading_json_number_format(), including the NUL. */
#define READING_JSON_TIME_MAX 32
#define READING_JSON_NUMBER_MAX 32

/* Parses an ISO 8601 date-time in extended format,
 * `YYYY-MM-DDTHH:MM[:SS[.fff...]](Z|+HH:MM|+HHMM|+HH)` (`T` may also be a
 * space), into UTC milliseconds.  Fractions beyond milliseconds are
 * truncated.  A time without zone is refused: it would be ambiguous.
 * `s` need not be NUL-terminated.  Returns 0 or KK_EPARSE. */
int reading_json_time_parse(const char *s, size_t len, int64_t *ms);

/* Writes `ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ` into `buf` (at least
 * READING_JSON_TIME_MAX bytes) and returns the length without NUL. */
size_t reading_json_time_format(int64_t ms, char *buf);

/* Writes `v` in the shortest decimal form that reads back exactly (plain
 * digits for values with up to 6 decimals, else %.15g, %.16g or %.17g),
 * into `buf` (at least READING_JSON_NUMBER_MAX bytes); NaN and infinities,
 * which JSON cannot carry, as `null`.  Returns the length without NUL. */
size_t reading_json_number_format(double v, char *buf);

/* Parses a time given as text: ISO 8601 as above, or an optionally signed
 * integer of milliseconds since 1970.  Returns 0 or KK_EPARSE. */
int reading_json_time_text(const char *s, size_t len, int64_t *ms);

/* Builds `out` from its parts, registering the datastream (loop thread
 * only).  Returns 0, or a negative code with a reason in err. */
int reading_json_make(const char *thing, const char *property, const char *unit,
                      int64_t time_ms, double value, kk_reading_t *out,
                      char *err, size_t errlen);

/* Parses one JSON reading of `len` bytes (need not be NUL-terminated) into
 * `out`, registering its datastream (loop thread only).  Returns 0, or a
 * negative code (KK_EPARSE, KK_EMISSING, KK_ETYPE, KK_ERANGE, KK_ENOMEM)
 * with a one-line reason such as "field 'value' must be a number" written
 * into err (errlen bytes, always NUL-terminated). */
int reading_json_parse(const char *data, size_t len, kk_reading_t *out,
                       char *err, size_t errlen);

#endif
