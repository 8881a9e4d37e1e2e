#!/usr/bin/env python3
"""Runs a recipe with publish.export and reads its directory while it runs.

usage: watch_export.py KLIMAKIT RECIPE DIR LOG

Every 20 ms, every visible file in DIR must be complete: the catalog and
GeoJSON files parse as JSON, CSV files end with CRLF and parse, and each
line of checksums.sha256 is well-formed.  Temporary files (.NAME.tmp-*)
may exist while a run writes, but must be hidden (dot files).  Prints
"ok"/"FAIL" lines; exit 1 on failure.
"""
import csv, io, json, os, re, subprocess, sys, time

k, recipe, d, log = sys.argv[1:5]
fails = []
seen_files = set()
reads = 0
with open(log, "w") as lf:
    p = subprocess.Popen([k, "run", recipe, "--log-format", "text"], stdout=lf, stderr=lf)
    deadline = time.time() + 60
    while p.poll() is None and time.time() < deadline:
        if os.path.isdir(d):
            for f in os.listdir(d):
                if ".tmp" in f and not f.startswith("."):
                    fails.append("visible temporary file %s" % f)
                if f.startswith("."):
                    continue
                try:
                    data = open(os.path.join(d, f), "rb").read()
                except FileNotFoundError:
                    continue
                reads += 1
                seen_files.add(f)
                try:
                    if f.endswith((".jsonld", ".geojson")):
                        json.loads(data)
                    elif f.endswith(".csv"):
                        if not data.endswith(b"\r\n"):
                            raise ValueError("does not end with CRLF")
                        rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
                        if any(len(r) != len(rows[0]) for r in rows):
                            raise ValueError("ragged rows")
                    elif f == "checksums.sha256":
                        for line in data.decode().splitlines():
                            if not re.fullmatch(r"[0-9a-f]{64}  \S+", line):
                                raise ValueError("bad line %r" % line)
                except Exception as e:
                    fails.append("%s incomplete while running: %s" % (f, e))
        time.sleep(0.02)
    if p.poll() is None:
        p.kill()
        p.wait()
        fails.append("pipeline did not finish in 60 s")
rc = p.returncode
if rc != 0:
    fails.append("klimakit exit %s" % rc)
runs = sum(1 for l in open(log) if "exported" in l)
if runs < 2:
    fails.append("only %d export runs while the pipeline ran" % runs)
if fails:
    print("FAIL export/periodic-atomic: %s" % "; ".join(sorted(set(fails))[:5]))
    sys.exit(1)
print("ok export/periodic-atomic (%d runs, %d reads of %d files)" % (runs, reads, len(seen_files)))
