# tests/e2e/pg.sh - a private PostgreSQL for a test; sourced, not run.
#
#   kk_pg_init DIR        initdb as user postgres into DIR/pg/data (trust,
#                         no sync); returns 1 when there are no binaries
#                         or initdb fails (the reason: kk_pg_why)
#   kk_pg_up DIR [ARG..]  starts the postmaster: no TCP, its unix socket in
#                         DIR/pgsock, fsync off, extra postgres ARGs
#                         (-c name=value); waits until it answers
#   kk_pg_down DIR        stops it by the postmaster's PID (runuser does
#                         not pass signals on) and waits until it is gone
#   kk_pg_conninfo DIR DB the libpq connection string for database DB
#   kk_pg_psql DIR ARG..  psql on that socket as postgres
#   kk_pg_why DIR         the last lines of initdb's and the server's logs
#
# A test calls kk_pg_down from its EXIT trap.  The data dir and the
# socket live in DIR (made 755 so that user postgres can reach it).
KK_PGBIN=${KK_PGBIN:-/usr/lib/postgresql/15/bin}

kk_pg_init() {
  local dir=$1
  [ -x "$KK_PGBIN/initdb" ] || { echo "no PostgreSQL binaries in $KK_PGBIN" > "$dir/initdb.log"; return 1; }
  id postgres >/dev/null 2>&1 || { echo "no user postgres" > "$dir/initdb.log"; return 1; }
  chmod 755 "$dir"
  mkdir -p "$dir/pg" "$dir/pgsock" && chown postgres "$dir/pg" "$dir/pgsock" || return 1
  runuser -u postgres -- "$KK_PGBIN/initdb" -D "$dir/pg/data" -A trust -U postgres --no-sync \
    >"$dir/initdb.log" 2>&1
}

kk_pg_up() {
  local dir=$1
  shift
  runuser -u postgres -- "$KK_PGBIN/postgres" -D "$dir/pg/data" -k "$dir/pgsock" \
    -c listen_addresses='' -c fsync=off "$@" >>"$dir/pg.log" 2>&1 &
  for _ in $(seq 150); do
    "$KK_PGBIN/pg_isready" -h "$dir/pgsock" -q && return 0
    sleep 0.1
  done
  return 1
}

kk_pg_down() {
  local dir=$1 pm
  pm=$(head -1 "$dir/pg/data/postmaster.pid" 2>/dev/null)
  [ -n "$pm" ] || return 0
  kill -INT "$pm" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$pm" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pm" 2>/dev/null
}

kk_pg_conninfo() { echo "host=$1/pgsock user=postgres dbname=$2"; }

kk_pg_psql() {
  local dir=$1
  shift
  "$KK_PGBIN/psql" -h "$dir/pgsock" -U postgres -X "$@"
}

kk_pg_why() { tail -n 2 "$1/initdb.log" "$1/pg.log" 2>/dev/null | tr '\n' ' '; }
