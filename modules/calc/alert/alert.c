/*
 * modules/calc/alert/alert.c - calc.alert: rules that turn readings into
 * events, one per episode (opened, closed).
 *
 * Threshold and mean rules run in data time: a reading decides, so a
 * replay after a restart decides the same way, and the event carries the
 * journal position of the reading that caused it.  A forwarding spool
 * skips a replayed batch it already spooled (forward_spool.c), so an
 * event fired before a crash is not sent again, and one that was not yet
 * spooled is sent after it: neither twice nor never.  Stale rules need a
 * clock (no reading comes): a timer checks them against the wall clock;
 * their events have no journal position, so the state is saved at once
 * after each of them.
 *
 * Quiet hours hold deliveries back, not episodes: an episode that opens
 * at night is kept, and its "opened" event goes out at the first time the
 * rule sees outside quiet hours, if the episode is still open then; an
 * episode that opened and closed in quiet hours is never sent (the way
 * Prometheus' Alertmanager treats mute times).
 */
#include <klimakit.h>
#include "calc/alert/alert.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct alert_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_tz_t tz;
  calc_schedule_t *quiet; /* the stage's quiet hours */
  alert_rule_t *rules;
  size_t nrules;
  int has_stale;
  uint64_t check_ms;
  int64_t started; /* wall clock at start */
  uv_timer_t timer;
  int timer_open;
  kk_stop_cb stop_cb;
  kk_buf_t scratch;
  int dirty; /* an episode changed: save the state after the batch */
  kk_ratelimit_t rl;
  kk_metric_t *m_opened, *m_closed, *m_held, *m_dropped;
} alert_state_t;

/* ---- tracks ------------------------------------------------------------ */

static alert_track_t *alert_track(alert_rule_t *r, uint32_t ds) {
  if (!ds || calc_grow((void **)&r->tr, &r->cap, ds, sizeof *r->tr))
    return NULL;
  alert_track_t *t = &r->tr[ds];
  if (t->match) return t;
  const kk_datastream_t *d = kk_datastream_get(ds);
  t->match = 2;
  if (!d || strncmp(d->property, "alert_", 6) == 0) return t;
  if (r->property && strcmp(r->property, d->property) != 0) return t;
  if (!alert_glob(r->thing, d->thing)) return t;
  char prop[256];
  snprintf(prop, sizeof prop, "alert_%s", r->name);
  if (!(t->out_ds = kk_datastream_id(d->thing, prop, "1"))) return NULL;
  t->match = 1;
  t->last_t = INT64_MIN;
  return t;
}

static int alert_quiet(const alert_rule_t *r, int64_t t) {
  return r->quiet && calc_schedule_active(r->quiet, t);
}

/* ---- events ------------------------------------------------------------ */

static int alert_emit(alert_state_t *s, kk_batch_t *out, alert_event_t *e) {
  const kk_datastream_t *d = kk_datastream_get(e->ds);
  s->dirty = 1;
  int opened = e->ev == ALERT_EV_OPENED;
  kk_metric_add(opened ? s->m_opened : s->m_closed, 1);
  if (kk_ratelimit_ok(&s->rl))
    kk_stage_log(s->st, KK_LOG_INFO, "%s %s for %s/%s", e->rule->name,
                 opened ? "opened" : "closed", d ? d->thing : "?",
                 d ? d->property : "?");
  return alert_event_push(out, e, s->tz, &s->scratch);
}

static void alert_event_init(alert_event_t *e, alert_rule_t *r, uint32_t ds,
                             const alert_track_t *t, int64_t now,
                             uint32_t flags, uint64_t seq) {
  memset(e, 0, sizeof *e);
  e->rule = r;
  e->ds = ds;
  e->out_ds = t->out_ds;
  e->now = now;
  e->flags = flags;
  e->seq = seq;
}

