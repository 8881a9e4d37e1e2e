#!/usr/bin/env bash
# The SensorThings API (publish.sensorthings) with the query strings
# real clients send, against store.sqlite and, when PostgreSQL can be
# started here, store.postgres (a private cluster: initdb as user
# postgres, unix socket in the temp dir, no TCP, stopped by PID).  The
# checks live in sensorthings.py; this script provides the stores.
set -u
cd "$(dirname "$0")/../.."
K=${KK_BIN:-build/klimakit}
PGBIN=/usr/lib/postgresql/15/bin
d=$(mktemp -d)
chmod 755 "$d"
pgpid=""
pg_stop() {
  local pm
  pm=$(head -1 "$d/pg/data/postmaster.pid" 2>/dev/null)
  [ -n "$pm" ] && kill -INT "$pm" 2>/dev/null
  for _ in $(seq 100); do kill -0 "${pm:-0}" 2>/dev/null || break; sleep 0.1; done
  [ -n "$pgpid" ] && wait "$pgpid" 2>/dev/null
  pgpid=""
}
cleanup() {
  pg_stop
  [ -n "${KK_KEEP:-}" ] || rm -rf "$d"
}
trap cleanup EXIT
fail=0

if ! "$K" modules 2>/dev/null | grep -q '^publish.sensorthings'; then
  echo "FAIL sensorthings/module: publish.sensorthings is not built"
  exit 1
fi

python3 tests/e2e/sensorthings.py "$K" "$d/sqlite" \
  "kk.store.sqlite { path = \"$d/sqlite/st.db\", things = { [\"room-001\"] = { location = {7.47, 51.36} } } }" \
  sqlite || fail=1

pg_start() {
  [ -x $PGBIN/initdb ] || return 1
  mkdir -p "$d/pg" "$d/pgsock"
  chown postgres "$d/pg" "$d/pgsock" || return 1
  runuser -u postgres -- $PGBIN/initdb -D "$d/pg/data" -A trust -U postgres --no-sync >"$d/initdb.log" 2>&1 || return 1
  runuser -u postgres -- $PGBIN/postgres -D "$d/pg/data" -k "$d/pgsock" -c listen_addresses='' \
    -c fsync=off -c max_connections=50 >"$d/pg.log" 2>&1 &
  pgpid=$!
  for _ in $(seq 100); do
    $PGBIN/pg_isready -h "$d/pgsock" -q && return 0
    sleep 0.1
  done
  return 1
}

if ! "$K" modules 2>/dev/null | grep -q '^store.postgres'; then
  echo "skip sensorthings/postgres: store.postgres is not built"
elif ! pg_start; then
  echo "skip sensorthings/postgres: cannot start a private PostgreSQL"
else
  $PGBIN/psql -h "$d/pgsock" -U postgres -qc 'CREATE DATABASE kk' >/dev/null
  export KK_TEST_PG="host=$d/pgsock user=postgres dbname=kk"
  python3 tests/e2e/sensorthings.py "$K" "$d/postgres" \
    'kk.store.postgres { env = "KK_TEST_PG" }' postgres || fail=1
fi
exit $fail
