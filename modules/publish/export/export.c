/*
 * modules/export/publish_export_module.c - publish.export: the open-data export
 * run periodically inside a pipeline.
 *
 * A sink so that it can sit in a pipeline beside the store it reads: it
 * takes batches only to notice that there is new data (an export with
 * nothing new since the last one is skipped) and finishes them at once.
 * A uv_timer starts a run every `every`; the run itself (store queries,
 * hashing, fsync) goes to the libuv thread pool with uv_queue_work, so
 * the loop never waits for it.  The worker uses only the thread-safe
 * store API; results are logged back on the loop in the after-work
 * callback.  A tick that finds a run still going skips.  Stop waits for a
 * running export (one that has not started yet is cancelled), so no
 * temporary file is left behind.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "publish/export/export.h"
#include "publish/export/export_measures.h"

typedef struct exm_state {
  kk_stage_t *st;
  ex_config_t cfg;
  const char *store_name; /* borrowed from the opts; NULL: default store */
  uint64_t every_ms;
  uv_timer_t timer;
  uv_work_t work;
  int timer_open, busy, stopping, dirty, ran;
  kk_stop_cb stop_cb;
  /* One job at a time; filled on the loop, used by the worker. */
  kk_store_t *store;
  int64_t now;
  uint64_t t0;
  int rc;
  char err[512];
  ex_result_t res;
  kk_metric_t *ok, *failed;
  kk_ratelimit_t nostore;
} exm_state_t;

static int exm_specs(exm_state_t *s, const char *json) {
  if (!json) return 0;
  cJSON *root = cJSON_Parse(json);
  if (!root || (!cJSON_IsArray(root) && !cJSON_IsObject(root))) {
    cJSON_Delete(root);
    kk_stage_error(s->st, "option datasets: expected a list of "
                          "{ thing = .., property = .., title = .. }");
    return KK_ETYPE;
  }
  int rc = 0;
  for (cJSON *d = root->child; rc == 0 && d; d = d->next) {
    if (!cJSON_IsObject(d)) {
      kk_stage_error(s->st, "option datasets: each entry is a table");
      rc = KK_ETYPE;
      break;
    }
    static const char *const keys[] = {"thing",  "property",    "unit",
                                       "title",  "description", "keywords",
                                       "themes", "references"};
    enum { NKEYS = 8 };
    const char *v[NKEYS] = {0};
    char lists[3][1024] = {"", "", ""}; /* keywords, themes, references */
    for (cJSON *k = d->child; k && rc == 0; k = k->next) {
      size_t i = 0;
      while (i < NKEYS && strcmp(k->string, keys[i]) != 0)
        i++;
      if (i == NKEYS) {
        kk_stage_error(s->st,
                       "option datasets: unknown key '%s' (thing, property, "
                       "unit, title, description, keywords, themes, "
                       "references)",
                       k->string);
        rc = KK_EUNKNOWN;
      } else if (i >= 5 && cJSON_IsArray(k)) {
        char *buf = lists[i - 5];
        for (cJSON *w = k->child; w; w = w->next)
          if (cJSON_IsString(w)) {
            size_t len = strlen(buf);
            snprintf(buf + len, sizeof lists[0] - len, "%s%s", len ? "," : "",
                     w->valuestring);
          }
        v[i] = buf;
      } else if (!cJSON_IsString(k)) {
        kk_stage_error(s->st, "option datasets: '%s' must be a string",
                       k->string);
        rc = KK_ETYPE;
      } else {
        v[i] = k->valuestring;
      }
    }
    if (rc == 0 &&
        (ex_config_add_spec(&s->cfg, v[0], v[1], v[2], v[3], v[4], v[5]) != 0 ||
         ex_spec_set_extras(&s->cfg, v[6], v[7]) != 0))
      rc = KK_ENOMEM;
  }
  cJSON_Delete(root);
  return rc;
}

static char *exm_dup(const kk_opts_t *o, const char *name) {
  const char *v = kk_opt_isset(o, name) ? kk_opt_str(o, name) : NULL;
  return v ? strdup(v) : NULL;
}

static void exm_destroy(void *state) {
  exm_state_t *s = state;
  if (!s) return;
  ex_config_free(&s->cfg);
  free(s);
}

