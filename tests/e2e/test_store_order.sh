#!/usr/bin/env bash
# store.sqlite writes a transaction's rows grouped by datastream and in
# time order (counted and placed, each datastream's rows sorted by time
# when they came out of order), and sums the rollups as the rows go in.
# One transaction here holds, for one datastream, 200 readings in a
# scrambled time order (the merge sort) and, for another, 20 in reverse
# (the insertion sort); each has a reading followed later in the batch by
# two updates of the same time (emit { update = true }), scattered among
# the others.  The last update must win (the sort keeps arrival order
# among equal times), every other value must be stored once, and the
# hourly and daily rollups must equal what the stored values give.
set -u
. "$(dirname "$0")/lib.sh" store-order
kk_tmpdir
cat >"$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data", exit_when_done = true }
local src = kk.source.simulate { sensors = 1, realtime = false, count = 1,
                                 start = "2026-11-23T08:00:00Z", quantities = { "co2" } }
local base = 1763884800000 -- 2026-11-23T08:00:00Z
local function scenario(batch, emit)
  local function put(name, k, v, upd)
    emit { thing = name, property = "p", unit = "1", time = base + k * 60000,
           value = v, update = upd or nil }
  end
  -- big: minutes (37 k) mod 200, a scrambled order; minute 50 is updated
  -- to 1000 and then 2000 after 60 and 170 more readings.
  for i = 0, 199 do
    local k = (37 * i) % 200
    put("big", k, k)
    if i == 60 then put("big", 50, 1000, true) end
    if i == 170 then put("big", 50, 2000, true) end
  end
  -- small: minutes 19 down to 0; minute 7 updated to 700, then 800.
  for k = 19, 0, -1 do
    put("small", k, k)
    if k == 3 then put("small", 7, 700, true) end
    if k == 0 then put("small", 7, 800, true) end
  end
end
kk.pipe(src, scenario, kk.store.sqlite {})
LUA
out=$("$K" run "$d/r.lua" --log-level warn 2>&1) || no run "$out"
db=$d/data/stages/sqlite/klimakit.db
python3 - "$db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
base, H, D = 1763884800000, 3600000, 86400000
fails = 0
def check(name, ok, why):
    global fails
    print(("ok store-order/%s" % name) if ok else ("FAIL store-order/%s: %s" % (name, why)))
    fails += not ok
def rows(sql, *a):
    return db.execute(sql, a).fetchall()
JOIN = "JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id WHERE t.name = ?"
for thing, n, upd_k, final in (("big", 200, 50, 2000.0), ("small", 20, 7, 800.0)):
    want = {base + k * 60000: float(k) for k in range(n)}
    want[base + upd_k * 60000] = final
    got = dict(rows("SELECT o.time, o.value FROM observations o " + JOIN, thing))
    check("%s-values" % thing, got == want,
          "%d rows; differing: %s" % (len(got), sorted((t, got.get(t), v) for t, v in want.items() if got.get(t) != v)[:5]))
    for table, width in (("obs_hourly", H), ("obs_daily", D)):
        truth = {}
        for t, v in want.items():
            b = t - t % width
            c, s, lo, hi = truth.get(b, (0, 0.0, v, v))
            truth[b] = (c + 1, s + v, min(lo, v), max(hi, v))
        got = {r[0]: tuple(r[1:]) for r in rows(
            "SELECT o.bucket, o.count, o.sum, o.min, o.max FROM %s o " % table + JOIN, thing)}
        check("%s-%s" % (thing, table), got == truth, "got %s, want %s" % (sorted(got.items())[:3], sorted(truth.items())[:3]))
n = rows("SELECT count(*) FROM observations")[0][0]
check("nothing-else", n == 220, "%d observations, want 220" % n)
sys.exit(1 if fails else 0)
PY
[ $? = 0 ] || fail=1
grep -q 'kk_store_transactions_total{stage="sqlite"} 1$' "$d/data/metrics.prom" && ok one-transaction ||
  no one-transaction "$(grep kk_store_transactions "$d/data/metrics.prom")"
exit $fail