/* The episode of t opened at `now`: sends "opened" or holds it back. */
static int alert_open(alert_state_t *s, alert_rule_t *r, uint32_t ds,
                      alert_track_t *t, int64_t now, double v, uint32_t flags,
                      uint64_t seq, kk_batch_t *out) {
  s->dirty = 1;
  t->phase = ALERT_OPEN;
  t->opened = now;
  t->value = v;
  t->open_sent = 0;
  if (alert_quiet(r, now)) {
    if (!t->open_due && !t->close_due) r->held++;
    t->open_due = 1;
    kk_metric_add(s->m_held, 1);
    return 0;
  }
  alert_event_t e;
  alert_event_init(&e, r, ds, t, now, flags, seq);
  e.ev = ALERT_EV_OPENED;
  e.since = t->since;
  e.value = v;
  t->open_sent = 1;
  return alert_emit(s, out, &e);
}

static int alert_close(alert_state_t *s, alert_rule_t *r, uint32_t ds,
                       alert_track_t *t, int64_t end, const char *reason,
                       uint32_t flags, uint64_t seq, kk_batch_t *out) {
  s->dirty = 1;
  t->phase = ALERT_IDLE;
  if (!t->open_sent) {
    /* Opened and closed in quiet hours: nobody was told, nobody is. */
    if (t->open_due) {
      t->open_due = 0;
      if (!t->close_due && r->held) r->held--;
      kk_metric_add(s->m_dropped, 1);
    }
    return 0;
  }
  t->open_sent = 0;
  if (alert_quiet(r, end)) {
    if (!t->close_due) r->held++;
    t->close_due = 1;
    t->c_since = t->since;
    t->c_end = end;
    t->c_value = t->value;
    t->c_peak = t->peak;
    kk_metric_add(s->m_held, 1);
    return 0;
  }
  alert_event_t e;
  alert_event_init(&e, r, ds, t, end, flags, seq);
  e.ev = ALERT_EV_CLOSED;
  e.since = t->since;
  e.end = end;
  e.value = t->value;
  e.peak = t->peak;
  e.reason = reason;
  return alert_emit(s, out, &e);
}

/* Quiet hours are over for rule r at `now`: sends what they held back,
 * the previous episode's "closed" before the current one's "opened". */
static int alert_release(alert_state_t *s, alert_rule_t *r, int64_t now,
                         uint32_t flags, uint64_t seq, kk_batch_t *out) {
  int rc = 0;
  for (uint32_t ds = 1; ds < r->cap && r->held && !rc; ds++) {
    alert_track_t *t = &r->tr[ds];
    if (t->match != 1 || !(t->open_due || t->close_due)) continue;
    alert_event_t e;
    if (t->close_due) {
      alert_event_init(&e, r, ds, t, now, flags, seq);
      e.ev = ALERT_EV_CLOSED;
      e.since = t->c_since;
      e.end = t->c_end;
      e.value = t->c_value;
      e.peak = t->c_peak;
      t->close_due = 0;
      rc = alert_emit(s, out, &e);
    }
    if (!rc && t->open_due) {
      alert_event_init(&e, r, ds, t, now, flags, seq);
      e.ev = ALERT_EV_OPENED;
      e.since = t->since;
      e.value = t->value;
      t->open_due = 0;
      t->open_sent = 1;
      rc = alert_emit(s, out, &e);
    }
    r->held--;
  }
  return rc;
}

/* ---- the rules ----------------------------------------------------------- */

static int alert_exceeds(const alert_rule_t *r, double v) {
  return r->below ? v < r->limit : v > r->limit;
}
static int alert_cleared(const alert_rule_t *r, double v) {
  return r->below ? v > r->clear : v < r->clear;
}

