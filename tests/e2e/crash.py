#!/usr/bin/env python3
"""Crash test: nothing acknowledged is ever lost.

A client streams JSON readings to the tcp source; klimakit journals each
line before it answers "ok <seq>".  The process is killed with SIGKILL at
random moments (ROUNDS times) and restarted.  At the end the jsonl sink's
output must hold every acknowledged reading; duplicates (the jsonl sink is
not idempotent, so a record finished before the kill but after the last
cursor save comes again) are counted and reported, not failed.
"""
import json, os, random, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, free_port  # noqa: E402

lib.suite("crash")
BIN = lib.BIN
ROUNDS = int(os.environ.get("KK_CRASH_ROUNDS", "25"))
rng = random.Random(int(os.environ.get("KK_CRASH_SEED", "42")))


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


def main():
    tmp = tempfile.mkdtemp(prefix="kk-crash-")
    port = free_port()
    out = os.path.join(tmp, "out.jsonl")
    recipe = os.path.join(tmp, "crash.lua")
    with open(recipe, "w") as f:
        f.write('local kk = require "klimakit"\n'
                'kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" },\n'
                '        kk.sink.jsonl { path = "%s" })\n' % (port, out))
    data = os.path.join(tmp, "data")
    logf = open(os.path.join(tmp, "klimakit.log"), "ab")
    acked = set()
    sent_total = 0
    next_id = 1
    kills = 0
    for rnd in range(ROUNDS):
        proc = start(recipe, data, logf)
        sock = connect(port, proc)
        if sock is None:
            check("start-%d" % rnd, False, "klimakit did not start listening")
            proc.kill()
            break
        kill_at = time.time() + rng.uniform(0.05, 0.4)
        buf = b""
        pending = []  # ids sent, waiting for their answer, in order
        sock.settimeout(0.01)
        killed = False
        while not killed:
            if time.time() >= kill_at:
                proc.send_signal(signal.SIGKILL)
                killed = True
            # Keep up to 200 lines in flight.
            if len(pending) < 200:
                lines = []
                for _ in range(rng.randint(1, 50)):
                    rid = next_id
                    next_id += 1
                    lines.append(json.dumps({"thing": "meter-%d" % (rid % 7), "property": "energy",
                                             "unit": "kW.h", "time": 1700000000000 + rid,
                                             "value": rid}) + "\n")
                    pending.append(rid)
                try:
                    sock.sendall("".join(lines).encode())
                    sent_total += len(lines)
                except OSError:
                    break
            try:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
            except socket.timeout:
                pass
            except OSError:
                break
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                rid = pending.pop(0)
                if line.startswith(b"ok "):
                    acked.add(rid)
        # Drain answers that raced with the kill.
        try:
            sock.settimeout(0.2)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        while b"\n" in buf and pending:
            line, buf = buf.split(b"\n", 1)
            rid = pending.pop(0)
            if line.startswith(b"ok "):
                acked.add(rid)
        sock.close()
        proc.wait()
        kills += 1
    # A last clean run replays what the sink had not finished, then stops.
    proc = start(recipe, data, logf)
    sock = connect(port, proc)
    if sock:
        sock.close()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = -9
    check("clean-exit", rc == 0, "exit %s after SIGTERM" % rc)
    seen = {}
    bad_lines = 0
    if os.path.exists(out):
        with open(out) as f:
            for line in f:
                try:
                    v = int(json.loads(line)["value"])
                except (ValueError, KeyError):
                    bad_lines += 1
                    continue
                seen[v] = seen.get(v, 0) + 1
    lost = sorted(acked - set(seen))
    dups = sum(c - 1 for c in seen.values() if c > 1)
    check("kills", kills >= 20, "only %d kills" % kills)
    check("acked-some", len(acked) > 1000, "only %d acked" % len(acked))
    check("no-loss", not lost, "%d acknowledged readings lost, first %s" % (len(lost), lost[:10]))
    check("output-parses", bad_lines == 0, "%d unparsable lines" % bad_lines)
    print("# crash test: %d kills, %d sent, %d acknowledged, %d in output, %d duplicates, %d lost"
          % (kills, sent_total, len(acked), len(seen), dups, len(lost)), flush=True)
    if not lib.failed():
        subprocess.run(["rm", "-rf", tmp])
    else:
        print("# kept " + tmp, flush=True)
    return lib.exit_code()


sys.exit(main())
