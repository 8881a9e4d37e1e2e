/*
 * modules/source/source_payload.h - CoAP payloads to readings.
 *
 * Shared by source.coap (the server) and source.coap_observe (the observe
 * client).  Both journal a raw message whose `format` is the CoAP
 * Content-Format number and whose `meta` is a flat JSON object of strings
 * (the convention of kk_raw_meta_get() in klimakit/reading.h):
 *   {"path":"/r/room-12","peer":"127.0.0.1:40312","identity":"sensor-1",
 *    "thing":"room-12"}
 * ("identity": the DTLS PSK identity, only on coaps://; "thing" and
 * "property": what the first matching path pattern captured, when it
 * did).  source_payload_decode() turns such a message into readings, live
 * and again on replay, so it depends only on the message and the path
 * patterns.
 *
 * Path patterns are "/"-separated segments; a segment "{thing}" or
 * "{property}" captures that part of the request path, any other segment
 * must match literally: "/r/{thing}", "/s/{thing}/{property}", "/senml".
 *
 * Content formats:
 *   110/111 SenML JSON, 112/113 SenML CBOR (modules/decode/decode_senml.h): one
 *           reading per numeric (or boolean: 0/1) record and one per sum
 *           ("<property>.sum"); thing and property by the SenML name rules
 *           of senml_map_name() (paths->senml_names), the path's {thing}
 *           as context thing.  A pack in which two different resolved
 *           names would share a datastream (two base names posted to
 *           /r/{thing}) is refused.  String and data values carry no
 *           number: they are skipped and counted.  Unit "1" when the
 *           record has none.
 *   50      JSON (no duplicate keys, nothing after the value): one object or an
 * array of objects with the members of a reading (kk_reading_parse_json() in
 * klimakit/reading.h); `thing` may be left out when the path names it, `time`
 * is then the reception time when missing. 60      CBOR: the same as a map with
 * text keys, or an array of them; time as integer milliseconds, text (ISO 8601)
 * or tag 1 (epoch seconds). 0       text/plain: "[property=]value[ unit]", e.g.
 * "co2=812 ppm"; property from the path's {property} when not given, unit "1"
 *           when not given, time the reception time.
 */
#ifndef KK_MODULES_COAP_PAYLOAD_H
#define KK_MODULES_COAP_PAYLOAD_H

#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>

#define COAP_CF_TEXT 0
#define COAP_CF_JSON 50
#define COAP_CF_CBOR 60

#define COAP_PAYLOAD_NAME_MAX 128

/* Compiled path patterns.  Zero-initialise; free with
 * source_paths_free(). */
typedef struct source_paths {
  char **pat; /* owned copies, normalised without leading '/' */
  size_t n;
  int senml_names; /* SENML_NAMES_* (decode/decode_senml.h), 0 = base */
} source_paths_t;

/* Compiles `n` patterns.  Returns 0, or KK_EINVAL with a reason in err
 * (an empty pattern, "{x}" other than thing/property). */
int source_paths_init(source_paths_t *p, const char *const *pats, size_t n,
                      char *err, size_t errlen);
void source_paths_free(source_paths_t *p);

/* Matches `path` (with or without leading '/', no query) against the
 * patterns in order.  On a match returns its index and fills thing and
 * property (COAP_PAYLOAD_NAME_MAX bytes each; "" when the pattern does not
 * capture it); -1 when nothing matches. */
int source_paths_match(const source_paths_t *p, const char *path, char *thing,
                       char *property);

/* True for the content formats source_payload_decode() understands. */
int source_payload_format_ok(uint32_t format);

/* Builds the meta JSON object into buf (`len` bytes; fields that do not
 * fit are left out).  identity, thing and property may be NULL or "". */
void source_payload_meta(char *buf, size_t len, const char *path,
                         const char *peer, const char *identity,
                         const char *thing, const char *property);

/* Appends the string member key:value to a meta object built by
 * source_payload_meta() (left as it is when value is NULL/"" or it does
 * not fit). */
void source_payload_meta_add(char *buf, size_t len, const char *key,
                             const char *value);

/* Decodes one raw message into readings appended to `out`, all or
 * nothing.  Registers datastreams: loop thread only.  *skipped (may be
 * NULL) gets the number of values that decoded but are not numbers
 * (SenML vs and vd), for the caller's kk_decode_skipped_total.  Returns
 * 0, or a negative code with a one-line reason such as
 * "senml: record 3: 'v' must be a number" in err. */
int source_payload_decode(const source_paths_t *p, const kk_raw_t *raw,
                          kk_batch_t *out, size_t *skipped, char *err,
                          size_t errlen);

/* What the sources' decode callbacks do: source_payload_decode(), the
 * reason set with kk_stage_error() on failure, skipped values counted in
 * kk_decode_skipped_total{reason="non_numeric"} of the stage (live and on
 * replay alike, like decode.senml). */
int source_payload_decode_stage(kk_stage_t *st, const source_paths_t *p,
                                const kk_raw_t *raw, kk_batch_t *out);

/* The option every source that decodes SenML declares. */
#define SOURCE_PAYLOAD_SENML_OPTION                                            \
  {                                                                            \
    .name = "senml_names", .type = KK_OPT_ENUM, .def = "base",                 \
    .choices = "base|split",                                                   \
    .description = "How SenML names become thing and property: `base` "        \
                   "(base name = thing, record name = property; see "          \
                   "docs/guide/push-formats.md) or `split` (the resolved "     \
                   "name split at its last `:` or `/`)."                       \
  }

#endif
