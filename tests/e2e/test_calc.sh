#!/usr/bin/env bash
# The calculators through the real binary: simulate -> calc.* -> jsonl,
# numbers checked against an independent computation from the raw
# readings (Python, zoneinfo for Europe/Berlin); kk.factor from a recipe;
# the factor table generated from its CSVs is up to date; bad options.
set -u
. "$(dirname "$0")/lib.sh" calc
kk_tmpdir

# Two school days (Mon-Tue, 23-24 Nov 2026, CET) of 4 rooms, one reading per
# quantity and minute, as fast as possible.  Raw readings go to raw.jsonl,
# derived ones to calc.jsonl.
cat > "$d/school.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
local erdgas = kk.factor("erdgas", 2024)
local strom, row = kk.factor("strom", 2022)
local none, msg = kk.factor("strom", 2031)
print(string.format("factor erdgas=%g strom=%g (%s) none=%s", erdgas, strom, row.set, msg))
local rooms = kk.source.simulate { sensors = 4, seed = 7, realtime = false,
  start = "2026-11-22T23:00:00Z", interval = "60s", count = 4 * 4 * 2880 }
-- Stages stop in the order they were created (core limitation, see
-- docs/guide/calculators.md): the calculators that flush at stop come first.
local co2 = kk.calc.co2 { carrier = "strom", year = 2022, meter = "cumulative" }
local air = kk.calc.indoor_air { flush_at_stop = true }
local win = kk.calc.window { property = "air_temperature", periods = { "hour", "day" },
                             stats = { "avg", "min", "max", "count" },
                             flush_at_stop = true }
local bisko = kk.calc.bisko { thing = "musterstadt", sector = "municipal",
                              carrier = "erdgas", meter = "cumulative",
                              statistics = "$ROOT/tests/e2e/data/calc/statistics.csv" }
local out = kk.sink.jsonl { path = "$d/calc.jsonl" }
kk.pipe(rooms, kk.sink.jsonl { name = "raw", path = "$d/raw.jsonl" })
kk.pipe(rooms, { co2, air, win, bisko }, out)
LUA
if "$K" check "$d/school.lua" >"$d/check.log" 2>&1; then ok recipe-checks
else no recipe-checks "$(tail -3 "$d/check.log")"; fi

if timeout --preserve-status 120 "$K" run "$d/school.lua" --log-format text >"$d/run.log" 2>&1; then
  ok run
else
  no run "exit $?: $(tail -5 "$d/run.log")"
fi

if grep -q "factor erdgas=247 strom=505 (bisko) none=no factor for 'strom' in 2031" "$d/run.log"; then
  ok kk.factor-from-recipe
else
  no kk.factor-from-recipe "$(grep factor "$d/run.log" | head -3)"
fi

