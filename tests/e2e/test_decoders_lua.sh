#!/usr/bin/env bash
# decode.lua and the shipped device decoders (recipes/decoders/):
#  - through `klimakit decode` (the same C path as the stage): the Elsys
#    ERS CO2 vector of ../shared/data decodes to exactly the expected
#    values; Milesight AM300 and Decentlab DL-LP8P frames from the vendors'
#    documented examples decode to their documented values; wrong fPorts,
#    truncated frames, unknown records and trailing bytes are rejected with
#    their reason, status frames hold nothing to store; the TTS / ChirpStack
#    envelopes and their time rules; exit codes and usage errors;
#  - kk.decode_lua in a recipe: unknown keys refused, config passed,
#    failures as nil, reason, message;
#  - end to end: a TTN v3 uplink and a ChirpStack v4 up event published to
#    a real mosquitto -> source.mqtt -> decode.lua (Elsys) -> sink.jsonl,
#    and AM300 uplinks (a status frame, a wrong fPort) counted as such;
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

# ---- every shipped decoder through `klimakit decode` ---------------------
# Documented example frames decode to exactly their documented values;
# wrong fPorts, truncated frames, unknown records and trailing bytes are
# rejected with their reason (exit 1); status frames hold nothing to
# store (exit 0); usage errors exit 2.
python3 - "$K" "$DATA" "$d" <<'PY'
import base64, json, os, subprocess, sys
K, data, d = sys.argv[1:4]
sys.path.insert(0, "tests/e2e")
import lib
from lib import ok, no
lib.suite("decoders_lua")

def dec(*args, stdin=None):
    """Runs klimakit decode ... --format json: (exit code, rows, outcome)."""
    p = subprocess.run([K, "decode", *args, "--format", "json"], input=stdin,
                       capture_output=True, timeout=30)
    rows, outcome = [], None
    for line in p.stdout.decode().splitlines():
        j = json.loads(line)
        if "property" in j: rows.append(j)
        else: outcome = j
    return p.returncode, rows, outcome, p.stderr.decode()

def check_values(name, args, want, thing="unknown", time=None):
    """want: property -> (value, unit), compared exactly."""
    rc, rows, outcome, err = dec(*args)
    got = {r["property"]: (r["value"], r["unit"]) for r in rows}
    bad = []
    if rc != 0: bad.append("exit %d %s %s" % (rc, outcome, err.strip()))
    for p, (v, u) in want.items():
        if p not in got: bad.append("missing " + p)
        elif got[p] != (v, u): bad.append("%s = %r, want %r" % (p, got[p], (v, u)))
    extra = set(got) - set(want)
    if extra: bad.append("unexpected " + ",".join(sorted(extra)))
    if len(rows) != len(got): bad.append("a property twice")
    if any(r["thing"] != thing for r in rows): bad.append("thing %s" % rows[0]["thing"])
    if time and any(r["time"] != time for r in rows): bad.append("time %s" % rows[0]["time"])
    ok(name) if not bad else no(name, "; ".join(bad))

def check_rejected(name, args, reason, stdin=None):
    rc, rows, outcome, err = dec(*args, stdin=stdin)
    if rc == 1 and not rows and outcome and outcome.get("rejected") == reason and outcome.get("message"):
        ok(name)
    else:
        no(name, "exit %d rows %d outcome %s %s" % (rc, len(rows), outcome, err.strip()))

def check_nothing(name, args, note):
    rc, rows, outcome, err = dec(*args)
    if rc == 0 and not rows and outcome == {"nothing": True, "note": note}:
        ok(name)
    else:
        no(name, "exit %d rows %d outcome %s %s" % (rc, len(rows), outcome, err.strip()))

ELSYS, MILE, DL = ("recipes/decoders/elsys.lua", "recipes/decoders/milesight_am300.lua",
                   "recipes/decoders/decentlab_dl_lp8p.lua")

# Elsys: the vector's expected values, exactly; the vector names the
# quantities temperature/humidity/light/motion/co2.
vec = json.load(open(data + "/elsys_ers_co2_vector.json"))["vectors"][0]
names = {"temperature": ("air_temperature", "Cel"), "humidity": ("relative_humidity", "%"),
         "light": ("illuminance", "lx"), "motion": ("motion", "{count}"), "co2": ("co2", "ppm")}
