/*
 * modules/calc/bisko.c - calc.bisko: the yearly BISKO balance, CO2e by
 * sector x carrier, from metered energy readings and from yearly
 * statistics imported as CSV, with the BISKO data-quality rating.
 *
 * BISKO (Bilanzierungs-Systematik Kommunal): final-energy based
 * territorial balance, factors with upstream chains (LCA), the federal
 * electricity mix, no weather correction, a data quality per input:
 * A regional primary data, B extrapolated primary data, C regional key
 * figures and statistics, D federal key figures.  The rating of the
 * balance is the energy-weighted mean of A = 1, B = 0.5, C = 0.25, D = 0.
 *
 * A balance a council reads must not mislead: every year carries a status
 * (final, provisional: the year is not over in the data or is listed as
 * preliminary, incomplete: a required sector has no data at all), the
 * per-capita figure when the population of that year is given, and, on
 * request, a stated extrapolation of a running year.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"
#include "calc/calc_factors.h"

static const char *const bisko_sectors[] = {
    "households", "commerce", "industry", "municipal", "transport", NULL};

double calc_quality_weight(char q) {
  return q == 'A' ? 1.0 : q == 'B' ? 0.5 : q == 'C' ? 0.25 : 0.0;
}

typedef struct cell {
  int year;
  int sector;
  int present; /* a statistics row or a metered reading exists */
  char carrier[48];
  double metered_kwh, stats_kwh, stats_qsum; /* stats_qsum: kWh x weight */
  double g_per_kwh;
  int have_factor;
} cell_t;

typedef struct bisko_ds {
  uint8_t state; /* 0 unknown, 1 metered, 2 ignored */
  int sector;
  const char *carrier;
  double kwh_per_unit;
} bisko_ds_t;

typedef struct bisko_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  calc_base_t base;
  calc_rejects_t rj;
  calc_overrides_t ov;
  calc_meters_t meters;
  cJSON *sectors, *carriers;
  const char *set, *carrier, *thing;
  int sector, latest, cumulative, emitted_stats;
  double q_metered;
  calc_tz_t tz;
  cell_t *cells;
  size_t ncells, capcells;
  int *touched; /* years to emit after this batch */
  size_t ntouched, captouched;
  bisko_ds_t *ds;
  size_t nds;
  unsigned require;   /* bit per sector that a complete year needs */
  cJSON *population;  /* {"2020": 316000} */
  cJSON *provisional; /* [2024] */
  int extrapolate;    /* 0 none, 1 elapsed */
  int64_t last_t;     /* newest metered reading; INT64_MIN: none */
} bisko_state_t;

/* Balance status per year (the `balance_status` datastream). */
enum { BISKO_FINAL = 0, BISKO_PROVISIONAL = 1, BISKO_INCOMPLETE = 2 };

static int sector_of(const char *name) {
  for (int i = 0; bisko_sectors[i]; i++)
    if (strcmp(name, bisko_sectors[i]) == 0) return i;
  return -1;
}

static cell_t *cell(bisko_state_t *s, int year, int sector,
                    const char *carrier) {
  for (size_t i = 0; i < s->ncells; i++)
    if (s->cells[i].year == year && s->cells[i].sector == sector &&
        strcmp(s->cells[i].carrier, carrier) == 0)
      return &s->cells[i];
  if (s->ncells == s->capcells) {
    size_t n = s->capcells ? s->capcells * 2 : 32;
    cell_t *c = realloc(s->cells, n * sizeof *c);
    if (!c) return NULL;
    s->cells = c;
    s->capcells = n;
  }
  cell_t *c = &s->cells[s->ncells++];
  memset(c, 0, sizeof *c);
  c->year = year;
  c->sector = sector;
  snprintf(c->carrier, sizeof c->carrier, "%s", carrier);
  const calc_factor_t *f;
  char err[256];
  if (calc_factor_find(&s->ov, s->set, carrier, year, s->latest, &f, err,
                       sizeof err) == 0) {
    c->g_per_kwh = f->value;
    c->have_factor = 1;
  }
  return c;
}

