/*
 * modules/publish/sensorthings/sensorthings_entities.c - the SensorThings
 * entity model of one request: loading things and datastreams from the
 * store, rendering an entity as JSON (with its navigation links) and
 * following navigation properties.  Runs on the loop thread.
 */
#include "publish/sensorthings/sensorthings_model.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sta_set_name[STA_E_N] = {
    "Things",  "Locations",          "Datastreams",
    "Sensors", "ObservedProperties", "Observations"};

int sta_rq_fail(sta_rq_t *r, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err.msg, sizeof r->err.msg, fmt, ap);
  va_end(ap);
  r->err.status = status;
  return status;
}

int sta_ents_push(sta_ents_t *e, sta_ent_t x) {
  if (e->n == e->cap) {
    size_t nc = e->cap ? e->cap * 2 : 16;
    sta_ent_t *nv = realloc(e->v, nc * sizeof *nv);
    if (!nv) return -1;
    e->v = nv;
    e->cap = nc;
  }
  e->v[e->n++] = x;
  return 0;
}

/* ---- loading the model ------------------------------------------------- */

int sta_rq_load(sta_rq_t *r) {
  if (kk_store_things(r->store, NULL, &r->things) != 0 ||
      kk_store_datastreams(r->store, NULL, &r->ds) != 0)
    return sta_rq_fail(r, 503, "store: %s", kk_store_errmsg());
  size_t nd = r->ds->len, nt = r->things->len;
  r->ds_thing = malloc((nd + 1) * sizeof *r->ds_thing);
  r->op_rep = malloc((nd + 1) * sizeof *r->op_rep);
  if (!r->ds_thing || !r->op_rep) return sta_rq_fail(r, 500, "out of memory");
  for (size_t i = 0; i < nd; i++) {
    const kk_store_ds_t *d = &r->ds->items[i];
    r->ds_thing[i] = SIZE_MAX;
    for (size_t k = 0; k < nt; k++)
      if (strcmp(r->things->items[k].name, d->thing) == 0) {
        r->ds_thing[i] = k;
        break;
      }
    r->op_rep[i] = i;
    for (size_t k = 0; k < nd; k++)
      if (strcmp(r->ds->items[k].property, d->property) == 0 &&
          r->ds->items[k].id < r->ds->items[r->op_rep[i]].id)
        r->op_rep[i] = k;
  }
  return 0;
}

void sta_rq_free(sta_rq_t *r) {
  kk_store_thing_list_free(r->things);
  kk_store_ds_list_free(r->ds);
  free(r->ds_thing);
  free(r->op_rep);
}

size_t sta_ds_index(const sta_rq_t *r, int64_t id) {
  for (size_t i = 0; i < r->ds->len; i++)
    if (r->ds->items[i].id == id) return i;
  return SIZE_MAX;
}

int64_t sta_ent_id(const sta_rq_t *r, const sta_ent_t *e) {
  switch (e->t) {
  case STA_E_THING:
  case STA_E_LOC:
    return r->things->items[e->i].id;
  case STA_E_DS:
  case STA_E_SENSOR:
    return r->ds->items[e->i].id;
  case STA_E_OP:
    return r->ds->items[r->op_rep[e->i]].id;
  default:
    return 0;
  }
}

/* Every entity of a set (not observations). */
int sta_all_of(sta_rq_t *r, sta_etype_t t, sta_ents_t *out) {
  if (t == STA_E_THING || t == STA_E_LOC) {
    for (size_t i = 0; i < r->things->len; i++)
      if ((t == STA_E_THING || r->things->items[i].location) &&
          sta_ents_push(out, (sta_ent_t){.t = t, .i = i}))
        return -1;
  } else {
    for (size_t i = 0; i < r->ds->len; i++)
      if ((t != STA_E_OP || r->op_rep[i] == i) &&
          sta_ents_push(out, (sta_ent_t){.t = t, .i = i}))
        return -1;
  }
  return 0;
}

/* ---- rendering ---------------------------------------------------------- */

static void sta_add_link(sta_rq_t *r, cJSON *o, const char *key, sta_etype_t t,
                         int64_t id, const char *nav) {
  char buf[768];
  if (nav)
    snprintf(buf, sizeof buf, "%s/%s(%" PRId64 ")/%s", r->base, sta_set_name[t],
             id, nav);
  else
    snprintf(buf, sizeof buf, "%s/%s(%" PRId64 ")", r->base, sta_set_name[t],
             id);
  cJSON_AddStringToObject(o, key, buf);
}

