/* libFuzzer target: the Lua decoder bridge (modules/decode/lua.c).
 *
 * The first input byte chooses the decoder (the three shipped ones in
 * recipes/decoders/ and tests/fuzz/fuzz_lua_garbage.lua, which turns its
 * payload into arbitrary return values) and the envelope (raw, TTS v3,
 * ChirpStack v4); the rest is the raw message.  Everything between the
 * raw bytes and the validated readings runs: envelope parsing, the fPort
 * check against the decoder's declared ports, the bytes library, the
 * sandboxed call under its budget, ctx, result validation, kk.decode.none.
 * Raw messages get the decoder's own first port, or port 1 when bit 0x40
 * of the first byte is set (so that wrong ports are rejected too).  The
 * loading code (lua_load.c) comes from the library.  Run from the
 * repository root (tests/fuzz/run.sh does). */
#define decode_lua_module fuzz_lua_module_unused /* the library has its own */
#include "../../modules/decode/lua/lua.c"

static const char *const fuzz_decoders[] = {
    "recipes/decoders/elsys.lua", "recipes/decoders/milesight_am300.lua",
    "recipes/decoders/decentlab_dl_lp8p.lua",
    "tests/fuzz/fuzz_lua_garbage.lua"};
#define FUZZ_ND (sizeof fuzz_decoders / sizeof fuzz_decoders[0])
static ld_stage_t *fuzz_st[FUZZ_ND][3];
static int fuzz_port[FUZZ_ND][3]; /* the decoder's first declared port */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  /* A small budget and cap keep runaway inputs cheap; the deadline is
   * generous so that a slow sanitizer run does not change the outcome. */
  kk_lua_limits_t lim = {4u << 20, 20000, 2000};
  for (size_t d = 0; d < FUZZ_ND; d++)
    for (int e = 0; e < 3; e++) {
      ld_stage_t *s = ld_stage_new();
      char err[1024];
      if (!s || ld_find(s, fuzz_decoders[d]) != 0 ||
          ld_load(s, &lim, "fuzz", "{\"model\":\"am319\"}", err, sizeof err) !=
              0) {
        fprintf(stderr,
                "fuzz_lua: cannot load %s (run from the repository root)\n",
                fuzz_decoders[d]);
        abort();
      }
      s->envelope = e;
      s->port = 1;
      for (int p = 255; p >= 1; p--)
        if (s->has_ports && (s->ports[p / 8] >> (p % 8) & 1)) s->port = p;
      fuzz_port[d][e] = s->port;
      fuzz_st[d][e] = s;
    }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t dn = data[0] % FUZZ_ND, en = (data[0] / FUZZ_ND) % 3;
  ld_stage_t *s = fuzz_st[dn][en];
  s->port = (data[0] & 0x40) ? 1 : fuzz_port[dn][en];
  kk_raw_t raw = {7,
                  1767225600000,
                  data + 1,
                  (uint32_t)(size - 1),
                  0,
                  (data[0] & 0x80)
                      ? "{\"topic\":\"raw/x\",\"device\":\"x\",\"port\":\"9\"}"
                      : "raw/x"};
  int64_t t0;
  char thing[128], why[200];
  const char *reason = "parse";
  int rc =
      ld_message(s, &raw, &t0, thing, sizeof thing, why, sizeof why, &reason);
  if (rc == 0) {
    volatile double acc = s->none ? (double)strlen(s->note) : 0;
    for (size_t i = 0; i < s->nres; i++)
      acc += s->res[i].value + (double)strlen(s->res[i].property) +
             (double)strlen(s->res[i].unit) + (double)strlen(s->res[i].thing);
    (void)acc;
  } else {
    volatile size_t n = strlen(why) + strlen(reason);
    (void)n;
  }
  return 0;
}
