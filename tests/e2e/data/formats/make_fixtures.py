#!/usr/bin/env python3
"""tests/e2e/data/formats/make_fixtures.py - writes the fixtures of the
open-data decoders (decode.uba, decode.telraam, decode.sensorthings,
decode.dwd) and, for each, the readings klimakit must make of them
(expected_<x>.json: every reading as thing, property, unit, ISO time,
value, and the rejections by reason).

Run from the repository root: python3 tests/e2e/data/formats/make_fixtures.py
The files it writes are committed; README.md in this folder says which
documented shape each one follows.  The times here are computed with
Python's datetime (a fixed UTC+1 for the UBA's CET), independently of the
C code under test.
"""
import io, json, math, os, zipfile
from datetime import datetime, timedelta, timezone

D = os.path.dirname(os.path.abspath(__file__))
CET = timezone(timedelta(hours=1))
UTC = timezone.utc


def iso(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def write(name, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(D, name), mode) as f:
        f.write(data)


def dump(name, obj):
    write(name, json.dumps(obj, ensure_ascii=False, indent=1) + "\n")


def expect(name, readings, rejected):
    dump("expected_" + name + ".json", {"readings": readings, "rejected": rejected})


def R(thing, prop, unit, t, v):
    return {"thing": thing, "property": prop, "unit": unit, "time": iso(t), "value": v}


# ---- UBA air data API v3 -------------------------------------------------
def cet(s):  # "YYYY-MM-DD HH:MM:SS" in CET, 24:00:00 allowed
    day, hms = s.split(" ")
    if hms == "24:00:00":
        return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=CET) + timedelta(days=1)
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CET)


def cetfmt(dt):
    s = dt.astimezone(CET).strftime("%Y-%m-%d %H:%M:%S")
    return s


# The OpenAPI example of measures/json, as an array.
uba_docs = {"request": {"station": "7", "component": "1", "date_from": "2019-01-01",
                        "date_to": "2019-01-01", "time_from": 1, "time_to": 1,
                        "lang": "de", "index": "id", "datetime_from": "2019-01-01 00:00:00",
                        "datetime_to": "2019-01-01 01:00:00"},
            "indices": {"data": {"station id": {"date start": ["component id", "scope id", "value",
                                                               "date end", "index"]}}},
            "data": {"7": {"2019-01-01 00:00:00": [1, 6, 17.1, "2019-01-01 01:00:00", None]}}}
dump("uba_measures_docs.json", uba_docs)
expect("uba_docs", [R("uba-7", "pm10_scope6", "ug/m3", cet("2019-01-01 00:00:00"), 17.1)], {})

dump("uba_components_docs.json", {
    "count": 7,
    "indices": ["component id", "component code", "component symbol", "component unit",
                "component name"],
    "1": ["1", "PM10", "PM₁₀", "µg/m³", "Feinstaub"],
    "2": ["2", "CO", "CO", "mg/m³", "Kohlenmonoxid"],
    "3": ["3", "O3", "O₃", "µg/m³", "Ozon"],
    "4": ["4", "SO2", "SO₂", "µg/m³", "Schwefeldioxid"],
    "5": ["5", "NO2", "NO₂", "µg/m³", "Stickstoffdioxid"],
    "8": ["8", "CHB", "C₆H₆", "µg/m³", "Benzol"],
    "9": ["9", "PM2", "PM₂,₅", "µg/m³", "Feinstaub"]})

dump("uba_stations_docs.json", {
    "request": {"lang": "de", "index": "id"},
    "indices": ["station id", "station code", "station name", "station city", "station synonym",
                "station active from", "station active to", "station longitude",
                "station latitude", "network id", "station setting id", "station type id",
                "network code", "network name", "station setting name",
                "station setting short name", "station type name", "station street",
                "station street nr", "station zip code"],
    "data": {"7": ["7", "DEBB007", "Elsterwerda, 1992-2020", "Elsterwerda", "ELBA",
                   "1992-09-01", None, "13.5268", "51.4627", "4", "2", "1", "BB",
                   "Brandenburg", "vorstädtisches Gebiet", "vorstädtisch", "Hintergrund",
                   "Lauchhammerstr.", "", "04910"]},
    "count": 1})