static void touch(bisko_state_t *s, int year) {
  for (size_t i = 0; i < s->ntouched; i++)
    if (s->touched[i] == year) return;
  if (s->ntouched == s->captouched) {
    size_t n = s->captouched ? s->captouched * 2 : 8;
    int *t = realloc(s->touched, n * sizeof *t);
    if (!t) return;
    s->touched = t;
    s->captouched = n;
  }
  s->touched[s->ntouched++] = year;
}

/* Splits one CSV line (RFC 4180 quotes) in place. */
static int csv_split(char *s, char **f, int max) {
  int n = 0;
  while (n < max) {
    char *w = s;
    f[n++] = w;
    if (*s == '"') {
      s++;
      for (;;) {
        if (!*s) break;
        if (*s == '"' && s[1] == '"') {
          *w++ = '"';
          s += 2;
        } else if (*s == '"') {
          s++;
          break;
        } else {
          *w++ = *s++;
        }
      }
      while (*s && *s != ',')
        s++;
    } else {
      while (*s && *s != ',')
        *w++ = *s++;
    }
    int end = !*s;
    *w = 0;
    if (end) break;
    s++;
  }
  return n;
}

static int load_statistics(bisko_state_t *s, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    kk_stage_error(s->st, "statistics: cannot open %s: %s", path,
                   strerror(errno));
    return -errno;
  }
  char line[2048];
  int lineno = 0, rc = 0;
  while (!rc && fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0] || line[0] == '#') continue;
    char *fl[8];
    int n = csv_split(line, fl, 8);
    if (strcmp(fl[0], "year") == 0) continue; /* the header */
    char *end;
    long year = n >= 5 ? strtol(fl[0], &end, 10) : 0;
    double kwh = n >= 5 ? strtod(fl[3], NULL) : NAN;
    int sector = n >= 5 ? sector_of(fl[1]) : -1;
    char q = n >= 5 ? fl[4][0] : 0;
    if (n < 5 || year < 1990 || year > 2100 || sector < 0 || !isfinite(kwh) ||
        kwh < 0 || !strchr("ABCD", q) || !q || fl[4][1]) {
      kk_stage_error(s->st,
                     "%s:%d: expected year,sector,carrier,kwh,quality[,source]"
                     " with sector one of households, commerce, industry, "
                     "municipal, transport, kwh >= 0 and quality A, B, C or D",
                     path, lineno);
      rc = KK_EPARSE;
      break;
    }
    cell_t *c = cell(s, (int)year, sector, fl[2]);
    if (!c) {
      rc = KK_ENOMEM;
      break;
    }
    if (!c->have_factor) {
      const calc_factor_t *fx;
      char err[256];
      rc = calc_factor_find(&s->ov, s->set, fl[2], (int)year, s->latest, &fx,
                            err, sizeof err);
      kk_stage_error(s->st, "%s:%d: %s", path, lineno, err);
      break;
    }
    c->stats_kwh += kwh;
    c->stats_qsum += kwh * calc_quality_weight(q);
    c->present = 1;
  }
  fclose(f);
  return rc;
}

static int bisko_save(void *state, FILE *f) {
  bisko_state_t *s = state;
  for (size_t i = 0; i < s->ncells; i++)
    if (s->cells[i].metered_kwh != 0)
      fprintf(f, "B\t%d\t%s\t%s\t%.17g\n", s->cells[i].year,
              bisko_sectors[s->cells[i].sector], s->cells[i].carrier,
              s->cells[i].metered_kwh);
  if (s->last_t != INT64_MIN) fprintf(f, "T\t%lld\n", (long long)s->last_t);
  return calc_meters_save(&s->meters, f);
}

