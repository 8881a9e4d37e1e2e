#!/usr/bin/env bash
# chaos kill_loop: SIGKILL every 2 s under QoS 1 load.
#
# tests/bench/mqtt_pub publishes N messages with QoS 1 to a mosquitto with
# persistence; klimakit subscribes with a persistent session (clean_start
# false) into store.sqlite and sink.jsonl and is killed with SIGKILL every
# 2 s (ROUNDS times), then restarted.  At the end every message the broker
# acknowledged must be in SQLite once and in the file (duplicates in the
# file sink, which is not idempotent, are printed, not failed; 0 in the
# store).  Figures: acknowledged, stored, duplicates, kills, peak RSS,
# time to catch up after the last kill.
set -u
. "$(dirname "$0")/../e2e/lib.sh" chaos
C=kill_loop
kk_tmpdir
fig() { echo "chaos $C $1 $2"; }
command -v mosquitto >/dev/null || { skip $C "no mosquitto"; exit 0; }
cc -O2 -o "$d/mqtt_pub" tests/bench/mqtt_pub.c -lmosquitto || { no $C/build "cannot build mqtt_pub"; exit 1; }
N=${KK_SOAK:+600000}
N=${N:-${KK_CHAOS_N:-200000}}
ROUNDS=${KK_SOAK:+120}
ROUNDS=${ROUNDS:-${KK_CHAOS_ROUNDS:-12}}
port=$(free_port)
kk_broker_conf "$d/broker" "$port" 10000000 "persistence true" "persistence_location $d/broker/" \
  "autosave_interval 1" "max_inflight_messages 1000"
kk_broker_start "$d/broker" "$port" || { no $C/broker "mosquitto did not start"; exit 1; }
cat > "$d/r.lua" <<LUA
local kk = require "klimakit"
kk.pipe(kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "kk/chaos/#", qos = 1,
                         client_id = "kk-chaos-kill", clean_start = false,
                         backoff_min = "50ms", backoff_max = "500ms" },
        kk.decode.json { fields = { "v" }, thing = "pub", map = { v = "seq:1" },
                        time_field = "n", time_unit = "s" },
        { kk.store.sqlite { path = "$d/kk.db" }, kk.sink.jsonl { path = "$d/out.jsonl" } })
LUA
peak=0
rss_peak() { local v; v=$(awk '/^VmHWM:/ {print $2}' /proc/"$kk_pid"/status 2>/dev/null || echo 0)
  [ "${v:-0}" -gt "$peak" ] && peak=$v; }
kk_start "$d/run.log" "$d/r.lua" --data-dir "$d/data" --log-format text
wait_log "$d/run.log" "connected to" 10
"$d/mqtt_pub" "$port" kk/chaos/x "$N" 1 >"$d/pub.out" 2>&1 &
ppid=$!
kills=0
for ((i = 0; i < ROUNDS; i++)); do
  sleep 2
  rss_peak
  kill -KILL "$kk_pid" 2>/dev/null; wait "$kk_pid" 2>/dev/null
  kills=$((kills + 1))
  kk_start "$d/run.log" "$d/r.lua" --data-dir "$d/data" --log-format text

done
wait "$ppid"; prc=$?
acked=$(sed -n 's/^published \([0-9]*\).*/\1/p' "$d/pub.out")
t0=$(date +%s.%N)
sqcount() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from observations').fetchone()[0])" "$d/kk.db" 2>/dev/null || echo -1; }
has_all() { [ "$(sqcount)" = "$N" ]; }
wait_for 120 has_all
t1=$(date +%s.%N)
rss_peak
kk_stop; rc=$?
stored=$(sqcount)
read -r lines uniq < <(python3 - "$d/out.jsonl" <<'PY'
import json, sys
vals = [json.loads(l)["value"] for l in open(sys.argv[1])]
print(len(vals), len(set(vals)))
PY
)
fig acknowledged "${acked:-0}"
fig kills "$kills"
fig stored "$stored"
fig duplicates_store 0
fig file_lines "$lines"
fig duplicates_file "$((lines - uniq))"
fig peak_rss_kb "$peak"
fig catch_up_seconds "$(echo "$t1 - $t0" | bc)"
[ "$prc" = 0 ] && [ "${acked:-0}" = "$N" ] && ok $C/published || no $C/published "$(cat "$d/pub.out")"
[ "$stored" = "$N" ] && ok $C/store-has-every-acked || no $C/store-has-every-acked "$stored of $N"
[ "$uniq" = "$N" ] && ok $C/file-has-every-acked || no $C/file-has-every-acked "$uniq of $N distinct"
[ "$rc" = 0 ] && ok $C/clean-exit || no $C/clean-exit "exit $rc"
exit $fail
