-- recipes/bisko-bilanz/recipe.lua - the municipal BISKO balance and the path
-- to climate neutrality 2040 for the council (playbook.md beside it).
--
--   * calc.bisko   the yearly balance by sector x carrier from the BISKO
--                  input table (data/bisko-eingabe.csv) plus the metered
--                  municipal buildings (data/kommunale-zaehler.csv: monthly
--                  meter readings), with data quality, per capita and the
--                  status of every year (final / vorläufig / unvollständig)
--   * calc.target  the path from the base year 1990 to 2040 with interim
--                  targets and the remaining CO2 budget
--   * calc.degree_days  the weather-corrected total beside the BISKO figure
--                  (never instead of it), from DWD monthly degree days
-- The dashboard's "Klimabilanz" page shows it; /climate.csv and
-- /climate.svg are the downloads for the council paper.
local kk = require "klimakit"

-- The sample files are read once; the dashboard keeps serving.
kk.config { exit_when_done = false }

local dir = kk.dir .. "/data/"
local listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080")

-- The town's metered buildings: a CSV export of the building management
-- (cumulative meter readings), or any source of `energy` readings.
local meters = kk.source.file {
  name = "zaehler", path = kk.env("BISKO_ZAEHLER", dir .. "kommunale-zaehler.csv"),
}
-- Monthly degree days G20/15 of the DWD station (klimakit readings; see
-- the playbook for the DWD's own gradtage CSV through source.http_poll).
local degree_days = kk.source.file {
  name = "gradtage", path = kk.env("BISKO_GRADTAGE", dir .. "gradtage.csv"),
}

local carriers = {}
for _, b in ipairs { "rathaus", "schulzentrum-nord", "gymnasium-am-wall",
                     "hallenbad", "feuerwache" } do carriers[b] = "erdgas" end
for _, b in ipairs { "rathaus-strom", "schulzentrum-nord-strom",
                     "hallenbad-strom" } do carriers[b] = "strom" end

local balance = kk.calc.bisko {
  thing = kk.env("BISKO_THING", "musterstadt"),
  statistics = kk.env("BISKO_TABELLE", dir .. "bisko-eingabe.csv"),
  sector = "municipal", carriers = carriers, meter = "cumulative",
  -- BISKO publishes the electricity factor per balance year; years after
  -- the newest one (2022: 505 g/kWh) use the newest, as the playbook says.
  fallback = "latest",
  -- Inhabitants on 31 December (Schätzung for the Musterstadt; take the
  -- state statistical office's figures).
  population = { ["2021"] = 100412, ["2022"] = 101036, ["2023"] = 101380,
                 ["2024"] = 101590, ["2025"] = 101700, ["2026"] = 101750 },
  -- The network operators' 2024 figures are not final yet.
  provisional = { 2024 },
}

local target = kk.calc.target {
  -- 1990 as the Klimaschutzkonzept has it (Schätzung for the Musterstadt:
  -- the 2021 total times the ratio 1990/2021 of the Münster series).
  base_year = 1990, base = 824000, target_year = 2040, target = 25000,
  path = "points",
  -- 2030: -65 % against 1990 (as the Bundes-Klimaschutzgesetz for Germany).
  points = { ["2030"] = 288400, ["2035"] = 150000 },
  budget = 2600000, budget_from = 2021,
}

local corrected = kk.calc.degree_days {
  thing = "dwd-3404", long_term = 3400, correct = { "co2e_total" },
  heating_share = 0.25,
}

local store = kk.store.sqlite {}
local dashboard = kk.publish.http {
  listen = listen, title = "Musterstadt – Klimabilanz", store = "sqlite",
}

kk.pipe(meters, balance)
kk.pipe(degree_days, corrected)
kk.pipe(balance, { target, corrected })
kk.pipe({ balance, target, corrected, degree_days }, store)
kk.pipe({ balance, target, corrected, degree_days }, dashboard)
