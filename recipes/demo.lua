-- recipes/demo.lua - the Musterstadt: the demo that `make run` starts.
--
-- A simulated town of about 100 000 inhabitants that runs several
-- Baukasten recipes together, on embedded defaults only (no server, no
-- database server), with one SQLite store and one German dashboard on
-- http://127.0.0.1:8080/ (KLIMAKIT_HTTP changes the address):
--
--   Schulen      19 classrooms in three schools (source.simulate): CO2,
--                temperature, humidity; minutes above 1000
--                and 2000 ppm in lesson time (calc.indoor_air), alerts
--                (calc.alert) -> recipes/schulen-co2-ampel
--   Gebäude      four municipal buildings' meters and the DWD degree days:
--                gas use per month, weather-corrected, and a night
--                base-load alert -> recipes/gebaeude-energie
--   Klimabilanz  the BISKO balance with its path to 2040, data quality,
--                per inhabitant, budget -> recipes/bisko-bilanz
--   Maßnahmen    818 measures of a Klimastadtvertrag with status and
--                impact, partner updates on /api/measures/updates
--                -> recipes/massnahmen
--   Luft         eight low-cost air sensors along the main roads
--                (simulated here; in real life Sensor.Community pushes to
--                /sensor-community), two UBA reference stations and
--                Telraam counts from sample files, EU limit values, a map
--                -> recipes/luft-verkehr
--   PV           five municipal PV plants, avoided CO2e with the factor
--                named -> recipes/pv-ausbau
--   Hitze        heat days and tropical nights from DWD daily values
--                -> recipes/hitze-klimaanpassung
--
-- The classrooms replay the last seven days first (one summary line per
-- school day in the terminal), then go on in real time and every change
-- of a room's indoor-air class is printed as it happens.  The sample
-- files are read once; a restart continues where the town stopped (the
-- stores replace what they already hold, the calculators skip what they
-- counted).
--
-- Indoor-air classes for CO2 (Ad-hoc-Arbeitsgruppe Innenraumrichtwerte
-- IRK/AOLG, Bundesgesundheitsblatt 2008, as used by the Umweltbundesamt):
--   below 1000 ppm  hygienically harmless
--   1000-2000 ppm   conspicuous: ventilate
--   above 2000 ppm  unacceptable: ventilate now
local kk = require "klimakit"

-- `make run` passes --data-dir var/demo; KLIMAKIT_DATA overrides it.
kk.config { data_dir = kk.env("KLIMAKIT_DATA", nil), exit_when_done = false }

local R = kk.dir .. "/"
local listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080")
local store = kk.store.sqlite {}
local web = kk.publish.http {
  listen = listen,
  title = "Musterstadt (Demo, simuliert)",
  store = "sqlite",
  docs_dir = R .. "../docs",
  things_file = R .. "demo/orte.csv",
  -- The UBA and Telraam sample responses, served to the town's own polls.
  files = { ["/daten/"] = R .. "luft-verkehr/data" },
  properties = {
    alert_co2_lueften = { name = "CO₂ über 1.000 ppm im Unterricht" },
    alert_grundlast_nacht = { name = "Auffällig: Grundlast nachts" },
    alert_pm10_tag = { name = "PM10-Tagesmittel über dem Grenzwert" },
    gas = { name = "Gaszähler", name_en = "Gas meter", meter = true },
    gas_consumption_month = { name = "Gasverbrauch je Monat" },
    gas_consumption_month_weather_corrected = { name = "Gasverbrauch je Monat, witterungsbereinigt" },
    pm10_day_mean = { name = "PM10 Tagesmittel" },
    no2_day_mean = { name = "NO₂ Tagesmittel" },
    count_car = { name = "Pkw je Stunde" },
    count_bike = { name = "Fahrräder je Stunde" },
    co2e_avoided = "Vermiedene CO₂e",
    energy_month_sum = "Erzeugung im Monat",
  },
  units = { m3 = "m³" },
}
local function out(...) return { store, web, ... } end

