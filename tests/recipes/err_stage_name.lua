-- expect: @FILE@:5: stage name 'my sink/1' must be 1-99 letters, digits, '_', '-' or '.'
local kk = require "klimakit"

local src = kk.source.simulate {}
kk.pipe(src, kk.sink.null { name = "my sink/1" })
