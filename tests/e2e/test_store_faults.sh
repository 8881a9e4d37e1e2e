#!/usr/bin/env bash
# Store faults through the real binary:
#  - store.sqlite on a full disk (a 1 MiB tmpfs): the sink pauses, says
#    why (log line, kk_store_paused, kk_store_write_errors_total{reason=
#    "disk_full"}), the data waits in the journal, and when the disk grows
#    (remount) it resumes by itself with nothing lost;
#  - the same with the file system remounted read-only;
#  - store.postgres across a database restart: pause, reconnect, resume,
#    nothing lost.
# The tmpfs part needs root with CAP_SYS_ADMIN (mount); it is skipped with
# the reason otherwise.
set -u
. "$(dirname "$0")/lib.sh" store-faults
pid= mounted=
kk_on_exit() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  [ -n "$mounted" ] && umount "$d/db" 2>/dev/null
}
kk_tmpdir

# send PORT FROM COUNT: readings over TCP (journaled), all must be "ok".
send() {
  python3 - "$@" <<'PY'
import json, socket, sys, time
port, frm, cnt = map(int, sys.argv[1:4])
for _ in range(200):
    try:
        s = socket.create_connection(("127.0.0.1", port)); break
    except OSError: time.sleep(0.05)
lines = [json.dumps({"thing": "t%d" % (i % 7), "property": "co2", "unit": "ppm",
                     "time": 1767225600000 + i * 60000, "value": i}) for i in range(frm, frm + cnt)]
s.sendall(("\n".join(lines) + "\n").encode())
s.shutdown(socket.SHUT_WR)
ans = s.makefile().read().splitlines()
sys.exit(0 if sum(a.startswith("ok ") for a in ans) == cnt else 1)
PY
}
metric() { sed -n "s/^$1{[^}]*$2[^}]*} \\([0-9]*\\)\$/\\1/p" "$3" 2>/dev/null | head -1; }
sqcount() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from observations').fetchone()[0])" "$1" 2>/dev/null || echo -1; }

# ---- SQLite: disk full, then read-only ---------------------------------
mkdir -p "$d/db"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=1m tmpfs "$d/db" 2>/dev/null; then
  skip sqlite-disk-full "cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN)"
  skip sqlite-read-only "cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN)"
else
  mounted=1
  port=$(free_port)
  cat > "$d/sq.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-sq" }
kk.pipe(kk.source.tcp { listen = "127.0.0.1:$port" },
        kk.store.sqlite { path = "$d/db/k.db", max_backoff = "300ms" })
