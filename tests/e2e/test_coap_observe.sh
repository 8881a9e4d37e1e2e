#!/usr/bin/env bash
# source.coap_observe against a real observable resource: libcoap's own
# coap-server-openssl (its /example_data is observable and takes PUT).
# Notifications reach the sink; after the server restarts (and forgets the
# observation) the source registers again and later values arrive too.
set -u
. "$(dirname "$0")/lib.sh" coap_observe
C=coap-client-openssl
S=coap-server-openssl
pid= spid=
kk_on_exit() { [ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "$spid" ] && kill -9 $spid 2>/dev/null; }
kk_tmpdir
if ! command -v $S >/dev/null || ! command -v $C >/dev/null; then echo "skip coap_observe: no $S/$C"; exit 0; fi
P=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
U=coap://127.0.0.1:$P/example_data

server() {
  $S -A 127.0.0.1 -p "$P" >>"$d/server.log" 2>&1 &
  spid=$!
  sleep 0.3
  # A first value, so that the registration answer decodes.
  $C -B 3 -m put -t 0 -e "co2=$1 ppm" "$U" >/dev/null 2>&1
}
put() { $C -B 3 -m put -t 0 -e "co2=$1 ppm" "$U" >/dev/null 2>&1; }
# wait_value V: waits (bounded) until value V is in the sink's output.
wait_value() {
  for _ in $(seq 100); do
    grep -q "\"value\":$1[,}]" "$d/out.jsonl" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

server 500
cat > "$d/obs.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
kk.pipe(kk.source.coap_observe { uris = { "$U" }, max_silence = "2s",
                                 backoff_min = "200ms", backoff_max = "1s" },
        kk.sink.jsonl { path = "$d/out.jsonl" })
LUA
"$K" run "$d/obs.lua" --log-format text >"$d/k.log" 2>&1 &
pid=$!
if wait_value 500; then ok registration-answer-ingested; else no registration-answer-ingested "$(tail -3 "$d/k.log")"; fi
put 501; put 502
if wait_value 501 && wait_value 502; then ok notifications-reach-sink; else no notifications-reach-sink "$(cat "$d/out.jsonl")"; fi
if grep -q '"thing":"example_data","property":"co2","unit":"ppm"' "$d/out.jsonl"; then ok thing-from-path
else no thing-from-path "$(head -1 "$d/out.jsonl")"; fi

# Kill the server (no 4.04 goodbye notification) and start a new one: it
# knows no observer; only our silence deadline makes us register again.
kill -9 $spid; wait $spid 2>/dev/null; spid=
sleep 0.5
server 600
put 601
if wait_value 601; then ok reregistered-after-server-restart
else no reregistered-after-server-restart "$(grep -i 'regist\|observ\|answer' "$d/k.log" | tail -4)"; fi

kill -TERM $pid; wait $pid; rc=$?; pid=
kill -TERM $spid; wait $spid 2>/dev/null; spid=
if [ $rc -eq 0 ]; then ok clean-exit; else no clean-exit "exit $rc: $(tail -3 "$d/k.log")"; fi
if grep -q 'kk_coap_registrations_total{stage="coap_observe"} [2-9]' "$d/data/metrics.prom" 2>/dev/null; then ok registrations-counted
else no registrations-counted "$(grep -s coap "$d/data/metrics.prom" | tr '\n' ' ')"; fi
exit $fail
