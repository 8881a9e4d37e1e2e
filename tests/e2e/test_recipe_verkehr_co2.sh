#!/usr/bin/env bash
# tests/e2e/test_recipe_verkehr_co2.sh - recipes/verkehr-co2: the sample
# week gives CO2e = vehicles x km x the table's factor and the modal split
# computed here from the counts; the Telraam JSON files served by a local
# API (TELRAAM_URL, key in X-Api-Key) give the same store as the embedded
# replay; a SensorThings server (STA_URL) with @iot.nextLink paging feeds
# the same calculation.
. "$(dirname "$0")/lib.sh" recipe-verkehr-co2
. "$(dirname "$0")/recipe_kit.sh"
kk_tmpdir

R=recipes/verkehr-co2
if "$K" check "$R/recipe.lua" >"$d/check" 2>&1; then ok check; else no check "$(cat "$d/check")"; fi

# Expected from the replayed readings: CO2e per segment over the week, and
# the modal split of Tuesday 17.11.2026 (local day) on the Schulweg.
read -r CO2_101 CO2_103 RAD_102 PKW_102 <<<"$(python3 - "$R/data/zaehlungen.jsonl" <<'PY'
import json, sys, datetime as dt, collections
km = {"telraam-9000003101": 0.8, "telraam-9000003102": 0.5, "telraam-9000003103": 1.6}
f = {"count_pkw": 220.5, "count_lkw": 890.61}
co2 = collections.Counter(); day = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["property"] in f:
        co2[r["thing"]] += r["value"] * km[r["thing"]] * f[r["property"]] / 1000
    t = dt.datetime.fromisoformat(r["time"].replace("Z", "+00:00")) + dt.timedelta(hours=1)
    if r["thing"] == "telraam-9000003102" and t.date() == dt.date(2026, 11, 17) and r["property"] in ("count_pkw", "count_lkw", "count_rad", "count_fuss"):
        day[r["property"]] += r["value"]
tot = sum(day.values())
print(co2["telraam-9000003101"], co2["telraam-9000003103"], 100 * day["count_rad"] / tot, 100 * day["count_pkw"] / tot)
PY
)"
TUE=$(python3 -c "import datetime as d; print(int(d.datetime(2026,11,16,23,tzinfo=d.timezone.utc).timestamp()*1000))")

sum_of() {
  recipe_q "SELECT sum(o.value) FROM observations o JOIN datastreams s ON s.id = o.ds
            JOIN things t ON t.id = s.thing_id WHERE t.name = '$1' AND s.property = '$2'"
}
expect() {
  if near "$2" "$3" "$4"; then ok "$1"; else no "$1" "got '$2', want $3"; fi
}

recipe_run verkehr-co2
wait_for 20 has_value telraam-9000003102 modal_split_rad
got=$(python3 -c "print($(sum_of telraam-9000003101 co2e_pkw) + $(sum_of telraam-9000003101 co2e_lkw))")
expect co2e-hauptstrasse "$got" "$CO2_101" 0.001
got=$(python3 -c "print($(sum_of telraam-9000003103 co2e_pkw) + $(sum_of telraam-9000003103 co2e_lkw))")
expect co2e-ringstrasse "$got" "$CO2_103" 0.001
expect modal-split-rad "$(recipe_value telraam-9000003102 modal_split_rad "$TUE")" "$RAD_102" 1e-9
expect modal-split-pkw "$(recipe_value telraam-9000003102 modal_split_pkw "$TUE")" "$PKW_102" 1e-9
daysum=$(recipe_value telraam-9000003102 co2e_strasse_day "$TUE")
parts=$(python3 -c "print($(recipe_value telraam-9000003102 co2e_pkw_day_sum "$TUE") + $(recipe_value telraam-9000003102 co2e_lkw_day_sum "$TUE"))")
expect co2e-day-is-pkw-plus-lkw "$daysum" "$parts" 1e-9
dirs=$(recipe_q "SELECT count(*) FROM datastreams WHERE property LIKE '%_lft' OR property LIKE '%_rgt'")
expect no-direction-datastreams "$dirs" 0 0
if grep -q 'pkw: 220.5 g CO2/vkm from DE-TREMOD6.02-derived' "$d/verkehr-co2.log" &&
  grep -q 'lkw: 890.61 g CO2e/vkm from DESNZ-2024' "$d/verkehr-co2.log"; then
  ok factors-logged-with-source
