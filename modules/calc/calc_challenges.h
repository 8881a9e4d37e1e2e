/*
 * modules/calc/calc_challenges.h - the public result of calc.challenges
 * (Klima-Challenges): rules with their points and CO2 factors (and where
 * each factor comes from), and the leaderboard of teams and districts.
 * Participants never appear here: only aggregates of teams with at least
 * `min_team` participants and of districts.  calc.challenges publishes
 * its board while it runs; the dashboard's /challenges page reads it
 * (calc_board_first()).  Loop thread only.
 */
#ifndef CALC_CHALLENGES_H
#define CALC_CHALLENGES_H

#include <stddef.h>
#include <stdint.h>

typedef enum { CH_ENERGY = 0, CH_CYCLING, CH_ACTION, CH_KIND_N } ch_kind_t;
extern const char *const ch_kind_names[CH_KIND_N];

#define CH_MAX_RULES 16

typedef struct ch_rule {
  char *id, *title, *property, *unit_label, *factor_source;
  ch_kind_t kind;
  int64_t from, to;           /* challenge period [from, to) */
  int64_t base_from, base_to; /* energy: the participant's baseline */
  double points_per;          /* per kWh saved, km, or action */
  double factor;              /* kg CO2e per kWh saved, km, action */
} ch_rule_t;

/* One row of the leaderboard: a team or a district. */
typedef struct ch_row {
  char *name, *type, *district; /* type: school_class, company, ... */
  size_t participants;
  double points, co2e_kg;
  double rule_points[CH_MAX_RULES], rule_amount[CH_MAX_RULES];
} ch_row_t;

typedef struct calc_board {
  char *name; /* the stage */
  ch_rule_t rules[CH_MAX_RULES];
  size_t nrules;
  ch_row_t *teams, *districts; /* sorted by points, descending */
  size_t nteams, ndistricts;
  size_t hidden_teams; /* teams below min_team, not shown */
  size_t min_team;
  size_t participants;  /* opted-in participants with data */
  int64_t end_ms;       /* end of the last challenge */
  int64_t retention_ms; /* participant data deleted after end + this */
  int purged;           /* participant data has been deleted */
  uint64_t gen;
  struct calc_board *next;
} calc_board_t;

void calc_board_publish(calc_board_t *b);
void calc_board_withdraw(calc_board_t *b);
calc_board_t *calc_board_first(void);
calc_board_t *calc_board_next(const calc_board_t *b);
/* Frees the rows (not the rules). */
void calc_board_clear_rows(calc_board_t *b);

#endif
