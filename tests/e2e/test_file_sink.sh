#!/usr/bin/env bash
# sink.file through the real binary: every format and mode gives exactly
# the expected file; rotation by size and by date; a torn tail is cut on
# start and counted; a file with another header is moved aside; the fsync
# policies write the same bytes; bad options are refused; and the wide CSV
# from source.tcp survives 20 SIGKILLs (file_sink_crash.py).
set -u
. "$(dirname "$0")/lib.sh" file_sink
kk_tmpdir

cat > "$d/in.jsonl" <<'EOF'
{"thing":"room 1","property":"co2","unit":"ppm","time":"2026-11-21T10:00:00Z","value":812}
{"thing":"room 1","property":"temperature","unit":"Cel","time":"2026-11-21T10:00:00Z","value":21.5}
{"thing":"room,\"2\"","property":"co2","unit":"ppm","time":"2026-11-21T10:00:00Z","value":640}
{"thing":"room 1","property":"co2","unit":"ppb","time":"2026-11-21T10:00:00Z","value":7}
{"thing":"room 1","property":"co2","unit":"ppm","time":"2026-07-01T10:05:00Z","value":900.25}
{"thing":"room 1","property":"humidity","unit":"%","time":"2026-07-01T10:05:00Z","value":45}
{"thing":"room,\"2\"","property":"temperature","unit":"Cel","time":"2026-11-21T10:00:00Z","value":-0.5}
EOF

# run NAME 'sink options' [source]: the sink writes $d/NAME.out.
run() {
  local name=$1 opts=$2 src=${3:-"kk.source.file { path = \"$d/in.jsonl\", batch = ${BATCH:-2} }"}
  cat > "$d/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$name" }
kk.pipe($src, kk.sink.file { name = "out", path = "$d/$name.out", $opts })
LUA
  timeout --preserve-status 60 "$K" run "$d/$name.lua" --log-format text >"$d/$name.log" 2>&1
}

# expect NAME 'sink options' < expected file
expect() {
  local name=$1
  cat > "$d/$name.want"
  if ! run "$@"; then no "$name" "exit $?: $(tail -3 "$d/$name.log")"; return; fi
  if cmp -s "$d/$name.want" "$d/$name.out"; then ok "$name"
  else no "$name" "differs: $(diff "$d/$name.want" "$d/$name.out" | head -5 | tr '\n' '|')"; fi
}

expect csv-long 'format = "csv"' <<'EOF'
thing,property,unit,time,value
room 1,co2,ppm,2026-11-21T10:00:00.000Z,812
room 1,temperature,Cel,2026-11-21T10:00:00.000Z,21.5
"room,""2""",co2,ppm,2026-11-21T10:00:00.000Z,640
room 1,co2,ppb,2026-11-21T10:00:00.000Z,7
room 1,co2,ppm,2026-07-01T10:05:00.000Z,900.25
room 1,humidity,%,2026-07-01T10:05:00.000Z,45
"room,""2""",temperature,Cel,2026-11-21T10:00:00.000Z,-0.5
EOF

expect csv-long-semicolon-local-crlf \
  'delimiter = ";", time_format = "local", newline = "crlf"' < <(sed 's/$/\r/' <<'EOF'
thing;property;unit;time;value
room 1;co2;ppm;2026-11-21T11:00:00.000+01:00;812
room 1;temperature;Cel;2026-11-21T11:00:00.000+01:00;21.5
"room,""2""";co2;ppm;2026-11-21T11:00:00.000+01:00;640
room 1;co2;ppb;2026-11-21T11:00:00.000+01:00;7
room 1;co2;ppm;2026-07-01T12:05:00.000+02:00;900.25
room 1;humidity;%;2026-07-01T12:05:00.000+02:00;45
"room,""2""";temperature;Cel;2026-11-21T11:00:00.000+01:00;-0.5
EOF
)

expect csv-long-ms-noheader 'time_format = "ms", header = false' <<'EOF'
room 1,co2,ppm,1795255200000,812
room 1,temperature,Cel,1795255200000,21.5
"room,""2""",co2,ppm,1795255200000,640
room 1,co2,ppb,1795255200000,7
room 1,co2,ppm,1782900300000,900.25
room 1,humidity,%,1782900300000,45
"room,""2""",temperature,Cel,1795255200000,-0.5
EOF

# jsonl: byte for byte what sink.jsonl writes.
cat > "$d/jl.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-jl" }
kk.pipe(kk.source.file { path = "$d/in.jsonl" }, kk.sink.jsonl { path = "$d/jl.want" })
LUA
"$K" run "$d/jl.lua" --log-level warn >/dev/null 2>&1
expect jsonl-long-as-sink-jsonl 'format = "jsonl"' < "$d/jl.want"

expect template-long \
  'format = "template", template = "{{{thing}}} {property}[{unit}] {time} {time_ms} {local} = {value}", template_header = "# readings"' <<'EOF'
