/*
 * modules/decode/lua/lua_decoder.h - what the files of decode.lua share.
 *
 * lua.c holds the module (options, stages, kk.decode_lua), lua_load.c
 * loads a decoder file into a state, lua_message.c runs one message
 * through the decoder, lua_bytes.c is the `bytes` library the decoders
 * get, lua_cli.c the `klimakit decode` command and the conversion of a
 * config to JSON.  A stage's state is used by the loop thread only.
 */
#ifndef KK_DECODE_LUA_DECODER_H
#define KK_DECODE_LUA_DECODER_H

#include <klimakit.h>
#include <klimakit/lua.h>

#include <limits.h>
#include <lua.h>

#include "decode/decode_common.h"

#define LD_MAX_READINGS 1024 /* per message */
/* Registry field the bytes library sets before it raises a read past the
 * end of the payload: the message is then rejected as "truncated". */
#define LD_TRUNCATED_KEY "kk.decode.truncated"

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
  char thing[128];     /* ctx.thing set by the decoder, or "" */
  int none_ref;        /* the kk.decode.none sentinel of the state */
  int has_ports;       /* the file declared `ports` */
  uint8_t ports[32];   /* bit set of the declared fPorts */
  char ports_text[96]; /* "5" or "1, 2, 3", for messages */
  int none;            /* the last message held nothing to store */
  char note[160];      /* what the decoder said about it */
  kk_metric_t *m_none; /* kk_decoded_empty_total, stages only */
} ld_stage_t;

/* A zeroed stage with no state (refs LUA_NOREF), or NULL when out of
 * memory.  Free with ld_stage_free(). */
ld_stage_t *ld_stage_new(void);
/* Closes the state and frees the stage (also its decode_common part).
 * NULL-safe. */
void ld_stage_free(ld_stage_t *s);
/* Finds the decoder file `p` (as given, else under KK_DATADIR) and sets
 * s->path.  Returns 0 or -1 when it is not readable. */
int ld_find(ld_stage_t *s, const char *p);
/* Creates the decoder's state from s->path with limits `lim` (NULL: the
 * defaults), runs the file and reads its decode function, its `ports`
 * and the config (JSON text or NULL).  Returns 0 or a negative code with
 * a message in err. */
int ld_load(ld_stage_t *s, const kk_lua_limits_t *lim, const char *name,
            const char *config, char *err, size_t errlen);

/* The Lua value at `idx` (a table) as JSON text, for a decoder's config:
 * string keys make objects, 1..n keys arrays; strings, numbers and
 * booleans are values.  Returns a string the caller frees, or NULL with
 * a message in err (a function or userdata inside, a cycle, too deep). */
char *ld_config_json(lua_State *L, int idx, char *err, size_t errlen);

/* The `klimakit decode` command. */
extern const kk_command_t ld_commands[];

/* Decodes one raw message with the stage's decoder into s->res (s->nres
 * results, valid until the next call), with the envelope's time in *t0
 * and its device (or ctx.thing) in `thing`.  Returns 0 (s->none set when
 * the decoder returned kk.decode.none: no results, s->note its note), or
 * a negative code with the reason (a static string) in *reason and the
 * detail in `why`.  Reasons: decoder, truncated, unknown_record,
 * invalid, port, shape, budget, memcap, no_payload, parse, format,
 * no_values. */
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
