#!/usr/bin/env python3
"""HTTP ingest (source.http) and the shared server with publish.http.

Bearer tokens from a file of SHA-256 digests; 202 only after the journal
append; 400 with the reason; 401, 405, 413, 415; the dashboard on the
same port sees the pushed reading; CORS header on the JSON API; HTTPS
with a self-signed certificate made by the openssl command."""
import hashlib, json, os, re, shutil, signal, socket, ssl, subprocess, sys, tempfile, time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check  # noqa: E402

lib.suite("http-ingest")
BIN = lib.BIN


def req(url, data=None, ctype=None, token=None, method=None, ctx=None):
    r = urllib.request.Request(url, data=data, method=method)
    if ctype:
        r.add_header("Content-Type", ctype)
    if token:
        r.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(r, timeout=10, context=ctx) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


tmp = tempfile.mkdtemp(prefix="kk-ingest-")
tokens = os.path.join(tmp, "tokens")
with open(tokens, "w") as f:
    f.write("# SHA-256 of the accepted tokens\n%s  sensors-school-1\n" % hashlib.sha256(b"s3cret").hexdigest())


def run(recipe_body):
    recipe = os.path.join(tmp, "r.lua")
    with open(recipe, "w") as f:
        f.write('local kk = require "klimakit"\nkk.config { data_dir = "%s/data" }\n' % tmp + recipe_body)
    log = open(os.path.join(tmp, "log"), "ab")
    return subprocess.Popen([BIN, "run", recipe, "--log-format", "json"], stdout=log, stderr=log)


def wait_up(url, ctx=None):
    for _ in range(200):
        try:
            req(url, ctx=ctx)
            return True
        except OSError:
            time.sleep(0.05)
    return False


port = lib.free_port()
out = os.path.join(tmp, "out.jsonl")
p = run('''local src = kk.source.http { listen = "127.0.0.1:%d", tokens_file = "%s", max_body = "4KiB" }
kk.pipe(src, { kk.sink.jsonl { path = "%s" },
               kk.publish.http { listen = "127.0.0.1:%d", cors = "*", refresh = "0s" } })
''' % (port, tokens, out, port))
base = "http://127.0.0.1:%d" % port
check("serving", wait_up(base + "/healthz"))
senml = json.dumps([{"bn": "urn:dev:school-7:", "bt": 1763800000, "n": "co2", "u": "ppm", "v": 1234}]).encode()
st, hd, body = req(base + "/api/ingest/room-7", senml, "application/senml+json", "s3cret")
check("senml-202", st == 202 and re.match(r'\{"seq":\d+,"readings":1\}', body), (st, body))
st, _, body = req(base + "/api/ingest", json.dumps({"thing": "room-8", "property": "air_temperature",
                  "unit": "Cel", "time": "2025-11-22T08:00:00Z", "value": 21.5}).encode(),
                  "application/json; charset=utf-8", "s3cret")
check("json-202", st == 202, (st, body))
st, _, body = req(base + "/api/ingest/room-9", b"co2=812 ppm", "text/plain", "s3cret")
check("text-202", st == 202, (st, body))
st, hd, body = req(base + "/api/ingest", senml, "application/senml+json")
check("no-token-401", st == 401 and hd.get("WWW-Authenticate", hd.get("www-authenticate")) == "Bearer", (st, hd))
st, _, _ = req(base + "/api/ingest", senml, "application/senml+json", "guess")
check("wrong-token-401", st == 401, st)
st, _, body = req(base + "/api/ingest", b'[{"n":"co2","v":"high"}]', "application/senml+json", "s3cret")
check("bad-senml-400-reason", st == 400 and "must be a number" in body, (st, body))
st, _, _ = req(base + "/api/ingest", b"<xml/>", "application/xml", "s3cret")
check("unknown-type-415", st == 415, st)
st, _, _ = req(base + "/api/ingest", b"x" * 10000, "text/plain", "s3cret")
check("too-large-413", st == 413, st)
st, _, _ = req(base + "/api/ingest", method="GET")
check("get-405", st == 405, st)
st, hd, body = req(base + "/api/latest")
things = sorted(r["thing"] for r in json.loads(body)) if st == 200 else []
check("dashboard-shares-server", things == ["room-7", "room-8", "room-9"], things)
check("cors-header", hd.get("Access-Control-Allow-Origin", hd.get("access-control-allow-origin")) == "*", hd)
st, _, body = req(base + "/")
check("overview-lists-pushed", st == 200 and "room-7" in body, st)
p.send_signal(signal.SIGTERM)
check("clean-exit", p.wait(timeout=30) == 0)
lines = [json.loads(l) for l in open(out)] if os.path.exists(out) else []
vals = sorted((l["thing"], l["value"]) for l in lines)
check("stored", vals == [("room-7", 1234), ("room-8", 21.5), ("room-9", 812)], vals)
prom = open(os.path.join(tmp, "data", "metrics.prom")).read()
for reason in ("unauthorized", "unsupported_format", "method"):
    check("counted-" + reason, re.search(r'kk_rejected_total\{stage="http",reason="%s"\} [1-9]' % reason, prom), reason)
check("counted-decode", re.search(r'kk_rejected_total\{stage="http",reason="KK_EPARSE"\} 1', prom), "")

# No tokens_file and no allow_anonymous: refused at start with a clear error.
p = run('kk.pipe(kk.source.http { listen = "127.0.0.1:%d" }, kk.sink.null {})\n' % lib.free_port())
rc = p.wait(timeout=30)
logtext = open(os.path.join(tmp, "log")).read()
check("token-required", rc == 1 and "tokens_file is required" in logtext, rc)

# HTTPS with a self-signed certificate.
if shutil.which("openssl"):
    key, crt = os.path.join(tmp, "key.pem"), os.path.join(tmp, "crt.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=127.0.0.1"], capture_output=True, check=True)
    port = lib.free_port()
    p = run('kk.pipe(kk.source.http { listen = "127.0.0.1:%d", tokens_file = "%s", tls_cert = "%s", tls_key = "%s" },'
            ' kk.sink.null {})\n' % (port, tokens, crt, key))
    ctx = ssl.create_default_context(cafile=crt)
    ctx.check_hostname = False
    up = wait_up("https://127.0.0.1:%d/api/ingest" % port, ctx)
    st, _, body = req("https://127.0.0.1:%d/api/ingest/room-1" % port, b"co2=500 ppm", "text/plain", "s3cret", ctx=ctx)
    check("https-202", up and st == 202, (st, body))
    p.send_signal(signal.SIGTERM)
    check("https-clean-exit", p.wait(timeout=30) == 0)
else:
    lib.skip("https", "no openssl command")
if not lib.failed():
    shutil.rmtree(tmp, ignore_errors=True)
else:
    print("# kept " + tmp)
sys.exit(lib.exit_code())
