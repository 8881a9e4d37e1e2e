#!/usr/bin/env python3
"""A Lua module with saved state under SIGKILL (issue #18 item 3).

examples/lua-module/co2_alert.module.lua fires one event when a room's CO2
reaches 1400 ppm and one when it falls below 1000 again; its open episodes
are its state (save/restore).  A client streams readings to source.tcp
(journaled before "ok"), one at a time; klimakit is killed with SIGKILL at
random moments, between the module's snapshots (every 200 ms), and
restarted; a reading whose answer the kill swallowed is sent again (a
reading repeated at once changes no episode).  At the end the events in
the sink must be exactly those the readings call for, each once: none
fired twice (the restored state knows it fired), none missing (the
journal replays what the state lacked).
"""
import json, os, random, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, free_port  # noqa: E402

lib.suite("lua_state")
BIN = lib.BIN
ROUNDS = int(os.environ.get("KK_LUA_STATE_ROUNDS", "15"))
rng = random.Random(7)
HIGH, LOW = 1400, 1000


def reading(i):
    room = "room-%d" % (i % 4)
    # A walk per room through both limits, many episodes.
    v = 1200 + 450 * (((i // 4) * 37 % 11) - 5) / 5.0
    return {"thing": room, "property": "co2", "unit": "ppm",
            "time": 1764000000000 + i * 1000, "value": v}


def expected(n):
    open_, ev = {}, []
    for i in range(1, n + 1):
        r = reading(i)
        t = r["thing"]
        if t not in open_ and r["value"] >= HIGH:
            open_[t] = True
            ev.append((t, r["time"], 1))
        elif t in open_ and r["value"] < LOW:
            del open_[t]
            ev.append((t, r["time"], 0))
    return ev


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
    tmp = tempfile.mkdtemp(prefix="kk-luastate-")
    port = free_port()
    out = os.path.join(tmp, "events.jsonl")
    recipe = os.path.join(tmp, "alert.lua")
    with open(recipe, "w") as f:
        f.write('local kk = require "klimakit"\n'
                'kk.load_module "%s/examples/lua-module/co2_alert.module.lua"\n'
                'kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" },\n'
                '        kk.calc.co2_alert { snapshot = "200ms" },\n'
                '        kk.sink.jsonl { path = "%s" })\n' % (lib.ROOT, port, out))
    data = os.path.join(tmp, "data")
    logf = open(os.path.join(tmp, "klimakit.log"), "ab")
    next_id, kills = 1, 0
    for rnd in range(ROUNDS):
        proc = start(recipe, data, logf)
        sock = connect(port, proc)
        if sock is None:
            check("start-%d" % rnd, False, "klimakit did not start listening")
            proc.kill()
            break
        kill_at = time.time() + rng.uniform(0.1, 0.6)
        sock.settimeout(1.0)
        f = sock.makefile("rb")
        while time.time() < kill_at:
            try:
                sock.sendall((json.dumps(reading(next_id)) + "\n").encode())
                line = f.readline()
            except OSError:
                break
            if not line.startswith(b"ok "):
                break
            next_id += 1  # acknowledged; else it is sent again next round
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        sock.close()
        kills += 1
    # One reading more makes sure the last unanswered one is through.
    proc = start(recipe, data, logf)
    sock = connect(port, proc)
    if sock:
        sock.settimeout(2.0)
        sock.sendall((json.dumps(reading(next_id)) + "\n").encode())
        sock.makefile("rb").readline()
        sock.close()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = -9
    check("clean-exit", rc == 0, "exit %s after SIGTERM" % rc)
    got = []
    if os.path.exists(out):
        with open(out) as f:
            for line in f:
                j = json.loads(line)
                got.append((j["thing"], j["time"], int(j["value"])))
    want = expected(next_id)
    # The jsonl sink writes times as ISO 8601 or ms: compare on ms.
    def ms(t):
        if isinstance(t, int):
            return t
        import datetime
        return int(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)
    got = [(a, ms(b), c) for a, b, c in got]
    twice = len(got) - len(set(got))
    never = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    print("# lua state: %d kills, %d readings, %d events expected, %d in the sink, "
          "%d twice, %d never, %d unexpected" % (kills, next_id, len(want), len(got),
                                                 twice, len(never), len(extra)), flush=True)
    check("kills", kills >= 10, "only %d kills" % kills)
    check("events-some", len(want) >= 20, "only %d events" % len(want))
    check("none-twice", twice == 0, "%d events fired twice" % twice)
    check("none-never", not never, "%d events never fired, first %s" % (len(never), never[:3]))
    check("none-unexpected", not extra, "%d unexpected, first %s" % (len(extra), extra[:3]))
    state = os.path.join(data, "stages", "co2_alert", "state.json")
    check("state-file", os.path.exists(state), "no " + state)
    if not lib.failed():
        subprocess.run(["rm", "-rf", tmp])
    else:
        print("# kept " + tmp, flush=True)
    return lib.exit_code()


sys.exit(main())
