#!/usr/bin/env bash
# tests/e2e/test_recipe_urban_data_platform.sh - recipes/urban-data-platform:
# every sector lands in the one store, CO2e with the named factors, a flood
# alert opens and closes on the sample wave; the dashboard and the
# SensorThings API serve it; by default nothing is forwarded; with
# UDP_TTN_URL and UDP_MQTT_URL a LoRaWAN water-level uplink (The Things
# Stack JSON) comes in and readings and the alert go out over MQTT.
. "$(dirname "$0")/lib.sh" recipe-urban-data-platform
. "$(dirname "$0")/recipe_kit.sh"
kk_tmpdir

R=recipes/urban-data-platform
for env in "" "UDP_TTN_URL=mqtt://127.0.0.1:1 UDP_MQTT_URL=mqtt://127.0.0.1:1"; do
  if env $env "$K" check "$R/recipe.lua" >"$d/check" 2>&1; then ok "check${env:+-with-env}"; else no "check${env:+-with-env}" "$(cat "$d/check")"; fi
done

sum_of() {
  recipe_q "SELECT sum(o.value) FROM observations o JOIN datastreams s ON s.id = o.ds
            JOIN things t ON t.id = s.thing_id WHERE t.name = '$1' AND s.property = '$2'"
}
count_of() {
  recipe_q "SELECT count(*) FROM observations o JOIN datastreams s ON s.id = o.ds
            JOIN things t ON t.id = s.thing_id WHERE t.name = '$1' AND s.property = '$2'"
}
expect() { if near "$2" "$3" "$4"; then ok "$1"; else no "$1" "got '$2', want $3"; fi; }

recipe_run urban-data-platform
wait_for 20 has_value pegel-nahmerbach alert_hochwasser
wait_for 10 has_value telraam-9000003103 co2e_pkw
# One store, five sectors.
for pair in telraam-9000003101:count_pkw room-001:co2 industrie-partner-gas:energy fernwaerme-mitte:energy \
  pegel-nahmerbach:water_level baum-volkspark-12:soil_moisture; do
  n=$(count_of "${pair%%:*}" "${pair#*:}")
  if [ "${n:-0}" -gt 10 ]; then ok "sector-${pair%%:*}"; else no "sector-${pair%%:*}" "$n readings of $pair"; fi
done
csv=$R/data/industrie.csv
gas=$(awk -F, '$1 == "industrie-partner-gas" { s += $5 } END { printf "%.4f", s }' "$csv")
expect co2e-gas-bisko-247 "$(sum_of industrie-partner-gas co2e)" "$(python3 -c "print($gas * 0.247)")" 0.01
strom=$(awk -F, '$1 == "industrie-partner-strom" { s += $5 } END { printf "%.4f", s }' "$csv")
expect co2e-strom-bisko-505 "$(sum_of industrie-partner-strom co2e)" "$(python3 -c "print($strom * 0.505)")" 0.01
heat=$(awk -F, '$1 == "fernwaerme-mitte" && $2 == "energy" { s += $5 } END { printf "%.4f", s }' "$R/data/waerme.csv")
expect co2e-district-heating-local-factor "$(sum_of fernwaerme-mitte co2e)" "$(python3 -c "print($heat * 0.18)")" 0.01
if [ "$(count_of room-001 co2e)" -gt 10 ]; then ok co2e-school-meters; else no co2e-school-meters "no co2e of room-001"; fi
# The flood wave: opened once (1 at its start), closed once (0).
first=$(awk -F, '$1 == "pegel-nahmerbach" && $5 > 120 { print $4; exit }' "$R/data/klimaanpassung.csv")
opened=$(recipe_q "SELECT group_concat(o.value) FROM observations o JOIN datastreams s ON s.id = o.ds JOIN things t ON t.id = s.thing_id WHERE t.name = 'pegel-nahmerbach' AND s.property = 'alert_hochwasser' ORDER BY o.time")
if [ "$opened" = "1.0,0.0" ]; then ok flood-alert-opens-and-closes; else no flood-alert-opens-and-closes "alert values '$opened' (first above 120 cm at $first)"; fi
if [ "$(count_of pegel-volme-eckesey alert_hochwasser)" = 0 ]; then ok no-alert-below-threshold; else no no-alert-below-threshold "Volme alerted"; fi
if [ "$(count_of baum-friedrich-ebert-platz-3 alert_giessen)" -ge 1 ] && [ "$(count_of baum-volkspark-12 alert_giessen)" = 0 ]; then
  ok watering-alert
else
  no watering-alert "giessen alerts wrong"
fi