void sta_obs_id(int64_t ds, int64_t t, char *buf, size_t len) {
  snprintf(buf, len, "%" PRId64 "-%" PRId64, ds, t);
}

static cJSON *sta_json_or(const char *text, cJSON *(*fallback)(void)) {
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  return j ? j : fallback();
}

static void sta_add_time(cJSON *o, const char *key, int64_t ms) {
  char ts[48];
  sta_time_format(ms, ts, sizeof ts);
  cJSON_AddStringToObject(o, key, ts);
}

static void sta_add_result(cJSON *o, const char *key, double v) {
  if (isfinite(v))
    cJSON_AddNumberToObject(o, key, v);
  else
    cJSON_AddNullToObject(o, key);
}

/* The entity with every property and navigation link (no expansion). */
cJSON *sta_render(sta_rq_t *r, const sta_ent_t *e) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  char buf[1024];
  int64_t id = sta_ent_id(r, e);
  if (e->t == STA_E_OBS) {
    char oid[64];
    sta_obs_id(e->ds, e->p.time_ms, oid, sizeof oid);
    cJSON_AddStringToObject(o, "@iot.id", oid);
    snprintf(buf, sizeof buf, "%s/Observations('%s')", r->base, oid);
    cJSON_AddStringToObject(o, "@iot.selfLink", buf);
    sta_add_time(o, "phenomenonTime", e->p.time_ms);
    cJSON_AddNullToObject(o, "resultTime");
    sta_add_result(o, "result", e->p.avg);
    snprintf(buf, sizeof buf, "%s/Datastreams(%" PRId64 ")", r->base, e->ds);
    cJSON_AddStringToObject(o, "Datastream@iot.navigationLink", buf);
    return o;
  }
  cJSON_AddNumberToObject(o, "@iot.id", (double)id);
  sta_add_link(r, o, "@iot.selfLink", e->t, id, NULL);
  if (e->t == STA_E_THING || e->t == STA_E_LOC) {
    const kk_store_thing_t *th = &r->things->items[e->i];
    cJSON_AddStringToObject(o, "name", th->name);
    if (e->t == STA_E_THING) {
      cJSON *props = sta_json_or(th->properties, cJSON_CreateObject);
      cJSON *d = cJSON_GetObjectItemCaseSensitive(props, "description");
      cJSON_AddStringToObject(o, "description",
                              cJSON_IsString(d) ? d->valuestring : th->name);
      cJSON_AddItemToObject(o, "properties", props);
      sta_add_link(r, o, "Locations@iot.navigationLink", STA_E_THING, id,
                   "Locations");
      sta_add_link(r, o, "Datastreams@iot.navigationLink", STA_E_THING, id,
                   "Datastreams");
    } else {
      snprintf(buf, sizeof buf, "Location of %s", th->name);
      cJSON_AddStringToObject(o, "description", buf);
      cJSON_AddStringToObject(o, "encodingType", "application/geo+json");
      cJSON_AddItemToObject(o, "location",
                            sta_json_or(th->location, cJSON_CreateNull));
      sta_add_link(r, o, "Things@iot.navigationLink", STA_E_LOC, id, "Things");
    }
    return o;
  }
  const kk_store_ds_t *d = &r->ds->items[e->i];
  if (e->t == STA_E_DS) {
    snprintf(buf, sizeof buf, "%s %s", d->thing, d->property);
    cJSON_AddStringToObject(o, "name", buf);
    snprintf(buf, sizeof buf, "%s of %s in %s", d->property, d->thing, d->unit);
    cJSON_AddStringToObject(o, "description", buf);
    cJSON_AddStringToObject(o, "observationType",
                            "http://www.opengis.net/def/observationType/"
                            "OGC-OM/2.0/OM_Measurement");
    cJSON *u = cJSON_AddObjectToObject(o, "unitOfMeasurement");
    cJSON_AddStringToObject(u, "name", d->unit);
    cJSON_AddStringToObject(u, "symbol", d->unit);
    cJSON_AddStringToObject(u, "definition",
                            "http://unitsofmeasure.org/ucum.html");
    cJSON *p = cJSON_AddObjectToObject(o, "properties");
    cJSON_AddStringToObject(p, "thing", d->thing);
    cJSON_AddStringToObject(p, "property", d->property);
    if (d->sector) cJSON_AddStringToObject(p, "sector", d->sector);
    sta_add_link(r, o, "Thing@iot.navigationLink", STA_E_DS, id, "Thing");
    sta_add_link(r, o, "Sensor@iot.navigationLink", STA_E_DS, id, "Sensor");
    sta_add_link(r, o, "ObservedProperty@iot.navigationLink", STA_E_DS, id,
                 "ObservedProperty");
    sta_add_link(r, o, "Observations@iot.navigationLink", STA_E_DS, id,
                 "Observations");
  } else if (e->t == STA_E_SENSOR) {
    snprintf(buf, sizeof buf, "%s %s sensor", d->thing, d->property);
    cJSON_AddStringToObject(o, "name", buf);
    snprintf(buf, sizeof buf, "The sensor of %s that measures %s", d->thing,
             d->property);
    cJSON_AddStringToObject(o, "description", buf);
    cJSON_AddStringToObject(o, "encodingType", "text/html");
    cJSON_AddStringToObject(o, "metadata", "");
    sta_add_link(r, o, "Datastreams@iot.navigationLink", STA_E_SENSOR, id,
                 "Datastreams");
  } else {
    cJSON_AddStringToObject(o, "name", d->property);
    snprintf(buf, sizeof buf, "urn:klimakit:property:%s", d->property);
    cJSON_AddStringToObject(o, "definition", buf);
    cJSON_AddStringToObject(o, "description", d->property);
    sta_add_link(r, o, "Datastreams@iot.navigationLink", STA_E_OP, id,
                 "Datastreams");
  }
  return o;
}

