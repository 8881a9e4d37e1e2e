/*
 * tests/unit/test_thing.c - thing descriptions (klimakit/thing.h): merge
 * semantics, the store form, versions, refusals and the bound.
 */
#include <klimakit.h>
#include <klimakit/thing.h>

#include <cJSON.h>

#include "kk_test.h"

/* The store form of thing `id` in the answer since `since`, or NULL. */
static cJSON *form(const char *id, uint64_t since, uint64_t *version) {
  char *text = kk_things_json(since, version);
  cJSON *root = text ? cJSON_Parse(text) : NULL;
  free(text);
  cJSON *t = root ? cJSON_DetachItemFromObject(root, id) : NULL;
  cJSON_Delete(root);
  return t;
}

static const char *prop(const cJSON *t, const char *k) {
  const cJSON *p = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "properties"), k);
  return cJSON_IsString(p) ? p->valuestring : NULL;
}

KK_TEST(describe_and_merge) {
  kk_thing_info_t i = kk_thing_info_none();
  i.label = "Leipzig-Mitte";
  i.lat = 51.344;
  i.lon = 12.376;
  i.properties = "{\"station_type\":\"Verkehr\",\"zip\":\"04109\"}";
  KK_CHECK_INT(kk_thing_describe("uba-901", &i), ==, 0);
  uint64_t v1;
  cJSON *t = form("uba-901", 0, &v1);
  KK_CHECK(t != NULL);
  KK_CHECK_STR(prop(t, "label"), "Leipzig-Mitte");
  KK_CHECK_STR(prop(t, "station_type"), "Verkehr");
  const cJSON *loc = cJSON_GetObjectItem(t, "location");
  KK_CHECK_DBL(cJSON_GetArrayItem(loc, 0)->valuedouble, 12.376, 1e-12);
  KK_CHECK_DBL(cJSON_GetArrayItem(loc, 1)->valuedouble, 51.344, 1e-12);
  KK_CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "properties"),
                               "public") == NULL);
  cJSON_Delete(t);

  /* A second description with only a group keeps label, place and
   * properties, and changes the version. */
  kk_thing_info_t g = kk_thing_info_none();
  g.group = "leipzig";
  g.public_ = KK_THING_PUBLIC;
  g.properties = "{\"zip\":\"04107\"}";
  KK_CHECK_INT(kk_thing_describe("uba-901", &g), ==, 0);
  uint64_t v2;
  t = form("uba-901", v1, &v2);
  KK_CHECK(t != NULL && v2 > v1);
  KK_CHECK_STR(prop(t, "label"), "Leipzig-Mitte");
  KK_CHECK_STR(prop(t, "group"), "leipzig");
  KK_CHECK_STR(prop(t, "zip"), "04107");
  KK_CHECK_STR(prop(t, "station_type"), "Verkehr");
  KK_CHECK(cJSON_IsTrue(
      cJSON_GetObjectItem(cJSON_GetObjectItem(t, "properties"), "public")));
  KK_CHECK(cJSON_GetObjectItem(t, "location") != NULL);
  cJSON_Delete(t);

  /* The same description again changes nothing: no new version, nothing
   * for a store to write. */
  KK_CHECK_INT(kk_thing_describe("uba-901", &g), ==, 0);
  uint64_t v3;
  char *none = kk_things_json(v2, &v3);
  KK_CHECK(none == NULL);
  KK_CHECK(v3 == v2 && kk_things_version() == v2);
}

KK_TEST(only_changed_things_since_a_version) {
  kk_thing_info_t i = kk_thing_info_none();
  i.label = "A";
  KK_CHECK_INT(kk_thing_describe("a", &i), ==, 0);
  uint64_t v;
  free(kk_things_json(0, &v));
  i.label = "B";
  KK_CHECK_INT(kk_thing_describe("b", &i), ==, 0);
  char *text = kk_things_json(v, NULL);
  KK_CHECK(text && strstr(text, "\"b\"") && !strstr(text, "\"a\""));
  free(text);
}

KK_TEST(refusals) {
  kk_thing_info_t i = kk_thing_info_none();
  KK_CHECK_INT(kk_thing_describe("", &i), ==, KK_EINVAL);
  KK_CHECK_INT(kk_thing_describe(NULL, &i), ==, KK_EINVAL);
  i.lat = 91;
  i.lon = 0;
  KK_CHECK_INT(kk_thing_describe("x", &i), ==, KK_ERANGE);
  i.lat = 50; /* lon without lat and the reverse */
  i.lon = NAN;
  KK_CHECK_INT(kk_thing_describe("x", &i), ==, KK_EINVAL);
  i = kk_thing_info_none();
  i.properties = "[1,2]";
  KK_CHECK_INT(kk_thing_describe("x", &i), ==, KK_EINVAL);
  i.properties = "{\"a\":";
  KK_CHECK_INT(kk_thing_describe("x", &i), ==, KK_EINVAL);
  char big[KK_THING_TEXT_MAX + 8];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  i = kk_thing_info_none();
  i.label = big;
  KK_CHECK_INT(kk_thing_describe("x", &i), ==, KK_ETOOBIG);
  kk_thing_info_t none = kk_thing_info_none();
  KK_CHECK_INT(kk_thing_describe(big, &none), ==, KK_ETOOBIG);
  /* Nothing of it was kept. */
  KK_CHECK(kk_things_json(0, NULL) == NULL);
}

KK_TEST(bounded) {
  kk_thing_info_t i = kk_thing_info_none();
  char id[32];
  for (int k = 0; k < KK_THING_MAX; k++) {
    snprintf(id, sizeof id, "t-%d", k);
    if (kk_thing_describe(id, &i) != 0)
      KK_CHECK(!"a description below the bound failed");
  }
  KK_CHECK_INT(kk_thing_describe("one-more", &i), ==, KK_EFULL);
  /* A known thing may still be described. */
  i.label = "still";
  KK_CHECK_INT(kk_thing_describe("t-7", &i), ==, 0);
}

KK_TEST_MAIN(KK_CASE(describe_and_merge),
             KK_CASE(only_changed_things_since_a_version), KK_CASE(refusals),
             KK_CASE(bounded))
