#!/usr/bin/env bash
# Integrator modules written in Lua: the example dew-point module loaded by
# a recipe, the built-in unit_convert module, and `klimakit modules`
# documenting both from their option tables.
set -u
. "$(dirname "$0")/lib.sh" lua-module
kk_tmpdir

cat > "$d/dew.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
kk.load_module "$PWD/examples/lua-module/dew_point.module.lua"
kk.pipe(kk.source.simulate { sensors = 3, realtime = false, count = 600, seed = 5,
                             quantities = { "temperature", "humidity" },
                             start = "2026-11-23T08:00:00Z" },
        kk.calc.dew_point { pass = false },
        kk.transform.unit_convert { from = "Cel", to = "[degF]" },
        kk.sink.jsonl { path = "$d/dew.jsonl" })
LUA
if "$K" run "$d/dew.lua" --log-level warn 2>"$d/log"; then ok recipe-runs; else no recipe-runs "$(tail -3 "$d/log")"; fi
if python3 - "$d/dew.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 300, len(rows)
for r in rows:
    assert r["property"] == "dew_point" and r["unit"] == "[degF]", r
    assert 20 < r["value"] < 65, r   # indoor dew points, in Fahrenheit
PY
then ok dew-points-in-fahrenheit; else no dew-points-in-fahrenheit "$(head -2 "$d/dew.jsonl")"; fi

# Listed and documented from the option table.
KLIMAKIT_LUA_PATH=$PWD/examples/lua-module "$K" modules dew_point > "$d/doc" 2>&1
if grep -q "calc.dew_point" "$d/doc" && grep -q "max_skew" "$d/doc"; then ok listed-in-modules
else no listed-in-modules "$(head -3 "$d/doc")"; fi

# A bad option of a Lua module is caught by `klimakit check` with file:line.
cat > "$d/bad.lua" <<LUA
local kk = require "klimakit"
kk.load_module "$PWD/examples/lua-module/dew_point.module.lua"
kk.pipe(kk.source.simulate {},
        kk.calc.dew_point { max_skew = "soon" },
        kk.sink.null {})
LUA
out=$("$K" check "$d/bad.lua" 2>&1); rc=$?
if [ $rc -eq 3 ] && grep -q "bad.lua:4: option 'max_skew' of calc.dew_point: 'soon' is not a duration" <<<"$out"; then
  ok bad-option-file-line; else no bad-option-file-line "exit $rc: $out"; fi

# A module file that is not a module gives a clear error at the load line.
printf 'return { kind = "transform" }\n' > "$d/broken.lua"
cat > "$d/loadbad.lua" <<LUA
local kk = require "klimakit"
kk.load_module "$d/broken.lua"
kk.pipe(kk.source.simulate {}, kk.sink.null {})
LUA
out=$("$K" check "$d/loadbad.lua" 2>&1); rc=$?
if [ $rc -eq 3 ] && grep -q "loadbad.lua:2: kk.load_module: .*name" <<<"$out"; then ok broken-module-refused
else no broken-module-refused "exit $rc: $out"; fi
exit $fail
