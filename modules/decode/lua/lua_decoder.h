/*
 * modules/decode/lua/lua_decoder.h - what the files of decode.lua share.
 *
 * lua.c holds the module (options, stages, kk.decode_lua), lua_message.c
 * runs one message through the decoder, lua_bytes.c is the `bytes`
 * library the decoders get.  A stage's state is used by the loop thread
 * only.
 */
#ifndef KK_DECODE_LUA_DECODER_H
#define KK_DECODE_LUA_DECODER_H

#include <klimakit.h>
#include <klimakit/lua.h>

#include <limits.h>
#include <lua.h>

#include "decode/decode_common.h"

#define LD_MAX_READINGS 1024 /* per message */

enum { LD_TTN_V3 = 0, LD_CHIRPSTACK_V4 = 1, LD_RAW = 2 };

typedef struct ld_result {
  char property[128];
  char unit[32];
  char thing[128];
  int has_time;
  int64_t time_ms;
  double value;
} ld_result_t;

typedef struct ld_stage {
  decode_common_t dc;
  lua_State *L;
  int envelope;
  int port; /* raw envelope: the port given to the decoder */
  int decode_ref, config_ref;
  char path[PATH_MAX];
  ld_result_t *res; /* results of the message being decoded */
  size_t nres, capres;
  char thing[128]; /* ctx.thing set by the decoder, or "" */
} ld_stage_t;

/* Decodes one raw message with the stage's decoder into s->res (s->nres
 * results, valid until the next call), with the envelope's time in *t0
 * and its device (or ctx.thing) in `thing`.  Returns 0, or a negative
 * code with the reason (a static string) in *reason and the detail in
 * `why`. */
int ld_message(ld_stage_t *s, const kk_raw_t *raw, int64_t *t0, char *thing,
               size_t thinglen, char *why, size_t whylen, const char **reason);

/* Cuts an error message at its first newline (before the traceback), in
 * place, and returns it. */
char *ld_first_line(char *msg);

/* Pushes a new table holding the `bytes` library. */
void ld_bytes_open(lua_State *L);
/* bytes.fromhex(s): the bytes of a hex string, or nil and a message. */
int ld_bytes_fromhex(lua_State *L);

#endif
