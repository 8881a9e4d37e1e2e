/*
 * modules/source/simulate.c - source.simulate: a deterministic fleet of
 * simulated school rooms.
 *
 * Every room ("room-001", "room-002", ...) has a CO2 sensor, a thermometer,
 * a hygrometer and an electricity meter.  The model is simple physics on a
 * school timetable in Europe/Berlin local time:
 *  - occupancy: lessons 08:00-13:30 on weekdays (no holidays), 5-minute
 *    changes and two 15/20-minute breaks; each room has 4-6 lessons a day;
 *  - CO2: a well-mixed mass balance, dC/dt = G/V - n (C - C_out), with
 *    ~16 L/h CO2 per pupil (children and teenagers sitting; an adult
 *    exhales ~20 L/h), the room volume V and an air change rate n that
 *    jumps when a window is opened: some rooms air at breaks, some rarely,
 *    and in a lesson the teacher opens a window for 3-6 minutes once the
 *    air is noticeably stale (each room's teacher at their own level,
 *    mostly 1100-1600 ppm, a few only at 2200 ppm, and with their own
 *    promptness), as a CO2 traffic light
 *    prompts.  Lessons therefore mostly stay below 1500 ppm, badly aired
 *    rooms still cross 1000 and 2000 ppm, and a few peak higher;
 *  - temperature: relaxes towards the heating set point (night and weekend
 *    setback in the heating season), warmed by pupils, cooled by windows;
 *  - humidity: seasonal base plus moisture from pupils;
 *  - electricity: base load plus lighting/devices while occupied, summed
 *    into a cumulative meter reading in kWh.
 *
 * Determinism: each room has its own PRNG (xoshiro256**, seeded through
 * splitmix64 from seed and room index) and its own state, stepped once per
 * interval in a fixed order (round by round, room by room).  How readings
 * are cut into batches therefore never changes the values; the same seed,
 * start and interval always give the same readings.
 *
 * Timing: readings before `start` (backfill) are produced as fast as the
 * pipeline takes them; after that one round per interval of wall time
 * (realtime) or as fast as possible.  Production runs from a uv_idle
 * handle, a few batches per loop iteration, so I/O of other stages keeps
 * flowing; a uv_timer waits for the next realtime round.
 */
#include <klimakit.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SIM_CO2, SIM_TEMP, SIM_RH, SIM_ENERGY, SIM_NQ };

static const struct {
  const char *name, *property, *unit;
} sim_quantities[SIM_NQ] = {
    {"co2", "co2", "ppm"},
    {"temperature", "air_temperature", "Cel"},
    {"humidity", "relative_humidity", "%"},
    {"energy", "energy", "kW.h"},
};

/* The school day in local minutes since midnight. */
typedef enum { SIM_LESSON, SIM_GAP, SIM_BREAK } sim_slot_kind_t;
static const struct {
  int from, to;
  sim_slot_kind_t kind;
} sim_timetable[] = {
    {480, 525, SIM_LESSON}, {525, 530, SIM_GAP},    {530, 575, SIM_LESSON},
    {575, 595, SIM_BREAK},  {595, 640, SIM_LESSON}, {640, 645, SIM_GAP},
    {645, 690, SIM_LESSON}, {690, 705, SIM_BREAK},  {705, 750, SIM_LESSON},
    {750, 765, SIM_GAP},    {765, 810, SIM_LESSON},
};
#define SIM_NSLOTS (int)(sizeof sim_timetable / sizeof sim_timetable[0])

typedef struct sim_room {
  uint64_t rng[4];
  uint32_t ds[SIM_NQ]; /* datastream ids, 0 for quantities not emitted */
  /* Constants drawn at create. */
  double gen_pp;     /* CO2 per person, ppm/h in this room's volume */
  double ach_closed; /* air changes per hour, windows shut */
  double ach_open;   /* windows wide open */
  double tilt_p, gap_p, break_p; /* chance to air in a lesson/change/break */
  double notice_ppm, react_p;    /* airing in a lesson: level, chance/min */
  double air_min;                /* minutes a window stays open then */
  double t_set, rh_off, base_kw, occ_kw;
  int pupils, lessons;
  /* State. */
  int64_t slot_key;  /* local day and timetable slot of the last decision */
  int64_t air_until; /* a window opened in a lesson closes then; 0: none */
  double lesson_ach; /* the lesson's air change with the window shut */
  double persons, ach, decay; /* decay = exp(-ach * dt) */
  int window, occupied;
  double co2, temp, rh, energy;
} sim_room_t;

