/*
 * modules/decode/decode_senml.h - SenML (RFC 8428) decoding, JSON and CBOR.
 *
 * A small C API that knows nothing about stages or batches, shared by the
 * decode.senml stage, the MQTT source and the CoAP source (which must
 * answer 4.00 synchronously, so it decodes inline).  Include it as
 * "decode/decode_senml.h".
 *
 * The decoder walks a pack and calls `cb` once per *resolved* record
 * (RFC 8428 section 4.6): base name prepended, base unit applied when the
 * record has no unit, base value/base sum added, base time added and a
 * relative time (below 2^28 s, section 4.5.3) resolved against `now_ms`,
 * the reception time.  Fields ending in "_" that it does not understand
 * make the pack invalid (section 4.4); other unknown fields are ignored.
 * A record with base fields only (a base name, no value and no sum, as in
 * section 5.1.7) sets the base state and delivers nothing.  JSON packs
 * with duplicate keys at any depth or bytes after the array (other than
 * JSON white space) are refused, like CBOR packs with trailing bytes.
 *
 * Errors: every function returns 0, KK_EPARSE for malformed input (with a
 * one-line reason such as "record 3: 'v' must be a number" in `err`,
 * `errlen` bytes, always NUL-terminated), KK_ENOMEM, or the non-zero value
 * a callback returned (which stops the walk).  Records before the failing
 * one have already been delivered: a caller that wants all-or-nothing
 * collects them and discards on failure.
 *
 * Content formats (CoAP numbers, RFC 8428 section 12.3): 110
 * application/senml+json, 111 application/sensml+json, 112
 * application/senml+cbor, 113 application/sensml+cbor.  SenSML streams
 * have the same record syntax and are decoded the same way.
 */
#ifndef KK_MODULES_SENML_H
#define KK_MODULES_SENML_H

#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>

#define SENML_CF_JSON 110
#define SENML_CF_SENSML_JSON 111
#define SENML_CF_CBOR 112
#define SENML_CF_SENSML_CBOR 113

/* Which value field a record carries (at most one, section 4.3). */
typedef enum senml_vtype {
  SENML_VALUE_NONE = 0, /* only a sum */
  SENML_VALUE_NUMBER,   /* v (+ bv) */
  SENML_VALUE_STRING,   /* vs */
  SENML_VALUE_BOOL,     /* vb */
  SENML_VALUE_DATA      /* vd: base64url in JSON, a byte string in CBOR */
} senml_vtype_t;

/* One resolved record.  Every pointer is valid only during the callback. */
typedef struct senml_record {
  size_t index;           /* position in the pack, from 0 */
  const char *name;       /* bn + n, NUL-terminated, never empty */
  const char *base_name;  /* bn in force ("" when none) */
  const char *short_name; /* n of the record ("" when none) */
  const char *unit;       /* u, else bu; NULL when neither is given */
  senml_vtype_t vtype;
  double value;        /* SENML_VALUE_NUMBER: v + bv */
  const char *str;     /* SENML_VALUE_STRING: NUL-terminated */
  size_t str_len;      /* its length (it may hold NUL bytes) */
  int boolean;         /* SENML_VALUE_BOOL: 0 or 1 */
  const uint8_t *data; /* SENML_VALUE_DATA: decoded bytes */
  size_t data_len;
  int has_sum; /* s (+ bs) present */
  double sum;
  int64_t time_ms;     /* absolute UTC milliseconds, relative resolved */
  int time_relative;   /* 1 when the time was resolved against now_ms */
  int has_update_time; /* ut present */
  double update_time_s;
  int64_t version; /* bver, 10 when absent */
} senml_record_t;

/* Called per resolved record with the caller's `ctx`.  Returns 0 to go
 * on; anything else stops the walk and is returned by the decoder. */
typedef int (*senml_record_cb)(void *ctx, const senml_record_t *r);

/* Decodes a SenML JSON pack (`len` bytes, need not be NUL-terminated). */
int senml_decode_json(const void *data, size_t len, int64_t now_ms,
                      senml_record_cb cb, void *ctx, char *err, size_t errlen);

