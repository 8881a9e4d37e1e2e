/*
 * modules/forward/ngsild.c - forward.ngsild: readings upserted into an
 * NGSI-LD context broker (Orion-LD, Scorpio, Stellio).
 *
 * Each thing is an entity urn:ngsi-ld:<entity_type>:<thing>; each reading
 * sets the Property named after its observed property:
 *   {"type":"Property","value":812,"observedAt":"2026-...Z","unitCode":"ppm"}
 * A delivery is one POST <url>/ngsi-ld/v1/entityOperations/upsert
 * ?options=update (attributes are merged, not replaced) with an array of
 * entity fragments.  An entity holds one value per property, so a
 * delivery stops before the second reading of the same (thing, property);
 * that reading opens the next delivery, which keeps readings in order and
 * lets a broker with temporal storage see every value.  Delivery, retries
 * and dead letters as for every forwarding sink (forward.h).
 */
#include <klimakit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/forward_http.h"

typedef struct ngsild_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  char *url;
  const char *type, *context;
  fwh_t *h;
  kk_buf_t body, name;
  size_t *order; /* item indices grouped by thing */
  size_t caporder;
} ngsild_state_t;

/* NGSI-LD attribute names: letters, digits and '_'. */
static void ngsild_attr(kk_buf_t *b, const char *p) {
  b->len = 0;
  for (; *p; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '_';
    kk_buf_put(b, ok ? p : "_", 1);
  }
  kk_buf_put(b, "", 1);
}

/* Entity id part: RFC 3986 unreserved characters kept, others '-'. */
static void ngsild_idpart(kk_buf_t *b, const char *p) {
  for (; *p; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
             c == '~' || c == ':';
    kk_buf_put(b, ok ? p : "-", 1);
  }
}

static int ngsild_send(void *ctx, const fw_item_t *items, size_t n) {
  ngsild_state_t *s = ctx;
  char t[32];
  /* The delivery ends before a repeated (thing, property). */
  size_t k = 0;
  for (; k < n; k++) {
    size_t j = 0;
    while (j < k && !(strcmp(items[j].thing, items[k].thing) == 0 &&
                      strcmp(items[j].property, items[k].property) == 0))
      j++;
    if (j < k) break;
  }
  kk_buf_t *b = &s->body;
  b->len = 0;
  kk_buf_puts(b, "[");
  int first_ent = 1;
  for (size_t i = 0; i < k; i++) {
    size_t j = 0;
    while (j < i && strcmp(items[j].thing, items[i].thing) != 0)
      j++;
    if (j < i) continue; /* entity already written */
    kk_buf_puts(b, first_ent ? "{\"id\":\"urn:ngsi-ld:"
                             : ",{\"id\":\"urn:ngsi-ld:");
    first_ent = 0;
    ngsild_idpart(b, s->type);
    kk_buf_puts(b, ":");
    ngsild_idpart(b, items[i].thing);
    kk_buf_puts(b, "\",\"type\":\"");
    kk_buf_json(b, s->type);
    kk_buf_puts(b, "\"");
    for (size_t m = i; m < k; m++) {
      if (strcmp(items[m].thing, items[i].thing) != 0) continue;
      ngsild_attr(&s->name, items[m].property);
      fwh_time(items[m].time_ms, t);
      kk_buf_puts(b, ",\"");
      kk_buf_json(b, s->name.p ? s->name.p : "");
      kk_buf_puts(b, "\":{\"type\":\"Property\",\"value\":");
      fwh_number(b, &items[m]);
      kk_buf_printf(b, ",\"observedAt\":\"%s\",\"unitCode\":\"", t);
      kk_buf_json(b, items[m].unit);
      kk_buf_puts(b, "\"}");
    }
    kk_buf_puts(b, ",\"@context\":\"");
    kk_buf_json(b, s->context);
    kk_buf_puts(b, "\"}");
  }
  kk_buf_puts(b, "]");
  if (b->oom || s->name.oom) {
    b->oom = s->name.oom = 0;
    return KK_ENOMEM;
  }
  return fwh_post(s->h, s->url, "application/ld+json", b->p, b->len, NULL, k);
}

static const fw_ops_t ngsild_ops = {.send = ngsild_send};

static int ngsild_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  if (net_curl_check(st) != 0) return KK_EMISSING;
  ngsild_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = opts;
  s->type = kk_opt_str(opts, "entity_type");
  s->context = kk_opt_str(opts, "context");
  const char *base = kk_opt_str(opts, "url");
  size_t bl = strlen(base);
  while (bl && base[bl - 1] == '/')
    bl--;
  const char *path = "/ngsi-ld/v1/entityOperations/upsert?options=update";
  s->url = malloc(bl + strlen(path) + 1);
  if (!s->url) return KK_ENOMEM;
  memcpy(s->url, base, bl);
  strcpy(s->url + bl, path);
  if (!*s->type) {
    kk_stage_error(st, "entity_type must not be empty");
    return KK_EINVAL;
  }
  return 0;
}

static int ngsild_start(kk_stage_t *st, void *state) {
  ngsild_state_t *s = state;
  return fwh_new(st, s->opts, &ngsild_ops, s, &s->h);
}

static int ngsild_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  ngsild_state_t *s = state;
  (void)st;
  return fw_process(fwh_fw(s->h), b);
}

static void ngsild_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  ngsild_state_t *s = state;
  (void)st;
  fwh_stop(s->h, cb);
}

static void ngsild_destroy(void *state) {
  ngsild_state_t *s = state;
  if (!s) return;
  fwh_free(s->h);
  free(s->url);
  free(s->order);
  kk_buf_free(&s->body);
  kk_buf_free(&s->name);
  free(s);
}

static const kk_option_t ngsild_options[] = {
    {.name = "url",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "Base URL of the context broker (the part before "
                    "/ngsi-ld/v1)."},
    {.name = "entity_type",
     .type = KK_OPT_STRING,
     .def = "Device",
     .description = "Entity type; entity ids are "
                    "urn:ngsi-ld:<entity_type>:<thing>."},
    {.name = "context",
     .type = KK_OPT_STRING,
     .def = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
     .description = "JSON-LD @context sent with every entity."},
    FWH_OPTIONS,
    FW_OPTIONS,
    {NULL}};

const kk_module_t forward_ngsild_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "ngsild",
    .ns = "forward",
    .kind = KK_KIND_SINK,
    .summary = "Upserts readings as entities into an NGSI-LD broker.",
    .description =
        "Each thing becomes the entity `urn:ngsi-ld:<entity_type>:<thing>`, "
        "each reading a Property named after its observed property with "
        "`value`, `observedAt` and `unitCode` (the UCUM code).  Deliveries "
        "are `POST /ngsi-ld/v1/entityOperations/upsert?options=update` "
        "(application/ld+json); a delivery holds at most one value per "
        "entity property, so every reading reaches the broker in order.  "
        "Spool, retries and dead letters as for every forwarding sink "
        "(docs/guide/forwarding.md).",
    .options = ngsild_options,
    .create = ngsild_create,
    .start = ngsild_start,
    .process = ngsild_process,
    .stop = ngsild_stop,
    .destroy = ngsild_destroy,
};
