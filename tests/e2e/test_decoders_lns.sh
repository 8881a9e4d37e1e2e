#!/usr/bin/env bash
# decode.ttn_v3, decode.chirpstack_v4 and decode.json never drop silently:
# uplinks and messages published to a real mosquitto -> source.mqtt ->
# decoder -> sink.jsonl, then every reading compared and every left-out
# value counted in /metrics:
#  - string members of decoded_payload / object counted (string_value), or
#    numeric ones converted with numeric_strings; non-finite numbers
#    counted (non_finite); a decoded object without any value rejected
#    (no_values), an empty one decoded with nothing to store;
#  - trailing bytes after the JSON and duplicate keys refused (parse);
#  - the time rules: received_at, else uplink_message.received_at, else
#    the earliest rx_metadata[].time (ChirpStack: time, else rxInfo nsTime);
#  - the best gateway: highest rssi (channel_rssi when rssi is absent); a
#    best gateway without snr still gives its rssi, and no snr.
set -u
. "$(dirname "$0")/lib.sh" decoders_lns
DATA=tests/e2e/data/decoders
kk_tmpdir
if ! command -v mosquitto >/dev/null || ! command -v mosquitto_pub >/dev/null; then
  skip mqtt "no mosquitto"
  exit 0
fi
port=$(free_port)
hport=$(free_port)
kk_broker_conf "$d/broker" "$port" 100000
kk_broker_start "$d/broker" "$port" || { no broker "mosquitto did not start"; exit 1; }
cat > "$d/lns.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
local function src(topic, name)
  return kk.source.mqtt { url = "mqtt://127.0.0.1:$port", topic = topic, qos = 1, name = name }
end
local sink = { kk.sink.jsonl { path = "$d/out.jsonl" }, kk.publish.http { listen = "127.0.0.1:$hport" } }
kk.pipe(src("tts/+", "tts_src"), kk.decode.ttn_v3 { radio = true, name = "tts" }, sink)
kk.pipe(src("ttsnum/+", "ttsnum_src"), kk.decode.ttn_v3 { numeric_strings = true, thing = "num", name = "ttsnum" }, sink)
kk.pipe(src("cs/+", "cs_src"), kk.decode.chirpstack_v4 { radio = true, name = "cs" }, sink)
kk.pipe(src("json/+", "json_src"), kk.decode.json { thing = "j", name = "json" }, sink)
LUA
kk_start "$d/run.log" "$d/lns.lua" --log-format text
wait_for 10 sh -c "[ \$(grep -c 'connected to' '$d/run.log') -ge 4 ]" || no start "$(tail -5 "$d/run.log")"

python3 - "$DATA" "$d" <<'PY'
import copy, json, sys
data, d = sys.argv[1:3]
t = json.load(open(data + "/tts_v3_uplink_docs_example.json"))["payload"]
msgs = []
def tts(name, topic="tts", raw=None, **change):
    u = copy.deepcopy(t)
    u["end_device_ids"]["device_id"] = name
    for path, v in change.items():
        o = u
        keys = path.split("__")
        for k in keys[:-1]: o = o[k]
        if v is None: o.pop(keys[-1], None)
        else: o[keys[-1]] = v
    msgs.append((topic + "/" + name, raw(json.dumps(u)) if raw else json.dumps(u)))
tts("docs")                                   # the docs example as it is
tts("strings", uplink_message__decoded_payload={"t": 21.5, "s": "22.5", "status": "OK"})
tts("strings", topic="ttsnum", uplink_message__decoded_payload={"t": 21.5, "s": "22.5", "status": "OK",
                                                                "hex": "0x10", "plus": "+1"})
tts("huge", raw=lambda j: j.replace('"luminosity": 0.64', '"luminosity": 1e999'))
tts("trailing", raw=lambda j: j + " {}")
tts("dup", raw=lambda j: j.replace('"temperature": 1.0', '"temperature": 1.0, "temperature": 2.0'))
tts("dupenv", raw=lambda j: j.replace('"device_id": "dupenv"', '"device_id": "dupenv", "device_id": "x"'))
tts("gwtime", received_at=None, uplink_message__received_at=None,
    uplink_message__rx_metadata=[{"gateway_ids": {"gateway_id": "a"}, "time": "2020-02-12T15:15:45.900Z", "rssi": -90, "snr": 1},
                                 {"gateway_ids": {"gateway_id": "b"}, "time": "2020-02-12T15:15:45.787Z", "rssi": -100}])
tts("chrssi", uplink_message__rx_metadata=[{"gateway_ids": {"gateway_id": "a"}, "channel_rssi": -80},
                                           {"gateway_ids": {"gateway_id": "b"}, "rssi": -100, "snr": 7}])
tts("empty", uplink_message__decoded_payload={})
tts("onlystr", uplink_message__decoded_payload={"s": "x"})
c = json.load(open(data + "/chirpstack_v4_up_docs_example.json"))["payload"]
c = copy.deepcopy(c); c["object"] = {"temperature": 21.5, "label": "a"}; del c["time"]
c["rxInfo"][0]["nsTime"] = "2022-07-18T09:34:15.700Z"
msgs.append(("cs/x", json.dumps(c)))
msgs.append(("cs/trailing", json.dumps(c) + "x"))
msgs.append(("json/a", '{"a": 1, "s": "x", "inf": 1e999}'))
msgs.append(("json/dup", '{"a": 1, "a": 2}'))
msgs.append(("json/trailing", '{"a": 1} {"a": 2}'))
for i, (topic, body) in enumerate(msgs):
    open("%s/m%02d" % (d, i), "w").write(body)
    open("%s/m%02d.topic" % (d, i), "w").write(topic)
