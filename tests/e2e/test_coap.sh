#!/usr/bin/env bash
# source.coap through the real binary with the real coap-client-openssl on
# 127.0.0.1: content formats, 2.04 after the journal, 4.00/4.04/4.13/4.15,
# Block1, DTLS-PSK (right and wrong key), 5.03 under backpressure, and a
# SIGKILL with restart (every acknowledged reading is in the output).
# coap-client-openssl exits 0 even on timeouts, 4.xx and failed DTLS
# handshakes: every check reads its output, and -B bounds its wait.
set -u
. "$(dirname "$0")/lib.sh" coap
C=coap-client-openssl
pid=
kk_on_exit() { [ -n "$pid" ] && kill -9 $pid 2>/dev/null; }
kk_tmpdir
if ! command -v $C >/dev/null; then echo "skip coap: no $C"; exit 0; fi

# start NAME 'coap options' [sink]: runs coap -> sink (default jsonl to
# $d/NAME.jsonl) with data dir $d/data-NAME and waits until it listens.
start() {
  local name=$1 opts=$2
  local sink=${3:-"kk.sink.jsonl { path = \"$d/$name.jsonl\" }"}
  cat > "$d/$name.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data-$name" }
kk.pipe(kk.source.coap { $opts }, $sink)
LUA
  "$K" run "$d/$name.lua" --log-format text >>"$d/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$d/$name.log" 2>/dev/null && return 0
    kill -0 $pid 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
stop() {
  kill -TERM $pid 2>/dev/null
  wait $pid; local rc=$?
  pid=
  return $rc
}
# post URI FORMAT [coap-client args...]: prints what the client printed.
post() {
  local uri=$1 fmt=$2; shift 2
  $C -B 5 -w -m post -t "$fmt" "$@" "$uri" 2>&1
}

# A tiny CBOR encoder (RFC 8949), enough for maps, arrays, text, ints,
# doubles: no pip packages.
cat > "$d/cbor.py" <<'PY'
import struct, sys, json
def head(major, n):
    if n < 24: return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
def enc(v):
    if isinstance(v, bool): return b"\xf5" if v else b"\xf4"
    if isinstance(v, int): return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float): return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, str): b = v.encode(); return head(3, len(b)) + b
    if isinstance(v, bytes): return head(2, len(v)) + v
    if isinstance(v, list): return head(4, len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict): return head(5, len(v)) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)
# SenML JSON labels to CBOR integer labels (RFC 8428 table 6).
LAB = {"bn": -2, "bt": -3, "bu": -4, "bv": -5, "bs": -6, "bver": -1, "n": 0, "u": 1,
       "v": 2, "vs": 3, "vb": 4, "s": 5, "t": 6, "ut": 7, "vd": 8}
obj = json.loads(sys.argv[2])
if sys.argv[1] == "senml":
    obj = [{LAB[k]: x for k, x in r.items()} for r in obj]
sys.stdout.buffer.write(enc(obj))
PY

P=$(free_port udp)
if ! start main "listen = { \"127.0.0.1:$P\" }, max_size = \"4KiB\", paths = { \"/r/{thing}\", \"/s/{thing}/{property}\" }"; then
  no start "$(tail -5 "$d/main.log")"; exit 1
fi
U=coap://127.0.0.1:$P

# ---- SenML JSON ----------------------------------------------------------
out=$(post "$U/r/room-1" 110 -e '[{"bn":"urn:dev:ow:1:","bt":1795420800,"n":"co2","u":"ppm","v":701},{"n":"temp","u":"Cel","v":21.5}]')
if [[ "$out" =~ ^ok\ [0-9]+$ ]]; then ok senml-json-2.04; else no senml-json-2.04 "client said '$out'"; fi

# ---- SenML CBOR ----------------------------------------------------------
python3 "$d/cbor.py" senml '[{"bn":"dev-c:","bt":1795420801,"n":"co2","u":"ppm","v":702}]' > "$d/senml.cbor"
out=$(post "$U/r/room-2" 112 -f "$d/senml.cbor")
if [[ "$out" =~ ^ok\ [0-9]+$ ]]; then ok senml-cbor-2.04; else no senml-cbor-2.04 "client said '$out'"; fi

