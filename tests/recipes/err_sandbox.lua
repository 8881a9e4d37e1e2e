-- expect: @FILE@:5: attempt to call a nil value (field 'execute')
local kk = require "klimakit"

-- recipes run sandboxed: no shell (the command would be harmless anyway)
os.execute("true")
kk.pipe(kk.source.simulate {}, kk.sink.jsonl {})
