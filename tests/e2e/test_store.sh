#!/usr/bin/env bash
# The stores through the real binary, one suite for both backends:
# store.sqlite and store.postgres get the same readings (late data and
# duplicates included) and must give the same answers, each checked
# against the truth computed by tests/stores/store_check.py: datastreams,
# things, raw data, hourly/daily rollups, latest values, ranges with the
# resolution chosen by span, aggregates over ragged windows.  Then:
# idempotence (the same data again changes nothing), redelivery (the
# journal replayed from cursor 0 leaves the store unchanged), a damaged
# database file (clear error, no crash), online backup, retention.
#
# PostgreSQL: the test starts its own cluster (tests/e2e/lib.sh: private
# data dir, unix socket in the temp dir, no TCP).  Without the binaries
# the postgres part is skipped.
set -u
. "$(dirname "$0")/lib.sh" store
BUILD=$(dirname "$K")
Q=${KK_STORE_QUERY:-$BUILD/tests/kk-store-query}
CHECK=tests/stores/store_check.py
kk_tmpdir

if [ ! -x "$Q" ]; then
  no tools "$Q missing (make unit builds it)"
  exit 1
fi

python3 $CHECK gen "$d/a.jsonl" 7
python3 $CHECK gen "$d/late.jsonl" 8  # other values, same times: first wins
head -2000 "$d/late.jsonl" > "$d/b.jsonl"

THINGS='things = { ["town-hall"] = { location = {7.47, 51.36}, properties = { owner = "city" } } }'
SECTORS='sectors = { energy = "municipal" }'

# run_store NAME BACKEND_OPTS SOURCE: one run of a recipe into a store.
run_store() {
  local name=$1 store=$2 src=$3
  cat > "$d/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$name" }
kk.pipe($src, $store)
LUA
  timeout --preserve-status 120 "$K" run "$d/$name.lua" --log-format text >"$d/$name.log" 2>&1
}

file_src() { echo "kk.source.file { path = \"$1\" }"; }

# suite TAG BACKEND TARGET STORE_LUA
suite() {
  local tag=$1 be=$2 target=$3 store=$4
  if run_store "$tag-a" "$store" "$(file_src "$d/a.jsonl")"; then ok "$tag/ingest"
  else no "$tag/ingest" "exit $?: $(tail -3 "$d/$tag-a.log")"; return; fi
  run_store "$tag-b" "$store" "$(file_src "$d/b.jsonl")" || no "$tag/ingest-late" "$(tail -3 "$d/$tag-b.log")"
  python3 $CHECK verify "store/$tag" "$Q" "$be" "$target" "$d/a.jsonl" "$d/b.jsonl"
  python3 $CHECK snapshot "$Q" "$be" "$target" > "$d/$tag.snap1"
  # The same data again: nothing changes, not even the rollups.
  run_store "$tag-a2" "$store" "$(file_src "$d/a.jsonl")"
  python3 $CHECK snapshot "$Q" "$be" "$target" > "$d/$tag.snap2"
  if [ -s "$d/$tag.snap1" ] && cmp -s "$d/$tag.snap1" "$d/$tag.snap2"; then ok "$tag/idempotent-rerun"
  else no "$tag/idempotent-rerun" "$(diff "$d/$tag.snap1" "$d/$tag.snap2" | head -3)"; fi
  redelivery "$tag" "$be" "$target" "$store"
  lua_query "$tag" "$store"
}

# kk.query from a recipe function: a one-reading pipeline whose map stage
# returns what the store answers (count over all time, latest value).
lua_query() {
  local tag=$1 store=$2
  cat > "$d/$tag-lua.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$tag-lua" }
local function q(r)
  local v, t = kk.query.latest("town-hall", "co2", "ppm")
  local a = kk.query.aggregate("town-hall", "co2", "ppm", 0, 4102444800000)
  local pts, res = kk.query.range("town-hall", "co2", "ppm", t - 86400000, t + 1)
  local ds = kk.query.datastreams { thing = "school-a/*" }
  -- the widest bounds a script can pass are all time, not an error
  local all = kk.query.aggregate("town-hall", "co2", "ppm", math.mininteger, math.maxinteger)
  if res ~= "raw" or #pts < 1 or pts[#pts].time ~= t or #ds ~= 4 or all.count ~= a.count then return -1 end
  return a.count * 1000000 + v
end
kk.pipe(kk.source.simulate { sensors = 1, count = 1, realtime = false, quantities = { "co2" } },
        kk.map(q), { kk.sink.jsonl { path = "$d/$tag-lua.jsonl" }, $store })