/* What all rooms share in one round. */
typedef struct sim_clock {
  int64_t t_ms;
  int64_t day; /* local days since 1970 */
  int slot;    /* timetable index, -1 outside school hours */
  int school;  /* a weekday */
  double hour; /* local, fractional */
  double t_out, co2_out, rh_season, light;
  int heating;
} sim_clock_t;

typedef struct sim_state {
  kk_stage_t *st;
  sim_room_t *rooms; /* owned */
  size_t nrooms;
  int q[SIM_NQ]; /* emitted quantities, canonical order */
  int nq;
  uint64_t interval_ms, backfill_ms;
  int64_t start_ms; /* INT64_MIN: "now", fixed in start() */
  int64_t t0_ms;    /* time of round 0 */
  int realtime;
  uint64_t count, batch;
  double dt_h, k_temp_closed, k_temp_open, k_rh;
  /* Generator position: the next reading is quantity q[cur_q] of room
   * cur_room in round cur_round. */
  uint64_t cur_round;
  size_t cur_room;
  int cur_q;
  double vals[SIM_NQ]; /* the current room's values while cur_q > 0 */
  sim_clock_t clock;
  uint64_t emitted;
  /* Wall clock: sim time = start_ms + (uv_now - mono0). */
  uint64_t mono0, started_hr;
  int paused, waiting, done, stopping, handles_open;
  uv_idle_t idle;
  uv_timer_t timer;
  kk_stop_cb stop_cb;
  uint64_t resume_key; /* != 0: the position is kept (sim_pos_save) */
} sim_state_t;

/* ---- PRNG ---------------------------------------------------------- */

static uint64_t sim_splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static inline uint64_t sim_rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static inline uint64_t sim_next(uint64_t s[4]) {
  uint64_t r = sim_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = sim_rotl(s[3], 45);
  return r;
}

/* Uniform in [0, 1). */
static inline double sim_uniform(uint64_t s[4]) {
  return (double)(sim_next(s) >> 11) * 0x1.0p-53;
}

static void sim_seed(uint64_t s[4], int64_t seed, uint64_t room) {
  uint64_t x = (uint64_t)seed;
  x = sim_splitmix(&x) ^ (room * 0xd1b54a32d192ed03ull);
  for (int i = 0; i < 4; i++)
    s[i] = sim_splitmix(&x);
}

static void sim_clock_set(sim_clock_t *c, int64_t t_ms) {
  const double two_pi = 6.283185307179586;
  /* The school keeps Europe/Berlin time (klimakit/time.h has the rule, so
   * the output never depends on the host's zone database). */
  int64_t local = t_ms + (kk_tz_eu_summer(t_ms) ? 2 : 1) * KK_HOUR_MS;
  c->t_ms = t_ms;
  c->day = kk_floor_div(local, KK_DAY_MS);
  int64_t ms_of_day = local - c->day * KK_DAY_MS;
  c->hour = (double)ms_of_day / (double)KK_HOUR_MS;
  int minute = (int)(ms_of_day / KK_MINUTE_MS);
  int weekday = (int)((c->day % 7 + 7 + 3) % 7); /* 0 = Monday */
  c->school = weekday < 5;
  c->slot = -1;
  for (int i = 0; c->school && i < SIM_NSLOTS; i++)
    if (minute >= sim_timetable[i].from && minute < sim_timetable[i].to)
      c->slot = i;
  int64_t year;
  unsigned month, mday;
  kk_civil_from_days(c->day, &year, &month, &mday);
  double doy = (double)(c->day - kk_days_from_civil(year, 1, 1));
  double season = cos(two_pi * (doy - 20.0) / 365.25); /* 1 in January */
  double mean_out = 9.5 - 8.5 * season;
  c->t_out = mean_out + 3.5 * cos(two_pi * (c->hour - 15.0) / 24.0);
  c->heating = mean_out < 13.0;
  c->co2_out = 420.0 + 8.0 * cos(two_pi * (c->hour - 5.0) / 24.0);
  c->rh_season = 47.0 - 7.0 * season;
  c->light = 0.75 + 0.25 * season;
}

