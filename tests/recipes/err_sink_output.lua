-- expect: @FILE@:6: sink.jsonl 'jsonl' is a sink: it cannot send data on to 'null'
local kk = require "klimakit"

local sim = kk.source.simulate {}
local out = kk.sink.jsonl {}
kk.pipe(sim, out, kk.sink.null {})
