/* modules/common/reading_json.c - readings as JSON text, both ways. */
#include "reading_json.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * algorithm): exact for every year, with no dependency on the TZ
 * environment, which timegm() and mktime() have. */
static int64_t rj_days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void rj_civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int rj_days_in_month(int64_t y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dm[m - 1];
}

/* Reads exactly `n` digits at s[*i]; -1 if they are not there. */
static int rj_digits(const char *s, size_t len, size_t *i, int n) {
  int v = 0;
  for (int k = 0; k < n; k++, (*i)++) {
    if (*i >= len || s[*i] < '0' || s[*i] > '9') return -1;
    v = v * 10 + (s[*i] - '0');
  }
  return v;
}

int reading_json_time_parse(const char *s, size_t len, int64_t *ms) {
  size_t i = 0;
  int y = rj_digits(s, len, &i, 4);
  if (y < 0 || i >= len || s[i++] != '-') return KK_EPARSE;
  int mo = rj_digits(s, len, &i, 2);
  if (mo < 1 || mo > 12 || i >= len || s[i++] != '-') return KK_EPARSE;
  int d = rj_digits(s, len, &i, 2);
  if (d < 1 || d > rj_days_in_month(y, mo)) return KK_EPARSE;
  if (i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) return KK_EPARSE;
  i++;
  int h = rj_digits(s, len, &i, 2);
  if (h < 0 || h > 23 || i >= len || s[i++] != ':') return KK_EPARSE;
  int mi = rj_digits(s, len, &i, 2);
  if (mi < 0 || mi > 59) return KK_EPARSE;
  int sec = 0, frac = 0;
  if (i < len && s[i] == ':') {
    i++;
    sec = rj_digits(s, len, &i, 2);
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
    int oh = rj_digits(s, len, &i, 2), om = 0;
    if (oh < 0 || oh > 23) return KK_EPARSE;
    if (i < len && s[i] == ':') i++;
    if (i < len) {
      om = rj_digits(s, len, &i, 2);
      if (om < 0 || om > 59) return KK_EPARSE;
    }
    off_min = sign * (oh * 60 + om);
  } else {
    return KK_EPARSE;
  }
  if (i != len) return KK_EPARSE;
  int64_t secs = rj_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
                 sec - (int64_t)off_min * 60;
  *ms = secs * 1000 + frac;
  return 0;
}

size_t reading_json_time_format(int64_t ms, char *buf) {
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int msec = (int)(ms - secs * 1000);
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t sod = secs - days * 86400;
  int64_t y;
  int m, d;
  rj_civil_from_days(days, &y, &m, &d);
  int n =
      snprintf(buf, READING_JSON_TIME_MAX,
               "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
               (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), msec);
  return n < 0 ? 0 : (size_t)n;
}

/* Writes the decimal digits of |x| (< 2^63) ending at `end`; returns the
 * start. */
static char *rj_utoa_rev(uint64_t x, char *end) {
  do {
    *--end = (char)('0' + x % 10);
    x /= 10;
  } while (x);
  return end;
}