# ---- JSON (50), object and array, thing from the path --------------------
out=$(post "$U/r/room-3" 50 -e '{"property":"co2","unit":"ppm","time":"2026-11-23T08:00:00Z","value":703}')
out2=$(post "$U/r/x" 50 -e '[{"thing":"room-4","property":"co2","unit":"ppm","time":1795420804000,"value":704}]')
if [[ "$out" =~ ^ok && "$out2" =~ ^ok ]]; then ok json-2.04; else no json-2.04 "client said '$out' / '$out2'"; fi

# ---- CBOR (60) ------------------------------------------------------------
python3 "$d/cbor.py" plain '{"property":"co2","unit":"ppm","time":1795420805000,"value":705}' > "$d/r.cbor"
out=$(post "$U/r/room-5" 60 -f "$d/r.cbor")
if [[ "$out" =~ ^ok ]]; then ok cbor-2.04; else no cbor-2.04 "client said '$out'"; fi

# ---- text/plain (0) ---------------------------------------------------------
out=$(post "$U/r/room-6" 0 -e 'co2=706 ppm')
out2=$(post "$U/s/room-7/co2" 0 -e '707')
if [[ "$out" =~ ^ok && "$out2" =~ ^ok ]]; then ok text-2.04; else no text-2.04 "client said '$out' / '$out2'"; fi

