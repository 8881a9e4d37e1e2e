#!/usr/bin/env bash
# No Lua call holds the loop past its deadline, C library functions
# included (issue #15, B1): a recipe whose transform.map runs a
# backtracking string.find on a 200-character property, a gsub that
# multiplies its text, and a string.rep of 60 MB; and (stage "library")
# string.format %q, string.pack, os.date, tonumber with a base and
# utf8.offset on megabytes, == and table.sort on two 5 MB strings,
# string.char of table.unpack of 300 000 values.  Through the real
# binary: readings come in over source.tcp (journaled, acknowledged), the
# process keeps answering /healthz (publish.http) while and after each
# bad batch, each bad batch is counted in kk_lua_errors_total and logged
# naming the function, good readings still reach the sink, SIGTERM stops
# it within 5 s, and after a SIGKILL the next start on the same journal
# is healthy (a replayed hostile record fails fast again).
set -u
. "$(dirname "$0")/lib.sh" lua_bounds
kk_tmpdir

tp=$(free_port)
hp=$(free_port)
cat >"$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
local src = kk.source.tcp { listen = "127.0.0.1:$tp" }
local function hostile(r)
  if r.thing == "find" then return r.property:find(".-.-.-.-.-.-x") and 1 or 0 end
  if r.thing == "gsub" then
    local s = r.property
    for i = 1, 20 do s = s:gsub(".", "%0%0%0%0") end
    return #s
  end
  return r.value
end
-- A 60 MB string.rep takes the stock library 50-100 ms in one C call.
local function rep(r)
  if r.thing == "rep" then return #r.property:sub(1, 1):rep(60000000) end
  return r.value
end
-- Library functions and VM instructions that run long on long input
-- (issue #15 item 1, the rest).  The inputs are built first (tens of ms
-- on a busy machine, hence a deadline of 150 ms); then each call, or a
-- loop of them, would run for seconds: it stops at the deadline, naming
-- the function.
local function again(f, ...) for i = 1, 1000 do f(...) end return 0 end
local function library(r)
  local t = r.thing
  if t == "format" then return again(string.format, "%q", ("\\0"):rep(2e6)) end
  if t == "pack" then return again(string.pack, ("x"):rep(5e6)) end
  if t == "date" then return again(os.date, ("%c"):rep(2e5), 0) end
  if t == "tonumber" then return again(tonumber, ("z"):rep(5e6), 36) end
  if t == "offset" then return again(utf8.offset, "a" .. ("\\x80"):rep(5e6), 2) end
  if t == "compare" or t == "sort" then
    local a = r.property:rep(25000)
    local b = a:sub(2) .. "a"
    if t == "sort" then
      local l = {} for i = 1, 3000 do l[i] = i % 2 == 0 and a or b end
      table.sort(l)
    end
    local n = 0
    for i = 1, 1e4 do if a == b then n = n + 1 end end
    return n
  end
  if t == "unpack" then
    local l = {} for i = 1, 300000 do l[i] = 65 end
    for i = 1, 1000 do local s = string.char(table.unpack(l)) end
  end
  return r.value
end
kk.pipe(src, kk.map(hostile, { name = "hostile" }), kk.sink.jsonl { path = "$d/out.jsonl" })
kk.pipe(src, kk.map(library, { name = "library", deadline = "150ms" }), kk.sink.jsonl { path = "$d/lib.jsonl" })
kk.pipe(src, kk.map(rep, { name = "rep", deadline = "2ms" }), kk.sink.null {})
kk.pipe(src, kk.publish.http { listen = "127.0.0.1:$hp" })
LUA

# send THING: one reading with a 200-character property over TCP; prints
# the source's answer line.
send() {
  python3 - "$tp" "$1" <<'PY'
import json, socket, sys
line = json.dumps({"thing": sys.argv[2], "property": "a" * 200, "unit": "ppm",
                   "time": 1764547200000, "value": 1})
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(line.encode() + b"\n")
    print(s.makefile("rb").readline().decode().strip())
except OSError as e:
    print("no answer: %s" % e)
PY
}

# healthy SECS: /healthz answers 200 within 1 s, every 0.2 s for SECS
# seconds; prints the slowest answer in ms, fails at the first miss.
healthy() {
  python3 - "$hp" "$1" <<'PY'
import sys, time, urllib.request
port, secs, worst = int(sys.argv[1]), float(sys.argv[2]), 0.0
end = time.time() + secs
while time.time() < end:
    t0 = time.time()
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1) as r:
            if r.status != 200:
                sys.exit("status %d" % r.status)
    except Exception as e:
        print("no answer: %s" % e); sys.exit(1)
    worst = max(worst, time.time() - t0)
    time.sleep(0.2)
print("%.0f" % (worst * 1000))
PY
}

