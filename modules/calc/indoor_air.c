/*
 * modules/calc/indoor_air.c - calc.indoor_air: UBA indoor-air classes for
 * CO2, minutes per room and day above 1000 and 2000 ppm, and a
 * "ventilate now" event when a room moves into a worse class.
 *
 * Classes (Ad-hoc-Arbeitsgruppe Innenraumrichtwerte IRK/AOLG,
 * Bundesgesundheitsblatt 2008, as used by the Umweltbundesamt):
 *   1: below 1000 ppm (hygienically harmless)
 *   2: 1000 to 2000 ppm (conspicuous: ventilate)
 *   3: above 2000 ppm (unacceptable: ventilate now)
 *
 * With a `schedule` (lessons, office hours) the minutes count only
 * occupied time, and `minutes_occupied` says how many minutes of the day
 * were occupied and measured: the share above 1000 ppm is then one
 * division, and an empty classroom at night does not make a bad day.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"
#include "calc/calc_schedule.h"

typedef struct room {
  uint8_t state; /* 0 unknown, 1 co2, 2 other */
  uint8_t alert; /* class of the last event (with hysteresis) */
  int64_t last_t;
  uint32_t class_ds, alert_ds, m1000, m2000, mocc;
} room_t;

typedef struct ia_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_windows_t *w;
  calc_schedule_t *sched; /* NULL: every minute counts */
  double interval_min, hyst;
  int flush_at_stop;
  room_t *rooms;
  size_t nrooms;
  uint64_t batches;
  kk_ratelimit_t rl;
} ia_state_t;

int calc_co2_class(double ppm) {
  return ppm > 2000 ? 3 : ppm >= 1000 ? 2 : 1;
}

static const char *const ia_labels[4] = {
    "", "harmless", "conspicuous: ventilate", "unacceptable: ventilate now"};

static int ia_save(void *state, FILE *f) {
  ia_state_t *s = state;
  for (size_t i = 0; i < s->nrooms; i++)
    if (s->rooms[i].state == 1 && s->rooms[i].alert)
      fprintf(f, "A\t%s\t%s\t%s\t%" PRId64 "\t%d\n", calc_thing((uint32_t)i),
              calc_property((uint32_t)i), calc_unit((uint32_t)i),
              s->rooms[i].last_t, s->rooms[i].alert);
  return calc_windows_save(s->w, f);
}

static room_t *room_of(ia_state_t *s, uint32_t ds);

static int ia_load(void *state, const char *line) {
  ia_state_t *s = state;
  if (line[0] != 'A') return calc_windows_load(s->w, line);
  char thing[256], prop[256], unit[64];
  int64_t t;
  int c;
  if (sscanf(line, "A\t%255[^\t]\t%255[^\t]\t%63[^\t]\t%" SCNd64 "\t%d", thing,
             prop, unit, &t, &c) != 5)
    return KK_EPARSE;
  room_t *r = room_of(s, kk_datastream_id(thing, prop, unit));
  if (!r) return KK_ENOMEM;
  r->last_t = t;
  r->alert = (uint8_t)c;
  return 0;
}

static room_t *room_of(ia_state_t *s, uint32_t ds) {
  if (!ds || calc_grow((void **)&s->rooms, &s->nrooms, ds, sizeof *s->rooms))
    return NULL;
  room_t *r = &s->rooms[ds];
  if (r->state) return r;
  r->state = 2;
  if (strcmp(calc_property(ds), kk_opt_str(s->opts, "property")) != 0) return r;
  const char *thing = calc_thing(ds);
  r->state = 1;
  r->last_t = INT64_MIN;
  r->class_ds = kk_datastream_id(thing, "co2_class", "1");
  r->alert_ds = kk_datastream_id(thing, "co2_alert", "1");
  r->m1000 = kk_datastream_id(thing, "minutes_above_1000ppm", "min");
  r->m2000 = kk_datastream_id(thing, "minutes_above_2000ppm", "min");
  if (s->sched) r->mocc = kk_datastream_id(thing, "minutes_occupied", "min");
  return r;
}

/* Day windows are kept on the minutes datastreams themselves. */
static void ia_emit(void *ctx, uint32_t key, int p, int64_t start, int64_t end,
                    const calc_agg_t *a, kk_batch_t *out) {
  (void)ctx, (void)p, (void)end;
  kk_reading_t r = {start, a->sum, key, KK_READING_UPDATE};
  kk_batch_push(out, &r);
}

static int ia_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  ia_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  calc_rejects_init(&s->rj, st,
                    CALC_REJ_BIT(CALC_REJ_NAN) |
                        CALC_REJ_BIT(CALC_REJ_NEGATIVE) |
                        CALC_REJ_BIT(CALC_REJ_TOO_LATE));
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(60000, 20);
  s->interval_min = (double)kk_opt_duration_ms(o, "interval") / 60000.0;
  s->hyst = kk_opt_double(o, "hysteresis");
  s->flush_at_stop = kk_opt_bool(o, "flush_at_stop");
  s->w = calc_windows_new((calc_tz_t)kk_opt_enum(o, "tz"), 1u << CALC_P_DAY,
                          (int64_t)kk_opt_duration_ms(o, "lateness"), 0,
                          ia_emit, s);
  if (!s->w) return KK_ENOMEM;
  int rc =
      calc_schedule_opts(st, o, (calc_tz_t)kk_opt_enum(o, "tz"), &s->sched);
  if (rc) return rc;
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), ia_save,
                 ia_load, s);
  return 0;
}

