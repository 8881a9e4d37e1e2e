#!/usr/bin/env bash
# source.file across restarts: the stage saves how far it has read and a
# restart continues there, so calculators fed by a file see no reading a
# second time (no out_of_order warnings, the same totals), while a genuinely
# out-of-order new line is still warned about once.  A rewritten file and
# resume = false read from the start; the calculators then skip the
# history they hold (counted in kk_replayed_total, told once at info), and
# so they do after a crash (SIGKILL: no position saved, the file is read
# again from the start).
# The Musterstadt demo's restart is checked in test_demo.sh.
set -u
. "$(dirname "$0")/lib.sh" file_resume
kk_tmpdir

# A cumulative electricity meter (kWh) every day of January 2024, and a
# power reading per day with one day above the alert threshold.
csv() { # N: the first N days
  echo "thing,property,unit,time,value"
  for i in $(seq 1 "$1"); do
    printf 'zaehler-1,energy,kW.h,2024-01-%02dT00:00:00Z,%d\n' "$i" $((1000 + i * 10))
    printf 'zaehler-1,power,W,2024-01-%02dT00:00:00Z,%d\n' "$i" $((i == 3 ? 9000 : 500))
  done
}
csv 10 >"$d/z.csv"
recipe() { # NAME FILE RESUME
  cat >"$d/$1.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$1" }
local src = kk.source.file { path = "$2", resume = $3 }
local co2 = kk.calc.co2 { carrier = "strom", year = 2022, meter = "cumulative" }
local alerts = kk.calc.alert { rules = { hoch = { property = "power", above = 8000,
                                                  label = "Leistung" } } }
kk.pipe(src, kk.sink.jsonl { name = "raw", path = "$d/$1-raw.jsonl" })
kk.pipe(src, { co2, alerts }, kk.sink.jsonl { name = "calc", path = "$d/$1-calc.jsonl" })
LUA
}
run() { # NAME RUN: one run to the end of the file
  timeout --preserve-status 60 "$K" run "$d/$1.lua" --log-format text >"$d/$1-$2.log" 2>&1
}
lines() { [ -f "$1" ] && wc -l <"$1" | tr -d ' ' || echo 0; }
sum_co2e() {
  python3 -c 'import json, sys; print("%.9f" % sum(r["value"] for r in map(json.loads, open(sys.argv[1])) if r["property"] == "co2e"))' "$1"
}
alerts_opened() { grep -c '"alert_hoch"' "$1" || true; }

# ---- CSV: run, restart, append ------------------------------------------
recipe c "$d/z.csv" true
run c 1 || no csv-first-run "exit $?: $(tail -2 "$d/c-1.log")"
# The clean stop's line names the source's position with the states.
grep -q 'stopped cleanly: .* stage states (.*file' "$d/c-1.log" && ok stop-line-names-position ||
  no stop-line-names-position "$(grep 'stopped cleanly' "$d/c-1.log")"
raw1=$(lines "$d/c-raw.jsonl") co2e1=$(sum_co2e "$d/c-calc.jsonl") al1=$(alerts_opened "$d/c-calc.jsonl")
[ "$raw1" = 20 ] && [ -s "$d/data-c/stages/file/position" ] && ok csv-first-run-saves-position ||
  no csv-first-run-saves-position "$raw1 readings, position: $(cat "$d/data-c/stages/file/position" 2>&1)"

run c 2 || no csv-restart "exit $?"
if grep -q "continuing $d/z.csv after line 21 " "$d/c-2.log" && [ "$(lines "$d/c-raw.jsonl")" = 20 ]; then
  ok csv-restart-continues
else
  no csv-restart-continues "$(lines "$d/c-raw.jsonl") raw readings after the restart: $(grep 'source:file' "$d/c-2.log")"
fi
if ! grep -q 'warn' "$d/c-2.log" && [ "$(sum_co2e "$d/c-calc.jsonl")" = "$co2e1" ] &&
   [ "$(alerts_opened "$d/c-calc.jsonl")" = "$al1" ]; then
  ok csv-restart-quiet-same-numbers
else
  no csv-restart-quiet-same-numbers "co2e $co2e1 -> $(sum_co2e "$d/c-calc.jsonl"), alert lines $al1 -> $(alerts_opened "$d/c-calc.jsonl"): $(grep warn "$d/c-2.log" | head -3)"
fi

# Two new days, then a genuinely late meter reading (older than the newest
# one): only the new lines are read, and the late one is warned about once.
csv 12 | tail -4 >>"$d/z.csv"
echo "zaehler-1,energy,kW.h,2024-01-11T12:00:00Z,1115" >>"$d/z.csv"
run c 3 || no csv-append "exit $?"
n_ooo=$(grep -c 'calc:co2\] reading zaehler-1/energy at .* rejected (out_of_order)' "$d/c-3.log")
if [ "$(lines "$d/c-raw.jsonl")" = 25 ] && grep -q "end of $d/z.csv: 5 lines after line 21," "$d/c-3.log"; then
  ok csv-append-reads-only-new-lines
else
  no csv-append-reads-only-new-lines "$(lines "$d/c-raw.jsonl") raw readings (want 25): $(grep 'end of' "$d/c-3.log")"
fi
[ "$n_ooo" = 1 ] && ok late-line-warned-once || no late-line-warned-once "$n_ooo out_of_order warnings: $(grep warn "$d/c-3.log" | head -3)"
# 10 days of 10 kWh each after the first: 11 intervals of 10 kWh, at the
# 2022 factor, whatever the restarts did.
co2e3=$(sum_co2e "$d/c-calc.jsonl")
python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if b > a > 0 and abs(b / a - 11 / 9) < 1e-9 else 1)' "$co2e1" "$co2e3" &&
  ok csv-append-counts-new-intervals || no csv-append-counts-new-intervals "co2e $co2e1 after 9 intervals, $co2e3 after 11"

