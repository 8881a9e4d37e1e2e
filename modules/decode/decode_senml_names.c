/* modules/decode/decode_senml_names.c - SenML names to datastreams: the
 * rules of senml_map_name(), the unit table, sum units and the per-pack
 * guard that keeps different names apart (decode_senml.h documents them;
 * docs/guide/push-formats.md has the examples).  Apart from the parser
 * in decode_senml.c, which knows nothing of things and properties. */
#include "decode/decode_senml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names to datastreams (see decode_senml.h) ----------------------- */

const char *senml_unit_property(const char *unit) {
  static const char *const map[][2] = {{"Cel", "temperature"},
                                       {"K", "temperature"},
                                       {"%RH", "relative_humidity"},
                                       {"lat", "latitude"},
                                       {"lon", "longitude"},
                                       {"%EL", "battery_level"},
                                       {"EL", "battery_time"},
                                       {"V", "voltage"},
                                       {"A", "current"},
                                       {"W", "power"},
                                       {"J", "energy"},
                                       {"Wh", "energy"},
                                       {"kWh", "energy"},
                                       {"Pa", "pressure"},
                                       {"lx", "illuminance"},
                                       {"Hz", "frequency"},
                                       {"/", "ratio"},
                                       {"ppm", "concentration"},
                                       {"ug/m3", "mass_concentration"},
                                       {"dB", "sound_level"},
                                       {"m3", "volume"},
                                       {"m3/s", "volume_flow"},
                                       {"l/s", "volume_flow"},
                                       {"m/s", "speed"},
                                       {"W/m2", "irradiance"},
                                       {"count", "count"}};
  if (!unit) return NULL;
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(map[i][0], unit)) return map[i][1];
  return NULL;
}

/* Length of the device URN at the start of `s` (urn:dev:<type>:<id>,
 * RFC 9039), or 0 when `s` does not start with one. */
static size_t senml_dev_urn(const char *s) {
  if (strncmp(s, "urn:dev:", 8) != 0) return 0;
  const char *p = strchr(s + 8, ':');
  if (!p || p == s + 8) return 0;
  size_t n = strcspn(p + 1, ":/");
  return n ? (size_t)(p + 1 - s) + n : 0;
}

static int senml_put(char *dst, size_t len, const char *s, size_t n) {
  if (n >= len) return KK_ERANGE;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return 0;
}

int senml_map_name(const senml_record_t *r, int mode, const char *ctx_thing,
                   const char *ctx_property, char *thing, char *property,
                   size_t len, char *err, size_t errlen) {
  const char *n = r->short_name ? r->short_name : "";
  const char *bn = r->base_name ? r->base_name : "";
  int have_ctx = ctx_thing && ctx_thing[0];
  const char *prop = NULL;
  size_t prop_len = 0;
  int rc = 0;
  thing[0] = property[0] = '\0';
  if (mode == SENML_NAMES_SPLIT) {
    char t[512], p[512];
    rc = senml_split_name(r->name, t, sizeof t, p, sizeof p);
    if (rc == 0)
      rc = senml_put(thing, len, have_ctx ? ctx_thing : t,
                     strlen(have_ctx ? ctx_thing : t));
    if (rc == 0)
      rc = senml_put(property, len, have_ctx ? r->name : p,
                     strlen(have_ctx ? r->name : p));
    if (rc == 0 && !thing[0]) {
      snprintf(err, errlen,
               "name '%.60s' names no thing (use a path with {thing} or a "
               "name 'device:property')",
               r->name);
      return KK_EMISSING;
    }
  } else {
    if (have_ctx) {
      rc = senml_put(thing, len, ctx_thing, strlen(ctx_thing));
      prop = n, prop_len = strlen(n);
    } else if (bn[0]) {
      size_t bl = strlen(bn);
      if (bl > 1 && (bn[bl - 1] == ':' || bn[bl - 1] == '/')) bl--;
      rc = senml_put(thing, len, bn, bl);
      prop = n, prop_len = strlen(n);
    } else {
      size_t ul = senml_dev_urn(r->name);
      if (ul && r->name[ul]) {
        rc = senml_put(thing, len, r->name, ul);
        prop = r->name + ul + 1, prop_len = strlen(prop);
      } else {
        rc = senml_put(thing, len, r->name, strlen(r->name));
      }
    }
    if (rc == 0 && prop_len) {
      rc = senml_put(property, len, prop, prop_len);
    } else if (rc == 0) {
      const char *up = senml_unit_property(r->unit);
      const char *p = ctx_property && ctx_property[0] ? ctx_property
                      : up                            ? up
                      : r->unit && r->unit[0]         ? r->unit
                                                      : "value";
      rc = senml_put(property, len, p, strlen(p));
    }
  }
  if (rc == KK_ERANGE)
    snprintf(err, errlen,
             "name '%.60s': thing or property longer than %zu "
             "bytes",
             r->name, len - 1);
  return rc;
}

