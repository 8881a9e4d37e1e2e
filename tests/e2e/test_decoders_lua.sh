#!/usr/bin/env bash
# decode.lua and the shipped device decoders (recipes/decoders/):
#  - the Elsys ERS CO2 vector of ../shared/data decodes to exactly the
#    expected values; Milesight AM300 and Decentlab DL-LP8P frames from the
#    vendors' documented examples decode to their documented values
#    (through kk.decode_lua, the same C path as the stage);
#  - end to end: a TTN v3 uplink and a ChirpStack v4 up event published to
#    a real mosquitto -> source.mqtt -> decode.lua (Elsys) -> sink.jsonl;
#  - a decoder that errors, loops forever, eats memory or returns garbage
#    is counted with its reason, the process does not crash, and the other
#    messages of the stream are still decoded; the raw bytes stay in the
#    journal.
set -u
. "$(dirname "$0")/lib.sh" decoders_lua
DATA=tests/e2e/data/decoders
pid=
kk_on_exit() { [ -n "$pid" ] && kill -9 $pid 2>/dev/null; }
kk_tmpdir

# ---- vectors through kk.decode_lua --------------------------------------
# Each case prints "R <case> <property> <unit> <value>" lines.
cp "$DATA/elsys_ers_co2_vector.json" "$DATA/lua/expected.json" "$d/"
cat > "$d/vectors.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-vectors" }
local function run(case, path, hex, envelope, data)
  local r, why, msg = kk.decode_lua { path = path, hex = hex, data = data,
                                      envelope = envelope }
  if not r then print(string.format("E %s %s %s", case, why, msg)) return end
  for _, x in ipairs(r) do
    print(string.format("R %s %s %s %.17g %s %d", case, x.property, x.unit, x.value, x.thing, x.time))
  end
end
local v = io.open("$d/elsys_ers_co2_vector.json"):read("a")
local cjson = require "cjson"
local elsys = cjson.decode(v).vectors[1]
run("elsys", "recipes/decoders/elsys.lua", elsys.hex)
local e = cjson.decode(io.open("$d/expected.json"):read("a"))
run("milesight", "recipes/decoders/milesight_am300.lua", e.milesight_am300.hex)
for i, c in ipairs(e.decentlab_dl_lp8p) do
  run("decentlab" .. i, "recipes/decoders/decentlab_dl_lp8p.lua", c.hex)
end
run("elsys_trunc", "recipes/decoders/elsys.lua", "0100")
run("elsys_unknown", "recipes/decoders/elsys.lua", "ff00")
run("milesight_trunc", "recipes/decoders/milesight_am300.lua", "0367EE")
run("decentlab_version", "recipes/decoders/decentlab_dl_lp8p.lua", "030578000f")
run("decentlab_short", "recipes/decoders/decentlab_dl_lp8p.lua", "020578000f67bd")
run("example", "examples/decoder/co2_counter.lua", "0301f42a")
run("ttn", "recipes/decoders/elsys.lua", nil, "ttn-v3",
    '{"end_device_ids":{"device_id":"ers-1"},"received_at":"2026-01-05T08:00:00Z",' ..
    '"uplink_message":{"f_port":5,"frm_payload":"' .. elsys.base64 .. '"}}')
run("ttn_nopayload", "recipes/decoders/elsys.lua", nil, "ttn-v3",
    '{"end_device_ids":{"device_id":"ers-1"},"uplink_message":{"decoded_payload":{"a":1}}}')
kk.pipe(kk.source.simulate { sensors = 1, count = 1, realtime = false }, kk.sink.null {})
LUA
"$K" run "$d/vectors.lua" --log-format text >"$d/vectors.log" 2>&1 || no vectors/run "exit $?: $(tail -3 "$d/vectors.log")"
python3 - "$d/vectors.log" "$DATA" <<'PY'
import json, sys, re
log, data = sys.argv[1], sys.argv[2]
res, errs = {}, {}
for line in open(log):
    m = re.search(r"\] ([RE]) (\S+) (.*)$", line.rstrip("\n"))
    if not m: continue
    kind, case, rest = m.groups()
    if kind == "R":
        prop, unit, val, thing, t = rest.split(" ")
        res.setdefault(case, {})[prop] = (float(val), unit, thing, int(t))
    else:
        errs[case] = rest
