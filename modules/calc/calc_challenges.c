/*
 * modules/calc/calc_challenges.c - the registry of Klima-Challenges
 * leaderboards (calc_challenges.h).
 */
#include "calc/calc_challenges.h"

#include <stdlib.h>

const char *const ch_kind_names[CH_KIND_N] = {"energy", "cycling", "action"};

static calc_board_t *board_head;

void calc_board_publish(calc_board_t *b) {
  for (calc_board_t *x = board_head; x; x = x->next)
    if (x == b) return;
  calc_board_t **p = &board_head;
  while (*p)
    p = &(*p)->next;
  b->next = NULL;
  *p = b;
}

void calc_board_withdraw(calc_board_t *b) {
  for (calc_board_t **p = &board_head; *p; p = &(*p)->next)
    if (*p == b) {
      *p = b->next;
      b->next = NULL;
      return;
    }
}

calc_board_t *calc_board_first(void) {
  return board_head;
}
calc_board_t *calc_board_next(const calc_board_t *b) {
  return b->next;
}

static void board_rows_free(ch_row_t *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(r[i].name);
    free(r[i].type);
    free(r[i].district);
  }
  free(r);
}

void calc_board_clear_rows(calc_board_t *b) {
  board_rows_free(b->teams, b->nteams);
  board_rows_free(b->districts, b->ndistricts);
  b->teams = b->districts = NULL;
  b->nteams = b->ndistricts = b->hidden_teams = 0;
}
