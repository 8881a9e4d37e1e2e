#!/usr/bin/env bash
# The journal's segment formats through the binary: a journal written by
# the release before CRC32C (one segment of format 2, zlib CRC-32; made
# here from the 0.1.0 fixture's 120 records exactly as that release
# framed them) is replayed by `klimakit run` in sequence order, new
# readings go to a format-3 segment (CRC32C) and continue the sequence,
# the mixed journal replays in order from the start, and a flipped byte
# is caught in the old and in the new segment (quarantine, the records
# before the damage still replayed).
set -u
. "$(dirname "$0")/lib.sh" journal-formats
kk_tmpdir
F=$ROOT/tests/fixtures/upgrade
N=120

mkdir -p "$d/fx" "$d/var/journal/cursors" "$d/var/journal/quarantine"
tar -C "$d/fx" -xf "$F/journal.tar"
# Format 2: "KKJRNL02" | u32 32 | u64 first | i64 created | u32 zlib
# crc32 of those 28 bytes, then the records as format 1 had them
# (u32 body_len | u32 zlib crc32(body) | body).  expected.txt: each
# record's reading in sequence order.
python3 - "$d/fx/journal/00000000000000000001.kkj" "$d/var/journal/00000000000000000001.kkj" \
  "$d/expected.txt" <<'PY' || no craft "cannot write the version-2 segment"
import json, struct, sys, zlib
old = open(sys.argv[1], "rb").read()
assert old[:8] == b"KKJRNL01"
h = b"KKJRNL02" + struct.pack("<IQq", 32, 1, 1796000000000)
out = [h + struct.pack("<I", zlib.crc32(h))]
want = []
off, seq = 8, 0
while off < len(old):
    blen, crc = struct.unpack_from("<II", old, off)
    body = old[off + 8:off + 8 + blen]
    assert zlib.crc32(body) == crc
    s, _, _, sl, ml = struct.unpack_from("<QqIHH", body)
    assert s == seq + 1
    seq = s
    r = json.loads(body[24 + sl + ml:])
    want.append("%s %s %r" % (r["thing"], r["property"], float(r["value"])))
    out.append(old[off:off + 8 + blen])
    off += 8 + blen
open(sys.argv[2], "wb").write(b"".join(out))
open(sys.argv[3], "w").write("\n".join(want) + "\n")
PY
cp "$d/var/journal/00000000000000000001.kkj" "$d/v2.kkj"
echo 0 >"$d/var/journal/cursors/check"

port=$(free_port)
recipe() { # $1: sink name
  cat > "$d/$1.lua" <<LUA
local kk = require "klimakit"
kk.config { retain_age = "36500d" }
kk.pipe(kk.source.tcp { listen = "127.0.0.1:$port" },
        kk.sink.jsonl { name = "$1", path = "$d/$1.jsonl" })
LUA
}
readings() { # the jsonl file as "thing property value" lines
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(r["thing"], r["property"], float(r["value"]))' "$1" 2>/dev/null
}
lines() { wc -l <"$1" 2>/dev/null || echo 0; }

recipe check
kk_start "$d/run.log" "$d/check.lua" --data-dir "$d/var" --log-format text
wait_port "$port" 15 || no start "klimakit did not listen: $(tail -3 "$d/run.log")"
wait_for 15 test "$(lines "$d/check.jsonl")" -ge $N
python3 - "$port" >"$d/new.txt" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b'{"thing":"room-009","property":"co2","unit":"ppm","time":1795420000000,"value":777}\n')
print(s.makefile().readline().strip())
PY
wait_for 10 test "$(lines "$d/check.jsonl")" -ge $((N + 1))
kk_stop && ok stops || no stops "exit $?: $(tail -3 "$d/run.log")"

readings "$d/check.jsonl" >"$d/got.txt"
echo "room-009 co2 777.0" >>"$d/expected.txt"
cmp -s "$d/got.txt" "$d/expected.txt" && ok v2-replayed-in-order ||
  no v2-replayed-in-order "$(diff "$d/expected.txt" "$d/got.txt" | head -5)"
[ "$(cat "$d/new.txt")" = "ok $((N + 1))" ] && ok seq-continues ||
  no seq-continues "new reading answered '$(cat "$d/new.txt")'"