out=$(python3 - "$d/raw.jsonl" "$d/calc.jsonl" <<'PY'
import json, sys, collections, datetime, zoneinfo
berlin = zoneinfo.ZoneInfo("Europe/Berlin")
def ms(s):
    return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
def local_day(t):
    return datetime.datetime.fromtimestamp(t / 1000, berlin).date()
raw = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    raw[(r["thing"], r["property"])].append((ms(r["time"]), r["value"]))
calc = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    calc[(r["thing"], r["property"], ms(r["time"]))] = r["value"]  # last wins
res = []
# 1. energy -> CO2e: meter differences x 505 g/kWh (BISKO 2022 power).
want = got = 0.0
for (thing, prop), xs in raw.items():
    if prop != "energy": continue
    xs.sort()
    want += sum(b[1] - a[1] for a, b in zip(xs, xs[1:])) * 0.505
got = sum(v for (t, p, _), v in calc.items() if p == "co2e")
res.append(("co2e-total", abs(want - got) < 1e-6 * max(1, want), "%.6f vs %.6f kg" % (got, want)))
n_co2e = sum(1 for k in calc if k[1] == "co2e")
n_energy = sum(len(xs) - 1 for (t, p), xs in raw.items() if p == "energy")
res.append(("co2e-per-reading", n_co2e == n_energy, "%d vs %d" % (n_co2e, n_energy)))
# 2. indoor air: minutes per room and local day at/above 1000 and above 2000.
bad = []
nday = 0
for (thing, prop), xs in raw.items():
    if prop != "co2": continue
    m1 = collections.Counter(); m2 = collections.Counter(); days = set()
    for t, v in xs:
        d = local_day(t); days.add(d)
        m1[d] += v >= 1000; m2[d] += v > 2000
    for d in days:
        start = int(datetime.datetime(d.year, d.month, d.day, tzinfo=berlin).timestamp() * 1000)
        g1 = calc.get((thing, "minutes_above_1000ppm", start))
        g2 = calc.get((thing, "minutes_above_2000ppm", start))
        nday += 1
        if g1 != m1[d] or g2 != m2[d]:
            bad.append("%s %s: %s/%s want %d/%d" % (thing, d, g1, g2, m1[d], m2[d]))
res.append(("indoor-minutes-per-day", not bad and nday == 8, "; ".join(bad[:3]) or "%d days" % nday))
alerts = sum(1 for k in calc if k[1] == "co2_alert")
above = sum(1 for k, v in calc.items() if k[1] == "co2_class" and v >= 2)
res.append(("indoor-alerts", 0 < alerts <= above, "%d alerts, %d readings above 1000" % (alerts, above)))
# 3. hourly windows of temperature: avg/min/max/count per UTC hour.
bad = []
nh = 0
for (thing, prop), xs in raw.items():
    if prop != "air_temperature": continue
    hours = collections.defaultdict(list)
    for t, v in xs: hours[t // 3600000 * 3600000].append(v)
    for h, vs in hours.items():
        nh += 1
        if calc.get((thing, "air_temperature_hour_count", h)) != len(vs) or \
           abs(calc.get((thing, "air_temperature_hour_avg", h), 1e9) - sum(vs) / len(vs)) > 1e-9 or \
           calc.get((thing, "air_temperature_hour_max", h)) != max(vs):
            bad.append("%s %d" % (thing, h))
res.append(("hourly-windows", not bad and nh == 4 * 48, "%d bad of %d" % (len(bad), nh)))
# 4. BISKO 2026: metered gas (as municipal erdgas) only; 2022 from the CSV.
gas = sum(sum(b[1] - a[1] for a, b in zip(sorted(xs), sorted(xs)[1:]))
          for (t, p), xs in raw.items() if p == "energy")
y26 = int(datetime.datetime(2026, 1, 1, tzinfo=berlin).timestamp() * 1000)
y22 = int(datetime.datetime(2022, 1, 1, tzinfo=berlin).timestamp() * 1000)
g = calc.get(("musterstadt", "co2e_municipal_erdgas", y26))
res.append(("bisko-metered", g is not None and abs(g - gas * 247e-6) < 1e-9, "%s vs %s t" % (g, gas * 247e-6)))
t22 = calc.get(("musterstadt", "co2e_total", y22))
q22 = calc.get(("musterstadt", "data_quality", y22))
res.append(("bisko-statistics", t22 is not None and abs(t22 - 2250) < 1e-9 and abs(q22 - 1.25 / 6) < 1e-12,
            "total %s (want 247 + 1010 + 993 = 2250 t), quality %s" % (t22, q22)))
for name, good, why in res:
    print(("ok calc/%s" if good else "FAIL calc/%s: " + why) % name)
PY
)
echo "$out"
echo "$out" | grep -q '^FAIL' && fail=1

# Restart: the meter baseline and the open windows come back from the
# stage data directory, so a second run of the same data skips the
# simulation's history produced again instead of counting it again, and
# says so once per calculator (co2 and bisko: info, kk_replayed_total),
# not as a warning per reading.
# The sink appends, so after the second run calc.jsonl holds both runs:
# the CO2e summed over every line must still be the first run's total
# (had the baseline been lost, run 2 would count every difference again).
co2e_sum() { python3 -c 'import json, sys; print("%.6f" % sum(r["value"] for r in map(json.loads, open(sys.argv[1])) if r["property"] == "co2e"))' "$1"; }
total1=$(co2e_sum "$d/calc.jsonl")
timeout --preserve-status 120 "$K" run "$d/school.lua" --log-format text >"$d/run2.log" 2>&1
total2=$(co2e_sum "$d/calc.jsonl")
if ! grep -q 'out_of_order' "$d/run2.log" && [ "$(grep -c 'history produced again after a restart' "$d/run2.log")" = 2 ] &&
   [ -s "$d/data/stages/co2/state.txt" ] &&
   python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if a > 0 and abs(a - b) <= 1e-6 * a else 1)' "$total1" "$total2"; then
  ok state-survives-restart
else
  no state-survives-restart "co2e total $total1 after run 1, $total2 after run 2: $(tail -3 "$d/run2.log")"
fi

# The factor table in C is generated from the CSVs: it must be current.
if python3 modules/calc/gen_factors.py | cmp -s - modules/calc/calc_factors_data.c; then
  ok factors-data-current
else
  no factors-data-current "run: python3 modules/calc/gen_factors.py > modules/calc/calc_factors_data.c"
