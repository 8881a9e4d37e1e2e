#!/usr/bin/env bash
# `klimakit export --store postgres:...` gives the same files as from
# SQLite: the same simulated readings go into store.sqlite and into
# store.postgres (a private cluster, see tests/e2e/lib.sh: private data
# dir, unix socket in the temp dir, no TCP); every CSV of
# the two exports must be byte-identical (so their SHA-256 in the two
# catalogs are equal) and the GeoJSON files equal up to rounding.
# Skipped without the PostgreSQL binaries.
set -u
. "$(dirname "$0")/lib.sh" export-pg
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

THINGS='things = { ["room-001"] = { location = {7.47, 51.36}, properties = { building = "Gymnasium" } } }'
cat > "$d/fill.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data", exit_when_done = true }
kk.pipe(kk.source.simulate { sensors = 3, realtime = false, count = 1200,
                             start = "2026-01-05T07:00:00Z" },
        { kk.store.sqlite { path = "$d/db.sqlite", $THINGS },
          kk.store.postgres { env = "KK_TEST_PG", $THINGS } })
LUA
if timeout 60 "$K" run "$d/fill.lua" --log-format text >"$d/fill.log" 2>&1; then ok fill
else no fill "exit $?: $(tail -3 "$d/fill.log")"; exit 1; fi

for res in raw hour; do
  "$K" export --store "sqlite:$d/db.sqlite" --out "$d/sq-$res" --resolution $res >/dev/null 2>"$d/sq.err" ||
    no "sqlite-$res" "$(cat "$d/sq.err")"
  if "$K" export --store "postgres:$KK_TEST_PG" --out "$d/pg-$res" --resolution $res >/dev/null 2>"$d/pg.err"; then
    ok "run-$res"
  else
    no "run-$res" "$(cat "$d/pg.err")"
    continue
  fi
  (cd "$d/pg-$res" && sha256sum --quiet -c checksums.sha256) >"$d/sums.out" 2>&1 &&
    ok "sha256sum-$res" || no "sha256sum-$res" "$(cat "$d/sums.out")"
  # CSV files byte for byte, except the means of the hourly rollups,
  # which the two databases sum in different orders (SQLite adds each
  # transaction's partial sum, and where transactions end depends on
  # timing): numbers there agree to 1e-12; GeoJSON alike.
  diffs=""
  for f in $(cd "$d/sq-$res" && ls *.csv); do
    cmp -s "$d/sq-$res/$f" "$d/pg-$res/$f" && continue
    python3 - "$d/sq-$res/$f" "$d/pg-$res/$f" <<'PY' || diffs="$diffs $f"
import csv, math, sys
a, b = (list(csv.reader(open(p))) for p in sys.argv[1:3])
def same(x, y):
    if x == y:
        return True
    try:
        return math.isclose(float(x), float(y), rel_tol=1e-12)
    except ValueError:
        return False
sys.exit(0 if len(a) == len(b) and all(len(r) == len(q) and all(map(same, r, q)) for r, q in zip(a, b)) else 1)
PY
  done
  for f in $(cd "$d/sq-$res" && ls *.geojson); do
    python3 - "$d/sq-$res/$f" "$d/pg-$res/$f" <<'PY' || diffs="$diffs $f"
import json, math, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def same(x, y):
    if isinstance(x, float) or isinstance(y, float):
        return isinstance(x, (int, float)) and isinstance(y, (int, float)) and math.isclose(x, y, rel_tol=1e-12)
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, list):
        return isinstance(y, list) and len(x) == len(y) and all(map(same, x, y))
    return x == y
sys.exit(0 if same(a, b) else 1)
PY
  done
  n=$(cd "$d/pg-$res" && ls *.csv *.geojson 2>/dev/null | wc -l)
  if [ -z "$diffs" ] && [ "$n" = 8 ]; then ok "same-as-sqlite-$res"
  else no "same-as-sqlite-$res" "$n files; differ:$diffs"; fi
done
exit $fail
