/*
 * modules/decode/decode_senml.h - SenML (RFC 8428) decoding, JSON and CBOR.
 *
 * A small C API that knows nothing about stages or batches, shared by the
 * decode.senml stage, the MQTT source and the CoAP source (which must
 * answer 4.00 synchronously, so it decodes inline).  Include it as
 * "../common/senml.h".
 *
 * The decoder walks a pack and calls `cb` once per *resolved* record
 * (RFC 8428 section 4.6): base name prepended, base unit applied when the
 * record has no unit, base value/base sum added, base time added and a
 * relative time (below 2^28 s, section 4.5.3) resolved against `now_ms`,
 * the reception time.  Fields ending in "_" that it does not understand
 * make the pack invalid (section 4.4); other unknown fields are ignored.
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
 * (RFC 8428 names are usually "urn:dev:ow:10e2073a01080063:voltage" or
 * "device/property"): thing gets the part before, property the part
 * after.  A name without separator becomes thing "" and property name.
 * Writes NUL-terminated strings (truncated to the buffer sizes); returns
 * 0, or KK_ERANGE when a part did not fit. */
int senml_split_name(const char *name, char *thing, size_t thing_len,
                     char *property, size_t property_len);

#endif
