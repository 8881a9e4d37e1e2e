#!/usr/bin/env python3
"""recipes/quartier-bilanz/data/make_sample.py - writes zaehler.csv, three
weeks (25 May to 14 June 2026 local time, hourly) of cumulative meter counts of the
sample quarter "sonnenhof", as decode.tasmota makes them from Tasmota SML
telemetry (SML.Total_in -> energy, kW.h, a cumulative count).

The profiles are estimates (Schätzung), not measurements: PV from a clear-sky
bell between sunrise and sunset of early June in central Germany scaled by a
daily weather factor (about 4-6 kWh per kWp on sunny days); the CHP runs
heat-led in two blocks a day (in summer only hot water); households with
morning and evening peaks (about 2 500 kWh a year each); the school and the
day-care centre on weekdays; the bakery from 03:00.  Deterministic (seeded).
"""
import datetime as dt
import math
import random

rng = random.Random(2026)
START = dt.datetime(2026, 5, 24, 22, tzinfo=dt.timezone.utc)  # local midnight
HOURS = 21 * 24

# thing, role, start count (kWh)
METERS = [
    ("pv-grundschule", 99.0),     # kWp
    ("pv-sonnenhof", 45.0),       # kWp
    ("bhkw-nahwaerme", 50.0),     # kW electric
    ("grundschule", None),
    ("kita-regenbogen", None),
    ("sonnenhof-haus-a", None),   # 24 households
    ("sonnenhof-haus-b", None),   # 18 households
    ("baeckerei-korn", None),
]
weather = [rng.choice([1.0, 0.95, 0.85, 0.6, 0.35, 0.9, 1.0]) for _ in range(22)]


def local_hour(t):
    return (t + dt.timedelta(hours=2)).hour  # CEST in May/June


def pv(kwp, t, day):
    h = local_hour(t) + 0.5
    if h < 5.5 or h > 21.5:
        return 0.0
    bell = math.sin(math.pi * (h - 5.5) / 16.0) ** 2
    return kwp * 0.72 * bell * weather[day] * rng.uniform(0.9, 1.05)


def chp(kw, t):
    h = local_hour(t)
    return kw * 0.95 if h in (5, 6, 7, 18, 19, 20) else 0.0


def household(n, t):
    h = local_hour(t)
    base = 0.18
    if 6 <= h <= 8:
        base = 0.45
    elif 11 <= h <= 13:
        base = 0.35
    elif 17 <= h <= 21:
        base = 0.62
    return n * base * rng.uniform(0.85, 1.15)


def school(peak, t):
    h, wd = local_hour(t), (t + dt.timedelta(hours=2)).weekday()
    if wd < 5 and 7 <= h <= 15:
        return peak * rng.uniform(0.8, 1.1)
    return peak * 0.12


def bakery(t):
    h = local_hour(t)
    return 14.0 * rng.uniform(0.9, 1.1) if 3 <= h <= 11 else 1.5


counts = {m: rng.uniform(1000, 60000) for m, _ in METERS}
with open("zaehler.csv", "w") as f:
    f.write("thing,property,unit,time,value\n")
    for i in range(HOURS + 1):
        t = START + dt.timedelta(hours=i)
        day = i // 24
        if i:
            prev = t - dt.timedelta(hours=1)
            counts["pv-grundschule"] += pv(99.0, prev, day)
            counts["pv-sonnenhof"] += pv(45.0, prev, day)
            counts["bhkw-nahwaerme"] += chp(50.0, prev)
            counts["grundschule"] += school(28.0, prev)
            counts["kita-regenbogen"] += school(6.0, prev)
            counts["sonnenhof-haus-a"] += household(24, prev)
            counts["sonnenhof-haus-b"] += household(18, prev)
            counts["baeckerei-korn"] += bakery(prev)
        stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        for m, _ in METERS:
            f.write("%s,energy,kW.h,%s,%.4f\n" % (m, stamp, counts[m]))