# A realistic summer day (CET, not CEST: 00:00 CET is 23:00 UTC the day
# before) at station 282, one response per component as the documented
# query asks for (component=5, component=3, component=1&scope=1).
day = "2026-07-15"
no2 = [31, 28, 24, 21, 19, None, 27, 41, 52, 47, 38, 33, 30, 29, 31, 34, 40, 49,
       55, 51, 44, 39, 36, 33]
o3 = [52, 48, 45, 44, 40, 38, 41, 55, 68, 82, 97, 110, 121, 128, 133, 135, 131,
      122, 108, 90, 77, 69, 63, 58]
readings, rej = [], {"missing_value": 1}


def hourly(code, scope, values, prop, unit):
    data = {}
    for h, v in enumerate(values):
        start = "%s %02d:00:00" % (day, h)
        end = "%s %02d:00:00" % (day, h + 1)
        data[start] = [code, scope, v, end, None if v is None else (1 if v < 40 else 2)]
        if v is not None:
            readings.append(R("uba-282", prop, unit, cet(start), v))
    return {"request": {"station": "282", "component": str(code), "scope": str(scope),
                        "date_from": day, "date_to": day, "time_from": 1, "time_to": 24},
            "indices": {"data": {"station id": {"date start": ["component id", "scope id",
                                                                "value", "date end",
                                                                "index"]}}},
            "data": {"282": data}}


dump("uba_day_no2.json", hourly(5, 2, no2, "no2", "ug/m3"))
dump("uba_day_o3.json", hourly(3, 2, o3, "o3", "ug/m3"))
start, end = day + " 00:00:00", day + " 24:00:00"
dump("uba_day_pm10.json", {
    "request": {"station": "282", "component": "1", "scope": "1", "date_from": day,
                "date_to": day},
    "indices": {"data": {"station id": {"date start": ["component id", "scope id", "value",
                                                       "date end", "index"]}}},
    "data": {"282": {start: [1, 1, 18.4, end, 1]}}})
readings.append(R("uba-282", "pm10_day_mean", "ug/m3", cet(start), 18.4))
expect("uba_day", readings, rej)

# ---- Telraam reports/traffic ---------------------------------------------
tel_docs = {"status_code": 200, "message": "ok", "report": [{
    "instance_id": -1, "segment_id": 348917, "date": "2020-10-30T07:00:00.000Z",
    "interval": "hourly", "uptime": 0.73, "heavy": 78.08, "car": 619.18, "bike": 263.01,
    "pedestrian": 72.6, "heavy_lft": 52.05, "heavy_rgt": 26.03, "car_lft": 202.74,
    "car_rgt": 416.44, "bike_lft": 156.16, "bike_rgt": 106.85, "pedestrian_lft": 41.1,
    "pedestrian_rgt": 31.51, "direction": 1, "timezone": "Europe/Brussels",
    "car_speed_hist_0to70plus": [3.5, 12.6, 40.2, 33.1, 8.3, 1.6, 0.5, 0.2],
    "car_speed_hist_0to120plus": [0.4] * 25, "v85": 41.5}]}
dump("telraam_docs.json", tel_docs)
t0 = datetime(2020, 10, 30, 7, tzinfo=UTC)
COUNTS = ["heavy", "car", "bike", "pedestrian", "heavy_lft", "heavy_rgt", "car_lft",
          "car_rgt", "bike_lft", "bike_rgt", "pedestrian_lft", "pedestrian_rgt"]
rd = [R("telraam-348917", "uptime", "1", t0, 0.73)]
rd += [R("telraam-348917", "count_" + k, "1", t0, tel_docs["report"][0][k]) for k in COUNTS]
rd.append(R("telraam-348917", "car_speed_v85", "km/h", t0, 41.5))
expect("telraam_docs", rd, {})

