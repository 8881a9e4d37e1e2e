/*
 * klimakit/module.h - the module API.
 *
 * A module is one kk_module_t descriptor.  The core creates a *stage* (an
 * instance in a pipeline) from it for every use in a recipe.  Modules know
 * only this header set; never core internals and never other modules.
 *
 * Roles:
 *  - A SOURCE produces data.  A source that acknowledges what it receives
 *    (a network peer, a device) builds a batch of raw messages and hands it
 *    to kk_stage_ingest(): the core appends them to the journal, and only
 *    when that returns 0 may the source acknowledge.  The core then calls
 *    the module's `decode` for each raw message and sends the batch on.
 *    Sources whose data can be produced again (simulator, file replay)
 *    call kk_stage_emit() directly.
 *  - A TRANSFORM (decoder, calculator, map) gets each batch in `process`
 *    and sends results on with kk_stage_emit().
 *  - A SINK gets each batch in `process`.  It returns 0 when the batch is
 *    durably handled, or KK_ASYNC when it will call kk_stage_done() later
 *    (in the order it received batches).  The core moves the sink's
 *    journal cursor on only past batches that are done.
 *
 * Everything runs on the loop thread unless a module starts its own
 * worker; batches may cross to it (kk_batch_ref), stage functions may not,
 * except kk_stage_done_async() which is thread-safe.
 *
 * Backpressure: each sink has a bounded queue of unfinished readings.
 * When any queue is full, the core calls `pause` on every source; when the
 * queues drain below half, `resume`.  A paused source must stop reading
 * its input (stop the socket, answer 5.03) but may finish the read it is
 * in.
 */
#ifndef KLIMAKIT_MODULE_H
#define KLIMAKIT_MODULE_H

#include <stdint.h>
#include <uv.h>

#include "log.h"
#include "metrics.h"
#include "option.h"
#include "reading.h"

/* Bump when the descriptor changes incompatibly; appending a field only
 * needs the `size` check below. */
#define KK_MODULE_ABI 1

/* Returned by a sink's process() when the batch is finished later. */
#define KK_ASYNC 1

typedef enum kk_kind {
  KK_KIND_SOURCE = 1,
  KK_KIND_TRANSFORM,
  KK_KIND_SINK
} kk_kind_t;

typedef struct kk_stage kk_stage_t;
typedef void (*kk_stop_cb)(kk_stage_t *st);
struct lua_State;

/* A subcommand of the `klimakit` program that a module contributes
 * (`klimakit factors`, `klimakit export`): listed by `klimakit --help`
 * and run by `klimakit <name> ...` outside any pipeline. */
typedef struct kk_command {
  const char *name;    /* "export"; unique among all commands */
  const char *summary; /* one line for `klimakit --help` */
  const char *usage;   /* the arguments after the name: "[FORMAT]" */
  /* Runs the command.  argv[0] is the name, argv[argc] NULL; the core
   * has set up logging (text on a terminal, json otherwise; info) and
   * registered the built-in modules, so kk_store_open() and the module
   * table work.  The command prints its own help for -h/--help.  Returns
   * the exit code: 0 ok, 1 runtime failure, 2 usage error. */
  int (*main)(int argc, char **argv);
} kk_command_t;

