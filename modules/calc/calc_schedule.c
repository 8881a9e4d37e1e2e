/*
 * modules/calc/calc_schedule.c - weekly schedules with closed days (see
 * calc_schedule.h for the syntax).
 *
 * A schedule is a bitmap of the 7 x 1440 minutes of a week (1.3 KB), so
 * that asking whether an instant is active is one local-time conversion
 * and a bit test, however many rules the text has.
 */
#include <klimakit.h>
#include "calc/calc_schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_DAY_MIN 1440

typedef struct sched_closed {
  int64_t first, last; /* local day numbers (days since 1970-01-01) */
} sched_closed_t;

struct calc_schedule {
  calc_tz_t tz;
  uint8_t week[7][SCHED_DAY_MIN / 8]; /* [0] Monday */
  sched_closed_t *closed;
  size_t nclosed, capclosed;
};

/* Day abbreviations: English (OpenStreetMap) and German. */
static const char *const sched_days[2][7] = {
    {"Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"},
    {"Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"}};

static void sched_set(calc_schedule_t *s, int day, int from, int to) {
  for (int m = from; m < to; m++)
    s->week[day % 7][m / 8] |= (uint8_t)(1u << (m % 8));
}

static void sched_skip_ws(const char **p) {
  while (**p == ' ' || **p == '\t')
    (*p)++;
}

/* A day abbreviation at *p: its index 0-6 (Monday 0), or -1. */
static int sched_day(const char **p) {
  for (int lang = 0; lang < 2; lang++)
    for (int d = 0; d < 7; d++)
      if (strncmp(*p, sched_days[lang][d], 2) == 0) {
        *p += 2;
        return d;
      }
  return -1;
}

/* HH:MM at *p as minutes of the day (0-1440), or -1. */
static int sched_time(const char **p) {
  const char *s = *p;
  if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' ||
      s[3] < '0' || s[3] > '5' || s[4] < '0' || s[4] > '9')
    return -1;
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 24 || (h == 24 && m != 0)) return -1;
  *p += 5;
  return h * 60 + m;
}

static int sched_fail(const char *text, const char *p, const char *what,
                      char *err, size_t errlen) {
  snprintf(err, errlen, "%s at %d of \"%s\"", what, (int)(p - text) + 1, text);
  return KK_EPARSE;
}

/* Parses the days part of one rule into mask (bit d = day d). */
static int sched_parse_days(const char *text, const char **p, unsigned *mask,
                            char *err, size_t errlen) {
  *mask = 0;
  for (;;) {
    const char *at = *p;
    int a = sched_day(p), b;
    if (a < 0)
      return sched_fail(text, at, "expected a day (Mo-Su)", err, errlen);
    b = a;
    if (**p == '-') {
      (*p)++;
      at = *p;
      if ((b = sched_day(p)) < 0)
        return sched_fail(text, at, "expected a day after '-'", err, errlen);
    }
    for (int d = a;; d = (d + 1) % 7) { /* "Sa-Mo" wraps over the week */
      *mask |= 1u << d;
      if (d == b) break;
    }
    if (**p != ',') return 0;
    (*p)++;
    sched_skip_ws(p);
  }
}

static int sched_parse_rule(calc_schedule_t *s, const char *text,
                            const char **p, char *err, size_t errlen) {
  unsigned mask = 0x7f;
  sched_skip_ws(p);
  if (**p >= 'A' && **p <= 'Z') {
    int rc = sched_parse_days(text, p, &mask, err, errlen);
    if (rc) return rc;
    sched_skip_ws(p);
    if (**p == ';' || **p == 0) {
      for (int d = 0; d < 7; d++)
        if (mask & (1u << d)) sched_set(s, d, 0, SCHED_DAY_MIN);
      return 0;
    }
  }
  for (;;) {
    const char *at = *p;
    int from = sched_time(p);
    if (from < 0 || from == SCHED_DAY_MIN)
      return sched_fail(text, at, "expected a time HH:MM", err, errlen);
    if (**p != '-')
      return sched_fail(text, *p, "expected '-' between two times", err,
                        errlen);
    (*p)++;
    at = *p;
    int to = sched_time(p);
    if (to < 0)
      return sched_fail(text, at, "expected a time HH:MM", err, errlen);
    if (to == from)
      return sched_fail(text, at, "a span must not be empty", err, errlen);
    for (int d = 0; d < 7; d++) {
      if (!(mask & (1u << d))) continue;
      if (to > from) {
        sched_set(s, d, from, to);
      } else { /* over midnight: the rest of the day and the next morning */
        sched_set(s, d, from, SCHED_DAY_MIN);
        sched_set(s, d + 1, 0, to);
      }
    }
    sched_skip_ws(p);
    if (**p != ',') return 0;
    (*p)++;
    sched_skip_ws(p);
  }
}