ewant = {names[k][0]: (v, names[k][1]) for k, v in vec["expected"].items()}
check_values("elsys/vector-hex", [ELSYS, "--port", "5", "--hex", vec["hex"]], ewant)
check_values("elsys/vector-base64", [ELSYS, "--port", "5", "--base64", vec["base64"]], ewant)
check_values("elsys/config-ports", [ELSYS, "--port", "7", "--config", "ports=[7]", "--hex", vec["hex"]], ewant)
# VDD, pressure and TVOC records: 07 0E10 = 3600 mV; 14 000F7A2C = 1014316 / 1000 hPa; 1C 00C8 = 200 ppb
check_values("elsys/vdd-pressure-tvoc", [ELSYS, "--port", "5", "--hex", "070E1014000F7A2C1C00C8"],
             {"battery_voltage": (3.6, "V"), "air_pressure": (1014.316, "hPa"), "tvoc": (200, "ppb")})
check_rejected("elsys/wrong-port", [ELSYS, "--port", "1", "--hex", vec["hex"]], "port")
check_rejected("elsys/no-port", [ELSYS, "--hex", vec["hex"]], "port")
check_rejected("elsys/truncated-value", [ELSYS, "--port", "5", "--hex", "0100"], "truncated")
check_rejected("elsys/truncated-last-record", [ELSYS, "--port", "5", "--hex", vec["hex"][:-2]], "truncated")
check_rejected("elsys/empty", [ELSYS, "--port", "5", "--hex", ""], "truncated")
check_rejected("elsys/unknown-record", [ELSYS, "--port", "5", "--hex", "0100E2FF00"], "unknown_record")
check_rejected("elsys/unknown-first", [ELSYS, "--port", "5", "--hex", "ff00"], "unknown_record")
check_nothing("elsys/debug-only", [ELSYS, "--port", "5", "--hex", "3D01020304"], "debug record only")

# Milesight AM300: the README's example frame.
exp = json.load(open(data + "/lua/expected.json"))
m = exp["milesight_am300"]
mwant = {k: (v[0], v[1]) for k, v in m["expected"].items()}
check_values("milesight/readme-example", [MILE, "--port", "85", "--hex", m["hex"]], mwant)
check_rejected("milesight/wrong-port", [MILE, "--port", "5", "--hex", m["hex"]], "port")
check_rejected("milesight/truncated", [MILE, "--port", "85", "--hex", "0367EE"], "truncated")
check_rejected("milesight/single-byte-left", [MILE, "--port", "85", "--hex", "0367EE0003"], "truncated")
check_rejected("milesight/unknown-record", [MILE, "--port", "85", "--hex", "0367EE00AABB01"], "unknown_record")
check_nothing("milesight/device-info", [MILE, "--port", "85", "--hex",
              "ff0bffff0101ff166746d38802580000ff090100ff0a0101ff0f00"], "device information")
# A history record (20 CE): time 1767225600 s, 21.5 Cel, 45 %, PIR 0,
# light 3, 600 ppm, IAQ 2, 1013.2 hPa; the AM308 adds PM2.5 10 and PM10 20.
import struct
hist = struct.pack("<IhHBBHHH", 1767225600, 215, 90, 0, 3, 600, 2, 10132)
hwant = {"air_temperature": (21.5, "Cel"), "relative_humidity": (45, "%"), "pir": (0, "1"),
         "light_level": (3, "1"), "co2": (600, "ppm"), "tvoc_iaq": (2, "1"), "air_pressure": (1013.2, "hPa")}
check_values("milesight/history-am307", [MILE, "--port", "85", "--hex", "20ce" + hist.hex()], hwant,
             time="2026-01-01T00:00:00.000Z")
check_rejected("milesight/history-config-model", [MILE, "--port", "85", "--config", "model=am308",
               "--hex", "20ce" + hist.hex()], "truncated")
hwant8 = dict(hwant, pm2_5=(10, "ug/m3"), pm10=(20, "ug/m3"))
check_values("milesight/history-am308", [MILE, "--port", "85", "--config", "model=am308", "--hex",
             "20ce" + hist.hex() + struct.pack("<HH", 10, 20).hex()], hwant8, time="2026-01-01T00:00:00.000Z")
check_values("milesight/config-number", [MILE, "--port", "85", "--config", "tvoc_iaq_scale=0.01",
             "--hex", "087D2500"], {"tvoc_iaq": (0.37, "1")})

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
            out.update(f(x))
    return out
for i, c in enumerate(exp["decentlab_dl_lp8p"], 1):
    check_values("decentlab/example%d" % i, [DL, "--port", "1", "--hex", c["hex"]], dl(c["hex"]))
