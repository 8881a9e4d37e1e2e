#!/usr/bin/env python3
"""recipes/pv-ausbau/data/make_sample.py - writes the sample data of the
recipe for the fictitious "Musterstadt" (all numbers are estimates,
Schätzung, not measurements):

* pv-bestand.csv: the PV inventory over time in the columns the Münster
  Klimadashboard publishes from the Marktstammdatenregister
  (ZEIT,AnzahlAnlagen,AnzahlSolarModule,Bruttoleistung,Nettonennleistung;
  kW).  Growth shaped like the German expansion after 2020.
* pv-potenzial.csv: roof potential per district as a solar roof register
  (Solardachkataster) reports it, with the installed capacity per district.
* erzeugung.csv: daily production (kWh, stamped at local midnight) of five
  PV plants on municipal roofs in 2025, from typical monthly yields in
  Germany (about 950 kWh per kWp and year) with daily weather noise.
"""
import datetime as dt
import random

rng = random.Random(7)

# --- inventory ---------------------------------------------------------------
rows = [("2015-12-31", 1210, 52000, 16900, 15800)]
units, mods, gross, net = rows[0][1:]
for year, add in [(2016, 70), (2017, 80), (2018, 95), (2019, 120), (2020, 190),
                  (2021, 260), (2022, 420), (2023, 780), (2024, 910), (2025, 870)]:
    # small balcony and roof systems dominate the count, larger roofs the kW
    kw = add * rng.uniform(7.5, 9.5)
    units += add
    mods += int(kw * 2.4)
    gross += kw * 1.04
    net += kw
    rows.append(("%d-12-31" % year, units, mods, round(gross), round(net)))
with open("pv-bestand.csv", "w") as f:
    f.write("ZEIT,AnzahlAnlagen,AnzahlSolarModule,Bruttoleistung,Nettonennleistung\n")
    for r in rows:
        f.write("%s,%d,%d,%d,%d\n" % r)

# --- potential per district --------------------------------------------------
districts = [("altstadt", 410000, 0.55), ("nordviertel", 620000, 0.72),
             ("suedstadt", 540000, 0.68), ("gewerbegebiet-ost", 890000, 0.81),
             ("am-see", 260000, 0.60), ("weststadt", 480000, 0.66)]
total_net = rows[-1][4]
weights = [rng.uniform(0.6, 1.4) * d[1] for d in districts]
with open("pv-potenzial.csv", "w") as f:
    f.write("Stadtteil,DachflaecheSehrGeeignet_m2,Potenzial_kWp,Potenzial_MWh_a,Installiert_kWp\n")
    for (name, m2, share), w in zip(districts, weights):
        kwp = m2 * share / 6.0            # about 6 m² of roof per kWp
        inst = total_net * w / sum(weights)
        f.write("%s,%d,%d,%d,%d\n" % (name, m2, kwp, kwp * 0.92, inst))

# --- daily production of municipal plants ------------------------------------
plants = [("pv-rathaus", 30), ("pv-gymnasium", 99), ("pv-grundschule-nord", 45),
          ("pv-sporthalle", 60), ("pv-feuerwehr", 25)]
per_kwp = [0.8, 1.5, 2.6, 3.9, 4.6, 4.8, 4.8, 4.1, 3.0, 1.9, 0.9, 0.6]
with open("erzeugung.csv", "w") as f:
    f.write("thing,property,unit,time,value\n")
    day = dt.date(2025, 1, 1)
    while day.year == 2025:
        weather = rng.choice([0.25, 0.5, 0.8, 1.0, 1.1, 1.2, 1.25])
        # local midnight in UTC: CEST (+2) from 31 March to 26 October (the
        # clocks change at 02:00 / 03:00 on 30 March and 26 October)
        summer = dt.date(2025, 3, 31) <= day <= dt.date(2025, 10, 26)
        t = dt.datetime(day.year, day.month, day.day) - dt.timedelta(hours=2 if summer else 1)
        for name, kwp in plants:
            kwh = kwp * per_kwp[day.month - 1] * weather * rng.uniform(0.95, 1.05)
            f.write("%s,energy,kW.h,%sZ,%.2f\n" % (name, t.strftime("%Y-%m-%dT%H:%M:%S"), kwh))
        day += dt.timedelta(days=1)