/* ---- the room model ------------------------------------------------ */

static void sim_room_init(sim_state_t *s, sim_room_t *r, size_t index,
                          int64_t seed) {
  uint64_t *g = r->rng;
  sim_seed(g, seed, index);
  double volume = 160.0 + 80.0 * sim_uniform(g); /* m3: 55-80 m2 x 3 m */
  r->pupils = 18 + (int)(13.0 * sim_uniform(g));
  /* 16 L/h per pupil, +-15% for age and activity, as ppm/h in V. */
  r->gen_pp = 0.016 * (0.85 + 0.3 * sim_uniform(g)) / volume * 1e6;
  double u = sim_uniform(g);
  r->ach_closed = 0.5 + 2.5 * u * u; /* most rooms leak little */
  r->ach_open = 6.0 + 9.0 * sim_uniform(g);
  r->tilt_p = 0.3 * sim_uniform(g);
  r->gap_p = 0.5 * sim_uniform(g);
  r->break_p = 0.3 + 0.65 * sim_uniform(g);
  r->t_set = 20.5 + 1.3 * sim_uniform(g);
  r->rh_off = -2.0 + 4.0 * sim_uniform(g);
  r->base_kw = 0.1 + 0.4 * sim_uniform(g);
  r->occ_kw = 0.6 + 1.9 * sim_uniform(g);
  r->lessons = 4 + (int)(3.0 * sim_uniform(g));
  u = sim_uniform(g);
  r->notice_ppm = 1100.0 + 1100.0 * u * u; /* a few notice late */
  r->react_p = 0.03 + 0.3 * sim_uniform(g);
  r->air_min = 3.0 + 3.0 * sim_uniform(g);
  r->slot_key = INT64_MIN;
  r->co2 = 420.0 + 20.0 * sim_uniform(g);
  r->temp = 19.5 + sim_uniform(g);
  r->rh = 42.0 + 6.0 * sim_uniform(g);
  r->energy = 1000.0 + 40000.0 * sim_uniform(g);
  r->ach = r->ach_closed;
  r->decay = exp(-r->ach * s->dt_h);
}

/* Decides who is in the room and whether a window is open, once per
 * timetable slot. */
static void sim_room_decide(sim_state_t *s, sim_room_t *r,
                            const sim_clock_t *c) {
  uint64_t *g = r->rng;
  int slot = c->slot;
  /* Lessons sit at even slots; a change or break counts with the lesson
   * before it. */
  int lesson = slot < 0 ? -1 : slot / 2;
  r->slot_key = c->day * 32 + slot + 1;
  r->window = 0;
  r->air_until = 0;
  if (slot < 0 || lesson >= r->lessons) {
    r->persons = 0;
    r->occupied = 0;
    r->ach = r->ach_closed * 0.7; /* ventilation off, doors shut */
  } else if (sim_timetable[slot].kind == SIM_LESSON) {
    r->persons = r->pupils * (0.85 + 0.15 * sim_uniform(g)) + 1.0;
    r->occupied = 1;
    /* A tilted window adds some air exchange but barely cools. */
    int tilted = sim_uniform(g) < r->tilt_p;
    r->ach = tilted ? r->ach_closed + 1.5 : r->ach_closed;
    r->lesson_ach = r->ach;
  } else if (sim_timetable[slot].kind == SIM_GAP) {
    r->occupied = 1; /* pupils stay for the next lesson */
    r->window = sim_uniform(g) < r->gap_p;
    r->ach = r->window ? r->ach_open : r->ach_closed;
  } else { /* break: most pupils leave */
    r->persons = r->pupils * 0.15 * sim_uniform(g);
    r->occupied = 1;
    r->window = sim_uniform(g) < r->break_p;
    r->ach = r->window ? r->ach_open : r->ach_closed;
  }
  r->decay = exp(-r->ach * s->dt_h);
}

