/*
 * modules/calc/challenges.c - calc.challenges: Klima-Challenges.
 *
 * Pseudonymous participants (an id such as "p-7f3a", never a name or an
 * address) belong to a team (a school class, a company, a club) and a
 * district, and take part only when they opted in.  Challenges are rules
 * over their readings (thing = the participant's id):
 *   energy   kWh saved against the participant's own baseline: the mean
 *            consumption per hour of a cumulative meter over the baseline
 *            window, times the hours metered in the challenge window,
 *            minus what was metered there (intervals between readings
 *            are split over the windows by their overlap); only savings
 *            score, more consumption scores 0
 *   cycling  km ridden in the period (uploads or a Stadtradeln-like CSV)
 *   action   events in the period (supporting a local initiative, ...)
 * Each rule has points per unit and a CO2e factor per unit with its
 * source, so every point and kilogram can be recomputed by hand.
 *
 * Only aggregates leave the stage: per team and district `points`,
 * `co2e_avoided` (kg) and `participants` on things team/<name> and
 * district/<name>, at the start of the first challenge; the dashboard's
 * leaderboard (/challenges) shows teams with at least `min_team`
 * participants and districts.  Readings of participants who did not opt
 * in are dropped and counted.  `retention` after the end of the last
 * challenge the participants' readings are deleted from the state; the
 * board is kept as it stood.  Readings are kept per participant sorted
 * and unique by time, so results do not depend on batch boundaries, on
 * order, or on a source that replays its history after a restart.
 */
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"

#include "calc/calc_challenges_impl.h"

/* ---- scoring ------------------------------------------------------------- */

static double ch_overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1) {
  int64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
  return hi > lo ? (double)(hi - lo) : 0;
}

static void ch_score(ch_state_t *s, ch_part_t *p) {
  for (size_t k = 0; k < s->board.nrules; k++) {
    const ch_rule_t *r = &s->board.rules[k];
    const ch_series_t *se = &p->s[s->rule_prop[k]];
    double amount = 0;
    if (r->kind == CH_ENERGY) {
      double bk = 0, bms = 0, ak = 0, ams = 0;
      for (size_t i = 1; i < se->n; i++) {
        double d = se->p[i].v - se->p[i - 1].v;
        double span = (double)(se->p[i].t - se->p[i - 1].t);
        if (d < 0 || span <= 0) continue; /* meter reset or exchange */
        double ob =
            ch_overlap(se->p[i - 1].t, se->p[i].t, r->base_from, r->base_to);
        double oa = ch_overlap(se->p[i - 1].t, se->p[i].t, r->from, r->to);
        bk += d * ob / span;
        bms += ob;
        ak += d * oa / span;
        ams += oa;
      }
      double saved = bms >= CH_MIN_BASE_MS && ams > 0 ? bk / bms * ams - ak : 0;
      amount = saved > 0 ? saved : 0;
    } else {
      for (size_t i = 0; i < se->n; i++)
        if (se->p[i].t >= r->from && se->p[i].t < r->to) amount += se->p[i].v;
    }
    p->amt[k] = amount;
    p->pts[k] = amount * r->points_per;
    p->co2[k] = amount * r->factor;
  }
  p->dirty = 0;
}

static int ch_row_cmp(const void *a, const void *b) {
  const ch_row_t *x = a, *y = b;
  if (x->points != y->points) return x->points < y->points ? 1 : -1;
  return strcmp(x->name, y->name);
}

