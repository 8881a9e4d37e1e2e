-- expect: @FILE@:4: option 'format' of source.file: 'xml' is not one of auto, jsonl, csv
local kk = require "klimakit"

local replay = kk.source.file { path = "readings.xml", format = "xml" }
kk.pipe(replay, kk.sink.jsonl {})
