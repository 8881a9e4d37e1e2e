#!/usr/bin/env python3
"""The dashboard as a person sees it, in headless Chromium, backed by a store.

A recipe replays eight simulated days of a school (3 rooms, CO2,
temperature, humidity and an electricity meter every 5 minutes, ending
now) into store.sqlite and publish.http { store = "sqlite" }, plus a
cellar sensor (source.file) that stopped sending three days ago.  The
test reads the pages as HTML and as Chromium renders them (DOM dumps,
computed styles through a probe page, screenshots at 1366 and 390 px in
build/screens/) and asserts: lang="de", German labels, number and date
formats, no UCUM codes, the UBA classes in German words, the stale
cellar grey with "keine Daten seit <date>" and listed and counted, the
meter as consumption bars with the running day marked incomplete, the
range choice changing the axis, the CSV of a chart, chart text >= 11 px
at 390 px, no auto-refresh.  Then the restart test: the pipeline stops,
a recipe with only the store and the dashboard starts, and the overview
and a 7-day chart show the same data as before.  Also: the in-memory
mode without a store (English), /docs, 404s, /metrics, /readyz."""
import csv, datetime, io, json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check  # noqa: E402

lib.suite("dashboard")
SHOTS = os.path.join(os.environ.get("KK_ROOT", "."), os.environ.get("KK_BUILD", "build"), "screens")
CHROMIUM = shutil.which("chromium")
BERLIN = ZoneInfo("Europe/Berlin")


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode("utf-8-sig")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def chromium(args, url, size="1366,1000"):
    prof = tempfile.mkdtemp(prefix="kk-chromium-")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + prof, "--window-size=" + size] + args + [url]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=90).stdout.decode()
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    return out


def visible_text(html):
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def local(ms, fmt="%d.%m.%Y %H:%M"):
    return datetime.datetime.fromtimestamp(ms / 1000, BERLIN).strftime(fmt)


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


tmp = tempfile.mkdtemp(prefix="kk-dash-")
log = open(os.path.join(tmp, "log"), "ab")
port = lib.free_port()
base = "http://127.0.0.1:%d" % port
STEP = 300000
now = int(time.time() * 1000)
end = now // STEP * STEP          # the last round lies before now
start = end - 8 * 86400000 + STEP
rounds = (end - start) // STEP + 1
# The cellar: CO2 and temperature every 10 min, until three days ago.
cellar_last = (now - 3 * 86400000) // 600000 * 600000
with open(os.path.join(tmp, "cellar.jsonl"), "w") as f:
    for k in range(12):
        t = cellar_last - (11 - k) * 600000
        f.write(json.dumps({"thing": "keller-altbau", "property": "co2", "unit": "ppm", "time": t, "value": 610 + k}) + "\n")
        f.write(json.dumps({"thing": "keller-altbau", "property": "air_temperature", "unit": "Cel", "time": t,
                            "value": 12.25}) + "\n")
docs = os.path.join(tmp, "docs")
os.makedirs(os.path.join(docs, "playbooks"))
with open(os.path.join(docs, "playbooks", "schools.md"), "w") as f:
    f.write("# CO2 in schools\n\n| sensor | price |\n|---|---|\n| NDIR | 120 EUR |\n\n- [x] buy\n- [ ] mount\n\n<script>alert(1)</script>\n")
with open(os.path.join(tmp, "secret.txt"), "w") as f:
    f.write("not for the web\n")
WEB = ('kk.publish.http { listen = "127.0.0.1:%d", title = "Testschule", store = "sqlite", docs_dir = "%s",'
       ' properties = { keller_feuchte = { name = "Kellerfeuchte" } } }' % (port, docs))
