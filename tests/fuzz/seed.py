#!/usr/bin/env python3
"""Seeds a fuzz corpus: the published vectors in tests/e2e/data/decoders/
and a few small valid inputs of each kind."""
import json, os, struct, sys

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


def cbor(x):
    """A minimal CBOR encoder for the seeds: text, integers, floats, lists,
    maps and (tag, item) pairs as Tag objects."""
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
    if isinstance(x, Tag):
        return head(6, x.tag) + cbor(x.item)
    if isinstance(x, bool):
        return bytes([0xf5 if x else 0xf4])
    if isinstance(x, int):
        return head(0, x) if x >= 0 else head(1, -1 - x)
    if isinstance(x, float):
        return b"\xfb" + struct.pack(">d", x)
    if isinstance(x, str):
        b = x.encode()
        return head(3, len(b)) + b
    if isinstance(x, list):
        return head(4, len(x)) + b"".join(cbor(i) for i in x)
    if isinstance(x, dict):
        return head(5, len(x)) + b"".join(cbor(k) + cbor(v) for k, v in x.items())
    raise TypeError(x)


class Tag:
    def __init__(self, tag, item):
        self.tag, self.item = tag, item


if target == "source_payload":
    # first byte: content format (0 text, 1 JSON, 2 CBOR, 3-6 SenML JSON,
    # SenSML JSON, SenML CBOR, SenSML CBOR, 7 unknown); second: the path
    # (0 /r/room-1, 1 /s/room-2/co2, 2 /senml, 3 no match; +4: the path is
    # the input up to the first newline); then the payload.
    one = {"thing": "t1", "property": "temp", "unit": "Cel",
           "time": "2026-01-01T00:00:00Z", "value": 21.5}
    seeds += [b"\x00\x00co2=812 ppm", b"\x00\x01812",
              b"\x00\x04/s/dev-9/humidity\n55.5 %",
              b"\x01\x00" + json.dumps({"property": "co2", "unit": "ppm",
                                          "value": 812}).encode(),
              b"\x01\x02" + json.dumps([one, dict(one, time=1767225600000)]).encode(),
              b"\x02\x00" + cbor({"property": "co2", "unit": "ppm", "value": 812,
                                    "time": Tag(1, 1767225600)}),
              b"\x02\x02" + cbor([dict(one, value=21), dict(one, time=1767225600000)])]
    for c in v["cases"]:
        seeds.append(b"\x03\x02" + json.dumps(c["pack"]).encode())
        if "cbor_hex" in c:
            seeds.append(b"\x05\x02" + bytes.fromhex(c["cbor_hex"]))
    import glob
    for f in sorted(glob.glob("tests/e2e/data/senml/*.json")):
        seeds += [b"\x03\x02" + open(f, "rb").read(), b"\x03\x10" + open(f, "rb").read()]
    seeds.append(b"\x08\x02" + open("tests/e2e/data/push/airrohr.json", "rb").read())
if target == "raw_meta":
    seeds += [b'{"topic":"city/sensors/s0001/up","thing":"s0001"}', b'{"path":"r\\/x","thing":""}',
              b'{"thing":"a\\u00e9"}', b'city/x', b'{ "thing" : 1 }']
if target == "reading_json":
    r = {"thing": "room-1", "property": "co2", "unit": "ppm",
         "time": "2026-01-01T00:00:00Z", "value": 812}
    seeds += [json.dumps(r).encode(),
              json.dumps(dict(r, time=1767225600000, value=-0.5)).encode(),
              json.dumps(dict(r, time="2026-03-29T02:30:00.125+02:00")).encode()]
if target == "time":
    # first byte: 0 kk_time_parse_iso8601, 1 kk_time_parse_text.
    seeds += [b"\x002026-01-01T00:00:00Z", b"\x002026-03-29 02:30:00.125+02:00",
              b"\x002016-12-31T23:59:60Z", b"\x001969-12-31T23:59:59.999-0130",
              b"\x011767225600000", b"\x01-5", b"\x012026-10-25T01:00+01"]
