#!/usr/bin/env bash
# Module folders and sandbox paths (issue #18 items 4 and 5): folders of
# KLIMAKIT_LUA_PATH and kk.load_module(folder) load only *.module.lua, so
# decoders and recipes beside them cause no errors, and a broken module
# file says which file and why; relative sandbox paths are taken from the
# recipe's folder, refused ones name the path tried and the allowed
# folders; the decoder example of the docs runs from the repository root.
. "$(dirname "$0")/lib.sh" lua_paths
kk_tmpdir

mkdir -p "$d/mods" "$d/school/data" "$d/elsewhere"
cp examples/decoder/co2_counter.lua "$d/mods/"                  # a decoder
printf 'local kk = require "klimakit"\nkk.pipe(kk.source.simulate{}, kk.sink.null{})\n' > "$d/mods/recipe.lua"
cp examples/lua-module/dew_point.module.lua "$d/mods/"
printf 'return { name = "broken", kind = "transform",\n  process = 42 }\n' > "$d/mods/broken.module.lua"

out=$(KLIMAKIT_LUA_PATH=$d/mods "$K" modules 2>&1)
grep -q '^  calc.dew_point ' <<<"$out" && ok path-module-loaded || no path-module-loaded "$(head -5 <<<"$out")"
if grep -qE 'co2_counter|recipe\.lua' <<<"$out"; then no path-others-ignored "$(grep -E 'co2_counter|recipe\.lua' <<<"$out")"
else ok path-others-ignored; fi
grep -qF "module file not loaded: $d/mods/broken.module.lua:2: field 'process' must be a function" <<<"$out" \
  && ok path-broken-named || no path-broken-named "$(grep -i broken <<<"$out")"

cat > "$d/school/recipe.lua" <<LUA
local kk = require "klimakit"
local names = kk.load_module "$d/mods"
assert(#names == 1 and names[1] == "dew_point", "loaded " .. #names)
kk.pipe(kk.source.simulate { count = 1 }, kk.calc.dew_point {}, kk.sink.null {})
LUA
out=$("$K" check "$d/school/recipe.lua" 2>&1); rc=$?
[ $rc -eq 3 ] && grep -qF "$d/school/recipe.lua:2: kk.load_module: $d/mods/broken.module.lua:2: field 'process'" <<<"$out" \
  && ok load-folder-broken || no load-folder-broken "exit $rc: $out"
rm "$d/mods/broken.module.lua"
out=$("$K" check "$d/school/recipe.lua" 2>&1) && ok load-folder || no load-folder "$out"

# Relative paths from the recipe's folder, wherever klimakit starts.
echo "room-1,42" > "$d/school/data/rooms.csv"
echo "secret" > "$d/elsewhere/secret.txt"
cat > "$d/school/paths.lua" <<'LUA'
local kk = require "klimakit"
local f = assert(io.open("data/rooms.csv"))
assert(f:read("l") == "room-1,42")
f:close()
local g, err = io.open("../elsewhere/secret.txt")
assert(not g)
kk.log("DENIED " .. err)
local h, err2 = io.open("data/missing.csv")
assert(not h)
kk.log("MISSING " .. err2)
kk.pipe(kk.source.simulate { count = 1 }, kk.sink.null {})
LUA
out=$(cd / && "$K" check "$d/school/paths.lua" --log-format text 2>&1); rc=$?
[ $rc -eq 0 ] && ok relative-to-recipe || no relative-to-recipe "exit $rc: $out"
school=$(cd "$d/school" && pwd -P); else=$(cd "$d/elsewhere" && pwd -P)
grep -qF "DENIED ../elsewhere/secret.txt: access denied: $else/secret.txt is outside the folders this Lua state may read ($school)" <<<"$out" \
  && ok denied-names-paths || no denied-names-paths "$out"
grep -qF "MISSING data/missing.csv: No such file or directory (looked for $school/data/missing.csv and /data/missing.csv" <<<"$out" \
  && ok missing-names-places || no missing-names-places "$out"

# The decoder test of examples/decoder/README.md, from the repository root.
out=$(KK_BIN=$K sh examples/decoder/test_decoder.sh 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "rejected: truncated" <<<"$out" && grep -q "co2	500	ppm" <<<"$out" \
  && ok decoder-example || no decoder-example "exit $rc: $out"
exit $fail
