#!/usr/bin/env bash
# publish.http: the things table (labels, groups) through klimakit/thing.h
# into the store; public and internal views (bearer token, the login form's
# HttpOnly session cookie, logout, a thing marked public = false); open
# alert episodes (calc.alert's alert_* contract) on the internal overview
# only; and the expected interval after a restart: a sensor that reported
# every minute and stopped 20 minutes ago is stale before and after the
# restart (derived from the store, not the 2 h default).
. "$(dirname "$0")/lib.sh" dashboard-views
kk_tmpdir
port=$(free_port)
base=http://127.0.0.1:$port
printf '%s\n' "$(printf %s geheim-123 | sha256sum | cut -d' ' -f1)" >"$d/tokens"
python3 - "$d" <<'PY'
import json, sys, time
d = sys.argv[1]; now = int(time.time() * 1000) // 60000 * 60000
with open(d + "/readings.jsonl", "w") as f:
    def w(thing, prop, unit, t, v):
        f.write(json.dumps({"thing": thing, "property": prop, "unit": unit, "time": t, "value": v}) + "\n")
    for k in range(60):
        w("keller", "co2", "ppm", now - 20 * 60000 - (59 - k) * 60000, 500 + k)
        w("raum-a", "co2", "ppm", now - (59 - k) * 60000, 900 + 5 * k)
        w("intern-1", "co2", "ppm", now - (59 - k) * 60000, 700)
    w("raum-a", "alert_co2_high", "1", now - 30 * 60000, 1)
    w("raum-b", "co2", "ppm", now, 800)
    w("raum-b", "alert_co2_high", "1", now - 50 * 60000, 1)
    w("raum-b", "alert_co2_high", "1", now - 40 * 60000, 0)
PY
: >"$d/empty.jsonl"
WEB="kk.publish.http { listen = '127.0.0.1:$port', store = 'sqlite', tokens_file = '$d/tokens',
  public = { min_group = 0, pages = { '/', '/karte', '/gruppe/*' } },
  things = { ['raum-a'] = { label = 'Raum A', group = 'haus-1', group_label = 'Haus 1', lat = 51.34, lon = 12.37 },
             ['raum-b'] = { label = 'Raum B', group = 'haus-1' },
             ['intern-1'] = { label = 'Serverraum', public = false },
             keller = { label = 'Keller', lat = 51.341, lon = 12.372 } } }"
for r in run:readings viewer:empty; do
  printf 'local kk = require "klimakit"\nkk.config { exit_when_done = false }\nlocal store = kk.store.sqlite { path = "%s/store.db" }\nkk.pipe(kk.source.file { path = "%s/%s.jsonl" }, { store, %s })\n' \
    "$d" "$d" "${r#*:}" "$WEB" >"$d/${r%%:*}.lua"
done
kk_start "$d/kk.log" "$d/run.lua" --data-dir "$d/data"
wait_port "$port" 20 || { no start "$(tail -3 "$d/kk.log")"; exit 1; }
A=(-H "Authorization: Bearer geheim-123")
in_store() { [ "$(sqlite3 "$d/store.db" "SELECT count(*) FROM observations" 2>/dev/null)" -ge 184 ]; }
wait_for 20 in_store || no stored "the readings did not reach the store"

# The things table reached the store through the thing API.
l=$(sqlite3 "$d/store.db" "SELECT json_extract(properties, '$.label') || '/' || json_extract(properties, '$.group_label')
  FROM things WHERE name = 'raum-a'")
[ "$l" = "Raum A/Haus 1" ] && ok things-in-store || no things-in-store "raum-a: '$l'"

# Public view: labels, no internal thing, no alerts; thing pages are not
# in public.pages.
curl -s "$base/" >"$d/pub.html"
grep -q '>Raum A<' "$d/pub.html" && ok public-labels || no public-labels "no 'Raum A'"
grep -q 'Serverraum\|intern-1' "$d/pub.html" && no public-hides-internal "the internal thing is shown" || ok public-hides-internal
grep -q 'Offene Meldungen' "$d/pub.html" && no public-no-alerts "alerts on the public page" || ok public-no-alerts
c=$(curl -s -o /dev/null -w '%{http_code}' "$base/things/raum-a")
[ "$c" = 401 ] && ok public-thing-page-internal || no public-thing-page-internal "HTTP $c (not in public.pages)"
c=$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")
[ "$c" = 401 ] && ok metrics-401 || no metrics-401 "HTTP $c"

# Internal view: open alerts (raum-a open, raum-b closed), the stale cellar.
curl -s "${A[@]}" "$base/" >"$d/int.html"
sec=$(sed -n 's/.*<section class="alerts"//p' "$d/int.html" | sed 's/<\/section>.*//')
case $sec in *'Raum A'*) case $sec in *'Raum B'*) no open-alerts "the closed episode is listed" ;; *) ok open-alerts ;; esac ;;
  *) no open-alerts "no open alert of Raum A" ;; esac
grep -o '<tr class="stale">.\{0,300\}' "$d/int.html" | grep -q 'Keller.*keine Daten seit' && ok stale-before-restart ||
  no stale-before-restart "the cellar is not stale"
