#!/usr/bin/env bash
# Push formats of issue 11 through the real binary into store.sqlite:
#  * Sensor.Community (airrohr) pushes with curl to a source.http path
#    with format = "sensor.community" (X-Sensor, X-PIN, Basic auth with
#    the token as password, as the firmware's own-API settings send it);
#  * Tasmota telemetry (tele/<topic>/SENSOR, SML and ENERGY) with
#    mosquitto_pub through source.mqtt and decode.tasmota, local times
#    without zone read in Europe/Berlin.
# Every reading is compared (thing, property, unit, time, value).
set -u
. "$(dirname "$0")/lib.sh" push
kk_tmpdir
P=tests/e2e/data/push
for c in curl mosquitto mosquitto_pub; do
  command -v $c >/dev/null || { skip all "no $c"; exit 0; }
done
hp=$(free_port); bp=$(free_port)
while [ "$bp" = "$hp" ]; do bp=$(free_port); done
kk_broker_conf "$d/broker" "$bp" 10000
kk_broker_start "$d/broker" "$bp" || { no broker "mosquitto did not start"; exit 1; }
printf %s 's3cret' | sha256sum | cut -d' ' -f1 > "$d/tokens"
cat > "$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
local db = kk.store.sqlite { path = "$d/push.db" }
kk.pipe(kk.source.http { listen = "127.0.0.1:$hp", path = "/sensor-community",
                         format = "sensor.community", tokens_file = "$d/tokens" }, db)
kk.pipe(kk.source.mqtt { url = "mqtt://127.0.0.1:$bp", topic = "tele/+/SENSOR", qos = 1,
                         pattern = "tele/{device}/SENSOR" },
        kk.decode.tasmota {}, db)
LUA
kk_start "$d/kk.log" "$d/r.lua" --log-format text
wait_port "$hp" 10 && wait_log "$d/kk.log" "connected to" 10 || { no start "$(tail -5 "$d/kk.log")"; exit 1; }

U=http://127.0.0.1:$hp/sensor-community
t0=$(date +%s%3N)
st=$(curl -s -o "$d/out" -w '%{http_code}' -u "esp8266-12345:s3cret" -H 'Content-Type: application/json' \
       -H 'X-Sensor: esp8266-12345' -H 'X-PIN: 1' --data-binary @$P/airrohr.json "$U")
t1=$(date +%s%3N)
if [ "$st" = 202 ] && grep -q '"readings":8' "$d/out"; then ok sensor-community-202
else no sensor-community-202 "$st $(cat "$d/out")"; fi
# Without X-Sensor the thing comes from esp8266id; a bearer token works too.
st=$(curl -s -o "$d/out2" -w '%{http_code}' -H 'Authorization: Bearer s3cret' \
       --data-binary '{"esp8266id":"777","sensordatavalues":[{"value_type":"SDS_P1","value":"3.5"},{"value_type":"SDS_P2","value":"nan"}]}' "$U")
[ "$st" = 202 ] && ok sensor-community-esp8266id || no sensor-community-esp8266id "$st $(cat "$d/out2")"
st=$(curl -s -o /dev/null -w '%{http_code}' -u "esp8266-12345:wrong" --data-binary @$P/airrohr.json "$U")
[ "$st" = 401 ] && ok sensor-community-wrong-password-401 || no sensor-community-wrong-password-401 "$st"
st=$(curl -s -o "$d/out3" -w '%{http_code}' -u "x:s3cret" --data-binary '{"esp8266id":"1","sensordatavalues":[],"esp8266id":"2"}' "$U")
if [ "$st" = 400 ] && grep -q "duplicate key" "$d/out3"; then ok sensor-community-duplicate-key-400
else no sensor-community-duplicate-key-400 "$st $(cat "$d/out3")"; fi

