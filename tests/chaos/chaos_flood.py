"""chaos flood: a flood of new datastream names.

POSTs of 15 000 readings with new property names each (the attack of
issue #15: three of them took RSS from 10 to 571 MB) into source.http
and the dashboard (publish.http), 180 000 names in all.  (A SQLite store
beside them adds its own per-datastream cost, about 0.4 KB each: +66 MB
for the 65 536 admitted here; that is the store's to bound.)
The source may create 65 536 datastreams (KK__DS_PER_SOURCE): the rest
is refused, counted and logged once, the readings go to the dead
letters, and RSS stays within 64 MB of idle.  Known datastreams keep
flowing.
"""
import json
import os
import re
import shutil
import signal
import time

import chaos
from chaos import lib

lib.suite("chaos")
CASE = "datastream_flood"
d = chaos.tmpdir()
port = lib.free_port()
rec = chaos.recipe(d, '''
kk.pipe(kk.source.http { listen = "127.0.0.1:%d", allow_anonymous = true, max_body = "8MiB" },
        kk.publish.http { listen = "127.0.0.1:%d", refresh = "0s" })
''' % (port, port))
log = open(os.path.join(d, "log"), "w")
p = lib.start(rec, log, "--data-dir", d)
lib.wait_port(port, p)
st, _, _ = chaos.request(port, "/api/ingest", '{"thing":"known","property":"co2","unit":"ppm","value":1}')
time.sleep(1.0)
idle = chaos.rss_kb(p.pid)
# Bodies of 15 000 new names, then of 500 (the first ones fit in the
# limit, so their readings reach the dashboard and the store).
for k, n in enumerate([15000] * 10 + [500] * chaos.scale(60, 400)):
    body = json.dumps([{"thing": "flood", "property": "p%d_%d" % (k, i), "unit": "ppm", "value": i,
                        "time": 1700000000000 + i} for i in range(n)])
    st, _, txt = chaos.request(port, "/api/ingest", body, timeout=60)
time.sleep(1.0)
st, _, _ = chaos.request(port, "/api/ingest", '{"thing":"known","property":"co2","unit":"ppm","value":2}')
lib.check(CASE + "/known-still-202", st == 202, st)
peak = chaos.peak_kb(p.pid)
now = chaos.rss_kb(p.pid)
st2, _, page = chaos.request(port, "/metrics")
lib.check(CASE + "/clean-exit", lib.stop(p) == 0)
text = open(os.path.join(d, "log")).read()
refused = re.search(r'kk_datastreams_refused_total\{stage="http"\} (\d+)', page)
chaos.figure(CASE, "idle_rss_kb", idle)
chaos.figure(CASE, "peak_rss_kb", peak)
chaos.figure(CASE, "rss_above_idle_kb", now - idle)
chaos.figure(CASE, "refused", refused.group(1) if refused else 0)
lib.check(CASE + "/refused-counted", refused and int(refused.group(1)) > 0, page[-300:])
lib.check(CASE + "/logged-once", text.count("new datastream refused") == 1, text.count("new datastream refused"))
lib.check(CASE + "/rss-bounded", peak - idle <= 64 * 1024, "peak %d kB, idle %d kB" % (peak, idle))
lib.kill_all()
chaos.cleanup(d)
raise SystemExit(lib.exit_code())
