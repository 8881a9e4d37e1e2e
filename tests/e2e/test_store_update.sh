#!/usr/bin/env bash
# A late reading updates a calculator's window; the re-emitted aggregate
# carries KK_READING_UPDATE and the store replaces the stored value and
# recomputes its rollup buckets (a plain redelivery would be ignored).
# The same for store.sqlite and store.postgres (a private cluster, see
# tests/e2e/lib.sh; skipped without the binaries).
set -u
. "$(dirname "$0")/lib.sh" store-update
kk_tmpdir
# 10:00-10:59 UTC: values 10 and 20 (avg 15); 11:05 closes the window;
# then a late 10:30 reading of 60 changes the avg to 30.  Then the first
# three lines again: a redelivery, which must change nothing.
cat > "$d/in.jsonl" <<'J'
{"thing":"t","property":"p","unit":"1","time":"2026-11-16T10:00:00Z","value":10}
{"thing":"t","property":"p","unit":"1","time":"2026-11-16T10:10:00Z","value":20}
{"thing":"t","property":"p","unit":"1","time":"2026-11-16T11:05:00Z","value":5}
{"thing":"t","property":"p","unit":"1","time":"2026-11-16T10:30:00Z","value":60}
J
# Both stores answer the same SQL, printed space-separated.
SQL_OBS="select o.value from observations o join datastreams d on d.id = o.ds where d.property = 'p_hour_avg' order by o.time"
SQL_HOUR="select h.count, h.sum, h.min, h.max from obs_hourly h join datastreams d on d.id = h.ds where d.property = 'p_hour_avg'"
SQL_DAY="select h.count, h.sum from obs_daily h join datastreams d on d.id = h.ds where d.property = 'p_hour_avg'"

# check TAG STORE_LUA QUERY_CMD...: runs the recipe, then the SQL checks.
check() {
  local tag=$1 store=$2
  shift 2
  cat > "$d/$tag.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$tag" }
kk.pipe(kk.source.file { path = "$d/in.jsonl", batch = 1 },
        kk.calc.window { periods = { "hour" }, stats = { "avg" }, tz = "UTC" },
        $store)
LUA
  if "$K" run "$d/$tag.lua" --log-level warn 2>"$d/$tag.log"; then ok "$tag/run"
  else no "$tag/run" "$(tail -3 "$d/$tag.log")"; return; fi
  local got
  got=$("$@" "$SQL_OBS" | tr '\n' ' ')
  [ "$got" = "30 " ] && ok "$tag/value-replaced" || no "$tag/value-replaced" "p_hour_avg observations: '$got', want one value 30"
  got=$("$@" "$SQL_HOUR")
  [ "$got" = "1 30 30 30" ] && ok "$tag/hourly-recomputed" || no "$tag/hourly-recomputed" "count sum min max '$got', want '1 30 30 30'"
  got=$("$@" "$SQL_DAY")
  [ "$got" = "1 30" ] && ok "$tag/daily-recomputed" || no "$tag/daily-recomputed" "count sum '$got', want '1 30'"
  grep -q "kk_store_updates_total{stage=\"$tag\"} [1-9]" "$d/data-$tag/metrics.prom" && ok "$tag/counted" ||
    no "$tag/counted" "$(grep kk_store_updates "$d/data-$tag/metrics.prom")"
  # The same input again (a new data dir: the journal starts over, so
  # every reading is redelivered): raw rows and windows stay as they are.
  rm -rf "$d/data-$tag"
  "$K" run "$d/$tag.lua" --log-level warn 2>>"$d/$tag.log" || no "$tag/rerun" "$(tail -3 "$d/$tag.log")"
  got="$("$@" "$SQL_OBS" | tr '\n' ' ')/$("$@" "$SQL_HOUR")"
  [ "$got" = "30 /1 30 30 30" ] && ok "$tag/rerun-unchanged" || no "$tag/rerun-unchanged" "'$got', want '30 /1 30 30 30'"
  # (Calculator outputs are all flagged as updates, "the figure as it
  # stands": the replayed 15 may replace 30 for a moment, the replayed 30
  # puts it back.)  The rerun must really have written:
  grep -q "kk_store_transactions_total{stage=\"$tag\"} [1-9]" "$d/data-$tag/metrics.prom" && ok "$tag/rerun-written" ||
    no "$tag/rerun-written" "no transaction: $(grep kk_store_transactions "$d/data-$tag/metrics.prom")"
}

sq() { python3 -c 'import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print(*["%g" % v if isinstance(v, float) else v for v in r])' "$d/db.sqlite" "$1"; }
check sqlite "kk.store.sqlite { path = \"$d/db.sqlite\" }" sq

if kk_pg_init "$d" && kk_pg_up "$d"; then
  kk_pg_psql "$d" -qc 'CREATE DATABASE kk' >/dev/null
  export KK_UPD_PG=$(kk_pg_conninfo "$d" kk)
  pq() { kk_pg_psql "$d" -d kk -AtF ' ' -c "$1"; }
  check postgres "kk.store.postgres { env = \"KK_UPD_PG\" }" pq
else
  skip postgres "cannot start a private PostgreSQL: $(kk_pg_why "$d")"
fi
exit $fail
