#!/usr/bin/env bash
# tests/bench/file_sink.sh - sink.file figures, "bench <name> <value> <unit>":
# simulate -> sink.file (long CSV, fsync never) through the real binary,
# against its floor measured in the same run: bare write() of the very
# lines it wrote (read back into memory, written in chunks of one batch's
# bytes to a fresh file), and the ratio.  Called by tests/bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
N=${KK_BENCH_FILE_READINGS:-10000000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/f.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/data" }
kk.pipe(kk.source.simulate { sensors = 1000, realtime = false, count = $N, batch = 4096,
                             start = "2026-01-05T00:00:00Z" },
        kk.sink.file { path = "$tmp/out.csv" })
LUA
t0=$(date +%s.%N)
"$BIN" run "$tmp/f.lua" --log-level warn
t1=$(date +%s.%N)
rate=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
floor=$(python3 - "$tmp/out.csv" "$tmp/floor.csv" "$N" <<'PY'
import os, sys, time
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[3])
chunk = max(1, len(data) * 4096 // n)  # the bytes of one 4096-reading batch
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
mv = memoryview(data)
t0 = time.perf_counter()
for i in range(0, len(data), chunk):
    os.write(fd, mv[i:i + chunk])
t1 = time.perf_counter()
os.close(fd)
print("%.0f" % (n / (t1 - t0)))
PY
)
echo "bench sink_file_csv $rate readings/s"
echo "bench sink_file_csv_floor $floor readings/s"
echo "bench sink_file_csv_ratio $(awk -v a="$rate" -v b="$floor" 'BEGIN {printf "%.2f", a / b}') ratio"
