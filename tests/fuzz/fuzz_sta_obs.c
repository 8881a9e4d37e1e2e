/* libFuzzer target: decode.sensorthings's parser (modules/decode/
 * sensorthings.c) on Observation collections.  The module is included with
 * its descriptor renamed; the stage state gets a map with one Datastream
 * id, one name and one thing, so that the mapped and derived paths both
 * run; the request URL names a Datastream for every other input. */
#define decode_sensorthings_module fuzz_sta_module_unused
#include "../../modules/decode/decode_opendata.c"
#include "../../modules/decode/sensorthings.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_value(od_emit_t *e, const char *thing, const char *name,
                      const char *prop, const char *unit, int64_t t, double v) {
  (void)e, (void)t, (void)v;
  volatile size_t n = strlen(thing) + strlen(name) + (prop ? strlen(prop) : 0) +
                      (unit ? strlen(unit) : 0);
  (void)n;
  return 0;
}

static void fuzz_reject(od_emit_t *e, const char *reason, const char *d) {
  (void)e;
  volatile size_t n = strlen(reason) + strlen(d);
  (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static decode_map_entry_t map[] = {{"7", "air_temperature", "Cel"},
                                     {"Bikes", "count_bike", "1"}};
  static sta_thing_t things[] = {{"Bikes", "radzaehler-1"}};
  sta_state_t s = {.prefix = "sta-",
                   .time_start = (int)(size & 1),
                   .max_size = 1 << 20,
                   .things = things,
                   .nthings = 1};
  s.dc.map = map;
  s.dc.nmap = 2;
  s.dc.reject_unknown = (int)((size >> 1) & 1);
  od_emit_t e = {.value = fuzz_value, .reject = fuzz_reject};
  char why[200];
  const char *reason = "parse";
  sta_parse(&s, data, size,
            size & 4 ? "http://x/v1.1/Datastreams(4711)/Observations"
                     : "http://x/v1.1/Observations",
            &e, why, sizeof why, &reason);
  return 0;
}
