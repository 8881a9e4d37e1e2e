#!/usr/bin/env bash
# tests/e2e/test_recipe_pv_ausbau.sh - recipes/pv-ausbau: the inventory
# (Münster's MaStR columns) and the roof potential become datastreams with
# the use of the potential computed right; the municipal plants' production
# gives avoided CO2e with the stated factor, named on /quarter; PV_FACTOR
# and PV_FACTOR_SOURCE switch the factor.
. "$(dirname "$0")/lib.sh" recipe-pv-ausbau
. "$(dirname "$0")/recipe_kit.sh"
kk_tmpdir

R=recipes/pv-ausbau
if "$K" check "$R/recipe.lua" >"$d/check" 2>&1; then ok check; else no check "$(cat "$d/check")"; fi

read -r NET SHARE PROD RATHAUS <<<"$(python3 - "$R/data" <<'PY'
import csv, sys
d = sys.argv[1]
stock = list(csv.DictReader(open(d + "/pv-bestand.csv")))
pot = sum(float(r["Potenzial_kWp"]) for r in csv.DictReader(open(d + "/pv-potenzial.csv")))
net = float(stock[-1]["Nettonennleistung"])
prod = list(csv.DictReader(open(d + "/erzeugung.csv")))
total = sum(float(r["value"]) for r in prod)
rathaus = sum(float(r["value"]) for r in prod if r["thing"] == "pv-rathaus")
print(net, 100 * net / pot, total, rathaus)
PY
)"

recipe_run pv-ausbau
Q=quarter/kommunale-daecher
# The store commits what several stages send in its own order: wait for
# the inventory and the potential too, not only for the calculator.
if wait_for 20 has_value $Q co2e_avoided_year && wait_for 10 has_value pv-bestand/musterstadt nettonennleistung &&
  wait_for 10 has_value pv-potenzial/musterstadt ausschoepfung && wait_for 10 has_value pv-rathaus energy_year_sum; then
  ok stored
else
  no stored "nothing in $db: $(tail -3 "$d/pv-ausbau.log")"
fi
expect() {
  local name=$1 got=$2 want=$3 eps=$4
  if near "$got" "$want" "$eps"; then ok "$name"; else no "$name" "got '$got', want $want"; fi
}
expect inventory-net "$(recipe_value pv-bestand/musterstadt nettonennleistung)" "$NET" 0
expect inventory-units "$(recipe_value pv-bestand/musterstadt anlagen)" 5005 0
expect potential-use "$(recipe_value pv-potenzial/musterstadt ausschoepfung)" "$SHARE" 1e-9
# A running total: the calculator updates it as the year's production
# flows, the store commits it within its commit_interval.
wait_for 30 value_near $Q production_year "$PROD" 0.01
wait_for 10 value_near $Q co2e_avoided_year "$(python3 -c "print($PROD * 0.86)")" 0.01
expect production-year "$(recipe_value $Q production_year)" "$PROD" 0.01
expect avoided-year "$(recipe_value $Q co2e_avoided_year)" "$(python3 -c "print($PROD * 0.86)")" 0.01
expect avoided-per-plant "$(recipe_q "SELECT sum(o.value) FROM observations o JOIN datastreams s ON s.id = o.ds JOIN things t ON t.id = s.thing_id WHERE t.name = 'pv-rathaus' AND s.property = 'co2e_avoided'")" "$(python3 -c "print($RATHAUS * 0.86)")" 0.01
expect plant-year-sum "$(recipe_value pv-rathaus energy_year_sum)" "$RATHAUS" 0.01
days=$(recipe_q "SELECT count(*) FROM observations o JOIN datastreams s ON s.id = o.ds WHERE s.property = 'production_day'")
expect every-day-of-2025 "$days" 365 0
f=$(recipe_q "SELECT s.property FROM datastreams s WHERE s.property LIKE 'factor:%'")
if [ "$f" = "factor:stated:GEG 2020 Anlage 9, Verdrängungsstrommix" ]; then ok factor-named; else no factor-named "factor datastream '$f'"; fi

page=$(curl -s "http://127.0.0.1:$port/quarter")
for want in "kommunale-daecher" "GEG 2020 Anlage 9, Verdrängungsstrommix" "860" "BISKO" "Vermiedene CO₂e" "12/2025"; do
  if grep -qF "$want" <<<"$page"; then ok "page-has-${want// /_}"; else no "page-has-${want// /_}" "/quarter lacks '$want'"; fi
done
# Producers only: no consumption columns, no self-sufficiency.
if grep -qF "Autarkiegrad (%)" <<<"$page"; then no page-producers-only "consumption columns shown"; else ok page-producers-only; fi
over=$(curl -s "http://127.0.0.1:$port/")
if grep -qF "Ausschöpfung des Dachpotenzials" <<<"$over" && grep -qF "pv-potenzial/nordviertel" <<<"$over"; then ok overview-potential; else no overview-potential "overview lacks the potential"; fi
recipe_shot pv-ausbau /quarter
recipe_shot pv-ausbau-bestand "/things/pv-bestand%2Fmusterstadt?from=2015-01-01&to=2026-01-31"
if kk_stop; then ok sigterm-exit-0; else no sigterm-exit-0 "exit status $?"; fi

# Another factor, with its source, from the environment.
rm -rf "$d/pv-ausbau"
recipe_run pv-ausbau PV_FACTOR=505 PV_FACTOR_SOURCE="BISKO Bundesmix 2022"
wait_for 20 has_value $Q co2e_avoided_year
wait_for 10 value_near $Q co2e_avoided_year "$(python3 -c "print($PROD * 0.505)")" 0.01
expect env-factor "$(recipe_value $Q co2e_avoided_year)" "$(python3 -c "print($PROD * 0.505)")" 0.01
if curl -s "http://127.0.0.1:$port/quarter" | grep -qF "BISKO Bundesmix 2022"; then ok env-factor-named; else no env-factor-named "source not on /quarter"; fi
kk_stop >/dev/null
exit $fail
