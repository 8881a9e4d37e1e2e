-- expect: @FILE@:4: missing required option 'path' (string) for source.file
local kk = require "klimakit"

local replay = kk.source.file { format = "csv" }
kk.pipe(replay, kk.sink.jsonl {})
