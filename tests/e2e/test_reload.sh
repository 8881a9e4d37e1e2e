#!/usr/bin/env bash
# Reload without loss (issue #15 item 6): SIGHUP and `klimakit reload`
# re-read and check the recipe; a broken recipe leaves the running
# pipeline alone (errors logged, `klimakit reload` exits 3), a good one is
# drained and rebuilt in the same process on the same journal.  Under a
# QoS 1 stream from real mosquitto_pub processes into SQLite, every
# message the broker acknowledged is stored, none twice.
set -u
. "$(dirname "$0")/lib.sh" reload
for c in mosquitto mosquitto_pub sqlite3; do
  command -v $c >/dev/null || { skip all "no $c"; exit 0; }
done
pubs=()
kk_on_exit() { for p in "${pubs[@]}"; do kill $p 2>/dev/null; done; }
kk_tmpdir

port=$(free_port)
kk_broker_conf "$d/broker" "$port" 10000000 "max_inflight_messages 100"
kk_broker_start "$d/broker" "$port" || { no broker "mosquitto did not start"; exit 1; }

R=$d/recipe.lua
DATA=$d/data
DB=$d/obs.sqlite
# version NAME EXTRA: the recipe; stage names (and so cursors) stay.
version() {
  cat > "$R" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$DATA" }
local up = kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "kk/reload/#",
  qos = 1, client_id = "kk-reload-test", clean_start = false,
  backoff_min = "50ms", backoff_max = "500ms" }
local dec = kk.decode.json { fields = { "v" }, time_field = "t", time_unit = "ms",
  thing = "meter", map = { v = "seq:1" } }
kk.pipe(up, dec, { kk.store.sqlite { path = "$DB" },
                   kk.sink.jsonl { name = "copy", path = "$d/copy.jsonl" } })
$2
-- version $1
LUA
}
version one ""
"$K" check "$R" >/dev/null || { no check "$("$K" check "$R" 2>&1)"; exit 1; }
LOG=$d/run.log
kk_start "$LOG" "$R" --log-format text
pid=$kk_pid
wait_log "$LOG" "connected to" 20 || { no start "$(cat "$LOG")"; exit 1; }
[ -f "$DATA/klimakit.pid" ] && [ "$(cat "$DATA/klimakit.pid")" = "$pid" ] \
  && ok pid-file || no pid-file "$(cat "$DATA/klimakit.pid" 2>&1)"

# pub FROM COUNT: one mosquitto_pub -l at QoS 1; its exit status 0 means
# the broker acknowledged every line.
pub() {
  python3 -c "
import sys
a, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(a, a + n):
    print('{\"v\": %d, \"t\": %d}' % (i, 1700000000000 + i))" "$1" "$2" |
    mosquitto_pub -p "$port" -q 1 -t kk/reload/meter -l -i "pub-$1"
}
N=8000
acked=0
pub 1 $N & pubs+=($!)
pub $((N + 1)) $N & pubs+=($!)
sleep 0.3

# 1. A broken recipe: refused, the old pipeline goes on.
version two 'kk.pipe(up, kk.sink.file { path = 42, format = "jsn" })'
out=$("$K" reload --data-dir "$DATA" 2>&1); rc=$?
[ $rc -eq 3 ] && ok broken-exit-3 || no broken-exit-3 "exit $rc: $out"
grep -qF "$R:10: option 'path' of sink.file expects a string" <<<"$out" \
  && grep -qF "'jsn' is not one of csv, jsonl, template" <<<"$out" \
  && ok broken-errors-shown || no broken-errors-shown "$out"
grep -q "reload refused: 2 errors" "$LOG" && ok broken-logged || no broken-logged "$(tail -5 "$LOG")"
kill -0 $pid 2>/dev/null && ok still-running || no still-running "process gone"

# 2. A good recipe through `klimakit reload RECIPE` (it finds the data
# directory from the recipe), while both publishers stream.
version three 'kk.pipe(up, kk.sink.null {})'
out=$("$K" reload "$R" 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "reloaded (pid $pid)" <<<"$out" && ok reload-cli || no reload-cli "exit $rc: $out"
grep -q "reloaded $R: 5 stages, journal and cursors kept" "$LOG" && ok rebuilt || no rebuilt "$(tail -5 "$LOG")"

# 3. SIGHUP as systemd's ExecReload=/bin/kill -HUP $MAINPID sends it.
pub $((2 * N + 1)) $N & pubs+=($!)
sleep 0.2
version four ''
kill -HUP $pid
wait_log "$LOG" "reloaded $R: 4 stages" 30 && ok sighup || no sighup "$(tail -5 "$LOG")"
kill -0 $pid 2>/dev/null && ok same-process || no same-process "pid $pid gone"

for p in "${pubs[@]}"; do
  if wait $p; then acked=$((acked + N)); else no publisher "mosquitto_pub $p failed"; fi
done
pubs=()
count() { sqlite3 "$DB" "select count(*) from observations" 2>/dev/null || echo 0; }
stored_all() { [ "$(count)" -ge $acked ]; }
wait_for 60 stored_all || echo "# store had $(count) of $acked after 60 s"
kk_stop $pid; rc=$?
[ $rc -eq 0 ] && ok stop-exit-0 || no stop-exit-0 "exit $rc"
stored=$(count)
distinct=$(sqlite3 "$DB" "select count(distinct value) from observations")
lines=$(wc -l < "$d/copy.jsonl")
dlines=$(sort -u "$d/copy.jsonl" | wc -l)
echo "# reload: acknowledged $acked, stored $stored ($distinct distinct), copy.jsonl $lines lines ($dlines distinct)"
[ "$distinct" -eq $acked ] && ok none-lost || no none-lost "acknowledged $acked, stored $distinct distinct"
# The store holds each reading once.  The jsonl copy is not idempotent:
# a message journaled just before the drain whose PUBACK the broker had
# not yet seen comes again after it (QoS 1 is at-least-once), so its
# repeats are reported as a figure, as tests/e2e/crash.py does.
[ "$stored" -eq "$distinct" ] && ok store-no-duplicates \
  || no store-no-duplicates "store $stored rows, $distinct distinct"
[ "$dlines" -eq $acked ] && ok jsonl-none-lost || no jsonl-none-lost "jsonl $dlines of $acked"
grep -q "stopped cleanly: saved 2 sink cursors" "$LOG" && ok saved-line || no saved-line "$(tail -3 "$LOG")"
[ ! -e "$DATA/klimakit.pid" ] && ok pid-file-removed || no pid-file-removed "still there"
"$K" reload --data-dir "$DATA" >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] && ok reload-nothing-running || no reload-nothing-running "exit $rc"
exit $fail
