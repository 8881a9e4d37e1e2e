#!/usr/bin/env bash
# The open-data export through the real binary: a simulated school fills a
# store.sqlite database, `klimakit export` writes CSV, GeoJSON and the
# DCAT-AP.de catalog; tests/e2e/data/export/check_export.py checks them
# against the store (checksums with sha256sum and against the catalog,
# JSON-LD shape, CSV rows = store rows, GeoJSON, UTC times).  Then: the
# JSON-LD expands with jsonld.js when npm can fetch it (else skip),
# rollup resolutions, filters, usage and failure exit codes, and the
# periodic publish.export sink writing atomically while the pipeline runs.
set -u
. "$(dirname "$0")/lib.sh" export
H=tests/e2e/data/export
kk_tmpdir

# ---- a store with known content -------------------------------------------
# 3 rooms x 4 quantities x 100 rounds = 1200 readings; room-001 has a
# location, so its features carry a geometry.
cat > "$d/fill.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-fill", exit_when_done = true }
kk.pipe(kk.source.simulate { sensors = 3, realtime = false, count = 1200,
                             start = "2026-01-05T07:00:00Z" },
        kk.store.sqlite { path = "$d/db.sqlite",
          things = { ["room-001"] = { location = {7.47, 51.36},
                                      properties = { building = "Gymnasium" } } } })
LUA
if timeout 60 "$K" run "$d/fill.lua" --log-format text >"$d/fill.log" 2>&1; then
  ok fill
else
  no fill "exit $?: $(tail -3 "$d/fill.log")"
  exit 1
fi
n=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from observations').fetchone()[0])" "$d/db.sqlite")
[ "$n" = 1200 ] && ok store-count || no store-count "store holds $n observations, want 1200"

# ---- klimakit export ---------------------------------------------------------
out=$d/out
if "$K" export --store "sqlite:$d/db.sqlite" --out "$out" --publisher "Stadt Hagen" \
     --geocoding 05914000 --geocoding-text "Stadt Hagen" \
     --base-url https://opendata.example.de/klima >"$d/export.out" 2>"$d/export.err"; then
  ok cli-run
else
  no cli-run "exit $?: $(cat "$d/export.err")"
fi
grep -q "1200 rows" "$d/export.out" && ok cli-summary || no cli-summary "$(cat "$d/export.out")"
# Not a TTY: no progress bar on stderr.
[ ! -s "$d/export.err" ] && ok cli-no-progress-off-tty || no cli-no-progress-off-tty "$(head -c 200 "$d/export.err")"
if (cd "$out" && sha256sum --quiet -c checksums.sha256) >"$d/sums.out" 2>&1; then
  ok sha256sum
else
  no sha256sum "$(cat "$d/sums.out")"
fi
python3 $H/check_export.py "$out" "$d/db.sqlite" raw || fail=1

# DCAT-AP.de specifics of the catalog.
if r=$(python3 - "$out/catalog.jsonld" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
errs = []
ds = c["dcat:dataset"][0]
if ds["dct:license"]["@id"] != "http://dcat-ap.de/def/licenses/dl-by-de/2.0": errs.append("licence %r" % ds["dct:license"])
if ds["dcatde:politicalGeocodingURI"]["@id"] != "http://dcat-ap.de/def/politicalGeocoding/municipalityKey/05914000": errs.append("geocoding")
if ds["dcatde:politicalGeocodingLevelURI"]["@id"] != "http://dcat-ap.de/def/politicalGeocoding/Level/municipality": errs.append("level")
dist = ds["dcat:distribution"][0]
if not dist["dcat:downloadURL"]["@id"].startswith("https://opendata.example.de/klima/"): errs.append("url %r" % dist["dcat:downloadURL"])
if dist.get("dcatde:licenseAttributionByText") != "Stadt Hagen": errs.append("attribution")
if c["dct:publisher"]["foaf:name"] != "Stadt Hagen": errs.append("publisher")
if ds["dct:temporal"]["dcat:startDate"]["@value"] != "2026-01-05T07:00:00.000Z": errs.append("temporal %r" % ds["dct:temporal"])
print("; ".join(errs)); sys.exit(1 if errs else 0)
PY
); then ok dcat-ap-de-fields; else no dcat-ap-de-fields "$r"; fi

# ---- JSON-LD expansion with jsonld.js (optional: needs the npm registry) ----
if command -v node >/dev/null && command -v npm >/dev/null &&
   timeout 90 npm install --prefix "$d/npm" --no-audit --no-fund --silent jsonld >"$d/npm.log" 2>&1; then
  if r=$(NODE_PATH="$d/npm/node_modules" timeout 60 node - "$out/catalog.jsonld" <<'JS' 2>&1
const jsonld = require("jsonld");
const doc = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const D = "http://www.w3.org/ns/dcat#", S = "http://spdx.org/rdf/terms#";
jsonld.expand(doc).then((ex) => {
  const types = new Set(), algos = new Set();
  const walk = (n) => {
    if (Array.isArray(n)) return n.forEach(walk);
    if (!n || typeof n !== "object") return;
    [].concat(n["@type"] || []).forEach((t) => types.add(t));
    (n[S + "algorithm"] || []).forEach((a) => algos.add(a["@id"]));
    Object.values(n).forEach(walk);
  };
  walk(ex);
  const want = [D + "Catalog", D + "Dataset", D + "Distribution", S + "Checksum"];
  const missing = want.filter((t) => !types.has(t));
  if (missing.length || !algos.has(S + "checksumAlgorithm_sha256")) {
    console.log("missing " + missing.join(", ") + " algos " + [...algos].join(","));
    process.exit(1);
  }
  return jsonld.toRDF(doc, { format: "application/n-quads" }).then((nq) => {
    console.log(nq.split("\n").length + " quads");
  });
}).catch((e) => { console.log("error " + e.message); process.exit(1); });
JS
  ); then ok "jsonld-expand ($r)"; else no jsonld-expand "$r"; fi
