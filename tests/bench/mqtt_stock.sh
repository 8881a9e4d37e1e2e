#!/usr/bin/env bash
# tests/bench/mqtt_stock.sh - the whole pipeline on a stock broker, as a
# town would run it (issue: performance on a stock broker).
#
# mosquitto with its default limits (20 messages in flight, 1 000 queued
# per client) is started here on a free port.  A publisher
# (tests/bench/mqtt_pub.c, "city" mode) sends N messages of ~120-byte JSON
# from 1 000 sensors round robin to city/sensors/<id>/up, flat out.
#
#   klimakit: source.mqtt (city/sensors/+/up) -> journal -> decode.json ->
#             a Lua stage adding co2e_g = kwh * 380 and flag = co2_ppm > 1000
#             -> sink.file (one line per message) and store.sqlite
#   floor:    mosquitto_sub writing the payloads to a file
#   floor that stores (sfloor): kk-mqtt-store-floor, libmosquitto, cJSON
#             and SQLite doing the same work in one thread: the payload
#             line to a file, the six values (co2e and flag derived) into
#             the same table, 65 536 rows a transaction, no journal, no
#             rollups (`..._sfloor_...`, `..._ratio_vs_sfloor`)
#   store floor: kk-store-floor inserting the same six rows a message
#             (6 000 datastreams round robin) into the same SQLite table
#             with a bare prepared INSERT, no rollups; its CPU per message
#             added to the floor's is a floor that also stores
#             (`..._floor_with_store_cpu_us`, `..._cpu_ratio_with_store`).
#
# For QoS 0 and 1 (and QoS 1 with the journal's fsync = "interval") each
# consumer runs ROUNDS times, alternating with the floor.  Per run:
# messages received (lines written), the end-to-end rate (received / time
# from the publisher's start to the last line written), CPU microseconds
# per received message (utime + stime from /proc) and peak RSS (VmHWM).
# Reported: the medians, and the median of the per-round ratios.
# Environment: KK_BUILD, KK_BENCH_STOCK (messages, default 200000),
# KK_BENCH_STOCK_ROUNDS (3).
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh" bench
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
PUB=$PWD/$BUILD/tests/kk-mqtt-pub
SFLOOR=$PWD/$BUILD/tests/kk-mqtt-store-floor
N=${KK_BENCH_STOCK:-200000}
ROUNDS=${KK_BENCH_STOCK_ROUNDS:-3}
command -v mosquitto >/dev/null && command -v mosquitto_sub >/dev/null ||
  { echo "# mqtt_stock: no mosquitto, skipped" >&2; exit 0; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
bpid=
cleanup() {
  set +e
  [ -n "$bpid" ] && kill -9 $bpid 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(free_port)
# Stock limits: only the listener and what a test machine needs.
{
  echo "listener $port 127.0.0.1"
  echo "allow_anonymous true"
  echo "user root"
} > "$tmp/mosquitto.conf"
kk_broker_start "$tmp" "$port"
bpid=$kk_broker_pid

# recipe QOS FSYNC DIR: the klimakit side.
recipe() {
  cat > "$3/recipe.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$3/data", fsync = "$2" }
local src = kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "city/sensors/+/up",
                             qos = $1, client_id = "kk-stock-$$-$1-$2" }
local dec = kk.decode.json { thing_field = "sensor", time_field = "ts",
  fields = { "co2_ppm", "temp_c", "rh", "kwh" },
  map = { co2_ppm = "co2:ppm", temp_c = "temperature:Cel", rh = "humidity:%",
          kwh = "energy:kW.h" } }
local function derive(batch, emit)
  for r in batch:readings() do
    emit(r)
    if r.property == "energy" then
      emit { thing = r.thing, property = "co2e", unit = "g", time = r.time, value = r.value * 380 }
    elseif r.property == "co2" then
      emit { thing = r.thing, property = "flag", unit = "1", time = r.time,
             value = r.value > 1000 and 1 or 0 }
    end
  end
end
kk.pipe(src, dec, derive, {
  kk.sink.file { path = "$3/out.csv", header = false, lateness = "0s",
                 columns = { "co2", "temperature", "humidity", "energy", "co2e", "flag" } },
  kk.store.sqlite {} })
LUA
}