static inline double sim_tri(uint64_t *g) {
  uint64_t x = sim_next(g);
  return ((double)(x & 0xffff) + (double)((x >> 16) & 0xffff)) / 65536.0 - 1.0;
}

/* Rounds to 1/scale; dividing last gives the double nearest to the
 * decimal, which prints short. */
static inline double sim_round(double v, double scale) {
  return floor(v * scale + 0.5) / scale;
}

/* In a lesson: a window opened when the air got stale closes after its
 * minutes; one is opened (at the room's promptness per minute) once CO2
 * passes the teacher's level. */
static void sim_room_air(sim_state_t *s, sim_room_t *r, const sim_clock_t *c) {
  if (r->air_until) {
    if (c->t_ms < r->air_until) return;
    r->air_until = 0;
    r->window = 0;
    r->ach = r->lesson_ach;
  } else if (r->co2 > r->notice_ppm &&
             sim_uniform(r->rng) <
                 1.0 - pow(1.0 - r->react_p, s->dt_h * 60.0)) {
    r->window = 1;
    r->ach = r->ach_open;
    r->air_until = c->t_ms + (int64_t)(r->air_min * KK_MINUTE_MS);
  } else {
    return;
  }
  r->decay = exp(-r->ach * s->dt_h);
}

/* Advances one room by one interval and writes its readings to out[]. */
static void sim_room_step(sim_state_t *s, sim_room_t *r, const sim_clock_t *c,
                          double *out) {
  if (r->slot_key != c->day * 32 + c->slot + 1)
    sim_room_decide(s, r, c);
  else if (c->slot >= 0 && sim_timetable[c->slot].kind == SIM_LESSON &&
           r->persons > 0)
    sim_room_air(s, r, c);
  double css = c->co2_out + r->persons * r->gen_pp / r->ach;
  r->co2 = css + (r->co2 - css) * r->decay;

  double target;
  if (c->heating)
    target = (c->school && c->hour >= 6.0 && c->hour < 16.0) ? r->t_set : 19.0;
  else
    target = fmin(fmax(19.5 + 0.3 * (c->t_out - 12.0), 19.5), 22.0);
  target += r->persons * 0.05;
  if (r->window) target -= (target - c->t_out) * 0.15;
  r->temp +=
      (target - r->temp) * (r->window ? s->k_temp_open : s->k_temp_closed);

  double rh_target = c->rh_season + r->rh_off;
  rh_target += r->window ? -3.0 : fmin(5.0, r->persons * 0.4 / r->ach);
  r->rh += (rh_target - r->rh) * s->k_rh;

  r->energy +=
      (r->base_kw + (r->occupied ? r->occ_kw * c->light : 0.0)) * s->dt_h;

  double v = sim_round(r->co2 + 12.0 * sim_tri(r->rng), 1.0);
  out[SIM_CO2] = fmin(fmax(v, 400.0), 5000.0); /* an NDIR sensor's range */
  out[SIM_TEMP] = sim_round(r->temp + 0.1 * sim_tri(r->rng), 10.0);
  v = sim_round(r->rh + 0.5 * sim_tri(r->rng), 10.0);
  out[SIM_RH] = fmin(fmax(v, 20.0), 80.0);
  out[SIM_ENERGY] = sim_round(r->energy, 1000.0);
}

/* ---- production ---------------------------------------------------- */

static void sim_idle_cb(uv_idle_t *h);
static void sim_pos_save(struct sim_state *s);

/* Simulated "now": rounds up to this time may be produced. */
static int64_t sim_allowed_ms(sim_state_t *s) {
  if (!s->realtime) return INT64_MAX;
  return s->start_ms + (int64_t)(uv_now(kk_stage_loop(s->st)) - s->mono0);
}