with open(os.path.join(tmp, "school.lua"), "w") as f:
    f.write('''local kk = require "klimakit"
kk.config { data_dir = "%s/data", exit_when_done = false }
local store = kk.store.sqlite { path = "%s/store.db" }
local web = %s
kk.pipe(kk.source.simulate { sensors = 3, seed = 11, realtime = false, interval = "5m",
                             count = %d, start = "%s" }, { store, web })
kk.pipe(kk.source.file { path = "%s/cellar.jsonl" }, { store, web })
''' % (tmp, tmp, WEB, 3 * 4 * rounds, iso(start), tmp))
with open(os.path.join(tmp, "viewer.lua"), "w") as f:
    f.write('''local kk = require "klimakit"
kk.config { data_dir = "%s/data2", exit_when_done = false }
local store = kk.store.sqlite { path = "%s/store.db" }
kk.pipe(kk.source.file { path = "%s/empty.jsonl" }, { store, %s })
''' % (tmp, tmp, tmp, WEB))
open(os.path.join(tmp, "empty.jsonl"), "w").close()

proc = lib.start(os.path.join(tmp, "school.lua"), log, "--log-format", "json")
check("serving", lib.wait_port(port, proc, 20))


def all_in():
    st, _, body = get(base + "/metrics")
    m = re.search(r'kk_store_rows_total\{stage="sqlite"\} (\d+)', body)
    return m is not None and int(m.group(1)) >= 3 * 4 * rounds + 24
check("replayed-into-store", lib.wait_for(all_in, 60), get(base + "/metrics")[2][-400:])

# ---- the overview, as HTML ---------------------------------------------
st, ctype, ov = get(base + "/")
text = visible_text(ov)
check("overview-200", st == 200 and ctype.startswith("text/html"), st)
check("lang-de", '<html lang="de">' in ov)
for word in ("Übersicht", "Messstelle", "Lufttemperatur", "relative Luftfeuchte", "CO₂", "Stromzähler",
             "CO₂-Stufe", "Stand", "Aktuelle Messwerte"):
    check("label " + word, word in text, word)
check("uba-classes-german", re.search(r"hygienisch (unbedenklich|auffällig|inakzeptabel)", text) is not None)
check("no-english-class", not re.search(r"\b(harmless|ventilate|unacceptable)\b", ov))
check("number-format-de", re.search(r">\d{1,2},\d °C<", ov) is not None and re.search(r"\d{1,3}\.\d{3} kWh", ov),
      re.findall(r">[^<]*°C<", ov)[:3])
check("date-format-de", local(end) in text, local(end))
ucum = [u for u in ("Cel", "kW.h", "ug/m3", "[ppm]") if u in ov]
check("no-ucum-on-page", not ucum, ucum)
check("no-auto-refresh", 'http-equiv="refresh"' not in ov)
check("focus-visible", ":focus-visible{outline:3px solid" in ov)
rooms = re.findall(r'<a href="/things/([^"]+)">', ov)
check("overview-things", rooms[:4] == ["keller-altbau", "room-001", "room-002", "room-003"], rooms)
row = re.search(r'<tr class="stale"><th[^>]*><a href="/things/keller-altbau">.*?</tr>', ov)
since = "keine Daten seit " + local(cellar_last)
check("stale-row-grey", row is not None and since in row.group(0) and not re.search(r'class="c[123]"', row.group(0)),
      row.group(0)[:400] if row else ov[-1500:])
stale_list = re.search(r'<table class="stack stale-list">.*?</table>', ov, re.S)
check("stale-listed", stale_list is not None and stale_list.group(0).count('<tr class="stale">') == 2
      and stale_list.group(0).count('href="/things/keller-altbau"') == 2
      and "room-00" not in stale_list.group(0), stale_list.group(0)[:300] if stale_list else "")
fresh = re.findall(r'<tr><th[^>]*><a href="/things/room-\d+">.*?</tr>', ov)
check("fresh-rows-classed", len(fresh) == 3 and all(re.search(r'<td class="c[123]"', r) for r in fresh), len(fresh))
st, _, m = get(base + "/metrics")
check("metrics-stale-count", re.search(r'kk_http_datastreams_stale\{stage="http"\} 2\b', m) is not None,
      re.findall(r"kk_http_datastreams\S*.*", m))
check("metrics-held", re.search(r'kk_http_datastreams\{stage="http"\} 14\b', m) is not None,
      re.findall(r"kk_http_datastreams\S*.*", m))