mosquitto_pub -p "$bp" -q 1 -t tele/meter-hall/SENSOR -f $P/tasmota_sml.json
mosquitto_pub -p "$bp" -q 1 -t tele/plug-3/SENSOR -f $P/tasmota_energy.json
mosquitto_pub -p "$bp" -q 1 -t tele/bad/SENSOR -m '{"Time":"2026-11-30T12:00:00","SML":{"Total_in":1}} x'
wait_for 10 grep -q 'kk_decoded_total{stage="tasmota"} 2' "$d/data/metrics.prom" 2>/dev/null
sleep 1.2
kk_stop || no clean-exit "$(tail -3 "$d/kk.log")"
kk_broker_stop

res=$(python3 - "$d/push.db" "$t0" "$t1" <<'PY'
import sqlite3, sys
db, t0, t1 = sqlite3.connect(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
got = sorted(db.execute("SELECT t.name, d.property, d.unit, o.time, o.value FROM observations o "
                        "JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id"))
R = "RECV"
want = [("esp8266-12345", "pm10", "ug/m3", R, 1.80), ("esp8266-12345", "pm2_5", "ug/m3", R, 1.20),
        ("esp8266-12345", "temperature", "Cel", R, 4.63),
        ("esp8266-12345", "air_pressure", "hPa", R, 998.1184),
        ("esp8266-12345", "relative_humidity", "%", R, 85.32),
        ("esp8266-12345", "temperature.dht22", "Cel", R, 4.90),
        ("esp8266-12345", "relative_humidity.dht22", "%", R, 88.10),
        ("esp8266-12345", "wifi_rssi", "dB[mW]", R, -71),
        ("esp8266-777", "pm10", "ug/m3", "RECV2", 3.5),
        # 2026-11-30T12:00 CET = 11:00Z; 2026-07-01T12:00 CEST = 10:00Z
        ("meter-hall", "energy", "kW.h", 1796036400000, 34507.4761),
        ("meter-hall", "energy_export", "kW.h", 1796036400000, 12.5),
        ("meter-hall", "power", "W", 1796036400000, -894),
        ("plug-3", "energy", "kW.h", 1782900000000, 1.234),
        ("plug-3", "power", "W", 1782900000000, 42),
        ("plug-3", "voltage", "V", 1782900000000, 230),
        ("plug-3", "current", "A", 1782900000000, 0.2),
        ("plug-3", "ENERGY.Yesterday", "1", 1782900000000, 0.1),
        ("plug-3", "ENERGY.Today", "1", 1782900000000, 0.05)]
errs, left = [], list(got)
for th, p, u, t, v in want:
    hit = [g for g in left if g[:3] == (th, p, u) and abs(g[4] - v) < 1e-9 and
           (t0 <= g[3] <= t1 if t == "RECV" else g[3] >= t1 if t == "RECV2" else g[3] == t)]
    if hit: left.remove(hit[0])
    else: errs.append("missing %s/%s [%s] %s" % (th, p, u, v))
errs += ["unexpected %s" % (g,) for g in left]
print("; ".join(errs[:6]))
sys.exit(1 if errs else 0)
PY
)
PY_RC=$?
[ $PY_RC = 0 ] && ok every-reading-in-store || no every-reading-in-store "$res"
m=$d/data/metrics.prom
grep -q 'kk_rejected_total{stage="tasmota",reason="parse"} 1' "$m" && ok tasmota-trailing-bytes-rejected ||
  no tasmota-trailing-bytes-rejected "$(grep -s rejected "$m" | tr '\n' ' ')"
# 4 diagnostics + "nan" (sensor.community); the strings Meter_id and TotalStartTime (tasmota).
grep -q 'kk_decode_skipped_total{stage="http",reason="non_numeric"} 5' "$m" &&
  grep -q 'kk_decode_skipped_total{stage="tasmota",reason="non_numeric"} 2' "$m" && ok skipped-values-counted ||
  no skipped-values-counted "$(grep -s skipped "$m" | tr '\n' ' ')"
exit $fail
