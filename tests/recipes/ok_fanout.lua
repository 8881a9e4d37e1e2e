local kk = require "klimakit"

local sim = kk.source.simulate { sensors = kk.env("KK_TEST_SENSORS", 4), seed = 3 }
local co2 = kk.filter(function(r) return r.property == "co2" end)
kk.pipe(sim, co2, { kk.sink.jsonl { path = "-" }, kk.sink.null {} })
kk.pipe(sim, function(batch, emit) end, kk.sink.null { name = "other" })