PY
for f in "$d"/m[0-9][0-9]; do
  mosquitto_pub -p "$port" -q 1 -t "$(cat "$f.topic")" -f "$f"
done
# wait for the last message's reading (json/a) and all the others
wait_for 10 sh -c "grep -q '\"thing\":\"j\"' '$d/out.jsonl' 2>/dev/null && [ \$(wc -l < '$d/out.jsonl') -ge 19 ]" ||
  no readings "$(wc -l < "$d/out.jsonl" 2>/dev/null) lines: $(tail -3 "$d/run.log")"
sleep 0.3
python3 - "$d/out.jsonl" "$hport" <<'PY'
import json, sys, urllib.request
out, hport = sys.argv[1:3]
sys.path.insert(0, "tests/e2e")
import lib
lib.suite("decoders_lns")
rows = [json.loads(l) for l in open(out) if l.strip()]
def got(thing):
    return {r["property"]: (r["value"], r["unit"], r["time"]) for r in rows if r["thing"] == thing}
T = "2020-02-12T15:15:46.014Z"
def check(name, thing, want):
    g = got(thing)
    lib.check(name, g == want, "got %s want %s" % (g, want))
check("ttn-v3/docs-example", "docs", {"temperature": (1, "1", T), "luminosity": (0.64, "1", T),
                                      "rssi": (-35, "dB.mW", T), "snr": (5, "dB", T)})
check("ttn-v3/strings-counted", "strings", {"t": (21.5, "1", T), "rssi": (-35, "dB.mW", T), "snr": (5, "dB", T)})
check("ttn-v3/numeric-strings", "num", {"t": (21.5, "1", T), "s": (22.5, "1", T)})
check("ttn-v3/non-finite", "huge", {"temperature": (1, "1", T), "rssi": (-35, "dB.mW", T), "snr": (5, "dB", T)})
G = "2020-02-12T15:15:45.787Z"
check("ttn-v3/gateway-time-and-best", "gwtime", {"temperature": (1, "1", G), "luminosity": (0.64, "1", G),
                                                 "rssi": (-90, "dB.mW", G), "snr": (1, "dB", G)})
check("ttn-v3/channel-rssi-no-snr", "chrssi", {"temperature": (1, "1", T), "luminosity": (0.64, "1", T),
                                               "rssi": (-80, "dB.mW", T)})
for thing in ("trailing", "dup", "dupenv", "onlystr"):
    lib.check("ttn-v3/nothing-stored-" + thing, got(thing) == {}, str(got(thing)))
# an empty decoded_payload is the codec's "nothing to store": decoded, only the radio readings
check("ttn-v3/empty-decoded-payload", "empty", {"rssi": (-35, "dB.mW", T), "snr": (5, "dB", T)})
C = "2022-07-18T09:34:15.700Z"
check("chirpstack-v4/object-ns-time", "0101010101010101", {"temperature": (21.5, "1", C),
                                                           "rssi": (-36, "dB.mW", C), "snr": (10.5, "dB", C)})
j = got("j")
lib.check("json/strings-and-non-finite-counted", list(j) == ["a"] and j["a"][0] == 1, str(j))
m = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % hport, timeout=5).read().decode()
def metric(key):
    line = [l for l in m.splitlines() if l.startswith(key + " ")]
    return float(line[0].split()[-1]) if line else None
for key, n in (('kk_rejected_total{stage="tts",reason="string_value"}', 2),  # onlystr: rejected whole
               ('kk_rejected_total{stage="tts",reason="non_finite"}', 1),
               ('kk_rejected_total{stage="tts",reason="parse"}', 3),
               ('kk_rejected_total{stage="tts",reason="no_values"}', 1),
               ('kk_decoded_total{stage="tts"}', 6),
               ('kk_rejected_total{stage="ttsnum",reason="string_value"}', 3),
               ('kk_rejected_total{stage="cs",reason="string_value"}', 1),
               ('kk_rejected_total{stage="cs",reason="parse"}', 1),
               ('kk_rejected_total{stage="json",reason="string_value"}', 1),
               ('kk_rejected_total{stage="json",reason="non_finite"}', 1),
               ('kk_rejected_total{stage="json",reason="parse"}', 2)):
    lib.check("metrics/" + key, metric(key) == n, "%s, want %d" % (metric(key), n))
sys.exit(lib.exit_code())
PY
[ $? -ne 0 ] && fail=1
grep -q "rejected message (journal seq [0-9]*, tts/dup): parse: duplicate key 'temperature'" "$d/run.log" &&
  ok logged/duplicate-key || no logged/duplicate-key "$(grep rejected "$d/run.log" | head -5)"
grep -q "rejected message (journal seq [0-9]*, tts/trailing): parse: .* bytes after the JSON value" "$d/run.log" &&
  ok logged/trailing || no logged/trailing "$(grep rejected "$d/run.log" | head -5)"
grep -q "left out 2 string values of message" "$d/run.log" &&
  ok logged/left-out || no logged/left-out "$(grep "left out" "$d/run.log" | head -5)"
kk_stop; rc=$?
[ $rc -eq 0 ] && ok clean-exit || no clean-exit "exit $rc"
kk_broker_stop
exit $fail
