"""Dead letters from decoder transforms, and the datastream limits as
kk.config options (issue 15).

1. source.mqtt -> decode.lua -> store.sqlite: a message the decoder
   rejects is a dead letter with the decoder's reason (listed by
   `klimakit journal dead`, shown by `show`); the messages around it are
   stored.  A restart that replays the journal (a new sink starts at 0)
   does not write, count or log the rejected record again.  After the
   decoder is fixed, `requeue --all` and a start store it once.
2. A flood of 12 000 undecodable messages keeps the dead-letter area
   within its bounds (10 000 letters), counts what it dropped in
   kk_dead_letters_dropped_total and logs it rate-limited.
3. kk.config { max_datastreams_per_source = 3 }: the fourth new
   datastream from source.http is answered 400 with a reason that names
   the limit (and the record is a dead letter); max_datastreams = 0 or a
   string is refused by `klimakit check` with file:line:.
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

lib.suite("dead_letters")
K = lib.BIN
d = tempfile.mkdtemp()
os.chmod(d, 0o755)


def journal(*args):
    p = subprocess.run([K, "journal", "--data-dir", d] + list(args), capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def write(name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def stored():
    try:
        db = sqlite3.connect(os.path.join(d, "kk.db"))
        return sorted(int(v) for (v,) in db.execute("SELECT value FROM observations"))
    except sqlite3.Error:
        return []


def prom():
    try:
        return open(os.path.join(d, "metrics.prom")).read()
    except OSError:
        return ""


def letters(out):
    return re.findall(r"^(\d+) +\d{4}-\S+ +(\S+) +(\S+) +\d+ (.*)$", out, re.M)


bport = lib.free_port()
lib.broker_conf(os.path.join(d, "mosquitto.conf"), bport, 100000)
log = open(os.path.join(d, "log"), "a")
if not lib.broker(os.path.join(d, "mosquitto.conf"), bport, open(os.path.join(d, "broker.log"), "a")):
    lib.no("broker", "mosquitto did not start")
    lib.kill_all()
    raise SystemExit(1)


def pub(*payloads):
    for p in payloads:
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(bport), "-q", "1",
                        "-t", "dev/room1", "-m", p], check=True, timeout=10)


v1 = write("v1.lua", '''
local function decode(payload)
  local v, t = payload:match("^co2=(%d+);t=(%d+)$")
  if not v then return nil, "not a co2=N frame", "invalid" end
  return { { property = "co2", unit = "ppm", value = tonumber(v), time = 1700000000000 + tonumber(t) * 1000 } }
end
return { decode = decode }
''')
v2 = write("v2.lua", '''
local function decode(payload)
  local v, t = payload:match("^co2=(%d+);t=(%d+)$")
  if not v then v, t = payload:match("^CO2:(%d+);t=(%d+)$") end
  if not v then return nil, "not a co2 frame", "invalid" end
  return { { property = "co2", unit = "ppm", value = tonumber(v), time = 1700000000000 + tonumber(t) * 1000 } }
end
return { decode = decode }
''')


def recipe(name, decoder, extra=""):
    return write(name, '''local kk = require "klimakit"
kk.config { data_dir = "%s", exit_when_done = false }
local src = kk.source.mqtt { url = "mqtt://127.0.0.1:%d", topic = "dev/+", qos = 1,
                             client_id = "kk-dead", name = "mqtt" }
kk.pipe(src, kk.decode.lua { path = "%s", envelope = "raw", thing = "room1", name = "dec" },
        { kk.store.sqlite { path = "%s/kk.db" }%s })
''' % (d, bport, decoder, d, extra))


r1 = recipe("r1.lua", v1)
r3 = recipe("r3.lua", v2)

# ---- 1. a rejected message is a dead letter --------------------------------
p = lib.start(r1, log)
lib.wait_for(lambda: "connected to" in open(os.path.join(d, "log")).read(), 10)
pub("co2=400;t=1", "CO2:555;t=2", "co2=401;t=3")
lib.wait_for(lambda: stored() == [400, 401], 10)
lib.check("others-stored", stored() == [400, 401], stored())
lib.check("counted", re.search(r'kk_dead_letters_total\{stage="dec",reason="decode"\} 1', prom())
          or lib.wait_for(lambda: re.search(r'kk_dead_letters_total\{stage="dec",reason="decode"\} 1',
                                            prom()), 8), prom()[-300:])
lib.check("clean-exit", lib.stop(p) == 0)
rc, out = journal("dead")
ls = letters(out)
lib.check("listed", rc == 0 and len(ls) == 1 and ls[0][1] == "mqtt" and ls[0][2] == "dec"
          and "not a co2=N frame" in ls[0][3], out)
seq = ls[0][0] if ls else "0"
rc, show = journal("show", seq)
lib.check("shown", rc == 0 and "CO2:555" in show and "not a co2=N frame" in show, show)
mtime = os.path.getmtime(os.path.join(d, "journal", "dead", "%020d.kkd" % int(seq)))

# ---- the replay after a restart does not dead-letter it again ---------------
# The store's cursor set back to 0: the next start replays the journal.
with open(os.path.join(d, "journal", "cursors", "sqlite"), "w") as f:
    f.write("0\n")
before = open(os.path.join(d, "log")).read().count("moved to the dead letters")
p = lib.start(r1, log)
lib.wait_for(lambda: "replayed 3 records" in open(os.path.join(d, "log")).read(), 10)
time.sleep(1.5)  # metrics.prom is written every second
lib.stop(p)
lg = open(os.path.join(d, "log")).read()
after = lg.count("moved to the dead letters")
lib.check("replayed", "replayed 3 records" in lg and stored() == [400, 401], lg[-600:])
lib.check("not-again", after == before and
          os.path.getmtime(os.path.join(d, "journal", "dead", "%020d.kkd" % int(seq))) == mtime and
          not re.search(r'kk_dead_letters_total\{stage="dec",reason="decode"\} [1-9]', prom()),
          (before, after, prom()[-300:]))
rc, out = journal("dead")
lib.check("still-one", len(letters(out)) == 1, out)

# ---- after the fix: requeue, stored once -------------------------------------
rc, out = journal("requeue", "--all")
lib.check("requeued", rc == 0 and "1 dead letter requeued" in out, (rc, out))
p = lib.start(r3, log)
lib.wait_for(lambda: 555 in stored(), 10)
lib.stop(p)
lib.check("fixed-stored-once", stored() == [400, 401, 555], stored())
rc, out = journal("dead")
lib.check("area-empty", "0 dead letters" in out, out)

# ---- 2. a flood of garbage stays bounded -------------------------------------
p = lib.start(r1, log)
lib.wait_for(lambda: open(os.path.join(d, "log")).read().count("connected to") >= 4, 10)
n = 12000
with open(os.path.join(d, "flood.txt"), "w") as f:
    for i in range(n):
        f.write("garbage %d\n" % i)
subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(bport), "-q", "1", "-t", "dev/x",
                "-l"], stdin=open(os.path.join(d, "flood.txt")), check=True, timeout=120)
pub("co2=402;t=4")
lib.wait_for(lambda: 402 in stored(), 60)
lib.wait_for(lambda: re.search(r'kk_dead_letters_total\{stage="dec",reason="decode"\} %d' % n, prom()), 60)
lib.check("flows-after-flood", 402 in stored(), stored()[-3:])
pr = prom()
m = re.search(r"kk_dead_letters_dropped_total (\d+)", pr)
lib.check("flood-dropped-counted", m and int(m.group(1)) >= n - 10000, pr[-400:])
lib.stop(p)
files = len(os.listdir(os.path.join(d, "journal", "dead")))
lib.check("flood-bounded", files <= 10000, files)
lg = open(os.path.join(d, "log")).read()
lib.check("flood-logged-rate-limited", 1 <= lg.count("oldest dropped to stay within") <= 3,
          lg.count("oldest dropped to stay within"))
print("figure dead_letters flood %d messages: %d letters kept, %s dropped" %
      (n, files, m.group(1) if m else "?"))

# ---- 3. the datastream limits are kk.config options ------------------------
hport = lib.free_port()
lim = write("lim.lua", '''local kk = require "klimakit"
kk.config { data_dir = "%s/lim", max_datastreams_per_source = 3 }
kk.pipe(kk.source.http { listen = "127.0.0.1:%d", allow_anonymous = true },
        kk.store.sqlite { path = "%s/lim.db" })
''' % (d, hport, d))
p = lib.start(lim, log)
lib.wait_port(hport, p)
answers = []
for i in range(5):
    body = ('{"thing":"t","property":"p%d","unit":"1","value":1,"time":1700000000000}' % i).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/api/ingest" % hport, data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            answers.append((r.status, r.read().decode()))
    except urllib.error.HTTPError as e:
        answers.append((e.code, e.read().decode()))
lib.check("limit-admits-3", [a[0] for a in answers] == [202, 202, 202, 400, 400], answers)
lib.check("limit-named", "max_datastreams_per_source" in answers[3][1] and "more than 3" in answers[3][1],
          answers[3][1])
lib.stop(p)
rc = subprocess.run([K, "journal", "--data-dir", os.path.join(d, "lim"), "dead"], capture_output=True,
                    text=True, timeout=30)
lib.check("limit-dead-letter", len(letters(rc.stdout)) == 2 and "max_datastreams_per_source" in rc.stdout,
          rc.stdout)
for name, val in (("zero", "max_datastreams = 0"), ("string", 'max_datastreams_per_source = "many"')):
    bad = write("bad_%s.lua" % name, 'local kk = require "klimakit"\nkk.config { %s }\nkk.pipe(kk.source.simulate {}, kk.sink.null {})\n'
                % val)
    c = subprocess.run([K, "check", bad], capture_output=True, text=True, timeout=30)
    lib.check("check-" + name, c.returncode != 0 and
              re.search(re.escape(bad) + r":2: .*max_datastreams", c.stdout + c.stderr),
              (c.returncode, c.stdout + c.stderr))
lib.kill_all()
if not lib.failed() and not os.environ.get("KK_KEEP"):
    subprocess.run(["rm", "-rf", d])
raise SystemExit(lib.exit_code())
