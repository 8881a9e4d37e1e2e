/*
 * modules/decode/decode_lns.h - the stage behind decode.ttn_v3 and
 * decode.chirpstack_v4 (LoRaWAN network-server uplinks with a payload the
 * network server decoded).  Family layer of modules/decode/, not a module.
 */
#ifndef KK_DECODE_LNS_H
#define KK_DECODE_LNS_H

#include <klimakit.h>

#include "decode/decode_common.h"

/* The options both modules take: `radio`, `numeric_strings`, then
 * DECODE_COMMON_OPTIONS. */
#define DECODE_LNS_OPTIONS                                                     \
  {.name = "radio",                                                            \
   .type = KK_OPT_BOOL,                                                        \
   .def = "false",                                                             \
   .description = "Also emit the best gateway's RSSI (property rssi, "         \
                  "dB.mW) and SNR (snr, dB); the best gateway is the one "     \
                  "with the highest RSSI."},                                   \
      {.name = "numeric_strings",                                              \
       .type = KK_OPT_BOOL,                                                    \
       .def = "false",                                                         \
       .description = "Strings in the decoded payload that hold exactly one "  \
                      "JSON number (\"21.5\") become values; other strings "   \
                      "are counted (reason string_value) either way."},        \
      DECODE_COMMON_OPTIONS

/* create/process/destroy of the stage; `chirpstack` picks the envelope
 * (0: The Things Stack v3 uplink, 1: ChirpStack v4 up event). */
int decode_lns_create(kk_stage_t *st, const kk_opts_t *o, void **state,
                      int chirpstack);
int decode_lns_process(kk_stage_t *st, void *state, kk_batch_t *b);
void decode_lns_destroy(void *state);

#endif