-- ---- Schulen ---------------------------------------------------------------
local lessons = "Mo-Fr 08:00-13:30"
local interval_min = 2
local school = kk.source.simulate {
  sensors = 19, seed = 2026, interval = interval_min .. "m",
  backfill = kk.env("DEMO_BACKFILL", "7d"),
  -- Electricity is metered in two rooms only: the LED measure's meters
  -- (room-001, room-002 below, under "Maßnahmen").
  quantities = { "co2", "temperature", "humidity" },
}
local indoor = kk.calc.indoor_air { interval = interval_min .. "m", schedule = lessons }
local school_alerts = kk.calc.alert {
  name = "schulen_meldungen",
  quiet = "Mo-Su 18:00-07:00",
  rules = {
    co2_lueften = { property = "co2", above = 1000, clear = 900, duration = "10m",
                    schedule = lessons, label = "CO₂" },
  },
}

-- The terminal: one summary per school day, and each change of a room's
-- class while the town runs live.
local labels = { "harmless", "ventilate", "unacceptable - ventilate now" }
-- A room moves up a class at the threshold and back down only 50 ppm
-- below it, so that a value hovering at 1000 ppm is not reported twice.
local function classify(ppm, before)
  local up = ppm > 2000 and 3 or ppm >= 1000 and 2 or 1
  if before and up < before then
    local down_at = before == 3 and 1950 or 950
    if ppm >= down_at then return before end
  end
  return up
