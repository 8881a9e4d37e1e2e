/* tests/unit/test_formats.c - the open-data decoders (decode.uba,
 * decode.telraam, decode.sensorthings, decode.dwd) fed raw messages as
 * source.http_poll hands them on, against the fixtures in
 * tests/e2e/data/formats/ and the readings make_fixtures.py computed for
 * them (expected_<x>.json: every reading's thing, property, unit, time and
 * value, and the rejections by reason). */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "kk_test.h"
#include "../support/stage_kit.h"

#define DATA "tests/e2e/data/formats/"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) KK__FAIL("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)n + 1);
  if (fread(p, 1, (size_t)n, f) != (size_t)n) KK__FAIL("read %s", path);
  p[n] = '\0';
  fclose(f);
  if (len) *len = (size_t)n;
  return p;
}

static uint64_t seq;

/* Hands `len` bytes to the stage as one raw message with the meta
 * source.http_poll writes. */
static void feed_raw(kk_stage_t *st, const char *url, const void *data,
                     size_t len) {
  char meta[600];
  snprintf(meta, sizeof meta,
           "{\"url\":\"%s\",\"status\":\"200\",\"from\":\"\",\"to\":\"\","
           "\"page\":\"1\"}",
           url);
  kk_batch_t *b = kk_batch_new(1);
  seq++;
  if (kk_batch_push_raw(b, seq, 1767225600000LL, 0, meta, data, len))
    KK__FAIL("push_raw");
  kk_batch_set_seq(b, seq);
  sk_feed_batch(st, b, NULL);
  kk_batch_unref(b);
}

static void feed_file(kk_stage_t *st, const char *url, const char *file) {
  char path[256];
  size_t len;
  snprintf(path, sizeof path, DATA "%s", file);
  char *p = slurp(path, &len);
  feed_raw(st, url, p, len);
  free(p);
}

static void feed_str(kk_stage_t *st, const char *url, const char *s) {
  feed_raw(st, url, s, strlen(s));
}

/* Every reason a decoder here counts: those not in the expectation must
 * be 0. */
static const char *const reasons[] = {"parse",
                                      "missing_value",
                                      "not_a_number",
                                      "bad_time",
                                      "bad_record",
                                      "unknown_component",
                                      "low_uptime",
                                      "missing_uptime",
                                      "api_error",
                                      "non_numeric_result",
                                      "no_datastream",
                                      "unknown_unit",
                                      "unknown_quantity",
                                      "bad_row",
                                      "too_large",
                                      "low_quality",
                                      "not_finite",
                                      NULL};

/* Compares what the stage emitted with expected_<name>.json: the same
 * number of readings, each expected one present with its value, and the
 * rejections by reason. */
static void check_expected(kk_stage_t *st, const char *name) {
  char path[256];
  snprintf(path, sizeof path, DATA "expected_%s.json", name);
  char *txt = slurp(path, NULL);
  cJSON *root = cJSON_Parse(txt);
  free(txt);
  KK_CHECK(root != NULL);
  const cJSON *rd = cJSON_GetObjectItem(root, "readings");
  KK_CHECK_INT(sk_ngot, ==, (size_t)cJSON_GetArraySize(rd));
  const cJSON *r;
  cJSON_ArrayForEach(r, rd) {
    const char *thing = cJSON_GetObjectItem(r, "thing")->valuestring;
    const char *prop = cJSON_GetObjectItem(r, "property")->valuestring;
    const char *unit = cJSON_GetObjectItem(r, "unit")->valuestring;
    const char *ts = cJSON_GetObjectItem(r, "time")->valuestring;
    double v = cJSON_GetObjectItem(r, "value")->valuedouble;
    int64_t t;
    KK_CHECK(kk_time_parse_iso8601(ts, strlen(ts), &t) == 0);
    uint32_t ds = sk_ds(thing, prop, unit);
    size_t at = 0;
    for (size_t i = 0; i < sk_ngot; i++)
      at += sk_got[i].ds == ds && sk_got[i].time_ms == t;
    if (at != 1)
      KK__FAIL("%s: %s/%s/%s: %zu readings at %s, expected one", name, thing,
               prop, unit, at, ts);
    double got = sk_value(ds, t);
    if (!(fabs(got - v) <= 1e-9 * fmax(1, fabs(v))))
      KK__FAIL("%s: %s/%s at %s: got %.17g, expected %.17g", name, thing, prop,
               ts, got, v);
  }
  const cJSON *rej = cJSON_GetObjectItem(root, "rejected");
  for (size_t i = 0; reasons[i]; i++) {
    const cJSON *n = cJSON_GetObjectItem(rej, reasons[i]);
    int64_t want = n ? (int64_t)n->valuedouble : 0;
    if (sk_rejected(st, reasons[i]) != want)
      KK__FAIL("%s: kk_rejected_total{reason=%s} = %lld, expected %lld", name,
               reasons[i], (long long)sk_rejected(st, reasons[i]),
               (long long)want);
  }
  cJSON_Delete(root);
}

