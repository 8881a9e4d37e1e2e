#!/usr/bin/env bash
# A Lua stage's emit { ..., update = true }: a later value for the same
# datastream and time replaces the earlier one in store.sqlite (a running
# total); without it the store keeps the first value.  A non-boolean
# `update` is an error that names the field.
. "$(dirname "$0")/lib.sh" lua-emit
kk_tmpdir
cat >"$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data", exit_when_done = true }
local src = kk.source.simulate { sensors = 1, realtime = false, count = 3,
                                 start = "2026-11-23T08:00:00Z", quantities = { "co2" } }
local n = 0
local function totals(batch, emit)
  for r in batch:readings() do
    n = n + 1
    emit { thing = "total", property = "count", unit = "1", time = 0, value = n, update = true }
    emit { thing = "first", property = "count", unit = "1", time = 0, value = n }
  end
end
kk.pipe(src, totals, kk.store.sqlite {})
LUA
out=$("$K" run "$d/r.lua" --log-level warn 2>&1) || no run "$out"
v() {
  sqlite3 "$d/data/stages/sqlite/klimakit.db" "SELECT o.value FROM observations o
    JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id WHERE t.name = '$1'"
}
[ "$(v total)" = 3.0 ] && ok update-replaces || no update-replaces "total: $(v total)"
[ "$(v first)" = 1.0 ] && ok no-update-keeps-first || no no-update-keeps-first "first: $(v first)"

sed -i 's/update = true }/update = "yes" }/' "$d/r.lua"
rm -rf "$d/data"
out=$("$K" run "$d/r.lua" --log-level warn 2>&1)
[[ $out == *"field 'update' must be a boolean"* ]] && ok update-must-be-boolean ||
  no update-must-be-boolean "$out"
exit $fail
