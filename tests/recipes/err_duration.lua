-- expect: @FILE@:4: option 'interval' of source.simulate: '5 minutes' is not a duration
local kk = require "klimakit"

local sim = kk.source.simulate { interval = "5 minutes" }
kk.pipe(sim, kk.sink.jsonl {})
