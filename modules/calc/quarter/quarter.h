/*
 * modules/calc/quarter/quarter.h - what the files of calc.quarter share:
 * the stage's state, the slots of a quarter and its period windows
 * (quarter_balance.c), and the stage (quarter.c).  Loop thread only.
 */
#ifndef CALC_QUARTER_H
#define CALC_QUARTER_H

#include <klimakit.h>
#include <stdint.h>
#include <stdio.h>

#include "calc/calc.h"
#include "calc/calc_factors.h"

/* Producer kinds; QK_CONSUMER is the role of consumers. */
enum { QK_PV = 0, QK_WIND, QK_CHP, QK_OTHER, QK_N, QK_CONSUMER = QK_N };
extern const char *const quarter_kinds[QK_N + 1];

/* Totals of a period window (and a slot's contribution to them). */
enum {
  QF_P0 = 0, /* production by kind: QF_P0 + kind */
  QF_C = QK_N,
  QF_COVERED,
  QF_SURPLUS,
  QF_DEFICIT,
  QF_AVOIDED,
  QF_N
};

#define QUARTER_MAX_SLOTS 100000

typedef struct quarter_slot {
  int64_t n; /* slot number (start / resolution); INT64_MIN: free */
  double p[QK_N], c;
} quarter_slot_t;

typedef struct quarter_win {
  int64_t start, end;
  double fin[QF_N]; /* sums of the final slots */
  int dirty;
} quarter_win_t;

typedef struct quarter_q {
  char *name, *thing;
  int has_kind[QK_N];
  quarter_slot_t *ring; /* nring slots, slot n at n mod nring */
  int64_t max_slot;     /* newest slot seen; INT64_MIN: none */
  quarter_win_t *win[CALC_P_N];
  size_t nwin[CALC_P_N], capwin[CALC_P_N];
} quarter_q_t;

typedef struct quarter_ds {
  uint8_t state; /* 0 unknown, 1 member, 2 not */
  uint8_t kind;
  uint32_t q;
  double kwh_per_unit;
} quarter_ds_t;

typedef struct quarter_state {
  kk_stage_t *st;
  calc_base_t base;
  calc_rejects_t rj;
  calc_tz_t tz;
  const kk_opts_t *opts;
  int64_t res;  /* slot length in ms */
  size_t nring; /* slots kept open */
  unsigned periods;
  int cumulative, stamp_start, latest;
  quarter_q_t *q;
  size_t nq;
  struct cJSON *members; /* thing -> [quarter index, kind] */
  quarter_ds_t *ds;
  size_t nds;
  calc_meters_t meters;
  /* The grid factor: stated, or from the registry per local year. */
  const char *set, *carrier;
  calc_overrides_t ov;
  int have_fixed;
  double fixed_g;
  const char *fixed_source; /* borrowed from the options */
  int have_chp;
  double chp_g;
  int fyear;
  int frc;
  const calc_factor_t *f;
} quarter_state_t;

/* Adds energy e (kWh) of role `kind` (QK_*) to slot n of quarter q.
 * Returns 0, KK_ERANGE (older than `lateness` allows) or KK_ENOMEM. */
int quarter_add(quarter_state_t *s, quarter_q_t *q, int kind, int64_t n,
                double e);
/* Emits the period windows that changed into `out` and drops windows
 * whose slots are all final.  0 or KK_ENOMEM. */
int quarter_flush(quarter_state_t *s, kk_batch_t *out);
/* The snapshot lines of the state (calc_save_fn / calc_load_fn). */
int quarter_save(void *state, FILE *f);
int quarter_load(void *state, const char *line);

#endif