LUA
  timeout 60 "$K" run "$d/$tag-lua.lua" --log-format text >"$d/$tag-lua.log" 2>&1
  local got want
  got=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['value'])" "$d/$tag-lua.jsonl" 2>/dev/null)
  want=$(python3 - "$d/a.jsonl" "$d/b.jsonl" "$d/late.jsonl" <<'PY'
import json, sys
seen = {}
for i, fn in enumerate(sys.argv[1:]):
    lines = open(fn).read().splitlines()
    if i == 2: lines = lines[2000:5000]
    for l in lines:
        r = json.loads(l)
        if r["thing"] == "town-hall" and r["property"] == "co2": seen.setdefault(r["time"], r["value"])
t = max(seen)
print(len(seen) * 1000000 + seen[t])
PY
)
  if [ -n "$got" ] && python3 -c "import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 1e-6)" "$got" "$want"; then
    ok "$tag/lua-kk-query"
  else no "$tag/lua-kk-query" "got ${got:-nothing}, want $want: $(tail -n 2 "$d/$tag-lua.log")"; fi
}

# Redelivery: readings over TCP (journaled), then the sink cursor reset to
# 0 and a restart: the journal is replayed into the store, which must not
# change.
redelivery() {
  local tag=$1 be=$2 target=$3 store=$4
  local port dd=$d/data-$tag-tcp
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local src="kk.source.tcp { listen = \"127.0.0.1:$port\" }"
  cat > "$d/$tag-tcp.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$dd" }
kk.pipe($src, $store)
LUA
  "$K" run "$d/$tag-tcp.lua" --log-format text >"$d/$tag-tcp.log" 2>&1 &
  local pid=$!
  python3 - "$port" "$d/late.jsonl" <<'PY' || no "$tag/redelivery" "sending failed"
import socket, sys, time
for _ in range(200):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); break
    except OSError: time.sleep(0.05)
lines = open(sys.argv[2], "rb").read().splitlines()[2000:5000]
s.sendall(b"\n".join(lines) + b"\n")
s.shutdown(socket.SHUT_WR)
answers = s.makefile().read().splitlines()
ok = sum(1 for a in answers if a.startswith("ok "))
sys.exit(0 if ok == len(lines) else 1)
PY
  kill -TERM $pid; wait $pid
  python3 $CHECK snapshot "$Q" "$be" "$target" > "$d/$tag.snap3"
  local sink
  sink=$(ls "$dd/journal/cursors" | head -1)
  echo 0 > "$dd/journal/cursors/$sink"
  "$K" run "$d/$tag-tcp.lua" --log-format text >"$d/$tag-tcp2.log" 2>&1 &
  pid=$!
  # Wait until the replay reached the store: every replayed reading is a
  # duplicate it ignored (bounded wait).
  local dups=0
  for _ in $(seq 300); do
    dups=$(sed -n 's/^kk_store_duplicates_total{[^}]*} \([0-9]*\)$/\1/p' "$dd/metrics.prom" 2>/dev/null | head -1)
    [ "${dups:-0}" -ge 3000 ] && break
    sleep 0.1
  done
  kill -TERM $pid; wait $pid
  python3 $CHECK snapshot "$Q" "$be" "$target" > "$d/$tag.snap4"
  if [ "${dups:-0}" -lt 3000 ]; then no "$tag/redelivery" "replay not seen: $dups duplicates counted; $(tail -3 "$d/$tag-tcp2.log")"
  elif ! cmp -s "$d/$tag.snap3" "$d/$tag.snap4"; then no "$tag/redelivery" "store changed: $(diff "$d/$tag.snap3" "$d/$tag.snap4" | head -3)"
  elif cmp -s "$d/$tag.snap1" "$d/$tag.snap3"; then no "$tag/redelivery" "the TCP readings did not arrive"
  else ok "$tag/redelivery-unchanged"; fi
}

# ---- SQLite ----------------------------------------------------------
DB=$d/sq/klimakit.db
suite sqlite sqlite "$DB" "kk.store.sqlite { path = \"$DB\", $THINGS, $SECTORS }"

# Online backup, while nothing runs, equals the source.
python3 $CHECK snapshot "$Q" sqlite "$DB" > "$d/sqlite.snap5"
if "$Q" sqlite "$DB" backup "$d/backup.db" >/dev/null 2>"$d/backup.err" &&
   python3 $CHECK snapshot "$Q" sqlite "$d/backup.db" > "$d/backup.snap" &&
   [ -s "$d/backup.snap" ] && cmp -s "$d/backup.snap" "$d/sqlite.snap5"; then ok sqlite/backup
