/* modules/common/localtime.c - see localtime.h. */
#include "localtime.h"

#include <string.h>

static const char *const eu_cet_zones[] = {
    "Europe/Berlin", "Europe/Vienna",     "Europe/Zurich",  "Europe/Amsterdam",
    "Europe/Brussels", "Europe/Luxembourg", "Europe/Paris", "Europe/Rome",
    "Europe/Madrid", "Europe/Prague",     "Europe/Warsaw",  "Europe/Copenhagen",
    "CET", NULL};

static int is_cet(const char *tz) {
  for (size_t i = 0; eu_cet_zones[i]; i++)
    if (strcmp(tz, eu_cet_zones[i]) == 0) return 1;
  return 0;
}

int kk_tz_check(const char *tz) {
  return strcmp(tz, "UTC") == 0 || is_cet(tz) ? 0 : -1;
}

/* Seconds since 1970 of 01:00 UTC on the last Sunday of `month` (1-12). */
static int64_t last_sunday_0100(int year, int month) {
  struct tm tm = {0};
  tm.tm_year = year - 1900;
  tm.tm_mon = month; /* the first of the next month ... */
  tm.tm_mday = 1;
  tm.tm_hour = 1;
  int64_t t = (int64_t)timegm(&tm) - 86400; /* ... minus one day */
  struct tm d;
  time_t tt = (time_t)t;
  gmtime_r(&tt, &d);
  return t - (int64_t)d.tm_wday * 86400;
}

int kk_tz_offset(const char *tz, int64_t utc) {
  if (!is_cet(tz)) return 0;
  struct tm d;
  time_t tt = (time_t)utc;
  gmtime_r(&tt, &d);
  int year = d.tm_year + 1900;
  int summer = utc >= last_sunday_0100(year, 3) && utc < last_sunday_0100(year, 10);
  return summer ? 7200 : 3600;
}

void kk_tz_local(const char *tz, int64_t utc, struct tm *out) {
  time_t t = (time_t)(utc + kk_tz_offset(tz, utc));
  gmtime_r(&t, out);
}
