"""chaos disk_full: the journal's disk fills up and empties again.

A 64 MB tmpfs holds the data directory (journal, SQLite store, file
sink).  Clients post readings without pause; a filler file then leaves
less free space than the high mark (16 MiB): input pauses (503 with
Retry-After, never 500 or a lost 202), the cursors and the stores keep
working in the reserve.  The filler is deleted: once free space is above
the low mark input resumes by itself, without a restart; the recovery
time is printed.  Every 202 is stored once in SQLite and in the file.
Skipped when a tmpfs cannot be mounted (needs root).
"""
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

import chaos
from chaos import lib

lib.suite("chaos")
CASE = "disk_full"
d = chaos.tmpdir()
mnt = os.path.join(d, "disk")
os.mkdir(mnt)
if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt],
                                       capture_output=True).returncode != 0:
    lib.skip(CASE, "cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN)")
    chaos.cleanup(d)
    raise SystemExit(0)


def cleanup():
    lib.kill_all()
    subprocess.run(["umount", "-l", mnt], capture_output=True)
    chaos.cleanup(d)


try:
    port = lib.free_port()
    rec = chaos.recipe(d, '''
kk.config { segment_size = "4MiB", retain_size = "0B", retain_age = "0s" }
kk.pipe(kk.source.http { listen = "127.0.0.1:%d", allow_anonymous = true },
        { kk.store.sqlite { path = "%s/kk.db" }, kk.sink.jsonl { path = "%s/out.jsonl" } })
''' % (port, mnt, mnt))
    log = open(os.path.join(d, "log"), "w")
    p = lib.start(rec, log, "--data-dir", os.path.join(mnt, "data"))
    lib.wait_port(port, p)
    stop = threading.Event()
    lock = threading.Lock()
    acked, status, first_202_after = [], {}, [None]
    freed_at = [None]

    def client(k):
        i = 0
        while not stop.is_set():
            i += 1
            v = k * 10_000_000 + i
            body = ('{"thing":"t%d","property":"co2","unit":"ppm","value":%d,"time":%d}'
                    % (k, v, 1700000000000 + i * 1000))
            st, hd, _ = chaos.request(port, "/api/ingest", body, timeout=5)
            with lock:
                status[st] = status.get(st, 0) + 1
                if st == 202:
                    acked.append(v)
                    if freed_at[0] and not first_202_after[0]:
                        first_202_after[0] = time.time()
                if st == 503 and "retry-after" not in hd:
                    status["503-no-retry-after"] = status.get("503-no-retry-after", 0) + 1
            if st != 202:
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    # Leave 8 MiB free: below the high mark.
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    filler = os.path.join(mnt, "filler")
    with open(filler, "wb") as f:
        left = free - (8 << 20)
        while left > 0:
            n = min(left, 1 << 20)
            try:
                f.write(b"\0" * n)
            except OSError:
                break
            left -= n
    t_full = time.time()
    lib.wait_for(lambda: "nearly full" in open(os.path.join(d, "log")).read(), 10)
    time.sleep(3)
    with lock:
        during = dict(status)
    os.unlink(filler)
    freed_at[0] = time.time()
    lib.wait_for(lambda: first_202_after[0] is not None, 20)
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join()
    rc = lib.stop(p)
    recovery = (first_202_after[0] - freed_at[0]) if first_202_after[0] else -1
    chaos.figure(CASE, "acknowledged", len(acked))
    chaos.figure(CASE, "answers", " ".join("%s=%d" % kv for kv in sorted(status.items(), key=str)))
    chaos.figure(CASE, "recovery_seconds", "%.2f" % recovery)
    txt = open(os.path.join(d, "log")).read()
    lib.check(CASE + "/paused-logged", "nearly full" in txt, txt[-300:])
    lib.check(CASE + "/503-while-full", during.get(503, 0) > 0 and during.get(500, 0) == 0 and
              status.get("503-no-retry-after", 0) == 0, during)
    lib.check(CASE + "/resumed-without-restart", 0 <= recovery < 10, recovery)
    lib.check(CASE + "/clean-exit", rc == 0, rc)
    db = sqlite3.connect(os.path.join(mnt, "kk.db"))
    stored = [int(v) for (v,) in db.execute("SELECT value FROM observations")]
    lines = [int(m) for m in re.findall(r'"value":(\d+)', open(os.path.join(mnt, "out.jsonl")).read())]
    sa = set(acked)
    chaos.figure(CASE, "stored", len(stored))
    chaos.figure(CASE, "duplicates", len(lines) - len(set(lines)))
    lib.check(CASE + "/acked-stored", sa <= set(stored), "lost %d" % len(sa - set(stored)))
    lib.check(CASE + "/acked-in-file-once", sa <= set(lines) and len(lines) == len(set(lines)),
              "lost %d, duplicates %d" % (len(sa - set(lines)), len(lines) - len(set(lines))))
finally:
    cleanup()
raise SystemExit(lib.exit_code())
