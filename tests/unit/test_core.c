/* tests/unit/test_core.c - errors, parsers, batches, datastreams, metrics. */
#include <cJSON.h>
#include <klimakit.h>
#include <pthread.h>

#include "kk_test.h"

/* One row of error.h's table, as the X macro writes it. */
typedef struct {
  const char *name; /* "EPARSE" */
  int value;
  const char *msg;
} err_row_t;

static const err_row_t err_table[] = {
#define ERR_ROW(name, val, msg) {#name, val, msg},
    KK_ERRNO_MAP(ERR_ROW)
#undef ERR_ROW
};

KK_TEST(strerror_covers_table) {
  size_t n = sizeof err_table / sizeof err_table[0];
  KK_CHECK_INT(n, >=, 20);
  for (size_t i = 0; i < n; i++) {
    const err_row_t *r = &err_table[i];
    char want[64];
    /* The rule of the table: below -4096, so never a -errno value; append
     * only, so the values run on from -5001 without gaps. */
    KK_CHECK_INT(r->value, <, -4096);
    KK_CHECK_INT(r->value, ==, -5001 - (int)i);
    snprintf(want, sizeof want, "KK_%s", r->name);
    KK_CHECK_STR(kk_err_name(r->value), want);
    KK_CHECK_STR(kk_strerror(r->value), r->msg);
    KK_CHECK(strcmp(r->msg, "unknown error") != 0 && r->msg[0] != 0);
    for (size_t k = 0; k < i; k++) {
      if (strcmp(err_table[k].name, r->name) == 0 ||
          strcmp(err_table[k].msg, r->msg) == 0 ||
          err_table[k].value == r->value)
        KK__FAIL("rows %zu and %zu share a name, message or value", k, i);
    }
  }
  /* Just past the table's ends, and -errno values, are not in it. */
  KK_CHECK_STR(kk_strerror(err_table[n - 1].value - 1), "unknown error");
  KK_CHECK_STR(kk_err_name(err_table[n - 1].value - 1), "EUNKNOWN");
  KK_CHECK_STR(kk_strerror(-5000), "unknown error");
  KK_CHECK_STR(kk_strerror(KK_EPARSE), "malformed input");
  KK_CHECK_STR(kk_err_name(KK_EBUDGET), "KK_EBUDGET");
  KK_CHECK_STR(kk_strerror(-2), "No such file or directory");
  KK_CHECK_STR(kk_err_name(-28), "ENOSPC");
  KK_CHECK_STR(kk_strerror(0), "success");
  KK_CHECK_STR(kk_strerror(-999999), "unknown error");
}

KK_TEST(parse_durations) {
  uint64_t ms = 0;
  KK_CHECK_INT(kk_parse_duration_ms("250ms", &ms), ==, 0);
  KK_CHECK_INT(ms, ==, 250);
  KK_CHECK_INT(kk_parse_duration_ms("5s", &ms), ==, 0);
  KK_CHECK_INT(ms, ==, 5000);
  KK_CHECK_INT(kk_parse_duration_ms("1.5", &ms), ==, 0);
  KK_CHECK_INT(ms, ==, 1500);
  KK_CHECK_INT(kk_parse_duration_ms("2m", &ms), ==, 0);
  KK_CHECK_INT(ms, ==, 120000);
  KK_CHECK_INT(kk_parse_duration_ms("1h", &ms), ==, 0);
  KK_CHECK_INT(ms, ==, 3600000);
  KK_CHECK_INT(kk_parse_duration_ms("7d", &ms), ==, 0);
  KK_CHECK_INT(ms, ==, 604800000);
  KK_CHECK_INT(kk_parse_duration_ms("5 minutes", &ms), ==, KK_EPARSE);
  KK_CHECK_INT(kk_parse_duration_ms("-1s", &ms), ==, KK_EPARSE);
  KK_CHECK_INT(kk_parse_duration_ms("", &ms), ==, KK_EPARSE);
  KK_CHECK_INT(kk_parse_duration_ms("nan", &ms), ==, KK_EPARSE);
}

KK_TEST(parse_sizes) {
  uint64_t n = 0;
  KK_CHECK_INT(kk_parse_size("512", &n), ==, 0);
  KK_CHECK_INT(n, ==, 512);
  KK_CHECK_INT(kk_parse_size("64KiB", &n), ==, 0);
  KK_CHECK_INT(n, ==, 65536);
  KK_CHECK_INT(kk_parse_size("16MiB", &n), ==, 0);
  KK_CHECK_INT(n, ==, 16777216);
  KK_CHECK_INT(kk_parse_size("1GiB", &n), ==, 0);
  KK_CHECK_INT(n, ==, 1073741824);
  KK_CHECK_INT(kk_parse_size("2MB", &n), ==, 0);
  KK_CHECK_INT(n, ==, 2000000);
  KK_CHECK_INT(kk_parse_size("12 parsecs", &n), ==, KK_EPARSE);
}

