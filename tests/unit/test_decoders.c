/* tests/unit/test_decoders.c - SenML, TTS v3, ChirpStack v4 and flat JSON
 * parsers against the published vectors (copies of ../shared/data in
 * tests/e2e/data/decoders/, with their sources in the files). */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "decode/decode_senml.h"
#include "decode/decode_uplink.h"
#include "kk_test.h"

#define DATA "tests/e2e/data/decoders/"
#define NOW_MS 1700000000123LL

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) KK__FAIL("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)n + 1);
  if (fread(p, 1, (size_t)n, f) != (size_t)n) KK__FAIL("read %s", path);
  p[n] = '\0';
  fclose(f);
  return p;
}

typedef struct got {
  size_t n;
  char name[32][128], unit[32][16];
  double v[32];
  int64_t t[32];
} got_t;

static int collect(void *ctx, const senml_record_t *r) {
  got_t *g = ctx;
  if (g->n >= 32) return -1;
  snprintf(g->name[g->n], 128, "%s", r->name);
  snprintf(g->unit[g->n], 16, "%s", r->unit ? r->unit : "");
  g->v[g->n] = r->value;
  g->t[g->n] = r->time_ms;
  g->n++;
  return 0;
}

static void check_resolved(const got_t *g, const cJSON *resolved) {
  KK_CHECK_INT(g->n, ==, cJSON_GetArraySize(resolved));
  size_t i = 0;
  for (const cJSON *r = resolved->child; r; r = r->next, i++) {
    KK_CHECK_STR(g->name[i], cJSON_GetObjectItem(r, "n")->valuestring);
    const cJSON *u = cJSON_GetObjectItem(r, "u");
    KK_CHECK_STR(g->unit[i], u ? u->valuestring : "");
    KK_CHECK_DBL(g->v[i], cJSON_GetObjectItem(r, "v")->valuedouble, 1e-9);
    const cJSON *t = cJSON_GetObjectItem(r, "t");
    int64_t want =
        cJSON_IsString(t) ? NOW_MS : llround(t->valuedouble * 1000.0);
    KK_CHECK_INT(g->t[i], ==, want);
  }
}

KK_TEST(senml_json_rfc8428_vectors) {
  char *js = slurp(DATA "rfc8428_vectors.json");
  cJSON *root = cJSON_Parse(js);
  int ncases = 0;
  for (const cJSON *c = cJSON_GetObjectItem(root, "cases")->child; c;
       c = c->next) {
    char *pack = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "pack"));
    got_t g = {0};
    char err[160];
    int rc = senml_decode_json(pack, strlen(pack), NOW_MS, collect, &g, err,
                               sizeof err);
    if (rc) KK__FAIL("%s: %s", cJSON_GetObjectItem(c, "id")->valuestring, err);
    check_resolved(&g, cJSON_GetObjectItem(c, "resolved"));
    free(pack);
    ncases++;
  }
  KK_CHECK_INT(ncases, >=, 3);
  cJSON_Delete(root);
  free(js);
}

KK_TEST(senml_cbor_rfc8428_vectors) {
  char *js = slurp(DATA "rfc8428_vectors.json");
  cJSON *root = cJSON_Parse(js);
  int ncbor = 0;
  for (const cJSON *c = cJSON_GetObjectItem(root, "cases")->child; c;
       c = c->next) {
    const cJSON *hex = cJSON_GetObjectItem(c, "cbor_hex");
    if (!cJSON_IsString(hex)) continue;
    size_t hl = strlen(hex->valuestring);
    uint8_t *bin = malloc(hl / 2 + 1);
    for (size_t i = 0; i < hl / 2; i++) {
      unsigned x;
      sscanf(hex->valuestring + 2 * i, "%2x", &x);
      bin[i] = (uint8_t)x;
    }
    got_t g = {0};
    char err[160];
    int rc =
        senml_decode_cbor(bin, hl / 2, NOW_MS, collect, &g, err, sizeof err);
    if (rc) KK__FAIL("%s: %s", cJSON_GetObjectItem(c, "id")->valuestring, err);
    check_resolved(&g, cJSON_GetObjectItem(c, "resolved"));
    free(bin);
    ncbor++;
  }
  KK_CHECK_INT(ncbor, >=, 1);
  cJSON_Delete(root);
  free(js);
}

