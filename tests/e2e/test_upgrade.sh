#!/usr/bin/env bash
# Upgrades from the formats of klimakit 0.1.0 (tests/fixtures/upgrade/,
# made by its make.sh with that release): a journal (segment format 1), a
# SQLite store (schema 1) and a PostgreSQL database (schema 2) are opened
# by this build, migrated in place, and keep every one of the 120
# readings; the SQLite store is backed up before it is migrated, and
# `klimakit restore` puts that backup back.  Then stores and a journal
# of a NEWER format than this build are refused with a message naming
# the way out, and left as they were.
set -u
. "$(dirname "$0")/lib.sh" upgrade
kk_tmpdir
F=$ROOT/tests/fixtures/upgrade
N=120

mkdir -p "$d/var"
tar -C "$d/var" -xf "$F/journal.tar"
# A sink that has seen nothing yet: it replays the whole journal.
echo 0 >"$d/var/journal/cursors/check"
cp "$F/store.db" "$d/store.db"
port=$(free_port)
cat > "$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { retain_age = "36500d" }
local src = kk.source.tcp { listen = "127.0.0.1:$port" }
kk.pipe(src, kk.store.sqlite { path = "$d/store.db" })
kk.pipe(src, kk.sink.jsonl { name = "check", path = "$d/replayed.jsonl" })
if kk.env("KLIMAKIT_PG", "") ~= "" then kk.pipe(src, kk.store.postgres {}) end
LUA

pg=0
if [ -x "$KK_PGBIN/initdb" ] && id postgres >/dev/null 2>&1 && kk_pg_init "$d" && kk_pg_up "$d"; then
  kk_pg_psql "$d" -qc 'CREATE DATABASE old' >/dev/null &&
    kk_pg_psql "$d" -q -v ON_ERROR_STOP=1 -d old -f "$F/postgres.sql" >"$d/psql.log" 2>&1 &&
    pg=1
  [ $pg = 1 ] || no pg-fixture "cannot load postgres.sql: $(tail -2 "$d/psql.log")"
  export KLIMAKIT_PG=$(kk_pg_conninfo "$d" old)
else
  skip postgres "no PostgreSQL 15 binaries, no user postgres or initdb failed"
fi
pgq() { kk_pg_psql "$d" -d old -tAc "$1"; }

kk_start "$d/run.log" "$d/r.lua" --data-dir "$d/var" --log-format text
wait_port "$port" 15 || no start "klimakit did not listen: $(tail -3 "$d/run.log")"
# The new sink `check` starts at the journal's beginning: it sees the
# readings only if the version-1 segment is still read.
wait_for 15 test "$(wc -l <"$d/replayed.jsonl" 2>/dev/null)" -ge $N
python3 - "$port" >"$d/new.txt" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b'{"thing":"room-009","property":"co2","unit":"ppm","time":1795420000000,"value":777}\n')
print(s.makefile().readline().strip())
PY
wait_for 10 test "$(wc -l <"$d/replayed.jsonl" 2>/dev/null)" -ge $((N + 1))
kk_stop && ok stops || no stops "exit $?: $(tail -3 "$d/run.log")"

# ---- journal
lines=$(wc -l <"$d/replayed.jsonl" 2>/dev/null || echo 0)
[ "$lines" = $((N + 1)) ] && ok journal-keeps-every-reading ||
  no journal-keeps-every-reading "$lines lines replayed, want $N old + 1 new"
[ "$(cat "$d/new.txt")" = "ok $((N + 1))" ] && ok journal-seq-continues ||
  no journal-seq-continues "new reading answered '$(cat "$d/new.txt")'"
old_seg=$d/var/journal/00000000000000000001.kkj
tar -C "$d" -xf "$F/journal.tar" journal/00000000000000000001.kkj --transform 's|^journal|orig|'
cmp -s "$old_seg" "$d/orig/00000000000000000001.kkj" && ok journal-v1-segment-untouched ||
  no journal-v1-segment-untouched "the version-1 segment was changed"
new_seg=$d/var/journal/$(printf '%020d' $((N + 1))).kkj
[ "$(head -c 8 "$new_seg" 2>/dev/null)" = KKJRNL03 ] && ok journal-new-segment-v3 ||
  no journal-new-segment-v3 "no version-3 segment $new_seg: $(ls "$d/var/journal")"
[ -z "$(ls "$d/var/journal/quarantine")" ] && ok journal-nothing-quarantined ||
  no journal-nothing-quarantined "$(ls "$d/var/journal/quarantine")"

