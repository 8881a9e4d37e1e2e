#!/usr/bin/env bash
# tests/e2e/test_recipe_open_data.sh - recipes/open-data: the export is
# harvested as a portal would: the catalog served by a web server has what
# DCAT-AP.de requires and recommends (publisher, licence dl-by-de/2.0 with
# attribution, themes, frequency, availability, geocoding, access URLs),
# every distribution downloads with its SHA-256; what must not be published
# (single classrooms, office occupancy) is not, and the classroom mean is
# the mean of at least five rooms.
. "$(dirname "$0")/lib.sh" recipe-open-data
. "$(dirname "$0")/recipe_kit.sh"
kk_tmpdir

R=recipes/open-data
if "$K" check "$R/recipe.lua" >"$d/check" 2>&1; then ok check; else no check "$(cat "$d/check")"; fi

mkdir -p "$d/www"
wport=$(free_port)
(cd "$d/www" && exec python3 -m http.server "$wport" --bind 127.0.0.1 >/dev/null 2>&1) &
wpid=$!
kk_on_exit() { kill "$wpid" 2>/dev/null; }
wait_port "$wport"
pub="$d/www/klima"
recipe_run open-data OPENDATA_DIR="$pub" OPENDATA_BASE_URL="http://127.0.0.1:$wport/klima/" OPENDATA_BACKFILL=1d
if wait_for 20 test -s "$pub/catalog.jsonld" -a -s "$pub/checksums.sha256"; then ok exported; else no exported "no catalog in $pub: $(tail -3 "$d/open-data.log")"; fi
wait_for 10 has_value grundschule-am-park co2_mean_rooms

# Harvest: the catalog from the web server, then every distribution.
if out=$(python3 - "http://127.0.0.1:$wport/klima/catalog.jsonld" <<'PY'
import hashlib, json, sys, urllib.request
c = json.load(urllib.request.urlopen(sys.argv[1]))
errs = []
def need(o, k, what):
    if k not in o or o[k] in ("", [], None): errs.append("%s lacks %s" % (what, k))
for k in ("dct:title", "dct:description", "dct:publisher"): need(c, k, "catalog")
if c.get("dct:publisher", {}).get("foaf:name") != "Stadt Musterstadt, Fachbereich Umwelt und Klimaschutz":
    errs.append("publisher name")
titles = []
for d in c["dcat:dataset"]:
    titles.append(d["dct:title"])
    for k in ("dct:title", "dct:description", "dct:publisher", "dcat:distribution", "dcat:keyword",
              "dcat:theme", "dcat:contactPoint", "dct:temporal", "dct:accrualPeriodicity",
              "dcatap:availability", "dcatde:politicalGeocodingURI", "dcatde:politicalGeocodingLevelURI",
              "dct:spatial", "dct:accessRights", "dct:license"):
        need(d, k, d["dct:title"])
    if d["dct:license"]["@id"] != "http://dcat-ap.de/def/licenses/dl-by-de/2.0": errs.append("licence")
    if d["dct:accrualPeriodicity"]["@id"] != "http://publications.europa.eu/resource/authority/frequency/HOURLY":
        errs.append("frequency %s" % d["dct:accrualPeriodicity"])
    for t in d["dcat:theme"]:
        if not t["@id"].startswith("http://publications.europa.eu/resource/authority/data-theme/"): errs.append("theme")
    for x in d["dcat:distribution"]:
        for k in ("dcat:accessURL", "dct:format", "dct:license", "dcatde:licenseAttributionByText", "spdx:checksum"):
            need(x, k, "distribution")
        body = urllib.request.urlopen(x["dcat:downloadURL"]["@id"]).read()
        if hashlib.sha256(body).hexdigest() != x["spdx:checksum"]["spdx:checksumValue"]["@value"]:
            errs.append("checksum of " + x["dcat:downloadURL"]["@id"])
        if int(x["dcat:byteSize"]["@value"]) != len(body): errs.append("byteSize")
want = ["CO₂ in Klassenräumen (Stundenmittel aus mindestens 5 Räumen)", "Stromverbrauch städtischer Gebäude (Tageswerte)"]
if sorted(titles) != want: errs.append("datasets %s" % titles)
print("; ".join(errs) or "%d datasets" % len(titles)); sys.exit(1 if errs else 0)
PY
); then ok harvest-dcat-ap-de; echo "# harvest: $out"; else no harvest-dcat-ap-de "$out"; fi
if (cd "$pub" && sha256sum --quiet -c checksums.sha256) >"$d/sums" 2>&1; then ok sha256sum; else no sha256sum "$(cat "$d/sums")"; fi

