#!/usr/bin/env python3
"""sink.file under SIGKILL: no torn line, nothing acknowledged missing.

The approach of crash.py (sink.jsonl): a client streams JSON readings to
source.tcp, which journals each line before it answers "ok <seq>", so the
client knows exactly what was acknowledged.  Here the sink is sink.file in
wide CSV mode: each id sends two readings (energy, power) of one
(thing, time), which the sink joins into one row.  klimakit is killed with
SIGKILL at random moments (KK_FILE_CRASH_ROUNDS, at least 20) and
restarted.  At the end the CSV must hold one header, only whole rows, and
every acknowledged reading in the row of its (thing, time); duplicates
(rows written again after a crash) are counted, not failed.
"""
import csv, io, json, os, random, re, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, free_port  # noqa: E402

lib.suite("file_sink")
BIN = lib.BIN
ROUNDS = int(os.environ.get("KK_FILE_CRASH_ROUNDS", "20"))
rng = random.Random(int(os.environ.get("KK_CRASH_SEED", "11")))
T0 = 1700000000000
PROPS = (("energy", "kW.h", 0.0), ("power", "kW", 0.5))


def start(recipe, data, logf):
    return subprocess.Popen([BIN, "run", recipe, "--data-dir", data, "--log-format", "json"],
                            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)


def connect(port, proc, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return None
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            time.sleep(0.02)
    return None


def read_answers(sock, buf, pending, acked, wait):
    """Reads answer lines; each answers the oldest pending (id, prop)."""
    sock.settimeout(wait)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
            if wait < 0.1:
                break
    except (socket.timeout, OSError):
        pass
    while b"\n" in buf and pending:
        line, buf = buf.split(b"\n", 1)
        key = pending.pop(0)
        if line.startswith(b"ok "):
            acked.add(key)
    return buf


def one_round(port, proc, state):
    sock = connect(port, proc)
    if sock is None:
        return False
    kill_at = time.time() + rng.uniform(0.1, 0.5)
    buf, pending = b"", []
    while True:
        if time.time() >= kill_at:
            proc.send_signal(signal.SIGKILL)
            break
        if len(pending) < 400:
            lines = []
            for _ in range(rng.randint(1, 40)):
                rid = state["next"]
                state["next"] += 1
                for prop, unit, add in PROPS:
                    lines.append(json.dumps({"thing": "meter-%d" % (rid % 7), "property": prop,
                                             "unit": unit, "time": T0 + rid * 1000,
                                             "value": rid + add}) + "\n")
                    pending.append((rid, prop))
            try:
                sock.sendall("".join(lines).encode())
                state["sent"] += len(lines)
            except OSError:
                break
        buf = read_answers(sock, buf, pending, state["acked"], 0.005)
    read_answers(sock, buf, pending, state["acked"], 0.3)
    sock.close()
    proc.wait()
    return True


def verify(out, acked):
    raw = open(out, "rb").read() if os.path.exists(out) else b""
    check("file-ends-with-newline", raw.endswith(b"\n"), "last bytes %r" % raw[-40:])
    rows = list(csv.reader(io.StringIO(raw.decode())))
    header = ["thing", "time", "energy [kW.h]", "power [kW]"]
    check("one-header-first", rows and rows[0] == header and header not in rows[1:],
          "header rows: %d" % sum(1 for r in rows if r == header))
    bad, cells, dups = 0, {}, 0
    tre = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    for r in rows[1:]:
        if len(r) != 4 or not re.fullmatch(r"meter-\d", r[0]) or not tre.match(r[1]):
            bad += 1
            continue
        for i, (prop, _, _) in enumerate(PROPS):
            if r[2 + i] == "":
                continue
            try:
                v = float(r[2 + i])
            except ValueError:
                bad += 1
                continue
            key = (r[0], r[1], prop)
            if key in cells:
                dups += 1
            cells[key] = v
    check("no-torn-or-bad-row", bad == 0, "%d malformed rows" % bad)
    lost = []
    for rid, prop in acked:
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((T0 + rid * 1000) / 1000)) + ".000Z"
        want = rid + dict((p, a) for p, _, a in PROPS)[prop]
        if cells.get(("meter-%d" % (rid % 7), t, prop)) != want:
            lost.append((rid, prop))
    check("no-acked-reading-lost", not lost,
          "%d acknowledged readings missing, first %s" % (len(lost), sorted(lost)[:5]))
    return len(rows) - 1, dups


def main():
    tmp = tempfile.mkdtemp(prefix="kk-file-crash-")
    port = free_port()
    out = os.path.join(tmp, "out", "meters.csv")
    recipe = os.path.join(tmp, "crash.lua")
    with open(recipe, "w") as f:
        f.write('local kk = require "klimakit"\n'
                'kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" },\n'
                '        kk.sink.file { path = "%s",\n'
                '                       columns = { "energy [kW.h]", "power [kW]" } })\n'
                % (port, out))
    data = os.path.join(tmp, "data")
    logf = open(os.path.join(tmp, "klimakit.log"), "ab")
    state = {"next": 1, "sent": 0, "acked": set()}
    kills = 0
    for rnd in range(ROUNDS):
        proc = start(recipe, data, logf)
        if not one_round(port, proc, state):
            check("start-%d" % rnd, False, "klimakit did not start listening")
            proc.kill()
            break
        kills += 1
    # A last clean run replays what the sink had not finished, then stops.
    proc = start(recipe, data, logf)
    sock = connect(port, proc)
    if sock:
        sock.close()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = -9
    check("clean-exit", rc == 0, "exit %s after SIGTERM" % rc)
    check("kills", kills >= 20, "only %d kills" % kills)
    check("acked-some", len(state["acked"]) > 1000, "only %d acked" % len(state["acked"]))
    nrows, dups = verify(out, state["acked"])
    logf.close()
    torn = sum(1 for l in open(os.path.join(tmp, "klimakit.log"), errors="replace")
               if "torn line" in l)
    print("# file sink crash test: %d kills, %d readings sent, %d acknowledged, %d rows, "
          "%d duplicate cells, %d torn tails cut on start"
          % (kills, state["sent"], len(state["acked"]), nrows, dups, torn), flush=True)
    if not lib.failed():
        subprocess.run(["rm", "-rf", tmp])
    else:
        print("# kept " + tmp, flush=True)
    return lib.exit_code()


sys.exit(main())
