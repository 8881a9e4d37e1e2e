/*
 * tests/unit/test_store.c - the store registry and the backend-independent
 * query logic (include/klimakit/store.h) over a mock backend whose data is
 * one reading per minute of value 1, so that every aggregate is a count;
 * and the SQLite backend through kk_store_open() on a database the test
 * writes itself.
 */
#include <klimakit.h>

#include <sqlite3.h>

#include <klimakit/store_backend.h>
#include "kk_test.h"

#define H 3600000LL
#define D 86400000LL

/* Mock: observations at every minute in [0, 30 days), value 1.  The
 * rollup tables hold the same data per hour / day; each call is logged
 * so that tests can see which table answered. */
static int mock_calls[3];
static int mock_closed;

static int64_t mock_count(int64_t a, int64_t b, int64_t w) {
  /* observations at multiples of 60000 (raw) or bucket starts (w) in
   * [a, b) intersected with [0, 30 d) */
  if (a < 0) a = 0;
  if (b > 30 * D) b = 30 * D;
  if (a >= b) return 0;
  int64_t first = (a + w - 1) / w, last = (b - 1) / w;
  return last >= first ? last - first + 1 : 0;
}

static int mock_agg(void *impl, int64_t id, int64_t a, int64_t b,
                    kk_store_res_t res, kk_store_point_t *out) {
  (void)impl, (void)id;
  mock_calls[res]++;
  int64_t w = res == KK_STORE_RAW ? 60000 : res == KK_STORE_HOUR ? H : D;
  int64_t buckets = mock_count(a, b, w);
  out->count = buckets * (w / 60000);
  out->sum = (double)out->count;
  out->min = out->max = 1;
  return 0;
}

static int mock_series(void *impl, int64_t id, int64_t a, int64_t b,
                       kk_store_res_t res, size_t limit,
                       kk_store_series_t *out) {
  (void)impl, (void)id, (void)a, (void)b, (void)limit;
  mock_calls[res]++;
  out->len = 0;
  return 0;
}

static int mock_latest(void *impl, const int64_t *ids, size_t n,
                       kk_store_point_t *out) {
  (void)impl;
  for (size_t i = 0; i < n; i++)
    if (ids[i] == 1) out[i] = (kk_store_point_t){30 * D - 60000, 1, 1, 1, 1, 1};
  return 0;
}

static int mock_things(void *impl, const kk_store_filter_t *f,
                       kk_store_thing_list_t **out) {
  (void)impl, (void)f;
  *out = calloc(1, sizeof **out);
  return *out ? 0 : KK_ENOMEM;
}

static int mock_ds(void *impl, const kk_store_filter_t *f,
                   kk_store_ds_list_t **out) {
  (void)impl;
  *out = calloc(1, sizeof **out);
  if (f->thing && strcmp(f->thing, "t") == 0) {
    (*out)->items = calloc(1, sizeof *(*out)->items);
    (*out)->items[0] =
        (kk_store_ds_t){7, strdup("t"), strdup("co2"), strdup("ppm"), NULL};
    (*out)->len = 1;
  }
  return 0;
}

static void mock_close(void *impl) {
  (void)impl;
  mock_closed++;
}

static const kk_store_vtable_t mock_vt = {
    mock_things, mock_ds, mock_latest, mock_series, mock_agg, NULL, mock_close};

KK_TEST(registry_find_default_unregister) {
  KK_CHECK(kk_store_default() == NULL);
  kk_store_t *a = kk_store_new("a", "mock", &mock_vt, NULL);
  kk_store_t *b = kk_store_new("b", "mock", &mock_vt, NULL);
  KK_CHECK_INT(kk_store_register(a), ==, 0);
  KK_CHECK_INT(kk_store_register(b), ==, 0);
  kk_store_t *a2 = kk_store_new("a", "mock", &mock_vt, NULL);
  KK_CHECK_INT(kk_store_register(a2), ==, KK_EEXIST);
  kk_store_unref(a2); /* closes its backend */
  KK_CHECK_INT(mock_closed, ==, 1);
  mock_closed = 0;
  KK_CHECK(kk_store_find("b") == b);
  KK_CHECK(kk_store_default() == a);
  KK_CHECK_STR(kk_store_backend(a), "mock");
  kk_store_t *held = kk_store_ref(a);
  kk_store_unregister(a);
  kk_store_unref(a);
  KK_CHECK(kk_store_find("a") == NULL);
  KK_CHECK(kk_store_default() == b);
  kk_store_point_t p;
  int64_t id = 1;
  KK_CHECK_INT(kk_store_latest(held, &id, 1, &p), ==, KK_ECLOSED);
  KK_CHECK_INT(mock_closed, ==, 0);
  kk_store_unref(held);
  KK_CHECK_INT(mock_closed, ==, 1);
  kk_store_unregister(b);
  kk_store_unref(b);
  KK_CHECK_INT(mock_closed, ==, 2);
  KK_CHECK(kk_store_default() == NULL);
}

