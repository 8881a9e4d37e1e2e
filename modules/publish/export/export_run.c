/*
 * modules/publish/export/export.c - one export run: datasets from the store's
 * datastreams, a CSV and a GeoJSON file per dataset, then the catalog
 * (export_dcat.c) and the checksum list; and the parsers of the options
 * that the sink and the CLI share.
 *
 * CSV (RFC 4180: CRLF line ends, fields with , " CR or LF quoted, quotes
 * doubled, UTF-8 without BOM), one row per observation, rows ordered by
 * thing and then time:
 *   raw:        time,thing,<property> [<unit>]
 *   hour, day:  time,thing,count,<property> mean [<unit>],
 *               <property> min [<unit>],<property> max [<unit>]
 * `time` is UTC ISO 8601 with milliseconds and Z (a rollup's bucket
 * start).  Numbers are written in the shortest form that reads back
 * exactly.
 *
 * GeoJSON (RFC 7946): a FeatureCollection with one Feature per thing of
 * the dataset; geometry is the thing's stored location (null when it has
 * none); properties are flat for GIS tools: thing, property, unit,
 * latest_time/latest_value (the newest observation in the store),
 * period_from/period_to with count/mean/min/max over the exported period,
 * then the thing's own stored properties where their names do not clash.
 */
#include <klimakit.h>
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "publish/export/export.h"
#include "publish/export/export_measures.h"

/* Far enough for "everything", small enough that bucket arithmetic in
 * the stores cannot overflow: 10000-01-01T00:00:00Z. */
#define EX_END_OF_TIME 253402300800000LL
/* Points per store query while streaming a series. */
#define EX_CHUNK 65536

static char *ex_strdup0(const char *s) {
  return s ? strdup(s) : NULL;
}

void ex_config_free(ex_config_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->nspecs; i++) {
    ex_spec_t *p = &c->specs[i];
    free(p->thing);
    free(p->property);
    free(p->unit);
    free(p->title);
    free(p->description);
    free(p->keywords);
    free(p->themes);
    free(p->references);
  }
  free(c->specs);
  ex_measures_free(c);
  char **strs[] = {&c->dir,
                   &c->period,
                   &c->licence,
                   &c->attribution,
                   &c->publisher,
                   &c->publisher_url,
                   &c->contact_email,
                   &c->geocoding,
                   &c->geocoding_level,
                   &c->geocoding_text,
                   &c->base_url,
                   &c->title,
                   &c->description,
                   &c->contributor_id,
                   &c->frequency,
                   &c->availability,
                   &c->log_name};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    free(*strs[i]);
    *strs[i] = NULL;
  }
}

int ex_config_add_spec(ex_config_t *c, const char *thing, const char *property,
                       const char *unit, const char *title,
                       const char *description, const char *keywords) {
  ex_spec_t *n = realloc(c->specs, (c->nspecs + 1) * sizeof *n);
  if (!n) return KK_ENOMEM;
  c->specs = n;
  ex_spec_t *p = &n[c->nspecs++];
  p->thing = ex_strdup0(thing);
  p->property = ex_strdup0(property);
  p->unit = ex_strdup0(unit);
  p->title = ex_strdup0(title);
  p->description = ex_strdup0(description);
  p->keywords = ex_strdup0(keywords);
  p->themes = p->references = NULL;
  return 0;
}

int ex_spec_set_extras(ex_config_t *c, const char *themes,
                       const char *references) {
  if (!c->nspecs) return KK_EINVAL;
  ex_spec_t *p = &c->specs[c->nspecs - 1];
  free(p->themes);
  free(p->references);
  p->themes = ex_strdup0(themes);
  p->references = ex_strdup0(references);
  if ((themes && !p->themes) || (references && !p->references))
    return KK_ENOMEM;
  return 0;
}