/* Rebuilds the board's rows from the participants' scores. */
static int ch_rebuild(ch_state_t *s) {
  calc_board_t *b = &s->board;
  calc_board_clear_rows(b);
  ch_row_t *t = calloc(s->nteams ? s->nteams : 1, sizeof *t);
  ch_row_t *d = calloc(s->ndistricts ? s->ndistricts : 1, sizeof *d);
  if (!t || !d) {
    free(t);
    free(d);
    return KK_ENOMEM;
  }
  b->participants = 0;
  for (size_t i = 0; i < s->np; i++) {
    ch_part_t *p = &s->p[i];
    if (!p->opt_in) continue;
    if (p->dirty) ch_score(s, p);
    ch_row_t *rows[2] = {&t[p->team], &d[p->district]};
    int has = 0;
    for (size_t k = 0; k < b->nrules; k++)
      has |= p->s[s->rule_prop[k]].n > 0;
    b->participants += has;
    for (int q = 0; q < 2; q++) {
      rows[q]->participants++;
      for (size_t k = 0; k < b->nrules; k++) {
        rows[q]->points += p->pts[k];
        rows[q]->co2e_kg += p->co2[k];
        rows[q]->rule_points[k] += p->pts[k];
        rows[q]->rule_amount[k] += p->amt[k];
      }
    }
  }
  size_t nt = 0, hidden = 0;
  for (size_t i = 0; i < s->nteams; i++) {
    if (!t[i].participants) continue;
    if (t[i].participants < b->min_team) {
      hidden++;
      continue;
    }
    t[nt] = t[i];
    t[nt].name = calc_ch_dup(s->teams[i]);
    t[nt].type = calc_ch_dup(s->team_type[i]);
    t[nt].district = calc_ch_dup(s->districts[s->team_district[i]]);
    nt++;
  }
  size_t nd = 0;
  for (size_t i = 0; i < s->ndistricts; i++) {
    if (!d[i].participants) continue;
    d[nd] = d[i];
    d[nd].name = calc_ch_dup(s->districts[i]);
    d[nd].type = calc_ch_dup("district");
    d[nd].district = calc_ch_dup(s->districts[i]);
    nd++;
  }
  qsort(t, nt, sizeof *t, ch_row_cmp);
  qsort(d, nd, sizeof *d, ch_row_cmp);
  b->teams = t;
  b->nteams = nt;
  b->districts = d;
  b->ndistricts = nd;
  b->hidden_teams = hidden;
  b->gen++;
  return 0;
}

static int ch_emit_rows(ch_state_t *s, kk_batch_t *out) {
  calc_board_t *b = &s->board;
  const struct {
    const ch_row_t *r;
    size_t n;
    const char *prefix;
  } sets[] = {{b->teams, b->nteams, "team/"},
              {b->districts, b->ndistricts, "district/"}};
  for (int q = 0; q < 2; q++)
    for (size_t i = 0; i < sets[q].n; i++) {
      const ch_row_t *r = &sets[q].r[i];
      char thing[300];
      snprintf(thing, sizeof thing, "%s%s", sets[q].prefix, r->name);
      kk_reading_t x[3] = {
          {s->start_ms, r->points, kk_datastream_id(thing, "points", "1"),
           KK_READING_UPDATE},
          {s->start_ms, r->co2e_kg,
           kk_datastream_id(thing, "co2e_avoided", "kg"), KK_READING_UPDATE},
          {s->start_ms, (double)r->participants,
           kk_datastream_id(thing, "participants", "1"), KK_READING_UPDATE}};
      for (int k = 0; k < 3; k++)
        if (!x[k].ds || kk_batch_push(out, &x[k])) return KK_ENOMEM;
    }
  return 0;
}

/* Inserts (t, v) in time order; 1 added, 0 duplicate, <0 error. */
static int ch_insert(ch_series_t *se, int64_t t, double v) {
  size_t lo = 0, hi = se->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (se->p[mid].t < t)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < se->n && se->p[lo].t == t) return 0;
  if (se->n == CH_MAX_POINTS) return KK_ETOOBIG;
  if (se->n == se->cap) {
    size_t cap = se->cap ? se->cap * 2 : 16;
    ch_pt_t *p = realloc(se->p, cap * sizeof *p);
    if (!p) return KK_ENOMEM;
    se->p = p;
    se->cap = cap;
  }
  memmove(&se->p[lo + 1], &se->p[lo], (se->n - lo) * sizeof *se->p);
  se->p[lo] = (ch_pt_t){t, v};
  se->n++;
  return 1;
}

