#!/usr/bin/env bash
# tests/e2e/test_recipe_bisko_bilanz.sh - recipes/bisko-bilanz: `klimakit
# check`, then a run on a fresh data directory and a free port: the store
# holds the balance by sector with its status, per capita and the path to
# 2040; the incomplete years (only municipal meters) are labelled and never
# judged "im Plan"; the CSV and SVG downloads answer; a restart continues
# without doubling the metered buildings; screenshots at 1366 and 390 px.
. "$(dirname "$0")/lib.sh" recipe_bisko_bilanz
kk_tmpdir
R=recipes/bisko-bilanz/recipe.lua

if "$K" check "$R" >"$d/check" 2>&1; then ok check; else no check "$(cat "$d/check")"; fi

port=$(free_port)
export KLIMAKIT_HTTP=127.0.0.1:$port
kk_start "$d/log" "$R" --data-dir "$d/data"
wait_port "$port" 20 || no start "$(tail -5 "$d/log")"
db="$d/data/stages/sqlite/klimakit.db"
q() { sqlite3 "$db" "$1" 2>/dev/null; }
# value THING PROPERTY YEAR: the stored value at local New Year of YEAR
value() {
  q "SELECT o.value FROM observations o JOIN datastreams s ON s.id = o.ds
     JOIN things t ON t.id = s.thing_id
     WHERE t.name = '$1' AND s.property = '$2'
       AND strftime('%Y', o.time / 1000 + 3600, 'unixepoch') = '$3'
     ORDER BY o.time DESC LIMIT 1"
}
# (eval: the store is read at every try, not once before the loop)
wait_for 20 eval 'test -n "$(value musterstadt target_path 2040 2>/dev/null)" &&
  test -n "$(value musterstadt co2e_total_weather_corrected 2021 2>/dev/null)"' || true


# 2021: households 159 920 t (150 GWh x 472 g + 280 GWh x 247 + ...).
t21=$(value musterstadt co2e_total 2021)
awk -v v="$t21" 'BEGIN{exit !(v > 571000 && v < 573000)}' && ok total_2021 ||
  no total_2021 "co2e_total 2021 = '$t21' (want 571 870)"
[ "$(value musterstadt balance_status 2021)" = "0.0" ] || [ "$(value musterstadt balance_status 2021)" = "0" ] &&
  ok final_2021 || no final_2021 "status 2021 $(value musterstadt balance_status 2021)"
st24=$(value musterstadt balance_status 2024)
case "$st24" in 1|1.0) ok provisional_2024 ;; *) no provisional_2024 "status '$st24'" ;; esac
st25=$(value musterstadt balance_status 2025)
case "$st25" in 2|2.0) ok incomplete_2025 ;; *) no incomplete_2025 "status '$st25'" ;; esac
pc=$(value musterstadt co2e_per_capita 2021)
awk -v v="$pc" 'BEGIN{exit !(v > 5.6 && v < 5.8)}' && ok per_capita || no per_capita "'$pc'"
[ -z "$(value musterstadt on_track 2025)" ] && ok never_on_track_incomplete ||
  no never_on_track_incomplete "on_track 2025 = $(value musterstadt on_track 2025)"
p40=$(value musterstadt target_path 2040)
case "$p40" in 25000|25000.0) ok path_reaches_2040 ;; *) no path_reaches_2040 "'$p40'" ;; esac
[ -n "$(value musterstadt co2e_total_weather_corrected 2021)" ] && ok weather_corrected_beside ||
  no weather_corrected_beside "no co2e_total_weather_corrected"

page=$(curl -s "http://$KLIMAKIT_HTTP/climate")
for want in "unvollständig" "vorläufig" "Zielpfad bis 2040" "nicht bewertet" "Datengüte" "je Einwohnerin"; do
  case "$page" in *"$want"*) ok "page_${want// /_}" ;; *) no "page_${want// /_}" "'$want' missing" ;; esac
done
csv=$(curl -s "http://$KLIMAKIT_HTTP/climate.csv?thing=musterstadt")
echo "$csv" | grep -q '^2025;unvollständig;' && ok csv_labels || no csv_labels "$(echo "$csv" | grep '^2025')"
echo "$csv" | grep -q '^2040;' && ok csv_2040 || no csv_2040 "no 2040 row"
svg=$(curl -s "http://$KLIMAKIT_HTTP/climate.svg?thing=musterstadt")
case "$svg" in "<?xml"*"<svg xmlns"*"</svg>") ok svg_download ;; *) no svg_download "${svg:0:80}" ;; esac

if command -v chromium >/dev/null; then
  mkdir -p build/screens
  for w in 1366 390; do
    chromium --headless --no-sandbox --disable-gpu --user-data-dir="$d/chrome" \
      --window-size=$w,1800 --screenshot="build/screens/bisko-bilanz-$w.png" \
      "http://$KLIMAKIT_HTTP/climate" >/dev/null 2>&1
    [ -s "build/screens/bisko-bilanz-$w.png" ] && ok "screenshot_$w" || no "screenshot_$w" "no png"
  done
else
  skip screenshots "no chromium"
fi

kk_stop && ok sigterm || no sigterm "exit status $?"
# A restart replays the meter file: cumulative readings are not counted twice.
m25=$(value musterstadt co2e_municipal 2025)
kk_start "$d/log2" "$R" --data-dir "$d/data"
wait_port "$port" 20 || no restart "$(tail -5 "$d/log2")"
sleep 2
m25b=$(value musterstadt co2e_municipal 2025)
[ -n "$m25" ] && [ "$m25" = "$m25b" ] && ok restart_continues || no restart_continues "$m25 -> $m25b"
kk_stop || no sigterm2 "exit status $?"
exit $fail