st, _, body = get(base + "/api/latest")
latest = json.loads(body) if st == 200 else []
check("api-latest", len(latest) == 14 and {r["thing"] for r in latest if r["stale"]} == {"keller-altbau"},
      body[:300])
check("api-latest-shortest-numbers", not re.search(r"\d\.\d{14,}", body) and '"value":12.25' in body, body[:300])

# ---- a thing page: ranges, meters, CSV -----------------------------------
st, _, day = get(base + "/things/room-002?range=24h")
st7, _, week = get(base + "/things/room-002?range=7d")
charts = lambda html: re.findall(r'<svg class="chart".*?</svg>', html, re.S)
check("thing-four-charts", st == 200 and len(charts(day)) == 4, len(charts(day)))
check("thing-no-refresh", 'http-equiv="refresh"' not in day)
check("thing-no-ucum", not [u for u in ("Cel", "kW.h") if u in day])
co2_day = [c for c in charts(day) if 'data-unit="ppm"' in c][0]
co2_week = [c for c in charts(week) if 'data-unit="ppm"' in c][0]
pts = lambda c: int(re.search(r'data-points="(\d+)"', c).group(1))
xlabels = lambda c: re.findall(r">([^<]+)</text>", re.findall(r'<g class="axis x">(.*?)</g>', c, re.S)[0])
check("range-24h-points", 285 <= pts(co2_day) <= 288, pts(co2_day))
check("range-7d-points", 166 <= pts(co2_week) <= 168, pts(co2_week))
check("range-24h-axis-hours", sum(bool(re.match(r"\d\d:\d\d$", l)) for l in xlabels(co2_day)) >= 3, xlabels(co2_day))
check("range-7d-axis-days", len(xlabels(co2_week)) >= 5 and all(re.match(r"\d\d\.\d\d\.$", l) for l in xlabels(co2_week)),
      xlabels(co2_week))
check("range-current-marked", '<a href="?range=7d" aria-current="true">7 Tage</a>' in week)
check("co2-thresholds-german", "1.000 ppm: hygienisch auffällig (UBA)" in co2_day
      and "2.000 ppm: hygienisch inakzeptabel (UBA)" in co2_day)
f_iso, t_iso = iso(end - 2 * 86400000), iso(end - 86400000)
st, _, custom = get(base + "/things/room-002?from=%s&to=%s" % (f_iso, t_iso))
co2_custom = [c for c in charts(custom) if 'data-unit="ppm"' in c][0] if st == 200 else ""
check("range-from-to", st == 200 and 'aria-current="true"' not in custom and 280 <= pts(co2_custom) <= 289, pts(co2_custom) if co2_custom else st)
# A local offset with an unescaped '+' (it arrives as a space), and days.
f_loc = datetime.datetime.fromtimestamp((end - 2 * 86400000) / 1000, BERLIN).strftime("%Y-%m-%dT%H:%M:%S%z")
t_loc = datetime.datetime.fromtimestamp((end - 86400000) / 1000, BERLIN).strftime("%Y-%m-%dT%H:%M:%S%z")
st, _, body = get(base + "/things/room-002?from=%s&to=%s" % (f_loc, t_loc))
check("range-offset-plus", st == 200 and "ungültig" not in body and [pts(c) for c in charts(body)] == [pts(c) for c in charts(custom)],
      (st, [pts(c) for c in charts(body)]))
d0 = datetime.datetime.fromtimestamp((end - 3 * 86400000) / 1000, BERLIN).strftime("%Y-%m-%d")
st, _, body = get(base + "/things/room-002?from=%s&to=%s" % (d0, d0))
check("range-days", st == 200 and "ungültig" not in body and ("%s 00:00 bis" % local(end - 3 * 86400000, "%d.%m.%Y")) in body,
      re.findall(r'<p class="muted">[^<]*bis[^<]*', body))
st, _, body = get(base + "/things/room-002?from=2026-13-45&to=x")
check("range-bad-said", st == 200 and "Der Zeitraum ist ungültig" in body)
meter = [c for c in charts(week) if 'data-kind="bars"' in c]
bars = re.findall(r'<rect class="col( partial)?"[^>]*><title>([^<]*)</title>', meter[0]) if meter else []
check("meter-as-bars", len(meter) == 1 and 'data-unit="kWh"' in meter[0] and 7 <= len(bars) <= 9, len(bars))
check("meter-today-partial", bars and bars[-1][0] == " partial" and "unvollständig" in bars[-1][1]
      and all(not b[0] for b in bars[:-1]), bars[-2:])