# the first example also against the figures the vendor's page shows
rc, rows, _, _ = dec(DL, "--port", "1", "--hex", exp["decentlab_dl_lp8p"][0]["hex"])
d1 = {r["property"]: r["value"] for r in rows}
want = {"co2": 473, "co2_lpf": 500, "barometer_temperature": 24.05, "air_pressure": 968.0,
        "battery_voltage": 3.109, "raw_ir": 38296}
bad = [k for k, v in want.items() if d1.get(k) != v]
ok("decentlab/example1-figures") if not bad else no("decentlab/example1-figures", str(bad))
check_rejected("decentlab/wrong-port", [DL, "--port", "2", "--hex", exp["decentlab_dl_lp8p"][2]["hex"]], "port")
check_rejected("decentlab/version", [DL, "--port", "1", "--hex", "030578000f"], "invalid")
check_rejected("decentlab/short", [DL, "--port", "1", "--hex", "020578000f67bd"], "truncated")
check_rejected("decentlab/trailing", [DL, "--port", "1", "--hex", exp["decentlab_dl_lp8p"][2]["hex"] + "00"], "invalid")
check_nothing("decentlab/no-sensor", [DL, "--port", "1", "--hex", "0205780000"], "no sensor flagged")

# The example of examples/decoder/, as its README runs it.
check_values("example/co2_counter", ["examples/decoder/co2_counter.lua", "--port", "2", "--hex", "0301F42A"],
             {"co2": (500, "ppm"), "people": (42, "{count}")})
check_nothing("example/heartbeat", ["examples/decoder/co2_counter.lua", "--port", "2", "--hex", "0155"],
              "heartbeat, battery 85 %")
p = subprocess.run(["sh", "examples/decoder/test_decoder.sh"], capture_output=True, timeout=60,
                   env=dict(os.environ, KK_BIN=K))
out = p.stdout.decode()
lib.check("example/test_decoder.sh", p.returncode == 1 and "unknown\tco2\t600\tppm\t" in out
          and "# nothing to store: heartbeat, battery 85 %" in out
          and "rejected: truncated: " in p.stderr.decode(), "exit %d: %s %s" % (p.returncode, out, p.stderr))

# Envelopes: the TTS docs' uplink with the Elsys frame, the time rules.
t = json.load(open(data + "/tts_v3_uplink_docs_example.json"))["payload"]
t["uplink_message"]["frm_payload"] = vec["base64"]
t["uplink_message"]["f_port"] = 5
def write(name, obj, extra=""):
    path = os.path.join(d, name)
    open(path, "w").write((json.dumps(obj) if not isinstance(obj, str) else obj) + extra)
    return path
check_values("envelope/ttn-v3", [ELSYS, "--envelope", "ttn-v3", write("t1.json", t)], ewant,
             thing="dev1", time="2020-02-12T15:15:46.014Z")
t2 = json.loads(json.dumps(t)); del t2["received_at"]
check_values("envelope/ttn-v3-uplink-received-at", [ELSYS, "--envelope", "ttn-v3", write("t2.json", t2)],
             ewant, thing="dev1", time="2020-02-12T15:15:45.789Z")
del t2["uplink_message"]["received_at"]
check_values("envelope/ttn-v3-gateway-time", [ELSYS, "--envelope", "ttn-v3", write("t3.json", t2)],
             ewant, thing="dev1", time="2020-02-12T15:15:45.787Z")
check_rejected("envelope/ttn-v3-wrong-port", [ELSYS, "--envelope", "ttn-v3", write("t4.json", dict(
    t, uplink_message=dict(t["uplink_message"], f_port=6)))], "port")
check_rejected("envelope/ttn-v3-trailing-garbage", [ELSYS, "--envelope", "ttn-v3", write("t5.json", t, " x")], "parse")
dup = json.dumps(t).replace('"f_port": 5', '"f_port": 5, "f_port": 6')
check_rejected("envelope/ttn-v3-duplicate-key", [ELSYS, "--envelope", "ttn-v3", write("t6.json", dup)], "parse")
rc, rows, _, _ = dec(ELSYS, "--envelope", "ttn-v3", "-", stdin=json.dumps(t).encode())
lib.check("envelope/ttn-v3-stdin-rows", rc == 0 and len(rows) == 5, "exit %d rows %d" % (rc, len(rows)))
nop = json.loads(json.dumps(t)); del nop["uplink_message"]["frm_payload"]
check_rejected("envelope/ttn-v3-no-payload", [ELSYS, "--envelope", "ttn-v3", write("t7.json", nop)], "no_payload")
c = json.load(open(data + "/chirpstack_v4_up_docs_example.json"))["payload"]
c["data"], c["fPort"] = vec["base64"], 5
check_values("envelope/chirpstack-v4", [ELSYS, "--envelope", "chirpstack-v4", write("c1.json", c)], ewant,
             thing=c["deviceInfo"]["devEui"], time="2022-07-18T09:34:15.775Z")
