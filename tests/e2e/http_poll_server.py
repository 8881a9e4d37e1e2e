#!/usr/bin/env python3
"""tests/e2e/http_poll_server.py - the API that test_http_poll.sh polls.

    http_poll_server.py PORT LOG [FAULTS] [DELAY_MS]

Serves on 127.0.0.1:PORT (one thread per request) and appends a JSON line
per answer to LOG: {"path", "from", "to", "skip", "status", "n"}.

  /data?from=ISO&to=ISO[&skip=K]   one reading per second of [from, to)
      (thing st-1, pm10 in ug/m3, value value_at(t)), SensorThings-like:
      {"value": [up to PAGE readings], "@iot.nextLink": "/data?...&skip=K"}
      (a relative link).  FAULTS is "N:kind,N:kind..." for the N-th
      request to /data (1-based): 500, 429 (Retry-After: 1), hang (sleeps
      3 s, then answers), trunc (200 with a cut JSON body, correct
      Content-Length), close (Content-Length larger than the body, then
      the connection closes).
  /static   always the same flat JSON with ETag "v1"; 304 on If-None-Match
  /same     always the same body, no validators
  /paged?page=N   an array of 3 readings for pages 1-3, 1 on page 4
  /linked?p=N     arrays of 2 readings, Link: <...>; rel="next" up to p=3
"""
import json, sys, threading, time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PAGE = 4
lock = threading.Lock()
count = {"data": 0}


def value_at(t_ms):
    return (t_ms // 1000) % 97 + 0.5


def ms(iso):
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def reading(thing, prop, t, v):
    return {"thing": thing, "property": prop, "unit": "ug/m3", "time": t, "value": v}


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle(self):
        try:
            super().handle()
        except OSError:
            pass  # the client was killed or gave up: that is the test

    def note(self, **kw):
        with lock, open(self.server.log, "a") as f:
            f.write(json.dumps(kw) + "\n")

    def send(self, status, body, ctype="application/json", headers=(), length=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if self.server.delay:
            time.sleep(self.server.delay)
        getattr(self, "get_" + u.path.strip("/"), self.get_404)(q)

    def get_404(self, q):
        self.send(404, b'{"error":"not found"}')

    def get_data(self, q):
        with lock:
            count["data"] += 1
            n = count["data"]
        fault = self.server.faults.get(n)
        f, t, skip = ms(q["from"]), ms(q["to"]), int(q.get("skip", 0))
        times = list(range(f + 1000 * skip, t, 1000))[:PAGE]
        body = {"value": [reading("st-1", "pm10", x, value_at(x)) for x in times]}
        if skip + PAGE < (t - f) // 1000:
            body["@iot.nextLink"] = "/data?from=%s&to=%s&skip=%d" % (q["from"], q["to"], skip + PAGE)
        raw = json.dumps(body).encode()
        if fault == "500":
            self.note(path="data", n=n, status=500)
            return self.send(500, b'{"error":"boom"}')
        if fault == "429":
            self.note(path="data", n=n, status=429)
            return self.send(429, b'{"error":"slow down"}', headers=[("Retry-After", "1")])
        if fault == "hang":
            self.note(path="data", n=n, status=0, fault="hang")
            time.sleep(3)
        if fault == "trunc":
            self.note(path="data", n=n, status=200, fault="trunc")
            return self.send(200, raw[: len(raw) // 2])
        if fault == "close":
            self.note(path="data", n=n, status=200, fault="close")
            self.send(200, raw[: len(raw) // 2], length=len(raw))
            self.close_connection = True
            return
        self.note(path="data", n=n, status=200, **{"from": f, "to": t, "skip": skip, "times": times})
        try:
            self.send(200, raw)
        except OSError:
            pass  # the client gave up (timeout)

    def get_static(self, q):
        if self.headers.get("If-None-Match") == '"v1"':
            self.note(path="static", status=304)
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.note(path="static", status=200)
        self.send(200, b'{"ts":1767225600,"temp":21.5}', headers=[("ETag", '"v1"')])

    def get_same(self, q):
        self.note(path="same", status=200)
        self.send(200, b'{"ts":1767229200,"temp":19.25}')

    def get_paged(self, q):
        p = int(q.get("page", 0))
        k = 3 if 1 <= p <= 3 else (1 if p == 4 else 0)
        base = 1767225600000 + (p - 1) * 3 * 60000
        rows = [reading("paged", "pm25", base + i * 60000, p * 10 + i) for i in range(k)]
        self.note(path="paged", page=p, status=200, n=k)
        self.send(200, json.dumps(rows).encode())

    def get_linked(self, q):
        p = int(q.get("p", 1))
        rows = [reading("linked", "no2", 1767225600000 + (p * 2 + i) * 60000, p + i) for i in range(2)]
        hdr = [("Link", '</linked?p=%d>; rel="next", </linked?p=1>; rel="first"' % (p + 1))] if p < 3 else []
        self.note(path="linked", page=p, status=200)
        self.send(200, json.dumps(rows).encode(), headers=hdr)


def main():
    port, log = int(sys.argv[1]), sys.argv[2]
    faults = {}
    if len(sys.argv) > 3 and sys.argv[3]:
        for item in sys.argv[3].split(","):
            n, kind = item.split(":")
            faults[int(n)] = kind
    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    srv.daemon_threads = True
    srv.log, srv.faults = log, faults
    srv.delay = int(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0
    srv.serve_forever()


if __name__ == "__main__":
    main()
