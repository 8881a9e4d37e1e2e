-- expect: @FILE@:6: option 'sensors' of source.simulate expects an integer, got string
local kk = require "klimakit"

local sim = kk.source.simulate {
  seed = 7,
  sensors = "ten",
}
kk.pipe(sim, kk.sink.jsonl {})
