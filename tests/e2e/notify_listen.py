"""Listens on an AF_UNIX datagram socket as a service manager does
(SO_PASSCRED: the kernel attaches the sender's pid) and prints one line
per message: "pid=<pid> <message with newlines as ' | '>".  Ends after
STOPPING=1 or `seconds`.  Usage: notify_listen.py ADDRESS SECONDS
(ADDRESS "@name" is an abstract socket)."""
import socket
import struct
import sys
import time

addr, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
print("listening", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    s.settimeout(max(0.01, end - time.monotonic()))
    try:
        data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    except socket.timeout:
        break
    pid = 0
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
    msg = data.decode()
    print("pid=%d %s" % (pid, msg.replace("\n", " | ")), flush=True)
    if "STOPPING=1" in msg:
        break
