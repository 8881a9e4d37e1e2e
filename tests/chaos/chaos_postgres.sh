#!/usr/bin/env bash
# chaos postgres: PostgreSQL stopped and started under load.
#
# source.tcp (every line journaled and answered "ok" before it counts as
# acknowledged) into store.postgres and a file sink.  PostgreSQL is
# stopped; 60 000 readings (120 000 under `make soak`) are sent and
# acknowledged while the store is paused; the queue holds them in memory
# (issue #15 measured ~330 B per queued reading): RSS above idle is
# printed per queued reading and must stay at or under 64 B.  Then
# PostgreSQL starts: every acknowledged reading is stored once, the
# recovery time is printed, and after the drain RSS falls back (the
# engine returns freed memory with malloc_trim): within 16 MB of idle.
# What stays is the store's transaction text and libpq's buffers, which
# grow with `batch` (about 170 B a reading of the largest transaction),
# not with the backlog: the case sets batch = 20000.
set -u
. "$(dirname "$0")/../e2e/lib.sh" chaos
C=postgres
kk_tmpdir
fig() { echo "chaos $C $1 $2"; }
rss() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status 2>/dev/null || echo 0; }
if ! "$K" modules 2>/dev/null | grep -q '^store.postgres'; then
  skip $C "store.postgres is not built"; exit 0
fi
if ! { kk_pg_init "$d" && kk_pg_up "$d"; }; then
  skip $C "cannot start a private PostgreSQL: $(kk_pg_why "$d")"; exit 0
fi
N=${KK_SOAK:+120000}
N=${N:-60000}
export KK_CHAOS_PG=$(kk_pg_conninfo "$d" postgres)
pgcount() { kk_pg_psql "$d" -Atqc 'SELECT count(*) FROM observations' 2>/dev/null || echo -1; }
pg_has() { [ "$(pgcount)" = "$1" ]; }
port=$(free_port)
cat > "$d/pg.lua" <<LUA
local kk = require "klimakit"
kk.pipe(kk.source.tcp { listen = "127.0.0.1:$port" },
        { kk.store.postgres { env = "KK_CHAOS_PG", max_backoff = "500ms", queue = 200000,
                            batch = 20000 },
          kk.sink.jsonl { path = "$d/out.jsonl" } })
LUA
kk_start "$d/run.log" "$d/pg.lua" --data-dir "$d/data" --log-format text
wait_port "$port" 10
send() {
  python3 - "$@" <<'PY'
import json, socket, sys, threading
port, frm, cnt = map(int, sys.argv[1:4])
s = socket.create_connection(("127.0.0.1", port))
lines = [json.dumps({"thing": "t%d" % (i % 50), "property": "co2", "unit": "ppm",
                     "time": 1767225600000 + i * 60000, "value": i}) for i in range(frm, frm + cnt)]
def send():  # answers are read meanwhile, as a real client does
    s.sendall(("\n".join(lines) + "\n").encode())
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
ans = s.makefile().read().splitlines()
t.join()
print(sum(a.startswith("ok ") for a in ans))
PY
}
send "$port" 0 1000 >/dev/null
wait_for 20 pg_has 1000
sleep 1
idle=$(rss "$kk_pid")
kk_pg_down "$d"
t0=$(date +%s.%N)
acked=$(send "$port" 1000 "$N")
sleep 1
paused=$(rss "$kk_pid")
per=$(( (paused - idle) * 1024 / N ))
fig rss_idle_kb "$idle"
fig rss_paused_kb "$paused"
fig bytes_per_queued_reading "$per"
fig acknowledged "$((acked + 1000))"
[ "$acked" = "$N" ] && ok $C/acked-while-down || no $C/acked-while-down "$acked of $N"
[ "$per" -le 64 ] && ok $C/queue-memory-bounded || no $C/queue-memory-bounded "$per B per queued reading"
kk_pg_up "$d" || no $C/restart "PostgreSQL did not come back"
t1=$(date +%s.%N)
wait_for 120 pg_has "$((N + 1000))"
t2=$(date +%s.%N)
n=$(pgcount)
dups=$(kk_pg_psql "$d" -Atqc 'SELECT count(*) - count(DISTINCT (ds, time)) FROM observations' 2>/dev/null)
fig stored "$n"
fig duplicates "$dups"
fig recovery_seconds "$(echo "$t2 - $t1" | bc)"
fig outage_seconds "$(echo "$t1 - $t0" | bc)"
[ "$n" = "$((N + 1000))" ] && ok $C/nothing-lost || no $C/nothing-lost "$n of $((N + 1000)) stored: $(tail -3 "$d/run.log")"
sleep 2
after=$(rss "$kk_pid")
fig rss_after_drain_kb "$after"
[ $((after - idle)) -le 16384 ] && ok $C/memory-returned ||
  no $C/memory-returned "idle $idle kB, paused $paused kB, after the drain $after kB"
kk_stop; rc=$?
[ $rc = 0 ] && ok $C/clean-exit || no $C/clean-exit "exit $rc"
lines=$(wc -l < "$d/out.jsonl")
fig file_lines "$lines"
[ "$lines" = "$((N + 1000))" ] && ok $C/file-sink-once || no $C/file-sink-once "$lines lines"
exit $fail