/* Forgets every participant's readings (retention reached). */
static void ch_purge(ch_state_t *s) {
  for (size_t i = 0; i < s->np; i++)
    for (size_t k = 0; k < CH_MAX_RULES; k++) {
      free(s->p[i].s[k].p);
      s->p[i].s[k] = (ch_series_t){0};
    }
  s->board.purged = 1;
  s->board.gen++;
  kk_stage_log(s->st, KK_LOG_INFO,
               "retention reached: the participants' readings are deleted; "
               "the leaderboard is kept as it stood");
}

static int ch_maybe_purge(ch_state_t *s) {
  if (s->board.purged || !s->board.retention_ms ||
      kk_now_ms() < s->board.end_ms + s->board.retention_ms)
    return 0;
  ch_purge(s);
  return 1;
}

/* ---- state --------------------------------------------------------------- */

static int ch_save(void *state, FILE *f) {
  ch_state_t *s = state;
  calc_board_t *b = &s->board;
  if (b->purged) {
    /* Only the aggregates remain. */
    fprintf(f, "X\t1\n");
    for (int q = 0; q < 2; q++) {
      const ch_row_t *rows = q ? b->districts : b->teams;
      size_t n = q ? b->ndistricts : b->nteams;
      for (size_t i = 0; i < n; i++) {
        kk_buf_t l = {0};
        kk_buf_printf(&l, "R\t%d\t%zu\t", q, rows[i].participants);
        kk_buf_double(&l, rows[i].points);
        kk_buf_puts(&l, "\t");
        kk_buf_double(&l, rows[i].co2e_kg);
        for (size_t k = 0; k < b->nrules; k++) {
          kk_buf_puts(&l, "\t");
          kk_buf_double(&l, rows[i].rule_points[k]);
          kk_buf_puts(&l, "\t");
          kk_buf_double(&l, rows[i].rule_amount[k]);
        }
        kk_buf_printf(&l, "\t%s\t%s\t%s\n", rows[i].type, rows[i].district,
                      rows[i].name);
        if (l.p) fputs(l.p, f);
        kk_buf_free(&l);
      }
    }
    return 0;
  }
  for (size_t i = 0; i < s->np; i++)
    for (size_t k = 0; k < s->nprops; k++)
      for (size_t j = 0; j < s->p[i].s[k].n; j++)
        fprintf(f, "P\t%s\t%s\t%lld\t%.17g\n", s->p[i].id, s->props[k],
                (long long)s->p[i].s[k].p[j].t, s->p[i].s[k].p[j].v);
  return 0;
}

static int ch_load(void *state, const char *line) {
  ch_state_t *s = state;
  calc_board_t *b = &s->board;
  if (strcmp(line, "X\t1") == 0) {
    b->purged = 1;
    return 0;
  }
  if (line[0] == 'R' && line[1] == '\t') {
    /* A frozen row: R q participants points co2 [rp ra]... type district
     * name (the strings last, tab-separated). */
    ch_row_t r = {0};
    int q;
    const char *p = line + 2;
    char *e;
    q = (int)strtol(p, &e, 10);
    r.participants = (size_t)strtoul(e + 1, &e, 10);
    r.points = strtod(e + 1, &e);
    r.co2e_kg = strtod(e + 1, &e);
    for (size_t k = 0; k < b->nrules; k++) {
      r.rule_points[k] = strtod(e + 1, &e);
      r.rule_amount[k] = strtod(e + 1, &e);
    }
    if (*e != '\t') return KK_EPARSE;
    char *rest = calc_ch_dup(e + 1), *t1 = rest ? strchr(rest, '\t') : NULL,
         *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    if (!t2) {
      free(rest);
      return KK_EPARSE;
    }
    *t1 = *t2 = 0;
    r.type = calc_ch_dup(rest);
    r.district = calc_ch_dup(t1 + 1);
    r.name = calc_ch_dup(t2 + 1);
    free(rest);
    ch_row_t **rows = q ? &b->districts : &b->teams;
    size_t *n = q ? &b->ndistricts : &b->nteams;
    ch_row_t *nr = realloc(*rows, (*n + 1) * sizeof *nr);
    if (!nr) return KK_ENOMEM;
    nr[(*n)++] = r;
    *rows = nr;
    return 0;
  }
  char id[64], prop[128];
  long long t;
  double v;
  if (sscanf(line, "P\t%63[^\t]\t%127[^\t]\t%lld\t%lf", id, prop, &t, &v) != 4)
    return KK_EPARSE;
  size_t k = 0;
  while (k < s->nprops && strcmp(s->props[k], prop) != 0)
    k++;
  for (size_t i = 0; i < s->np && k < s->nprops; i++)
    if (strcmp(s->p[i].id, id) == 0) {
      s->p[i].dirty = 1;
      return ch_insert(&s->p[i].s[k], t, v) < 0 ? KK_ENOMEM : 0;
    }
  return 0; /* a participant who left, or a rule since removed */
}