/* ---- navigation -------------------------------------------------------- */

/* What a navigation property of an entity leads to: a single entity
 * (*one), a set (*many), or the observations of datastream *obs_ds. */
int sta_navigate(sta_rq_t *r, const sta_ent_t *e, const char *nav,
                 sta_ent_t *one, sta_ents_t *many, int64_t *obs_ds) {
  switch (e->t) {
  case STA_E_THING:
    if (strcmp(nav, "Datastreams") == 0) {
      for (size_t i = 0; i < r->ds->len; i++)
        if (r->ds_thing[i] == e->i &&
            sta_ents_push(many, (sta_ent_t){.t = STA_E_DS, .i = i}))
          return -1;
      return STA_NAV_MANY;
    }
    if (strcmp(nav, "Locations") == 0) {
      if (r->things->items[e->i].location &&
          sta_ents_push(many, (sta_ent_t){.t = STA_E_LOC, .i = e->i}))
        return -1;
      return STA_NAV_MANY;
    }
    break;
  case STA_E_LOC:
    if (strcmp(nav, "Things") == 0) {
      if (sta_ents_push(many, (sta_ent_t){.t = STA_E_THING, .i = e->i}))
        return -1;
      return STA_NAV_MANY;
    }
    break;
  case STA_E_DS:
    if (strcmp(nav, "Thing") == 0) {
      if (r->ds_thing[e->i] == SIZE_MAX) return STA_NAV_NONE;
      *one = (sta_ent_t){.t = STA_E_THING, .i = r->ds_thing[e->i]};
      return STA_NAV_ONE;
    }
    if (strcmp(nav, "Sensor") == 0) {
      *one = (sta_ent_t){.t = STA_E_SENSOR, .i = e->i};
      return STA_NAV_ONE;
    }
    if (strcmp(nav, "ObservedProperty") == 0) {
      *one = (sta_ent_t){.t = STA_E_OP, .i = r->op_rep[e->i]};
      return STA_NAV_ONE;
    }
    if (strcmp(nav, "Observations") == 0) {
      *obs_ds = r->ds->items[e->i].id;
      return STA_NAV_OBS;
    }
    break;
  case STA_E_SENSOR:
    if (strcmp(nav, "Datastreams") == 0) {
      if (sta_ents_push(many, (sta_ent_t){.t = STA_E_DS, .i = e->i})) return -1;
      return STA_NAV_MANY;
    }
    break;
  case STA_E_OP:
    if (strcmp(nav, "Datastreams") == 0) {
      for (size_t i = 0; i < r->ds->len; i++)
        if (r->op_rep[i] == e->i &&
            sta_ents_push(many, (sta_ent_t){.t = STA_E_DS, .i = i}))
          return -1;
      return STA_NAV_MANY;
    }
    break;
  case STA_E_OBS:
    if (strcmp(nav, "Datastream") == 0) {
      size_t i = sta_ds_index(r, e->ds);
      if (i == SIZE_MAX) return STA_NAV_NONE;
      *one = (sta_ent_t){.t = STA_E_DS, .i = i};
      return STA_NAV_ONE;
    }
    break;
  default:
    break;
  }
  return -2; /* no such navigation property */
}