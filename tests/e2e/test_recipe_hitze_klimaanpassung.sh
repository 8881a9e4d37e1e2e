#!/usr/bin/env bash
# tests/e2e/test_recipe_hitze_klimaanpassung.sh - recipes/hitze-klimaanpassung:
# `klimakit check`; a run on the sample (DWD daily values as readings, own
# sensors in a heat wave): heat days per year with the long-term mean in the
# store, the urban heat island (more tropical nights on the market square
# than in the park), the /heat page, screenshots at 1366 and 390 px; then
# the real DWD format: DWD_URL pointing at a local HTTP server that serves
# the produkt_klima_tag text, decoded by decode.dwd, gives the same counts.
. "$(dirname "$0")/lib.sh" recipe_hitze_klimaanpassung
kk_tmpdir
[ -n "$KK_KEEP" ] && echo "tmp: $d"
R=recipes/hitze-klimaanpassung/recipe.lua
DATA=recipes/hitze-klimaanpassung/data

if "$K" check "$R" >"$d/check" 2>&1; then ok check; else no check "$(cat "$d/check")"; fi

port=$(free_port)
export KLIMAKIT_HTTP=127.0.0.1:$port
kk_start "$d/log" "$R" --data-dir "$d/a"
wait_port "$port" 20 || no start "$(tail -5 "$d/log")"
# value DB THING PROPERTY YEAR
value() {
  sqlite3 "$1/stages/sqlite/klimakit.db" "SELECT o.value FROM observations o
     JOIN datastreams s ON s.id = o.ds JOIN things t ON t.id = s.thing_id
     WHERE t.name = '$2' AND s.property = '$3'
       AND strftime('%Y', o.time / 1000 + 3600, 'unixepoch') = '$4'
     ORDER BY o.time DESC LIMIT 1" 2>/dev/null
}
wait_for 20 test -n "$(value "$d/a" dwd-3404 hot_days_year 2025)" || true
# The sample's 2025: 16 hot days (TXK >= 30 in the file), counted by hand
# with awk from the DWD text itself.
want=$(awk -F';' 'NR > 1 && substr($2,1,4) == "2025" && $16 + 0 >= 30 {n++} END {print n}' \
  "$DATA"/produkt_klima_tag_*.txt)
got=$(value "$d/a" dwd-3404 hot_days_year 2025)
[ -n "$want" ] && [ "${got%.0}" = "$want" ] && ok hot_days_2025 || no hot_days_2025 "got '$got', want '$want'"
tn=$(awk -F';' 'NR > 1 && substr($2,1,4) == "2022" && $17 + 0 >= 20 {n++} END {print n+0}' \
  "$DATA"/produkt_klima_tag_*.txt)
got=$(value "$d/a" dwd-3404 tropical_nights_year 2022)
[ "${got%.0}" = "$tn" ] && ok tropical_nights_2022 || no tropical_nights_2022 "got '$got', want '$tn'"
lt=$(value "$d/a" dwd-3404 hot_days_longterm_year 2025)
[ -n "$lt" ] && ok longterm_mean || no longterm_mean "no hot_days_longterm_year"
m=$(value "$d/a" sensor-marktplatz tropical_nights_year 2025)
p=$(value "$d/a" sensor-stadtpark tropical_nights_year 2025)
awk -v m="$m" -v p="$p" 'BEGIN{exit !(m > p)}' && ok heat_island || no heat_island "marktplatz '$m' vs park '$p'"
[ -n "$(value "$d/a" sensor-marktplatz alert_heisser_tag 2025)" ] && ok heat_alert || no heat_alert "no alert_heisser_tag"

page=$(curl -s "http://$KLIMAKIT_HTTP/heat")
for w in "Tropennächte" "Eigene Messorte" "sensor-marktplatz" "Mittel"; do
  case "$page" in *"$w"*) ok "page_${w// /_}" ;; *) no "page_${w// /_}" "'$w' missing" ;; esac
done
if command -v chromium >/dev/null; then
  mkdir -p build/screens
  for w in 1366 390; do
    chromium --headless --no-sandbox --disable-gpu --user-data-dir="$d/chrome" \
      --window-size=$w,1600 --screenshot="build/screens/hitze-klimaanpassung-$w.png" \
      "http://$KLIMAKIT_HTTP/heat" >/dev/null 2>&1
    [ -s "build/screens/hitze-klimaanpassung-$w.png" ] && ok "screenshot_$w" || no "screenshot_$w" "no png"
  done
else
  skip screenshots "no chromium"
fi
kk_stop && ok sigterm || no sigterm "exit status $?"

# The DWD's own format through source.http_poll and decode.dwd.
hport=$(free_port)
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$DATA" >"$d/http.log" 2>&1 &
hpid=$!
kk_on_exit() { kill "$hpid" 2>/dev/null; }
wait_port "$hport" 10
f=$(basename "$DATA"/produkt_klima_tag_*.txt)
DWD_URL="http://127.0.0.1:$hport/$f" kk_start "$d/log2" "$R" --data-dir "$d/b"
wait_port "$port" 20 || no start_dwd "$(tail -5 "$d/log2")"
wait_for 20 test -n "$(value "$d/b" dwd-3404 hot_days_year 2025)" || true
got=$(value "$d/b" dwd-3404 hot_days_year 2025)
[ "${got%.0}" = "$want" ] && ok dwd_format_hot_days || no dwd_format_hot_days "got '$got', want '$want' ($(grep -i 'warn\|error' "$d/log2" | head -2))"
kk_stop && ok sigterm_dwd || no sigterm_dwd "exit status $?"
exit $fail
