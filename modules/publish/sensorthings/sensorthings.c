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
 * The files of the module: sensorthings_entities.c (the entity model of a
 * request and its JSON), sensorthings_eval.c (evaluating the query options
 * against the store), sta_query.c (parsing paths and query options) and
 * this one (routing a request, responses, the stage's lifecycle).  The
 * entities and their ids are described in sensorthings_model.h.
 */
#include "publish/sensorthings/sensorthings_model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- responses -------------------------------------------------------------
 */

static void sta_send_json(sta_rq_t *r, int status, cJSON *j) {
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

static void sta_send_error(sta_rq_t *r, int status, const char *msg) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "code", status);
  cJSON_AddStringToObject(j, "type", "error");
  cJSON_AddStringToObject(j, "message", msg);
  sta_send_json(r, status, j);
  cJSON_Delete(j);
}

/* The next page's address: this request with $top and $skip replaced. */
static void sta_next_link(sta_rq_t *r, const char *path, long top, long skip,
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
      int drop =
          (n >= 5 &&
           (strncmp(q, "$top=", 5) == 0 || strncmp(q, "$skip", 5) == 0)) ||
          (n >= 7 &&
           (strncmp(q, "%24top=", 7) == 0 || strncmp(q, "%24skip", 7) == 0));
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

static void sta_service_root(sta_rq_t *r) {
  cJSON *j = cJSON_CreateObject();
  cJSON *v = cJSON_AddArrayToObject(j, "value");
  for (int t = 0; t < STA_E_N; t++) {
    cJSON *e = cJSON_CreateObject();
    char url[640];
    snprintf(url, sizeof url, "%s/%s", r->base, sta_set_name[t]);
    cJSON_AddStringToObject(e, "name", sta_set_name[t]);
    cJSON_AddStringToObject(e, "url", url);
    cJSON_AddItemToArray(v, e);
  }
  cJSON *ss = cJSON_AddObjectToObject(j, "serverSettings");
  cJSON *c = cJSON_AddArrayToObject(ss, "conformance");
  cJSON_AddItemToArray(
      c, cJSON_CreateString("http://www.opengis.net/spec/iot_sensing/1.1/"
                            "req/datamodel"));
  cJSON_AddItemToArray(
      c, cJSON_CreateString("http://www.opengis.net/spec/iot_sensing/1.1/"
                            "req/resource-path/resource-path-to-entities"));
  cJSON_AddItemToArray(
      c, cJSON_CreateString("http://www.opengis.net/spec/iot_sensing/1.1/"
                            "req/request-data"));
  cJSON_AddItemToArray(
      c, cJSON_CreateString("http://www.opengis.net/spec/iot_sensing/1.1/"
                            "req/data-array/data-array"));
  sta_send_json(r, 200, j);
  cJSON_Delete(j);
}

static sta_etype_t sta_set_of(const char *name) {
  for (int t = 0; t < STA_E_N; t++)
    if (strcmp(name, sta_set_name[t]) == 0) return (sta_etype_t)t;
  return STA_E_N;
}

/* Finds entity `id` of set t (not observations). */
static int sta_find_ent(sta_rq_t *r, sta_etype_t t, const sta_ents_t *within,
                        const char *id, sta_ent_t *out) {
  char *end;
  long long n = strtoll(id, &end, 10);
  if (*end || end == id)
    return sta_rq_fail(r, 404, "no %s with id %s", sta_set_name[t], id);
  for (size_t i = 0; i < within->n; i++)
    if (within->v[i].t == t && sta_ent_id(r, &within->v[i]) == n) {
      *out = within->v[i];
      return 0;
    }
  return sta_rq_fail(r, 404, "no %s with id %s", sta_set_name[t], id);
}

/* Observation '<ds>-<ms>' of datastream `only` (0: any). */
static int sta_find_obs(sta_rq_t *r, const char *id, int64_t only,
                        sta_ent_t *out) {
  long long ds, t;
  char tail;
  if (sscanf(id, "%lld-%lld%c", &ds, &t, &tail) != 2 || (only && ds != only) ||
      sta_ds_index(r, ds) == SIZE_MAX)
    return sta_rq_fail(r, 404, "no Observation with id %s", id);
  kk_store_series_t *se;
  if (kk_store_range(r->store, ds, t, t + 1, KK_STORE_RAW, 1, &se) != 0)
    return sta_rq_fail(r, 503, "store: %s", kk_store_errmsg());
  int found = se->len == 1;
  if (found) *out = (sta_ent_t){.t = STA_E_OBS, .ds = ds, .p = se->points[0]};
  kk_store_series_free(se);
  return found ? 0 : sta_rq_fail(r, 404, "no Observation with id %s", id);
}

static int sta_handle(sta_rq_t *r, const char *path, const sta_path_t *p,
                      const sta_opts_t *o) {
  if (p->n == 0) {
    sta_service_root(r);
    return 0;
  }
  int rc = sta_rq_load(r);
  if (rc) return rc;
  /* Walk the path: `cur` is a single entity, or `set` a collection, or
   * observations of obs_ds. */
  enum { AT_ONE, AT_SET, AT_OBS } at;
  sta_ent_t cur = {0};
  sta_ents_t set = {0};
  int64_t obs_ds = 0;
  const char *prop = NULL;
  int value = 0;
  sta_etype_t t0 = sta_set_of(p->seg[0].name);
  if (t0 == STA_E_N) {
    if (strcmp(p->seg[0].name, "HistoricalLocations") == 0 ||
        strcmp(p->seg[0].name, "FeaturesOfInterest") == 0)
      return sta_rq_fail(r, 501, "%s are not served", p->seg[0].name);
    return sta_rq_fail(r, 404, "no entity set %s", p->seg[0].name);
  }
  if (t0 == STA_E_OBS) {
    at = AT_OBS;
  } else {
    at = AT_SET;
    if (sta_all_of(r, t0, &set)) return sta_rq_fail(r, 500, "out of memory");
  }
  for (size_t k = 0; k < p->n && !rc; k++) {
    const sta_seg_t *g = &p->seg[k];
    if (k > 0) {
      if (at != AT_ONE)
        return free(set.v), sta_rq_fail(r, 400,
                                        "%s: address one entity by id "
                                        "before navigating",
                                        g->name);
      if (prop) {
        if (strcmp(g->name, "$value") == 0 && !g->id && !value) {
          value = 1;
          continue;
        }
        return free(set.v),
               sta_rq_fail(r, 400, "nothing below property %s", prop);
      }
      sta_ents_t many = {0};
      sta_ent_t one;
      int64_t ods = 0;
      int nk = sta_navigate(r, &cur, g->name, &one, &many, &ods);
      if (nk == -2) {
        if (g->id)
          return free(set.v), sta_rq_fail(r, 404, "%s has no %s",
                                          sta_set_name[cur.t], g->name);
        cJSON *probe = sta_render(r, &cur);
        int has = probe && cJSON_GetObjectItemCaseSensitive(probe, g->name);
        cJSON_Delete(probe);
        if (!has)
          return free(set.v), sta_rq_fail(r, 404, "%s has no property %s",
                                          sta_set_name[cur.t], g->name);
        prop = g->name;
        continue;
      }
      if (nk == -1) return free(set.v), sta_rq_fail(r, 500, "out of memory");
      free(set.v);
      set = many;
      if (nk == STA_NAV_NONE)
        return free(set.v), sta_rq_fail(r, 404, "not found");
      if (nk == STA_NAV_ONE) {
        if (g->id)
          return free(set.v), sta_rq_fail(r, 400, "%s is one entity", g->name);
        cur = one;
        at = AT_ONE;
        continue;
      }
      at = nk == STA_NAV_OBS ? AT_OBS : AT_SET;
      obs_ds = ods;
    }
    if (g->id) {
      if (at == AT_OBS)
        rc = sta_find_obs(r, g->id, obs_ds, &cur);
      else
        rc = sta_find_ent(r, set.n ? set.v[0].t : (k ? STA_E_N : t0), &set,
                          g->id, &cur);
      if (rc == 0 && at == AT_SET && !set.n)
        rc = sta_rq_fail(r, 404, "not found");
      at = AT_ONE;
    }
  }
  if (rc) return free(set.v), rc;
  cJSON *out = NULL;
  if (at == AT_ONE) {
    if (prop) {
      cJSON *j = sta_render(r, &cur);
      cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(j, prop);
      cJSON_Delete(j);
      if (value) {
        kk_buf_t b = {0};
        char *txt = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
        kk_buf_puts(&b, txt ? txt : v->valuestring);
        free(txt);
        cJSON_Delete(v);
        free(set.v);
        net_httpd_respond(r->req, 200, "text/plain; charset=utf-8", &b,
                          r->s->cors);
        return 0;
      }
      out = cJSON_CreateObject();
      cJSON_AddItemToObject(out, prop, v);
    } else {
      out = sta_render_full(r, &cur, o);
      if (!out) return free(set.v), r->err.status ? r->err.status : 500;
    }
  } else {
    out = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    int64_t count = 0;
    int more = 0;
    rc = at == AT_SET ? sta_render_set(r, &set, o, 1, arr, &count, &more)
                      : sta_render_obs(r, obs_ds, o, 1, arr, &count, &more);
    if (rc) {
      cJSON_Delete(arr);
      cJSON_Delete(out);
      return free(set.v), rc;
    }
    if (o->count) cJSON_AddNumberToObject(out, "@iot.count", (double)count);
    long top = o->top < 0 ? STA_TOP_DEFAULT : o->top;
    if (more && top > 0) sta_next_link(r, path + 5, top, o->skip + top, out);
    cJSON_AddItemToObject(out, "value", arr);
  }
  free(set.v);
  sta_send_json(r, 200, out);
  cJSON_Delete(out);
  return 0;
}

static int sta_on_req(void *ud, h2o_req_t *req, const char *path) {
  sta_state_t *s = ud;
  kk_metric_add(s->m_requests, 1);
  sta_rq_t r = {.s = s, .req = req};
  const char *sub = path + 5; /* after "/v1.1" */
  snprintf(r.base, sizeof r.base, "%s://%.*s/v1.1",
           net_httpd_is_tls(s->use.httpd) ? "https" : "http",
           (int)(req->authority.len < 300 ? req->authority.len : 300),
           req->authority.base ? req->authority.base : "");
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
      !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
    sta_send_error(&r, 501,
                   "this server is read-only: create, update and delete "
                   "are not implemented");
    return 0;
  }
  r.store = s->store_name ? kk_store_find(s->store_name) : kk_store_default();
  if (!r.store) {
    sta_send_error(&r, 503,
                   s->store_name ? "the store is not running"
                                 : "no store in this pipeline");
    return 0;
  }
  sta_path_t p;
  sta_opts_t o;
  r.err.status = 0;
  if (sta_path_parse(sub, &p, &r.err) != 0) {
    sta_send_error(&r, r.err.status, r.err.msg);
    return 0;
  }
  const char *q =
      req->query_at == SIZE_MAX ? NULL : req->path.base + req->query_at + 1;
  size_t qlen = q ? (size_t)(req->path.base + req->path.len - q) : 0;
  if (sta_opts_parse(q, qlen, &o, &r.err) != 0) {
    sta_path_free(&p);
    sta_send_error(&r, r.err.status, r.err.msg);
    return 0;
  }
  int rc = sta_handle(&r, path, &p, &o);
  if (rc)
    sta_send_error(&r, r.err.status ? r.err.status : rc,
                   r.err.msg[0] ? r.err.msg : "error");
  sta_rq_free(&r);
  sta_opts_free(&o);
  sta_path_free(&p);
  return 0;
}

