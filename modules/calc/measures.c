/*
 * modules/calc/measures.c - calc.measures: the measures tracker.
 *
 * Holds a catalogue of climate measures (CSV file and/or the recipe's Lua
 * table, modules/calc/calc_catalogue.h): id, Handlungsfeld, title,
 * responsible unit, partners, target group, schedule status and phase,
 * completion, planned and actual dates, planned t CO2e/a (a number or a
 * class), budget and spent, indicators, source.
 *
 * Metered impact: for a measure linked to indicator datastreams, the
 * mean yearly sum of the indicators over the baseline years minus the
 * sum of each year since the start; in t CO2e when the indicators are
 * CO2e (t, kg, g) or through the measure's `factor`.  Otherwise the
 * achieved t CO2e are what partners report.
 *
 * Partner updates arrive as JSON raw messages journaled by a source
 * (source.http with a token: journal first, 202), see calc_cat_update();
 * each update is kept with its time and author.  The state (updates,
 * yearly sums) is saved with the journal position it includes; a batch
 * that carried an update is saved at once, so a restart (or a SIGKILL
 * right after the 202) replays nothing twice and loses nothing.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"
#include "calc/calc_catalogue.h"

typedef struct measures_state {
  kk_stage_t *st;
  calc_base_t base;
  calc_rejects_t rj;
  calc_tz_t tz;
  calc_cat_t cat;
  uint8_t *seen; /* per datastream: 0 unknown, 1 feeds a measure, 2 not */
  size_t nseen;
  int updates; /* apply partner updates from raw messages */
  /* Per measure and indicator (flat, from roff[measure]): the snapshot
   * restored its latest time and no newer reading came yet (calc_replayed:
   * a simulation or file producing its history again is no error). */
  uint8_t *restored;
  size_t *roff;
  kk_metric_t *m_applied, *m_rejected;
  kk_ratelimit_t rl;
} measures_state_t;

static int measures_save(void *state, FILE *f) {
  measures_state_t *s = state;
  kk_buf_t b = {0};
  for (size_t i = 0; i < s->cat.n; i++) {
    const cat_measure_t *m = &s->cat.m[i];
    if (!m->nyears && !m->nhist && !m->updated_ms) continue;
    b.len = 0;
    calc_cat_state_json(m, &b);
    if (b.oom) break;
    fprintf(f, "C\t%s\n", b.p);
  }
  int rc = b.oom ? KK_ENOMEM : 0;
  kk_buf_free(&b);
  return rc;
}

static int measures_load(void *state, const char *line) {
  measures_state_t *s = state;
  if (strncmp(line, "C\t", 2) != 0) return KK_EPARSE;
  return calc_cat_state_load(&s->cat, line + 2);
}

/* t CO2e per indicator unit: from a CO2e unit, else the measure's
 * factor; NaN when neither. */
static double measures_t_per_unit(const cat_measure_t *m) {
  if (!isnan(m->factor)) return m->factor;
  if (!m->unit[0]) return NAN;
  if (strcmp(m->unit, "t") == 0) return 1;
  if (strcmp(m->unit, "kg") == 0) return 1e-3;
  if (strcmp(m->unit, "g") == 0) return 1e-6;
  if (strcmp(m->unit, "kt") == 0) return 1e3;
  return NAN;
}

/* Impact of every year from the baseline; returns the baseline mean
 * (NaN when no baseline year has data). */
static double measures_recompute(cat_measure_t *m) {
  double base = 0;
  int nb = 0;
  for (size_t i = 0; i < m->nyears; i++) {
    cat_year_t *y = &m->years[i];
    if (y->year >= m->base_from && y->year <= m->base_to && !isnan(y->actual)) {
      base += y->actual;
      nb++;
    }
  }
  int from = calc_cat_start_year(m);
  double k = measures_t_per_unit(m);
  for (size_t i = 0; i < m->nyears; i++) {
    cat_year_t *y = &m->years[i];
    y->impact = y->metered = NAN;
    if (!nb || isnan(y->actual) || (from && y->year < from)) continue;
    y->impact = base / nb - y->actual;
    y->metered = y->impact * k;
  }
  return nb ? base / nb : NAN;
}

