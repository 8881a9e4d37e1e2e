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

/* Days from civil dates follow the well-known proleptic Gregorian
 * algorithm (eras of 400 years). */
int64_t kk_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void kk_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL

/* UTC ms of 01:00 UTC on the last Sunday of `month` (one of 31 days). */
static int64_t last_sunday_0100(int64_t y, unsigned month) {
  int64_t days = kk_days_from_civil(y, month, 31);
  int64_t wd = ((days + 4) % 7 + 7) % 7; /* 0 = Sunday; 1970-01-01 Thu */
  return (days - wd) * DAY_MS + HOUR_MS;
}

int kk_tz_eu_summer(int64_t utc_ms) {
  int64_t z = utc_ms / DAY_MS - (utc_ms % DAY_MS < 0), y;
  unsigned m, d;
  kk_civil_from_days(z, &y, &m, &d);
  return utc_ms >= last_sunday_0100(y, 3) && utc_ms < last_sunday_0100(y, 10);
}

int kk_tz_offset(const char *tz, int64_t utc) {
  if (!is_cet(tz)) return 0;
  return kk_tz_eu_summer(utc * 1000) ? 7200 : 3600;
}

void kk_tz_local(const char *tz, int64_t utc, struct tm *out) {
  time_t t = (time_t)(utc + kk_tz_offset(tz, utc));
  gmtime_r(&t, out);
}
