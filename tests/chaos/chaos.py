"""tests/chaos/chaos.py - what the chaos cases share (tests/chaos/README.md).

Builds on tests/e2e/lib.py (processes, broker, ok/no/skip lines) and adds
what every case reports: figure(case, name, value) prints the line
"chaos CASE NAME VALUE" that `make chaos` collects, rss_kb(pid) and
peak_kb(pid) read /proc, request() sends one HTTP request without raising, recipe() writes
a recipe file into the case's temporary directory.
"""
import http.client as hc  # noqa: E402
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import lib  # noqa: E402

SOAK = os.environ.get("KK_SOAK", "0") == "1"


def scale(short, long):
    """The case's size: `long` under `make soak`, `short` under `make chaos`."""
    return long if SOAK else short


def figure(case, name, value):
    print("chaos %s %s %s" % (case, name, value), flush=True)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tmpdir():
    d = tempfile.mkdtemp(prefix="kk-chaos-")
    os.chmod(d, 0o755)
    return d


def recipe(d, body, name="r.lua"):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write('local kk = require "klimakit"\n' + body)
    return path


def request(port, path, body=None, ctype="application/json", token=None, method=None, timeout=10,
         conn=None):
    """One request; returns (status, headers dict, body text) or (0, {}, error)."""
    own = conn is None
    try:
        if own:
            conn = hc.HTTPConnection("127.0.0.1", port, timeout=timeout)
        hd = {"Content-Type": ctype}
        if token:
            hd["Authorization"] = "Bearer " + token
        conn.request(method or ("POST" if body is not None else "GET"), path, body=body, headers=hd)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, text
    except (OSError, hc.HTTPException) as e:
        return 0, {}, str(e)
    finally:
        if own and conn is not None:
            conn.close()


def cleanup(d):
    """Removes the case's directory, unless KK_KEEP=1 (then says where it is)."""
    import shutil
    if os.environ.get("KK_KEEP"):
        print("# kept %s" % d, flush=True)
    else:
        shutil.rmtree(d, ignore_errors=True)