c2 = json.loads(json.dumps(c)); del c2["time"]
c2["rxInfo"][0]["nsTime"] = "2022-07-18T09:34:15.700Z"
check_values("envelope/chirpstack-v4-ns-time", [ELSYS, "--envelope", "chirpstack-v4", write("c2.json", c2)],
             ewant, thing=c["deviceInfo"]["devEui"], time="2022-07-18T09:34:15.700Z")
check_rejected("envelope/chirpstack-v4-wrong-port", [ELSYS, "--envelope", "chirpstack-v4",
               write("c3.json", dict(c, fPort=1))], "port")

# Text output: thing, property, value, unit, time, tab separated.
p = subprocess.run([K, "decode", ELSYS, "--envelope", "ttn-v3", os.path.join(d, "t1.json")],
                   capture_output=True, timeout=30)
lines = p.stdout.decode().splitlines()
lib.check("cli/text-format", p.returncode == 0 and len(lines) == 5 and
          lines[0] == "dev1\tair_temperature\t22.6\tCel\t2020-02-12T15:15:46.014Z", repr(lines[:1]))
p = subprocess.run([K, "decode", ELSYS, "--port", "1", "--hex", vec["hex"]], capture_output=True, timeout=30)
lib.check("cli/text-rejected", p.returncode == 1 and p.stdout == b"" and
          p.stderr.decode().startswith("rejected: port: fPort 1 is not one the decoder takes (5)"), repr(p.stderr))
# Usage errors exit 2; a decoder that cannot be loaded exits 1.
for name, args in (("no-payload", [ELSYS]), ("two-payloads", [ELSYS, "--hex", "00", "--base64", "AA=="]),
                   ("port-with-envelope", [ELSYS, "--port", "5", "--envelope", "ttn-v3", "x.json"]),
                   ("bad-hex", [ELSYS, "--hex", "0g"]), ("odd-hex", [ELSYS, "--hex", "010"]),
                   ("bad-port", [ELSYS, "--port", "256", "--hex", "00"]),
                   ("bad-config", [ELSYS, "--config", "novalue", "--hex", "00"]),
                   ("unknown-option", [ELSYS, "--hexx", "00"]), ("no-decoder", ["--hex", "00"])):
    p = subprocess.run([K, "decode", *args], capture_output=True, timeout=30)
    lib.check("cli/usage-" + name, p.returncode == 2 and b"klimakit decode" in p.stderr,
              "exit %d %r" % (p.returncode, p.stderr))
check_rejected("cli/missing-decoder", ["nowhere.lua", "--hex", "00"], "load")
p = subprocess.run([K, "decode", "--help"], capture_output=True, timeout=30)
lib.check("cli/help", p.returncode == 0 and b"Exit codes: 0" in p.stdout and b"--envelope" in p.stdout, repr(p.stdout[:80]))
sys.exit(lib.exit_code())
PY
[ $? -ne 0 ] && fail=1

# ---- kk.decode_lua in a recipe: the same strictness ----------------------
cat > "$d/recipe.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-recipe" }
local function show(case, r, why, msg)
  if not r then print(string.format("E %s %s %s", case, why, msg)) return end
  if why then print(string.format("N %s %s %s", case, why, msg)) end
  for _, x in ipairs(r) do
    print(string.format("R %s %s %s %.17g %s %d", case, x.property, x.unit, x.value, x.thing, x.time))
  end
end
show("hex", kk.decode_lua { path = "recipes/decoders/elsys.lua", hex = "0100E2", port = 5 })
show("b64", kk.decode_lua { path = "recipes/decoders/elsys.lua", base64 = "AQDi", port = 5 })
show("port", kk.decode_lua { path = "recipes/decoders/elsys.lua", hex = "0100E2", port = 1 })
show("trunc", kk.decode_lua { path = "recipes/decoders/elsys.lua", hex = "0100", port = 5 })
show("none", kk.decode_lua { path = "recipes/decoders/elsys.lua", hex = "3D00000000", port = 5 })
show("cfg", kk.decode_lua { path = "recipes/decoders/milesight_am300.lua", hex = "087D2500", port = 85,
                            config = { tvoc_iaq_scale = 0.01 } })
