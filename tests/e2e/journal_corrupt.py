#!/usr/bin/env python3
"""A corrupt journal record is quarantined, counted and logged, and the
pipeline goes on.

Run 1 journals 100 readings.  Between runs a byte in the middle of the
segment is flipped and the sink's cursor is reset to 0 so that run 2
replays the journal.  Run 2 must replay the records before the damage,
move the rest of the segment to quarantine/, count it in metrics.prom,
log it, and still accept and deliver new readings."""
import glob, json, os, re, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check  # noqa: E402

lib.suite("journal")
BIN = lib.BIN


tmp = tempfile.mkdtemp(prefix="kk-jc-")
port = lib.free_port()
data, out = os.path.join(tmp, "data"), os.path.join(tmp, "out.jsonl")
recipe = os.path.join(tmp, "r.lua")
with open(recipe, "w") as f:
    f.write('local kk = require "klimakit"\n'
            'kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" }, kk.sink.jsonl { path = "%s" })\n'
            % (port, out))


def run(first, count):
    log = open(os.path.join(tmp, "log"), "ab")
    p = subprocess.Popen([BIN, "run", recipe, "--data-dir", data, "--log-format", "json"],
                         stdout=log, stderr=log)
    sock = None
    for _ in range(500):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except OSError:
            time.sleep(0.02)
    acked = 0
    if sock:
        f = sock.makefile("rwb")
        for i in range(first, first + count):
            f.write((json.dumps({"thing": "t", "property": "p", "unit": "1",
                                 "time": 1700000000000 + i, "value": i}) + "\n").encode())
        f.flush()
        for _ in range(count):
            acked += f.readline().startswith(b"ok ")
        sock.close()
    p.send_signal(signal.SIGTERM)
    return p.wait(timeout=30), acked


rc, acked = run(0, 100)
check("run1", rc == 0 and acked == 100, "exit %d, %d acked" % (rc, acked))
seg = sorted(glob.glob(os.path.join(data, "journal", "*.kkj")))[-1]
size = os.path.getsize(seg)
with open(seg, "r+b") as f:
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0xFF]))
with open(os.path.join(data, "journal", "cursors", "jsonl"), "w") as f:
    f.write("0\n")
os.remove(out)
rc, acked = run(1000, 10)
check("run2-exit", rc == 0, "exit %d" % rc)
check("run2-accepts-new", acked == 10, "%d of 10 acked after the damage" % acked)
vals = [int(json.loads(l)["value"]) for l in open(out)] if os.path.exists(out) else []
old = [v for v in vals if v < 100]
check("replayed-before-damage", 10 < len(old) < 100 and old == list(range(len(old))),
      "%d old readings replayed: %s..." % (len(old), old[:5]))
check("new-delivered", [v for v in vals if v >= 1000] == list(range(1000, 1010)))
q = glob.glob(os.path.join(data, "journal", "quarantine", "*"))
check("quarantined", len(q) == 1 and os.path.getsize(q[0]) > 0, "quarantine holds %s" % q)
prom = open(os.path.join(data, "metrics.prom")).read()
m = re.search(r"^kk_journal_corrupt_records (\d+)", prom, re.M)
check("counted", m is not None and int(m.group(1)) >= 1, "metric %s" % (m.group(0) if m else "missing"))
logtext = open(os.path.join(tmp, "log")).read()
check("logged", re.search(r'"level":"warn","component":"core:journal".*(corrupt|quarantin)', logtext) is not None,
      "no journal warning in the log")
if not lib.failed():
    subprocess.run(["rm", "-rf", tmp])
else:
    print("# kept " + tmp)
sys.exit(lib.exit_code())