static void sim_finish(sim_state_t *s) {
  s->done = 1;
  uv_idle_stop(&s->idle);
  uv_timer_stop(&s->timer);
  double secs = (double)(uv_hrtime() - s->started_hr) / 1e9;
  kk_stage_log(s->st, KK_LOG_INFO,
               "count reached: %llu readings in %.3f s (%.0f readings/s); "
               "stopped producing",
               (unsigned long long)s->emitted, secs,
               secs > 0 ? (double)s->emitted / secs : 0.0);
  kk_stage_eof(s->st); /* may stop this stage before it returns */
}

static void sim_timer_cb(uv_timer_t *h) {
  sim_state_t *s = h->data;
  s->waiting = 0;
  if (!s->paused && !s->done && !s->stopping)
    uv_idle_start(&s->idle, sim_idle_cb);
}

/* Fills and emits one batch.  Returns 0 when it could go on, 1 when it
 * has to wait for wall time or the count is reached. */
static int sim_produce_batch(sim_state_t *s) {
  kk_batch_t *b = kk_batch_new(s->batch);
  if (!b) {
    kk_stage_log(s->st, KK_LOG_ERROR, "out of memory for a batch");
    return 1;
  }
  int rc = 0;
  size_t n = 0;
  while (n < s->batch) {
    if (s->count && s->emitted + n >= s->count) {
      rc = 1;
      break;
    }
    if (s->cur_q == 0 && s->cur_room == 0) {
      int64_t t = s->t0_ms + (int64_t)(s->cur_round * s->interval_ms);
      int64_t allowed = sim_allowed_ms(s);
      if (t > allowed) {
        if (!s->waiting) sim_pos_save(s);
        s->waiting = 1;
        uv_timer_start(&s->timer, sim_timer_cb, (uint64_t)(t - allowed), 0);
        rc = 1;
        break;
      }
      sim_clock_set(&s->clock, t);
    }
    if (s->cur_q == 0)
      sim_room_step(s, &s->rooms[s->cur_room], &s->clock, s->vals);
    int q = s->q[s->cur_q];
    kk_reading_t r = {.time_ms = s->clock.t_ms,
                      .value = s->vals[q],
                      .ds = s->rooms[s->cur_room].ds[q],
                      .flags = 0};
    if (kk_batch_push(b, &r) != 0) {
      kk_stage_log(s->st, KK_LOG_ERROR, "out of memory filling a batch");
      rc = 1;
      break;
    }
    n++;
    if (++s->cur_q == s->nq) {
      s->cur_q = 0;
      if (++s->cur_room == s->nrooms) {
        s->cur_room = 0;
        s->cur_round++;
      }
    }
  }
  if (n > 0) {
    s->emitted += n;
    kk_stage_emit(s->st, b);
  }
  kk_batch_unref(b);
  if (s->count && s->emitted >= s->count && !s->done) sim_finish(s);
  return rc;
}

/* A few batches per loop iteration: enough to amortise the iteration,
 * little enough that sockets of other stages are served every ~ms. */
static void sim_idle_cb(uv_idle_t *h) {
  sim_state_t *s = h->data;
  uint64_t budget = 65536;
  for (int i = 0; i < 64 && budget > 0; i++) {
    if (s->paused || s->done || s->stopping) break;
    int rc = sim_produce_batch(s);
    if (rc != 0) break;
    budget = budget > s->batch ? budget - s->batch : 0;
  }
  if (!s->stopping && (s->paused || s->done || s->waiting))
    uv_idle_stop(&s->idle);
}

/* ---- resuming after a restart (backfill cursor) -------------------- */

/* With start = "now", realtime and no count, the generator's position is
 * kept in the stage's directory: after a restart the demo goes on from
 * where it stopped (the time it was down is produced first, as fast as
 * the pipeline takes it) instead of producing the backfill again from a
 * new start, whose readings would be a second, conflicting copy in an
 * appending sink.  The rooms are advanced to that position without
 * emitting, so every value is the one an uninterrupted run gives.  The
 * key ties the file to seed (through room 1's generator), rooms,
 * interval and quantities. */
static void sim_pos_path(sim_state_t *s, char *buf, size_t len) {
  const char *dir = kk_stage_data_dir(s->st);
  snprintf(buf, len, "%s/position", dir ? dir : ".");
}

