/*
 * modules/calc/co2.c - calc.co2: energy -> CO2e per carrier and factor
 * set (the stage is calc_energy.c).  Also carries the Lua surface
 * kk.factor/kk.factors.
 */
#include <klimakit.h>

#include "calc/calc_energy.h"
#include "calc/calc_factors.h"

static int co2_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  return calc_energy_create(st, o, state, 0);
}

static const kk_option_t co2_options[] = {
    {.name = "carrier",
     .type = KK_OPT_STRING,
     .description = "Energy carrier key of the readings (`erdgas`, `strom`, "
                    "`heizoel`, `fernwaerme_kwk_gas` ...; `klimakit modules` "
                    "/ docs/guide/calculators.md list them)."},
    {.name = "set",
     .type = KK_OPT_STRING,
     .def = "bisko",
     .description = "Factor set: `bisko` (LCA incl. upstream), `geg` (GEG "
                    "Anlage 9), `uba_mix` (direct electricity mix), `kea_bw`, "
                    "`bafa`, `bafa_2024`."},
    CO2_COMMON_OPTIONS,
    {NULL}};

const kk_module_t calc_co2_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "co2",
    .ns = "calc",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Energy -> CO2e per carrier and factor set (BISKO, GEG, UBA).",
    .description =
        "Multiplies energy readings (kW.h, W.h, MW.h) by the emission factor "
        "of their carrier for the reading's balance year and emits "
        "`co2e` in kg on the same thing.  Factors come from the built-in "
        "registry (`klimakit factors`, `kk.factor`) or from `factors` in "
        "the recipe.  Unknown carriers, years without a factor, negative or "
        "NaN energy are rejected and counted in "
        "`kk_rejected_total{reason=..}`, never turned into zero.  Also "
        "provides `kk.factor(carrier, year[, set])` and `kk.factors([set])` "
        "to Lua.",
    .options = co2_options,
    .create = co2_create,
    .start = calc_energy_start,
    .process = calc_energy_process,
    .stop = calc_energy_stop,
    .destroy = calc_energy_destroy,
    .lua_open = calc_factors_lua_open,
    .commands = calc_factors_commands,
};
