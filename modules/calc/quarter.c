/*
 * modules/calc/quarter.c - calc.quarter: the electricity balance of a
 * quarter (Quartier) as the energy-positive-quarter projects draw it:
 * local production (PV, wind, CHP) against the consumption of its
 * buildings, per hour, day, month and year, with self-sufficiency
 * (Autarkiegrad), self-consumption (Eigenverbrauchsquote), surplus
 * (feed-in), deficit (grid import) and avoided CO2e against a named grid
 * factor.
 *
 * Why slots: self-sufficiency is not "production / consumption" over a
 * month.  PV at noon does not cover a household's evening, so the
 * coverage min(P, C) is taken per measuring interval (`resolution`, the
 * quarter hour of German metering by default) and only then summed.  A
 * slot stays open for `lateness` after the newest slot seen, so that
 * readings of several meters may arrive in any order; then it is final
 * and added to its period totals in slot order.  The totals therefore do
 * not depend on how readings were batched or ordered within `lateness`.
 */
#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"
#include "calc/calc_factors.h"

/* Producer kinds; QK_CONSUMER is the role of consumers. */
enum { QK_PV = 0, QK_WIND, QK_CHP, QK_OTHER, QK_N, QK_CONSUMER = QK_N };
static const char *const quarter_kinds[QK_N + 1] = {"pv", "wind", "chp",
                                                    "other", "consumer"};

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
  cJSON *members; /* thing -> [quarter index, kind] */
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

static char *quarter_dup(const char *x) {
  size_t n = strlen(x) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, x, n);
  return d;
}

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
static int quarter_add(quarter_state_t *s, quarter_q_t *q, int kind, int64_t n,
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
static int quarter_flush(quarter_state_t *s, kk_batch_t *out) {
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

static int quarter_save(void *state, FILE *f) {
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

static int quarter_load(void *state, const char *line) {
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

/* ---- stage -------------------------------------------------------------- */

static int quarter_kind(const char *v) {
  for (int k = 0; k <= QK_N; k++)
    if (strcmp(v, quarter_kinds[k]) == 0) return k;
  return -1;
}

static int quarter_parse(quarter_state_t *s, const char *json) {
  kk_stage_t *st = s->st;
  cJSON *root = cJSON_Parse(json);
  int n = cJSON_IsArray(root) ? cJSON_GetArraySize(root) : -1;
  if (n <= 0) {
    cJSON_Delete(root);
    kk_stage_error(st, "quarters: expected a list { { name = \"west\", "
                       "members = { [\"pv-schule\"] = \"pv\", [\"haus-1\"] = "
                       "\"consumer\" } } }");
    return KK_EINVAL;
  }
  s->q = calloc((size_t)n, sizeof *s->q);
  s->members = cJSON_CreateObject();
  if (!s->q || !s->members) {
    cJSON_Delete(root);
    return KK_ENOMEM;
  }
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    const cJSON *j = cJSON_GetArrayItem(root, i);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(j, "members");
    quarter_q_t *q = &s->q[s->nq++];
    q->max_slot = INT64_MIN;
    if (!cJSON_IsString(name) || !*name->valuestring || !cJSON_IsObject(mem) ||
        !mem->child) {
      kk_stage_error(st,
                     "quarters[%d]: needs name and members = { [thing] = "
                     "\"pv\" | \"wind\" | \"chp\" | \"other\" | \"consumer\" }",
                     i + 1);
      rc = KK_EINVAL;
      break;
    }
    char thing[300];
    snprintf(thing, sizeof thing, "quarter/%s", name->valuestring);
    q->name = quarter_dup(name->valuestring);
    q->thing = quarter_dup(thing);
    q->ring = malloc(s->nring * sizeof *q->ring);
    if (!q->name || !q->thing || !q->ring) {
      rc = KK_ENOMEM;
      break;
    }
    for (size_t k = 0; k < s->nring; k++)
      q->ring[k].n = INT64_MIN;
    int consumers = 0;
    for (const cJSON *m = mem->child; m && !rc; m = m->next) {
      int kind = cJSON_IsString(m) ? quarter_kind(m->valuestring) : -1;
      if (kind < 0) {
        kk_stage_error(st,
                       "quarters[%d].members[\"%s\"]: expected \"pv\", "
                       "\"wind\", \"chp\", \"other\" or \"consumer\"",
                       i + 1, m->string);
        rc = KK_EINVAL;
      } else if (cJSON_GetObjectItemCaseSensitive(s->members, m->string)) {
        kk_stage_error(st,
                       "quarters[%d]: thing \"%s\" is already a member of "
                       "another quarter (or listed twice)",
                       i + 1, m->string);
        rc = KK_EINVAL;
      } else {
        if (kind == QK_CONSUMER)
          consumers++;
        else
          q->has_kind[kind] = 1;
        cJSON *pair = cJSON_CreateArray();
        if (!pair ||
            !cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)i)) ||
            !cJSON_AddItemToArray(pair, cJSON_CreateNumber(kind)) ||
            !cJSON_AddItemToObject(s->members, m->string, pair))
          rc = KK_ENOMEM;
      }
    }
    (void)consumers; /* a quarter of producers only is a valid balance */
  }
  cJSON_Delete(root);
  return rc;
}