static int measures_push(kk_batch_t *out, int64_t t, double v,
                         const char *thing, const char *prop,
                         const char *unit) {
  if (isnan(v)) return 0;
  kk_reading_t r = {t, v, kk_datastream_id(thing, prop, unit),
                    KK_READING_UPDATE};
  return r.ds ? kk_batch_push(out, &r) : KK_ENOMEM;
}

static int measures_emit_years(measures_state_t *s, cat_measure_t *m,
                               kk_batch_t *out) {
  double base = measures_recompute(m);
  const char *unit = m->unit[0] ? m->unit : "1";
  int from = calc_cat_start_year(m), rc = 0;
  for (size_t i = 0; i < m->nyears && !rc; i++) {
    cat_year_t *y = &m->years[i];
    if (from && y->year < from) continue;
    int64_t t = calc_year_start(s->tz, y->year);
    if (!isnan(y->impact)) {
      rc = measures_push(out, t, y->impact, m->thing, "impact", unit);
      if (!rc) rc = measures_push(out, t, y->actual, m->thing, "actual", unit);
      if (!rc) rc = measures_push(out, t, base, m->thing, "baseline", unit);
      if (!rc)
        rc = measures_push(out, t, m->expected, m->thing, "expected", unit);
    }
    double ach = calc_cat_achieved(m, y, NULL);
    if (!rc) rc = measures_push(out, t, ach, m->thing, "co2e_achieved", "t");
    if (!rc && !isnan(ach))
      rc = measures_push(out, t, calc_cat_expected(m, y->year), m->thing,
                         "co2e_expected", "t");
  }
  return rc;
}

/* The measure's state after an update, at the update's time. */
static int measures_emit_state(cat_measure_t *m, int64_t t, kk_batch_t *out) {
  int rc = measures_push(out, t, m->completion, m->thing, "completion", "%");
  if (!rc) rc = measures_push(out, t, m->status, m->thing, "status", "1");
  if (!rc) rc = measures_push(out, t, m->phase, m->thing, "phase", "1");
  if (!rc) rc = measures_push(out, t, m->spent, m->thing, "spent", "EUR");
  return rc;
}

static int measures_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  measures_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  s->updates = kk_opt_bool(o, "updates");
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 5);
  calc_rejects_init(&s->rj, st,
                    CALC_REJ_BIT(CALC_REJ_NAN) |
                        CALC_REJ_BIT(CALC_REJ_OUT_OF_ORDER));
  s->cat.name = strdup(kk_stage_name(st));
  if (!s->cat.name) return KK_ENOMEM;
  const char *csv = kk_opt_str(o, "catalogue");
  const char *tab = kk_opt_json(o, "measures");
  char err[512];
  int rc = 0;
  if (csv && (rc = calc_cat_load_csv(&s->cat, csv, err, sizeof err)) != 0) {
    kk_stage_error(st, "catalogue %s", err);
    return rc;
  }
  if (tab && (rc = calc_cat_load_json(&s->cat, tab, err, sizeof err)) != 0) {
    kk_stage_error(st, "%s", err);
    return rc;
  }
  if (!s->cat.n) {
    kk_stage_error(st, "measures: give a catalogue (CSV file) or a list of "
                       "measures { { id = \"M-01\", title = \"...\", ... } }");
    return KK_EINVAL;
  }
  s->m_applied = kk_stage_counter(st, "kk_measure_updates_total", "applied",
                                  "Partner updates of measures, by outcome");
  s->m_rejected = kk_stage_counter(st, "kk_measure_updates_total", "rejected",
                                   "Partner updates of measures, by outcome");
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), measures_save,
                 measures_load, s);
  return 0;
}

static int measures_start(kk_stage_t *st, void *state) {
  measures_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  int rc = calc_base_start(&s->base);
  if (rc) return rc;
  size_t total = 0;
  if (!(s->roff = malloc((s->cat.n + 1) * sizeof *s->roff))) return KK_ENOMEM;
  for (size_t i = 0; i < s->cat.n; i++) {
    s->roff[i] = total;
    total += s->cat.m[i].nind;
  }
  s->roff[s->cat.n] = total;
  if (total && !(s->restored = calloc(total, 1))) return KK_ENOMEM;
  for (size_t i = 0; i < s->cat.n; i++)
    for (size_t k = 0; k < s->cat.m[i].nind; k++)
      s->restored[s->roff[i] + k] = s->cat.m[i].ind_last[k] != INT64_MIN;
  for (size_t i = 0; i < s->cat.n; i++)
    measures_recompute(&s->cat.m[i]);
  calc_cat_publish(&s->cat);
  return 0;
}