static int alert_threshold(alert_state_t *s, alert_rule_t *r, uint32_t ds,
                           alert_track_t *t, const kk_reading_t *rd,
                           uint64_t seq, kk_batch_t *out) {
  int64_t now = rd->time_ms;
  double v = rd->value;
  if (!calc_schedule_active(r->sched, now)) {
    int rc = t->phase == ALERT_OPEN ? alert_close(s, r, ds, t, now, "schedule",
                                                  rd->flags, seq, out)
                                    : 0;
    t->phase = ALERT_IDLE;
    return rc;
  }
  if (t->phase == ALERT_OPEN) {
    if (r->below ? v < t->peak : v > t->peak) t->peak = v;
    if (!alert_cleared(r, v)) return 0;
    return alert_close(s, r, ds, t, now, NULL, rd->flags, seq, out);
  }
  if (!alert_exceeds(r, v)) {
    t->phase = ALERT_IDLE;
    return 0;
  }
  if (t->phase == ALERT_IDLE) {
    t->phase = ALERT_PENDING;
    t->since = now;
    t->peak = v;
  }
  if (r->below ? v < t->peak : v > t->peak) t->peak = v;
  /* Pending until the condition held for `duration` (0: at once). */
  if (now - t->since < r->for_ms) return 0;
  return alert_open(s, r, ds, t, now, v, rd->flags, seq, out);
}

/* A window's mean decides when a reading of a later window comes. */
static int alert_mean(alert_state_t *s, alert_rule_t *r, uint32_t ds,
                      alert_track_t *t, const kk_reading_t *rd, uint64_t seq,
                      kk_batch_t *out) {
  int64_t ws, we;
  if (!calc_schedule_active(r->sched, rd->time_ms)) return 0;
  calc_window(s->tz, r->period, rd->time_ms, &ws, &we);
  int rc = 0;
  if (t->n && ws != t->ws) {
    double mean = t->sum / (double)t->n;
    int64_t wend, wstart = t->ws;
    calc_window(s->tz, r->period, wstart, &wstart, &wend);
    if (t->phase != ALERT_OPEN && alert_exceeds(r, mean)) {
      t->since = wstart;
      t->peak = mean;
      rc = alert_open(s, r, ds, t, wend, mean, rd->flags, seq, out);
    } else if (t->phase == ALERT_OPEN) {
      if (r->below ? mean < t->peak : mean > t->peak) t->peak = mean;
      if (alert_cleared(r, mean))
        rc = alert_close(s, r, ds, t, wstart, NULL, rd->flags, seq, out);
    }
    t->n = 0;
    t->sum = 0;
  }
  if (!t->n) t->ws = ws;
  t->sum += rd->value;
  t->n++;
  return rc;
}

/* A stale rule learns that the datastream lives; an open episode ends. */
static int alert_alive(alert_state_t *s, alert_rule_t *r, uint32_t ds,
                       alert_track_t *t, const kk_reading_t *rd, uint64_t seq,
                       kk_batch_t *out) {
  int64_t now = kk_now_ms();
  int64_t seen = rd->time_ms < now ? rd->time_ms : now;
  /* A reading that arrives now shows life even when it is old (a
   * gateway's backlog, a backfill); a replayed one arrived long ago. */
  if (!(rd->flags & KK_READING_REPLAY)) seen = now;
  if (seen > t->seen) t->seen = seen;
  if (t->phase != ALERT_OPEN) return 0;
  return alert_close(s, r, ds, t, rd->time_ms, NULL, rd->flags, seq, out);
}

static int alert_reading(alert_state_t *s, const kk_reading_t *rd, uint64_t seq,
                         kk_batch_t *out) {
  int rc = 0;
  for (size_t i = 0; i < s->nrules && !rc; i++) {
    alert_rule_t *r = &s->rules[i];
    alert_track_t *t = alert_track(r, rd->ds);
    if (!t) return KK_ENOMEM;
    if (t->match != 1) continue;
    if (r->kind == ALERT_STALE) {
      rc = alert_alive(s, r, rd->ds, t, rd, seq, out);
      continue;
    }
    if (!isfinite(rd->value)) {
      calc_reject(&s->rj, CALC_REJ_NAN, rd, "rule %s: not a number", r->name);
      continue;
    }
    if (rd->time_ms <= t->last_t) {
      if (rd->time_ms < t->last_t && !calc_replayed(&s->rj, rd))
        calc_reject(&s->rj, CALC_REJ_OUT_OF_ORDER, rd,
                    "rule %s: older than the last reading", r->name);
      continue;
    }
    calc_rejects_live(&s->rj, rd->ds);
    t->last_t = rd->time_ms;
    if (rd->time_ms > r->clock) r->clock = rd->time_ms;
    /* What quiet hours held back goes first, then what this reading does. */
    if (r->held && !alert_quiet(r, r->clock))
      rc = alert_release(s, r, r->clock, rd->flags, seq, out);
    if (!rc)
      rc = r->kind == ALERT_MEAN
               ? alert_mean(s, r, rd->ds, t, rd, seq, out)
               : alert_threshold(s, r, rd->ds, t, rd, seq, out);
  }
  return rc;
}

