/*
 * modules/calc/target.c - calc.target: a reduction path to a target year
 * (linear or through given points), the remaining budget and an on-track
 * indicator, from yearly totals (for example calc.bisko's co2e_total).
 *
 * The path is emitted for every year from the base year to the target
 * year, so that a chart reaches the target year however far the data
 * goes.  A year that calc.bisko marks provisional or incomplete
 * (`balance_status` 1 or 2) is never judged: `on_track` is emitted only
 * for final years, or for a provisional year from its stated
 * extrapolation (`co2e_total_extrapolated`, then `on_track_extrapolated`
 * = 1 says so).
 */
#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"

typedef struct point {
  int year;
  double v;
} point_t;

/* What is known of one year. */
typedef struct target_year {
  int year;
  int status;    /* balance_status; -1: none seen (totals from elsewhere) */
  double v, ext; /* total, extrapolated total (NAN: none) */
  int have_v;
} target_year_t;

typedef struct target_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_tz_t tz;
  point_t *path; /* sorted by year, base year first */
  size_t npath;
  int have_budget, budget_from;
  double budget;
  target_year_t actual[256]; /* per year (last value wins) */
  size_t nactual;
  char thing[128], unit[32]; /* of the totals (the first seen) */
  int path_emitted;
  int touched[256];
  size_t ntouched;
} target_state_t;

/* The path value for `year`: piecewise linear through the points, flat
 * before the first and after the last. */
static double calc_path_at(const point_t *p, size_t n, int year) {
  if (year <= p[0].year) return p[0].v;
  for (size_t i = 1; i < n; i++)
    if (year <= p[i].year)
      return p[i - 1].v + (p[i].v - p[i - 1].v) * (year - p[i - 1].year) /
                              (double)(p[i].year - p[i - 1].year);
  return p[n - 1].v;
}

static int cmp_point(const void *a, const void *b) {
  return ((const point_t *)a)->year - ((const point_t *)b)->year;
}

static int target_save(void *state, FILE *f) {
  target_state_t *s = state;
  for (size_t i = 0; i < s->nactual; i++) {
    const target_year_t *y = &s->actual[i];
    fprintf(f, "Y\t%d\t%d\t%d\t%.17g\t%.17g\n", y->year, y->status, y->have_v,
            y->v, y->ext);
  }
  if (s->thing[0]) fprintf(f, "N\t%s\t%s\n", s->thing, s->unit);
  return 0;
}

static target_year_t *year_of(target_state_t *s, int year) {
  for (size_t i = 0; i < s->nactual; i++)
    if (s->actual[i].year == year) return &s->actual[i];
  if (s->nactual == sizeof s->actual / sizeof s->actual[0]) return NULL;
  target_year_t *y = &s->actual[s->nactual++];
  *y = (target_year_t){year, -1, NAN, NAN, 0};
  return y;
}

static int target_load(void *state, const char *line) {
  target_state_t *s = state;
  int y, st, hv;
  double v, e;
  char th[128], un[32] = "";
  if (sscanf(line, "N\t%127[^\t]\t%31s", th, un) >= 1) {
    snprintf(s->thing, sizeof s->thing, "%s", th);
    snprintf(s->unit, sizeof s->unit, "%s", un);
    return 0;
  }
  if (sscanf(line, "Y\t%d\t%d\t%d\t%lf\t%lf", &y, &st, &hv, &v, &e) != 5)
    return KK_EPARSE;
  target_year_t *t = year_of(s, y);
  if (!t) return KK_ETOOBIG;
  *t = (target_year_t){y, st, v, e, hv};
  return 0;
}

/* The total of `year` for the budget: the actual value, or linear between
 * the nearest years with one (NAN outside them). */
