#!/usr/bin/env python3
"""tests/e2e/shots.py - screenshots of a dashboard page in headless Chromium.

    python3 tests/e2e/shots.py URL OUT_PREFIX [--bearer TOKEN] [--dom FILE]

Writes OUT_PREFIX-1366.png and OUT_PREFIX-390.png (the two widths every
recipe test looks at) and, with --dom, the DOM Chromium built at 390 px.
With --bearer the page is fetched through a local proxy on 127.0.0.1 that
adds "Authorization: Bearer TOKEN" (Chromium has no switch for request
headers), so internal pages can be photographed too.  Exit 0 when both
pictures exist and are not empty, 2 when Chromium is missing (the caller
skips), 1 otherwise."""
import http.server, os, shutil, subprocess, sys, tempfile, threading, urllib.request, urllib.parse


def proxy(base, token):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            req = urllib.request.Request(base + self.path, headers={"Authorization": "Bearer " + token})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    code, ctype, body = r.status, r.headers.get("content-type", ""), r.read()
            except urllib.error.HTTPError as e:
                code, ctype, body = e.code, e.headers.get("content-type", ""), e.read()
            self.send_response(code)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def chromium(exe, args, url, size):
    prof = tempfile.mkdtemp(prefix="kk-chromium-")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + prof, "--window-size=" + size] + args + [url]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=90).stdout.decode()
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def main():
    args = sys.argv[1:]
    token = dom = None
    if "--bearer" in args:
        i = args.index("--bearer")
        token = args[i + 1]
        del args[i:i + 2]
    if "--dom" in args:
        i = args.index("--dom")
        dom = args[i + 1]
        del args[i:i + 2]
    url, prefix = args
    exe = shutil.which("chromium")
    if not exe:
        return 2
    if token:
        u = urllib.parse.urlsplit(url)
        srv = proxy("%s://%s" % (u.scheme, u.netloc), token)
        url = "http://127.0.0.1:%d%s%s" % (srv.server_address[1], u.path, "?" + u.query if u.query else "")
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    good = True
    for width, height in ((1366, 1100), (390, 2400)):
        png = "%s-%d.png" % (prefix, width)
        if os.path.exists(png):
            os.unlink(png)
        chromium(exe, ["--screenshot=" + png], url, "%d,%d" % (width, height))
        good &= os.path.exists(png) and os.path.getsize(png) > 5000
    if dom:
        with open(dom, "w") as f:
            f.write(chromium(exe, ["--dump-dom"], url, "390,2400"))
    return 0 if good else 1


sys.exit(main())
