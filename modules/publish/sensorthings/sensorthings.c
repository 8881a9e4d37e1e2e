/*
 * modules/publish/sensorthings/sensorthings.c - publish.sensorthings: the OGC
 * SensorThings API v1.1 (part 1, read) over a store, on the shared HTTP
 * server under /v1.1.
 *
 * The module reads everything from the store (include/klimakit/store.h)
 * at request time; it keeps no data itself.  It is a sink only so that a
 * recipe can place it (and start the HTTP route) beside the store: it
 * ignores the batches it receives.
 *
 * Entities and their ids (docs/sensorthings.md):
 *   Thing            a store thing, id = the store's thing id
 *   Location         the thing's location, id = the thing id
 *   Datastream       a store datastream, id = the store's datastream id
 *   Sensor           one per datastream, id = the datastream id
 *   ObservedProperty one per property name, id = the smallest datastream
 *                    id with that property (stable: store ids never move)
 *   Observation      (datastream, time), id = the string "<ds>-<time ms>"
 */
#include <klimakit.h>
#include <klimakit/store.h>

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_httpd.h"
#include "publish/sensorthings/sta_query.h"

/* Observations outside [STA_T_MIN, STA_T_MAX) are not served. */
#define STA_T_MIN 0LL
#define STA_T_MAX 253402300800000LL /* 10000-01-01 */

typedef struct sta_state {
  kk_stage_t *st;
  char *listen;
  const char *store_name;
  const char *cors;
  net_httpd_tls_t tls;
  net_httpd_use_t use;
  kk_metric_t *m_requests, *m_errors;
} sta_state_t;

typedef enum etype { E_THING, E_LOC, E_DS, E_SENSOR, E_OP, E_OBS, E_N } etype_t;

static const char *const set_name[E_N] = {"Things", "Locations", "Datastreams",
                                          "Sensors", "ObservedProperties",
                                          "Observations"};

/* A reference to one entity: an index into the request's lists, or an
 * observation. */
typedef struct ent {
  etype_t t;
  size_t i; /* things (E_THING, E_LOC) or datastreams (E_DS, E_SENSOR, E_OP) */
  int64_t ds;
  kk_store_point_t p; /* E_OBS */
} ent_t;

typedef struct ents {
  ent_t *v;
  size_t n, cap;
} ents_t;

/* One request. */
typedef struct rq {
  sta_state_t *s;
  h2o_req_t *req;
  kk_store_t *store;
  kk_store_thing_list_t *things;
  kk_store_ds_list_t *ds;
  size_t *ds_thing; /* thing index of each datastream, SIZE_MAX if none */
  size_t *op_rep;   /* datastream index that represents its property */
  char base[512];   /* "http://host:port/v1.1" */
  sta_err_t err;
} rq_t;

static int rq_fail(rq_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rq_fail(rq_t *r, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err.msg, sizeof r->err.msg, fmt, ap);
  va_end(ap);
  r->err.status = status;
  return status;
}

static int ents_push(ents_t *e, ent_t x) {
  if (e->n == e->cap) {
    size_t nc = e->cap ? e->cap * 2 : 16;
    ent_t *nv = realloc(e->v, nc * sizeof *nv);
    if (!nv) return -1;
    e->v = nv;
    e->cap = nc;
  }
  e->v[e->n++] = x;
  return 0;
}

/* ---- loading the model ------------------------------------------------- */

