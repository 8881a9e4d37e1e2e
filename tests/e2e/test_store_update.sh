#!/usr/bin/env bash
# A late reading updates a calculator's window; the re-emitted aggregate
# carries KK_READING_UPDATE and store.sqlite replaces the stored value and
# recomputes its rollup buckets (a plain redelivery would be ignored).
set -u
K=${KK_BIN:-build/klimakit}
d=$(mktemp -d)
fail=0
ok() { echo "ok store-update/$1"; }
no() { echo "FAIL store-update/$1: $2"; fail=1; }
# 10:00-10:59 UTC: values 10 and 20 (avg 15); 11:05 closes the window;
# then a late 10:30 reading of 60 changes the avg to 30.
cat > "$d/in.jsonl" <<'J'
{"thing":"t","property":"p","unit":"1","time":"2026-11-16T10:00:00Z","value":10}
{"thing":"t","property":"p","unit":"1","time":"2026-11-16T10:10:00Z","value":20}
{"thing":"t","property":"p","unit":"1","time":"2026-11-16T11:05:00Z","value":5}
{"thing":"t","property":"p","unit":"1","time":"2026-11-16T10:30:00Z","value":60}
J
cat > "$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
kk.pipe(kk.source.file { path = "$d/in.jsonl", batch = 1 },
        kk.calc.window { periods = { "hour" }, stats = { "avg" }, tz = "UTC" },
        kk.store.sqlite { path = "$d/db.sqlite" })
LUA
if "$K" run "$d/r.lua" --log-level warn 2>"$d/log"; then ok run; else no run "$(tail -3 "$d/log")"; fi
python3 - "$d/db.sqlite" <<'PY' && ok replaced-and-rolled-up || { no replaced-and-rolled-up "see above"; }
import sqlite3, sys, datetime
db = sqlite3.connect(sys.argv[1])
T = int(datetime.datetime(2026, 11, 16, 10, tzinfo=datetime.timezone.utc).timestamp() * 1000)
rows = db.execute("""select o.time, o.value from observations o join datastreams d on d.id = o.ds
                     where d.property = 'p_hour_avg' order by o.time""").fetchall()
print("# observations:", rows)
assert rows == [(T, 30.0)], rows
hour = db.execute("""select h.count, h.sum, h.min, h.max from obs_hourly h join datastreams d on d.id = h.ds
                     where d.property = 'p_hour_avg' and h.bucket = ?""", (T,)).fetchone()
print("# hourly rollup:", hour)
assert hour == (1, 30.0, 30.0, 30.0), hour
day = db.execute("""select h.count, h.sum from obs_daily h join datastreams d on d.id = h.ds
                    where d.property = 'p_hour_avg'""").fetchone()
assert day == (1, 30.0), day
PY
grep -q 'kk_store_updates_total{stage="sqlite"} [1-9]' "$d/data/metrics.prom" && ok counted || no counted "$(grep kk_store_updates "$d/data/metrics.prom")"
rm -rf "$d"
exit $fail
