#!/usr/bin/env python3
"""tests/e2e/recipe_fixtures.py - the outside APIs the recipe tests poll.

    recipe_fixtures.py PORT LOG

Serves on 127.0.0.1:PORT and appends one JSON line per request to LOG.

  POST /v1/reports/traffic   Telraam: body {"id", "time_start", "time_end"}
      ("YYYY-MM-DD HH:MM:SSZ"), header X-Api-Key must be "test-key" (else
      403 as Telraam answers); the report entries of
      recipes/verkehr-co2/data/telraam/<id>.json in [time_start, time_end).
  GET /v1.1/Datastreams(N)/Observations?$filter=phenomenonTime ge A and
      phenomenonTime lt B&$top=K[&$skip=S]   SensorThings: 15-minute car
      counts of datastream N (result = 20 + minute-of-day % 37) with
      phenomenonTime "start/end", paged by @iot.nextLink.
"""
import datetime as dt
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse, urlencode

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
LOG = sys.argv[2]


def parse(t):
    t = t.strip().replace(" ", "T")
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    return dt.datetime.fromisoformat(t)


def sta_result(start):
    m = start.hour * 60 + start.minute
    return 20 + m % 37


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, status, body, what):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with open(LOG, "a") as f:
            f.write(json.dumps(dict(what, status=status)) + "\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        req = json.loads(self.rfile.read(n) or b"{}")
        if urlparse(self.path).path != "/v1/reports/traffic":
            return self.answer(404, {"message": "no such path"}, {"path": self.path})
        if self.headers.get("X-Api-Key") != "test-key":
            return self.answer(403, {"message": "Forbidden"}, {"path": self.path})
        a, b = parse(req["time_start"]), parse(req["time_end"])
        path = os.path.join(ROOT, "recipes/verkehr-co2/data/telraam/%s.json" % req["id"])
        report = json.load(open(path))["report"]
        sel = [e for e in report if a <= parse(e["date"]) < b]
        self.answer(200, {"status_code": 200, "message": "ok", "report": sel},
                    {"path": self.path, "id": req["id"], "from": req["time_start"],
                     "to": req["time_end"], "n": len(sel)})

    def do_GET(self):
        u = urlparse(self.path)
        m = re.match(r"^/v1\.1/Datastreams\((\d+)\)/Observations$", u.path)
        if not m:
            return self.answer(404, {"message": "no such path"}, {"path": self.path})
        q = parse_qs(u.query)
        f = q.get("$filter", [""])[0]
        r = re.match(r"phenomenonTime ge (\S+) and phenomenonTime lt (\S+)", f)
        if not r:
            return self.answer(400, {"message": "bad $filter"}, {"path": self.path})
        a, b = parse(r.group(1)), parse(r.group(2))
        top, skip = int(q.get("$top", ["100"])[0]), int(q.get("$skip", ["0"])[0])
        top = min(top, 50)  # a server page smaller than asked, like FROST's limit
        first = dt.datetime(2026, 11, 16, 0, 0, tzinfo=dt.timezone.utc)
        obs, t = [], first
        while t < dt.datetime(2026, 11, 17, tzinfo=dt.timezone.utc):
            end = t + dt.timedelta(minutes=15)
            if a <= end < b:
                obs.append({"@iot.id": len(obs) + 1, "result": sta_result(t),
                            "phenomenonTime": "%s/%s" % (t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                         end.strftime("%Y-%m-%dT%H:%M:%SZ"))})
            t = end
        page = obs[skip:skip + top]
        body = {"value": page}
        if skip + top < len(obs):
            nq = dict((k, v[0]) for k, v in q.items())
            nq["$skip"] = str(skip + top)
            body["@iot.nextLink"] = "http://%s%s?%s" % (self.headers["Host"], u.path, urlencode(nq))
        self.answer(200, body, {"path": u.path, "from": r.group(1), "to": r.group(2),
                                "skip": skip, "n": len(page)})


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
