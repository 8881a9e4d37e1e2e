#!/usr/bin/env bash
# source.simulate through the real binary: determinism, count, realistic
# values over a simulated school day, quantities, realtime pacing, errors.
set -u
. "$(dirname "$0")/lib.sh" simulate
kk_tmpdir

# run NAME 'simulate options' [timeout]: runs simulate -> jsonl into
# $d/NAME.jsonl, log in $d/NAME.log; returns the exit code.
run() {
  local name=$1 opts=$2 secs=${3:-60}
  cat > "$d/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$name" }
kk.pipe(kk.source.simulate { $opts }, kk.sink.jsonl { path = "$d/$name.jsonl" })
LUA
  timeout --preserve-status "$secs" "$K" run "$d/$name.lua" --log-format text \
    >"$d/$name.log" 2>&1
}

# A Monday in November (heating season, CET): 06:00-16:00 local time.
DAY='start = "2026-11-23T05:00:00Z", interval = "60s", realtime = false'

# ---- determinism ------------------------------------------------------
run a "sensors = 7, seed = 42, $DAY, count = 5000" &&
  run b "sensors = 7, seed = 42, $DAY, count = 5000, batch = 7" &&
  run c "sensors = 7, seed = 43, $DAY, count = 5000"
if [ ! -s "$d/a.jsonl" ]; then no same-seed "no output: $(tail -3 "$d/a.log")"
elif cmp -s "$d/a.jsonl" "$d/b.jsonl"; then ok same-seed-same-output
else no same-seed-same-output "seed 42 gave different readings with batch 7"; fi
if [ -s "$d/c.jsonl" ] && ! cmp -s "$d/a.jsonl" "$d/c.jsonl"; then ok different-seed-different-output
else no different-seed-different-output "seed 43 gave the same readings as seed 42"; fi

# ---- count ------------------------------------------------------------
if run cnt "sensors = 3, realtime = false, count = 1001"; then
  n=$(wc -l < "$d/cnt.jsonl")
  if [ "$n" -eq 1001 ]; then ok count-respected; else no count-respected "$n lines, want 1001"; fi
  if grep -q "count reached: 1001 readings" "$d/cnt.log"; then ok count-logged
  else no count-logged "no 'count reached' in log: $(tail -3 "$d/cnt.log")"; fi
else
  no count-respected "exit $?: $(tail -3 "$d/cnt.log")"
fi

# ---- a school day: 20 rooms x 4 quantities x 600 minutes ---------------
if run day "sensors = 20, $DAY, count = 48000"; then
  if out=$(python3 - "$d/day.jsonl" <<'PY'
import json, sys, collections
series = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    series[(r["thing"], r["property"], r["unit"])].append((r["time"], r["value"]))
errs = []
props = {(p, u) for (_, p, u) in series}
want = {("co2", "ppm"), ("air_temperature", "Cel"), ("relative_humidity", "%"), ("energy", "kW.h")}
if props != want: errs.append("datastreams %s" % sorted(props))
things = {t for (t, _, _) in series}
if len(things) != 20 or "room-001" not in things or "room-020" not in things:
    errs.append("things %s" % sorted(things)[:3])
above1000 = above2000 = 0
for (t, p, u), s in series.items():
    v = [x[1] for x in s]
    if len(v) != 600: errs.append("%s %s: %d readings" % (t, p, len(v)))
    if p == "co2":
        if min(v) < 400 or max(v) > 5000: errs.append("%s co2 %s..%s" % (t, min(v), max(v)))
        # School hours 08:00-13:30 local are 07:00-12:30 UTC in November.
        school = [x[1] for x in s if "T07:00" <= x[0][10:16] < "T12:30"]
        above1000 += max(school) > 1000
        above2000 += max(school) > 2000
        early = [x[1] for x in s if x[0][11:16] < "06:00"]
        if max(early) > 600: errs.append("%s co2 %s before school" % (t, max(early)))
    if p == "air_temperature" and (min(v) < 18 or max(v) > 25):
        errs.append("%s temperature %s..%s" % (t, min(v), max(v)))
    if p == "relative_humidity" and (min(v) < 30 or max(v) > 65):
        errs.append("%s humidity %s..%s" % (t, min(v), max(v)))
    if p == "energy":
        if any(b < a for a, b in zip(v, v[1:])): errs.append("%s energy decreases" % t)
        if not v[-1] > v[0]: errs.append("%s energy did not grow" % t)
if above1000 == 0: errs.append("no room above 1000 ppm during school hours")
if above2000 == 0: errs.append("no room above 2000 ppm during school hours")
if above1000 == 20: errs.append("every room above 1000 ppm: airing has no effect")
print("; ".join(errs[:5]) if errs else "rooms above 1000 ppm: %d, above 2000 ppm: %d" % (above1000, above2000))
sys.exit(1 if errs else 0)
PY
  ); then ok "school-day-realistic ($out)"; else no school-day-realistic "$out"; fi
else
  no school-day-realistic "exit $?: $(tail -3 "$d/day.log")"
fi

# A Sunday: nobody in school, CO2 stays near the outdoor level.
if run sun 'sensors = 10, start = "2026-11-22T05:00:00Z", realtime = false, count = 6000, quantities = {"co2"}'; then
  max=$(python3 -c 'import json,sys; print(max(json.loads(l)["value"] for l in open(sys.argv[1])))' "$d/sun.jsonl")
  if python3 -c "import sys; sys.exit(0 if $max < 600 else 1)"; then ok sunday-empty-rooms
  else no sunday-empty-rooms "CO2 up to $max ppm on a Sunday"; fi
else
  no sunday-empty-rooms "exit $?: $(tail -3 "$d/sun.log")"
fi

# ---- quantities ---------------------------------------------------------
if run q 'sensors = 2, realtime = false, count = 40, quantities = {"co2", "energy"}'; then
  props=$(python3 -c 'import json,sys; print(",".join(sorted({json.loads(l)["property"] for l in open(sys.argv[1])})))' "$d/q.jsonl")
  if [ "$props" = "co2,energy" ]; then ok quantities; else no quantities "properties $props"; fi
else
  no quantities "exit $?: $(tail -3 "$d/q.log")"
fi
run badq 'sensors = 2, realtime = false, count = 4, quantities = {"noise"}'; rc=$?
if [ $rc -ne 0 ] && grep -q "unknown quantity 'noise'" "$d/badq.log"; then ok unknown-quantity-refused
else no unknown-quantity-refused "exit $rc: $(tail -3 "$d/badq.log")"; fi
run bads 'start = "yesterday", count = 4'; rc=$?
if [ $rc -ne 0 ] && grep -q "start 'yesterday'" "$d/bads.log"; then ok bad-start-refused
else no bad-start-refused "exit $rc: $(tail -3 "$d/bads.log")"; fi

# ---- realtime: backfill at once, then one round per interval ------------
run rt 'sensors = 2, interval = "200ms", backfill = "2s", quantities = {"co2"}' 2; rc=$?
rounds=$(python3 -c 'import json,sys; print(len({json.loads(l)["time"] for l in open(sys.argv[1])}))' "$d/rt.jsonl" 2>/dev/null || echo 0)
# 10 backfill rounds + the start round + ~9 live rounds in 2 s.
if [ "$rc" -eq 0 ] && [ "$rounds" -ge 15 ] && [ "$rounds" -le 24 ]; then ok "realtime-pacing ($rounds rounds in 2 s)"
else no realtime-pacing "exit $rc, $rounds rounds in 2 s (want 15..24): $(tail -2 "$d/rt.log")"; fi

exit $fail
