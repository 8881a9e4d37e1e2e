#!/usr/bin/env bash
# kk.data_dir: the data directory a recipe sees for files it writes
# itself: --data-dir, else $STATE_DIRECTORY, else var/ beside the recipe;
# kk.config { data_dir = } changes it.
. "$(dirname "$0")/lib.sh" data-dir-lua
kk_tmpdir
mkdir -p "$d/r"
cat >"$d/r/show.lua" <<'LUA'
local kk = require "klimakit"
print("data_dir=" .. kk.data_dir)
kk.config { data_dir = kk.env("SET_DIR", kk.data_dir) }
print("after=" .. kk.data_dir)
kk.pipe(kk.source.simulate { sensors = 1, realtime = false, count = 1 }, kk.sink.null {})
LUA
run() { "$K" run "$@" --log-format text 2>&1 | sed -n 's/.*\[lua:recipe\] //p' | tr '\n' ' '; }
out=$(run "$d/r/show.lua" --data-dir "$d/given")
[ "$out" = "data_dir=$d/given after=$d/given " ] && ok from-flag || no from-flag "$out"
out=$(STATE_DIRECTORY="$d/state:$d/other" run "$d/r/show.lua")
[ "$out" = "data_dir=$d/state after=$d/state " ] && ok from-state-directory || no from-state-directory "$out"
out=$(cd / && run "$d/r/show.lua")
[ "$out" = "data_dir=$d/r/var after=$d/r/var " ] && ok beside-recipe || no beside-recipe "$out"
out=$(SET_DIR="$d/set" run "$d/r/show.lua")
[ "$out" = "data_dir=$d/r/var after=$d/set " ] && ok config-changes-it || no config-changes-it "$out"
exit $fail
