-- expect: pipeline has a cycle through
local kk = require "klimakit"

local sim = kk.source.simulate { sensors = 2 }
local a = kk.map(function(r) return r.value end)
local b = kk.filter(function(r) return r.value > 0 end)
kk.pipe(sim, a, b, kk.sink.jsonl {})
kk.pipe(b, a)