/* ---- lifecycle ------------------------------------------------------------
 */

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
  s->m_errors =
      kk_stage_counter(st, "kk_sta_errors_total", NULL,
                       "SensorThings API responses with status >= 400");
  return s->listen ? 0 : KK_ENOMEM;
}

static int sta_start(kk_stage_t *st, void *state) {
  sta_state_t *s = state;
  int rc = net_httpd_use(&s->use, st, s->listen, &s->tls, 1 << 16, "/v1.1",
                         sta_on_req, s);
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
    {.name = "listen",
     .type = KK_OPT_STRING,
     .def = "127.0.0.1:8080",
     .description = "Address and port to serve on; the same address as "
                    "publish.http shares its server (the API is under "
                    "/v1.1)."},
    {.name = "store",
     .type = KK_OPT_STRING,
     .description = "Stage name of the store to read (store.sqlite's `name` "
                    "or \"sqlite\"); unset: the first store of the pipeline."},
    {.name = "cors",
     .type = KK_OPT_STRING,
     .description = "Origin allowed to read the API from a browser "
                    "(Access-Control-Allow-Origin), e.g. \"*\"; unset: none."},
    {.name = "tls_cert",
     .type = KK_OPT_STRING,
     .description = "PEM certificate chain: serve HTTPS (with tls_key) when "
                    "this module is the first on its address."},
    {.name = "tls_key",
     .type = KK_OPT_STRING,
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
        "readings).  See docs/guide/sensorthings.md.",
    .options = sta_api_options,
    .create = sta_create,
    .start = sta_start,
    .process = sta_process,
    .stop = sta_stop,
    .destroy = sta_destroy,
};
