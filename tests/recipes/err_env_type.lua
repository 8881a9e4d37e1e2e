-- expect: @FILE@:5: environment variable HOME=
local kk = require "klimakit"

-- the default is a number, so the variable must be one
local n = kk.env("HOME", 10)
kk.pipe(kk.source.simulate { sensors = n }, kk.sink.null {})
