/*
 * modules/publish/sensorthings/sensorthings_eval.c - evaluating the query
 * options parsed by sta_query.c against the store: $filter, $orderby,
 * $top, $skip, $count, $select, $expand and $resultFormat=dataArray, for
 * entity sets and for observations (read page by page from the store).
 * Runs on the loop thread.
 */
#include "publish/sensorthings/sensorthings_model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- observations ------------------------------------------------------ */

typedef struct sta_obs_q {
  int64_t from, to; /* [from, to) */
  int desc;
  long skip, top;
} sta_obs_q_t;

/* One page of observations of datastream `id`: out gets up to q->top
 * points in the requested order, *more whether there are more after. */
static int sta_obs_page(sta_rq_t *r, int64_t id, const sta_obs_q_t *q,
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
      return sta_rq_fail(r, 503, "store: %s", kk_store_errmsg());
    *more = se->len > want || se->truncated;
  } else {
    /* The store reads forward only: widen a window back from the latest
     * observation until it holds skip + top + 1 points or the range. */
    kk_store_point_t last;
    if (kk_store_latest(r->store, &id, 1, &last) != 0)
      return sta_rq_fail(r, 503, "store: %s", kk_store_errmsg());
    if (last.count == 0) return 0;
    int64_t to = last.time_ms + 1 < q->to ? last.time_ms + 1 : q->to;
    int64_t w = 3600000;
    for (int it = 0; it < 64; it++) {
      int64_t lo = to - q->from <= w ? q->from : to - w;
      if (kk_store_range(r->store, id, lo, to, KK_STORE_RAW, 0, &se) != 0)
        return sta_rq_fail(r, 503, "store: %s", kk_store_errmsg());
      if (se->len > want || lo == q->from) {
        *more = se->len > want;
        break;
      }
      kk_store_series_free(se);
      se = NULL;
      w = w > INT64_MAX / 4 ? INT64_MAX : w * 4;
    }
    if (!se) return sta_rq_fail(r, 500, "observation window did not converge");
  }
  size_t skip = (size_t)q->skip;
  size_t avail = se->len > skip ? se->len - skip : 0;
  size_t k = avail < (size_t)q->top ? avail : (size_t)q->top;
  if (k) {
    *out = malloc(k * sizeof **out);
    if (!*out) {
      kk_store_series_free(se);
      return sta_rq_fail(r, 500, "out of memory");
    }
    for (size_t i = 0; i < k; i++)
      (*out)[i] =
          q->desc ? se->points[se->len - 1 - skip - i] : se->points[skip + i];
  }
  *n = k;
  kk_store_series_free(se);
  return 0;
}

/* Observations in [from, to) of datastream id (rollup counts: cheap). */
static int sta_obs_count(sta_rq_t *r, int64_t id, const sta_obs_q_t *q,
                         int64_t *n) {
  kk_store_point_t p;
  if (q->from >= q->to) {
    *n = 0;
    return 0;
  }
  if (kk_store_aggregate(r->store, id, q->from, q->to, &p) != 0)
    return sta_rq_fail(r, 503, "store: %s", kk_store_errmsg());
  *n = p.count;
  return 0;
}

/* Applies the $filter of an Observations request: phenomenonTime bounds
 * and "Datastream/@iot.id eq N" (*ds; 0 when none). */
