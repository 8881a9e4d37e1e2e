#!/usr/bin/env bash
# SenML exactly as RFC 8428 says (issue 11): every example pack of the RFC
# (tests/e2e/data/senml/, sections 5.1.1-5.1.7 and 6) through source.coap
# with the real coap-client-openssl into store.sqlite; the store must hold
# exactly the records this test resolves itself (section 4.6), each as a
# distinct reading, named by the rules of docs/guide/push-formats.md.
# Packs whose readings coincide in (datastream, time) with another
# example's go to a store of their own.  Also: a /r/{thing} path refuses a
# pack with two base names, sums are sums, trailing bytes and duplicate
# keys are refused, skipped string/data values are counted with and
# without a decode.senml stage after the source.
set -u
. "$(dirname "$0")/lib.sh" senml
C=coap-client-openssl
kk_tmpdir
if ! command -v $C >/dev/null; then skip all "no $C"; exit 0; fi
S=tests/e2e/data/senml
PA=$(free_port udp); PB=$(free_port udp); PC=$(free_port udp); PD=$(free_port udp)
while [ "$PB" = "$PA" ]; do PB=$(free_port udp); done
while [ "$PC" = "$PA" ] || [ "$PC" = "$PB" ]; do PC=$(free_port udp); done
while [ "$PD" = "$PA" ] || [ "$PD" = "$PB" ] || [ "$PD" = "$PC" ]; do PD=$(free_port udp); done
cat > "$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
local paths = { "/senml", "/r/{thing}" }
for _, x in ipairs { { "a", $PA }, { "b", $PB }, { "c", $PC } } do
  kk.pipe(kk.source.coap { name = x[1], listen = { "127.0.0.1:" .. x[2] }, paths = paths },
          kk.store.sqlite { name = "store_" .. x[1], path = "$d/" .. x[1] .. ".db" })
end
kk.pipe(kk.source.coap { name = "d", listen = { "127.0.0.1:$PD" }, paths = paths },
        kk.decode.senml {}, kk.store.sqlite { name = "store_d", path = "$d/d.db" })
LUA
kk_start "$d/kk.log" "$d/r.lua" --log-format text
if ! wait_log "$d/kk.log" "listening on .*$PD" 10; then no start "$(tail -5 "$d/kk.log")"; exit 1; fi

# post PORT PATH FORMAT FILE|-e TEXT: one line per post in $d/posts:
# port path file before_ms after_ms reply
now_ms() { date +%s%3N; }
post() {
  local port=$1 path=$2 fmt=$3 src=$4 b a out
  b=$(now_ms)
  if [ "$src" = "-e" ]; then out=$($C -B 5 -m post -t "$fmt" -e "$5" "coap://127.0.0.1:$port$path" 2>&1)
  else out=$($C -B 5 -m post -t "$fmt" -f "$src" "coap://127.0.0.1:$port$path" 2>&1); fi
  a=$(now_ms)
  echo "$out"
  [ "$src" = "-e" ] || echo "$port $path $src $fmt $b $a" >> "$d/posts"
  sleep 0.02 # relative "now" packs must not meet in one millisecond
}
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read().strip()))' \
  $S/ex3.cbor.hex > "$d/ex3.cbor"
for f in ex1 ex2 ex3 ex5 ex6 ex7 ex9 ex12; do
  out=$(post $PA /senml 110 $S/$f.json)
  [[ "$out" == ok* ]] || no "$f-2.04" "client said '$out'"
done
out=$(post $PA /r/ex3-cbor 112 "$d/ex3.cbor"); [[ "$out" == ok* ]] || no ex3-cbor-2.04 "client said '$out'"
out=$(post $PA /r/room-2 110 $S/ex2.json); [[ "$out" == ok* ]] || no path-thing-2.04 "client said '$out'"
for f in ex4 ex13; do
  out=$(post $PB /senml 110 $S/$f.json); [[ "$out" == ok* ]] || no "$f-2.04" "client said '$out'"
done
out=$(post $PC /senml 110 $S/ex5.resolved.json); [[ "$out" == ok* ]] || no ex5-resolved-2.04 "client said '$out'"
out=$(post $PD /senml 110 $S/ex7.json); [[ "$out" == ok* ]] || no ex7-decode-senml-2.04 "client said '$out'"
printf '%s' '[{"bn":"meter-1:","bt":1795420800,"n":"energy","u":"W","s":3600000},{"n":"flow","u":"m3/s","v":2,"s":120}]' > "$d/sum.json"
out=$(post $PA /senml 110 "$d/sum.json"); [[ "$out" == ok* ]] || no sum-2.04 "client said '$out'"

# Refusals: answered 4.00 with the reason, nothing stored.
out=$(post $PA /r/room-1 110 $S/ex6.json)
if [[ "$out" == "4.00 "*"never merges"* ]]; then ok path-thing-refuses-two-base-names
else no path-thing-refuses-two-base-names "client said '$out'"; fi
sed -i '$d' "$d/posts"
out=$(post $PA /senml 110 -e '[{"bn":"junk:","n":"a","u":"V","v":1}]xyz')
if [[ "$out" == "4.00 senml: 3 bytes after the JSON pack"* ]]; then ok trailing-bytes-refused
else no trailing-bytes-refused "client said '$out'"; fi
out=$(post $PA /senml 110 -e '[{"bn":"junk:","n":"a","u":"V","v":1,"v":2}]')
if [[ "$out" == "4.00 senml: duplicate key 'v'"* ]]; then ok duplicate-keys-refused
else no duplicate-keys-refused "client said '$out'"; fi

