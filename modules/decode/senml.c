/*
 * modules/decode/senml.c - decode.senml: SenML packs to readings.
 *
 * The parser is modules/decode/decode_senml.c (RFC 8428, JSON and CBOR), shared
 * with the sources that decode inline.  Datastreams: thing is the base
 * name without its trailing separator (":" or "/"), property the record
 * name; a record without base name takes the thing from the options or
 * the source's metadata (MQTT topic part), else its name is split at the
 * last ":" or "/".  Numbers and booleans (0/1) become readings; a sum
 * becomes "<property>.sum"; string and data values are counted
 * (kk_decode_skipped_total) and skipped - readings are numbers.
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
  kk_metric_t *skipped;
} senml_stage_t;

typedef struct senml_emit {
  senml_stage_t *s;
  decode_out_t *out;
} senml_emit_t;

static int senml_stage_record(void *ctx, const senml_record_t *r) {
  senml_emit_t *e = ctx;
  char thing[256], prop[256];
  if (r->base_name[0]) {
    snprintf(thing, sizeof thing, "%s", r->base_name);
    size_t n = strlen(thing);
    while (n > 0 && (thing[n - 1] == ':' || thing[n - 1] == '/'))
      thing[--n] = '\0';
    snprintf(prop, sizeof prop, "%s",
             r->short_name[0] ? r->short_name : "value");
  } else if (e->s->dc.thing || e->out->thing[0]) {
    thing[0] = '\0';
    snprintf(prop, sizeof prop, "%s", r->name);
  } else {
    senml_split_name(r->name, thing, sizeof thing, prop, sizeof prop);
    if (!prop[0]) snprintf(prop, sizeof prop, "value");
  }
  int rc = 0;
  if (r->vtype == SENML_VALUE_NUMBER || r->vtype == SENML_VALUE_BOOL) {
    double v = r->vtype == SENML_VALUE_BOOL ? r->boolean : r->value;
    rc = decode_out_value(e->out, thing[0] ? thing : NULL, prop, r->unit,
                          r->time_ms, v);
  } else if (r->vtype != SENML_VALUE_NONE) {
    kk_metric_add(e->s->skipped, 1);
  }
  if (rc == 0 && r->has_sum) {
    char sp[272];
    snprintf(sp, sizeof sp, "%s%s", prop,
             r->vtype == SENML_VALUE_NONE ? "" : ".sum");
    rc = decode_out_value(e->out, thing[0] ? thing : NULL, sp, r->unit,
                          r->time_ms, r->sum);
  }
  return rc;
}

static int senml_stage_decode(void *state, decode_out_t *out, char *why,
                              size_t whylen, const char **reason) {
  senml_stage_t *s = state;
  senml_emit_t e = {s, out};
  uint32_t fmt = out->raw->format;
  if (s->format == 1) fmt = SENML_CF_JSON;
  if (s->format == 2) fmt = SENML_CF_CBOR;
  if (s->format == 0 && fmt != 110 && fmt != 111 && fmt != 112 && fmt != 113)
    fmt = out->raw->len && out->raw->data[0] == '[' ? SENML_CF_JSON
                                                    : SENML_CF_CBOR;
  int rc = senml_decode(fmt, out->raw->data, out->raw->len, out->raw->time_ms,
                        senml_stage_record, &e, why, whylen);
  if (rc == KK_EUNKNOWN) *reason = "format";
  return rc;
}

static int senml_stage_create(kk_stage_t *st, const kk_opts_t *o,
                              void **state) {
  senml_stage_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->format = kk_opt_enum(o, "format");
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
        "property the record name. Rejected packs are counted in "
        "`kk_rejected_total{reason=\"parse\"}` and logged (rate-limited); "
        "their bytes stay in the journal.",
    .options = senml_stage_options,
    .create = senml_stage_create,
    .process = senml_stage_process,
    .destroy = senml_stage_destroy,
};
