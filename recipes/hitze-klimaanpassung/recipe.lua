-- recipes/hitze-klimaanpassung/recipe.lua - heat days, tropical nights and
-- local temperature sensors for climate adaptation (playbook.md beside it).
--
--   * calc.heat_days (DWD)     Sommertage, heiße Tage, Tropennächte, Frost-
--                              und Eistage per month and year with the
--                              long-term mean, from the DWD's daily TXK/TNK
--   * calc.heat_days (sensors) the same per place from own sensors (the
--                              local day's minimum and maximum): where the
--                              town is hotter than the park
--   * calc.alert               a heat warning to the Hitzeaktionsplan team
--                              when a sensor's daily mean passes 26 °C
-- The dashboard's page /heat shows it.
local kk = require "klimakit"

kk.config { exit_when_done = false } -- the dashboard keeps serving

local dir = kk.dir .. "/data/"
local listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080")

-- Daily values of the DWD station.  Default: the sample as klimakit
-- readings (converted from data/produkt_klima_tag_*.txt).  With DWD_URL the
-- DWD's own file (zip or text, produkt_klima_tag) is polled and decoded.
local dwd_url = kk.env("DWD_URL", "")
local station
if dwd_url ~= "" then
  station = kk.source.http_poll { name = "dwd_abruf", url = dwd_url, every = "6h", jitter = "1s",
                                  format = "raw", start = "1d" }
else
  station = kk.source.file { name = "dwd",
                             path = dir .. "tageswerte-dwd-3404.csv" }
end
local decoded = dwd_url ~= "" and kk.decode.dwd {} or nil

-- Own sensors (LoRaWAN or WLAN; here a heat wave in August 2025, hourly).
local sensors = kk.source.file {
  name = "sensoren",
  path = kk.env("HITZE_SENSOREN", dir .. "sensoren-hitzewelle-2025.csv"),
}

local days_dwd = kk.calc.heat_days { name = "kenntage_dwd" }
local days_local = kk.calc.heat_days { name = "kenntage_sensoren",
                                       input = "readings", min_readings = 20 }
local warning = kk.calc.alert {
  name = "hitzewarnung",
  rules = { heisser_tag = { property = "air_temperature", mean = "day",
                            above = 26 } },
}

local store = kk.store.sqlite {}
local dashboard = kk.publish.http {
  listen = listen, title = "Musterstadt – Hitze und Klimaanpassung",
  store = "sqlite",
}

if decoded then
  kk.pipe(station, decoded, { days_dwd, store, dashboard })
else
  kk.pipe(station, { days_dwd, store, dashboard })
end
kk.pipe(sensors, { days_local, warning, store, dashboard })
kk.pipe({ days_dwd, days_local, warning }, store)
kk.pipe({ days_dwd, days_local, warning }, dashboard)
