/*
 * klimakit/time.h - time arithmetic every module needs, written once.
 *
 * Times are UTC milliseconds since 1970-01-01T00:00:00Z (int64_t), as in
 * kk_reading_t.  Nothing here reads the process-wide TZ: civil dates use
 * the proleptic Gregorian calendar, and local time knows "UTC" and the
 * zones that follow the EU summer-time rule with UTC+1 standard time
 * (Europe/Berlin and its neighbours, "CET"): summer time from 01:00 UTC on
 * the last Sunday of March to 01:00 UTC on the last Sunday of October
 * (Directive 2000/84/EC, Art. 2 and 3).
 */
#ifndef KLIMAKIT_TIME_H
#define KLIMAKIT_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KK_SECOND_MS 1000LL
#define KK_MINUTE_MS 60000LL
#define KK_HOUR_MS 3600000LL
#define KK_DAY_MS 86400000LL

/* Longest output of kk_time_format_iso8601(), including the NUL. */
#define KK_TIME_ISO_MAX 32

/* a / b rounded towards minus infinity (b > 0): the bucket of a time
 * before 1970 is the one that starts before it, not after. */
static inline int64_t kk_floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1-12, d 1-31),
 * and back.  Exact for every year. */
int64_t kk_days_from_civil(int64_t y, unsigned m, unsigned d);
void kk_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* Days in month `m` (1-12) of year `y`. */
unsigned kk_days_in_month(int64_t y, unsigned m);

/* 1 while EU summer time is in force at `utc_ms`. */
int kk_tz_eu_summer(int64_t utc_ms);
/* Returns 0 if `tz` is supported ("UTC", "Europe/Berlin", "CET", ...),
 * -1 otherwise. */
int kk_tz_check(const char *tz);
/* Offset of local time from UTC in seconds at `utc` (seconds). */
int kk_tz_offset(const char *tz, int64_t utc);
/* Breaks `utc` (seconds) down into local civil time. */
void kk_tz_local(const char *tz, int64_t utc, struct tm *out);

/* Parses an ISO 8601 date-time in extended format,
 * `YYYY-MM-DDTHH:MM[:SS[.fff...]](Z|+HH:MM|+HHMM|+HH)` (`T` may also be a
 * space), into UTC milliseconds.  Fractions beyond milliseconds are
 * truncated.  A time without zone is refused: it would be ambiguous.
 * `s` need not be NUL-terminated.  Returns 0 or KK_EPARSE. */
int kk_time_parse_iso8601(const char *s, size_t len, int64_t *ms);

/* Parses a time given as text: ISO 8601 as above, or an optionally signed
 * integer of milliseconds since 1970.  Returns 0 or KK_EPARSE. */
int kk_time_parse_text(const char *s, size_t len, int64_t *ms);

/* Writes `ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ` into `buf` (at least
 * KK_TIME_ISO_MAX bytes) and returns the length without NUL. */
size_t kk_time_format_iso8601(int64_t ms, char *buf);

#endif