# run KIND QOS FSYNC: one measured run; prints "received rate cpu_us rss_kib".
run() {
  local kind=$1 qos=$2 fs=$3 dir cpid
  dir=$(mktemp -d "$tmp/run.XXXX")
  if [ "$kind" = kk ]; then
    recipe "$qos" "$fs" "$dir"
    "$BIN" run "$dir/recipe.lua" --log-level debug --log-format text > "$dir/log" 2>&1 &
    cpid=$!
    wait_for 20 grep -qs "subscribed to" "$dir/log" ||
      { echo "mqtt_stock: klimakit did not subscribe: $(tail -5 "$dir/log")" >&2; exit 1; }
    out=$dir/out.csv
  elif [ "$kind" = sfloor ]; then
    "$SFLOOR" "$port" 'city/sensors/+/up' "$qos" "$dir/out.csv" "$dir/floor.db" \
      > "$dir/log" 2>&1 &
    cpid=$!
    wait_for 20 grep -qs "subscribed" "$dir/log" ||
      { echo "mqtt_stock: the store floor did not subscribe: $(tail -5 "$dir/log")" >&2; exit 1; }
    out=$dir/out.csv
  else
    mosquitto_sub -h 127.0.0.1 -p "$port" -q "$qos" -t 'city/sensors/+/up' \
      -i "floor-$$-$qos" > "$dir/out.csv" 2> "$dir/log" &
    cpid=$!
    sleep 0.5   # mosquitto_sub says nothing when subscribed
    out=$dir/out.csv
  fi
  python3 - "$PUB" "$port" "$N" "$qos" "$out" "$cpid" <<'PY'
import os, subprocess, sys, time
pub, port, n, qos, out, pid = sys.argv[1:7]
n = int(n)
tck = os.sysconf("SC_CLK_TCK")
def cpu():
    with open("/proc/%s/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / tck
def lines():
    try:
        with open(out, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0
c0 = cpu()
t0 = time.monotonic()
p = subprocess.Popen([pub, port, "city/sensors/%s/up", str(n), qos, "city"],
                     stdout=subprocess.DEVNULL)
last, t_last, size = 0, t0, -1
while True:
    time.sleep(0.01)
    s = os.path.getsize(out) if os.path.exists(out) else 0
    now = time.monotonic()
    if s != size:
        size, t_last = s, now
    done = p.poll() is not None
    # Finished: everything arrived, or the publisher is done and nothing
    # was written for 2 s (the broker dropped the rest).
    if done and (lines() >= n or now - t_last > 2.0):
        break
    if now - t0 > 300:
        sys.exit("mqtt_stock: timeout")
got = lines()
c1 = cpu()
with open("/proc/%s/status" % pid) as f:
    hwm = [l.split()[1] for l in f if l.startswith("VmHWM")][0]
rate = got / (t_last - t0) if got else 0
print("%d %.0f %.1f %s" % (got, rate, (c1 - c0) * 1e6 / max(got, 1), hwm))
PY
  kill -TERM "$cpid"
  wait "$cpid" || true
  rm -rf "$dir"
}

median() { python3 -c 'import statistics,sys; print("%g" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ratio_median() {  # A-list B-list: median of per-round A/B
  python3 -c '
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
print("%.2f" % statistics.median([x / y if y else 0 for x, y in zip(a, b)]))' "$1" "$2"
}

# The store floor, once: CPU microseconds per message of six rows.
store_us=$(python3 - "$PWD/$BUILD/tests/kk-store-floor" "$tmp/floor.db" "$((N * 6))" <<'PY'
import resource, subprocess, sys
exe, db, n = sys.argv[1:4]
subprocess.run([exe, "sqlite", db, n, "6000", "1000", "1763700000000"],
               check=True, stdout=subprocess.DEVNULL)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.1f" % ((ru.ru_utime + ru.ru_stime) * 1e6 / (int(n) / 6)))
PY
)
rm -f "$tmp"/floor.db*
echo "bench mqtt_stock_store_floor_cpu_us $store_us us/msg"

for cfg in "0 never q0" "1 never q1" "1 interval q1_fsync_interval"; do
  set -- $cfg
  qos=$1 fs=$2 name=$3
  declare -A K=() F=() S=()
  for r in $(seq "$ROUNDS"); do
    read -r fr frate fcpu frss < <(run floor "$qos" never)
    read -r kr krate kcpu krss < <(run kk "$qos" "$fs")
    read -r sr srate scpu srss < <(run sfloor "$qos" never)
    echo "# mqtt_stock $name round $r: klimakit $kr received, $krate msg/s, $kcpu us/msg," \
      "$krss KiB; floor $fr, $frate msg/s, $fcpu us/msg, $frss KiB;" \
      "store floor $sr, $srate msg/s, $scpu us/msg, $srss KiB" >&2
    K[r]+=" $kr" K[rate]+=" $krate" K[cpu]+=" $kcpu" K[rss]+=" $krss"
    F[r]+=" $fr" F[rate]+=" $frate" F[cpu]+=" $fcpu" F[rss]+=" $frss"
    S[r]+=" $sr" S[rate]+=" $srate" S[cpu]+=" $scpu" S[rss]+=" $srss"
  done
  echo "bench mqtt_stock_${name}_received $(median ${K[r]}) messages"
  echo "bench mqtt_stock_${name}_floor_received $(median ${F[r]}) messages"
  echo "bench mqtt_stock_${name}_received_ratio $(ratio_median "${K[r]}" "${F[r]}") ratio"
  echo "bench mqtt_stock_${name}_e2e $(median ${K[rate]}) msg/s"
  echo "bench mqtt_stock_${name}_floor_e2e $(median ${F[rate]}) msg/s"
  echo "bench mqtt_stock_${name}_e2e_ratio $(ratio_median "${K[rate]}" "${F[rate]}") ratio"
  echo "bench mqtt_stock_${name}_cpu_us $(median ${K[cpu]}) us/msg"
  echo "bench mqtt_stock_${name}_floor_cpu_us $(median ${F[cpu]}) us/msg"
  echo "bench mqtt_stock_${name}_cpu_ratio $(ratio_median "${K[cpu]}" "${F[cpu]}") ratio"
  fs_cpu=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) + float(sys.argv[2])))" "$(median ${F[cpu]})" "$store_us")
  echo "bench mqtt_stock_${name}_floor_with_store_cpu_us $fs_cpu us/msg"
  echo "bench mqtt_stock_${name}_cpu_ratio_with_store $(python3 -c "import sys; a, b = map(float, sys.argv[1:]); print('%.2f' % (a / b if b else 0))" "$(median ${K[cpu]})" "$fs_cpu") ratio"
  echo "bench mqtt_stock_${name}_peak_rss $(median ${K[rss]}) KiB"
  echo "bench mqtt_stock_${name}_floor_peak_rss $(median ${F[rss]}) KiB"
  # Against the floor that does the work (kk-mqtt-store-floor, run in the
  # same rounds): received, end to end, CPU, memory.
  echo "bench mqtt_stock_${name}_sfloor_received $(median ${S[r]}) messages"
  echo "bench mqtt_stock_${name}_received_ratio_vs_sfloor $(ratio_median "${K[r]}" "${S[r]}") ratio"
  echo "bench mqtt_stock_${name}_sfloor_e2e $(median ${S[rate]}) msg/s"
  echo "bench mqtt_stock_${name}_e2e_ratio_vs_sfloor $(ratio_median "${K[rate]}" "${S[rate]}") ratio"
  echo "bench mqtt_stock_${name}_sfloor_cpu_us $(median ${S[cpu]}) us/msg"
  echo "bench mqtt_stock_${name}_cpu_ratio_vs_sfloor $(ratio_median "${K[cpu]}" "${S[cpu]}") ratio"
  echo "bench mqtt_stock_${name}_sfloor_peak_rss $(median ${S[rss]}) KiB"
  # What durability costs: QoS 1 with fsync = interval against never
  # (medians of both configurations of this run; target >= 0.9).
  [ "$name" = q1 ] && q1_rate=$(median ${K[rate]})
  if [ "$name" = q1_fsync_interval ] && [ -n "${q1_rate:-}" ]; then
    echo "bench mqtt_stock_fsync_interval_vs_never $(python3 -c "import sys; a, b = map(float, sys.argv[1:]); print('%.2f' % (a / b if b else 0))" "$(median ${K[rate]})" "$q1_rate") ratio"
  fi
  unset K F S
done
kill -TERM $bpid; wait $bpid || true; bpid=