# What is not published.
if grep -l 'room-0\|buero\|occupancy' "$pub"/*.csv "$pub"/*.geojson "$pub"/catalog.jsonld >/dev/null 2>&1; then
  no nothing-personal "single rooms or offices in $(grep -l 'room-0\|buero\|occupancy' "$pub"/* | tr '\n' ' ')"
else
  ok nothing-personal
fi
occ=$(recipe_q "SELECT count(*) FROM observations o JOIN datastreams s ON s.id = o.ds WHERE s.property = 'occupancy'")
if [ "${occ:-0}" -gt 0 ]; then ok occupancy-kept-internally; else no occupancy-kept-internally "no occupancy in the store"; fi
few=$(recipe_q "SELECT count(*) FROM observations o JOIN datastreams s ON s.id = o.ds WHERE s.property = 'rooms_in_mean' AND o.value < 5")
n=$(recipe_q "SELECT count(*) FROM observations o JOIN datastreams s ON s.id = o.ds WHERE s.property = 'rooms_in_mean'")
if [ "$few" = 0 ] && [ "${n:-0}" -gt 10 ]; then ok mean-of-at-least-5-rooms; else no mean-of-at-least-5-rooms "$few of $n hours with fewer rooms"; fi
# The published mean of one hour is the mean of the rooms' hourly means.
t=$(recipe_q "SELECT o.time FROM observations o JOIN datastreams s ON s.id = o.ds WHERE s.property = 'co2_mean_rooms' ORDER BY o.time LIMIT 1 OFFSET 5")
want=$(recipe_q "SELECT avg(o.value) FROM observations o JOIN datastreams s ON s.id = o.ds WHERE s.property = 'co2' AND o.time >= $t AND o.time < $t + 3600000")
got=$(recipe_value grundschule-am-park co2_mean_rooms "$t")
if near "$got" "$want" 1e-6; then ok mean-is-the-rooms-mean; else no mean-is-the-rooms-mean "published $got, rooms $want"; fi
csvrow=$(grep -c grundschule-am-park "$pub/co2-mean-rooms-ppm.csv")
if [ "$csvrow" -ge 10 ]; then ok mean-published; else no mean-published "$csvrow rows"; fi

recipe_shot open-data /
if kk_stop; then ok sigterm-exit-0; else no sigterm-exit-0 "exit status $?"; fi

# Without a publisher the export warns: DCAT-AP.de requires one.
"$K" export --store "sqlite:$db" --out "$d/nopub" --property energy >/dev/null 2>"$d/nopub.err"
if grep -q "dct:publisher, which DCAT-AP.de requires" "$d/nopub.err"; then ok warns-without-publisher; else no warns-without-publisher "$(cat "$d/nopub.err")"; fi
"$K" export --store "sqlite:$db" --out "$d/badtheme" --property energy --publisher X --themes KLIMA >/dev/null 2>&1
rc=$?
if [ $rc = 2 ]; then ok refuses-unknown-theme; else no refuses-unknown-theme "exit $rc, want 2"; fi
"$K" export --store "sqlite:$db" --out "$d/cli" --property energy --publisher X --themes ENER \
  --frequency DAILY --availability STABLE --references https://example.org/musterdatensatz >/dev/null 2>&1
if python3 - "$d/cli/catalog.jsonld" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["dcat:dataset"][0]
ok = (d["dcat:theme"][0]["@id"].endswith("/data-theme/ENER") and d["dct:accrualPeriodicity"]["@id"].endswith("/frequency/DAILY")
      and d["dcatap:availability"]["@id"].endswith("/planned-availability/STABLE")
      and d["dct:references"][0]["@id"] == "https://example.org/musterdatensatz")
sys.exit(0 if ok else 1)
PY
then ok cli-dcat-extras; else no cli-dcat-extras "$(head -c 400 "$d/cli/catalog.jsonld")"; fi
exit $fail