# readings
{room 1} co2[ppm] 2026-11-21T10:00:00.000Z 1795255200000 2026-11-21T11:00:00.000+01:00 = 812
{room 1} temperature[Cel] 2026-11-21T10:00:00.000Z 1795255200000 2026-11-21T11:00:00.000+01:00 = 21.5
{room,"2"} co2[ppm] 2026-11-21T10:00:00.000Z 1795255200000 2026-11-21T11:00:00.000+01:00 = 640
{room 1} co2[ppb] 2026-11-21T10:00:00.000Z 1795255200000 2026-11-21T11:00:00.000+01:00 = 7
{room 1} co2[ppm] 2026-07-01T10:05:00.000Z 1782900300000 2026-07-01T12:05:00.000+02:00 = 900.25
{room 1} humidity[%] 2026-07-01T10:05:00.000Z 1782900300000 2026-07-01T12:05:00.000+02:00 = 45
{room,"2"} temperature[Cel] 2026-11-21T10:00:00.000Z 1795255200000 2026-11-21T11:00:00.000+01:00 = -0.5
EOF

# Wide: rows are joined across batches (batch = 2), a complete row goes out
# at once, "co2 [ppm]" skips the ppb reading, the rest is written at stop.
expect csv-wide 'columns = { "co2 [ppm]", "temperature [Cel]" }' <<'EOF'
thing,time,co2 [ppm],temperature [Cel]
room 1,2026-11-21T10:00:00.000Z,812,21.5
"room,""2""",2026-11-21T10:00:00.000Z,640,-0.5
room 1,2026-07-01T10:05:00.000Z,900.25,
EOF
if grep -q 'kk_file_skipped_total{stage="out",reason="no_column"} 2' "$d/data-csv-wide/metrics.prom" &&
   grep -q 'kk_file_partial_rows_total{stage="out"} 1' "$d/data-csv-wide/metrics.prom"; then
  ok wide-counts-skipped-and-partial
else no wide-counts-skipped-and-partial "$(grep kk_file "$d/data-csv-wide/metrics.prom" | tr '\n' ' ')"; fi

# A second, different co2 for (room 1, 10:00) writes the row and opens
# another; the July row is complete when humidity comes and goes out first.
expect jsonl-wide 'format = "jsonl", columns = { "co2", "humidity" }, time_format = "ms"' <<'EOF'
{"thing":"room 1","time":1795255200000,"co2":812}
{"thing":"room 1","time":1782900300000,"co2":900.25,"humidity":45}
{"thing":"room 1","time":1795255200000,"co2":7}
{"thing":"room,\"2\"","time":1795255200000,"co2":640}
EOF

expect template-wide 'format = "template", columns = { "co2 [ppm]", "temperature" }, template = "{thing}|{local}|{co2}|{temperature}"' <<'EOF'
room 1|2026-11-21T11:00:00.000+01:00|812|21.5
room,"2"|2026-11-21T11:00:00.000+01:00|640|-0.5
room 1|2026-07-01T12:05:00.000+02:00|900.25|
EOF

# ---- wide: hold closes a row whose column never comes; lateness ------------
cat > "$d/feed.py" <<'PY'
import json, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def send(t, prop, v):
    s.sendall((json.dumps({"thing": "m", "property": prop, "unit": "1", "time": t, "value": v}) + "\n").encode())
    s.recv(100)
send(1000, "a", 1)
time.sleep(float(sys.argv[2]))
send(1000, "b", 2)
PY
port=$(free_port)
cat > "$d/hold.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-hold" }
kk.pipe(kk.source.tcp { listen = "127.0.0.1:$port" },
        kk.sink.file { path = "$d/hold.out", columns = { "a", "b" }, hold = "300ms", time_format = "ms" })
LUA
kk_start "$d/hold.log" "$d/hold.lua"
wait_port "$port" 10 && python3 "$d/feed.py" "$port" 1.0
kk_stop
printf 'thing,time,a,b\nm,1000,1,\nm,1000,,2\n' > "$d/hold.want"
if cmp -s "$d/hold.want" "$d/hold.out"; then ok wide-hold-writes-partial-row
else no wide-hold-writes-partial-row "$(cat "$d/hold.out" | tr '\n' '|')"; fi

