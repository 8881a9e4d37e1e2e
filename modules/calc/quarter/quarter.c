/*
 * modules/calc/quarter/quarter.c - calc.quarter: the electricity balance of a
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

#include "calc/quarter/quarter.h"

const char *const quarter_kinds[QK_N + 1] = {"pv", "wind", "chp", "other",
                                             "consumer"};

static char *quarter_dup(const char *x) {
  size_t n = strlen(x) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, x, n);
  return d;
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
  calc_rejects_init(&s->rj, st,
                    CALC_REJ_BIT(CALC_REJ_NAN) |
                        CALC_REJ_BIT(CALC_REJ_NEGATIVE) |
                        CALC_REJ_BIT(CALC_REJ_TOO_LATE) |
                        CALC_REJ_BIT(CALC_REJ_UNIT) | CALC_REJ_METERS);
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
