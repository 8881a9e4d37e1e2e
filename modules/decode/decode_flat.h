/*
 * modules/decode/decode_flat.h - flat JSON messages: every number (and
 * boolean) of a JSON object becomes a value named by its dotted path.
 *
 * Stage-free parsers shared by decode.json, the network-server decoders
 * (for an uplink's decoded payload) and the fuzz targets.  The functions
 * return 0, the callback's non-zero result, KK_EPARSE with a one-line
 * reason in `err` (errlen bytes, NUL-terminated), or KK_ENOMEM.
 */
#ifndef KK_DECODE_FLAT_H
#define KK_DECODE_FLAT_H

#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>

/* Called for every number (and boolean, as 0/1) of a JSON object; nested
 * objects give dotted names ("air.temperature").  Returns 0 to go on. */
typedef int (*flatjson_cb)(void *ctx, const char *name, double value);

/* Walks the JSON object text `json` (len bytes). */
int flatjson_walk(const char *json, size_t len, flatjson_cb cb, void *ctx,
                  char *err, size_t errlen);

/* Flat JSON message with a time field: `time_field` (NULL: none) read as
 * time_unit 0 auto (number >= 1e11 ms, else s; string ISO 8601), 1 s,
 * 2 ms, 3 ISO 8601, into *time_ms (left alone when absent); `thing_field`
 * (NULL: none) copied into thing.  Values: every other number/boolean,
 * or only `fields` (NULL-terminated) when given. */
typedef struct flatjson_opts {
  const char *time_field;
  int time_unit;
  const char *thing_field;
  const char *const *fields;
} flatjson_opts_t;

int flatjson_message(const void *data, size_t len, const flatjson_opts_t *o,
                     int64_t *time_ms, char *thing, size_t thing_len,
                     flatjson_cb cb, void *ctx, char *err, size_t errlen);

#endif
