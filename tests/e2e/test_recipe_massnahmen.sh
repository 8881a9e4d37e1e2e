#!/usr/bin/env bash
# tests/e2e/test_recipe_massnahmen.sh - recipes/massnahmen: the generated
# 818-measure catalogue loads and renders (overview, filters, one
# measure with every year's impact, 2024's negative one beside 2025's), a
# partner update through the authenticated endpoint shows up with its
# author, SIGKILL right after the 202 loses nothing, the JSON API and the
# store hold it; screenshots at 1366 and 390 px.
. "$(dirname "$0")/lib.sh" recipe-massnahmen
kk_tmpdir
R=recipes/massnahmen/recipe.lua
SHOTS=${KK_BUILD:-build}/screens
mkdir -p "$SHOTS"

if "$K" check "$R" >"$d/check" 2>&1; then ok check; else no check "$(cat "$d/check")"; fi

port=$(free_port)
export KLIMAKIT_HTTP=127.0.0.1:$port
export MASSNAHMEN_OPENDATA=$d/opendata
base=http://$KLIMAKIT_HTTP
get() { curl -s --max-time 10 "$base$1"; }
ready() { curl -sf --max-time 2 "$base/measures/KSK-001" | grep -q 'data-year="2025"'; }

kk_start "$d/log" --data-dir "$d/data" "$R"
if wait_for 30 ready; then ok started; else no started "$(tail -5 "$d/log")"; fi

# The overview: every measure of the catalogue, grouped by Handlungsfeld.
want=$(($(wc -l <recipes/massnahmen/data/massnahmen.csv) - 1))
get /measures >"$d/overview.html"
rows=$(grep -o '<tr><th scope="row" data-label="Maßnahme"><span><a href="/measures/' "$d/overview.html" | wc -l)
[ "$want" = 818 ] && [ "$rows" = 818 ] && ok overview-818 || no overview-818 "catalogue $want, rows $rows"
grep -q '818 von 818 Maßnahmen angezeigt' "$d/overview.html" && ok overview-count || no overview-count "no count line"
sections=$(grep -o '<section><h3>' "$d/overview.html" | wc -l)
[ "$sections" -ge 8 ] && ok overview-handlungsfelder || no overview-handlungsfelder "$sections sections"
grep -q 'class="light l2"' "$d/overview.html" && grep -q 'class="light l1"' "$d/overview.html" &&
  ok overview-lights || no overview-lights "no status lights"
grep -q '<tr class="sums"><th scope="row">Summe der angezeigten Maßnahmen</th>' "$d/overview.html" &&
  ok overview-sums || no overview-sums "no sum row"
t=$(curl -s -o /dev/null -w '%{time_total}' -H 'Cache-Control: no-cache' "$base/measures")
echo "# /measures with 818 measures rendered in ${t} s"

# Filters by GET query (no JavaScript): only late measures, only one field.
late=$(python3 -c 'import csv,sys; print(sum(r["status"] == "verzögert" for r in csv.DictReader(open(sys.argv[1], encoding="utf-8"), delimiter=";")))' recipes/massnahmen/data/massnahmen.csv)
get "/measures?status=late" >"$d/late.html"
n=$(grep -o '<tr><th scope="row" data-label="Maßnahme">' "$d/late.html" | wc -l)
l1=$(grep -c 'data-label="Zeitplan"><span><span class="light l1"' "$d/late.html")
[ "$n" = "$late" ] && [ "$late" -gt 10 ] && [ "$l1" = 0 ] && ok filter-status || no filter-status "late: csv $late, shown $n, on-time shown $l1"
get "/measures?sector=Mobilit%C3%A4t&q=Radvorrangroute" >"$d/mob.html"
grep -q 'KSK-003' "$d/mob.html" && ! grep -q 'KSK-001<' "$d/mob.html" && grep -q '<option value="Mobilität" selected>' "$d/mob.html" &&
  ok filter-sector-search || no filter-sector-search "filter form or result wrong"

# One measure: every year, 2024's negative impact next to 2025's.
get /measures/KSK-002 >"$d/m2.html"
grep -q '<tr data-year="2024"><th scope="row">2024</th><td class="num" data-label="Erwartet (t CO₂e)">85,0</td><td class="num neg" data-label="Erreicht (t CO₂e)">-12,5</td>' "$d/m2.html" &&
  grep -q '<tr data-year="2025"><th scope="row">2025</th><td class="num" data-label="Erwartet (t CO₂e)">85,0</td><td class="num" data-label="Erreicht (t CO₂e)">61,0</td>' "$d/m2.html" &&
  ok measure-every-year || no measure-every-year "$(grep -o '<tr data-year[^$]*' "$d/m2.html" | head -c 600)"
grep -q 'class="chart"' "$d/m2.html" && ok measure-chart || no measure-chart "no impact chart"
# The metered measure: the LED retrofit's saving from the meters.
get /measures/KSK-001 >"$d/m1.html"
grep -q 'data-label="Grundlage">gemessen</td>' "$d/m1.html" && grep -q '<figure class="indicators">' "$d/m1.html" &&
  ok measure-metered || no measure-metered "no metered years or indicator chart"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/measures/NOPE-1")
[ "$code" = 404 ] && ok measure-404 || no measure-404 "status $code"