/* An episode opened or closed: its state is saved at once, not at the next
 * `snapshot` tick, so that a crash right after an event neither forgets
 * the episode (and opens it again) nor loses the journal position that
 * replays what the state lacks. */
static void alert_persist(alert_state_t *s) {
  s->dirty = 0;
  if (calc_snapshot_save(s->st, s->base.seq, s->base.save, s) == 0 &&
      s->base.seq)
    kk_stage_hold(s->st, s->base.seq);
}

static int alert_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  alert_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  kk_batch_t *out = kk_batch_new(8);
  if (!out) return KK_ENOMEM;
  uint64_t seq = kk_batch_seq(b);
  kk_batch_set_seq(out, seq);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++)
    rc = alert_reading(s, &r[i], seq, out);
  if (!rc) kk_stage_emit(st, out);
  kk_batch_unref(out);
  if (s->dirty) alert_persist(s);
  return rc;
}

/* ---- the stale clock ------------------------------------------------------
 */

static void alert_tick(uv_timer_t *h) {
  alert_state_t *s = h->data;
  int64_t now = kk_now_ms();
  kk_batch_t *out = kk_batch_new(8);
  if (!out) return;
  int rc = 0;
  for (size_t i = 0; i < s->nrules && !rc; i++) {
    alert_rule_t *r = &s->rules[i];
    if (r->kind != ALERT_STALE) continue;
    if (now > r->clock) r->clock = now;
    if (r->held && !alert_quiet(r, now))
      rc = alert_release(s, r, now, 0, 0, out);
    int occupied = calc_schedule_active(r->sched, now);
    for (uint32_t ds = 1; ds < r->cap && !rc; ds++) {
      alert_track_t *t = &r->tr[ds];
      /* The node saw nothing while it was down: silence counts from the
       * later of the last reading and the start. */
      int64_t seen = t->seen > s->started ? t->seen : s->started;
      if (t->match != 1 || !t->seen || t->phase == ALERT_OPEN || !occupied ||
          now - seen < r->stale_ms)
        continue;
      t->since = t->seen;
      rc = alert_open(s, r, ds, t, now, NAN, 0, 0, out);
    }
  }
  /* No journal position tells a replay about these events: the state
   * that knows them is saved before anything else can happen. */
  if (kk_batch_len(out)) kk_stage_emit(s->st, out);
  kk_batch_unref(out);
  if (s->dirty) alert_persist(s);
}

/* ---- state -----------------------------------------------------------------
 */

static int alert_save(void *state, FILE *f) {
  alert_state_t *s = state;
  for (size_t i = 0; i < s->nrules; i++) {
    alert_rule_t *r = &s->rules[i];
    fprintf(f, "R\t%s\t%" PRId64 "\n", r->name, r->clock);
    for (uint32_t ds = 1; ds < r->cap; ds++) {
      alert_track_t *t = &r->tr[ds];
      if (t->match != 1 || !(t->phase || t->seen || t->n || t->close_due ||
                             t->last_t > INT64_MIN))
        continue;
      fprintf(f,
              "T\t%s\t%s\t%s\t%s\t%d %d %d %d %" PRId64 " %" PRId64 " %" PRId64
              " %.17g %.17g %" PRId64 " %" PRId64 " %.17g %" PRIu64 " %" PRId64
              " %" PRId64 " %.17g %.17g\n",
              r->name, calc_thing(ds), calc_property(ds), calc_unit(ds),
              t->phase, t->open_sent, t->open_due, t->close_due, t->last_t,
              t->since, t->opened, t->value, t->peak, t->seen, t->ws, t->sum,
              t->n, t->c_since, t->c_end, t->c_value, t->c_peak);
    }
  }
  return 0;
}