static int quarter_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  quarter_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  s->cumulative = kk_opt_enum(o, "meter") == 1;
  s->stamp_start = kk_opt_enum(o, "stamp") == 1;
  s->latest = kk_opt_enum(o, "fallback") == 1;
  s->fyear = INT32_MIN;
  calc_rejects_init(&s->rj, st);
  s->res = (int64_t)kk_opt_duration_ms(o, "resolution");
  if (s->res < KK_MINUTE_MS || KK_HOUR_MS % s->res != 0) {
    kk_stage_error(st, "resolution must divide an hour and be at least 1m "
                       "(1m, 5m, 15m, 30m, 1h)");
    return KK_EINVAL;
  }
  int64_t late = (int64_t)kk_opt_duration_ms(o, "lateness");
  int64_t nr = late / s->res + 1;
  if (nr > QUARTER_MAX_SLOTS) {
    kk_stage_error(st,
                   "lateness / resolution keeps %" PRId64 " slots open per "
                   "quarter; at most %d",
                   nr, QUARTER_MAX_SLOTS);
    return KK_EINVAL;
  }
  s->nring = (size_t)nr;
  size_t np = kk_opt_list_len(o, "periods");
  for (size_t i = 0; i < np; i++) {
    const char *v = kk_opt_list_item(o, "periods", i);
    int k = 0;
    while (k < CALC_P_N && strcmp(v, calc_period_names[k]) != 0)
      k++;
    if (k == CALC_P_N) {
      kk_stage_error(st, "periods: '%s' is not one of hour, day, month, year",
                     v);
      return KK_EINVAL;
    }
    s->periods |= 1u << k;
  }
  if (!s->periods) {
    kk_stage_error(st, "periods: name at least one of hour, day, month, year");
    return KK_EINVAL;
  }
  s->set = kk_opt_str(o, "set");
  s->carrier = kk_opt_str(o, "carrier");
  if (!calc_set_id(s->set)) {
    kk_stage_error(st, "unknown factor set '%s'", s->set);
    return KK_EUNKNOWN;
  }
  char err[256];
  int rc =
      calc_overrides_parse(kk_opt_json(o, "factors"), &s->ov, err, sizeof err);
  if (rc) {
    kk_stage_error(st, "%s", err);
    return rc;
  }
  if (kk_opt_isset(o, "factor")) {
    if (!kk_opt_isset(o, "factor_source") || !*kk_opt_str(o, "factor_source")) {
      kk_stage_error(st, "a stated grid `factor` needs `factor_source` (where "
                         "the number comes from)");
      return KK_EMISSING;
    }
    s->have_fixed = 1;
    s->fixed_g = kk_opt_double(o, "factor");
    s->fixed_source = kk_opt_str(o, "factor_source");
  } else {
    const calc_factor_t *f;
    rc = calc_factor_find(&s->ov, s->set, s->carrier, 2022, 1, &f, err,
                          sizeof err);
    if (rc == KK_EUNKNOWN) {
      kk_stage_error(st, "%s", err);
      return rc;
    }
  }
  if (kk_opt_isset(o, "chp_factor")) {
    if (!kk_opt_isset(o, "chp_factor_source") ||
        !*kk_opt_str(o, "chp_factor_source")) {
      kk_stage_error(st, "`chp_factor` needs `chp_factor_source`");
      return KK_EMISSING;
    }
    s->have_chp = 1;
    s->chp_g = kk_opt_double(o, "chp_factor");
  }
  rc = quarter_parse(s, kk_opt_json(o, "quarters"));
  if (rc) return rc;
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), quarter_save,
                 quarter_load, s);
  return 0;
}