KK_TEST(batch_readings_and_refs) {
  kk_batch_t *b = kk_batch_new(2);
  for (int i = 0; i < 1000; i++) {
    kk_reading_t r = {1700000000000 + i, i * 0.5, 7, 0};
    KK_CHECK_INT(kk_batch_push(b, &r), ==, 0);
  }
  KK_CHECK_INT(kk_batch_len(b), ==, 1000);
  KK_CHECK_DBL(kk_batch_readings(b)[999].value, 499.5, 0);
  KK_CHECK_INT(kk_batch_readings(b)[10].time_ms, ==, 1700000000010);
  kk_batch_t *b2 = kk_batch_ref(b);
  KK_CHECK(b2 == b);
  kk_batch_unref(b);
  KK_CHECK_INT(kk_batch_len(b2), ==, 1000); /* still alive */
  kk_batch_unref(b2);
  kk_batch_unref(NULL);
}

KK_TEST(batch_raw_messages) {
  kk_batch_t *b = kk_batch_new(0);
  char big[5000];
  memset(big, 'x', sizeof big);
  KK_CHECK_INT(kk_batch_push_raw(b, 0, 111, 50, "peer-a", "{\"a\":1}", 7), ==,
               0);
  KK_CHECK_INT(kk_batch_push_raw(b, 9, 222, 60, NULL, big, sizeof big), ==, 0);
  KK_CHECK_INT(kk_batch_push_raw(b, 4, 333, 0, "m", "", 0), ==, 0);
  KK_CHECK_INT(kk_batch_raw_len(b), ==, 3);
  const kk_raw_t *r = kk_batch_raw(b, 0);
  KK_CHECK_INT(r->len, ==, 7);
  KK_CHECK(memcmp(r->data, "{\"a\":1}", 7) == 0);
  KK_CHECK_INT(r->data[7], ==, 0); /* NUL after the payload */
  KK_CHECK_STR(r->meta, "peer-a");
  KK_CHECK_INT(r->format, ==, 50);
  r = kk_batch_raw(b, 1);
  KK_CHECK_INT(r->len, ==, 5000);
  KK_CHECK_INT(r->data[4999], ==, 'x');
  KK_CHECK_STR(r->meta, "");
  KK_CHECK_INT(kk_batch_seq(b), ==, 9); /* highest seq */
  KK_CHECK(kk_batch_raw(b, 3) == NULL);
  kk_batch_unref(b);
}

KK_TEST(datastreams_are_stable) {
  uint32_t a = kk_datastream_id("room-1", "co2", "ppm");
  uint32_t b = kk_datastream_id("room-1", "co2", "ppm");
  uint32_t c = kk_datastream_id("room-1", "co2", "ppb");
  KK_CHECK_INT(a, >, 0);
  KK_CHECK_INT(a, ==, b);
  KK_CHECK_INT(a, !=, c);
  KK_CHECK_INT(kk_datastream_id("", "co2", "ppm"), ==, 0);
  KK_CHECK_INT(kk_datastream_id(NULL, "co2", "ppm"), ==, 0);
  /* Many ids: earlier pointers must stay valid while the registry grows. */
  const kk_datastream_t *first = kk_datastream_get(a);
  char thing[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(thing, sizeof thing, "t-%d", i);
    KK_CHECK_INT(kk_datastream_id(thing, "energy", "kW.h"), >, 0);
  }
  KK_CHECK(first == kk_datastream_get(a));
  KK_CHECK_STR(first->thing, "room-1");
  KK_CHECK_STR(first->unit, "ppm");
  KK_CHECK_INT(
      kk_datastream_id("t-4321", "energy", "kW.h"), ==,
      kk_datastream_get(kk_datastream_id("t-4321", "energy", "kW.h"))->id);
  KK_CHECK_INT(kk_datastream_count(), ==, 5002);
  KK_CHECK(kk_datastream_get(0) == NULL);
  KK_CHECK(kk_datastream_get(999999) == NULL);
}

static void *bump(void *arg) {
  for (int i = 0; i < 100000; i++)
    kk_metric_add(arg, 1);
  return NULL;
}

