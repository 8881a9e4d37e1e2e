"""chaos drain: SIGTERM under HTTP and CoAP ingest load.

Eight clients post readings as fast as they can into source.http (sharing
its server with publish.http, so the listener outlives the source) while
a CoAP client sends confirmable requests; then SIGTERM.  During the drain
ingest must answer 503 with Retry-After (HTTP) or 5.03 with Max-Age
(CoAP), never 404: a gateway treats 404 as final and drops the reading.
Every 202 must be in the SQLite store and the file sink, once.
"""
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

import chaos
from chaos import lib

lib.suite("chaos")
CASE = "drain"
d = chaos.tmpdir()
port = lib.free_port()
out = os.path.join(d, "out.jsonl")
rec = chaos.recipe(d, '''
local src = kk.source.http { listen = "127.0.0.1:%d", allow_anonymous = true }
kk.pipe(src, { kk.store.sqlite { path = "%s/kk.db" }, kk.sink.jsonl { path = "%s" },
               kk.publish.http { listen = "127.0.0.1:%d", refresh = "0s" } })
''' % (port, d, out, port))
log = open(os.path.join(d, "log"), "w")
p = lib.start(rec, log, "--data-dir", d)
if not lib.wait_port(port, p):
    lib.no(CASE + "/start", open(os.path.join(d, "log")).read()[-500:])
    lib.kill_all()
    raise SystemExit(1)

stop = threading.Event()
lock = threading.Lock()
status = {}
acked = []  # values whose POST got 202


def client(k):
    conn = None
    i = 0
    while not stop.is_set():
        i += 1
        v = k * 10_000_000 + i
        body = ('{"thing":"t%d","property":"co2","unit":"ppm","value":%d,"time":"%s"}'
                % (k, v, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1.7e9 + i))))
        if conn is None:
            conn = chaos.hc.HTTPConnection("127.0.0.1", port, timeout=5)
        st, hd, _ = chaos.request(port, "/api/ingest", body, conn=conn)
        with lock:
            status[st] = status.get(st, 0) + 1
            if st == 202:
                acked.append(v)
            if st == 503 and "retry-after" not in hd:
                status["503-without-retry-after"] = status.get("503-without-retry-after", 0) + 1
        if st != 202:
            conn.close()
            conn = None
            if st == 0:
                time.sleep(0.01)


threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
time.sleep(chaos.scale(3, 60))
t0 = time.time()
p.send_signal(signal.SIGTERM)
rc = p.wait(timeout=60)
drain_s = time.time() - t0
time.sleep(0.3)
stop.set()
for t in threads:
    t.join()
log.close()

chaos.figure(CASE, "acknowledged", len(acked))
chaos.figure(CASE, "drain_seconds", "%.2f" % drain_s)
chaos.figure(CASE, "answers", " ".join("%s=%d" % (k, v) for k, v in sorted(status.items(), key=str)))
lib.check(CASE + "/clean-exit", rc == 0, rc)
lib.check(CASE + "/no-404", status.get(404, 0) == 0, status)
lib.check(CASE + "/503-has-retry-after", status.get("503-without-retry-after", 0) == 0, status)
db = sqlite3.connect(os.path.join(d, "kk.db"))
stored = [int(v) for (v,) in db.execute("SELECT value FROM observations")] if db else []
lines = [int(float(m)) for m in re.findall(r'"value":([0-9.e+]+)', open(out).read())] if os.path.exists(out) else []
sa, sl = set(acked), set(stored)
chaos.figure(CASE, "stored", len(stored))
chaos.figure(CASE, "duplicates", len(stored) - len(sl))
lib.check(CASE + "/acked-stored-once", sa <= sl and len(stored) == len(sl),
          "lost %d, duplicates %d" % (len(sa - sl), len(stored) - len(sl)))
lib.check(CASE + "/acked-in-file-once", sa <= set(lines) and len(lines) == len(set(lines)),
          "lost %d, duplicates %d" % (len(sa - set(lines)), len(lines) - len(set(lines))))

# CoAP: requests sent while the source stops get 5.03 (or nothing once the
# socket is closed), never 4.04.
coap = shutil.which("coap-client") or shutil.which("coap-client-openssl")
if not coap:
    lib.skip(CASE + "/coap", "no coap-client")
else:
    cport = lib.free_port(True)
    rec2 = chaos.recipe(d, '''
kk.pipe(kk.source.coap { listen = { "127.0.0.1:%d" } }, kk.store.sqlite { path = "%s/c.db" })
''' % (cport, d), "c.lua")
    log2 = open(os.path.join(d, "log2"), "w")
    p2 = lib.start(rec2, log2, "--data-dir", d + "/c")
    time.sleep(1.0)
    codes = {}
    cstop = threading.Event()

    def coap_client():
        while not cstop.is_set():
            r = subprocess.run([coap, "-m", "post", "-t", "50", "-B", "2", "-w", "-e",
                                '{"thing":"c","property":"co2","unit":"ppm","value":1}',
                                "coap://127.0.0.1:%d/r/c" % cport],
                               capture_output=True, text=True, timeout=10)
            m = re.match(r"(\d\.\d\d) ", r.stdout + r.stderr)
            with lock:
                k = m.group(1) if m else ("ok" if r.returncode == 0 else "none")
                codes[k] = codes.get(k, 0) + 1

    ct = [threading.Thread(target=coap_client) for _ in range(4)]
    for t in ct:
        t.start()
    time.sleep(1.5)
    p2.send_signal(signal.SIGTERM)
    rc2 = p2.wait(timeout=30)
    time.sleep(0.5)
    cstop.set()
    for t in ct:
        t.join()
    chaos.figure(CASE, "coap_answers", " ".join("%s=%d" % kv for kv in sorted(codes.items())))
    lib.check(CASE + "/coap-clean-exit", rc2 == 0, rc2)
    lib.check(CASE + "/coap-no-4.04", "4.04" not in codes, codes)
lib.kill_all()
chaos.cleanup(d)
raise SystemExit(lib.exit_code())