size_t reading_json_number_format(double v, char *buf) {
  static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
  if (!isfinite(v)) {
    memcpy(buf, "null", 5);
    return 4;
  }
  /* Sensor values have few decimals.  If x / 10^k == v for an integer x
   * (exact below 2^53), the decimal x*10^-k reads back as exactly v,
   * because strtod and the division both round correctly; the first such
   * k is the shortest form.  This avoids printf for the common case. */
  if (fabs(v) < 1e9 && !(v == 0 && signbit(v))) {
    for (int k = 0; k <= 6; k++) {
      double x = nearbyint(v * pow10[k]);
      if (x / pow10[k] != v) continue;
      uint64_t ux = (uint64_t)fabs(x);
      char tmp[READING_JSON_NUMBER_MAX], *end = tmp + sizeof tmp;
      char *p = rj_utoa_rev(ux, end);
      while (end - p <= k)
        *--p = '0'; /* 0.05: at least one integer digit */
      size_t n = 0;
      if (x < 0) buf[n++] = '-';
      size_t ndig = (size_t)(end - p), nint = ndig - (size_t)k;
      memcpy(buf + n, p, nint);
      n += nint;
      if (k > 0) {
        buf[n++] = '.';
        memcpy(buf + n, p + nint, (size_t)k);
        n += (size_t)k;
      }
      buf[n] = '\0';
      return n;
    }
  }
  /* A normal double whose shortest form has at most 15 digits prints
   * exactly that way with %.15g (two 15-digit decimals are never within
   * half an ulp of the same double); otherwise 16 or 17 digits do.
   * Subnormals have fewer significant bits: search from 1 digit. */
  int n = 0;
  for (int prec = fabs(v) < 2.2250738585072014e-308 ? 1 : 15; prec <= 17;
       prec++) {
    n = snprintf(buf, READING_JSON_NUMBER_MAX, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  return n < 0 ? 0 : (size_t)n;
}

int reading_json_time_text(const char *s, size_t len, int64_t *ms) {
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
  return reading_json_time_parse(s, len, ms);
}

int reading_json_make(const char *thing, const char *property, const char *unit,
                      int64_t time_ms, double value, kk_reading_t *out,
                      char *err, size_t errlen) {
  if (!isfinite(value)) {
    snprintf(err, errlen, "value must be a finite number");
    return KK_ERANGE;
  }
  uint32_t id = kk_datastream_id(thing, property, unit);
  if (id == 0) {
    snprintf(err, errlen, "cannot register datastream (out of memory)");
    return KK_ENOMEM;
  }
  out->time_ms = time_ms;
  out->value = value;
  out->ds = id;
  out->flags = 0;
  return 0;
}

/* Fetches member `name` as a non-empty string. */
static int rj_string(const cJSON *obj, const char *name, const char **out,
                     char *err, size_t errlen) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (!it) {
    snprintf(err, errlen, "field '%s' missing", name);
    return KK_EMISSING;
  }
  if (!cJSON_IsString(it) || !it->valuestring || !*it->valuestring) {
    snprintf(err, errlen, "field '%s' must be a non-empty string", name);
    return KK_ETYPE;
  }
  *out = it->valuestring;
  return 0;
}

/* 2^53: the largest range in which a JSON number is an exact integer. */
#define RJ_MAX_EXACT 9007199254740992.0

int reading_json_parse(const char *data, size_t len, kk_reading_t *out,
                       char *err, size_t errlen) {
  const char *thing, *property, *unit;
  int64_t t = 0;
  int rc;
  const char *stop = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, &stop, 0);
  if (!root) {
    if (stop && stop >= data && stop <= data + len)
      snprintf(err, errlen, "invalid JSON at column %zu",
               (size_t)(stop - data) + 1);
    else
      snprintf(err, errlen, "invalid JSON");
    return KK_EPARSE;
  }
  if (!cJSON_IsObject(root)) {
    snprintf(err, errlen, "a reading must be a JSON object");
    rc = KK_ETYPE;
    goto done;
  }
  if ((rc = rj_string(root, "thing", &thing, err, errlen)) ||
      (rc = rj_string(root, "property", &property, err, errlen)) ||
      (rc = rj_string(root, "unit", &unit, err, errlen)))
    goto done;
  const cJSON *tm = cJSON_GetObjectItemCaseSensitive(root, "time");
  if (!tm) {
    snprintf(err, errlen, "field 'time' missing");
    rc = KK_EMISSING;
    goto done;
  }
  if (cJSON_IsNumber(tm)) {
    double v = tm->valuedouble;
    if (v != floor(v) || fabs(v) > RJ_MAX_EXACT) {
      snprintf(err, errlen,
               "field 'time' must be integer milliseconds since 1970");
      rc = KK_ERANGE;
      goto done;
    }
    t = (int64_t)v;
  } else if (cJSON_IsString(tm) && tm->valuestring) {
    if (reading_json_time_parse(tm->valuestring, strlen(tm->valuestring), &t) !=
        0) {
      snprintf(err, errlen,
               "field 'time' is not an ISO 8601 date-time with zone: '%.40s'",
               tm->valuestring);
      rc = KK_EPARSE;
      goto done;
    }
  } else {
    snprintf(err, errlen,
             "field 'time' must be an ISO 8601 string or milliseconds");
    rc = KK_ETYPE;
    goto done;
  }
  const cJSON *val = cJSON_GetObjectItemCaseSensitive(root, "value");
  if (!val) {
    snprintf(err, errlen, "field 'value' missing");
    rc = KK_EMISSING;
    goto done;
  }
  if (!cJSON_IsNumber(val)) {
    snprintf(err, errlen, "field 'value' must be a number");
    rc = KK_ETYPE;
    goto done;
  }
  rc = reading_json_make(thing, property, unit, t, val->valuedouble, out, err,
                         errlen);
done:
  cJSON_Delete(root);
  return rc;
}