static int ia_start(kk_stage_t *st, void *state) {
  ia_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return calc_base_start(&s->base);
}

static int ia_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  ia_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  kk_batch_t *out = kk_batch_new(n + 16);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    room_t *room = room_of(s, r[i].ds);
    if (!room) {
      rc = KK_ENOMEM;
      break;
    }
    if (room->state != 1) continue;
    double v = r[i].value;
    if (!isfinite(v)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "CO2 is not a number");
      continue;
    }
    if (v < 0) {
      calc_reject(&s->rj, CALC_REJ_NEGATIVE, &r[i], "negative CO2 %g ppm", v);
      continue;
    }
    int c = calc_co2_class(v);
    int64_t t = r[i].time_ms;
    /* Outside the schedule a reading adds 0: the day still has its
     * windows (a day without lessons reports 0 minutes, not nothing). */
    double mins = calc_schedule_active(s->sched, t) ? s->interval_min : 0;
    rc = calc_windows_add(s->w, room->m1000, t, c >= 2 ? mins : 0);
    if (!rc) rc = calc_windows_add(s->w, room->m2000, t, c >= 3 ? mins : 0);
    if (!rc && room->mocc) rc = calc_windows_add(s->w, room->mocc, t, mins);
    if (rc == KK_ERANGE) {
      calc_reject(&s->rj, CALC_REJ_TOO_LATE, &r[i],
                  "its day closed longer than `lateness` ago");
      rc = 0;
      continue;
    }
    kk_reading_t cr = {t, (double)c, room->class_ds, 0};
    if (!rc) rc = kk_batch_push(out, &cr);
    /* Events follow time order: an older reading never fires one. */
    if (rc || t <= room->last_t) continue;
    room->last_t = t;
    int a = room->alert ? room->alert : 1;
    if (c > a) {
      room->alert = (uint8_t)c;
      kk_reading_t ar = {t, (double)c, room->alert_ds, 0};
      rc = kk_batch_push(out, &ar);
      if (kk_ratelimit_ok(&s->rl))
        kk_stage_log(st, KK_LOG_INFO, "%s: CO2 %.0f ppm -> %s",
                     calc_thing(r[i].ds), v, ia_labels[c]);
    } else if (c < a) {
      /* Back down only below the threshold minus the hysteresis. */
      int down = calc_co2_class(v + s->hyst);
      if (down < a) room->alert = (uint8_t)down;
    }
  }
  if (!rc) {
    calc_windows_flush(s->w, out);
    kk_stage_emit(st, out);
  }
  kk_batch_unref(out);
  if (++s->batches % 64 == 0) calc_windows_evict(s->w);
  return rc;
}

static void ia_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  ia_state_t *s = state;
  if (s->flush_at_stop) calc_windows_emit_all(st, s->w);
  calc_base_stop(&s->base, cb);
}

static void ia_destroy(void *state) {
  ia_state_t *s = state;
  if (!s) return;
  calc_windows_free(s->w);
  calc_schedule_free(s->sched);
  free(s->rooms);
  free(s);
}

static const kk_option_t ia_options[] = {
    {.name = "property",
     .type = KK_OPT_STRING,
     .def = "co2",
     .description = "Observed property of the CO2 readings (ppm)."},
    {.name = "interval",
     .type = KK_OPT_DURATION,
     .def = "1m",
     .description = "Time one reading stands for: a reading at or above "
                    "1000 ppm adds this to `minutes_above_1000ppm`."},
    {.name = "hysteresis",
     .type = KK_OPT_DOUBLE,
     .def = "50",
     .description = "ppm below a threshold a room must fall before a new "
                    "`co2_alert` can fire for it (no alert storm at 1000 "
                    "ppm).",
     .min = 0,
     .max = 1000},
    {.name = "lateness",
     .type = KK_OPT_DURATION,
     .def = "2d",
     .description = "How long a closed day still takes late readings."},
    {.name = "flush_at_stop",
     .type = KK_OPT_BOOL,
     .def = "false",
     .description = "Emit the open day's minutes when the pipeline stops."},
    CALC_OPT_SCHEDULE,
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_indoor_air_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "indoor_air",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "UBA indoor-air classes for CO2, minutes above 1000/2000 ppm, "
               "ventilation alerts.",
    .description =
        "For every CO2 reading emits `co2_class` (1: < 1000 ppm harmless, 2: "
        "1000-2000 ppm conspicuous, 3: > 2000 ppm unacceptable; UBA / IRK "
        "2008).  Per room and local day emits `minutes_above_1000ppm` and "
        "`minutes_above_2000ppm` (unit min) when the day closes; with a "
        "`schedule` they count only occupied minutes, and "
        "`minutes_occupied` gives the occupied minutes of the day.  When a "
        "room "
        "moves into a worse class it emits `co2_alert` (the new class) and "
        "logs \"ventilate now\".",
    .options = ia_options,
    .create = ia_create,
    .start = ia_start,
    .process = ia_process,
    .stop = ia_stop,
    .destroy = ia_destroy,
};
