-- recipes/calculators.lua - the climate calculators on a simulated school.
--
-- Twelve classrooms (CO2, temperature, humidity and a cumulative
-- electricity meter per room) feed:
--   * calc.co2         electricity -> kg CO2e with the BISKO factor
--   * calc.indoor_air  UBA classes, minutes above 1000/2000 ppm per day,
--                      "ventilate now" alerts
--   * calc.window      hourly and daily temperature statistics
--   * calc.bisko       the yearly balance of the school (municipal sector)
--                      plus the town's statistics, with data quality
--   * calc.target      the balance against a linear path to 2045
-- and everything derived goes to var/calculators/derived.jsonl.
--
-- BISKO publishes the electricity factor per balance year; for years after
-- the newest one this recipe uses the newest (fallback = "latest") and says
-- so here, as a balance report must.
local kk = require "klimakit"

local data = kk.env("KLIMAKIT_DATA", "var/calculators")
kk.config { data_dir = data }

local f, row = kk.factor("strom", 2022)
kk.log(string.format("BISKO electricity 2022: %g %s (%s; %s)", f, row.unit,
  row.confidence, row.source))

local school = kk.source.simulate {
  sensors = kk.env("DEMO_ROOMS", 12), seed = 2026, interval = "1m",
  backfill = kk.env("DEMO_BACKFILL", "2d"),
}

-- At shutdown the calculators stop (and flush what they hold) before the
-- sinks do (docs/guide/calculators.md).
local co2 = kk.calc.co2 { carrier = "strom", meter = "cumulative", fallback = "latest" }
local air = kk.calc.indoor_air { interval = "1m" }
local temp = kk.calc.window { property = "air_temperature", periods = { "hour", "day" },
                              stats = { "avg", "min", "max" } }
local balance = kk.calc.bisko {
  thing = "musterschule", sector = "municipal", carrier = "strom",
  meter = "cumulative", fallback = "latest",
  -- A local district-heating factor would go here, with its source:
  -- factors = { { carrier = "fernwaerme", value = 152, year_from = 2024,
  --               source = "Stadtwerke ..., Bescheinigung 2024" } },
}
local target = kk.calc.target { base_year = 2020, base = 60, target_year = 2045 }
local out = kk.sink.jsonl { name = "derived", path = data .. "/derived.jsonl" }

kk.pipe(school, { co2, air, temp, balance })
kk.pipe({ co2, air, temp }, out)
kk.pipe(balance, { out, target })
kk.pipe(target, out)
