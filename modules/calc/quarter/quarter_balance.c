/*
 * modules/calc/quarter/quarter_balance.c - the arithmetic of calc.quarter:
 * energy into slots of `resolution`, a slot's coverage min(P, C), surplus,
 * deficit and avoided CO2e, the period windows they add up to (final slots
 * in slot order, open ones as they stand), their readings, and the
 * snapshot of slots, windows and meter counts.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/quarter/quarter.h"

/* ---- the grid factor ---------------------------------------------------- */

/* g CO2e/kWh of grid electricity in local year `year`; NAN when the
 * registry has none (counted once per year in the log). */
static double quarter_factor(quarter_state_t *s, int year) {
  if (s->have_fixed) return s->fixed_g;
  if (year != s->fyear) {
    char err[256];
    s->fyear = year;
    s->frc = calc_factor_find(&s->ov, s->set, s->carrier, year, s->latest,
                              &s->f, err, sizeof err);
    if (s->frc) kk_stage_log(s->st, KK_LOG_WARN, "grid factor: %s", err);
  }
  return s->frc ? NAN : s->f->value;
}

/* ---- slots and windows -------------------------------------------------- */

/* A slot's contribution to its period totals. */
static void quarter_contrib(quarter_state_t *s, const quarter_slot_t *sl,
                            double out[QF_N]) {
  double p = 0;
  for (int k = 0; k < QK_N; k++) {
    out[QF_P0 + k] = sl->p[k];
    p += sl->p[k];
  }
  double cov = p < sl->c ? p : sl->c;
  out[QF_C] = sl->c;
  out[QF_COVERED] = cov;
  out[QF_SURPLUS] = p - cov;
  out[QF_DEFICIT] = sl->c - cov;
  double g = quarter_factor(s, calc_year(s->tz, sl->n * s->res));
  double av = 0;
  if (isfinite(g)) {
    av = (sl->p[QK_PV] + sl->p[QK_WIND]) * g / 1000.0;
    if (s->have_chp) av += sl->p[QK_CHP] * (g - s->chp_g) / 1000.0;
  }
  out[QF_AVOIDED] = av;
}

/* The window of period p containing t, created when missing. */
static quarter_win_t *quarter_win(quarter_state_t *s, quarter_q_t *q, int p,
                                  int64_t t) {
  for (size_t i = q->nwin[p]; i-- > 0;)
    if (q->win[p][i].start <= t && t < q->win[p][i].end) return &q->win[p][i];
  if (q->nwin[p] == q->capwin[p]) {
    size_t cap = q->capwin[p] ? q->capwin[p] * 2 : 8;
    quarter_win_t *w = realloc(q->win[p], cap * sizeof *w);
    if (!w) return NULL;
    q->win[p] = w;
    q->capwin[p] = cap;
  }
  quarter_win_t *w = &q->win[p][q->nwin[p]++];
  memset(w, 0, sizeof *w);
  calc_window(s->tz, (calc_period_t)p, t, &w->start, &w->end);
  return w;
}

/* Marks the windows of slot n dirty (and creates them). */
static int quarter_touch(quarter_state_t *s, quarter_q_t *q, int64_t n,
                         const double add[QF_N]) {
  for (int p = 0; p < CALC_P_N; p++) {
    if (!(s->periods & (1u << p))) continue;
    quarter_win_t *w = quarter_win(s, q, p, n * s->res);
    if (!w) return KK_ENOMEM;
    w->dirty = 1;
    if (add)
      for (int f = 0; f < QF_N; f++)
        w->fin[f] += add[f];
  }
  return 0;
}

/* Makes slot entry e final: adds it to its windows and frees it. */
static int quarter_finalise(quarter_state_t *s, quarter_q_t *q,
                            quarter_slot_t *e) {
  double c[QF_N];
  quarter_contrib(s, e, c);
  int rc = quarter_touch(s, q, e->n, c);
  e->n = INT64_MIN;
  return rc;
}

static quarter_slot_t *quarter_entry(quarter_state_t *s, quarter_q_t *q,
                                     int64_t n) {
  int64_t m = (int64_t)s->nring;
  return &q->ring[(size_t)(((n % m) + m) % m)];
}

/* Moves the newest slot to n: the open slots that fall out of the open
 * range become final, oldest first. */
static int quarter_advance(quarter_state_t *s, quarter_q_t *q, int64_t n) {
  if (q->max_slot == INT64_MIN) {
    q->max_slot = n;
    return 0;
  }
  if (n <= q->max_slot) return 0;
  int64_t from = q->max_slot - (int64_t)s->nring + 1;
  int64_t to = n - (int64_t)s->nring;
  if (to > q->max_slot) to = q->max_slot;
  for (int64_t k = from; k <= to; k++) {
    quarter_slot_t *e = quarter_entry(s, q, k);
    if (e->n == k) {
      int rc = quarter_finalise(s, q, e);
      if (rc) return rc;
    }
  }
  q->max_slot = n;
  return 0;
}