/* ---- the stage ------------------------------------------------------------
 */

static int ch_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  ch_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 5);
  s->board.name = calc_ch_dup(kk_stage_name(st));
  s->board.min_team = (size_t)kk_opt_int(o, "min_team");
  s->board.retention_ms = (int64_t)kk_opt_duration_ms(o, "retention");
  char err[512];
  int rc = calc_ch_rules(s, kk_opt_json(o, "challenges"), err, sizeof err);
  const char *pj = kk_opt_json(o, "participants");
  const char *pf = kk_opt_str(o, "participants_file");
  if (!rc && pj) rc = calc_ch_participants_json(s, pj, err, sizeof err);
  if (!rc && pf) rc = calc_ch_participants_csv(s, pf, err, sizeof err);
  if (!rc && !s->np) {
    snprintf(err, sizeof err,
             "no participants: give participants = { { id = \"p-01\", team = "
             "\"Klasse 7b\", team_type = \"school_class\", district = "
             "\"Lindenau\", opt_in = true } } or participants_file");
    rc = KK_EINVAL;
  }
  if (rc) {
    kk_stage_error(st, "%s", rc == KK_ENOMEM ? "out of memory" : err);
    return rc;
  }
  const char *help = "Readings calc.challenges did not count, by reason";
  s->m_no_opt_in = kk_stage_counter(st, "kk_rejected_total", "no_opt_in", help);
  s->m_dup = kk_stage_counter(st, "kk_rejected_total", "duplicate", help);
  s->m_late =
      kk_stage_counter(st, "kk_rejected_total", "after_retention", help);
  s->m_unit = kk_stage_counter(st, "kk_rejected_total", "unit", help);
  s->m_full = kk_stage_counter(st, "kk_rejected_total", "too_many", help);
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), ch_save,
                 ch_load, s);
  return 0;
}

static void ch_tick(uv_timer_t *t) {
  ch_state_t *s = t->data;
  if (ch_maybe_purge(s)) calc_snapshot_save(s->st, s->base.seq, ch_save, s);
}

static int ch_start(kk_stage_t *st, void *state) {
  ch_state_t *s = state;
  int rc = calc_base_start(&s->base);
  if (rc) return rc;
  if (!s->board.purged) {
    ch_maybe_purge(s);
    if (!s->board.purged && (rc = ch_rebuild(s)) != 0) return rc;
  }
  if (s->board.purged) calc_snapshot_save(st, s->base.seq, ch_save, s);
  uv_timer_init(kk_stage_loop(st), &s->timer);
  s->timer.data = s;
  s->timer_open = 1;
  uv_timer_start(&s->timer, ch_tick, 60000, 60000);
  uv_unref((uv_handle_t *)&s->timer);
  calc_board_publish(&s->board);
  return 0;
}

