#!/usr/bin/env bash
# store.sqlite's memory knobs through the binary: `cache` (the writer's
# page cache) is read as a size, reaches the writer (its start line names
# it), and a value SQLite cannot work with, or one that is not a size, is
# a compiler-style error of `klimakit check`.
. "$(dirname "$0")/lib.sh" store_options
kk_tmpdir

# recipe CACHE: a recipe storing 40 readings with that cache option.
recipe() {
  cat > "$d/r.lua" <<LUA
local kk = require "klimakit"
kk.pipe(kk.source.simulate { sensors = 2, count = 40, interval = "1m", realtime = false },
        kk.store.sqlite { $1 })
LUA
}

recipe 'cache = "1MiB"'
out=$("$K" run "$d/r.lua" --data-dir "$d/data" --log-format text 2>&1)
grep -q "page cache 1024 KiB" <<<"$out" && ok cache-reaches-writer || no cache-reaches-writer "$out"
recipe ''
out=$("$K" run "$d/r.lua" --data-dir "$d/data2" --log-format text 2>&1)
grep -q "page cache 4096 KiB" <<<"$out" && ok cache-default-4mib || no cache-default-4mib "$out"

recipe 'cache = "32KiB"'
out=$("$K" check "$d/r.lua" 2>&1)
rc=$?
[ $rc != 0 ] && grep -qE "^$d/r.lua:3: .*option 'cache': 32768 bytes is less than 64KiB" <<<"$out" &&
  ok cache-too-small-is-an-error || no cache-too-small-is-an-error "exit $rc: $out"
recipe 'cache = "lots"'
out=$("$K" check "$d/r.lua" 2>&1)
rc=$?
[ $rc != 0 ] && grep -qE "^$d/r.lua:3: option 'cache' of store.sqlite: 'lots' is not a size" <<<"$out" &&
  ok cache-not-a-size-is-an-error || no cache-not-a-size-is-an-error "exit $rc: $out"
exit $fail
