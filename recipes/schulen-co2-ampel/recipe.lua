-- recipes/schulen-co2-ampel/recipe.lua - CO2-Ampeln in Schulen.
--
-- CO2 sensors in classrooms, judged by the Umweltbundesamt's classes
-- (below 1000 ppm hygienically harmless, 1000-2000 ppm conspicuous:
-- ventilate, above 2000 ppm unacceptable: ventilate now); minutes above
-- 1000 and 2000 ppm counted in lesson time only (calc.indoor_air with a
-- schedule); alerts to the caretaker when a room stays above 1000 ppm for
-- ten minutes in a lesson or a sensor falls silent (calc.alert, delivered
-- by e-mail and webhook when configured, else written to a file and the
-- log); a dashboard whose public view shows only means over at least
-- five rooms of a school (Lübeck's rule, agreed with its data-protection
-- officer), never a single room, and whose internal view (a token) shows
-- the rooms, the open alerts and a map.  See playbook.md.
--
-- Embedded defaults: 19 simulated classrooms in three schools (a week of
-- history, then in real time), the rooms' names and places from
-- data/raeume.csv, SQLite in the data directory.  Real sensors: set
-- SCHULE_MQTT_URL (The Things Stack or another broker, Elsys ERS CO2
-- payloads decoded by recipes/decoders/elsys.lua).
local kk = require "klimakit"

local lessons = kk.env("SCHULE_UNTERRICHT", "Mo-Fr 08:00-13:30")
-- Holidays (Ferien) as dates or ranges, comma separated.
local holidays = {}
for d in kk.env("SCHULE_FERIEN", ""):gmatch("[^,%s]+") do holidays[#holidays + 1] = d end
if #holidays == 0 then holidays = nil end

local rooms
local mqtt = kk.env("SCHULE_MQTT_URL", "")
if mqtt ~= "" then
  local up = kk.source.mqtt {
    url = mqtt,
    username = kk.env("SCHULE_MQTT_USER", "schulen-co2@ttn"),
    password_env = "SCHULE_MQTT_PASSWORD",
    protocol = "3.1.1", qos = 0,
    topic = { kk.env("SCHULE_MQTT_TOPIC", "v3/schulen-co2@ttn/devices/+/up") },
  }
  rooms = kk.decode.lua { path = "decoders/elsys.lua", envelope = "ttn-v3" }
  kk.pipe(up, rooms)
else
  rooms = kk.source.simulate {
    sensors = 19, seed = 2026, interval = "2m",
    backfill = kk.env("SCHULE_BACKFILL", "7d"),
  }
end

-- The database: in the data directory unless SCHULE_DB names a file.
local store = kk.store.sqlite { path = kk.env("SCHULE_DB", nil) }

local tokens = kk.env("SCHULE_TOKENS", kk.dir .. "/data/tokens.sha256")
local web = kk.publish.http {
  listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080"),
  title = kk.env("SCHULE_TITEL", "CO₂-Ampel Musterstadt"),
  store = "sqlite",
  things_file = kk.env("SCHULE_RAEUME", kk.dir .. "/data/raeume.csv"),
  tokens_file = tokens,
  -- The public sees the schools, never a room: means over at least five
  -- rooms with current data (Lübeck, Vorlage 2022/11077-01-01).
  public = { min_group = kk.env("SCHULE_MIN_RAEUME", 5),
             properties = { "co2", "air_temperature", "relative_humidity" },
             pages = { "/", "/karte", "/gruppe/*", "/api/latest" } },
  properties = {
    alert_co2_lueften = { name = "CO₂ über 1.000 ppm im Unterricht" },
    alert_co2_sofort = { name = "CO₂ über 2.000 ppm im Unterricht" },
    alert_sensor_still = { name = "Sensor sendet nicht" },
  },
}

local air = kk.calc.indoor_air { interval = "2m", schedule = lessons, closed = holidays }

local alerts = kk.calc.alert {
  quiet = kk.env("SCHULE_RUHEZEIT", "Mo-Su 18:00-07:00"),
  rules = {
    co2_lueften = { property = "co2", above = 1000, clear = 900, duration = "10m",
                    schedule = lessons, closed = holidays, label = "CO₂" },
    co2_sofort = { property = "co2", above = 2000, clear = 1500, duration = "4m",
                   schedule = lessons, closed = holidays, label = "CO₂",
                   severity = "critical" },
    sensor_still = { property = "co2", stale = "2h", schedule = lessons },
  },
}

-- Where alerts go: e-mail and webhook when configured, always a file.
local targets = { store, web,
  kk.sink.file { path = kk.env("SCHULE_MELDUNGEN", kk.data_dir .. "/meldungen.csv"),
                 format = "template", template = "{local};{thing};{property};{value}",
                 template_header = "Zeit;Raum;Meldung;1 = beginnt, 0 = endet" } }
local smtp = kk.env("SCHULE_SMTP_URL", "")
if smtp ~= "" then
  targets[#targets + 1] = kk.forward.email {
    url = smtp, starttls = kk.env("SCHULE_SMTP_STARTTLS", "required"),
    user = kk.env("SCHULE_SMTP_USER", "klimakit"),
    from = kk.env("SCHULE_MAIL_VON", "co2-ampel@stadt.example"),
    to = { kk.env("SCHULE_MAIL_AN", "hausmeister@schule.example") },
  }
end
local hook = kk.env("SCHULE_WEBHOOK_URL", "")
if hook ~= "" then targets[#targets + 1] = kk.forward.webhook { url = hook } end

kk.pipe(rooms, { store, web, air, alerts })
kk.pipe(air, { store, web })
kk.pipe(alerts, targets)