# ---- meta: the path as libcoap spells it (percent-encoded segments), the peer
# as host:port; repeated requests from one client port give the same peer.
out=$(post "$U/r/room%20x" 0 -e 'co2=708 ppm')
out2=$(post "$U/r/room%20x" 0 -e 'co2=709 ppm' -p 45683)
out3=$(post "$U/r/room%20x" 0 -e 'co2=710 ppm' -p 45683)
n=$(cat "$d"/data-main/journal/* 2>/dev/null | grep -ao '"path":"/r/room%20x","peer":"127\.0\.0\.1:[0-9]*","thing":"room%20x"' | sort | uniq -c | sort -n | awk '{print $1}' | tr '\n' ' ')
if [[ "$out" =~ ^ok && "$out2" =~ ^ok && "$out3" =~ ^ok && "$n" == "1 2 " ]]; then ok path-and-peer-in-meta
else no path-and-peer-in-meta "client said '$out' / '$out2' / '$out3'; meta counts '$n'"; fi

# ---- Block1: a pack of 60 records (about 1.5 KiB) in 64-byte blocks -------
python3 - > "$d/big.json" <<'PY'
import json
recs = [{"n": "co2", "t": i, "v": 1000 + i} for i in range(60)]
recs[0].update({"bn": "blk:", "bt": 1795420900, "bu": "ppm"})
print(json.dumps(recs))
PY
out=$(post "$U/r/room-8" 110 -b 64 -f "$d/big.json")
if [[ "$out" =~ ^ok ]]; then ok block1-2.04; else no block1-2.04 "client said '$out'"; fi

# ---- bad input --------------------------------------------------------------
out=$(post "$U/r/room-9" 110 -e '[{"n":"co2","u":"ppm","v":1},{"n":"co2","u":"ppm","v":"high"}]')
if [[ "$out" == "4.00 senml: record 1"*"must be a number"* ]]; then ok bad-senml-4.00-with-reason
else no bad-senml-4.00-with-reason "client said '$out'"; fi
out=$(post "$U/r/room-9" 50 -e '{"property":"co2","unit":"ppm","value":"x"}')
if [[ "$out" == "4.00 json: reading 1: field 'value' must be a number"* ]]; then ok bad-json-4.00-with-reason
else no bad-json-4.00-with-reason "client said '$out'"; fi
out=$(post "$U/r/room-9" 0 -e 'co2=lots')
if [[ "$out" == "4.00 text: value 'lots' is not a number"* ]]; then ok bad-text-4.00-with-reason
else no bad-text-4.00-with-reason "client said '$out'"; fi
out=$(post "$U/r/room-9" 41 -e 'x')
if [[ "$out" == "4.15 "* ]]; then ok unknown-format-4.15; else no unknown-format-4.15 "client said '$out'"; fi
python3 -c 'print("[" + ",".join(["{\"n\":\"a:co2\",\"v\":1}"] * 400) + "]")' > "$d/toobig.json"
out=$(post "$U/r/room-9" 110 -f "$d/toobig.json")
if [[ "$out" == "4.13 "* ]]; then ok too-large-4.13; else no too-large-4.13 "client said '$out'"; fi
out=$(post "$U/nope/room-9" 110 -e '[]')
if [[ "$out" == "4.04 "* ]]; then ok unknown-path-4.04; else no unknown-path-4.04 "client said '$out'"; fi

# A CBOR header declaring 2^31 elements in a 40-byte body: answered at
# once (libcbor alone would allocate first and hold the loop for seconds).
printf '\x9a\x7f\xff\xff\xff\x01\x02' > "$d/huge.cbor"
out=$(post "$U/r/zz" 60 -f "$d/huge.cbor")
if [[ "$out" == "4.00 cbor: malformed"* ]]; then ok cbor-huge-declared-length-4.00; else no cbor-huge-declared-length-4.00 "client said '$out'"; fi
# Mutated bodies in every format: each one answered (2.04 or 4.00), the
# server stays up.
res=$(python3 - "$P" <<'PY'
import socket, struct, random, sys
random.seed(3)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
seeds = [b'[{"bn":"a:","n":"co2","u":"ppm","v":1,"t":-5}]', b'{"property":"x","unit":"u","value":1}',
         b'\x81\xa3\x00\x63co2\x01\x63ppm\x02\x01', b'\xa3\x68property\x61x\x64unit\x61u\x65value\x01', b'co2=5 ppm']
fmts = [0, 50, 60, 110, 111, 112, 113]
codes = {}
for i in range(1500):
    p = bytearray(random.choice(seeds))
    for _ in range(random.randint(0, 6)):
        op = random.random()
        if op < 0.4 and p: p[random.randrange(len(p))] = random.randrange(256)
        elif op < 0.7: p.insert(random.randrange(len(p) + 1), random.randrange(256))
        elif p: del p[random.randrange(len(p))]
    f = random.choice(fmts)
    fo = bytes([0x10]) if f == 0 else bytes([0x11, f])
    s.sendto(struct.pack(">BBH", 0x40, 0x02, 40000 + i) + b"\xb1r\x02zz" + fo + b"\xff" + bytes(p),
             ("127.0.0.1", int(sys.argv[1])))
    try:
        d, _ = s.recvfrom(2048); c = "%d.%02d" % (d[1] >> 5, d[1] & 31)
    except socket.timeout:
        c = "timeout"
    codes[c] = codes.get(c, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(codes.items())))
PY
)
if [[ "$res" != *timeout* && "$res" != *5.* ]] && kill -0 $pid; then ok mutated-bodies-all-answered
else no mutated-bodies-all-answered "$res"; fi

stop; rc=$?
if [ $rc -eq 0 ]; then ok clean-exit; else no clean-exit "exit $rc: $(tail -3 "$d/main.log")"; fi
if res=$(python3 - "$d/main.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
got = sorted((r["thing"], r["property"], r["value"]) for r in rows if r["thing"] not in ("room-8", "zz"))
want = sorted([("room-1", "co2", 701), ("room-1", "temp", 21.5), ("room-2", "co2", 702),
               ("room-3", "co2", 703), ("room-4", "co2", 704), ("room-5", "co2", 705),
               ("room-6", "co2", 706), ("room-7", "co2", 707), ("room%20x", "co2", 708),
               ("room%20x", "co2", 709), ("room%20x", "co2", 710)])
blk = sorted(r["value"] for r in rows if r["thing"] == "room-8")
t1 = [r["time"] for r in rows if r["thing"] == "room-1"]
bad = [r for r in rows if r["thing"] == "room-9"]
errs = []
if got != want: errs.append("readings %s" % got)
if blk != [1000 + i for i in range(60)]: errs.append("block1 pack: %d readings" % len(blk))
if t1 != ["2026-11-23T08:00:00.000Z"] * 2: errs.append("senml time %s" % t1)
if bad: errs.append("rejected input reached the sink: %s" % bad)
print("; ".join(errs))
sys.exit(1 if errs else 0)
PY
); then ok readings-in-sink; else no readings-in-sink "$res"; fi
m=$d/data-main/metrics.prom
if grep -q 'kk_rejected_total{stage="coap",reason="KK_EPARSE"} [1-9]' "$m" 2>/dev/null &&
   grep -q 'kk_rejected_total{stage="coap",reason="unsupported_format"} 1' "$m" &&
   grep -q 'kk_rejected_total{stage="coap",reason="too_large"} 1' "$m" &&
   grep -q 'kk_rejected_total{stage="coap",reason="not_found"} 1' "$m"; then ok rejects-counted-in-metrics
else no rejects-counted-in-metrics "$(grep -s kk_rejected_total "$m" | tr '\n' ' ')"; fi
if grep -q "rejected: senml: record 1" "$d/main.log"; then ok rejects-logged; else no rejects-logged "$(grep warn "$d/main.log" | head -3)"; fi
# Bad input stays in the journal for a fixed decoder: 3 of the 13 bodies.
n=$(python3 - "$d/data-main/journal" <<'PY'
import os, sys
blob = b"".join(open(os.path.join(sys.argv[1], f), "rb").read()
                for f in sorted(os.listdir(sys.argv[1])) if not os.path.isdir(os.path.join(sys.argv[1], f)))
print(int(b'"v":"high"' in blob and b'co2=lots' in blob))
PY
)
if [ "$n" = 1 ]; then ok bad-input-journaled; else no bad-input-journaled "raw bodies not found in the journal"; fi

# ---- DTLS-PSK ----------------------------------------------------------------
cat > "$d/keys" <<'K'
# identity key
sensor-1 secret-one
sensor-2 hex:7365636f6e642d6b6579
K
chmod 600 "$d/keys"
P2=$(free_port udp)
if start dtls "listen = { \"coaps://127.0.0.1:$P2\" }, psk_file = \"$d/keys\""; then
  S=coaps://127.0.0.1:$P2
  out=$(post "$S/r/room-d1" 0 -e 'co2=801 ppm' -u sensor-1 -k secret-one)
  if [[ "$out" =~ ^ok ]]; then ok dtls-right-key-2.04; else no dtls-right-key-2.04 "client said '$out'"; fi
  out=$(post "$S/r/room-d2" 0 -e 'co2=802 ppm' -u sensor-2 -k second-key)
  if [[ "$out" =~ ^ok ]]; then ok dtls-hex-key-2.04; else no dtls-hex-key-2.04 "client said '$out'"; fi
  out=$(post "$S/r/room-d1" 0 -e 'co2=666 ppm' -u sensor-1 -k wrong-key)
  if ! [[ "$out" =~ ok ]]; then ok dtls-wrong-key-refused; else no dtls-wrong-key-refused "client said '$out'"; fi
  out=$(post "$S/r/room-d1" 0 -e 'co2=667 ppm' -u intruder -k secret-one)
  if ! [[ "$out" =~ ok ]]; then ok dtls-unknown-identity-refused; else no dtls-unknown-identity-refused "client said '$out'"; fi
  stop
  if cat "$d"/data-dtls/journal/* 2>/dev/null | grep -aq '"identity":"sensor-1","thing":"room-d1"'; then ok dtls-identity-in-meta
  else no dtls-identity-in-meta "no meta with the PSK identity in the journal"; fi
  if grep -q '"value":801' "$d/dtls.jsonl" 2>/dev/null && ! grep -q '"value":66[67]' "$d/dtls.jsonl"; then ok dtls-only-right-key-ingested
  else no dtls-only-right-key-ingested "$(cat "$d/dtls.jsonl" 2>/dev/null)"; fi
else
  no dtls-start "$(tail -5 "$d/dtls.log")"
fi

# ---- backpressure: a slow sink with queue 1 -> 5.03 with Max-Age ----------
P3=$(free_port udp)
if start bp "listen = { \"127.0.0.1:$P3\" }, retry_after = \"3s\"" 'kk.sink.null { delay = "200ms", queue = 1 }'; then
  res=$(python3 - "$P3" <<'PY'
import socket, struct, sys
# Minimal CoAP client: CON POST /r/bp, Content-Format 0, "co2=1 ppm".
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
def req(mid):
    opts = bytes([0xb1]) + b"r" + bytes([0x02]) + b"bp" + bytes([0x10])  # Uri-Path r, bp; Content-Format 0 (empty)
    return struct.pack(">BBH", 0x40, 0x02, mid) + opts + b"\xff" + b"co2=1 ppm"
codes = []
maxage = None
for mid in range(1, 21):
    s.sendto(req(mid), ("127.0.0.1", int(sys.argv[1])))
    d, _ = s.recvfrom(2048)
    code = "%d.%02d" % (d[1] >> 5, d[1] & 31)
    codes.append(code)
    if code == "5.03" and maxage is None:
        i, num = 4 + (d[0] & 15), 0
        while i < len(d) and d[i] != 0xff:
            delta, ln = d[i] >> 4, d[i] & 15; i += 1
            if delta == 13: delta = d[i] + 13; i += 1
            if ln == 13: ln = d[i] + 13; i += 1
            num += delta
            if num == 14: maxage = int.from_bytes(d[i:i + ln], "big")
            i += ln
print(" ".join(codes), "maxage=%s" % maxage)
PY
)
  if [[ "$res" == 2.04*5.03*"maxage=3" ]]; then ok backpressure-5.03-with-max-age
  else no backpressure-5.03-with-max-age "$res"; fi
  stop
else
  no backpressure-start "$(tail -5 "$d/bp.log")"
fi

# ---- stop: datagrams still queued get 5.03 with Max-Age, not silence -------
# klimakit is stopped (SIGSTOP) while 192 CON requests queue up in its
# socket, then gets SIGTERM and continues: one wake-up answers at most 64
# (net_coap's rounds) before the stop, the rest must get 5.03 + Max-Age.
LOADER=$(dirname "$K")/tests/kk-coap-load
P5=$(free_port udp)
if [ ! -x "$LOADER" ]; then
  skip stop-queued-5.03-with-max-age "no $LOADER (make unit builds it)"
elif start drain "listen = { \"127.0.0.1:$P5\" }, retry_after = \"4s\""; then
  kill -STOP $pid
  "$LOADER" 127.0.0.1 "$P5" 192 4 48 > "$d/drain.out" 2> "$d/drain.err" &
  lpid=$!
  sleep 0.5
  kill -TERM $pid; kill -CONT $pid
  stop; rc=$?
  wait $lpid
  read -r changed busy maxage < <(awk '{for (i = 1; i < NF; i++) v[$i] = $(i + 1)} END {print v["changed"], v["busy"], v["maxage"]}' "$d/drain.out")
  if [ "$rc" = 0 ] && [ "$((changed + busy))" = 192 ] && [ "$busy" -ge 64 ] && [ "$maxage" = "$busy" ]; then
    ok stop-queued-5.03-with-max-age
  else
    no stop-queued-5.03-with-max-age "exit $rc; load: $(cat "$d/drain.out")"
  fi
else
  no drain-start "$(tail -5 "$d/drain.log")"
fi

# ---- SIGKILL after acknowledged posts, restart: nothing acked is lost ------
P4=$(free_port udp)
if start crash "listen = { \"127.0.0.1:$P4\" }"; then
  : > "$d/acked"
  for i in $(seq 1 40); do
    out=$(post "coap://127.0.0.1:$P4/r/crash" 110 -e "[{\"n\":\"c:co2\",\"u\":\"ppm\",\"t\":$((1795420800 + i)),\"v\":$i}]")
    [[ "$out" =~ ^ok ]] && echo "$i" >> "$d/acked"
  done
  kill -9 $pid; wait $pid 2>/dev/null; pid=
  if start crash "listen = { \"127.0.0.1:$P4\" }"; then
    sleep 1
    stop
    if res=$(python3 - "$d/crash.jsonl" "$d/acked" <<'PY'
import json, sys
vals = {int(json.loads(l)["value"]) for l in open(sys.argv[1]) if l.strip()}
acked = [int(x) for x in open(sys.argv[2])]
missing = [a for a in acked if a not in vals]
print("%d acked, %d in output, missing %s" % (len(acked), len(vals), missing))
sys.exit(1 if missing or len(acked) < 40 else 0)
PY
    ); then ok crash-restart-no-acked-loss; else no crash-restart-no-acked-loss "$res"; fi
  else
    no crash-restart "$(tail -5 "$d/crash.log")"
  fi
else
  no crash-start "$(tail -5 "$d/crash.log")"
fi
exit $fail
