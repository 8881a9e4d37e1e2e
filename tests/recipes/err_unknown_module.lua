-- expect: @FILE@:5: unknown module kk.source.simulat (did you mean 'simulate'?)
local kk = require "klimakit"

-- a typo in the module name
local sim = kk.source.simulat { sensors = 2 }
kk.pipe(sim, kk.sink.jsonl {})
