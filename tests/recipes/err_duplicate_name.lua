-- expect: @FILE@:5: stage name 'out' is used twice
local kk = require "klimakit"

kk.pipe(kk.source.simulate {}, kk.sink.jsonl { name = "out" })
kk.pipe(kk.source.simulate { name = "b" }, kk.sink.null { name = "out" })
