#!/usr/bin/env bash
# `klimakit check` reports every mistake of a recipe in one run (issue #18
# item 1): all wrong options of a stage, at the line of the option itself,
# enum choices listed whole, and stages created after others failed.
. "$(dirname "$0")/lib.sh" check_all
kk_tmpdir

f=tests/e2e/data/check/five_mistakes.lua
out=$("$K" check "$f" 2>&1); rc=$?
[ $rc -eq 3 ] && ok exit-3 || no exit-3 "exit $rc"
n=$(grep -c "^$f:[0-9]*: " <<<"$out")
[ "$n" -eq 5 ] && ok five-messages || no five-messages "$n file:line messages: $out"
for want in "$f:6: option 'interval'" "$f:7: option 'count'" \
    "$f:8: unknown option 'sensor' for source.simulate (did you mean 'sensors'?)" \
    "$f:13: option 'format' of sink.file: 'jsn' is not one of csv, jsonl, template (did you mean 'jsonl'?)" \
    "$f:14: unknown option 'flush'" "5 errors in $f"; do
  i=$((${i:-0} + 1))
  grep -qF -- "$want" <<<"$out" && ok "message-$i" || no "message-$i" "missing [$want] in: $out"
done
# Lines come top down, as a reader reads.
lines=$(grep -o "^$f:[0-9]*" <<<"$out" | cut -d: -f2 | tr '\n' ' ')
[ "$lines" = "6 7 8 13 14 " ] && ok top-down || no top-down "order: $lines"

# A function option is reported at the line where the function is
# written, and a stage whose options are fine but whose create fails is
# checked even though an earlier stage had option errors.
cat > "$d/mixed.lua" <<'LUA'
local kk = require "klimakit"
local src = kk.source.simulate { sensors = 2,
  bogus = function(r)
    return r
  end,
}
local dec = kk.decode.lua { path = "no-such-decoder.lua" }
kk.pipe(src, kk.sink.null {})
kk.pipe(kk.source.http { tokens_file = "no-such-tokens", listen = "127.0.0.1:1" }, kk.sink.null {})
LUA
out=$("$K" check "$d/mixed.lua" 2>&1); rc=$?
grep -qF "$d/mixed.lua:3: unknown option 'bogus'" <<<"$out" && ok function-line || no function-line "$out"
grep -qF "$d/mixed.lua:9: http: cannot read token file" <<<"$out" && ok create-after-errors || no create-after-errors "$out"

# A stage written inside kk.pipe( on the same line: still the option's line.
printf 'local kk = require "klimakit"\nkk.pipe(kk.source.simulate {\n    sensor = 3,\n  }, kk.sink.null {})\n' > "$d/inpipe.lua"
out=$("$K" check "$d/inpipe.lua" 2>&1)
grep -qF "$d/inpipe.lua:3: unknown option 'sensor'" <<<"$out" && ok inside-pipe-line || no inside-pipe-line "$out"

# Enum choices are printed whole however many there are (kk.config fsync).
printf 'local kk = require "klimakit"\nkk.config { fsync = "sometimes" }\nkk.pipe(kk.source.simulate{}, kk.sink.null{})\n' > "$d/enum.lua"
out=$("$K" check "$d/enum.lua" 2>&1)
grep -qF "$d/enum.lua:2: kk.config: option 'fsync' of kk.config: 'sometimes' is not one of never, interval, always" <<<"$out" \
  || grep -qF "$d/enum.lua:2: option 'fsync' of kk.config: 'sometimes' is not one of never, interval, always" <<<"$out" \
  && ok enum-whole || no enum-whole "$out"
exit $fail