static int bisko_load(void *state, const char *line) {
  bisko_state_t *s = state;
  long long t;
  if (line[0] == 'T' && sscanf(line, "T\t%lld", &t) == 1) {
    s->last_t = (int64_t)t;
    return 0;
  }
  if (line[0] != 'B') return calc_meters_load(&s->meters, line);
  char sec[64], car[64];
  int year;
  double kwh;
  if (sscanf(line, "B\t%d\t%63[^\t]\t%63[^\t]\t%lf", &year, sec, car, &kwh) !=
          4 ||
      sector_of(sec) < 0)
    return KK_EPARSE;
  cell_t *c = cell(s, year, sector_of(sec), car);
  if (!c) return KK_ENOMEM;
  c->metered_kwh = kwh;
  c->present = 1;
  return 0;
}

static int bisko_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  bisko_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  calc_rejects_init(
      &s->rj, st,
      CALC_REJ_BIT(CALC_REJ_NAN) | CALC_REJ_BIT(CALC_REJ_NEGATIVE) |
          CALC_REJ_BIT(CALC_REJ_NO_FACTOR) | CALC_REJ_BIT(CALC_REJ_UNIT) |
          CALC_REJ_BIT(CALC_REJ_UNKNOWN_CARRIER) |
          CALC_REJ_BIT(CALC_REJ_UNMAPPED) | CALC_REJ_METERS);
  s->set = kk_opt_str(o, "set");
  s->thing = kk_opt_str(o, "thing");
  s->carrier = kk_opt_isset(o, "carrier") ? kk_opt_str(o, "carrier") : NULL;
  s->sector = kk_opt_isset(o, "sector") ? kk_opt_enum(o, "sector") : -1;
  s->latest = kk_opt_enum(o, "fallback") == 1;
  s->cumulative = kk_opt_enum(o, "meter") == 1;
  s->q_metered = calc_quality_weight("ABCD"[kk_opt_enum(o, "quality")]);
  s->tz = (calc_tz_t)kk_opt_enum(o, "tz");
  s->last_t = INT64_MIN;
  s->extrapolate = kk_opt_enum(o, "extrapolate");
  if (!kk_opt_isset(o, "require")) s->require = 0x1f;
  for (size_t i = 0; i < kk_opt_list_len(o, "require"); i++) {
    int k = sector_of(kk_opt_list_item(o, "require", i));
    if (k < 0) {
      kk_stage_error(st,
                     "require: unknown sector '%s'; expected households, "
                     "commerce, industry, municipal or transport",
                     kk_opt_list_item(o, "require", i));
      return KK_EINVAL;
    }
    s->require |= 1u << k;
  }
  const char *pj = kk_opt_json(o, "population");
  if (pj) {
    s->population = cJSON_Parse(pj);
    int ok = cJSON_IsObject(s->population) ||
             (cJSON_IsArray(s->population) && !s->population->child);
    for (cJSON *c = ok ? s->population->child : NULL; c && ok; c = c->next) {
      char *end;
      long y = strtol(c->string, &end, 10);
      ok = *end == 0 && y >= 1990 && y <= 2100 && cJSON_IsNumber(c) &&
           c->valuedouble > 0;
    }
    if (!ok) {
      kk_stage_error(st, "population: expected { [\"2020\"] = 316000, ... } "
                         "(inhabitants > 0 per year)");
      return KK_EINVAL;
    }
  }
  pj = kk_opt_json(o, "provisional");
  if (pj) {
    s->provisional = cJSON_Parse(pj);
    int ok = cJSON_IsArray(s->provisional) ||
             (cJSON_IsObject(s->provisional) && !s->provisional->child);
    for (cJSON *c = ok ? s->provisional->child : NULL; c && ok; c = c->next)
      ok = cJSON_IsNumber(c);
    if (!ok) {
      kk_stage_error(st, "provisional: expected a list of years { 2024 }");
      return KK_EINVAL;
    }
  }
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
  const char *j = kk_opt_json(o, "sectors");
  if (j && !cJSON_IsObject(s->sectors = cJSON_Parse(j))) {
    kk_stage_error(st, "sectors: expected { [thing] = sector }");
    return KK_EPARSE;
  }
  for (cJSON *c = s->sectors ? s->sectors->child : NULL; c; c = c->next)
    if (!cJSON_IsString(c) || sector_of(c->valuestring) < 0) {
      kk_stage_error(st,
                     "sectors: '%s' has sector '%s'; expected households, "
                     "commerce, industry, municipal or transport",
                     c->string, cJSON_IsString(c) ? c->valuestring : "?");
      return KK_EINVAL;
    }
  j = kk_opt_json(o, "carriers");
  if (j && !cJSON_IsObject(s->carriers = cJSON_Parse(j))) {
    kk_stage_error(st, "carriers: expected { [thing] = carrier }");
    return KK_EPARSE;
  }
  if (kk_opt_isset(o, "statistics")) {
    rc = load_statistics(s, kk_opt_str(o, "statistics"));
    if (rc) return rc;
  }
  calc_base_init(&s->base, st, kk_opt_duration_ms(o, "snapshot"), bisko_save,
                 bisko_load, s);
  return 0;
}

