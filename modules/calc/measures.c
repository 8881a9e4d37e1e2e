/*
 * modules/calc/measures.c - calc.measures: a registry of climate
 * measures (name, sector, start, expected yearly reduction, indicator
 * datastreams, baseline period) and their measured impact: the mean
 * yearly sum of the indicators in the baseline years minus the sum in
 * each year since the start.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"

#define MAX_YEARS 128

typedef struct measure {
  char *name, *sector, *thing;
  int start, base_from, base_to;
  double expected;
  char **ind; /* "thing/property" */
  size_t nind;
  int years[MAX_YEARS];
  double sums[MAX_YEARS];
  size_t nyears;
  const char *unit; /* of the indicators (the first one seen) */
  int touched;
} measure_t;

typedef struct measures_state {
  kk_stage_t *st;
  calc_base_t base;
  calc_rejects_t rj;
  calc_tz_t tz;
  measure_t *m;
  size_t nm;
  uint8_t *seen; /* per datastream: 0 unknown, 1 feeds a measure, 2 not */
  size_t nseen;
} measures_state_t;

static double *year_slot(measure_t *m, int year) {
  for (size_t i = 0; i < m->nyears; i++)
    if (m->years[i] == year) return &m->sums[i];
  if (m->nyears == MAX_YEARS) return NULL;
  m->years[m->nyears] = year;
  m->sums[m->nyears] = 0;
  return &m->sums[m->nyears++];
}

static int measures_save(void *state, FILE *f) {
  measures_state_t *s = state;
  for (size_t i = 0; i < s->nm; i++)
    for (size_t k = 0; k < s->m[i].nyears; k++)
      fprintf(f, "Y\t%zu\t%d\t%.17g\n", i, s->m[i].years[k], s->m[i].sums[k]);
  return 0;
}

static int measures_load(void *state, const char *line) {
  measures_state_t *s = state;
  size_t i;
  int y;
  double v;
  if (sscanf(line, "Y\t%zu\t%d\t%lf", &i, &y, &v) != 3 || i >= s->nm)
    return KK_EPARSE;
  double *p = year_slot(&s->m[i], y);
  if (!p) return KK_ETOOBIG;
  *p = v;
  return 0;
}

static char *measures_dup(const char *x) {
  size_t n = strlen(x) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, x, n);
  return d;
}

static int jint(const cJSON *o, const char *k, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (cJSON_IsNumber(v)) {
    *out = (int)v->valuedouble;
    return 1;
  }
  if (cJSON_IsString(v) && strlen(v->valuestring) >= 4) { /* "2024-03-01" */
    *out = atoi(v->valuestring);
    return *out > 0;
  }
  return 0;
}

static int measures_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  measures_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  calc_rejects_init(&s->rj, st);
  cJSON *root = cJSON_Parse(kk_opt_json(o, "measures"));
  int n = cJSON_IsArray(root) ? cJSON_GetArraySize(root) : -1;
  if (n <= 0) {
    cJSON_Delete(root);
    kk_stage_error(st, "measures: expected a list of measures { { name = "
                       "..., start = 2024, indicators = { ... }, baseline = "
                       "{ from = 2019, to = 2021 } } }");
    return KK_EINVAL;
  }
  s->m = calloc((size_t)n, sizeof *s->m);
  if (!s->m) {
    cJSON_Delete(root);
    return KK_ENOMEM;
  }
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    const cJSON *j = cJSON_GetArrayItem(root, i);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *ind = cJSON_GetObjectItemCaseSensitive(j, "indicators");
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(j, "baseline");
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(j, "sector");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expected");
    measure_t *m = &s->m[s->nm++];
    if (!cJSON_IsString(name) || !jint(j, "start", &m->start) ||
        !cJSON_IsArray(ind) || !cJSON_GetArraySize(ind) ||
        !jint(bl, "from", &m->base_from) || !jint(bl, "to", &m->base_to) ||
        m->base_to < m->base_from) {
      kk_stage_error(st,
                     "measures[%d]: needs name, start (year or date), "
                     "indicators = { \"thing/property\", ... } and baseline = "
                     "{ from = year, to = year }",
                     i + 1);
      rc = KK_EINVAL;
      break;
    }
    m->name = measures_dup(name->valuestring);
    m->sector = measures_dup(cJSON_IsString(sec) ? sec->valuestring : "");
    m->expected = cJSON_IsNumber(exp) ? exp->valuedouble : NAN;
    char thing[300];
    snprintf(thing, sizeof thing, "measure/%s", name->valuestring);
    m->thing = measures_dup(thing);
    m->nind = (size_t)cJSON_GetArraySize(ind);
    m->ind = calloc(m->nind, sizeof *m->ind);
    if (!m->name || !m->sector || !m->thing || !m->ind) {
      rc = KK_ENOMEM;
      break;
    }
    for (size_t k = 0; k < m->nind; k++) {
      const cJSON *x = cJSON_GetArrayItem(ind, (int)k);
      if (!cJSON_IsString(x) || !strchr(x->valuestring, '/')) {
        kk_stage_error(st,
                       "measures[%d].indicators[%zu]: expected "
                       "\"thing/property\"",
                       i + 1, k + 1);
        rc = KK_EINVAL;
        break;
      }
      if (!(m->ind[k] = measures_dup(x->valuestring))) rc = KK_ENOMEM;
    }
  }
  cJSON_Delete(root);
  if (rc) return rc;
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), measures_save,
                 measures_load, s);
  return 0;
}

