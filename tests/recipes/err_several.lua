-- expect: @FILE@:6: unknown option 'sensor' for source.simulate (did you mean 'sensors'?)
-- expect: @FILE@:7: option 'path' of sink.jsonl expects a string, got number
-- expect: 2 errors in @FILE@
local kk = require "klimakit"

local sim = kk.source.simulate { sensor = 3 }
local out = kk.sink.jsonl { path = 42 }
kk.pipe(sim, out)
