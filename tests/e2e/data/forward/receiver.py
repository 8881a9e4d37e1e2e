#!/usr/bin/env python3
"""Test receiver for the forwarding sinks (tests/e2e/test_forward.py).

    receiver.py PORT LOG SECRET FAIL_FIRST

Listens on 127.0.0.1:PORT and appends one JSON line per request to LOG:
{"path", "status", "sig_ok", "body"}.  It never deduplicates: what it
acknowledges (2xx) is what the test counts.

  POST /hook      webhook: answers 503 to the first FAIL_FIRST requests,
                  then 204; checks X-Klimakit-Signature against SECRET
  POST /reject    always 400 (the dead-letter case)
  POST /v1.1/CreateObservations     SensorThings dataArray create: shape
                  checked, 201 with the created links, 400 if malformed
  POST /v1.1/Datastreams(N)/Observations   single Observation create
  POST /ngsi-ld/v1/entityOperations/upsert  NGSI-LD batch upsert: shape
                  checked, 204, 400 if malformed
"""
import hashlib, hmac, json, re, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG, SECRET, FAIL_FIRST = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
lock = threading.Lock()
hook_count = [0]


def sta_ok(doc):
    if not isinstance(doc, list) or not doc:
        return False
    for ds in doc:
        if not isinstance(ds.get("Datastream", {}).get("@iot.id"), int):
            return False
        if ds.get("components") != ["phenomenonTime", "result"]:
            return False
        arr = ds.get("dataArray")
        if not isinstance(arr, list) or ds.get("dataArray@iot.count") != len(arr):
            return False
        for row in arr:
            if len(row) != 2 or not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", row[0]):
                return False
    return True


def ngsild_ok(doc):
    if not isinstance(doc, list) or not doc:
        return False
    ids = set()
    for e in doc:
        if not isinstance(e.get("id"), str) or not e["id"].startswith("urn:ngsi-ld:"):
            return False
        if not isinstance(e.get("type"), str) or "@context" not in e:
            return False
        props = [k for k in e if k not in ("id", "type", "@context")]
        if not props:
            return False
        for k in props:
            p = e[k]
            if p.get("type") != "Property" or "value" not in p or "observedAt" not in p:
                return False
        if e["id"] in ids:  # one fragment per entity in a request
            return False
        ids.add(e["id"])
    return True


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body=b"", ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        rec = {"path": self.path, "ctype": self.headers.get("Content-Type")}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec["body"] = body
        status = 204
        if self.path == "/hook":
            sig = self.headers.get("X-Klimakit-Signature", "")
            want = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
            rec["sig_ok"] = hmac.compare_digest(sig, want)
            with lock:
                hook_count[0] += 1
                if hook_count[0] <= FAIL_FIRST:
                    status = 503
        elif self.path == "/reject":
            status = 400
        elif self.path == "/v1.1/CreateObservations":
            status = 201 if sta_ok(body) else 400
        elif re.match(r"^/v1\.1/Datastreams\(\d+\)/Observations$", self.path):
            ok = isinstance(body, dict) and "phenomenonTime" in body and "result" in body
            status = 201 if ok else 400
        elif self.path == "/ngsi-ld/v1/entityOperations/upsert?options=update":
            ok = ngsild_ok(body) and self.headers.get("Content-Type", "").startswith("application/ld+json")
            status = 204 if ok else 400
        else:
            status = 404
        rec["status"] = status
        with lock:
            with open(LOG, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if status == 201 and self.path == "/v1.1/CreateObservations":
            self.answer(201, json.dumps(["created"]).encode())
        elif status >= 400:
            self.answer(status, b'{"error":"test receiver says no"}')
        else:
            self.answer(status)


ThreadingHTTPServer.allow_reuse_address = True
srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
print("listening", flush=True)
srv.serve_forever()
