-- recipes/urban-data-platform/recipe.lua - an urban data platform in small,
-- after Hagen's klimakommune.digital: traffic, buildings, industry, heat and
-- climate-adaptation sensors (stream water levels for floods, soil moisture
-- at street trees) in one store; CO2e where it applies; alerts for flood
-- and watering; a public dashboard; the SensorThings API and MQTT for other
-- systems.  Playbook: playbook.md.
--
-- Embedded defaults: sample files (data/, and the verkehr-co2 recipe's
-- traffic week) and a simulated school; nothing is forwarded.  Environment
-- variables connect real systems: UDP_TTN_URL (LoRaWAN sensors through The
-- Things Stack's MQTT server), UDP_MQTT_URL (forward every reading to a
-- broker for other systems).
local kk = require "klimakit"

kk.config { exit_when_done = false } -- the sample files end, the platform stays

local http = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080")

-- ---- the sectors -----------------------------------------------------------

-- Verkehr: counts of three street segments (Telraam format, decoded).
local traffic = kk.source.file { name = "verkehr",
  path = kk.dir .. "/../verkehr-co2/data/zaehlungen.jsonl" }
-- Gebäude: a school with twelve classrooms (CO2, temperature, electricity).
local buildings = kk.source.simulate { name = "gebaeude", sensors = 12, seed = 59,
  interval = "5m", quantities = { "co2", "temperature", "energy" },
  backfill = kk.env("UDP_BACKFILL", "1d") }
-- Industrie: electricity and gas of an industrial partner, hourly.
local industry = kk.source.file { name = "industrie", path = kk.dir .. "/data/industrie.csv" }
-- Wärme: heat fed into a district-heating network and its supply temperature.
local heat = kk.source.file { name = "waerme", path = kk.dir .. "/data/waerme.csv" }
-- Klimafolgenanpassung: stream levels and soil moisture at street trees.
local adaptation = kk.source.file { name = "klimaanpassung", path = kk.dir .. "/data/klimaanpassung.csv" }

local sources = { traffic, buildings, industry, heat, adaptation }