static int rq_load(rq_t *r) {
  if (kk_store_things(r->store, NULL, &r->things) != 0 ||
      kk_store_datastreams(r->store, NULL, &r->ds) != 0)
    return rq_fail(r, 503, "store: %s", kk_store_errmsg());
  size_t nd = r->ds->len, nt = r->things->len;
  r->ds_thing = malloc((nd + 1) * sizeof *r->ds_thing);
  r->op_rep = malloc((nd + 1) * sizeof *r->op_rep);
  if (!r->ds_thing || !r->op_rep) return rq_fail(r, 500, "out of memory");
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

static void rq_free(rq_t *r) {
  kk_store_thing_list_free(r->things);
  kk_store_ds_list_free(r->ds);
  free(r->ds_thing);
  free(r->op_rep);
}

static size_t ds_index(const rq_t *r, int64_t id) {
  for (size_t i = 0; i < r->ds->len; i++)
    if (r->ds->items[i].id == id) return i;
  return SIZE_MAX;
}

static int64_t ent_id(const rq_t *r, const ent_t *e) {
  switch (e->t) {
  case E_THING:
  case E_LOC: return r->things->items[e->i].id;
  case E_DS:
  case E_SENSOR: return r->ds->items[e->i].id;
  case E_OP: return r->ds->items[r->op_rep[e->i]].id;
  default: return 0;
  }
}

/* Every entity of a set (not observations). */
static int all_of(rq_t *r, etype_t t, ents_t *out) {
  if (t == E_THING || t == E_LOC) {
    for (size_t i = 0; i < r->things->len; i++)
      if ((t == E_THING || r->things->items[i].location) &&
          ents_push(out, (ent_t){.t = t, .i = i}))
        return -1;
  } else {
    for (size_t i = 0; i < r->ds->len; i++)
      if ((t != E_OP || r->op_rep[i] == i) &&
          ents_push(out, (ent_t){.t = t, .i = i}))
        return -1;
  }
  return 0;
}

/* ---- observations ------------------------------------------------------ */

typedef struct obs_q {
  int64_t from, to; /* [from, to) */
  int desc;
  long skip, top;
} obs_q_t;

/* One page of observations of datastream `id`: out gets up to q->top
 * points in the requested order, *more whether there are more after. */
static int obs_page(rq_t *r, int64_t id, const obs_q_t *q,
                    kk_store_point_t **out, size_t *n, int *more) {
  *out = NULL;
  *n = 0;
  *more = 0;
  if (q->from >= q->to) return 0;
  size_t want = (size_t)q->skip + (size_t)q->top;
  kk_store_series_t *se = NULL;
  if (!q->desc) {
    if (kk_store_range(r->store, id, q->from, q->to, KK_STORE_RAW, want + 1,
                       &se) != 0)
      return rq_fail(r, 503, "store: %s", kk_store_errmsg());
    *more = se->len > want || se->truncated;
  } else {
    /* The store reads forward only: widen a window back from the latest
     * observation until it holds skip + top + 1 points or the range. */
    kk_store_point_t last;
    if (kk_store_latest(r->store, &id, 1, &last) != 0)
      return rq_fail(r, 503, "store: %s", kk_store_errmsg());
    if (last.count == 0) return 0;
    int64_t to = last.time_ms + 1 < q->to ? last.time_ms + 1 : q->to;
    int64_t w = 3600000;
    for (int it = 0; it < 64; it++) {
      int64_t lo = to - q->from <= w ? q->from : to - w;
      if (kk_store_range(r->store, id, lo, to, KK_STORE_RAW, 0, &se) != 0)
        return rq_fail(r, 503, "store: %s", kk_store_errmsg());
      if (se->len > want || lo == q->from) {
        *more = se->len > want;
        break;
      }
      kk_store_series_free(se);
      se = NULL;
      w = w > INT64_MAX / 4 ? INT64_MAX : w * 4;
    }
    if (!se) return rq_fail(r, 500, "observation window did not converge");
  }
  size_t skip = (size_t)q->skip;
  size_t avail = se->len > skip ? se->len - skip : 0;
  size_t k = avail < (size_t)q->top ? avail : (size_t)q->top;
  if (k) {
    *out = malloc(k * sizeof **out);
    if (!*out) {
      kk_store_series_free(se);
      return rq_fail(r, 500, "out of memory");
    }
    for (size_t i = 0; i < k; i++)
      (*out)[i] = q->desc ? se->points[se->len - 1 - skip - i]
                          : se->points[skip + i];
  }
  *n = k;
  kk_store_series_free(se);
  return 0;
}

/* Observations in [from, to) of datastream id (rollup counts: cheap). */
static int obs_count(rq_t *r, int64_t id, const obs_q_t *q, int64_t *n) {
  kk_store_point_t p;
  if (q->from >= q->to) {
    *n = 0;
    return 0;
  }
  if (kk_store_aggregate(r->store, id, q->from, q->to, &p) != 0)
    return rq_fail(r, 503, "store: %s", kk_store_errmsg());
  *n = p.count;
  return 0;
}

/* Applies the $filter of an Observations request: phenomenonTime bounds
 * and "Datastream/@iot.id eq N" (*ds; 0 when none). */
static int obs_filter(rq_t *r, const sta_opts_t *o, obs_q_t *q, int64_t *ds) {
  q->from = STA_T_MIN;
  q->to = STA_T_MAX;
  for (size_t i = 0; i < o->nfilter; i++) {
    const sta_cmp_t *c = &o->filter[i];
    if (strcmp(c->path, "phenomenonTime") == 0 ||
        strcmp(c->path, "resultTime") == 0) {
      if (c->kind != STA_LIT_TIME)
        return rq_fail(r, 400, "$filter: %s needs an ISO 8601 time", c->path);
      int64_t t = c->time_ms;
      switch (c->op) {
      case STA_GE: if (t > q->from) q->from = t; break;
      case STA_GT: if (t + 1 > q->from) q->from = t + 1; break;
      case STA_LT: if (t < q->to) q->to = t; break;
      case STA_LE: if (t + 1 < q->to) q->to = t + 1; break;
      case STA_EQ:
        if (t > q->from) q->from = t;
        if (t + 1 < q->to) q->to = t + 1;
        break;
      default:
        return rq_fail(r, 501, "$filter: 'ne' on %s is not supported", c->path);
      }
    } else if (strcmp(c->path, "Datastream/@iot.id") == 0 && ds) {
      if (c->op != STA_EQ || c->kind != STA_LIT_NUM)
        return rq_fail(r, 501, "$filter: only 'Datastream/@iot.id eq <n>'");
      if (*ds && *ds != (int64_t)c->num) *ds = -1;
      else *ds = (int64_t)c->num;
    } else {
      return rq_fail(r, 501, "$filter on Observations: only phenomenonTime "
                             "comparisons (and Datastream/@iot.id eq) are "
                             "supported, not %s", c->path);
    }
  }
  if (q->from < STA_T_MIN) q->from = STA_T_MIN;
  if (q->to > STA_T_MAX) q->to = STA_T_MAX;
  return 0;
}

static int obs_order(rq_t *r, const sta_opts_t *o, obs_q_t *q) {
  q->desc = 0;
  if (!o->orderby) return 0;
  if (strcmp(o->orderby, "phenomenonTime") && strcmp(o->orderby, "resultTime"))
    return rq_fail(r, 501, "$orderby on Observations: only phenomenonTime");
  q->desc = o->desc;
  return 0;
}

/* ---- rendering ---------------------------------------------------------- */

static void add_link(rq_t *r, cJSON *o, const char *key, etype_t t, int64_t id,
                     const char *nav) {
  char buf[768];
  if (nav)
    snprintf(buf, sizeof buf, "%s/%s(%" PRId64 ")/%s", r->base, set_name[t], id,
             nav);
  else
    snprintf(buf, sizeof buf, "%s/%s(%" PRId64 ")", r->base, set_name[t], id);
  cJSON_AddStringToObject(o, key, buf);
}

static void obs_id(int64_t ds, int64_t t, char *buf, size_t len) {
  snprintf(buf, len, "%" PRId64 "-%" PRId64, ds, t);
}

static cJSON *json_or(const char *text, cJSON *(*fallback)(void)) {
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  return j ? j : fallback();
}

static void add_time(cJSON *o, const char *key, int64_t ms) {
  char ts[48];
  sta_time_format(ms, ts, sizeof ts);
  cJSON_AddStringToObject(o, key, ts);
}

static void add_result(cJSON *o, const char *key, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
  else cJSON_AddNullToObject(o, key);
}

/* The entity with every property and navigation link (no expansion). */
static cJSON *render(rq_t *r, const ent_t *e) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  char buf[1024];
  int64_t id = ent_id(r, e);
  if (e->t == E_OBS) {
    char oid[64];
    obs_id(e->ds, e->p.time_ms, oid, sizeof oid);
    cJSON_AddStringToObject(o, "@iot.id", oid);
    snprintf(buf, sizeof buf, "%s/Observations('%s')", r->base, oid);
    cJSON_AddStringToObject(o, "@iot.selfLink", buf);
    add_time(o, "phenomenonTime", e->p.time_ms);
    cJSON_AddNullToObject(o, "resultTime");
    add_result(o, "result", e->p.avg);
    snprintf(buf, sizeof buf, "%s/Datastreams(%" PRId64 ")", r->base, e->ds);
    cJSON_AddStringToObject(o, "Datastream@iot.navigationLink", buf);
    return o;
  }
  cJSON_AddNumberToObject(o, "@iot.id", (double)id);
  add_link(r, o, "@iot.selfLink", e->t, id, NULL);
  if (e->t == E_THING || e->t == E_LOC) {
    const kk_store_thing_t *th = &r->things->items[e->i];
    cJSON_AddStringToObject(o, "name", th->name);
    if (e->t == E_THING) {
      cJSON *props = json_or(th->properties, cJSON_CreateObject);
      cJSON *d = cJSON_GetObjectItemCaseSensitive(props, "description");
      cJSON_AddStringToObject(o, "description",
                              cJSON_IsString(d) ? d->valuestring : th->name);
      cJSON_AddItemToObject(o, "properties", props);
      add_link(r, o, "Locations@iot.navigationLink", E_THING, id, "Locations");
      add_link(r, o, "Datastreams@iot.navigationLink", E_THING, id,
               "Datastreams");
    } else {
      snprintf(buf, sizeof buf, "Location of %s", th->name);
      cJSON_AddStringToObject(o, "description", buf);
      cJSON_AddStringToObject(o, "encodingType", "application/geo+json");
      cJSON_AddItemToObject(o, "location",
                            json_or(th->location, cJSON_CreateNull));
      add_link(r, o, "Things@iot.navigationLink", E_LOC, id, "Things");
    }
    return o;
  }
  const kk_store_ds_t *d = &r->ds->items[e->i];
  if (e->t == E_DS) {
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
    add_link(r, o, "Thing@iot.navigationLink", E_DS, id, "Thing");
    add_link(r, o, "Sensor@iot.navigationLink", E_DS, id, "Sensor");
    add_link(r, o, "ObservedProperty@iot.navigationLink", E_DS, id,
             "ObservedProperty");
    add_link(r, o, "Observations@iot.navigationLink", E_DS, id, "Observations");
  } else if (e->t == E_SENSOR) {
    snprintf(buf, sizeof buf, "%s %s sensor", d->thing, d->property);
    cJSON_AddStringToObject(o, "name", buf);
    snprintf(buf, sizeof buf, "The sensor of %s that measures %s", d->thing,
             d->property);
    cJSON_AddStringToObject(o, "description", buf);
    cJSON_AddStringToObject(o, "encodingType", "text/html");
    cJSON_AddStringToObject(o, "metadata", "");
    add_link(r, o, "Datastreams@iot.navigationLink", E_SENSOR, id,
             "Datastreams");
  } else {
    cJSON_AddStringToObject(o, "name", d->property);
    snprintf(buf, sizeof buf, "urn:klimakit:property:%s", d->property);
    cJSON_AddStringToObject(o, "definition", buf);
    cJSON_AddStringToObject(o, "description", d->property);
    add_link(r, o, "Datastreams@iot.navigationLink", E_OP, id, "Datastreams");
  }
  return o;
}

