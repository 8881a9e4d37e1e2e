/* modules/decode/decode_common.c - what every decode.* stage shares. */
#include <klimakit.h>
#include "decode/decode_common.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dc_add_entry(decode_common_t *dc, const char *name, const char *prop,
                        const char *unit) {
  decode_map_entry_t *nm = realloc(dc->map, (dc->nmap + 1) * sizeof *nm);
  if (!nm) return KK_ENOMEM;
  dc->map = nm;
  decode_map_entry_t *e = &dc->map[dc->nmap];
  e->name = strdup(name);
  e->property = strdup(prop);
  e->unit = strdup(unit);
  dc->nmap++;
  if (!e->name || !e->property || !e->unit) return KK_ENOMEM;
  return 0;
}

int decode_common_init(decode_common_t *dc, kk_stage_t *st,
                       const kk_opts_t *o) {
  memset(dc, 0, sizeof *dc);
  dc->st = st;
  kk_ratelimit_t rl = KK_RATELIMIT_INIT(10000, 10);
  dc->rl = rl;
  dc->reject_unknown = kk_opt_enum(o, "unknown") == 1;
  dc->thing = kk_opt_isset(o, "thing") ? kk_opt_str(o, "thing") : NULL;
  dc->m_decoded =
      kk_stage_counter(st, "kk_decoded_total", NULL, "Raw messages decoded.");
  dc->m_unknown = kk_stage_counter(st, "kk_rejected_total", "unknown_quantity",
                                   "Input records rejected, by reason.");
  const char *js = kk_opt_json(o, "map");
  if (!js) return 0;
  cJSON *root = cJSON_Parse(js);
  int rc = 0;
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    if (root == NULL || cJSON_GetArraySize(root) != 0) {
      kk_stage_error(st, "map must be a table of name = \"property:unit\"");
      return KK_ETYPE;
    }
    return 0;
  }
  for (cJSON *e = root->child; e && rc == 0; e = e->next) {
    char prop[256], unit[64];
    if (cJSON_IsString(e)) {
      const char *c = strrchr(e->valuestring, ':');
      if (!c || c == e->valuestring || !c[1]) {
        kk_stage_error(st, "map.%s: '%s' is not \"property:unit\"", e->string,
                       e->valuestring);
        rc = KK_EPARSE;
        break;
      }
      snprintf(prop, sizeof prop, "%.*s", (int)(c - e->valuestring),
               e->valuestring);
      snprintf(unit, sizeof unit, "%s", c + 1);
    } else if (cJSON_IsObject(e)) {
      const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "property");
      const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "unit");
      if (!cJSON_IsString(p) || !cJSON_IsString(u)) {
        kk_stage_error(st, "map.%s needs property and unit strings", e->string);
        rc = KK_ETYPE;
        break;
      }
      snprintf(prop, sizeof prop, "%s", p->valuestring);
      snprintf(unit, sizeof unit, "%s", u->valuestring);
    } else {
      kk_stage_error(st, "map.%s must be \"property:unit\" or a table",
                     e->string);
      rc = KK_ETYPE;
      break;
    }
    rc = dc_add_entry(dc, e->string, prop, unit);
  }
  cJSON_Delete(root);
  return rc;
}

void decode_common_free(decode_common_t *dc) {
  for (size_t i = 0; i < dc->nmap; i++) {
    free(dc->map[i].name);
    free(dc->map[i].property);
    free(dc->map[i].unit);
  }
  free(dc->map);
  free(dc->tcache);
  dc->tcache = NULL;
  dc->tcap = dc->tlen = 0;
  dc->map = NULL;
  dc->nmap = 0;
}

static uint32_t decode_thing_hash(const char *thing, size_t *len) {
  uint32_t h = 2166136261u;
  size_t n = 0;
  for (; thing[n]; n++)
    h = (h ^ (unsigned char)thing[n]) * 16777619u;
  *len = n;
  return h;
}

/* Moves the cache to `cap` slots (a power of two), or empties it when it
 * has DECODE_THINGS_MAX already.  Returns 0 or -1 without memory. */
static int decode_things_grow(decode_common_t *dc) {
  size_t cap = dc->tcap ? dc->tcap * 2 : 256;
  if (cap > DECODE_THINGS_MAX) { /* a town this big: start afresh */
    memset(dc->tcache, 0, dc->tcap * sizeof *dc->tcache);
    dc->tlen = 0;
    return 0;
  }
  decode_thing_slot_t *n = calloc(cap, sizeof *n);
  if (!n) return -1;
  for (size_t i = 0; i < dc->tcap; i++) {
    if (!dc->tcache[i].thing[0]) continue;
    size_t len, j = decode_thing_hash(dc->tcache[i].thing, &len) & (cap - 1);
    while (n[j].thing[0])
      j = (j + 1) & (cap - 1);
    n[j] = dc->tcache[i];
  }
  free(dc->tcache);
  dc->tcache = n;
  dc->tcap = cap;
  return 0;
}

/* The cache entry of `thing`, added on first use; NULL for a long thing
 * name or without memory. */
static decode_thing_slot_t *decode_thing_slot(decode_common_t *dc,
                                              const char *thing) {
  size_t len;
  uint32_t h = decode_thing_hash(thing, &len);
  if (len == 0 || len >= DECODE_THING_LEN) return NULL;
  if ((dc->tlen + 1) * 2 > dc->tcap && decode_things_grow(dc) != 0) return NULL;
  size_t j = h & (dc->tcap - 1);
  for (; dc->tcache[j].thing[0]; j = (j + 1) & (dc->tcap - 1))
    if (strcmp(dc->tcache[j].thing, thing) == 0) return &dc->tcache[j];
  memcpy(dc->tcache[j].thing, thing, len + 1);
  memset(dc->tcache[j].ds, 0, sizeof dc->tcache[j].ds);
  dc->tlen++;
  return &dc->tcache[j];
}

