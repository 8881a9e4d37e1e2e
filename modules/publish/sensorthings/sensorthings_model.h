/*
 * modules/publish/sensorthings/sensorthings_model.h - what the files of
 * publish.sensorthings share: the module state, the entity model of one
 * request (sensorthings_entities.c) and the query evaluation over it
 * (sensorthings_eval.c).  Everything runs on the loop thread, inside one
 * HTTP request; sensorthings.c holds the descriptor and the routing.
 *
 * Entities and their ids (docs/guide/sensorthings.md):
 *   Thing            a store thing, id = the store's thing id
 *   Location         the thing's location, id = the thing id
 *   Datastream       a store datastream, id = the store's datastream id
 *   Sensor           one per datastream, id = the datastream id
 *   ObservedProperty one per property name, id = the smallest datastream
 *                    id with that property (stable: store ids never move)
 *   Observation      (datastream, time), id = the string "<ds>-<time ms>"
 */
#ifndef KK_PUBLISH_SENSORTHINGS_MODEL_H
#define KK_PUBLISH_SENSORTHINGS_MODEL_H

#include <klimakit.h>
#include <klimakit/store.h>

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

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

typedef enum sta_etype {
  STA_E_THING,
  STA_E_LOC,
  STA_E_DS,
  STA_E_SENSOR,
  STA_E_OP,
  STA_E_OBS,
  STA_E_N
} sta_etype_t;

/* A reference to one entity: an index into the request's lists, or an
 * observation. */
typedef struct sta_ent {
  sta_etype_t t;
  size_t i; /* things (STA_E_THING, STA_E_LOC) or datastreams (STA_E_DS,
               STA_E_SENSOR, STA_E_OP) */
  int64_t ds;
  kk_store_point_t p; /* STA_E_OBS */
} sta_ent_t;

typedef struct sta_ents {
  sta_ent_t *v;
  size_t n, cap;
} sta_ents_t;

/* One request. */
typedef struct sta_rq {
  sta_state_t *s;
  h2o_req_t *req;
  kk_store_t *store;
  kk_store_thing_list_t *things;
  kk_store_ds_list_t *ds;
  size_t *ds_thing; /* thing index of each datastream, SIZE_MAX if none */
  size_t *op_rep;   /* datastream index that represents its property */
  char base[512];   /* "http://host:port/v1.1" */
  sta_err_t err;
} sta_rq_t;

/* The name of each entity set ("Things", ...), indexed by sta_etype_t. */
extern const char *const sta_set_name[STA_E_N];

/* ---- the entity model (sensorthings_entities.c) ------------------------ */

/* Records an error (HTTP status and message) in r->err; returns status. */
int sta_rq_fail(sta_rq_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends x to e (which owns its array); 0 or -1 when out of memory. */
int sta_ents_push(sta_ents_t *e, sta_ent_t x);
/* Reads the things and datastreams of r->store into r; 0 or a status.
 * sta_rq_free() releases them (also after a failed load). */
int sta_rq_load(sta_rq_t *r);
void sta_rq_free(sta_rq_t *r);
/* Index of datastream `id` in r->ds, SIZE_MAX if there is none. */
size_t sta_ds_index(const sta_rq_t *r, int64_t id);
/* The @iot.id of an entity other than an observation. */
int64_t sta_ent_id(const sta_rq_t *r, const sta_ent_t *e);
/* Appends every entity of set t (not observations) to out; 0 or -1. */
int sta_all_of(sta_rq_t *r, sta_etype_t t, sta_ents_t *out);
/* Writes the id "<ds>-<ms>" of an observation into buf. */
void sta_obs_id(int64_t ds, int64_t t, char *buf, size_t len);
/* The entity with every property and navigation link (no expansion), as
 * a new JSON object the caller deletes; NULL when out of memory. */
cJSON *sta_render(sta_rq_t *r, const sta_ent_t *e);

/* What a navigation property of an entity leads to: a single entity
 * (*one), a set (*many), or the observations of datastream *obs_ds. */
enum { STA_NAV_NONE, STA_NAV_ONE, STA_NAV_MANY, STA_NAV_OBS };
/* Follows navigation property `nav` of e.  Returns an STA_NAV_ value, -1
 * when out of memory, -2 when e has no such property.  Entities are
 * appended to *many, which the caller frees. */
int sta_navigate(sta_rq_t *r, const sta_ent_t *e, const char *nav,
                 sta_ent_t *one, sta_ents_t *many, int64_t *obs_ds);

/* ---- query evaluation (sensorthings_eval.c) ---------------------------- */

/* Renders one entity with $select and $expand of `o` applied: a new JSON
 * object, or NULL with the error in r->err. */
cJSON *sta_render_full(sta_rq_t *r, const sta_ent_t *e, const sta_opts_t *o);
/* Filters, orders and pages `set` (reordered in place) into the array
 * `out` (borrowed); *count gets the number that passed $filter, *more
 * whether a next page exists.  0 or an HTTP status. */
int sta_render_set(sta_rq_t *r, sta_ents_t *set, const sta_opts_t *o,
                   int toplevel, cJSON *out, int64_t *count, int *more);
/* Observations of datastream `ds` (0: of every datastream, in datastream
 * order) into the array `out` (borrowed): entities, or dataArray groups.
 * $count is counted only when `toplevel`.  0 or an HTTP status. */
int sta_render_obs(sta_rq_t *r, int64_t ds, const sta_opts_t *o, int toplevel,
                   cJSON *out, int64_t *count, int *more);

#endif
