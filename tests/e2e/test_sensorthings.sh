#!/usr/bin/env bash
# The SensorThings API (publish.sensorthings) with the query strings
# real clients send, against store.sqlite and, when PostgreSQL can be
# started here, store.postgres (a private cluster, see tests/e2e/lib.sh:
# unix socket in the temp dir, no TCP).  The checks live in
# sensorthings.py; this script provides the stores.
set -u
. "$(dirname "$0")/lib.sh" sensorthings
kk_tmpdir

if ! "$K" modules 2>/dev/null | grep -q '^publish.sensorthings'; then
  no module "publish.sensorthings is not built"
  exit 1
fi

python3 tests/e2e/sensorthings.py "$K" "$d/sqlite" \
  "kk.store.sqlite { path = \"$d/sqlite/st.db\", things = { [\"room-001\"] = { location = {7.47, 51.36} } } }" \
  sqlite || fail=1

if ! "$K" modules 2>/dev/null | grep -q '^store.postgres'; then
  skip postgres "store.postgres is not built"
elif ! { kk_pg_init "$d" && kk_pg_up "$d" -c max_connections=50; }; then
  skip postgres "cannot start a private PostgreSQL"
else
  kk_pg_psql "$d" -qc 'CREATE DATABASE kk' >/dev/null
  export KK_TEST_PG=$(kk_pg_conninfo "$d" kk)
  python3 tests/e2e/sensorthings.py "$K" "$d/postgres" \
    'kk.store.postgres { env = "KK_TEST_PG" }' postgres || fail=1
fi
exit $fail
