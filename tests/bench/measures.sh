#!/usr/bin/env bash
# tests/bench/measures.sh - the measures tracker at 1 000 measures: time
# from `klimakit run` to the first answer of /measures (the catalogue CSV
# read and the page rendered), the overview rendered again (no page
# cache; best of five), one measure's page, and the JSON API.  Prints
# `bench <name> <value> <unit>` lines (figures, not assertions).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
python3 recipes/massnahmen/data/generate_catalogue.py 1000 "$tmp/cat.csv" >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$tmp/r.lua" <<LUA
local kk = require "klimakit"
kk.config { exit_when_done = false }
local m = kk.calc.measures { catalogue = "$tmp/cat.csv" }
kk.pipe(kk.source.simulate { sensors = 1, count = 1, realtime = false, quantities = "energy" }, m,
        kk.publish.http { listen = "127.0.0.1:$port" })
LUA
t0=$(date +%s.%N)
"$BIN" run --data-dir "$tmp/d" "$tmp/r.lua" --log-level warn >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 500); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/measures" && break
  sleep 0.01
done
t1=$(date +%s.%N)
best() { awk 'BEGIN {m = 1e99} {if ($1 < m) m = $1} END {printf "%.2f", m * 1000}'; }
page() {
  for _ in 1 2 3 4 5; do
    curl -s -o /dev/null -H 'Cache-Control: no-cache' -w '%{time_total}\n' "http://127.0.0.1:$port$1"
  done | best
}
echo "bench measures_1000_start_to_page $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}') ms"
echo "bench measures_1000_overview $(page /measures) ms"
echo "bench measures_1000_one_measure $(page /measures/KSK-002) ms"
echo "bench measures_1000_api_json $(page /api/measures) ms"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
