/* core/time.c - civil dates, the EU summer-time rule and ISO 8601 of
 * klimakit/time.h: the one place each is written. */
#include <klimakit/error.h>
#include <klimakit/time.h>

#include <stdio.h>
#include <string.h>

unsigned kk_days_in_month(int64_t y, unsigned m) {
  static const unsigned char dm[] = {31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12) return 0;
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dm[m - 1];
}

static const char *const eu_cet_zones[] = {"Europe/Berlin",
                                           "Europe/Vienna",
                                           "Europe/Zurich",
                                           "Europe/Amsterdam",
                                           "Europe/Brussels",
                                           "Europe/Luxembourg",
                                           "Europe/Paris",
                                           "Europe/Rome",
                                           "Europe/Madrid",
                                           "Europe/Prague",
                                           "Europe/Warsaw",
                                           "Europe/Copenhagen",
                                           "CET",
                                           NULL};

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

/* UTC ms of 01:00 UTC on the last Sunday of `month` (one of 31 days). */
static int64_t last_sunday_0100(int64_t y, unsigned month) {
  int64_t days = kk_days_from_civil(y, month, 31);
  int64_t wd = ((days + 4) % 7 + 7) % 7; /* 0 = Sunday; 1970-01-01 Thu */
  return (days - wd) * KK_DAY_MS + KK_HOUR_MS;
}

int kk_tz_eu_summer(int64_t utc_ms) {
  int64_t z = kk_floor_div(utc_ms, KK_DAY_MS), y;
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

/* ---- ISO 8601 ---------------------------------------------------------- */

/* Reads exactly `n` digits at s[*i]; -1 if they are not there. */
static int iso_digits(const char *s, size_t len, size_t *i, int n) {
  int v = 0;
  for (int k = 0; k < n; k++, (*i)++) {
    if (*i >= len || s[*i] < '0' || s[*i] > '9') return -1;
    v = v * 10 + (s[*i] - '0');
  }
  return v;
}

int kk_time_parse_iso8601(const char *s, size_t len, int64_t *ms) {
  size_t i = 0;
  int y = iso_digits(s, len, &i, 4);
  if (y < 0 || i >= len || s[i++] != '-') return KK_EPARSE;
  int mo = iso_digits(s, len, &i, 2);
  if (mo < 1 || mo > 12 || i >= len || s[i++] != '-') return KK_EPARSE;
  int d = iso_digits(s, len, &i, 2);
  if (d < 1 || (unsigned)d > kk_days_in_month(y, (unsigned)mo))
    return KK_EPARSE;
  if (i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) return KK_EPARSE;
  i++;
  int h = iso_digits(s, len, &i, 2);
  if (h < 0 || h > 23 || i >= len || s[i++] != ':') return KK_EPARSE;
  int mi = iso_digits(s, len, &i, 2);
  if (mi < 0 || mi > 59) return KK_EPARSE;
  int sec = 0, frac = 0;
  if (i < len && s[i] == ':') {
    i++;
    sec = iso_digits(s, len, &i, 2);
    if (sec < 0 || sec > 60) return KK_EPARSE; /* 60: a leap second */
    if (i < len && (s[i] == '.' || s[i] == ',')) {
      i++;
      int nd = 0;
      for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
        if (nd < 3) frac = frac * 10 + (s[i] - '0');
      if (nd == 0) return KK_EPARSE;
      for (; nd < 3; nd++)
        frac *= 10;
    }
  }
  int off_min = 0;
  if (i >= len) return KK_EPARSE; /* no zone: ambiguous local time */
  if (s[i] == 'Z' || s[i] == 'z') {
    i++;
  } else if (s[i] == '+' || s[i] == '-') {
    int sign = s[i++] == '-' ? -1 : 1;
    int oh = iso_digits(s, len, &i, 2), om = 0;
    if (oh < 0 || oh > 23) return KK_EPARSE;
    if (i < len && s[i] == ':') i++;
    if (i < len) {
      om = iso_digits(s, len, &i, 2);
      if (om < 0 || om > 59) return KK_EPARSE;
    }
    off_min = sign * (oh * 60 + om);
  } else {
    return KK_EPARSE;
  }
  if (i != len) return KK_EPARSE;
  int64_t secs = kk_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                 h * 3600 + mi * 60 + sec - (int64_t)off_min * 60;
  *ms = secs * 1000 + frac;
  return 0;
}

size_t kk_time_format_iso8601(int64_t ms, char *buf) {
  int64_t secs = kk_floor_div(ms, 1000);
  int msec = (int)(ms - secs * 1000);
  int64_t days = kk_floor_div(secs, 86400);
  int64_t sod = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  kk_civil_from_days(days, &y, &m, &d);
  int n =
      snprintf(buf, KK_TIME_ISO_MAX, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
               (long long)y, m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
               (int)(sod % 60), msec);
  return n < 0 ? 0 : (size_t)n;
}

int kk_time_parse_text(const char *s, size_t len, int64_t *ms) {
  size_t i = 0;
  if (len == 0) return KK_EPARSE;
  if (s[0] == '-' || s[0] == '+') i++;
  size_t digits_start = i;
  while (i < len && s[i] >= '0' && s[i] <= '9')
    i++;
  if (i == len && i > digits_start) {
    if (len - digits_start > 16) return KK_EPARSE; /* beyond year 300000 */
    int64_t v = 0;
    for (size_t k = digits_start; k < len; k++)
      v = v * 10 + (s[k] - '0');
    *ms = s[0] == '-' ? -v : v;
    return 0;
  }
  return kk_time_parse_iso8601(s, len, ms);
}
