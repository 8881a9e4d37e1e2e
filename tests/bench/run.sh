#!/usr/bin/env bash
# tests/bench/run.sh - `make bench`: one line per figure,
# "bench <name> <value> <unit>", also written to build/bench.tsv.  Every
# rate comes with a floor measured in the same run and the ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
out=$BUILD/bench.tsv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$out"
emit() { echo "$*"; printf '%s\t%s\t%s\n' "$2" "$3" "$4" >> "$out"; }

# 1. Journal append, 120-byte records, fsync never.
"$BUILD"/kk-bench journal "$tmp/j" 5000000 | while read -r l; do emit $l; done

# 2. Pipeline simulate -> null, and the floor of moving the same readings
#    through batches with no stage at all.
N=${KK_BENCH_READINGS:-100000000}
cat > "$tmp/pipe.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/pipe" }
kk.pipe(kk.source.simulate { sensors = 1000, realtime = false, count = $N, batch = 4096,
                             start = "2026-01-05T00:00:00Z" },
        kk.sink.null {})
LUA
t0=$(date +%s.%N)
"$BIN" run "$tmp/pipe.lua" --log-level warn
t1=$(date +%s.%N)
rate=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
floor=$("$BUILD"/kk-bench batch "$N" | awk '{print $3}')
emit bench pipeline_simulate_null "$rate" readings/s
emit bench pipeline_floor "$floor" readings/s
emit bench pipeline_ratio "$(awk -v a="$rate" -v b="$floor" 'BEGIN {printf "%.2f", a / b}')" ratio

# 3. The Musterstadt demo (what `make run` starts): time from the start
#    to the first dashboard page, and peak RSS after 5 s (the week of
#    classroom history and the sample files included).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t0=$(date +%s.%N)
KLIMAKIT_HTTP=127.0.0.1:$port KLIMAKIT_DATA="$tmp/demo" "$BIN" run recipes/demo.lua --log-level warn >/dev/null 2>&1 &
pid=$!
for _ in $(seq 300); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.02
done
t1=$(date +%s.%N)
emit bench demo_first_page "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}')" ms
sleep 5
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
emit bench demo_peak_rss "$hwm" KiB
KK_BUILD=$BUILD tests/bench/coap.sh | while read -r l; do emit $l; done
KK_BUILD=$BUILD tests/bench/mqtt.sh | while read -r l; do emit $l; done
KK_BUILD=$BUILD tests/bench/mqtt_stock.sh | while read -r l; do emit $l; done
KK_BUILD=$BUILD tests/bench/calc.sh | while read -r l; do emit $l; done
KK_BUILD=$BUILD tests/bench/store.sh | while read -r l; do emit $l; done
KK_BUILD=$BUILD tests/bench/http.sh | while read -r l; do emit $l; done
KK_BUILD=$BUILD tests/bench/file_sink.sh | while read -r l; do emit $l; done
KK_BUILD=$BUILD tests/bench/lua_pattern.sh | while read -r l; do emit $l; done
KK_BUILD=$BUILD tests/bench/dashboard.sh | while read -r l; do emit $l; done
KK_BUILD=$BUILD tests/bench/measures.sh | while read -r l; do emit $l; done
