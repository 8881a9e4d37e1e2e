/*
 * modules/calc/calc_factors.h - the emission factor registry (internal to the
 * calc modules).
 *
 * The rows are generated from modules/calc/data/ by gen_factors.py into
 * factors_data.c; every row keeps its set, validity years, basis, source
 * and confidence, so that a balance can say which factor it used.
 */
#ifndef CALC_FACTORS_H
#define CALC_FACTORS_H

#include <klimakit.h>
#include <stddef.h>
#include <stdio.h>

typedef struct calc_factor {
  const char *set;        /* "bisko", "geg", "uba_mix", "local" ... */
  const char *key;        /* carrier key: "erdgas", "strom" ... */
  const char *carrier;    /* the carrier as the source names it */
  double value;           /* in `unit` */
  const char *unit;       /* "g CO2e/kWh" (final energy, NCV) */
  int year_from, year_to; /* balance years the row applies to */
  const char *validity;   /* validity as the source states it */
  const char *basis;      /* LCA incl. upstream, direct, legal ... */
  const char *source;
  const char *confidence;
  const char *edition; /* source set / UBA edition */
  int rank;            /* higher wins when several rows cover a year */
} calc_factor_t;

typedef struct calc_set {
  const char *id;
  const char *label;
} calc_set_t;

extern const calc_set_t calc_sets[];
extern const calc_factor_t calc_factors[];
extern const size_t calc_nfactors;

/* Factors a recipe adds (municipal overrides: a local district-heating
 * factor with its own source).  They win over the built-in set. */
typedef struct calc_overrides {
  calc_factor_t *f;
  size_t n;
} calc_overrides_t;

/* Parses `json` (a list of tables {carrier, value, source, year |
 * year_from/year_to, unit, basis, confidence}) into *ov.  Returns 0 or
 * KK_EPARSE/KK_EMISSING with a message in err.  Free with
 * calc_overrides_free(). */
int calc_overrides_parse(const char *json, calc_overrides_t *ov, char *err,
                         size_t errlen);
void calc_overrides_free(calc_overrides_t *ov);

/* Normalises a set name ("BISKO", "bisko", "GEG", "UBA" ...) to its id;
 * NULL when unknown.  A UBA edition string is accepted too and returned
 * as is. */
const char *calc_set_id(const char *name);

/* Finds the factor for carrier `key` in `set` (NULL: "bisko") for
 * balance year `year`.  Overrides (may be NULL) come first.  With
 * `latest`, a year after the newest factor uses the newest one (the
 * usual practice while a year's factor is not yet published); the row
 * returned says which year it is for.  Returns 0 and *out, KK_EUNKNOWN
 * (no such set or carrier) or KK_ERANGE (no factor for that year), with
 * a message in err. */
int calc_factor_find(const calc_overrides_t *ov, const char *set,
                     const char *key, int year, int latest,
                     const calc_factor_t **out, char *err, size_t errlen);

/* Prints every factor with its source.  `format`: "text" (default when
 * NULL), "csv" or "markdown".  Returns 0 or KK_EINVAL for an unknown
 * format.  For the `klimakit factors` command. */
int calc_factors_print(FILE *f, const char *format);
/* `klimakit factors`, for calc.co2's descriptor (the factor registry's
 * module); terminated by {NULL}. */
extern const kk_command_t calc_factors_commands[];

struct lua_State;
/* Sets kk.factor and kk.factors on the table at the top of L. */
int calc_factors_lua_open(struct lua_State *L);

#endif