vals = [float(re.search(r": ([\d.,]+) kWh", b[1]).group(1).replace(".", "").replace(",", ".")) for b in bars]
check("meter-consumption-not-counter", vals and max(vals) < 1000, vals[:3])
check("meter-counter-in-table", "Zählerstand" in week)
check("chart-text-alternative", week.count('<p class="alt-text">') == 4 and week.count("<summary>Werte als Tabelle") == 4)
link = re.search(r'<a download href="(/csv\?thing=room-002&amp;property=co2&amp;[^"]+)"', week)
st, ctype, body = get(base + link.group(1).replace("&amp;", "&")) if link else (0, "", "")
rows = list(csv.reader(io.StringIO(body), delimiter=";"))
check("csv-download", st == 200 and "text/csv" in ctype and rows and rows[0][:3] == ["Zeit (UTC)", "Zeit", "Mittel (ppm)"]
      and len(rows) - 1 == pts(co2_week), (st, rows[:2], len(rows)))
check("csv-german-decimals", any("," in r[2] for r in rows[1:]) and all(re.match(r"\d{4}-\d\d-\d\dT", r[0]) for r in rows[1:]))
st, _, body = get(base + "/things/keller-altbau?range=24h")
check("stale-thing-page", st == 200 and body.count('<span class="stale">' + since + "</span>") == 2
      and body.count('<text class="empty"') == 2 and "Keine Daten in diesem Zeitraum." in body, st)
