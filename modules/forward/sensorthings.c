/*
 * modules/forward/sensorthings.c - forward.sensorthings: readings
 * created as Observations on an OGC SensorThings API server.
 *
 * Readings map to the server's Datastreams through the `datastreams`
 * table ("thing/property" = remote @iot.id).  By default one delivery is
 * one dataArray create (POST <url>/CreateObservations, SensorThings 1.1
 * part 1 §14.3.1) grouping the readings by Datastream; `mode = "single"`
 * POSTs each reading to <url>/Datastreams(id)/Observations instead (for
 * servers without the dataArray extension).  Readings without a mapping
 * go to dead-letter/ with the reason.  Delivery, retries and dead letters
 * as for every forwarding sink (modules/forward/forward.h).
 */
#include <klimakit.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/forward_http.h"

typedef struct sta_map {
  char *key; /* "thing/property" */
  long long id;
} sta_map_t;

typedef struct sta_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  char *base; /* url without a trailing '/' */
  int single;
  sta_map_t *map;
  size_t nmap;
  fwh_t *h;
  kk_buf_t body, url;
  long long *ids; /* per item of the delivery, -1 unmapped */
  size_t capids;
} sta_state_t;

static long long sta_lookup(const sta_state_t *s, const fw_item_t *it) {
  size_t lt = strlen(it->thing);
  for (size_t i = 0; i < s->nmap; i++) {
    const char *k = s->map[i].key;
    if (!strncmp(k, it->thing, lt) && k[lt] == '/' &&
        !strcmp(k + lt + 1, it->property))
      return s->map[i].id;
  }
  return -1;
}

static int sta_send(void *ctx, const fw_item_t *items, size_t n) {
  sta_state_t *s = ctx;
  char t[32];
  if (n > s->capids) {
    long long *ni = realloc(s->ids, n * sizeof *ni);
    if (!ni) return KK_ENOMEM;
    s->ids = ni;
    s->capids = n;
  }
  /* The leading run of unmapped items is refused for good. */
  size_t k = 0;
  while (k < n && (s->ids[k] = sta_lookup(s, &items[k])) < 0)
    k++;
  if (k > 0) {
    char why[512];
    snprintf(why, sizeof why,
             "no remote Datastream for '%s/%s' (add it to `datastreams`)",
             items[0].thing, items[0].property);
    fw_result(fwh_fw(s->h), FW_DEAD, k, 0, why, NULL, NULL);
    return 0;
  }
  /* Then the run of mapped items. */
  while (k < n && (s->ids[k] = sta_lookup(s, &items[k])) >= 0)
    k++;
  kk_buf_t *b = &s->body;
  b->len = 0;
  s->url.len = 0;
  if (s->single) {
    k = 1;
    fwh_time(items[0].time_ms, t);
    kk_buf_printf(
        b, "{\"phenomenonTime\":\"%s\",\"resultTime\":\"%s\",\"result\":", t,
        t);
    fwh_number(b, &items[0]);
    kk_buf_puts(b, "}");
    kk_buf_printf(&s->url, "%s/Datastreams(%lld)/Observations", s->base,
                  s->ids[0]);
  } else {
    /* Group by Datastream in the order of first appearance; within one
     * Datastream the readings keep their order. */
    kk_buf_puts(b, "[");
    int first_group = 1;
    for (size_t i = 0; i < k; i++) {
      size_t j = 0;
      while (j < i && s->ids[j] != s->ids[i])
        j++;
      if (j < i) continue; /* group already written */
      size_t cnt = 0;
      for (size_t m = i; m < k; m++)
        cnt += s->ids[m] == s->ids[i];
      kk_buf_printf(b,
                    "%s{\"Datastream\":{\"@iot.id\":%lld},\"components\":"
                    "[\"phenomenonTime\",\"result\"],\"dataArray@iot.count\":"
                    "%zu,\"dataArray\":[",
                    first_group ? "" : ",", s->ids[i], cnt);
      first_group = 0;
      int first = 1;
      for (size_t m = i; m < k; m++) {
        if (s->ids[m] != s->ids[i]) continue;
        fwh_time(items[m].time_ms, t);
        kk_buf_printf(b, "%s[\"%s\",", first ? "" : ",", t);
        fwh_number(b, &items[m]);
        kk_buf_puts(b, "]");
        first = 0;
      }
      kk_buf_puts(b, "]}");
    }
    kk_buf_puts(b, "]");
    kk_buf_printf(&s->url, "%s/CreateObservations", s->base);
  }
  kk_buf_put(&s->url, "", 1);
  if (b->oom || s->url.oom) {
    b->oom = s->url.oom = 0;
    return KK_ENOMEM;
  }
  return fwh_post(s->h, s->url.p, "application/json", b->p, b->len, NULL, k);
}