/* ---- navigation -------------------------------------------------------- */

/* What a navigation property of an entity leads to: a single entity
 * (*one), a set (*many), or the observations of datastream *obs_ds. */
enum { NAV_NONE, NAV_ONE, NAV_MANY, NAV_OBS };

static int navigate(rq_t *r, const ent_t *e, const char *nav, ent_t *one,
                    ents_t *many, int64_t *obs_ds) {
  switch (e->t) {
  case E_THING:
    if (strcmp(nav, "Datastreams") == 0) {
      for (size_t i = 0; i < r->ds->len; i++)
        if (r->ds_thing[i] == e->i &&
            ents_push(many, (ent_t){.t = E_DS, .i = i}))
          return -1;
      return NAV_MANY;
    }
    if (strcmp(nav, "Locations") == 0) {
      if (r->things->items[e->i].location &&
          ents_push(many, (ent_t){.t = E_LOC, .i = e->i}))
        return -1;
      return NAV_MANY;
    }
    break;
  case E_LOC:
    if (strcmp(nav, "Things") == 0) {
      if (ents_push(many, (ent_t){.t = E_THING, .i = e->i})) return -1;
      return NAV_MANY;
    }
    break;
  case E_DS:
    if (strcmp(nav, "Thing") == 0) {
      if (r->ds_thing[e->i] == SIZE_MAX) return NAV_NONE;
      *one = (ent_t){.t = E_THING, .i = r->ds_thing[e->i]};
      return NAV_ONE;
    }
    if (strcmp(nav, "Sensor") == 0) {
      *one = (ent_t){.t = E_SENSOR, .i = e->i};
      return NAV_ONE;
    }
    if (strcmp(nav, "ObservedProperty") == 0) {
      *one = (ent_t){.t = E_OP, .i = r->op_rep[e->i]};
      return NAV_ONE;
    }
    if (strcmp(nav, "Observations") == 0) {
      *obs_ds = r->ds->items[e->i].id;
      return NAV_OBS;
    }
    break;
  case E_SENSOR:
    if (strcmp(nav, "Datastreams") == 0) {
      if (ents_push(many, (ent_t){.t = E_DS, .i = e->i})) return -1;
      return NAV_MANY;
    }
    break;
  case E_OP:
    if (strcmp(nav, "Datastreams") == 0) {
      for (size_t i = 0; i < r->ds->len; i++)
        if (r->op_rep[i] == e->i && ents_push(many, (ent_t){.t = E_DS, .i = i}))
          return -1;
      return NAV_MANY;
    }
    break;
  case E_OBS:
    if (strcmp(nav, "Datastream") == 0) {
      size_t i = ds_index(r, e->ds);
      if (i == SIZE_MAX) return NAV_NONE;
      *one = (ent_t){.t = E_DS, .i = i};
      return NAV_ONE;
    }
    break;
  default: break;
  }
  return -2; /* no such navigation property */
}