static uint64_t sim_pos_key(const sim_state_t *s) {
  uint64_t k = s->nrooms ? s->rooms[0].rng[0] : 0;
  k ^= (uint64_t)s->nrooms * 0x9e3779b97f4a7c15ull;
  k ^= s->interval_ms << 20;
  for (int i = 0; i < s->nq; i++)
    k ^= (uint64_t)(s->q[i] + 1) << (4 * i);
  return k;
}

static int sim_resumable(const sim_state_t *s) {
  return s->realtime && s->count == 0 && kk_stage_data_dir(s->st);
}

static void sim_pos_save(sim_state_t *s) {
  if (!s->resume_key) return;
  char path[4200], tmp[4300];
  sim_pos_path(s, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (kk_mkdirs(path, 1) != 0) return;
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "klimakit-simulate 1 %llu %lld %llu\n",
          (unsigned long long)s->resume_key, (long long)s->t0_ms,
          (unsigned long long)s->cur_round);
  if (fclose(f) == 0)
    rename(tmp, path);
  else
    remove(tmp);
}

/* In start, once t0 is known: continues from a saved position. */
static void sim_pos_resume(sim_state_t *s) {
  s->resume_key = sim_pos_key(s);
  char path[4200];
  sim_pos_path(s, path, sizeof path);
  FILE *f = fopen(path, "r");
  if (!f) return;
  unsigned long long key = 0, round = 0;
  long long t0 = 0;
  int n = fscanf(f, "klimakit-simulate 1 %llu %lld %llu", &key, &t0, &round);
  fclose(f);
  if (n != 3 || key != s->resume_key || t0 > s->t0_ms ||
      (t0 - s->t0_ms) % (long long)s->interval_ms != 0) {
    kk_stage_log(s->st, KK_LOG_INFO,
                 "%s is from other settings: starting afresh", path);
    return;
  }
  /* Down longer than the backfill: go on from the backfill's start. */
  uint64_t first = (uint64_t)((s->t0_ms - t0) / (long long)s->interval_ms);
  if (round < first) round = first;
  s->t0_ms = t0;
  for (uint64_t k = 0; k < round; k++) {
    sim_clock_set(&s->clock, s->t0_ms + (int64_t)(k * s->interval_ms));
    for (size_t i = 0; i < s->nrooms; i++)
      sim_room_step(s, &s->rooms[i], &s->clock, s->vals);
  }
  s->cur_round = round;
  char at[KK_TIME_ISO_MAX];
  kk_time_format_iso8601(s->t0_ms + (int64_t)(round * s->interval_ms), at);
  kk_stage_log(s->st, KK_LOG_INFO,
               "continuing from %s (round %llu, position in %s), not "
               "producing the backfill again",
               at, round, path);
}

/* ---- module callbacks ---------------------------------------------- */