/* Adds energy e (kWh) of role `kind` to slot n.  0, KK_ERANGE (too late)
 * or KK_ENOMEM. */
int quarter_add(quarter_state_t *s, quarter_q_t *q, int kind, int64_t n,
                double e) {
  if (q->max_slot != INT64_MIN && n <= q->max_slot - (int64_t)s->nring)
    return KK_ERANGE;
  int rc = quarter_advance(s, q, n);
  if (rc) return rc;
  quarter_slot_t *sl = quarter_entry(s, q, n);
  if (sl->n != n) {
    memset(sl, 0, sizeof *sl);
    sl->n = n;
  }
  if (kind == QK_CONSUMER)
    sl->c += e;
  else
    sl->p[kind] += e;
  return quarter_touch(s, q, n, NULL);
}

/* ---- output ------------------------------------------------------------- */

static int quarter_push(kk_batch_t *out, const char *thing, const char *prop,
                        int p, const char *unit, int64_t t, double v) {
  char name[96];
  snprintf(name, sizeof name, "%s_%s", prop, calc_period_names[p]);
  uint32_t ds = kk_datastream_id(thing, name, unit);
  if (!ds) return KK_ENOMEM;
  kk_reading_t r = {t, v, ds, KK_READING_UPDATE};
  return kk_batch_push(out, &r);
}

static int quarter_emit_win(quarter_state_t *s, quarter_q_t *q, int p,
                            const quarter_win_t *w, kk_batch_t *out) {
  double v[QF_N];
  memcpy(v, w->fin, sizeof v);
  /* Open slots of the window are counted as they stand now. */
  for (size_t i = 0; i < s->nring; i++) {
    const quarter_slot_t *sl = &q->ring[i];
    if (sl->n == INT64_MIN) continue;
    int64_t t = sl->n * s->res;
    if (t < w->start || t >= w->end) continue;
    double c[QF_N];
    quarter_contrib(s, sl, c);
    for (int f = 0; f < QF_N; f++)
      v[f] += c[f];
  }
  double prod = 0;
  for (int k = 0; k < QK_N; k++)
    prod += v[QF_P0 + k];
  const char *th = q->thing;
  int64_t t = w->start;
  int rc = quarter_push(out, th, "production", p, "kW.h", t, prod);
  for (int k = 0; k < QK_N && !rc; k++) {
    if (!q->has_kind[k]) continue;
    char prop[40];
    snprintf(prop, sizeof prop, "production_%s", quarter_kinds[k]);
    rc = quarter_push(out, th, prop, p, "kW.h", t, v[QF_P0 + k]);
  }
  if (!rc) rc = quarter_push(out, th, "consumption", p, "kW.h", t, v[QF_C]);
  if (!rc)
    rc = quarter_push(out, th, "self_consumed", p, "kW.h", t, v[QF_COVERED]);
  if (!rc) rc = quarter_push(out, th, "surplus", p, "kW.h", t, v[QF_SURPLUS]);
  if (!rc) rc = quarter_push(out, th, "deficit", p, "kW.h", t, v[QF_DEFICIT]);
  if (!rc) rc = quarter_push(out, th, "balance", p, "kW.h", t, prod - v[QF_C]);
  if (!rc && v[QF_C] > 0)
    rc = quarter_push(out, th, "autarky", p, "%", t,
                      100.0 * v[QF_COVERED] / v[QF_C]);
  if (!rc && prod > 0)
    rc = quarter_push(out, th, "self_consumption", p, "%", t,
                      100.0 * v[QF_COVERED] / prod);
  double g = quarter_factor(s, calc_year(s->tz, w->start));
  if (!rc && isfinite(g)) {
    rc = quarter_push(out, th, "co2e_avoided", p, "kg", t, v[QF_AVOIDED]);
    if (!rc && p == CALC_P_YEAR) {
      /* The factor, named by its datastream: factor:<set>/<carrier>, or
       * factor:stated:<source> for a factor the recipe states. */
      char prop[160];
      if (s->have_fixed)
        snprintf(prop, sizeof prop, "factor:stated:%.140s", s->fixed_source);
      else
        snprintf(prop, sizeof prop, "factor:%s/%s", s->f->set, s->f->key);
      uint32_t ds = kk_datastream_id(th, prop, "g/kW.h");
      kk_reading_t r = {t, g, ds, KK_READING_UPDATE};
      rc = ds ? kk_batch_push(out, &r) : KK_ENOMEM;
    }
  }
  return rc;
}

