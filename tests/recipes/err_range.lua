-- expect: @FILE@:4: option 'sensors' of source.simulate: 0 is out of range
local kk = require "klimakit"

local sim = kk.source.simulate { sensors = 0 }
kk.pipe(sim, kk.sink.jsonl {})