static int measures_start(kk_stage_t *st, void *state) {
  measures_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return calc_base_start(&s->base);
}

/* Does datastream `ds` feed measure m? "thing/property" match. */
static int feeds(const measure_t *m, uint32_t ds) {
  const char *thing = calc_thing(ds), *prop = calc_property(ds);
  size_t tl = strlen(thing);
  for (size_t k = 0; k < m->nind; k++)
    if (strncmp(m->ind[k], thing, tl) == 0 && m->ind[k][tl] == '/' &&
        strcmp(m->ind[k] + tl + 1, prop) == 0)
      return 1;
  return 0;
}

static int emit_measure(measures_state_t *s, measure_t *m, kk_batch_t *out) {
  double base = 0;
  int nb = 0;
  for (size_t i = 0; i < m->nyears; i++)
    if (m->years[i] >= m->base_from && m->years[i] <= m->base_to) {
      base += m->sums[i];
      nb++;
    }
  if (!nb) return 0; /* no baseline data yet: nothing to compare */
  base /= nb;
  const char *unit = m->unit ? m->unit : "1";
  int rc = 0;
  for (size_t i = 0; i < m->nyears && !rc; i++) {
    if (m->years[i] < m->start) continue;
    int64_t t = calc_year_start(s->tz, m->years[i]);
    kk_reading_t r[4] = {
        {t, base - m->sums[i], kk_datastream_id(m->thing, "impact", unit), 0},
        {t, m->sums[i], kk_datastream_id(m->thing, "actual", unit), 0},
        {t, base, kk_datastream_id(m->thing, "baseline", unit), 0},
        {t, m->expected, kk_datastream_id(m->thing, "expected", unit), 0}};
    for (int k = 0; k < (isnan(m->expected) ? 3 : 4) && !rc; k++) {
      r[k].flags = KK_READING_UPDATE; /* the year's figure as it stands */
      rc = kk_batch_push(out, &r[k]);
    }
  }
  return rc;
}

static int measures_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  measures_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  for (size_t i = 0; i < n; i++) {
    uint32_t ds = r[i].ds;
    if (calc_grow((void **)&s->seen, &s->nseen, ds, 1)) return KK_ENOMEM;
    if (s->seen[ds] == 0) {
      s->seen[ds] = 2;
      for (size_t k = 0; k < s->nm; k++)
        if (feeds(&s->m[k], ds)) s->seen[ds] = 1;
    }
    if (s->seen[ds] != 1) continue;
    if (!isfinite(r[i].value)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "indicator is not a number");
      continue;
    }
    int year = calc_year(s->tz, r[i].time_ms);
    for (size_t k = 0; k < s->nm; k++) {
      if (!feeds(&s->m[k], ds)) continue;
      double *p = year_slot(&s->m[k], year);
      if (!p) return KK_ETOOBIG;
      *p += r[i].value;
      s->m[k].touched = 1;
      if (!s->m[k].unit) s->m[k].unit = calc_unit(ds);
    }
  }
  kk_batch_t *out = kk_batch_new(16);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  int rc = 0;
  for (size_t k = 0; k < s->nm && !rc; k++)
    if (s->m[k].touched) {
      s->m[k].touched = 0;
      rc = emit_measure(s, &s->m[k], out);
    }
  if (!rc) kk_stage_emit(st, out);
  kk_batch_unref(out);
  return rc;
}

static void measures_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  calc_base_stop(&((measures_state_t *)state)->base, cb);
}

static void measures_destroy(void *state) {
  measures_state_t *s = state;
  if (!s) return;
  for (size_t i = 0; i < s->nm; i++) {
    for (size_t k = 0; k < s->m[i].nind && s->m[i].ind; k++)
      free(s->m[i].ind[k]);
    free(s->m[i].ind);
    free(s->m[i].name);
    free(s->m[i].sector);
    free(s->m[i].thing);
  }
  free(s->m);
  free(s->seen);
  free(s);
}

static const kk_option_t measures_options[] = {
    {.name = "measures",
     .type = KK_OPT_TABLE,
     .flags = KK_OPT_REQUIRED,
     .description =
         "The registry: `{ { name = \"led-schulen\", sector = \"municipal\", "
         "start = 2024, expected = 120, indicators = { \"schule-1/energy\" }, "
         "baseline = { from = 2021, to = 2023 } } }`."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_measures_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "measures",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Measures registry and measured impact (baseline minus "
               "actual).",
    .description =
        "Sums each measure's indicator datastreams per local year.  For every "
        "year from the measure's start it emits on thing `measure/<name>`, at "
        "the start of the year: `impact` (mean yearly sum over the baseline "
        "years minus the year's sum), `actual`, `baseline` and `expected` (the "
        "expected yearly reduction as registered).  The current year's "
        "impact grows as the year goes on; compare whole years.",
    .options = measures_options,
    .create = measures_create,
    .start = measures_start,
    .process = measures_process,
    .stop = measures_stop,
    .destroy = measures_destroy,
};