static double budget_value(const target_state_t *s, int year) {
  const target_year_t *lo = NULL, *hi = NULL;
  for (size_t i = 0; i < s->nactual; i++) {
    const target_year_t *y = &s->actual[i];
    /* An incomplete year's total is a fragment, not the year's use. */
    if (!y->have_v || y->status == 2) continue;
    if (y->year == year) return y->v;
    if (y->year < year && (!lo || y->year > lo->year)) lo = y;
    if (y->year > year && (!hi || y->year < hi->year)) hi = y;
  }
  if (!lo || !hi) return NAN;
  return lo->v +
         (hi->v - lo->v) * (year - lo->year) / (double)(hi->year - lo->year);
}

static int target_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  target_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  calc_rejects_init(
      &s->rj, st, CALC_REJ_BIT(CALC_REJ_NAN) | CALC_REJ_BIT(CALC_REJ_TOO_LATE));
  int by = (int)kk_opt_int(o, "base_year"),
      ty = (int)kk_opt_int(o, "target_year");
  if (ty <= by) {
    kk_stage_error(st, "target_year (%d) must be after base_year (%d)", ty, by);
    return KK_EINVAL;
  }
  const char *pj = kk_opt_json(o, "points");
  cJSON *pts = pj ? cJSON_Parse(pj) : NULL;
  size_t np = pts ? (size_t)cJSON_GetArraySize(pts) : 0;
  s->path = calloc(np + 2, sizeof *s->path);
  if (!s->path) {
    cJSON_Delete(pts);
    return KK_ENOMEM;
  }
  s->path[s->npath++] = (point_t){by, kk_opt_double(o, "base")};
  if (kk_opt_enum(o, "path") == 1) {
    for (cJSON *c = pts ? pts->child : NULL; c; c = c->next) {
      char *end;
      long y = c->string ? strtol(c->string, &end, 10) : 0;
      if (!c->string || *end || y <= by || !cJSON_IsNumber(c)) {
        kk_stage_error(st, "points: expected { [\"2030\"] = 120000, ... } with "
                           "years after base_year");
        cJSON_Delete(pts);
        return KK_EINVAL;
      }
      s->path[s->npath++] = (point_t){(int)y, c->valuedouble};
    }
  }
  cJSON_Delete(pts);
  int has_target = 0;
  for (size_t i = 0; i < s->npath; i++)
    has_target |= s->path[i].year == ty;
  if (!has_target)
    s->path[s->npath++] = (point_t){ty, kk_opt_double(o, "target")};
  qsort(s->path, s->npath, sizeof *s->path, cmp_point);
  if (kk_opt_isset(o, "thing"))
    snprintf(s->thing, sizeof s->thing, "%s", kk_opt_str(o, "thing"));
  s->have_budget = kk_opt_isset(o, "budget");
  s->budget = kk_opt_double(o, "budget");
  s->budget_from =
      kk_opt_isset(o, "budget_from") ? (int)kk_opt_int(o, "budget_from") : by;
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), target_save,
                 target_load, s);
  return 0;
}

static int target_start(kk_stage_t *st, void *state) {
  target_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return calc_base_start(&s->base);
}

static void touch(target_state_t *s, int year) {
  for (size_t i = 0; i < s->ntouched; i++)
    if (s->touched[i] == year) return;
  if (s->ntouched < sizeof s->touched / sizeof s->touched[0])
    s->touched[s->ntouched++] = year;
}

static int push(kk_batch_t *out, int64_t t, double v, const char *thing,
                const char *prop, const char *unit) {
  /* Each value follows the year's total: a later batch replaces it. */
  kk_reading_t r = {t, v, kk_datastream_id(thing, prop, unit),
                    KK_READING_UPDATE};
  return r.ds ? kk_batch_push(out, &r) : KK_ENOMEM;
}

/* The path for every year from the base year to the target year, and the
 * interim targets (`target_milestone`). */
