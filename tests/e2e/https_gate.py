"""The HTTP server's gate over TLS (issue 15): source.http with a
self-signed certificate (made with openssl in the test's directory).

- curl over https with the token: 202; without it, with a 1 MB body:
  401, counted in kk_http_refused_before_body_total (refused from the
  head, the body never read);
- 60 TLS clients send a head announcing a 1 MB body without a token and
  then nothing: each is answered 401 at once (before this change h2o
  waited for the body over TLS, so they got no answer);
- 70 TLS clients with the token announce 1 MB bodies and send none: the
  bodies in flight share the 64 MiB budget, so the last ones get 503
  with Retry-After;
- a stalled authenticated body is cut off by the body timeout.
"""
import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib

lib.suite("https_gate")
if not shutil.which("openssl") or not shutil.which("curl"):
    lib.skip("all", "needs openssl and curl")
    raise SystemExit(0)
d = tempfile.mkdtemp()
key, crt = os.path.join(d, "key.pem"), os.path.join(d, "crt.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                "-days", "2", "-subj", "/CN=127.0.0.1"], capture_output=True, check=True)
tokens = os.path.join(d, "tokens")
with open(tokens, "w") as f:
    f.write("%s  sensors\n" % hashlib.sha256(b"s3cret").hexdigest())
port = lib.free_port()
recipe = os.path.join(d, "r.lua")
with open(recipe, "w") as f:
    f.write('''local kk = require "klimakit"
kk.config { data_dir = "%s" }
kk.pipe(kk.source.http { listen = "127.0.0.1:%d", tokens_file = "%s", tls_cert = "%s",
                         tls_key = "%s", max_body = "1MiB" }, kk.sink.null {})
''' % (d, port, tokens, crt, key))
p = lib.start(recipe, open(os.path.join(d, "log"), "a"))
lib.wait_port(port, p)
url = "https://127.0.0.1:%d/api/ingest/room-1" % port
big = os.path.join(d, "big")
with open(big, "wb") as f:
    f.write(b"co2=500 ppm\n" * 80000)  # ~1 MB


def curl(*args):
    c = subprocess.run(["curl", "-sS", "--cacert", crt, "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Content-Type: text/plain", "-H", "Expect:"] + list(args) + [url],
                       capture_output=True, text=True, timeout=60)
    return c.stdout.strip() + c.stderr.strip()


got = curl("-H", "Authorization: Bearer s3cret", "--data-binary", "co2=500 ppm")
lib.check("curl-token-202", got == "202", got)
# A request that arrives with the client's last handshake message is
# decrypted before the gate reads: it must be answered at once, not after
# the head timeout (one request in five waited 10 s for it).
t0 = time.monotonic()
many = [curl("-H", "Authorization: Bearer s3cret", "--data-binary", "co2=500 ppm") for _ in range(30)]
lib.check("curl-30-in-a-row", many == ["202"] * 30 and time.monotonic() - t0 < 25,
          "%s in %.1f s" % (sorted(set(many)), time.monotonic() - t0))
got = curl("--data-binary", "@" + big)
lib.check("curl-no-token-401", got == "401", got)


def tls_conn():
    ctx = ssl.create_default_context(cafile=crt)
    ctx.check_hostname = False
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def head(token=None, length=1000000):
    return ("POST /api/ingest/room-1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            "Content-Length: %d\r\n%s\r\n" % (length, "Authorization: Bearer %s\r\n" % token
                                              if token else "")).encode()


def status_of(s, timeout):
    s.settimeout(timeout)
    try:
        data = s.recv(4096)
    except (socket.timeout, ssl.SSLError, OSError):
        return None
    m = re.match(rb"HTTP/1\.1 (\d+)", data)
    return (int(m.group(1)), data) if m else (0, data)


# Heads without a token and no body: 401 at once, from the head.
conns = [tls_conn() for _ in range(60)]
for s in conns:
    s.sendall(head())
answers = [status_of(s, 5) for s in conns]
codes = [a[0] if a else None for a in answers]
lib.check("head-only-401", codes == [401] * 60, codes[:8])
for s in conns:
    s.close()

# Authenticated heads announcing 1 MB each: the 64 MiB budget.
conns = [tls_conn() for _ in range(70)]
for s in conns:
    s.sendall(head("s3cret"))
time.sleep(1)
busy = []
for s in conns:
    a = status_of(s, 0.3)
    if a and a[0] == 503:
        busy.append(b"Retry-After: 5" in a[1])
lib.check("budget-503", 1 <= len(busy) <= 10 and all(busy), busy)
for s in conns:
    s.close()

# A stalled authenticated body is cut off.
s = tls_conn()
s.sendall(head("s3cret", 1000) + b"co2=1")
t0 = time.time()
s.settimeout(45)
try:
    while s.recv(4096):
        pass
except (socket.timeout, ssl.SSLError, OSError):
    pass
waited = time.time() - t0
lib.check("stalled-body-closed", waited < 40, "%.1f s" % waited)
print("figure https_gate stalled body closed after %.1f s" % waited)

time.sleep(5.5)  # metrics.prom is written every 5 s
prom = open(os.path.join(d, "metrics.prom")).read()
m = re.search(r"^kk_http_refused_before_body_total\{[^}]*\} (\d+)", prom, re.M)
lib.check("refused-counted", m and int(m.group(1)) >= 61, m.group(0) if m else prom[-300:])
lib.check("clean-exit", lib.stop(p) == 0)
lib.kill_all()
if not lib.failed() and not os.environ.get("KK_KEEP"):
    shutil.rmtree(d, ignore_errors=True)
raise SystemExit(lib.exit_code())
