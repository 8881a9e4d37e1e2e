#!/usr/bin/env bash
# Lua transform stages and Lua modules get a large batch in chunks of at
# most 1024 readings, each under its own budget and deadline: a batch of 5 000
# readings whose function costs ~70 VM instructions per reading passes a
# budget of 150 000 instructions per call (a whole-batch call would need
# ~350 000 and fail, and its readings would be lost for that stage).
. "$(dirname "$0")/lib.sh" lua-chunks
kk_tmpdir
cat >"$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data", exit_when_done = true }
local src = kk.source.simulate { sensors = 1000, realtime = false, count = 5000, batch = 5000,
                                 start = "2026-11-23T08:00:00Z", quantities = { "co2" } }
local biggest = 0
local function work(batch, emit)
  if #batch > biggest then biggest = #batch end
  for r in batch:readings() do
    local x = 0
    for i = 1, 20 do x = x + i end
    emit(r)
  end
  emit { thing = "chunks", property = "largest", unit = "1", time = 0, value = biggest, update = true }
end
local slow = kk.transform.map { budget = 150000, fn = function(r)
  local x = 0
  for i = 1, 20 do x = x + i end
  return r.value
end }
kk.pipe(src, kk.transform.fn { fn = work, budget = 150000 }, slow, kk.store.sqlite {})
LUA
out=$("$K" run "$d/r.lua" --log-level warn 2>&1) || no run "$out"
q() { sqlite3 "$d/data/stages/sqlite/klimakit.db" "$1"; }
n=$(q "SELECT count(*) FROM observations o JOIN datastreams d ON d.id = o.ds WHERE d.property = 'co2'")
[ "$n" = 5000 ] && ok fn-and-map-in-chunks || no fn-and-map-in-chunks "co2 rows: $n; $out"
big=$(q "SELECT o.value FROM observations o JOIN datastreams d ON d.id = o.ds WHERE d.property = 'largest'")
[ "$big" = 1024.0 ] && ok chunk-is-1024 || no chunk-is-1024 "largest batch seen: $big"
[[ $out != *"budget"* ]] && ok no-budget-errors || no no-budget-errors "$out"

# The same through a Lua module (process(state, batch, emit)); its state
# sees every reading once.
cat >"$d/chunky.module.lua" <<'LUA'
return {
  name = "chunky", kind = "transform", ns = "calc",
  summary = "passes readings on, reports the largest batch it was given",
  create = function() return { biggest = 0, seen = 0 } end,
  process = function(s, batch, emit)
    if #batch > s.biggest then s.biggest = #batch end
    for r in batch:readings() do
      local x = 0
      for i = 1, 20 do x = x + i end
      s.seen = s.seen + 1
      emit(r)
    end
    emit { thing = "chunks", property = "module_largest", unit = "1", time = 0, value = s.biggest, update = true }
    emit { thing = "chunks", property = "module_seen", unit = "1", time = 0, value = s.seen, update = true }
  end,
}
LUA
cat >"$d/m.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-m", exit_when_done = true }
kk.load_module "$d/chunky.module.lua"
local src = kk.source.simulate { sensors = 1000, realtime = false, count = 5000, batch = 5000,
                                 start = "2026-11-23T08:00:00Z", quantities = { "co2" } }
kk.pipe(src, kk.calc.chunky { budget = 150000 }, kk.store.sqlite {})
LUA
out=$("$K" run "$d/m.lua" --log-level warn 2>&1) || no module-run "$out"
qm() { sqlite3 "$d/data-m/stages/sqlite/klimakit.db" "SELECT o.value FROM observations o JOIN datastreams d ON d.id = o.ds WHERE d.property = '$1'"; }
n=$(sqlite3 "$d/data-m/stages/sqlite/klimakit.db" "SELECT count(*) FROM observations o JOIN datastreams d ON d.id = o.ds WHERE d.property = 'co2'")
[ "$n" = 5000 ] && [ "$(qm module_seen)" = 5000.0 ] && ok module-in-chunks ||
  no module-in-chunks "co2 rows: $n, seen $(qm module_seen); $out"
[ "$(qm module_largest)" = 1024.0 ] && ok module-chunk-is-1024 || no module-chunk-is-1024 "largest batch seen: $(qm module_largest)"
[[ $out != *"budget"* ]] && ok module-no-budget-errors || no module-no-budget-errors "$out"
exit $fail