KK_TEST(senml_bad_packs_have_reasons) {
  static const char *bad[][2] = {
      {"{}", "array"},
      {"[]", "empty"},
      {"[{\"n\":\"a\"}]", "no value"},
      {"[{\"n\":\"a\",\"v\":1,\"vs\":\"x\"}]", "more than one"},
      {"[{\"n\":\"a\",\"v\":\"1\"}]", "must be a number"},
      {"[{\"n\":\"-bad\",\"v\":1}]", "invalid name"},
      {"[{\"n\":\"a\",\"v\":1,\"foo_\":1}]", "must-understand"},
      {"[{\"bver\":11,\"n\":\"a\",\"v\":1}]", "version"},
      {"[{\"n\":\"a\",\"vd\":\"!!\"}]", "base64url"},
      {"[1,", "not JSON"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[160];
    int rc = senml_decode_json(bad[i][0], strlen(bad[i][0]), NOW_MS, NULL, NULL,
                               err, sizeof err);
    KK_CHECK_INT(rc, ==, KK_EPARSE);
    if (!strstr(err, bad[i][1])) KK__FAIL("%s: reason '%s'", bad[i][0], err);
  }
  /* CBOR: truncated, and an array header claiming 2^32 items. */
  static const uint8_t t1[] = {0x81, 0xa1, 0x00};
  static const uint8_t t2[] = {0x9a, 0xff, 0xff, 0xff, 0xff, 0x00};
  char err[160];
  KK_CHECK_INT(senml_decode_cbor(t1, sizeof t1, 0, NULL, NULL, err, sizeof err),
               ==, KK_EPARSE);
  KK_CHECK_INT(senml_decode_cbor(t2, sizeof t2, 0, NULL, NULL, err, sizeof err),
               ==, KK_EPARSE);
}

KK_TEST(senml_relative_time_and_sum) {
  const char *p =
      "[{\"bn\":\"dev1/\",\"bt\":-10,\"n\":\"e\",\"s\":5,\"bs\":100,"
      "\"u\":\"kWh\"},{\"n\":\"on\",\"vb\":true,\"t\":2}]";
  got_t g = {0};
  char err[160];
  KK_CHECK_INT(
      senml_decode_json(p, strlen(p), NOW_MS, collect, &g, err, sizeof err), ==,
      0);
  KK_CHECK_INT(g.n, ==, 2);
  KK_CHECK_INT(g.t[0], ==, NOW_MS - 10000);
  KK_CHECK_INT(g.t[1], ==, NOW_MS - 8000);
  KK_CHECK_STR(g.name[1], "dev1/on");
}

static int count_values(void *ctx, const char *name, double v) {
  (void)name, (void)v;
  (*(int *)ctx)++;
  return 0;
}

KK_TEST(ttn_v3_docs_example) {
  char *js = slurp(DATA "tts_v3_uplink_docs_example.json");
  cJSON *root = cJSON_Parse(js);
  char *payload = cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "payload"));
  uplink_t u;
  char err[160];
  KK_CHECK_INT(
      uplink_parse_ttn_v3(payload, strlen(payload), &u, err, sizeof err), ==,
      0);
  KK_CHECK_STR(u.device_id, "dev1");
  KK_CHECK_STR(u.application_id, "app1");
  KK_CHECK_INT(u.time_ms, ==, 1581520546014LL); /* 2020-02-12T15:15:46.014Z */
  KK_CHECK_INT(u.payload_len, ==, 3);           /* "gkHe" */
  KK_CHECK_INT(u.payload[0], ==, 0x82);
  KK_CHECK_INT(u.payload[2], ==, 0xde);
  KK_CHECK(u.has_rssi && u.rssi == -35 && u.snr == 5);
  int n = 0;
  KK_CHECK_INT(flatjson_walk(u.decoded_json, strlen(u.decoded_json),
                             count_values, &n, err, sizeof err),
               ==, 0);
  KK_CHECK_INT(n, ==, 2);
  uplink_free(&u);
  /* The MQTT docs example has f_port 15 and no decoded_payload. */
  char *js2 = slurp(DATA "tts_v3_uplink_mqtt_docs_example.json");
  cJSON *r2 = cJSON_Parse(js2);
  char *p2 = cJSON_PrintUnformatted(cJSON_GetObjectItem(r2, "payload"));
  KK_CHECK_INT(uplink_parse_ttn_v3(p2, strlen(p2), &u, err, sizeof err), ==, 0);
  KK_CHECK_INT(u.fport, ==, 15);
  KK_CHECK(u.decoded_json == NULL);
  KK_CHECK(u.payload_len == 17 && !memcmp(u.payload, "Temperature = 0.0", 17));
  uplink_free(&u);
  free(p2);
  cJSON_Delete(r2);
  free(js2);
  free(payload);
  cJSON_Delete(root);
  free(js);
}