KK_TEST(auto_resolution_by_span) {
  kk_store_t *s = kk_store_new("m", "mock", &mock_vt, NULL);
  kk_store_series_t *r;
  struct {
    int64_t span;
    kk_store_res_t want;
  } cases[] = {{D, KK_STORE_RAW},          {2 * D, KK_STORE_RAW},
               {2 * D + 1, KK_STORE_HOUR}, {92 * D, KK_STORE_HOUR},
               {93 * D, KK_STORE_DAY},     {3650 * D, KK_STORE_DAY}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    KK_CHECK_INT(kk_store_range(s, 1, 0, cases[i].span, KK_STORE_AUTO, 0, &r),
                 ==, 0);
    KK_CHECK_INT(r->res, ==, cases[i].want);
    kk_store_series_free(r);
  }
  KK_CHECK_INT(kk_store_range(s, 1, 10, 5, KK_STORE_AUTO, 0, &r), ==,
               KK_EINVAL);
  kk_store_unref(s);
}

/* Aggregates over ragged windows equal the raw count, and long windows
 * are answered mostly from the rollups. */
KK_TEST(aggregate_composes_rollups_and_raw) {
  kk_store_t *s = kk_store_new("m", "mock", &mock_vt, NULL);
  int64_t windows[][2] = {{0, 30 * D},
                          {123456, 123456 + 5 * 60000},
                          {H - 60000, 3 * H + 120000},
                          {D - 7 * 60000, 20 * D + 5 * H + 30000},
                          {-5 * D, 40 * D},
                          {17 * H + 1, 17 * H + 2}};
  for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
    memset(mock_calls, 0, sizeof mock_calls);
    kk_store_point_t p;
    KK_CHECK_INT(kk_store_aggregate(s, 1, windows[i][0], windows[i][1], &p), ==,
                 0);
    int64_t want = mock_count(windows[i][0], windows[i][1], 60000);
    KK_CHECK_INT(p.count, ==, want);
    if (want) KK_CHECK_DBL(p.avg, 1.0, 1e-12);
    KK_CHECK_INT(mock_calls[KK_STORE_RAW], <=, 2);
    KK_CHECK_INT(mock_calls[KK_STORE_HOUR], <=, 2);
    KK_CHECK_INT(mock_calls[KK_STORE_DAY], <=, 1);
  }
  kk_store_point_t p;
  KK_CHECK_INT(kk_store_aggregate(s, 1, 40 * D, 41 * D, &p), ==, 0);
  KK_CHECK_INT(p.count, ==, 0);
  KK_CHECK(isnan(p.avg));
  kk_store_unref(s);
}

KK_TEST(datastream_id_lookup) {
  kk_store_t *s = kk_store_new("m", "mock", &mock_vt, NULL);
  int64_t id = 0;
  KK_CHECK_INT(kk_store_datastream_id(s, "t", "co2", "ppm", &id), ==, 0);
  KK_CHECK_INT(id, ==, 7);
  KK_CHECK_INT(kk_store_datastream_id(s, "u", "co2", "ppm", &id), ==,
               KK_EUNKNOWN);
  KK_CHECK_INT(kk_store_datastream_id(s, "t*", "co2", "ppm", &id), ==,
               KK_EINVAL);
  kk_store_unref(s);
}

/* The SQLite backend opened from a file: refuses what is not a store,
 * reads what the schema holds. */
