-- recipes/demo.lua - the demo that `make run` starts.
--
-- A simulated school: twelve classrooms, each with a CO2 sensor, a
-- thermometer, a hygrometer and an electricity meter.  The last day is
-- replayed first, then the school goes on in real time.  The recipe
-- writes every reading to var/demo/readings.jsonl and tells you when a
-- room crosses the Umweltbundesamt's indoor-air thresholds for CO2:
--   below 1000 ppm  hygienically harmless
--   1000-2000 ppm   conspicuous: ventilate
--   above 2000 ppm  unacceptable: ventilate now
-- (Ad-hoc-Arbeitsgruppe IRK/AOLG, Bundesgesundheitsblatt 2008.)
-- Only embedded defaults: no server, no database.
local kk = require "klimakit"

kk.config { data_dir = kk.env("KLIMAKIT_DATA", "var/demo") }

local school = kk.source.simulate {
  sensors = kk.env("DEMO_ROOMS", 12),
  seed = 2026,
  interval = "1m",
  backfill = kk.env("DEMO_BACKFILL", "1d"),
}

local class_names = { "harmless (< 1000 ppm)", "ventilate (1000-2000 ppm)",
                      "unacceptable, ventilate now (> 2000 ppm)" }
local function uba_class(ppm)
  if ppm < 1000 then return 1 elseif ppm <= 2000 then return 2 else return 3 end
end

-- Remember each room's class and report only changes.
local state = {}
local function air_alerts(batch, emit)
  for r in batch:readings() do
    if r.property == "co2" then
      local c = uba_class(r.value)
      local before = state[r.thing]
      if before and c ~= before then
        print(string.format("%s  %s: CO2 %4.0f ppm -> %s",
          os.date("!%Y-%m-%d %H:%M", r.time // 1000), r.thing, r.value,
          class_names[c]))
      end
      state[r.thing] = c
    end
  end
end

kk.pipe(school, {
  kk.sink.jsonl { name = "archive",
                  path = kk.env("KLIMAKIT_DATA", "var/demo") .. "/readings.jsonl" },
})
kk.pipe(school, air_alerts, kk.sink.null { name = "alerts" })