int ex_parse_formats(const char *list, unsigned *out, char *err, size_t n) {
  *out = 0;
  const char *p = list;
  while (p && *p) {
    size_t len = strcspn(p, ", ");
    if (len == 3 && strncmp(p, "csv", 3) == 0)
      *out |= EX_CSV;
    else if (len == 7 && strncmp(p, "geojson", 7) == 0)
      *out |= EX_GEOJSON;
    else if (len == 4 && strncmp(p, "dcat", 4) == 0)
      *out |= EX_DCAT;
    else if (len == 3 && strncmp(p, "all", 3) == 0)
      *out |= EX_ALL;
    else if (len > 0) {
      snprintf(err, n, "unknown format '%.*s' (csv, geojson, dcat)", (int)len,
               p);
      return KK_EPARSE;
    }
    p += len;
    p += strspn(p, ", ");
  }
  if (*out == 0) {
    snprintf(err, n, "no format chosen (csv, geojson, dcat)");
    return KK_EPARSE;
  }
  return 0;
}

int ex_parse_time(const char *s, int64_t *ms) {
  char buf[64];
  size_t len = strlen(s);
  if (len == 0 || len >= sizeof buf - 12) return KK_EPARSE;
  memcpy(buf, s, len + 1);
  if (len == 10) {
    memcpy(buf + 10, "T00:00:00Z", 11);
  } else {
    /* A date-time without a zone is taken as UTC. */
    const char *t = strpbrk(buf, "T ");
    if (t && buf[len - 1] != 'Z' && !strpbrk(t, "+-")) {
      buf[len] = 'Z';
      buf[len + 1] = 0;
    }
  }
  return kk_time_parse_iso8601(buf, strlen(buf), ms);
}

/* UTC midnight of year/month/day (month 0-based; overflow normalised). */
static int64_t ex_utc(int year, int mon, int day) {
  struct tm tm = {0};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  return (int64_t)timegm(&tm) * 1000;
}

