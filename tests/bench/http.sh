#!/usr/bin/env bash
# HTTP figures: requests/s and p99 latency (wrk) of /api/latest (48
# datastreams) and of a thing page with four 24-hour charts; the floor is
# a bare h2o server answering a body of the same size in the same run.
# Pages are cached until new data arrives; the render time of the
# overview and of a thing page is measured with "Cache-Control: no-cache"
# over one connection (mean latency, loopback included).
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh" bench
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
tmp=$(mktemp -d)
port=$(free_port)
fport=$(free_port)
cat > "$tmp/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/data", exit_when_done = false }
kk.pipe(kk.source.simulate { sensors = 12, realtime = false, count = 12 * 4 * 1440,
                             start = "2026-11-16T00:00:00Z" },
        kk.publish.http { listen = "127.0.0.1:$port", refresh = "0s" })
LUA
"$BIN" run "$tmp/r.lua" --log-level warn &
kpid=$!
trap 'kill $kpid $fpid 2>/dev/null || true; rm -rf "$tmp"' EXIT
fpid=
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
sleep 0.5
# wrk: requests/s and the 99th percentile (ms).
measure() { # url [wrk args] -> "rate p99_ms mean_ms"
  local url=$1; shift
  wrk -t2 -c32 -d4s --latency "$@" "$url" | awk '
    /Requests\/sec/ {rate=$2}
    function ms(v) {if (v ~ /us$/) {sub(/us/,"",v); return v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v); return v} else {sub(/s/,"",v); return v*1000}}
    /^ *99%/ {p99=ms($2)}
    /^ *Latency +[0-9]/ {mean=ms($2)}
    END {printf "%.0f %.3f %.3f\n", rate, p99, mean}'
}
for ep in latest thing; do
  case $ep in latest) path=/api/latest;; thing) path=/things/room-003;; esac
  size=$(curl -s "http://127.0.0.1:$port$path" | wc -c)
  read -r rate p99 _ < <(measure "http://127.0.0.1:$port$path")
  "$BUILD"/tests/kk-http-floor "$fport" "$size" & fpid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$fport/" >/dev/null && break; sleep 0.05; done
  read -r frate fp99 _ < <(measure "http://127.0.0.1:$fport/")
  kill $fpid; wait $fpid 2>/dev/null || true; fpid=
  echo "bench http_${ep} $rate req/s"
  echo "bench http_${ep}_p99 $p99 ms"
  echo "bench http_${ep}_floor $frate req/s"
  echo "bench http_${ep}_ratio $(awk -v a="$rate" -v b="$frate" 'BEGIN {printf "%.2f", a / b}') ratio"
  echo "bench http_${ep}_bytes $size bytes"
done
read -r _ _ omean < <(measure "http://127.0.0.1:$port/" -t1 -c1 -H "Cache-Control: no-cache")
echo "bench http_overview_render $omean ms"
read -r _ _ tmean < <(measure "http://127.0.0.1:$port/things/room-003" -t1 -c1 -H "Cache-Control: no-cache")
echo "bench http_thing_render $tmean ms"
kill -TERM $kpid; wait $kpid || true