else
  no factors-logged-with-source "no factor lines in the log"
fi
page=$(curl -s "http://127.0.0.1:$port/things/telraam-9000003102?from=2026-11-16&to=2026-11-23")
for want in "Anteil Rad" "CO₂e Kfz am Tag" "Pkw je Stunde"; do
  if grep -qF "$want" <<<"$page"; then ok "page-has-${want// /_}"; else no "page-has-${want// /_}" "thing page lacks '$want'"; fi
done
recipe_q "SELECT t.name, s.property, s.unit, o.time, o.value FROM observations o
          JOIN datastreams s ON s.id = o.ds JOIN things t ON t.id = s.thing_id
          WHERE s.property IN ('count_pkw','count_lkw','count_rad','count_fuss','uptime','car_speed_v85')
          ORDER BY 1, 2, 4" >"$d/replay.txt"
recipe_shot verkehr-co2 "/things/telraam-9000003102?from=2026-11-16&to=2026-11-23"
if kk_stop; then ok sigterm-exit-0; else no sigterm-exit-0 "exit status $?"; fi

# The same week from the Telraam API (a local stand-in with the JSON files),
# and a counting station of a SensorThings server.
fport=$(free_port)
python3 tests/e2e/recipe_fixtures.py "$fport" "$d/api.log" &
fpid=$!
kk_on_exit() { kill "$fpid" 2>/dev/null; }
wait_port "$fport"
rm -rf "$d/verkehr-co2"
recipe_run verkehr-co2 TELRAAM_URL="http://127.0.0.1:$fport/v1/reports/traffic" TELRAAM_KEY=test-key \
  TELRAAM_START=2026-11-15T23:00:00Z TELRAAM_RATE=100/s TELRAAM_JITTER=0s \
  STA_URL="http://127.0.0.1:$fport/v1.1" STA_DATASTREAMS="7:zaehlstelle-7:pkw:1.2" \
  STA_START=2026-11-16T00:00:00Z STA_JITTER=0s
n=$(wc -l <"$d/replay.txt")
same() {
  recipe_q "SELECT t.name, s.property, s.unit, o.time, o.value FROM observations o
            JOIN datastreams s ON s.id = o.ds JOIN things t ON t.id = s.thing_id
            WHERE t.name LIKE 'telraam-%' AND s.property IN ('count_pkw','count_lkw','count_rad','count_fuss','uptime','car_speed_v85')
            ORDER BY 1, 2, 4" >"$d/api.txt"
  cmp -s "$d/replay.txt" "$d/api.txt"
}
if wait_for 30 same; then
  ok telraam-api-equals-replay; echo "# $n readings compared"
else
  no telraam-api-equals-replay "$(diff "$d/replay.txt" "$d/api.txt" | head -5)"
fi
if grep -q '"status": 403' "$d/api.log"; then no telraam-key-sent "a request without the key"; else ok telraam-key-sent; fi
if grep -q '"low_uptime"\|low_uptime' "$d/verkehr-co2.log"; then ok night-hours-rejected-with-reason; else no night-hours-rejected-with-reason "no low_uptime"; fi
if wait_for 20 test "$(sum_of zaehlstelle-7 count_pkw | cut -d. -f1)" = 3609 2>/dev/null; then
  ok sta-paged-observations
else
  no sta-paged-observations "count_pkw sum '$(sum_of zaehlstelle-7 count_pkw)', want 3609 (96 quarter hours)"
fi
expect sta-co2e "$(sum_of zaehlstelle-7 co2e_pkw)" "$(python3 -c "print(3609 * 1.2 * 0.2205)")" 0.001
if grep -q '"skip": 50' "$d/api.log"; then ok sta-followed-next-link; else no sta-followed-next-link "no second page"; fi
if kk_stop; then ok api-sigterm-exit-0; else no api-sigterm-exit-0 "exit status $?"; fi
exit $fail
