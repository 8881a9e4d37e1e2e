#!/usr/bin/env bash
# recipes/luft-verkehr: the sample UBA and Telraam responses the recipe
# serves itself under /daten/ are polled and decoded; the UBA stations
# become things with name and place (decode.uba -> klimakit/thing.h ->
# the store); eight Sensor.Community pushes arrive at /sensor-community;
# calc.outdoor_air counts the limit exceedances; the map shows every
# station.  Screenshots of the map and the overview under
# build/screens/luft-verkehr-*.png.
. "$(dirname "$0")/lib.sh" recipe-luft-verkehr
kk_tmpdir
R=recipes/luft-verkehr/recipe.lua
out=$("$K" check "$R" 2>&1) && ok check || no check "$out"

port=$(free_port)
base=http://127.0.0.1:$port
export KLIMAKIT_HTTP=127.0.0.1:$port LUFT_MELDUNGEN=$d/meldungen.csv
kk_start "$d/kk.log" "$R" --data-dir "$d/data" --log-format text
wait_port "$port" 20 || { no start "no dashboard: $(tail -3 "$d/kk.log")"; exit 1; }
db=$d/data/stages/sqlite/klimakit.db
q() { sqlite3 "$db" "$1" 2>/dev/null; }

# The airrohr firmware's push, as data/sensor-community-*.json hold it.
codes=
for i in 1 2 3 4 5 6 7 8; do
  codes="$codes$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "X-Sensor: esp8266-100100$i" -H 'X-PIN: 1' \
    --data-binary @recipes/luft-verkehr/data/sensor-community-$i.json "$base/sensor-community") "
done
[ "$codes" = "202 202 202 202 202 202 202 202 " ] && ok sensor-pushes || no sensor-pushes "$codes"

uba_in() { [ "$(q "SELECT count(*) FROM observations o JOIN datastreams d ON d.id = o.ds
  JOIN things t ON t.id = d.thing_id WHERE t.name LIKE 'uba-%' AND d.property IN ('pm10', 'no2')")" = 100 ]; }
wait_for 30 uba_in && ok uba-hours-stored || no uba-hours-stored "$(q "SELECT count(*) FROM observations")"
desc() { [ "$(q "SELECT count(*) FROM things t JOIN locations l ON l.thing_id = t.id
  WHERE t.name IN ('uba-901', 'uba-902') AND json_extract(t.properties, '$.label') LIKE 'Musterstadt-%'")" = 2 ]; }
wait_for 10 desc && ok uba-stations-are-things ||
  no uba-stations-are-things "$(q "SELECT name, properties FROM things WHERE name LIKE 'uba-%'")"
loc=$(q "SELECT l.geojson FROM locations l JOIN things t ON t.id = l.thing_id WHERE t.name = 'uba-901'")
case $loc in *12.376*51.344*) ok uba-station-location ;; *) no uba-station-location "$loc" ;; esac
pm10_rows() {
  q "SELECT count(*) FROM observations o JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id
    WHERE t.name = 'esp8266-1001001' AND d.property = 'pm10'"
}
# The store commits within its commit_interval of the POST.
wait_for 10 eval '[ "$(pm10_rows)" = 1 ]'
v=$(pm10_rows)
[ "$v" = 1 ] && ok sensor-pm10-stored || no sensor-pm10-stored "$v"
# The Telraam poll runs beside the UBA ones (jitter up to 1 s): wait for it.
cars() { q "SELECT count(*) FROM observations o JOIN datastreams d ON d.id = o.ds WHERE d.property = 'count_car'"; }
wait_for 30 sh -c "[ \"\$(sqlite3 '$db' \"SELECT count(*) FROM observations o JOIN datastreams d ON d.id = o.ds WHERE d.property = 'count_car'\")\" -ge 20 ]" || true
c=$(cars)
[ "${c:-0}" -ge 20 ] && ok telraam-counts || no telraam-counts "$c car counts"
# The traffic station's PM10 day mean of the sample day is above 50 µg/m³;
# the background station's is not: one exceedance day each way.
ex() { q "SELECT max(o.value) FROM observations o JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id
  WHERE t.name = '$1' AND d.property = 'pm10_day_mean'"; }
m1=$(ex uba-901) m2=$(ex uba-902)
python3 -c "import sys; sys.exit(0 if float('${m1:-0}') > 50 and 0 < float('${m2:-0}') <= 50 else 1)" &&
  ok pm10-day-means || no pm10-day-means "traffic ${m1:-none}, background ${m2:-none}"
days=$(q "SELECT max(o.value) FROM observations o JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id
  WHERE t.name = 'uba-901' AND d.property = 'pm10_exceedance_days'")
[ "${days%.*}" = 1 ] && ok pm10-exceedance-day || no pm10-exceedance-day "pm10_exceedance_days of uba-901: '$days'"
grep -q "uba-901;alert_pm10_tag;1" "$d/meldungen.csv" && ok pm10-alert || no pm10-alert "$(cat "$d/meldungen.csv" 2>/dev/null | head -3)"

# The map: 2 UBA stations, 8 sensors, 2 counting points; names on it.
curl -s "$base/karte" >"$d/map.html"
mk=$(grep -o 'data-markers="[0-9]*"' "$d/map.html")
[ "$mk" = 'data-markers="12"' ] && ok map-all-stations || no map-all-stations "$mk"
grep -q 'Musterstadt-Mitte (Verkehr): ' "$d/map.html" && grep -q 'Ringstraße / Oper' "$d/map.html" &&
  ok map-names || no map-names "station names missing"
# The UBA stations' data is from the sample day: grey, with its date.
grep -o 'aria-label="Musterstadt-Mitte (Verkehr): [^"]*"' "$d/map.html" | grep -q 'keine Daten seit 2[56].11.2026' &&
  ok map-stale-grey || no map-stale-grey "$(grep -o 'aria-label="Musterstadt-Mitte[^"]*"' "$d/map.html")"
grep -q '<g class="m c[13]"' "$d/map.html" && ok map-classed || no map-classed "no marker judged by its limit"
curl -s "$base/" >"$d/ov.html"
grep -q '<h3><a href="/gruppe/Musterstadt">Musterstadt</a></h3>' "$d/ov.html" &&
  grep -q 'Sensoren an Verkehrsachsen' "$d/ov.html" && ok overview-groups || no overview-groups "groups missing"
grep -q 'Feinstaub PM10' "$d/ov.html" && ! grep -q 'ug/m3' "$d/ov.html" && ok overview-german-units ||
  no overview-german-units "PM10 label or unit"

S=${KK_BUILD:-build}/screens
for page in "/karte map" "/ overview" "/things/uba-901?from=2026-11-25&to=2026-11-26 station"; do
  set -- $page
  python3 tests/e2e/shots.py "$base$1" "$S/luft-verkehr-$2"; rc=$?
  [ $rc = 2 ] && { skip screenshots "no chromium"; break; }
  [ $rc = 0 ] && ok "screenshot $2" || no "screenshot $2" "no picture"
done
kk_stop && ok sigterm-exit-0 || no sigterm-exit-0 "exit status $?"
exit $fail
