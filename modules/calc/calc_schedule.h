/*
 * modules/calc/calc_schedule.h - weekly schedules (occupancy, quiet
 * hours) for the calc modules: calc.alert and calc.indoor_air.
 *
 * Syntax (a subset of OpenStreetMap's opening_hours, which facility
 * managers know from building data):
 *
 *   schedule := rule { ";" rule }
 *   rule     := days [ spans ] | spans
 *   days     := day [ "-" day ] { "," day [ "-" day ] }
 *   spans    := HH:MM "-" HH:MM { "," HH:MM "-" HH:MM }
 *   day      := Mo Tu We Th Fr Sa Su  (English)  or  Mo Di Mi Do Fr Sa So
 *
 * "Mo-Fr 08:00-13:30" is lessons on weekdays; "Mo-Fr 07:30-12:00,
 * 13:00-16:00; Sa 09:00-12:00" has a lunch break and a Saturday; days
 * without spans are whole days; spans without days hold every day; a span
 * whose end is not after its start runs over midnight ("22:00-06:00":
 * from 22:00 to 06:00 of the next morning); "24:00" ends a day.  Times
 * are local wall-clock times in the stage's time zone, to the minute.
 * Closed days (school holidays, public holidays) are dates or date
 * ranges "2026-12-21..2027-01-06" on which the schedule is not active.
 */
#ifndef CALC_CALC_SCHEDULE_H
#define CALC_CALC_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "calc/calc.h"

typedef struct calc_schedule calc_schedule_t;

/* Parses `text` for time zone `tz`.  Returns 0 and *out (free it with
 * calc_schedule_free), or KK_EPARSE with a one-line reason in err (errlen
 * bytes, "unknown day 'Mx' at 3"), or KK_ENOMEM. */
int calc_schedule_parse(const char *text, calc_tz_t tz, calc_schedule_t **out,
                        char *err, size_t errlen);

/* Adds closed days: "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD" (local
 * dates, both ends included).  Returns 0, KK_EPARSE with a reason in err,
 * or KK_ENOMEM. */
int calc_schedule_close(calc_schedule_t *s, const char *dates, char *err,
                        size_t errlen);

/* 1 when UTC instant `t_ms` lies in the schedule and not on a closed day.
 * NULL (no schedule) is always active. */
int calc_schedule_active(const calc_schedule_t *s, int64_t t_ms);

/* Active minutes per week (tests, the log line at start). */
unsigned calc_schedule_week_minutes(const calc_schedule_t *s);

/* NULL is a no-op. */
void calc_schedule_free(calc_schedule_t *s);

/* The stage options `schedule` and `closed` (CALC_OPT_SCHEDULE) as a
 * schedule: *out is NULL when `schedule` is not set.  Returns 0, or a
 * negative code with kk_stage_error() set. */
int calc_schedule_opts(kk_stage_t *st, const kk_opts_t *o, calc_tz_t tz,
                       calc_schedule_t **out);

#define CALC_OPT_SCHEDULE                                                      \
  {.name = "schedule",                                                         \
   .type = KK_OPT_STRING,                                                      \
   .description = "Weekly occupancy in local time, e.g. \"Mo-Fr "              \
                  "08:00-13:30\" (days Mo-Su or Mo-So, spans HH:MM-HH:MM, "    \
                  "rules separated by ';'; see docs/guide/alerts.md)."},       \
  {                                                                            \
    .name = "closed", .type = KK_OPT_LIST,                                     \
    .description = "Days on which the schedule is not active (holidays): "     \
                   "dates \"2026-05-01\" or ranges "                           \
                   "\"2026-12-21..2027-01-06\"."                               \
  }

#endif
