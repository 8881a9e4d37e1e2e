-- recipes/massnahmen/recipe.lua - the measures tracker at Klimastadtvertrag
-- scale: a catalogue of 818 city and partner measures (CSV), partner
-- updates over an authenticated HTTP endpoint (journal first, 202), the
-- metered impact of the measures linked to meters, and the dashboard's
-- /measures pages.  The playbook (playbook.md) explains every step.
--
-- Embedded defaults: the generated catalogue in data/massnahmen.csv, two
-- simulated school rooms whose electricity meters feed the LED measure
-- KSK-001 (daily meter readings since 2022; the LED retrofit of August
-- 2024 lowers the consumption by a third), and the demo token
-- "massnahmen-demo".  Environment variables switch to real inputs:
--   MASSNAHMEN_KATALOG  the catalogue CSV (Maßnahmenliste, ';' separated)
--   MASSNAHMEN_TOKENS   file of SHA-256 digests of the partners' tokens
--   MASSNAHMEN_OPENDATA directory of the open-data export (massnahmen.csv,
--                       massnahmen-jahre.csv, DCAT-AP.de catalog, checksums)
--   KLIMAKIT_HTTP       address of the dashboard and the update endpoint
local kk = require "klimakit"

local listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080")
local catalogue = kk.env("MASSNAHMEN_KATALOG", kk.dir .. "/data/massnahmen.csv")
local tokens = kk.env("MASSNAHMEN_TOKENS", kk.dir .. "/data/tokens.sha256")

kk.config { exit_when_done = false }

-- Two classrooms' cumulative electricity meters, one reading a day from
-- 2022 to the end of November 2026 (2 rooms x 1794 days).
local meters = kk.source.simulate {
  sensors = 2, seed = 26, interval = "1d", realtime = false,
  start = "2022-01-01T00:00:00Z", count = 2 * 1794, quantities = "energy",
}
-- The LED retrofit (KSK-001, August 2024): the meters advance a third
-- more slowly from then on.
local led_from = 1722470400000 -- 2024-08-01T00:00:00Z
local at = {}
local led = kk.map(function(r)
  if r.time < led_from then return r.value end
  at[r.thing] = at[r.thing] or r.value
  return at[r.thing] + (r.value - at[r.thing]) * 0.67
end)
-- kWh -> kg CO2e with the BISKO electricity factor (newest year for later
-- years, as the playbook says).
local co2 = kk.calc.co2 { carrier = "strom", meter = "cumulative", fallback = "latest" }

-- Partner updates: POST JSON with a bearer token; the journal holds each
-- update before the 202.
local updates = kk.source.http {
  listen = listen, path = "/api/measures/updates", tokens_file = tokens,
}

local measures = kk.calc.measures { catalogue = catalogue }
local store = kk.store.sqlite {}
local web = kk.publish.http {
  listen = listen, title = "Musterstadt – Maßnahmen", store = "sqlite",
}

-- Open data: the catalogue and its yearly impact (and the store's series)
-- as CSV with a DCAT-AP.de entry, licence Datenlizenz Deutschland 2.0.
local opendata = kk.publish.export {
  dir = kk.env("MASSNAHMEN_OPENDATA", kk.data_dir .. "/opendata"),
  every = "10m", formats = { "csv", "dcat" }, licence = "dl-by-de/2.0",
  publisher = "Musterstadt", title = "Klimaschutzmaßnahmen der Musterstadt",
}

kk.pipe(meters, led, co2, measures)
kk.pipe(updates, measures)
kk.pipe(measures, { store, web, opendata })
kk.pipe(co2, store)