# ---- rotation by size: whole files, a header in each, nothing lost --------
BATCH=10 run rot "rotate_size = \"2KiB\"" "kk.source.simulate { sensors = 4, realtime = false, count = 400, batch = 10, start = \"2026-01-05T00:00:00Z\" }"
files=$(ls "$d" | grep -c '^rot\(\.[0-9]*\)\?\.out$')
if out=$(python3 - "$d" <<'PY'
import glob, os, sys
d = sys.argv[1]
fs = sorted(glob.glob(os.path.join(d, "rot*.out")))
rows, errs = 0, []
for f in fs:
    data = open(f).read()
    lines = data.splitlines()
    if lines[0] != "thing,property,unit,time,value": errs.append("%s: no header" % f)
    if not data.endswith("\n"): errs.append("%s: torn" % f)
    if os.path.basename(f) != "rot.out" and len(data) > 2048: errs.append("%s: %d bytes" % (f, len(data)))
    rows += len(lines) - 1
if rows != 400: errs.append("%d rows" % rows)
print("; ".join(errs)); sys.exit(1 if errs else 0)
PY
); then
  if [ "$files" -ge 5 ] && grep -q 'kk_file_rotations_total{stage="out"} [1-9]' "$d/data-rot/metrics.prom"
  then ok rotate-by-size; else no rotate-by-size "$files files"; fi
else no rotate-by-size "$out"; fi

# ---- rotation by date: the name holds today's date in the zone -----------
today=$(TZ=Europe/Berlin date +%Y-%m-%d)
cat > "$d/date.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-date" }
kk.pipe(kk.source.file { path = "$d/in.jsonl" }, kk.sink.file { path = "$d/daily/r-%Y-%m-%d.csv" })
LUA
"$K" run "$d/date.lua" --log-level warn >/dev/null 2>&1
if [ -f "$d/daily/r-$today.csv" ] && [ "$(wc -l < "$d/daily/r-$today.csv")" -eq 8 ]; then ok rotate-by-date-name
else no rotate-by-date-name "$(ls "$d/daily" 2>&1)"; fi

# ---- a torn tail is cut on start and counted; appending continues ---------
printf 'thing,property,unit,time,value\nroom 9,co2,ppm,2026-11-21T09:00:00.000Z,1\nroom 9,co2,pp' > "$d/torn.out"
run torn 'format = "csv"'
if [ "$(sed -n 2p "$d/torn.out")" = "room 9,co2,ppm,2026-11-21T09:00:00.000Z,1" ] &&
   [ "$(sed -n 3p "$d/torn.out")" = "room 1,co2,ppm,2026-11-21T10:00:00.000Z,812" ] &&
   [ "$(wc -l < "$d/torn.out")" -eq 9 ] && ! grep -q 'co2,pp$' "$d/torn.out" &&
   grep -q 'kk_file_torn_lines_total{stage="out"} 1' "$d/data-torn/metrics.prom" &&
   grep -q 'torn line' "$d/torn.log"; then ok torn-tail-cut-and-counted
else no torn-tail-cut-and-counted "$(head -4 "$d/torn.out" | tr '\n' '|')"; fi

# ---- another header: the old file is moved aside, not appended to --------
printf 'thing,time,x\nm,1,2\n' > "$d/hdr.out"
run hdr 'format = "csv"'
if [ "$(cat "$d/hdr.1.out")" = "$(printf 'thing,time,x\nm,1,2')" ] &&
   cmp -s "$d/hdr.out" "$d/csv-long.want"; then ok other-header-moved-aside
else no other-header-moved-aside "$(ls "$d" | grep hdr | tr '\n' ' ')"; fi

# ---- the fsync policies write the same bytes -------------------------------
for p in always interval; do
  run "fs-$p" "columns = { \"co2 [ppm]\", \"temperature [Cel]\" }, fsync = \"$p\", fsync_interval = \"50ms\""
  if cmp -s "$d/csv-wide.want" "$d/fs-$p.out"; then ok "fsync-$p-same-output"
  else no "fsync-$p-same-output" "$(diff "$d/csv-wide.want" "$d/fs-$p.out" | head -3 | tr '\n' '|')"; fi
done

# ---- bad options are refused before the run --------------------------------
bad() {
  local name=$1 opts=$2 want=$3
  printf 'local kk = require "klimakit"\nkk.pipe(kk.source.file { path = "x" }, kk.sink.file { path = "%s/o", %s })\n' "$d" "$opts" > "$d/bad-$name.lua"
  local msg; msg=$("$K" check "$d/bad-$name.lua" 2>&1)
  if [ $? -ne 0 ] && grep -q -- "$want" <<<"$msg"; then ok "refuses-$name"
  else no "refuses-$name" "$msg"; fi
}
bad unknown-field 'format = "template", template = "{thing} {nope}"' 'unknown field {nope}'
bad value-in-wide 'format = "template", columns = { "co2" }, template = "{value}"' 'unknown field {value}'
bad no-template 'format = "template"' 'needs the option template'
bad bad-column 'columns = { "co2 [ppm" }' 'is not "property"'
bad twice 'columns = { "co2", "co2 [ppm]" }' 'named twice'
bad path-conv 'path = "x-%s.csv"' 'is not one of'
bad delimiter 'delimiter = ";;"' 'delimiter must be one character'
bad tz 'tz = "America/New_York"' 'is not supported'

# ---- 20 x SIGKILL under load: wide CSV from source.tcp ---------------------
python3 "$ROOT/tests/e2e/file_sink_crash.py" || fail=1
exit $fail