/* -1: not a participant's reading of a rule property, else the slot. */
static int32_t ch_slot(ch_state_t *s, uint32_t ds) {
  if (calc_grow((void **)&s->ds_map, &s->nds, ds, sizeof *s->ds_map)) return -3;
  if (s->ds_map[ds] == 0) { /* 0: not looked up yet (stored +1) */
    const char *thing = calc_thing(ds), *prop = calc_property(ds);
    int32_t v = -2;
    for (size_t k = 0; k < s->nprops && v == -2; k++)
      if (strcmp(s->props[k], prop) == 0)
        for (size_t i = 0; i < s->np; i++)
          if (strcmp(s->p[i].id, thing) == 0) {
            v = (int32_t)(i * CH_MAX_RULES + k);
            break;
          }
    s->ds_map[ds] = v >= 0 ? v + 1 : v;
  }
  return s->ds_map[ds] > 0 ? s->ds_map[ds] - 1 : -1;
}

/* Value in the rule property's unit: kWh for energy, km for cycling. */
static int ch_value(ch_state_t *s, size_t prop, uint32_t ds, double v,
                    double *out) {
  const char *unit = calc_unit(ds);
  ch_kind_t kind = CH_ACTION;
  for (size_t k = 0; k < s->board.nrules; k++)
    if (s->rule_prop[k] == prop) kind = s->board.rules[k].kind;
  if (kind == CH_ENERGY) {
    double f = calc_kwh_per_unit(unit);
    if (f == 0) return -1;
    *out = v * f;
  } else if (kind == CH_CYCLING) {
    if (strcmp(unit, "km") == 0)
      *out = v;
    else if (strcmp(unit, "m") == 0)
      *out = v / 1000;
    else
      return -1;
  } else
    *out = v;
  return isfinite(*out) ? 0 : -1;
}

static int ch_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  ch_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  int changed = ch_maybe_purge(s);
  for (size_t i = 0; i < n; i++) {
    int32_t slot = ch_slot(s, r[i].ds);
    if (slot == -3) return KK_ENOMEM;
    if (slot < 0) continue;
    ch_part_t *p = &s->p[slot / CH_MAX_RULES];
    size_t prop = (size_t)(slot % CH_MAX_RULES);
    if (!p->opt_in) {
      kk_metric_add(s->m_no_opt_in, 1);
      continue;
    }
    if (s->board.purged) {
      kk_metric_add(s->m_late, 1);
      continue;
    }
    double v;
    if (ch_value(s, prop, r[i].ds, r[i].value, &v) != 0) {
      kk_metric_add(s->m_unit, 1);
      if (kk_ratelimit_ok(&s->rl))
        kk_stage_log(st, KK_LOG_WARN, "%s/%s: unit '%s' not usable here",
                     calc_thing(r[i].ds), calc_property(r[i].ds),
                     calc_unit(r[i].ds));
      continue;
    }
    int rc = ch_insert(&p->s[prop], r[i].time_ms, v);
    if (rc == 0) kk_metric_add(s->m_dup, 1);
    if (rc == KK_ETOOBIG) kk_metric_add(s->m_full, 1);
    if (rc == KK_ENOMEM) return rc;
    if (rc == 1) p->dirty = changed = 1;
  }
  if (!changed) return 0;
  int rc = s->board.purged ? 0 : ch_rebuild(s);
  kk_batch_t *out = kk_batch_new(16);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  if (!rc) rc = ch_emit_rows(s, out);
  if (!rc) kk_stage_emit(st, out);
  kk_batch_unref(out);
  return rc;
}

static void ch_timer_closed(uv_handle_t *h) {
  ch_state_t *s = h->data;
  calc_base_stop(&s->base, s->stop_cb);
}

static void ch_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  ch_state_t *s = state;
  calc_board_withdraw(&s->board);
  if (!s->timer_open) {
    calc_base_stop(&s->base, cb);
    return;
  }
  s->stop_cb = cb;
  s->timer_open = 0;
  uv_close((uv_handle_t *)&s->timer, ch_timer_closed);
}

