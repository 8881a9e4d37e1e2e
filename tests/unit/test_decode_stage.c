/* tests/unit/test_decode_stage.c - decode.json as a stage: every reading
 * lands on the datastream of its own message's thing while the stage's
 * thing cache (modules/decode/decode_common.c) grows, starts afresh past
 * its limit, and long thing names bypass it. */
#include <klimakit/testing.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kk_test.h"

/* Thing name of message i: 9000 short ones (more than the cache keeps
 * before it starts afresh), every 7th a long one. */
static void thing_name(int i, char *out, size_t len) {
  if (i % 7 == 3)
    snprintf(out, len, "gateway-%04d-with-a-name-longer-than-the-cache-keeps-x",
             i % 9000);
  else
    snprintf(out, len, "s%05d", i % 9000);
}

KK_TEST(json_things_keep_their_datastreams) {
  const kk_module_t *m = kk_testing_module("decode", "json");
  KK_CHECK(m != NULL);
  char err[256];
  kk_testing_t *t = NULL;
  KK_CHECK_INT(kk_testing_new(m,
                              "{ thing_field = 'sensor', time_field = 'ts',"
                              "  map = { co2_ppm = 'co2:ppm',"
                              "          kwh = 'energy:kW.h' } }",
                              NULL, &t, err, sizeof err),
               ==, 0);
  KK_CHECK_INT(kk_testing_start(t), ==, 0);
  const int total = 27000, per = 500;
  int bad = 0, seen = 0;
  for (int first = 0; first < total; first += per) {
    kk_batch_t *b = kk_batch_new(per);
    for (int i = first; i < first + per; i++) {
      char thing[96], msg[256];
      thing_name(i, thing, sizeof thing);
      snprintf(msg, sizeof msg,
               "{\"sensor\":\"%s\",\"ts\":%lld,\"co2_ppm\":%d,\"kwh\":%d.5}",
               thing, 1763700000000LL + i, i, i);
      KK_CHECK_INT(
          kk_batch_push_raw(b, (uint64_t)i + 1, 0, 0, NULL, msg, strlen(msg)),
          ==, 0);
    }
    kk_batch_set_seq(b, (uint64_t)first + per);
    KK_CHECK_INT(kk_testing_feed(t, b, NULL), ==, 0);
    kk_batch_unref(b);
    size_t n = kk_testing_count(t);
    const kk_reading_t *r = kk_testing_readings(t);
    KK_CHECK_INT(n, ==, (size_t)per * 2);
    for (size_t k = 0; k < n; k++) {
      int i = (int)(r[k].time_ms - 1763700000000LL);
      char want[96];
      thing_name(i, want, sizeof want);
      const kk_datastream_t *d = kk_datastream_get(r[k].ds);
      int co2 = r[k].value == (double)i;
      if (!d || strcmp(d->thing, want) != 0 ||
          strcmp(d->property, co2 ? "co2" : "energy") != 0 ||
          (!co2 && r[k].value != i + 0.5)) {
        if (bad++ < 3)
          fprintf(stderr, "message %d: value %g on %s/%s, want thing %s\n", i,
                  r[k].value, d ? d->thing : "?", d ? d->property : "?", want);
      }
      seen++;
    }
    kk_testing_clear(t);
  }
  KK_CHECK_INT(seen, ==, total * 2);
  KK_CHECK_INT(bad, ==, 0);
  /* 9000 short names and thousands of long ones, two quantities each. */
  KK_CHECK_INT(kk_datastream_count(), >, 2u * 9000);
  kk_testing_stop(t);
  KK_CHECK_INT(kk_testing_free(t, err, sizeof err), ==, 0);
}

KK_TEST_MAIN(KK_CASE(json_things_keep_their_datastreams))
