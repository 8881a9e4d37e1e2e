/*
 * modules/publish/http/http_i18n.h - what a person reads on the dashboard:
 * the message catalogue (messages_de.def, messages_en.def), numbers and
 * dates in the page's language, and the property registry (display names
 * of observed properties, labels of UCUM units, which properties are
 * cumulative meters; registry.def plus the recipe's `properties` and
 * `units` options).
 */
#ifndef KK_PUBLISH_HTTP_I18N_H
#define KK_PUBLISH_HTTP_I18N_H

#include <klimakit.h>

#include <stddef.h>
#include <stdint.h>

typedef enum http_msg {
#define KK_MSG(id, text) HTTP_M_##id,
#define KK_PROP(p, name)
#include "publish/http/messages_de.def"
#undef KK_MSG
#undef KK_PROP
  HTTP_M_COUNT
} http_msg_t;

typedef enum http_lang { HTTP_LANG_DE = 0, HTTP_LANG_EN = 1 } http_lang_t;

/* Recipe additions to the registry (the `properties` and `units` options
 * as parsed JSON), kept by the stage; NULL members: none. */
typedef struct http_registry {
  http_lang_t lang;
  struct cJSON *props; /* {"gas": {"name": "...", "meter": true}} */
  struct cJSON *units; /* {"m3": "m³"} */
} http_registry_t;

/* Parses the options into r (JSON texts or NULL); 0 or KK_EINVAL with a
 * message in err. */
int http_registry_init(http_registry_t *r, const char *lang,
                       const char *props_json, const char *units_json,
                       char *err, size_t errlen);
void http_registry_free(http_registry_t *r);

/* The text of a message in the registry's language. */
const char *http_t(const http_registry_t *r, http_msg_t m);
/* Appends message m with each "{}" replaced by the next of the NULL-ended
 * string arguments, all HTML-escaped (html = 1) or as they are (0). */
void http_say(kk_buf_t *b, const http_registry_t *r, int html, http_msg_t m,
              ...);

/* A number with `dec` decimals (dec < 0: as many as its size calls for,
 * see http_num_auto) and the language's separators: 1.234,5. */
void http_num(const http_registry_t *r, double v, int dec, char *buf,
              size_t len);
/* Decimals a reader needs for v: 0 from 100 up, 1 from 10, 2 from 1, 3
 * below. */
int http_num_auto(double v);
/* Local time of `ms` in a catalogue format (HTTP_M_fmt_*). */
void http_date(const http_registry_t *r, const char *tz, int64_t ms,
               http_msg_t fmt, char *buf, size_t len);

/* The display name of an observed property (recipe, catalogue, or the id
 * with '_' as ' '), into buf. */
const char *http_prop_name(const http_registry_t *r, const char *property,
                           char *buf, size_t len);
/* The label of a UCUM unit code ("Cel" -> "°C", "1" -> ""). */
const char *http_unit_label(const http_registry_t *r, const char *unit);
/* 1 when the property is a cumulative meter (shown as consumption). */
int http_is_meter(const http_registry_t *r, const char *property);

#endif
