#!/usr/bin/env bash
# The open-data decoders end to end: a local HTTP server (formats.py) plays
# the UBA air data API, Telraam, a SensorThings server and the DWD open-data
# server with the fixtures of tests/e2e/data/formats/ (their documented
# examples and a realistic day each); a recipe polls them with
# source.http_poll, decodes with decode.uba / telraam / sensorthings / dwd
# and stores into store.sqlite; every stored reading (thing, property,
# unit, time, value) is compared with expected_<x>.json, and nothing else
# may be stored.  Without source.http_poll in the build each format is
# skipped with that reason.
set -u
. "$(dirname "$0")/lib.sh" formats
FORMATS="uba telraam sensorthings dwd"
if ! "$K" modules 2>/dev/null | grep -q '^source\.http_poll '; then
  for x in $FORMATS; do skip "$x" "source.http_poll not in this build"; done
  exit 0
fi
srv=
kk_on_exit() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; }
kk_tmpdir
E=$ROOT/tests/e2e/data/formats
port=$(free_port)
(cd "$d" && exec python3 "$ROOT/tests/e2e/formats.py" serve "$port") &
srv=$!
wait_port "$port" 10 || { no server "the fixture server did not start"; exit 1; }
base="http://127.0.0.1:$port"
# Two whole windows before now; the server ignores them (the fixtures hold
# fixed days), the source polls each window once.
start=$(date -u -d '-2 hours' +%Y-%m-%dT%H:00:00Z)

# poll URL [DECODER_OPTS]: one source.http_poll.
poll() {
  echo "kk.source.http_poll { url = '$1', every = '1s', window = '1h', start = '$start', format = 'raw' }"
}

# run NAME DECODER STORE_OPTS EXPECTED... -- SOURCE...: a recipe with one
# pipe per source into one store; waits until the store holds as many
# readings as expected (60 s at most), stops, compares.
run() {
  local name=$1 dec=$2 sopts=$3
  shift 3
  local exp=()
  while [ "$1" != -- ]; do exp+=("$E/expected_$1.json"); shift; done
  shift
  local n
  n=$(python3 -c 'import json,sys; print(len({(r["thing"],r["property"],r["unit"],r["time"]) for f in sys.argv[1:] for r in json.load(open(f))["readings"]}))' "${exp[@]}")
  {
    echo 'local kk = require "klimakit"'
    echo "kk.config { data_dir = '$d/data-$name' }"
    echo "local store = kk.store.sqlite { path = '$d/$name.db'$sopts }"
    for src in "$@"; do echo "kk.pipe($src, $dec, store)"; done
  } >"$d/$name.lua"
  if ! "$K" check "$d/$name.lua" >"$d/$name.check" 2>&1; then
    no "$name" "recipe does not check: $(head -3 "$d/$name.check" | tr '\n' ' ')"
    return
  fi
  kk_start "$d/$name.log" "$d/$name.lua" --log-format text
  wait_for 60 sh -c "[ \$(python3 '$ROOT/tests/e2e/formats.py' count '$d/$name.db') -ge $n ]"
  kk_stop || true
  if python3 "$ROOT/tests/e2e/formats.py" check "$d/$name.db" "${exp[@]}" >"$d/$name.diff"; then
    ok "$name"
  else
    no "$name" "$(tail -1 "$d/$name.diff"); first: $(head -1 "$d/$name.diff"); log: $(grep -m1 -E 'error|rejected' "$d/$name.log")"
  fi
}

# UBA: the OpenAPI example, a day of NO2, O3 and the PM10 day mean, the
# stations and components (metadata: nothing stored, nothing rejected).
# The station's location comes from the store's things option, as the
# guide shows.
m="$base/api/air_data/v3/measures/json?date_from={from}&date_to={to}"
run uba "kk.decode.uba {}" \
  ", things = { ['uba-7'] = { location = { 13.5268, 51.4627 }, properties = { name = 'Elsterwerda', code = 'DEBB007' } } }" \
  uba_docs uba_day -- \
  "$(poll "$m&component=docs")" "$(poll "$m&component=5&scope=2")" \
  "$(poll "$m&component=3&scope=2")" "$(poll "$m&component=1&scope=1")" \
  "$(poll "$base/api/air_data/v3/stations/json?lang=de")" \
  "$(poll "$base/api/air_data/v3/components/json?lang=de")"
loc=$(python3 tests/e2e/formats.py thing "$d/uba.db" uba-7 2>/dev/null)
case $loc in *13.5268*51.4627*) ok uba-station-location ;; *) no uba-station-location "things.uba-7 location: '$loc'" ;; esac
grep -q "rejected value.*missing_value.*NO2" "$d/uba.log" && ok uba-null-counted ||
  no uba-null-counted "the null NO2 value was not logged as a rejection"

# Telraam's reports/traffic is a POST with the window in a JSON body.
tbody='{\"level\":\"segments\",\"format\":\"per-hour\",\"id\":\"348917\",\"time_start\":\"{from:%Y-%m-%d %H:%M:%SZ}\",\"time_end\":\"{to:%Y-%m-%d %H:%M:%SZ}\"}'
tpoll() {
  echo "kk.source.http_poll { url = '$1', body = \"$tbody\", every = '1s', window = '1h', start = '$start', format = 'raw' }"
}
run telraam "kk.decode.telraam {}" "" telraam_docs telraam_day -- \
  "$(tpoll "$base/docs/v1/reports/traffic")" "$(tpoll "$base/v1/reports/traffic")"
# The server saw POSTs with a JSON body naming each window.
w0=$(date -u -d "$start" '+%Y-%m-%d %H:%M:%SZ')
if grep -q "^POST /v1/reports/traffic application/json {\"level\":\"segments\",.*\"time_start\":\"$w0\"" "$d/requests.log"; then
  ok telraam-post-body
else
  no telraam-post-body "no POST with the window in its body: $(grep -m1 reports/traffic "$d/requests.log")"
fi
grep -q "low_uptime" "$d/telraam.log" && ok telraam-night-rejected ||
  no telraam-night-rejected "no low_uptime rejection logged for the night hours"

o="$base/v1.1/Datastreams(4711)/Observations?\$orderby=phenomenonTime&\$top=12"
run sensorthings \
  "kk.decode.sensorthings { map = { ['4711'] = { thing = 'radzaehler-12', property = 'count_bike', unit = '1' } } }" \
  "" sta_docs sta_day -- \
  "$(poll "$base/docs/v1.1/Observations?\$filter=phenomenonTime%20gt%20{from}")" \
  "$(poll "$o&\$skip=0")" "$(poll "$o&\$skip=12")"

run dwd "kk.decode.dwd {}" "" dwd_docs dwd_day dwd_gradtage -- \
  "$(poll "$base/climate/daily/kl/produkt_klima_tag_docs.txt?w={from}")" \
  "$(poll "$base/climate/daily/kl/recent/tageswerte_KL_01358_akt.zip?w={from}")" \
  "$(poll "$base/techn/monthly/heating_degreedays/hdd_3807/recent/gradtage_202601.csv?w={from}")"
exit $fail