# A day of segment 9000002156: Telraam counts in daylight only, so the
# night hours come with uptime 0 (and, from 21:00, an uptime below 0.5).
rep, rd, low = [], [], 0
seen = {"car": [0, 0, 0, 0, 0, 2, 18, 61, 95, 70, 58, 55, 60, 63, 66, 81, 97, 88, 64, 40, 22, 6, 0, 0],
        "bike": [0, 0, 0, 0, 0, 1, 9, 37, 52, 30, 21, 19, 24, 22, 26, 35, 49, 41, 30, 17, 8, 2, 0, 0],
        "heavy": [0, 0, 0, 0, 0, 0, 3, 7, 9, 8, 8, 7, 7, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0],
        "pedestrian": [0, 0, 0, 0, 0, 0, 4, 15, 20, 18, 22, 30, 35, 28, 24, 26, 31, 27, 19, 12, 5, 1, 0, 0]}
uptime = [0, 0, 0, 0, 0, 0.31, 0.62, 0.8, 0.82, 0.81, 0.8, 0.79, 0.8, 0.81, 0.8, 0.8,
          0.79, 0.8, 0.78, 0.71, 0.6, 0.42, 0, 0]
for h in range(24):
    t = datetime(2026, 6, 2, h, tzinfo=UTC)
    e = {"instance_id": -1, "segment_id": 9000002156,
         "date": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "interval": "hourly",
         "uptime": uptime[h]}
    for k in ("heavy", "car", "bike", "pedestrian"):
        tot = round(seen[k][h] / uptime[h], 2) if uptime[h] else 0
        lft = round(tot * 0.45, 2)
        e[k], e[k + "_lft"], e[k + "_rgt"] = tot, lft, round(tot - lft, 2)
    e.update({"direction": 1, "timezone": "Europe/Berlin",
              "car_speed_hist_0to70plus": [0.0] * 8, "car_speed_hist_0to120plus": [0.0] * 25,
              "v85": 46.5 if uptime[h] else None})
    rep.append(e)
    if uptime[h] < 0.5:
        low += 12 + (1 if e["v85"] is not None else 0)
        continue
    rd.append(R("telraam-9000002156", "uptime", "1", t, uptime[h]))
    for k in COUNTS:
        rd.append(R("telraam-9000002156", "count_" + k, "1", t, e[k]))
    rd.append(R("telraam-9000002156", "car_speed_v85", "km/h", t, 46.5))
dump("telraam_day.json", {"status_code": 200, "message": "ok", "report": rep})
expect("telraam_day", rd, {"low_uptime": low})

# ---- SensorThings Observations (FROST) -----------------------------------
ds_t = {"@iot.id": 7, "name": "Lufttemperatur Rathaus",
        "description": "Air temperature at the town hall roof",
        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        "unitOfMeasurement": {"name": "degree Celsius", "symbol": "°C",
                              "definition": "http://unitsofmeasure.org/ucum.html#para-30"},
        "Thing": {"@iot.id": 3, "name": "Rathaus", "description": "Town hall"},
        "ObservedProperty": {"@iot.id": 1, "name": "Air Temperature",
                             "definition": "http://dbpedia.org/page/Temperature"}}
ds_s = dict(ds_t, **{"@iot.id": 8, "name": "Status Rathaus",
                     "unitOfMeasurement": {"name": None, "symbol": None, "definition": None},
                     "ObservedProperty": {"@iot.id": 2, "name": "Status"}})
