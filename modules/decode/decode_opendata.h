/*
 * modules/decode/decode_opendata.h - what the decoders of polled open-data
 * APIs share (decode.uba, decode.telraam, decode.sensorthings, decode.dwd).
 *
 * Their parsers are stage-free: they hand each value, and each value or
 * record they cannot decode, to an od_emit_t.  The stage binds it to a
 * decode_out_t (od_bind): values go through the datastream mapping of
 * decode_common (`map` keyed by the API's own name, else the decoder's
 * default property and UCUM unit), rejections are counted as
 * kk_rejected_total{stage,reason} and logged rate-limited with the
 * journal sequence number.  The fuzz targets bind it to stubs.
 *
 * Bounds every parser keeps: a message larger than `max_size` is refused
 * before it is parsed; JSON with duplicate keys or trailing bytes is
 * refused (kk_json_duplicate_key); names and ids longer than the buffers
 * here are refused, never truncated into another thing's name.
 */
#ifndef KK_MODULES_DECODE_OPENDATA_H
#define KK_MODULES_DECODE_OPENDATA_H

#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/decode_common.h"

struct cJSON;

/* Longest thing, property or unit a decoder builds. */
#define OD_NAME_MAX 128

typedef struct od_emit od_emit_t;
struct od_emit {
  /* One value.  `name` is the API's name (the key of `map`); `prop` and
   * `unit` the decoder's default datastream for it, or NULL: an unknown
   * quantity under decode_common's `unknown` policy.  Returns 0 or a
   * negative code (out of memory ends the message). */
  int (*value)(od_emit_t *e, const char *thing, const char *name,
               const char *prop, const char *unit, int64_t time_ms, double v);
  /* One value (or a record of them) that could not be decoded. */
  void (*reject)(od_emit_t *e, const char *reason, const char *detail);
  void *ctx;
  size_t nvalues, nrejected;
};

/* The calls a parser makes: count, check finiteness, forward. */
int od_value(od_emit_t *e, const char *thing, const char *name,
             const char *prop, const char *unit, int64_t time_ms, double v);
void od_reject(od_emit_t *e, const char *reason, const char *fmt, ...)
    KK_PRINTF(3, 4);

/* Binds `e` to the stage output of one raw message. */
void od_bind(od_emit_t *e, decode_out_t *out);

/* Parses a whole JSON document of `len` bytes: refuses trailing bytes
 * other than white space and duplicate keys.  Returns the tree (caller
 * cJSON_Delete()s it) or NULL with a reason in `why`. */
struct cJSON *od_json_parse(const uint8_t *data, size_t len, char *why,
                            size_t whylen);

/* A JSON number, or a string holding exactly a finite decimal number
 * (APIs that write values as text).  Returns 0 or -1. */
int od_json_number(const struct cJSON *j, double *v);
/* An id: a JSON integer or a non-empty string of printable ASCII without
 * '/' or white space, as text.  Returns 0 or -1 (too long, other type). */
int od_json_id(const struct cJSON *j, char *out, size_t outlen);

/* Parses a decimal number of exactly `len` bytes (surrounding white space
 * allowed).  Returns 0 or -1. */
int od_parse_double(const char *s, size_t len, double *v);

/* Copies Latin-1 `s` (len bytes) as UTF-8 into out (NUL-terminated);
 * returns 0 or -1 when it does not fit. */
int od_latin1_utf8(const char *s, size_t len, char *out, size_t outlen);

/* A property name made from an API's label: ASCII letters and digits
 * lower-cased, every run of other bytes one '_', no leading or trailing
 * '_'.  Returns 0 or -1 (empty or too long). */
int od_property_name(const char *label, char *out, size_t outlen);

/* `prefix` followed by `id` into out; returns 0 or -1 when too long. */
int od_thing(char *out, size_t outlen, const char *prefix, const char *id);

/* The `time` option all four decoders share. */
#define OD_TIME_START 0
#define OD_TIME_END 1

#endif