sys.path.insert(0, "tests/e2e")
import lib
from lib import ok, no
lib.suite("decoders_lua")
def check(name, got, want):
    """want: property -> (value, unit); exact comparison of the doubles."""
    bad = []
    for p, (v, u) in want.items():
        if p not in got: bad.append("missing " + p); continue
        if got[p][0] != v or got[p][1] != u:
            bad.append("%s = %r %s, want %r %s" % (p, got[p][0], got[p][1], v, u))
    extra = set(got) - set(want)
    if extra: bad.append("unexpected " + ",".join(sorted(extra)))
    ok(name) if not bad else no(name, "; ".join(bad))

# Elsys: the vector's expected values, exactly; the vector names the
# quantities temperature/humidity/light/motion/co2.
vec = json.load(open(data + "/elsys_ers_co2_vector.json"))["vectors"][0]
names = {"temperature": ("air_temperature", "Cel"), "humidity": ("relative_humidity", "%"),
         "light": ("illuminance", "lx"), "motion": ("motion", "{count}"), "co2": ("co2", "ppm")}
check("elsys/vector", res.get("elsys", {}),
      {names[k][0]: (float(v), names[k][1]) for k, v in vec["expected"].items()})

exp = json.load(open(data + "/lua/expected.json"))
check("milesight/readme-example", res.get("milesight", {}),
      {k: (float(v[0]), v[1]) for k, v in exp["milesight_am300"]["expected"].items()})

# Decentlab DL-LP8P: values from the documented conversions of each word.
def dl(hexs):
    b = bytes.fromhex(hexs)
    w = lambda i: b[i] << 8 | b[i + 1]
    flags, pos, out = w(3), 5, {}
    groups = [
        (2, lambda x: {"air_temperature": (175.72 * x[0] / 65536 - 46.85, "Cel"),
                       "relative_humidity": (125 * x[1] / 65536 - 6, "%")}),
        (2, lambda x: {"barometer_temperature": ((x[0] - 5000) / 100, "Cel"),
                       "air_pressure": (x[1] * 2 / 100, "hPa")}),
        (8, lambda x: {"co2": (x[0] - 32768, "ppm"), "co2_lpf": (x[1] - 32768, "ppm"),
                       "co2_sensor_temperature": ((x[2] - 32768) / 100, "Cel"),
                       "capacitor_voltage_1": (x[3] / 1000, "V"), "capacitor_voltage_2": (x[4] / 1000, "V"),
                       "co2_sensor_status": (x[5], "1"), "raw_ir": (x[6], "1"), "raw_ir_lpf": (x[7], "1")}),
        (1, lambda x: {"battery_voltage": (x[0] / 1000, "V")})]
    for bit, (n, f) in enumerate(groups):
        if flags >> bit & 1:
            x = [w(pos + 2 * k) for k in range(n)]
            pos += 2 * n
            out.update({k: (float(v), u) for k, (v, u) in f(x).items()})
    return out
for i, c in enumerate(exp["decentlab_dl_lp8p"], 1):
    check("decentlab/example%d" % i, res.get("decentlab%d" % i, {}), dl(c["hex"]))
# the first example also against the figures the vendor's page shows
d1 = res.get("decentlab1", {})
want = {"co2": 473, "co2_lpf": 500, "barometer_temperature": 24.05, "air_pressure": 968.0,
        "battery_voltage": 3.109, "raw_ir": 38296}
bad = [k for k, v in want.items() if k not in d1 or d1[k][0] != v]
ok("decentlab/example1-figures") if not bad else no("decentlab/example1-figures", str(bad))

for case, reason in (("elsys_trunc", "decoder"), ("elsys_unknown", "decoder"),
                     ("milesight_trunc", "decoder"), ("decentlab_version", "decoder"),
                     ("decentlab_short", "decoder"), ("ttn_nopayload", "no_payload")):
    e = errs.get(case, "")
    ok("errors/" + case) if e.startswith(reason + " ") else no("errors/" + case, "got %r" % (e or res.get(case)))

t = res.get("ttn", {})
if t.get("co2", (0,))[0] == 776 and t["co2"][2] == "ers-1" and t["co2"][3] == 1767600000000:
    ok("envelope/ttn-v3-thing-and-time")
else:
    no("envelope/ttn-v3-thing-and-time", str(t))
