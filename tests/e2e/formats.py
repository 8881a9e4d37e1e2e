"""tests/e2e/formats.py - helpers of test_formats.sh.

    python3 formats.py serve PORT      serves tests/e2e/data/formats/ (below)
    python3 formats.py count DB        readings in a store.sqlite file
    python3 formats.py check DB EXPECTED.json...
                                       compares the store with the union of
                                       the expected readings: the same set of
                                       (thing, property, unit, time, value),
                                       nothing more; prints one line per
                                       difference, exit status 1 if any
    python3 formats.py thing DB NAME   prints the thing's location GeoJSON

The server answers GET and POST (Telraam's reports/traffic is a POST) on
the paths the real APIs use, whatever the query ({from}/{to} windows),
with the fixture files; "/v1.1/Datastreams(4711)/Observations" answers
page 1 or, with $skip=12 in the query, page 2, and page 1's @iot.nextLink
is rewritten to this server.  Every request is appended to requests.log
in the working directory.
"""
import http.server
import json
import os
import sqlite3
import sys
from datetime import datetime, timezone
from urllib.parse import urlsplit, unquote

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "formats")

ROUTES = {
    "/api/air_data/v3/measures/json": None,  # by component, below
    "/api/air_data/v3/stations/json": "uba_stations_docs.json",
    "/api/air_data/v3/components/json": "uba_components_docs.json",
    "/docs/v1/reports/traffic": "telraam_docs.json",
    "/v1/reports/traffic": "telraam_day.json",
    "/docs/v1.1/Observations": "sta_docs.json",
    "/climate/daily/kl/produkt_klima_tag_docs.txt": "produkt_klima_tag_docs.txt",
    "/climate/daily/kl/recent/tageswerte_KL_01358_akt.zip": "tageswerte_KL_01358_akt.zip",
    "/techn/monthly/heating_degreedays/hdd_3807/recent/gradtage_202601.csv":
        "gradtage_202601.csv",
}
UBA = {"docs": "uba_measures_docs.json", "5": "uba_day_no2.json", "3": "uba_day_o3.json",
       "1": "uba_day_pm10.json"}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self):
        u = urlsplit(self.path)
        path, query = unquote(u.path), unquote(u.query)
        n = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        with open("requests.log", "a") as f:
            f.write("%s %s %s %s\n" % (self.command, self.path,
                                        self.headers.get("Content-Type") or "-", sent))
        body = None
        if path == "/api/air_data/v3/measures/json":
            comp = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("component")
            name = UBA.get(comp or "")
        elif path == "/v1.1/Datastreams(4711)/Observations":
            name = "sta_day_page2.json" if "$skip=12" in query else "sta_day_page1.json"
            if name.endswith("1.json"):
                doc = json.load(open(os.path.join(DATA, name)))
                doc["@iot.nextLink"] = doc["@iot.nextLink"].replace(
                    "http://127.0.0.1/", "http://127.0.0.1:%d/" % self.server.server_port)
                body = json.dumps(doc).encode()
        else:
            name = ROUTES.get(path)
        if name is None:
            self.send_response(404)
            self.end_headers()
            return
        if body is None:
            body = open(os.path.join(DATA, name), "rb").read()
        self.send_response(200)
        ctype = ("application/zip" if name.endswith(".zip") else
                 "application/json" if name.endswith(".json") else
                 "text/plain; charset=iso-8859-1")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = answer
    do_POST = answer


def rows(db):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    q = c.execute("SELECT t.name, d.property, d.unit, o.time, o.value FROM observations o "
                  "JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id")
    out = list(q)
    c.close()
    return out


def ms(iso):
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.000Z")
               .replace(tzinfo=timezone.utc).timestamp() * 1000)


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
    if cmd == "count":
        try:
            print(len(rows(sys.argv[2])))
        except sqlite3.Error:
            print(0)
        return 0
    if cmd == "thing":
        c = sqlite3.connect("file:%s?mode=ro" % sys.argv[2], uri=True)
        r = c.execute("SELECT l.geojson FROM things t JOIN locations l ON l.thing_id = t.id "
                      "WHERE t.name = ?", (sys.argv[3],)).fetchone()
        print(r[0] if r else "")
        return 0
    if cmd == "check":
        want = {}
        for f in sys.argv[3:]:
            for r in json.load(open(f))["readings"]:
                want[(r["thing"], r["property"], r["unit"], ms(r["time"]))] = r["value"]
        got = {(t, p, u, tm): v for t, p, u, tm, v in rows(sys.argv[2])}
        bad = 0
        for k, v in sorted(want.items()):
            if k not in got:
                print("missing %s %s %s %d = %r" % (k + (v,)))
                bad += 1
            elif abs(got[k] - v) > 1e-9 * max(1, abs(v)):
                print("value %s %s %s %d: %r, expected %r" % (k + (got[k], v)))
                bad += 1
        for k in sorted(set(got) - set(want)):
            print("extra %s %s %s %d = %r" % (k + (got[k],)))
            bad += 1
        print("%d readings expected, %d stored, %d differences" % (len(want), len(got), bad))
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
