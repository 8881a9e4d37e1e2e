#!/usr/bin/env python3
"""The window a thing page's chart says it averages over is the one it uses.

A recipe reads 400 days of a room's air temperature (a reading every 5
minutes for the last 40 days, one an hour before) from a JSON-lines file
into store.sqlite and publish.http.  For each range (24 h, 7 days, 30
days, 1 year and a custom two-day range) the page is rendered by headless
Chromium (--dump-dom) and the test asserts that the caption names the
bucket width the chart really averages over ("Mittelwerte je Stunde."
for the 7-day range, "je Tag" for the year), measured from the chart
itself: the span the page says it shows (its text alternative) over
the number of points it draws; that the x-axis labels of a chart are distinct;
and that two ranges with different widths say different windows.  A
room whose temperature moves by 0.03 K gets y-axis labels that do not
repeat (21,20 21,21 ..., not 21 21 21), and a summary that tells its
lowest from its highest value ("zwischen 21,20 °C und 21,23 °C").  The
English page says "Averages per hour.".  Screenshots at 1366 px:
build/screens/chart-window-<range>.png."""
import datetime, json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check  # noqa: E402

lib.suite("chart_window")
SHOTS = os.path.join(os.environ.get("KK_ROOT", "."), os.environ.get("KK_BUILD", "build"), "screens")
CHROMIUM = shutil.which("chromium")
MIN, HOUR, DAY = 60000, 3600000, 86400000
BERLIN = ZoneInfo("Europe/Berlin")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def chromium(args, url, size="1366,1000"):
    prof = tempfile.mkdtemp(prefix="kk-chromium-")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + prof, "--window-size=" + size] + args + [url]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=90).stdout.decode()
    finally:
        shutil.rmtree(prof, ignore_errors=True)