static int sim_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  sim_state_t *s = calloc(1, sizeof *s);
  if (!s) goto nomem;
  *state = s;
  s->st = st;
  s->nrooms = (size_t)kk_opt_int(opts, "sensors");
  s->interval_ms = kk_opt_duration_ms(opts, "interval");
  s->backfill_ms = kk_opt_duration_ms(opts, "backfill");
  s->realtime = kk_opt_bool(opts, "realtime");
  s->count = (uint64_t)kk_opt_int(opts, "count");
  s->batch = (uint64_t)kk_opt_int(opts, "batch");
  if (s->interval_ms == 0) {
    kk_stage_error(st, "interval must be at least 1ms");
    return KK_ERANGE;
  }
  const char *start = kk_opt_str(opts, "start");
  s->start_ms = INT64_MIN;
  if (start && strcmp(start, "now") != 0 &&
      kk_time_parse_text(start, strlen(start), &s->start_ms) != 0) {
    kk_stage_error(st,
                   "start '%s' is neither \"now\" nor an ISO 8601 date-time "
                   "with zone (2026-11-23T07:00:00Z)",
                   start);
    return KK_EPARSE;
  }
  int want[SIM_NQ] = {0};
  size_t nl = kk_opt_list_len(opts, "quantities");
  for (size_t i = 0; i < nl; i++) {
    const char *name = kk_opt_list_item(opts, "quantities", i);
    int k = 0;
    while (k < SIM_NQ && strcmp(name, sim_quantities[k].name) != 0)
      k++;
    if (k == SIM_NQ) {
      kk_stage_error(st,
                     "unknown quantity '%s' (expected co2, temperature, "
                     "humidity or energy)",
                     name);
      return KK_EUNKNOWN;
    }
    want[k] = 1;
  }
  for (int k = 0; k < SIM_NQ; k++)
    if (want[k] || nl == 0) s->q[s->nq++] = k;

  const double dt_h = (double)s->interval_ms / (double)KK_HOUR_MS;
  s->dt_h = dt_h;
  s->k_temp_closed = 1.0 - exp(-dt_h / 1.5);
  s->k_temp_open = 1.0 - exp(-dt_h / 0.3);
  s->k_rh = 1.0 - exp(-dt_h / 1.0);
  s->rooms = calloc(s->nrooms, sizeof *s->rooms);
  if (!s->rooms) goto nomem;
  int64_t seed = kk_opt_int(opts, "seed");
  for (size_t i = 0; i < s->nrooms; i++) {
    sim_room_t *r = &s->rooms[i];
    sim_room_init(s, r, i, seed);
    char thing[32];
    snprintf(thing, sizeof thing, "room-%03zu", i + 1);
    for (int k = 0; k < s->nq; k++) {
      int q = s->q[k];
      r->ds[q] = kk_datastream_id(thing, sim_quantities[q].property,
                                  sim_quantities[q].unit);
      if (r->ds[q] == 0) goto nomem;
    }
  }
  return 0;
nomem:
  kk_stage_error(st, "out of memory");
  return KK_ENOMEM;
}

static int sim_start(kk_stage_t *st, void *state) {
  sim_state_t *s = state;
  uv_loop_t *loop = kk_stage_loop(st);
  int64_t now = kk_now_ms();
  int from_now = s->start_ms == INT64_MIN;
  if (s->start_ms == INT64_MIN)
    s->start_ms =
        kk_floor_div(now, (int64_t)s->interval_ms) * (int64_t)s->interval_ms;
  /* Round 0 lies a whole number of intervals before start, so that a
   * round falls exactly on start. */
  s->t0_ms =
      s->start_ms - (int64_t)(s->backfill_ms / s->interval_ms * s->interval_ms);
  if (from_now && sim_resumable(s)) sim_pos_resume(s);
  /* With start = now the simulated clock is the wall clock; with a fixed
   * start it runs from there at wall-clock speed. */
  s->mono0 = uv_now(loop);
  if (now > s->start_ms && now - s->start_ms < (int64_t)s->interval_ms)
    s->mono0 -= (uint64_t)(now - s->start_ms);
  s->started_hr = uv_hrtime();
  uv_idle_init(loop, &s->idle);
  uv_timer_init(loop, &s->timer);
  s->idle.data = s->timer.data = s;
  s->handles_open = 2;
  char from[KK_TIME_ISO_MAX], at[KK_TIME_ISO_MAX];
  kk_time_format_iso8601(s->t0_ms, from);
  kk_time_format_iso8601(s->start_ms, at);
  kk_stage_log(
      st, KK_LOG_INFO,
      "%zu rooms x %d quantities every %llu ms from %s (start %s), %s%s",
      s->nrooms, s->nq, (unsigned long long)s->interval_ms, from, at,
      s->realtime ? "then in real time" : "as fast as possible",
      s->count ? ", stopping after count" : "");
  s->paused = kk_stage_paused(st);
  if (!s->paused) uv_idle_start(&s->idle, sim_idle_cb);
  return 0;
}

static void sim_pause(kk_stage_t *st, void *state) {
  (void)st;
  sim_state_t *s = state;
  s->paused = 1;
  if (s->handles_open) uv_idle_stop(&s->idle);
}

static void sim_resume(kk_stage_t *st, void *state) {
  (void)st;
  sim_state_t *s = state;
  s->paused = 0;
  if (s->handles_open && !s->done && !s->stopping && !s->waiting)
    uv_idle_start(&s->idle, sim_idle_cb);
}