/* ---- $filter on entities other than observations ------------------------ */

static int lit_cmp_ok(const sta_cmp_t *c, const cJSON *v) {
  int cmp;
  if (c->kind == STA_LIT_NULL) {
    int isnull = !v || cJSON_IsNull(v);
    return c->op == STA_EQ ? isnull : c->op == STA_NE ? !isnull : 0;
  }
  if (!v) return c->op == STA_NE;
  if (c->kind == STA_LIT_STR && cJSON_IsString(v)) {
    cmp = strcmp(v->valuestring, c->str);
  } else if ((c->kind == STA_LIT_NUM || c->kind == STA_LIT_BOOL) &&
             (cJSON_IsNumber(v) || cJSON_IsBool(v))) {
    double a = cJSON_IsBool(v) ? cJSON_IsTrue(v) : v->valuedouble;
    cmp = a < c->num ? -1 : a > c->num;
  } else if (c->kind == STA_LIT_TIME && cJSON_IsString(v)) {
    int64_t t;
    if (sta_time_parse(v->valuestring, strlen(v->valuestring), &t)) return 0;
    cmp = t < c->time_ms ? -1 : t > c->time_ms;
  } else {
    return c->op == STA_NE;
  }
  switch (c->op) {
  case STA_EQ: return cmp == 0;
  case STA_NE: return cmp != 0;
  case STA_GT: return cmp > 0;
  case STA_GE: return cmp >= 0;
  case STA_LT: return cmp < 0;
  default: return cmp <= 0;
  }
}

/* 1 when entity e passes every comparison, 0 when not, or an error
 * status. */
static int filter_ok(rq_t *r, const ent_t *e, const sta_opts_t *o) {
  for (size_t i = 0; i < o->nfilter; i++) {
    const sta_cmp_t *c = &o->filter[i];
    const char *path = c->path;
    ent_t target = *e;
    const char *slash = strchr(path, '/');
    if (slash) {
      char nav[64];
      size_t nl = (size_t)(slash - path);
      if (nl >= sizeof nav) return rq_fail(r, 400, "$filter: bad path");
      memcpy(nav, path, nl);
      nav[nl] = 0;
      ents_t many = {0};
      int64_t ods;
      int k = navigate(r, e, nav, &target, &many, &ods);
      free(many.v);
      if (k == -2)
        return rq_fail(r, 400, "$filter: %s has no navigation property %s",
                       set_name[e->t], nav);
      if (k == -1) return rq_fail(r, 500, "out of memory");
      if (k != NAV_ONE && k != NAV_NONE)
        return rq_fail(r, 501, "$filter: only paths through single entities "
                               "(Thing/name) are supported");
      if (k == NAV_NONE) {
        if (!lit_cmp_ok(c, NULL)) return 0;
        continue;
      }
      path = slash + 1;
      if (strchr(path, '/'))
        return rq_fail(r, 501, "$filter: paths of one step only");
    }
    cJSON *j = render(r, &target);
    if (!j) return rq_fail(r, 500, "out of memory");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, path);
    int ok = lit_cmp_ok(c, v);
    if (!v && strcmp(path, "@iot.id") && strcmp(path, "name") &&
        strcmp(path, "description") && strcmp(path, "definition")) {
      cJSON_Delete(j);
      return rq_fail(r, 400, "$filter: %s has no property %s", set_name[target.t],
                     path);
    }
    cJSON_Delete(j);
    if (!ok) return 0;
  }
  return 1;
}

/* ---- $select, $expand and collections ------------------------------------ */

static int apply_select(rq_t *r, cJSON *o, const sta_opts_t *opts,
                        const char *setname) {
  if (!opts->nselect) return 0;
  for (size_t i = 0; i < opts->nselect; i++) {
    const char *sel = opts->select[i];
    char nav[160];
    snprintf(nav, sizeof nav, "%s@iot.navigationLink", sel);
    if (!cJSON_GetObjectItemCaseSensitive(o, sel) &&
        !cJSON_GetObjectItemCaseSensitive(o, nav) &&
        strcmp(sel, "@iot.selfLink") && strcmp(sel, "selfLink"))
      return rq_fail(r, 400, "$select: %s has no property %s", setname, sel);
  }
  cJSON *it = o->child;
  while (it) {
    cJSON *next = it->next;
    const char *k = it->string;
    int keep = 0;
    for (size_t i = 0; i < opts->nselect && !keep; i++) {
      const char *sel = opts->select[i];
      size_t sl = strlen(sel);
      keep = strcmp(k, sel) == 0 ||
             (strcmp(sel, "selfLink") == 0 && strcmp(k, "@iot.selfLink") == 0) ||
             (strncmp(k, sel, sl) == 0 && strcmp(k + sl, "@iot.navigationLink") == 0);
    }
    for (size_t i = 0; i < opts->nexpand && !keep; i++)
      keep = strcmp(k, opts->expand[i].name) == 0;
    if (!keep) cJSON_Delete(cJSON_DetachItemViaPointer(o, it));
    it = next;
  }
  return 0;
}

static int render_set(rq_t *r, ents_t *set, const sta_opts_t *o, int toplevel,
                      cJSON *out, int64_t *count, int *more);
static int render_obs(rq_t *r, int64_t ds, const sta_opts_t *o, int toplevel,
                      cJSON *out, int64_t *count, int *more);