static int64_t iso(const char *s) {
  int64_t t;
  if (kk_time_parse_iso8601(s, strlen(s), &t)) KK__FAIL("time %s", s);
  return t;
}

/* ---- UBA ----------------------------------------------------------------- */

#define UBA_URL "http://127.0.0.1/api/air_data/v3/measures/json"

KK_TEST(uba_docs_example) {
  kk_stage_t *st = sk_stage("decode.uba", "{}");
  feed_file(st, UBA_URL, "uba_measures_docs.json");
  check_expected(st, "uba_docs");
}

KK_TEST(uba_realistic_day) {
  kk_stage_t *st = sk_stage("decode.uba", "{}");
  feed_file(st, UBA_URL, "uba_day_no2.json");
  feed_file(st, UBA_URL, "uba_day_o3.json");
  feed_file(st, UBA_URL, "uba_day_pm10.json");
  /* metadata responses store nothing and reject nothing */
  feed_file(st, "http://127.0.0.1/api/air_data/v3/stations/json",
            "uba_stations_docs.json");
  feed_file(st, "http://127.0.0.1/api/air_data/v3/components/json",
            "uba_components_docs.json");
  check_expected(st, "uba_day");
  KK_CHECK_INT(kk_metric_value(
                   kk_stage_counter(st, "kk_uba_stations_total", NULL, NULL)),
               ==, 1);
}

KK_TEST(uba_cet_is_utc_plus_one_all_year) {
  kk_stage_t *st = sk_stage("decode.uba", "{ time = 'end' }");
  /* summer and winter: both one hour before UTC; 24:00:00 is midnight */
  feed_str(st, UBA_URL,
           "{\"data\":{\"9\":{\"2026-07-01 23:00:00\":[5,2,20,\"2026-07-01 "
           "24:00:00\",1],\"2026-01-01 00:00:00\":[5,2,30,\"2026-01-01 "
           "01:00:00\",1]}}}");
  uint32_t ds = sk_ds("uba-9", "no2", "ug/m3");
  KK_CHECK_DBL(sk_value(ds, iso("2026-07-01T23:00:00Z")), 20, 0);
  KK_CHECK_DBL(sk_value(ds, iso("2026-01-01T00:00:00Z")), 30, 0);
  KK_CHECK_INT(sk_ngot, ==, 2);
}

KK_TEST(uba_components_learned_and_mapped) {
  kk_stage_t *st =
      sk_stage("decode.uba", "{ map = { NO2 = 'nitrogen_dioxide:ug/m3' } }");
  const char *chb = "{\"data\":{\"282\":{\"2026-07-15 00:00:00\":[8,1,0.8,"
                    "\"2026-07-15 24:00:00\",null]}}}";
  feed_str(st, UBA_URL, chb);
  KK_CHECK_INT(sk_ngot, ==, 0);
  KK_CHECK_INT(sk_rejected(st, "unknown_component"), ==, 1);
  feed_file(st, "http://127.0.0.1/components/json", "uba_components_docs.json");
  feed_str(st, UBA_URL, chb);
  KK_CHECK_DBL(sk_value(sk_ds("uba-282", "chb_day_mean", "ug/m3"),
                        iso("2026-07-14T23:00:00Z")),
               0.8, 0);
  feed_str(st, UBA_URL,
           "{\"data\":{\"282\":{\"2026-07-15 00:00:00\":[5,2,31,"
           "\"2026-07-15 01:00:00\",1]}}}");
  KK_CHECK_DBL(sk_value(sk_ds("uba-282", "nitrogen_dioxide", "ug/m3"),
                        iso("2026-07-14T23:00:00Z")),
               31, 0);
  KK_CHECK_INT(sk_ngot, ==, 2);
}

