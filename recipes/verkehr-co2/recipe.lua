-- recipes/verkehr-co2/recipe.lua - CO2e of road traffic from counts: Telraam
-- segments (reports/traffic) or the counting stations of a SensorThings
-- server, vehicles x segment length x a factor per vehicle-km from the
-- factor table (each with its source), daily sums and the modal split of
-- the counted road users.  Playbook: playbook.md.
--
-- Embedded default: one week of three Telraam segments (data/telraam/*.json
-- in the API's format; replayed as the readings decode.telraam makes of
-- them, data/zaehlungen.jsonl).  TELRAAM_URL (with TELRAAM_KEY) polls the
-- Telraam API instead; STA_URL with STA_DATASTREAMS a SensorThings server.
local kk = require "klimakit"

kk.config { exit_when_done = false } -- the sample file ends, the dashboard stays

-- Segment lengths in km: the stretch of road each counter stands for
-- (Schätzung from the map: from junction to junction).
local segments = {
  ["telraam-9000003101"] = 0.8, -- Hauptstraße
  ["telraam-9000003102"] = 0.5, -- Schulweg
  ["telraam-9000003103"] = 1.6, -- Ringstraße
}
local names = {
  ["telraam-9000003101"] = "Hauptstraße", ["telraam-9000003102"] = "Schulweg",
  ["telraam-9000003103"] = "Ringstraße",
}

-- Telraam's modes as the factor table's classes (calc.traffic): car -> pkw,
-- heavy (vans, lorries, buses) -> lkw; bikes and pedestrians for the modal
-- split.
local telraam_map = { car = "count_pkw:1", heavy = "count_lkw:1",
                      bike = "count_rad:1", pedestrian = "count_fuss:1" }

local counts = {} -- stages whose output is count readings
local telraam_url = kk.env("TELRAAM_URL", "")
local sta_url = kk.env("STA_URL", "")

if telraam_url ~= "" then
  -- One poll per segment: Telraam answers one segment per request, with
  -- the window in the JSON body; the key goes in X-Api-Key from the
  -- environment variable TELRAAM_KEY.
  local ids = kk.env("TELRAAM_SEGMENTS", "9000003101,9000003102,9000003103")
  for id in ids:gmatch("[^,%s]+") do
    local poll = kk.source.http_poll {
      name = "telraam-" .. id,
      url = telraam_url,
      body = '{"level":"segments","format":"per-hour","id":"' .. id ..
             '","time_start":"{from}","time_end":"{to}"}',
      time_format = "%Y-%m-%d %H:%M:%SZ",
      header_env = { ["X-Api-Key"] = "TELRAAM_KEY" },
      every = kk.env("TELRAAM_EVERY", "1h"), window = "1d", lag = "2h",
      start = kk.env("TELRAAM_START", "7d"),
      rate = kk.env("TELRAAM_RATE", "1/s"),
      jitter = kk.env("TELRAAM_JITTER", "5m"),
    }
    local dec = kk.decode.telraam { name = "decode-" .. id, map = telraam_map }
    kk.pipe(poll, dec)
    counts[#counts + 1] = dec
  end
end

if sta_url ~= "" then
  -- STA_DATASTREAMS: "id:thing:class:km,..." (class pkw, lkw, rad or fuss;
  -- km the segment length), e.g. Hamburg's counting stations.
  for id, thing, class, km in kk.env("STA_DATASTREAMS", ""):gmatch("(%d+):([^:,]+):(%a+):([%d.]+)") do
    segments[thing] = tonumber(km)
    local poll = kk.source.http_poll {
      name = "sta-" .. id,
      url = sta_url .. "/Datastreams(" .. id .. ")/Observations"
         .. "?$filter=phenomenonTime%20ge%20{from}%20and%20phenomenonTime%20lt%20{to}"
         .. "&$orderby=phenomenonTime%20asc&$top=1000",
      next = "@iot.nextLink", items = "value",
      every = kk.env("STA_EVERY", "15m"), window = "1d",
      start = kk.env("STA_START", "7d"),
      jitter = kk.env("STA_JITTER", "1m"),
    }
    local dec = kk.decode.sensorthings {
      name = "decode-sta-" .. id,
      thing = thing,
      map = { [id] = { thing = thing, property = "count_" .. class, unit = "1" } },
    }
    kk.pipe(poll, dec)
    counts[#counts + 1] = dec
  end
end

if #counts == 0 then
  counts[1] = kk.source.file { path = kk.dir .. "/data/zaehlungen.jsonl" }
end

local store = kk.store.sqlite {
  things = {
    ["telraam-9000003101"] = { location = { 12.3712, 51.3405 }, properties = { name = names["telraam-9000003101"] } },
    ["telraam-9000003102"] = { location = { 12.3761, 51.3432 }, properties = { name = names["telraam-9000003102"] } },
    ["telraam-9000003103"] = { location = { 12.3655, 51.3371 }, properties = { name = names["telraam-9000003103"] } },
  },
}
local web = kk.publish.http {
  listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080"),
  title = "Verkehr und CO₂", store = "sqlite",
  -- The sample week lies in the past: do not grey it out as "no data".
  stale = (telraam_url == "" and sta_url == "") and "3650d" or nil,
  properties = {
    count_pkw = "Pkw je Stunde", count_lkw = "Lkw/Busse je Stunde",
    count_rad = "Räder je Stunde", count_fuss = "Fußgänger je Stunde",
    co2e_pkw = "CO₂e Pkw", co2e_lkw = "CO₂e Lkw/Busse",
    count_pkw_day_sum = "Pkw am Tag", count_lkw_day_sum = "Lkw/Busse am Tag",
    count_rad_day_sum = "Räder am Tag", count_fuss_day_sum = "Fußgänger am Tag",
    co2e_pkw_day_sum = "CO₂e Pkw am Tag", co2e_lkw_day_sum = "CO₂e Lkw/Busse am Tag",
    co2e_strasse_day = "CO₂e Kfz am Tag",
    modal_split_pkw = "Anteil Pkw", modal_split_lkw = "Anteil Lkw/Busse",
    modal_split_rad = "Anteil Rad", modal_split_fuss = "Anteil zu Fuß",
    car_speed_v85 = "v85 Pkw", uptime = "Zählzeit-Anteil",
  },
}

-- Only motor vehicles have a factor; directions (_lft/_rgt) would count
-- twice.
local motor = kk.filter(function(r)
  return r.property == "count_pkw" or r.property == "count_lkw"
end)
-- Factors from the table (`klimakit factors`): pkw from traffic_de, lkw from
-- desnz_2024; both are logged with their source at first use.
local co2 = kk.calc.traffic { segments = segments }
local daily = kk.calc.window {
  property = { "count_pkw", "count_lkw", "count_rad", "count_fuss", "co2e_pkw", "co2e_lkw" },
  periods = { "day" }, stats = { "sum" },
  -- A day is emitted once it is over (the first reading of the next day):
  -- the modal split below is computed from final sums only.
  emit = "close",
}

-- The modal split of the counted road users per segment and day, and the
-- day's CO2e of motor vehicles, from the final daily sums (calc.window keeps
-- its windows across restarts); a day is emitted once all four modes are
-- known.
local days = {}
local function split_fn(batch, emit)
  for r in batch:readings() do
    local mode = r.property:match("^count_(%a+)_day_sum$")
    local co2mode = r.property:match("^co2e_(%a+)_day_sum$")
    if mode or co2mode then
      local key = r.thing .. "@" .. r.time
      local d = days[key] or { counts = {}, co2 = {} }
      days[key] = d
      if mode then d.counts[mode] = r.value else d.co2[co2mode] = r.value end
      local c = d.counts
      if c.pkw and c.lkw and c.rad and c.fuss then
        local total = c.pkw + c.lkw + c.rad + c.fuss
        if total > 0 then
          for _, m in ipairs { "pkw", "lkw", "rad", "fuss" } do
            emit { thing = r.thing, property = "modal_split_" .. m, unit = "%",
                   time = r.time, value = 100 * c[m] / total }
          end
        end
      end
      if d.co2.pkw and d.co2.lkw then
        emit { thing = r.thing, property = "co2e_strasse_day", unit = "kg",
               time = r.time, value = d.co2.pkw + d.co2.lkw }
      end
    end
  end
end

local split = kk.transform.fn { name = "modal-split", fn = split_fn }

-- The directions (count_car_lft, count_bike_rgt ...) are left out of the
-- store and the dashboard to keep it readable; take this filter out to keep
-- them.
local no_directions = kk.filter(function(r)
  return not r.property:match("_lft$") and not r.property:match("_rgt$")
end)

for _, c in ipairs(counts) do
  kk.pipe(c, { no_directions, daily, motor })
end
kk.pipe(no_directions, { store, web })
kk.pipe(motor, co2)
kk.pipe(co2, { store, web, daily })
kk.pipe(daily, { store, web, split })
kk.pipe(split, { store, web })
