-- expect: @FILE@:4: sink.jsonl expects an option table { ... }, got string
local kk = require "klimakit"

kk.pipe(kk.source.simulate {}, kk.sink.jsonl "out.jsonl")
