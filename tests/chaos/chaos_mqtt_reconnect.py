"""chaos mqtt_reconnect: a broker that accepts and then drops the client.

Another client takes over klimakit's MQTT client id every 200 ms for
20 s, so the broker accepts each klimakit connection and cuts it soon
after (issue #15 saw a reconnect every ~110 ms, 1 469 in 164 s, the
broker resending its in-flight messages each time).  Reconnects must back
off exponentially (cap 30 s) when connections do not hold: at most 15
connects in the 20 s.  Afterwards, with the other client gone, klimakit
connects again and delivers.
"""
import os
import re
import shutil
import socket
import subprocess
import time

import chaos
from chaos import lib

lib.suite("chaos")
CASE = "mqtt_reconnect"
if not shutil.which("mosquitto"):
    lib.skip(CASE, "no mosquitto")
    raise SystemExit(0)
d = chaos.tmpdir()
port = lib.free_port()
conf = os.path.join(d, "mosquitto.conf")
lib.broker_conf(conf, port, 1000)
broker = lib.broker(conf, port, open(os.path.join(d, "broker.log"), "w"))
rec = chaos.recipe(d, '''
kk.pipe(kk.source.mqtt { url = "mqtt://127.0.0.1:%d", topic = "kk/r/#", qos = 1, client_id = "kk-dup",
                         protocol = "3.1.1" },
        kk.decode.json { fields = { "v" }, thing = "pub", map = { v = "seq:1" } },
        kk.sink.jsonl { path = "%s/out.jsonl" })
''' % (port, d))
logname = os.path.join(d, "log")
log = open(logname, "w")
p = lib.start(rec, log, "--data-dir", d, "--log-format", "text")
lib.wait_for(lambda: "connected to" in open(logname).read(), 10)


def connect_as(cid):
    pid = cid.encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x3c"
    payload = len(pid).to_bytes(2, "big") + pid
    body = var + payload
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(bytes([0x10, len(body)]) + body)
    s.recv(4)
    return s


t0 = time.time()
held = []
while time.time() - t0 < 20:
    try:
        held.append(connect_as("kk-dup"))
    except OSError:
        pass
    time.sleep(0.2)
    if len(held) > 3:
        held.pop(0).close()
for s in held:
    s.close()
text = open(logname).read()
connects = len(re.findall(r"connected to 127\.0\.0\.1", text)) - 1
chaos.figure(CASE, "connects_in_20s", connects)
lib.check(CASE + "/backs-off", 1 <= connects <= 15, connects)
# Then it comes back within the cap (30 s) plus jitter and delivers.
back = lib.wait_for(lambda: len(re.findall(r"connected to 127\.0\.0\.1", open(logname).read())) > connects + 1, 40)
out = os.path.join(d, "out.jsonl")
for _ in range(20):  # until the subscription is in place
    subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", "kk/r/x", "-m", '{"v":7}'],
                   capture_output=True, timeout=10)
    if lib.wait_for(lambda: os.path.exists(out) and '"value":7' in open(out).read(), 0.5):
        break
lib.check(CASE + "/reconnects-and-delivers", back and os.path.exists(out) and '"value":7' in open(out).read(),
          open(logname).read()[-300:])
lib.check(CASE + "/clean-exit", lib.stop(p) == 0)
lib.kill_all()
chaos.cleanup(d)
raise SystemExit(lib.exit_code())
