"""chaos slow_bodies: slow request bodies without a token.

500 clients (2 000 under `make soak`) open a connection to source.http,
send headers announcing almost 1 MB without a token, then the body slowly
(issue #15: 1 000 such clients took RSS to 496 MB).  The token is checked
from the headers: each gets 401 before its body is read, and RSS stays
within 64 MB of idle.  One client with a valid token that stalls in the
middle of its body is cut off (h2o's request timeout, 10 s, and
NET_HTTPD_BODY_TIMEOUT_MS, 30 s, behind it); a
normal request still gets 202 afterwards.  Then 200 TLS clients (1 000
under `make soak`) do the same over HTTPS (a self-signed certificate):
401 from the head, RSS within 64 MB of idle.
"""
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import time

import chaos
from chaos import lib

lib.suite("chaos")
CASE = "slow_bodies"
d = chaos.tmpdir()
port = lib.free_port()
tokens = os.path.join(d, "tokens")
with open(tokens, "w") as f:
    f.write(hashlib.sha256(b"s3cret").hexdigest() + "\n")
rec = chaos.recipe(d, '''
kk.pipe(kk.source.http { listen = "127.0.0.1:%d", tokens_file = "%s" },
        { kk.store.sqlite { path = "%s/kk.db" }, kk.publish.http { listen = "127.0.0.1:%d", refresh = "0s" } })
''' % (port, tokens, d, port))
log = open(os.path.join(d, "log"), "w")
p = lib.start(rec, log, "--data-dir", d)
lib.wait_port(port, p)
time.sleep(0.5)
idle = chaos.rss_kb(p.pid)
LEN = 1000000


def head(token=None):
    return ("POST /api/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "%sContent-Length: %d\r\n\r\n" % ("Authorization: Bearer %s\r\n" % token if token else "",
                                               LEN)).encode()


# One authenticated client that stalls mid-body.
stall = socket.create_connection(("127.0.0.1", port))
stall.sendall(head("s3cret") + b"[" + b" " * 1000)
t_stall = time.time()

n = chaos.scale(500, 2000)
socks, answered = [], 0
chunk = b" " * 65536
for i in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(head())
        socks.append(s)
    except OSError:
        pass
# Then the bodies, slowly: a chunk per client per round.
for rnd in range(14):
    for s in socks:
        try:
            s.settimeout(0.01)
            s.send(chunk)
        except OSError:
            pass
peak = chaos.peak_kb(p.pid)
for s in socks:
    try:
        s.settimeout(2)
        if s.recv(64).startswith(b"HTTP/1.1 401"):
            answered += 1
    except OSError:
        pass
    s.close()
chaos.figure(CASE, "clients", n)
chaos.figure(CASE, "answered_401", answered)
chaos.figure(CASE, "idle_rss_kb", idle)
chaos.figure(CASE, "peak_rss_kb", peak)
lib.check(CASE + "/all-401", answered == n, "%d of %d" % (answered, n))
lib.check(CASE + "/rss-bounded", peak - idle <= 64 * 1024, "peak %d kB, idle %d kB" % (peak, idle))

# The stalled client is cut off once its body is 30 s late.
stall.settimeout(40 - (time.time() - t_stall))
try:
    got = stall.recv(100)
except OSError:
    got = b"timeout"
cut = time.time() - t_stall
chaos.figure(CASE, "stalled_body_closed_after_s", "%.1f" % cut)
lib.check(CASE + "/stalled-body-closed", got != b"timeout" and cut < 35, (got[:40], cut))
st, _, _ = chaos.request(port, "/api/ingest", '{"thing":"a","property":"co2","unit":"ppm","value":1}',
                         token="s3cret")
lib.check(CASE + "/still-serving", st == 202, st)
lib.check(CASE + "/clean-exit", lib.stop(p) == 0)

# The same over TLS: the gate does the handshake and reads the decrypted
# head, so a client without a token is answered 401 before its body.
if shutil.which("openssl"):
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "crt.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                    crt, "-days", "2", "-subj", "/CN=127.0.0.1"], capture_output=True, check=True)
    tport = lib.free_port()
    rec = chaos.recipe(d, '''
kk.pipe(kk.source.http { listen = "127.0.0.1:%d", tokens_file = "%s", tls_cert = "%s", tls_key = "%s" },
        kk.store.sqlite { path = "%s/kk.db" })
''' % (tport, tokens, crt, key, d), "tls.lua")
    p = lib.start(rec, log, "--data-dir", d)
    lib.wait_port(tport, p)
    time.sleep(0.5)
    idle = chaos.rss_kb(p.pid)
    ctx = ssl.create_default_context(cafile=crt)
    ctx.check_hostname = False
    n = chaos.scale(200, 1000)
    socks, answered = [], 0
    for i in range(n):
        try:
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tport), timeout=5),
                                server_hostname="127.0.0.1")
            s.sendall(head())
            socks.append(s)
        except OSError:
            pass
    for rnd in range(4):
        for s in socks:
            try:
                s.settimeout(0.01)
                s.send(chunk)
            except OSError:
                pass
    peak = chaos.peak_kb(p.pid)
    for s in socks:
        try:
            s.settimeout(2)
            if s.recv(64).startswith(b"HTTP/1.1 401"):
                answered += 1
        except OSError:
            pass
        s.close()
    chaos.figure(CASE, "tls_clients", n)
    chaos.figure(CASE, "tls_answered_401", answered)
    chaos.figure(CASE, "tls_idle_rss_kb", idle)
    chaos.figure(CASE, "tls_peak_rss_kb", peak)
    lib.check(CASE + "/tls-all-401", answered == n, "%d of %d" % (answered, n))
    lib.check(CASE + "/tls-rss-bounded", peak - idle <= 64 * 1024, "peak %d kB, idle %d kB" % (peak, idle))
    lib.check(CASE + "/tls-clean-exit", lib.stop(p) == 0)
else:
    lib.skip(CASE + "/tls", "no openssl command")
lib.kill_all()
chaos.cleanup(d)
raise SystemExit(lib.exit_code())
