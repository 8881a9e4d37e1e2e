-- recipes/quartier-bilanz/recipe.lua - the electricity balance of a quarter
-- (Quartier) with PV roofs, a CHP (BHKW) and the meters of its buildings,
-- as the energy-positive-quarter projects draw it: production against
-- consumption per day, month and year, self-sufficiency (Autarkiegrad),
-- self-consumption, surplus and avoided CO2e.  Playbook: playbook.md.
--
-- Embedded default: three weeks of meter counts of the sample quarter
-- "sonnenhof" (data/zaehler.csv, what decode.tasmota makes of Tasmota SML
-- telemetry).  With QUARTIER_MQTT_URL set, the meters come live from a
-- broker as Tasmota telemetry (tele/<meter>/SENSOR) instead.
local kk = require "klimakit"

-- The sample file ends, the dashboard stays.
kk.config { exit_when_done = false }

local members = {
  ["pv-grundschule"] = "pv",       -- 99 kWp on the school roof
  ["pv-sonnenhof"] = "pv",         -- 45 kWp on the apartment blocks
  ["bhkw-nahwaerme"] = "chp",      -- 50 kW electric, heat-led
  ["grundschule"] = "consumer",
  ["kita-regenbogen"] = "consumer",
  ["sonnenhof-haus-a"] = "consumer",
  ["sonnenhof-haus-b"] = "consumer",
  ["baeckerei-korn"] = "consumer",
}

local store = kk.store.sqlite {
  things = {
    ["quarter/sonnenhof"] = { location = { 12.3731, 51.3397 },
                              properties = { name = "Quartier Sonnenhof (Beispiel)" } },
  },
}

local quarter = kk.calc.quarter {
  quarters = { { name = "sonnenhof", members = members } },
  meter = "cumulative",
  periods = { "day", "month", "year" },
  -- Grid factor: BISKO's Bundesmix from the factor table (the newest year
  -- for years not yet published).  A CHP is credited only with its own
  -- factor and source, e.g.:
  --   chp_factor = 420, chp_factor_source = "Stadtwerke ..., Bescheinigung"
}

local meters
local mqtt_url = kk.env("QUARTIER_MQTT_URL", "")
if mqtt_url ~= "" then
  local telemetry = kk.source.mqtt {
    url = mqtt_url, topic = kk.env("QUARTIER_TOPIC", "tele/+/SENSOR") }
  meters = kk.decode.tasmota {}
  kk.pipe(telemetry, meters)
else
  meters = kk.source.file { path = kk.dir .. "/data/zaehler.csv" }
end
kk.pipe(meters, { quarter, store })

kk.pipe(quarter, store)
kk.pipe({ quarter, meters }, kk.publish.http {
  listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080"),
  title = "Quartier Sonnenhof", store = "sqlite",
})
