#!/usr/bin/env bash
# source.file through the real binary: JSON-lines and CSV fixtures with bad
# lines, skip_errors = false, round trips with sink.jsonl, errors.
set -u
. "$(dirname "$0")/lib.sh" file
DATA=$PWD/tests/e2e/data
kk_tmpdir

# run NAME 'file options' [sink path]: file -> jsonl into $d/NAME.jsonl.
run() {
  local name=$1 opts=$2
  local out=${3:-$d/$name.jsonl}
  cat > "$d/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$name" }
kk.pipe(kk.source.file { $opts }, kk.sink.jsonl { path = "$out" })
LUA
  timeout --preserve-status 60 "$K" run "$d/$name.lua" --log-format text \
    >"$d/$name.log" 2>&1
}

# ---- JSON lines fixture: 5 good lines, a blank one, 2 bad ones ----------
if run j "path = \"$DATA/readings.jsonl\", batch = 2"; then
  if cmp -s "$d/j.jsonl" "$DATA/readings_jsonl.expected.jsonl"; then ok jsonl-replay
  else no jsonl-replay "output differs: $(diff "$d/j.jsonl" "$DATA/readings_jsonl.expected.jsonl" | head -4)"; fi
  if grep -q "readings.jsonl:5: field 'value' must be a number" "$d/j.log" &&
     grep -q "readings.jsonl:6: invalid JSON" "$d/j.log"; then ok jsonl-bad-lines-logged-with-line
  else no jsonl-bad-lines-logged-with-line "$(grep -i warn "$d/j.log" | head -3)"; fi
  if grep -q "5 readings, 2 rejected" "$d/j.log"; then ok jsonl-summary
  else no jsonl-summary "$(grep 'end of' "$d/j.log")"; fi
  if grep -q 'kk_rejected_total{stage="file",reason="parse"} 2' "$d/data-j/metrics.prom" 2>/dev/null; then
    ok jsonl-rejected-counted
  else no jsonl-rejected-counted "$(grep rejected "$d/data-j/metrics.prom" 2>&1 | head -3)"; fi
else
  no jsonl-replay "exit $?: $(tail -3 "$d/j.log")"
fi

# ---- CSV fixture: columns reordered, quotes, CRLF, a line break in quotes
if run c "path = \"$DATA/readings.csv\""; then
  if cmp -s "$d/c.jsonl" "$DATA/readings_csv.expected.jsonl"; then ok csv-replay
  else no csv-replay "output differs: $(diff "$d/c.jsonl" "$DATA/readings_csv.expected.jsonl" | head -4)"; fi
  if grep -q "readings.csv:4: column 'value' is not a number: 'abc'" "$d/c.log" &&
     grep -q "readings.csv:7: " "$d/c.log"; then ok csv-bad-lines-logged-with-line
  else no csv-bad-lines-logged-with-line "$(grep -i warn "$d/c.log" | head -3)"; fi
else
  no csv-replay "exit $?: $(tail -3 "$d/c.log")"
fi

# ---- skip_errors = false: stops at the first bad line -------------------
run s "path = \"$DATA/readings.jsonl\", skip_errors = false"; rc=$?
n=$(wc -l < "$d/s.jsonl" 2>/dev/null || echo 0)
if [ "$n" -eq 3 ] && [ "$rc" -eq 1 ] && grep -q "readings.jsonl:5: field 'value' must be a number; stopped reading" "$d/s.log"; then
  ok "skip-errors-false-stops-exit-1"
else no skip-errors-false-stops "exit $rc, $n readings (want the 3 before line 5): $(grep -i error "$d/s.log" | head -2)"; fi

# ---- round trips: simulate -> jsonl -> file -> jsonl, also via CSV -------
cat > "$d/gen.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-gen" }
kk.pipe(kk.source.simulate { sensors = 50, realtime = false, count = 200000,
                             start = "2026-11-23T05:00:00Z" },
        kk.sink.jsonl { path = "$d/gen.jsonl" })
LUA
if timeout 60 "$K" run "$d/gen.lua" >"$d/gen.log" 2>&1; then
  if run rt "path = \"$d/gen.jsonl\"" && cmp -s "$d/gen.jsonl" "$d/rt.jsonl"; then ok jsonl-round-trip
  else no jsonl-round-trip "replayed output differs from the original: $(tail -2 "$d/rt.log")"; fi
  python3 - "$d/gen.jsonl" "$d/gen.csv" <<'PY'
import json, sys
with open(sys.argv[2], "w", newline="") as o:
    o.write("value,time,unit,property,thing\r\n")
    for line in open(sys.argv[1]):
        r = json.loads(line)
        o.write('%s,%s,%s,"%s",%s\r\n' % (line.rsplit(":", 1)[1].rstrip("}\n"), r["time"], r["unit"], r["property"], r["thing"]))
PY
  if run rtc "path = \"$d/gen.csv\"" && cmp -s "$d/gen.jsonl" "$d/rtc.jsonl"; then ok csv-round-trip
  else no csv-round-trip "CSV replay differs from the original: $(tail -2 "$d/rtc.log")"; fi
else
  no jsonl-round-trip "simulate failed: $(tail -3 "$d/gen.log")"
fi

# ---- errors -------------------------------------------------------------
run m "path = \"$d/nonexistent.jsonl\""; rc=$?
if [ $rc -ne 0 ] && grep -q "cannot open $d/nonexistent.jsonl" "$d/m.log"; then ok missing-file-refused
else no missing-file-refused "exit $rc: $(tail -2 "$d/m.log")"; fi
cp "$DATA/readings.jsonl" "$d/readings.txt"
run x "path = \"$d/readings.txt\""; rc=$?
if [ $rc -ne 0 ] && grep -q "cannot tell the format" "$d/x.log"; then ok unknown-extension-refused
else no unknown-extension-refused "exit $rc: $(tail -2 "$d/x.log")"; fi
if run xf "path = \"$d/readings.txt\", format = \"jsonl\"" && [ "$(wc -l < "$d/xf.jsonl")" -eq 5 ]; then ok explicit-format
else no explicit-format "$(tail -2 "$d/xf.log")"; fi
# A line longer than 1 MiB is rejected, the next one still read.
python3 - "$d/long.jsonl" <<'PY'
import sys
with open(sys.argv[1], "w") as o:
    o.write('{"thing":"t","property":"p","unit":"u","time":0,"value":1,"pad":"%s"}\n' % ("x" * (2 << 20)))
    o.write('{"thing":"t","property":"p","unit":"u","time":1000,"value":2}\n')
PY
if run l "path = \"$d/long.jsonl\"" && [ "$(wc -l < "$d/l.jsonl")" -eq 1 ] && grep -q "long.jsonl:1: line longer than 1 MiB" "$d/l.log"; then
  ok overlong-line-skipped
else no overlong-line-skipped "$(grep -c . "$d/l.jsonl" 2>&1) readings: $(grep -i warn "$d/l.log" | head -2)"; fi

exit $fail
