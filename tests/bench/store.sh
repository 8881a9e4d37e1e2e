#!/usr/bin/env bash
# tests/bench/store.sh - store figures, "bench <name> <value> <unit>":
#  - insert rate of store.sqlite and store.postgres through the real
#    binary (source.simulate -> store, KK_BENCH_OBS readings, 1000
#    datastreams, one reading each per hour: ~1.1 years at 10 M), each
#    against its raw floor measured in the same run on the same data shape
#    (plain batched INSERT into the same table; plain COPY), and the ratio;
#  - query latency on the data just loaded: latest value, 24 h of raw
#    data, 1 year through the daily rollups (kk-store-query, mean of many
#    queries on random datastreams).
# Called by tests/bench/run.sh; `make bench-large` runs it with 100 M.
# KK_BENCH_STORES="sqlite postgres" chooses the stores.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${KK_BUILD:-build}
BIN=$PWD/$BUILD/klimakit
Q=$PWD/$BUILD/tests/kk-store-query
FLOOR=$PWD/$BUILD/tests/kk-store-floor
N=${KK_BENCH_OBS:-10000000}
SENSORS=${KK_BENCH_STORE_SENSORS:-25} # x 4 quantities = 100 datastreams
DS=$((SENSORS * 4))
STEP=$((${KK_BENCH_STORE_INTERVAL_S:-300} * 1000))
START=1735689600000 # 2025-01-01T00:00:00Z
PGBIN=/usr/lib/postgresql/15/bin
out=${KK_BENCH_TSV:-} # also written there when set (run.sh writes its own)
tmp=$(mktemp -d)
chmod 755 "$tmp"
pgpid=""
cleanup() {
  # The postmaster by its PID (runuser does not pass signals on).
  local pm
  pm=$(head -1 "$tmp/pg/data/postmaster.pid" 2>/dev/null || true)
  [ -n "$pm" ] && kill -INT "$pm" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "${pm:-0}" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$tmp"
}
trap cleanup EXIT
emit() {
  echo "bench $1 $2 $3"
  [ -z "$out" ] || printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
tag=""
[ "$N" -ne 10000000 ] && tag="_$((N / 1000000))M"

# store_run NAME STORE_LUA: simulate -> store, prints readings/s.
store_run() {
  cat > "$tmp/$1.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$tmp/data-$1" }
kk.pipe(kk.source.simulate { sensors = $SENSORS, realtime = false, count = $N, batch = 4096,
                             interval = "$((STEP / 1000))s", start = "2025-01-01T00:00:00Z" }, $2)
LUA
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" run "$tmp/$1.lua" --log-level warn >"$tmp/$1.log" 2>&1
  t1=$(date +%s.%N)
  awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}'
}

# queries BACKEND TARGET NAME
queries() {
  local be=$1 target=$2 name=$3 last lat r24 r1y
  last=$((START + (N / DS - 1) * STEP))
  lat=$("$Q" "$be" "$target" bench-latest 20000)
  r24=$("$Q" "$be" "$target" bench-range $((last - 86400000 + 1)) $((last + 1)) auto 2000 | awk '{print $1}')
  r1y=$("$Q" "$be" "$target" bench-range $((last - 365 * 86400000 + 1)) $((last + 1)) auto 500 | awk '{print $1}')
  emit "store_${name}_latest_ms$tag" "$lat" ms
  emit "store_${name}_range_24h_raw_ms$tag" "$r24" ms
  emit "store_${name}_range_1y_rollup_ms$tag" "$r1y" ms
}

STORES=" ${KK_BENCH_STORES:-sqlite postgres} "

# ---- SQLite --------------------------------------------------------------
if [[ $STORES == *" sqlite "* ]]; then
floor=$("$FLOOR" sqlite "$tmp/floor.db" "$N" "$DS" "$STEP" "$START")
rm -f "$tmp"/floor.db*
# With the stores' default queue (SQLite 131072, PostgreSQL 1000000 readings in flight; a
# transaction takes at most half), then with queue = 2000000.
rate=$(store_run sqlite "kk.store.sqlite { path = \"$tmp/store.db\" }")
rm -f "$tmp"/store.db*
rate2=$(store_run sqlite2 "kk.store.sqlite { path = \"$tmp/store.db\", queue = 2000000 }")
emit "store_sqlite_insert$tag" "$rate" readings/s
emit "store_sqlite_insert_queue2m$tag" "$rate2" readings/s
emit "store_sqlite_floor$tag" "$floor" readings/s
emit "store_sqlite_ratio$tag" "$(ratio "$rate" "$floor")" ratio
emit "store_sqlite_ratio_queue2m$tag" "$(ratio "$rate2" "$floor")" ratio
queries sqlite "$tmp/store.db" sqlite
rm -f "$tmp"/store.db*
fi

# ---- PostgreSQL ----------------------------------------------------------
if [[ $STORES != *" postgres "* ]]; then
  :
elif [ -x $PGBIN/initdb ] && mkdir -p "$tmp/pg" "$tmp/sock" && chown postgres "$tmp/pg" "$tmp/sock" &&
   runuser -u postgres -- $PGBIN/initdb -D "$tmp/pg/data" -A trust -U postgres >"$tmp/initdb.log" 2>&1; then
  runuser -u postgres -- $PGBIN/postgres -D "$tmp/pg/data" -k "$tmp/sock" -c listen_addresses='' \
    -c shared_buffers=512MB -c max_wal_size=8GB -c checkpoint_timeout=30min >"$tmp/pg.log" 2>&1 &
  pgpid=$!
  for _ in $(seq 100); do $PGBIN/pg_isready -h "$tmp/sock" -q && break; sleep 0.1; done
  $PGBIN/psql -h "$tmp/sock" -U postgres -qc 'CREATE DATABASE kk' >/dev/null
  $PGBIN/psql -h "$tmp/sock" -U postgres -qc 'CREATE DATABASE floor' >/dev/null
  export KK_BENCH_PG="host=$tmp/sock user=postgres dbname=kk"
  floor=$("$FLOOR" postgres "host=$tmp/sock user=postgres dbname=floor" "$N" "$DS" "$STEP" "$START")
  rate=$(store_run postgres "kk.store.postgres { env = \"KK_BENCH_PG\" }")
  $PGBIN/psql -h "$tmp/sock" -U postgres -qc 'DROP DATABASE kk' -c 'CREATE DATABASE kk' >/dev/null
  rate2=$(store_run postgres2 "kk.store.postgres { env = \"KK_BENCH_PG\", queue = 2000000 }")
  emit "store_postgres_insert$tag" "$rate" readings/s
  emit "store_postgres_insert_queue2m$tag" "$rate2" readings/s
  emit "store_postgres_floor$tag" "$floor" readings/s
  emit "store_postgres_ratio$tag" "$(ratio "$rate" "$floor")" ratio
  emit "store_postgres_ratio_queue2m$tag" "$(ratio "$rate2" "$floor")" ratio
  $PGBIN/psql -h "$tmp/sock" -U postgres -d kk -qc 'VACUUM ANALYZE' >/dev/null
  queries postgres "$KK_BENCH_PG" postgres
else
  echo "# store bench: no PostgreSQL ($(tail -1 "$tmp/initdb.log" 2>/dev/null))" >&2
fi