/* Which indicator of measure m datastream `ds` is ("thing/property"),
 * plus one; 0 when it feeds none. */
static size_t feeds(const cat_measure_t *m, uint32_t ds) {
  const char *thing = calc_thing(ds), *prop = calc_property(ds);
  size_t tl = strlen(thing);
  for (size_t k = 0; k < m->nind; k++)
    if (strncmp(m->ind[k], thing, tl) == 0 && m->ind[k][tl] == '/' &&
        strcmp(m->ind[k] + tl + 1, prop) == 0)
      return k + 1;
  return 0;
}

static void measures_bad_update(measures_state_t *s, uint64_t seq,
                                const char *why) {
  kk_metric_add(s->m_rejected, 1);
  if (kk_ratelimit_ok(&s->rl))
    kk_stage_log(s->st, KK_LOG_WARN,
                 "update in journal record %llu ignored: %s",
                 (unsigned long long)seq, why);
}

/* A replayed update the state already holds: its readings again (the
 * sinks after this stage may not have them), nothing applied twice. */
static void measures_replay_update(measures_state_t *s, const cJSON *u,
                                   int64_t recv_ms, kk_batch_t *out) {
  const cJSON *thing = cJSON_GetObjectItemCaseSensitive(u, "thing");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(u, "id");
  const char *mid =
      cJSON_IsString(id) ? id->valuestring
      : cJSON_IsString(thing) && strncmp(thing->valuestring, "measure/", 8) == 0
          ? thing->valuestring + 8
          : NULL;
  cat_measure_t *m = mid ? calc_cat_find(&s->cat, mid) : NULL;
  if (!m) return;
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(u, "update");
  if (!cJSON_IsObject(f)) f = u;
  int64_t t = recv_ms;
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(u, "time");
  if (cJSON_IsString(ts))
    kk_time_parse_iso8601(ts->valuestring, strlen(ts->valuestring), &t);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, "completion");
  const cJSON *prop = cJSON_GetObjectItemCaseSensitive(u, "property");
  if (!cJSON_IsNumber(v) && cJSON_IsString(prop) &&
      strcmp(prop->valuestring, "completion") == 0)
    v = cJSON_GetObjectItemCaseSensitive(u, "value");
  if (cJSON_IsNumber(v))
    measures_push(out, t, v->valuedouble, m->thing, "completion", "%");
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(f, "status");
  const cJSON *ph = cJSON_GetObjectItemCaseSensitive(f, "phase");
  int k;
  if (cJSON_IsString(st) && (k = calc_cat_parse_status(st->valuestring)) >= 0)
    measures_push(out, t, k, m->thing, "status", "1");
  if (cJSON_IsString(ph) && (k = calc_cat_parse_phase(ph->valuestring)) >= 0)
    measures_push(out, t, k, m->thing, "phase", "1");
  v = cJSON_GetObjectItemCaseSensitive(f, "spent");
  if (cJSON_IsNumber(v))
    measures_push(out, t, v->valuedouble, m->thing, "spent", "EUR");
  m->touched = 1; /* and its years as they stand */
}

/* Applies the updates in one raw JSON message (replay: only re-emits
 * them); returns how many were applied. */
