/*
 * modules/calc/calc_time.c - calendar arithmetic and Europe/Berlin local
 * time for window boundaries.
 *
 * Civil-date arithmetic and the EU summer-time rule (Directive
 * 2000/84/EC) come from klimakit/time.h.  Germany has followed that rule
 * since 1996; earlier years are computed with the same rule (a documented
 * limit).
 */
#include <klimakit.h>
#include "calc/calc.h"

#include <stdlib.h>
#include <string.h>

const char *const calc_period_names[CALC_P_N] = {"hour", "day", "month",
                                                 "year"};

int64_t calc_tz_offset(calc_tz_t tz, int64_t t) {
  if (tz == CALC_TZ_UTC) return 0;
  if (tz == CALC_TZ_UTC1) return KK_HOUR_MS;
  return kk_tz_eu_summer(t) ? 2 * KK_HOUR_MS : KK_HOUR_MS;
}

int64_t calc_local_to_utc(calc_tz_t tz, int64_t local_ms) {
  int64_t u = local_ms - KK_HOUR_MS;
  if (tz == CALC_TZ_UTC) return local_ms;
  int64_t off = calc_tz_offset(tz, u);
  if (off != KK_HOUR_MS) u = local_ms - off;
  return u;
}

static int64_t local_midnight(calc_tz_t tz, int64_t y, unsigned m, unsigned d) {
  return calc_local_to_utc(tz, kk_days_from_civil(y, m, d) * KK_DAY_MS);
}

void calc_window(calc_tz_t tz, calc_period_t p, int64_t t, int64_t *start,
                 int64_t *end) {
  if (p == CALC_P_HOUR) {
    /* Every offset here is a whole hour: local hours are UTC hours.  The
     * repeated hour of the October switch is two windows. */
    *start = kk_floor_div(t, KK_HOUR_MS) * KK_HOUR_MS;
    *end = *start + KK_HOUR_MS;
    return;
  }
  int64_t local = t + calc_tz_offset(tz, t), y;
  unsigned m, d;
  int64_t days = kk_floor_div(local, KK_DAY_MS);
  kk_civil_from_days(days, &y, &m, &d);
  switch (p) {
  case CALC_P_DAY:
    *start = calc_local_to_utc(tz, days * KK_DAY_MS);
    *end = calc_local_to_utc(tz, (days + 1) * KK_DAY_MS);
    break;
  case CALC_P_MONTH:
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

int calc_year(calc_tz_t tz, int64_t t) {
  int64_t local = t + calc_tz_offset(tz, t), y;
  unsigned m, d;
  kk_civil_from_days(kk_floor_div(local, KK_DAY_MS), &y, &m, &d);
  return (int)y;
}

int64_t calc_year_start(calc_tz_t tz, int y) {
  return local_midnight(tz, y, 1, 1);
}

int32_t calc_month_of_day(int32_t day) {
  int64_t y;
  unsigned m, d;
  kk_civil_from_days(day, &y, &m, &d);
  return (int32_t)(y * 12 + m - 1);
}

int32_t calc_month_first_day(int32_t key) {
  return (int32_t)kk_days_from_civil(
      kk_floor_div(key, 12), (unsigned)(key - kk_floor_div(key, 12) * 12) + 1,
      1);
}

static int32_t calc_key_at(const void *arr, size_t size, size_t i) {
  int32_t k;
  memcpy(&k, (const char *)arr + i * size, sizeof k);
  return k;
}

size_t calc_keyed_index(const void *arr, size_t n, size_t size, int32_t key) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (calc_key_at(arr, size, mid) < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void *calc_keyed_get(void **arr, size_t *n, size_t *cap, size_t size,
                     size_t max, int32_t key, const void *init) {
  size_t i = calc_keyed_index(*arr, *n, size, key);
  char *p = *arr;
  if (i < *n && calc_key_at(p, size, i) == key) return p + i * size;
  if (*n >= max) return NULL;
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 64;
    if (!(p = realloc(p, c * size))) return NULL;
    *arr = p;
    *cap = c;
  }
  memmove(p + (i + 1) * size, p + i * size, (*n - i) * size);
  (*n)++;
  memcpy(p + i * size, init, size);
  memcpy(p + i * size, &key, sizeof key);
  return p + i * size;
}