if target == "file_csv":
    # first byte: bit 0 JSON lines (else CSV), bit 1 stop at the first bad
    # line, bits 2-7 the batch size; second: chunks of 1 + 4 * n bytes.
    csv = (b"thing,property,unit,time,value\n"
           b"room-1,co2,ppm,2026-01-01T00:00:00Z,812\n"
           b"\"room \"\"2\"\"\",temp,Cel, 1767225600000 ,21.5\r\n"
           b"\n"
           b"\"multi\nline\",rh,%,2026-01-01T01:00:00+01:00,55\n")
    seeds += [b"\x04\x02" + csv, b"\x00\xff\xef\xbb\xbf" + csv,
              b"\x00\x01" + b"extra,VALUE,Time,unit,property,thing\n"
              b"x,1,2026-01-01T00:00:00Z,ppm,co2,room-3\n"]
    lines = b"".join(json.dumps({"thing": "room-1", "property": "co2",
                                 "unit": "ppm", "time": t, "value": 800 + i}).encode() + b"\n"
                     for i, t in enumerate(["2026-01-01T00:00:00Z", 1767225660000]))
    seeds += [b"\x05\x03" + lines, b"\x01\xff" + lines.rstrip(b"\n")]
if target == "sensor_community":
    body = open("tests/e2e/data/push/airrohr.json", "rb").read()
    seeds += [b"\x01" + body, b"\x00" + body,
              b"\x00" + json.dumps({"esp8266id": 7, "sensordatavalues": [
                  {"value_type": "SDS_P1", "value": 3}, {"value_type": "x", "value": " 1e3 "}]}).encode()]
if target == "tasmota":
    for f in ("tasmota_sml.json", "tasmota_energy.json"):
        b = open("tests/e2e/data/push/" + f, "rb").read()
        seeds += [b"\x00" + b, b"\x03" + b, b"\x04" + b]
    seeds.append(b"\x01" + b'{"Time":"2026-03-29T02:30:00","A":{"B":{"C":true}},"D":[1]}')
if target in ("uba", "telraam", "sta_obs", "dwd"): seeds += [open("tests/e2e/data/formats/" + f, "rb").read() for f in sorted(os.listdir("tests/e2e/data/formats")) if f.startswith({"uba": ("uba_",), "telraam": ("telraam_",), "sta_obs": ("sta_",), "dwd": ("produkt", "tageswerte", "gradtage")}[target])]
seeds += [b"\x00</a?p=2>; rel=\"next\", <https://x/b>; rel=prev", b"\x01{\"@iot.nextLink\":\"/v?$skip=4\",\"value\":[1],\"links\":{\"next\":\"n\"}}", b"\x02\0\0\0\0\0\0\0\0http://h/x?from={from}&to={to:%Y-%m-%dT%H:%M:%S%:z}&e={to:epoch}"] if target == "http_poll" else []
if target == "lua_pattern":  # op byte, pattern length, pattern, subject
    seeds += [bytes([op, len(p)]) + p + s for op, p, s in ((1, b"^(%w+)_(%d+)$", b"sensor_12"), (3, b"[/%-]", b"a/b-c"), (2, b"%f[%w]%w+", b"the (quick) fox"), (0, b"%b()", b"f(a(b)c)"), (7, b"(a*)%1", b"aaaa"))]
seeds += [b"KKDEAD01\nseq 7\ntime_ms 1767225600000\nformat 50\nattempts 3\ndead_ms -1\nsource mqtt\nstage check\nreason poison %25 %C3%A4\nmeta_len 9\ndata_len 11\n\ntopic=a/b{\"v\":\"x\"}\n"] if target == "dead_letter" else []
for i, s in enumerate(seeds):
    with open(os.path.join(out, "seed%d" % i), "wb") as fh:
        fh.write(s)
