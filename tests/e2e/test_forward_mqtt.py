#!/usr/bin/env python3
"""forward.mqtt against a real mosquitto on 127.0.0.1.

A persistent QoS 1 subscriber (mosquitto_sub -c) receives every reading
in order per topic; the broker is stopped while readings keep coming (they
wait in the sink's spool, sources never pause) and restarted; a late
subscriber gets the retained latest value of every topic.  Duplicates
(QoS 1 is at-least-once) are counted and reported, not failed.
"""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lib  # noqa: E402
from lib import check, free_port, stop, wait_for, wait_port  # noqa: E402
from test_forward import send, readings  # noqa: E402

lib.suite("forward-mqtt")
ROOT = lib.ROOT
BIN = lib.BIN
procs = lib.procs


def main():
    if not shutil.which("mosquitto") or not shutil.which("mosquitto_sub"):
        lib.skip("all", "no mosquitto")
        return 0
    tmp = tempfile.mkdtemp(prefix="kk-fwmqtt-")
    os.chmod(tmp, 0o755)
    try:
        run(tmp)
        puback_timeout(tmp)
    finally:
        lib.kill_all()
    if lib.failed():
        print("# logs kept in " + tmp)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def silent_broker(port, stats):
    """An MQTT 3.1.1 "broker" that accepts connections (CONNACK, PINGRESP)
    but never acknowledges a PUBLISH: counts connections and PUBLISHes."""
    import threading
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    srv.settimeout(0.2)

    def conn(c):
        buf = b""
        c.settimeout(0.2)
        while not stats["stop"]:
            try:
                d = c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not d:
                return
            buf += d
            while len(buf) >= 2:
                mult, n, i = 1, 0, 1
                while i < len(buf) and i < 5:  # remaining length
                    n += (buf[i] & 127) * mult
                    mult *= 128
                    if not buf[i] & 128:
                        break
                    i += 1
                else:
                    break
                if len(buf) < i + 1 + n:
                    break
                kind = buf[0] >> 4
                buf = buf[i + 1 + n:]
                if kind == 1:
                    c.sendall(b"\x20\x02\x00\x00")
                elif kind == 3:
                    stats["publishes"] += 1
                elif kind == 12:
                    c.sendall(b"\xd0\x00")

    def accept():
        while not stats["stop"]:
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            stats["connections"] += 1
            threading.Thread(target=conn, args=(c,), daemon=True).start()
        srv.close()
    threading.Thread(target=accept, daemon=True).start()