KK_TEST(chirpstack_v4_docs_example) {
  char *js = slurp(DATA "chirpstack_v4_up_docs_example.json");
  cJSON *root = cJSON_Parse(js);
  char *payload = cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "payload"));
  uplink_t u;
  char err[160];
  KK_CHECK_INT(
      uplink_parse_chirpstack_v4(payload, strlen(payload), &u, err, sizeof err),
      ==, 0);
  KK_CHECK_STR(u.device_id, "0101010101010101");
  KK_CHECK_STR(u.device_name, "Test device");
  KK_CHECK_INT(u.time_ms, ==, 1658136855775LL); /* 2022-07-18T09:34:15.775Z */
  KK_CHECK_INT(u.fport, ==, 1);
  KK_CHECK_INT(u.fcnt, ==, 0);
  KK_CHECK(u.payload_len == 1 && u.payload[0] == 0xaa);
  KK_CHECK(u.has_rssi && u.rssi == -36 && u.snr == 10.5);
  uplink_free(&u);
  free(payload);
  cJSON_Delete(root);
  free(js);
}

KK_TEST(uplinks_bad_input) {
  uplink_t u;
  char err[160];
  KK_CHECK_INT(uplink_parse_ttn_v3("[]", 2, &u, err, sizeof err), ==,
               KK_EPARSE);
  KK_CHECK_INT(uplink_parse_ttn_v3("{}", 2, &u, err, sizeof err), ==,
               KK_EMISSING);
  const char *b64 = "{\"end_device_ids\":{\"device_id\":\"d\"},"
                    "\"uplink_message\":{\"frm_payload\":\"%%%\"}}";
  KK_CHECK_INT(uplink_parse_ttn_v3(b64, strlen(b64), &u, err, sizeof err), ==,
               KK_EPARSE);
  KK_CHECK(strstr(err, "base64") != NULL);
  KK_CHECK_INT(uplink_parse_chirpstack_v4("{\"x\":1}", 7, &u, err, sizeof err),
               ==, KK_EMISSING);
}

KK_TEST(flatjson_time_units) {
  flatjson_opts_t o = {.time_field = "ts", .time_unit = 0};
  int64_t t = 0;
  char thing[32] = "";
  int n = 0;
  char err[160];
  const char *a = "{\"ts\":1767225600,\"v\":1}";
  KK_CHECK_INT(flatjson_message(a, strlen(a), &o, &t, thing, sizeof thing,
                                count_values, &n, err, sizeof err),
               ==, 0);
  KK_CHECK_INT(t, ==, 1767225600000LL);
  const char *b = "{\"ts\":1767225600123,\"v\":1}";
  flatjson_message(b, strlen(b), &o, &t, thing, sizeof thing, count_values, &n,
                   err, sizeof err);
  KK_CHECK_INT(t, ==, 1767225600123LL);
  const char *c =
      "{\"ts\":\"2026-01-01T01:00:00+01:00\",\"v\":1,\"id\":\"r1\"}";
  o.thing_field = "id";
  flatjson_message(c, strlen(c), &o, &t, thing, sizeof thing, count_values, &n,
                   err, sizeof err);
  KK_CHECK_INT(t, ==, 1767225600000LL);
  KK_CHECK_STR(thing, "r1");
  KK_CHECK_INT(n, ==, 3);
  const char *d = "{\"ts\":\"yesterday\"}";
  KK_CHECK_INT(flatjson_message(d, strlen(d), &o, &t, thing, sizeof thing,
                                count_values, &n, err, sizeof err),
               ==, KK_EPARSE);
}

/* ---- RFC 8428 exactness (issue 11) ---------------------------------- */

