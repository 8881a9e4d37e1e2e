#!/usr/bin/env bash
# The service manager protocol (core/notify.c, written here, not
# libsystemd's): READY=1 with a status, WATCHDOG=1 at half of
# $WATCHDOG_USEC (only for the process $WATCHDOG_PID names), STOPPING=1
# at the drain, to a path or an abstract socket, with the sender's
# credentials as systemd checks them (NotifyAccess=main); a socket that
# is not there is a warning, not a failure; libsystemd is not linked.
. "$(dirname "$0")/lib.sh" notify
kk_tmpdir
L="$(dirname "$0")/notify_listen.py"

linked=$(ldd "$K" | grep -E 'libsystemd|libgcrypt|liblz4' || true)
[ -z "$linked" ] && ok libsystemd-not-linked || no libsystemd-not-linked "$linked"

cat > "$d/r.lua" <<'LUA'
local kk = require "klimakit"
kk.pipe(kk.source.simulate { sensors = 2, interval = "1s" }, kk.sink.null {})
LUA

# run NAME ADDRESS [ENV...]: klimakit under a listener on ADDRESS for
# about 2 s, then SIGTERM; the listener's lines in $d/NAME.msgs, its pid
# in $pid.
run() {
  local name=$1 addr=$2
  shift 2
  python3 "$L" "$addr" 20 >"$d/$name.msgs" 2>&1 &
  local lp=$!
  wait_log "$d/$name.msgs" listening 5
  (export NOTIFY_SOCKET="$addr" "$@"; exec "$K" run "$d/r.lua" --data-dir "$d/data-$name" \
     --log-format text) >"$d/$name.log" 2>&1 &
  kk_pid=$!
  pid=$kk_pid
  wait_log "$d/$name.msgs" "READY=1" 20
  sleep 2
  kk_stop
  wait $lp
}

run path "$d/notify.sock" WATCHDOG_USEC=400000
ready=$(grep "READY=1" "$d/path.msgs")
grep -qE "^pid=$pid READY=1 \| STATUS=running [0-9]+ stages; journal at record [0-9]+$" <<<"$ready" &&
  ok ready-with-status-and-credentials || no ready-with-status-and-credentials "$(cat "$d/path.msgs")"
pings=$(grep -c "^pid=$pid WATCHDOG=1$" "$d/path.msgs")
# 2 s at one ping every 200 ms.
[ "$pings" -ge 5 ] && [ "$pings" -le 14 ] && ok watchdog-at-half-interval ||
  no watchdog-at-half-interval "$pings pings: $(cat "$d/path.msgs")"
grep -q "watchdog every 200 ms" "$d/path.log" && ok watchdog-logged || no watchdog-logged "$(grep notify "$d/path.log")"
grep -qE "^pid=$pid STOPPING=1 \| STATUS=draining" "$d/path.msgs" && ok stopping ||
  no stopping "$(tail -3 "$d/path.msgs")"

run abstract "@klimakit-notify-test-$$" WATCHDOG_USEC=400000 WATCHDOG_PID=1
grep -q "^pid=$pid READY=1" "$d/abstract.msgs" && ok abstract-socket || no abstract-socket "$(cat "$d/abstract.msgs")"
grep -q "WATCHDOG=1" "$d/abstract.msgs" && no watchdog-for-another-pid "$(cat "$d/abstract.msgs")" ||
  ok watchdog-for-another-pid
grep -q "STOPPING=1" "$d/abstract.msgs" && ok abstract-stopping || no abstract-stopping "$(cat "$d/abstract.msgs")"

# No manager listening: a warning naming the socket, and the node runs.
(export NOTIFY_SOCKET="$d/nobody.sock"; exec "$K" run "$d/r.lua" --data-dir "$d/data-none" \
   --log-format text) >"$d/none.log" 2>&1 &
kk_pid=$!
wait_log "$d/none.log" "running" 20
sleep 1
kill -0 $kk_pid 2>/dev/null && grep -q "sd_notify to $d/nobody.sock: No such file or directory" "$d/none.log" &&
  ok missing-socket-warns || no missing-socket-warns "$(tail -5 "$d/none.log")"
kk_stop
exit $fail
