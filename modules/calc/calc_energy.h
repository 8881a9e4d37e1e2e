/*
 * modules/calc/calc_energy.h - energy -> CO2e, the stage shared by
 * calc.co2 (emitted co2e) and calc.pv_avoided (co2e_avoided against a
 * stated displacement factor).
 */
#ifndef CALC_ENERGY_H
#define CALC_ENERGY_H

#include <klimakit.h>

#include "calc/calc.h"

/* Options both modules take after their own `carrier`/`set`. */
#define CO2_COMMON_OPTIONS                                                     \
  {.name = "carriers",                                                         \
   .type = KK_OPT_TABLE,                                                       \
   .description = "Carrier per thing, `{ [\"boiler-1\"] = \"erdgas\" }`; "     \
                  "wins over `carrier`."},                                     \
      {.name = "factors",                                                      \
       .type = KK_OPT_TABLE,                                                   \
       .description = "Local factors that win over the set: `{ { carrier = "   \
                      "\"fernwaerme\", value = 152, year = 2024, source = "    \
                      "\"Stadtwerke ...\" } }` (g CO2e/kWh; `year` or "        \
                      "`year_from`/`year_to`; optional `basis`, "              \
                      "`confidence`)."},                                       \
      {.name = "year",                                                         \
       .type = KK_OPT_INT,                                                     \
       .description = "Use the factors of this balance year for every "        \
                      "reading (default: the reading's local year).",          \
       .min = 1990,                                                            \
       .max = 2100},                                                           \
      {.name = "fallback",                                                     \
       .type = KK_OPT_ENUM,                                                    \
       .def = "none",                                                          \
       .choices = "none|latest",                                               \
       .description = "For a year after the newest factor: `none` rejects "    \
                      "the reading (no_factor), `latest` uses the newest "     \
                      "factor."},                                              \
      {.name = "meter",                                                        \
       .type = KK_OPT_ENUM,                                                    \
       .def = "interval",                                                      \
       .choices = "interval|cumulative",                                       \
       .description = "`interval`: each reading is the energy of its "         \
                      "interval; `cumulative`: a meter count, the difference " \
                      "to the previous reading is used."},                     \
      {.name = "property",                                                     \
       .type = KK_OPT_LIST,                                                    \
       .def = "energy",                                                        \
       .description = "Observed properties to convert; other readings are "    \
                      "not passed on."},                                       \
      CALC_OPT_TZ, CALC_OPT_SNAPSHOT

/* create with `pv` 0 (calc.co2) or 1 (calc.pv_avoided: output property
 * co2e_avoided, `factor` with `factor_source` allowed); the rest are the
 * descriptor callbacks of both. */
int calc_energy_create(kk_stage_t *st, const kk_opts_t *o, void **state,
                       int pv);
int calc_energy_start(kk_stage_t *st, void *state);
int calc_energy_process(kk_stage_t *st, void *state, kk_batch_t *b);
void calc_energy_stop(kk_stage_t *st, void *state, kk_stop_cb cb);
void calc_energy_destroy(void *state);

#endif
