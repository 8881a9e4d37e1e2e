#!/usr/bin/env python3
"""Checks one klimakit export directory against the store it came from.

usage: check_export.py DIR DB [raw|hour|day]

Prints "ok export/<name>" or "FAIL export/<name>: why" lines; exit 1 on
any failure.  Checks: the catalog is JSON-LD with @context and the
expected @type values and DCAT-AP.de fields, every distribution's SHA-256
equals checksums.sha256 and the file's bytes, CSV files parse (RFC 4180)
with row counts equal to the store's, times are UTC ISO 8601 with Z,
GeoJSON files are FeatureCollections, no temporary file is left.
"""
import csv, hashlib, json, os, re, sqlite3, sys

d, db = sys.argv[1], sys.argv[2]
res = sys.argv[3] if len(sys.argv) > 3 else "raw"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import lib  # noqa: E402
from lib import no, ok  # noqa: E402

lib.suite("export")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def idval(v):
    return v["@id"] if isinstance(v, dict) else v


files = sorted(os.listdir(d))
tmp = [f for f in files if ".tmp" in f]
if tmp: no("no-tmp", "temporary files left: %s" % tmp)
else: ok("no-tmp")

# ---- checksums.sha256 ------------------------------------------------------
sums = {}
for line in open(os.path.join(d, "checksums.sha256")):
    m = re.fullmatch(r"([0-9a-f]{64})  (\S+)\n", line)
    if not m:
        no("sums-format", "bad line %r" % line)
        break
    sums[m.group(2)] = m.group(1)
else:
    ok("sums-format")
listed = set(sums)
present = set(f for f in files if f != "checksums.sha256")
if listed != present: no("sums-complete", "listed %s, present %s" % (sorted(listed), sorted(present)))
else: ok("sums-complete")

# ---- catalog ---------------------------------------------------------------
try:
    cat = json.load(open(os.path.join(d, "catalog.jsonld")))
except Exception as e:
    no("catalog-json", str(e))
    sys.exit(1)
ctx = cat.get("@context", {})
want_ctx = {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
            "dcatde": "http://dcat-ap.de/def/dcatde/", "spdx": "http://spdx.org/rdf/terms#"}
if any(ctx.get(k) != v for k, v in want_ctx.items()): no("catalog-context", "context %r" % ctx)
else: ok("catalog-context")
errs = []
if cat.get("@type") != "dcat:Catalog": errs.append("catalog @type %r" % cat.get("@type"))
dsets = cat.get("dcat:dataset", [])
if not dsets: errs.append("no datasets")
dist_files = {}
for ds in dsets:
    if ds.get("@type") != "dcat:Dataset": errs.append("dataset @type %r" % ds.get("@type"))
    for k in ("dct:title", "dct:description", "dct:identifier", "dct:license", "dcat:distribution"):
        if k not in ds: errs.append("dataset %s lacks %s" % (ds.get("@id"), k))
    for dist in ds.get("dcat:distribution", []):
        if dist.get("@type") != "dcat:Distribution": errs.append("distribution @type %r" % dist.get("@type"))
        url = idval(dist.get("dcat:downloadURL", ""))
        if idval(dist.get("dcat:accessURL", "")) != url: errs.append("accessURL != downloadURL")
        if not str(idval(dist.get("dct:format", ""))).startswith("http://publications.europa.eu/resource/authority/file-type/"):
            errs.append("dct:format %r" % dist.get("dct:format"))
        ck = dist.get("spdx:checksum", {})
        if ck.get("@type") != "spdx:Checksum" or idval(ck.get("spdx:algorithm")) != "spdx:checksumAlgorithm_sha256":
            errs.append("checksum %r" % ck)
        val = ck.get("spdx:checksumValue", {})
        val = val.get("@value") if isinstance(val, dict) else val
        dist_files[url.rsplit("/", 1)[-1]] = (val, dist)
if errs: no("catalog-types", "; ".join(sorted(set(errs))[:5]))
else: ok("catalog-types")
# Checksums in the catalog = checksums.sha256 = the files' bytes.
errs = []
for name, (val, dist) in dist_files.items():
    p = os.path.join(d, name)
    if not os.path.exists(p):
        errs.append("%s missing" % name)
        continue
    data = open(p, "rb").read()
    h = hashlib.sha256(data).hexdigest()
    if val != h: errs.append("%s: catalog %s, file %s" % (name, val, h))
    if sums.get(name) != h: errs.append("%s: checksums.sha256 %s, file %s" % (name, sums.get(name), h))
    if int(dist.get("dcat:byteSize", {}).get("@value", -1)) != len(data): errs.append("%s: byteSize" % name)
