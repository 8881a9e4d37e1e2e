/*
 * modules/decode/senml.c - decode.senml: SenML packs to readings.
 *
 * The parser is modules/decode/decode_senml.c (RFC 8428, JSON and CBOR),
 * shared with the sources that decode inline, and so are the name rules
 * (senml_map_name(): base name = thing, record name = property; the
 * stage's `thing` option or the source's thing is the context thing).
 * Numbers and booleans (0/1) become readings; a sum becomes
 * "<property>.sum" in the unit times seconds; string and data values are
 * counted (kk_decode_skipped_total) and skipped - readings are numbers.
 * A pack is decoded all or nothing.
 */
#include <klimakit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_common.h"
#include "decode/decode_senml.h"

typedef struct senml_stage {
  decode_common_t dc;
  int format; /* 0 auto (raw format), 1 json, 2 cbor */
  int names;  /* SENML_NAMES_* */
  kk_metric_t *skipped;
} senml_stage_t;

typedef struct senml_emit {
  senml_stage_t *s;
  decode_out_t *out;
  senml_guard_t guard;
  char *why;
  size_t whylen;
} senml_emit_t;

static int senml_stage_add(senml_emit_t *e, const senml_record_t *r,
                           const char *name, const char *thing,
                           const char *prop, const char *unit, double v) {
  int rc = senml_guard_check(&e->guard, thing, prop, name, e->why, e->whylen);
  if (rc == 0) rc = decode_out_value(e->out, thing, prop, unit, r->time_ms, v);
  return rc;
}

static int senml_stage_record(void *ctx, const senml_record_t *r) {
  senml_emit_t *e = ctx;
  if (r->vtype == SENML_VALUE_STRING || r->vtype == SENML_VALUE_DATA) {
    kk_metric_add(e->s->skipped, 1); /* readings are numbers */
    if (!r->has_sum) return 0;
  }
  const char *ctx_thing = e->s->dc.thing ? e->s->dc.thing : e->out->thing;
  char thing[256], prop[256];
  int rc = senml_map_name(r, e->s->names, ctx_thing, NULL, thing, prop,
                          sizeof prop, e->why, e->whylen);
  if (rc != 0) return rc == KK_ERANGE || rc == KK_EMISSING ? KK_EPARSE : rc;
  if (r->vtype == SENML_VALUE_NUMBER || r->vtype == SENML_VALUE_BOOL) {
    double v = r->vtype == SENML_VALUE_BOOL ? r->boolean : r->value;
    rc = senml_stage_add(e, r, r->name, thing, prop, r->unit, v);
  }
  if (rc == 0 && r->has_sum) {
    char sp[272], su[160], sn[4200];
    snprintf(sp, sizeof sp, "%s.sum", prop);
    snprintf(sn, sizeof sn, "%s (sum)", r->name);
    senml_sum_unit(r->unit, su, sizeof su);
    rc = senml_stage_add(e, r, sn, thing, sp, su, r->sum);
  }
  return rc;
}

static int senml_stage_decode(void *state, decode_out_t *out, char *why,
                              size_t whylen, const char **reason) {
  senml_stage_t *s = state;
  senml_emit_t e = {s, out, {0}, why, whylen};
  uint32_t fmt = out->raw->format;
  if (s->format == 1) fmt = SENML_CF_JSON;
  if (s->format == 2) fmt = SENML_CF_CBOR;
  if (s->format == 0 && fmt != 110 && fmt != 111 && fmt != 112 && fmt != 113)
    fmt = out->raw->len && out->raw->data[0] == '[' ? SENML_CF_JSON
                                                    : SENML_CF_CBOR;
  /* All or nothing: the pack decodes into a batch of its own, which is
   * appended only when every record decoded. */
  kk_batch_t *all = out->b, *mine = kk_batch_new(16);
  if (!mine) return KK_ENOMEM;
  out->b = mine;
  int rc = senml_decode(fmt, out->raw->data, out->raw->len, out->raw->time_ms,
                        senml_stage_record, &e, why, whylen);
  out->b = all;
  senml_guard_free(&e.guard);
  if (rc == KK_EUNKNOWN) *reason = "format";
  const kk_reading_t *r = kk_batch_readings(mine);
  for (size_t i = 0; rc == 0 && i < kk_batch_len(mine); i++)
    rc = kk_batch_push(all, &r[i]);
  kk_batch_unref(mine);
  return rc;
}

static int senml_stage_create(kk_stage_t *st, const kk_opts_t *o,
                              void **state) {
  senml_stage_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->format = kk_opt_enum(o, "format");
  s->names = kk_opt_enum(o, "names");
  s->skipped = kk_stage_counter(st, "kk_decode_skipped_total", "non_numeric",
                                "Decoded values skipped, by reason.");
  return decode_common_init(&s->dc, st, o);
}

static int senml_stage_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  senml_stage_t *s = state;
  return decode_common_process(&s->dc, b, senml_stage_decode, s);
}

static void senml_stage_destroy(void *state) {
  senml_stage_t *s = state;
  if (!s) return;
  decode_common_free(&s->dc);
  free(s);
}

static const kk_option_t senml_stage_options[] = {
    {.name = "format",
     .type = KK_OPT_ENUM,
     .def = "auto",
     .choices = "auto|json|cbor",
     .description = "auto: by the raw message's content format (110/111 "
                    "JSON, 112/113 CBOR), else by its first byte."},
    {.name = "names",
     .type = KK_OPT_ENUM,
     .def = "base",
     .choices = SENML_NAMES_CHOICES,
     .description = "How SenML names become thing and property: `base` "
                    "(base name = thing, record name = property, a device "
                    "URN names its device; docs/guide/push-formats.md) or "
                    "`split` (the resolved name split at its last `:` or "
                    "`/`)."},
    DECODE_COMMON_OPTIONS,
    {NULL}};

const kk_module_t decode_senml_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "senml",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes SenML packs (RFC 8428, JSON and CBOR) into readings.",
    .description =
        "Resolves base name, base time, base unit, base value and base sum; "
        "relative times (below 2^28 s) count from the reception time. The "
        "thing is the base name without its trailing `:` or `/`, the "
        "property the record name (`names`); a sum is its own datastream "
        "`<property>.sum`; string and data values are counted in "
        "`kk_decode_skipped_total`. Rejected packs are counted in "
        "`kk_rejected_total{reason=\"parse\"}` and logged (rate-limited); "
        "their bytes stay in the journal.",
    .options = senml_stage_options,
    .create = senml_stage_create,
    .process = senml_stage_process,
    .destroy = senml_stage_destroy,
};
