#!/usr/bin/env bash
# tests/bench/coap.sh - CoAP SenML POST ingest (coap -> journal -> decode
# -> null sink) against a floor measured in the same run: a bare libcoap
# server answering 2.04 to the same requests (tests/bench/coap_floor.c).
# The load comes from tests/bench/coap_load.c: CON requests, several
# sessions with nstart > 1.  Prints `bench <name> <value> <unit>` lines.
# Environment: KK_BUILD, KK_BENCH_COAP (requests per run, default 200000),
# KK_BENCH_COAP_SESSIONS (4), KK_BENCH_COAP_WINDOW (16).
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh" bench
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
LOAD=$BUILD/tests/kk-coap-load
FLOOR=$BUILD/tests/kk-coap-floor
N=${KK_BENCH_COAP:-200000}
SESS=${KK_BENCH_COAP_SESSIONS:-4}
WIN=${KK_BENCH_COAP_WINDOW:-16}
tmp=$(mktemp -d)
spid=
trap '[ -n "$spid" ] && kill -9 $spid 2>/dev/null; rm -rf "$tmp"' EXIT
port() { free_port udp; }
wait_for() { for _ in $(seq 200); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
rate_of() { awk '{for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1)}'; }

# Floor: the bare libcoap server.
P=$(port)
"$FLOOR" 127.0.0.1 "$P" > "$tmp/floor.log" 2>&1 &
spid=$!
wait_for listening "$tmp/floor.log"
"$LOAD" 127.0.0.1 "$P" "$((N / 10))" "$SESS" "$WIN" > /dev/null   # warm-up
floor_line=$("$LOAD" 127.0.0.1 "$P" "$N" "$SESS" "$WIN")
kill -TERM $spid; wait $spid || true; spid=

# klimakit: coap -> journal -> decode -> null.
P=$(port)
cat > "$tmp/coap.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/kk" }
kk.pipe(kk.source.coap { listen = { "127.0.0.1:$P" } }, kk.sink.null {})
LUA
"$BIN" run "$tmp/coap.lua" --log-level info --log-format text > "$tmp/kk.log" 2>&1 &
spid=$!
wait_for "listening on" "$tmp/kk.log"
"$LOAD" 127.0.0.1 "$P" "$((N / 10))" "$SESS" "$WIN" > /dev/null
kk_line=$("$LOAD" 127.0.0.1 "$P" "$N" "$SESS" "$WIN")
kill -TERM $spid; wait $spid || true; spid=

rate=$(echo "$kk_line" | rate_of)
floor=$(echo "$floor_line" | rate_of)
echo "# coap klimakit: $kk_line" >&2
echo "# coap floor:    $floor_line" >&2
echo "bench coap_senml_post $rate requests/s"
echo "bench coap_floor $floor requests/s"
echo "bench coap_ratio $(awk -v a="$rate" -v b="$floor" 'BEGIN {printf "%.2f", a / b}') ratio"
