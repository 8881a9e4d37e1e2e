-- recipes/demo.lua - the demo that `make run` starts.
--
-- A simulated school: twelve classrooms, each with a CO2 sensor, a
-- thermometer, a hygrometer and an electricity meter, read every minute.
-- The last seven days are replayed first (one summary line per school
-- day), then the school goes on in real time and every change of a room's
-- indoor-air class is reported as it happens.  Every reading is also
-- written to var/demo/readings.jsonl and stored in
-- var/demo/stages/sqlite/klimakit.db
-- (SQLite with hourly and daily rollups), and a dashboard reads its charts
-- from that store on http://127.0.0.1:8080/ (set KLIMAKIT_HTTP to change
-- the address): the latest values, a range choice from 24 hours to a
-- year, the meters as consumption per day.  After a restart it shows
-- what the store holds.
--
-- Indoor-air classes for CO2 (Ad-hoc-Arbeitsgruppe Innenraumrichtwerte
-- IRK/AOLG, Bundesgesundheitsblatt 2008, as used by the Umweltbundesamt):
--   below 1000 ppm  hygienically harmless
--   1000-2000 ppm   conspicuous: ventilate
--   above 2000 ppm  unacceptable: ventilate now
-- Only embedded defaults: no server, no database server.
local kk = require "klimakit"

local data = kk.env("KLIMAKIT_DATA", "var/demo")
kk.config { data_dir = data }

local interval_min = 1
local school = kk.source.simulate {
  sensors = kk.env("DEMO_ROOMS", 12),
  seed = 2026,
  interval = interval_min .. "m",
  backfill = kk.env("DEMO_BACKFILL", "7d"),
}

local labels = { "harmless", "ventilate", "unacceptable - ventilate now" }
-- A room moves up a class at the threshold and back down only 50 ppm
-- below it, so that a value hovering at 1000 ppm is not reported twice a
-- minute.
local function classify(ppm, before)
  local up = ppm > 2000 and 3 or ppm >= 1000 and 2 or 1
  if before and up < before then
    local down_at = before == 3 and 1950 or 950
    if ppm >= down_at then return before end
  end
  return up
end

local class, days, order, done = {}, {}, {}, {}
-- Days and times in the recipe's time zone (kk.config tz, Europe/Berlin),
-- as the dashboard shows them.
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

local function indoor_air(batch, emit)
  local live_after = (os.time() - 600) * 1000
  for r in batch:readings() do
    if r.property == "co2" then
      local day = day_of(r.time)
      if not days[day] and not done[day] then
        days[day] = {}
        order[#order + 1] = day
        -- A new day begins: the one before it is complete.
        local prev = order[#order - 1]
        if prev and days[prev] then summarise(prev); done[prev] = true end
      end
      -- Rooms report a little apart, so a room may still send the last
      -- minute of a day that was already summarised: it is left out.
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
          kk.date("%H:%M %Z", r.time), r.thing, r.value, labels[c]))
      end
      class[r.thing] = c
    end
  end
end

kk.pipe(school, kk.sink.jsonl { name = "archive", path = data .. "/readings.jsonl" })
kk.pipe(school, kk.store.sqlite {})
kk.pipe(school, kk.publish.http { listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080"),
                                  title = "Demo-Schule (simuliert)", docs_dir = kk.dir .. "/../docs",
                                  store = "sqlite" })
kk.pipe(school, indoor_air, kk.sink.null { name = "indoor_air" })
