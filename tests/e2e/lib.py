"""tests/e2e/lib.py - the kit every Python end-to-end test imports.

    import os, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import lib
    lib.suite("forward")

Output (the runner's lines, see tests/run.sh): ok(name), no(name, why),
skip(name, why) print "ok SUITE/NAME", "FAIL SUITE/NAME: WHY",
"skip SUITE/NAME: WHY"; check(name, cond, why) is ok or no by cond and
returns cond.  failed() tells whether any `no` ran, exit_code() is what
the test exits with.

Processes: free_port(), wait_for(cond, timeout), wait_port(port, proc),
start(recipe, log, *args) runs `klimakit run` (KK_BIN from tests/run.sh),
stop(proc) ends one with SIGTERM (SIGKILL after a timeout), broker(dir,
port, queued, *lines) a mosquitto on 127.0.0.1.  Every process started
here is also killed by kill_all(), which a test calls on its way out.
"""
import os
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("KK_ROOT") or os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("KK_BIN") or os.path.join(ROOT, "build", "klimakit")

_suite = "e2e"
_failed = 0
procs = []


def suite(name):
    """Sets the prefix of every name printed from now on."""
    global _suite
    _suite = name


def ok(name):
    print("ok %s/%s" % (_suite, name), flush=True)


def no(name, why):
    global _failed
    _failed += 1
    print("FAIL %s/%s: %s" % (_suite, name, why), flush=True)


def skip(name, why):
    print("skip %s/%s: %s" % (_suite, name, why), flush=True)


def check(name, cond, why=""):
    if cond:
        ok(name)
    else:
        no(name, why)
    return bool(cond)


def failed():
    return _failed


def exit_code():
    return 1 if _failed else 0


def free_port(udp=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(cond, timeout, step=0.1):
    """Polls cond() until it is true (returns True) or timeout seconds
    have passed (returns False)."""
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def wait_port(port, proc=None, timeout=10.0):
    """Waits until 127.0.0.1:port accepts TCP; False when proc exited
    first or the time ran out."""
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if port_open(port):
            return True
        time.sleep(0.05)
    return False


def spawn(argv, log, **kw):
    """Popen with stdout and stderr to the open file `log`, remembered for
    kill_all()."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(argv, stdout=log, stderr=log, **kw)
    procs.append(p)
    return p


def start(recipe, log, *args, **kw):
    """`klimakit run RECIPE ARGS...` in the background; log is an open
    file that gets its output."""
    return spawn([BIN, "run", recipe] + list(args), log, **kw)


def stop(p, sig=signal.SIGTERM, timeout=20):
    """Sends sig and waits; SIGKILL after timeout seconds.  Returns the
    exit status."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def kill_all():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def broker_conf(path, port, queued, *lines):
    """Writes a mosquitto configuration: a listener on 127.0.0.1:port,
    anonymous clients, user root, max_queued_messages queued, then lines."""
    with open(path, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\nuser root\n"
                "max_queued_messages %d\n" % (port, queued))
        for line in lines:
            f.write(line + "\n")


def broker(conf, port, log):
    """Starts mosquitto on the configuration file conf; returns the
    process, or None when it does not answer on port."""
    p = spawn(["mosquitto", "-c", conf], log)
    return p if wait_port(port, p) else None
