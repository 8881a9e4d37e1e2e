#!/usr/bin/env python3
"""A minimal SMTP server for tests (tests/e2e/test_alerts.sh).

    smtp_sink.py PORT DIR [FAIL_FIRST]

Listens on 127.0.0.1:PORT and speaks just enough SMTP (RFC 5321) for a
client such as libcurl: EHLO/HELO, AUTH PLAIN/LOGIN (any credentials,
recorded), MAIL, RCPT, DATA, RSET, NOOP, QUIT.  Each message accepted is
written to DIR/NNNN.eml (the DATA as received, dot-stuffing undone) with
DIR/NNNN.json beside it ({"from", "rcpt", "auth"}).  The first FAIL_FIRST
DATA commands are answered 451 (try again later), so a test can watch
retries.  Python 3.12 has no smtpd module and aiosmtpd is not installed,
hence this.
"""
import base64, json, os, socketserver, sys, threading

PORT, DIR = int(sys.argv[1]), sys.argv[2]
FAIL_FIRST = int(sys.argv[3]) if len(sys.argv) > 3 else 0
lock = threading.Lock()
state = {"n": 0, "data_cmds": 0}


class H(socketserver.StreamRequestHandler):
    def say(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def line(self):
        raw = self.rfile.readline(65536)
        if not raw:
            raise EOFError
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def handle(self):
        mail_from, rcpt, auth = None, [], None
        self.say("220 sink ESMTP test")
        try:
            while True:
                cmd = self.line()
                verb = cmd.split(" ", 1)[0].upper()
                arg = cmd[len(verb):].strip()
                if verb in ("EHLO", "HELO"):
                    self.say("250-sink")
                    self.say("250-8BITMIME")
                    self.say("250 AUTH PLAIN LOGIN")
                elif verb == "AUTH":
                    parts = arg.split()
                    if parts[0].upper() == "PLAIN":
                        tok = parts[1] if len(parts) > 1 else None
                        if tok is None:
                            self.say("334 ")
                            tok = self.line()
                        auth = base64.b64decode(tok).split(b"\0")[1:]
                        auth = [a.decode() for a in auth]
                    else:
                        self.say("334 VXNlcm5hbWU6")
                        u = base64.b64decode(self.line()).decode()
                        self.say("334 UGFzc3dvcmQ6")
                        p = base64.b64decode(self.line()).decode()
                        auth = [u, p]
                    self.say("235 2.7.0 ok")
                elif verb == "MAIL":
                    mail_from, rcpt = arg[5:].strip(), []
                    self.say("250 2.1.0 ok")
                elif verb == "RCPT":
                    rcpt.append(arg[3:].strip())
                    self.say("250 2.1.5 ok")
                elif verb == "DATA":
                    with lock:
                        state["data_cmds"] += 1
                        refuse = state["data_cmds"] <= FAIL_FIRST
                    if refuse:
                        self.say("451 4.3.0 try again later")
                        continue
                    self.say("354 go ahead")
                    lines = []
                    while True:
                        l = self.rfile.readline(1 << 20)
                        if not l or l in (b".\r\n", b".\n"):
                            break
                        if l.startswith(b".."):
                            l = l[1:]
                        lines.append(l)
                    with lock:
                        state["n"] += 1
                        n = state["n"]
                    base = os.path.join(DIR, "%04d" % n)
                    with open(base + ".json", "w") as f:
                        json.dump({"from": mail_from, "rcpt": rcpt, "auth": auth}, f)
                    with open(base + ".eml.tmp", "wb") as f:
                        f.write(b"".join(lines))
                    os.rename(base + ".eml.tmp", base + ".eml")
                    self.say("250 2.0.0 queued as %d" % n)
                elif verb == "RSET":
                    mail_from, rcpt = None, []
                    self.say("250 ok")
                elif verb == "NOOP":
                    self.say("250 ok")
                elif verb == "QUIT":
                    self.say("221 bye")
                    return
                else:
                    self.say("502 5.5.2 not implemented")
        except (EOFError, ConnectionError):
            return


os.makedirs(DIR, exist_ok=True)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
srv = socketserver.ThreadingTCPServer(("127.0.0.1", PORT), H)
print("listening", flush=True)
srv.serve_forever()
