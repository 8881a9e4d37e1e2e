#!/usr/bin/env python3
"""Backpressure: a slow sink pauses the source instead of growing memory.

tcp source -> null sink that finishes one batch per 20 ms with a queue of
300 readings.  A client pushes 20 000 lines as fast as it can.  Every line
must be acknowledged, the engine must have paused the source
(kk_source_pauses_total > 0 in metrics.prom), the sink must have received
every reading, and the process must drain and exit 0 on SIGTERM."""
import json, os, re, signal, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check  # noqa: E402

lib.suite("backpressure")
BIN = lib.BIN
N = 20000


tmp = tempfile.mkdtemp(prefix="kk-bp-")
port = lib.free_port()
data = os.path.join(tmp, "data")
recipe = os.path.join(tmp, "bp.lua")
with open(recipe, "w") as f:
    f.write('local kk = require "klimakit"\n'
            'kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" },\n'
            '        kk.sink.null { delay = "20ms", queue = 300 })\n' % port)
log = open(os.path.join(tmp, "log"), "wb")
proc = subprocess.Popen([BIN, "run", recipe, "--data-dir", data, "--log-format", "json"],
                        stdout=log, stderr=log)
sock = None
for _ in range(500):
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        break
    except OSError:
        time.sleep(0.02)
check("listening", sock is not None)
acks = 0
if sock:
    payload = "".join(json.dumps({"thing": "m%d" % (i % 10), "property": "energy", "unit": "kW.h",
                                  "time": 1700000000000 + i, "value": i}) + "\n" for i in range(N)).encode()
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    buf = b""
    deadline = time.time() + 120
    while acks < N and time.time() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        acks = buf.count(b"\n")
    sender.join(timeout=10)
    check("all-acked", acks == N and buf.count(b"ok ") == N, "%d of %d answered" % (acks, N))
    sock.close()
time.sleep(1.2)  # metrics.prom is rewritten every ~5 ticks of 1 s; SIGTERM writes it too
proc.send_signal(signal.SIGTERM)
rc = proc.wait(timeout=60)
check("clean-exit", rc == 0, "exit %d" % rc)
prom = open(os.path.join(data, "metrics.prom")).read() if os.path.exists(os.path.join(data, "metrics.prom")) else ""
m = re.search(r"^kk_source_pauses_total (\d+)", prom, re.M)
pauses = int(m.group(1)) if m else 0
check("source-was-paused", pauses > 0, "kk_source_pauses_total = %d" % pauses)
m = re.search(r'^kk_readings_in_total\{stage="null"\} (\d+)', prom, re.M)
got = int(m.group(1)) if m else -1
check("sink-got-everything", got == N, "sink received %d of %d" % (got, N))
m = re.search(r'^kk_queue_readings\{stage="null"\} (\d+)', prom, re.M)
check("queue-drained", m is not None and int(m.group(1)) == 0, "queue gauge %s" % (m.group(1) if m else "missing"))
print("# backpressure: %d lines, source paused %d times" % (N, pauses))

# Replay after a restart obeys the same bound: with the sink's cursor reset,
# all N records come again from the journal, paced by the slow sink.
with open(os.path.join(data, "journal", "cursors", "null"), "w") as f:
    f.write("0\n")
log2 = os.path.join(tmp, "log2")
proc = subprocess.Popen([BIN, "run", recipe, "--data-dir", data, "--log-format", "json"],
                        stdout=open(log2, "wb"), stderr=subprocess.STDOUT)
deadline = time.time() + 60
while time.time() < deadline and "running 2 stages" not in open(log2).read():
    time.sleep(0.05)
proc.send_signal(signal.SIGTERM)
rc = proc.wait(timeout=60)
text = open(log2).read()
check("replay-exit", rc == 0, "exit %d" % rc)
check("replay-logged", "replayed %d records" % N in text, "no 'replayed %d records' in log" % N)
prom = open(os.path.join(data, "metrics.prom")).read()
m = re.search(r'^kk_readings_in_total\{stage="null"\} (\d+)', prom, re.M)
check("replay-delivered-all", m is not None and int(m.group(1)) == N, m.group(0) if m else "missing")
m = re.search(r"^kk_source_pauses_total (\d+)", prom, re.M)
check("replay-paced", m is not None and int(m.group(1)) > 0, m.group(0) if m else "missing")
if not lib.failed():
    subprocess.run(["rm", "-rf", tmp])
else:
    print("# kept " + tmp)
sys.exit(lib.exit_code())
