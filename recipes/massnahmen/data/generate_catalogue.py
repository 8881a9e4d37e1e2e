#!/usr/bin/env python3
"""recipes/massnahmen/data/generate_catalogue.py - writes a generated,
realistic measures catalogue for the fictitious "Musterstadt" at the scale
of Leipzig's Klimastadtvertrag (about 818 partner and city measures).

Deterministic (fixed seed), so the committed massnahmen.csv can be made
again:  python3 recipes/massnahmen/data/generate_catalogue.py [N] [OUT]

Columns are the ones calc.measures reads (German header names, ';'
separated as German spreadsheets write them).  Handlungsfelder follow the
themes of a real catalogue imported into Kausal Watch (Leichlingen, see
the playbook's sources); titles, partners and numbers are invented.
Three measures are linked to the recipe's simulated meters
(room-00N/co2e) and get their achieved CO2e metered, not reported.
"""
import csv
import random
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 818
OUT = sys.argv[2] if len(sys.argv) > 2 else __file__.rsplit("/", 1)[0] + "/massnahmen.csv"
rnd = random.Random(818)

FIELDS = {
    "Kommunale Gebäude": ("62 Zentrales Gebäudemanagement", [
        "LED-Beleuchtung in der {} nachrüsten", "Heizungsoptimierung (hydraulischer Abgleich) {}",
        "Dachsanierung mit Dämmung {}", "Gebäudeleittechnik und Energiecontrolling {}",
        "Wärmepumpe statt Gaskessel in der {}"]),
    "Mobilität": ("66 Verkehrs- und Tiefbauamt", [
        "Radvorrangroute {}", "Jobticket für Beschäftigte von {}", "E-Lastenräder für {}",
        "Fahrradabstellanlagen an {}", "Umstellung des Fuhrparks von {} auf E-Fahrzeuge"]),
    "Erneuerbare Energien": ("05 Klimaschutzmanagement", [
        "PV-Anlage auf dem Dach von {}", "Mieterstrommodell {}", "Solarthermie für {}",
        "Bürgerenergie-Anlage {}", "Batteriespeicher für {}"]),
    "Bauen und Sanieren": ("61 Stadtplanungsamt", [
        "Quartierskonzept energetische Sanierung {}", "Sanierungsberatung für {}",
        "Fernwärmeanschluss {}", "Heizungstausch-Programm {}", "Dämmung oberste Geschossdecke {}"]),
    "Verwaltung": ("10 Hauptamt", [
        "Klimavorbehalt für Beschlussvorlagen {}", "Ökostrom-Beschaffung {}",
        "Green-IT: Rechenzentrum {}", "Dienstreiserichtlinie {}", "Papierlose Verwaltung {}"]),
    "Bildung und Stadtgesellschaft": ("40 Schulamt", [
        "Energiesparprojekt fifty-fifty in der {}", "Klimaschule {}", "Klimabildung in Kitas {}",
        "Repair-Café {}", "Stadtteil-Klimawerkstatt {}"]),
    "Konsum und Ernährung": ("05 Klimaschutzmanagement", [
        "Regionale Kantinenverpflegung {}", "Mehrwegsystem {}", "Leitfaden nachhaltige Beschaffung {}",
        "Foodsharing-Station {}", "Unverpackt-Angebot {}"]),
    "Wirtschaft und Gewerbe": ("80 Amt für Wirtschaftsförderung", [
        "Energieeffizienz-Netzwerk {}", "Abwärmenutzung bei {}", "Druckluft-Leckageprogramm {}",
        "Klimaneutrale Logistik {}", "Prozesswärme aus Wärmepumpe bei {}"]),
    "Klimaanpassung": ("67 Amt für Stadtgrün und Gewässer", [
        "Entsiegelung Schulhof {}", "Straßenbäume {}", "Gründach {}", "Regenwasserbewirtschaftung {}",
        "Hitzeaktionsplan {}"]),
}
PARTNERS = ["Stadtwerke Musterstadt", "Wohnungsbaugenossenschaft Lindenau eG", "Musterstädter Verkehrsbetriebe",
            "Universität Musterstadt", "Handwerkskammer", "IHK zu Musterstadt", "BUND Kreisgruppe",
            "ADFC Musterstadt", "Klinikum Musterstadt", "Messe Musterstadt GmbH", "Kreishandwerkerschaft",
            "Energiegenossenschaft Musterstadt eG", "Sparkasse Musterstadt", "Evangelische Kirchgemeinde",
            "Zoo Musterstadt", "Bäckerei Krume GmbH", "Druckerei Lettner KG", "Logistik Nord GmbH",
            "Sportverein Blau-Weiß", "Studierendenwerk", "Kulturhaus Mitte", "Stadtreinigung",
            "Wohnungsgesellschaft Musterstadt mbH", "Fahrradwerkstatt Speiche e.V."]