static alert_rule_t *alert_rule_named(alert_state_t *s, const char *name) {
  for (size_t i = 0; i < s->nrules; i++)
    if (strcmp(s->rules[i].name, name) == 0) return &s->rules[i];
  return NULL;
}

static int alert_load(void *state, const char *line) {
  alert_state_t *s = state;
  char name[128], thing[256], prop[256], unit[64];
  if (line[0] == 'R') {
    int64_t clock;
    if (sscanf(line, "R\t%127[^\t]\t%" SCNd64, name, &clock) != 2)
      return KK_EPARSE;
    alert_rule_t *r = alert_rule_named(s, name);
    if (r) r->clock = clock;
    return 0;
  }
  int ph, os, od, cd, k;
  alert_track_t v = {0};
  if (sscanf(line,
             "T\t%127[^\t]\t%255[^\t]\t%255[^\t]\t%63[^\t]\t%d %d %d %d "
             "%" SCNd64 " %" SCNd64 " %" SCNd64 " %lg %lg %" SCNd64 " %" SCNd64
             " %lg %" SCNu64 " %" SCNd64 " %" SCNd64 " %lg %lg%n",
             name, thing, prop, unit, &ph, &os, &od, &cd, &v.last_t, &v.since,
             &v.opened, &v.value, &v.peak, &v.seen, &v.ws, &v.sum, &v.n,
             &v.c_since, &v.c_end, &v.c_value, &v.c_peak, &k) != 21)
    return KK_EPARSE;
  alert_rule_t *r = alert_rule_named(s, name);
  if (!r) return 0; /* the recipe dropped the rule */
  uint32_t ds = kk_datastream_id(thing, prop, unit);
  alert_track_t *t = alert_track(r, ds);
  if (!t) return KK_ENOMEM;
  if (t->match != 1) return 0; /* the rule's match changed */
  calc_rejects_restored(&s->rj, ds);
  uint32_t out_ds = t->out_ds;
  *t = v;
  t->match = 1;
  t->out_ds = out_ds;
  t->phase = (uint8_t)ph;
  t->open_sent = (uint8_t)os;
  t->open_due = (uint8_t)od;
  t->close_due = (uint8_t)cd;
  if (od || cd) r->held++;
  return 0;
}

/* ---- lifecycle -------------------------------------------------------------
 */

static int alert_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  alert_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  s->check_ms = kk_opt_duration_ms(o, "check");
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(60000, 30);
  calc_rejects_init(&s->rj, st,
                    CALC_REJ_BIT(CALC_REJ_NAN) |
                        CALC_REJ_BIT(CALC_REJ_OUT_OF_ORDER));
  char err[256];
  if (kk_opt_isset(o, "quiet") &&
      calc_schedule_parse(kk_opt_str(o, "quiet"), s->tz, &s->quiet, err,
                          sizeof err)) {
    kk_stage_error(st, "quiet: %s", err);
    return KK_EINVAL;
  }
  int rc = alert_rules_parse(st, kk_opt_json(o, "rules"), s->tz, s->quiet,
                             &s->rules, &s->nrules);
  if (rc) return rc;
  for (size_t i = 0; i < s->nrules; i++) {
    alert_rule_t *r = &s->rules[i];
    if (r->kind != ALERT_STALE) continue;
    s->has_stale = 1;
    if ((uint64_t)r->stale_ms / 4 < s->check_ms)
      s->check_ms = (uint64_t)r->stale_ms / 4; /* a quarter of the shortest */
  }
  if (s->check_ms < 100) s->check_ms = 100;
  const char *help = "Alert events by what happened to them";
  s->m_opened = kk_stage_counter(st, "kk_alert_events_total", "opened", help);
  s->m_closed = kk_stage_counter(st, "kk_alert_events_total", "closed", help);
  s->m_held = kk_stage_counter(st, "kk_alert_events_total", "held", help);
  s->m_dropped = kk_stage_counter(st, "kk_alert_events_total", "dropped", help);
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), alert_save,
                 alert_load, s);
  return 0;
}

