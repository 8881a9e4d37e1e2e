#!/usr/bin/env bash
# tests/bench/coap.sh - CoAP SenML POST ingest (coap -> journal -> decode
# -> null sink) against a floor measured in the same run: a bare libcoap
# server giving the same answers (tests/bench/coap_floor.c: path and
# Content-Format checked, body appended to a file, 2.04 "ok <n>").
# The load comes from tests/bench/coap_load.c: CON requests, several
# sessions with nstart > 1.  Both servers run side by side; the rounds
# alternate which one is loaded first, and the figures are the medians
# over the rounds.  CPU per request is the server's CPU time (all its
# threads, /proc/PID/task/*/schedstat) over the round divided by the
# requests answered.  Prints `bench <name> <value> <unit>` lines; the
# per-round figures go to stderr.
# Environment: KK_BUILD, KK_BENCH_COAP (requests per round, default 40000),
# KK_BENCH_COAP_ROUNDS (5), KK_BENCH_COAP_SESSIONS (4),
# KK_BENCH_COAP_WINDOW (16), KK_BENCH_COAP_BASE (another klimakit binary,
# e.g. an older build, measured in the same rounds as "base": its figures
# go to stderr, for before/after comparisons on a noisy machine).
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh" bench
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
LOAD=$BUILD/tests/kk-coap-load
FLOOR=$BUILD/tests/kk-coap-floor
N=${KK_BENCH_COAP:-40000}
ROUNDS=${KK_BENCH_COAP_ROUNDS:-5}
SESS=${KK_BENCH_COAP_SESSIONS:-4}
WIN=${KK_BENCH_COAP_WINDOW:-16}
tmp=$(mktemp -d)
fpid= kpid= bpid=
trap 'for p in $fpid $kpid $bpid; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
wait_for() { for _ in $(seq 200); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
rate_of() { awk '{for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1)}'; }
changed_of() { awk '{for (i = 1; i < NF; i++) if ($i == "changed") print $(i + 1)}'; }
# CPU nanoseconds of every thread of process $1 so far.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# The floor: the bare libcoap server, keeping the bodies in a file.
FP=$(free_port udp)
"$FLOOR" 127.0.0.1 "$FP" "$tmp/floor.out" > "$tmp/floor.log" 2>&1 &
fpid=$!
wait_for listening "$tmp/floor.log"

# klimakit: coap -> journal -> decode -> null.  kk_start BIN NAME: starts
# BIN with that recipe and data directory; sets port and pid.
kk_start() {
  port=$(free_port udp)
  cat > "$tmp/$2.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/$2" }
kk.pipe(kk.source.coap { listen = { "127.0.0.1:$port" } }, kk.sink.null {})
LUA
  "$1" run "$tmp/$2.lua" --log-level info --log-format text > "$tmp/$2.log" 2>&1 &
  pid=$!
  wait_for "listening on" "$tmp/$2.log"
}
kk_start "$BIN" kk
KP=$port kpid=$pid
servers="floor kk"
if [ -n "${KK_BENCH_COAP_BASE:-}" ]; then
  kk_start "$KK_BENCH_COAP_BASE" base
  BP=$port bpid=$pid
  servers="floor kk base"
fi

"$LOAD" 127.0.0.1 "$FP" "$((N / 4))" "$SESS" "$WIN" > /dev/null # warm-up
"$LOAD" 127.0.0.1 "$KP" "$((N / 4))" "$SESS" "$WIN" > /dev/null
[ -n "$bpid" ] && "$LOAD" 127.0.0.1 "$BP" "$((N / 4))" "$SESS" "$WIN" > /dev/null

# One loaded round against server $1 (floor|kk|base): appends "rate cpu_us".
round() {
  local pid port line c0 c1 n
  case $1 in
    floor) pid=$fpid port=$FP ;;
    kk) pid=$kpid port=$KP ;;
    *) pid=$bpid port=$BP ;;
  esac
  c0=$(cpu_ns "$pid")
  line=$("$LOAD" 127.0.0.1 "$port" "$N" "$SESS" "$WIN")
  c1=$(cpu_ns "$pid")
  n=$(echo "$line" | changed_of)
  echo "# coap round $r $1: $line cpu_us $(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / 1000 / n}')" >&2
  echo "$(echo "$line" | rate_of) $(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / 1000 / n}')" >> "$tmp/$1.res"
}
rev() { local o=; for x in $1; do o="$x $o"; done; echo "$o"; }
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order=$servers; else order=$(rev "$servers"); fi
  for x in $order; do round "$x"; done
done
for p in $kpid $bpid $fpid; do kill -TERM $p; wait $p || true; done
kpid= bpid= fpid=
if [ -f "$tmp/base.res" ]; then
  echo "# coap base: median rate $(awk '{print $1}' "$tmp/base.res" | median) requests/s, cpu $(awk '{print $2}' "$tmp/base.res" | median) us/request" >&2
fi

rate=$(awk '{print $1}' "$tmp/kk.res" | median)
floor=$(awk '{print $1}' "$tmp/floor.res" | median)
cpu=$(awk '{print $2}' "$tmp/kk.res" | median)
fcpu=$(awk '{print $2}' "$tmp/floor.res" | median)
echo "bench coap_senml_post $rate requests/s"
echo "bench coap_floor $floor requests/s"
echo "bench coap_ratio $(awk -v a="$rate" -v b="$floor" 'BEGIN {printf "%.2f", a / b}') ratio"
echo "bench coap_cpu_us $cpu us/request"
echo "bench coap_floor_cpu_us $fcpu us/request"
echo "bench coap_cpu_ratio $(awk -v a="$cpu" -v b="$fcpu" 'BEGIN {printf "%.2f", a / b}') ratio"
