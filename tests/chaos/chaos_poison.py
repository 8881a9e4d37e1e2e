"""chaos poison: journal records that make a stage fail are quarantined.

1. A recipe function (kk.map) errors on one reading: the record goes to
   the dead letters with the stage and the reason, the other readings
   flow, the failure is counted; after the recipe is fixed, `klimakit
   journal requeue --all` (refused while klimakit runs) puts it back and
   the next start stores it, once.
2. A body the source cannot decode is answered 400 and is a dead letter.
3. Crash loop: a function hangs on one reading and a watchdog (this test)
   SIGKILLs the process each time; after a bounded number of restarts the
   record is a dead letter ("crash loop"), the process stays up and the
   next reading is stored.
"""
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time

import chaos
from chaos import lib

lib.suite("chaos")
CASE = "poison"
d = chaos.tmpdir()
port = lib.free_port()
K = lib.BIN


def recipe(fn, name, extra=""):
    return chaos.recipe(d, '''
local src = kk.source.http { listen = "127.0.0.1:%d", allow_anonymous = true }
kk.pipe(src, kk.map(%s, { name = "check"%s }),
        { kk.store.sqlite { path = "%s/kk.db" }, kk.sink.jsonl { path = "%s/out.jsonl" } })
''' % (port, fn, extra, d, d), name)


def body(v, t):
    return ('{"thing":"room","property":"co2","unit":"ppm","value":%d,"time":%d}'
            % (v, 1700000000000 + t * 1000))


def stored():
    try:
        db = sqlite3.connect(os.path.join(d, "kk.db"))
        return sorted(int(v) for (v,) in db.execute("SELECT value FROM observations"))
    except sqlite3.Error:
        return []


def journal(*args):
    p = subprocess.run([K, "journal", "--data-dir", d] + list(args), capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout + p.stderr


bad = recipe('function(r) if r.value == 666 then error("poison 666") end return true end', "bad.lua")
good = recipe('function(r) return true end', "good.lua")
log = open(os.path.join(d, "log"), "a")

# ---- 1. a transform error ------------------------------------------------
p = lib.start(bad, log, "--data-dir", d)
lib.wait_port(port, p)
codes = []
for i in range(1, 51):
    v = 666 if i == 25 else i
    codes.append(chaos.request(port, "/api/ingest", body(v, i))[0])
lib.check(CASE + "/all-202", codes == [202] * 50, codes)
time.sleep(0.5)
rc, out = journal("requeue", "--all")
lib.check(CASE + "/requeue-refused-while-running", rc == 1 and "stop klimakit first" in out, (rc, out))
lib.check(CASE + "/clean-exit", lib.stop(p) == 0)
s1 = stored()
lib.check(CASE + "/others-flow", s1 == [i for i in range(1, 51) if i != 25], s1)
rc, out = journal("dead")
chaos.figure(CASE, "dead_letters", len(re.findall(r"^\d+ +\d{4}-", out, re.M)))
lib.check(CASE + "/dead-listed", rc == 0 and re.search(r"^\d+ .* http +check .*poison 666", out, re.M),
          out)
prom = open(os.path.join(d, "metrics.prom")).read()
lib.check(CASE + "/counted", re.search(r'kk_dead_letters_total\{stage="check",reason="transform"\} 1',
                                       prom), prom[-400:])
seq = re.search(r"^(\d+) ", out, re.M)
if seq:
    rc, show = journal("show", seq.group(1))
    lib.check(CASE + "/show", rc == 0 and '"value":666' in show and "reason:   " in show, show)
rc, out = journal("requeue", "--all")
lib.check(CASE + "/requeued", rc == 0 and "1 dead letter requeued" in out, (rc, out))
p = lib.start(good, log, "--data-dir", d)
lib.wait_port(port, p)
lib.wait_for(lambda: 666 in stored(), 10)
lib.check(CASE + "/clean-exit-fixed", lib.stop(p) == 0)
s2 = stored()
lib.check(CASE + "/requeued-stored-once", s2 == sorted(list(range(1, 51)) + [666]) or
          s2 == sorted(set(range(1, 51)) - {25} | {666}), s2)
lines = open(os.path.join(d, "out.jsonl")).read().count('"value":666')
lib.check(CASE + "/requeued-in-file-once", lines == 1, lines)
rc, out = journal("dead")
lib.check(CASE + "/dead-empty", "0 dead letters" in out, out)

# ---- 2. a body that does not decode -----------------------------------
p = lib.start(good, log, "--data-dir", d)
lib.wait_port(port, p)
st, _, txt = chaos.request(port, "/api/ingest", '[{"n":"co2","v":"high"}]', "application/senml+json")
lib.check(CASE + "/undecodable-400", st == 400, (st, txt))
lib.stop(p)
rc, out = journal("dead")
lib.check(CASE + "/undecodable-dead", re.search(r"^\d+ .* http +http .*number", out, re.M), out)
journal("requeue", "--all")  # still undecodable: it comes back as a dead letter

# ---- 3. a crash loop ----------------------------------------------------
hang = recipe('function(r) if r.value == 777 then kk.log("POISON-SEEN") while true do end end '
              'return true end', "hang.lua", ', deadline = "600s", budget = 1e15')
kills = 0
up = False
t0 = time.time()
for attempt in range(8):
    logname = os.path.join(d, "hang%d.log" % attempt)
    lg = open(logname, "w")
    p = lib.start(hang, lg, "--data-dir", d)
    if attempt == 0:
        lib.wait_port(port, p)
        chaos.request(port, "/api/ingest", body(777, 100), timeout=0.5)
    seen = lib.wait_for(lambda: "POISON-SEEN" in open(logname).read(), 5)
    if not seen:
        up = p.poll() is None
        break
    p.kill()
    p.wait()
    kills += 1
lib.check(CASE + "/crash-loop-bounded", up and kills <= 4, "kills %d, up %s" % (kills, up))
chaos.figure(CASE, "crash_loop_kills", kills)
chaos.figure(CASE, "crash_loop_recovery_seconds", "%.1f" % (time.time() - t0))
if up:
    lib.wait_port(port, p)
    st, _, _ = chaos.request(port, "/api/ingest", body(5, 101))
    lib.check(CASE + "/after-loop-202", st == 202, st)
    lib.stop(p)
    rc, out = journal("dead")
    lib.check(CASE + "/crash-loop-dead", re.search(r"crash loop: the process died \d times", out), out)
    lib.check(CASE + "/after-loop-stored", stored().count(5) == 2, stored())
lib.kill_all()
chaos.cleanup(d)
raise SystemExit(lib.exit_code())
