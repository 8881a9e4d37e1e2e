/* modules/decode/ttn_v3.c - decode.ttn_v3: The Things Stack v3 uplinks
 * with a decoded_payload (see decode_lns.c). */
#include <klimakit.h>

#include "decode/decode_lns.h"

static int ttn_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  return decode_lns_create(st, o, state, 0);
}

static const kk_option_t options[] = {DECODE_LNS_OPTIONS, {NULL}};

const kk_module_t decode_ttn_v3_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "ttn_v3",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes The Things Stack v3 uplinks (decoded_payload).",
    .description =
        "Takes MQTT messages of `v3/{app}@{tenant}/devices/{device}/up`: "
        "every number in `uplink_message.decoded_payload` (nested objects "
        "as dotted names) becomes a reading on `end_device_ids.device_id` "
        "at `received_at`. Without decoded_payload the message is rejected "
        "(reason no_decoded_payload); use `kk.decode.lua { envelope = "
        "\"ttn-v3\" }` to decode frm_payload yourself.",
    .options = options,
    .create = ttn_create,
    .process = decode_lns_process,
    .destroy = decode_lns_destroy,
};