else no sqlite/backup "$(cat "$d/backup.err")"; fi
if ! "$Q" sqlite "$DB" backup "$d/backup.db" >/dev/null 2>&1; then ok sqlite/backup-refuses-existing
else no sqlite/backup-refuses-existing "overwrote a file"; fi
# The same through the CLI, while a node writes to the store.
"$K" run "$d/sqlite-tcp.lua" --log-format text >"$d/sqlite-tcp3.log" 2>&1 &
pid=$!
sleep 0.5
if "$K" backup "sqlite:$DB" "$d/cli-backup.db" >"$d/cli-backup.out" 2>&1 &&
   python3 $CHECK snapshot "$Q" sqlite "$d/cli-backup.db" > "$d/cli-backup.snap" &&
   cmp -s "$d/cli-backup.snap" "$d/sqlite.snap5"; then ok sqlite/cli-backup-while-running
else no sqlite/cli-backup-while-running "$(cat "$d/cli-backup.out")"; fi
kill -TERM $pid; wait $pid

# A damaged database file: a clear error at start, exit status 1, no crash.
head -c 65536 /dev/urandom > "$d/bad.db"
run_store bad "kk.store.sqlite { path = \"$d/bad.db\" }" "$(file_src "$d/b.jsonl")"; rc=$?
if [ $rc -eq 1 ] && grep -q "damaged or not a SQLite database" "$d/bad.log"; then ok sqlite/damaged-file-clear-error
else no sqlite/damaged-file-clear-error "exit $rc: $(tail -2 "$d/bad.log")"; fi

# Retention: raw data older than 30 days goes, rollups stay.
now=$(date +%s%3N)
python3 $CHECK gen "$d/recent.jsonl" 9 "$now"
run_store ret "kk.store.sqlite { path = \"$d/ret.db\", retain_raw = \"30d\" }" "$(file_src "$d/recent.jsonl")"
old=$("$Q" sqlite "$d/ret.db" range town-hall co2 ppm 0 $((now - 31 * 86400000)) raw | head -1)
days=$("$Q" sqlite "$d/ret.db" range town-hall co2 ppm 0 $((now - 31 * 86400000)) day | head -1)
recent=$("$Q" sqlite "$d/ret.db" range town-hall co2 ppm $((now - 29 * 86400000)) "$now" raw | head -1)
if [[ $old == *"len=0 "* && $days != *"len=0 "* && $recent != *"len=0 "* ]]; then ok sqlite/retention-keeps-rollups
else no sqlite/retention-keeps-rollups "old raw: $old; days: $days; recent: $recent"; fi

# ---- PostgreSQL ------------------------------------------------------
if ! "$K" modules 2>/dev/null | grep -q '^store.postgres'; then
  skip postgres "store.postgres is not built"
elif ! { kk_pg_init "$d" && kk_pg_up "$d" -c max_connections=50; }; then
  skip postgres "cannot start a private PostgreSQL ($(kk_pg_why "$d"))"
else
  kk_pg_psql "$d" -qc 'CREATE DATABASE kk' >/dev/null
  export KK_TEST_PG=$(kk_pg_conninfo "$d" kk)
  suite postgres postgres "$KK_TEST_PG" "kk.store.postgres { env = \"KK_TEST_PG\", $THINGS, $SECTORS }"
  # Same answers: both stores got the same readings in the same order.
  if [ -s "$d/postgres.snap4" ] && python3 - "$d/sqlite.snap4" "$d/postgres.snap4" <<'PY'
import math, sys
a = open(sys.argv[1]).read().split("\n"); b = open(sys.argv[2]).read().split("\n")
def same(x, y):
    fx, fy = x.split(), y.split()
    if len(fx) != len(fy): return False
    for p, q in zip(fx, fy):
        if p == q: continue
        k1, _, v1 = p.partition("="); k2, _, v2 = q.partition("=")
        if k1 != k2 or not math.isclose(float(v1), float(v2), rel_tol=1e-9, abs_tol=1e-9): return False
    return True
sys.exit(0 if len(a) == len(b) and all(same(x, y) for x, y in zip(a, b)) else 1)
PY
  then ok same-answers-sqlite-postgres
  else no same-answers-sqlite-postgres "snapshots differ: $(diff "$d/sqlite.snap4" "$d/postgres.snap4" | head -4)"; fi
fi

exit $fail
