/*
 * modules/common/rawmeta.h - the metadata string of a raw message.
 *
 * Sources put what they know about a message beside its bytes in
 * kk_raw_t.meta.  The MQTT source writes a flat JSON object of strings:
 *   {"topic":"v3/app1/devices/dev1/up","app":"app1","device":"dev1",
 *    "thing":"dev1"}
 * (the named parts of its topic pattern, and "thing" for the part that
 * names the thing).  Other sources may write plain text (a peer address, a
 * CoAP path).  Decoders read it through rawmeta_get() and need not know
 * which source wrote it.
 */
#ifndef KK_MODULES_RAWMETA_H
#define KK_MODULES_RAWMETA_H

#include <stddef.h>

/* Copies the string member `key` of a JSON meta object into `out`
 * (`outlen` bytes, NUL-terminated; truncated if longer).  For a meta that
 * is not a JSON object, the keys "topic" and "path" give the whole text.
 * Returns 0 when found and non-empty, -1 otherwise (out is then ""). */
int rawmeta_get(const char *meta, const char *key, char *out, size_t outlen);

/* Appends `s` as a JSON string literal (with quotes) to buf[*len..cap);
 * returns 0, or -1 when it does not fit (buf is then unchanged past
 * *len). */
int rawmeta_json_str(char *buf, size_t *len, size_t cap, const char *s,
                     size_t slen);

#endif
