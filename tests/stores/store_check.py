#!/usr/bin/env python3
"""tests/stores/store_check.py - fixture and truth for the store tests.

  store_check.py gen OUT.jsonl [SEED] [BASE_MS]
      A deterministic set of readings (3 things x 2 properties, irregular
      times over ~400 days, late data out of order, exact duplicates).
  store_check.py verify TAG QUERY BACKEND TARGET DATA.jsonl...
      Asks the store through kk-store-query (QUERY) and compares every
      answer with the truth computed here from the readings files.  Prints
      "ok TAG/<check>" or "FAIL TAG/<check>: why" lines.
  store_check.py snapshot QUERY BACKEND TARGET
      Prints dump + rollups (for before/after comparisons).
"""
import json, math, random, subprocess, sys

H, D = 3600000, 86400000
THINGS = ["school-a/room-1", "school-a/room-2", "town-hall"]
PROPS = [("co2", "ppm"), ("energy", "kW.h")]


def gen(out, seed=7, base=None):
    rnd = random.Random(seed)
    if base is None:
        base = 1767225600000  # 2026-01-01T00:00:00Z
    rows = []
    for th in THINGS:
        for prop, unit in PROPS:
            t = base - 400 * D + rnd.randrange(0, H)
            while t < base:
                v = round(rnd.uniform(400, 2000), 2) if prop == "co2" else round(rnd.uniform(0, 50), 3)
                rows.append({"thing": th, "property": prop, "unit": unit, "time": t, "value": v})
                # dense on some days, sparse on others: the step varies
                t += rnd.choice([60000, 300000, 900000, 3 * H, 2 * D])
    # late data: the second half out of order (shuffled in place: a
    # shuffled slice would be a copy)
    late = rows[len(rows) // 2:]
    rnd.shuffle(late)
    rows[len(rows) // 2:] = late
    dups = rnd.sample(rows, 200)  # exact redeliveries
    rows += dups
    with open(out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def truth(files):
    obs = {}
    for fn in files:
        for line in open(fn):
            r = json.loads(line)
            k = (r["thing"], r["property"], r["unit"])
            obs.setdefault(k, {}).setdefault(r["time"], r["value"])  # first wins
    return obs


def q(query, backend, target, *args):
    out = subprocess.run([query, backend, target] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(map(str, args)), out.stderr.strip()))
    return out.stdout.splitlines()


def parse_pt(line):
    f = line.split()
    d = {}
    parts = dict(p.split("=", 1) for p in f if "=" in p)
    nums = [p for p in f if "=" not in p]
    d["time"] = int(nums[-1])
    d["count"] = int(parts["count"])
    for k in ("sum", "min", "max", "avg"):
        if k in parts:
            d[k] = float(parts[k])
    return d


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def agg(vals):
    if not vals:
        return {"count": 0}
    return {"count": len(vals), "sum": sum(vals), "min": min(vals), "max": max(vals)}


def same_agg(got, want):
    if got["count"] != want["count"]:
        return False
    return want["count"] == 0 or all(close(got[k], want[k]) for k in ("sum", "min", "max"))


def verify(tag, query, backend, target, files):
    obs = truth(files)
    fails = []

    def check(name, okay, why=""):
        if okay:
            print("ok %s/%s" % (tag, name))
        else:
            print("FAIL %s/%s: %s" % (tag, name, why))
            fails.append(name)

    # datastreams and things
    ds = q(query, backend, target, "datastreams")
    want = sorted("ds %s %s %s" % k for k in obs)
    got = sorted(" ".join(l.split()[:4]) for l in ds)
    check("datastreams", got == want, "got %s want %s" % (got, want))
    sectors = {l.split()[2]: l.split()[4] for l in ds}
    check("sector", sectors.get("energy") == "sector=municipal" and sectors.get("co2") == "sector=-",
          "sectors %s" % sectors)
    pat = q(query, backend, target, "datastreams", "school-a/*", "-", "-", "-")
    check("filter-prefix", len(pat) == 4 and all("school-a/" in l for l in pat), "%s" % pat)
    th = q(query, backend, target, "things")
    check("things", len(th) == 3 and any("town-hall" in l and "Point" in l and "7.47" in l for l in th), "%s" % th)

    # raw data: exactly the distinct readings, nothing doubled
    dump = q(query, backend, target, "dump")
    got = {}
    for l in dump:
        f = l.split()
        th_, rest = f[1].rsplit("/", 2)[0], f[1].rsplit("/", 2)[1:]
        k = (th_, rest[0], rest[1])
        p = parse_pt(l)
        got.setdefault(k, {})[p["time"]] = p["sum"]
    n_want = sum(len(v) for v in obs.values())
    n_got = sum(len(v) for v in got.values())
    bad = [k for k in obs if obs[k] != got.get(k)]
    check("raw-exact", n_got == n_want and not bad, "%d rows, want %d; differing %s" % (n_got, n_want, bad[:2]))

    # rollups: recomputed from the truth
    roll = q(query, backend, target, "rollups")
    gotr = {}
    for l in roll:
        f = l.split()
        th_, p1, p2 = f[1].rsplit("/", 2)
        gotr[(f[0], th_, p1, p2, parse_pt(l)["time"])] = parse_pt(l)
    wantr = {}
    for k, series in obs.items():
        for t, v in series.items():
            for res, w in (("hour", H), ("day", D)):
                wantr.setdefault((res,) + k + (t - t % w,), []).append(v)
    badr = [k for k in wantr if k not in gotr or not same_agg(gotr[k], agg(wantr[k]))]
    extra = [k for k in gotr if k not in wantr]
    avg_bad = [k for k in gotr if gotr[k]["count"] and not close(gotr[k]["avg"], gotr[k]["sum"] / gotr[k]["count"])]
    check("rollups", not badr and not extra and not avg_bad,
          "%d wrong, %d extra, %d avg; e.g. %s" % (len(badr), len(extra), len(avg_bad),
                                                   [(k, gotr.get(k), agg(wantr[k])) for k in badr[:1]]))

    # latest
    badl = []
    for k, series in obs.items():
        t = max(series)
        p = parse_pt(q(query, backend, target, "latest", *k)[0])
        if p["time"] != t or not close(p["sum"], series[t]):
            badl.append((k, p, t, series[t]))
    check("latest", not badl, "%s" % badl[:2])
    check("latest-unknown", q(query, backend, target, "latest", "nope", "co2", "ppm") == ["unknown"])

    # ranges: resolution chosen by span, limit
    k = ("school-a/room-1", "co2", "ppm")
    ts = sorted(obs[k])
    end = ts[-1] + 1
    for span, res in ((D, 0), (30 * D, 1), (365 * D, 2)):
        lines = q(query, backend, target, "range", *k, end - span, end, "auto")
        head = dict(x.split("=") for x in lines[0].split()[1:])
        pts = [parse_pt(l) for l in lines[1:]]
        if res == 0:
            want = [t for t in ts if end - span <= t < end]
            okay = [p["time"] for p in pts] == want and all(close(p["sum"], obs[k][p["time"]]) for p in pts)
        else:
            w = H if res == 1 else D
            buckets = sorted({t - t % w for t in ts if end - span <= t - t % w < end})
            okay = [p["time"] for p in pts] == buckets
        check("range-auto-%dd" % (span // D), int(head["res"]) == res and okay,
              "res %s, %d points" % (head["res"], len(pts)))
    lines = q(query, backend, target, "range", *k, 0, end, "raw", 10)
    check("range-limit", lines[0].endswith("len=10 truncated=1") and len(lines) == 11, lines[0])

    # aggregates over ragged windows equal the truth from raw data
    rnd = random.Random(3)
    bada = []
    for i in range(25):
        kk = rnd.choice(sorted(obs))
        ts = sorted(obs[kk])
        a = rnd.randrange(ts[0] - D, ts[-1])
        b = a + rnd.choice([rnd.randrange(1, H), rnd.randrange(H, 3 * D), rnd.randrange(3 * D, 400 * D)])
        p = parse_pt(q(query, backend, target, "agg", *kk, a, b)[0])
        w = agg([v for t, v in obs[kk].items() if a <= t < b])
        if not same_agg(p, w):
            bada.append((kk, a, b, p, w))
    check("aggregate-windows", not bada, "%s" % bada[:1])
    return 1 if fails else 0


def snapshot(query, backend, target):
    for l in q(query, backend, target, "dump") + q(query, backend, target, "rollups"):
        print(l)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 7,
            int(sys.argv[4]) if len(sys.argv) > 4 else None)
    elif cmd == "verify":
        sys.exit(verify(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]))
    elif cmd == "snapshot":
        snapshot(sys.argv[2], sys.argv[3], sys.argv[4])
