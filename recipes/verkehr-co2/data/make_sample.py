#!/usr/bin/env python3
"""recipes/verkehr-co2/data/make_sample.py - writes the recipe's sample data:

* telraam/<segment>.json: one week (16-22 November 2026, hourly) of Telraam
  reports/traffic responses for three segments of the fictitious
  Musterstadt, in the API's response format (status_code, message, report
  entries with uptime, car, heavy, bike, pedestrian and their _lft/_rgt
  directions, v85, the car speed histogram);
* zaehlungen.jsonl: the readings decode.telraam makes of them with the
  recipe's `map` (count_pkw, count_lkw, count_rad, count_fuss ...), which
  the recipe replays when no Telraam key is set.  The recipe's test serves
  the JSON files from a local server and checks that both give the same
  store.

The counts are estimates (Schätzung): daily totals per street type with a
weekday/weekend and hourly curve; Telraam's camera needs daylight, so
night hours have a low uptime (below 0.5: not stored).
"""
import datetime as dt
import json
import random

rng = random.Random(13)
START = dt.datetime(2026, 11, 15, 23, tzinfo=dt.timezone.utc)  # 16.11. 00:00 CET
SEGMENTS = {
    # segment id: (name, cars/day, heavy share, bikes/day, pedestrians/day)
    9000003101: ("Hauptstraße", 7800, 0.06, 900, 650),
    9000003102: ("Schulweg", 1400, 0.02, 1250, 980),
    9000003103: ("Ringstraße", 13500, 0.09, 320, 140),
}
# share of a weekday's traffic per local hour (sums to 1)
CURVE = [0.004, 0.002, 0.002, 0.002, 0.005, 0.018, 0.045, 0.078, 0.072, 0.058,
         0.055, 0.057, 0.060, 0.060, 0.062, 0.068, 0.078, 0.075, 0.058, 0.042,
         0.032, 0.026, 0.018, 0.010]
CURVE = [c / sum(CURVE) for c in CURVE]


def uptime(local_hour):
    # November: daylight about 07:30 to 16:30 local time
    if 8 <= local_hour <= 15:
        return round(rng.uniform(0.78, 0.93), 2)
    if local_hour in (7, 16):
        return round(rng.uniform(0.45, 0.7), 2)
    return round(rng.uniform(0.0, 0.12), 2)


readings = []
for seg, (name, cars, heavy, bikes, peds) in SEGMENTS.items():
    report = []
    for h in range(7 * 24):
        t = START + dt.timedelta(hours=h)
        local = t + dt.timedelta(hours=1)
        weekend = local.weekday() >= 5
        f = CURVE[local.hour] * (0.7 if weekend else 1.0) * rng.uniform(0.88, 1.12)
        car = cars * f
        hv = car * heavy * (0.4 if weekend else 1.0)
        bike = bikes * f * (0.8 if weekend else 1.0)
        ped = peds * f * (1.2 if weekend else 1.0)
        split = rng.uniform(0.42, 0.58)
        e = {"instance_id": -1, "segment_id": seg,
             "date": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "interval": "hourly",
             "uptime": uptime(local.hour),
             "heavy": round(hv, 2), "car": round(car, 2), "bike": round(bike, 2),
             "pedestrian": round(ped, 2)}
        for k in ("heavy", "car", "bike", "pedestrian"):
            e[k + "_lft"] = round(e[k] * split, 2)
            e[k + "_rgt"] = round(e[k] - e[k + "_lft"], 2)
        e["direction"] = 1
        e["timezone"] = "Europe/Berlin"
        hist = [rng.uniform(0, 1) for _ in range(8)]
        e["car_speed_hist_0to70plus"] = [round(100 * x / sum(hist), 2) for x in hist]
        e["v85"] = round(rng.uniform(38, 46) if seg != 9000003103 else rng.uniform(52, 61), 1)
        report.append(e)
        if e["uptime"] >= 0.5:
            thing = "telraam-%d" % seg
            names = {"car": "count_pkw", "heavy": "count_lkw", "bike": "count_rad",
                     "pedestrian": "count_fuss"}
            readings.append((thing, "uptime", "1", e["date"], e["uptime"]))
            for k, v in e.items():
                base = k.split("_")[0]
                if k in names:
                    readings.append((thing, names[k], "1", e["date"], v))
                elif base in names and k[len(base):] in ("_lft", "_rgt"):
                    readings.append((thing, "count_" + k, "1", e["date"], v))
            readings.append((thing, "car_speed_v85", "km/h", e["date"], e["v85"]))
    with open("telraam/%d.json" % seg, "w") as f:
        json.dump({"status_code": 200, "message": "ok", "report": report}, f)
        f.write("\n")
with open("zaehlungen.jsonl", "w") as f:
    for thing, prop, unit, time, value in readings:
        f.write(json.dumps({"thing": thing, "property": prop, "unit": unit,
                            "time": time, "value": value}, ensure_ascii=False) + "\n")