KK_TEST(uba_bad_input_is_counted) {
  kk_stage_t *st = sk_stage("decode.uba", "{}");
  feed_str(st, UBA_URL, "{\"data\":{\"1\":{}},\"data\":{}}"); /* dup key */
  feed_str(st, UBA_URL, "{\"data\":{}} x");                   /* trailing */
  feed_str(st, UBA_URL, "[1,2]");
  KK_CHECK_INT(sk_rejected(st, "parse"), ==, 3);
  feed_str(st, UBA_URL,
           "{\"data\":{\"1\":{\"2026-07-15 25:00:00\":[5,2,1,\"x\",1],"
           "\"2026-07-15 01:00:00\":[5,2,\"n/a\",\"2026-07-15 02:00:00\",1],"
           "\"2026-07-15 02:00:00\":[77,2,1,\"2026-07-15 03:00:00\",1],"
           "\"2026-07-15 03:00:00\":[5,2],"
           "\"2026-07-15 04:00:00\":[5,2,1e999,\"2026-07-15 05:00:00\",1],"
           "\"2026-07-15 05:00:00\":[5,2,7,\"2026-07-15 06:00:00\",1],"
           /* found by fuzz_uba: an id outside int's range */
           "\"2026-07-15 06:00:00\":[3.7e20,2,1,\"2026-07-15 07:00:00\",1]}}}");
  KK_CHECK_INT(sk_rejected(st, "bad_time"), ==, 1);
  /* "n/a", and 1e999 (cJSON reads it as infinity) */
  KK_CHECK_INT(sk_rejected(st, "not_a_number"), ==, 2);
  KK_CHECK_INT(sk_rejected(st, "unknown_component"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "bad_record"), ==, 2);
  KK_CHECK_INT(sk_ngot, ==, 1);
  KK_CHECK_DBL(
      sk_value(sk_ds("uba-1", "no2", "ug/m3"), iso("2026-07-15T04:00:00Z")), 7,
      0);
}

/* ---- Telraam ------------------------------------------------------------- */

#define TEL_URL "http://127.0.0.1/v1/reports/traffic"

KK_TEST(telraam_docs_example) {
  kk_stage_t *st = sk_stage("decode.telraam", "{}");
  feed_file(st, TEL_URL, "telraam_docs.json");
  check_expected(st, "telraam_docs");
}

KK_TEST(telraam_realistic_day) {
  kk_stage_t *st = sk_stage("decode.telraam", "{}");
  feed_file(st, TEL_URL, "telraam_day.json");
  check_expected(st, "telraam_day");
}

KK_TEST(telraam_observed_counts_and_uptime_policy) {
  kk_stage_t *st = sk_stage(
      "decode.telraam", "{ counts = 'observed', min_uptime = 0, time = 'end', "
                        "map = { car = 'count_pkw:1' } }");
  feed_file(st, TEL_URL, "telraam_docs.json");
  int64_t t = iso("2020-10-30T08:00:00Z");
  /* 619.18 cars for the hour at uptime 0.73: 452 seen */
  KK_CHECK_DBL(sk_value(sk_ds("telraam-348917", "count_pkw", "1"), t),
               619.18 * 0.73, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("telraam-348917", "count_bike_lft", "1"), t),
               156.16 * 0.73, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("telraam-348917", "car_speed_v85", "km/h"), t),
               41.5, 0);
  feed_file(st, TEL_URL, "telraam_day.json"); /* night hours kept now */
  KK_CHECK_INT(sk_rejected(st, "low_uptime"), ==, 0);
  KK_CHECK_DBL(sk_value(sk_ds("telraam-9000002156", "uptime", "1"),
                        iso("2026-06-02T01:00:00Z")),
               0, 0);
}

KK_TEST(telraam_errors_are_counted) {
  kk_stage_t *st = sk_stage("decode.telraam", "{}");
  feed_str(st, TEL_URL, "{\"status_code\":403,\"message\":\"Forbidden\"}");
  KK_CHECK_INT(sk_rejected(st, "api_error"), ==, 1);
  feed_str(st, TEL_URL,
           "{\"status_code\":200,\"report\":[{\"segment_id\":1,\"date\":"
           "\"2026-01-01T10:00:00Z\",\"uptime\":0.9,\"car\":null,\"bike\":-1,"
           "\"heavy\":3},{\"segment_id\":1,\"date\":\"yesterday\"},"
           "{\"date\":\"2026-01-01T10:00:00Z\"},{\"segment_id\":1,\"date\":"
           "\"2026-01-01T11:00:00Z\",\"car\":5}]}");
  KK_CHECK_INT(sk_rejected(st, "missing_value"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "not_a_number"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "bad_time"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "bad_record"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "missing_uptime"), ==, 1);
  KK_CHECK_INT(sk_ngot, ==, 2); /* uptime and heavy of the first entry */
}

/* ---- SensorThings -------------------------------------------------------- */