static void ch_destroy(void *state) {
  ch_state_t *s = state;
  if (!s) return;
  calc_board_withdraw(&s->board);
  calc_board_clear_rows(&s->board);
  for (size_t k = 0; k < s->board.nrules; k++) {
    ch_rule_t *r = &s->board.rules[k];
    free(r->id);
    free(r->title);
    free(r->property);
    free(r->unit_label);
    free(r->factor_source);
  }
  for (size_t i = 0; i < s->np; i++) {
    for (size_t k = 0; k < CH_MAX_RULES; k++)
      free(s->p[i].s[k].p);
    free(s->p[i].id);
  }
  for (size_t i = 0; i < s->nteams; i++) {
    free(s->teams[i]);
    if (s->team_type) free(s->team_type[i]);
  }
  for (size_t i = 0; i < s->ndistricts; i++)
    free(s->districts[i]);
  for (size_t k = 0; k < s->nprops; k++)
    free(s->props[k]);
  free(s->teams);
  free(s->team_type);
  free(s->team_district);
  free(s->districts);
  free(s->p);
  free(s->ds_map);
  free(s->board.name);
  free(s);
}

static const kk_option_t ch_options[] = {
    {.name = "challenges",
     .type = KK_OPT_TABLE,
     .flags = KK_OPT_REQUIRED,
     .description =
         "The rules: `{ { id = \"strom\", kind = \"energy\", title = "
         "\"Strom sparen\", from = \"2026-10-01\", to = \"2026-11-01\", "
         "baseline = { from = \"2026-09-01\", to = \"2026-10-01\" }, "
         "points_per = 1, factor = 0.505, factor_source = \"BISKO ...\" }, "
         "{ id = \"rad\", kind = \"cycling\", ... }, { id = \"initiative\", "
         "kind = \"action\", property = \"action_initiative\", ... } }`.  "
         "points_per: points per kWh saved, km or action; factor: kg CO2e "
         "per unit, with its source (shown on the leaderboard)."},
    {.name = "participants",
     .type = KK_OPT_TABLE,
     .description = "Pseudonymous participants: `{ { id = \"p-7f3a\", team = "
                    "\"Klasse 7b\", team_type = \"school_class\", district = "
                    "\"Lindenau\", opt_in = true } }`; only opted-in ones "
                    "count."},
    {.name = "participants_file",
     .type = KK_OPT_STRING,
     .description = "CSV (';' or ',', header line) with the columns id, "
                    "team, team_type, district, opt_in (ja/nein)."},
    {.name = "min_team",
     .type = KK_OPT_INT,
     .def = "3",
     .min = 1,
     .max = 1000,
     .description = "Teams with fewer opted-in participants are not shown "
                    "(they count in their district)."},
    {.name = "retention",
     .type = KK_OPT_DURATION,
     .def = "90d",
     .description = "The participants' readings are deleted this long after "
                    "the end of the last challenge; the leaderboard stays.  "
                    "0: kept."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_challenges_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "challenges",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Klima-Challenges: points and CO2e avoided per team and "
               "district from pseudonymous participants' readings.",
    .description =
        "Participants (pseudonyms, opt-in) in teams (school class, company, "
        "...) and districts; challenges as rules: `energy` (kWh saved "
        "against the participant's own baseline from a cumulative meter), "
        "`cycling` (km), `action` (events).  Points and kg CO2e per unit are "
        "set per rule, each factor with its source.  Emits only aggregates: "
        "`points`, `co2e_avoided` (kg) and `participants` on "
        "`team/<name>` and `district/<name>`; the dashboard's /challenges "
        "page shows teams of at least `min_team` and districts.  Readings "
        "of participants without opt-in are dropped "
        "(`kk_rejected_total{reason=\"no_opt_in\"}`); `retention` after the "
        "last challenge the participants' readings are deleted.  Results do "
        "not depend on batch order (readings are kept sorted and unique per "
        "participant).",
    .options = ch_options,
    .create = ch_create,
    .start = ch_start,
    .process = ch_process,
    .stop = ch_stop,
    .destroy = ch_destroy,
};