# Other systems: SensorThings API and the dashboard.
sta=$(curl -s "http://127.0.0.1:$port/v1.1/Things?\$filter=name%20eq%20'pegel-nahmerbach'&\$expand=Datastreams")
if grep -q '"name":"pegel-nahmerbach"' <<<"$sta" && grep -q 'Klimafolgenanpassung' <<<"$sta"; then ok sta-thing; else no sta-thing "$(head -c 300 <<<"$sta")"; fi
cnt=$(curl -s "http://127.0.0.1:$port/v1.1/Datastreams?\$filter=name%20eq%20'pegel-nahmerbach%20water_level'" | python3 -c "
import json, sys, urllib.request
v = json.load(sys.stdin)['value']
if not v: print(-1); sys.exit()
u = v[0]['Observations@iot.navigationLink'] + '?\$count=true&\$top=1'
print(json.load(urllib.request.urlopen(u))['@iot.count'])" 2>/dev/null)
if [ "$cnt" = 288 ]; then ok sta-observations-count; else no sta-observations-count "\$count $cnt, want 288"; fi
page=$(curl -s "http://127.0.0.1:$port/things/pegel-nahmerbach?from=2026-11-23&to=2026-11-26")
if grep -qF "Wasserstand" <<<"$page" && grep -qF "Hochwasserwarnung" <<<"$page"; then ok dashboard-pegel; else no dashboard-pegel "thing page lacks level or alert"; fi
if grep -q 'forward' "$d/urban-data-platform.log"; then no nothing-forwarded-by-default "a forward stage ran"; else ok nothing-forwarded-by-default; fi
recipe_shot urban-data-platform /
recipe_shot urban-data-platform-pegel "/things/pegel-nahmerbach?from=2026-11-23&to=2026-11-26"
if kk_stop; then ok sigterm-exit-0; else no sigterm-exit-0 "exit status $?"; fi

# LoRaWAN in, MQTT out.
if ! command -v mosquitto >/dev/null || ! command -v mosquitto_sub >/dev/null; then
  skip mqtt "mosquitto is not installed"
  exit $fail
fi
bport=$(free_port)
kk_broker_conf "$d" "$bport" 100000
kk_broker_start "$d" "$bport"
rm -rf "$d/urban-data-platform"
recipe_run urban-data-platform UDP_TTN_URL="mqtt://127.0.0.1:$bport" UDP_MQTT_URL="mqtt://127.0.0.1:$bport"
sleep 1
up=$(cat "$R/data/ttn-pegel-uplink.json")
for m in 0 10 20 30; do
  msg=$(python3 -c "
import json, sys
u = json.loads(sys.argv[1]); t = '2026-11-24T10:%02d:03.512Z' % int(sys.argv[2])
u['received_at'] = u['uplink_message']['received_at'] = t
u['uplink_message']['decoded_payload']['water_level_cm'] = 131.0 + int(sys.argv[2]) / 10
print(json.dumps(u))" "$up" "$m")
  mosquitto_pub -h 127.0.0.1 -p "$bport" -q 1 -t "v3/udp-klimaanpassung@hagen/devices/pegel-lennebruecke/up" -m "$msg"
done
last_level() { [ "$(recipe_value pegel-lennebruecke water_level)" = 134.0 ]; }
if wait_for 10 last_level; then
  ok lorawan-water-level
else
  no lorawan-water-level "latest '$(recipe_value pegel-lennebruecke water_level)', want 134: $(tail -3 "$d/urban-data-platform.log")"
fi
expect lorawan-four-uplinks "$(count_of pegel-lennebruecke water_level)" 4 0
wait_for 10 has_value pegel-lennebruecke alert_hochwasser
# The retained values on the broker: the latest level and the alert.
retained_is() {
  [ "$(timeout 5 mosquitto_sub -h 127.0.0.1 -p "$bport" -t "udp/pegel-lennebruecke/$1" -C 1 -W 2 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["value"])' 2>/dev/null)" = "$2" ]
}
if wait_for 20 retained_is water_level 134; then ok mqtt-forwarded-reading; else no mqtt-forwarded-reading "retained water_level is not 134"; fi
if wait_for 20 retained_is alert_hochwasser 1; then ok mqtt-forwarded-alert; else no mqtt-forwarded-alert "no retained alert_hochwasser = 1"; fi
# Only the selection is forwarded by default: no classroom CO2.
if timeout 5 mosquitto_sub -h 127.0.0.1 -p "$bport" -t 'udp/room-001/co2' -C 1 -W 2 >/dev/null 2>&1; then
  no mqtt-selection "room CO2 was forwarded"
else
  ok mqtt-selection
fi
if kk_stop; then ok mqtt-sigterm-exit-0; else no mqtt-sigterm-exit-0 "exit status $?"; fi
kk_broker_stop
exit $fail