static int measures_raw(measures_state_t *s, const kk_raw_t *raw,
                        kk_batch_t *out, int replay) {
  if (raw->len < 8 || (!memmem(raw->data, raw->len, "measure", 7) &&
                       !memmem(raw->data, raw->len, "\"id\"", 4)))
    return 0;
  cJSON *root = cJSON_ParseWithLength((const char *)raw->data, raw->len);
  if (!root) return 0; /* not JSON: the source has said so already */
  char peer[80] = "", author[120] = "";
  kk_raw_meta_get(raw->meta, "peer", peer, sizeof peer);
  snprintf(author, sizeof author, "unbekannt (%s)", *peer ? peer : "?");
  int n = 0;
  const cJSON *one = root;
  cJSON *items = cJSON_IsArray(root) ? root->child : NULL;
  for (const cJSON *u = items ? items : one; u; u = items ? u->next : NULL) {
    const cJSON *thing = cJSON_GetObjectItemCaseSensitive(u, "thing");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(u, "id");
    int is_update =
        cJSON_IsObject(u) &&
        (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(u, "update")) ||
         cJSON_IsString(id) ||
         (cJSON_IsString(thing) &&
          strncmp(thing->valuestring, "measure/", 8) == 0));
    if (is_update && replay) {
      measures_replay_update(s, u, raw->time_ms, out);
    } else if (is_update) {
      char err[256];
      cat_measure_t *m;
      int rc = calc_cat_update(&s->cat, u, raw->time_ms, author, &m, err,
                               sizeof err);
      if (rc) {
        measures_bad_update(s, raw->seq, err);
      } else {
        kk_metric_add(s->m_applied, 1);
        m->touched = 1;
        measures_emit_state(m, m->hist[m->nhist - 1].time_ms, out);
        n++;
      }
    }
    if (!items) break;
  }
  cJSON_Delete(root);
  return n;
}

static int measures_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  measures_state_t *s = state;
  kk_batch_t *out = kk_batch_new(16);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  if (calc_base_skip(&s->base, b)) {
    /* A replay of what the state holds: the updates' readings again. */
    for (size_t i = 0; s->updates && i < kk_batch_raw_len(b); i++)
      measures_raw(s, kk_batch_raw(b, i), out, 1);
    int rc = 0;
    for (size_t k = 0; k < s->cat.n && !rc; k++)
      if (s->cat.m[k].touched) {
        s->cat.m[k].touched = 0;
        rc = measures_emit_years(s, &s->cat.m[k], out);
      }
    if (!rc) kk_stage_emit(st, out);
    kk_batch_unref(out);
    return rc;
  }
  int updated = 0;
  if (s->updates)
    for (size_t i = 0; i < kk_batch_raw_len(b); i++)
      updated += measures_raw(s, kk_batch_raw(b, i), out, 0);
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    uint32_t ds = r[i].ds;
    if (calc_grow((void **)&s->seen, &s->nseen, ds, 1)) {
      rc = KK_ENOMEM;
      break;
    }
    if (s->seen[ds] == 0) {
      s->seen[ds] = 2;
      for (size_t k = 0; k < s->cat.n; k++)
        if (feeds(&s->cat.m[k], ds)) s->seen[ds] = 1;
    }
    if (s->seen[ds] != 1) continue;
    if (!isfinite(r[i].value)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "indicator is not a number");
      continue;
    }
    int year = calc_year(s->tz, r[i].time_ms);
    for (size_t k = 0; k < s->cat.n; k++) {
      cat_measure_t *m = &s->cat.m[k];
      size_t ik = feeds(m, ds);
      if (!ik) continue;
      /* Each indicator is absorbed in time order once: a source that is
       * not journaled (a simulation, a file) produces its history again
       * after a restart, and the snapshot has counted it already. */
      if (!m->unit[0]) snprintf(m->unit, sizeof m->unit, "%s", calc_unit(ds));
      uint8_t *restored = &s->restored[s->roff[k] + ik - 1];
      if (r[i].time_ms <= m->ind_last[ik - 1]) {
        if (*restored)
          calc_replay_count(&s->rj, &r[i]);
        else
          calc_reject(&s->rj, CALC_REJ_OUT_OF_ORDER, &r[i],
                      "indicator reading not newer than the last one counted");
        continue;
      }
      *restored = 0;
      m->ind_last[ik - 1] = r[i].time_ms;
      cat_year_t *y = calc_cat_year(m, year);
      if (!y) {
        rc = KK_ETOOBIG;
        break;
      }
      y->actual = (isnan(y->actual) ? 0 : y->actual) + r[i].value;
      m->touched = 1;
    }
  }
  for (size_t k = 0; k < s->cat.n && !rc; k++)
    if (s->cat.m[k].touched) {
      s->cat.m[k].touched = 0;
      s->cat.gen++;
      rc = measures_emit_years(s, &s->cat.m[k], out);
    }
  if (!rc) kk_stage_emit(st, out);
  kk_batch_unref(out);
  /* An acknowledged update is in the journal; saving the state that
   * includes it now means a restart never depends on a snapshot taken
   * before it (a new stage holds no journal position until it saved). */
  if (updated && s->base.seq &&
      calc_snapshot_save(st, s->base.seq, measures_save, s) == 0)
    kk_stage_hold(st, s->base.seq);
  return rc;
}