else
  skip jsonld-expand "npm could not install jsonld (no registry access?)"
fi

# ---- rollups, filters, formats -------------------------------------------------
if "$K" export --store "sqlite:$d/db.sqlite" --out "$d/hour" --resolution hour >/dev/null 2>"$d/hour.err"; then
  python3 $H/check_export.py "$d/hour" "$d/db.sqlite" hour | sed 's/^\(ok\|FAIL\) export\//\1 export\/hour-/' | tee "$d/hour.chk"
  grep -q '^FAIL' "$d/hour.chk" && fail=1
else
  no hour "exit $?: $(cat "$d/hour.err")"
fi
"$K" export --store "sqlite:$d/db.sqlite" --out "$d/flt" --format csv --thing 'room-00*' \
  --property co2 --from 2026-01-05T08:00:00Z --to 2026-01-05T08:30:00Z >/dev/null 2>"$d/flt.err"
files=$(cd "$d/flt" 2>/dev/null && ls | tr '\n' ' ')
rows=$(($(wc -l < "$d/flt/co2-ppm.csv" 2>/dev/null || echo 0) - 1))
if [ "$files" = "checksums.sha256 co2-ppm.csv " ] && [ "$rows" = 90 ]; then
  ok filters
else
  no filters "files '$files', $rows rows (want 90: 3 rooms x 30 min)"
fi

# ---- usage and failures -------------------------------------------------------
"$K" export --help >/dev/null 2>&1; rc=$?
[ $rc = 0 ] && ok usage-help || no usage-help "exit $rc"
"$K" export >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok usage-missing || no usage-missing "exit $rc, want 2"
"$K" export --store "sqlite:$d/db.sqlite" --out "$d/x" --bogus 1 >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok usage-unknown-flag || no usage-unknown-flag "exit $rc, want 2"
"$K" export --store "sqlite:$d/db.sqlite" --out "$d/x" --geocoding 123 >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok usage-bad-geocoding || no usage-bad-geocoding "exit $rc, want 2"
"$K" export --store "sqlite:$d/nope.sqlite" --out "$d/x" >/dev/null 2>"$d/nope.err"; rc=$?
[ $rc = 1 ] && ok missing-store || no missing-store "exit $rc, want 1"
mkdir -p "$d/ro" && echo x > "$d/ro/file"
"$K" export --store "sqlite:$d/db.sqlite" --out "$d/ro/file/sub" >/dev/null 2>"$d/ro.err"; rc=$?
[ $rc = 1 ] && grep -q "cannot create" "$d/ro.err" && ok unwritable-out || no unwritable-out "exit $rc: $(cat "$d/ro.err")"

# ---- periodic export inside a running pipeline --------------------------------
# Real time: 2 rooms x 4 quantities every 150 ms, 240 readings = ~4.5 s;
# publish.export every second reads the same store.
cat > "$d/periodic.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-periodic", exit_when_done = true }
kk.pipe(kk.source.simulate { sensors = 2, interval = "150ms", count = 240,
                             start = "2026-01-05T07:00:00Z" },
        { kk.store.sqlite { name = "db", path = "$d/periodic.sqlite" },
          kk.publish.export { store = "db", dir = "$d/pub", every = "1s",
                              period = "all", publisher = "Stadt Hagen",
                              geocoding = "05914000",
                              datasets = { { property = "co2", title = "CO2 in Klassenräumen",
                                             keywords = { "Schule", "Luftqualität" } },
                                           { thing = "room-*", property = "air*" } } } })
LUA
if "$K" check "$d/periodic.lua" >"$d/check.out" 2>&1; then ok periodic-check; else no periodic-check "$(cat "$d/check.out")"; fi
python3 $H/watch_export.py "$K" "$d/periodic.lua" "$d/pub" "$d/periodic.log" || fail=1
left=$(ls -A "$d/pub" | grep -c '\.tmp' || true)
[ "$left" = 0 ] && ok periodic-no-tmp || no periodic-no-tmp "$left temporary files left"
if (cd "$d/pub" && sha256sum --quiet -c checksums.sha256) >"$d/psums.out" 2>&1; then
  ok periodic-sha256sum
else
  no periodic-sha256sum "$(cat "$d/psums.out")"
fi
if r=$(python3 - "$d/pub/catalog.jsonld" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
t = sorted(d["dct:title"] for d in c["dcat:dataset"])
kw = [d["dcat:keyword"] for d in c["dcat:dataset"] if d["dct:title"] == "CO2 in Klassenräumen"]
ok = t == ["CO2 in Klassenräumen", "air_temperature (Cel)"] and kw and "Schule" in kw[0]
print(t, kw); sys.exit(0 if ok else 1)
PY
); then ok periodic-datasets; else no periodic-datasets "$r"; fi

exit $fail
