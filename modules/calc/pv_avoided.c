/*
 * modules/calc/pv_avoided.c - calc.pv_avoided: renewable production ->
 * avoided CO2e against a stated displacement factor (the stage is
 * calc_energy.c).
 */
#include <klimakit.h>

#include "calc/calc_energy.h"

static int pv_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  return calc_energy_create(st, o, state, 1);
}

static const kk_option_t pv_options[] = {
    {.name = "factor",
     .type = KK_OPT_DOUBLE,
     .description = "Stated displacement factor in g CO2e/kWh (needs "
                    "`factor_source`); without it the registry's `carrier` "
                    "in `set` is used.",
     .min = 0,
     .max = 5000},
    {.name = "factor_source",
     .type = KK_OPT_STRING,
     .description = "Where the stated displacement factor comes from."},
    {.name = "carrier",
     .type = KK_OPT_STRING,
     .def = "strom_verdraengung",
     .description = "Registry carrier of the displaced electricity (default: "
                    "GEG Anlage 9 Verdrängungsstrommix)."},
    {.name = "set",
     .type = KK_OPT_STRING,
     .def = "geg",
     .description = "Factor set of `carrier`."},
    CO2_COMMON_OPTIONS,
    {NULL}};

const kk_module_t calc_pv_avoided_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "pv_avoided",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Renewable production -> avoided CO2e (stated displacement).",
    .description =
        "Multiplies produced energy by a displacement factor and emits "
        "`co2e_avoided` in kg on the same thing.  The factor is stated in the "
        "recipe (`factor` with `factor_source`) or taken from the registry "
        "(default: GEG 2020 Anlage 9 Verdrängungsstrommix, 860 g/kWh).  "
        "Note that BISKO itself does not credit local PV in the territorial "
        "balance; report avoided emissions beside it.",
    .options = pv_options,
    .create = pv_create,
    .start = calc_energy_start,
    .process = calc_energy_process,
    .stop = calc_energy_stop,
    .destroy = calc_energy_destroy,
};