/* Emits dirty windows and drops windows whose slots are all final. */
int quarter_flush(quarter_state_t *s, kk_batch_t *out) {
  int rc = 0;
  for (size_t i = 0; i < s->nq && !rc; i++) {
    quarter_q_t *q = &s->q[i];
    int64_t open_from = q->max_slot == INT64_MIN
                            ? INT64_MIN
                            : (q->max_slot - (int64_t)s->nring + 1) * s->res;
    for (int p = 0; p < CALC_P_N && !rc; p++) {
      size_t keep = 0;
      for (size_t k = 0; k < q->nwin[p] && !rc; k++) {
        quarter_win_t *w = &q->win[p][k];
        if (w->dirty) {
          rc = quarter_emit_win(s, q, p, w, out);
          w->dirty = 0;
        }
        if (w->end > open_from) q->win[p][keep++] = *w;
      }
      q->nwin[p] = keep;
    }
  }
  return rc;
}

/* ---- snapshot ----------------------------------------------------------- */

int quarter_save(void *state, FILE *f) {
  quarter_state_t *s = state;
  int rc = calc_meters_save(&s->meters, f);
  for (size_t i = 0; i < s->nq && !rc; i++) {
    quarter_q_t *q = &s->q[i];
    if (q->max_slot == INT64_MIN) continue;
    fprintf(f, "QM\t%zu\t%" PRId64 "\n", i, q->max_slot);
    for (size_t k = 0; k < s->nring; k++) {
      const quarter_slot_t *sl = &q->ring[k];
      if (sl->n == INT64_MIN) continue;
      fprintf(f, "QS\t%zu\t%" PRId64, i, sl->n);
      for (int j = 0; j < QK_N; j++)
        fprintf(f, "\t%.17g", sl->p[j]);
      fprintf(f, "\t%.17g\n", sl->c);
    }
    for (int p = 0; p < CALC_P_N; p++)
      for (size_t k = 0; k < q->nwin[p]; k++) {
        const quarter_win_t *w = &q->win[p][k];
        fprintf(f, "QW\t%zu\t%d\t%" PRId64 "\t%" PRId64 "\t%d", i, p, w->start,
                w->end, w->dirty);
        for (int j = 0; j < QF_N; j++)
          fprintf(f, "\t%.17g", w->fin[j]);
        fputc('\n', f);
      }
  }
  return rc;
}

/* Reads `n` tab-separated doubles from *p. */
static int quarter_doubles(const char **p, double *v, int n) {
  for (int i = 0; i < n; i++) {
    char *end;
    if (**p != '\t') return KK_EPARSE;
    v[i] = strtod(*p + 1, &end);
    if (end == *p + 1) return KK_EPARSE;
    *p = end;
  }
  return 0;
}

int quarter_load(void *state, const char *line) {
  quarter_state_t *s = state;
  size_t i;
  int64_t a, b;
  int p, dirty, used;
  if (strncmp(line, "QM\t", 3) == 0) {
    if (sscanf(line, "QM\t%zu\t%" SCNd64, &i, &a) != 2 || i >= s->nq)
      return KK_EPARSE;
    s->q[i].max_slot = a;
    return 0;
  }
  if (strncmp(line, "QS\t", 3) == 0) {
    if (sscanf(line, "QS\t%zu\t%" SCNd64 "%n", &i, &a, &used) != 2 ||
        i >= s->nq)
      return KK_EPARSE;
    quarter_slot_t sl = {.n = a};
    const char *r = line + used;
    double v[QK_N + 1];
    if (quarter_doubles(&r, v, QK_N + 1)) return KK_EPARSE;
    memcpy(sl.p, v, sizeof sl.p);
    sl.c = v[QK_N];
    *quarter_entry(s, &s->q[i], a) = sl;
    return 0;
  }
  if (strncmp(line, "QW\t", 3) == 0) {
    if (sscanf(line, "QW\t%zu\t%d\t%" SCNd64 "\t%" SCNd64 "\t%d%n", &i, &p, &a,
               &b, &dirty, &used) != 5 ||
        i >= s->nq || p < 0 || p >= CALC_P_N)
      return KK_EPARSE;
    quarter_q_t *q = &s->q[i];
    quarter_win_t *w = quarter_win(s, q, p, a);
    if (!w) return KK_ENOMEM;
    const char *r = line + used;
    if (quarter_doubles(&r, w->fin, QF_N)) return KK_EPARSE;
    w->dirty = dirty != 0;
    return 0;
  }
  return calc_meters_load(&s->meters, line);
}
