#!/usr/bin/env bash
# sink.jsonl through the real binary: line format, stdout, appending,
# parent directories, fsync, exact numbers, raw messages.
set -u
. "$(dirname "$0")/lib.sh" jsonl
DATA=$PWD/tests/e2e/data
kk_tmpdir

# run NAME 'source' 'jsonl options': stdout in $d/NAME.out, log in .log.
run() {
  local name=$1 src=$2 opts=$3
  cat > "$d/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$name" }
kk.pipe($src, kk.sink.jsonl { $opts })
LUA
  timeout --preserve-status 60 "$K" run "$d/$name.lua" --log-format text \
    >"$d/$name.out" 2>"$d/$name.log"
}
SIM='kk.source.simulate { sensors = 3, realtime = false, count = 300, start = "2026-11-23T07:00:00Z" }'

# ---- stdout and the line format ------------------------------------------
if run std "$SIM" 'path = "-"'; then
  if out=$(python3 - "$d/std.out" <<'PY'
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
errs = []
if len(lines) != 300: errs.append("%d lines" % len(lines))
for l in lines:
    r = json.loads(l)
    if list(r) != ["thing", "property", "unit", "time", "value"]: errs.append("keys %s" % list(r)); break
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]): errs.append("time %s" % r["time"]); break
    if not isinstance(r["value"], (int, float)): errs.append("value %r" % r["value"]); break
print("; ".join(errs))
sys.exit(1 if errs else 0)
PY
  ); then ok stdout-line-format; else no stdout-line-format "$out"; fi
  if [ ! -s "$d/std.log" ] || ! grep -q '^{"thing"' "$d/std.log"; then ok logs-not-on-stdout
  else no logs-not-on-stdout "readings on stderr"; fi
else
  no stdout-line-format "exit $?: $(tail -3 "$d/std.log")"
fi

# ---- a file in directories that do not exist yet; appending -------------
f="$d/deep/er/out.jsonl"
if run f1 "$SIM" "path = \"$f\"" && run f2 "$SIM" "path = \"$f\", fsync = true"; then
  n=$(wc -l < "$f")
  if [ "$n" -eq 600 ]; then ok creates-dirs-and-appends; else no creates-dirs-and-appends "$n lines after two runs, want 600"; fi
  if [ "$(head -300 "$f")" = "$(tail -300 "$f")" ]; then ok fsync-same-output; else no fsync-same-output "second run differs"; fi
else
  no creates-dirs-and-appends "exit $?: $(tail -3 "$d/f1.log" "$d/f2.log")"
fi
mkdir -p "$d/ro" && touch "$d/ro/x" && chmod 000 "$d/ro"
if [ "$(id -u)" = 0 ]; then echo "skip jsonl/unwritable-path-refused: root can write anywhere"
else
  run ro "$SIM" "path = \"$d/ro/x/out.jsonl\""; rc=$?
  if [ $rc -ne 0 ] && grep -q "cannot" "$d/ro.log"; then ok unwritable-path-refused
  else no unwritable-path-refused "exit $rc: $(tail -2 "$d/ro.log")"; fi
fi
chmod 755 "$d/ro"

# ---- numbers: shortest form that reads back exactly ----------------------
python3 - "$d/nums.jsonl" <<'PY'
import json, sys
vals = [0.1, 1/3, 2.5e-8, 123456.789012345, -12.5, 1e300, 21, -0.0, 5e-324, 2**53]
with open(sys.argv[1], "w") as o:
    for i, v in enumerate(vals):
        o.write(json.dumps({"thing": "n", "property": "p%d" % i, "unit": "1", "time": 1000 * i, "value": v}) + "\n")
PY
if run num "kk.source.file { path = \"$d/nums.jsonl\" }" 'path = "-"'; then
  if out=$(python3 - "$d/nums.jsonl" "$d/num.out" <<'PY'
import json, sys
a = [json.loads(l)["value"] for l in open(sys.argv[1])]
raw = [l.rsplit(":", 1)[1].rstrip("}\n") for l in open(sys.argv[2])]
b = [float(x) for x in raw]
bad = [(x, r) for x, y, r in zip(a, b, raw) if float(x) != y]
short = [r for x, r in zip(a, raw) if len(r) > len(repr(float(x))) + 2]
print("not exact: %s" % bad if bad else "too long: %s" % short if short else "%s" % " ".join(raw))
sys.exit(1 if bad or short or len(a) != len(b) else 0)
PY
  ); then ok numbers-exact; else no numbers-exact "$out"; fi
else
  no numbers-exact "exit $?: $(tail -3 "$d/num.log")"
fi

# ---- raw messages: text as a string, binary as base64 --------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$d/raw.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-raw" }
kk.pipe(kk.source.tcp { listen = "127.0.0.1:$PORT" }, kk.sink.jsonl { path = "$d/raw.jsonl", raw = true })
LUA
"$K" run "$d/raw.lua" --log-format text >"$d/raw.log" 2>&1 &
pid=$!
if answers=$(python3 - "$PORT" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); break
    except OSError: time.sleep(0.05)
s.sendall(b'{"thing":"t","property":"p","unit":"u","time":0,"value":1}\n\xff\xfe\x00binary\n')
s.shutdown(socket.SHUT_WR)
print(s.makefile().read().replace("\n", "|"))
PY
); then :; fi
kill -TERM $pid; wait $pid
if out=$(python3 - "$d/raw.jsonl" <<'PY'
import base64, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
raws = [r for r in rows if "seq" in r]
reads = [r for r in rows if "thing" in r]
errs = []
if len(raws) != 2 or len(reads) != 1: errs.append("%d raw, %d readings" % (len(raws), len(reads)))
elif raws[0]["raw"] != '{"thing":"t","property":"p","unit":"u","time":0,"value":1}': errs.append("text raw %r" % raws[0]["raw"])
elif raws[1].get("encoding") != "base64" or base64.b64decode(raws[1]["raw"]) != b"\xff\xfe\x00binary": errs.append("binary raw %r" % raws[1])
elif not raws[0]["meta"].startswith("127.0.0.1:"): errs.append("meta %r" % raws[0]["meta"])
print("; ".join(errs))
sys.exit(1 if errs else 0)
PY
); then ok raw-messages; else no raw-messages "$out (answers: $answers)"; fi

exit $fail
