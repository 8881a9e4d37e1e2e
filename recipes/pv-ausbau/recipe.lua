-- recipes/pv-ausbau/recipe.lua - PV expansion of a town: the inventory over
-- time (from the Marktstammdatenregister, in the columns Münster's
-- Klimadashboard publishes), the roof potential per district (a solar roof
-- register) and how much of it is used, the production of the municipal
-- PV plants and the CO2e it avoids, with the factor named.  Playbook:
-- playbook.md.
--
-- Embedded defaults: the sample files in data/ (fictitious "Musterstadt").
-- PV_BESTAND_CSV, PV_POTENZIAL_CSV and PV_ERZEUGUNG_CSV point to the town's
-- own files; PV_FACTOR with PV_FACTOR_SOURCE states another displacement
-- factor.
local kk = require "klimakit"

kk.config { exit_when_done = false } -- the files end, the dashboard stays

local TOWN = kk.env("PV_STADT", "musterstadt")
local bestand_csv = kk.env("PV_BESTAND_CSV", kk.dir .. "/data/pv-bestand.csv")
local potenzial_csv = kk.env("PV_POTENZIAL_CSV", kk.dir .. "/data/pv-potenzial.csv")
local erzeugung_csv = kk.env("PV_ERZEUGUNG_CSV", kk.dir .. "/data/erzeugung.csv")
-- Displacement factor: GEG 2020 Anlage 9, Verdrängungsstrommix (860 g/kWh),
-- unless the town states another one with its source.
local factor = kk.env("PV_FACTOR", 860)
local factor_source = kk.env("PV_FACTOR_SOURCE",
  "GEG 2020 Anlage 9, Verdrängungsstrommix")

-- ---- the two tables, read when the recipe loads ---------------------------

