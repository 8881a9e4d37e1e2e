#!/usr/bin/env python3
"""Forwarding sinks against a receiver that fails for a while.

webhook: the receiver answers 503 to its first requests, then is stopped
(connection refused) while klimakit is SIGKILLed and restarted, then comes
back and answers 2xx.  Every reading must arrive, in order per datastream,
none twice (the receiver does not deduplicate), every signature must
verify; a second webhook whose receiver answers 400 fills dead-letter/.
Sources must never pause meanwhile (the spool takes the outage).
Then forward.sensorthings and forward.ngsild against receivers that check
the request shapes.  Prints "ok name" / "FAIL name: why".
"""
import glob, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lib  # noqa: E402
from lib import check, free_port, stop, wait_for, wait_port  # noqa: E402

lib.suite("forward")
ROOT = lib.ROOT
BIN = lib.BIN
RECEIVER = os.path.join(HERE, "data", "forward", "receiver.py")
SECRET = "s3cret-for-the-test"
procs = lib.procs


def start_receiver(port, log, fail_first):
    p = subprocess.Popen([sys.executable, RECEIVER, str(port), log, SECRET, str(fail_first)],
                         stdout=subprocess.DEVNULL, stderr=open(log + ".err", "a"))
    procs.append(p)
    if not wait_port(port, p):
        raise SystemExit("FAIL forward/receiver: did not start")
    return p


