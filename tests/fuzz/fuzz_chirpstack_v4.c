/* libFuzzer target: ChirpStack v4 up events (modules/decode/decode_uplink.c):
 * the uplink harness of fuzz_ttn_v3.c with the other parser. */
#define FUZZ_PARSE uplink_parse_chirpstack_v4
#include "fuzz_ttn_v3.c"