static int bisko_start(kk_stage_t *st, void *state) {
  bisko_state_t *s = state;
  (void)st; /* the engine logs a failure with the recipe line */
  return calc_base_start(&s->base);
}

static bisko_ds_t *ds_of(bisko_state_t *s, uint32_t id) {
  if (calc_grow((void **)&s->ds, &s->nds, id, sizeof *s->ds)) return NULL;
  bisko_ds_t *d = &s->ds[id];
  if (d->state) return d;
  d->state = 2;
  const kk_datastream_t *k = kk_datastream_get(id);
  if (!k) return d;
  int want = 0;
  for (size_t i = 0; i < kk_opt_list_len(s->opts, "property"); i++)
    want |= strcmp(k->property, kk_opt_list_item(s->opts, "property", i)) == 0;
  if (!want) return d;
  d->state = 1;
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(s->sectors, k->thing);
  d->sector = cJSON_IsString(c) ? sector_of(c->valuestring) : s->sector;
  c = cJSON_GetObjectItemCaseSensitive(s->carriers, k->thing);
  d->carrier = cJSON_IsString(c) ? c->valuestring : s->carrier;
  d->kwh_per_unit = calc_kwh_per_unit(k->unit);
  return d;
}

static int push(kk_batch_t *out, const char *thing, const char *prop,
                const char *unit, int64_t t, double v) {
  kk_reading_t r = {t, v, kk_datastream_id(thing, prop, unit),
                    KK_READING_UPDATE};
  return r.ds ? kk_batch_push(out, &r) : KK_ENOMEM;
}

/* Inhabitants of `year` from the option, or 0. */
static double population_of(const bisko_state_t *s, int year) {
  char key[16];
  snprintf(key, sizeof key, "%d", year);
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(s->population, key);
  return cJSON_IsNumber(c) ? c->valuedouble : 0;
}

static int listed_provisional(const bisko_state_t *s, int year) {
  for (const cJSON *c = s->provisional ? s->provisional->child : NULL; c;
       c = c->next)
    if ((int)c->valuedouble == year) return 1;
  return 0;
}

/* Carriers of `year`, distinct, in the order of the cells (at most 32). */
static size_t year_carriers(const bisko_state_t *s, int year,
                            const char **out) {
  size_t n = 0;
  for (size_t i = 0; i < s->ncells && n < 32; i++) {
    const cell_t *c = &s->cells[i];
    if (c->year != year || !c->have_factor) continue;
    size_t k = 0;
    while (k < n && strcmp(out[k], c->carrier) != 0)
      k++;
    if (k == n) out[n++] = c->carrier;
  }
  return n;
}

/* Emits the whole balance of `year`.  The status comes first, so that a
 * consumer of the same batch (calc.target) never judges the total
 * without it. */