void senml_sum_unit(const char *unit, char *out, size_t len) {
  size_t n = unit ? strlen(unit) : 0;
  if (n == 0 || !strcmp(unit, "1"))
    snprintf(out, len, "s");
  else if (n > 2 && !strcmp(unit + n - 2, "/s"))
    snprintf(out, len, "%.*s", (int)(n - 2), unit);
  else
    snprintf(out, len, "%s.s", unit);
}

typedef struct senml_guard_slot {
  char *key; /* thing NUL property NUL */
  char *name;
  size_t klen;
} senml_guard_slot_t;

static size_t senml_guard_hash(const char *k, size_t n) {
  size_t h = 1469598103934665603u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)k[i]) * 1099511628211u;
  return h;
}

static int senml_guard_grow(senml_guard_t *g) {
  size_t ncap = g->cap ? g->cap * 2 : 8; /* most packs name a few */
  senml_guard_slot_t *ns = calloc(ncap, sizeof *ns);
  if (!ns) return KK_ENOMEM;
  for (size_t i = 0; i < g->cap; i++) {
    if (!g->slot[i].key) continue;
    size_t j = senml_guard_hash(g->slot[i].key, g->slot[i].klen) & (ncap - 1);
    while (ns[j].key)
      j = (j + 1) & (ncap - 1);
    ns[j] = g->slot[i];
  }
  free(g->slot);
  g->slot = ns;
  g->cap = ncap;
  return 0;
}

int senml_guard_check(senml_guard_t *g, const char *thing, const char *property,
                      const char *name, char *err, size_t errlen) {
  if ((g->n + 1) * 2 > g->cap && senml_guard_grow(g) != 0) {
    snprintf(err, errlen, "out of memory");
    return KK_ENOMEM;
  }
  size_t tl = strlen(thing), pl = strlen(property), kl = tl + 1 + pl;
  char *key = malloc(kl + 1);
  if (!key) {
    snprintf(err, errlen, "out of memory");
    return KK_ENOMEM;
  }
  memcpy(key, thing, tl + 1);
  memcpy(key + tl + 1, property, pl + 1);
  size_t j = senml_guard_hash(key, kl) & (g->cap - 1);
  for (; g->slot[j].key; j = (j + 1) & (g->cap - 1)) {
    if (g->slot[j].klen != kl || memcmp(g->slot[j].key, key, kl) != 0) continue;
    free(key);
    if (!strcmp(g->slot[j].name, name)) return 0;
    snprintf(err, errlen,
             "names '%.60s' and '%.60s' would both be thing '%.60s' "
             "property '%.40s' (refused: klimakit never merges two names)",
             g->slot[j].name, name, thing, property);
    return KK_EPARSE;
  }
  char *nm = strdup(name);
  if (!nm) {
    free(key);
    snprintf(err, errlen, "out of memory");
    return KK_ENOMEM;
  }
  g->slot[j] = (senml_guard_slot_t){key, nm, kl};
  g->n++;
  return 0;
}

void senml_guard_free(senml_guard_t *g) {
  for (size_t i = 0; i < g->cap && g->n; i++) {
    if (!g->slot[i].key) continue;
    free(g->slot[i].key);
    free(g->slot[i].name);
    g->n--;
  }
  free(g->slot);
  memset(g, 0, sizeof *g);
}
