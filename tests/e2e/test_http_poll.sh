#!/usr/bin/env bash
# source.http_poll against a local API (tests/e2e/http_poll_server.py):
#  faults    - 500, 429 with Retry-After, a hang (timeout), a cut JSON body
#              (valid length), a connection closed mid-body, then recovery:
#              every window of [T0, T0 + 3 min) is in store.sqlite exactly
#              once with the value the server served, also in sink.jsonl;
#              retries, classes and invalid bodies are counted;
#  kill      - SIGKILL at random moments while it catches up page by page:
#              afterwards still every window exactly once, none skipped,
#              and some windows were really fetched twice (a kill landed
#              between an append and the cursor save);
#  etag/dup  - a URL with an ETag is journalled once and then answered
#              304; a URL without validators whose body never changes is
#              journalled once (duplicates counted); both reach the store
#              through decode.json (format = "raw");
#  paging    - page_param/page_size and the Link header.
set -u
. "$(dirname "$0")/lib.sh" http-poll
srv_pid=
kk_on_exit() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; }
kk_tmpdir

srv_start() { # FAULTS DELAY_MS
  port=$(free_port)
  : >"$d/served.jsonl"
  python3 "$ROOT/tests/e2e/http_poll_server.py" "$port" "$d/served.jsonl" "$1" "$2" &
  srv_pid=$!
  wait_port "$port" 10 || no server "fixture server did not start"
}
srv_stop() { kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; srv_pid=; }
metric() { sed -n "s/^$1{[^}]*stage=\"$2\"[^}]*$3[^}]*} \\([0-9-]*\\)\$/\\1/p" "$4" 2>/dev/null | head -1; }

# The windows: 10 s each from T0 (a multiple of 10 s, 3 minutes ago), so
# the backlog is 18 windows of 3 pages (4 + 4 + 2 readings).
T0=$(( ($(date +%s) / 10) * 10 - 180 ))
T0_ISO=$(date -u -d "@$T0" +%Y-%m-%dT%H:%M:%SZ)
END_MS=$(( (T0 + 180) * 1000 ))

recipe() { # NAME RATE
  cat >"$d/$1.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$1" }
kk.pipe(kk.source.http_poll { url = "http://127.0.0.1:$port/data?from={from}&to={to}",
          every = "1s", jitter = "0s", window = "10s", start = "$T0_ISO",
          timeout = "1s", backoff_min = "100ms", backoff_max = "1s",
          next = "@iot.nextLink", items = "value", format = "json", rate = "$2" },
        { kk.store.sqlite { path = "$d/$1.sqlite" },
          kk.sink.jsonl { path = "$d/$1.jsonl" } })
LUA
}
cursor_ms() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cursor_ms"])' "$d/data-$1/stages/http_poll/cursor.json" 2>/dev/null || echo 0; }
caught_up() { [ "$(cursor_ms "$1")" -ge "$END_MS" ]; }

# verify NAME: every second of [T0, END) once in the store with the
# served value, the hourly rollups count each once, the jsonl has them all.
verify() {
  python3 - "$d/$1.sqlite" "$d/$1.jsonl" "$T0" "$END_MS" <<'PY'
import json, sqlite3, sys
from datetime import datetime
db, jl, t0, end = sys.argv[1], sys.argv[2], int(sys.argv[3]) * 1000, int(sys.argv[4])
want = {t: (t // 1000) % 97 + 0.5 for t in range(t0, end, 1000)}
c = sqlite3.connect(db)
rows = c.execute("select o.time, o.value from observations o join datastreams d on d.id = o.ds "
                 "join things t on t.id = d.thing_id where t.name = 'st-1' and d.property = 'pm10' "
                 "and o.time >= ? and o.time < ?", (t0, end)).fetchall()
got = {}
for t, v in rows:
    got.setdefault(t, []).append(v)
missing = sorted(set(want) - set(got))
twice = [t for t, v in got.items() if len(v) > 1]
wrong = [t for t, v in got.items() if t in want and v[0] != want[t]]
roll = c.execute("select sum(count) from obs_hourly").fetchone()[0] or 0
total = c.execute("select count(*) from observations").fetchone()[0]
def tms(v):
    return v if isinstance(v, int) else int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000)
seen = {tms(json.loads(line)["time"]) for line in open(jl)}
jmiss = sum(1 for t in want if t not in seen)
print("missing=%d twice=%d wrong=%d rollup=%d total=%d rows=%d jsonl_missing=%d first_missing=%s" % (
    len(missing), len(twice), len(wrong), roll, total, len(rows), jmiss, missing[:1]))
sys.exit(0 if not missing and not twice and not wrong and roll == total and len(rows) == len(want) and not jmiss else 1)
PY
}

# ---- faults -------------------------------------------------------------
srv_start "3:500,6:429,9:hang,12:trunc,15:close" 0
recipe faults "50/s"
kk_start "$d/faults.log" "$d/faults.lua" --log-level warn
if wait_for 60 caught_up faults; then ok faults/caught-up; else no faults/caught-up "cursor $(cursor_ms faults), want $END_MS: $(tail -3 "$d/faults.log")"; fi
sleep 1.2 # one metrics write
kk_stop
out=$(verify faults) && ok faults/every-window-once || no faults/every-window-once "$out"
m="$d/data-faults/metrics.prom"
for c in 4xx 5xx error; do
  v=$(metric kk_http_poll_requests_total http_poll "class=\"$c\"" "$m")
  [ "${v:-0}" -ge 1 ] && ok "faults/counted-$c" || no "faults/counted-$c" "kk_http_poll_requests_total{class=$c} = '$v'"
done
v=$(metric kk_http_poll_retries_total http_poll "" "$m")
[ "${v:-0}" -ge 5 ] && ok faults/retries-counted || no faults/retries-counted "retries '$v', want >= 5"
v=$(metric kk_http_poll_invalid_total http_poll "" "$m")
[ "${v:-0}" -ge 1 ] && ok faults/cut-json-refused || no faults/cut-json-refused "invalid '$v'"
grep -q "HTTP 429; try 2 again in 1.0 s" "$d/faults.log" && ok faults/retry-after-honoured ||
  no faults/retry-after-honoured "no 1 s wait after 429: $(grep 429 "$d/faults.log" | head -2)"
grep -q "timed out" "$d/faults.log" && ok faults/timeout || no faults/timeout "no timeout logged"
v=$(metric kk_http_poll_windows_total http_poll "" "$m")
[ "${v:-0}" -ge 18 ] && ok faults/windows-counted || no faults/windows-counted "windows '$v'"
srv_stop

# ---- SIGKILL mid-window --------------------------------------------------
srv_start "" 30
recipe kill "20/s"
kills=0
for i in 1 2 3 4 5 6; do
  kk_start "$d/kill.log" "$d/kill.lua" --log-level warn
  sleep "0.$((RANDOM % 7 + 4))"
  kill -9 "$kk_pid"; wait "$kk_pid" 2>/dev/null; kk_pid=
  kills=$((kills + 1))
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$d/data-kill/stages/http_poll/cursor.json" 2>/dev/null ||
    [ ! -e "$d/data-kill/stages/http_poll/cursor.json" ] || no kill/cursor-intact "cursor.json unreadable after kill $i"
done
kk_start "$d/kill.log" "$d/kill.lua" --log-level warn
if wait_for 60 caught_up kill; then ok kill/caught-up; else no kill/caught-up "cursor $(cursor_ms kill): $(tail -3 "$d/kill.log")"; fi
kk_stop
out=$(verify kill) && ok kill/every-window-once-after-$kills-kills || no kill/every-window-once "$out"
refetched=$(python3 - "$d/served.jsonl" <<'PY'
import json, sys, collections
c = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("path") == "data" and r.get("status") == 200 and r.get("skip") == 0:
        c[r["from"]] += 1
print(sum(1 for v in c.values() if v > 1))
PY
)
[ "$refetched" -ge 1 ] && ok kill/windows-refetched-after-kill || no kill/windows-refetched-after-kill "no window was fetched twice: the kills missed every window"
srv_stop

# ---- ETag / 304, duplicate bodies, raw into decode.json ------------------
srv_start "" 0
cat >"$d/etag.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-etag" }
local store = kk.store.sqlite { path = "$d/etag.sqlite" }
kk.pipe(kk.source.http_poll { name = "static", url = "http://127.0.0.1:$port/static",
          every = "200ms", jitter = "0s" },
        kk.decode.json { thing = "lab", time_field = "ts", map = { temp = "air_temperature:Cel" } }, store)