LUA
  "$K" run "$d/sq.lua" --log-format text >"$d/sq.log" 2>&1 &
  pid=$!
  send $port 0 40000 || no sqlite-disk-full "readings not acknowledged (journal)"
  if wait_log "$d/sq.log" "cannot write to .*disk_full.*paused" 30; then
    ok sqlite-disk-full-pauses-with-reason
  else no sqlite-disk-full-pauses-with-reason "$(tail -3 "$d/sq.log")"; fi
  wait_log "$d/data-sq/metrics.prom" '^kk_store_paused\{[^}]*\} 1$' 10 &&
    [ "$(metric kk_store_write_errors_total 'reason="disk_full"' "$d/data-sq/metrics.prom")" -gt 0 ] &&
    ok sqlite-disk-full-metrics || no sqlite-disk-full-metrics "$(grep kk_store_ "$d/data-sq/metrics.prom" 2>/dev/null | tr '\n' ' ')"
  mount -o remount,size=64m "$d/db"
  if wait_log "$d/sq.log" "works again; resumed" 30; then ok sqlite-disk-full-resumes
  else no sqlite-disk-full-resumes "$(tail -3 "$d/sq.log")"; fi
  for _ in $(seq 100); do [ "$(sqcount "$d/db/k.db")" = 40000 ] && break; sleep 0.1; done
  n=$(sqcount "$d/db/k.db")
  [ "$n" = 40000 ] && ok sqlite-disk-full-nothing-lost || no sqlite-disk-full-nothing-lost "$n of 40000 stored"

  kill -TERM $pid; wait $pid; rc=$?; pid=
  [ $rc -eq 0 ] && ok sqlite-clean-exit || no sqlite-clean-exit "exit $rc"

  # Read-only: the file system goes read-only while the node is down (a
  # running node keeps the file open for writing, so it cannot be
  # remounted); the node starts, pauses, and resumes once it is writable.
  if mount -o remount,ro "$d/db"; then
    "$K" run "$d/sq.lua" --log-format text >"$d/sq2.log" 2>&1 &
    pid=$!
    send $port 40000 5000 || no sqlite-read-only "readings not acknowledged"
    if wait_log "$d/sq2.log" "(cannot write to|cannot open) .*paused" 30; then ok sqlite-read-only-pauses-with-reason
    else no sqlite-read-only-pauses-with-reason "$(tail -3 "$d/sq2.log")"; fi
    mount -o remount,rw "$d/db"
    wait_log "$d/sq2.log" "works again; resumed" 30 && ok sqlite-read-only-resumes || no sqlite-read-only-resumes "$(tail -3 "$d/sq2.log")"
    for _ in $(seq 300); do [ "$(sqcount "$d/db/k.db")" = 45000 ] && break; sleep 0.1; done
    n=$(sqcount "$d/db/k.db")
    [ "$n" = 45000 ] && ok sqlite-read-only-nothing-lost || no sqlite-read-only-nothing-lost "$n of 45000 stored"
    kill -TERM $pid; wait $pid; rc=$?; pid=
    [ $rc -eq 0 ] && ok sqlite-read-only-clean-exit || no sqlite-read-only-clean-exit "exit $rc"
  else
    skip sqlite-read-only "cannot remount the tmpfs read-only"
  fi
fi

# ---- PostgreSQL restart --------------------------------------------------
if ! "$K" modules 2>/dev/null | grep -q '^store.postgres'; then
  skip postgres-restart "store.postgres is not built"
elif ! { kk_pg_init "$d" && kk_pg_up "$d"; }; then
  skip postgres-restart "cannot start a private PostgreSQL"
else
  export KK_FAULT_PG=$(kk_pg_conninfo "$d" postgres)
  pgcount() { kk_pg_psql "$d" -Atqc 'SELECT count(*) FROM observations' 2>/dev/null || echo -1; }
  port=$(free_port)
  cat > "$d/pg.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-pg" }
kk.pipe(kk.source.tcp { listen = "127.0.0.1:$port" },
        kk.store.postgres { env = "KK_FAULT_PG", max_backoff = "300ms" })
LUA
  "$K" run "$d/pg.lua" --log-format text >"$d/pgrun.log" 2>&1 &
  pid=$!
  send $port 0 10000
  for _ in $(seq 100); do [ "$(pgcount)" = 10000 ] && break; sleep 0.1; done
  kk_pg_down "$d"
  send $port 10000 10000 || no postgres-restart "readings not acknowledged while the database was down"
  if wait_log "$d/pgrun.log" "paused, the data waits in the journal" 20; then ok postgres-down-pauses
  else no postgres-down-pauses "$(tail -3 "$d/pgrun.log")"; fi
  kk_pg_up "$d" || no postgres-restart "database did not come back"
  for _ in $(seq 300); do [ "$(pgcount)" = 20000 ] && break; sleep 0.1; done
  n=$(pgcount)
  [ "$n" = 20000 ] && ok postgres-restart-nothing-lost || no postgres-restart-nothing-lost "$n of 20000 stored: $(tail -3 "$d/pgrun.log")"
  grep -q "resumed" "$d/pgrun.log" && ok postgres-resumed-logged || no postgres-resumed-logged "$(tail -3 "$d/pgrun.log")"
  kill -TERM $pid; wait $pid; rc=$?; pid=
  [ $rc -eq 0 ] && ok postgres-clean-exit || no postgres-clean-exit "exit $rc"
fi
exit $fail
