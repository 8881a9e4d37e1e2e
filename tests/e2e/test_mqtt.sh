#!/usr/bin/env bash
# source.mqtt against a real mosquitto on 127.0.0.1: a QoS 1 stream with a
# broker restart in the middle loses nothing; topic pattern parts become
# the thing; QoS 0; bad payloads are counted with reasons; shutdown.
set -u
. "$(dirname "$0")/lib.sh" mqtt
command -v mosquitto >/dev/null || { echo "skip mqtt: no mosquitto"; exit 0; }
pid= ppid=
kk_on_exit() { [ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "$ppid" ] && kill -9 $ppid 2>/dev/null; }
kk_tmpdir

cc -O2 -o "$d/mqtt_pub" tests/bench/mqtt_pub.c -lmosquitto || { no build "cannot build mqtt_pub"; exit 1; }
port=$(free_port)
kk_broker_conf "$d/broker" "$port" 1000000 "persistence true" "persistence_location $d/broker/" \
  "autosave_interval 1" "max_inflight_messages 1000"
broker_start() { kk_broker_start "$d/broker" "$port"; }
broker_stop() { kk_broker_stop; }

# start NAME 'pipeline lua': runs the recipe and waits for "connected to".
start() {
  local name=$1 body=$2
  cat > "$d/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$name" }
$body
LUA
  "$K" run "$d/$name.lua" --log-format text >"$d/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    grep -q "connected to" "$d/$name.log" 2>/dev/null && return 0
    kill -0 $pid 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
stop() { kill -TERM $pid 2>/dev/null; wait $pid; local rc=$?; pid=; return $rc; }
# distinct values in a jsonl file
distinct() { python3 -c "
import json,sys
s=set()
for l in open(sys.argv[1]):
    l=l.strip()
    if l: s.add(json.loads(l)['value'])
print(len(s))" "$1" 2>/dev/null || echo 0; }
wait_distinct() { # file n seconds
  for _ in $(seq $(( $3 * 10 ))); do
    [ "$(distinct "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

broker_start || { no broker "mosquitto did not start"; exit 1; }

# ---- QoS 1 with a broker restart in the middle -------------------------
N=20000
url="mqtt://127.0.0.1:$port"
if start restart "
kk.pipe(kk.source.mqtt { url = '$url', topic = 'kk/restart/#', qos = 1,
                         client_id = 'kk-test-restart', clean_start = false,
                         backoff_min = '50ms', backoff_max = '500ms' },
        kk.decode.json { fields = { 'v' }, thing = 'pub', map = { v = 'seq:1' } },
        kk.sink.jsonl { path = '$d/restart.jsonl' })"; then
  "$d/mqtt_pub" $port kk/restart/x $N 1 >"$d/pub.out" 2>&1 &
  ppid=$!
  # restart once a part of the stream is through
  for _ in $(seq 200); do
    [ "$(wc -l < "$d/restart.jsonl" 2>/dev/null || echo 0)" -ge 3000 ] && break
    sleep 0.05
  done
  at=$(wc -l < "$d/restart.jsonl" 2>/dev/null || echo 0)
  broker_stop
  sleep 0.5
  broker_start || no restart "broker did not come back"
  wait $ppid; prc=$?; ppid=
  if [ $prc -ne 0 ]; then
    no restart/publisher "publisher failed: $(cat "$d/pub.out")"
  elif wait_distinct "$d/restart.jsonl" $N 40; then
    ok restart/qos1-none-lost
  else
    no restart/qos1-none-lost "$(distinct "$d/restart.jsonl") of $N distinct values in the sink"
  fi
  [ "$at" -lt $N ] && ok restart/mid-stream || no restart/mid-stream "stream was over ($at) before the restart"
  grep -q "disconnected from" "$d/restart.log" && ok restart/saw-disconnect ||
    no restart/saw-disconnect "no disconnect logged (broker restart not seen)"
  [ "$(grep -c "connected to 127.0.0.1" "$d/restart.log")" -ge 2 ] && ok restart/reconnected ||
    no restart/reconnected "$(grep -c 'connected to' "$d/restart.log") connects"
  stop && ok restart/clean-exit || no restart/clean-exit "exit $?"
else
  no restart/start "$(tail -5 "$d/restart.log")"
fi

# ---- topic pattern, QoS 0, bad payloads --------------------------------
if start pattern "
local src = kk.source.mqtt { url = '$url', topic = { 'v3/+/devices/+/up', 'bad/#' }, qos = 0,
                             pattern = 'v3/{app}/devices/{device}/up' }
kk.pipe(src, kk.decode.json { time_field = 'ts', map = { co2 = 'co2:ppm' } },
        kk.sink.jsonl { path = '$d/pattern.jsonl' })"; then
  mosquitto_pub -p $port -t v3/app1/devices/room-7/up -q 1 -m '{"co2":612,"ts":1767225600}'
  mosquitto_pub -p $port -t bad/x -q 1 -m 'not json {'
  mosquitto_pub -p $port -t bad/y -q 1 -m '{"text":"no numbers"}'
  for _ in $(seq 100); do [ -s "$d/pattern.jsonl" ] && break; sleep 0.05; done
  sleep 0.3
  line=$(head -1 "$d/pattern.jsonl" 2>/dev/null)
  case $line in
    *'"thing":"room-7"'*'"property":"co2"'*'"unit":"ppm"'*'"time":"2026-01-01T00:00:00.000Z"'*'"value":612'*) ok pattern/thing-from-topic ;;
    *) no pattern/thing-from-topic "got: $line" ;;
  esac
  grep -q "rejected message.*parse" "$d/pattern.log" && ok bad/parse-logged || no bad/parse-logged "$(grep -i rejected "$d/pattern.log")"
  grep -q "rejected message.*no_values" "$d/pattern.log" && ok bad/no-values-logged || no bad/no-values-logged "$(grep -i rejected "$d/pattern.log")"
  stop && ok pattern/clean-exit || no pattern/clean-exit "exit $?"
  # the raw bytes of the bad messages are in the journal
  if grep -rqa "not json {" "$d/data-pattern" 2>/dev/null; then ok bad/raw-in-journal; else no bad/raw-in-journal "bad payload not found in the journal"; fi
else
  no pattern/start "$(tail -5 "$d/pattern.log")"
fi

# ---- bad configuration --------------------------------------------------
cat > "$d/badcfg.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-bad" }
kk.pipe(kk.source.mqtt { url = "http://x", topic = "a" }, kk.sink.null {})
LUA
out=$("$K" run "$d/badcfg.lua" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "mqtt://" && ok config/bad-url || no config/bad-url "rc=$rc $out"
cat > "$d/badcfg2.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-bad2" }
kk.pipe(kk.source.mqtt { topic = "a", clean_start = false }, kk.sink.null {})
LUA
out=$("$K" run "$d/badcfg2.lua" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "client_id" && ok config/persistent-needs-client-id || no config/persistent-needs-client-id "rc=$rc $out"

broker_stop
exit $fail
