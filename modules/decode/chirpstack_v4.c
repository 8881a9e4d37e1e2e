/* modules/decode/chirpstack_v4.c - decode.chirpstack_v4: ChirpStack v4 up
 * events with an object (see decode_lns.c). */
#include <klimakit.h>

#include "decode/decode_lns.h"

static int cs_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  return decode_lns_create(st, o, state, 1);
}

static const kk_option_t options[] = {DECODE_LNS_OPTIONS, {NULL}};

const kk_module_t decode_chirpstack_v4_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "chirpstack_v4",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes ChirpStack v4 up events (object).",
    .description =
        "Takes MQTT messages of `application/{id}/device/{devEui}/event/up`: "
        "every number in `object` (present when the device profile has a "
        "codec) becomes a reading on `deviceInfo.devEui` at `time`. Without "
        "object the message is rejected (reason no_decoded_payload); use "
        "`kk.decode.lua { envelope = \"chirpstack-v4\" }` for `data`.",
    .options = options,
    .create = cs_create,
    .process = decode_lns_process,
    .destroy = decode_lns_destroy,
};
