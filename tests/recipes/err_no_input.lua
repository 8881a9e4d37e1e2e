-- expect: @FILE@:5: sink.jsonl 'jsonl_2' has no input (connect a source to it with kk.pipe)
local kk = require "klimakit"

kk.pipe(kk.source.simulate {}, kk.sink.jsonl {})
local unused = kk.sink.jsonl { path = "never.jsonl" }