ex = res.get("example", {})
ok("example/co2_counter") if ex.get("co2", (0,))[0] == 500 and ex.get("people", (0,))[0] == 42 \
    else no("example/co2_counter", str(ex) + str(errs.get("example")))
sys.exit(lib.exit_code())
PY
[ $? -ne 0 ] && fail=1

# ---- end to end through a real mosquitto --------------------------------
if ! command -v mosquitto >/dev/null || ! command -v mosquitto_pub >/dev/null; then
  echo "skip decoders_lua/mqtt: no mosquitto"
  exit $fail
fi
port=$(free_port)
kk_broker_conf "$d/broker" "$port" 100000
kk_broker_start "$d/broker" "$port" || { no mqtt/broker "mosquitto did not start"; exit 1; }

cp "$DATA/lua/flaky.lua" "$d/flaky.lua"
hport=$(free_port)
cat > "$d/e2e.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-e2e" }
local ttn = kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "v3/+/devices/+/up", qos = 1,
                             pattern = "v3/{app}/devices/{device}/up", name = "ttn" }
local cs = kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "application/+/device/+/event/up",
                            qos = 1, name = "cs" }
local flaky = kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "raw/+", qos = 1,
                               pattern = "raw/{device}", name = "rawsrc" }
local sink = { kk.sink.jsonl { path = "$d/out.jsonl" },
               kk.publish.http { listen = "127.0.0.1:$hport" } }
kk.pipe(ttn, kk.decode.lua { path = "$PWD/recipes/decoders/elsys.lua", name = "elsys_ttn" }, sink)
kk.pipe(cs, kk.decode.lua { path = "$PWD/recipes/decoders/elsys.lua", envelope = "chirpstack-v4",
                            name = "elsys_cs" }, sink)
kk.pipe(flaky, kk.decode.lua { path = "$d/flaky.lua", envelope = "raw", name = "flaky",
                               budget = 200000, memory = "8MiB" }, sink)