/* Decodes a SenML CBOR pack (RFC 8428 section 6, integer labels). */
int senml_decode_cbor(const void *data, size_t len, int64_t now_ms,
                      senml_record_cb cb, void *ctx, char *err, size_t errlen);

/* Dispatches on a CoAP content format (110..113); KK_EUNKNOWN with a
 * reason for any other format. */
int senml_decode(uint32_t format, const void *data, size_t len, int64_t now_ms,
                 senml_record_cb cb, void *ctx, char *err, size_t errlen);

/* Splits a resolved name into thing and property at its last ':' or '/'
 * (the `names = "split"` rule below): thing gets the part before,
 * property the part after.  A name without separator becomes thing "" and
 * property name.  Writes NUL-terminated strings (truncated to the buffer
 * sizes); returns 0, or KK_ERANGE when a part did not fit. */
int senml_split_name(const char *name, char *thing, size_t thing_len,
                     char *property, size_t property_len);

/* ---- SenML names to datastreams ---------------------------------------
 *
 * How a resolved record becomes (thing, property), the same for the
 * sources that decode inline and for decode.senml
 * (docs/guide/push-formats.md has the examples):
 *
 * SENML_NAMES_BASE (the default, `names = "base"`):
 *  1. thing: the context thing when there is one (a path's {thing}, the
 *     stage's `thing` option); else the base name without one trailing
 *     ':' or '/'; else the record's full name n: a device URN
 *     (urn:dev:<type>:<id>, RFC 9039) names the thing and whatever
 *     follows it after ':' or '/' the property, so that a resolved pack
 *     (section 5.1.4) lands where its unresolved form does; any other
 *     full name is the thing as a whole.
 *  2. property: the record name n when the thing came from the base name
 *     or the context (or the rest of a device URN); without one: the
 *     context property (a path's {property}), else the quantity of the
 *     unit (senml_unit_property(): Cel -> temperature, %RH ->
 *     relative_humidity ...), else the unit itself, else "value".
 * SENML_NAMES_SPLIT (`names = "split"`, the rule before 2026): the context
 *     thing, else the resolved name split at its last ':' or '/'.
 *
 * A sum (s, + bs) is a reading of its own: property "<property>.sum",
 * unit the record's unit times seconds (RFC 8428 section 4.2), see
 * senml_sum_unit().  Different resolved names never share a datastream
 * within a pack: senml_guard_check() refuses the pack instead. */
enum { SENML_NAMES_BASE = 0, SENML_NAMES_SPLIT = 1 };
#define SENML_NAMES_CHOICES "base|split"

/* The property name of a SenML unit (RFC 8428 section 12.1 and RFC 8798
 * units klimakit knows), or NULL. */
const char *senml_unit_property(const char *unit);

/* Maps `r` under `mode` with the context thing/property (NULL or "" when
 * none) into thing and property (NUL-terminated, `len` bytes each).
 * Returns 0, KK_EMISSING when no thing results (split mode, a name
 * without separator and no context) or KK_ERANGE when a part does not
 * fit; a reason goes to err. */
int senml_map_name(const senml_record_t *r, int mode, const char *ctx_thing,
                   const char *ctx_property, char *thing, char *property,
                   size_t len, char *err, size_t errlen);

/* The unit of a sum of values in `unit` (NULL: none): "<unit>.s", or the
 * unit without its "/s" ("m3/s" -> "m3"), or "s" when there is none. */
void senml_sum_unit(const char *unit, char *out, size_t len);

/* The per-pack check that two different resolved names never map to one
 * (thing, property).  Zero-initialise; free with senml_guard_free(). */
typedef struct senml_guard {
  struct senml_guard_slot *slot;
  size_t cap, n;
} senml_guard_t;

/* Returns 0 when (thing, property) is new or was mapped from the same
 * resolved name before; KK_EPARSE with a reason in err when a different
 * name already took it; KK_ENOMEM. */
int senml_guard_check(senml_guard_t *g, const char *thing, const char *property,
                      const char *name, char *err, size_t errlen);
void senml_guard_free(senml_guard_t *g);

#endif