static int alert_start(kk_stage_t *st, void *state) {
  alert_state_t *s = state;
  int rc = calc_base_start(&s->base);
  s->started = kk_now_ms();
  if (rc || !s->has_stale) return rc;
  uv_timer_init(kk_stage_loop(st), &s->timer);
  s->timer.data = s;
  s->timer_open = 1;
  uv_timer_start(&s->timer, alert_tick, s->check_ms, s->check_ms);
  uv_unref((uv_handle_t *)&s->timer);
  return 0;
}

static void alert_timer_closed(uv_handle_t *h) {
  alert_state_t *s = h->data;
  calc_base_stop(&s->base, s->stop_cb);
}

static void alert_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  alert_state_t *s = state;
  (void)st;
  s->stop_cb = cb;
  if (s->timer_open) {
    s->timer_open = 0;
    uv_close((uv_handle_t *)&s->timer, alert_timer_closed);
    return;
  }
  calc_base_stop(&s->base, cb);
}

static void alert_destroy(void *state) {
  alert_state_t *s = state;
  if (!s) return;
  alert_rules_free(s->rules, s->nrules);
  calc_schedule_free(s->quiet);
  kk_buf_free(&s->scratch);
  calc_rejects_free(&s->rj);
  free(s);
}

static const kk_option_t alert_options[] = {
    {.name = "rules",
     .type = KK_OPT_TABLE,
     .flags = KK_OPT_REQUIRED,
     .description =
         "The rules, by name: `{ co2_high = { property = \"co2\", above = "
         "1000, clear = 900, duration = \"10m\", schedule = \"Mo-Fr "
         "08:00-13:30\" }, no_data = { stale = \"2h\" }, pm10_day = { "
         "property = \"pm10\", mean = \"day\", above = 50 } }`; fields in "
         "docs/guide/alerts.md."},
    {.name = "quiet",
     .type = KK_OPT_STRING,
     .description = "Quiet hours as a weekly schedule (\"Mo-Su 20:00-07:00\"): "
                    "events are held back and sent when they end, if the "
                    "episode is still open; a rule may set its own or "
                    "`quiet = false`."},
    {.name = "check",
     .type = KK_OPT_DURATION,
     .def = "1m",
     .description = "How often stale rules look for silent datastreams (at "
                    "most a quarter of the shortest `stale`)."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_alert_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "alert",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Rules that turn readings into events: thresholds with "
               "duration and occupancy, daily means, stale datastreams.",
    .description =
        "Emits one event per episode: the reading `alert_<rule>` of the "
        "thing (unit 1) with 1 at the episode's start when it opens and 0 "
        "at its end when it closes, and with it an event document (rule, "
        "thing, value, limit, start, end, a German text) that "
        "`forward.webhook` and `forward.mqtt` send along and "
        "`forward.email` mails.  Threshold rules open after the value "
        "stayed above (below) the limit for `duration` within the "
        "`schedule`, and close below `clear` (hysteresis) or when the "
        "schedule ends; mean rules judge each closed hour or day; stale "
        "rules open when a datastream that was seen sends nothing for "
        "`stale`.  Quiet hours hold deliveries back, not episodes.  State "
        "survives restarts; an episode is sent once.  See "
        "docs/guide/alerts.md.",
    .options = alert_options,
    .create = alert_create,
    .start = alert_start,
    .process = alert_process,
    .stop = alert_stop,
    .destroy = alert_destroy,
};