static int emit_year(bisko_state_t *s, int year, kk_batch_t *out) {
  double sec_t[5] = {0}, tot_t = 0, tot_kwh = 0, qsum = 0, metered_t = 0;
  unsigned covered = 0;
  int64_t t = calc_year_start(s->tz, year),
          end = calc_year_start(s->tz, year + 1);
  char prop[160];
  int rc = 0, metered = 0;
  for (size_t i = 0; i < s->ncells; i++) {
    const cell_t *c = &s->cells[i];
    if (c->year != year || !c->have_factor) continue;
    if (c->present) covered |= 1u << c->sector;
    metered |= c->metered_kwh > 0;
  }
  int status = BISKO_FINAL, nsec = 0;
  for (int k = 0; k < 5; k++)
    nsec += (covered >> k) & 1;
  if ((covered & s->require) != s->require)
    status = BISKO_INCOMPLETE;
  else if (listed_provisional(s, year) || end > kk_now_ms() ||
           (metered && s->last_t < end))
    status = BISKO_PROVISIONAL;
  rc = push(out, s->thing, "balance_status", "1", t, status);
  if (!rc) rc = push(out, s->thing, "sectors_covered", "1", t, nsec);
  for (size_t i = 0; i < s->ncells && !rc; i++) {
    cell_t *c = &s->cells[i];
    if (c->year != year || !c->have_factor) continue;
    double kwh = c->metered_kwh + c->stats_kwh;
    double tonnes = kwh * c->g_per_kwh / 1e6;
    sec_t[c->sector] += tonnes;
    tot_t += tonnes;
    tot_kwh += kwh;
    metered_t += c->metered_kwh * c->g_per_kwh / 1e6;
    qsum += c->metered_kwh * s->q_metered + c->stats_qsum;
    snprintf(prop, sizeof prop, "co2e_%s_%s", bisko_sectors[c->sector],
             c->carrier);
    rc = push(out, s->thing, prop, "t", t, tonnes);
  }
  const char *car[32];
  size_t ncar = year_carriers(s, year, car);
  for (size_t k = 0; k < ncar && !rc; k++) {
    double ct = 0, ck = 0;
    for (size_t i = 0; i < s->ncells; i++) {
      const cell_t *c = &s->cells[i];
      if (c->year != year || !c->have_factor || strcmp(c->carrier, car[k]))
        continue;
      ck += c->metered_kwh + c->stats_kwh;
      ct += (c->metered_kwh + c->stats_kwh) * c->g_per_kwh / 1e6;
    }
    snprintf(prop, sizeof prop, "co2e_carrier_%s", car[k]);
    rc = push(out, s->thing, prop, "t", t, ct);
    snprintf(prop, sizeof prop, "energy_carrier_%s", car[k]);
    if (!rc) rc = push(out, s->thing, prop, "kW.h", t, ck);
  }
  /* A sector without any data has no figure, not a zero. */
  for (int k = 0; k < 5 && !rc; k++) {
    if (!((covered >> k) & 1)) continue;
    snprintf(prop, sizeof prop, "co2e_%s", bisko_sectors[k]);
    rc = push(out, s->thing, prop, "t", t, sec_t[k]);
  }
  double pop = population_of(s, year);
  if (!rc && pop > 0) rc = push(out, s->thing, "population", "1", t, pop);
  /* Per capita of a fragment of the town would mislead. */
  if (!rc && pop > 0 && status != BISKO_INCOMPLETE)
    rc = push(out, s->thing, "co2e_per_capita", "t", t, tot_t / pop);
  /* "elapsed": the metered part scaled by year length / metered span; the
   * statistics part as it is.  Linear in time, no seasonal profile. */
  if (!rc && s->extrapolate && status == BISKO_PROVISIONAL && metered &&
      s->last_t > t && s->last_t < end && s->last_t - t >= 28 * KK_DAY_MS)
    rc = push(out, s->thing, "co2e_total_extrapolated", "t", t,
              tot_t - metered_t +
                  metered_t * (double)(end - t) / (double)(s->last_t - t));
  if (!rc) rc = push(out, s->thing, "co2e_total", "t", t, tot_t);
  if (!rc) rc = push(out, s->thing, "energy_total", "kW.h", t, tot_kwh);
  if (!rc && tot_kwh > 0)
    rc = push(out, s->thing, "data_quality", "1", t, qsum / tot_kwh);
  return rc;
}