static const fw_ops_t sta_ops = {.send = sta_send};

static int sta_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  if (net_curl_check(st) != 0) return KK_EMISSING;
  sta_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = opts;
  s->single = kk_opt_enum(opts, "mode") == 1;
  s->base = strdup(kk_opt_str(opts, "url"));
  if (!s->base) return KK_ENOMEM;
  size_t bl = strlen(s->base);
  while (bl && s->base[bl - 1] == '/')
    s->base[--bl] = 0;
  cJSON *root = cJSON_Parse(kk_opt_json(opts, "datastreams")), *e;
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    kk_stage_error(st, "datastreams: expected a table such as "
                       "{ [\"room-1/co2\"] = 12 }");
    return KK_ETYPE;
  }
  size_t n = (size_t)cJSON_GetArraySize(root);
  s->map = calloc(n ? n : 1, sizeof *s->map);
  if (!s->map) {
    cJSON_Delete(root);
    return KK_ENOMEM;
  }
  cJSON_ArrayForEach(e, root) {
    if (!cJSON_IsNumber(e) || !strchr(e->string, '/') || e->valuedouble < 0) {
      kk_stage_error(st,
                     "datastreams: '%s' must be \"thing/property\" = a "
                     "number (the server's Datastream @iot.id)",
                     e->string);
      cJSON_Delete(root);
      return KK_ETYPE;
    }
    s->map[s->nmap].key = strdup(e->string);
    s->map[s->nmap++].id = (long long)e->valuedouble;
  }
  cJSON_Delete(root);
  return 0;
}

static int sta_start(kk_stage_t *st, void *state) {
  sta_state_t *s = state;
  return fwh_new(st, s->opts, &sta_ops, s, &s->h);
}

static int sta_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  sta_state_t *s = state;
  (void)st;
  return fw_process(fwh_fw(s->h), b);
}

static void sta_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  sta_state_t *s = state;
  (void)st;
  fwh_stop(s->h, cb);
}

static void sta_destroy(void *state) {
  sta_state_t *s = state;
  if (!s) return;
  fwh_free(s->h);
  for (size_t i = 0; i < s->nmap; i++)
    free(s->map[i].key);
  free(s->map);
  free(s->base);
  free(s->ids);
  kk_buf_free(&s->body);
  kk_buf_free(&s->url);
  free(s);
}

static const kk_option_t sta_options[] = {
    {.name = "url",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "Service root of the SensorThings server, such as "
                    "https://sta.example.de/FROST-Server/v1.1."},
    {.name = "datastreams",
     .type = KK_OPT_TABLE,
     .flags = KK_OPT_REQUIRED,
     .description = "Remote Datastream ids: { [\"thing/property\"] = id }; "
                    "readings of other datastreams go to dead-letter/."},
    {.name = "mode",
     .type = KK_OPT_ENUM,
     .def = "dataArray",
     .choices = "dataArray|single",
     .description = "dataArray: one CreateObservations request per delivery; "
                    "single: one POST Datastreams(id)/Observations per "
                    "reading."},
    FWH_OPTIONS,
    FW_OPTIONS,
    {NULL}};

const kk_module_t forward_sensorthings_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "sensorthings",
    .ns = "forward",
    .kind = KK_KIND_SINK,
    .summary = "Creates Observations on a SensorThings API server.",
    .description =
        "Maps each datastream to a Datastream of the server through the "
        "`datastreams` table and creates Observations (phenomenonTime, "
        "result): by default with the dataArray extension "
        "(`POST CreateObservations`, one request per delivery), or one "
        "`POST Datastreams(id)/Observations` per reading.  Delivery goes "
        "through an on-disk spool with retries and dead letters like every "
        "forwarding sink (docs/guide/forwarding.md).",
    .options = sta_options,
    .create = sta_create,
    .start = sta_start,
    .process = sta_process,
    .stop = sta_stop,
    .destroy = sta_destroy,
};