/* Renders one entity with $select and $expand applied. */
static cJSON *render_full(rq_t *r, const ent_t *e, const sta_opts_t *o) {
  cJSON *j = render(r, e);
  if (!j) {
    rq_fail(r, 500, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < o->nexpand; i++) {
    const sta_expand_t *x = &o->expand[i];
    ent_t one;
    ents_t many = {0};
    int64_t ods = 0;
    int k = navigate(r, e, x->name, &one, &many, &ods);
    int rc = 0;
    if (k == -2) {
      rc = rq_fail(r, 400, "$expand: %s has no navigation property %s",
                   set_name[e->t], x->name);
    } else if (k == -1) {
      rc = rq_fail(r, 500, "out of memory");
    } else if (k == NAV_NONE) {
      cJSON_AddNullToObject(j, x->name);
    } else if (k == NAV_ONE) {
      if (x->opts.nexpand) rc = rq_fail(r, 501, "$expand: one level only");
      cJSON *sub = rc ? NULL : render_full(r, &one, &x->opts);
      if (!sub) rc = r->err.status ? r->err.status : 500;
      else cJSON_AddItemToObject(j, x->name, sub);
    } else {
      cJSON *arr = cJSON_AddArrayToObject(j, x->name);
      int64_t cnt;
      int more;
      rc = k == NAV_MANY ? render_set(r, &many, &x->opts, 0, arr, &cnt, &more)
                         : render_obs(r, ods, &x->opts, 0, arr, &cnt, &more);
    }
    free(many.v);
    if (rc) {
      cJSON_Delete(j);
      return NULL;
    }
  }
  if (apply_select(r, j, o, set_name[e->t])) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

static const sta_opts_t *cmp_opts;
static const rq_t *cmp_rq;

static int cmp_ents(const void *a, const void *b) {
  const ent_t *x = a, *y = b;
  int c;
  if (cmp_opts->orderby && strcmp(cmp_opts->orderby, "name") == 0) {
    const char *nx = x->t == E_THING || x->t == E_LOC
                         ? cmp_rq->things->items[x->i].name
                         : cmp_rq->ds->items[x->i].property;
    const char *ny = y->t == E_THING || y->t == E_LOC
                         ? cmp_rq->things->items[y->i].name
                         : cmp_rq->ds->items[y->i].property;
    c = strcmp(nx, ny);
    if (x->t == E_DS && !c)
      c = strcmp(cmp_rq->ds->items[x->i].thing, cmp_rq->ds->items[y->i].thing);
  } else {
    int64_t ix = ent_id(cmp_rq, x), iy = ent_id(cmp_rq, y);
    c = ix < iy ? -1 : ix > iy;
  }
  return cmp_opts->desc ? -c : c;
}

/* Filters, orders and pages a set of entities into the array `out`. */
static int render_set(rq_t *r, ents_t *set, const sta_opts_t *o, int toplevel,
                      cJSON *out, int64_t *count, int *more) {
  if (o->data_array)
    return rq_fail(r, 400, "$resultFormat=dataArray is for Observations only");
  if (o->orderby && strcmp(o->orderby, "@iot.id") && strcmp(o->orderby, "name"))
    return rq_fail(r, 501, "$orderby: only @iot.id and name are supported here");
  size_t k = 0;
  for (size_t i = 0; i < set->n; i++) {
    int ok = filter_ok(r, &set->v[i], o);
    if (ok > 1) return ok;
    if (ok) set->v[k++] = set->v[i];
  }
  set->n = k;
  cmp_opts = o;
  cmp_rq = r;
  qsort(set->v, set->n, sizeof *set->v, cmp_ents);
  *count = (int64_t)set->n;
  size_t top = o->top < 0 ? STA_TOP_DEFAULT : (size_t)o->top;
  size_t skip = (size_t)o->skip;
  *more = set->n > skip + top;
  (void)toplevel;
  for (size_t i = skip; i < set->n && i < skip + top; i++) {
    cJSON *j = render_full(r, &set->v[i], o);
    if (!j) return r->err.status ? r->err.status : 500;
    cJSON_AddItemToArray(out, j);
  }
  return 0;
}

/* Observations of datastream `ds` (0: of every datastream, in datastream
 * order) into `out`: entities, or dataArray groups. */
static int render_obs(rq_t *r, int64_t ds, const sta_opts_t *o, int toplevel,
                      cJSON *out, int64_t *count, int *more) {
  obs_q_t q;
  int rc;
  int64_t fds = ds;
  if ((rc = obs_filter(r, o, &q, &fds)) || (rc = obs_order(r, o, &q))) return rc;
  if (o->nexpand && o->data_array)
    return rq_fail(r, 400, "$expand cannot be combined with dataArray");
  /* The streams to read. */
  int64_t *ids = NULL;
  size_t nids = 0;
  if (fds == -1 || (ds && fds != ds)) {
    nids = 0; /* contradictory: nothing */
  } else if (fds) {
    if (ds_index(r, fds) == SIZE_MAX && !ds)
      return rq_fail(r, 404, "no Datastream %" PRId64, fds);
    ids = malloc(sizeof *ids);
    if (!ids) return rq_fail(r, 500, "out of memory");
    ids[nids++] = fds;
  } else {
    if (o->orderby)
      return rq_fail(r, 501, "$orderby on Observations of every Datastream; "
                             "ask Datastreams(id)/Observations");
    ids = malloc((r->ds->len + 1) * sizeof *ids);
    if (!ids) return rq_fail(r, 500, "out of memory");
    for (size_t i = 0; i < r->ds->len; i++) ids[nids++] = r->ds->items[i].id;
    for (size_t i = 1; i < nids; i++) /* by id: a stable paging order */
      for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
        int64_t t = ids[j];
        ids[j] = ids[j - 1];
        ids[j - 1] = t;
      }
  }
  /* Components of dataArray. */
  static const char *const comp_all[] = {"@iot.id", "phenomenonTime", "result",
                                         "resultTime"};
  const char *comps[8];
  size_t ncomp = 0;
  if (o->data_array) {
    if (o->nselect) {
      for (size_t i = 0; i < o->nselect && ncomp < 8; i++) {
        size_t k;
        for (k = 0; k < 4; k++)
          if (strcmp(o->select[i], comp_all[k]) == 0) break;
        if (k == 4) {
          free(ids);
          return rq_fail(r, 400, "$select: %s is not a component of "
                                 "Observations in dataArray", o->select[i]);
        }
        comps[ncomp++] = comp_all[k];
      }
    } else {
      for (size_t k = 0; k < 3; k++) comps[ncomp++] = comp_all[k];
    }
  }
  long top = o->top < 0 ? STA_TOP_DEFAULT : o->top;
  long skip = o->skip;
  *count = 0;
  *more = 0;
  rc = 0;
  for (size_t i = 0; i < nids && !rc; i++) {
    int64_t n_ds = -1;
    /* Skip whole datastreams without reading them. */
    if (nids > 1 || (toplevel && o->count)) {
      if ((rc = obs_count(r, ids[i], &q, &n_ds))) break;
      if (toplevel && o->count) *count += n_ds;
      if (skip >= n_ds) {
        skip -= n_ds;
        continue;
      }
    }
    if (top == 0) {
      if (n_ds != 0) *more = 1;
      if (toplevel && o->count) continue;
      break;
    }
    obs_q_t qq = q;
    qq.skip = skip;
    qq.top = top;
    kk_store_point_t *pts;
    size_t np;
    int m;
    if ((rc = obs_page(r, ids[i], &qq, &pts, &np, &m))) break;
    skip = 0;
    top -= (long)np;
    if (m) *more = 1;
    if (o->data_array && np) {
      cJSON *g = cJSON_CreateObject();
      char link[640];
      snprintf(link, sizeof link, "%s/Datastreams(%" PRId64 ")", r->base, ids[i]);
      cJSON_AddStringToObject(g, "Datastream@iot.navigationLink", link);
      cJSON *c = cJSON_AddArrayToObject(g, "components");
      for (size_t k = 0; k < ncomp; k++)
        cJSON_AddItemToArray(c, cJSON_CreateString(
                                    strcmp(comps[k], "@iot.id") ? comps[k] : "id"));
      cJSON_AddNumberToObject(g, "dataArray@iot.count", (double)np);
      cJSON *da = cJSON_AddArrayToObject(g, "dataArray");
      for (size_t p = 0; p < np; p++) {
        cJSON *row = cJSON_CreateArray();
        for (size_t k = 0; k < ncomp; k++) {
          char buf[64];
          if (strcmp(comps[k], "@iot.id") == 0) {
            obs_id(ids[i], pts[p].time_ms, buf, sizeof buf);
            cJSON_AddItemToArray(row, cJSON_CreateString(buf));
          } else if (strcmp(comps[k], "phenomenonTime") == 0) {
            sta_time_format(pts[p].time_ms, buf, sizeof buf);
            cJSON_AddItemToArray(row, cJSON_CreateString(buf));
          } else if (strcmp(comps[k], "result") == 0) {
            cJSON_AddItemToArray(row, isfinite(pts[p].avg)
                                          ? cJSON_CreateNumber(pts[p].avg)
                                          : cJSON_CreateNull());
          } else {
            cJSON_AddItemToArray(row, cJSON_CreateNull());
          }
        }
        cJSON_AddItemToArray(da, row);
      }
      cJSON_AddItemToArray(out, g);
    } else {
      for (size_t p = 0; p < np && !rc; p++) {
        ent_t e = {.t = E_OBS, .ds = ids[i], .p = pts[p]};
        cJSON *j = render_full(r, &e, o);
        if (!j) rc = r->err.status ? r->err.status : 500;
        else cJSON_AddItemToArray(out, j);
      }
    }
    free(pts);
    if (top == 0 && !(toplevel && o->count)) {
      if (i + 1 < nids) *more = 1; /* not exact: the rest may be empty */
      break;
    }
  }
  free(ids);
  return rc;
}

/* ---- responses ------------------------------------------------------------- */

static void send_json(rq_t *r, int status, cJSON *j) {
  kk_buf_t b = {0};
  char *text = cJSON_PrintUnformatted(j);
  if (text) {
    kk_buf_puts(&b, text);
    kk_buf_puts(&b, "\n");
    free(text);
  } else {
    b.oom = 1;
  }
  if (status >= 400) kk_metric_add(r->s->m_errors, 1);
  net_httpd_respond(r->req, status, "application/json; charset=utf-8", &b,
                   r->s->cors);
}

static void send_error(rq_t *r, int status, const char *msg) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "code", status);
  cJSON_AddStringToObject(j, "type", "error");
  cJSON_AddStringToObject(j, "message", msg);
  send_json(r, status, j);
  cJSON_Delete(j);
}