PLACES = ["Grundschule Am Park", "Oberschule Nord", "Gymnasium Mitte", "Rathaus", "Stadtbibliothek",
          "Feuerwache 2", "Kita Sonnenschein", "Betriebshof Ost", "Bürgerhaus Süd", "Quartier Westend",
          "Innenstadt", "Ortsteil Heide", "Gewerbegebiet Nord", "Hauptbahnhof", "Sporthalle West",
          "Werk 1", "Campus", "Depot", "Altstadt", "Stadtteil Auenwald"]
TARGETS = ["Verwaltung", "Schulen", "Bürgerinnen und Bürger", "Unternehmen", "Mieterinnen und Mieter",
           "Beschäftigte", "Hauseigentümer", "Vereine"]
CLASSES = ["hoch", "mittel", "niedrig", "indirekt", "keine"]

rows = []
for i in range(1, N + 1):
    field = rnd.choice(list(FIELDS))
    unit, titles = FIELDS[field]
    city = i <= 120  # the city's own measures (Klimaschutzkonzept), then partners
    partner = "" if city else rnd.choice(PARTNERS)
    place = rnd.choice(PLACES)
    title = rnd.choice(titles).format(place if city or rnd.random() < .5 else partner)
    ps = rnd.randint(2022, 2026)
    pe = ps + rnd.randint(1, 5)
    phase = rnd.choices(["nicht gestartet", "Planung", "Umsetzung", "abgeschlossen"], [2, 3, 5, 2])[0]
    if ps >= 2026 and phase == "abgeschlossen":
        phase = "Planung"
    status = rnd.choices(["im Zeitplan", "verzögert", "abgebrochen", ""], [12, 5, 1, 2])[0]
    if status == "abgebrochen" and phase == "abgeschlossen":
        phase = "Planung"
    done = {"nicht gestartet": 0, "Planung": rnd.randint(0, 20), "Umsetzung": rnd.randint(20, 90),
            "abgeschlossen": 100}[phase]
    started = phase in ("Umsetzung", "abgeschlossen")
    astart = "%d-%02d" % (ps + rnd.choice([0, 0, 1]), rnd.randint(1, 12)) if started else ""
    aend = "%d-%02d" % (min(pe, 2026), rnd.randint(1, 12)) if phase == "abgeschlossen" else ""
    numeric = rnd.random() < .7
    planned = round(rnd.lognormvariate(3.2, 1.1), 1) if numeric else rnd.choice(CLASSES)
    budget = rnd.choice([0, 5000, 12000, 25000, 60000, 150000, 400000, 1200000])
    spent = round(budget * done / 100 * rnd.uniform(.7, 1.2)) if budget else ""
    row = {
        "id": ("KSK-%03d" % i) if city else ("KSV-%03d" % i),
        "handlungsfeld": field,
        "titel": title,
        "beschreibung": "%s: %s (generierte Beispielmaßnahme)." % (field, title),
        "verantwortlich": unit if city else partner,
        "partner": "" if city else "%s; %s" % (partner, unit),
        "zielgruppe": rnd.choice(TARGETS),
        "status": status,
        "phase": phase,
        "fortschritt": done,
        "beginn_geplant": ps,
        "ende_geplant": pe,
        "beginn": astart,
        "ende": aend,
        "minderung_t": planned,
        "budget": budget or "",
        "ausgaben": spent,
        "indikatoren": "",
        "basisjahre": "",
        "faktor": "",
        "quelle": "Klimaschutzkonzept 2030" if city else "Klimastadtvertrag: " + partner,
        "prioritaet": rnd.choice(["hoch", "mittel", "niedrig"]),
        "erreicht_2023": "", "erreicht_2024": "", "erreicht_2025": "",
    }
    if numeric and started:
        for y in (2023, 2024, 2025):
            s = int(astart[:4])
            if y >= s:
                row["erreicht_%d" % y] = round(planned * rnd.uniform(.2, 1.1) * (1 if y > s else .5), 1)
    rows.append(row)

