#!/usr/bin/env python3
"""A runaway Lua stage is stopped within 100 ms; other stages keep serving.

The recipe fans a tcp source out to a Lua function that loops forever on
readings of thing "evil" and to a jsonl sink.  Every line must still be
acknowledged and written, and the log must say the runaway call was stopped
and how long it ran."""
import json, os, re, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check  # noqa: E402

lib.suite("runaway")
BIN = lib.BIN


tmp = tempfile.mkdtemp(prefix="kk-runaway-")
port = lib.free_port()
out = os.path.join(tmp, "out.jsonl")
recipe = os.path.join(tmp, "runaway.lua")
with open(recipe, "w") as f:
    f.write('''local kk = require "klimakit"
local src = kk.source.tcp { listen = "127.0.0.1:%d" }
kk.pipe(src, kk.map(function(r)
  if r.thing == "evil" then while true do end end
  return r.value
end), kk.sink.null {})
kk.pipe(src, kk.sink.jsonl { path = "%s" })
''' % (port, out))
log = open(os.path.join(tmp, "log"), "wb")
proc = subprocess.Popen([BIN, "run", recipe, "--data-dir", os.path.join(tmp, "data"),
                         "--log-format", "json"], stdout=log, stderr=log)
sock = None
for _ in range(500):
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        time.sleep(0.02)
check("listening", sock is not None)
if sock:
    f = sock.makefile("rwb")
    n_ok = 0
    rtts = []
    for i in range(30):
        thing = "evil" if i % 3 == 0 else "room-%d" % i
        line = json.dumps({"thing": thing, "property": "co2", "unit": "ppm",
                           "time": 1700000000000 + i, "value": 400 + i})
        t0 = time.time()
        f.write(line.encode() + b"\n"); f.flush()
        ans = f.readline()
        rtts.append(time.time() - t0)
        n_ok += ans.startswith(b"ok ")
    check("all-acked", n_ok == 30, "%d of 30 acked" % n_ok)
    check("loop-responsive", max(rtts) < 1.0, "slowest answer %.3f s" % max(rtts))
    sock.close()
proc.send_signal(signal.SIGTERM)
rc = proc.wait(timeout=20)
check("clean-exit", rc == 0, "exit %d" % rc)
lines = open(out).read().splitlines() if os.path.exists(out) else []
check("sink-served", len(lines) == 30, "%d lines in output" % len(lines))
text = open(os.path.join(tmp, "log")).read()
ms = [float(m) for m in re.findall(r"instruction budget exceeded \(\d+ instructions in (\d+(?:\.\d+)?) ms\)", text)]
check("stopped-and-logged", len(ms) >= 1, "no 'instruction budget exceeded' in log")
if ms:
    check("stopped-within-100ms", max(ms) < 100, "slowest stop %.1f ms" % max(ms))
    print("# runaway stops: %d, slowest %.1f ms, slowest answer %.1f ms" % (len(ms), max(ms), 1000 * max(rtts)))
if not lib.failed():
    subprocess.run(["rm", "-rf", tmp])
else:
    print("# kept " + tmp)
sys.exit(lib.exit_code())