int decode_out_value(decode_out_t *out, const char *thing, const char *name,
                     const char *unit, int64_t time_ms, double value) {
  decode_common_t *dc = out->dc;
  const char *prop = name, *u = unit && *unit ? unit : "1";
  size_t i;
  for (i = 0; i < dc->nmap; i++)
    if (!strcmp(dc->map[i].name, name)) break;
  if (i < dc->nmap) {
    prop = dc->map[i].property;
    u = dc->map[i].unit;
  } else if (dc->reject_unknown) {
    kk_metric_add(dc->m_unknown, 1);
    if (kk_ratelimit_ok(&dc->rl))
      kk_stage_log(dc->st, decode_log_level(dc),
                   "rejected unknown quantity '%s' (journal seq %llu)", name,
                   (unsigned long long)out->raw->seq);
    return 0;
  }
  if (dc->thing) thing = dc->thing;
  if (!thing || !*thing) thing = out->thing;
  if (!*thing) thing = "unknown";
  uint32_t ds = 0, *slot = NULL;
  if (i < dc->nmap && i < DECODE_DS_CACHE) {
    decode_thing_slot_t *t = out->tslot;
    if (!t || strcmp(t->thing, thing) != 0) t = decode_thing_slot(dc, thing);
    out->tslot = t;
    if (t) {
      slot = &t->ds[i];
      ds = *slot;
    }
  }
  kk_reading_t r = {.time_ms = time_ms, .value = value, .ds = ds, .flags = 0};
  if (!ds) {
    /* The value itself is not checked here (0): a decoder's values pass
     * as they are; only the datastream is registered (or refused by a
     * limit, with the limit's name). */
    int rc = kk_reading_make(thing, prop, u, time_ms, 0, &r, out->err,
                             sizeof out->err);
    if (rc) return rc;
    r.value = value;
    if (slot) *slot = r.ds;
  }
  out->nvalues++;
  return kk_batch_push(out->b, &r);
}

void decode_out_skipped(decode_out_t *out, const char *reason, size_t n,
                        const char *what) {
  if (n == 0) return;
  decode_common_t *dc = out->dc;
  kk_metric_add(kk_stage_counter(dc->st, "kk_rejected_total", reason,
                                 "Input records rejected, by reason."),
                (int64_t)n);
  if (kk_ratelimit_ok(&dc->rl))
    kk_stage_log(dc->st, decode_log_level(dc),
                 "left out %zu %s of message (journal seq %llu): %s", n, what,
                 (unsigned long long)out->raw->seq, reason);
}

int decode_common_process(decode_common_t *dc, kk_batch_t *in, decode_fn fn,
                          void *state) {
  size_t n = kk_batch_raw_len(in);
  if (n == 0) return 0;
  kk_batch_t *b = kk_batch_new(n * 4);
  if (!b) return KK_ENOMEM;
  kk_batch_set_seq(b, kk_batch_seq(in));
  decode_out_t out;
  memset(&out, 0, sizeof out);
  out.dc = dc;
  out.b = b;
  for (size_t i = 0; i < n; i++) {
    const kk_raw_t *raw = kk_batch_raw(in, i);
    kk_raw_t copy = *raw; /* kk_batch_raw() reuses one view */
    out.raw = &copy;
    out.nvalues = 0;
    out.tslot = NULL;
    out.err[0] = 0;
    kk_raw_meta_get(copy.meta, "thing", out.thing, sizeof out.thing);
    char why[200] = "";
    const char *reason = "parse";
    size_t before = kk_batch_len(b);
    int rc = fn(state, &out, why, sizeof why, &reason);
    if (rc == KK_ENOMEM) {
      kk_batch_unref(b);
      return rc;
    }
    if (rc != 0) {
      (void)before;
      if (!*why && out.err[0]) snprintf(why, sizeof why, "%s", out.err);
      kk_metric_add(kk_stage_counter(dc->st, "kk_rejected_total", reason,
                                     "Input records rejected, by reason."),
                    1);
      if (kk_ratelimit_ok(&dc->rl)) {
        char topic[160];
        kk_raw_meta_get(copy.meta, "topic", topic, sizeof topic);
        kk_stage_log(dc->st, decode_log_level(dc),
                     "rejected message (journal seq %llu%s%s): %s: %s",
                     (unsigned long long)copy.seq, *topic ? ", " : "", topic,
                     reason, *why ? why : kk_strerror(rc));
      }
      /* The whole message is undecodable: quarantined, so that it can be
       * requeued once the decoder is fixed. */
      char letter[300];
      snprintf(letter, sizeof letter, "%s: %s", reason,
               *why ? why : kk_strerror(rc));
      kk_stage_dead_letter(dc->st, &copy, letter);
      continue;
    }
    kk_metric_add(dc->m_decoded, 1);
  }
  if (kk_batch_len(b) > 0 || kk_batch_seq(b) > 0) kk_stage_emit(dc->st, b);
  kk_batch_unref(b);
  return 0;
}

long decode_base64(const char *in, size_t len, uint8_t *out) {
  uint32_t acc = 0;
  int bits = 0;
  long o = 0;
  while (len > 0 && (in[len - 1] == '=' || in[len - 1] == '\n'))
    len--;
  for (size_t i = 0; i < len; i++) {
    char ch = in[i];
    int v;
    if (ch >= 'A' && ch <= 'Z')
      v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z')
      v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9')
      v = ch - '0' + 52;
    else if (ch == '+' || ch == '-')
      v = 62;
    else if (ch == '/' || ch == '_')
      v = 63;
    else
      return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  if (bits >= 6) return -1;
  return o;
}
