/*
 * modules/common/localtime.h - civil time in the municipality's zone.
 *
 * klimakit shows times in local time without touching the process-wide
 * TZ.  Supported: "UTC", and the zones that follow the EU summer-time
 * rule with UTC+1 standard time (Europe/Berlin and its neighbours):
 * summer time from 01:00 UTC on the last Sunday of March to 01:00 UTC on
 * the last Sunday of October (Directive 2000/84/EC, Art. 2 and 3).
 */
#ifndef KK_MODULES_COMMON_LOCALTIME_H
#define KK_MODULES_COMMON_LOCALTIME_H

#include <stdint.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t kk_days_from_civil(int64_t y, unsigned m, unsigned d);
void kk_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* 1 while EU summer time is in force at `utc_ms` (ms since 1970):
 * from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last
 * Sunday of October.  The one place this rule is written. */
int kk_tz_eu_summer(int64_t utc_ms);

/* Returns 0 if `tz` is supported, -1 otherwise. */
int kk_tz_check(const char *tz);
/* Offset of local time from UTC in seconds at `utc` (seconds). */
int kk_tz_offset(const char *tz, int64_t utc);
/* Breaks `utc` (seconds) down into local civil time. */
void kk_tz_local(const char *tz, int64_t utc, struct tm *out);

#endif