static int exm_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  exm_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = s;
  s->st = st;
  s->store_name = kk_opt_isset(o, "store") ? kk_opt_str(o, "store") : NULL;
  s->every_ms = kk_opt_duration_ms(o, "every");
  if (s->every_ms < 1000) s->every_ms = 1000;
  s->nostore = (kk_ratelimit_t)KK_RATELIMIT_INIT(600000, 1);
  ex_config_t *c = &s->cfg;
  c->dir = exm_dup(o, "dir");
  c->period = exm_dup(o, "period");
  c->res = (kk_store_res_t)kk_opt_enum(o, "resolution");
  c->licence = exm_dup(o, "licence");
  c->attribution = exm_dup(o, "attribution");
  c->publisher = exm_dup(o, "publisher");
  c->publisher_url = exm_dup(o, "publisher_url");
  c->contact_email = exm_dup(o, "contact");
  c->geocoding = exm_dup(o, "geocoding");
  c->geocoding_level = exm_dup(o, "geocoding_level");
  c->geocoding_text = exm_dup(o, "geocoding_text");
  c->base_url = exm_dup(o, "base_url");
  c->title = exm_dup(o, "title");
  c->description = exm_dup(o, "description");
  c->contributor_id = exm_dup(o, "contributor_id");
  c->frequency = kk_opt_isset(o, "frequency")
                     ? exm_dup(o, "frequency")
                     : strdup(ex_frequency_for(s->every_ms));
  c->availability = exm_dup(o, "availability");
  c->progress = 0;
  char err[512];
  for (size_t i = 0; i < kk_opt_list_len(o, "formats"); i++) {
    unsigned f;
    if (ex_parse_formats(kk_opt_list_item(o, "formats", i), &f, err,
                         sizeof err) != 0) {
      kk_stage_error(st, "option formats: %s", err);
      return KK_EPARSE;
    }
    c->formats |= f;
  }
  if (c->formats == 0) c->formats = EX_ALL;
  int64_t a, b;
  if (ex_parse_period(c->period, kk_now_ms(), &a, &b) != 0) {
    kk_stage_error(st,
                   "option period: '%s' is not all, year, previous year, "
                   "month, previous month, day, 'last <duration>' or "
                   "FROM/TO",
                   c->period);
    return KK_EPARSE;
  }
  char g1[512], g2[512];
  if (ex_geocoding(c, g1, g2, sizeof g1, err, sizeof err) != 0) {
    kk_stage_error(st, "option %s", err);
    return KK_EPARSE;
  }
  int rc = exm_specs(s, kk_opt_json(o, "datasets"));
  if (rc != 0) return rc;
  if (ex_check_vocab(c, err, sizeof err) != 0) {
    kk_stage_error(st, "%s", err);
    return KK_EPARSE;
  }
  const char *missing = ex_dcat_missing(c);
  if (missing) kk_stage_log(st, KK_LOG_WARN, "%s", missing);
  if (!c->dir) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  s->ok = kk_stage_counter(st, "kk_export_runs_total", "ok",
                           "Open-data export runs, by result.");
  s->failed = kk_stage_counter(st, "kk_export_runs_total", "failed",
                               "Open-data export runs, by result.");
  return 0;
}

static void exm_work(uv_work_t *w) {
  exm_state_t *s = w->data;
  s->rc = ex_run(s->store, &s->cfg, s->now, &s->res, s->err, sizeof s->err);
}

static void exm_maybe_stopped(exm_state_t *s) {
  if (s->stopping && !s->busy && !s->timer_open && s->stop_cb) {
    kk_stop_cb cb = s->stop_cb;
    s->stop_cb = NULL;
    cb(s->st);
  }
}

static void exm_after(uv_work_t *w, int status) {
  exm_state_t *s = w->data;
  s->busy = 0;
  kk_store_unref(s->store);
  s->store = NULL;
  if (status == UV_ECANCELED) {
    s->dirty = 1;
  } else if (s->rc != 0) {
    kk_metric_add(s->failed, 1);
    s->dirty = 1; /* try again at the next tick */
    kk_stage_log(s->st, KK_LOG_WARN, "export into %s failed: %s", s->cfg.dir,
                 s->err[0] ? s->err : kk_strerror(s->rc));
  } else {
    kk_metric_add(s->ok, 1);
    s->ran = 1;
    kk_stage_log(s->st, KK_LOG_INFO,
                 "exported %zu datasets, %zu files, %llu rows into %s in "
                 "%llu ms",
                 s->res.datasets, s->res.files, (unsigned long long)s->res.rows,
                 s->cfg.dir,
                 (unsigned long long)(uv_now(kk_stage_loop(s->st)) - s->t0));
  }
  exm_maybe_stopped(s);
}

