/*
 * modules/calc/calc_time.c - calendar arithmetic and Europe/Berlin local
 * time for window boundaries.
 *
 * Days from civil dates follow the well-known proleptic Gregorian
 * algorithm (era of 400 years).  Summer time uses the EU rule of
 * Directive 2000/84/EC: from the last Sunday of March to the last Sunday
 * of October, switching at 01:00 UTC in every EU time zone.  Germany has
 * followed it since 1996; earlier years are computed with the same rule
 * (a documented limit).
 */
#include "calc.h"

#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

const char *const kk_calc_period_names[KK_P_N] = {"hour", "day", "month",
                                                  "year"};

int64_t kk_calc_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void kk_calc_civil_from_days(int64_t z, int64_t *y, unsigned *m,
                             unsigned *d) {
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

static int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* UTC ms of the last Sunday of `month` (31 days) at 01:00 UTC. */
static int64_t last_sunday_0100(int64_t y, unsigned month) {
  int64_t days = kk_calc_days_from_civil(y, month, 31);
  int64_t wd = ((days + 4) % 7 + 7) % 7; /* 0 = Sunday; 1970-01-01 Thu */
  return (days - wd) * DAY_MS + HOUR_MS;
}

int64_t kk_calc_tz_offset(kk_calc_tz_t tz, int64_t t) {
  if (tz == KK_TZ_UTC) return 0;
  if (tz == KK_TZ_CET) return HOUR_MS;
  int64_t y;
  unsigned m, d;
  kk_calc_civil_from_days(floordiv(t, DAY_MS), &y, &m, &d);
  if (t >= last_sunday_0100(y, 3) && t < last_sunday_0100(y, 10))
    return 2 * HOUR_MS;
  return HOUR_MS;
}

int64_t kk_calc_local_to_utc(kk_calc_tz_t tz, int64_t local_ms) {
  int64_t u = local_ms - HOUR_MS;
  if (tz == KK_TZ_UTC) return local_ms;
  int64_t off = kk_calc_tz_offset(tz, u);
  if (off != HOUR_MS) u = local_ms - off;
  return u;
}

static int64_t local_midnight(kk_calc_tz_t tz, int64_t y, unsigned m,
                              unsigned d) {
  return kk_calc_local_to_utc(tz, kk_calc_days_from_civil(y, m, d) * DAY_MS);
}

void kk_calc_window(kk_calc_tz_t tz, kk_calc_period_t p, int64_t t,
                    int64_t *start, int64_t *end) {
  if (p == KK_P_HOUR) {
    /* Every offset here is a whole hour: local hours are UTC hours.  The
     * repeated hour of the October switch is two windows. */
    *start = floordiv(t, HOUR_MS) * HOUR_MS;
    *end = *start + HOUR_MS;
    return;
  }
  int64_t local = t + kk_calc_tz_offset(tz, t), y;
  unsigned m, d;
  int64_t days = floordiv(local, DAY_MS);
  kk_calc_civil_from_days(days, &y, &m, &d);
  switch (p) {
  case KK_P_DAY:
    *start = kk_calc_local_to_utc(tz, days * DAY_MS);
    *end = kk_calc_local_to_utc(tz, (days + 1) * DAY_MS);
    break;
  case KK_P_MONTH:
    *start = local_midnight(tz, y, m, 1);
    *end = m == 12 ? local_midnight(tz, y + 1, 1, 1)
                   : local_midnight(tz, y, m + 1, 1);
    break;
  default:
    *start = local_midnight(tz, y, 1, 1);
    *end = local_midnight(tz, y + 1, 1, 1);
    break;
  }
}

int kk_calc_year(kk_calc_tz_t tz, int64_t t) {
  int64_t local = t + kk_calc_tz_offset(tz, t), y;
  unsigned m, d;
  kk_calc_civil_from_days(floordiv(local, DAY_MS), &y, &m, &d);
  return (int)y;
}

int64_t kk_calc_year_start(kk_calc_tz_t tz, int y) {
  return local_midnight(tz, y, 1, 1);
}
