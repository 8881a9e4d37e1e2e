#!/usr/bin/env bash
# tests/bench/calc.sh - what the calculators cost per reading in the
# pipeline: simulate -> null, simulate -> calc.co2 -> null and
# simulate -> calc.window (hourly) -> null, run one after the other in the
# same invocation; the cost is the difference of the wall times divided by
# the readings the source produced (every reading enters the calculator;
# calc.co2 converts the energy quarter of them, calc.window aggregates
# all).  Prints `bench <name> <value> <unit>` lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
N=${KK_BENCH_CALC_READINGS:-30000000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME 'stages between source and sink' -> seconds on stdout
run() {
  local name=$1 mid=$2
  cat > "$tmp/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/$name-$RANDOM$RANDOM" }
kk.pipe(kk.source.simulate { sensors = 1000, realtime = false, count = $N, batch = 4096,
                             start = "2026-01-05T00:00:00Z" },
        $mid kk.sink.null {})
LUA
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" run "$tmp/$name.lua" --log-level warn >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}'
}

# Best of three for each, interleaved, so that a noisy moment hurts all.
best() { awk 'BEGIN {m = 1e99} {if ($1 < m) m = $1} END {printf "%.6f", m}'; }
b=() c=() w=()
for i in 1 2 3; do
  b+=("$(run base '')")
  c+=("$(run co2 'kk.calc.co2 { carrier = "erdgas", meter = "cumulative" },')")
  w+=("$(run win 'kk.calc.window { periods = { "hour" }, stats = { "avg", "min", "max", "count" }, snapshot = 0 },')")
done
tb=$(printf '%s\n' "${b[@]}" | best)
tc=$(printf '%s\n' "${c[@]}" | best)
tw=$(printf '%s\n' "${w[@]}" | best)
rate() { awk -v n="$N" -v t="$1" 'BEGIN {printf "%.0f", n / t}'; }
ns() { awk -v n="$N" -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (a - b) * 1e9 / n}'; }
echo "bench calc_base_simulate_null $(rate "$tb") readings/s"
echo "bench calc_co2_pipeline $(rate "$tc") readings/s"
echo "bench calc_window_hour_pipeline $(rate "$tw") readings/s"
echo "bench calc_co2_cost $(ns "$tc" "$tb") ns/reading"
echo "bench calc_window_hour_cost $(ns "$tw" "$tb") ns/reading"