fi

# Mistakes are reported before anything runs.
cat > "$d/bad.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/bad" }
kk.pipe(kk.source.simulate { count = 10, realtime = false },
        kk.calc.co2 { carrier = "erdgaz" }, kk.sink.null {})
LUA
"$K" run "$d/bad.lua" --log-format text >"$d/bad.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "unknown carrier 'erdgaz'" "$d/bad.log"; then ok unknown-carrier-fails-at-start
else no unknown-carrier-fails-at-start "exit $rc: $(tail -2 "$d/bad.log")"; fi
# klimakit check creates the stage too, so it finds the same mistake.
"$K" check "$d/bad.lua" >"$d/badcheck.log" 2>&1
rc=$?
if [ $rc -eq 3 ] && grep -q "bad.lua:4: co2: .*unknown carrier 'erdgaz'" "$d/badcheck.log"; then ok unknown-carrier-found-by-check
else no unknown-carrier-found-by-check "exit $rc: $(cat "$d/badcheck.log")"; fi

# A damaged snapshot stops the calculator at start with one clear line
# (file and line of the state, and the recipe line), not a crash.
cat > "$d/snap.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/snap" }
kk.pipe(kk.source.simulate { sensors = 1, count = 100, realtime = false },
        kk.calc.window { periods = { "hour" } }, kk.sink.null {})
LUA
"$K" run "$d/snap.lua" --log-level warn >/dev/null 2>&1
echo "garbage" > "$d/snap/stages/window/state.txt"
"$K" run "$d/snap.lua" --log-format text >"$d/snap.log" 2>&1
rc=$?
n=$(grep -c "cannot read saved state" "$d/snap.log")
if [ $rc -ne 0 ] && [ "$n" = 1 ] && grep -q "snap.lua:4: cannot start: .*state.txt:1: cannot read saved state" "$d/snap.log"; then
  ok damaged-snapshot-one-clear-error
else no damaged-snapshot-one-clear-error "exit $rc, $n lines: $(cat "$d/snap.log" | tail -3)"; fi

# Traffic and outdoor air through the binary: counts from a file ->
# calc.traffic with the shipped factors; PM10 with too few hours ->
# calc.outdoor_air (coverage emitted, no exceedance day) and 5-minute
# readings at the default 1 h interval (a warning).
python3 - "$d/street.jsonl" <<'PY'
import json, sys
T = 1767225600000  # 2026-01-01T00:00Z
with open(sys.argv[1], "w") as f:
    def put(thing, prop, unit, t, v):
        f.write(json.dumps({"thing": thing, "property": prop, "unit": unit, "time": t, "value": v}) + "\n")
    put("zs-1", "count_pkw_diesel", "1", T, 100)
    put("zs-1", "count_lkw", "1", T, 10)
    for h in range(17):                      # day 1: 17 hours at 80
        put("st-a", "pm10", "ug/m3", T + h * 3600000, 80)
    for i in range(40):                      # day 2: 40 readings 5 min apart
        put("st-b", "pm10", "ug/m3", T + 86400000 + i * 300000, 80)
    put("st-a", "pm10", "ug/m3", T + 3 * 86400000, 10)  # closes the days
    put("st-b", "pm10", "ug/m3", T + 3 * 86400000, 10)
PY
cat > "$d/street.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/street" }
local src = kk.source.file { path = "$d/street.jsonl" }
kk.pipe(src, kk.calc.traffic { segments = { ["zs-1"] = 2 } }, kk.sink.jsonl { path = "$d/traffic.jsonl" })
kk.pipe(src, kk.calc.outdoor_air { tz = "UTC" }, kk.sink.jsonl { path = "$d/air.jsonl" })
LUA
if "$K" run "$d/street.lua" --log-format text >"$d/street.log" 2>&1 &&
   python3 - "$d/traffic.jsonl" "$d/air.jsonl" <<'PY'
import json, sys
tr = {r["property"]: r["value"] for r in map(json.loads, open(sys.argv[1]))}
assert abs(tr["co2e_pkw_diesel"] - 100 * 2 * 185.2 / 1000) < 1e-9, tr
assert abs(tr["co2e_lkw"] - 10 * 2 * 890.61 / 1000) < 1e-9, tr
air = {}
for r in map(json.loads, open(sys.argv[2])):
    air[(r["thing"], r["property"], r["time"])] = r["value"]