def puback_timeout(tmp):
    """A broker that never sends PUBACK: after `timeout` the delivery is
    given up on, the link reconnects and the same readings go out again;
    the log names the reason."""
    bport, tport = free_port(), free_port()
    stats = {"connections": 0, "publishes": 0, "stop": False}
    silent_broker(bport, stats)
    recipe = os.path.join(tmp, "t.lua")
    with open(recipe, "w") as f:
        f.write("""local kk = require "klimakit"
kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" },
        kk.forward.mqtt { url = "mqtt://127.0.0.1:%d", qos = 1, timeout = "1s",
                          backoff_min = "50ms", backoff_max = "200ms" })
""" % (tport, bport))
    log = os.path.join(tmp, "timeout.log")
    kk = subprocess.Popen([BIN, "run", recipe, "--data-dir", os.path.join(tmp, "data-t"), "--log-format", "text"],
                          stdout=open(log, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append(kk)
    if not wait_port(tport, kk):
        check("puback-timeout/start", False, "klimakit did not listen")
        return
    send(tport, readings(["room-9"], 0, 3))
    wait_for(lambda: stats["connections"] >= 2 and stats["publishes"] >= 6, 15)
    stats["stop"] = True
    text = open(log).read()
    check("puback-timeout/reconnected-and-resent", stats["connections"] >= 2 and stats["publishes"] >= 6,
          "%d connections, %d PUBLISHes" % (stats["connections"], stats["publishes"]))
    check("puback-timeout/reason-logged", "no PUBACK within the timeout" in text,
          "log: %s" % text[-400:])
    stop(kk)


def run(tmp):
    bport, tport = free_port(), free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    lib.broker_conf(conf, bport, 1000000, "persistence true", "persistence_location %s/" % tmp,
                    "autosave_interval 1")
    blog = open(os.path.join(tmp, "broker.log"), "ab")

    def broker():
        p = lib.broker(conf, bport, blog)
        if p is None:
            raise SystemExit("FAIL forward-mqtt/broker: did not start")
        return p

    b = broker()
    subout = open(os.path.join(tmp, "sub.out"), "ab")
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(bport), "-q", "1", "-c",
                            "-i", "kk-test-sub", "-t", "klimakit/#", "-v"], stdout=subout,
                           stderr=subprocess.DEVNULL)
    procs.append(sub)
    time.sleep(0.5)
    recipe = os.path.join(tmp, "r.lua")
    with open(recipe, "w") as f:
        f.write("""local kk = require "klimakit"
kk.pipe(kk.source.tcp { listen = "127.0.0.1:%d" },
        kk.forward.mqtt { url = "mqtt://127.0.0.1:%d", qos = 1, retain = true,
                          backoff_min = "50ms", backoff_max = "300ms", queue = 64 })
""" % (tport, bport))
    klog = open(os.path.join(tmp, "klimakit.log"), "ab")
    kk = subprocess.Popen([BIN, "run", recipe, "--data-dir", os.path.join(tmp, "data"), "--log-format", "text"],
                          stdout=klog, stderr=klog, stdin=subprocess.DEVNULL)
    procs.append(kk)
    if not wait_port(tport, kk):
        check("start", False, "klimakit did not listen")
        return
    things = ["room-1", "room-2"]
    total = readings(things, 0, 200)
    oks = send(tport, total)

    def lines():
        out = []
        with open(subout.name) as f:
            for l in f:
                if " " in l:
                    topic, payload = l.rstrip("\n").split(" ", 1)
                    try:
                        out.append((topic, json.loads(payload)))
                    except ValueError:
                        pass
        return out
    wait_for(lambda: len(lines()) >= len(total), 20)
    check("live/received", len(lines()) >= len(total), "%d of %d" % (len(lines()), len(total)))
    # Broker outage: readings wait in the spool; the source never pauses.
    stop(b)
    more = readings(things, 200, 100)
    oks += send(tport, more)
    total += more
    check("outage/sources-not-paused", oks == len(total), "%d of %d acknowledged" % (oks, len(total)))
    time.sleep(1.0)
    b = broker()
    wait_for(lambda: len({(t, p["time"]) for t, p in lines()}) >= len(total), 30)
    got = lines()
    keys = [(t, p["time"], p["value"], p["unit"]) for t, p in got]
    want = set()
    for r in total:
        tt = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(r["time"] // 1000)) + ".%03dZ" % (r["time"] % 1000)
        want.add(("klimakit/%s/co2" % r["thing"], tt, r["value"], "ppm"))
    check("outage/all-arrived", want <= set(keys), "%d of %d missing" % (len(want - set(keys)), len(want)))
    order = True
    for th in things:
        ts = [k[1] for k in keys if k[0] == "klimakit/%s/co2" % th]
        first = []
        for t in ts:  # a QoS 1 redelivery repeats a suffix: look at first sightings
            if t not in first:
                first.append(t)
        order &= first == sorted(first)
    check("outage/in-order-per-topic", order, "first sightings not in time order")
    print("# forward-mqtt: %d messages received for %d readings (%d QoS 1 duplicates)"
          % (len(keys), len(want), len(keys) - len(set(keys))))
    check("outage/reconnected", "connected to 127.0.0.1" in open(klog.name).read().split("disconnected from")[-1],
          "no reconnect in the log")
    # Late subscriber: the retained latest value of every topic.
    late = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(bport), "-t", "klimakit/#", "-v",
                           "-C", str(len(things)), "-W", "5", "--retained-only"],
                          capture_output=True, text=True)
    ret = {}
    for l in late.stdout.splitlines():
        t, p = l.split(" ", 1)
        ret[t] = json.loads(p)
    last = max(r["value"] for r in total)
    check("retained/latest-value", len(ret) == len(things) and all(v["value"] == last for v in ret.values()),
          "retained: %s" % ret)
    check("clean-exit", stop(kk) == 0, "klimakit exit not 0")
    stop(sub)
    stop(b)


if __name__ == "__main__":
    sys.exit(main())