static void exm_tick(uv_timer_t *t) {
  exm_state_t *s = t->data;
  if (s->busy || s->stopping) return;
  if (s->ran && !s->dirty) return; /* nothing new since the last run */
  kk_store_t *store =
      s->store_name ? kk_store_find(s->store_name) : kk_store_default();
  if (!store) {
    if (kk_ratelimit_ok(&s->nostore))
      kk_stage_log(s->st, KK_LOG_WARN, "no store %s%s%s to export from (yet)",
                   s->store_name ? "named '" : "in the pipeline",
                   s->store_name ? s->store_name : "",
                   s->store_name ? "'" : "");
    return;
  }
  s->store = kk_store_ref(store);
  s->now = kk_now_ms();
  s->t0 = uv_now(kk_stage_loop(s->st));
  s->dirty = 0;
  s->err[0] = 0;
  ex_measures_capture(&s->cfg);
  s->work.data = s;
  int rc = uv_queue_work(kk_stage_loop(s->st), &s->work, exm_work, exm_after);
  if (rc != 0) {
    kk_store_unref(s->store);
    s->store = NULL;
    s->dirty = 1;
    kk_stage_log(s->st, KK_LOG_WARN, "cannot queue the export: %s",
                 uv_strerror(rc));
    return;
  }
  s->busy = 1;
}

static int exm_start(kk_stage_t *st, void *state) {
  exm_state_t *s = state;
  int rc = uv_timer_init(kk_stage_loop(st), &s->timer);
  if (rc != 0) {
    kk_stage_error(st, "cannot create a timer: %s", uv_strerror(rc));
    return KK_ENOMEM;
  }
  s->timer.data = s;
  s->timer_open = 1;
  /* The first run soon after start (the store registers when its own
   * stage starts), then one every `every`. */
  uint64_t first = s->every_ms < 2000 ? s->every_ms : 2000;
  uv_timer_start(&s->timer, exm_tick, first, s->every_ms);
  return 0;
}

static int exm_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  exm_state_t *s = state;
  if (kk_batch_len(b) > 0) s->dirty = 1;
  return 0;
}

static void exm_timer_closed(uv_handle_t *h) {
  exm_state_t *s = h->data;
  s->timer_open = 0;
  exm_maybe_stopped(s);
}

static void exm_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  (void)st;
  exm_state_t *s = state;
  s->stopping = 1;
  s->stop_cb = cb;
  if (s->busy) uv_cancel((uv_req_t *)&s->work); /* fails once running */
  if (s->timer_open) {
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, exm_timer_closed);
  } else {
    exm_maybe_stopped(s);
  }
}