KK_TEST(senml_base_only_record_and_strict_json) {
  /* Section 5.1.7: a record of base fields only. */
  const char *p = "[{\"bn\":\"urn:dev:ow:10e2073a01080063:\"},"
                  "{\"n\":\"temp\",\"u\":\"Cel\",\"v\":23.1},"
                  "{\"n\":\"heat\",\"u\":\"/\",\"v\":1}]";
  got_t g = {0};
  char err[160];
  KK_CHECK_INT(
      senml_decode_json(p, strlen(p), NOW_MS, collect, &g, err, sizeof err), ==,
      0);
  KK_CHECK_INT(g.n, ==, 2);
  KK_CHECK_STR(g.name[0], "urn:dev:ow:10e2073a01080063:temp");
  /* A record with a name but neither value nor sum is still refused. */
  const char *nv = "[{\"bn\":\"a:\",\"n\":\"x\"}]";
  KK_CHECK_INT(
      senml_decode_json(nv, strlen(nv), NOW_MS, NULL, NULL, err, sizeof err),
      ==, KK_EPARSE);
  static const char *bad[][2] = {
      {"[{\"n\":\"a\",\"v\":1}]x", "bytes after"},
      {"[{\"n\":\"a\",\"v\":1}] []", "bytes after"},
      {"[{\"n\":\"a\",\"v\":1,\"x\":{\"k\":1,\"k\":2}}]", "duplicate key 'k'"},
      {"[{\"n\":\"a\",\"v\":1,\"foo\":1,\"foo\":2}]", "duplicate key 'foo'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = senml_decode_json(bad[i][0], strlen(bad[i][0]), NOW_MS, NULL, NULL,
                               err, sizeof err);
    KK_CHECK_INT(rc, ==, KK_EPARSE);
    if (!strstr(err, bad[i][1])) KK__FAIL("%s: reason '%s'", bad[i][0], err);
  }
  const char *ws = "[{\"n\":\"a\",\"v\":1}] \r\n\t";
  KK_CHECK_INT(
      senml_decode_json(ws, strlen(ws), NOW_MS, NULL, NULL, err, sizeof err),
      ==, 0);
}

typedef struct mapped {
  size_t n;
  char thing[16][96], prop[16][64];
  int mode;
  const char *ctx;
} mapped_t;

static int map_cb(void *ctx, const senml_record_t *r) {
  mapped_t *m = ctx;
  char err[160];
  if (m->n >= 16) return -1;
  int rc = senml_map_name(r, m->mode, m->ctx, NULL, m->thing[m->n],
                          m->prop[m->n], 64, err, sizeof err);
  if (rc) return rc;
  m->n++;
  return 0;
}

static void map_pack(mapped_t *m, const char *pack, int mode, const char *ctx) {
  char err[160];
  memset(m, 0, sizeof *m);
  m->mode = mode;
  m->ctx = ctx;
  int rc =
      senml_decode_json(pack, strlen(pack), NOW_MS, map_cb, m, err, sizeof err);
  if (rc) KK__FAIL("%s: %d %s", pack, rc, err);
}

