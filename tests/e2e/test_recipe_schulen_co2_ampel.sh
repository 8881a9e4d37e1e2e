#!/usr/bin/env bash
# recipes/schulen-co2-ampel: a week of 19 simulated classrooms in three
# schools into SQLite, lesson-time minutes, alerts to a file, and the two
# views of the dashboard: public (only means over >= 5 rooms of a school;
# a school with 3 rooms is not shown) and internal (the demo token).
# Screenshots of the public overview and map and of a school's rooms on
# the internal map under build/screens/schulen-co2-ampel-*.png.
. "$(dirname "$0")/lib.sh" recipe-schulen-co2-ampel
kk_tmpdir
R=recipes/schulen-co2-ampel/recipe.lua
out=$("$K" check "$R" 2>&1) && ok check || no check "$out"

port=$(free_port)
base=http://127.0.0.1:$port
export KLIMAKIT_HTTP=127.0.0.1:$port SCHULE_MELDUNGEN=$d/meldungen.csv
kk_start "$d/kk.log" "$R" --data-dir "$d/data" --log-format text
wait_port "$port" 20 || { no start "no dashboard: $(tail -3 "$d/kk.log")"; exit 1; }
db=$d/data/stages/sqlite/klimakit.db
# The week of history is in the store: 19 rooms x 4 quantities every 2 min.
rows() { curl -s -H "Authorization: Bearer demo-schule" "$base/metrics" |
  sed -n 's/^kk_store_rows_total{stage="sqlite"} //p'; }
