/* tests/unit/test_file_sink.c - the sink family layer that sink.file and
 * sink.jsonl share: RFC 4180 fields and the time forms.  sink.file's own
 * stage is tested through the binary (tests/e2e/test_file_sink.sh): the
 * testing kit (klimakit/testing.h) connects every stage to a capture and
 * so cannot create a sink yet. */
#include "kk_test.h"

#include "sink/sink_format.h"
#include "../support/stage_kit.h"

KK_TEST(csv_field_quotes_only_when_needed) {
  sink_out_t o = {0};
  const char *in[] = {"plain", "a,b", "say \"hi\"", "two\nlines", "semi;colon"};
  const char *want[] = {"plain", "\"a,b\"", "\"say \"\"hi\"\"\"",
                        "\"two\nlines\"", "semi;colon"};
  for (int i = 0; i < 5; i++) {
    o.len = 0;
    KK_CHECK_INT(sink_reserve(&o, 2 * strlen(in[i]) + 3), ==, 0);
    sink_csv_field(&o, in[i], strlen(in[i]), ',');
    o.p[o.len] = 0;
    KK_CHECK_STR(o.p, want[i]);
  }
  o.len = 0;
  sink_csv_field(&o, "semi;colon", 10, ';');
  o.p[o.len] = 0;
  KK_CHECK_STR(o.p, "\"semi;colon\"");
  sink_out_free(&o);
}

KK_TEST(local_time_has_its_offset) {
  sink_fmt_t f;
  sink_fmt_init(&f, ',', "Europe/Berlin");
  char buf[SINK_TIME_MAX];
  sink_time(&f, sk_utc(2026, 3, 29, 0, 59), SINK_TIME_LOCAL, buf);
  KK_CHECK_STR(buf, "2026-03-29T01:59:00.000+01:00");
  sink_time(&f, sk_utc(2026, 3, 29, 1, 0), SINK_TIME_LOCAL, buf);
  KK_CHECK_STR(buf, "2026-03-29T03:00:00.000+02:00");
  sink_time(&f, -1, SINK_TIME_MS, buf);
  KK_CHECK_STR(buf, "-1");
  sink_time(&f, 0, SINK_TIME_ISO, buf);
  KK_CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
  sink_fmt_free(&f);
}

KK_TEST_MAIN(KK_CASE(csv_field_quotes_only_when_needed),
             KK_CASE(local_time_has_its_offset))
