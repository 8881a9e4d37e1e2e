#!/usr/bin/env python3
"""The dashboard as a person sees it, in headless Chromium.

A recipe replays one simulated school day (3 rooms, 4 quantities, one
reading a minute) into publish.http.  Chromium renders the overview and a
thing page; the test reads the rendered DOM and asserts: every chart has
axis labels, its unit and the expected number of points (288 buckets of 5
minutes for 24 h), CO2 charts carry the UBA threshold lines, the overview
lists every room with its class; plain HTTP checks cover the JSON API,
/metrics, /healthz, /readyz and a 404.  Screenshots go to build/screens/."""
import json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check  # noqa: E402

lib.suite("dashboard")
BIN = lib.BIN
SHOTS = os.path.join(os.environ.get("KK_ROOT", "."), os.environ.get("KK_BUILD", "build"), "screens")
CHROMIUM = shutil.which("chromium")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def chromium(args, url):
    prof = tempfile.mkdtemp(prefix="kk-chromium-")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + prof, "--window-size=1100,1400"] + args + [url]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=60).stdout.decode()
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    return out


tmp = tempfile.mkdtemp(prefix="kk-dash-")
port = lib.free_port()
docs = os.path.join(tmp, "docs")
os.makedirs(os.path.join(docs, "playbooks"))
with open(os.path.join(docs, "playbooks", "schools.md"), "w") as f:
    f.write("# CO2 in schools\n\n| sensor | price |\n|---|---|\n| NDIR | 120 EUR |\n\n- [x] buy\n- [ ] mount\n\n<script>alert(1)</script>\n")
with open(os.path.join(tmp, "secret.txt"), "w") as f:
    f.write("not for the web\n")
recipe = os.path.join(tmp, "dash.lua")
with open(recipe, "w") as f:
    f.write('''local kk = require "klimakit"
kk.config { data_dir = "%s/data", exit_when_done = false }
kk.pipe(kk.source.simulate { sensors = 3, seed = 11, realtime = false, interval = "1m",
                             count = 3 * 4 * 1440, start = "2026-11-16T00:00:00Z" },
        kk.publish.http { listen = "127.0.0.1:%d", title = "Test school", history = "24h",
                          points = 288, refresh = "0s", docs_dir = "%s" })
''' % (tmp, port, docs))
proc = subprocess.Popen([BIN, "run", recipe, "--log-format", "json"],
                        stdout=open(os.path.join(tmp, "log"), "wb"), stderr=subprocess.STDOUT)
base = "http://127.0.0.1:%d" % port
up = False
for _ in range(200):
    try:
        if get(base + "/healthz")[0] == 200:
            up = True
            break
    except OSError:
        time.sleep(0.05)
check("serving", up)
# The replay of the day is fast; wait until the last reading has arrived.
for _ in range(200):
    st, _, body = get(base + "/api/latest")
    if st == 200 and body.count('"datastream"') == 12 and "2026-11-16T23:59:00.000Z" in body:
        break
    time.sleep(0.05)
st, ctype, body = get(base + "/api/latest")
latest = json.loads(body) if st == 200 else []
check("api-latest", st == 200 and ctype.startswith("application/json") and len(latest) == 12
      and all(r["time"] == "2026-11-16T23:59:00.000Z" for r in latest), body[:200])
st, ctype, body = get(base + "/metrics")
check("metrics", st == 200 and "text/plain" in ctype and 'kk_readings_in_total{stage="http"} 17280' in body,
      re.findall(r'kk_readings_in_total\{stage="http"\} \d+', body))
check("readyz", get(base + "/readyz")[0] == 200)
st, _, body = get(base + "/things/no-such-room")
check("unknown-thing-404", st == 404 and "Not found" in body, st)
check("unknown-page-404", get(base + "/etc/passwd")[0] == 404)
st, _, body = get(base + "/docs/")
check("docs-listing", st == 200 and 'href="/docs/playbooks"' in body, body[:300])
st, _, body = get(base + "/docs/playbooks/schools.md")
check("docs-markdown-rendered", st == 200 and "<table>" in body and "<h1>CO2 in schools</h1>" in body
      and 'type="checkbox"' in body, body[:500])