KK_TEST(senml_names_to_things_and_properties) {
  mapped_t m;
  /* 5.1.1: a full name with a unit: the device URN is the thing. */
  map_pack(&m,
           "[{\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"Cel\","
           "\"v\":23.1}]",
           SENML_NAMES_BASE, NULL);
  KK_CHECK_STR(m.thing[0], "urn:dev:ow:10e2073a01080063");
  KK_CHECK_STR(m.prop[0], "temperature");
  /* 5.1.2 and its resolved form land on the same datastreams. */
  map_pack(&m,
           "[{\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"voltage\","
           "\"u\":\"V\",\"v\":120.1},{\"n\":\"current\",\"u\":\"A\","
           "\"v\":1.2},{\"n\":\"urn:dev:ow:10e2073a01080063:voltage\","
           "\"bn\":\"\",\"u\":\"V\",\"v\":1}]",
           SENML_NAMES_BASE, NULL);
  KK_CHECK_STR(m.thing[0], "urn:dev:ow:10e2073a01080063");
  KK_CHECK_STR(m.prop[0], "voltage");
  KK_CHECK_STR(m.prop[1], "current");
  KK_CHECK_STR(m.thing[2], "urn:dev:ow:10e2073a01080063");
  KK_CHECK_STR(m.prop[2], "voltage");
  /* 5.1.3: base name without record names: property from the unit. */
  map_pack(&m,
           "[{\"bn\":\"urn:dev:ow:10e2073a01080063\",\"bu\":\"%RH\","
           "\"v\":20},{\"u\":\"lon\",\"v\":24.3},{\"u\":\"%EL\",\"v\":98},"
           "{\"u\":\"X_y\",\"v\":1}]",
           SENML_NAMES_BASE, NULL);
  KK_CHECK_STR(m.prop[0], "relative_humidity");
  KK_CHECK_STR(m.prop[1], "longitude");
  KK_CHECK_STR(m.prop[2], "battery_level");
  KK_CHECK_STR(m.prop[3], "X_y");
  /* 5.1.6 / 5.1.7: other full names are things as a whole. */
  map_pack(&m,
           "[{\"bn\":\"2001:db8::2/\",\"n\":\"temperature\",\"v\":1},"
           "{\"bu\":\"/\",\"bn\":\"\",\"n\":\"2001:db8::3\",\"v\":1}]",
           SENML_NAMES_BASE, NULL);
  KK_CHECK_STR(m.thing[0], "2001:db8::2");
  KK_CHECK_STR(m.thing[1], "2001:db8::3");
  KK_CHECK_STR(m.prop[1], "ratio");
  /* A context thing (a path's {thing}) takes the record names. */
  map_pack(&m,
           "[{\"bn\":\"x:\",\"n\":\"co2\",\"v\":1},{\"u\":\"Cel\",\"v\":2}]",
           SENML_NAMES_BASE, "room-1");
  KK_CHECK_STR(m.thing[0], "room-1");
  KK_CHECK_STR(m.prop[0], "co2");
  KK_CHECK_STR(m.prop[1], "temperature");
  /* split: the rule before, at the last separator. */
  map_pack(&m, "[{\"n\":\"room-12:co2\",\"v\":1}]", SENML_NAMES_SPLIT, NULL);
  KK_CHECK_STR(m.thing[0], "room-12");
  KK_CHECK_STR(m.prop[0], "co2");
}

KK_TEST(senml_guard_never_merges_names) {
  senml_guard_t g = {0};
  char err[200];
  KK_CHECK_INT(senml_guard_check(&g, "dev", "x", "dev:x", err, sizeof err), ==,
               0);
  KK_CHECK_INT(senml_guard_check(&g, "dev", "x", "dev:x", err, sizeof err), ==,
               0);
  KK_CHECK_INT(senml_guard_check(&g, "dev", "y", "dev:y", err, sizeof err), ==,
               0);
  KK_CHECK_INT(senml_guard_check(&g, "dev", "x", "dev/x", err, sizeof err), ==,
               KK_EPARSE);
  if (!strstr(err, "'dev:x' and 'dev/x'")) KK__FAIL("reason '%s'", err);
  /* Many names: the table grows. */
  for (int i = 0; i < 5000; i++) {
    char p[32], n[40];
    snprintf(p, sizeof p, "p%d", i);
    snprintf(n, sizeof n, "d:p%d", i);
    KK_CHECK_INT(senml_guard_check(&g, "d", p, n, err, sizeof err), ==, 0);
  }
  KK_CHECK_INT(senml_guard_check(&g, "d", "p4999", "e:p4999", err, sizeof err),
               ==, KK_EPARSE);
  senml_guard_free(&g);
  char u[32];
  senml_sum_unit("W", u, sizeof u);
  KK_CHECK_STR(u, "W.s");
  senml_sum_unit("m3/s", u, sizeof u);
  KK_CHECK_STR(u, "m3");
  senml_sum_unit(NULL, u, sizeof u);
  KK_CHECK_STR(u, "s");
}

KK_TEST_MAIN(KK_CASE(senml_json_rfc8428_vectors),
             KK_CASE(senml_cbor_rfc8428_vectors),
             KK_CASE(senml_bad_packs_have_reasons),
             KK_CASE(senml_relative_time_and_sum), KK_CASE(ttn_v3_docs_example),
             KK_CASE(chirpstack_v4_docs_example), KK_CASE(uplinks_bad_input),
             KK_CASE(flatjson_time_units),
             KK_CASE(senml_base_only_record_and_strict_json),
             KK_CASE(senml_names_to_things_and_properties),
             KK_CASE(senml_guard_never_merges_names))