kk.pipe(kk.source.http_poll { name = "same", url = "http://127.0.0.1:$port/same",
          every = "200ms", jitter = "0s", conditional = false },
        kk.decode.json { thing = "hall", time_field = "ts", map = { temp = "air_temperature:Cel" } }, store)
LUA
kk_start "$d/etag.log" "$d/etag.lua" --log-level warn
sleep 3
kk_stop
m="$d/data-etag/metrics.prom"
nm=$(metric kk_http_poll_not_modified_total static "" "$m"); jn=$(metric kk_http_poll_journalled_total static "" "$m")
[ "${nm:-0}" -ge 3 ] && [ "${jn:-0}" = 1 ] && ok etag/304-not-journalled || no etag/304-not-journalled "not_modified '$nm' journalled '$jn'"
du=$(metric kk_http_poll_duplicates_total same "" "$m"); jn=$(metric kk_http_poll_journalled_total same "" "$m")
[ "${du:-0}" -ge 3 ] && [ "${jn:-0}" = 1 ] && ok dup/identical-body-once || no dup/identical-body-once "duplicates '$du' journalled '$jn'"
got=$(python3 -c 'import sqlite3,sys; print(sorted(sqlite3.connect(sys.argv[1]).execute("select t.name, o.time, o.value from observations o join datastreams d on d.id=o.ds join things t on t.id=d.thing_id").fetchall()))' "$d/etag.sqlite")
[ "$got" = "[('hall', 1767229200000, 19.25), ('lab', 1767225600000, 21.5)]" ] && ok raw/decoded-downstream || no raw/decoded-downstream "$got"

# ---- paging: page_param, Link header -------------------------------------
cat >"$d/page.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-page" }
local store = kk.store.sqlite { path = "$d/page.sqlite" }
kk.pipe(kk.source.http_poll { name = "paged", url = "http://127.0.0.1:$port/paged",
          every = "1h", jitter = "0s", page_param = "page", page_size = 3, format = "json" }, store)
kk.pipe(kk.source.http_poll { name = "linked", url = "http://127.0.0.1:$port/linked",
          every = "1h", jitter = "0s", link_header = true, format = "json" }, store)
LUA
kk_start "$d/page.log" "$d/page.lua" --log-level warn
sleep 2
kk_stop
got=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select t.name, count(*) from observations o join datastreams d on d.id=o.ds join things t on t.id=d.thing_id group by t.name order by t.name").fetchall())' "$d/page.sqlite")
[ "$got" = "[('linked', 6), ('paged', 10)]" ] && ok paging/page-param-and-link-header || no paging/page-param-and-link-header "$got; $(tail -2 "$d/page.log")"
pages=$(grep -c '"path": "paged"' "$d/served.jsonl")
[ "$pages" = 4 ] && ok paging/stops-at-short-page || no paging/stops-at-short-page "$pages requests to /paged, want 4"
srv_stop
exit $fail
