#!/usr/bin/env bash
# Scale-out: two klimakit nodes run the same recipe against one mosquitto
# (MQTT v5 shared subscription $share/kk/..., QoS 1, persistent sessions)
# and one PostgreSQL.  N readings are published; node A is killed with
# SIGKILL mid-stream and restarted.  The store must then hold exactly N
# distinct observations (0 lost, 0 duplicated), and the rollups must count
# each once.  Both nodes must have taken part.
set -u
. "$(dirname "$0")/lib.sh" store-scaleout
N=${KK_SCALEOUT_N:-20000}
command -v mosquitto >/dev/null || { skip all "no mosquitto"; exit 0; }
[ -x "$KK_PGBIN/initdb" ] || { skip all "no PostgreSQL 15 binaries"; exit 0; }
"$K" modules 2>/dev/null | grep -q '^source.mqtt' || { skip all "source.mqtt is not built"; exit 0; }
"$K" modules 2>/dev/null | grep -q '^decode.json' || { skip all "decode.json is not built"; exit 0; }
"$K" modules 2>/dev/null | grep -q '^store.postgres' || { skip all "store.postgres is not built"; exit 0; }
pida= pidb= ppid=
kk_on_exit() { for p in $pida $pidb $ppid; do kill -9 "$p" 2>/dev/null; done; }
kk_tmpdir

cc -O2 -o "$d/mqtt_pub" tests/bench/mqtt_pub.c -lmosquitto || { no build "cannot build mqtt_pub"; exit 1; }

# ---- PostgreSQL on a unix socket in $d (tests/e2e/lib.sh) ----------------
kk_pg_init "$d" || { skip all "initdb failed: $(tail -1 "$d/initdb.log")"; exit 0; }
kk_pg_up "$d"
kk_pg_psql "$d" -qc 'CREATE DATABASE kk' >/dev/null || { no postgres "$(tail -2 "$d/pg.log")"; exit 1; }
export KK_SCALE_PG=$(kk_pg_conninfo "$d" kk)
psql_q() { kk_pg_psql "$d" -d kk -Atqc "$1" 2>/dev/null; }

# ---- mosquitto -------------------------------------------------------------
port=$(free_port)
kk_broker_conf "$d/broker" "$port" 1000000 "max_inflight_messages 1000"
kk_broker_start "$d/broker" "$port"

# node NAME: the same recipe on every node; its own data dir and client id.
node() {
  local name=$1
  cat > "$d/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$name" }
kk.pipe(kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "\$share/kk/scale/#", qos = 1,
                         client_id = "kk-scale-$name", clean_start = false,
                         backoff_min = "50ms", backoff_max = "500ms" },
        kk.decode.json { fields = { "v" }, thing = "scale", map = { v = "seq:1" },
                         time_field = "n", time_unit = "ms" },
        kk.store.postgres { env = "KK_SCALE_PG" })
LUA
  "$K" run "$d/$name.lua" --log-format text >>"$d/$name.log" 2>&1 &
  started=$!
}
wait_connected() { # log
  for _ in $(seq 600); do grep -q "connected to 127.0.0.1" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
count() { psql_q "SELECT count(*) FROM observations" || echo 0; }

node a; pida=$started
node b; pidb=$started
wait_connected "$d/a.log" && wait_connected "$d/b.log" || { no start "$(tail -n 3 "$d/a.log" "$d/b.log")"; exit 1; }

"$d/mqtt_pub" $port scale/x $N 1 >"$d/pub.out" 2>&1 &
ppid=$!
for _ in $(seq 300); do [ "$(count)" -ge $((N / 4)) ] && break; sleep 0.05; done
at=$(count)
kill -9 $pida; wait $pida 2>/dev/null; pida=
sleep 0.3
node a; pida=$started
wait $ppid; prc=$?; ppid=
[ $prc -eq 0 ] || no publisher "$(cat "$d/pub.out")"
# Bounded wait until every reading is in the store.
for _ in $(seq 600); do [ "$(count)" -ge $N ] && break; sleep 0.1; done
sleep 1 # anything still in flight would show up as a duplicate now
total=$(count)
distinct=$(psql_q "SELECT count(DISTINCT (ds, time)) FROM observations")
rolled=$(psql_q "SELECT coalesce(sum(count), 0) FROM obs_hourly")
daily=$(psql_q "SELECT coalesce(sum(count), 0) FROM obs_daily")
lo_hi=$(psql_q "SELECT (extract(epoch FROM min(time)) * 1000)::int8 || ' ' || (extract(epoch FROM max(time)) * 1000)::int8 FROM observations")
if [ "$at" -gt 0 ] && [ "$at" -lt "$N" ]; then ok killed-mid-stream; else no killed-mid-stream "$at of $N stored at the kill"; fi
if [ "$total" = "$N" ] && [ "$distinct" = "$N" ]; then ok exactly-n-observations
else no exactly-n-observations "$total rows, $distinct distinct, want $N (lost or doubled)"; fi
if [ "$rolled" = "$N" ] && [ "$daily" = "$N" ]; then ok rollups-count-each-once
else no rollups-count-each-once "hourly $rolled, daily $daily, want $N"; fi
[ "$lo_hi" = "0 $((N - 1))" ] || [ "$lo_hi" = "1 $N" ] && ok times-span || no times-span "$lo_hi"
for p in $pida $pidb; do kill -TERM $p 2>/dev/null; done
wait $pida; ea=$?; wait $pidb; eb=$?; pida= pidb=
[ $ea -eq 0 ] && [ $eb -eq 0 ] && ok clean-exit || no clean-exit "exit $ea / $eb"
# Both nodes wrote (the shared subscription spread the stream); the
# metrics files are written at shutdown too.
rows() { sed -n 's/^kk_store_rows_total{[^}]*} \([0-9]*\)$/\1/p' "$1" 2>/dev/null | head -1; }
ra=$(rows "$d/data-a/metrics.prom"); rb=$(rows "$d/data-b/metrics.prom")
# Node a's first life left no metrics (SIGKILL), but its journal shows
# what it received.
ja=$(find "$d/data-a/journal" -type f ! -path '*/cursors/*' -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}')
if [ "${rb:-0}" -gt 0 ] && { [ "${ra:-0}" -gt 0 ] || [ "$ja" -gt 4096 ]; }; then ok both-nodes-worked
else no both-nodes-worked "node a stored ${ra:-0} after its restart (journal $ja bytes), node b ${rb:-0}"; fi
exit $fail