static int quarter_start(kk_stage_t *st, void *state) {
  quarter_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return calc_base_start(&s->base);
}

static quarter_ds_t *quarter_ds_info(quarter_state_t *s, uint32_t id) {
  if (calc_grow((void **)&s->ds, &s->nds, id, sizeof *s->ds)) return NULL;
  quarter_ds_t *d = &s->ds[id];
  if (d->state) return d;
  d->state = 2;
  const kk_datastream_t *k = kk_datastream_get(id);
  if (!k) return d;
  int want = 0;
  size_t n = kk_opt_list_len(s->opts, "property");
  for (size_t i = 0; i < n; i++)
    want |= strcmp(k->property, kk_opt_list_item(s->opts, "property", i)) == 0;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(s->members, k->thing);
  if (!want || !m) return d;
  d->state = 1;
  d->q = (uint32_t)cJSON_GetArrayItem(m, 0)->valuedouble;
  d->kind = (uint8_t)cJSON_GetArrayItem(m, 1)->valuedouble;
  d->kwh_per_unit = calc_kwh_per_unit(k->unit);
  return d;
}

/* Slot of an interval reading at t. */
static int64_t quarter_slot_of(const quarter_state_t *s, int64_t t) {
  return kk_floor_div(s->stamp_start ? t : t - 1, s->res);
}