static void measures_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  measures_state_t *s = state;
  calc_cat_withdraw(&s->cat);
  calc_base_stop(&s->base, cb);
}

static void measures_destroy(void *state) {
  measures_state_t *s = state;
  if (!s) return;
  calc_cat_free(&s->cat);
  free(s->seen);
  free(s->restored);
  free(s->roff);
  calc_rejects_free(&s->rj);
  free(s);
}

static const kk_option_t measures_options[] = {
    {.name = "catalogue",
     .type = KK_OPT_STRING,
     .description =
         "CSV file of the measures (';' or ',' separated, one header line; "
         "columns by name, German or English: id, handlungsfeld, titel, "
         "beschreibung, verantwortlich, partner, zielgruppe, status "
         "(im Zeitplan / verzögert / abgebrochen), phase (nicht gestartet / "
         "Planung / Umsetzung / abgeschlossen), fortschritt (%), "
         "beginn_geplant, ende_geplant, beginn, ende, minderung_t (t CO2e/a "
         "or hoch / mittel / niedrig / indirekt / keine), budget, ausgaben, "
         "indikatoren (\"thing/property|...\"), basisjahre (\"2019-2021\"), "
         "faktor (t CO2e per indicator unit), quelle, prioritaet)."},
    {.name = "measures",
     .type = KK_OPT_TABLE,
     .description =
         "Measures in the recipe (added to the catalogue), with the "
         "catalogue's column names as keys: `{ { id = \"led-schulen\", "
         "sector = \"Kommunale Gebäude\", title = \"LED in Schulen\", "
         "planned_start = 2024, planned_t = 120, indicators = { "
         "\"schule-1/co2e\" }, baseline = { from = 2021, to = 2023 } } }` "
         "(`name`, `start` and `expected` are accepted as before)."},
    {.name = "updates",
     .type = KK_OPT_BOOL,
     .def = "true",
     .description =
         "Apply partner updates: JSON messages journaled by a source "
         "upstream (source.http with a token), one object or a list, each "
         "`{\"thing\": \"measure/<id>\", \"property\": \"completion\", "
         "\"unit\": \"%\", \"value\": 60, \"time\": \"...\", \"update\": "
         "{\"author\": \"...\", \"status\": \"late\", \"phase\": "
         "\"implementation\", \"spent\": 120000, \"actual_start\": "
         "\"2025-03-01\", \"reported\": {\"2025\": 85}, \"note\": \"...\"}}`."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_measures_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "measures",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Measures tracker: catalogue, status, partner updates and "
               "measured impact.",
    .description =
        "Holds a catalogue of climate measures (`catalogue` CSV and/or "
        "`measures`) with Handlungsfeld, responsible unit, partners, target "
        "group, schedule status (on time, late, cancelled) and phase (not "
        "started, planning, implementation, completed), completion, planned "
        "and actual dates, planned t CO2e/a (number or class), budget and "
        "spent, indicators and source.  For a measure with indicators it "
        "sums them per local year and emits on thing `measure/<id>`, at the "
        "start of each year from the measure's start: `impact` (mean yearly "
        "sum over the baseline years minus the year's sum), `actual`, "
        "`baseline`, `expected` (as registered), and `co2e_achieved` / "
        "`co2e_expected` in t (metered when the indicators are CO2e or a "
        "`factor` is given, otherwise as partners report).  Partner updates "
        "(`updates`) change status, phase, completion, dates, spending and "
        "reported t CO2e; each is kept with time and author and emitted as "
        "`completion`, `status`, `phase`, `spent` at its time.  The "
        "dashboard's /measures pages and the open-data export show the "
        "catalogue.  The current year grows as the year goes on; compare "
        "whole years.",
    .options = measures_options,
    .create = measures_create,
    .start = measures_start,
    .process = measures_process,
    .stop = measures_stop,
    .destroy = measures_destroy,
};
