-- expect: @FILE@:5: '}' expected (to close '{' at line 4) near 'kk'
local kk = require "klimakit"

local sim = kk.source.simulate { sensors = 2
kk.pipe(sim, kk.sink.jsonl {})