def start_kk(recipe, data, log, tcp_port):
    env = dict(os.environ, KLIMAKIT_WEBHOOK_SECRET=SECRET)
    p = subprocess.Popen([BIN, "run", recipe, "--data-dir", data, "--log-format", "text"],
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
    procs.append(p)
    if not wait_port(tcp_port, p):
        raise SystemExit("FAIL forward/start: klimakit did not listen: see " + log.name)
    return p


def send(tcp_port, readings):
    """Sends readings to source.tcp; returns how many were answered ok."""
    s = socket.create_connection(("127.0.0.1", tcp_port), 5)
    s.settimeout(60)
    s.sendall(b"".join((json.dumps(r) + "\n").encode() for r in readings))
    buf, oks = b"", 0
    while buf.count(b"\n") < len(readings):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    for line in buf.decode().splitlines():
        if line.startswith("ok "):
            oks += 1
    return oks


def readings(things, start, n, t0=1763700000000):
    out = []
    for i in range(start, start + n):
        for th in things:
            out.append({"thing": th, "property": "co2", "unit": "ppm",
                        "time": t0 + i * 1000, "value": i})
    return out


def log_lines(path):
    if not os.path.exists(path):
        return []
    # The receiver may be mid-write.  One read() gives a prefix of the
    # file; its last piece after the final newline is incomplete and is
    # read again on the next poll.  (Iterating over the file would not do:
    # after a partial last line the iterator reads on and yields the rest
    # of that record as a line of its own.)
    with open(path) as f:
        lines = f.read().split("\n")[:-1]
    return [json.loads(l) for l in lines if l.strip()]


def webhook_case(tmp):
    rport, tport = free_port(), free_port()
    rlog = os.path.join(tmp, "hook.log")
    data = os.path.join(tmp, "data")
    recipe = os.path.join(tmp, "hook.lua")
    with open(recipe, "w") as f:
        f.write("""local kk = require "klimakit"
kk.pipe(kk.source.tcp { listen = "127.0.0.1:%(t)d" },
        { kk.forward.webhook { name = "hook", url = "http://127.0.0.1:%(r)d/hook",
                               retry_min = "50ms", retry_max = "400ms", max_batch = 40,
                               timeout = "5s", queue = 64 },
          kk.forward.webhook { name = "refused", url = "http://127.0.0.1:%(r)d/reject",
                               retry_min = "50ms", retry_max = "400ms", max_batch = 25 },
          kk.sink.jsonl { path = "%(j)s" } })
""" % {"t": tport, "r": rport, "j": os.path.join(tmp, "all.jsonl")})
    klog = open(os.path.join(tmp, "klimakit.log"), "ab")
    things = ["room-1", "room-2", "room-3"]
    total = []
    recv = start_receiver(rport, rlog, 6)
    kk = start_kk(recipe, data, klog, tport)
    batch = readings(things, 0, 100)
    ok1 = send(tport, batch)
    total += batch
    got_some = wait_for(lambda: sum(1 for r in log_lines(rlog) if r["path"] == "/hook" and r["status"] == 204) > 0, 20)
    check("webhook/5xx-then-ok", got_some and sum(1 for r in log_lines(rlog) if r["status"] == 503) == 6,
          "503s: %d, 2xx: %s" % (sum(1 for r in log_lines(rlog) if r["status"] == 503), got_some))
    # Outage: the receiver goes away (connection refused).
    stop(recv)
    batch = readings(things, 100, 100)
    ok2 = send(tport, batch)  # queue = 64: would pause without the spool
    total += batch
    time.sleep(0.5)
    kk.send_signal(signal.SIGKILL)
    kk.wait()
    kk = start_kk(recipe, data, klog, tport)
    batch = readings(things, 200, 100)
    ok3 = send(tport, batch)
    total += batch
    check("webhook/sources-not-paused", ok1 + ok2 + ok3 == len(total),
          "%d of %d acknowledged by source.tcp" % (ok1 + ok2 + ok3, len(total)))
    time.sleep(1.0)  # a few refused connections
    klog.flush()
    text = open(klog.name, errors="replace").read()
    check("webhook/conn-refused-retried",
          re.search(r"hook.*delivery failed \((Failed to connect|Couldn't connect|.*[Cc]onnection refused)", text) is not None,
          "no refused-connection retry in the log")
    recv = start_receiver(rport, rlog, 0)

    def hook_ok():
        return [r for r in log_lines(rlog) if r["path"] == "/hook" and r["status"] == 204]
    dl_glob = os.path.join(data, "stages", "refused", "dead-letter", "*.json")

    def dead_n():
        n = 0
        for p in glob.glob(dl_glob):
            try:
                n += len(json.load(open(p)).get("readings", []))
            except ValueError:
                pass
        return n
    wait_for(lambda: sum(len(r["body"]["readings"]) for r in hook_ok()) >= len(total), 40)
    wait_for(lambda: dead_n() >= len(total), 40)
    rc = stop(kk)
    check("webhook/clean-exit", rc == 0, "exit %s" % rc)
    stop(recv)
    acked = hook_ok()
    seen = [(r["thing"], r["time"], r["value"]) for d in acked for r in d["body"]["readings"]]
    want = set()
    for r in total:
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(r["time"] // 1000)) + ".%03dZ" % (r["time"] % 1000)
        want.add((r["thing"], t, r["value"]))
    dups = len(seen) - len(set(seen))
    check("webhook/all-arrived", want <= set(seen), "%d of %d readings missing" % (len(want - set(seen)), len(want)))
    check("webhook/none-twice", dups == 0, "%d readings acknowledged twice" % dups)
    print("# forward/webhook: %d readings, %d acknowledged requests, %d duplicates" % (len(seen), len(acked), dups))
    order_ok = True
    for th in things:
        ts = [t for (x, t, v) in seen if x == th]
        order_ok &= ts == sorted(ts)
    check("webhook/in-order-per-datastream", order_ok, "times not increasing")
    sigs = [r.get("sig_ok") for r in log_lines(rlog) if r["path"] == "/hook"]
    check("webhook/signatures-verify", sigs and all(sigs), "%d of %d signatures bad" % (sigs.count(False), len(sigs)))
    # Dead letter: every reading of the 'refused' sink, one file per request.
    dl = sorted(glob.glob(dl_glob))
    dead = []
    good_files = True
    for p in dl:
        d = json.load(open(p))
        good_files &= d.get("status") == 400 and "reason" in d and isinstance(d.get("request"), dict)
        dead += [(r["thing"], r["time"], r["value"]) for r in d.get("readings", [])]
    check("webhook/dead-letter", dl and good_files and set(dead) == want and len(dead) == len(want),
          "%d files, %d readings (want %d), well-formed: %s" % (len(dl), len(dead), len(want), good_files))
    prom = open(os.path.join(data, "metrics.prom")).read() if os.path.exists(os.path.join(data, "metrics.prom")) else ""
    m = re.search(r'kk_forward_dead_letter_total\{stage="refused"\} (\d+)', prom)
    check("webhook/dead-letter-counted", m is not None and int(m.group(1)) > 0,
          "no kk_forward_dead_letter_total for 'refused' in metrics.prom")
    jl = sum(1 for _ in open(os.path.join(tmp, "all.jsonl")))
    check("webhook/other-sink-unaffected", jl >= len(total), "jsonl sink has %d of %d" % (jl, len(total)))


def kill_case(tmp, rounds=8):
    """SIGKILL at random moments while the receiver is healthy: nothing is
    lost; a kill between the receiver's 2xx and the spool position save
    resends that one delivery (same "id"), which is counted, not failed."""
    import random
    rng = random.Random(7)
    rport, tport = free_port(), free_port()
    rlog = os.path.join(tmp, "kill.log")
    data = os.path.join(tmp, "data-kill")
    recipe = os.path.join(tmp, "kill.lua")
    with open(recipe, "w") as f:
        f.write("""local kk = require "klimakit"
kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" },
        kk.forward.webhook { name = "hook", url = "http://127.0.0.1:%d/hook", max_batch = 10,
                             retry_min = "50ms", retry_max = "200ms" })
""" % (tport, rport))
    klog = open(os.path.join(tmp, "klimakit-kill.log"), "ab")
    recv = start_receiver(rport, rlog, 0)
    total = []
    for rnd in range(rounds):
        kk = start_kk(recipe, data, klog, tport)
        batch = readings(["k-1", "k-2"], rnd * 100, 100)
        send(tport, batch)
        total += batch
        time.sleep(rng.uniform(0.0, 0.15))
        kk.send_signal(signal.SIGKILL)
        kk.wait()
    kk = start_kk(recipe, data, klog, tport)

    def acked():
        return [r for r in log_lines(rlog) if r["path"] == "/hook" and r["status"] == 204]
    wait_for(lambda: len({(x["thing"], x["time"]) for d in acked() for x in d["body"]["readings"]}) >= len(total), 60)
    rc = stop(kk)
    stop(recv)
    seen = [(x["thing"], x["time"]) for d in acked() for x in d["body"]["readings"]]
    missing = len(total) - len(set(seen))
    check("kill/nothing-lost", missing == 0, "%d of %d readings missing" % (missing, len(total)))
    check("kill/clean-exit", rc == 0, "exit %s" % rc)
    ids = [d["body"]["id"] for d in acked()]
    dup_deliveries = len(ids) - len(set(ids))
    dups = len(seen) - len(set(seen))
    # every duplicated reading came in a delivery that repeats an earlier id
    check("kill/duplicates-only-resent-deliveries", dups == 0 or dup_deliveries > 0,
          "%d duplicate readings but no repeated delivery id" % dups)
    print("# forward/kill: %d SIGKILLs while delivering: %d readings, %d deliveries, "
          "%d resent after a kill between 2xx and position save (%d duplicate readings)"
          % (rounds, len(set(seen)), len(ids), dup_deliveries, dups), flush=True)


def spool_full_case(tmp):
    """A spool that is full keeps batches in the engine queue: sources pause
    (the documented last resort) and resume once the receiver is back."""
    import threading
    rport, tport = free_port(), free_port()
    rlog = os.path.join(tmp, "full.log")
    recipe = os.path.join(tmp, "full.lua")
    with open(recipe, "w") as f:
        f.write("""local kk = require "klimakit"
kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" },
        kk.forward.webhook { url = "http://127.0.0.1:%d/hook", spool_size = "4KiB", queue = 20,
                             retry_min = "50ms", retry_max = "200ms" })
""" % (tport, rport))
    klog = open(os.path.join(tmp, "klimakit-full.log"), "ab")
    kk = start_kk(recipe, os.path.join(tmp, "data-full"), klog, tport)
    total = readings(["f-1"], 0, 300)
    res = []

    def sender():
        for i in range(0, len(total), 10):  # small reads, so that a pause can bite
            res.append(send(tport, total[i:i + 10]))
    th = threading.Thread(target=sender)
    th.start()
    paused = wait_for(lambda: "sources paused" in open(klog.name, errors="replace").read(), 15)
    check("spool-full/sources-pause", paused, "no 'sources paused' in the log with a full spool")
    recv = start_receiver(rport, rlog, 0)
    th.join(60)
    wait_for(lambda: sum(len(r["body"]["readings"]) for r in log_lines(rlog) if r["status"] == 204) >= len(total), 30)
    got = [(x["time"]) for r in log_lines(rlog) if r["status"] == 204 for x in r["body"]["readings"]]
    check("spool-full/all-arrived-in-order", sum(res) == len(total) and len(got) == len(total) and got == sorted(got),
          "%d acknowledged by the source, %d received" % (sum(res), len(got)))
    check("spool-full/clean-exit", stop(kk) == 0, "exit not 0")
    stop(recv)


def shapes_case(tmp):
    """forward.sensorthings and forward.ngsild: request shapes."""
    rport, tport = free_port(), free_port()
    rlog = os.path.join(tmp, "shapes.log")
    data = os.path.join(tmp, "data-shapes")
    recipe = os.path.join(tmp, "shapes.lua")
    have = subprocess.run([BIN, "modules"], capture_output=True, text=True).stdout
    sinks = []
    if "forward.sensorthings" in have:
        sinks.append("""kk.forward.sensorthings { url = "http://127.0.0.1:%d/v1.1",
            datastreams = { ["room-1/co2"] = 11, ["room-2/co2"] = 12 }, retry_min = "50ms" }""" % rport)
    if "forward.ngsild" in have:
        sinks.append("""kk.forward.ngsild { url = "http://127.0.0.1:%d", retry_min = "50ms" }""" % rport)
    if not sinks:
        print("skip forward/shapes: no sensorthings or ngsild module")
        return
    with open(recipe, "w") as f:
        f.write('local kk = require "klimakit"\nkk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" }, { %s })\n'
                % (tport, ",\n".join(sinks)))
    klog = open(os.path.join(tmp, "klimakit-shapes.log"), "ab")
    recv = start_receiver(rport, rlog, 0)
    kk = start_kk(recipe, data, klog, tport)
    total = readings(["room-1", "room-2"], 0, 30)
    send(tport, total + readings(["room-3"], 0, 5))
    if "forward.sensorthings" in have:
        def sta_n():
            return sum(ds["dataArray@iot.count"] for r in log_lines(rlog)
                       if r["path"] == "/v1.1/CreateObservations" and r["status"] == 201 for ds in r["body"])
        wait_for(lambda: sta_n() >= len(total), 20)
        reqs = [r for r in log_lines(rlog) if r["path"].startswith("/v1.1/")]
        bad = [r for r in reqs if r["status"] != 201]
        ids = sorted({ds["Datastream"]["@iot.id"] for r in reqs if r["status"] == 201 for ds in r["body"]})
        check("sensorthings/create-observations", reqs and not bad and sta_n() == len(total) and ids == [11, 12],
              "%d requests, %d refused, %d observations, ids %s" % (len(reqs), len(bad), sta_n(), ids))
        def unmapped():
            out = []
            for p in glob.glob(os.path.join(data, "stages", "sensorthings", "dead-letter", "*.json")):
                try:
                    out += json.load(open(p))["readings"]
                except (OSError, ValueError):
                    pass  # being written
            return out
        # The unmapped readings' letter is written after the mapped ones
        # went out: wait for it (bounded) on a loaded machine.
        wait_for(lambda: len(unmapped()) >= 5, 10)
        unm = unmapped()
        check("sensorthings/unmapped-dead-letter", len(unm) == 5 and all(x["thing"] == "room-3" for x in unm),
              "%d dead-letter readings" % len(unm))
    if "forward.ngsild" in have:
        def ng():
            return [r for r in log_lines(rlog) if r["path"] == "/ngsi-ld/v1/entityOperations/upsert?options=update"]

        def ng_n():
            return sum(1 for r in ng() if r["status"] == 204 for e in r["body"] for k in e if k not in ("id", "type", "@context"))
        wait_for(lambda: ng_n() >= len(total) + 5, 20)
        bad = [r for r in ng() if r["status"] != 204]
        ents = sorted({e["id"] for r in ng() for e in (r["body"] or [])})
        check("ngsild/upsert", ng() and not bad and ng_n() == len(total) + 5 and len(ents) == 3,
              "%d requests, %d refused, %d properties, entities %s" % (len(ng()), len(bad), ng_n(), ents))
    check("shapes/clean-exit", stop(kk) == 0, "klimakit did not exit 0")
    stop(recv)


def forced_exit_case(tmp):
    """Stopping while the receiver hangs (accepts, never answers), with a
    drain of 5 s: the same SIGTERM twice within a moment (timeout(1)
    signals the process and its group) is one stop and ends cleanly after
    the drain; a second SIGTERM later exits at once with 1; so does a
    shutdown_timeout shorter than the drain.  Nothing acknowledged is
    lost: a start with a healthy receiver delivers all of it."""
    rport, tport = free_port(), free_port()
    silent = socket.socket()
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    silent.bind(("127.0.0.1", rport))
    silent.listen(64)  # connections complete in the backlog, unanswered
    data = os.path.join(tmp, "data-forced")
    klog = open(os.path.join(tmp, "klimakit-forced.log"), "ab")

    def recipe(name, extra=""):
        path = os.path.join(tmp, name + ".lua")
        with open(path, "w") as f:
            f.write("""local kk = require "klimakit"
kk.config { shutdown_timeout = "%s" }
kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" },
        kk.forward.webhook { name = "hook", url = "http://127.0.0.1:%d/hook", drain = "%s",
                             timeout = "30s", retry_min = "50ms" })
""" % (extra or "30s", tport, rport, "1s" if name == "dup" else "5s"))
        return path

    def log_since(pos):
        with open(klog.name, errors="replace") as f:
            f.seek(pos)
            return f.read()

    total = []
    # 1. the same signal twice within 20 ms: one stop, drained, exit 0
    pos = klog.tell()
    kk = start_kk(recipe("dup"), data, klog, tport)
    batch = readings(["x-1"], 0, 50)
    total += batch
    acked = send(tport, batch)
    time.sleep(0.3)
    kk.send_signal(signal.SIGTERM)
    time.sleep(0.02)
    kk.send_signal(signal.SIGTERM)
    wait_for(lambda: kk.poll() is not None, 30)
    rc = stop(kk, signal.SIGKILL)
    text = log_since(pos)
    check("forced/duplicate-signal-is-one-stop", rc == 0 and "second signal" not in text,
          "exit %s: %s" % (rc, text[-300:]))
    # 2. a second signal half a second later: out at once, exit 1
    pos = klog.tell()
    kk = start_kk(recipe("second"), data, klog, tport)
    batch = readings(["x-1"], 50, 50)
    total += batch
    acked += send(tport, batch)
    time.sleep(0.3)
    kk.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    kk.send_signal(signal.SIGTERM)
    gone = wait_for(lambda: kk.poll() is not None, 2)  # the drain would take 5 s
    rc = stop(kk, signal.SIGKILL)
    text = log_since(pos)
    check("forced/second-signal-exits-at-once", gone and rc == 1 and "second signal 15: exiting now" in text
          and "Assertion" not in text, "gone %s, exit %s: %s" % (gone, rc, text[-300:]))
    # 3. shutdown_timeout 1 s with a drain of 5 s: out after 1 s, exit 1
    pos = klog.tell()
    kk = start_kk(recipe("deadline", "1s"), data, klog, tport)
    batch = readings(["x-1"], 100, 50)
    total += batch
    acked += send(tport, batch)
    time.sleep(0.3)
    kk.send_signal(signal.SIGTERM)
    gone = wait_for(lambda: kk.poll() is not None, 3)
    rc = stop(kk, signal.SIGKILL)
    text = log_since(pos)
    check("forced/shutdown-timeout-exits", gone and rc == 1 and "did not finish within 1000 ms" in text,
          "gone %s, exit %s: %s" % (gone, rc, text[-300:]))
    # 4. a healthy receiver on the same port: everything acknowledged arrives
    silent.close()
    rlog = os.path.join(tmp, "forced.log")
    recv = start_receiver(rport, rlog, 0)
    kk = start_kk(recipe("after"), data, klog, tport)

    def got():
        return {x["value"] for r in log_lines(rlog) if r["status"] == 204 for x in r["body"]["readings"]}
    wait_for(lambda: len(got()) >= len(total), 30)
    rc = stop(kk)
    stop(recv)
    missing = len({r["value"] for r in total} - got())
    check("forced/nothing-lost", acked == len(total) and missing == 0 and rc == 0,
          "%d of %d acknowledged, %d missing, exit %s" % (acked, len(total), missing, rc))


def main():
    tmp = tempfile.mkdtemp(prefix="kk-forward-")
    try:
        webhook_case(tmp)
        kill_case(tmp)
        spool_full_case(tmp)
        forced_exit_case(tmp)
        shapes_case(tmp)
    finally:
        lib.kill_all()
    if lib.failed():
        print("# logs kept in " + tmp)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
