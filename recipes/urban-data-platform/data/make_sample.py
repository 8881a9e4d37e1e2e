#!/usr/bin/env python3
"""recipes/urban-data-platform/data/make_sample.py - writes the sample data
of the urban data platform recipe, three days (23-25 November 2026) of the
sectors Hagen's klimakommune.digital names (estimates, Schätzung):

* industrie.csv: hourly electricity and natural gas of an industrial
  partner (kW.h per hour);
* waerme.csv: hourly heat fed into a district-heating network (kW.h) and
  its supply temperature (Cel);
* klimaanpassung.csv: water level of two streams every 15 minutes (cm; a
  flood wave on the second day on one of them) and the soil moisture at
  two street trees every hour (%, drying out).
Traffic comes from the verkehr-co2 recipe's sample, buildings from
source.simulate.
"""
import datetime as dt
import math
import random

rng = random.Random(21)
START = dt.datetime(2026, 11, 22, 23, tzinfo=dt.timezone.utc)  # 23.11. 00:00 CET


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


with open("industrie.csv", "w") as f:
    f.write("thing,property,unit,time,value\n")
    for h in range(72):
        t = START + dt.timedelta(hours=h)
        local = (t + dt.timedelta(hours=1)).hour
        shift = 1.0 if 6 <= local < 22 else 0.55
        f.write("industrie-partner-strom,energy,kW.h,%s,%.1f\n" % (stamp(t), 2400 * shift * rng.uniform(0.93, 1.07)))
        f.write("industrie-partner-gas,energy,kW.h,%s,%.1f\n" % (stamp(t), 5200 * shift * rng.uniform(0.9, 1.1)))

with open("waerme.csv", "w") as f:
    f.write("thing,property,unit,time,value\n")
    for h in range(72):
        t = START + dt.timedelta(hours=h)
        local = (t + dt.timedelta(hours=1)).hour
        load = 0.75 + 0.25 * math.sin(math.pi * (local - 3) / 12) ** 2
        f.write("fernwaerme-mitte,energy,kW.h,%s,%.1f\n" % (stamp(t), 3100 * load * rng.uniform(0.95, 1.05)))
        f.write("fernwaerme-mitte,supply_temperature,Cel,%s,%.1f\n" % (stamp(t), 88 + 6 * load + rng.uniform(-1, 1)))

with open("klimaanpassung.csv", "w") as f:
    f.write("thing,property,unit,time,value\n")
    for q in range(72 * 4):
        t = START + dt.timedelta(minutes=15 * q)
        hours = q / 4.0
        # a flood wave on the Nahmerbach peaking on 24.11. around 14:00 local
        wave = 95 * math.exp(-((hours - 37) / 5.0) ** 2)
        f.write("pegel-nahmerbach,water_level,cm,%s,%.1f\n" % (stamp(t), 48 + wave + rng.uniform(-1.5, 1.5)))
        f.write("pegel-volme-eckesey,water_level,cm,%s,%.1f\n" % (stamp(t), 92 + 12 * math.exp(-((hours - 40) / 8.0) ** 2) + rng.uniform(-2, 2)))
        if q % 4 == 0:
            f.write("baum-friedrich-ebert-platz-3,soil_moisture,%%,%s,%.1f\n" % (stamp(t), max(8.0, 31 - hours * 0.22 + rng.uniform(-0.5, 0.5))))
            f.write("baum-volkspark-12,soil_moisture,%%,%s,%.1f\n" % (stamp(t), 42 - hours * 0.08 + rng.uniform(-0.5, 0.5)))