static int sta_obs_filter(sta_rq_t *r, const sta_opts_t *o, sta_obs_q_t *q,
                          int64_t *ds) {
  q->from = STA_T_MIN;
  q->to = STA_T_MAX;
  for (size_t i = 0; i < o->nfilter; i++) {
    const sta_cmp_t *c = &o->filter[i];
    if (strcmp(c->path, "phenomenonTime") == 0 ||
        strcmp(c->path, "resultTime") == 0) {
      if (c->kind != STA_LIT_TIME)
        return sta_rq_fail(r, 400, "$filter: %s needs an ISO 8601 time",
                           c->path);
      int64_t t = c->time_ms;
      switch (c->op) {
      case STA_GE:
        if (t > q->from) q->from = t;
        break;
      case STA_GT:
        if (t + 1 > q->from) q->from = t + 1;
        break;
      case STA_LT:
        if (t < q->to) q->to = t;
        break;
      case STA_LE:
        if (t + 1 < q->to) q->to = t + 1;
        break;
      case STA_EQ:
        if (t > q->from) q->from = t;
        if (t + 1 < q->to) q->to = t + 1;
        break;
      default:
        return sta_rq_fail(r, 501, "$filter: 'ne' on %s is not supported",
                           c->path);
      }
    } else if (strcmp(c->path, "Datastream/@iot.id") == 0 && ds) {
      if (c->op != STA_EQ || c->kind != STA_LIT_NUM)
        return sta_rq_fail(r, 501, "$filter: only 'Datastream/@iot.id eq <n>'");
      if (*ds && *ds != (int64_t)c->num)
        *ds = -1;
      else
        *ds = (int64_t)c->num;
    } else {
      return sta_rq_fail(r, 501,
                         "$filter on Observations: only phenomenonTime "
                         "comparisons (and Datastream/@iot.id eq) are "
                         "supported, not %s",
                         c->path);
    }
  }
  if (q->from < STA_T_MIN) q->from = STA_T_MIN;
  if (q->to > STA_T_MAX) q->to = STA_T_MAX;
  return 0;
}

static int sta_obs_order(sta_rq_t *r, const sta_opts_t *o, sta_obs_q_t *q) {
  q->desc = 0;
  if (!o->orderby) return 0;
  if (strcmp(o->orderby, "phenomenonTime") && strcmp(o->orderby, "resultTime"))
    return sta_rq_fail(r, 501, "$orderby on Observations: only phenomenonTime");
  q->desc = o->desc;
  return 0;
}

/* ---- $filter on entities other than observations ------------------------ */

static int sta_lit_cmp_ok(const sta_cmp_t *c, const cJSON *v) {
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
  case STA_EQ:
    return cmp == 0;
  case STA_NE:
    return cmp != 0;
  case STA_GT:
    return cmp > 0;
  case STA_GE:
    return cmp >= 0;
  case STA_LT:
    return cmp < 0;
  default:
    return cmp <= 0;
  }
}

/* 1 when entity e passes every comparison, 0 when not, or an error
 * status. */
static int sta_filter_ok(sta_rq_t *r, const sta_ent_t *e, const sta_opts_t *o) {
  for (size_t i = 0; i < o->nfilter; i++) {
    const sta_cmp_t *c = &o->filter[i];
    const char *path = c->path;
    sta_ent_t target = *e;
    const char *slash = strchr(path, '/');
    if (slash) {
      char nav[64];
      size_t nl = (size_t)(slash - path);
      if (nl >= sizeof nav) return sta_rq_fail(r, 400, "$filter: bad path");
      memcpy(nav, path, nl);
      nav[nl] = 0;
      sta_ents_t many = {0};
      int64_t ods;
      int k = sta_navigate(r, e, nav, &target, &many, &ods);
      free(many.v);
      if (k == -2)
        return sta_rq_fail(r, 400, "$filter: %s has no navigation property %s",
                           sta_set_name[e->t], nav);
      if (k == -1) return sta_rq_fail(r, 500, "out of memory");
      if (k != STA_NAV_ONE && k != STA_NAV_NONE)
        return sta_rq_fail(r, 501,
                           "$filter: only paths through single entities "
                           "(Thing/name) are supported");
      if (k == STA_NAV_NONE) {
        if (!sta_lit_cmp_ok(c, NULL)) return 0;
        continue;
      }
      path = slash + 1;
      if (strchr(path, '/'))
        return sta_rq_fail(r, 501, "$filter: paths of one step only");
    }
    cJSON *j = sta_render(r, &target);
    if (!j) return sta_rq_fail(r, 500, "out of memory");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, path);
    int ok = sta_lit_cmp_ok(c, v);
    if (!v && strcmp(path, "@iot.id") && strcmp(path, "name") &&
        strcmp(path, "description") && strcmp(path, "definition")) {
      cJSON_Delete(j);
      return sta_rq_fail(r, 400, "$filter: %s has no property %s",
                         sta_set_name[target.t], path);
    }
    cJSON_Delete(j);
    if (!ok) return 0;
  }
  return 1;
}

