-- recipes/open-data/recipe.lua - publishing by the open-data principle:
-- what the town measures goes out as open data (CSV, GeoJSON and a
-- DCAT-AP.de catalog that an open-data portal and GovData harvest), under
-- the Datenlizenz Deutschland – Namensnennung 2.0, with checksums – and
-- what must not go out stays in: single rooms and offices.  Playbook:
-- playbook.md.
--
-- Embedded defaults: a simulated primary school (ten classrooms, CO2) and
-- data/gebaeude.csv (daily electricity of four municipal buildings; the
-- occupancy of two single offices, which is never published).  A web
-- server of the town serves the export directory under OPENDATA_BASE_URL;
-- the open-data portal harvests the catalog from there.
local kk = require "klimakit"

local http = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080")
local dir = kk.env("OPENDATA_DIR", "var/open-data/veroeffentlicht")
local base_url = kk.env("OPENDATA_BASE_URL", "https://opendata.musterstadt.example/klima/")

local school = kk.source.simulate {
  sensors = 10, seed = 2026, interval = "5m", quantities = { "co2" },
  backfill = kk.env("OPENDATA_BACKFILL", "2d"),
}
local buildings = kk.source.file { path = kk.dir .. "/data/gebaeude.csv" }

-- Classroom CO2 is published only as the hourly mean of at least five
-- rooms (Lübeck agreed this with its data-protection officer): hourly means
-- per room first, then the school's mean once every room's hour is in (or
-- two hours later with those that came, if at least five did).
local ROOMS, MIN_ROOMS, SCHOOL = 10, 5, "grundschule-am-park"
local per_room = kk.calc.window { property = "co2", periods = { "hour" },
                                  stats = { "avg" }, emit = "close" }
local hours = {}
local function school_mean(batch, emit)
  local newest
  for r in batch:readings() do
    if r.property == "co2_hour_avg" then
      local h = hours[r.time] or { n = 0, sum = 0, seen = {} }
      hours[r.time] = h
      if not h.seen[r.thing] then
        h.seen[r.thing], h.n, h.sum = true, h.n + 1, h.sum + r.value
      end
      if not newest or r.time > newest then newest = r.time end
    end
  end
  for t, h in pairs(hours) do
    if h.n == ROOMS or (newest and newest - t >= 2 * 3600000) then
      if h.n >= MIN_ROOMS then
        emit { thing = SCHOOL, property = "co2_mean_rooms", unit = "ppm", time = t, value = h.sum / h.n }
        emit { thing = SCHOOL, property = "rooms_in_mean", unit = "1", time = t, value = h.n }
      end
      hours[t] = nil
    end
  end
end
local mean = kk.transform.fn { name = "schulmittel", fn = school_mean }

local store = kk.store.sqlite {
  things = {
    ["rathaus"] = { location = { 8.0471, 52.2726 }, properties = { name = "Rathaus" } },
    ["grundschule-am-park"] = { location = { 8.0390, 52.2801 }, properties = { name = "Grundschule am Park" } },
    ["hallenbad"] = { location = { 8.0602, 52.2655 }, properties = { name = "Hallenbad" } },
    ["stadtbibliothek"] = { location = { 8.0455, 52.2749 }, properties = { name = "Stadtbibliothek" } },
  },
}

local publisher = kk.env("OPENDATA_PUBLISHER", "Stadt Musterstadt, Fachbereich Umwelt und Klimaschutz")
local export = kk.publish.export {
  dir = dir,
  every = kk.env("OPENDATA_EVERY", "1h"),
  period = kk.env("OPENDATA_PERIOD", "all"),
  formats = { "csv", "geojson", "dcat" },
  -- Only these datasets are published; everything else in the store
  -- (CO2 of single rooms, office occupancy) is not.
  datasets = {
    { property = "energy", unit = "kW.h", title = "Stromverbrauch städtischer Gebäude (Tageswerte)",
      description = "Täglicher Stromverbrauch von Rathaus, Grundschule am Park, Hallenbad und "
                 .. "Stadtbibliothek in kWh (Zählerablesung), Zeiten in UTC.",
      keywords = { "Energie", "Strom", "kommunale Gebäude", "Klimaschutz" },
      themes = { "ENER", "GOVE" } },
    { property = "co2_mean_rooms", title = "CO₂ in Klassenräumen (Stundenmittel aus mindestens 5 Räumen)",
      description = "Mittlere CO₂-Konzentration (ppm) der Klassenräume der Grundschule am Park je "
                 .. "Stunde; veröffentlicht nur, wenn mindestens fünf Räume gemessen haben. "
                 .. "Einzelne Räume werden nicht veröffentlicht.",
      keywords = { "Luftqualität", "Schule", "CO2", "Innenraumluft" },
      themes = { "EDUC", "HEAL", "ENVI" } },
  },
  publisher = publisher,
  publisher_url = kk.env("OPENDATA_PUBLISHER_URL", "https://www.musterstadt.example/"),
  contact = kk.env("OPENDATA_CONTACT", "opendata@musterstadt.example"),
  licence = kk.env("OPENDATA_LICENCE", "dl-by-de/2.0"),
  attribution = kk.env("OPENDATA_ATTRIBUTION", publisher),
  geocoding = kk.env("OPENDATA_AGS", "05914000"),
  geocoding_text = kk.env("OPENDATA_ORT", "Musterstadt"),
  availability = "STABLE",
  base_url = base_url,
  title = "Offene Klimadaten Musterstadt",
  description = "Messdaten der Stadt Musterstadt zu Energie und Raumluft, veröffentlicht mit klimakit.",
}

local web = kk.publish.http {
  listen = http, title = "Offene Daten Musterstadt", store = "sqlite",
  properties = { co2_mean_rooms = "CO₂ (Mittel der Klassenräume)",
                 rooms_in_mean = "Räume im Mittel",
                 -- daily consumption, not a meter count
                 energy = { name = "Strom am Tag", name_en = "Electricity per day", meter = false } },
}

kk.pipe(school, { store, per_room })
kk.pipe(per_room, mean)
kk.pipe(mean, { store, web, export })
kk.pipe(buildings, { store, web, export })
kk.pipe(school, { web, export })
