/*
 * modules/forward/forward.h - store-and-forward for the forwarding sinks:
 * what a sink uses.  The spool is forward_spool.c, the delivery loop
 * forward_delivery.c.
 *
 * A forwarding sink (forward.webhook, publish.sensorthings, forward.ngsild,
 * publish.mqtt) hands every batch to a forwarder.  The forwarder appends
 * it to a bounded on-disk spool under the stage's data directory with one
 * write() and returns 0: from the engine's point of view the batch is
 * finished, its journal cursor moves on, and a receiver that is down for
 * hours does not fill the engine's queue and pause every source.  Only
 * when the spool is full does the forwarder keep batches (KK_ASYNC) and let
 * the engine's backpressure pause the sources.
 *
 * The spool is read in order by one delivery at a time: the sink's `send`
 * transmits items [0, n) of the head and reports with fw_result() how many
 * items the receiver acknowledged, or that it must retry (exponential
 * backoff), or that the receiver refused them for good (written to
 * dead-letter/ and skipped).  The spool's read position is saved right
 * after every acknowledgement, so a restart resends at most the one
 * delivery that was in flight.  The spool's layout is described in
 * forward_spool.h.  See docs/guide/forwarding.md.
 */
#ifndef KK_FORWARD_H
#define KK_FORWARD_H

#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw fw_t;

/* One reading as the spool keeps it; strings valid until fw_result(). */
typedef struct fw_item {
  const char *thing, *property, *unit;
  int64_t time_ms;
  double value;
  int has_value;     /* 0 when the value was NaN or infinite (JSON null) */
  const char *event; /* the event document (JSON object text) of an event
                        reading, NULL for a plain reading; see below */
} fw_item_t;

/* Events (calc.alert) travel as readings with a document: a batch whose
 * raw messages have the meta FW_EVENT_META carries, as raw message i, the
 * JSON object of reading i (each reading of such a batch has one).  The
 * spool keeps the document with its reading, `fw_item_t.event` hands it
 * to the sink, and the sink sends it along ("event" in forward.webhook's
 * and forward.mqtt's JSON) or renders it (forward.email).  The document's
 * members are described in docs/guide/alerts.md. */
#define FW_EVENT_META "klimakit/event"

typedef enum fw_outcome {
  FW_ACK = 0, /* the receiver acknowledged `n` items */
  FW_RETRY,   /* transient failure: the same items again after backoff */
  FW_DEAD     /* refused for good: `n` items go to dead-letter/ */
} fw_outcome_t;

/* What the sink does for the forwarder.  `send` starts delivering items
 * (valid until fw_result) and later calls fw_result() exactly once, or
 * returns FW_NOT_READY (not connected: the sink calls fw_kick() when it
 * is) or a negative code (treated as FW_RETRY).  It may deliver fewer
 * items than offered and say so in fw_result(). */
#define FW_NOT_READY 2
typedef struct fw_ops {
  int (*send)(void *ctx, const fw_item_t *items, size_t n);
} fw_ops_t;

/* Options every forwarding sink declares (append to its table). */
#define FW_OPTIONS                                                             \
  {.name = "spool_size",                                                       \
   .type = KK_OPT_SIZE,                                                        \
   .def = "256MiB",                                                            \
   .description = "Bound of the on-disk spool of readings not yet "            \
                  "acknowledged by the receiver; when it is full, batches "    \
                  "wait in the engine queue and then sources pause."},         \
      {.name = "retry_min",                                                    \
       .type = KK_OPT_DURATION,                                                \
       .def = "1s",                                                            \
       .description = "First delay before a failed delivery is retried; it "   \
                      "doubles with each failure."},                           \
      {.name = "retry_max",                                                    \
       .type = KK_OPT_DURATION,                                                \
       .def = "5m",                                                            \
       .description = "Longest delay between retries."},                       \
      {.name = "drain",                                                        \
       .type = KK_OPT_DURATION,                                                \
       .def = "5s",                                                            \
       .description = "At shutdown, go on delivering for up to this long "     \
                      "while the receiver answers; what is left stays in the " \
                      "spool for the next start."},                            \
  {                                                                            \
    .name = "max_batch", .type = KK_OPT_INT, .def = "500", .min = 1,           \
    .max = 100000,                                                             \
    .description = "Most readings sent in one request or round."               \
  }

/* Creates the forwarder of `st` with the FW_OPTIONS values.  Opens (and
 * recovers) the spool; must be called from start.  Returns 0 or a negative
 * code with kk_stage_error() set. */
int fw_new(kk_stage_t *st, const kk_opts_t *opts, const fw_ops_t *ops,
           void *ctx, fw_t **out);

/* The sink's process(): spools `b`.  Returns 0, KK_ASYNC (spool full: the
 * batch is kept and finished with kk_stage_done() once it fits) or a
 * negative code (the spool cannot be written; the forwarder then refuses
 * every later batch too, so that the journal replays them in order at the
 * next start). */
int fw_process(fw_t *fw, kk_batch_t *b);

/* Reports the outcome of the delivery started by `send`.  For FW_DEAD,
 * `status` and `reason` describe the refusal and `request`/`response`
 * (may be NULL) are stored in the dead-letter file. */
void fw_result(fw_t *fw, fw_outcome_t outcome, size_t n, int status,
               const char *reason, const char *request, const char *response);

/* A name for the delivery in flight that stays the same across retries
 * and restarts ("<segment>-<offset>-<item>" of the spool). */
void fw_delivery_id(const fw_t *fw, char *buf, size_t len);

/* The sink became ready (connected): deliver what is waiting. */
void fw_kick(fw_t *fw);

/* Stops: goes on delivering until the spool is empty, a delivery fails,
 * or the `drain` time is over (a delivery then still in flight is
 * abandoned: its fw_result is ignored), then calls cb(arg).  The timers
 * close asynchronously; free with fw_free() once the loop ran. */
void fw_stop(fw_t *fw, void (*cb)(void *arg), void *arg);

/* Frees the forwarder (after fw_stop completed, or if start failed).
 * Batches still waiting for spool room are released.  NULL is a no-op. */
void fw_free(fw_t *fw);

/* Reads a secret: the value of environment variable `env` if set and not
 * empty, else the contents of `file` (trailing newline removed).  Returns
 * a malloc'ed string (caller frees) or NULL with *err set. */
char *fw_read_secret(const char *env, const char *file, const char **err);

#endif