/* ---- $select, $expand and collections ------------------------------------ */

static int sta_apply_select(sta_rq_t *r, cJSON *o, const sta_opts_t *opts,
                            const char *setname) {
  if (!opts->nselect) return 0;
  for (size_t i = 0; i < opts->nselect; i++) {
    const char *sel = opts->select[i];
    char nav[160];
    snprintf(nav, sizeof nav, "%s@iot.navigationLink", sel);
    if (!cJSON_GetObjectItemCaseSensitive(o, sel) &&
        !cJSON_GetObjectItemCaseSensitive(o, nav) &&
        strcmp(sel, "@iot.selfLink") && strcmp(sel, "selfLink"))
      return sta_rq_fail(r, 400, "$select: %s has no property %s", setname,
                         sel);
  }
  cJSON *it = o->child;
  while (it) {
    cJSON *next = it->next;
    const char *k = it->string;
    int keep = 0;
    for (size_t i = 0; i < opts->nselect && !keep; i++) {
      const char *sel = opts->select[i];
      size_t sl = strlen(sel);
      keep =
          strcmp(k, sel) == 0 ||
          (strcmp(sel, "selfLink") == 0 && strcmp(k, "@iot.selfLink") == 0) ||
          (strncmp(k, sel, sl) == 0 &&
           strcmp(k + sl, "@iot.navigationLink") == 0);
    }
    for (size_t i = 0; i < opts->nexpand && !keep; i++)
      keep = strcmp(k, opts->expand[i].name) == 0;
    if (!keep) cJSON_Delete(cJSON_DetachItemViaPointer(o, it));
    it = next;
  }
  return 0;
}