sta_docs = {"@iot.count": 3, "value": [
    {"@iot.id": 101, "@iot.selfLink": "http://sta.example/v1.1/Observations(101)",
     "phenomenonTime": "2026-03-01T10:00:00.000Z", "resultTime": "2026-03-01T10:00:05.000Z",
     "result": 8.5, "Datastream": ds_t},
    {"@iot.id": 102, "@iot.selfLink": "http://sta.example/v1.1/Observations(102)",
     "phenomenonTime": "2026-03-01T10:00:00.000Z/2026-03-01T11:00:00.000Z",
     "resultTime": "2026-03-01T11:00:02.000Z", "result": 9.25, "Datastream": ds_t},
    {"@iot.id": 103, "@iot.selfLink": "http://sta.example/v1.1/Observations(103)",
     "phenomenonTime": "2026-03-01T11:00:00.000Z", "resultTime": None,
     "result": "ok", "Datastream": ds_s}]}
dump("sta_docs.json", sta_docs)
expect("sta_docs", [
    R("sta-3", "air_temperature", "Cel", datetime(2026, 3, 1, 10, tzinfo=UTC), 8.5),
    R("sta-3", "air_temperature", "Cel", datetime(2026, 3, 1, 11, tzinfo=UTC), 9.25)],
    {"non_numeric_result": 1})

# A day of hourly bicycle counts read from /Datastreams(4711)/Observations
# (no Datastream member: the id comes from the URL), two pages of 12.
bikes = [2, 1, 0, 0, 1, 6, 38, 121, 164, 88, 61, 57, 66, 70, 74, 102, 158, 171, 119, 73, 44, 26, 13, 5]
rd = []
for page in (0, 1):
    vals = []
    for h in range(page * 12, page * 12 + 12):
        a = datetime(2026, 5, 12, h, tzinfo=UTC)
        b = a + timedelta(hours=1)
        vals.append({"@iot.id": 90000 + h,
                     "phenomenonTime": a.strftime("%Y-%m-%dT%H:%M:%SZ") + "/" +
                                       b.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "resultTime": b.strftime("%Y-%m-%dT%H:%M:%SZ"), "result": bikes[h]})
        rd.append(R("radzaehler-12", "count_bike", "1", b, bikes[h]))
    doc = {"value": vals}
    if page == 0:
        doc["@iot.nextLink"] = ("http://127.0.0.1/v1.1/Datastreams(4711)/Observations"
                                "?$orderby=phenomenonTime&$top=12&$skip=12")
    dump("sta_day_page%d.json" % (page + 1), doc)
expect("sta_day", rd, {})

# ---- DWD -------------------------------------------------------------------
KL = ("STATIONS_ID;MESS_DATUM;QN_3;  FX;  FM;QN_4; RSK;RSKF; SDK;SHK_TAG;  NM; VPM;  PM; "
      "TMK; UPM; TXK; TNK; TGK;eor")
KLP = [("FX", "wind_gust_max", "m/s"), ("FM", "wind_speed_mean", "m/s"),
       (None, None, None), ("RSK", "precipitation", "mm"),
       ("RSKF", "precipitation_form", "1"), ("SDK", "sunshine_duration", "h"),
       ("SHK_TAG", "snow_depth", "cm"), ("NM", "cloud_cover", "{octa}"),
       ("VPM", "vapour_pressure", "hPa"), ("PM", "air_pressure", "hPa"),
       ("TMK", "air_temperature_mean", "Cel"), ("UPM", "relative_humidity", "%"),
       ("TXK", "air_temperature_max", "Cel"), ("TNK", "air_temperature_min", "Cel"),
       ("TGK", "air_temperature_ground_min", "Cel")]


def kl_expect(lines, rd, rej):
    for ln in lines:
        f = [x.strip() for x in ln.split(";")]
        stid, date = str(int(f[0])), f[1]
        t = datetime.strptime(date, "%Y%m%d").replace(tzinfo=UTC)
        for (col, prop, unit), val in zip(KLP, f[3:18]):
            if col is None:
                continue  # QN_4
            if float(val) == -999:
                rej["missing_value"] = rej.get("missing_value", 0) + 1
                continue
            rd.append(R("dwd-" + stid, prop, unit, t, float(val)))