show("badhex", kk.decode_lua { path = "recipes/decoders/elsys.lua", hex = "0x", port = 5 })
show("load", kk.decode_lua { path = "nowhere.lua", hex = "00" })
local okk, err = pcall(kk.decode_lua, { path = "recipes/decoders/elsys.lua", hex = "00", prot = 5 })
print("U unknown " .. tostring(okk) .. " " .. tostring(err))
okk, err = pcall(kk.decode_lua, { path = "recipes/decoders/elsys.lua", hex = "00", data = "x" })
print("U two " .. tostring(okk) .. " " .. tostring(err))
okk, err = pcall(kk.decode_lua, { path = "recipes/decoders/elsys.lua", hex = "00", config = { f = print } })
print("U config " .. tostring(okk) .. " " .. tostring(err))
kk.pipe(kk.source.simulate { sensors = 1, count = 1, realtime = false }, kk.sink.null {})
LUA
"$K" run "$d/recipe.lua" --log-format text >"$d/recipe.log" 2>&1 || no decode_lua/run "exit $?: $(tail -3 "$d/recipe.log")"
rl() { grep -F "] $1" "$d/recipe.log" >/dev/null; }
rl "R hex air_temperature Cel 22.600000000000001 unknown" && ok decode_lua/hex || no decode_lua/hex "$(grep '\] [REUN] ' "$d/recipe.log")"
rl "R b64 air_temperature Cel 22.600000000000001 unknown" && ok decode_lua/base64 || no decode_lua/base64 "$(grep '\] [REUN] b64' "$d/recipe.log")"
rl "E port port fPort 1 is not one the decoder takes (5)" && ok decode_lua/port || no decode_lua/port "$(grep '\] [REUN] port' "$d/recipe.log")"
rl "E trunc truncated " && ok decode_lua/truncated || no decode_lua/truncated "$(grep '\] [REUN] trunc' "$d/recipe.log")"
rl "N none none debug record only" && ok decode_lua/none || no decode_lua/none "$(grep '\] [REUN] none' "$d/recipe.log")"
rl "R cfg tvoc_iaq 1 0.37 unknown" && ok decode_lua/config || no decode_lua/config "$(grep '\] [REUN] cfg' "$d/recipe.log")"
rl "E badhex input " && ok decode_lua/bad-hex || no decode_lua/bad-hex "$(grep '\] [REUN] badhex' "$d/recipe.log")"
rl "E load load decoder file 'nowhere.lua' not found" && ok decode_lua/load || no decode_lua/load "$(grep '\] [REUN] load' "$d/recipe.log")"
rl "U unknown false " && grep -q "unknown key 'prot'" "$d/recipe.log" && ok decode_lua/unknown-key ||
  no decode_lua/unknown-key "$(grep '\] U ' "$d/recipe.log")"
rl "U two false " && grep -q "give one of hex, base64 or data" "$d/recipe.log" && ok decode_lua/one-payload ||
  no decode_lua/one-payload "$(grep '\] U ' "$d/recipe.log")"
rl "U config false " && grep -q "cannot be passed to a decoder" "$d/recipe.log" && ok decode_lua/config-function ||
  no decode_lua/config-function "$(grep '\] U ' "$d/recipe.log")"

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
local status = kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "v3/+/devices/+/am300",
                                qos = 1, name = "am300src" }
local flaky = kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = "raw/+", qos = 1,
                               pattern = "raw/{device}", name = "rawsrc" }
local sink = { kk.sink.jsonl { path = "$d/out.jsonl" },
               kk.publish.http { listen = "127.0.0.1:$hport" } }
kk.pipe(ttn, kk.decode.lua { path = "$PWD/recipes/decoders/elsys.lua", name = "elsys_ttn" }, sink)
kk.pipe(status, kk.decode.lua { path = "$PWD/recipes/decoders/milesight_am300.lua", name = "am300" }, sink)
kk.pipe(cs, kk.decode.lua { path = "$PWD/recipes/decoders/elsys.lua", envelope = "chirpstack-v4",
                            name = "elsys_cs" }, sink)
