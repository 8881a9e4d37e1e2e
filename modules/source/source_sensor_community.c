/*
 * modules/source/source_sensor_community.c - the Sensor.Community push
 * format (see .h).  The value types are those of the airrohr firmware's
 * documentation and API description (github.com/opendata-stuttgart:
 * "sensors-software" README and the Sensor.Community API wiki page).
 */
#include <klimakit.h>
#include "source/source_sensor_community.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sc_type {
  const char *value_type, *property, *unit, *sensor;
  double scale;
} sc_type_t;

/* In precedence order per property: the first present keeps the plain
 * name. */
static const sc_type_t sc_types[] = {
    {"SDS_P1", "pm10", "ug/m3", "sds011", 1},
    {"SDS_P2", "pm2_5", "ug/m3", "sds011", 1},
    {"SPS30_P0", "pm1", "ug/m3", "sps30", 1},
    {"SPS30_P2", "pm2_5", "ug/m3", "sps30", 1},
    {"SPS30_P4", "pm4", "ug/m3", "sps30", 1},
    {"SPS30_P1", "pm10", "ug/m3", "sps30", 1},
    {"PMS_P0", "pm1", "ug/m3", "pms", 1},
    {"PMS_P2", "pm2_5", "ug/m3", "pms", 1},
    {"PMS_P1", "pm10", "ug/m3", "pms", 1},
    {"HPM_P2", "pm2_5", "ug/m3", "hpm", 1},
    {"HPM_P1", "pm10", "ug/m3", "hpm", 1},
    {"NPM_P0", "pm1", "ug/m3", "npm", 1},
    {"NPM_P2", "pm2_5", "ug/m3", "npm", 1},
    {"NPM_P1", "pm10", "ug/m3", "npm", 1},
    {"BME280_temperature", "temperature", "Cel", "bme280", 1},
    {"SHT3X_temperature", "temperature", "Cel", "sht3x", 1},
    {"HTU21D_temperature", "temperature", "Cel", "htu21d", 1},
    {"BMP280_temperature", "temperature", "Cel", "bmp280", 1},
    {"BMP_temperature", "temperature", "Cel", "bmp180", 1},
    {"temperature", "temperature", "Cel", "dht22", 1},
    {"DS18B20_temperature", "temperature", "Cel", "ds18b20", 1},
    {"BME280_humidity", "relative_humidity", "%", "bme280", 1},
    {"SHT3X_humidity", "relative_humidity", "%", "sht3x", 1},
    {"HTU21D_humidity", "relative_humidity", "%", "htu21d", 1},
    {"humidity", "relative_humidity", "%", "dht22", 1},
    {"BME280_pressure", "air_pressure", "hPa", "bme280", 0.01},
    {"BMP280_pressure", "air_pressure", "hPa", "bmp280", 0.01},
    {"BMP_pressure", "air_pressure", "hPa", "bmp180", 0.01},
    {"DNMS_noise_LAeq", "noise_laeq", "dB", "dnms", 1},
    {"DNMS_noise_LA_min", "noise_la_min", "dB", "dnms", 1},
    {"DNMS_noise_LA_max", "noise_la_max", "dB", "dnms", 1},
    {"GPS_lat", "latitude", "deg", "gps", 1},
    {"GPS_lon", "longitude", "deg", "gps", 1},
    {"GPS_height", "altitude", "m", "gps", 1},
    {"signal", "wifi_rssi", "dB[mW]", "esp", 1},
};
#define SC_NTYPES (sizeof sc_types / sizeof sc_types[0])

static const char *const sc_diagnostics[] = {"samples", "min_micro",
                                             "max_micro", "interval"};

static int sc_fail(char *err, size_t errlen, int rc, const char *msg,
                   const char *arg) {
  snprintf(err, errlen, msg, arg ? arg : "");
  return rc;
}