# ---- rewritten file: read from the start, the calculators skip quietly ---
csv 12 | sed 's/,500$/,501/' >"$d/z.csv"
run c 4 || no csv-rewritten "exit $?"
if grep -q 'is not the file whose position .* holds (replaced, rewritten or shortened): reading it from the start' "$d/c-4.log" &&
   [ "$(lines "$d/c-raw.jsonl")" = 49 ]; then
  ok csv-rewritten-read-from-start
else
  no csv-rewritten-read-from-start "$(lines "$d/c-raw.jsonl") raw readings (want 49): $(grep 'source:file' "$d/c-4.log")"
fi
if ! grep -q 'out_of_order' "$d/c-4.log" && [ "$(grep -c 'history produced again after a restart' "$d/c-4.log")" = 2 ] &&
   [ "$(sum_co2e "$d/c-calc.jsonl")" = "$co2e3" ] && [ "$(alerts_opened "$d/c-calc.jsonl")" = "$al1" ]; then
  ok rewritten-history-skipped-quietly
else
  no rewritten-history-skipped-quietly "co2e $co2e3 -> $(sum_co2e "$d/c-calc.jsonl"), alert lines $al1 -> $(alerts_opened "$d/c-calc.jsonl"): $(grep 'warn\|history' "$d/c-4.log" | head -4)"
fi

# ---- a crash: no position saved, the file is read again, nothing twice ---
csv 12 >"$d/k.csv"
recipe k "$d/k.csv" true
sed -i 's/meter = "cumulative" }/meter = "cumulative", snapshot = "1s" }/; s/kk.config { data_dir = "\([^"]*\)" }/kk.config { data_dir = "\1", exit_when_done = false }/' "$d/k.lua"
sed -i 's/label = "Leistung" } } }/label = "Leistung" } }, snapshot = "1s" }/' "$d/k.lua"
last_ms=$(python3 -c 'import datetime; print(int(datetime.datetime(2024, 1, 12, tzinfo=datetime.timezone.utc).timestamp() * 1000))')
kk_start "$d/k-1.log" "$d/k.lua" --log-format text
# The meter's last reading is in the co2 snapshot: then SIGKILL.
if wait_for 20 grep -qs "$last_ms" "$d/data-k/stages/co2/state.txt"; then
  kill -9 "$kk_pid"; wait "$kk_pid" 2>/dev/null; kk_pid=
  co2e_k=$(sum_co2e "$d/k-calc.jsonl") al_k=$(alerts_opened "$d/k-calc.jsonl")
  kk_start "$d/k-2.log" "$d/k.lua" --log-format text
  wait_log "$d/k-2.log" "end of $d/k.csv" 20 || true
  kk_stop
  if [ ! -e "$d/data-k/stages/file/position.tmp" ] && grep -q "replaying $d/k.csv" "$d/k-2.log" &&
     ! grep -q 'out_of_order' "$d/k-2.log" && [ "$(grep -c 'history produced again after a restart' "$d/k-2.log")" = 2 ] &&
     [ "$(sum_co2e "$d/k-calc.jsonl")" = "$co2e_k" ] && [ "$(alerts_opened "$d/k-calc.jsonl")" = "$al_k" ]; then
    ok crash-reread-counted-once
  else
    no crash-reread-counted-once "co2e $co2e_k -> $(sum_co2e "$d/k-calc.jsonl"), alert lines $al_k -> $(alerts_opened "$d/k-calc.jsonl"): $(grep 'warn\|history\|source:file' "$d/k-2.log" | head -4)"
  fi
  [ -s "$d/data-k/stages/file/position" ] && ok clean-stop-after-crash-saves-position ||
    no clean-stop-after-crash-saves-position "no position after the clean stop"
else
  no crash-reread-counted-once "no snapshot with the last meter reading: $(tail -3 "$d/k-1.log")"
  kk_stop
fi

# ---- JSON lines, and resume = false ---------------------------------------
for i in 1 2 3; do
  printf '{"thing":"zaehler-2","property":"energy","unit":"kW.h","time":"2024-02-%02dT00:00:00Z","value":%d}\n' "$i" $((i * 5))
done >"$d/z.jsonl"
recipe j "$d/z.jsonl" true
run j 1 && run j 2 || no jsonl-runs "exit $?"
if [ "$(lines "$d/j-raw.jsonl")" = 3 ] && grep -q "continuing $d/z.jsonl after line 3 " "$d/j-2.log"; then
  ok jsonl-restart-continues
else
  no jsonl-restart-continues "$(lines "$d/j-raw.jsonl") raw readings: $(grep 'source:file' "$d/j-2.log")"
fi
printf '{"thing":"zaehler-2","property":"energy","unit":"kW.h","time":"2024-02-04T00:00:00Z","value":20}\n' >>"$d/z.jsonl"
run j 3
[ "$(lines "$d/j-raw.jsonl")" = 4 ] && ok jsonl-append-reads-only-new-lines ||
  no jsonl-append-reads-only-new-lines "$(lines "$d/j-raw.jsonl") raw readings (want 4)"

recipe n "$d/z.jsonl" false
run n 1 && run n 2 || no resume-false-runs "exit $?"
if [ "$(lines "$d/n-raw.jsonl")" = 8 ] && ! grep -q 'out_of_order' "$d/n-2.log" &&
   grep -q 'history produced again after a restart' "$d/n-2.log"; then
  ok resume-false-reads-all-calculators-quiet
else
  no resume-false-reads-all-calculators-quiet "$(lines "$d/n-raw.jsonl") raw readings (want 8): $(grep 'warn\|history' "$d/n-2.log" | head -3)"
fi
exit $fail
