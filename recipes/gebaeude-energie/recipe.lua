-- recipes/gebaeude-energie/recipe.lua - energy monitoring of municipal
-- buildings (playbook.md beside it).
--
--   * meters: electricity (SML reader: Total_in, Power_curr) and gas
--     (impulse counter) per building through Tasmota, as MQTT
--     tele/<building>/SENSOR messages decoded by decode.tasmota; without a
--     broker the recipe replays data/zaehler.csv (the same readings)
--   * calc.degree_days  gas consumption per building and month, weather-
--     corrected with DWD degree days G20/15 (beside the measured value)
--   * calc.alert        anomalies: night base load of the sports hall above
--     8 kW for two hours (lights or ventilation left on)
-- The dashboard shows each building (/things/<building>) with consumption
-- per day and month; /heat the degree days and climate factors.
local kk = require "klimakit"

local dir = kk.dir .. "/data/"
local listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080")
local broker = kk.env("KLIMAKIT_MQTT", "")

local meters
if broker ~= "" then
  -- Tasmota: MQTT topic tele/<building>/SENSOR, TelePeriod 300 s.
  local mqtt = kk.source.mqtt { url = broker, topic = { "tele/+/SENSOR" },
                                client_id = kk.env("KLIMAKIT_MQTT_CLIENT",
                                                   "klimakit-gebaeude") }
  meters = kk.decode.tasmota {
    map = { ["Gas.Count"] = "gas:m3" }, -- the gas meter's impulse counter
  }
  kk.pipe(mqtt, meters)
else
  kk.config { exit_when_done = false } -- the dashboard keeps serving
  meters = kk.source.file { name = "zaehler",
                            path = kk.env("GEBAEUDE_ZAEHLER", dir .. "zaehler.csv") }
end
-- Monthly degree days G20/15 of the DWD station: klimakit readings by
-- default; with GEBAEUDE_GRADTAGE_URL the DWD's own gradtage_YYYYMM.csv
-- (every station of a month; calc.degree_days keeps `thing`), polled and
-- decoded by decode.dwd.
local dd_url = kk.env("GEBAEUDE_GRADTAGE_URL", "")
local degree_days
if dd_url ~= "" then
  local poll = kk.source.http_poll { name = "gradtage_abruf", url = dd_url,
                                     every = "1d", jitter = "1s",
                                     format = "raw", start = "1d" }
  degree_days = kk.decode.dwd {}
  kk.pipe(poll, degree_days)
else
  degree_days = kk.source.file {
    name = "gradtage", path = kk.env("GEBAEUDE_GRADTAGE", dir .. "gradtage.csv"),
  }
end

local corrected = kk.calc.degree_days {
  thing = "dwd-3404", period = "month", meter = "cumulative",
  correct = { "gas" },
  -- Space heating share of the gas use (hot water and kitchens are not
  -- weather-dependent): Schätzung, see the playbook.
  heating_share = 0.85,
  -- Long-term monthly means G20/15 of the station (Schätzung for the
  -- sample; take the DWD's figures for the station).
  long_term_months = { 560, 480, 430, 290, 140, 35, 12, 12, 85, 245, 400, 520 },
}

local anomalies = kk.calc.alert {
  name = "auffaelligkeiten",
  rules = {
    grundlast_nacht = { property = "power", thing = "sporthalle-*",
                        above = 8000, duration = "2h",
                        schedule = "Mo-Su 22:00-06:00", label = "Leistung" },
  },
}

local store = kk.store.sqlite {}
local dashboard = kk.publish.http {
  listen = listen, title = "Musterstadt – Energie der Gebäude", store = "sqlite",
  properties = {
    gas = { name = "Gaszähler", name_en = "Gas meter", meter = true },
    gas_consumption_month = { name = "Gasverbrauch je Monat",
                              name_en = "Gas use per month" },
    gas_consumption_month_weather_corrected = {
      name = "Gasverbrauch je Monat, witterungsbereinigt",
      name_en = "Gas use per month, weather-corrected" },
    alert_grundlast_nacht = { name = "Auffällig: Grundlast nachts",
                              name_en = "Anomaly: night base load" },
  },
  units = { m3 = "m³" },
}

kk.pipe(meters, { corrected, anomalies, store, dashboard })
kk.pipe(degree_days, { corrected, store, dashboard })
kk.pipe({ corrected, anomalies }, store)
kk.pipe({ corrected, anomalies }, dashboard)
