/*
 * modules/calc/target.c - calc.target: a reduction path to a target year
 * (linear or through given points), the remaining budget and an on-track
 * indicator, from yearly totals (for example calc.bisko's co2e_total).
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
  point_t actual[256]; /* actual total per year (last value wins) */
  size_t nactual;
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
  for (size_t i = 0; i < s->nactual; i++)
    fprintf(f, "Y\t%d\t%.17g\n", s->actual[i].year, s->actual[i].v);
  return 0;
}

static int set_actual(target_state_t *s, int year, double v) {
  for (size_t i = 0; i < s->nactual; i++)
    if (s->actual[i].year == year) {
      s->actual[i].v = v;
      return 0;
    }
  if (s->nactual == sizeof s->actual / sizeof s->actual[0]) return KK_ETOOBIG;
  s->actual[s->nactual++] = (point_t){year, v};
  return 0;
}

static int target_load(void *state, const char *line) {
  int y;
  double v;
  if (sscanf(line, "Y\t%d\t%lf", &y, &v) != 2) return KK_EPARSE;
  return set_actual(state, y, v);
}

static int target_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  target_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  calc_rejects_init(&s->rj, st);
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

static int target_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  target_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  const char *prop = kk_opt_str(s->opts, "property");
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  kk_batch_t *out = kk_batch_new(4 * n + 1);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    if (strcmp(calc_property(r[i].ds), prop) != 0) continue;
    if (!isfinite(r[i].value)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "total is not a number");
      continue;
    }
    int year = calc_year(s->tz, r[i].time_ms);
    if ((rc = set_actual(s, year, r[i].value))) break;
    const char *thing = calc_thing(r[i].ds), *unit = calc_unit(r[i].ds);
    double path = calc_path_at(s->path, s->npath, year);
    kk_reading_t o[4] = {
        {r[i].time_ms, path, kk_datastream_id(thing, "target_path", unit), 0},
        {r[i].time_ms, r[i].value - path,
         kk_datastream_id(thing, "target_gap", unit), 0},
        {r[i].time_ms, r[i].value <= path ? 1.0 : 0.0,
         kk_datastream_id(thing, "on_track", "1"), 0},
        {0}};
    int no = 3;
    if (s->have_budget && year >= s->budget_from) {
      double used = 0;
      for (size_t k = 0; k < s->nactual; k++)
        if (s->actual[k].year >= s->budget_from && s->actual[k].year <= year)
          used += s->actual[k].v;
      o[no++] =
          (kk_reading_t){r[i].time_ms, s->budget - used,
                         kk_datastream_id(thing, "remaining_budget", unit), 0};
    }
    for (int k = 0; k < no && !rc; k++) {
      o[k].flags = KK_READING_UPDATE; /* follows the year's total */
      rc = kk_batch_push(out, &o[k]);
    }
  }
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
        "For every yearly total emits, on the same thing and time, "
        "`target_path` (the path value for that year), `target_gap` (total "
        "minus path), `on_track` (1 when the total is at or below the path) "
        "and, with `budget`, `remaining_budget` (budget minus the totals of "
        "every year from `budget_from` up to that year).",
    .options = target_options,
    .create = target_create,
    .start = target_start,
    .process = target_process,
    .stop = target_stop,
    .destroy = target_destroy,
};
