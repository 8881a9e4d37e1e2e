#!/usr/bin/env bash
# Dashboard figures, "bench <name> <value> <unit>" (called by
# tests/bench/run.sh):
#  - render time of a thing page (CO2, temperature, humidity, an
#    electricity meter as daily bars) with the 1-year range, read from a
#    store.sqlite of KK_BENCH_DASH_OBS (10 M) observations: 25 rooms x 4
#    quantities every 5 minutes over the last year, through the daily
#    rollups (target < 20 ms);
#  - render time of the overview with 1 000 things (4 000 datastreams, the
#    latest of each from the store);
# both with "Cache-Control: no-cache" over one connection (wrk, mean
# latency, loopback included), and the page sizes.
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh" bench
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
N=${KK_BENCH_DASH_OBS:-10000000}
SENSORS=25
STEP_S=300
tmp=$(mktemp -d)
kpid=
trap '[ -n "$kpid" ] && kill $kpid 2>/dev/null; rm -rf "$tmp"' EXIT
rounds=$((N / SENSORS / 4))
now=$(date +%s)
start=$(date -u -d "@$(( (now - rounds * STEP_S) / 300 * 300 ))" +%Y-%m-%dT%H:%M:%SZ)
fill() { # DB SENSORS COUNT START INTERVAL
  cat > "$tmp/fill.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/fill-data" }
kk.pipe(kk.source.simulate { sensors = $2, realtime = false, count = $3, batch = 4096,
                             interval = "$5", start = "$4" },
        kk.store.sqlite { path = "$1" })
LUA
  "$BIN" run "$tmp/fill.lua" --log-level warn
  rm -rf "$tmp/fill-data"
}
fill "$tmp/year.db" $SENSORS $((rounds * SENSORS * 4)) "$start" "${STEP_S}s"
fill "$tmp/city.db" 1000 $((1000 * 4 * 3)) "$(date -u -d "@$((now - 900))" +%Y-%m-%dT%H:%M:%SZ)" 5m
: > "$tmp/empty.jsonl"
measure() { # url -> mean latency in ms
  wrk -t1 -c1 -d3s -H "Cache-Control: no-cache" "$1" | awk '
    function ms(v) {if (v ~ /us$/) {sub(/us/,"",v); return v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v); return v} else {sub(/s/,"",v); return v*1000}}
    /^ *Latency +[0-9]/ {mean=ms($2)}
    END {printf "%.3f\n", mean}'
}
view() { # DB URL-PATH NAME
  local port
  port=$(free_port)
  cat > "$tmp/view.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/view-data", exit_when_done = false }
kk.pipe(kk.source.file { path = "$tmp/empty.jsonl" },
        { kk.store.sqlite { path = "$1" }, kk.publish.http { listen = "127.0.0.1:$port", store = "sqlite" } })
LUA
  "$BIN" run "$tmp/view.lua" --log-level warn &
  kpid=$!
  wait_port "$port" 20
  local url="http://127.0.0.1:$port$2" size
  size=$(curl -s "$url" | wc -c)
  echo "bench dashboard_${3}_render $(measure "$url") ms"
  echo "bench dashboard_${3}_bytes $size bytes"
  kill -TERM $kpid; wait $kpid || true
  kpid=
  rm -rf "$tmp/view-data"
}
obs=$((rounds * SENSORS * 4 / 1000000))
view "$tmp/year.db" "/things/room-007?range=1y" "thing_1y_${obs}M"
view "$tmp/city.db" "/" overview_1000_things