cmp -s "$d/var/journal/00000000000000000001.kkj" "$d/v2.kkj" && ok v2-segment-untouched ||
  no v2-segment-untouched "the version-2 segment was changed"
new_seg=$d/var/journal/$(printf '%020d' $((N + 1))).kkj
[ "$(head -c 8 "$new_seg" 2>/dev/null)" = KKJRNL03 ] && ok new-segment-v3 ||
  no new-segment-v3 "no version-3 segment $new_seg: $(ls "$d/var/journal")"
grep -q "format version 2; appending to a new version-3 segment" "$d/run.log" && ok upgrade-logged ||
  no upgrade-logged "$(grep journal "$d/run.log" | tail -3)"
[ -z "$(ls "$d/var/journal/quarantine")" ] && ok nothing-quarantined ||
  no nothing-quarantined "$(ls "$d/var/journal/quarantine")"
segs=$("$K" journal --data-dir "$d/var" segments 2>&1)
echo "$segs" | grep -q 00000000000000000001.kkj && echo "$segs" | grep -q "$(basename "$new_seg")" &&
  ok cli-lists-both || no cli-lists-both "$segs"

# A sink new to the journal at 0: the v2 records, then the v3 one.
echo 0 >"$d/var/journal/cursors/again"
recipe again
kk_start "$d/run2.log" "$d/again.lua" --data-dir "$d/var" --log-format text
wait_port "$port" 15 || no start2 "klimakit did not listen: $(tail -3 "$d/run2.log")"
wait_for 15 test "$(lines "$d/again.jsonl")" -ge $((N + 1))
sleep 0.3
kk_stop || no stops2 "exit $?: $(tail -3 "$d/run2.log")"
readings "$d/again.jsonl" >"$d/got2.txt"
cmp -s "$d/got2.txt" "$d/expected.txt" && ok mixed-replayed-in-order ||
  no mixed-replayed-in-order "$(diff "$d/expected.txt" "$d/got2.txt" | head -5)"

# Damage: one byte of record 61 (v2, zlib CRC) and of record 121 (v3,
# CRC32C), each inside its payload.  A sink at 0 then gets records 1..60
# and nothing after, both tails are quarantined, and the log says why.
python3 - "$d/var/journal/00000000000000000001.kkj" "$new_seg" <<'PY' || no damage "cannot flip bytes"
import struct, sys
def flip(path, hdr, nth):
    b = bytearray(open(path, "rb").read())
    off = hdr
    for _ in range(nth - 1):
        off += 8 + struct.unpack_from("<I", b, off)[0]
    blen = struct.unpack_from("<I", b, off)[0]
    b[off + 8 + blen - 3] ^= 0x01  # a digit of the value, near the end
    open(path, "wb").write(bytes(b))
flip(sys.argv[1], 32, 61)
flip(sys.argv[2], 32, 1)
PY
echo 0 >"$d/var/journal/cursors/damaged"
recipe damaged
kk_start "$d/run3.log" "$d/damaged.lua" --data-dir "$d/var" --log-format text
wait_port "$port" 15 || no start3 "klimakit did not listen: $(tail -3 "$d/run3.log")"
wait_for 15 test "$(lines "$d/damaged.jsonl")" -ge 60
sleep 0.5
kk_stop || no stops3 "exit $?: $(tail -3 "$d/run3.log")"
readings "$d/damaged.jsonl" >"$d/got3.txt"
head -60 "$d/expected.txt" | cmp -s - "$d/got3.txt" && ok damage-replays-what-precedes ||
  no damage-replays-what-precedes "$(lines "$d/damaged.jsonl") lines; $(diff <(head -60 "$d/expected.txt") "$d/got3.txt" | head -3)"
q=$(ls "$d/var/journal/quarantine")
echo "$q" | grep -qx "00000000000000000001.kkj.[0-9]*" && echo "$q" | grep -qx "$(basename "$new_seg").32" &&
  ok both-tails-quarantined || no both-tails-quarantined "quarantine: $q"
[ "$(grep -c "crc mismatch" "$d/run3.log")" = 2 ] && ok crc-mismatch-logged ||
  no crc-mismatch-logged "$(grep journal "$d/run3.log" | tail -3)"
exit $fail
