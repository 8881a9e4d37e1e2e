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
if target == "lua":
    # first byte: decoder (0 elsys, 1 milesight, 2 decentlab, 3 garbage)
    # + 4 * envelope (0 ttn-v3, 1 chirpstack-v4, 2 raw); then the message.
    import base64
    frames = [(0, json.load(open(d + "elsys_ers_co2_vector.json"))["vectors"][0]["hex"])]
    ex = json.load(open(d + "lua/expected.json"))
    frames.append((1, ex["milesight_am300"]["hex"].replace(" ", "")))
    frames += [(2, c["hex"]) for c in ex["decentlab_dl_lp8p"]]
    frames += [(3, "0507030161706f0503017503036b6d61"), (3, "04050b03626f6f6d"),
               (3, "0d03066f746865722e0e10")]
    for dec, hx in frames:
        b = bytes.fromhex(hx)
        seeds.append(bytes([dec + 8]) + b)
        seeds.append(bytes([dec + 8 + 128]) + b)
        seeds.append(bytes([dec]) + json.dumps({
            "end_device_ids": {"device_id": "d1", "application_ids": {"application_id": "a"}},
            "received_at": "2026-01-05T08:00:00Z",
            "uplink_message": {"f_port": 5, "f_cnt": 3,
                               "frm_payload": base64.b64encode(b).decode(),
                               "rx_metadata": [{"rssi": -40, "snr": 7}]}}).encode())
        seeds.append(bytes([dec + 4]) + json.dumps({
            "deviceInfo": {"devEui": "0101010101010101", "applicationId": "x"},
            "time": "2026-01-05T08:00:00Z", "fPort": 2,
            "data": base64.b64encode(b).decode()}).encode())
for i, s in enumerate(seeds):
    with open(os.path.join(out, "seed%d" % i), "wb") as fh:
        fh.write(s)