check("docs-no-raw-html", "<script>alert(1)</script>" not in body)
import http.client
for raw in ("/docs/../secret.txt", "/docs/%2e%2e/secret.txt", "/docs/playbooks/../../secret.txt",
            "/docs/..%2fsecret.txt"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.putrequest("GET", raw, skip_host=False, skip_accept_encoding=True)
    c.endheaders()
    r = c.getresponse()
    body = r.read().decode()
    check("docs-no-traversal " + raw, r.status == 404 and "not for the web" not in body, r.status)
    c.close()

if not CHROMIUM:
    print("skip dashboard/browser: chromium is not installed (make deps installs it)")
else:
    os.makedirs(SHOTS, exist_ok=True)
    dom = chromium(["--dump-dom"], base + "/")
    rooms = re.findall(r'<a href="/things/(room-\d+)">', dom)
    check("overview-rooms", rooms == ["room-001", "room-002", "room-003"], rooms)
    check("overview-classes", len(re.findall(r'<td class="c[123]">(harmless|ventilate|unacceptable)</td>', dom)) == 3)
    check("overview-units", all(u in dom for u in ("ppm", "°C", "%", "kWh")))
    dom = chromium(["--dump-dom"], base + "/things/room-002")
    charts = re.findall(r'<svg class="chart"[^>]*>.*?</svg>', dom, re.S)
    check("thing-four-charts", len(charts) == 4, len(charts))
    units = sorted(re.search(r'data-unit="([^"]*)"', c).group(1) for c in charts)
    check("chart-units", units == ["%", "Cel", "kW.h", "ppm"], units)
    for c in charts:
        unit = re.search(r'data-unit="([^"]*)"', c).group(1)
        pts = int(re.search(r'data-points="(\d+)"', c).group(1))
        check("chart-%s-points" % unit, pts == 288, pts)
        xl = re.findall(r'<g class="axis x">(.*?)</g>', c, re.S)[0]
        labels = re.findall(r'>(\d\d:\d\d|\d\d\.\d\d\.)</text>', xl)
        check("chart-%s-time-axis" % unit, len(labels) >= 4, labels)
        yl = re.findall(r'<g class="axis y">(.*?)</g>', c, re.S)[0]
        check("chart-%s-value-axis" % unit, len(re.findall(r"<text", yl)) >= 3 and
              ('class="unit"' in yl and unit in yl), unit)
        polys = re.findall(r'<polyline class="data" points="([^"]+)"', c)
        drawn = sum(len(p.split()) for p in polys)
        check("chart-%s-line" % unit, drawn == 288, drawn)
    co2 = [c for c in charts if 'data-unit="ppm"' in c][0]
    check("co2-thresholds", "1000 ppm: ventilate (UBA)" in co2 and "2000 ppm: unacceptable (UBA)" in co2)
    # Labels are in Europe/Berlin time: the chart spans 16.11. 00:00-24:00
    # UTC, so local midnight (17.11.) falls at 23:00 UTC, 23/24 of the way
    # across the plot (x from 64 to 704); in UTC it would be at the end.
    m = re.search(r'<text x="([\d.]+)"[^>]*>17\.11\.</text>', co2)
    x = float(m.group(1)) if m else -1
    check("local-time-labels", abs(x - (64 + 640 * 23 / 24)) < 3, x)
    for name, path in (("overview", "/"), ("thing", "/things/room-002")):
        png = os.path.join(SHOTS, "dashboard-%s.png" % name)
        chromium(["--screenshot=" + png], base + path)
        check("screenshot-" + name, os.path.exists(png) and os.path.getsize(png) > 10000, png)

proc.send_signal(signal.SIGTERM)
rc = proc.wait(timeout=30)
check("clean-exit", rc == 0, rc)
if not lib.failed():
    shutil.rmtree(tmp, ignore_errors=True)
else:
    print("# kept " + tmp)
sys.exit(lib.exit_code())
