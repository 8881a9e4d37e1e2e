#!/usr/bin/env python3
"""SensorThings API (publish.sensorthings) end to end, for one store.

usage: sensorthings.py KLIMAKIT WORKDIR STORE_LUA LABEL

STORE_LUA is the store stage as recipe text (kk.store.sqlite {...} or
kk.store.postgres {...}).  A recipe feeds simulated readings (fixed start,
realtime = false, a known count) to the store, to a jsonl sink (the truth)
and to the API, which shares its HTTP server with publish.http.  Then the
checks send the query strings real clients send.  Prints "ok name" or
"FAIL name: why"; exits 1 on any failure.
"""
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

K, WORK, STORE, LABEL = sys.argv[1:5]
ROOMS, QUANT, MINUTES = 3, 4, 2 * 1440  # two days of one reading a minute
COUNT = ROOMS * QUANT * MINUTES
START = "2026-11-20T00:00:00Z"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, no, ok  # noqa: E402

lib.suite("sensorthings/" + LABEL)
PORT = lib.free_port()
ROOT = f"http://127.0.0.1:{PORT}/v1.1"


def get(url, method="GET"):
    """(status, parsed JSON or text) of a URL below the root or absolute."""
    if not url.startswith("http"):
        url = ROOT + "/" + url
    # Encode like a client: spaces and quotes, keep the OData syntax.
    url = urllib.parse.quote(url, safe=":/?&=$(),'@-.*+;%")
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            body, status, ctype = r.read(), r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        body, status, ctype = e.read(), e.code, e.headers.get("Content-Type", "")
    if ctype.startswith("application/json"):
        return status, json.loads(body)
    return status, body.decode()