st, _, body = get(base + "/things/no-such-room")
check("unknown-thing-404", st == 404 and "Nicht gefunden" in body, st)
check("unknown-page-404", get(base + "/etc/passwd")[0] == 404)
check("readyz", get(base + "/readyz")[0] == 200)
st, _, body = get(base + "/docs/playbooks/schools.md")
check("docs-not-built", st == 503 and "make docs" in body, body[:300])
check("docs-no-raw-html", "<script>alert(1)</script>" not in body)
import http.client
for raw in ("/docs/../secret.txt", "/docs/%2e%2e/secret.txt", "/docs/..%2fsecret.txt"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.putrequest("GET", raw, skip_host=False, skip_accept_encoding=True)
    c.endheaders()
    r = c.getresponse()
    check("docs-no-traversal " + raw, r.status == 404 and "not for the web" not in r.read().decode(), r.status)
    c.close()

# ---- in the browser --------------------------------------------------------
PROBE = """<!doctype html><html><body><iframe id="f" src="%s" style="width:%dpx;height:2400px;border:0"></iframe>
<script>document.getElementById('f').onload = function () {
  var d = this.contentDocument, min = 1e9, n = 0;
  d.querySelectorAll('svg.chart text').forEach(function (t) {
    var cs = d.defaultView.getComputedStyle(t);
    if (cs.display === 'none' || !t.getBoundingClientRect().height) return;
    var px = parseFloat(cs.fontSize) * t.ownerSVGElement.getScreenCTM().a;
    n++; if (px < min) min = px;
  });
  var tb = d.querySelector('table.overview, table.values'), wide = d.documentElement.scrollWidth;
  var o = document.createElement('pre'); o.id = 'out';
  o.textContent = 'TEXTS=' + n + ' MINPX=' + min.toFixed(2) + ' SCROLLW=' + wide +
    '';
  document.body.appendChild(o);
};</script></body></html>"""
if not CHROMIUM:
    lib.skip("browser", "chromium is not installed (make deps installs it)")
else:
    os.makedirs(SHOTS, exist_ok=True)
    dom = chromium(["--dump-dom"], base + "/")
    check("dom-overview-german", '<html lang="de">' in dom and "hygienisch" in dom)
    for width in (390, 1366):
        # Served from /docs: the same origin, so the probe may read the
        # frame's computed styles.
        with open(os.path.join(docs, "probe-%d.html" % width), "w") as f:
            f.write(PROBE % ("/things/room-002?range=7d", width))
        out = chromium(["--virtual-time-budget=8000", "--dump-dom"], base + "/docs/probe-%d.html" % width,
                       size="%d,1000" % (width + 20))
        m = re.search(r"TEXTS=(\d+) MINPX=([\d.]+) SCROLLW=(\d+)", out)
        check("chart-text-%dpx" % width, m and int(m.group(1)) > 20 and float(m.group(2)) >= 11, m.group(0) if m else out[-300:])
        check("no-sideways-scroll-%dpx" % width, m and int(m.group(3)) <= width, m.group(0) if m else "")
    for name, path in (("overview", "/"), ("thing", "/things/room-002?range=7d"),
                       ("stale", "/things/keller-altbau")):
        for width, height in ((1366, 1000), (390, 2600)):
            png = os.path.join(SHOTS, "dashboard-%s-%d.png" % (name, width))
            chromium(["--screenshot=" + png], base + path, size="%d,%d" % (width, height))
            check("screenshot-%s-%d" % (name, width), os.path.exists(png) and os.path.getsize(png) > 10000, png)

# ---- restart: only the store and the dashboard ----------------------------
week_url = "/things/room-002?from=%s&to=%s" % (iso(end - 7 * 86400000), iso(end + STEP))
before_week = get(base + week_url)[2]
before_ov = get(base + "/")[2]
check("clean-exit", lib.stop(proc) == 0)
proc = lib.start(os.path.join(tmp, "viewer.lua"), log, "--log-format", "json")
check("restart-serving", lib.wait_port(port, proc, 20))
after_week = get(base + week_url)[2]
after_ov = get(base + "/")[2]
body_of = lambda html: re.search(r"<tbody>.*?</tbody>", html, re.S).group(0) if "<tbody>" in html else ""
check("restart-overview-same", body_of(after_ov) and body_of(after_ov) == body_of(before_ov),
      (body_of(before_ov)[:300], body_of(after_ov)[:300]))
lines = lambda html: [re.findall(r'points="([^"]+)"', c) for c in charts(html)]
check("restart-7d-chart-same", lines(after_week) and lines(after_week) == lines(before_week) and
      sum(len(p) for l in lines(after_week) for p in l) > 0, [len(l) for l in lines(after_week)])
check("restart-clean-exit", lib.stop(proc) == 0)

# ---- without a store: memory, English -----------------------------------------
mport = lib.free_port()
with open(os.path.join(tmp, "mem.lua"), "w") as f:
    f.write('''local kk = require "klimakit"
kk.config { data_dir = "%s/data3", exit_when_done = false }
kk.pipe(kk.source.simulate { sensors = 2, seed = 3, realtime = false, interval = "1m", count = %d, start = "%s" },
        kk.publish.http { listen = "127.0.0.1:%d", lang = "en", history = "24h", points = 288 })
''' % (tmp, 2 * 4 * 1440, iso(now // 60000 * 60000 - 86400000 + 60000), mport))
proc = lib.start(os.path.join(tmp, "mem.lua"), log)
check("memory-serving", lib.wait_port(mport, proc, 20))
mbase = "http://127.0.0.1:%d" % mport
lib.wait_for(lambda: get(mbase + "/api/latest")[2].count('"thing"') == 8, 30)
st, _, body = get(mbase + "/things/room-001")
mc = charts(body)
check("memory-en", st == 200 and '<html lang="en">' in body and "Air temperature" in body and "°C" in body)
check("memory-charts", len(mc) == 4 and all(280 <= pts(c) <= 288 for c in mc if 'data-kind="line"' in c),
      [pts(c) for c in mc])
st, _, body = get(mbase + "/")
check("memory-overview-classes-en", re.search(r"hygienically (harmless|conspicuous|unacceptable)", body) is not None)
check("memory-clean-exit", lib.stop(proc) == 0)

lib.kill_all()
if not lib.failed():
    shutil.rmtree(tmp, ignore_errors=True)
else:
    print("# kept " + tmp)
sys.exit(lib.exit_code())