day1 = "2026-01-01T00:00:00.000Z"
assert abs(air[("st-a", "pm10_day_coverage", day1)] - 17 / 24) < 1e-9, air
assert air[("st-a", "pm10_day_mean", day1)] == 80, air
ex = [v for (t, p, _), v in air.items() if t == "st-a" and p == "pm10_exceedance_days"]
assert ex and ex[-1] == 0, ex
PY
then ok traffic-and-air-through-the-binary
else no traffic-and-air-through-the-binary "$(tail -3 "$d/street.log")"; fi
grep -q "lkw: 890.61 g CO2e/vkm from DESNZ-2024" "$d/street.log" && ok traffic-factor-source-logged ||
  no traffic-factor-source-logged "$(grep traffic "$d/street.log" | head -3)"
grep -q "st-b/pm10: 40 readings in one day at interval 3600 s" "$d/street.log" && ok air-interval-warning ||
  no air-interval-warning "$(grep outdoor "$d/street.log" | head -3)"
"$K" factors | grep -q "^traffic_de" && ok factors-lists-traffic || no factors-lists-traffic "no traffic_de in klimakit factors"

# The year's exceedance count survives a restart: run 1 closes two
# exceedance days (the third is open at stop), run 2 on the same data
# directory closes the third and a fourth.  Before the counts were in the
# snapshot, run 2 started again at 1.
python3 - "$d/air1.jsonl" "$d/air2.jsonl" <<'PY'
import json, sys
T = 1767225600000  # 2026-01-01T00:00Z
for path, days in ((sys.argv[1], (0, 1, 2)), (sys.argv[2], (9, 10))):
    with open(path, "w") as f:
        for day in days:
            for h in range(24):
                f.write(json.dumps({"thing": "st", "property": "pm10", "unit": "ug/m3",
                                    "time": T + day * 86400000 + h * 3600000, "value": 80}) + "\n")
PY
for run in 1 2; do
  cat > "$d/air$run.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/airstate" }
local src = kk.source.file { path = "$d/air$run.jsonl" }
kk.pipe(src, kk.calc.outdoor_air { tz = "UTC" }, kk.sink.jsonl { path = "$d/air$run-out.jsonl" })
LUA
  "$K" run "$d/air$run.lua" --log-format text >"$d/air$run.log" 2>&1 || no air-restart-run$run "$(tail -3 "$d/air$run.log")"
done
ex=$(grep -h pm10_exceedance_days "$d/air1-out.jsonl" "$d/air2-out.jsonl" 2>/dev/null |
  python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["value"]) for l in sys.stdin))')
[ "$ex" = "1 2 3 4" ] && ok air-counts-survive-restart ||
  no air-counts-survive-restart "exceedance_days emitted: '$ex', want '1 2 3 4'"

# At interval 1 s a day's slot bitmap is a 22 KB snapshot line: half an
# hour of NO2 at 300 before a restart and half after must make one covered
# exceedance hour (with a fixed 4 KB line buffer the first half was lost
# at the restart and the hour stayed 50 % covered).
python3 - "$d/sec1.jsonl" "$d/sec2.jsonl" <<'PY'
import json, sys
T = 1767225600000  # 2026-01-01T00:00Z
for path, rng in ((sys.argv[1], range(0, 1800)), (sys.argv[2], range(1800, 3600))):
    with open(path, "w") as f:
        for i in rng:
            f.write(json.dumps({"thing": "st", "property": "no2", "unit": "ug/m3",
                                "time": T + i * 1000, "value": 300}) + "\n")
        if path == sys.argv[2]:  # closes the hour
            f.write(json.dumps({"thing": "st", "property": "no2", "unit": "ug/m3",
                                "time": T + 3600000, "value": 10}) + "\n")
PY
for run in 1 2; do
  cat > "$d/sec$run.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/secstate" }
local src = kk.source.file { path = "$d/sec$run.jsonl" }
kk.pipe(src, kk.calc.outdoor_air { tz = "UTC", interval = "1s" }, kk.sink.jsonl { path = "$d/sec-out.jsonl" })
LUA
  "$K" run "$d/sec$run.lua" --log-format text >"$d/sec$run.log" 2>&1 || no air-1s-restart-run$run "$(tail -3 "$d/sec$run.log")"
done
ex=$(grep -h no2_exceedance_hours "$d/sec-out.jsonl" 2>/dev/null | tail -1 |
  python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["value"])' 2>/dev/null)
[ "$ex" = "1" ] && ok air-1s-slots-survive-restart ||
  no air-1s-slots-survive-restart "no2_exceedance_hours '$ex', want 1; $(grep -c . "$d/secstate/stages/outdoor_air/state.txt" 2>/dev/null) snapshot lines"

