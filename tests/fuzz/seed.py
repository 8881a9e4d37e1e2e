#!/usr/bin/env python3
"""Seeds a fuzz corpus from the published vectors in tests/e2e/data/decoders/."""
import json, os, sys

target, out = sys.argv[1], sys.argv[2]
d = "tests/e2e/data/decoders/"
seeds = []
v = json.load(open(d + "rfc8428_vectors.json"))
for c in v["cases"]:
    if target == "senml_json":
        seeds.append(json.dumps(c["pack"]).encode())
    if target == "senml_cbor" and "cbor_hex" in c:
        seeds.append(bytes.fromhex(c["cbor_hex"]))
for f, t in (("tts_v3_uplink_docs_example.json", "ttn_v3"),
             ("tts_v3_uplink_mqtt_docs_example.json", "ttn_v3"),
             ("chirpstack_v4_up_docs_example.json", "chirpstack_v4")):
    if target == t:
        seeds.append(json.dumps(json.load(open(d + f))["payload"]).encode())
if target == "json":
    seeds += [b'{"ts":1767225600,"a":1,"b":{"c":2},"id":"r1"}',
              b'{"ts":"2026-01-01T00:00:00Z","v":true}']
for i, s in enumerate(seeds):
    with open(os.path.join(out, "seed%d" % i), "wb") as fh:
        fh.write(s)