KK_TEST(sqlite_open_checks_the_file) {
  char dir[] = "/tmp/kk-test-store-XXXXXX";
  KK_CHECK(mkdtemp(dir) != NULL);
  char path[256], junk[256];
  snprintf(path, sizeof path, "%s/s.db", dir);
  snprintf(junk, sizeof junk, "%s/junk.db", dir);
  kk_store_t *s = NULL;
  KK_CHECK_INT(kk_store_open("sqlite", path, &s), ==, -ENOENT);
  FILE *f = fopen(junk, "w");
  for (int i = 0; i < 4096; i++)
    fputc(i * 7 & 0xff, f);
  fclose(f);
  KK_CHECK_INT(kk_store_open("sqlite", junk, &s), ==, KK_ECORRUPT);
  KK_CHECK(strstr(kk_store_errmsg(), "damaged") != NULL);
  KK_CHECK_INT(kk_store_open("nosuch", path, &s), ==, KK_EUNKNOWN);

  sqlite3 *db;
  KK_CHECK_INT(sqlite3_open(path, &db), ==, SQLITE_OK);
  KK_CHECK_INT(
      sqlite3_exec(
          db,
          "CREATE TABLE schema_version(version INTEGER PRIMARY KEY, "
          "applied_ms INTEGER);"
          "INSERT INTO schema_version VALUES(1, 0);"
          "CREATE TABLE things(id INTEGER PRIMARY KEY, name TEXT, properties "
          "TEXT);"
          "CREATE TABLE locations(id INTEGER PRIMARY KEY, thing_id INTEGER, "
          "name TEXT, geojson TEXT);"
          "CREATE TABLE datastreams(id INTEGER PRIMARY KEY, thing_id INTEGER, "
          "property TEXT, unit TEXT, sector TEXT);"
          "CREATE TABLE observations(ds INTEGER, time INTEGER, value REAL, "
          "PRIMARY KEY(ds, time)) WITHOUT ROWID;"
          "CREATE TABLE obs_hourly(ds, bucket, count, sum, min, max, avg, "
          "PRIMARY KEY(ds, bucket)) WITHOUT ROWID;"
          "CREATE TABLE obs_daily(ds, bucket, count, sum, min, max, avg, "
          "PRIMARY KEY(ds, bucket)) WITHOUT ROWID;"
          "INSERT INTO things VALUES(1, 'room-1', NULL);"
          "INSERT INTO datastreams VALUES(5, 1, 'co2', 'ppm', NULL);"
          "INSERT INTO observations VALUES(5, 1000, 400), (5, 2000, 800);",
          NULL, NULL, NULL),
      ==, SQLITE_OK);
  sqlite3_close(db);
  KK_CHECK_INT(kk_store_open("sqlite", path, &s), ==, 0);
  int64_t id = 0;
  KK_CHECK_INT(kk_store_datastream_id(s, "room-1", "co2", "ppm", &id), ==, 0);
  KK_CHECK_INT(id, ==, 5);
  kk_store_point_t p;
  KK_CHECK_INT(kk_store_latest(s, &id, 1, &p), ==, 0);
  KK_CHECK_INT(p.time_ms, ==, 2000);
  KK_CHECK_DBL(p.avg, 800, 0);
  KK_CHECK_INT(kk_store_aggregate(s, id, 0, 3000, &p), ==, 0);
  KK_CHECK_INT(p.count, ==, 2);
  KK_CHECK_DBL(p.avg, 600, 1e-9);
  char dest[256];
  snprintf(dest, sizeof dest, "%s/copy.db", dir);
  KK_CHECK_INT(kk_store_backup(s, dest), ==, 0);
  KK_CHECK_INT(kk_store_backup(s, dest), ==, -EEXIST);
  kk_store_unref(s);
  KK_CHECK_INT(kk_store_open("sqlite", dest, &s), ==, 0);
  KK_CHECK_INT(kk_store_latest(s, &id, 1, &p), ==, 0);
  KK_CHECK_INT(p.count, ==, 1);
  kk_store_unref(s);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  KK_CHECK_INT(system(cmd), ==, 0);
}

/* COPY text of values (store.postgres writes kk_fmt_double): the short
 * form must read back exactly, and a value that needs all 17 digits must
 * keep them. */
KK_TEST(fmt_double_round_trips) {
  struct {
    double v;
    const char *want;
  } fixed[] = {{21.3, "21.3"},   {412, "412"},
               {0.05, "0.05"},   {-0.05, "-0.05"},
               {-7, "-7"},       {0.0, "0"},
               {-0.0, "-0"},     {1.234, "1.234"},
               {1e-12, "1e-12"}, {0.1 + 0.2, "0.30000000000000004"},
               {1e300, "1e+300"}};
  char buf[32];
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
    kk_fmt_double(fixed[i].v, buf);
    if (strcmp(buf, fixed[i].want) != 0)
      KK__FAIL("%.17g: got %s, want %s", fixed[i].v, buf, fixed[i].want);
  }
  /* Random doubles of every magnitude, and decimals of 0-9 places. */
  uint64_t x = 88172645463325252u;
  for (int i = 0; i < 2000000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    double v;
    if (i % 2) {
      memcpy(&v, &x, sizeof v);
      if (!isfinite(v)) continue;
    } else {
      static const double p[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
      v = (double)(int64_t)(x % 2000000001u - 1000000000) / p[(x >> 40) % 10];
    }
    size_t n = kk_fmt_double(v, buf);
    if (n != strlen(buf) || n >= 32) KK__FAIL("length %zu for %.17g", n, v);
    double back = strtod(buf, NULL);
    if (memcmp(&back, &v, sizeof v) != 0)
      KK__FAIL("%.17g printed as %s reads back as %.17g", v, buf, back);
  }
}

KK_TEST_MAIN(KK_CASE(fmt_double_round_trips),
             KK_CASE(registry_find_default_unregister),
             KK_CASE(auto_resolution_by_span),
             KK_CASE(aggregate_composes_rollups_and_raw),
             KK_CASE(datastream_id_lookup),
             KK_CASE(sqlite_open_checks_the_file))