-- Splits a CSV file without quoted fields into rows of a header-keyed table.
local function read_csv(path)
  local rows, head = {}, nil
  for line in io.lines(path) do
    line = line:gsub("\r$", "")
    if line ~= "" then
      local f = {}
      for v in (line .. ","):gmatch("([^,]*),") do f[#f + 1] = v end
      if not head then
        head = f
      else
        local r = {}
        for i, k in ipairs(head) do r[k] = f[i] end
        rows[#rows + 1] = r
      end
    end
  end
  return rows
end

-- Milliseconds of local midnight (CET, UTC+1) of a date "YYYY-MM-DD".
local function day_ms(date)
  local y, m, d = date:match("^(%d%d%d%d)-(%d%d)-(%d%d)")
  assert(y, "not a date: " .. tostring(date))
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return (era * 146097 + doe - 719468) * 86400000 - 3600000
end

local function num(v, what)
  local n = tonumber(v)
  assert(n, what .. ": not a number: " .. tostring(v))
  return n
end

local stock = {} -- readings made from the two tables
local last_time, last_net = nil, 0
local prev_net
for _, r in ipairs(read_csv(bestand_csv)) do
  local t = day_ms(r.ZEIT)
  local thing = "pv-bestand/" .. TOWN
  local net = num(r.Nettonennleistung, "Nettonennleistung")
  stock[#stock + 1] = { thing = thing, property = "anlagen", unit = "1", time = t, value = num(r.AnzahlAnlagen, "AnzahlAnlagen") }
  stock[#stock + 1] = { thing = thing, property = "solarmodule", unit = "1", time = t, value = num(r.AnzahlSolarModule, "AnzahlSolarModule") }
  stock[#stock + 1] = { thing = thing, property = "bruttoleistung", unit = "kW", time = t, value = num(r.Bruttoleistung, "Bruttoleistung") }
  stock[#stock + 1] = { thing = thing, property = "nettonennleistung", unit = "kW", time = t, value = net }
  if prev_net then
    stock[#stock + 1] = { thing = thing, property = "zubau_netto", unit = "kW", time = t, value = net - prev_net }
  end
  prev_net, last_time, last_net = net, t, net
end

local pot_kwp, inst_kwp = 0, 0
for _, r in ipairs(read_csv(potenzial_csv)) do
  local thing = "pv-potenzial/" .. r.Stadtteil
  local p, i = num(r.Potenzial_kWp, "Potenzial_kWp"), num(r.Installiert_kWp, "Installiert_kWp")
  pot_kwp, inst_kwp = pot_kwp + p, inst_kwp + i
  stock[#stock + 1] = { thing = thing, property = "dachflaeche_sehr_geeignet", unit = "m2", time = last_time, value = num(r.DachflaecheSehrGeeignet_m2, "DachflaecheSehrGeeignet_m2") }
  stock[#stock + 1] = { thing = thing, property = "potenzial_leistung", unit = "kW", time = last_time, value = p }
  stock[#stock + 1] = { thing = thing, property = "potenzial_ertrag", unit = "MW.h", time = last_time, value = num(r.Potenzial_MWh_a, "Potenzial_MWh_a") }
  stock[#stock + 1] = { thing = thing, property = "installiert", unit = "kW", time = last_time, value = i }
  stock[#stock + 1] = { thing = thing, property = "ausschoepfung", unit = "%", time = last_time, value = 100 * i / p }
end
stock[#stock + 1] = { thing = "pv-potenzial/" .. TOWN, property = "ausschoepfung", unit = "%",
                      time = last_time, value = 100 * last_net / pot_kwp }
kk.log(string.format("PV-Bestand %s: %.0f kW netto, %.1f %% des Dachpotenzials (%.0f kWp)",
  TOWN, last_net, 100 * last_net / pot_kwp, pot_kwp))

-- ---- the pipeline ------------------------------------------------------------

local production = kk.source.file { path = erzeugung_csv }

-- Passes the production on and, with the first batch, the readings of the
-- two tables (again after a restart: stores keep one value per time).
local sent = false
local function with_stock(batch, emit)
  if not sent then
    for _, r in ipairs(stock) do emit(r) end
    sent = true
  end
  for r in batch:readings() do emit(r) end
end

local plants = {}
for _, name in ipairs { "pv-rathaus", "pv-gymnasium", "pv-grundschule-nord",
                        "pv-sporthalle", "pv-feuerwehr" } do
  plants[name] = "pv"
end

local avoided = kk.calc.pv_avoided { factor = factor, factor_source = factor_source }
local per_plant = kk.calc.window { property = { "energy", "co2e_avoided" },
                                   periods = { "month", "year" }, stats = { "sum" },
                                   emit = "update" }
local roofs = kk.calc.quarter {
  quarters = { { name = "kommunale-daecher", members = plants } },
  meter = "interval", stamp = "start", periods = { "day", "month", "year" },
  factor = factor, factor_source = factor_source,
}
local store = kk.store.sqlite {}
local web = kk.publish.http {
  listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080"),
  title = "PV-Ausbau " .. TOWN, store = "sqlite",
  properties = {
    nettonennleistung = "Nettonennleistung (installiert)",
    bruttoleistung = "Bruttoleistung", anlagen = "Anlagen", solarmodule = "Solarmodule",
    zubau_netto = "Zubau netto im Jahr", potenzial_leistung = "Dachpotenzial (Leistung)",
    potenzial_ertrag = "Dachpotenzial (Ertrag im Jahr)", installiert = "Installiert",
    ausschoepfung = "Ausschöpfung des Dachpotenzials",
    dachflaeche_sehr_geeignet = "Dachfläche, sehr geeignet",
    co2e_avoided = "Vermiedene CO₂e",
    energy_month_sum = "Erzeugung im Monat", energy_year_sum = "Erzeugung im Jahr",
    co2e_avoided_month_sum = "Vermiedene CO₂e im Monat",
    co2e_avoided_year_sum = "Vermiedene CO₂e im Jahr",
  },
  -- The inventory and the potential change once a year.
  stale = kk.env("PV_STALE", "400d"),
  units = { m2 = "m²" },
}

kk.pipe(production, with_stock, { avoided, per_plant, roofs, store, web })
kk.pipe(avoided, { per_plant, store, web })
kk.pipe({ per_plant, roofs }, { store, web })