int ex_parse_period(const char *p, int64_t now, int64_t *from, int64_t *to) {
  time_t secs = (time_t)(now / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  int y = tm.tm_year + 1900;
  if (!p || strcmp(p, "all") == 0) {
    *from = 0;
    *to = EX_END_OF_TIME;
  } else if (strcmp(p, "year") == 0) {
    *from = ex_utc(y, 0, 1);
    *to = ex_utc(y + 1, 0, 1);
  } else if (strcmp(p, "previous year") == 0) {
    *from = ex_utc(y - 1, 0, 1);
    *to = ex_utc(y, 0, 1);
  } else if (strcmp(p, "month") == 0) {
    *from = ex_utc(y, tm.tm_mon, 1);
    *to = ex_utc(y, tm.tm_mon + 1, 1);
  } else if (strcmp(p, "previous month") == 0) {
    *from = ex_utc(y, tm.tm_mon - 1, 1);
    *to = ex_utc(y, tm.tm_mon, 1);
  } else if (strcmp(p, "day") == 0) {
    *from = ex_utc(y, tm.tm_mon, tm.tm_mday);
    *to = ex_utc(y, tm.tm_mon, tm.tm_mday + 1);
  } else if (strncmp(p, "last ", 5) == 0) {
    uint64_t d;
    if (kk_parse_duration_ms(p + 5, &d) != 0 || d == 0 || d > (uint64_t)now)
      return KK_EPARSE;
    *to = now + 1;
    *from = *to - (int64_t)d;
  } else if (strchr(p, '/')) {
    const char *slash = strchr(p, '/');
    char a[64];
    size_t n = (size_t)(slash - p);
    if (n == 0 || n >= sizeof a) return KK_EPARSE;
    memcpy(a, p, n);
    a[n] = 0;
    if (ex_parse_time(a, from) != 0 || ex_parse_time(slash + 1, to) != 0)
      return KK_EPARSE;
  } else {
    return KK_EPARSE;
  }
  return *from < *to ? 0 : KK_EPARSE;
}

/* ---- datasets --------------------------------------------------------- */

static void ex_dataset_clear(ex_dataset_t *d) {
  free(d->slug);
  free(d->property);
  free(d->unit);
  free(d->ids);
  for (size_t i = 0; i < d->n; i++)
    free(d->things[i]);
  free(d->things);
  ex_file_free(d->csv);
  ex_file_free(d->geojson);
}

/* A file-name stem from property and unit: lower-case ASCII letters,
 * digits and '-'; '%' becomes "pct". */
static char *ex_slug(const char *property, const char *unit) {
  size_t n = 2 * (strlen(property) + strlen(unit)) + 8;
  char *s = malloc(n), *o = s;
  if (!s) return NULL;
  const char *parts[2] = {property, unit};
  for (int k = 0; k < 2; k++) {
    if (k == 1 && o > s && o[-1] != '-') *o++ = '-';
    for (const char *p = parts[k]; *p; p++) {
      char c = *p;
      if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        *o++ = c;
      else if (c == '%') {
        memcpy(o, "pct", 3);
        o += 3;
      } else if (o > s && o[-1] != '-')
        *o++ = '-';
    }
  }
  while (o > s && o[-1] == '-')
    o--;
  if (o == s) *o++ = 'x';
  *o = 0;
  return s;
}

/* Groups the datastreams of every spec into datasets by (property,
 * unit); the store lists them ordered by thing, property, unit. */
static int ex_collect(kk_store_t *s, const ex_config_t *c, ex_dataset_t **out,
                      size_t *nout, char *err, size_t errlen) {
  static const ex_spec_t all = {0};
  size_t nspecs = c->nspecs ? c->nspecs : 1;
  ex_dataset_t *ds = NULL;
  size_t n = 0;
  int rc = 0;
  for (size_t si = 0; rc == 0 && si < nspecs; si++) {
    const ex_spec_t *sp = c->nspecs ? &c->specs[si] : &all;
    kk_store_filter_t f = {sp->thing, sp->property, sp->unit, NULL};
    kk_store_ds_list_t *l = NULL;
    rc = kk_store_datastreams(s, &f, &l);
    if (rc != 0) {
      snprintf(err, errlen, "listing datastreams: %s", kk_store_errmsg());
      break;
    }
    size_t first = n; /* datasets of this spec start here */
    for (size_t i = 0; rc == 0 && i < l->len; i++) {
      const kk_store_ds_t *d = &l->items[i];
      ex_dataset_t *g = NULL;
      for (size_t j = first; j < n && !g; j++)
        if (strcmp(ds[j].property, d->property) == 0 &&
            strcmp(ds[j].unit, d->unit) == 0)
          g = &ds[j];
      if (!g) {
        ex_dataset_t *nd = realloc(ds, (n + 1) * sizeof *nd);
        if (!nd) {
          rc = KK_ENOMEM;
          break;
        }
        ds = nd;
        g = &ds[n++];
        memset(g, 0, sizeof *g);
        g->spec = sp;
        g->first_ms = g->last_ms = -1;
        g->property = strdup(d->property);
        g->unit = strdup(d->unit);
        g->slug = ex_slug(d->property, d->unit);
        if (!g->property || !g->unit || !g->slug) {
          rc = KK_ENOMEM;
          break;
        }
      }
      int64_t *ni = realloc(g->ids, (g->n + 1) * sizeof *ni);
      if (ni) g->ids = ni;
      char **nt = realloc(g->things, (g->n + 1) * sizeof *nt);
      if (nt) g->things = nt;
      if (!ni || !nt || !(g->things[g->n] = strdup(d->thing))) {
        rc = KK_ENOMEM;
        break;
      }
      g->ids[g->n++] = d->id;
    }
    kk_store_ds_list_free(l);
  }
  /* Unique slugs: a later dataset with a taken stem gets "-2", "-3"... */
  for (size_t i = 0; rc == 0 && i < n; i++) {
    for (int k = 2;; k++) {
      int taken = 0;
      for (size_t j = 0; j < i && !taken; j++)
        taken = strcmp(ds[j].slug, ds[i].slug) == 0;
      if (!taken) break;
      size_t len = strlen(ds[i].slug) + 16;
      char *ns = malloc(len);
      if (!ns) {
        rc = KK_ENOMEM;
        break;
      }
      char *base = ds[i].slug;
      char *dash = strrchr(base, '-');
      if (k > 2 && dash) *dash = 0; /* drop the previous "-k" */
      snprintf(ns, len, "%s-%d", base, k);
      free(base);
      ds[i].slug = ns;
    }
  }
  if (rc == KK_ENOMEM) snprintf(err, errlen, "out of memory");
  if (rc != 0) {
    for (size_t i = 0; i < n; i++)
      ex_dataset_clear(&ds[i]);
    free(ds);
    return rc;
  }
  *out = ds;
  *nout = n;
  return 0;
}

/* ---- progress --------------------------------------------------------- */

typedef struct ex_progress {
  int on;
  size_t done, total;
  int last_pct;
} ex_progress_t;

static void ex_progress_step(ex_progress_t *p, const char *what) {
  p->done++;
  if (!p->on || p->total == 0) return;
  int pct = (int)(100 * p->done / p->total);
  if (pct == p->last_pct && p->done != p->total) return;
  p->last_pct = pct;
  char bar[31];
  int fill = (int)(30 * p->done / p->total);
  for (int i = 0; i < 30; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[30] = 0;
  fprintf(stderr, "\rexport [%s] %3d%% %zu/%zu %-24.24s", bar, pct, p->done,
          p->total, what);
  if (p->done == p->total) fputc('\n', stderr);
  fflush(stderr);
}

/* ---- CSV ---------------------------------------------------------------- */

static void ex_csv_field(ex_file_t *f, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    ex_file_puts(f, s);
    return;
  }
  ex_file_put(f, "\"", 1);
  for (const char *p = s; *p; p++) {
    if (*p == '"') ex_file_put(f, "\"", 1);
    ex_file_put(f, p, 1);
  }
  ex_file_put(f, "\"", 1);
}

static void ex_csv_num(ex_file_t *f, double v) {
  char num[KK_FMT_DOUBLE_MAX];
  if (isnan(v) || isinf(v)) return; /* an empty field */
  ex_file_put(f, num, kk_fmt_double(v, num));
}

/* "<property> [<unit>]" or "<property> <what> [<unit>]" as one field. */
static void ex_csv_head(ex_file_t *f, const ex_dataset_t *d, const char *what) {
  size_t n = strlen(d->property) + strlen(d->unit) + 16;
  char *h = malloc(n);
  if (!h) {
    f->err = KK_ENOMEM;
    return;
  }
  snprintf(h, n, "%s%s%s [%s]", d->property, what ? " " : "", what ? what : "",
           d->unit);
  ex_csv_field(f, h);
  free(h);
}

static int ex_write_csv(kk_store_t *s, const ex_config_t *c, ex_dataset_t *d,
                        int64_t from, int64_t to, ex_progress_t *pr, char *err,
                        size_t errlen) {
  char name[300];
  snprintf(name, sizeof name, "%s.csv", d->slug);
  ex_file_t *f = calloc(1, sizeof *f);
  if (!f) return KK_ENOMEM;
  d->csv = f;
  int rc = ex_file_open(f, c->dir, name);
  if (rc != 0) {
    snprintf(err, errlen, "cannot create a file in %s: %s", c->dir,
             kk_strerror(rc));
    return rc;
  }
  ex_file_puts(f, "time,thing,");
  if (c->res == KK_STORE_RAW) {
    ex_csv_head(f, d, NULL);
  } else {
    ex_file_puts(f, "count,");
    ex_csv_head(f, d, "mean");
    ex_file_put(f, ",", 1);
    ex_csv_head(f, d, "min");
    ex_file_put(f, ",", 1);
    ex_csv_head(f, d, "max");
  }
  ex_file_puts(f, "\r\n");
  char tbuf[KK_TIME_ISO_MAX];
  for (size_t i = 0; rc == 0 && i < d->n; i++) {
    int64_t start = from;
    for (;;) {
      kk_store_series_t *ser = NULL;
      rc = kk_store_range(s, d->ids[i], start, to, c->res, EX_CHUNK, &ser);
      if (rc != 0) {
        snprintf(err, errlen, "reading %s/%s: %s", d->things[i], d->property,
                 kk_store_errmsg());
        break;
      }
      for (size_t k = 0; k < ser->len; k++) {
        const kk_store_point_t *p = &ser->points[k];
        ex_file_put(f, tbuf, kk_time_format_iso8601(p->time_ms, tbuf));
        ex_file_put(f, ",", 1);
        ex_csv_field(f, d->things[i]);
        ex_file_put(f, ",", 1);
        if (c->res == KK_STORE_RAW) {
          ex_csv_num(f, p->avg);
        } else {
          ex_file_printf(f, "%lld,", (long long)p->count);
          ex_csv_num(f, p->avg);
          ex_file_put(f, ",", 1);
          ex_csv_num(f, p->min);
          ex_file_put(f, ",", 1);
          ex_csv_num(f, p->max);
        }
        ex_file_put(f, "\r\n", 2);
        if (d->first_ms < 0 || p->time_ms < d->first_ms)
          d->first_ms = p->time_ms;
        if (p->time_ms > d->last_ms) d->last_ms = p->time_ms;
        d->rows++;
      }
      int more = ser->truncated && ser->len > 0;
      if (more) start = ser->points[ser->len - 1].time_ms + 1;
      kk_store_series_free(ser);
      if (!more || f->err) break;
    }
    ex_progress_step(pr, name);
  }
  if (rc == 0 && (rc = ex_file_close(f)) != 0)
    snprintf(err, errlen, "writing %s: %s", f->path, kk_strerror(rc));
  return rc;
}

/* ---- GeoJSON ------------------------------------------------------------ */

static cJSON *ex_num_or_null(double v) {
  return isnan(v) || isinf(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

static void ex_add_time(cJSON *o, const char *key, int64_t ms) {
  char tbuf[KK_TIME_ISO_MAX];
  kk_time_format_iso8601(ms, tbuf);
  cJSON_AddStringToObject(o, key, tbuf);
}

static int ex_write_geojson(kk_store_t *s, const ex_config_t *c,
                            ex_dataset_t *d, int64_t from, int64_t to,
                            ex_progress_t *pr, char *err, size_t errlen) {
  char name[300];
  snprintf(name, sizeof name, "%s.geojson", d->slug);
  ex_file_t *f = calloc(1, sizeof *f);
  if (!f) return KK_ENOMEM;
  d->geojson = f;
  int rc = ex_file_open(f, c->dir, name);
  if (rc != 0) {
    snprintf(err, errlen, "cannot create a file in %s: %s", c->dir,
             kk_strerror(rc));
    return rc;
  }
  kk_store_thing_list_t *things = NULL;
  kk_store_point_t *latest = calloc(d->n ? d->n : 1, sizeof *latest);
  cJSON *fc = cJSON_CreateObject(), *feats = NULL;
  if (!latest || !fc) rc = KK_ENOMEM;
  if (rc == 0) {
    kk_store_filter_t tf = {d->spec->thing, NULL, NULL, NULL};
    rc = kk_store_things(s, &tf, &things);
    if (rc == 0) rc = kk_store_latest(s, d->ids, d->n, latest);
    if (rc != 0)
      snprintf(err, errlen, "reading things of %s: %s", d->slug,
               kk_store_errmsg());
  }
  if (rc == 0) {
    cJSON_AddStringToObject(fc, "type", "FeatureCollection");
    cJSON_AddStringToObject(fc, "name", d->slug);
    feats = cJSON_AddArrayToObject(fc, "features");
  }
  for (size_t i = 0; rc == 0 && i < d->n; i++) {
    const kk_store_thing_t *t = NULL;
    for (size_t k = 0; things && k < things->len && !t; k++)
      if (strcmp(things->items[k].name, d->things[i]) == 0)
        t = &things->items[k];
    kk_store_point_t agg;
    rc = kk_store_aggregate(s, d->ids[i], from, to, &agg);
    if (rc != 0) {
      snprintf(err, errlen, "aggregating %s/%s: %s", d->things[i], d->property,
               kk_store_errmsg());
      break;
    }
    cJSON *ft = cJSON_CreateObject();
    cJSON_AddItemToArray(feats, ft);
    cJSON_AddStringToObject(ft, "type", "Feature");
    cJSON_AddStringToObject(ft, "id", d->things[i]);
    cJSON *geom = t && t->location ? cJSON_Parse(t->location) : NULL;
    cJSON_AddItemToObject(ft, "geometry", geom ? geom : cJSON_CreateNull());
    cJSON *pr_ = cJSON_AddObjectToObject(ft, "properties");
    cJSON_AddStringToObject(pr_, "thing", d->things[i]);
    cJSON_AddStringToObject(pr_, "property", d->property);
    cJSON_AddStringToObject(pr_, "unit", d->unit);
    if (latest[i].count > 0) {
      ex_add_time(pr_, "latest_time", latest[i].time_ms);
      cJSON_AddItemToObject(pr_, "latest_value", ex_num_or_null(latest[i].avg));
    } else {
      cJSON_AddNullToObject(pr_, "latest_time");
      cJSON_AddNullToObject(pr_, "latest_value");
    }
    if (from > 0)
      ex_add_time(pr_, "period_from", from);
    else
      cJSON_AddNullToObject(pr_, "period_from");
    if (to < EX_END_OF_TIME)
      ex_add_time(pr_, "period_to", to);
    else
      cJSON_AddNullToObject(pr_, "period_to");
    cJSON_AddNumberToObject(pr_, "count", (double)agg.count);
    cJSON_AddItemToObject(pr_, "mean",
                          ex_num_or_null(agg.count ? agg.avg : NAN));
    cJSON_AddItemToObject(pr_, "min",
                          ex_num_or_null(agg.count ? agg.min : NAN));
    cJSON_AddItemToObject(pr_, "max",
                          ex_num_or_null(agg.count ? agg.max : NAN));
    cJSON *own = t && t->properties ? cJSON_Parse(t->properties) : NULL;
    for (cJSON *p = own ? own->child : NULL; p; p = p->next)
      if (!cJSON_GetObjectItemCaseSensitive(pr_, p->string))
        cJSON_AddItemToObject(pr_, p->string, cJSON_Duplicate(p, 1));
    cJSON_Delete(own);
    ex_progress_step(pr, name);
  }
  if (rc == 0) {
    char *txt = cJSON_PrintUnformatted(fc);
    if (!txt) {
      rc = KK_ENOMEM;
      snprintf(err, errlen, "out of memory");
    } else {
      ex_file_puts(f, txt);
      ex_file_put(f, "\n", 1);
      free(txt);
      if ((rc = ex_file_close(f)) != 0)
        snprintf(err, errlen, "writing %s: %s", f->path, kk_strerror(rc));
    }
  }
  cJSON_Delete(fc);
  free(latest);
  kk_store_thing_list_free(things);
  return rc;
}

/* ---- the run --------------------------------------------------------------
 */

int ex_run(kk_store_t *s, const ex_config_t *c, int64_t now, ex_result_t *res,
           char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  err[0] = 0;
  int64_t from = c->from_ms, to = c->to_ms;
  if (c->period && ex_parse_period(c->period, now, &from, &to) != 0) {
    snprintf(err, errlen, "bad period '%s'", c->period);
    return KK_EPARSE;
  }
  int rc = kk_mkdirs(c->dir, 0);
  if (rc != 0) {
    snprintf(err, errlen, "cannot create %s: %s", c->dir, kk_strerror(rc));
    return rc;
  }
  ex_dataset_t *ds = NULL;
  size_t n = 0;
  if ((rc = ex_collect(s, c, &ds, &n, err, errlen)) != 0) return rc;
  ex_progress_t pr = {.on = c->progress, .last_pct = -1};
  for (size_t i = 0; i < n; i++)
    pr.total += ((c->formats & EX_CSV) ? ds[i].n : 0) +
                ((c->formats & EX_GEOJSON) ? ds[i].n : 0);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (c->formats & EX_CSV)
      rc = ex_write_csv(s, c, &ds[i], from, to, &pr, err, errlen);
    if (rc == 0 && (c->formats & EX_GEOJSON))
      rc = ex_write_geojson(s, c, &ds[i], from, to, &pr, err, errlen);
    res->rows += ds[i].rows;
  }
  if (rc == 0) rc = ex_measures_datasets(c, &ds, &n, err, errlen);
  ex_file_t *cat = NULL, *sums = NULL;
  if (rc == 0 && (c->formats & EX_DCAT)) {
    if (!(cat = calloc(1, sizeof *cat))) rc = KK_ENOMEM;
    if (rc == 0) rc = ex_dcat_write(c, ds, n, from, to, now, cat, err, errlen);
  }
  /* The checksum list covers every file of the run. */
  if (rc == 0 && !(sums = calloc(1, sizeof *sums))) rc = KK_ENOMEM;
  if (rc == 0 && (rc = ex_file_open(sums, c->dir, EX_SUMS_FILE)) != 0)
    snprintf(err, errlen, "cannot create a file in %s: %s", c->dir,
             kk_strerror(rc));
  for (size_t i = 0; rc == 0 && i < n; i++) {
    ex_file_t *fs[2] = {ds[i].csv, ds[i].geojson};
    for (int k = 0; k < 2; k++)
      if (fs[k]) ex_file_printf(sums, "%s  %s\n", fs[k]->sha256, fs[k]->name);
  }
  if (rc == 0 && cat) ex_file_printf(sums, "%s  %s\n", cat->sha256, cat->name);
  if (rc == 0 && (rc = ex_file_close(sums)) != 0)
    snprintf(err, errlen, "writing %s: %s", sums->path, kk_strerror(rc));
  /* Commit: data files, then the catalog, then the checksum list. */
  for (size_t i = 0; rc == 0 && i < n; i++) {
    ex_file_t *fs[2] = {ds[i].csv, ds[i].geojson};
    for (int k = 0; rc == 0 && k < 2; k++) {
      if (!fs[k]) continue;
      if ((rc = ex_file_commit(fs[k])) != 0) {
        snprintf(err, errlen, "renaming into %s: %s", fs[k]->path,
                 kk_strerror(rc));
        break;
      }
      res->files++;
      res->bytes += fs[k]->bytes;
    }
  }
  ex_file_t *last[2] = {cat, sums};
  for (int k = 0; rc == 0 && k < 2; k++) {
    if (!last[k]) continue;
    if ((rc = ex_file_commit(last[k])) != 0)
      snprintf(err, errlen, "renaming into %s: %s", last[k]->path,
               kk_strerror(rc));
    else {
      res->files++;
      res->bytes += last[k]->bytes;
    }
  }
  if (rc == KK_ENOMEM && !err[0]) snprintf(err, errlen, "out of memory");
  res->datasets = n;
  ex_file_free(cat);
  ex_file_free(sums);
  for (size_t i = 0; i < n; i++)
    ex_dataset_clear(&ds[i]);
  free(ds);
  if (pr.on && pr.done != pr.total) fputc('\n', stderr);
  return rc;
}
