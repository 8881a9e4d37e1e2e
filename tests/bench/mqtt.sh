#!/usr/bin/env bash
# tests/bench/mqtt.sh - MQTT ingest at QoS 0 and QoS 1: publisher ->
# mosquitto (started here, on a free port) -> klimakit source.mqtt ->
# journal -> decode.json -> sink.null, against a floor measured in the same
# run on the same broker and publisher: a bare libmosquitto consumer that
# only counts messages (tests/bench/mqtt_floor.c).  The publisher is
# tests/bench/mqtt_pub.c (libmosquitto, 120-byte JSON payloads).
#
# A rate is messages / (time from the publisher's start until the consumer
# has received the last one), measured by polling the consumer's output
# every millisecond; each consumer first gets a warm-up of N/10 messages.
# Prints `bench <name> <value> <unit>` lines.
# The machine is shared: each consumer is measured ROUNDS times, the two
# alternating; reported are the median rate of each and the median of the
# per-round ratios (per-round figures go to stderr).
# Environment: KK_BUILD, KK_BENCH_MQTT (messages per QoS 0 round, default
# 300000; QoS 1 rounds use a fifth of it), KK_BENCH_MQTT_ROUNDS (5).
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh" bench
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
PUB=$PWD/$BUILD/tests/kk-mqtt-pub
FLOOR=$PWD/$BUILD/tests/kk-mqtt-floor
N0=${KK_BENCH_MQTT:-300000}
N1=$((N0 / 5))
ROUNDS=${KK_BENCH_MQTT_ROUNDS:-5}
command -v mosquitto >/dev/null || { echo "# mqtt: no mosquitto, skipped" >&2; exit 0; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
bpid= cpid=
cleanup() {
  set +e
  [ -n "$cpid" ] && kill -9 $cpid 2>/dev/null
  [ -n "$bpid" ] && kill -9 $bpid 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(free_port)
kk_broker_conf "$tmp" "$port" 100000000 "max_inflight_messages 1000"
kk_broker_start "$tmp" "$port"
bpid=$kk_broker_pid

# measure LOG PATTERN N QOS TOPIC: runs the publisher and prints the rate
# at which the consumer writing LOG got to PATTERN.
measure() {
  python3 - "$@" "$PUB" "$port" <<'PY'
import subprocess, sys, time
log, pattern, n, qos, topic, pub, port = sys.argv[1:8]
def seen():
    with open(log, "rb") as f:
        return pattern.encode() in f.read()
t0 = time.monotonic()
p = subprocess.Popen([pub, port, topic, n, qos, "120"], stdout=subprocess.DEVNULL)
while not seen():
    if time.monotonic() - t0 > 300: sys.exit("mqtt bench: timeout waiting for " + pattern)
    time.sleep(0.001)
t1 = time.monotonic()
p.wait()
print("%.0f" % (int(n) / (t1 - t0)))
PY
}
wait_for() { for _ in $(seq 400); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

for qos in 0 1; do
  if [ $qos = 0 ]; then N=$N0; else N=$N1; fi
  W=$((N / 10))
  targets=$W
  for r in $(seq "$ROUNDS"); do targets="$targets $((W + r * N))"; done

  # Both consumers stay subscribed for the whole QoS level, each on its
  # own topic; the publisher feeds one at a time, alternating, so that
  # both see the same background load.
  # Floor: the bare consumer.
  "$FLOOR" $port "bench/f$qos/+" $qos $targets > "$tmp/floor$qos.log" 2>&1 &
  fpid=$!
  cpid="$fpid"
  wait_for subscribed "$tmp/floor$qos.log" ||
    { echo "mqtt bench: the floor consumer did not subscribe: $(cat "$tmp/floor$qos.log")" >&2; exit 1; }

  # klimakit: mqtt -> journal -> decode.json -> null.  A Lua stage counts
  # the readings once per batch (one batch per socket read) and logs when
  # a target is reached.
  lua_targets=$(echo $targets | tr ' ' ',')
  cat > "$tmp/kk$qos.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/kk$qos" }
local targets, n, k = { $lua_targets }, 0, 1
local count = kk.transform.fn { fn = function(batch, emit)
  n = n + #batch
  while targets[k] and n >= targets[k] do print("reached " .. targets[k]); k = k + 1 end
end }
local dec = kk.decode.json { fields = { "v" }, thing = "bench", map = { v = "v:1" } }
kk.pipe(kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "bench/k$qos/+", qos = $qos },
        dec, { kk.sink.null {}, count })
kk.pipe(count, kk.sink.null { name = "null_count" })
LUA
  "$BIN" run "$tmp/kk$qos.lua" --log-level debug --log-format text > "$tmp/kk$qos.log" 2>&1 &
  kpid=$!
  cpid="$fpid $kpid"
  wait_for "subscribed to" "$tmp/kk$qos.log" ||
    { echo "mqtt bench: klimakit did not subscribe: $(tail -5 "$tmp/kk$qos.log")" >&2; exit 1; }

  measure "$tmp/floor$qos.log" "reached $W" $W $qos bench/f$qos/x > /dev/null
  measure "$tmp/kk$qos.log" "reached $W" $W $qos bench/k$qos/x > /dev/null
  fs= ks=
  for r in $(seq "$ROUNDS"); do
    t=$((W + r * N))
    f=$(measure "$tmp/floor$qos.log" "reached $t" $N $qos bench/f$qos/x)
    k=$(measure "$tmp/kk$qos.log" "reached $t" $N $qos bench/k$qos/x)
    echo "# mqtt qos $qos round $r: klimakit $k msg/s, floor $f msg/s" >&2
    fs="$fs $f" ks="$ks $k"
  done
  # medians of each, and the median of the per-round ratios (each round's
  # two runs are next to each other in time)
  read -r rate floor ratio < <(python3 -c '
import statistics, sys
k = [float(x) for x in sys.argv[1].split()]
f = [float(x) for x in sys.argv[2].split()]
print("%.0f %.0f %.2f" % (statistics.median(k), statistics.median(f),
                          statistics.median([a / b for a, b in zip(k, f)])))' "$ks" "$fs")
  wait $fpid || true
  kill -TERM $kpid; wait $kpid || true; cpid=

  echo "bench mqtt_qos${qos} $rate msg/s"
  echo "bench mqtt_qos${qos}_floor $floor msg/s"
  echo "bench mqtt_qos${qos}_ratio $ratio ratio"
done
kill -TERM $bpid; wait $bpid || true; bpid=