# ---- SQLite
sq() { sqlite3 "$1" "$2" 2>&1; }
# The current schema version: the one a new store gets.
cat > "$d/fresh.lua" <<LUA
local kk = require "klimakit"
kk.pipe(kk.source.simulate { sensors = 1, count = 1, realtime = false }, kk.store.sqlite { path = "$d/fresh.db" })
LUA
"$K" run --data-dir "$d/var-fresh" "$d/fresh.lua" >/dev/null 2>&1
cur=$(sq "$d/fresh.db" 'SELECT max(version) FROM schema_version')
[ "$cur" -gt 1 ] 2>/dev/null || no sqlite-current "a new store has schema '$cur'"
[ "$(sq "$d/store.db" 'SELECT max(version) FROM schema_version')" = "$cur" ] && ok sqlite-migrated ||
  no sqlite-migrated "schema $(sq "$d/store.db" 'SELECT max(version) FROM schema_version'), want $cur"
# The fixture's readings, compared row by row (plus the one sent now).
sq "$F/store.db" "SELECT t.name, d.property, o.time, o.value FROM observations o JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id ORDER BY 1, 2, 3" >"$d/before.txt"
sq "$d/store.db" "SELECT t.name, d.property, o.time, o.value FROM observations o JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id WHERE t.name <> 'room-009' ORDER BY 1, 2, 3" >"$d/after.txt"
[ "$(wc -l <"$d/before.txt")" = $N ] && cmp -s "$d/before.txt" "$d/after.txt" &&
  ok sqlite-keeps-every-reading ||
  no sqlite-keeps-every-reading "$(wc -l <"$d/after.txt") of $(wc -l <"$d/before.txt") rows equal"
[ "$(sq "$d/store.db" "SELECT count(*) FROM observations")" = $((N + 1)) ] && ok sqlite-takes-new ||
  no sqlite-takes-new "$(sq "$d/store.db" "SELECT count(*) FROM observations") rows"
[ "$(sq "$d/store.db" "SELECT sum(count) FROM obs_hourly")" = $((N + 1)) ] && ok sqlite-rollups ||
  no sqlite-rollups "hourly counts $(sq "$d/store.db" "SELECT sum(count) FROM obs_hourly")"
bak=$d/store.db.schema1.bak
[ "$(sq "$bak" 'SELECT max(version), (SELECT count(*) FROM observations) FROM schema_version')" = "1|$N" ] &&
  ok sqlite-backup-before-migration || no sqlite-backup-before-migration "$(ls "$d")"
grep -q "backup before migrating" "$d/run.log" && ok sqlite-backup-logged ||
  no sqlite-backup-logged "no log line"

# A database another process has open (here a reader) is not replaced.
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); c.execute("SELECT count(*) FROM observations").fetchall()
print("open", flush=True); time.sleep(10)' "$d/store.db" >"$d/holder.log" 2>&1 &
hp=$!
wait_log "$d/holder.log" open 5
out=$("$K" restore "sqlite:$d/store.db" "$d/store.db.schema1.bak" 2>&1)
rc=$?
kill $hp 2>/dev/null; wait $hp 2>/dev/null
[ $rc = 1 ] && grep -q "is open in process $hp" <<<"$out" && ok restore-refuses-open-db ||
  no restore-refuses-open-db "exit $rc: $out"
# Rollback: restore the pre-migration backup; the database is schema 1 again.
out=$("$K" restore "sqlite:$d/store.db" "$bak" 2>&1) && [ "$(sq "$d/store.db" 'SELECT max(version) FROM schema_version')" = 1 ] &&
  [ -f "$d/store.db.before-restore" ] && ok restore || no restore "$out"
out=$("$K" restore "sqlite:$d/store.db" "$d/r.lua" 2>&1)
[ $? = 1 ] && grep -q "not a readable SQLite database" <<<"$out" && ok restore-refuses-garbage ||
  no restore-refuses-garbage "$out"

