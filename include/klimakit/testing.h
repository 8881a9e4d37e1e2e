/*
 * klimakit/testing.h - one module's stage without a recipe, for tests and
 * tools.
 *
 * A unit test of a module (or a tool that replays data through one)
 * creates a stage of any registered module with options written as a Lua
 * table, feeds it batches of readings or raw messages, and reads what the
 * stage emitted: everything it sends on lands in a capture sink.  There is
 * no journal and no recipe; the stage runs on its own uv loop, which runs
 * only when the caller runs it (kk_testing_loop) and in kk_testing_stop().
 *
 * Not for pipelines: a recipe run goes through `klimakit run`.  Everything
 * here is loop-thread only, like the stage services of module.h.
 */
#ifndef KLIMAKIT_TESTING_H
#define KLIMAKIT_TESTING_H

#include <stddef.h>

#include "module.h"

typedef struct kk_testing kk_testing_t;

/* The registered module `ns`.`name` ("calc", "window"), built-ins
 * included; NULL when there is none.  The descriptor is static. */
const kk_module_t *kk_testing_module(const char *ns, const char *name);

/* Creates a stage of `m` with the options `lua_table` (a Lua table
 * constructor: "{ periods = { 'hour' }, emit = 'close' }"; NULL or "" for
 * none), validated as a recipe's would be, and calls the module's create.
 * `data_dir` (may be NULL: the stage has no data directory) is the node's
 * data directory; the stage's own is <data_dir>/stages/<stage name>.
 * Returns 0 and *out (free it with kk_testing_free), or a negative code
 * with the reason in `err`: the options' message, or the module's
 * kk_stage_error() text when create failed (*out is then NULL). */
int kk_testing_new(const kk_module_t *m, const char *lua_table,
                   const char *data_dir, kk_testing_t **out, char *err,
                   size_t errlen);

/* The stage, for the stage services (kk_stage_counter, kk_stage_last_error
 * ...), and its loop.  Both live as long as `t`. */
kk_stage_t *kk_testing_stage(kk_testing_t *t);
uv_loop_t *kk_testing_loop(kk_testing_t *t);

/* The module's instance state as create made it, for tests of a module's
 * own family layer that know its layout.  Borrowed. */
void *kk_testing_state(kk_testing_t *t);

/* Calls the module's start (when it has one).  Returns its result. */
int kk_testing_start(kk_testing_t *t);

/* Hands the batch (borrowed) to a transform's or sink's process().  For a
 * journaling source, decodes each raw message of `b` with the module's
 * decode (status[i] gets each result when `status` is not NULL; the reason
 * of a failed one is counted and logged as in a run) and emits the
 * readings, as kk_stage_ingest does minus the journal.  Returns process's
 * result, or 0 for decoding. */
int kk_testing_feed(kk_testing_t *t, kk_batch_t *b, int *status);

/* What the stage emitted since it was created or last cleared, in order;
 * the array is valid until the next feed, clear or free. */
size_t kk_testing_count(const kk_testing_t *t);
const kk_reading_t *kk_testing_readings(const kk_testing_t *t);
/* Raw messages emitted (a source that emits raw batches): their count and
 * the payload of message i (copies owned by `t`). */
size_t kk_testing_raw_count(const kk_testing_t *t);
const kk_raw_t *kk_testing_raw(const kk_testing_t *t, size_t i);
void kk_testing_clear(kk_testing_t *t);

/* Stops the stage (the module's stop when it was started, which may emit
 * into the capture: windows flushed at stop), runs the loop until the stop
 * callback came, and destroys the state.  Idempotent. */
void kk_testing_stop(kk_testing_t *t);

/* Stops (if not yet), then closes the loop and frees everything.  Returns
 * the number of handles that were still open on the loop after the stop
 * (0 when the module closed everything, as it must); their type names go
 * to `err` ("timer, tcp") when it is not NULL.  Those handles are closed
 * here, so the memory is freed either way.  NULL is a no-op. */
int kk_testing_free(kk_testing_t *t, char *err, size_t errlen);

#endif