tmp = tempfile.mkdtemp(prefix="kk-chartwin-")
log = open(os.path.join(tmp, "log"), "ab")
port = lib.free_port()
base = "http://127.0.0.1:%d" % port
now = int(time.time() * 1000)
end = now // (5 * MIN) * (5 * MIN)
n = 0
with open(os.path.join(tmp, "raum.jsonl"), "w") as f:
    t = end - 400 * DAY
    while t <= end:
        v = 20 + ((t // HOUR) % 24) / 4 + ((t // DAY) % 7) / 10
        f.write(json.dumps({"thing": "raum-1", "property": "air_temperature", "unit": "Cel",
                            "time": t, "value": round(v, 2)}) + "\n")
        n += 1
        if t > end - DAY:  # a second room that hardly changes: 21,20-21,23 °C
            f.write(json.dumps({"thing": "raum-2", "property": "air_temperature", "unit": "Cel",
                                "time": t, "value": 21.2 + (t // (5 * MIN) % 4) / 100}) + "\n")
            n += 1
        t += 5 * MIN if t >= end - 40 * DAY else HOUR
for name, lang in (("de", "de"), ("en", "en")):
    with open(os.path.join(tmp, name + ".lua"), "w") as f:
        f.write('''local kk = require "klimakit"
kk.config { data_dir = "%s/data-%s", exit_when_done = false }
local store = kk.store.sqlite { path = "%s/store-%s.db" }
kk.pipe(kk.source.file { path = "%s/raum.jsonl" },
        { store, kk.publish.http { listen = "127.0.0.1:%d", lang = "%s", store = "sqlite" } })
''' % (tmp, name, tmp, name, tmp, port, lang))


def stored():
    st, body = get(base + "/metrics")
    m = re.search(r'kk_store_rows_total\{stage="sqlite"\} (\d+)', body)
    return m is not None and int(m.group(1)) >= n


def chart(html):
    """The temperature chart: span shown (ms), points, x-axis labels, caption."""
    svg = re.search(r'<svg class="chart".*?</svg>', html, re.S)
    cap = re.search(r"<figcaption>(.*?)</figcaption>", html, re.S)
    alt = re.search(r'<p class="alt-text">[^<]*?(\d\d\.\d\d\.\d{4} \d\d:\d\d) – (\d\d\.\d\d\.\d{4} \d\d:\d\d)', html)
    if not svg or not cap or not alt:
        return None
    ax = re.findall(r'<g class="axis x">(.*?)</g>', svg.group(0), re.S)
    labels = re.findall(r">([^<]+)</text>", ax[0]) if ax else []
    points = re.search(r'data-points="(\d+)"', svg.group(0))
    a, z = (datetime.datetime.strptime(x, "%d.%m.%Y %H:%M").replace(tzinfo=BERLIN) for x in alt.groups())
    return {"span": (z - a).total_seconds() * 1000, "labels": labels,
            "points": int(points.group(1)) if points else 0, "caption": re.sub(r"<[^>]+>", "", cap.group(1))}


def spacing(c):
    """The bucket width of the ladder that span / points is (within 3 %), else 0."""
    if not c["points"]:
        return 0
    w = c["span"] / c["points"]
    best = min(WORDS, key=lambda k: abs(w / k - 1))
    return best if abs(w / best - 1) < 0.03 else int(w)


def distinct_axis(labels):
    """At least three labels, no two neighbours alike, every date label
    ("30.11.", "Nov 2026") once, and the times between two dates ("12:00")
    once each: "30.11. 12:00 01.12. 12:00" names different instants."""
    if len(labels) < 3 or any(a == b for a, b in zip(labels, labels[1:])):
        return False
    dates = [l for l in labels if not re.match(r"\d\d:\d\d$", l)]
    if len(set(dates)) != len(dates):
        return False
    group = []
    for l in labels + ["."]:
        if not re.match(r"\d\d:\d\d$", l):
            if len(set(group)) != len(group):
                return False
            group = []
        else:
            group.append(l)
    return True


WORDS = {5 * MIN: "5 Minuten", 15 * MIN: "15 Minuten", HOUR: "Stunde", 3 * HOUR: "3 Stunden",
         6 * HOUR: "6 Stunden", DAY: "Tag"}
frm = time.strftime("%Y-%m-%d", time.gmtime((end - 3 * DAY) / 1000))
to = time.strftime("%Y-%m-%d", time.gmtime((end - 1 * DAY) / 1000))
RANGES = [("24h", "range=24h", 5 * MIN), ("7d", "range=7d", HOUR), ("30d", "range=30d", 3 * HOUR),
          ("1y", "range=1y", DAY), ("custom", "from=%s&to=%s" % (frm, to), None)]

proc = lib.start(os.path.join(tmp, "de.lua"), log, "--log-format", "json")
try:
    check("serving", lib.wait_port(port, proc, 20))
    check("stored", lib.wait_for(stored, 60), get(base + "/metrics")[1][-300:])
    if not CHROMIUM:
        lib.skip("browser", "chromium is not installed (make deps installs it)")
    else:
        os.makedirs(SHOTS, exist_ok=True)
        said = {}
        for name, query, want in RANGES:
            url = base + "/things/raum-1?" + query
            c = chart(chromium(["--dump-dom"], url))
            if not check("rendered-" + name, c is not None and c["points"] > 2, url):
                continue
            width = spacing(c)
            if want is not None:
                check("width-%s-as-preset" % name, width == want,
                      "%d points over %d ms: %d ms each, want %d" % (c["points"], c["span"], width, want))
            word = WORDS.get(width)
            check("caption-%s-names-window" % name, word is not None and ("Mittelwerte je %s." % word) in c["caption"],
                  "%d points over %d ms: %d ms each, caption %r" % (c["points"], c["span"], width, c["caption"]))
            said[name] = c["caption"]
            check("axis-%s-distinct" % name, distinct_axis(c["labels"]), c["labels"])
            png = os.path.join(SHOTS, "chart-window-%s.png" % name)
            chromium(["--screenshot=" + png], url, size="1366,900")
            check("screenshot-" + name, os.path.exists(png) and os.path.getsize(png) > 10000, png)
        small = chromium(["--dump-dom"], base + "/things/raum-2?range=24h")
        svg = re.search(r'<svg class="chart".*?</svg>', small, re.S)
        ax = re.findall(r'<g class="axis y">(.*?)</g>', svg.group(0), re.S) if svg else []
        ys = [l for l in re.findall(r">([^<]+)</text>", ax[0]) if re.match(r"-?[\d.,]+$", l)] if ax else []
        check("y-axis-small-range-distinct", len(ys) >= 3 and len(set(ys)) == len(ys) and
              all(re.match(r"21,2\d$", y) for y in ys), ys)
        alt = re.search(r'<p class="alt-text">(.*?)</p>', small, re.S)
        check("summary-small-range-tells-lowest-from-highest",
              alt is not None and "zwischen 21,20 °C und 21,23 °C" in alt.group(1), alt and alt.group(1))
        chromium(["--screenshot=" + os.path.join(SHOTS, "chart-window-small-range.png")],
                 base + "/things/raum-2?range=24h", size="1366,900")
        check("hour-and-day-differ", "Stunde." in said.get("7d", "") and "Tag." in said.get("1y", "")
              and said.get("7d") != said.get("1y"), said)
finally:
    lib.stop(proc)

# English: the same window in the other language.
proc = lib.start(os.path.join(tmp, "en.lua"), log, "--log-format", "json")
try:
    check("serving-en", lib.wait_port(port, proc, 20))
    check("stored-en", lib.wait_for(stored, 60))
    if CHROMIUM:
        cap = re.search(r"<figcaption>(.*?)</figcaption>", chromium(["--dump-dom"], base + "/things/raum-1?range=7d"), re.S)
        cap = re.sub(r"<[^>]+>", "", cap.group(1)) if cap else ""
        check("caption-7d-en", "Averages per hour." in cap, cap)
finally:
    lib.stop(proc)
    lib.kill_all()
if not lib.failed():
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(lib.exit_code())