static int emit_path(target_state_t *s, kk_batch_t *out) {
  int rc = 0;
  for (int y = s->path[0].year; y <= s->path[s->npath - 1].year && !rc; y++)
    rc =
        push(out, calc_year_start(s->tz, y), calc_path_at(s->path, s->npath, y),
             s->thing, "target_path", s->unit);
  for (size_t i = 1; i < s->npath && !rc; i++)
    rc = push(out, calc_year_start(s->tz, s->path[i].year), s->path[i].v,
              s->thing, "target_milestone", s->unit);
  return rc;
}

static int emit_year(target_state_t *s, const target_year_t *y,
                     kk_batch_t *out) {
  int64_t t = calc_year_start(s->tz, y->year);
  const char *th = s->thing, *u = s->unit;
  double path = calc_path_at(s->path, s->npath, y->year);
  int rc = push(out, t, y->v - path, th, "target_gap", u);
  /* Inside the path's years emit_path() wrote it; outside it is flat. */
  if (!rc &&
      (y->year < s->path[0].year || y->year > s->path[s->npath - 1].year))
    rc = push(out, t, path, th, "target_path", u);
  /* An incomplete year gets no change and no budget: its total is a
   * fragment (one school's meter is not the town). */
  if (!rc && s->path[0].v != 0 && y->status != 2)
    rc = push(out, t, (y->v - s->path[0].v) / s->path[0].v * 100, th,
              "change_vs_base", "%");
  /* Judged: a final year (or one whose status nobody reports), or a
   * provisional one by its stated extrapolation; never an incomplete
   * one. */
  if (!rc && (y->status <= 0 || (y->status == 1 && isfinite(y->ext)))) {
    int ext = y->status == 1;
    rc = push(out, t, (ext ? y->ext : y->v) <= path ? 1.0 : 0.0, th, "on_track",
              "1");
    if (!rc) rc = push(out, t, ext, th, "on_track_extrapolated", "1");
  }
  if (!rc && s->have_budget && y->year >= s->budget_from && y->status != 2) {
    double used = 0;
    for (int k = s->budget_from; k <= y->year; k++) {
      double v = budget_value(s, k);
      if (isfinite(v)) used += v;
    }
    rc = push(out, t, s->budget - used, th, "remaining_budget", u);
    /* Years the rest lasts at this year's level. */
    if (!rc && y->v > 0)
      rc =
          push(out, t, (s->budget - used) / y->v, th, "budget_years_left", "a");
  }
  return rc;
}

static int target_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  target_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  const char *prop = kk_opt_str(s->opts, "property");
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  /* Absorb the whole batch first: the status of a year may come before
   * or after its total. */
  for (size_t i = 0; i < n; i++) {
    const char *p = calc_property(r[i].ds);
    int kind = strcmp(p, prop) == 0                        ? 1
               : strcmp(p, "balance_status") == 0          ? 2
               : strcmp(p, "co2e_total_extrapolated") == 0 ? 3
                                                           : 0;
    if (!kind) continue;
    if (!isfinite(r[i].value)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "%s is not a number", p);
      continue;
    }
    /* The status and the extrapolation come with (before) the total. */
    if (!s->thing[0])
      snprintf(s->thing, sizeof s->thing, "%s", calc_thing(r[i].ds));
    if (strcmp(calc_thing(r[i].ds), s->thing) != 0) continue;
    if (kind == 1 && !s->unit[0])
      snprintf(s->unit, sizeof s->unit, "%s", calc_unit(r[i].ds));
    int year = calc_year(s->tz, r[i].time_ms);
    target_year_t *y = year_of(s, year);
    if (!y) {
      calc_reject(&s->rj, CALC_REJ_TOO_LATE, &r[i],
                  "more than 256 years of totals");
      continue;
    }
    if (kind == 1) {
      y->v = r[i].value;
      y->have_v = 1;
    } else if (kind == 2) {
      y->status = (int)r[i].value;
      if (y->status != 1) y->ext = NAN;
    } else {
      y->ext = r[i].value;
    }
    touch(s, year);
  }
  if (!s->ntouched && s->path_emitted) return 0;
  kk_batch_t *out = kk_batch_new(8 * s->ntouched + 2 * 128);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  int rc = 0;
  if (s->unit[0] && !s->path_emitted) {
    rc = emit_path(s, out);
    s->path_emitted = 1;
  }
  /* A year's budget depends on every earlier year: re-emit the later
   * ones too. */
  int first = INT32_MAX;
  for (size_t i = 0; i < s->ntouched; i++)
    if (s->touched[i] < first) first = s->touched[i];
  for (size_t i = 0; i < s->nactual && !rc; i++) {
    const target_year_t *y = &s->actual[i];
    if (y->have_v && y->year >= first) rc = emit_year(s, y, out);
  }
  s->ntouched = 0;
  if (!rc) kk_stage_emit(st, out);
  kk_batch_unref(out);
  return rc;
}