# The measures the playbook walks through.
rows[0].update({"titel": "LED-Beleuchtung in der Grundschule Am Park", "handlungsfeld": "Kommunale Gebäude",
                "verantwortlich": "62 Zentrales Gebäudemanagement", "phase": "abgeschlossen", "status": "im Zeitplan",
                "fortschritt": 100, "beginn_geplant": 2024, "ende_geplant": 2024, "beginn": "2024-02",
                "ende": "2024-08", "minderung_t": 1.0, "indikatoren": "room-001/co2e|room-002/co2e",
                "basisjahre": "2022-2023", "erreicht_2023": "", "erreicht_2024": "", "erreicht_2025": "",
                "budget": 38000, "ausgaben": 36500, "zielgruppe": "Schulen",
                "beschreibung": "Leuchtstoffröhren in 14 Klassenräumen durch LED ersetzt; Wirkung gemessen an den "
                                "Stromzählern der Räume (CO2e nach BISKO-Faktor)."})
rows[1].update({"titel": "Heizungstausch Sporthalle West (Gas-Brennwert auf Wärmepumpe)",
                "handlungsfeld": "Kommunale Gebäude", "phase": "Umsetzung", "status": "verzögert",
                "verantwortlich": "62 Zentrales Gebäudemanagement", "zielgruppe": "Verwaltung",
                "fortschritt": 70, "beginn_geplant": 2023, "ende_geplant": 2025, "beginn": "2024-03", "ende": "",
                "minderung_t": 85, "budget": 640000, "ausgaben": 455000, "indikatoren": "", "basisjahre": "",
                "erreicht_2023": "", "erreicht_2024": -12.5, "erreicht_2025": 61.0,
                "beschreibung": "2024 liefen Baustellenheizung und Altanlage parallel (Mehrverbrauch, negative "
                                "Wirkung); seit der Inbetriebnahme 2025 sinkt der Verbrauch."})
rows[2].update({"titel": "Radvorrangroute Nord–Süd", "handlungsfeld": "Mobilität", "phase": "Planung",
                "verantwortlich": "66 Verkehrs- und Tiefbauamt", "zielgruppe": "Bürgerinnen und Bürger",
                "budget": 2400000, "ausgaben": 180000,
                "beschreibung": "Durchgehende Radverbindung mit Vorrang an Knoten; Wirkung als Klasse geschätzt.",
                "status": "im Zeitplan", "fortschritt": 15, "beginn_geplant": 2026, "ende_geplant": 2028,
                "beginn": "", "ende": "", "minderung_t": "mittel", "erreicht_2023": "", "erreicht_2024": "",
                "erreicht_2025": ""})

cols = list(rows[0].keys())
with open(OUT, "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, fieldnames=cols, delimiter=";", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
print("%d measures -> %s" % (len(rows), OUT))