static int quarter_reading(quarter_state_t *s, const kk_reading_t *r) {
  quarter_ds_t *d = quarter_ds_info(s, r->ds);
  if (!d) return KK_ENOMEM;
  if (d->state != 1) return 0;
  if (!isfinite(r->value)) {
    calc_reject(&s->rj, CALC_REJ_NAN, r, "value is not a number");
    return 0;
  }
  if (d->kwh_per_unit == 0) {
    calc_reject(&s->rj, CALC_REJ_UNIT, r,
                "unit '%s' is not an energy unit (kW.h, W.h, MW.h)",
                calc_unit(r->ds));
    return 0;
  }
  quarter_q_t *q = &s->q[d->q];
  if (!s->cumulative) {
    if (r->value < 0) {
      calc_reject(&s->rj, CALC_REJ_NEGATIVE, r,
                  "negative energy %g (use meter = \"cumulative\" for a "
                  "meter count)",
                  r->value);
      return 0;
    }
    int rc = quarter_add(s, q, d->kind, quarter_slot_of(s, r->time_ms),
                         r->value * d->kwh_per_unit);
    if (rc == KK_ERANGE) {
      calc_reject(&s->rj, CALC_REJ_TOO_LATE, r,
                  "older than `lateness` behind the newest slot");
      return 0;
    }
    return rc;
  }
  /* A meter count: the difference to the previous count, spread over the
   * slots between the two readings in proportion to time.  calc_meter_step
   * passes only a later reading, so t0 < t1. */
  int64_t t0 = r->ds < s->meters.cap && s->meters.m[r->ds].have
                   ? s->meters.m[r->ds].t
                   : INT64_MIN;
  double delta;
  if (calc_meter_step(&s->meters, &s->rj, r, &delta) != 1) return 0;
  double e = delta * d->kwh_per_unit;
  int64_t t1 = r->time_ms;
  int64_t a = kk_floor_div(t0, s->res), b = kk_floor_div(t1 - 1, s->res);
  if (b - a >= (int64_t)s->nring) {
    /* A gap longer than the open range (the meter was offline): the
     * energy cannot be placed in slots that are final already.  Counted,
     * and the count is the new baseline. */
    calc_reject(&s->rj, CALC_REJ_TOO_LATE, r,
                "meter gap of %" PRId64 " min is longer than `lateness`: "
                "%g kWh not placed in slots",
                (int64_t)((t1 - t0) / KK_MINUTE_MS), e);
    return 0;
  }
  for (int64_t n = a; n <= b; n++) {
    int64_t lo = n * s->res > t0 ? n * s->res : t0;
    int64_t hi = (n + 1) * s->res < t1 ? (n + 1) * s->res : t1;
    double share = a == b ? e : e * (double)(hi - lo) / (double)(t1 - t0);
    int rc = quarter_add(s, q, d->kind, n, share);
    if (rc == KK_ERANGE) {
      calc_reject(&s->rj, CALC_REJ_TOO_LATE, r,
                  "older than `lateness` behind the newest slot");
      return 0;
    }
    if (rc) return rc;
  }
  return 0;
}

static int quarter_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  quarter_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  for (size_t i = 0; i < n; i++) {
    int rc = quarter_reading(s, &r[i]);
    if (rc) return rc;
  }
  kk_batch_t *out = kk_batch_new(64);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  int rc = quarter_flush(s, out);
  if (!rc && kk_batch_len(out)) kk_stage_emit(st, out);
  kk_batch_unref(out);
  return rc;
}

static void quarter_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  calc_base_stop(&((quarter_state_t *)state)->base, cb);
}

static void quarter_destroy(void *state) {
  quarter_state_t *s = state;
  if (!s) return;
  for (size_t i = 0; i < s->nq; i++) {
    free(s->q[i].name);
    free(s->q[i].thing);
    free(s->q[i].ring);
    for (int p = 0; p < CALC_P_N; p++)
      free(s->q[i].win[p]);
  }
  free(s->q);
  cJSON_Delete(s->members);
  calc_overrides_free(&s->ov);
  calc_meters_free(&s->meters);
  free(s->ds);
  free(s);
}