LUA
"$K" run "$d/e2e.lua" --log-format text >"$d/e2e.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
  [ "$(grep -c "connected to" "$d/e2e.log" 2>/dev/null)" -ge 3 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.05
done
[ "$(grep -c "connected to" "$d/e2e.log")" -ge 3 ] || no mqtt/start "$(tail -5 "$d/e2e.log")"

# A TTN v3 uplink without decoded_payload (the TTS docs' MQTT example with
# the Elsys frame as frm_payload) and a ChirpStack v4 event (its docs'
# example, object removed, data = the Elsys frame).
python3 - "$DATA" "$d" <<'PY'
import json, sys
data, d = sys.argv[1], sys.argv[2]
b64 = json.load(open(data + "/elsys_ers_co2_vector.json"))["vectors"][0]["base64"]
t = json.load(open(data + "/tts_v3_uplink_mqtt_docs_example.json"))["payload"]
t["end_device_ids"]["device_id"] = "ers-room-1"
t["received_at"] = "2026-01-05T08:00:00Z"
t["uplink_message"]["frm_payload"] = b64
t["uplink_message"].pop("decoded_payload", None)
open(d + "/ttn.json", "w").write(json.dumps(t))
c = json.load(open(data + "/chirpstack_v4_up_docs_example.json"))["payload"]
c["data"] = b64
c.pop("object", None)
c["time"] = "2026-01-05T09:00:00Z"
open(d + "/cs.json", "w").write(json.dumps(c))
# raw frames for the flaky decoder: value = second byte
for name, hx in (("good1", "0001"), ("err", "E100"), ("loop", "E200"), ("good2", "0002"),
                 ("num", "E300"), ("badprop", "E400"), ("mem", "E500"), ("soft", "E600"),
                 ("nan", "E700"), ("trunc", "E8"), ("good3", "0003"), ("thing", "E904")):
    open(d + "/f-" + name, "wb").write(bytes.fromhex(hx))
PY
csdev=$(python3 -c "import json; print(json.load(open('$DATA/chirpstack_v4_up_docs_example.json'))['payload']['deviceInfo']['devEui'])")
mosquitto_pub -p $port -q 1 -t v3/app1/devices/ers-room-1/up -f "$d/ttn.json"
mosquitto_pub -p $port -q 1 -t "application/app/device/$csdev/event/up" -f "$d/cs.json"
for f in good1 err loop good2 num badprop mem soft nan trunc good3 thing; do
  mosquitto_pub -p $port -q 1 -t raw/flaky-1 -f "$d/f-$f"
done
for _ in $(seq 100); do
  [ "$(wc -l < "$d/out.jsonl" 2>/dev/null || echo 0)" -ge 14 ] && break
  sleep 0.1
done
sleep 0.3
kill -0 $pid 2>/dev/null && ok mqtt/still-running || no mqtt/still-running "klimakit died: $(tail -5 "$d/e2e.log")"
python3 - "$d/out.jsonl" "$DATA" "$csdev" <<'PY'
import json, sys
out, data, csdev = sys.argv[1:4]
rows = [json.loads(l) for l in open(out) if l.strip()]
sys.path.insert(0, "tests/e2e")
import lib
from lib import ok, no
lib.suite("decoders_lua")
vec = json.load(open(data + "/elsys_ers_co2_vector.json"))["vectors"][0]["expected"]
names = {"temperature": "air_temperature", "humidity": "relative_humidity",
         "light": "illuminance", "motion": "motion", "co2": "co2"}
for thing, when, name in (("ers-room-1", "2026-01-05T08:00:00.000Z", "mqtt/ttn-v3-elsys"),
                          (csdev, "2026-01-05T09:00:00.000Z", "mqtt/chirpstack-v4-elsys")):
    got = {r["property"]: r["value"] for r in rows if r["thing"] == thing and r["time"] == when}
    want = {names[k]: v for k, v in vec.items()}
    ok(name) if got == want else no(name, "got %s want %s" % (got, want))
flaky = sorted(r["value"] for r in rows if r["thing"] == "flaky-1" and r["property"] == "v")
ok("mqtt/others-still-decoded") if flaky == [1, 2, 3] else no("mqtt/others-still-decoded", str(flaky))
el = [r for r in rows if r["thing"] == "elsewhere"]
ok("mqtt/ctx-thing-override") if len(el) == 1 and el[0]["value"] == 4 else no("mqtt/ctx-thing-override", str(el))
sys.exit(lib.exit_code())
PY
[ $? -ne 0 ] && fail=1
# Each failure is logged with its reason and journal sequence number.
for reason in decoder budget shape memcap; do
  if grep -q "\[decode:flaky\] rejected message (journal seq [0-9]*, raw/flaky-1): $reason:" "$d/e2e.log"; then
    ok "bad/$reason-logged"
  else
    no "bad/$reason-logged" "$(grep rejected "$d/e2e.log" | head -12)"
  fi
done
n=$(grep -c "\[decode:flaky\] rejected message" "$d/e2e.log")
[ "$n" -eq 8 ] && ok bad/eight-rejected || no bad/eight-rejected "$n rejected: $(grep rejected "$d/e2e.log")"
grep "\[decode:flaky\] rejected" "$d/e2e.log" | grep -q "budget: .*instruction budget exceeded" &&
  ok bad/loop-stopped-by-budget || no bad/loop-stopped-by-budget "$(grep budget "$d/e2e.log")"
# ... and counted per reason in /metrics.
python3 - "$hport" <<'PY' && ok bad/counted-per-reason || no bad/counted-per-reason "see above"
import sys, urllib.request
m = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
want = {"decoder": 3, "budget": 1, "shape": 3, "memcap": 1}
bad = []
for reason, n in want.items():
    key = 'kk_rejected_total{stage="flaky",reason="%s"}' % reason
    line = [l for l in m.splitlines() if l.startswith(key)]
    if not line or float(line[0].split()[-1]) != n:
        bad.append("%s: %s (want %d)" % (reason, line, n))
if bad:
    print("\n".join(bad)); sys.exit(1)
PY
kill -TERM $pid 2>/dev/null; wait $pid; rc=$?; pid=
[ $rc -eq 0 ] && ok mqtt/clean-exit || no mqtt/clean-exit "exit $rc"
# the raw bytes of a rejected message are in the journal
python3 - "$d/data-e2e" <<'PY' && ok bad/raw-in-journal || no bad/raw-in-journal "frame E100 not found in the journal"
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if b"\xe1\x00" in open(os.path.join(root, f), "rb").read(): sys.exit(0)
sys.exit(1)
PY
kk_broker_stop
exit $fail