/* The next page's address: this request with $top and $skip replaced. */
static void next_link(rq_t *r, const char *path, long top, long skip,
                      cJSON *out) {
  kk_buf_t b = {0};
  kk_buf_printf(&b, "%s%s?", r->base, path);
  h2o_req_t *req = r->req;
  if (req->query_at != SIZE_MAX) {
    const char *q = req->path.base + req->query_at + 1;
    const char *end = req->path.base + req->path.len;
    while (q < end) {
      const char *amp = memchr(q, '&', (size_t)(end - q));
      const char *stop = amp ? amp : end;
      size_t n = (size_t)(stop - q);
      int drop = (n >= 5 && (strncmp(q, "$top=", 5) == 0 ||
                             strncmp(q, "$skip", 5) == 0)) ||
                 (n >= 7 && (strncmp(q, "%24top=", 7) == 0 ||
                             strncmp(q, "%24skip", 7) == 0));
      if (!drop && n) {
        kk_buf_put(&b, q, n);
        kk_buf_puts(&b, "&");
      }
      q = stop + 1;
    }
  }
  kk_buf_printf(&b, "$top=%ld&$skip=%ld", top, skip);
  if (!b.oom) cJSON_AddStringToObject(out, "@iot.nextLink", b.p);
  kk_buf_free(&b);
}

static void service_root(rq_t *r) {
  cJSON *j = cJSON_CreateObject();
  cJSON *v = cJSON_AddArrayToObject(j, "value");
  for (int t = 0; t < E_N; t++) {
    cJSON *e = cJSON_CreateObject();
    char url[640];
    snprintf(url, sizeof url, "%s/%s", r->base, set_name[t]);
    cJSON_AddStringToObject(e, "name", set_name[t]);
    cJSON_AddStringToObject(e, "url", url);
    cJSON_AddItemToArray(v, e);
  }
  cJSON *ss = cJSON_AddObjectToObject(j, "serverSettings");
  cJSON *c = cJSON_AddArrayToObject(ss, "conformance");
  cJSON_AddItemToArray(c, cJSON_CreateString(
                              "http://www.opengis.net/spec/iot_sensing/1.1/"
                              "req/datamodel"));
  cJSON_AddItemToArray(c, cJSON_CreateString(
                              "http://www.opengis.net/spec/iot_sensing/1.1/"
                              "req/resource-path/resource-path-to-entities"));
  cJSON_AddItemToArray(c, cJSON_CreateString(
                              "http://www.opengis.net/spec/iot_sensing/1.1/"
                              "req/request-data"));
  cJSON_AddItemToArray(c, cJSON_CreateString(
                              "http://www.opengis.net/spec/iot_sensing/1.1/"
                              "req/data-array/data-array"));
  send_json(r, 200, j);
  cJSON_Delete(j);
}