KK_TEST(metrics_render_prometheus) {
  kk_metric_t *c1 =
      kk_counter("kk_test_total", "stage=\"a\"", "A test counter");
  kk_metric_t *g = kk_gauge("kk_test_gauge", NULL, "A gauge");
  kk_metric_t *c2 = kk_counter("kk_test_total", "stage=\"b\"", "ignored");
  KK_CHECK(c1 != c2);
  KK_CHECK(kk_counter("kk_test_total", "stage=\"a\"", NULL) == c1);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&th[i], NULL, bump, c1);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  KK_CHECK_INT(kk_metric_value(c1), ==, 400000);
  kk_metric_set(g, -5);
  kk_metric_add(c2, 3);
  char *text = kk_metrics_render();
  KK_CHECK(text != NULL);
  const char *want =
      "# HELP kk_test_total A test counter\n# TYPE kk_test_total counter\n"
      "kk_test_total{stage=\"a\"} 400000\nkk_test_total{stage=\"b\"} 3\n"
      "# HELP kk_test_gauge A gauge\n# TYPE kk_test_gauge gauge\n"
      "kk_test_gauge -5\n";
  KK_CHECK_STR(text, want);
  free(text);
  kk_metric_add(NULL, 1); /* a no-op */
}

KK_TEST(ratelimit_bursts_then_suppresses) {
  kk_ratelimit_t rl = KK_RATELIMIT_INIT(60000, 3);
  int allowed = 0;
  for (int i = 0; i < 10; i++)
    allowed += kk_ratelimit_ok(&rl);
  KK_CHECK_INT(allowed, ==, 3);
  KK_CHECK_INT(rl.suppressed, ==, 7);
}

KK_TEST(json_duplicate_keys_found_at_any_depth) {
  static const struct {
    const char *json, *dup;
  } cases[] = {
      {"{\"a\":1,\"b\":2}", NULL},
      {"{\"a\":1,\"a\":2}", "a"},
      {"{\"x\":{\"v\":1,\"w\":2,\"v\":3}}", "v"},
      {"[{\"k\":1},{\"k\":2}]", NULL}, /* the same key in two objects */
      {"[{\"k\":1,\"q\":[{\"z\":1,\"z\":1}]}]", "z"},
      {"[1,2,2]", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cJSON *j = cJSON_Parse(cases[i].json);
    KK_CHECK(j != NULL);
    char key[8] = "?";
    int dup = kk_json_duplicate_key(j, key, sizeof key);
    KK_CHECK_INT(dup, ==, cases[i].dup != NULL);
    if (cases[i].dup) KK_CHECK_STR(key, cases[i].dup);
    cJSON_Delete(j);
  }
  KK_CHECK_INT(kk_json_duplicate_key(NULL, NULL, 0), ==, 0);
}

/* kk_raw_meta_get scans the simple flat form in place; every form must
 * give what a full JSON parse gives (first member of a name wins, an
 * empty or missing value is -1, a long value is cut like snprintf). */
static int meta_ref(const char *meta, const char *key, char *out, size_t n) {
  out[0] = '\0';
  cJSON *o = cJSON_Parse(meta);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  int rc = -1;
  if (cJSON_IsString(v) && v->valuestring[0]) {
    snprintf(out, n, "%s", v->valuestring);
    rc = 0;
  }
  cJSON_Delete(o);
  return rc;
}

KK_TEST(raw_meta_get_matches_a_json_parse) {
  static const char *const metas[] = {
      "{\"topic\":\"city/sensors/s0001/up\"}",
      "{\"topic\":\"a/b\",\"thing\":\"s0001\"}",
      "{\"thing\":\"\",\"topic\":\"x\"}",
      "{\"thing\":\"q\\\"uo\\\\te\\/d\"}",
      "{\"thing\":\"\\u00e9t\\u00e9\"}",
      "{\"thing\":\"a\\nb\"}",
      "{\"thing\":1}",
      "{\"thing\":\"a\",\"thing\":\"b\"}",
      "{ \"thing\" : \"spaced\" }",
      "{\"thing\":\"unterminated",
      "{\"thing\":\"x\"} trailing",
      "{\"th\\u0069ng\":\"escaped key\"}",
      "{}",
      "{",
      "{\"a\":\"b\",}",
      "{\"a\":{\"thing\":\"nested\"},\"thing\":\"top\"}",
      "{\"thing\":\"a-very-long-thing-name-that-is-cut-by-the-buffer\"}",
  };
  for (size_t i = 0; i < sizeof metas / sizeof *metas; i++) {
    char a[16], b[16];
    int ra = kk_raw_meta_get(metas[i], "thing", a, sizeof a);
    int rb = meta_ref(metas[i], "thing", b, sizeof b);
    KK_CHECK_INT(ra, ==, rb);
    KK_CHECK_STR(a, b);
  }
}

KK_TEST_MAIN(KK_CASE(strerror_covers_table), KK_CASE(parse_durations),
             KK_CASE(parse_sizes), KK_CASE(batch_readings_and_refs),
             KK_CASE(batch_raw_messages), KK_CASE(datastreams_are_stable),
             KK_CASE(metrics_render_prometheus),
             KK_CASE(ratelimit_bursts_then_suppresses),
             KK_CASE(json_duplicate_keys_found_at_any_depth),
             KK_CASE(raw_meta_get_matches_a_json_parse))
