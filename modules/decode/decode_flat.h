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

/* What a walk left out, for the caller's counters: string members (not
 * numeric, or numeric while conversion is off), numbers that are not
 * finite (1e999 parses as infinity), and members past the depth or name
 * length limits.  Arrays and nulls are not counted. */
typedef struct flatjson_stats {
  size_t strings, nonfinite, too_deep;
} flatjson_stats_t;

struct cJSON;

/* Parses `len` bytes as one JSON document, strictly: nothing but white
 * space may follow the value, and no object at any depth may repeat a
 * key (RFC 8259 leaves both to the parser; accepting them would let two
 * readers of the same message see different values).  Returns the tree
 * (caller frees with cJSON_Delete), or NULL with *rc set (KK_EPARSE with
 * a one-line reason in err, or KK_ENOMEM). */
struct cJSON *flatjson_parse(const void *data, size_t len, int *rc, char *err,
                             size_t errlen);

/* Walks the JSON object text `json` (len bytes), strictly parsed as
 * flatjson_parse() does. */
int flatjson_walk(const char *json, size_t len, flatjson_cb cb, void *ctx,
                  char *err, size_t errlen);

/* Walks the members of the object `obj` (a tree from flatjson_parse());
 * with `numeric_strings`, a string that is a whole finite JSON-style
 * number ("21.5", "-3e2") is a value too.  `stats` (may be NULL) counts
 * what was left out. */
int flatjson_walk_tree(const struct cJSON *obj, int numeric_strings,
                       flatjson_stats_t *stats, flatjson_cb cb, void *ctx);

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
  int numeric_strings;     /* as for flatjson_walk_tree() */
  flatjson_stats_t *stats; /* may be NULL */
} flatjson_opts_t;

/* The message is parsed strictly (flatjson_parse()).  `thing` and
 * *time_ms are set before the first call of cb, so that cb may read them. */
int flatjson_message(const void *data, size_t len, const flatjson_opts_t *o,
                     int64_t *time_ms, char *thing, size_t thing_len,
                     flatjson_cb cb, void *ctx, char *err, size_t errlen);

#endif
