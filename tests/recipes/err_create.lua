-- expect: @FILE@:10: lua: decoder file 'tests/recipes/no-such-decoder.lua' not found
-- expect: @FILE@:12: http: cannot read token file tests/recipes/no-such-tokens
-- expect: 2 errors in @FILE@
-- `klimakit check` creates every stage (and destroys it again): files the
-- modules read at create are checked, and nothing is created on disk.
local kk = require "klimakit"
kk.config { data_dir = "/nonexistent/klimakit-check-must-not-create-this" }

local up = kk.source.mqtt { url = "mqtt://127.0.0.1:1", topic = "v3/+/devices/+/up" }
kk.pipe(up, kk.decode.lua { path = "tests/recipes/no-such-decoder.lua" },
        kk.sink.null {})
kk.pipe(kk.source.http { tokens_file = "tests/recipes/no-such-tokens" }, kk.sink.null {})