static void target_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  calc_base_stop(&((target_state_t *)state)->base, cb);
}

static void target_destroy(void *state) {
  target_state_t *s = state;
  if (!s) return;
  free(s->path);
  free(s);
}

static const kk_option_t target_options[] = {
    {.name = "property",
     .type = KK_OPT_STRING,
     .def = "co2e_total",
     .description = "Observed property of the yearly totals (one reading "
                    "per year, in its local year)."},
    {.name = "base_year",
     .type = KK_OPT_INT,
     .flags = KK_OPT_REQUIRED,
     .description = "Year of the baseline (start of the path).",
     .min = 1990,
     .max = 2100},
    {.name = "base",
     .type = KK_OPT_DOUBLE,
     .flags = KK_OPT_REQUIRED,
     .description = "Total in the base year, in the unit of the totals."},
    {.name = "target_year",
     .type = KK_OPT_INT,
     .flags = KK_OPT_REQUIRED,
     .description = "Year the target is to be met (2045: climate "
                    "neutrality under the Bundes-Klimaschutzgesetz).",
     .min = 1990,
     .max = 2100},
    {.name = "target",
     .type = KK_OPT_DOUBLE,
     .def = "0",
     .description = "Total allowed in the target year."},
    {.name = "path",
     .type = KK_OPT_ENUM,
     .def = "linear",
     .choices = "linear|points",
     .description = "`linear` from base to target; `points`: straight lines "
                    "through `points` (interim targets)."},
    {.name = "points",
     .type = KK_OPT_TABLE,
     .description = "Interim targets `{ [\"2030\"] = 120000, [\"2040\"] = "
                    "40000 }`."},
    {.name = "budget",
     .type = KK_OPT_DOUBLE,
     .description = "Total budget from `budget_from` on; emits "
                    "`remaining_budget` (budget minus the totals so far)."},
    {.name = "thing",
     .type = KK_OPT_STRING,
     .description = "Thing of the totals to follow (default: the thing of "
                    "the first total seen)."},
    {.name = "budget_from",
     .type = KK_OPT_INT,
     .description = "First year counted against the budget (default: "
                    "base_year).",
     .min = 1990,
     .max = 2100},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_target_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "target",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Target path, gap, on-track indicator and remaining budget.",
    .description =
        "Emits `target_path` for every year from `base_year` to "
        "`target_year` and `target_milestone` at each interim target and the "
        "target year; for every yearly total, on the same thing and time, "
        "`target_gap` (total minus path), `change_vs_base` (% against the "
        "base year), `on_track` (1 when the total is at or below the path) "
        "with `on_track_extrapolated` and, with `budget`, "
        "`remaining_budget` (budget minus the totals from `budget_from` up "
        "to that year; years between two known totals count linearly "
        "between them) and `budget_years_left` (the rest at this year's "
        "level).  A year with `balance_status` 2 (incomplete) is never "
        "judged and gets no change or budget (nor counts against it); one "
        "with status 1 (provisional) only by "
        "`co2e_total_extrapolated`, and `on_track_extrapolated` is then 1.",
    .options = target_options,
    .create = target_create,
    .start = target_start,
    .process = target_process,
    .stop = target_stop,
    .destroy = target_destroy,
};