static etype_t set_of(const char *name) {
  for (int t = 0; t < E_N; t++)
    if (strcmp(name, set_name[t]) == 0) return (etype_t)t;
  return E_N;
}

/* Finds entity `id` of set t (not observations). */
static int find_ent(rq_t *r, etype_t t, const ents_t *within, const char *id,
                    ent_t *out) {
  char *end;
  long long n = strtoll(id, &end, 10);
  if (*end || end == id) return rq_fail(r, 404, "no %s with id %s", set_name[t], id);
  for (size_t i = 0; i < within->n; i++)
    if (within->v[i].t == t && ent_id(r, &within->v[i]) == n) {
      *out = within->v[i];
      return 0;
    }
  return rq_fail(r, 404, "no %s with id %s", set_name[t], id);
}

/* Observation '<ds>-<ms>' of datastream `only` (0: any). */
static int find_obs(rq_t *r, const char *id, int64_t only, ent_t *out) {
  long long ds, t;
  char tail;
  if (sscanf(id, "%lld-%lld%c", &ds, &t, &tail) != 2 || (only && ds != only) ||
      ds_index(r, ds) == SIZE_MAX)
    return rq_fail(r, 404, "no Observation with id %s", id);
  kk_store_series_t *se;
  if (kk_store_range(r->store, ds, t, t + 1, KK_STORE_RAW, 1, &se) != 0)
    return rq_fail(r, 503, "store: %s", kk_store_errmsg());
  int found = se->len == 1;
  if (found) *out = (ent_t){.t = E_OBS, .ds = ds, .p = se->points[0]};
  kk_store_series_free(se);
  return found ? 0 : rq_fail(r, 404, "no Observation with id %s", id);
}

static int handle(rq_t *r, const char *path, const sta_path_t *p,
                  const sta_opts_t *o) {
  if (p->n == 0) {
    service_root(r);
    return 0;
  }
  int rc = rq_load(r);
  if (rc) return rc;
  /* Walk the path: `cur` is a single entity, or `set` a collection, or
   * observations of obs_ds. */
  enum { AT_ONE, AT_SET, AT_OBS } at;
  ent_t cur = {0};
  ents_t set = {0};
  int64_t obs_ds = 0;
  const char *prop = NULL;
  int value = 0;
  etype_t t0 = set_of(p->seg[0].name);
  if (t0 == E_N) {
    if (strcmp(p->seg[0].name, "HistoricalLocations") == 0 ||
        strcmp(p->seg[0].name, "FeaturesOfInterest") == 0)
      return rq_fail(r, 501, "%s are not served", p->seg[0].name);
    return rq_fail(r, 404, "no entity set %s", p->seg[0].name);
  }
  if (t0 == E_OBS) {
    at = AT_OBS;
  } else {
    at = AT_SET;
    if (all_of(r, t0, &set)) return rq_fail(r, 500, "out of memory");
  }
  for (size_t k = 0; k < p->n && !rc; k++) {
    const sta_seg_t *g = &p->seg[k];
    if (k > 0) {
      if (at != AT_ONE)
        return free(set.v), rq_fail(r, 400, "%s: address one entity by id "
                                            "before navigating", g->name);
      if (prop) {
        if (strcmp(g->name, "$value") == 0 && !g->id && !value) {
          value = 1;
          continue;
        }
        return free(set.v), rq_fail(r, 400, "nothing below property %s", prop);
      }
      ents_t many = {0};
      ent_t one;
      int64_t ods = 0;
      int nk = navigate(r, &cur, g->name, &one, &many, &ods);
      if (nk == -2) {
        if (g->id) return free(set.v), rq_fail(r, 404, "%s has no %s",
                                               set_name[cur.t], g->name);
        cJSON *probe = render(r, &cur);
        int has = probe && cJSON_GetObjectItemCaseSensitive(probe, g->name);
        cJSON_Delete(probe);
        if (!has)
          return free(set.v), rq_fail(r, 404, "%s has no property %s",
                                      set_name[cur.t], g->name);
        prop = g->name;
        continue;
      }
      if (nk == -1) return free(set.v), rq_fail(r, 500, "out of memory");
      free(set.v);
      set = many;
      if (nk == NAV_NONE) return free(set.v), rq_fail(r, 404, "not found");
      if (nk == NAV_ONE) {
        if (g->id) return free(set.v), rq_fail(r, 400, "%s is one entity", g->name);
        cur = one;
        at = AT_ONE;
        continue;
      }
      at = nk == NAV_OBS ? AT_OBS : AT_SET;
      obs_ds = ods;
    }
    if (g->id) {
      if (at == AT_OBS) rc = find_obs(r, g->id, obs_ds, &cur);
      else rc = find_ent(r, set.n ? set.v[0].t : (k ? E_N : t0), &set, g->id, &cur);
      if (rc == 0 && at == AT_SET && !set.n) rc = rq_fail(r, 404, "not found");
      at = AT_ONE;
    }
  }
  if (rc) return free(set.v), rc;
  cJSON *out = NULL;
  if (at == AT_ONE) {
    if (prop) {
      cJSON *j = render(r, &cur);
      cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(j, prop);
      cJSON_Delete(j);
      if (value) {
        kk_buf_t b = {0};
        char *txt = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
        kk_buf_puts(&b, txt ? txt : v->valuestring);
        free(txt);
        cJSON_Delete(v);
        free(set.v);
        net_httpd_respond(r->req, 200, "text/plain; charset=utf-8", &b, r->s->cors);
        return 0;
      }
      out = cJSON_CreateObject();
      cJSON_AddItemToObject(out, prop, v);
    } else {
      out = render_full(r, &cur, o);
      if (!out) return free(set.v), r->err.status ? r->err.status : 500;
    }
  } else {
    out = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    int64_t count = 0;
    int more = 0;
    rc = at == AT_SET ? render_set(r, &set, o, 1, arr, &count, &more)
                      : render_obs(r, obs_ds, o, 1, arr, &count, &more);
    if (rc) {
      cJSON_Delete(arr);
      cJSON_Delete(out);
      return free(set.v), rc;
    }
    if (o->count) cJSON_AddNumberToObject(out, "@iot.count", (double)count);
    long top = o->top < 0 ? STA_TOP_DEFAULT : o->top;
    if (more && top > 0) next_link(r, path + 5, top, o->skip + top, out);
    cJSON_AddItemToObject(out, "value", arr);
  }
  free(set.v);
  send_json(r, 200, out);
  cJSON_Delete(out);
  return 0;
}

