/* tests/unit/test_lua_emit_memo.c - tables a Lua transform emits land on
 * the datastream their strings name while the memo of string addresses
 * (core/lua_batch.c) is shared by more names than it holds (it fills,
 * stops remembering, starts afresh after enough misses), and sees
 * strings that were collected and new ones made (long names are not
 * memoised: they are not interned). */
#include <klimakit/testing.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kk_test.h"

/* Reading i: thing "t<i % 7000>" (every 5th a 50-character name),
 * property "a" for even i, "b" for odd; emitted twice, in unit "1" and
 * "Cel"; value i. */
static void want_thing(int i, char *out, size_t len) {
  if (i % 5 == 2)
    snprintf(out, len, "long-thing-name-that-is-not-interned-by-lua-%05d",
             i % 7000);
  else
    snprintf(out, len, "t%05d", i % 7000);
}

KK_TEST(emitted_tables_keep_their_datastreams) {
  const kk_module_t *m = kk_testing_module("transform", "fn");
  KK_CHECK(m != NULL);
  char err[256];
  kk_testing_t *t = NULL;
  KK_CHECK_INT(
      kk_testing_new(m,
                     "{ fn = function(batch, emit)\n"
                     "  for r in batch:readings() do\n"
                     "    local i = math.tointeger(r.value)\n"
                     "    local name = i % 5 == 2 and string.format("
                     "'long-thing-name-that-is-not-interned-by-lua-%05d',"
                     " i % 7000) or string.format('t%05d', i % 7000)\n"
                     "    local p = i % 2 == 0 and 'a' or 'b'\n"
                     "    emit { thing = name, property = p, unit = '1',"
                     " time = r.time, value = i }\n"
                     "    emit { thing = name, property = p, unit = 'Cel',"
                     " time = r.time, value = i }\n"
                     "  end\n"
                     "  collectgarbage()\n"
                     "end }",
                     NULL, &t, err, sizeof err),
      ==, 0);
  KK_CHECK_INT(kk_testing_start(t), ==, 0);
  uint32_t seed = kk_datastream_id("seed", "v", "1");
  const int total = 40000, per = 1000;
  int bad = 0;
  for (int first = 0; first < total; first += per) {
    kk_batch_t *b = kk_batch_new(per);
    for (int i = first; i < first + per; i++) {
      kk_reading_t r = {1700000000000LL + i, i, seed, 0};
      kk_batch_push(b, &r);
    }
    kk_batch_set_seq(b, (uint64_t)first + per);
    KK_CHECK_INT(kk_testing_feed(t, b, NULL), ==, 0);
    kk_batch_unref(b);
    size_t n = kk_testing_count(t);
    const kk_reading_t *r = kk_testing_readings(t);
    KK_CHECK_INT(n, ==, (size_t)per * 2);
    for (size_t k = 0; k < n; k++) {
      int i = (int)r[k].value;
      char want[80];
      want_thing(i, want, sizeof want);
      const kk_datastream_t *d = kk_datastream_get(r[k].ds);
      if (!d || strcmp(d->thing, want) != 0 ||
          strcmp(d->property, i % 2 == 0 ? "a" : "b") != 0 ||
          strcmp(d->unit, k % 2 ? "Cel" : "1") != 0) {
        if (bad++ < 3)
          fprintf(stderr, "reading %d on %s/%s, want %s\n", i,
                  d ? d->thing : "?", d ? d->property : "?", want);
      }
    }
    kk_testing_clear(t);
  }
  KK_CHECK_INT(bad, ==, 0);
  kk_testing_stop(t);
  KK_CHECK_INT(kk_testing_free(t, err, sizeof err), ==, 0);
}

KK_TEST_MAIN(KK_CASE(emitted_tables_keep_their_datastreams))