grep -q '>Serverraum<' "$d/int.html" && ok internal-shows-all || no internal-shows-all "no Serverraum"

# Login form: a wrong token 401, the right one a session cookie.
c=$(curl -s -o /dev/null -w '%{http_code}' --data 'token=falsch&next=/things/raum-a' "$base/login")
[ "$c" = 401 ] && ok login-wrong-401 || no login-wrong-401 "HTTP $c"
hdr=$(curl -s -D - -o /dev/null --data 'token=geheim-123&next=/things/raum-a' "$base/login" | tr -d '\r')
cookie=$(echo "$hdr" | sed -n 's/^[Ss]et-[Cc]ookie: \(kk_session=[0-9a-f]*\);.*/\1/p')
echo "$hdr" | grep -qi '^set-cookie: kk_session=.*HttpOnly; SameSite=Strict' && echo "$hdr" | grep -q '^HTTP/1.1 303' &&
  echo "$hdr" | grep -qi '^location: /things/raum-a' && ok login-cookie || no login-cookie "$(echo "$hdr" | head -5)"
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$base/things/raum-a")
[ "$c" = 200 ] && ok session-200 || no session-200 "HTTP $c"
curl -s -o /dev/null -H "Cookie: $cookie" "$base/logout"
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$base/things/raum-a")
[ "$c" = 401 ] && ok logout-ends-session || no logout-ends-session "HTTP $c"

# Guessing is slowed down: after 20 failed logins in a minute, 429.
codes=$(for i in $(seq 21); do curl -s -o /dev/null -w '%{http_code} ' --data "token=rate-$i" "$base/login"; done)
case $codes in *"401 429 "*) ok login-rate-limited ;; *) no login-rate-limited "$codes" ;; esac

# The map: the two things with a place (the internal thing has none).
mk=$(curl -s "${A[@]}" "$base/karte" | grep -o 'data-markers="[0-9]*"')
[ "$mk" = 'data-markers="2"' ] && ok map-markers || no map-markers "$mk"

# Restart with nothing new: the cellar stays stale (interval from the store).
kk_stop >/dev/null
kk_start "$d/kk2.log" "$d/viewer.lua" --data-dir "$d/data2"
wait_port "$port" 20 || { no restart "$(tail -3 "$d/kk2.log")"; exit 1; }
curl -s "${A[@]}" "$base/" >"$d/int2.html"
grep -o '<tr class="stale">.\{0,300\}' "$d/int2.html" | grep -q 'Keller.*keine Daten seit' && ok stale-after-restart ||
  no stale-after-restart "the cellar is not stale after the restart"
grep -o '<tr class="stale">.\{0,300\}' "$d/int2.html" | grep -q 'Raum A' && no fresh-after-restart "Raum A is stale" ||
  ok fresh-after-restart
grep -o 'id="stale".*' "$d/int2.html" | grep -q 'Minute' && ok interval-shown ||
  no interval-shown "the stale list names no expected interval"
kk_stop && ok sigterm-exit-0 || no sigterm-exit-0 "exit status $?"

# PostgreSQL keeps the descriptions too (merged into its things table).
if ! "$K" modules 2>/dev/null | grep -q '^store.postgres'; then
  skip postgres "store.postgres is not built"
elif ! { kk_pg_init "$d" && kk_pg_up "$d"; }; then
  skip postgres "cannot start a private PostgreSQL ($(kk_pg_why "$d"))"
else
  kk_pg_psql "$d" -qc 'CREATE DATABASE kk' >/dev/null
  export KK_TEST_PG=$(kk_pg_conninfo "$d" kk)
  printf 'local kk = require "klimakit"\nkk.config { exit_when_done = false }\nlocal store = kk.store.postgres { env = "KK_TEST_PG", things = { keller = { properties = { floor = -1 } } } }\nkk.pipe(kk.source.file { path = "%s/readings.jsonl" }, { store, %s })\n' \
    "$d" "${WEB//store = \'sqlite\'/store = \'postgres\'}" >"$d/pg.lua"
  kk_start "$d/kk3.log" "$d/pg.lua" --data-dir "$d/data3"
  wait_port "$port" 20 || no pg-start "$(tail -3 "$d/kk3.log")"
  pgq() { kk_pg_psql "$d" -d kk -tAc "$1" 2>/dev/null; }
  got() { [ "$(pgq "SELECT t.properties->>'label' || '/' || (t.properties->>'floor') || '/' || (l.geojson->'coordinates'->>0)
    FROM things t JOIN locations l ON l.thing_id = t.id WHERE t.name = 'keller'")" = "Keller/-1/12.372" ]; }
  wait_for 20 got && ok postgres-things-merged ||
    no postgres-things-merged "$(pgq "SELECT name, properties FROM things WHERE name = 'keller'")"
  curl -s "${A[@]}" "$base/" | grep -q '>Raum A<' && ok postgres-dashboard-labels || no postgres-dashboard-labels "no label"
  kk_stop >/dev/null
fi
exit $fail