# A store of a newer schema is refused, unchanged.
cp "$F/store.db" "$d/newer.db"
sq "$d/newer.db" "INSERT INTO schema_version VALUES(9, 0); CREATE TABLE kk_meta(key TEXT PRIMARY KEY, value TEXT); INSERT INTO kk_meta VALUES('written_by', 'klimakit 9.0.0')" >/dev/null
sum=$(sq "$d/newer.db" .dump | md5sum)
cat > "$d/newer.lua" <<LUA
local kk = require "klimakit"
kk.pipe(kk.source.simulate { sensors = 1, count = 1, realtime = false }, kk.store.sqlite { path = "$d/newer.db" })
LUA
out=$("$K" run --data-dir "$d/var2" "$d/newer.lua" 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "schema version 9 (written by klimakit 9.0.0), newer than this klimakit" <<<"$out" &&
  [ "$(sq "$d/newer.db" .dump | md5sum)" = "$sum" ] && ok sqlite-newer-refused ||
  no sqlite-newer-refused "exit $rc: $(grep -i schema <<<"$out" | head -2)"

# A journal segment of a newer format stops the start and is kept.
mkdir -p "$d/var3/journal"
printf 'KKJRNL09%024d' 0 >"$d/var3/journal/00000000000000000001.kkj"
out=$("$K" run --data-dir "$d/var3" "$d/newer.lua" 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "format version 9, this klimakit reads up to 3" <<<"$out" &&
  [ "$(head -c 8 "$d/var3/journal/00000000000000000001.kkj")" = KKJRNL09 ] &&
  [ -z "$(ls "$d/var3/journal/quarantine" 2>/dev/null)" ] && ok journal-newer-refused ||
  no journal-newer-refused "exit $rc: $(tail -2 <<<"$out")"

# ---- PostgreSQL
if [ $pg = 1 ]; then
  cat > "$d/newer-pg.lua" <<LUA
local kk = require "klimakit"
kk.config { shutdown_timeout = "2s" }
kk.pipe(kk.source.simulate { sensors = 1, count = 1, realtime = false }, kk.store.postgres {})
LUA
  # The current version: the one a new database gets.
  kk_pg_psql "$d" -qc 'CREATE DATABASE fresh' >/dev/null
  KLIMAKIT_PG=$(kk_pg_conninfo "$d" fresh) "$K" run --data-dir "$d/var-pgfresh" "$d/newer-pg.lua" >/dev/null 2>&1
  pgcur=$(kk_pg_psql "$d" -d fresh -tAc 'SELECT max(version) FROM schema_version')
  [ "$(pgq 'SELECT max(version) FROM schema_version')" = "$pgcur" ] && [ "$pgcur" -gt 2 ] && ok pg-migrated ||
    no pg-migrated "schema $(pgq 'SELECT max(version) FROM schema_version'), want $pgcur"
  [ "$(pgq "SELECT value FROM kk_meta WHERE key = 'written_by'")" = "klimakit $("$K" version | cut -d' ' -f2)" ] &&
    ok pg-meta || no pg-meta "$(pgq 'SELECT * FROM kk_meta')"
  got=$(pgq "SELECT count(*) FROM observations o JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id WHERE t.name <> 'room-009'")
  [ "$got" = $N ] && ok pg-keeps-every-reading || no pg-keeps-every-reading "$got rows"
  want=$(awk '/^COPY public.observations_/ {on = 1; next} /^\\\./ {on = 0} on' "$F/postgres.sql" | wc -l)
  [ "$want" = $N ] || no pg-fixture "the dump holds $want observation rows"
  [ "$(pgq 'SELECT count(*) FROM observations')" = $((N + 1)) ] && ok pg-takes-new ||
    no pg-takes-new "$(pgq 'SELECT count(*) FROM observations') rows"
  # klimakit backup / restore: pg_dump's snapshot, pg_restore in one
  # transaction; the migrated database comes back as it was.
  before=$(pgq "SELECT count(*), sum(value) FROM observations")
  out=$("$K" backup "postgres:$KLIMAKIT_PG" "$d/pg.dump" 2>&1) && [ -s "$d/pg.dump" ] && ok pg-backup ||
    no pg-backup "$out"
  pgq "DELETE FROM obs_latest; DELETE FROM observations WHERE value > 700" >/dev/null
  out=$("$K" restore "postgres:$KLIMAKIT_PG" "$d/pg.dump" 2>&1)
  [ $? = 0 ] && [ "$(pgq "SELECT count(*), sum(value) FROM observations")" = "$before" ] &&
    [ "$(pgq 'SELECT max(version) FROM schema_version')" = "$pgcur" ] && ok pg-restore ||
    no pg-restore "$out; now $(pgq "SELECT count(*), sum(value) FROM observations"), before $before"
  out=$("$K" restore "postgres:$KLIMAKIT_PG" "$d/r.lua" 2>&1)
  [ $? = 1 ] && grep -q "database is unchanged" <<<"$out" &&
    [ "$(pgq "SELECT count(*), sum(value) FROM observations")" = "$before" ] && ok pg-restore-refuses-garbage ||
    no pg-restore-refuses-garbage "$out"
  out=$("$K" backup "postgres:$KLIMAKIT_PG" "$d/pg.dump" 2>&1)
  [ $? = 1 ] && grep -q "pg.dump: File exists" <<<"$out" && ok pg-backup-keeps-existing ||
    no pg-backup-keeps-existing "$out"
  pgq "INSERT INTO schema_version(version) VALUES (9)" >/dev/null
  timeout 20 "$K" run --data-dir "$d/var4" --log-format text "$d/newer-pg.lua" >"$d/pg-newer.log" 2>&1 &
  p=$!
  wait_log "$d/pg-newer.log" "schema version 9 .*is newer than this klimakit" 15 && ok pg-newer-refused ||
    no pg-newer-refused "$(grep -i -m2 'schema\|error' "$d/pg-newer.log")"
  kill -TERM $p 2>/dev/null
  wait $p 2>/dev/null
  [ "$(pgq 'SELECT count(*) FROM observations')" = $((N + 1)) ] && ok pg-newer-untouched ||
    no pg-newer-untouched "$(pgq 'SELECT count(*) FROM observations') rows"
fi
exit $fail
