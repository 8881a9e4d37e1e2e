#!/usr/bin/env bash
# tests/e2e/test_recipe_klima_challenges.sh - recipes/klima-challenges: the
# leaderboard shows teams and districts with points computed from the
# sample data (the cycling km recomputed here from the CSV), never a
# participant; small teams are left out; only aggregates reach the store;
# an upload through the token-protected endpoint counts, one without
# opt-in does not; a restart (which replays the sample files) counts
# nothing twice; screenshots at 1366 and 390 px.
. "$(dirname "$0")/lib.sh" recipe-klima-challenges
kk_tmpdir
R=recipes/klima-challenges/recipe.lua
DATA=recipes/klima-challenges/data
SHOTS=${KK_BUILD:-build}/screens
mkdir -p "$SHOTS"

if "$K" check "$R" >"$d/check" 2>&1; then ok check; else no check "$(cat "$d/check")"; fi

port=$(free_port)
export KLIMAKIT_HTTP=127.0.0.1:$port
base=http://$KLIMAKIT_HTTP
get() { curl -s --max-time 10 -H 'Cache-Control: no-cache' "$base$1"; }
# Points of a team as the page shows them (German digits).
points() { get /challenges | python3 -c '
import re, sys
html = sys.stdin.read()
m = re.search(r"<th scope=\"row\">" + re.escape(sys.argv[1]) + r"</th>.*?data-label=\"Punkte\">([\d.]+)</td>", html)
print(m.group(1).replace(".", "") if m else "none")' "$1"; }
ready() { [ "$(points 'Klasse 7b Oberschule Nord')" != none ] && [ "$(points 'Klasse 7b Oberschule Nord')" -gt 1000 ]; }

kk_start "$d/log" --data-dir "$d/data" "$R"
if wait_for 30 ready; then ok started; else no started "$(tail -5 "$d/log")"; fi
get /challenges >"$d/board.html"

# Cycling km of class 7b, recomputed from the sample files.
want=$(python3 - "$DATA" <<'EOF'
import csv, sys
d = sys.argv[1]
team = {r["id"]: r for r in csv.DictReader(open(d + "/teilnehmende.csv", encoding="utf-8"), delimiter=";")}
km = sum(float(r["value"]) for r in csv.DictReader(open(d + "/radkilometer.csv"))
         if team[r["thing"]]["team"] == "Klasse 7b Oberschule Nord" and team[r["thing"]]["opt_in"] == "ja")
print(("%.1f" % km).replace(".", ","))
EOF
)
grep -q "<th scope=\"row\">Klasse 7b Oberschule Nord</th>.*data-label=\"Rad statt Auto\">$want km<br>" "$d/board.html" &&
  ok cycling-km-by-hand || no cycling-km-by-hand "want $want km for 7b"
first=$(grep -o '<table class="stack board teams">.*' "$d/board.html" | grep -o '<th scope="row">[^<]*' | sed -n 1p)
[ "$first" = '<th scope="row">Klasse 7b Oberschule Nord' ] && ok energy-savers-lead || no energy-savers-lead "first row: $first"
grep -q 'Bäckerei Krume' "$d/board.html" && no small-team-hidden "a team of 2 is shown" || ok small-team-hidden
grep -q '1 Teams mit weniger als 3 Teilnehmenden' "$d/board.html" && ok small-team-note || no small-team-note "no note"
grep -qE 'p-[0-9a-f]{6}' "$d/board.html" && no no-pseudonyms "a pseudonym is on the public page" || ok no-pseudonyms
grep -q 'Faktor: BISKO-Faktor Strom Bundesmix' "$d/board.html" && grep -q 'Faktor: Schätzung: 337 g CO2e/kWh' "$d/board.html" &&
  ok factors-named || no factors-named "factor sources missing"
grep -q '<table class="stack board districts">' "$d/board.html" && grep -q '<th scope="row">Lindenau</th>' "$d/board.html" &&
  ok districts || no districts "no district table"

# Only aggregates in the store.
if command -v sqlite3 >/dev/null; then
  db=$(find "$d/data" -name '*.db' | head -1)
  q() { sqlite3 "$db" "$1" 2>&1; }
  np=$(q "SELECT count(*) FROM things WHERE name LIKE 'p-%'")
  nt=$(q "SELECT count(*) FROM things WHERE name LIKE 'team/%' OR name LIKE 'district/%'")
  [ "$np" = 0 ] && [ "$nt" -ge 8 ] && ok store-aggregates-only || no store-aggregates-only "participants $np, aggregates $nt"
else
  skip store-aggregates-only "sqlite3 not installed"
fi

# Uploads: a ride of a 7b member counts (12.5 km = 12.5 points more), one
# of a participant without opt-in does not, none without a token.
before=$(points 'Klasse 7b Oberschule Nord')
out=$(python3 - "$DATA" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/teilnehmende.csv", encoding="utf-8"), delimiter=";"))
print(next(r["id"] for r in rows if r["team"] == "Klasse 7b Oberschule Nord"),
      next(r["id"] for r in rows if r["opt_in"] == "nein"))
EOF
)
in7b=${out% *}
noopt=${out#* }
post() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$base/api/challenges/uploads" \
    -H 'Content-Type: application/json' "$@"
}
code=$(post -d "{\"thing\":\"$in7b\",\"property\":\"cycling_km\",\"unit\":\"km\",\"time\":\"2026-09-30T07:00:00Z\",\"value\":12.5}")
[ "$code" = 401 ] && ok upload-needs-token || no upload-needs-token "status $code"
code=$(post -H 'Authorization: Bearer challenges-demo' -d "[{\"thing\":\"$in7b\",\"property\":\"cycling_km\",\"unit\":\"km\",\"time\":\"2026-09-30T07:00:00Z\",\"value\":12.5},{\"thing\":\"$noopt\",\"property\":\"cycling_km\",\"unit\":\"km\",\"time\":\"2026-09-30T07:00:00Z\",\"value\":40}]")
[ "$code" = 202 ] && ok upload-202 || no upload-202 "status $code"
after=$(points 'Klasse 7b Oberschule Nord')
# Points are shown rounded: 12.5 more moves the total by 12 or 13.
delta=$((after - before))
[ "$delta" -ge 12 ] && [ "$delta" -le 13 ] && ok upload-counts || no upload-counts "7b: $before -> $after"
grep -q 'kk_rejected_total{stage="challenges",reason="no_opt_in"} [1-9]' <(curl -s "$base/metrics") &&
  ok no-opt-in-dropped || no no-opt-in-dropped "no no_opt_in count"

# A restart replays the sample files and the journal: nothing twice.
kk_stop || no restart-stop "exit status $?"
kk_start "$d/log" --data-dir "$d/data" "$R"
wait_for 30 ready || no restarted "$(tail -5 "$d/log")"
sleep 1
again=$(points 'Klasse 7b Oberschule Nord')
[ "$again" = "$after" ] && ok restart-counts-once || no restart-counts-once "7b: $after before, $again after the restart"

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
  shot "$base/challenges" "$SHOTS/klima-challenges-leaderboard-1366.png" 1366,1500
  shot "$base/challenges" "$SHOTS/klima-challenges-leaderboard-390.png" 390,4200
else
  skip screenshots "chromium is not installed"
fi

kk_stop && ok clean-exit || no clean-exit "exit status $?"
exit $fail
