-- expect: @FILE@:4: unknown option 'sensor' for source.simulate (did you mean 'sensors'?)
local kk = require "klimakit"

local sim = kk.source.simulate { sensor = 2 }
kk.pipe(sim, kk.sink.jsonl {})
