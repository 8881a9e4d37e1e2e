#!/usr/bin/env bash
# Quiet, honest runs (issue #18 item 6): a clean stop says in one line what
# was saved; Lua's print stays plain text when the log goes to a pipe
# (JSON only with --log-format json); kk.date writes the recipe's time
# zone; a restarted simulation goes on instead of producing its backfill
# a second time.
. "$(dirname "$0")/lib.sh" quiet_runs
kk_tmpdir

cat > "$d/p.lua" <<'LUA'
local kk = require "klimakit"
kk.config { tz = "Europe/Berlin" }
print("summary", 42)
kk.log(kk.date("%a %Y-%m-%d %H:%M %Z", 1764590400000) .. " / " ..
       kk.date("%H:%M %Z", 1751328000000) .. " / " .. kk.date("%H:%M %Z", 1751328000000, "UTC"))
kk.pipe(kk.source.simulate { sensors = 1, count = 3 }, kk.sink.jsonl { path = os.getenv("OUT") })
LUA
out=$(OUT=$d/p.jsonl "$K" run "$d/p.lua" --data-dir "$d/p" 2>&1 | cat); rc=$?
[ $rc -eq 0 ] && ok run-exit-0 || no run-exit-0 "exit $rc: $out"
grep -qE '^[0-9:]{8} info  \[lua:recipe\] summary	42$' <<<"$out" && ok print-plain-on-pipe || no print-plain-on-pipe "$out"
grep -q '"component":"core:engine"' <<<"$out" && ok others-json-on-pipe || no others-json-on-pipe "$out"
grep -qF '[lua:recipe] Mon 2025-12-01 13:00 CET / 02:00 CEST / 00:00 UTC' <<<"$out" && ok date-tz || no date-tz "$out"
grep -q '"msg":"stopped cleanly: saved 1 sink cursor (journal record 0) and 0 stage states in '"$d"'/p"' <<<"$out" \
  && ok saved-line || no saved-line "$out"
[ "$(grep -c 'stopped cleanly' <<<"$out")" -eq 1 ] && ok saved-line-once || no saved-line-once "$out"
# A calculator's saved state is named in that line.
printf 'local kk=require "klimakit"\nkk.pipe(kk.source.simulate{sensors=1,count=50,realtime=false}, kk.calc.window{}, kk.sink.null{})\n' > "$d/w.lua"
out=$("$K" run "$d/w.lua" --data-dir "$d/w" --log-format text 2>&1)
grep -qF "stopped cleanly: saved 1 sink cursor (journal record 0) and 1 stage state (window) in $d/w" <<<"$out" \
  && ok saved-line-states || no saved-line-states "$out"
out=$(OUT=$d/p.jsonl "$K" run "$d/p.lua" --data-dir "$d/p" --log-format json 2>&1 | cat)
grep -qF '"component":"lua:recipe","msg":"summary\u000942"' <<<"$out" && ok print-json-asked || no print-json-asked "$out"
printf 'local kk = require "klimakit"\nkk.config { tz = "Mars/Olympus" }\nkk.pipe(kk.source.simulate{}, kk.sink.null{})\n' > "$d/tz.lua"
out=$("$K" check "$d/tz.lua" 2>&1)
grep -qF "$d/tz.lua:2: option 'tz' of kk.config: unknown time zone 'Mars/Olympus'" <<<"$out" && ok tz-checked || no tz-checked "$out"

# The demo's simulation stopped and started again: the backfill is not
# produced twice; the run goes on where it stopped.
cat > "$d/sim.lua" <<LUA
local kk = require "klimakit"
kk.pipe(kk.source.simulate { sensors = 2, interval = "1s", backfill = "30s", quantities = { "co2" } },
        kk.sink.jsonl { name = "archive", path = "$d/sim.jsonl" })
LUA
for round in 1 2; do
  kk_start "$d/sim$round.log" "$d/sim.lua" --data-dir "$d/sim" --log-format text
  wait_log "$d/sim$round.log" "running 2 stages" 10 || no start-$round "$(cat "$d/sim$round.log")"
  sleep 2.5
  kk_stop || no stop-$round "exit $?"
  sleep 1.2
done
grep -q "continuing from .*not producing the backfill again" "$d/sim2.log" && ok sim-continues || no sim-continues "$(cat "$d/sim2.log")"
python3 - "$d/sim.jsonl" <<'PY' > "$d/sim.check"
import json, sys
seen, conflicts, dups = {}, 0, 0
times = []
for line in open(sys.argv[1]):
    j = json.loads(line)
    k = (j["thing"], j["time"])
    if k in seen:
        dups += 1
        conflicts += seen[k] != j["value"]
    seen[k] = j["value"]
ts = sorted({t for _, t in seen})
# One reading per room and second, no second missing in between.
def ms(t): return t if isinstance(t, int) else t
gaps = 0
import datetime
def p(t):
    return int(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000) if isinstance(t, str) else t
v = [p(t) for t in ts]
gaps = sum(1 for a, b in zip(v, v[1:]) if b - a != 1000)
print(conflicts, dups, gaps, len(v))
PY
read -r conflicts dups gaps n < "$d/sim.check"
echo "# simulate restart: $n distinct times, $dups repeated lines, $conflicts conflicting, $gaps gaps"
[ "$conflicts" -eq 0 ] && ok sim-no-conflicts || no sim-no-conflicts "$conflicts conflicting values"
[ "$dups" -le 2 ] && ok sim-backfill-once || no sim-backfill-once "$dups repeated lines (backfill produced again?)"
[ "$gaps" -eq 0 ] && [ "$n" -ge 35 ] && ok sim-continuous || no sim-continuous "$gaps gaps in $n times"
# A clean stop disconnects from the MQTT broker at info, not as a warning
# (the warning stays for a broker that goes away).
if command -v mosquitto >/dev/null; then
  bport=$(free_port)
  kk_broker_conf "$d/broker" "$bport" 1000
  kk_broker_start "$d/broker" "$bport"
  cat >"$d/mqtt.lua" <<LUA
local kk = require "klimakit"
kk.pipe(kk.source.mqtt { url = "mqtt://127.0.0.1:$bport", topic = "q/#" },
        kk.decode.json {}, kk.sink.null {})
LUA
  kk_start "$d/mqtt.log" "$d/mqtt.lua" --data-dir "$d/mqtt" --log-format text
  wait_for 20 grep -q "connected to 127.0.0.1" "$d/mqtt.log"
  kk_stop
  if grep -q "info .*disconnected from 127.0.0.1" "$d/mqtt.log" &&
    ! grep -q "warn .*disconnected from" "$d/mqtt.log"; then ok mqtt-disconnect-at-info
  else no mqtt-disconnect-at-info "$(grep disconnected "$d/mqtt.log")"; fi
  kk_broker_stop
else
  skip mqtt-disconnect-at-info "mosquitto is not installed"
fi

exit $fail
