#!/usr/bin/env bash
# store.postgres and data the server refuses for good (issue 15): a DBA
# adds CHECK (value < 10000) to observations; a reading of 66666 is then
# refused (SQLSTATE 23514) however often it is sent.  The store retries
# one batch per transaction until it has the refused batch, tries that
# batch 3 times, then its journal record is a dead letter (stage
# postgres, the server's message) and the readings after it are stored;
# without this the sink retried the same transaction for ever and stored
# nothing more.  A stopped server (a transient failure) still pauses and
# resumes without any dead letter.
set -u
. "$(dirname "$0")/lib.sh" store-refused
kk_tmpdir
if [ ! -x "$KK_PGBIN/initdb" ] || ! id postgres >/dev/null 2>&1; then
  skip all "no PostgreSQL 15 binaries or no postgres user"
  exit 0
fi
if ! kk_pg_init "$d"; then
  skip all "initdb failed: $(tail -1 "$d/initdb.log")"
  exit 0
fi
kk_pg_up "$d"
kk_pg_psql "$d" -qc 'CREATE DATABASE kk' >/dev/null || { no cluster "cannot create a database"; exit 1; }
export KK_TEST_PG=$(kk_pg_conninfo "$d" kk)
port=$(free_port)
cat > "$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
kk.pipe(kk.source.http { listen = "127.0.0.1:$port", allow_anonymous = true },
        kk.store.postgres { env = "KK_TEST_PG", name = "pg" })
LUA
post() {
  curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "{\"thing\":\"room\",\"property\":\"co2\",\"unit\":\"ppm\",\"value\":$1,\"time\":$((1700000000000 + $2 * 1000))}" \
    "http://127.0.0.1:$port/api/ingest"
}
count() { kk_pg_psql "$d" -d kk -Atc "SELECT count(*) FROM observations WHERE value = $1" 2>/dev/null; }
kk_start "$d/run.log" "$d/r.lua" --log-format text
wait_port "$port" 10 || { no start "$(tail -3 "$d/run.log")"; exit 1; }
[ "$(post 1 1)" = 202 ] || no post-1 "not 202"
wait_for 10 sh -c "[ \"\$(kk_pg_psql '$d' -d kk -Atc 'SELECT count(*) FROM observations' 2>/dev/null)\" = 1 ]" 2>/dev/null
[ "$(count 1)" = 1 ] && ok first-stored || no first-stored "$(tail -3 "$d/run.log")"
kk_pg_psql "$d" -d kk -qc 'ALTER TABLE observations ADD CONSTRAINT kk_test_max CHECK (value < 10000)' ||
  no constraint "cannot add the constraint"
[ "$(post 66666 2)" = 202 ] && ok refused-acknowledged || no refused-acknowledged "not 202"
sleep 0.5
for i in 3 4 5; do post "$i" "$i" >/dev/null; done
c() { [ "$(count 5)" = 1 ]; }
if wait_for 30 c; then ok after-refused-stored; else no after-refused-stored "$(grep -E 'refused|pg' "$d/run.log" | tail -5)"; fi
[ "$(count 3)$(count 4)$(count 66666)" = "110" ] && ok others-stored || no others-stored "3:$(count 3) 4:$(count 4) 66666:$(count 66666)"
kk_stop || no clean-exit "exit $?"
out=$("$K" journal --data-dir "$d/data" dead)
echo "$out" | grep -Eq '^2 .* http +pg +3 .*SQLSTATE 23514' && ok dead-letter || no dead-letter "$out"
echo "$out" | grep -q '^1 dead letter' && ok one-dead-letter || no one-dead-letter "$out"
grep -q 'kk_store_refused_batches_total{stage="pg"} 1' "$d/data/metrics.prom" && ok counted ||
  no counted "$(grep refused "$d/data/metrics.prom")"

# Transient: the server stopped and started; nothing is a dead letter.
kk_start "$d/run2.log" "$d/r.lua" --log-format text
wait_port "$port" 10
kk_pg_down "$d"
[ "$(post 7 7)" = 202 ] || no post-down "not 202"
sleep 1.5
kk_pg_up "$d"
c7() { [ "$(count 7)" = 1 ]; }
if wait_for 30 c7; then ok transient-stored; else no transient-stored "$(tail -5 "$d/run2.log")"; fi
kk_stop || no clean-exit-2 "exit $?"
"$K" journal --data-dir "$d/data" dead | grep -q '^1 dead letter' && ok transient-not-dead ||
  no transient-not-dead "$("$K" journal --data-dir "$d/data" dead)"
exit $fail
