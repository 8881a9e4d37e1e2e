/*
 * modules/decode/decode_common.h - what every decode.* stage shares.
 *
 * A decode stage is a transform: for each raw message of a batch it calls
 * the decoder's function, which hands values to decode_out_value(); the
 * datastream mapping (thing, observed property, UCUM unit) and the policy
 * for unknown quantities are applied here, so that every decoder behaves
 * the same.  Failures are counted per stage and reason
 * (kk_rejected_total{stage,reason}) and logged rate-limited; a message
 * rejected as a whole is also a dead letter (kk_stage_dead_letter), so
 * that `klimakit journal requeue` puts it back once the decoder is fixed.
 *
 * The mapping (option `map`, a table): source name -> "property:unit" or
 * { property = "...", unit = "..." }.  Names not in the map follow
 * `unknown`: "create" (the default) uses the name as property and the
 * unit the payload gave (or "1"), "reject" drops the value and counts it
 * under reason "unknown_quantity".
 */
#ifndef KK_MODULES_DECODE_COMMON_H
#define KK_MODULES_DECODE_COMMON_H

#include <klimakit.h>

typedef struct decode_map_entry {
  char *name, *property, *unit;
} decode_map_entry_t;

typedef struct decode_common {
  kk_stage_t *st;
  decode_map_entry_t *map;
  size_t nmap;
  int reject_unknown;
  const char *thing; /* static thing from the options, or NULL */
  kk_ratelimit_t rl;
  kk_metric_t *m_decoded, *m_unknown;
  struct decode_thing_slot *tcache; /* open addressing, tcap slots */
  size_t tcap, tlen;
} decode_common_t;

/* The datastreams of the first DECODE_DS_CACHE map entries for one thing:
 * a stage keeps them for up to DECODE_THINGS_MAX / 2 things (a hash table
 * that grows with the things seen, emptied when a town has more), so that
 * sensors round robin look their datastreams up by name only once (ids
 * are never reused: a cached id stays right).  Things of DECODE_THING_LEN
 * bytes or more are not cached.  About 200 bytes a thing (96 a slot, at
 * most half of them used): 1.5 MB for the largest town. */
#define DECODE_DS_CACHE 12
#define DECODE_THINGS_MAX 16384
#define DECODE_THING_LEN 48

typedef struct decode_thing_slot {
  char thing[DECODE_THING_LEN];
  uint32_t ds[DECODE_DS_CACHE];
} decode_thing_slot_t;

/* The output of one raw message being decoded. */

typedef struct decode_out {
  decode_common_t *dc;
  kk_batch_t *b;
  const kk_raw_t *raw;
  char thing[256]; /* default thing for this message */
  size_t nvalues;
  decode_thing_slot_t *tslot; /* the cache slot the last value used */
  char err[200]; /* why decode_out_value() refused a value (a limit) */
} decode_out_t;

/* The level of a decoder's warning about input it leaves out: warn, or
 * debug while the journal of an earlier run is replayed (that run
 * warned already; klimakit/module.h kk_stage_replaying). */
static inline kk_log_level_t decode_log_level(const decode_common_t *dc) {
  return kk_stage_replaying(dc->st) ? KK_LOG_DEBUG : KK_LOG_WARN;
}

/* Option table entries every decoder declares (map, unknown, thing). */
#define DECODE_COMMON_OPTIONS                                                  \
  {.name = "map",                                                              \
   .type = KK_OPT_TABLE,                                                       \
   .description = "Datastream mapping: payload name -> \"property:unit\" or "  \
                  "{ property = .., unit = .. } (UCUM unit codes)."},          \
      {.name = "unknown",                                                      \
       .type = KK_OPT_ENUM,                                                    \
       .def = "create",                                                        \
       .choices = "create|reject",                                             \
       .description = "Names not in `map`: create a datastream from the "      \
                      "name and the payload's unit, or reject and count "      \
                      "them (reason unknown_quantity)."},                      \
  {                                                                            \
    .name = "thing", .type = KK_OPT_STRING,                                    \
    .description = "Thing id for every reading (default: from the "            \
                   "payload, else the topic part named by the source)."        \
  }

/* Reads the common options.  Returns 0 or a negative code with
 * kk_stage_error() set. */
int decode_common_init(decode_common_t *dc, kk_stage_t *st, const kk_opts_t *o);
void decode_common_free(decode_common_t *dc);

/* Adds one value named `name` (with the payload's `unit`, may be NULL) at
 * `time_ms` on thing `thing` (NULL: the message's default thing).
 * Returns 0, or a negative code: KK_ENOMEM, or KK_EFULL when the
 * datastream limits refuse a new datastream (the reason, naming the
 * limit, in out->err; the message is then rejected).  An unknown name
 * under the reject policy is counted and skipped (returns 0). */
int decode_out_value(decode_out_t *out, const char *thing, const char *name,
                     const char *unit, int64_t time_ms, double value);

/* Counts `n` values of the message that were left out (not stored) in
 * kk_rejected_total{stage,reason} and logs it rate-limited with `what`
 * ("string values") and the journal sequence number.  n == 0 does
 * nothing.  The message itself is not rejected by this. */
void decode_out_skipped(decode_out_t *out, const char *reason, size_t n,
                        const char *what);

/* The decoder's function: turn one raw message into values.  Returns 0
 * (also for a message that holds nothing to store: it is counted in
 * kk_decoded_total like any other) or a negative code with a reason in `why`
 * (and the reason label for the counter in *reason, a static string such as
 * "parse"). */
typedef int (*decode_fn)(void *state, decode_out_t *out, char *why,
                         size_t whylen, const char **reason);

/* A transform's process(): decodes every raw message of `in` with `fn`
 * and emits one batch of readings.  Failed messages are counted, logged
 * and moved to the dead letters; the batch goes on with what decoded.  Returns
 * 0 or KK_ENOMEM. */
int decode_common_process(decode_common_t *dc, kk_batch_t *in, decode_fn fn,
                          void *state);

/* Standard base64 (RFC 4648 section 4, padding optional).  Writes at most
 * 3*len/4+3 bytes to out; returns the length or -1 when malformed. */
long decode_base64(const char *in, size_t len, uint8_t *out);

#endif