def iso(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if ms % 1000 == 0 else \
        t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def parse_time(v):
    if isinstance(v, (int, float)):
        return int(v)
    return int(datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000)


os.makedirs(WORK, exist_ok=True)
truth_path = os.path.join(WORK, "truth.jsonl")
recipe = os.path.join(WORK, "sta.lua")
with open(recipe, "w") as f:
    f.write(f"""local kk = require "klimakit"
kk.config {{ exit_when_done = false }}
local sim = kk.source.simulate {{ sensors = {ROOMS}, seed = 11, start = "{START}",
  interval = "1m", realtime = false, count = {COUNT} }}
kk.pipe(sim, {{ {STORE},
  kk.sink.jsonl {{ path = "{truth_path}" }},
  kk.publish.http {{ listen = "127.0.0.1:{PORT}" }},
  kk.publish.sensorthings {{ listen = "127.0.0.1:{PORT}" }} }})
""")
log = open(os.path.join(WORK, "run.log"), "w")
proc = subprocess.Popen([K, "run", recipe, "--data-dir", os.path.join(WORK, "data")],
                        stdout=log, stderr=subprocess.STDOUT)


def stop():
    lib.stop(proc, timeout=30)


try:
    # Wait (bounded) until the API answers and the store holds every reading.
    total = -1
    for _ in range(600):
        if proc.poll() is not None:
            break
        try:
            st, body = get("Observations?$count=true&$top=0")
            if st == 200:
                total = body.get("@iot.count", -1)
                if total == COUNT:
                    break
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    if total != COUNT:
        no("ready", f"store holds {total} of {COUNT} readings (exit {proc.poll()}); "
                    f"log: {open(os.path.join(WORK, 'run.log')).read()[-400:]}")
        raise SystemExit
    ok("ready")

    # The truth, from the jsonl sink (it may still be writing).
    for _ in range(300):
        # complete lines only: one read(), counting newlines
        if os.path.exists(truth_path) and open(truth_path).read().count("\n") >= COUNT:
            break
        time.sleep(0.1)
    truth = {}
    with open(truth_path) as f:
        for line in f:
            r = json.loads(line)
            truth.setdefault((r["thing"], r["property"]), []).append(
                (parse_time(r["time"]), r["value"]))
    for v in truth.values():
        v.sort()

    st, root = get("")
    names = sorted(x["name"] for x in root.get("value", [])) if st == 200 else []
    check("service-root", names == sorted(["Things", "Locations", "Datastreams", "Sensors",
                                           "ObservedProperties", "Observations"]),
          f"{st} {names}")

    st, dss = get("Datastreams?$top=1000&$count=true")
    dsid = {}
    for d in dss.get("value", []):
        dsid[(d["properties"]["thing"], d["properties"]["property"])] = d["@iot.id"]
    check("datastreams", st == 200 and dss.get("@iot.count") == ROOMS * QUANT and
          set(dsid) == set(truth), f"{st} {dss.get('@iot.count')} {sorted(dsid)[:3]}")

    key = ("room-002", "co2")
    ds = dsid.get(key)
    series = truth[key]

    # Latest value, the way dashboards ask for it.
    st, b = get(f"Datastreams({ds})/Observations?$orderby=phenomenonTime desc&$top=1")
    v = b.get("value", []) if st == 200 else []
    check("latest", len(v) == 1 and v[0]["result"] == series[-1][1] and
          v[0]["phenomenonTime"] == iso(series[-1][0]),
          f"{st} {v} vs {series[-1]}")
    check("latest-id", len(v) == 1 and v[0]["@iot.id"] == f"{ds}-{series[-1][0]}" and
          v[0]["@iot.selfLink"].endswith(f"/Observations('{ds}-{series[-1][0]}')"),
          f"{v[:1]}")

    # One day as dataArray.
    day0 = parse_time("2026-11-21T00:00:00Z")
    day = [p for p in series if day0 <= p[0] < day0 + 86400000]
    st, b = get(f"Datastreams({ds})/Observations?$resultFormat=dataArray&$top=10000&"
                f"$filter=phenomenonTime ge 2026-11-21T00:00:00Z and "
                f"phenomenonTime lt 2026-11-22T00:00:00Z")
    g = b.get("value", [{}])[0] if st == 200 and b.get("value") else {}
    rows = g.get("dataArray", [])
    check("dataarray-day", g.get("components") == ["id", "phenomenonTime", "result"] and
          g.get("dataArray@iot.count") == len(day) == len(rows) == 1440 and
          [(parse_time(r[1]), r[2]) for r in rows] == day and
          g.get("Datastream@iot.navigationLink", "").endswith(f"/Datastreams({ds})"),
          f"{st} count {g.get('dataArray@iot.count')} rows {len(rows)} truth {len(day)}")
    st, b = get(f"Datastreams({ds})/Observations?$resultFormat=dataArray&"
                f"$select=phenomenonTime,result&$filter=phenomenonTime eq {iso(day[5][0])}")
    g = b.get("value", [{}])[0] if st == 200 and b.get("value") else {}
    check("dataarray-select", g.get("components") == ["phenomenonTime", "result"] and
          g.get("dataArray") == [[iso(day[5][0]), day[5][1]]], f"{st} {b}")

    # $count with paging through @iot.nextLink, both directions.
    for order in ("asc", "desc"):
        url = f"Datastreams({ds})/Observations?$count=true&$top=700&$orderby=phenomenonTime {order}"
        seen, ids, counts, pages = [], set(), set(), 0
        while url and pages < 50:
            st, b = get(url)
            if st != 200:
                break
            pages += 1
            counts.add(b.get("@iot.count"))
            for o in b["value"]:
                ids.add(o["@iot.id"])
                seen.append((parse_time(o["phenomenonTime"]), o["result"]))
            url = b.get("@iot.nextLink")
        want = series if order == "asc" else series[::-1]
        check(f"paging-{order}", counts == {len(series)} and len(seen) == len(series) and
              len(ids) == len(series) and seen == want and pages == 5,
              f"status {st} pages {pages} counts {counts} got {len(seen)} unique {len(ids)} of {len(series)}")

    # Paging over every observation (datastream after datastream).
    url, n, ids, pages = "Observations?$top=10000&$count=true&$select=id", 0, set(), 0
    while url and pages < 20:
        st, b = get(url)
        if st != 200:
            break
        pages += 1
        for o in b["value"]:
            ids.add(o["@iot.id"])
        n += len(b["value"])
        url = b.get("@iot.nextLink")
    check("paging-all", n == len(ids) == COUNT, f"{st} {n} {len(ids)} {COUNT}")

    # $skip + $top.
    st, b = get(f"Datastreams({ds})/Observations?$skip=10&$top=3")
    check("skip-top", st == 200 and [parse_time(o["phenomenonTime"]) for o in b["value"]] ==
          [p[0] for p in series[10:13]], f"{st} {b}")

    # Navigation.
    st, th = get(f"Datastreams({ds})/Thing")
    tid = th.get("@iot.id") if st == 200 else None
    check("nav-thing", st == 200 and th.get("name") == "room-002", f"{st} {th}")
    st, b = get(f"Things({tid})/Datastreams?$count=true")
    check("nav-datastreams", st == 200 and b.get("@iot.count") == QUANT and
          all(d["properties"]["thing"] == "room-002" for d in b["value"]), f"{st} {b}")
    st, b = get(f"Datastreams({ds})/ObservedProperty")
    check("nav-observedproperty", st == 200 and b.get("name") == "co2", f"{st} {b}")
    st, b = get(f"Datastreams({ds})/Sensor")
    check("nav-sensor", st == 200 and b.get("@iot.id") == ds, f"{st} {b}")
    oid = f"{ds}-{series[0][0]}"
    st, b = get(f"Observations('{oid}')/Datastream")
    check("nav-observation", st == 200 and b.get("@iot.id") == ds, f"{st} {b}")
    st, b = get(f"Datastreams({ds})")
    links = [k for k in b if k.endswith("@iot.navigationLink")] if st == 200 else []
    check("navigation-links", sorted(links) == sorted(
        ["Thing@iot.navigationLink", "Sensor@iot.navigationLink",
         "ObservedProperty@iot.navigationLink", "Observations@iot.navigationLink"]) and
          b.get("unitOfMeasurement", {}).get("symbol") == "ppm", f"{st} {b}")

    # $expand, $select, $filter on names and ids.
    st, b = get("Things?$expand=Datastreams&$count=true")
    check("expand-things-datastreams", st == 200 and b.get("@iot.count") == ROOMS and
          all(len(t.get("Datastreams", [])) == QUANT for t in b["value"]), f"{st} {b}"[:300])
    st, b = get(f"Datastreams({ds})?$expand=Thing,ObservedProperty&$select=name")
    check("expand-datastream", st == 200 and b.get("Thing", {}).get("name") == "room-002" and
          b.get("ObservedProperty", {}).get("name") == "co2" and
          set(b) == {"name", "Thing", "ObservedProperty"}, f"{st} {b}")
    st, b = get("Datastreams?$expand=Observations($orderby=phenomenonTime desc;$top=1)"
                "&$filter=Thing/name eq 'room-002' and ObservedProperty/name eq 'co2'")
    v = b.get("value", []) if st == 200 else []
    check("expand-latest", len(v) == 1 and len(v[0].get("Observations", [])) == 1 and
          v[0]["Observations"][0]["result"] == series[-1][1], f"{st} {b}"[:300])
    st, b = get("Things?$select=name,id")
    check("select", st == 200 and all(set(t) == {"name", "@iot.id"} for t in b["value"]),
          f"{st} {b}")
    st, b = get("Things?$filter=name eq 'room-003'")
    check("filter-name", st == 200 and [t["name"] for t in b["value"]] == ["room-003"],
          f"{st} {b}")
    st, b = get(f"Datastreams?$filter=@iot.id eq {ds}")
    check("filter-id", st == 200 and [d["@iot.id"] for d in b["value"]] == [ds], f"{st} {b}")
    st, b = get(f"Datastreams({ds})/Observations?$count=true&$top=0&"
                f"$filter=phenomenonTime gt {iso(series[0][0])} and phenomenonTime le {iso(series[9][0])}")
    check("filter-gt-le", st == 200 and b.get("@iot.count") == 9 and b.get("value") == [],
          f"{st} {b}")

    # Errors as the spec shows them.
    def is_err(b, code):
        return isinstance(b, dict) and b.get("code") == code and b.get("type") == "error" \
            and isinstance(b.get("message"), str)
    st, b = get(f"Datastreams({ds})/Observations?$filter=phenomenonTime ge yesterday")
    check("error-bad-filter", st == 400 and is_err(b, 400), f"{st} {b}")
    st, b = get("Things?$filter=name eq 'unterminated")
    check("error-bad-string", st == 400 and is_err(b, 400), f"{st} {b}")
    st, b = get("Things?$top=-1")
    check("error-bad-top", st == 400 and is_err(b, 400), f"{st} {b}")
    st, b = get("Datastreams(99999)")
    check("error-unknown-id", st == 404 and is_err(b, 404), f"{st} {b}")
    st, b = get("Datastreams(99999)/Observations")
    check("error-unknown-nav", st == 404 and is_err(b, 404), f"{st} {b}")
    st, b = get(f"Observations('{ds}-1')")
    check("error-unknown-observation", st == 404 and is_err(b, 404), f"{st} {b}")
    st, b = get("Things?$filter=name eq 'a' or name eq 'b'")
    check("error-unsupported", st == 501 and is_err(b, 501), f"{st} {b}")
    st, b = get("Things", method="POST")
    check("error-read-only", st == 501 and is_err(b, 501), f"{st} {b}")

    # The server is shared with publish.http.
    st, b = get(f"http://127.0.0.1:{PORT}/healthz")
    check("shared-server", st == 200, f"{st} {b}")
finally:
    stop()
    log.close()
    text = open(os.path.join(WORK, "run.log"), errors="replace").read()
    bad = [m for m in ("AddressSanitizer", "LeakSanitizer", "runtime error:")
           if m in text]
    check("clean-exit", proc.returncode == 0 and not bad,
          f"exit {proc.returncode} {bad} {text[-600:] if bad else ''}")
sys.exit(lib.exit_code())