int calc_schedule_parse(const char *text, calc_tz_t tz, calc_schedule_t **out,
                        char *err, size_t errlen) {
  *out = NULL;
  calc_schedule_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  s->tz = tz;
  const char *p = text;
  int rules = 0;
  for (;;) {
    sched_skip_ws(&p);
    if (*p == 0) break;
    int rc = sched_parse_rule(s, text, &p, err, errlen);
    if (rc) {
      free(s);
      return rc;
    }
    rules++;
    sched_skip_ws(&p);
    if (*p == 0) break;
    if (*p != ';') {
      free(s);
      return sched_fail(text, p, "expected ';' between rules", err, errlen);
    }
    p++;
  }
  if (!rules) {
    free(s);
    snprintf(err, errlen, "the schedule is empty");
    return KK_EPARSE;
  }
  *out = s;
  return 0;
}

/* YYYY-MM-DD at *p as a day number; -1 when malformed. */
static int sched_date(const char **p, int64_t *day) {
  int64_t t;
  char buf[32];
  if (strlen(*p) < 10) return -1;
  snprintf(buf, sizeof buf, "%.10sT00:00Z", *p);
  if (kk_time_parse_iso8601(buf, strlen(buf), &t) != 0) return -1;
  *day = kk_floor_div(t, KK_DAY_MS);
  *p += 10;
  return 0;
}

int calc_schedule_close(calc_schedule_t *s, const char *dates, char *err,
                        size_t errlen) {
  const char *p = dates;
  sched_closed_t c;
  if (sched_date(&p, &c.first) != 0)
    return sched_fail(dates, p, "expected a date YYYY-MM-DD", err, errlen);
  c.last = c.first;
  if (strncmp(p, "..", 2) == 0) {
    p += 2;
    if (sched_date(&p, &c.last) != 0)
      return sched_fail(dates, p, "expected a date YYYY-MM-DD after '..'", err,
                        errlen);
  }
  if (*p) return sched_fail(dates, p, "unexpected text", err, errlen);
  if (c.last < c.first)
    return sched_fail(dates, dates, "the range ends before it starts", err,
                      errlen);
  if (s->nclosed == s->capclosed) {
    size_t n = s->capclosed ? s->capclosed * 2 : 8;
    sched_closed_t *nc = realloc(s->closed, n * sizeof *nc);
    if (!nc) return KK_ENOMEM;
    s->closed = nc;
    s->capclosed = n;
  }
  s->closed[s->nclosed++] = c;
  return 0;
}

int calc_schedule_active(const calc_schedule_t *s, int64_t t_ms) {
  if (!s) return 1;
  int64_t local = t_ms + calc_tz_offset(s->tz, t_ms);
  int64_t day = kk_floor_div(local, KK_DAY_MS);
  for (size_t i = 0; i < s->nclosed; i++)
    if (day >= s->closed[i].first && day <= s->closed[i].last) return 0;
  int wd = (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
  int m = (int)((local - day * KK_DAY_MS) / KK_MINUTE_MS);
  return (s->week[wd][m / 8] >> (m % 8)) & 1;
}

unsigned calc_schedule_week_minutes(const calc_schedule_t *s) {
  unsigned n = 0;
  for (int d = 0; s && d < 7; d++)
    for (int m = 0; m < SCHED_DAY_MIN; m++)
      n += (s->week[d][m / 8] >> (m % 8)) & 1;
  return n;
}

void calc_schedule_free(calc_schedule_t *s) {
  if (!s) return;
  free(s->closed);
  free(s);
}

int calc_schedule_opts(kk_stage_t *st, const kk_opts_t *o, calc_tz_t tz,
                       calc_schedule_t **out) {
  char err[256];
  *out = NULL;
  if (!kk_opt_isset(o, "schedule")) {
    if (kk_opt_list_len(o, "closed") == 0) return 0;
    kk_stage_error(st, "closed: needs a schedule");
    return KK_EINVAL;
  }
  int rc =
      calc_schedule_parse(kk_opt_str(o, "schedule"), tz, out, err, sizeof err);
  for (size_t i = 0; !rc && i < kk_opt_list_len(o, "closed"); i++)
    rc = calc_schedule_close(*out, kk_opt_list_item(o, "closed", i), err,
                             sizeof err);
  if (rc) {
    kk_stage_error(st, "%s: %s", *out ? "closed" : "schedule", err);
    calc_schedule_free(*out);
    *out = NULL;
  }
  return rc;
}
