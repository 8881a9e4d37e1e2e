/*
 * modules/source/source_sensor_community.h - the Sensor.Community
 * (airrohr firmware) push format, stage-free.
 *
 * The firmware's "send to own API" POSTs one JSON object per measuring
 * cycle with the headers X-Sensor ("esp8266-<chip id>") and, towards the
 * Sensor.Community servers, X-PIN (which sensor the body is about):
 *   {"esp8266id":"12345","software_version":"NRZ-2020-133",
 *    "sensordatavalues":[{"value_type":"SDS_P1","value":"1.80"},...]}
 * Values are strings.  sc_decode() maps each value_type to a property
 * and UCUM unit (docs/guide/push-formats.md has the table): SDS_P1 ->
 * pm10 ug/m3, SDS_P2 -> pm2_5, BME280_temperature -> temperature Cel,
 * BME280_pressure (Pa) -> air_pressure hPa, ... When two sensors of a
 * push measure the same quantity, the one first in the table's order
 * keeps the plain property and the others get ".<sensor>" appended
 * (temperature.dht22), so nothing is merged and the names do not depend
 * on the order of the body.  Firmware diagnostics (samples, min_micro,
 * max_micro, interval) and values that are not numbers are skipped and
 * counted; value types the table does not know become properties of
 * their own name in unit "1".
 */
#ifndef KK_SOURCE_SENSOR_COMMUNITY_H
#define KK_SOURCE_SENSOR_COMMUNITY_H

#include <stddef.h>

/* The raw format number of an airrohr push in the journal: outside the
 * 16-bit range of CoAP content formats, so it meets none of them. */
#define SOURCE_FMT_SENSOR_COMMUNITY 0x10001u

/* Called per value; the strings are valid during the call. */
typedef int (*sc_value_cb)(void *ctx, const char *property, const char *unit,
                           double value);

/* Decodes `len` bytes.  `sensor` is the X-Sensor header (NULL or "" when
 * missing); the thing (`thing_len` bytes) is it, else "esp8266-<id>" from
 * the body.  *skipped counts skipped values.  Returns 0, the callback's
 * non-zero result, or KK_EPARSE / KK_EMISSING with a reason in err. */
int sc_decode(const void *data, size_t len, const char *sensor, char *thing,
              size_t thing_len, sc_value_cb cb, void *ctx, size_t *skipped,
              char *err, size_t errlen);

#endif