end
local class, days, order, done = {}, {}, {}, {}
local function day_of(ms) return kk.date("%a %Y-%m-%d", ms) end
local function summarise(day)
  local rooms, n1000, n2000, minutes, worst, worst_room = 0, 0, 0, 0, 0, "-"
  for thing, s in pairs(days[day]) do
    rooms = rooms + 1
    if s.m1000 > 0 then n1000 = n1000 + 1 end
    if s.m2000 > 0 then n2000 = n2000 + 1 end
    minutes = minutes + s.m1000
    if s.max > worst then worst, worst_room = s.max, thing end
  end
  print(string.format("%s  %2d rooms: %2d above 1000 ppm (%3d h %02d min in all), "
    .. "%2d above 2000 ppm; highest %4.0f ppm in %s", day, rooms, n1000,
    minutes // 60, minutes % 60, n2000, worst, worst_room))
  days[day] = nil
end
local function terminal(batch, emit)
  local live_after = (os.time() - 600) * 1000
  for r in batch:readings() do
    if r.property == "co2" then
      local day = day_of(r.time)
      if not days[day] and not done[day] then
        days[day] = {}
        order[#order + 1] = day
        local prev = order[#order - 1]
        if prev and days[prev] then summarise(prev); done[prev] = true end
      end
      if days[day] then
        local s = days[day][r.thing] or { m1000 = 0, m2000 = 0, max = 0 }
        days[day][r.thing] = s
        if r.value >= 1000 then s.m1000 = s.m1000 + interval_min end
        if r.value > 2000 then s.m2000 = s.m2000 + interval_min end
        if r.value > s.max then s.max = r.value end
      end
      local c = classify(r.value, class[r.thing])
      if r.time >= live_after and class[r.thing] and c ~= class[r.thing] then
        print(string.format("%s  %s: CO2 %4.0f ppm -> %s",
          kk.date("%H:%M", r.time), r.thing, r.value, labels[c]))
      end
      class[r.thing] = c
    end
  end
end

kk.pipe(school, out(indoor, school_alerts))
kk.pipe({ indoor, school_alerts }, out())
kk.pipe(school, terminal, kk.sink.null { name = "terminal" })

-- ---- Gebäude und Klimabilanz -------------------------------------------------
local degree_days = kk.source.file { name = "gradtage", path = R .. "bisko-bilanz/data/gradtage.csv" }
local buildings = kk.source.file { name = "gebaeude", path = R .. "gebaeude-energie/data/zaehler.csv" }
local monthly = kk.calc.degree_days {
  name = "witterung_gebaeude", thing = "dwd-3404", period = "month", meter = "cumulative",
  correct = { "gas" }, heating_share = 0.85,
  long_term_months = { 560, 480, 430, 290, 140, 35, 12, 12, 85, 245, 400, 520 },
}
local anomalies = kk.calc.alert {
  name = "auffaelligkeiten",
  rules = { grundlast_nacht = { property = "power", thing = "sporthalle-*", above = 8000,
                                duration = "2h", schedule = "Mo-Su 22:00-06:00",
                                label = "Leistung" } },
}
kk.pipe(buildings, out(monthly, anomalies))
kk.pipe({ monthly, anomalies }, out())

-- The balance reads the buildings' monthly readings of the energy
-- management (other meters than the 15-minute ones above: named bilanz/...).
local readings = kk.source.file { name = "bilanz_zaehler", path = R .. "bisko-bilanz/data/kommunale-zaehler.csv" }
local as_balance_meter = kk.map(function(r)
  return { thing = "bilanz/" .. r.thing, property = r.property, unit = r.unit,
           time = r.time, value = r.value }
end)
local carriers = {}
for _, b in ipairs { "rathaus", "schulzentrum-nord", "gymnasium-am-wall", "hallenbad",
                     "feuerwache" } do carriers["bilanz/" .. b] = "erdgas" end
for _, b in ipairs { "rathaus-strom", "schulzentrum-nord-strom", "hallenbad-strom" } do
  carriers["bilanz/" .. b] = "strom"
end
local balance = kk.calc.bisko {
  thing = "musterstadt", statistics = R .. "bisko-bilanz/data/bisko-eingabe.csv",
  sector = "municipal", carriers = carriers, meter = "cumulative", fallback = "latest",
  -- Inhabitants (Schätzung for the Musterstadt, see the bisko-bilanz playbook).
  population = { ["2021"] = 100412, ["2022"] = 101036, ["2023"] = 101380,
                 ["2024"] = 101590, ["2025"] = 101700, ["2026"] = 101750 },
  provisional = { 2024 },
}
local target = kk.calc.target {
  base_year = 1990, base = 824000, target_year = 2040, target = 25000, path = "points",
  points = { ["2030"] = 288400, ["2035"] = 150000 },
  budget = 2600000, budget_from = 2021,
}
local yearly = kk.calc.degree_days {
  name = "witterung_bilanz", thing = "dwd-3404", long_term = 3400,
  correct = { "co2e_total" }, heating_share = 0.25,
}
kk.pipe(readings, as_balance_meter, out(balance))
kk.pipe(degree_days, out(monthly, yearly))
kk.pipe(balance, out(target, yearly))
kk.pipe({ target, yearly }, out())

-- ---- Maßnahmen -----------------------------------------------------------------
-- The electricity meters of two classrooms of the Grundschule am Park
-- since 2022 (daily), where measure KSK-001 replaced the lighting.
local meters = kk.source.simulate {
  name = "massnahmen_zaehler", sensors = 2, seed = 26, interval = "1d", realtime = false,
  start = "2022-01-01T00:00:00Z", count = 2 * 1794, quantities = "energy",
}
-- From August 2024 the two buildings use a third less (new LED lighting).
local led_from = 1722470400000 -- 2024-08-01T00:00:00Z
local at = {}
local led = kk.map(function(r)
  if r.time < led_from then return r.value end
  at[r.thing] = at[r.thing] or r.value
  return at[r.thing] + (r.value - at[r.thing]) * 0.67
end)
local co2 = kk.calc.co2 { carrier = "strom", meter = "cumulative", fallback = "latest" }
local updates = kk.source.http {
  listen = listen, path = "/api/measures/updates",
  tokens_file = R .. "massnahmen/data/tokens.sha256",
}
local measures = kk.calc.measures { catalogue = R .. "massnahmen/data/massnahmen.csv" }
kk.pipe(meters, led, co2, measures)
kk.pipe(updates, measures)
kk.pipe(measures, out())
kk.pipe(co2, store)

-- ---- Luft und Verkehr ----------------------------------------------------------
-- The eight low-cost sensors, simulated from the school's clock as hourly
-- means: PM10 and NO2 with the morning and evening rush hour, more at the traffic axes
-- than in the park, the odd winter day above the PM10 limit.
local axes = { ["esp8266-1001001"] = 1.35, ["esp8266-1001002"] = 1.25,
               ["esp8266-1001003"] = 1.1, ["esp8266-1001004"] = 1.15,
               ["esp8266-1001005"] = 1.05, ["esp8266-1001006"] = 0.7,
               ["esp8266-1001007"] = 1.0, ["esp8266-1001008"] = 1.2 }
local last_air = nil
local function noise(n) return ((n * 1103515245 + 12345) % 2147483648) / 2147483648 end
local function air_sensors(batch, emit)
  for r in batch:readings() do
    local slot = r.time // 3600000 -- hourly means, as the limit values count
    if last_air == nil or slot > last_air then
      last_air = slot
      local hour = tonumber(kk.date("%H", r.time))
      local rush = 1 + 0.6 * math.exp(-((hour - 8) ^ 2) / 2) + 0.5 * math.exp(-((hour - 17.5) ^ 2) / 3)
      local day = r.time // 86400000
      local episode = 0.8 + 0.9 * noise(day) -- calm or still days
      local i = 0
      for id, f in pairs(axes) do
        i = i + 1
        local n = noise(slot * 16 + i)
        emit { thing = id, property = "pm10", unit = "ug/m3", time = slot * 3600000,
               value = math.floor((14 * f * rush * episode + 6 * n) * 10 + 0.5) / 10 }
        emit { thing = id, property = "no2", unit = "ug/m3", time = slot * 3600000,
               value = math.floor((18 * f * f * rush * episode + 5 * n) * 10 + 0.5) / 10 }
      end
    end
  end
end
local sensors = kk.source.http {
  listen = listen, path = "/sensor-community", format = "sensor.community",
  allow_anonymous = true,
}
local self_url = "http://" .. listen .. "/daten"
local uba = kk.decode.uba {}
local function sample(file, every)
  return kk.source.http_poll { name = "abruf_" .. file:gsub("%W", "_"), url = self_url .. "/" .. file,
                               every = every, jitter = "1s", start = "2026-11-25T00:00:00Z",
                               time_format = "%Y-%m-%d", tz = "CET" }
end
kk.pipe(sample("uba/stations.json", "1d"), uba)
kk.pipe(sample("uba/measures_pm10.json", "1h"), uba)
kk.pipe(sample("uba/measures_no2.json", "1h"), uba)
local counts = kk.decode.telraam {}
kk.pipe(sample("telraam/traffic.json", "1d"), counts)
local limits = kk.calc.outdoor_air { regime = "2008/50/EC" }
local air_alerts = kk.calc.alert {
  name = "luft_meldungen",
  rules = { pm10_tag = { property = "pm10", mean = "day", above = 50, label = "Feinstaub PM10" } },
}
local simulated_air = kk.transform.fn { name = "luftsensoren", fn = air_sensors }
kk.pipe(school, simulated_air)
kk.pipe({ simulated_air, sensors, uba }, out(limits, air_alerts))
kk.pipe(counts, out())
kk.pipe({ limits, air_alerts }, out())

-- ---- PV und Hitze ----------------------------------------------------------------
local pv = kk.source.file { name = "pv_erzeugung", path = R .. "pv-ausbau/data/erzeugung.csv" }
local factor, factor_source = 860, "GEG 2020 Anlage 9, Verdrängungsstrommix"
local avoided = kk.calc.pv_avoided { factor = factor, factor_source = factor_source }
local per_plant = kk.calc.window { name = "pv_summen", property = { "energy", "co2e_avoided" },
                                   periods = { "month", "year" }, stats = { "sum" },
                                   emit = "update" }
local plants = {}
for _, name in ipairs { "pv-rathaus", "pv-gymnasium", "pv-grundschule-nord",
                        "pv-sporthalle", "pv-feuerwehr" } do plants[name] = "pv" end
local roofs = kk.calc.quarter {
  quarters = { { name = "kommunale-daecher", members = plants } },
  meter = "interval", stamp = "start", periods = { "day", "month", "year" },
  factor = factor, factor_source = factor_source,
}
kk.pipe(pv, out(avoided, per_plant, roofs))
kk.pipe(avoided, out(per_plant))
kk.pipe({ per_plant, roofs }, out())

local weather = kk.source.file { name = "dwd_tageswerte",
                                 path = R .. "hitze-klimaanpassung/data/tageswerte-dwd-3404.csv" }
local heat = kk.calc.heat_days { name = "kenntage" }
kk.pipe(weather, out(heat))
kk.pipe(heat, out())
