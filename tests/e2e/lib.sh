# tests/e2e/lib.sh - the kit every shell end-to-end test sources:
#
#   . tests/e2e/lib.sh SUITE        (from the repository root or anywhere)
#
# It moves to the repository root and sets K (the klimakit binary, $KK_BIN
# from tests/run.sh or build/klimakit), ROOT and fail=0.  Then:
#
#   ok NAME / no NAME WHY / skip NAME WHY
#                       print the runner's lines "ok SUITE/NAME",
#                       "FAIL SUITE/NAME: WHY", "skip SUITE/NAME: WHY";
#                       `no` sets fail=1, so a test ends with `exit $fail`
#   kk_tmpdir           makes the test's temporary directory $d (mode 755,
#                       so that user postgres may reach it) and an EXIT trap
#                       that stops what the kit started (kk_pid, the broker,
#                       PostgreSQL in $d), calls kk_on_exit when the test
#                       defined it, and removes $d (kept with KK_KEEP=1)
#   free_port [udp]     a free TCP (or UDP) port on 127.0.0.1
#   wait_for SECS CMD.. runs CMD every 0.1 s until it succeeds; 1 after SECS
#   wait_log FILE RE SECS   waits until FILE has a line matching the ERE
#   wait_port PORT [SECS]   waits until 127.0.0.1:PORT accepts TCP
#   kk_start LOG RECIPE [ARG..]  `klimakit run RECIPE ARG..` in the
#                       background, output appended to LOG; sets kk_pid
#   kk_stop [PID]       SIGTERM, then waits (30 s, then SIGKILL); returns
#                       the process's exit status; clears kk_pid
#   kk_broker_conf DIR PORT QUEUED [LINE..]   writes DIR/mosquitto.conf: a
#                       listener on 127.0.0.1:PORT, anonymous clients, user
#                       root, max_queued_messages QUEUED, then the LINEs
#   kk_broker_start DIR PORT   starts mosquitto on that file (log appended
#                       to DIR/log), sets kk_broker_pid, waits for the port
#   kk_broker_stop      SIGTERM and wait
#   kk_pg_*             a private PostgreSQL (below)
#
# Helpers are plain functions, not a framework: a test still says in its
# own words what it runs and what it expects.
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD
K=${KK_BIN:-$ROOT/build/klimakit}
KK_SUITE=${1:-${KK_SUITE:-e2e}}
fail=0
kk_pid=
kk_broker_pid=
d=

ok() { echo "ok $KK_SUITE/$1"; }
no() {
  echo "FAIL $KK_SUITE/$1: $2"
  fail=1
}
skip() { echo "skip $KK_SUITE/$1: $2"; }

kk__exit() {
  local rc=$?
  [ -n "$kk_pid" ] && kill -9 "$kk_pid" 2>/dev/null
  [ -n "$kk_broker_pid" ] && kill -9 "$kk_broker_pid" 2>/dev/null
  declare -F kk_on_exit >/dev/null && kk_on_exit
  if [ -n "$d" ]; then
    kk_pg_down "$d"
    [ -n "${KK_KEEP:-}" ] || rm -rf "$d"
  fi
  return $rc
}

kk_tmpdir() {
  d=$(mktemp -d)
  chmod 755 "$d"
  trap kk__exit EXIT
}

free_port() {
  python3 - "${1:-tcp}" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

# The kit itself polls with kk__poll, so that a test (or a bench script)
# may define its own wait_for without breaking the kit.
wait_for() { kk__poll "$@"; }
kk__poll() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

wait_log() { kk__poll "$3" grep -qE -- "$2" "$1" 2>/dev/null; }

kk__port_open() { python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; }
wait_port() { kk__poll "${2:-10}" kk__port_open "$1"; }

kk_start() {
  local log=$1
  shift
  "$K" run "$@" >>"$log" 2>&1 &
  kk_pid=$!
}

kk_stop() {
  local pid=${1:-$kk_pid} rc i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rc=$?
  [ "$pid" = "$kk_pid" ] && kk_pid=
  return $rc
}

kk_broker_conf() {
  local dir=$1 port=$2 queued=$3
  shift 3
  mkdir -p "$dir"
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "user root"
    echo "max_queued_messages $queued"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$dir/mosquitto.conf"
}

kk_broker_start() {
  mosquitto -c "$1/mosquitto.conf" >>"$1/log" 2>&1 &
  kk_broker_pid=$!
  wait_port "$2" 10
}

kk_broker_stop() {
  [ -n "$kk_broker_pid" ] || return 0
  kill -TERM "$kk_broker_pid" 2>/dev/null
  wait "$kk_broker_pid" 2>/dev/null
  kk_broker_pid=
}

# ---- PostgreSQL ------------------------------------------------------------
# A private cluster for one test, in the test's directory DIR:
#
#   kk_pg_init DIR        initdb as user postgres (runuser) into
#                         DIR/pg/data (trust, no sync); returns 1 when there
#                         are no binaries or initdb fails (kk_pg_why says why)
#   kk_pg_up DIR [ARG..]  starts the postmaster: no TCP (so no port to
#                         collide on), its unix socket in DIR/pgsock, fsync
#                         off, extra postgres ARGs (-c name=value); waits
#                         until it answers
#   kk_pg_down DIR        stops it by the postmaster's PID (runuser does not
#                         pass signals on) and waits until it is gone
#   kk_pg_conninfo DIR DB the libpq connection string for database DB
#   kk_pg_psql DIR ARG..  psql on that socket as postgres
#   kk_pg_why DIR         the last lines of initdb's and the server's logs
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

kk__pg_ready() { "$KK_PGBIN/pg_isready" -h "$1/pgsock" -q; }

kk_pg_up() {
  local dir=$1
  shift
  runuser -u postgres -- "$KK_PGBIN/postgres" -D "$dir/pg/data" -k "$dir/pgsock" \
    -c listen_addresses='' -c fsync=off "$@" >>"$dir/pg.log" 2>&1 &
  kk__poll 15 kk__pg_ready "$dir"
}

kk__pid_gone() { ! kill -0 "$1" 2>/dev/null; }

kk_pg_down() {
  local dir=$1 pm
  pm=$(head -1 "$dir/pg/data/postmaster.pid" 2>/dev/null)
  [ -n "$pm" ] || return 0
  kill -INT "$pm" 2>/dev/null
  kk__poll 15 kk__pid_gone "$pm" || kill -KILL "$pm" 2>/dev/null
  return 0
}

kk_pg_conninfo() { echo "host=$1/pgsock user=postgres dbname=$2"; }

kk_pg_psql() {
  local dir=$1
  shift
  "$KK_PGBIN/psql" -h "$dir/pgsock" -U postgres -X "$@"
}

kk_pg_why() { tail -n 2 "$1/initdb.log" "$1/pg.log" 2>/dev/null | tr '\n' ' '; }