/* A finite number written as the whole string ("1.80", " -3e2"). */
static int sc_number(const char *s, double *out) {
  char *end;
  while (*s == ' ')
    s++;
  if (!*s) return 0;
  double v = strtod(s, &end);
  while (*end == ' ')
    end++;
  if (*end || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

static int sc_walk(const cJSON *vals, sc_value_cb cb, void *ctx,
                   size_t *skipped, char *err, size_t errlen) {
  /* Which table entries are present, for the precedence rule. */
  unsigned char present[SC_NTYPES] = {0};
  const cJSON *e;
  size_t i = 0;
  cJSON_ArrayForEach(e, vals) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "value_type");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
    i++;
    if (!cJSON_IsObject(e) || !cJSON_IsString(t) || !t->valuestring[0] ||
        !(cJSON_IsString(v) || cJSON_IsNumber(v))) {
      char n[24];
      snprintf(n, sizeof n, "%zu", i);
      return sc_fail(err, errlen, KK_EPARSE,
                     "sensor.community: sensordatavalues[%s] needs a "
                     "value_type string and a value",
                     n);
    }
    for (size_t k = 0; k < SC_NTYPES; k++)
      if (!strcmp(sc_types[k].value_type, t->valuestring)) present[k] = 1;
  }
  cJSON_ArrayForEach(e, vals) {
    const char *type =
        cJSON_GetObjectItemCaseSensitive(e, "value_type")->valuestring;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
    double x;
    int diag = 0;
    for (size_t k = 0; k < sizeof sc_diagnostics / sizeof *sc_diagnostics; k++)
      diag |= !strcmp(type, sc_diagnostics[k]);
    if (diag || !(cJSON_IsNumber(v) ? (x = v->valuedouble, isfinite(x))
                                    : sc_number(v->valuestring, &x))) {
      (*skipped)++;
      continue;
    }
    size_t k = 0;
    while (k < SC_NTYPES && strcmp(sc_types[k].value_type, type))
      k++;
    int rc;
    if (k == SC_NTYPES) {
      rc = cb(ctx, type, "1", x);
    } else {
      const sc_type_t *ty = &sc_types[k];
      int first = 1;
      for (size_t j = 0; j < k; j++)
        if (present[j] && !strcmp(sc_types[j].property, ty->property))
          first = 0;
      char prop[96];
      snprintf(prop, sizeof prop, first ? "%s" : "%s.%s", ty->property,
               ty->sensor);
      rc = cb(ctx, prop, ty->unit, x * ty->scale);
    }
    if (rc) return rc;
  }
  return 0;
}

int sc_decode(const void *data, size_t len, const char *sensor, char *thing,
              size_t thing_len, sc_value_cb cb, void *ctx, size_t *skipped,
              char *err, size_t errlen) {
  const char *end = NULL, *e = (const char *)data + len;
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
  char dup[64];
  int rc = 0;
  *skipped = 0;
  if (!root)
    return sc_fail(err, errlen, KK_EPARSE, "sensor.community: not JSON%s",
                   NULL);
  while (end && end < e &&
         (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
    end++;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "esp8266id");
  const cJSON *vals =
      cJSON_GetObjectItemCaseSensitive(root, "sensordatavalues");
  if (end && end < e)
    rc = sc_fail(err, errlen, KK_EPARSE,
                 "sensor.community: bytes after the JSON object%s", NULL);
  else if (kk_json_duplicate_key(root, dup, sizeof dup))
    rc = sc_fail(err, errlen, KK_EPARSE, "sensor.community: duplicate key '%s'",
                 dup);
  else if (!cJSON_IsObject(root))
    rc = sc_fail(err, errlen, KK_EPARSE,
                 "sensor.community: the body must be a JSON object%s", NULL);
  else if (!cJSON_IsArray(vals))
    rc = sc_fail(err, errlen, KK_EMISSING,
                 "sensor.community: no sensordatavalues array%s", NULL);
  if (rc == 0) {
    if (sensor && sensor[0])
      snprintf(thing, thing_len, "%s", sensor);
    else if (cJSON_IsString(id) && id->valuestring[0])
      snprintf(thing, thing_len, "esp8266-%s", id->valuestring);
    else if (cJSON_IsNumber(id) && id->valuedouble >= 0 &&
             id->valuedouble < 1e15 &&
             id->valuedouble == floor(id->valuedouble))
      snprintf(thing, thing_len, "esp8266-%.0f", id->valuedouble);
    else
      rc = sc_fail(err, errlen, KK_EMISSING,
                   "sensor.community: no X-Sensor header and no esp8266id%s",
                   NULL);
  }
  if (rc == 0) rc = sc_walk(vals, cb, ctx, skipped, err, errlen);
  cJSON_Delete(root);
  return rc;
}
