#!/usr/bin/env bash
# source.tcp through the real binary, with python3 as the client: acks,
# reasons for bad lines, too-long lines, order, volume, shutdown.
set -u
. "$(dirname "$0")/lib.sh" tcp
pid=
kk_on_exit() { [ -n "$pid" ] && kill -9 $pid 2>/dev/null; }
kk_tmpdir

# start NAME 'tcp options': runs tcp -> jsonl ($d/NAME.jsonl) in the
# background and waits until it listens.
start() {
  local name=$1 opts=$2
  cat > "$d/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$name" }
kk.pipe(kk.source.tcp { $opts }, kk.sink.jsonl { path = "$d/$name.jsonl" })
LUA
  "$K" run "$d/$name.lua" --log-format text >"$d/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$d/$name.log" 2>/dev/null && return 0
    kill -0 $pid 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
# stop: SIGTERM and wait; returns the exit code.
stop() {
  kill -TERM $pid 2>/dev/null
  wait $pid; local rc=$?
  pid=
  return $rc
}

# client PORT: sends stdin (bytes as given), closes its sending side and
# prints every answer line.
cat > "$d/client.py" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR)
sys.stdout.write(s.makefile(encoding="utf-8", errors="replace").read())
PY
client() { python3 "$d/client.py" "$1"; }

GOOD='{"thing":"gw-1","property":"co2","unit":"ppm","time":"2026-11-23T08:00:00Z","value":700}'

# ---- acks, reasons, too long, blank lines, order -------------------------
P=$(free_port)
if start main "listen = \"127.0.0.1:$P\", max_line = \"1KiB\""; then
  python3 - > "$d/in.txt" <<PY
good = '$GOOD'
lines = [good,
         good.replace('"value":700', '"value":"x"'),
         'not json at all',
         '',
         good.replace('08:00:00Z', '08:01:00Z').replace('700', '710') + '\r',
         '{"pad":"' + 'a' * 2000 + '"}',
         good.replace('08:00:00Z', '08:02:00Z').replace('700', '720'),
         good.replace('"unit":"ppm",', ''),
         good.replace('08:00:00Z', '08:03:00Z').replace('700', '730')]
