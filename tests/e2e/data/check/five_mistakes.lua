-- Five mistakes in two stages: `klimakit check` must report each one at
-- the line of the option itself (tests/e2e/test_check_all.sh).
local kk = require "klimakit"

local src = kk.source.simulate {
  interval = "fast",
  count = 1.5,
  sensor = 3,
}

local sink = kk.sink.file {
  path = "var/out.jsonl",
  format = "jsn",
  flush = true,
}

kk.pipe(src, sink)
