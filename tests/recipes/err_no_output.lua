-- expect: @FILE@:5: source.simulate 'rooms' has no output (connect it with kk.pipe)
local kk = require "klimakit"

kk.pipe(kk.source.simulate { name = "hall" }, kk.sink.jsonl {})
local forgotten = kk.source.simulate { name = "rooms" }
