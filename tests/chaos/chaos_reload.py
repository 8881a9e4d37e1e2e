"""chaos reload: SIGHUP under HTTP ingest load.

Four clients post readings; the recipe file is changed (a second sink
added) and klimakit gets SIGHUP.  A reload must keep the process, lose
nothing acknowledged and store nothing twice (core/reload.c).  Should
SIGHUP end the process instead, the case says so and is skipped.
"""
import os
import shutil
import signal
import sqlite3
import threading
import time

import chaos
from chaos import lib

lib.suite("chaos")
CASE = "reload"
d = chaos.tmpdir()
port = lib.free_port()
body = '''
kk.pipe(kk.source.http { listen = "127.0.0.1:%d", allow_anonymous = true },
        { kk.store.sqlite { path = "%s/kk.db" }%s })
'''
rec = chaos.recipe(d, body % (port, d, ""))
log = open(os.path.join(d, "log"), "w")
p = lib.start(rec, log, "--data-dir", d)
lib.wait_port(port, p)
stop = threading.Event()
lock = threading.Lock()
acked, status = [], {}


def client(k):
    i = 0
    while not stop.is_set():
        i += 1
        v = k * 10_000_000 + i
        st, _, _ = chaos.request(port, "/api/ingest",
                                 '{"thing":"t%d","property":"co2","unit":"ppm","value":%d,"time":%d}'
                                 % (k, v, 1700000000000 + i * 1000), timeout=5)
        with lock:
            status[st] = status.get(st, 0) + 1
            if st == 202:
                acked.append(v)
        if st != 202:
            time.sleep(0.05)


threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
time.sleep(2)
chaos.recipe(d, body % (port, d, ', kk.sink.jsonl { path = "%s/out.jsonl" }' % d))
t0 = time.time()
p.send_signal(signal.SIGHUP)
time.sleep(3)
stop.set()
for t in threads:
    t.join()
if p.poll() is not None:
    lib.skip(CASE, "SIGHUP ended the process (exit %s): the reload of issue #15 item 6 is not "
             "in this build" % p.returncode)
else:
    rc = lib.stop(p)
    db = sqlite3.connect(os.path.join(d, "kk.db"))
    stored = [int(v) for (v,) in db.execute("SELECT value FROM observations")]
    chaos.figure(CASE, "acknowledged", len(acked))
    chaos.figure(CASE, "stored", len(stored))
    chaos.figure(CASE, "duplicates", len(stored) - len(set(stored)))
    chaos.figure(CASE, "answers", " ".join("%s=%d" % kv for kv in sorted(status.items(), key=str)))
    lib.check(CASE + "/clean-exit", rc == 0, rc)
    lib.check(CASE + "/acked-stored-once", set(acked) <= set(stored) and len(stored) == len(set(stored)),
              "lost %d" % len(set(acked) - set(stored)))
    lib.check(CASE + "/new-sink-used", os.path.exists(os.path.join(d, "out.jsonl")), "no out.jsonl")
lib.kill_all()
chaos.cleanup(d)
raise SystemExit(lib.exit_code())
