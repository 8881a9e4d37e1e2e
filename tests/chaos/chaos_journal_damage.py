"""chaos journal_damage: a corrupt and a truncated journal segment.

Run 1 journals 2 000 acknowledged readings (source.tcp into sink.jsonl).
Then two copies of the data directory are damaged: one with a byte
flipped in the middle of the segment, one with the segment cut in the
middle of a record (a torn write).  With the sink's cursor reset to 0
each copy must start, replay exactly the records before the damage,
quarantine the rest (counted), and take and deliver new readings.
"""
import glob
import json
import os
import shutil
import signal
import socket
import time

import chaos
from chaos import lib

lib.suite("chaos")
CASE = "journal_damage"
d = chaos.tmpdir()
N = 2000


def run(data, out, port, values):
    rec = chaos.recipe(d, '''
kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" }, kk.sink.jsonl { path = "%s" })
''' % (port, out), "r%d.lua" % port)
    log = open(data + ".log", "a")
    p = lib.start(rec, log, "--data-dir", data)
    acks = 0
    if lib.wait_port(port, p) and values:
        s = socket.create_connection(("127.0.0.1", port))
        lines = "".join(json.dumps({"thing": "t", "property": "co2", "unit": "ppm",
                                    "time": 1700000000000 + v * 1000, "value": v}) + "\n"
                        for v in values)
        s.sendall(lines.encode())
        s.shutdown(socket.SHUT_WR)
        acks = sum(1 for a in s.makefile().read().splitlines() if a.startswith("ok "))
        s.close()
    time.sleep(0.5)
    rc = lib.stop(p)
    return rc, acks


def values(path):
    try:
        return [json.loads(line)["value"] for line in open(path)]
    except OSError:
        return []


base = os.path.join(d, "data")
rc, acks = run(base, os.path.join(d, "out0.jsonl"), lib.free_port(), range(N))
lib.check(CASE + "/run1", rc == 0 and acks == N, (rc, acks))
seg = sorted(glob.glob(os.path.join(base, "journal", "*.kkj")))[0]
size = os.path.getsize(seg)
for kind in ("corrupt", "truncated"):
    data = os.path.join(d, kind)
    shutil.copytree(base, data)
    s = os.path.join(data, "journal", os.path.basename(seg))
    if kind == "corrupt":
        with open(s, "r+b") as f:
            f.seek(size // 2)
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 0xFF]))
    else:
        os.truncate(s, size // 2 + 7)
    for c in glob.glob(os.path.join(data, "journal", "cursors", "*")):
        open(c, "w").write("0\n")
    out = os.path.join(d, kind + ".jsonl")
    t0 = time.time()
    rc, acks = run(data, out, lib.free_port(), range(N, N + 10))
    got = values(out)
    replayed = [v for v in got if v < N]
    prom = open(os.path.join(data, "metrics.prom")).read()
    chaos.figure(CASE, kind + "_replayed", len(replayed))
    chaos.figure(CASE, kind + "_recovery_seconds", "%.2f" % (time.time() - t0))
    lib.check(CASE + "/" + kind + "-clean-exit", rc == 0, rc)
    lib.check(CASE + "/" + kind + "-prefix-replayed",
              0 < len(replayed) < N and replayed == list(range(len(replayed))), len(replayed))
    lib.check(CASE + "/" + kind + "-new-readings", acks == 10 and [v for v in got if v >= N] ==
              list(range(N, N + 10)), (acks, got[-3:]))
    if kind == "corrupt":
        lib.check(CASE + "/corrupt-counted", "kk_journal_corrupt_records 1" in prom or
                  glob.glob(os.path.join(data, "journal", "quarantine", "*")), prom[-200:])
chaos.cleanup(d)
lib.kill_all()
raise SystemExit(lib.exit_code())