static int on_req(void *ud, h2o_req_t *req, const char *path) {
  sta_state_t *s = ud;
  kk_metric_add(s->m_requests, 1);
  rq_t r = {.s = s, .req = req};
  const char *sub = path + 5; /* after "/v1.1" */
  snprintf(r.base, sizeof r.base, "%s://%.*s/v1.1",
           net_httpd_is_tls(s->use.httpd) ? "https" : "http",
           (int)(req->authority.len < 300 ? req->authority.len : 300),
           req->authority.base ? req->authority.base : "");
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
      !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
    send_error(&r, 501, "this server is read-only: create, update and delete "
                        "are not implemented");
    return 0;
  }
  r.store = s->store_name ? kk_store_find(s->store_name) : kk_store_default();
  if (!r.store) {
    send_error(&r, 503, s->store_name ? "the store is not running"
                                      : "no store in this pipeline");
    return 0;
  }
  sta_path_t p;
  sta_opts_t o;
  r.err.status = 0;
  if (sta_path_parse(sub, &p, &r.err) != 0) {
    send_error(&r, r.err.status, r.err.msg);
    return 0;
  }
  const char *q = req->query_at == SIZE_MAX ? NULL : req->path.base + req->query_at + 1;
  size_t qlen = q ? (size_t)(req->path.base + req->path.len - q) : 0;
  if (sta_opts_parse(q, qlen, &o, &r.err) != 0) {
    sta_path_free(&p);
    send_error(&r, r.err.status, r.err.msg);
    return 0;
  }
  int rc = handle(&r, path, &p, &o);
  if (rc) send_error(&r, r.err.status ? r.err.status : rc,
                     r.err.msg[0] ? r.err.msg : "error");
  rq_free(&r);
  sta_opts_free(&o);
  sta_path_free(&p);
  return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

static int sta_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  sta_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->store_name = kk_opt_str(opts, "store");
  s->cors = kk_opt_str(opts, "cors");
  s->tls.cert_file = kk_opt_str(opts, "tls_cert");
  s->tls.key_file = kk_opt_str(opts, "tls_key");
  if (!s->tls.cert_file != !s->tls.key_file) {
    kk_stage_error(st, "tls_cert and tls_key go together");
    return KK_EINVAL;
  }
  s->listen = strdup(kk_opt_str(opts, "listen"));
  s->m_requests = kk_stage_counter(st, "kk_sta_requests_total", NULL,
                                   "SensorThings API requests served");
  s->m_errors = kk_stage_counter(st, "kk_sta_errors_total", NULL,
                                 "SensorThings API responses with status >= 400");
  return s->listen ? 0 : KK_ENOMEM;
}

static int sta_start(kk_stage_t *st, void *state) {
  sta_state_t *s = state;
  int rc = net_httpd_use(&s->use, st, s->listen, &s->tls, 1 << 16, "/v1.1",
                        on_req, s);
  if (rc) return rc;
  char url[320];
  net_httpd_base_url(s->use.httpd, s->listen, url, sizeof url);
  kk_stage_log(st, KK_LOG_INFO, "SensorThings API at %s/v1.1", url);
  return 0;
}

/* Batches only place the stage in the pipeline; the data comes from the
 * store. */
static int sta_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  (void)state;
  (void)b;
  return 0;
}

static void sta_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  net_httpd_unuse(&((sta_state_t *)state)->use, cb);
}

static void sta_destroy(void *state) {
  sta_state_t *s = state;
  if (!s) return;
  free(s->listen);
  free(s);
}

static const kk_option_t sta_api_options[] = {
    {.name = "listen", .type = KK_OPT_STRING, .def = "127.0.0.1:8080",
     .description = "Address and port to serve on; the same address as "
                    "publish.http shares its server (the API is under "
                    "/v1.1)."},
    {.name = "store", .type = KK_OPT_STRING,
     .description = "Stage name of the store to read (store.sqlite's `name` "
                    "or \"sqlite\"); unset: the first store of the pipeline."},
    {.name = "cors", .type = KK_OPT_STRING,
     .description = "Origin allowed to read the API from a browser "
                    "(Access-Control-Allow-Origin), e.g. \"*\"; unset: none."},
    {.name = "tls_cert", .type = KK_OPT_STRING,
     .description = "PEM certificate chain: serve HTTPS (with tls_key) when "
                    "this module is the first on its address."},
    {.name = "tls_key", .type = KK_OPT_STRING,
     .description = "PEM private key of tls_cert."},
    {NULL}};

const kk_module_t publish_sensorthings_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "sensorthings",
    .ns = "publish",
    .kind = KK_KIND_SINK,
    .summary = "Serves a store as an OGC SensorThings API v1.1 (read).",
    .description =
        "Answers `/v1.1/...` on the shared HTTP server from a store: Things, "
        "Locations, Datastreams, Sensors, ObservedProperties and "
        "Observations, navigation (`Datastreams(1)/Observations`), `$top`, "
        "`$skip`, `$orderby`, `$filter` (phenomenonTime ranges, id and name "
        "equality), `$count`, `$select`, one level of `$expand`, "
        "`$resultFormat=dataArray` and `@iot.nextLink` paging.  Read only.  "
        "Place it in the pipeline beside the store (it ignores the "
        "readings).  See docs/sensorthings.md.",
    .options = sta_api_options,
    .create = sta_create,
    .start = sta_start,
    .process = sta_process,
    .stop = sta_stop,
    .destroy = sta_destroy,
};