metric() {
  curl -s -m 3 "http://127.0.0.1:$hp/metrics" | awk -v k="$1" '$1 == k {print $2}'
}

# stop_within SECS: SIGTERM, then the process must be gone within SECS.
stop_within() {
  local i
  kill -TERM "$kk_pid" 2>/dev/null
  for ((i = 0; i < $1 * 10; i++)); do
    kill -0 "$kk_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$kk_pid" 2>/dev/null; then
    kk_stop >/dev/null
    return 1
  fi
  wait "$kk_pid"
  local rc=$?
  kk_pid=
  return $rc
}

kk_start "$d/log" "$d/r.lua" --log-format text
if ! wait_port "$tp" 10 || ! wait_port "$hp" 10; then
  no start "not listening: $(tail -3 "$d/log")"
  exit 1
fi
[ "$(send good)" != "" ] && ok good-reading-acked

lib_cases="format pack date tonumber offset compare sort unpack"
for case in find gsub rep $lib_cases; do
  ans=$(send "$case")
  case $ans in
  ok*) ok "$case-acked" ;;
  *) no "$case-acked" "answer '$ans'" ;;
  esac
  if w=$(healthy 2); then ok "$case-healthz-answers"; echo "# slowest /healthz after $case: $w ms"
  else no "$case-healthz-answers" "$w"; fi
done
ans=$(send good2)
wait_for 5 grep -q good2 "$d/out.jsonl" && ok good-readings-still-flow ||
  no good-readings-still-flow "$(cat "$d/out.jsonl" 2>/dev/null)"
wait_for 5 grep -q good2 "$d/lib.jsonl" && ok good-readings-flow-past-library ||
  no good-readings-flow-past-library "$(cat "$d/lib.jsonl" 2>/dev/null)"

# Each bad batch failed on its own deadline, counted and logged.
budget=$(metric 'kk_lua_errors_total{stage="hostile",reason="budget"}')
[ "${budget:-0}" = 2 ] && ok hostile-batches-counted ||
  no hostile-batches-counted "budget errors: ${budget:-none}; $(curl -s -m 3 "http://127.0.0.1:$hp/metrics" | grep lua_errors)"
rep_n=$(metric 'kk_lua_errors_total{stage="rep",reason="budget"}')
[ "${rep_n:-0}" = 1 ] && ok rep-batch-counted ||
  no rep-batch-counted "budget errors: ${rep_n:-none}; $(curl -s -m 3 "http://127.0.0.1:$hp/metrics" | grep lua_errors)"
lib_n=$(metric 'kk_lua_errors_total{stage="library",reason="budget"}')
n_lib=$(echo $lib_cases | wc -w)
[ "${lib_n:-0}" -ge "$n_lib" ] && ok library-batches-counted ||
  no library-batches-counted "budget errors: ${lib_n:-none} of $n_lib; $(curl -s -m 3 "http://127.0.0.1:$hp/metrics" | grep lua_errors)"
for fn in string.find string.gsub string.rep string.format string.pack os.date \
  tonumber utf8.offset table.sort; do
  grep -q "$fn: deadline of [0-9]* ms exceeded" "$d/log" && ok "$fn-named-in-log" ||
    no "$fn-named-in-log" "$(grep -i 'failed' "$d/log" | cut -c1-220)"
done

# The comparison loop is VM instructions, stopped by the deadline timer.
grep -q "instruction budget exceeded .*: deadline of [0-9]* ms exceeded in stage library" "$d/log" &&
  ok vm-instructions-stopped-at-deadline ||
  no vm-instructions-stopped-at-deadline "$(grep -i 'library' "$d/log" | head -5)"

if stop_within 5; then ok sigterm-stops-within-5s
else no sigterm-stops-within-5s "still running or exit $? after SIGTERM"; fi

# B1 survived restarts: the journaled record was replayed and hung the
# next start too.  Journal a hostile reading, kill the process before its
# sinks can move their cursors past it, start again on the same journal.
kk_start "$d/log2" "$d/r.lua" --log-format text
wait_port "$tp" 10
send find >/dev/null
disown "$kk_pid"
kill -KILL "$kk_pid"
wait_for 5 sh -c "! kill -0 $kk_pid 2>/dev/null"
kk_pid=
kk_start "$d/log3" "$d/r.lua" --log-format text
if wait_port "$hp" 10 && w=$(healthy 1); then ok restart-healthy
else no restart-healthy "$(tail -3 "$d/log3")"; fi
# (Whether the record is replayed depends on how far the cursors got
# before the kill; when it is, it fails fast like the first time.)
sleep 1
echo "# replayed hostile batches after the restart: $(grep -c 'string.find: deadline' "$d/log3")"
stop_within 5 && ok restart-sigterm-stops || no restart-sigterm-stops "exit $?"
exit $fail
