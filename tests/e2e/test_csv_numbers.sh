#!/usr/bin/env bash
# Numbers in CSV and JSON output are the shortest text that reads back to
# the same double (issue #18 item 7: 29.22, never 29.219999999999999):
# sink.file (csv and jsonl) and the open-data CSV of `klimakit export`,
# from values that have no exact binary form.
set -u
. "$(dirname "$0")/lib.sh" csv_numbers
kk_tmpdir

python3 - "$d/in.jsonl" <<'PY'
import json, sys
vals = [29.22, 0.1, 1 / 3, 2.675, 1e-7, 123456.789, -17.3, 1e22]
with open(sys.argv[1], "w") as f:
    for i, v in enumerate(vals):
        f.write(json.dumps({"thing": "n", "property": "p%d" % i, "unit": "1",
                            "time": 1764000000000 + i * 1000, "value": v}) + "\n")
PY
cat >"$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
local src = kk.source.file { path = "$d/in.jsonl" }
kk.pipe(src, kk.sink.file { name = "csv", path = "$d/out.csv", format = "csv" })
kk.pipe(src, kk.sink.file { name = "jsonl", path = "$d/out.jsonl", format = "jsonl" })
kk.pipe(src, kk.store.sqlite { path = "$d/s.db" })
LUA
timeout --preserve-status 60 "$K" run "$d/r.lua" --log-format text >"$d/run.log" 2>&1 ||
  no run "exit $?: $(tail -3 "$d/run.log")"
"$K" export --store "sqlite:$d/s.db" --out "$d/ex" --format csv >"$d/export.log" 2>&1 ||
  no export "$(tail -3 "$d/export.log")"

# shortest IN TEXT...: every TEXT reads back as the value in IN and is no
# longer than Python's repr of it (the shortest round trip; "1e-07" and
# "1e-7" both fine).
shortest() {
  python3 - "$@" <<'PY'
import json, sys
want = [json.loads(l)["value"] for l in open(sys.argv[1])]
got = sys.argv[2:]
bad = [(w, g) for w, g in zip(want, got) if float(g) != w or len(g) > len(repr(w)) + 1]
print(bad if bad or len(got) != len(want) else "ok")
sys.exit(1 if bad or len(got) != len(want) else 0)
PY
}
csv_vals=$(tail -n +2 "$d/out.csv" | awk -F, '{print $NF}')
# shellcheck disable=SC2086
out=$(shortest "$d/in.jsonl" $csv_vals) && ok sink-csv-shortest || no sink-csv-shortest "$out: $(head -4 "$d/out.csv")"
json_vals=$(python3 -c 'import re, sys; [print(re.search(r"\"value\":([^,}]+)", l).group(1)) for l in open(sys.argv[1])]' "$d/out.jsonl")
# shellcheck disable=SC2086
out=$(shortest "$d/in.jsonl" $json_vals) && ok sink-jsonl-shortest || no sink-jsonl-shortest "$out: $(head -2 "$d/out.jsonl")"
ex_vals=$(for i in 0 1 2 3 4 5 6 7; do tail -n +2 "$d/ex/p$i-1.csv" | tr -d '\r' | awk -F, '{print $NF}'; done)
# shellcheck disable=SC2086
out=$(shortest "$d/in.jsonl" $ex_vals) && ok export-csv-shortest || no export-csv-shortest "$out: $(head -2 "$d/ex/p0-1.csv")"
grep -q '29.219999' "$d/out.csv" "$d/out.jsonl" "$d"/ex/*.csv && no no-long-tails "29.219999... written" || ok no-long-tails
exit $fail