# A partner update: without a token 401, with one 202; it shows up.
upd() {
  curl -s -o "$d/upd.out" -w '%{http_code}' --max-time 10 -X POST "$base/api/measures/updates" \
    -H 'Content-Type: application/json' "$@"
}
code=$(upd -d '{"thing":"measure/KSK-002","property":"completion","unit":"%","value":90}')
[ "$code" = 401 ] && ok update-needs-token || no update-needs-token "status $code"
code=$(upd -H 'Authorization: Bearer massnahmen-demo' -d '{"thing":"measure/KSK-002","property":"completion","unit":"%","value":85,"time":"2026-11-28T10:00:00Z","update":{"author":"Stadtwerke Musterstadt","status":"on_time","reported":{"2026":40},"note":"Wärmepumpe im Regelbetrieb"}}')
[ "$code" = 202 ] && ok update-202 || no update-202 "status $code: $(cat "$d/upd.out")"
get /measures/KSK-002 >"$d/m2b.html"
grep -q 'data-label="Gemeldet von">Stadtwerke Musterstadt</td>' "$d/m2b.html" &&
  grep -q 'Wärmepumpe im Regelbetrieb' "$d/m2b.html" && grep -q '85 %' "$d/m2b.html" &&
  ok update-shows || no update-shows "history or completion missing"

# SIGKILL right after the 202: the update is in the journal; after the
# restart it is there, once, and so is the first one.
code=$(upd -H 'Authorization: Bearer massnahmen-demo' -d '{"thing":"measure/KSK-002","property":"completion","unit":"%","value":95,"time":"2026-11-30T10:00:00Z","update":{"author":"Amt 62","phase":"completed","actual_end":"2026-11-30","note":"Abnahme erfolgt"}}')
kill -KILL "$kk_pid"
wait "$kk_pid" 2>/dev/null
kk_pid=
[ "$code" = 202 ] && ok kill-after-202 || no kill-after-202 "status $code"
kk_start "$d/log" --data-dir "$d/data" "$R"
wait_for 30 ready || no restart "$(tail -5 "$d/log")"
get /measures/KSK-002 >"$d/m2c.html"
n1=$(grep -c 'Abnahme erfolgt' "$d/m2c.html")
n2=$(grep -c 'Wärmepumpe im Regelbetrieb' "$d/m2c.html")
[ "$n1" = 1 ] && [ "$n2" = 1 ] && grep -q 'light l4' "$d/m2c.html" && ok kill-loses-nothing ||
  no kill-loses-nothing "after restart: second update $n1x, first $n2x"

# The JSON API and the store.
get /api/measures >"$d/api.json"
python3 - "$d/api.json" <<'EOF' && ok api-json || no api-json "catalogue JSON wrong"
import json, sys
c = json.load(open(sys.argv[1]))["catalogues"][0]["measures"]
m = {x["id"]: x for x in c}
assert len(c) == 818, len(c)
k = m["KSK-002"]
assert k["phase"] == "completed" and k["completion"] == 95, k
assert [h["author"] for h in k["history"]] == ["Stadtwerke Musterstadt", "Amt 62"], k["history"]
y = {x["year"]: x for x in k["years"]}
assert y[2024]["achieved_t"] == -12.5 and y[2025]["achieved_t"] == 61, y
assert m["KSK-001"]["years"][-1]["achieved_from"] == "metered", m["KSK-001"]["years"]
EOF
if command -v sqlite3 >/dev/null; then
  db=$(find "$d/data" -name '*.db' | head -1)
  # The store commits within its commit_interval (500 ms) of the update.
  for _ in $(seq 50); do
    v=$(sqlite3 "$db" "SELECT o.value FROM observations o JOIN datastreams s ON s.id = o.ds JOIN things t ON t.id = s.thing_id WHERE t.name = 'measure/KSK-002' AND s.property = 'completion' ORDER BY o.time DESC LIMIT 1" 2>&1)
    [ "$v" = 95.0 ] || [ "$v" = 95 ] && break
    sleep 0.1
  done
  [ "$v" = 95.0 ] || [ "$v" = 95 ] && ok store-completion || no store-completion "store says '$v'"
else
  skip store-completion "sqlite3 not installed"
fi

# The open-data export: both measures datasets, in the catalog and the
# checksum list.
if wait_for 20 test -s "$d/opendata/massnahmen.csv"; then
  rows=$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], encoding="utf-8"))))' "$d/opendata/massnahmen.csv")
  [ "$rows" = 818 ] && grep -q '^KSK-002,.*,-12.5,gemeldet' "$d/opendata/massnahmen-jahre.csv" &&
    ok export-measures || no export-measures "massnahmen.csv has $rows rows"
  (cd "$d/opendata" && sha256sum -c --quiet checksums.sha256) && grep -q 'massnahmen-jahre.csv' "$d/opendata/checksums.sha256" &&
    grep -q '"dct:title":[[:space:]]*"Klimaschutzmaßnahmen: Wirkung je Jahr"' "$d/opendata/catalog.jsonld" &&
    ok export-catalog || no export-catalog "checksums or DCAT entry missing"
else
  no export-measures "no massnahmen.csv in $d/opendata"
fi

# Screenshots (look at them): overview, one measure, both widths.
if command -v chromium >/dev/null; then
  shot() {
    local prof
    prof=$(mktemp -d)
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$prof" --hide-scrollbars --window-size="$3" --screenshot="$2" "$1" >/dev/null 2>&1
    rm -rf "$prof"
    [ -s "$2" ] && ok "screenshot-$(basename "$2" .png)" || no "screenshot-$(basename "$2" .png)" "no $2"
  }
  shot "$base/measures?sector=Kommunale%20Geb%C3%A4ude" "$SHOTS/massnahmen-overview-1366.png" 1366,1400
  shot "$base/measures?sector=Kommunale%20Geb%C3%A4ude" "$SHOTS/massnahmen-overview-390.png" 390,2400
  shot "$base/measures/KSK-002" "$SHOTS/massnahmen-measure-1366.png" 1366,1600
  shot "$base/measures/KSK-002" "$SHOTS/massnahmen-measure-390.png" 390,3000
else
  skip screenshots "chromium is not installed"
fi

kk_stop && ok clean-exit || no clean-exit "exit status $?"
exit $fail