static const kk_option_t quarter_options[] = {
    {.name = "quarters",
     .type = KK_OPT_TABLE,
     .flags = KK_OPT_REQUIRED,
     .description =
         "The quarters and their meters: `{ { name = \"west\", members = { "
         "[\"pv-schule\"] = \"pv\", [\"bhkw-1\"] = \"chp\", [\"haus-1\"] = "
         "\"consumer\" } } }`; roles pv, wind, chp, other (producers) and "
         "consumer.  A thing belongs to one quarter."},
    {.name = "property",
     .type = KK_OPT_LIST,
     .def = "energy",
     .description = "Observed properties that carry the members' energy "
                    "(kW.h, W.h or MW.h); other readings are ignored."},
    {.name = "meter",
     .type = KK_OPT_ENUM,
     .def = "cumulative",
     .choices = "interval|cumulative",
     .description =
         "`cumulative`: readings are meter counts (Tasmota SML "
         "`Total_in`); the difference to the previous count is spread over "
         "the slots between them.  `interval`: each reading is the energy "
         "of its interval."},
    {.name = "stamp",
     .type = KK_OPT_ENUM,
     .def = "end",
     .choices = "end|start",
     .description = "Whether an interval reading's time is the end of its "
                    "interval (meters) or the start."},
    {.name = "resolution",
     .type = KK_OPT_DURATION,
     .def = "15m",
     .description = "Interval over which production covers consumption "
                    "(min(P, C) per slot): the quarter hour of German "
                    "metering by default; it must divide an hour."},
    {.name = "lateness",
     .type = KK_OPT_DURATION,
     .def = "2d",
     .description = "How long a slot stays open behind the newest slot "
                    "seen; readings for older slots are rejected "
                    "(too_late)."},
    {.name = "periods",
     .type = KK_OPT_LIST,
     .def = "day,month,year",
     .description = "Periods emitted: hour, day, month, year (local time, "
                    "`tz`)."},
    {.name = "carrier",
     .type = KK_OPT_STRING,
     .def = "strom",
     .description = "Registry carrier of the displaced grid electricity "
                    "(default: the Bundesmix factor of BISKO)."},
    {.name = "set",
     .type = KK_OPT_STRING,
     .def = "bisko",
     .description = "Factor set of `carrier` (`klimakit factors`)."},
    {.name = "factors",
     .type = KK_OPT_TABLE,
     .description = "Local factors that win over the set, as in calc.co2."},
    {.name = "fallback",
     .type = KK_OPT_ENUM,
     .def = "latest",
     .choices = "none|latest",
     .description = "For a year after the newest factor: `latest` uses the "
                    "newest one (factors are published with a delay), "
                    "`none` emits no avoided CO2e for that year."},
    {.name = "factor",
     .type = KK_OPT_DOUBLE,
     .description = "Stated grid factor in g CO2e/kWh instead of the "
                    "registry (needs `factor_source`).",
     .min = 0,
     .max = 5000},
    {.name = "factor_source",
     .type = KK_OPT_STRING,
     .description = "Where the stated grid factor comes from."},
    {.name = "chp_factor",
     .type = KK_OPT_DOUBLE,
     .description =
         "g CO2e per kWh of the CHP's electricity (its fuel allocated to "
         "power); with it, CHP electricity is credited with grid factor "
         "minus this.  Without it, CHP electricity counts in the balance "
         "but avoids nothing.",
     .min = 0,
     .max = 5000},
    {.name = "chp_factor_source",
     .type = KK_OPT_STRING,
     .description = "Where `chp_factor` comes from."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_quarter_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "quarter",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Energy balance of a quarter: production against "
               "consumption, self-sufficiency, surplus, avoided CO2e.",
    .description =
        "Sums the electricity of a quarter's producers (pv, wind, chp, other) "
        "and consumers per `resolution` slot, takes the coverage min(P, C) "
        "per slot, and emits on thing `quarter/<name>` at the start of each "
        "period p (hour, day, month, year): `production_p`, "
        "`production_<kind>_p`, `consumption_p`, `self_consumed_p`, "
        "`surplus_p` (feed-in), `deficit_p` (grid import), `balance_p` "
        "(production minus consumption; positive: energy-positive), "
        "`autarky_p` (self-sufficiency, self-consumed / consumption, %), "
        "`self_consumption_p` (self-consumed / production, %), "
        "`co2e_avoided_p` (kg: PV and wind times the grid factor, CHP times "
        "grid minus `chp_factor`) and, per year, the factor used as "
        "`factor:<set>/<carrier>` or `factor:stated:<factor_source>` (g/kW.h). "
        " Periods are emitted again "
        "whenever a batch changes them; stores replace.  BISKO does not "
        "credit local production in the territorial balance: report avoided "
        "CO2e beside it.  See docs/guide/calculators.md.",
    .options = quarter_options,
    .create = quarter_create,
    .start = quarter_start,
    .process = quarter_process,
    .stop = quarter_stop,
    .destroy = quarter_destroy,
};