static int bisko_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  bisko_state_t *s = state;
  if (calc_base_skip(&s->base, b)) return 0;
  if (!s->emitted_stats) {
    s->emitted_stats = 1;
    for (size_t i = 0; i < s->ncells; i++)
      touch(s, s->cells[i].year);
  }
  size_t n = kk_batch_len(b);
  const kk_reading_t *r = kk_batch_readings(b);
  char err[256];
  for (size_t i = 0; i < n; i++) {
    bisko_ds_t *d = ds_of(s, r[i].ds);
    if (!d) return KK_ENOMEM;
    if (d->state != 1) continue;
    double v = r[i].value;
    if (!isfinite(v)) {
      calc_reject(&s->rj, CALC_REJ_NAN, &r[i], "energy is not a number");
      continue;
    }
    if (d->sector < 0 || !d->carrier) {
      calc_reject(&s->rj, CALC_REJ_UNMAPPED, &r[i],
                  "no sector or carrier for thing '%s' (options sectors/"
                  "sector, carriers/carrier)",
                  calc_thing(r[i].ds));
      continue;
    }
    if (d->kwh_per_unit == 0) {
      calc_reject(&s->rj, CALC_REJ_UNIT, &r[i], "unit '%s' is not energy",
                  calc_unit(r[i].ds));
      continue;
    }
    if (s->cumulative) {
      double delta;
      if (calc_meter_step(&s->meters, &s->rj, &r[i], &delta) != 1) continue;
      v = delta;
    } else if (v < 0) {
      calc_reject(&s->rj, CALC_REJ_NEGATIVE, &r[i], "negative energy %g", v);
      continue;
    }
    int year = calc_year(s->tz, r[i].time_ms);
    cell_t *c = cell(s, year, d->sector, d->carrier);
    if (!c) return KK_ENOMEM;
    if (!c->have_factor) {
      const calc_factor_t *f;
      int rc = calc_factor_find(&s->ov, s->set, d->carrier, year, s->latest, &f,
                                err, sizeof err);
      calc_reject(&s->rj,
                  rc == KK_EUNKNOWN ? CALC_REJ_UNKNOWN_CARRIER
                                    : CALC_REJ_NO_FACTOR,
                  &r[i], "%s", err);
      continue;
    }
    c->metered_kwh += v * d->kwh_per_unit;
    c->present = 1;
    touch(s, year);
    if (r[i].time_ms > s->last_t) {
      /* The year of the previous newest reading may be over now. */
      if (s->last_t != INT64_MIN && calc_year(s->tz, s->last_t) != year)
        touch(s, calc_year(s->tz, s->last_t));
      s->last_t = r[i].time_ms;
    }
  }
  kk_batch_t *out = kk_batch_new(64);
  if (!out) return KK_ENOMEM;
  kk_batch_set_seq(out, kk_batch_seq(b));
  int rc = 0;
  for (size_t i = 0; i < s->ntouched && !rc; i++)
    rc = emit_year(s, s->touched[i], out);
  s->ntouched = 0;
  if (!rc) kk_stage_emit(st, out);
  kk_batch_unref(out);
  return rc;
}

static void bisko_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  calc_base_stop(&((bisko_state_t *)state)->base, cb);
}

static void bisko_destroy(void *state) {
  bisko_state_t *s = state;
  if (!s) return;
  calc_overrides_free(&s->ov);
  calc_meters_free(&s->meters);
  cJSON_Delete(s->sectors);
  cJSON_Delete(s->carriers);
  cJSON_Delete(s->population);
  cJSON_Delete(s->provisional);
  free(s->cells);
  free(s->touched);
  free(s->ds);
  free(s);
}