data_files = set(f for f in present if f.endswith((".csv", ".geojson")))
if set(dist_files) != data_files: errs.append("distributions %s, files %s" % (sorted(dist_files), sorted(data_files)))
if errs: no("catalog-checksums", "; ".join(errs[:5]))
else: ok("catalog-checksums")

# ---- CSV against the store ---------------------------------------------------
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
if res == "raw":
    q = ("SELECT d.property, d.unit, count(*) FROM observations o JOIN datastreams d ON d.id = o.ds "
         "GROUP BY d.property, d.unit")
else:
    q = ("SELECT d.property, d.unit, count(*) FROM obs_%s o JOIN datastreams d ON d.id = o.ds "
         "GROUP BY d.property, d.unit" % ("hourly" if res == "hour" else "daily"))
truth = {(p, u): n for p, u, n in con.execute(q)}
got = {}
errs = []
for f in sorted(data_files):
    if not f.endswith(".csv"): continue
    raw = open(os.path.join(d, f), "rb").read()
    if b"\r\n" not in raw or raw.replace(b"\r\n", b"").count(b"\n"): errs.append("%s: lines not CRLF" % f)
    rows = list(csv.reader(open(os.path.join(d, f), newline="", encoding="utf-8")))
    head, body = rows[0], rows[1:]
    m = re.fullmatch(r"(.+) \[(.+)\]", head[2] if res == "raw" else head[3].replace(" mean", ""))
    want_len = 3 if res == "raw" else 6
    if head[:2] != ["time", "thing"] or not m or len(head) != want_len:
        errs.append("%s: header %r" % (f, head))
        continue
    key = (m.group(1), m.group(2))
    got[key] = got.get(key, 0) + len(body)
    for r in body:
        if len(r) != want_len or not TIME.match(r[0]):
            errs.append("%s: row %r" % (f, r))
            break
        float(r[2])
if got != truth: errs.append("rows %r, store %r" % (got, truth))
if errs: no("csv-rows-%s" % res, "; ".join(errs[:5]))
else: ok("csv-rows-%s" % res)

# ---- GeoJSON -------------------------------------------------------------------
errs = []
things = {n for (n,) in con.execute("SELECT name FROM things")}
located = {n for (n,) in con.execute("SELECT t.name FROM things t JOIN locations l ON l.thing_id = t.id")}
for f in sorted(data_files):
    if not f.endswith(".geojson"): continue
    g = json.load(open(os.path.join(d, f)))
    if g.get("type") != "FeatureCollection" or not g.get("features"):
        errs.append("%s: not a FeatureCollection with features" % f)
        continue
    for ft in g["features"]:
        pr = ft.get("properties", {})
        if ft.get("type") != "Feature" or pr.get("thing") not in things: errs.append("%s: feature %r" % (f, ft.get("id")))
        if pr.get("thing") in located:
            if not ft.get("geometry") or ft["geometry"].get("type") != "Point": errs.append("%s: %s has no geometry" % (f, pr.get("thing")))
        elif ft.get("geometry") is not None: errs.append("%s: %s has a geometry" % (f, pr.get("thing")))
        if pr.get("latest_time") is not None and not TIME.match(pr["latest_time"]): errs.append("latest_time %r" % pr["latest_time"])
        if not isinstance(pr.get("count"), (int, float)) or pr["count"] <= 0: errs.append("count %r" % pr.get("count"))
if errs: no("geojson", "; ".join(errs[:5]))
else: ok("geojson")

# ---- every time in the catalog is UTC with Z ------------------------------------
times = re.findall(r'"@value":\s*"([^"]*)",\s*"@type":\s*"xsd:dateTime"', open(os.path.join(d, "catalog.jsonld")).read())
bad = [t for t in times if not TIME.match(t)]
if not times or bad: no("catalog-times", "times %r" % (bad or times)[:3])
else: ok("catalog-times")
sys.exit(lib.exit_code())
