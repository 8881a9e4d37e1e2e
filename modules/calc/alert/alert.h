/*
 * modules/calc/alert/alert.h - calc.alert's own layer: rules, the state
 * of each (rule, datastream) track, and event documents.
 *
 * alert.c       the stage: readings through the rules, the stale timer,
 *               quiet hours, snapshots
 * alert_rule.c  rules from the recipe's `rules` table
 * alert_event.c the event document (JSON with a German text) and the
 *               reading that goes with it
 */
#ifndef CALC_ALERT_ALERT_H
#define CALC_ALERT_ALERT_H

#include <klimakit.h>
#include <stdint.h>

#include "calc/calc.h"
#include "calc/calc_schedule.h"

typedef enum {
  ALERT_THRESHOLD = 0, /* a value above/below a limit for `duration` */
  ALERT_MEAN,          /* the hourly or daily mean above/below a limit */
  ALERT_STALE          /* no reading for `stale` */
} alert_kind_t;

typedef enum { ALERT_IDLE = 0, ALERT_PENDING, ALERT_OPEN } alert_phase_t;

/* One (rule, datastream).  Times are UTC ms. */
typedef struct alert_track {
  uint8_t match;      /* 0 not yet looked at, 1 the rule applies, 2 not */
  uint8_t phase;      /* alert_phase_t */
  uint8_t open_sent;  /* the "opened" event of this episode went out */
  uint8_t open_due;   /* held back by quiet hours */
  uint8_t close_due;  /* a closed episode's "closed" event is held back */
  uint32_t out_ds;    /* (thing, "alert_<rule>", "1") */
  int64_t last_t;     /* newest reading (readings arrive in time order) */
  int64_t since;      /* pending since / episode start */
  int64_t opened;     /* when the episode opened (condition held long enough) */
  double value, peak; /* value at opening, most extreme value since */
  int64_t seen;       /* stale rules: last sign of life */
  int64_t ws;         /* mean rules: the current window's start */
  double sum;
  uint64_t n;
  /* the held-back "closed" event of the previous episode */
  int64_t c_since, c_end;
  double c_value, c_peak;
} alert_track_t;

typedef struct alert_rule {
  char *name; /* [a-z0-9_]+ */
  alert_kind_t kind;
  char *property;           /* NULL: any (stale rules) */
  char *thing;              /* glob with '*', NULL: any */
  char *label;              /* for texts: "CO₂"; defaults to the property */
  char *text, *text_closed; /* templates; NULL: the default German text */
  char *severity;
  int below;           /* 1: the condition is value < limit */
  double limit, clear; /* clear: where an open episode ends (hysteresis) */
  int64_t for_ms, stale_ms;
  calc_period_t period;   /* mean rules: CALC_P_HOUR or CALC_P_DAY */
  calc_schedule_t *sched; /* occupancy; NULL always */
  calc_schedule_t *quiet; /* quiet hours; NULL none */
  int quiet_owned;        /* quiet is the rule's own, not the stage's */
  int64_t clock;          /* newest time the rule saw (data time) */
  size_t held;            /* tracks with open_due or close_due */
  alert_track_t *tr;      /* indexed by source datastream id */
  size_t cap;
} alert_rule_t;

/* Parses the `rules` option (JSON array of tables) into rules[0..*n).
 * `quiet` is the stage's quiet hours (borrowed; may be NULL).  Returns 0,
 * or a negative code with kk_stage_error() set; the rules are then freed.
 */
int alert_rules_parse(kk_stage_t *st, const char *json, calc_tz_t tz,
                      calc_schedule_t *quiet, alert_rule_t **rules, size_t *n);
void alert_rules_free(alert_rule_t *rules, size_t n);
/* 1 when `thing` matches the glob `pat` ('*' any run of characters). */
int alert_glob(const char *pat, const char *thing);

/* The event kinds. */
typedef enum { ALERT_EV_OPENED = 0, ALERT_EV_CLOSED } alert_ev_t;

/* One event, as the stage hands it to alert_event_push. */
typedef struct alert_event {
  alert_ev_t ev;
  const alert_rule_t *rule;
  uint32_t ds;             /* the source datastream */
  uint32_t out_ds;         /* alert_<rule> */
  int64_t since, end, now; /* episode start, end (closed), detection */
  double value, peak;
  const char *reason; /* why it closed: NULL, "schedule" */
  uint32_t flags;     /* KK_READING_REPLAY of the reading that caused it */
  uint64_t seq;       /* journal position (0 from the timer) */
} alert_event_t;

/* Appends the event to `out`: the reading (out_ds at `since` with 1 for
 * opened, at `end` with 0 for closed) and, as raw message i for reading
 * i, the event document (FW_EVENT_META, forward/forward.h).  `tz` is for
 * the local times in the text.  Returns 0 or KK_ENOMEM. */
int alert_event_push(kk_batch_t *out, const alert_event_t *e, calc_tz_t tz,
                     kk_buf_t *scratch);

/* Writes the German text of `e` into `b` (the rule's template or the
 * default); exposed for tests. */
void alert_event_text(kk_buf_t *b, const alert_event_t *e, calc_tz_t tz);

#endif