/* Renders one entity with $select and $expand applied. */
cJSON *sta_render_full(sta_rq_t *r, const sta_ent_t *e, const sta_opts_t *o) {
  cJSON *j = sta_render(r, e);
  if (!j) {
    sta_rq_fail(r, 500, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < o->nexpand; i++) {
    const sta_expand_t *x = &o->expand[i];
    sta_ent_t one;
    sta_ents_t many = {0};
    int64_t ods = 0;
    int k = sta_navigate(r, e, x->name, &one, &many, &ods);
    int rc = 0;
    if (k == -2) {
      rc = sta_rq_fail(r, 400, "$expand: %s has no navigation property %s",
                       sta_set_name[e->t], x->name);
    } else if (k == -1) {
      rc = sta_rq_fail(r, 500, "out of memory");
    } else if (k == STA_NAV_NONE) {
      cJSON_AddNullToObject(j, x->name);
    } else if (k == STA_NAV_ONE) {
      if (x->opts.nexpand) rc = sta_rq_fail(r, 501, "$expand: one level only");
      cJSON *sub = rc ? NULL : sta_render_full(r, &one, &x->opts);
      if (!sub)
        rc = r->err.status ? r->err.status : 500;
      else
        cJSON_AddItemToObject(j, x->name, sub);
    } else {
      cJSON *arr = cJSON_AddArrayToObject(j, x->name);
      int64_t cnt;
      int more;
      rc = k == STA_NAV_MANY
               ? sta_render_set(r, &many, &x->opts, 0, arr, &cnt, &more)
               : sta_render_obs(r, ods, &x->opts, 0, arr, &cnt, &more);
    }
    free(many.v);
    if (rc) {
      cJSON_Delete(j);
      return NULL;
    }
  }
  if (sta_apply_select(r, j, o, sta_set_name[e->t])) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

static const sta_opts_t *sta_cmp_opts;
static const sta_rq_t *sta_cmp_rq;

static int sta_cmp_ents(const void *a, const void *b) {
  const sta_ent_t *x = a, *y = b;
  int c;
  if (sta_cmp_opts->orderby && strcmp(sta_cmp_opts->orderby, "name") == 0) {
    const char *nx = x->t == STA_E_THING || x->t == STA_E_LOC
                         ? sta_cmp_rq->things->items[x->i].name
                         : sta_cmp_rq->ds->items[x->i].property;
    const char *ny = y->t == STA_E_THING || y->t == STA_E_LOC
                         ? sta_cmp_rq->things->items[y->i].name
                         : sta_cmp_rq->ds->items[y->i].property;
    c = strcmp(nx, ny);
    if (x->t == STA_E_DS && !c)
      c = strcmp(sta_cmp_rq->ds->items[x->i].thing,
                 sta_cmp_rq->ds->items[y->i].thing);
  } else {
    int64_t ix = sta_ent_id(sta_cmp_rq, x), iy = sta_ent_id(sta_cmp_rq, y);
    c = ix < iy ? -1 : ix > iy;
  }
  return sta_cmp_opts->desc ? -c : c;
}

/* Filters, orders and pages a set of entities into the array `out`. */
int sta_render_set(sta_rq_t *r, sta_ents_t *set, const sta_opts_t *o,
                   int toplevel, cJSON *out, int64_t *count, int *more) {
  if (o->data_array)
    return sta_rq_fail(r, 400,
                       "$resultFormat=dataArray is for Observations only");
  if (o->orderby && strcmp(o->orderby, "@iot.id") && strcmp(o->orderby, "name"))
    return sta_rq_fail(r, 501,
                       "$orderby: only @iot.id and name are supported here");
  size_t k = 0;
  for (size_t i = 0; i < set->n; i++) {
    int ok = sta_filter_ok(r, &set->v[i], o);
    if (ok > 1) return ok;
    if (ok) set->v[k++] = set->v[i];
  }
  set->n = k;
  sta_cmp_opts = o;
  sta_cmp_rq = r;
  qsort(set->v, set->n, sizeof *set->v, sta_cmp_ents);
  *count = (int64_t)set->n;
  size_t top = o->top < 0 ? STA_TOP_DEFAULT : (size_t)o->top;
  size_t skip = (size_t)o->skip;
  *more = set->n > skip + top;
  (void)toplevel;
  for (size_t i = skip; i < set->n && i < skip + top; i++) {
    cJSON *j = sta_render_full(r, &set->v[i], o);
    if (!j) return r->err.status ? r->err.status : 500;
    cJSON_AddItemToArray(out, j);
  }
  return 0;
}

/* The components of a dataArray response: $select's, or @iot.id,
 * phenomenonTime and result.  0 or an HTTP status. */
static int sta_data_array_components(sta_rq_t *r, const sta_opts_t *o,
                                     const char *comps[8], size_t *ncomp) {
  static const char *const comp_all[] = {"@iot.id", "phenomenonTime", "result",
                                         "resultTime"};
  *ncomp = 0;
  if (!o->nselect) {
    for (size_t k = 0; k < 3; k++)
      comps[(*ncomp)++] = comp_all[k];
    return 0;
  }
  for (size_t i = 0; i < o->nselect && *ncomp < 8; i++) {
    size_t k;
    for (k = 0; k < 4; k++)
      if (strcmp(o->select[i], comp_all[k]) == 0) break;
    if (k == 4)
      return sta_rq_fail(r, 400,
                         "$select: %s is not a component of "
                         "Observations in dataArray",
                         o->select[i]);
    comps[(*ncomp)++] = comp_all[k];
  }
  return 0;
}

/* Appends to `out` the dataArray group of the `np` points `pts` of
 * datastream `ds`: one row per point with the components `comps`. */
static void sta_data_array_group(sta_rq_t *r, int64_t ds,
                                 const kk_store_point_t *pts, size_t np,
                                 const char *const *comps, size_t ncomp,
                                 cJSON *out) {
  cJSON *g = cJSON_CreateObject();
  char link[640];
  snprintf(link, sizeof link, "%s/Datastreams(%" PRId64 ")", r->base, ds);
  cJSON_AddStringToObject(g, "Datastream@iot.navigationLink", link);
  cJSON *c = cJSON_AddArrayToObject(g, "components");
  for (size_t k = 0; k < ncomp; k++)
    cJSON_AddItemToArray(
        c, cJSON_CreateString(strcmp(comps[k], "@iot.id") ? comps[k] : "id"));
  cJSON_AddNumberToObject(g, "dataArray@iot.count", (double)np);
  cJSON *da = cJSON_AddArrayToObject(g, "dataArray");
  for (size_t p = 0; p < np; p++) {
    cJSON *row = cJSON_CreateArray();
    for (size_t k = 0; k < ncomp; k++) {
      char buf[64];
      if (strcmp(comps[k], "@iot.id") == 0) {
        sta_obs_id(ds, pts[p].time_ms, buf, sizeof buf);
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
}

/* Observations of datastream `ds` (0: of every datastream, in datastream
 * order) into `out`: entities, or dataArray groups. */
int sta_render_obs(sta_rq_t *r, int64_t ds, const sta_opts_t *o, int toplevel,
                   cJSON *out, int64_t *count, int *more) {
  sta_obs_q_t q;
  int rc;
  int64_t fds = ds;
  if ((rc = sta_obs_filter(r, o, &q, &fds)) || (rc = sta_obs_order(r, o, &q)))
    return rc;
  if (o->nexpand && o->data_array)
    return sta_rq_fail(r, 400, "$expand cannot be combined with dataArray");
  /* The streams to read. */
  int64_t *ids = NULL;
  size_t nids = 0;
  if (fds == -1 || (ds && fds != ds)) {
    nids = 0; /* contradictory: nothing */
  } else if (fds) {
    if (sta_ds_index(r, fds) == SIZE_MAX && !ds)
      return sta_rq_fail(r, 404, "no Datastream %" PRId64, fds);
    ids = malloc(sizeof *ids);
    if (!ids) return sta_rq_fail(r, 500, "out of memory");
    ids[nids++] = fds;
  } else {
    if (o->orderby)
      return sta_rq_fail(r, 501,
                         "$orderby on Observations of every Datastream; "
                         "ask Datastreams(id)/Observations");
    ids = malloc((r->ds->len + 1) * sizeof *ids);
    if (!ids) return sta_rq_fail(r, 500, "out of memory");
    for (size_t i = 0; i < r->ds->len; i++)
      ids[nids++] = r->ds->items[i].id;
    for (size_t i = 1; i < nids; i++) /* by id: a stable paging order */
      for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
        int64_t t = ids[j];
        ids[j] = ids[j - 1];
        ids[j - 1] = t;
      }
  }
  const char *comps[8];
  size_t ncomp = 0;
  if (o->data_array && (rc = sta_data_array_components(r, o, comps, &ncomp))) {
    free(ids);
    return rc;
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
      if ((rc = sta_obs_count(r, ids[i], &q, &n_ds))) break;
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
    sta_obs_q_t qq = q;
    qq.skip = skip;
    qq.top = top;
    kk_store_point_t *pts;
    size_t np;
    int m;
    if ((rc = sta_obs_page(r, ids[i], &qq, &pts, &np, &m))) break;
    skip = 0;
    top -= (long)np;
    if (m) *more = 1;
    if (o->data_array && np) {
      sta_data_array_group(r, ids[i], pts, np, comps, ncomp, out);
    } else {
      for (size_t p = 0; p < np && !rc; p++) {
        sta_ent_t e = {.t = STA_E_OBS, .ds = ids[i], .p = pts[p]};
        cJSON *j = sta_render_full(r, &e, o);
        if (!j)
          rc = r->err.status ? r->err.status : 500;
        else
          cJSON_AddItemToArray(out, j);
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