typedef struct kk_module {
  uint32_t abi;     /* KK_MODULE_ABI */
  uint32_t size;    /* sizeof(kk_module_t) the module was built with */
  const char *name; /* unique in its namespace: "simulate" */
  const char *ns;   /* recipe namespace: kk.<ns>.<name>: "source",
                       "decode", "calc", "store", "publish", "sink",
                       "transform" */
  kk_kind_t kind;
  const char *summary;        /* one line */
  const char *description;    /* a paragraph, Markdown allowed */
  const kk_option_t *options; /* terminated by {NULL}; may be NULL */

  /* Creates the instance state.  Options are validated already.  Returns
   * 0 and sets *state, or a negative code with a message set through
   * kk_stage_error().  Must not start I/O. */
  int (*create)(kk_stage_t *st, const kk_opts_t *opts, void **state);
  /* Starts I/O on kk_stage_loop(st).  Optional.  When start fails, `stop`
   * is not called: start must close what it opened itself (destroy runs
   * once the loop has run the close callbacks). */
  int (*start)(kk_stage_t *st, void *state);
  /* Transform and sink: handle one batch (borrowed; kk_batch_ref() to keep
   * it).  Returns 0, KK_ASYNC (sinks) or a negative code: the batch is
   * then counted as failed for this stage.  A transform's failed batch is
   * dropped; a sink's cursor stops before it, so that the next start
   * replays it from the journal (at-least-once). */
  int (*process)(kk_stage_t *st, void *state, kk_batch_t *b);
  /* Journaling source: turn one raw message into readings in `out`.
   * Called live after the journal append and again on replay after a
   * restart, so it must depend only on the raw message and the options.
   * Returns 0 or a negative code (KK_EPARSE...) with a reason through
   * kk_stage_error(); the message is then counted as rejected. */
  int (*decode)(kk_stage_t *st, void *state, const kk_raw_t *raw,
                kk_batch_t *out);
  /* Source backpressure.  Optional. */
  void (*pause)(kk_stage_t *st, void *state);
  void (*resume)(kk_stage_t *st, void *state);
  /* Stops I/O, flushes (sinks) and calls `cb` once every handle is closed,
   * like uv_close().  Optional: without it the stage stops at once. */
  void (*stop)(kk_stage_t *st, void *state, kk_stop_cb cb);
  /* Frees the state.  Called after stop completed, also after a failed
   * start.  NULL state is possible when create failed. */
  void (*destroy)(void *state);

  /* ---- appended in ABI 1; check `size` before reading ---- */

  /* Optional Lua surface: called with the `klimakit` table on top of the
   * stack of every Lua state that requires "klimakit" (the recipe and
   * each Lua module instance); the module sets its functions on it
   * (kk.factor = ...), and must leave the stack as it found it.  Lua
   * functions follow the liolib conventions: misuse raises an error,
   * expected failure returns nil, message, code. */
  int (*lua_open)(struct lua_State *L);

  /* ---- appended after lua_open; check `size` before reading ---- */

  /* Optional subcommands of the `klimakit` program, terminated by
   * {NULL}; static, like the descriptor. */
  const kk_command_t *commands;

  /* Optional, for store modules: the backend that kk_store_open() can
   * open outside a pipeline (CLI tools, tests; klimakit/store_backend.h).
   * The core registers it with the module; static, like the descriptor. */
  const struct kk_store_backend *store_backend;
} kk_module_t;

/* ---- Stage services ------------------------------------------------- */

uv_loop_t *kk_stage_loop(kk_stage_t *st);
/* The stage name: the recipe's `name` option or "<module>" / "<module>_N". */
const char *kk_stage_name(const kk_stage_t *st);
const kk_module_t *kk_stage_module(const kk_stage_t *st);
/* Directory for the stage's files (created on demand by the module),
 * under the node's data directory; static for the stage's life. */
const char *kk_stage_data_dir(const kk_stage_t *st);

/* Creates the directory `path` and its parents (mode 0755; existing ones
 * are fine), or with `parent_of_file` the directory that holds the file
 * `path`.  Returns 0 or a negative errno. */
int kk_mkdirs(const char *path, int parent_of_file);

/* Sends a batch to every downstream stage.  The batch is borrowed: the
 * caller still owns its reference.  Loop thread only. */
void kk_stage_emit(kk_stage_t *st, kk_batch_t *b);

/* Journals the raw messages of `b` (assigning their sequence numbers),
 * decodes them into readings with the module's `decode` and emits the
 * result.  Returns 0 once every message is durably appended (the source
 * may now acknowledge them), or a negative code (nothing acknowledged).
 * If `status` is not NULL it receives the decode result for each raw
 * message (0 or a negative code); the message for a failed one is in
 * kk_stage_last_error() until the next call. */
int kk_stage_ingest(kk_stage_t *st, kk_batch_t *b, int *status);

/* The two halves of kk_stage_ingest(), for a source that acknowledges as
 * soon as its messages are durable, before the pipeline runs on them
 * (source.mqtt: the broker refills its in-flight window while the
 * pipeline works):  kk_stage_journal() appends and commits `b` (0: the
 * source may acknowledge now; a negative code: nothing may be), then
 * kk_stage_deliver() decodes and emits the same batch, which must follow
 * at once in the same callback.  Loop thread only. */
int kk_stage_journal(kk_stage_t *st, kk_batch_t *b);
void kk_stage_deliver(kk_stage_t *st, kk_batch_t *b, int *status);

/* Instead of kk_stage_deliver(), for a source that reads a stream which
 * does not wait for it (MQTT: the broker drops what a slow client leaves
 * in its queue): the engine takes a reference to the journaled `b` and
 * delivers it from the loop, a batch per loop iteration, so that the
 * source goes on reading while the pipeline works.  When more waits than the
 * engine keeps in memory (8192 messages), the rest is read back from the
 * journal.  Every batch is delivered once, in journal order, before any other
 * source's; no per-message status.  Loop thread only. */