print('\n'.join(lines))
PY
  client "$P" < "$d/in.txt" > "$d/answers.txt"
  mapfile -t A < "$d/answers.txt"
  if [ ${#A[@]} -eq 8 ]; then ok one-answer-per-line; else no one-answer-per-line "${#A[@]} answers for 8 non-blank lines: ${A[*]}"; fi
  if [[ "${A[0]:-}" =~ ^ok\ [0-9]+$ && "${A[3]:-}" =~ ^ok\ [0-9]+$ && "${A[5]:-}" =~ ^ok\ [0-9]+$ && "${A[7]:-}" =~ ^ok\ [0-9]+$ ]] &&
     [ "${A[0]#ok }" -lt "${A[3]#ok }" ] && [ "${A[3]#ok }" -lt "${A[5]#ok }" ]; then ok acks-with-increasing-seq
  else no acks-with-increasing-seq "${A[*]}"; fi
  if [ "${A[1]:-}" = "error field 'value' must be a number" ]; then ok malformed-value-reason
  else no malformed-value-reason "got '${A[1]:-}'"; fi
  if [[ "${A[2]:-}" == "error invalid JSON"* ]]; then ok malformed-json-reason
  else no malformed-json-reason "got '${A[2]:-}'"; fi
  if [[ "${A[4]:-}" == "error line too long"* ]]; then ok too-long-refused
  else no too-long-refused "got '${A[4]:-}'"; fi
  if [ "${A[6]:-}" = "error field 'unit' missing" ]; then ok missing-field-reason
  else no missing-field-reason "got '${A[6]:-}'"; fi
  # A second client, many lines in one go, answered in order.
  python3 - "$P" > "$d/bulk.txt" <<'PY'
import socket, sys, threading
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
n = 20000
data = "".join('{"thing":"bulk-%d","property":"co2","unit":"ppm","time":%d,"value":%d}\n'
               % (i % 10, 1795420800000 + i * 1000, 400 + i % 997) for i in range(n)).encode()
out = bytearray()
def reader():
    while True:
        b = s.recv(1 << 16)
        if not b: break
        out.extend(b)
t = threading.Thread(target=reader); t.start()
s.sendall(data); s.shutdown(socket.SHUT_WR); t.join()
ans = out.decode().splitlines()
seqs = [int(a[3:]) for a in ans if a.startswith("ok ")]
print(len(ans), len(seqs), int(seqs == sorted(seqs) and len(set(seqs)) == len(seqs)))
PY
  read -r nans nok inorder < "$d/bulk.txt"
  if [ "$nans" = 20000 ] && [ "$nok" = 20000 ] && [ "$inorder" = 1 ]; then ok bulk-20000-lines-acked-in-order
  else no bulk-20000-lines-acked-in-order "answers $nans, ok $nok, in order $inorder"; fi
  stop; rc=$?
  if [ $rc -eq 0 ]; then ok clean-exit-on-sigterm; else no clean-exit-on-sigterm "exit $rc: $(tail -3 "$d/main.log")"; fi
  # Every acknowledged line is in the sink's output.
  if out=$(python3 - "$d/main.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
gw = sorted(r["value"] for r in rows if r["thing"] == "gw-1")
bulk = [r for r in rows if r["thing"].startswith("bulk-")]
ok = gw == [700, 710, 720, 730] and len(bulk) == 20000
print("gw-1 values %s, %d bulk readings" % (gw, len(bulk)))
sys.exit(0 if ok else 1)
PY
  ); then ok acked-lines-in-output; else no acked-lines-in-output "$out"; fi
  if grep -q "journal record [0-9]* rejected: field 'value' must be a number" "$d/main.log"; then ok rejects-logged
  else no rejects-logged "$(grep -i warn "$d/main.log" | head -3)"; fi
else
  no one-answer-per-line "did not start: $(tail -3 "$d/main.log")"
fi

# ---- the default max_line is 64 KiB --------------------------------------
P=$(free_port)
if start def "listen = \"127.0.0.1:$P\""; then
  python3 -c "
g = '$GOOD'
print(g[:-1] + ',\"pad\":\"' + 'a' * 60000 + '\"}')
print(g[:-1] + ',\"pad\":\"' + 'a' * 70000 + '\"}')
print(g)" | client "$P" > "$d/def.txt"
  if [ "$(sed -e 's/ [0-9]*$//' -e 's/ (.*//' "$d/def.txt" | tr '\n' '|')" = "ok|error line too long|ok|" ]; then ok default-max-line-64k
  else no default-max-line-64k "$(tr '\n' '|' < "$d/def.txt")"; fi
  # An idle client does not hold up the shutdown.
  python3 -c "
import socket, sys, time
s = socket.create_connection(('127.0.0.1', $P)); time.sleep(30)" &
cpid=$!
  sleep 0.3
  t0=$(date +%s)
  stop; rc=$?
  kill $cpid 2>/dev/null; wait $cpid 2>/dev/null
  if [ $rc -eq 0 ] && [ $(( $(date +%s) - t0 )) -le 5 ]; then ok stop-with-idle-client
  else no stop-with-idle-client "exit $rc after $(( $(date +%s) - t0 )) s"; fi
else
  no default-max-line-64k "did not start: $(tail -3 "$d/def.log")"
fi

# ---- a port that is taken: a clear error and an exit -----------------------
# The holder binds port 0 itself and reports what it got, so no other
# process can take the port between choosing and binding it; the test
# goes on only once the holder listens (a loaded machine may take longer
# than any fixed sleep to start Python).
python3 -c "
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
open(sys.argv[1], 'w').write(str(s.getsockname()[1])); time.sleep(30)" "$d/busy.port" &
bpid=$!
wait_for 10 test -s "$d/busy.port"
P=$(cat "$d/busy.port" 2>/dev/null)
wait_port "${P:-1}" 10
cat > "$d/busy.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-busy" }
kk.pipe(kk.source.tcp { listen = "127.0.0.1:$P" }, kk.sink.null {})
LUA
timeout 10 "$K" run "$d/busy.lua" --log-format text >"$d/busy.log" 2>&1; rc=$?
kill $bpid 2>/dev/null; wait $bpid 2>/dev/null
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "cannot listen on 127.0.0.1:$P" "$d/busy.log"; then ok port-in-use-refused
else no port-in-use-refused "exit $rc: $(tail -2 "$d/busy.log")"; fi
cat > "$d/badl.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-badl" }
kk.pipe(kk.source.tcp { listen = "localhost" }, kk.sink.null {})
LUA
timeout 10 "$K" run "$d/badl.lua" --log-format text >"$d/badl.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "listen 'localhost' is not host:port" "$d/badl.log"; then ok bad-listen-refused
else no bad-listen-refused "exit $rc: $(tail -2 "$d/badl.log")"; fi

exit $fail