kk_stop; rc=$?
[ $rc -eq 0 ] || no clean-exit "exit $rc: $(tail -3 "$d/kk.log")"

res=$(python3 - "$d" "$S" <<'PY'
import json, re, sqlite3, sys
d, S = sys.argv[1], sys.argv[2]
# Independent of the C code: RFC 8428 section 4.6 resolution and the name
# rules of docs/guide/push-formats.md.
UNITS = {"Cel": "temperature", "%RH": "relative_humidity", "lon": "longitude",
         "lat": "latitude", "%EL": "battery_level", "V": "voltage", "A": "current",
         "/": "ratio", "W": "power"}
def resolve(pack, ctx):
    bn, bt, bu, bv, bs, out = "", 0, None, 0, 0, []
    for r in pack:
        bn, bt, bu = r.get("bn", bn), r.get("bt", bt), r.get("bu", bu)
        bv, bs = r.get("bv", bv), r.get("bs", bs)
        if not any(k in r for k in ("v", "vs", "vb", "vd", "s")):
            continue  # 5.1.7: base fields only
        n, u, t = r.get("n", ""), r.get("u", bu), bt + r.get("t", 0)
        name = bn + n
        if ctx: thing, prop = ctx, n
        elif bn: thing, prop = (bn[:-1] if bn[-1] in ":/" else bn), n
        else:
            m = re.match(r"(urn:dev:[^:]+:[^:/]+)[:/](.+)$", name)
            thing, prop = m.groups() if m else (name, "")
        if not prop: prop = UNITS.get(u) or u or "value"
        rel = t < 2 ** 28
        def add(p, unit, v):
            out.append((thing, p, unit or "1", rel, round(t * 1000), v, name))
        if "v" in r: add(prop, u, r["v"] + bv)
        if "vb" in r: add(prop, u, 1.0 if r["vb"] else 0.0)
        if "s" in r:
            su = "s" if not u else u[:-2] if u.endswith("/s") else u + ".s"
            add(prop + ".sum", su, r["s"] + bs)
    return out
ports = {}
for line in open(d + "/posts"):
    port, path, f, fmt, b, a = line.split()
    ports.setdefault(port, []).append((path, f, int(b), int(a)))
stores = {}
import os
prom = open(d + "/data/metrics.prom").read()
names = {}
for m in re.finditer(r'kk_readings_in_total\{stage="(store_\w)"\}', prom): pass
# The posts went to the sources in the order a, b, c, d of the recipe.
port_of = {}
lua = open(d + "/r.lua").read()
for st, port in re.findall(r'\{ "(\w)", (\d+) \}', lua): port_of[port] = st
port_of[re.search(r'127\.0\.0\.1:(\d+)" \}, paths = paths \},\n\s+kk\.decode', lua).group(1)] = "d"
errs, total = [], 0
for port, posts in ports.items():
    st = port_of[port]
    want = []
    for path, f, b, a in posts:
        pack = json.load(open(f if not f.endswith(".cbor") else S + "/ex3.json"))
        ctx = path[3:] if path.startswith("/r/") else ""
        for row in resolve(pack, ctx):
            want.append((row, b, a, f))
    db = sqlite3.connect(d + "/%s.db" % st)
    got = sorted(db.execute("SELECT t.name, d.property, d.unit, o.time, o.value FROM observations o "
                            "JOIN datastreams d ON d.id = o.ds JOIN things t ON t.id = d.thing_id"))
    left = list(got)
    for (thing, prop, unit, rel, t, v, name), b, a, f in want:
        hit = None
        for g in left:
            if g[:3] != (thing, prop, unit) or abs(g[4] - v) > 1e-9: continue
            if (b + t <= g[3] <= a + t) if rel else g[3] == t:
                hit = g; break
        if hit is None: errs.append("%s: %s %s: no reading %s/%s [%s] %r" % (st, f.split("/")[-1], name, thing, prop, unit, v))
        else: left.remove(hit)
    if left: errs.append("%s: %d readings nobody sent: %s" % (st, len(left), left[:3]))
    total += len(want)
print("%d readings checked; " % total + "; ".join(errs[:8]))
sys.exit(1 if errs or total < 60 else 0)
PY
) && ok "rfc8428-examples-in-store ($res)" || no rfc8428-examples-in-store "$res"

m=$d/data/metrics.prom
if grep -q 'kk_decode_skipped_total{stage="a",reason="non_numeric"} 2$' "$m" &&
   grep -q 'kk_decode_skipped_total{stage="senml",reason="non_numeric"} 2$' "$m"; then
  ok string-and-data-values-counted
else no string-and-data-values-counted "$(grep -s skipped "$m" | tr '\n' ' ')"; fi
n=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from datastreams where thing_id=(select id from things where name=\"junk\")").fetchone()[0])' "$d/a.db" 2>&1)
if [ "$n" = 0 ]; then ok refused-packs-not-stored; else no refused-packs-not-stored "$n"; fi
exit $fail