KK_TEST(sta_docs_example) {
  kk_stage_t *st = sk_stage("decode.sensorthings", "{}");
  feed_file(st, "http://127.0.0.1/v1.1/Observations?$expand=Datastream",
            "sta_docs.json");
  check_expected(st, "sta_docs");
}

KK_TEST(sta_realistic_day_from_datastream_url) {
  kk_stage_t *st =
      sk_stage("decode.sensorthings",
               "{ map = { ['4711'] = { thing = 'radzaehler-12', property = "
               "'count_bike', unit = '1' } } }");
  const char *url = "http://127.0.0.1/v1.1/Datastreams(4711)/Observations";
  feed_file(st, url, "sta_day_page1.json");
  feed_file(st, url, "sta_day_page2.json");
  check_expected(st, "sta_day");
}

KK_TEST(sta_mapping_policy_and_errors) {
  kk_stage_t *st =
      sk_stage("decode.sensorthings", "{ unknown = 'reject', time = 'start', "
                                      "map = { ['Lufttemperatur Rathaus'] = "
                                      "'air_temperature:Cel' } }");
  feed_file(st, "http://127.0.0.1/v1.1/Observations", "sta_docs.json");
  /* mapped by name, thing from the expanded Thing; with time = 'start'
   * the interval meets the instant (a replacing store keeps the last);
   * the status datastream's string result is rejected */
  uint32_t ds = sk_ds("sta-3", "air_temperature", "Cel");
  KK_CHECK_DBL(sk_value(ds, iso("2026-03-01T10:00:00Z")), 9.25, 0);
  KK_CHECK_INT(sk_ngot, ==, 2);
  KK_CHECK_INT(sk_rejected(st, "non_numeric_result"), ==, 1);
  feed_str(st, "http://127.0.0.1/v1.1/Observations",
           "{\"value\":[{\"phenomenonTime\":\"2026-03-01T10:00:00Z\","
           "\"result\":1},{\"phenomenonTime\":\"noon\",\"result\":1,"
           "\"Datastream\":{\"@iot.id\":7}},{\"phenomenonTime\":"
           "\"2026-03-01T10:00:00Z\",\"result\":1,\"Datastream\":"
           "{\"@iot.id\":99}}]}");
  KK_CHECK_INT(sk_rejected(st, "no_datastream"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "bad_time"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "unknown_quantity"), ==, 1);
  feed_str(st, "http://x/Observations", "{\"value\":[]}\n");
  feed_str(st, "http://x/Observations", "{\"value\":[],\"value\":[]}");
  KK_CHECK_INT(sk_rejected(st, "parse"), ==, 1);
}

KK_TEST(sta_units_converted_or_refused) {
  kk_stage_t *st = sk_stage("decode.sensorthings", "{}");
  feed_str(
      st, "http://x/Observations",
      "{\"value\":[{\"phenomenonTime\":\"2026-03-01T10:00:00Z\","
      "\"result\":12,\"Datastream\":{\"@iot.id\":\"pm-1\",\"name\":\"PM\","
      "\"unitOfMeasurement\":{\"symbol\":\"µg/m³\"},\"ObservedProperty\":"
      "{\"name\":\"PM2.5\"}}},{\"phenomenonTime\":\"2026-03-01T10:00:00Z\","
      "\"result\":1,\"Datastream\":{\"@iot.id\":2,\"name\":\"X\","
      "\"unitOfMeasurement\":{\"symbol\":\"Ω·m\"}}}]}");
  KK_CHECK_DBL(sk_value(sk_ds("sta-dspm-1", "pm2_5", "ug/m3"),
                        iso("2026-03-01T10:00:00Z")),
               12, 0);
  KK_CHECK_INT(sk_rejected(st, "unknown_unit"), ==, 1);
  KK_CHECK_INT(sk_ngot, ==, 1);
}

/* ---- DWD ----------------------------------------------------------------- */

KK_TEST(dwd_docs_example) {
  kk_stage_t *st = sk_stage("decode.dwd", "{}");
  feed_file(st, "http://127.0.0.1/produkt_klima_tag_docs.txt",
            "produkt_klima_tag_docs.txt");
  check_expected(st, "dwd_docs");
}

KK_TEST(dwd_zipped_fortnight) {
  kk_stage_t *st = sk_stage("decode.dwd", "{}");
  feed_file(st, "http://127.0.0.1/tageswerte_KL_01358_akt.zip",
            "tageswerte_KL_01358_akt.zip");
  check_expected(st, "dwd_day");
}