void kk_stage_deliver_later(kk_stage_t *st, kk_batch_t *b);

/* Sink: the oldest unfinished batch is finished (see KK_ASYNC). */
void kk_stage_done(kk_stage_t *st);
/* Same, callable from any thread; the core applies it on the loop. */
void kk_stage_done_async(kk_stage_t *st);

/* Sink: the oldest unfinished batch failed for good: the destination
 * refuses its data (a constraint or type error) and would refuse it
 * again, also after the sink's own bounded retries.  The core moves the
 * journal records the batch came from (those after the previous batch of
 * this sink, from the sources that feed it) to the dead letters with
 * `reason`, counted in kk_dead_letters_total{stage,reason="sink"}, and
 * finishes the batch as kk_stage_done() does, so that the sink's cursor
 * passes it.  For a failure that may pass (connection down, disk full)
 * keep the batch and retry instead.  Loop thread only. */
void kk_stage_done_dead(kk_stage_t *st, const char *reason);

/* Source: there is no more data (end of file, count reached).  When every
 * source of the pipeline has said so, the core drains the sinks and the
 * process exits 0, as after SIGTERM. */
void kk_stage_eof(kk_stage_t *st);

/* Transform with state that outlives a batch (windows, daily counters)
 * and is saved to disk, or a sink with its own durable position (a
 * forwarding spool): the saved state includes every journal record up
 * to `seq`.  After a restart the journal is replayed from seq + 1 at the
 * latest, so the stage sees again what its state lacks; batches at or
 * below `seq` may reach it again during replay (kk_batch_seq tells) and
 * it must skip them; replayed batches never straddle `seq`.  Call it
 * when the state is restored (create/start) and after every save.  Journal
 * retention (kk.config retain_age) must be longer than the time between saves.
 */
void kk_stage_hold(kk_stage_t *st, uint64_t seq);

/* A stage cannot go on (a source's input vanished, a required resource
 * failed for good): logs `rc` with the last kk_stage_error() message,
 * then shuts the pipeline down as after SIGTERM, and the process exits 1. */
void kk_stage_fail(kk_stage_t *st, int rc);

/* True while the core wants sources paused. */
int kk_stage_paused(const kk_stage_t *st);

/* True while the engine replays journal records of an earlier run after
 * a start.  A decoder that warns about a value it leaves out warned
 * about it in that run already: log it at debug now (count it anyway,
 * the counters are the process's). */
int kk_stage_replaying(const kk_stage_t *st);

/* Sets the detail message for the current failure (create, decode...). */
void kk_stage_error(kk_stage_t *st, const char *fmt, ...) KK_PRINTF(2, 3);
const char *kk_stage_last_error(const kk_stage_t *st);

/* Logs with the `[ns:stage-name]` prefix. */
void kk_stage_log(kk_stage_t *st, kk_log_level_t level, const char *fmt, ...)
    KK_PRINTF(3, 4);

/* A counter labelled with this stage (and `reason` when not NULL):
 * `name{stage="..",reason=".."}`. */
kk_metric_t *kk_stage_counter(kk_stage_t *st, const char *name,
                              const char *reason, const char *help);

/* Transform (a decoder): the journal record `raw`, a raw message of a
 * batch this stage got (raw->seq set by the journal), cannot get through
 * this stage as it is: it does not decode, or its data is refused.  The
 * core copies it with `reason` (one line, e.g. "parse: invalid JSON at
 * column 7") to the journal's dead letters (journal/dead/, where `klimakit
 * journal dead|show|requeue` list it, show it and put it back after the
 * decoder is fixed), counts it in kk_dead_letters_total{stage,
 * reason="decode"} and logs it rate-limited.  The pipeline goes on: call
 * it, count the rejection as usual and carry on with the next message.
 * A record that is a dead letter already (the replay after a restart
 * offers it again) is not written again.  Call it for a message rejected
 * as a whole, not for a field or value left out of one.  The dead-letter
 * area is bounded (the oldest letters are dropped past 10 000 letters or
 * 64 MiB).  Returns 0, 1 when the record was a dead letter already,
 * KK_EINVAL for a raw message that was never journaled (nothing to
 * quarantine), KK_ECLOSED outside a running pipeline (klimakit/testing.h),
 * or a negative errno when the letter could not be written.  Loop thread
 * only. */
int kk_stage_dead_letter(kk_stage_t *st, const kk_raw_t *raw,
                         const char *reason);

/* Current wall-clock time in UTC milliseconds. */
int64_t kk_now_ms(void);

#endif