static const kk_option_t bisko_options[] = {
    {.name = "thing",
     .type = KK_OPT_STRING,
     .def = "bisko",
     .description = "Thing the balance datastreams belong to (the "
                    "municipality: \"musterstadt\")."},
    {.name = "sectors",
     .type = KK_OPT_TABLE,
     .description = "BISKO sector per metered thing: `{ [\"rathaus\"] = "
                    "\"municipal\" }`; households, commerce, industry, "
                    "municipal, transport."},
    {.name = "sector",
     .type = KK_OPT_ENUM,
     .choices = "households|commerce|industry|municipal|transport",
     .description = "Sector of metered things not in `sectors`."},
    {.name = "carriers",
     .type = KK_OPT_TABLE,
     .description = "Carrier per metered thing: `{ [\"rathaus\"] = "
                    "\"erdgas\" }`."},
    {.name = "carrier",
     .type = KK_OPT_STRING,
     .description = "Carrier of metered things not in `carriers`."},
    {.name = "statistics",
     .type = KK_OPT_STRING,
     .description = "CSV of yearly statistics: "
                    "`year,sector,carrier,kwh,quality[,source]` (quality A, "
                    "B, C or D); added to the metered data."},
    {.name = "quality",
     .type = KK_OPT_ENUM,
     .def = "A",
     .choices = "A|B|C|D",
     .description = "BISKO data quality of the metered data (A: regional "
                    "primary data)."},
    {.name = "set",
     .type = KK_OPT_STRING,
     .def = "bisko",
     .description = "Factor set (BISKO by default)."},
    {.name = "factors",
     .type = KK_OPT_TABLE,
     .description = "Local factors, as for calc.co2."},
    {.name = "fallback",
     .type = KK_OPT_ENUM,
     .def = "none",
     .choices = "none|latest",
     .description = "Years after the newest factor: reject, or use the "
                    "newest factor."},
    {.name = "meter",
     .type = KK_OPT_ENUM,
     .def = "interval",
     .choices = "interval|cumulative",
     .description = "Metered readings are interval energy or a cumulative "
                    "meter count."},
    {.name = "property",
     .type = KK_OPT_LIST,
     .def = "energy",
     .description = "Observed properties of metered energy."},
    {.name = "population",
     .type = KK_OPT_TABLE,
     .description = "Inhabitants per year `{ [\"2020\"] = 316000 }`; emits "
                    "`population` and `co2e_per_capita` (t per inhabitant) "
                    "for the years given (no interpolation)."},
    {.name = "require",
     .type = KK_OPT_LIST,
     .description = "Sectors a complete year needs data for (default: all "
                    "five); a year without one of them is `balance_status` "
                    "2 (incomplete)."},
    {.name = "provisional",
     .type = KK_OPT_TABLE,
     .description = "Years whose data is preliminary `{ 2024 }` "
                    "(`balance_status` 1)."},
    {.name = "extrapolate",
     .type = KK_OPT_ENUM,
     .def = "none",
     .choices = "none|elapsed",
     .description = "`elapsed`: for a provisional year with metered data "
                    "(at least 28 days) also emit `co2e_total_extrapolated`: "
                    "the metered part scaled by year length / metered span "
                    "(linear, no seasonal profile), the statistics as they "
                    "are."},
    CALC_OPT_TZ,
    CALC_OPT_SNAPSHOT,
    {NULL}};

const kk_module_t calc_bisko_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "bisko",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Yearly BISKO balance: CO2e by sector x carrier, with data "
               "quality.",
    .description =
        "Sums metered energy (per thing: sector and carrier) and yearly "
        "statistics from a CSV into a balance per local year and emits, on "
        "thing `thing` at the start of the year: `co2e_<sector>_<carrier>`, "
        "`co2e_<sector>` and `co2e_total` (t CO2e), `energy_total` (kW.h) and "
        "`data_quality` (energy-weighted BISKO rating, A = 1, B = 0.5, C = "
        "0.25, D = 0), per carrier `co2e_carrier_<carrier>` (t) and "
        "`energy_carrier_<carrier>` (kW.h), with `population` also "
        "`co2e_per_capita`.  Every year carries `balance_status`: 0 final, "
        "1 provisional (the year is not over in the metered data, not over "
        "by the clock, or listed in `provisional`), 2 incomplete (a sector "
        "of `require` has no data), and `sectors_covered`.  A year is "
        "emitted again whenever a batch changes it; stores replace.",
    .options = bisko_options,
    .create = bisko_create,
    .start = bisko_start,
    .process = bisko_process,
    .stop = bisko_stop,
    .destroy = bisko_destroy,
};
