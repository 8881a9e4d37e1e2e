#!/usr/bin/env python3
"""recipes/klima-challenges/data/make_sample.py - writes the sample data of
the klima-challenges recipe (deterministic):

  teilnehmende.csv   pseudonymous participants: id;team;team_type;district;opt_in
  radkilometer.csv   rides in a Stadtradeln-like CSV (thing = pseudonym,
                     property cycling_km, unit km, time, value)
  aktionen.jsonl     actions as JSON readings (property action_initiative)

Pseudonyms are random hex, as an app or a registration form hands them
out; nothing here names a person.  Energy readings are simulated by the
recipe itself (source.simulate, renamed to the first 12 pseudonyms).
"""
import json
import os
import random

rnd = random.Random(2026)
here = os.path.dirname(os.path.abspath(__file__))
TEAMS = [("Klasse 7b Oberschule Nord", "school_class", "Nord", 9),
         ("Klasse 9a Gymnasium Mitte", "school_class", "Mitte", 8),
         ("Klasse 4c Grundschule Am Park", "school_class", "Süd", 6),
         ("Stadtwerke Musterstadt", "company", "Mitte", 7),
         ("Wohnungsgenossenschaft Lindenau", "company", "Lindenau", 5),
         ("Bäckerei Krume", "company", "Lindenau", 2),
         ("Sportverein Blau-Weiß", "club", "Süd", 5)]
people = []
for team, kind, district, n in TEAMS:
    for _ in range(n):
        pid = "p-%06x" % rnd.getrandbits(24)
        people.append((pid, team, kind, district, "ja" if rnd.random() > .12 else "nein"))
# The first twelve (the simulated meters) take part, whatever the dice say.
people = [(p[0], p[1], p[2], p[3], "ja" if i < 12 else p[4]) for i, p in enumerate(people)]
with open(os.path.join(here, "teilnehmende.csv"), "w", encoding="utf-8") as f:
    f.write("id;team;team_type;district;opt_in\n")
    for p in people:
        f.write(";".join(p) + "\n")
with open(os.path.join(here, "radkilometer.csv"), "w", encoding="utf-8") as f:
    f.write("thing,property,unit,time,value\n")
    for p in people:
        if rnd.random() < .3:
            continue
        day = 14
        while day < 35:  # 14 Sept - 4 Oct: a three-week campaign window
            day += rnd.randint(1, 4)
            if day >= 35:
                break
            m, d = (9, day) if day <= 30 else (10, day - 30)
            f.write("%s,cycling_km,km,2026-%02d-%02dT%02d:%02d:00Z,%.1f\n"
                    % (p[0], m, d, rnd.randint(6, 19), rnd.randint(0, 59), rnd.uniform(2, 18)))
with open(os.path.join(here, "aktionen.jsonl"), "w", encoding="utf-8") as f:
    for p in people:
        for _ in range(rnd.choice([0, 0, 1, 1, 2])):
            f.write(json.dumps({"thing": p[0], "property": "action_initiative", "unit": "1",
                                "time": "2026-10-%02dT15:00:00Z" % rnd.randint(1, 31), "value": 1}) + "\n")
print("%d participants" % len(people))
print("METERS = { %s }" % ", ".join('"%s"' % p[0] for p in people[:12]))