wait_for 60 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer demo-schule' $base/metrics | sed -n 's/^kk_store_rows_total{stage=\"sqlite\"} //p')\" -ge 380000 ]" &&
  ok backfill-stored || no backfill-stored "rows: $(rows)"

# The rooms' names, schools and places from data/raeume.csv are things of
# the store (klimakit/thing.h), with their locations.
n=$(sqlite3 "$db" "SELECT count(*) FROM things t JOIN locations l ON l.thing_id = t.id
  WHERE json_extract(t.properties, '$.group') IS NOT NULL AND json_extract(t.properties, '$.label') LIKE 'Raum %'")
[ "$n" = 19 ] && ok things-in-store || no things-in-store "19 described rooms with a location expected, got '$n'"

# Realistic classrooms: lesson-time CO2 mostly below 1500 ppm, with peaks
# above 2000 ppm in some rooms, never every room above 4000 ppm.
python3 - "$db" >"$d/co2.txt" <<'PY'
import sqlite3, sys, datetime, collections
from zoneinfo import ZoneInfo
db = sqlite3.connect(sys.argv[1]); tz = ZoneInfo("Europe/Berlin")
q = db.execute("""SELECT t.name, o.time, o.value FROM observations o JOIN datastreams d ON d.id = o.ds
                  JOIN things t ON t.id = d.thing_id WHERE d.property = 'co2'""")
les, day_max = [], collections.defaultdict(float)
for thing, ms, v in q:
    t = datetime.datetime.fromtimestamp(ms / 1000, tz)
    if t.weekday() < 5 and 480 <= t.hour * 60 + t.minute < 810:
        les.append(v); k = (thing, t.date()); day_max[k] = max(day_max[k], v)
les.sort(); n = len(les); dm = list(day_max.values())
print(n, sum(v < 1500 for v in les) / n, sum(v > 2000 for v in dm), sum(v > 4000 for v in dm) / len(dm), les[n // 2])
PY
read nles below1500 peaks over4000 median <"$d/co2.txt"
python3 -c "import sys; sys.exit(0 if $nles > 10000 and $below1500 >= 0.8 and $peaks >= 1 and $over4000 < 0.05 and 700 < $median < 1300 else 1)" &&
  ok co2-realistic || no co2-realistic "lesson readings $nles, share < 1500 ppm $below1500, room-days > 2000 ppm $peaks, share > 4000 $over4000, median $median"

# Minutes above 1000 ppm per room and day, counted in lessons only.
m=$(sqlite3 "$db" "SELECT count(*), max(o.value) FROM observations o JOIN datastreams d ON d.id = o.ds WHERE d.property = 'minutes_above_1000ppm'")
case $m in 0\|*|"") no lesson-minutes "no minutes_above_1000ppm: $m" ;;
  *) max=${m#*|}; python3 -c "import sys; sys.exit(0 if 0 < $max <= 330 else 1)" && ok lesson-minutes ||
     no lesson-minutes "a day has $max minutes above 1000 ppm (lessons are 330 min)" ;; esac

# Alerts: episodes opened only in lesson time, written to the file.
python3 - "$db" >"$d/alerts.txt" <<'PY'
import sqlite3, sys, datetime
from zoneinfo import ZoneInfo
db = sqlite3.connect(sys.argv[1]); tz = ZoneInfo("Europe/Berlin")
n = bad = 0
for ms, in db.execute("""SELECT o.time FROM observations o JOIN datastreams d ON d.id = o.ds
                         WHERE d.property IN ('alert_co2_lueften', 'alert_co2_sofort') AND o.value = 1"""):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz); n += 1
    bad += not (t.weekday() < 5 and 480 <= t.hour * 60 + t.minute < 810)
print(n, bad)
PY
read nal bad <"$d/alerts.txt"
[ "${nal:-0}" -gt 0 ] && [ "$bad" = 0 ] && ok alerts-in-lessons || no alerts-in-lessons "$nal episodes, $bad outside lessons"
grep -q ";alert_co2_lueften;1$" "$d/meldungen.csv" && ok alerts-file || no alerts-file "$(head -3 "$d/meldungen.csv")"

# The public view: schools only, never a room.
code=$(curl -s -o "$d/pub.html" -w '%{http_code}' "$base/")
[ "$code" = 200 ] && grep -q 'Grundschule am Park' "$d/pub.html" && grep -q 'Gymnasium Nord' "$d/pub.html" &&
  ok public-schools || no public-schools "HTTP $code"
grep -q 'Raum [0-9]' "$d/pub.html" && no public-no-rooms "a room name is on the public page" || ok public-no-rooms
grep -o 'Förderzentrum West.\{0,400\}' "$d/pub.html" | grep -q 'Zu wenige Messstellen' &&
  ! grep -o 'Förderzentrum West.\{0,300\}' "$d/pub.html" | grep -q 'ppm' && ok public-small-school-hidden ||
  no public-small-school-hidden "the school with 3 rooms shows values"
api=$(curl -s "$base/api/latest")
echo "$api" | python3 -c "
import json, sys
a = json.load(sys.stdin)
ok = a and all('thing' not in x and x['things'] >= 5 for x in a) and not any(x['group'] == 'fs-west' for x in a)
sys.exit(0 if ok else 1)" && ok public-api-aggregates || no public-api-aggregates "${api:0:300}"
for p in /things/room-001 "/csv?thing=room-001&property=co2" /metrics /indoor; do
  c=$(curl -s -o /dev/null -w '%{http_code}' "$base$p")
  [ "$c" = 401 ] && ok "public-401 $p" || no "public-401 $p" "HTTP $c"
done
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer demo-schule" "$base/things/room-001")
[ "$c" = 200 ] && ok internal-thing-200 || no internal-thing-200 "HTTP $c"
curl -s -H "Authorization: Bearer demo-schule" "$base/" >"$d/int.html"
grep -q 'Raum 101' "$d/int.html" && grep -q '<h3><a href="/gruppe/gs-am-park">Grundschule am Park</a></h3>' "$d/int.html" &&
  ok internal-rooms-by-school || no internal-rooms-by-school "$(grep -o '<h3>.\{0,80\}' "$d/int.html" | head -3)"
curl -s "$base/karte" >"$d/map.html"
mk=$(grep -o 'data-markers="[0-9]*"' "$d/map.html")
[ "$mk" = 'data-markers="2"' ] && ok public-map-schools || no public-map-schools "$mk"
curl -s -H "Authorization: Bearer demo-schule" "$base/karte?gruppe=gs-am-park" >"$d/map2.html"
mk=$(grep -o 'data-markers="[0-9]*"' "$d/map2.html")
[ "$mk" = 'data-markers="10"' ] && ok internal-map-rooms || no internal-map-rooms "$mk"

# Screenshots (look at them).
S=${KK_BUILD:-build}/screens
for page in "/ overview" "/karte map" "/gruppe/gs-am-park school"; do
  set -- $page
  python3 tests/e2e/shots.py "$base$1" "$S/schulen-co2-ampel-$2"; rc=$?
  [ $rc = 2 ] && { skip screenshots "no chromium"; break; }
  [ $rc = 0 ] && ok "screenshot $2" || no "screenshot $2" "no picture"
done
python3 tests/e2e/shots.py "$base/karte?gruppe=gs-am-park" "$S/schulen-co2-ampel-rooms-internal" --bearer demo-schule &&
  ok "screenshot rooms-internal" || no "screenshot rooms-internal" "no picture"

kk_stop && ok sigterm-exit-0 || no sigterm-exit-0 "exit status $?"
exit $fail