static void sim_close_cb(uv_handle_t *h) {
  sim_state_t *s = h->data;
  if (--s->handles_open == 0 && s->stop_cb) s->stop_cb(s->st);
}

static void sim_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  sim_state_t *s = state;
  s->stopping = 1;
  if (s->handles_open) sim_pos_save(s);
  if (s->handles_open == 0) { /* never started */
    cb(st);
    return;
  }
  s->stop_cb = cb;
  uv_close((uv_handle_t *)&s->idle, sim_close_cb);
  uv_close((uv_handle_t *)&s->timer, sim_close_cb);
}

static void sim_destroy(void *state) {
  sim_state_t *s = state;
  if (!s) return;
  free(s->rooms);
  free(s);
}

static const kk_option_t sim_options[] = {
    {.name = "sensors",
     .type = KK_OPT_INT,
     .def = "10",
     .description = "Number of simulated rooms (room-001, room-002, ...), "
                    "each with the chosen quantities.",
     .min = 1,
     .max = 100000},
    {.name = "seed",
     .type = KK_OPT_INT,
     .def = "1",
     .description = "PRNG seed: the same seed, start and interval always "
                    "give the same readings."},
    {.name = "interval",
     .type = KK_OPT_DURATION,
     .def = "60s",
     .description = "Simulated time between two readings of one room."},
    {.name = "start",
     .type = KK_OPT_STRING,
     .def = "now",
     .description = "Simulated time of the first live round: \"now\" or an "
                    "ISO 8601 date-time with zone (2026-11-23T07:00:00Z)."},
    {.name = "backfill",
     .type = KK_OPT_DURATION,
     .def = "0s",
     .description = "Simulated history before start, produced first and as "
                    "fast as the pipeline takes it."},
    {.name = "realtime",
     .type = KK_OPT_BOOL,
     .def = "true",
     .description = "After the backfill, one round per interval of wall "
                    "time; false: as fast as possible (benchmarks)."},
    {.name = "count",
     .type = KK_OPT_INT,
     .def = "0",
     .description = "Stop after this many readings in total (0: never).",
     .min = 0,
     .max = 9.0e15},
    {.name = "batch",
     .type = KK_OPT_INT,
     .def = "1024",
     .description = "Readings per batch.",
     .min = 1,
     .max = 1048576},
    {.name = "quantities",
     .type = KK_OPT_LIST,
     .def = "co2,temperature,humidity,energy",
     .description = "Which quantities each room reports: co2 (ppm), "
                    "temperature (Cel), humidity (%), energy (cumulative "
                    "kW.h)."},
    {NULL}};

const kk_module_t source_simulate_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "simulate",
    .ns = "source",
    .kind = KK_KIND_SOURCE,
    .summary = "A deterministic fleet of simulated school rooms.",
    .description =
        "Simulates `sensors` school rooms (things `room-001`, ...) with the "
        "datastreams `co2` (ppm), `air_temperature` (Cel), "
        "`relative_humidity` (%) and `energy` (kW.h, a cumulative meter "
        "reading).  The model follows a school timetable in Europe/Berlin "
        "local time (lessons 08:00-13:30 on weekdays, breaks, no holidays): "
        "CO2 from a mass balance with ~20 L/h per pupil, room volume and air "
        "change rate, falling when windows are opened at breaks, so that "
        "poorly aired rooms pass 1000 and 2000 ppm; temperature 19-23 Cel "
        "from heating and occupancy; humidity 35-60 %; electricity as base "
        "load plus occupancy load.  Output is deterministic: the same seed, "
        "start and interval give the same readings however they are "
        "batched.  History (`backfill`) is produced as fast as the pipeline "
        "takes it, then one round per `interval` of wall time, or as fast as "
        "possible with `realtime = false` (for benchmarks; use `count` to "
        "stop).  Not journaled: the readings can always be produced again.",
    .options = sim_options,
    .create = sim_create,
    .start = sim_start,
    .pause = sim_pause,
    .resume = sim_resume,
    .stop = sim_stop,
    .destroy = sim_destroy,
};