static const kk_option_t exm_options[] = {
    {.name = "dir",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "Directory for the files (created if missing); serve it "
                    "under `base_url`."},
    {.name = "store",
     .type = KK_OPT_STRING,
     .description = "Stage name of the store to read (`name` of a "
                    "store.sqlite/store.postgres stage); default the first "
                    "store of the pipeline."},
    {.name = "every",
     .type = KK_OPT_DURATION,
     .def = "1h",
     .description = "Time between two exports (at least 1s); the first runs "
                    "2 s after start.  A run with no new readings since the "
                    "last one is skipped."},
    {.name = "formats",
     .type = KK_OPT_LIST,
     .def = "csv,geojson,dcat",
     .description = "Files to write: csv, geojson, dcat (the catalog).  "
                    "checksums.sha256 is always written."},
    {.name = "datasets",
     .type = KK_OPT_TABLE,
     .description = "Datasets as a list of filters { thing = \"room-*\", "
                    "property = \"co2\", unit = .., title = .., description "
                    "= .., keywords = {..}, themes = { \"ENVI\", \"ENER\" }, "
                    "references = { URI } }; each matching (property, unit) "
                    "becomes one dataset.  themes: EU data-theme codes "
                    "(default ENVI); references: dct:references such as the "
                    "Musterdatenkatalog entry.  Default: every datastream."},
    {.name = "period",
     .type = KK_OPT_STRING,
     .def = "last 30d",
     .description = "Time covered by each export: \"all\", \"year\", "
                    "\"previous year\", \"month\", \"previous month\", "
                    "\"day\", \"last <duration>\" or \"FROM/TO\" in ISO 8601 "
                    "(UTC)."},
    {.name = "resolution",
     .type = KK_OPT_ENUM,
     .def = "raw",
     .choices = "raw|hour|day",
     .description = "raw: every observation; hour/day: the store's rollups "
                    "(count, mean, min, max per UTC hour or day)."},
    {.name = "licence",
     .type = KK_OPT_STRING,
     .def = "dl-by-de/2.0",
     .description = "dct:license: a URI, or a name from "
                    "http://dcat-ap.de/def/licenses/ (dl-by-de/2.0, "
                    "dl-zero-de/2.0, cc-by/4.0...)."},
    {.name = "attribution",
     .type = KK_OPT_STRING,
     .description = "dcatde:licenseAttributionByText (the required credit "
                    "line); default the publisher."},
    {.name = "publisher",
     .type = KK_OPT_STRING,
     .description = "dct:publisher name (\"Stadt Hagen, Umweltamt\")."},
    {.name = "publisher_url",
     .type = KK_OPT_STRING,
     .description = "The publisher's homepage, also its IRI."},
    {.name = "contact",
     .type = KK_OPT_STRING,
     .description = "E-mail address for dcat:contactPoint."},
    {.name = "geocoding",
     .type = KK_OPT_STRING,
     .description = "dcatde:politicalGeocodingURI: Amtlicher "
                    "Gemeindeschlüssel (8 digits, \"05914000\"), state (2), "
                    "district (5) or regional key (12 digits), or a URI."},
    {.name = "geocoding_level",
     .type = KK_OPT_STRING,
     .description = "dcatde:politicalGeocodingLevelURI: municipality, "
                    "administrativeDistrict, state, federal or a URI; "
                    "default from the key's length."},
    {.name = "geocoding_text",
     .type = KK_OPT_STRING,
     .description = "dcatde:geocodingDescription (\"Stadt Hagen\")."},
    {.name = "base_url",
     .type = KK_OPT_STRING,
     .description = "URL under which `dir` is published; download URLs in "
                    "the catalog start with it.  Default file:// of dir."},
    {.name = "title",
     .type = KK_OPT_STRING,
     .description = "Title of the catalog."},
    {.name = "description",
     .type = KK_OPT_STRING,
     .description = "Description of the catalog."},
    {.name = "contributor_id",
     .type = KK_OPT_STRING,
     .description = "dcatde:contributorID URI (given by GovData to a "
                    "contributing portal)."},
    {.name = "frequency",
     .type = KK_OPT_STRING,
     .description = "dct:accrualPeriodicity of the datasets: an EU frequency "
                    "code (CONT, HOURLY, DAILY, WEEKLY, MONTHLY, QUARTERLY, "
                    "ANNUAL, IRREG...) or a URI; default from `every`."},
    {.name = "availability",
     .type = KK_OPT_STRING,
     .description = "dcatap:availability of datasets and distributions: "
                    "EXPERIMENTAL, TEMPORARY, AVAILABLE or STABLE (EU "
                    "planned-availability) or a URI; unset: not stated."},
    {NULL}};

const kk_module_t publish_export_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "export",
    .ns = "publish",
    .kind = KK_KIND_SINK,
    .summary = "Writes open-data files (CSV, GeoJSON, DCAT-AP.de catalog) "
               "from a store, periodically.",
    .description =
        "Every `every`, reads the store and writes into `dir` one CSV "
        "(RFC 4180, UTC ISO 8601 times, property and unit in the header) "
        "and one GeoJSON FeatureCollection (things with location, latest "
        "value and period summary) per dataset, a DCAT-AP.de catalog "
        "`catalog.jsonld` (JSON-LD) with licence, political geocoding and "
        "a SHA-256 checksum per distribution, and `checksums.sha256` for "
        "`sha256sum -c`.  Each file is written to a temporary file, "
        "fsync()ed and renamed, so readers never see a partial file.  The "
        "work runs on the libuv thread pool.  `klimakit export` does the "
        "same once from the command line.  See docs/guide/export.md.",
    .options = exm_options,
    .create = exm_create,
    .start = exm_start,
    .process = exm_process,
    .stop = exm_stop,
    .destroy = exm_destroy,
    .commands = ex_commands,
};
