"""A sink batch that fails for good is a dead letter; a transient failure
is retried as before (issue 15).

source.http -> a Lua sink module that refuses a reading of 666 (a data
error: the same batch fails the same way however often it is tried) and
a store.sqlite beside it.  The 666 record is tried 3 times, then moved to
the dead letters with the sink's name and reason; the sink's cursor
passes it, so the next start does not offer it to the sink again and the
other readings keep flowing.  sink.jsonl on /dev/full fails with ENOSPC,
which is transient: its batches are counted as failed, never
dead-lettered, and its cursor stays before them (replayed at the next
start).
"""
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib

lib.suite("sink_dead")
K = lib.BIN
d = tempfile.mkdtemp()
port = lib.free_port()
with open(os.path.join(d, "picky.module.lua"), "w") as f:
    f.write('''return {
  name = "picky", kind = "sink", ns = "sink",
  summary = "refuses the value 666",
  process = function(s, batch)
    for r in batch:readings() do
      if r.value == 666 then error("value 666 refused by the destination", 0) end
    end
  end,
}
''')
recipe = os.path.join(d, "r.lua")


def write_recipe(sinks):
    with open(recipe, "w") as f:
        f.write('''local kk = require "klimakit"
kk.config { data_dir = "%s" }
kk.load_module "%s/picky.module.lua"
kk.pipe(kk.source.http { listen = "127.0.0.1:%d", allow_anonymous = true }, { %s })
''' % (d, d, port, sinks))


def post(v, t):
    body = ('{"thing":"room","property":"co2","unit":"ppm","value":%d,"time":%d}'
            % (v, 1700000000000 + t * 1000)).encode()
    r = urllib.request.Request("http://127.0.0.1:%d/api/ingest" % port, data=body,
                               headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def stored():
    try:
        db = sqlite3.connect(os.path.join(d, "kk.db"))
        return sorted(int(v) for (v,) in db.execute("SELECT value FROM observations"))
    except sqlite3.Error:
        return []


def journal(*args):
    p = subprocess.run([K, "journal", "--data-dir", d] + list(args), capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


write_recipe('kk.sink.picky {}, kk.store.sqlite { path = "%s/kk.db" }' % d)
logname = os.path.join(d, "log")
p = lib.start(recipe, open(logname, "a"))
lib.wait_port(port, p)
codes = [post(v, i) for i, v in enumerate([1, 2, 666, 3, 4])]
lib.check("all-202", codes == [202] * 5, codes)
lib.wait_for(lambda: stored() == [1, 2, 3, 4, 666], 10)
lib.check("clean-exit", lib.stop(p) == 0)
lg = open(logname).read()
lib.check("store-beside-has-all", stored() == [1, 2, 3, 4, 666], stored())
rc, out = journal("dead")
lib.check("one-letter", "1 dead letter" in out, out)
lib.check("dead-letter", rc == 0 and re.search(r"^3 .* http +picky +3 .*value 666 refused", out, re.M),
          out)
prom = open(os.path.join(d, "metrics.prom")).read()
lib.check("counted", 'kk_dead_letters_total{stage="picky",reason="sink"} 1' in prom, prom[-300:])
cur = open(os.path.join(d, "journal", "cursors", "picky")).read().strip()
lib.check("cursor-passed", cur == "5", cur)

# The next start does not offer it again: no replay to the sink.
p = lib.start(recipe, open(logname, "a"))
lib.wait_port(port, p)
lib.check("next-202", post(5, 10) == 202)
lib.wait_for(lambda: 5 in stored(), 10)
time.sleep(0.5)
lib.stop(p)
lg2 = open(logname).read()[len(lg):]
lib.check("not-replayed", "replaying" not in lg2 and "value 666" not in lg2 and
          open(os.path.join(d, "journal", "cursors", "picky")).read().strip() == "6", lg2[-600:])

# Transient: /dev/full fails with ENOSPC; retried, not dead-lettered.
write_recipe('kk.sink.jsonl { path = "/dev/full" }')
p = lib.start(recipe, open(logname, "a"))
lib.wait_port(port, p)
lib.check("transient-202", post(7, 20) == 202)
lib.wait_for(lambda: "No space left" in open(logname).read() or "no space" in open(logname).read(), 10)
lib.stop(p)
rc, out = journal("dead")
lib.check("transient-not-dead", "jsonl" not in out and "1 dead letter" in out, out)
lg3 = open(logname).read()
lib.check("transient-replayed-next", "cursor stays at" in lg3, lg3[-400:])
lib.kill_all()
if not lib.failed() and not os.environ.get("KK_KEEP"):
    subprocess.run(["rm", "-rf", d])
raise SystemExit(lib.exit_code())