-- Live LoRaWAN sensors through The Things Stack (TTS) MQTT server:
-- topic v3/<app>@<tenant>/devices/<device>/up, decoded_payload from the
-- application's payload formatter (water_level_cm, soil_moisture_pct ...).
local ttn_url = kk.env("UDP_TTN_URL", "")
if ttn_url ~= "" then
  -- User name app@tenant and an API key of the application, from the
  -- environment (never in the recipe).
  local uplinks = kk.source.mqtt { name = "ttn", url = ttn_url,
    topic = kk.env("UDP_TTN_TOPIC", "v3/+/devices/+/up"),
    username_env = kk.env("UDP_TTN_USER", "") ~= "" and "UDP_TTN_USER" or nil,
    password_env = kk.env("UDP_TTN_KEY", "") ~= "" and "UDP_TTN_KEY" or nil }
  local lorawan = kk.decode.ttn_v3 { map = {
    water_level_cm = "water_level:cm", soil_moisture_pct = "soil_moisture:%",
    battery_v = "battery:V" } }
  kk.pipe(uplinks, lorawan)
  sources[#sources + 1] = lorawan
end

-- ---- what the platform derives ---------------------------------------------

-- CO2e of electricity, gas and heat (BISKO factors; district heating with a
-- local factor and its source, as BISKO asks for), and of road traffic.
local co2 = kk.calc.co2 {
  set = "bisko", fallback = "latest",
  carriers = { ["industrie-partner-strom"] = "strom", ["industrie-partner-gas"] = "erdgas",
               ["fernwaerme-mitte"] = "fernwaerme" },
  carrier = "strom", -- the school's meters
  meter = "interval",
  factors = { { carrier = "fernwaerme", value = 180, year_from = 2020,
                source = "Beispielwert (Schätzung) – hier den Faktor des Fernwärmeversorgers mit Quelle eintragen" } },
}
local energy_interval = kk.filter(function(r)
  return r.property == "energy" and not r.thing:match("^room%-")
end)
local school_meters = kk.calc.co2 { name = "co2_schule", carrier = "strom", set = "bisko",
                                    fallback = "latest", meter = "cumulative" }
local rooms_energy = kk.filter(function(r) return r.property == "energy" and r.thing:match("^room%-") end)
local traffic_co2 = kk.calc.traffic { segments = {
  ["telraam-9000003101"] = 0.8, ["telraam-9000003102"] = 0.5, ["telraam-9000003103"] = 1.6 } }
local motor = kk.filter(function(r) return r.property == "count_pkw" or r.property == "count_lkw" end)

-- Flood and watering alerts, each an event when it opens and when it closes.
local alerts = kk.calc.alert { rules = {
  hochwasser = { property = "water_level", above = tonumber(kk.env("UDP_PEGEL_WARN_CM", 120)),
                 clear = tonumber(kk.env("UDP_PEGEL_WARN_CM", 120)) - 10, duration = "15m" },
  giessen = { property = "soil_moisture", below = 20, clear = 25, duration = "2h" },
} }

-- ---- one store, and what other systems read ----------------------------------

local store = kk.store.sqlite {
  things = {
    ["pegel-nahmerbach"] = { location = { 7.5061, 51.3360 }, properties = { name = "Pegel Nahmerbach", sektor = "Klimafolgenanpassung" } },
    ["pegel-volme-eckesey"] = { location = { 7.4721, 51.3713 }, properties = { name = "Pegel Volme, Eckesey", sektor = "Klimafolgenanpassung" } },
    ["baum-friedrich-ebert-platz-3"] = { location = { 7.4690, 51.3594 }, properties = { name = "Linde Friedrich-Ebert-Platz 3", sektor = "Klimafolgenanpassung" } },
    ["baum-volkspark-12"] = { location = { 7.4617, 51.3551 }, properties = { name = "Ahorn Volkspark 12", sektor = "Klimafolgenanpassung" } },
    ["industrie-partner-strom"] = { properties = { name = "Industriepartner, Strom", sektor = "Industrie" } },
    ["industrie-partner-gas"] = { properties = { name = "Industriepartner, Erdgas", sektor = "Industrie" } },
    ["fernwaerme-mitte"] = { location = { 7.4745, 51.3598 }, properties = { name = "Fernwärmenetz Mitte", sektor = "Wärme" } },
  },
}
local web = kk.publish.http {
  listen = http, title = kk.env("UDP_TITLE", "Urbane Datenplattform (Beispiel)"), store = "sqlite",
  cors = kk.env("UDP_CORS", "*"),
  properties = {
    water_level = "Wasserstand", soil_moisture = "Bodenfeuchte",
    supply_temperature = "Vorlauftemperatur", energy = { name = "Energie", meter = false },
    count_pkw = "Pkw je Stunde", count_lkw = "Lkw/Busse je Stunde",
    count_rad = "Räder je Stunde", count_fuss = "Fußgänger je Stunde",
    alert_hochwasser = "Hochwasserwarnung", alert_giessen = "Gießbedarf",
  },
}
-- The SensorThings API (OGC, v1.1) on the same address: /v1.1/Things ...
local sta = kk.publish.sensorthings { listen = http, store = "sqlite", cors = kk.env("UDP_CORS", "*") }

local outputs = { store, web, sta }
-- Forwarding to other systems over MQTT only when a broker is named: by
-- default what other systems act on (the climate-adaptation sensors, the
-- alerts and the CO2e of industry, heat and traffic), with
-- UDP_MQTT_SELECT=alle every reading.
local mqtt_url = kk.env("UDP_MQTT_URL", "")
if mqtt_url ~= "" then
  local forward = kk.forward.mqtt { url = mqtt_url,
    topic = kk.env("UDP_MQTT_TOPIC", "udp/{thing}/{property}"), retain = true }
  if kk.env("UDP_MQTT_SELECT", "auswahl") == "alle" then
    outputs[#outputs + 1] = forward
  else
    local wanted = { water_level = true, soil_moisture = true, battery = true }
    local selected = kk.filter(function(r)
      return wanted[r.property] or r.property:match("^alert_")
        or (r.property:match("^co2e") and not r.thing:match("^room%-"))
    end)
    kk.pipe(selected, forward)
    outputs[#outputs + 1] = selected
  end
end

for _, s in ipairs(sources) do
  kk.pipe(s, outputs)
  kk.pipe(s, { energy_interval, rooms_energy, motor, alerts })
end
kk.pipe(energy_interval, co2)
kk.pipe(rooms_energy, school_meters)
kk.pipe(motor, traffic_co2)
kk.pipe({ co2, school_meters, traffic_co2, alerts }, outputs)
