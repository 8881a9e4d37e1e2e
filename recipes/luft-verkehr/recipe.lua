-- recipes/luft-verkehr/recipe.lua - Luftqualität an Verkehrsachsen.
--
-- Low-cost air sensors at traffic axes (the Sensor.Community / airrohr
-- firmware pushes to source.http, as in Leipzig's AIAMO network of about
-- 50 stations), compared with the Umweltbundesamt's reference stations
-- (its air data API through source.http_poll and decode.uba; every UBA
-- station becomes a thing with its name and place), EU limit values and
-- their exceedances per station (calc.outdoor_air: PM10 day means above
-- 50 µg/m³, NO2 hours above 200 µg/m³, 39. BImSchV), an alert when a
-- station's PM10 day mean exceeds the limit, traffic counts of Telraam
-- segments beside them, and a map of all stations.  See playbook.md.
--
-- Embedded defaults: the UBA and Telraam responses in data/ are served by
-- the dashboard itself under /daten/ and polled from there (a sample
-- winter day, 25.11.2026, values invented); the low-cost sensors push to
-- /sensor-community (data/sensor-community-*.json are pushes to try).
-- Real endpoints: UBA_URL (e.g. https://www.umweltbundesamt.de/api/air_data/v3),
-- UBA_STATIONS (station ids, comma separated), TELRAAM_URL with
-- TELRAAM_KEY and TELRAAM_SEGMENTS, SENSOR_TOKENS (tokens of the sensors).
local kk = require "klimakit"

local http = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080")
local self_url = "http://" .. http .. "/daten"

local store = kk.store.sqlite { path = kk.env("LUFT_DB", nil) }
local web = kk.publish.http {
  listen = http,
  title = kk.env("LUFT_TITEL", "Luft und Verkehr Musterstadt"),
  store = "sqlite",
  things_file = kk.env("LUFT_STATIONEN", kk.dir .. "/data/stationen.csv"),
  files = { ["/daten/"] = kk.dir .. "/data" },
  map_outline = kk.env("LUFT_UMRISS", nil),
  map_tiles = kk.env("LUFT_KACHELN", nil),
  map_attribution = kk.env("LUFT_KACHELN_HINWEIS", nil),
  -- Stations are public places: the public sees every station, not the
  -- alerts (there is no token by default: every page is open; with
  -- LUFT_TOKENS the internal pages need one).
  tokens_file = kk.env("LUFT_TOKENS", nil),
  public = kk.env("LUFT_TOKENS", "") ~= "" and { min_group = 0,
    pages = { "/", "/karte", "/gruppe/*", "/things/*", "/csv", "/api/latest", "/daten/*" } } or nil,
  properties = {
    pm10_day_mean = { name = "PM10 Tagesmittel", name_en = "PM10 daily mean" },
    no2_day_mean = { name = "NO₂ Tagesmittel", name_en = "NO₂ daily mean" },
    pm10_exceedance_days = { name = "Tage über 50 µg/m³ (PM10)", name_en = "Days above 50 µg/m³ (PM10)" },
    no2_exceedance_hours = { name = "Stunden über 200 µg/m³ (NO₂)", name_en = "Hours above 200 µg/m³ (NO₂)" },
    count_car = { name = "Pkw je Stunde", name_en = "Cars per hour" },
    count_heavy = { name = "Lkw je Stunde", name_en = "Lorries per hour" },
    count_bike = { name = "Fahrräder je Stunde", name_en = "Bicycles per hour" },
    count_pedestrian = { name = "Fußgänger je Stunde", name_en = "Pedestrians per hour" },
    uptime = { name = "Zählzeit (Anteil der Stunde)", name_en = "Counting time (share of the hour)" },
    alert_pm10_tag = { name = "PM10-Tagesmittel über dem Grenzwert" },
  },
}

-- Low-cost sensors: the airrohr firmware's "Senden an eigene API".
local sensors = kk.source.http {
  listen = http, path = "/sensor-community", format = "sensor.community",
  tokens_file = kk.env("SENSOR_TOKENS", nil),
  allow_anonymous = kk.env("SENSOR_TOKENS", "") == "",
}

-- The UBA reference stations: stations/json once a day (names, places),
-- hourly values of PM10 and NO2.
local uba = kk.env("UBA_URL", self_url .. "/uba")
local real_uba = uba ~= self_url .. "/uba"
local ids = kk.env("UBA_STATIONS", "901,902")
local function uba_poll(what, file, every)
  return kk.source.http_poll {
    url = real_uba and (uba .. what) or (uba .. "/" .. file),
    every = every, jitter = real_uba and "1m" or "1s",
    start = kk.env("UBA_START", real_uba and "2d" or "2026-11-25T00:00:00Z"),
    time_format = "%Y-%m-%d", tz = "CET",
  }
end
local decode = kk.decode.uba {}
kk.pipe(uba_poll("/stations/json?lang=de&index=id", "stations.json", "1d"), decode)
for comp, name in pairs { [1] = "pm10", [5] = "no2" } do
  for id in ids:gmatch("[^,%s]+") do
    kk.pipe(uba_poll("/measures/json?station=" .. id .. "&component=" .. comp ..
                     "&scope=2&date_from={from}&date_to={to}&time_from=1&time_to=24",
                     "measures_" .. name .. ".json", kk.env("UBA_EVERY", "1h")), decode)
    if not real_uba then break end -- one sample file holds every station
  end
end

-- Telraam counts beside the stations (POST reports/traffic per segment).
local telraam = kk.env("TELRAAM_URL", "")
local counts = kk.decode.telraam {}
if telraam ~= "" then
  for seg in kk.env("TELRAAM_SEGMENTS", ""):gmatch("[^,%s]+") do
    kk.pipe(kk.source.http_poll {
      url = telraam .. "/v1/reports/traffic",
      body = '{"level":"segments","format":"per-hour","id":"' .. seg ..
             '","time_start":"{from:%Y-%m-%d %H:%M:%SZ}","time_end":"{to:%Y-%m-%d %H:%M:%SZ}"}',
      header_env = { ["X-Api-Key"] = "TELRAAM_KEY" },
      every = "1h", jitter = "5m", window = "1h", lag = "2h", start = "7d", rate = "1/s",
    }, counts)
  end
else
  kk.pipe(kk.source.http_poll { url = self_url .. "/telraam/traffic.json", every = "1d",
                                jitter = "1s", start = "2026-11-25T00:00:00Z" }, counts)
end

-- EU limit values and their exceedances per station; an alert when a
-- PM10 day mean exceeds 50 µg/m³.
local limits = kk.calc.outdoor_air { regime = kk.env("LUFT_GRENZWERTE", "2008/50/EC") }
local alerts = kk.calc.alert {
  rules = { pm10_tag = { property = "pm10", mean = "day", above = 50, label = "Feinstaub PM10" } },
}
kk.pipe(sensors, { store, web, limits, alerts })
kk.pipe(decode, { store, web, limits, alerts })
kk.pipe(counts, { store, web })
kk.pipe(limits, { store, web })
kk.pipe(alerts, { store, web,
  kk.sink.file { path = kk.env("LUFT_MELDUNGEN", kk.data_dir .. "/meldungen.csv"),
                 format = "template", template = "{local};{thing};{property};{value}",
                 template_header = "Zeit;Messstelle;Meldung;1 = beginnt, 0 = endet" } })