# A crash between snapshots: the calculator holds the journal at its
# snapshot, so the restart replays what it had absorbed since.  Run 1
# (clean stop) saves a snapshot with 10 readings; run 2 takes 20 more and
# is killed before any further snapshot (snapshot = 1h); in run 3 a late
# reading for the same day must update a window of 31 readings, not 11.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$d/hold.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/holdstate" }
kk.pipe(kk.source.tcp { listen = "127.0.0.1:$port" },
        kk.calc.window { property = "v", periods = { "day" }, stats = { "sum", "count" },
                         tz = "UTC", snapshot = "1h", emit = "update" },
        kk.sink.jsonl { path = "$d/hold.jsonl" })
LUA
if res=$(python3 - "$K" "$d/hold.lua" "$port" "$d/hold.jsonl" "$d/hold.log" <<'PY'
import json, signal, socket, subprocess, sys, time
K, recipe, port, out, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
T = 1767225600000  # 2026-01-01T00:00Z
def start():
    p = subprocess.Popen([K, "run", recipe, "--log-format", "text"], stdout=open(log, "ab"),
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    sys.exit("did not listen")
def send(vals, t0):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(b"".join((json.dumps({"thing": "h", "property": "v", "unit": "1",
                                    "time": t0 + i * 60000, "value": v}) + "\n").encode()
                       for i, v in enumerate(vals)))
    buf = b""
    while buf.count(b"\n") < len(vals):
        c = s.recv(65536)
        if not c:
            break
        buf += c
    s.close()
    return buf.count(b"ok ")
def counts():
    try:
        lines = open(out).read().split("\n")[:-1]
    except OSError:
        return []
    return [json.loads(l)["value"] for l in lines if '"v_day_count"' in l]
p = start()
acked = send(range(1, 11), T)
p.send_signal(signal.SIGTERM); p.wait(30)
p = start()
acked += send(range(11, 31), T + 10 * 60000)
for _ in range(100):  # the calculator has absorbed them
    if 30 in counts():
        break
    time.sleep(0.05)
time.sleep(0.5)  # the sink's cursor is saved past them (every 100 ms)
p.send_signal(signal.SIGKILL); p.wait()
p = start()
acked += send([1000], T + 40 * 60000)  # a late reading for the day
for _ in range(100):
    if counts() and counts()[-1] != 30:  # the late reading was counted
        break
    time.sleep(0.05)
p.send_signal(signal.SIGTERM); rc = p.wait(30)
sums = {}
for l in open(out).read().split("\n")[:-1]:
    r = json.loads(l)
    sums[(r["property"], r["time"])] = r["value"]
day = "2026-01-01T00:00:00.000Z"
want = (sum(range(1, 31)) + 1000, 31)
got = (sums.get(("v_day_sum", day)), sums.get(("v_day_count", day)))
print("acked %d, day 1 sum/count %s, want %s, exit %d" % (acked, got, want, rc))
sys.exit(0 if acked == 31 and got == want and rc == 0 else 1)
PY
); then ok window-exact-after-crash-between-snapshots
else no window-exact-after-crash-between-snapshots "$res; $(grep -E 'replay|error' "$d/hold.log" | tail -3)"; fi

# /metrics lists for each calculator only the reasons it can produce:
# calc.co2 (a meter) its factor and meter reasons, never too_late;
# calc.window too_late, never no_factor.
port=$(free_port)
cat > "$d/reasons.lua" <<LUA
local kk = require "klimakit"
local rooms = kk.source.simulate { sensors = 2, backfill = "1h" }
local co2 = kk.calc.co2 { carrier = "strom", meter = "cumulative", fallback = "latest" }
local win = kk.calc.window { property = "co2", periods = { "hour" }, stats = { "avg" } }
kk.pipe(rooms, { co2, win, kk.publish.http { listen = "127.0.0.1:$port" } })
kk.pipe({ co2, win }, kk.sink.null {})
LUA
kk_start "$d/reasons.log" "$d/reasons.lua" --data-dir "$d/reasons"
if wait_port "$port" 20; then
  m=$(curl -s "http://127.0.0.1:$port/metrics" | grep '^kk_rejected_total{stage="\(co2\|window\)"')
  if [[ $m == *'stage="co2",reason="no_factor"'* && $m == *'stage="co2",reason="meter_decrease"'* &&
        $m != *'stage="co2",reason="too_late"'* && $m == *'stage="window",reason="too_late"'* &&
        $m != *'stage="window",reason="no_factor"'* ]]; then ok metrics-reasons-per-module
  else no metrics-reasons-per-module "$m"; fi
else
  no metrics-reasons-per-module "no dashboard: $(tail -3 "$d/reasons.log")"
fi
kk_stop

exit $fail
