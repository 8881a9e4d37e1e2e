/*
 * modules/calc/calc_challenges_impl.h - the state of calc.challenges
 * (challenges.c) and its configuration readers (calc_challenges.c).
 * Internal to the two files.
 */
#ifndef CALC_CHALLENGES_IMPL_H
#define CALC_CHALLENGES_IMPL_H

#include "calc/calc.h"
#include "calc/calc_challenges.h"

#define CH_MAX_POINTS 50000 /* readings per participant and property */
#define CH_MIN_BASE_MS (7 * KK_DAY_MS)

typedef struct ch_pt {
  int64_t t;
  double v;
} ch_pt_t;

typedef struct ch_series {
  ch_pt_t *p;
  size_t n, cap;
} ch_series_t;

typedef struct ch_part {
  char *id;
  size_t team, district; /* indices into the name tables */
  int opt_in;
  ch_series_t s[CH_MAX_RULES]; /* per distinct property */
  double pts[CH_MAX_RULES], amt[CH_MAX_RULES], co2[CH_MAX_RULES];
  int dirty;
} ch_part_t;

typedef struct ch_state {
  kk_stage_t *st;
  calc_base_t base;
  calc_tz_t tz;
  calc_board_t board;
  char *props[CH_MAX_RULES]; /* distinct properties of the rules */
  size_t nprops;
  size_t rule_prop[CH_MAX_RULES];
  ch_part_t *p;
  size_t np;
  char **teams, **team_type, **districts;
  size_t *team_district;
  size_t nteams, ndistricts;
  int32_t *ds_map; /* per datastream: -1 unknown, -2 ignored, else
                      participant * CH_MAX_RULES + property */
  size_t nds;
  int64_t start_ms;
  int changed;
  uv_timer_t timer;
  int timer_open;
  kk_stop_cb stop_cb;
  kk_metric_t *m_no_opt_in, *m_dup, *m_late, *m_unit, *m_full;
  kk_ratelimit_t rl;
} ch_state_t;

/* A copy of s ("" for NULL). */
char *calc_ch_dup(const char *s);
/* The rules (`challenges` option JSON), the participants as JSON (the
 * `participants` option) or as a CSV file; 0 or a negative code with the
 * reason in err. */
int calc_ch_rules(ch_state_t *s, const char *json, char *err, size_t n);
int calc_ch_participants_json(ch_state_t *s, const char *json, char *err,
                              size_t n);
int calc_ch_participants_csv(ch_state_t *s, const char *path, char *err,
                             size_t n);

#endif