KK_TEST(dwd_degree_days) {
  kk_stage_t *st = sk_stage("decode.dwd", "{}");
  feed_file(st, "http://127.0.0.1/gradtage_202601.csv", "gradtage_202601.csv");
  check_expected(st, "dwd_gradtage");
}

KK_TEST(dwd_quality_time_and_bad_rows) {
  kk_stage_t *st = sk_stage("decode.dwd", "{ min_quality = 5, time = 'end' }");
  feed_str(st, "http://x/p.txt",
           "STATIONS_ID;MESS_DATUM;QN_3;  FX;  FM;QN_4; RSK;eor\n"
           "   44;20260228;  10; 12.0;  3.0;   3;  1.5;eor\n"
           "   44;20260230;  10; 12.0;  3.0;   3;  1.5;eor\n"
           "   44;20260301;  10;  abc;  3.0;eor\n"
           "   44;20260302;  10;  abc;  3.0;  10;  2.5;eor\n");
  int64_t t = iso("2026-03-01T00:00:00Z"); /* the end of 28 February */
  KK_CHECK_DBL(sk_value(sk_ds("dwd-44", "wind_gust_max", "m/s"), t), 12, 0);
  KK_CHECK_INT(sk_rejected(st, "low_quality"), ==, 1); /* RSK at QN 3 */
  KK_CHECK_INT(sk_rejected(st, "bad_time"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "bad_row"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "not_a_number"), ==, 1);
  KK_CHECK_DBL(sk_value(sk_ds("dwd-44", "precipitation", "mm"),
                        iso("2026-03-03T00:00:00Z")),
               2.5, 0);
  KK_CHECK_INT(sk_ngot, ==, 4);
  feed_str(st, "http://x/p.txt", "hello\nworld\n");
  KK_CHECK_INT(sk_rejected(st, "parse"), ==, 1);
}

/* A zip member that inflates past max_unzipped is refused while it
 * inflates, and a zip that is not one is a parse rejection. */
KK_TEST(dwd_zip_bomb_and_garbage) {
  kk_stage_t *st = sk_stage("decode.dwd", "{ max_unzipped = '64KiB' }");
  size_t n = 1 << 20;
  char *big = malloc(n);
  memset(big, ' ', n);
  memcpy(big, "STATIONS_ID;MESS_DATUM;TMK;eor\n", 31);
  zip_error_t ze;
  zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
  zip_source_keep(src);
  zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
  KK_CHECK(z != NULL);
  zip_source_t *m = zip_source_buffer(z, big, n, 0);
  KK_CHECK(zip_file_add(z, "produkt_klima_tag_1_2_00044.txt", m, 0) >= 0);
  KK_CHECK(zip_close(z) == 0);
  KK_CHECK(zip_source_open(src) == 0);
  zip_source_seek(src, 0, SEEK_END);
  zip_int64_t zl = zip_source_tell(src);
  zip_source_seek(src, 0, SEEK_SET);
  char *zb = malloc((size_t)zl);
  KK_CHECK(zip_source_read(src, zb, (zip_uint64_t)zl) == zl);
  zip_source_close(src);
  zip_source_free(src);
  KK_CHECK_INT(zl, <, 8192); /* 1 MiB of spaces deflates to little */
  feed_raw(st, "http://x/a.zip", zb, (size_t)zl);
  KK_CHECK_INT(sk_rejected(st, "too_large"), ==, 1);
  feed_str(st, "http://x/a.zip", "PK\x03\x04 not really");
  KK_CHECK_INT(sk_rejected(st, "parse"), ==, 1);
  KK_CHECK_INT(sk_ngot, ==, 0);
  free(zb);
  free(big);
}

KK_TEST_MAIN(KK_CASE(uba_docs_example), KK_CASE(uba_realistic_day),
             KK_CASE(uba_cet_is_utc_plus_one_all_year),
             KK_CASE(uba_components_learned_and_mapped),
             KK_CASE(uba_bad_input_is_counted), KK_CASE(telraam_docs_example),
             KK_CASE(telraam_realistic_day),
             KK_CASE(telraam_observed_counts_and_uptime_policy),
             KK_CASE(telraam_errors_are_counted), KK_CASE(sta_docs_example),
             KK_CASE(sta_realistic_day_from_datastream_url),
             KK_CASE(sta_mapping_policy_and_errors),
             KK_CASE(sta_units_converted_or_refused), KK_CASE(dwd_docs_example),
             KK_CASE(dwd_zipped_fortnight), KK_CASE(dwd_degree_days),
             KK_CASE(dwd_quality_time_and_bad_rows),
             KK_CASE(dwd_zip_bomb_and_garbage))