docs_line = ("       1358;19101210;-999;-999;-999;    1;   0.0;   0;-999;  90;   3.3;   7.2;"
             "  863.60;    3.8;   90.00;    5.4;    1.0;-999;eor")
write("produkt_klima_tag_docs.txt", (KL + "\r\n" + docs_line + "\r\n").encode("latin-1"))
rd, rej = [], {}
kl_expect([docs_line], rd, rej)
expect("dwd_docs", rd, rej)

# Two recent weeks of Fichtelberg (station 01358) as the server ships them:
# a zip with the product file and a metadata file.
rows = []

for i in range(14):
    t = datetime(2026, 7, 1) + timedelta(days=i)
    tmk = round(11.0 + 3 * math.sin(i / 2.0), 1)
    rows.append("%11d;%s;%4d;%5.1f;%5.1f;%4d;%6.1f;%4d;%6.3f;%4d;%5.1f;%5.1f;%7.2f;%6.1f;%7.2f;%6.1f;%6.1f;%6.1f;eor" % (
        1358, t.strftime("%Y%m%d"), 10, 14.0 + i % 5, 4.2 + (i % 3) / 10, 3,
        (i * 1.7) % 9, 6 if i % 4 else 0, 4.5 + i % 6, 0, 5.1 + (i % 3), 11.3,
        880.5 + i / 10, tmk, 82.0 + i % 7, round(tmk + 4.1, 1), round(tmk - 3.9, 1),
        -999 if i == 5 else round(tmk - 5.2, 1)))
z = io.BytesIO()


def member(name):  # a fixed date, so that the archive is reproducible
    zi = zipfile.ZipInfo(name, date_time=(2026, 7, 15, 4, 0, 0))
    zi.compress_type = zipfile.ZIP_DEFLATED
    return zi


with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
    zf.writestr(member("Metadaten_Geographie_01358.txt"),
                ("Stations_id;Stationshoehe;Geogr.Breite;Geogr.Laenge;von_datum;bis_datum;Stationsname\r\n"
                 " 1358;1213.00;50.4283;12.9535;19000101;;Fichtelberg\r\n").encode("latin-1"))
    zf.writestr(member("produkt_klima_tag_20260701_20260714_01358.txt"),
                (KL + "\r\n" + "\r\n".join(rows) + "\r\n").encode("latin-1"))
write("tageswerte_KL_01358_akt.zip", z.getvalue())
rd, rej = [], {}
kl_expect(rows, rd, rej)
expect("dwd_day", rd, rej)

# Monthly degree days: a preamble, the #ID header, one line per station
# (station names in Latin-1).
gt = ("Gradtage nach VDI 3807 (Heizgrenze 15 Grad C, Raumtemperatur 20 Grad C)\r\n"
      "Monat: 202601\r\n"
      "Quelle: Deutscher Wetterdienst\r\n"
      "#ID;Station;geogr. Breite;geogr. Laenge;Monat;Anzahl Tage;Monatsgradtage;Anzahl Heiztage\r\n"
      "   00044;Großenkneten;52.9336;8.2370;202601;31;  512.4;31\r\n"
      "   01358;Fichtelberg;50.4283;12.9535;202601;31;  781.0;31\r\n"
      "   03987;Potsdam;52.3813;13.0622;202601;30;  561.9;30\r\n"
      "   05792;Zugspitze;47.4210;10.9848;202601;-999;-999;-999\r\n")
write("gradtage_202601.csv", gt.encode("latin-1"))
t = datetime(2026, 1, 1, tzinfo=UTC)
rd = []
for st, days, hdd, hd in (("44", 31, 512.4, 31), ("1358", 31, 781.0, 31), ("3987", 30, 561.9, 30)):
    rd += [R("dwd-" + st, "temperature_days", "d", t, days),
           R("dwd-" + st, "heating_degree_days", "K.d", t, hdd),
           R("dwd-" + st, "heating_days", "d", t, hd)]
expect("dwd_gradtage", rd, {"missing_value": 3})