kk.pipe(flaky, kk.decode.lua { path = "$d/flaky.lua", envelope = "raw", name = "flaky",
                               budget = 200000, memory = "8MiB" }, sink)
LUA
"$K" run "$d/e2e.lua" --log-format text >"$d/e2e.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
  [ "$(grep -c "connected to" "$d/e2e.log" 2>/dev/null)" -ge 4 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.05
done
[ "$(grep -c "connected to" "$d/e2e.log")" -ge 4 ] || no mqtt/start "$(tail -5 "$d/e2e.log")"

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
t["uplink_message"]["f_port"] = 5
t["uplink_message"].pop("decoded_payload", None)
open(d + "/ttn.json", "w").write(json.dumps(t))
c = json.load(open(data + "/chirpstack_v4_up_docs_example.json"))["payload"]
c["data"] = b64
c["fPort"] = 5
c.pop("object", None)
c["time"] = "2026-01-05T09:00:00Z"
open(d + "/cs.json", "w").write(json.dumps(c))
# Milesight AM300 uplinks: the device information frame (nothing to
# store), the README frame on fPort 85, the same frame on fPort 10.
import base64
m = json.load(open(data + "/lua/expected.json"))["milesight_am300"]["hex"].replace(" ", "")
for name, hx, fport in (("info", "ff0bffff0101ff166746d38802580000ff090100ff0a0101ff0f00", 85),
                        ("data", m, 85), ("port", m, 10)):
    u = json.loads(json.dumps(t))
    u["end_device_ids"]["device_id"] = "am-1"
    u["uplink_message"]["frm_payload"] = base64.b64encode(bytes.fromhex(hx)).decode()
    u["uplink_message"]["f_port"] = fport
    open(d + "/am-" + name + ".json", "w").write(json.dumps(u))
# raw frames for the flaky decoder: value = second byte
for name, hx in (("good1", "0001"), ("err", "E100"), ("loop", "E200"), ("good2", "0002"),
                 ("num", "E300"), ("badprop", "E400"), ("mem", "E500"), ("soft", "E600"),
                 ("nan", "E700"), ("trunc", "E8"), ("good3", "0003"), ("thing", "E904")):
    open(d + "/f-" + name, "wb").write(bytes.fromhex(hx))
PY
csdev=$(python3 -c "import json; print(json.load(open('$DATA/chirpstack_v4_up_docs_example.json'))['payload']['deviceInfo']['devEui'])")
mosquitto_pub -p $port -q 1 -t v3/app1/devices/ers-room-1/up -f "$d/ttn.json"
mosquitto_pub -p $port -q 1 -t "application/app/device/$csdev/event/up" -f "$d/cs.json"
for f in info data port; do
  mosquitto_pub -p $port -q 1 -t v3/app1/devices/am-1/am300 -f "$d/am-$f.json"
done
for f in good1 err loop good2 num badprop mem soft nan trunc good3 thing; do
  mosquitto_pub -p $port -q 1 -t raw/flaky-1 -f "$d/f-$f"
done
for _ in $(seq 100); do
  [ "$(wc -l < "$d/out.jsonl" 2>/dev/null || echo 0)" -ge 24 ] && break
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
am = sorted(r["property"] for r in rows if r["thing"] == "am-1")
lib.check("mqtt/am300-once", len(am) == 10 and len(set(am)) == 10, str(am))
el = [r for r in rows if r["thing"] == "elsewhere"]
ok("mqtt/ctx-thing-override") if len(el) == 1 and el[0]["value"] == 4 else no("mqtt/ctx-thing-override", str(el))
sys.exit(lib.exit_code())
PY
[ $? -ne 0 ] && fail=1
# Each failure is logged with its reason and journal sequence number.
for reason in decoder truncated budget shape memcap; do
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
want = {'kk_rejected_total{stage="flaky",reason="%s"}' % r: n for r, n in
        {"decoder": 2, "truncated": 1, "budget": 1, "shape": 3, "memcap": 1}.items()}
# the AM300 stage: a status frame decoded with nothing to store, a wrong fPort rejected
want.update({'kk_decoded_empty_total{stage="am300"}': 1, 'kk_decoded_total{stage="am300"}': 2,
             'kk_rejected_total{stage="am300",reason="port"}': 1})
bad = []
for key, n in want.items():
    line = [l for l in m.splitlines() if l.startswith(key + " ")]
    if not line or float(line[0].split()[-1]) != n:
        bad.append("%s: %s (want %d)" % (key, line, n))
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
