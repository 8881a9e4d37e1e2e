#!/usr/bin/env python3
"""recipes/open-data/data/make_sample.py - writes gebaeude.csv, the sample
data of the open-data recipe (fictitious Musterstadt; estimates, Schätzung):

* energy (kW.h, daily consumption, stamped at local midnight) of four
  municipal buildings, 1 October to 30 November 2026: published;
* occupancy (1 = somebody in the room) of two single offices in the town
  hall, hourly: kept in the store, never published (it tells when a
  person is at their desk).
"""
import datetime as dt
import random

rng = random.Random(5)
buildings = {"rathaus": 820.0, "grundschule-am-park": 410.0,
             "hallenbad": 2300.0, "stadtbibliothek": 260.0}
with open("gebaeude.csv", "w") as f:
    f.write("thing,property,unit,time,value\n")
    day = dt.date(2026, 10, 1)
    while day <= dt.date(2026, 11, 30):
        summer = day <= dt.date(2026, 10, 25)
        t = dt.datetime(day.year, day.month, day.day) - dt.timedelta(hours=2 if summer else 1)
        weekend = day.weekday() >= 5
        for b, kwh in buildings.items():
            v = kwh * (0.55 if weekend and b != "hallenbad" else 1.0) * rng.uniform(0.9, 1.1)
            f.write("%s,energy,kW.h,%sZ,%.1f\n" % (b, t.strftime("%Y-%m-%dT%H:%M:%S"), v))
        day += dt.timedelta(days=1)
    start = dt.datetime(2026, 11, 23, 6) - dt.timedelta(hours=1)
    for office in ("rathaus-buero-2-14", "rathaus-buero-2-15"):
        for h in range(5 * 24):
            t = start + dt.timedelta(hours=h)
            local = t + dt.timedelta(hours=1)
            busy = 1 if local.weekday() < 5 and 8 <= local.hour < 16 and rng.random() < 0.8 else 0
            f.write("%s,occupancy,1,%sZ,%d\n" % (office, t.strftime("%Y-%m-%dT%H:%M:%S"), busy))
