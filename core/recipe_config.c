/* core/recipe_config.c - the engine settings a recipe may change with
 * kk.config{}: their options, documented like a module's (klimakit
 * modules config).  core/recipe.c reads them; core/doc.c lists them. */
#include "recipe.h"

#include <stddef.h>

#include "engine_impl.h"

/* Engine settings a recipe may change with kk.config{}. */
static const kk_option_t config_options[] = {
    {"data_dir", KK_OPT_STRING, 0, NULL,
     "Directory for the journal, cursors and stage files (relative to the "
     "working directory).  Unset: `--data-dir`, else $STATE_DIRECTORY (set "
     "by systemd's StateDirectory=, /var/lib/klimakit for the packaged "
     "service), else the folder `var` beside the recipe; never the working "
     "directory.",
     NULL, 0, 0},
    {"fsync", KK_OPT_ENUM, 0, "never",
     "When the journal syncs to disk: never (write() before ack survives a "
     "process crash), interval, or always (survives power loss, slower).",
     "never|interval|always", 0, 0},
    {"fsync_interval", KK_OPT_DURATION, 0, "1s",
     "Sync period for fsync = \"interval\".", NULL, 0, 0},
    {"segment_size", KK_OPT_SIZE, 0, "64MiB",
     "Journal segment file size before rolling to a new one.", NULL, 0, 0},
    {"retain_size", KK_OPT_SIZE, 0, "1GiB",
     "Keep journal segments every sink has passed up to this size (for "
     "replay with a fixed decoder).",
     NULL, 0, 0},
    {"retain_age", KK_OPT_DURATION, 0, "1d", "... and for at most this long.",
     NULL, 0, 0},
    {"shutdown_timeout", KK_OPT_DURATION, 0, "10s",
     "Longest time a shutdown may take to drain before the process exits "
     "anyway (undrained data stays in the journal).",
     NULL, 0, 0},
    {"exit_when_done", KK_OPT_BOOL, 0, "true",
     "Exit once every source has finished (file replay, simulate with "
     "count).",
     NULL, 0, 0},
    {"lua_budget", KK_OPT_INT, 0, "50000000",
     "Lua instructions one stage call may use before it is stopped.", NULL,
     1000, 1e12},
    {"lua_deadline", KK_OPT_DURATION, 0, "50ms",
     "CPU time (of the loop thread) one Lua stage call may take before it is "
     "stopped.",
     NULL, 0, 0},
    {"lua_memory", KK_OPT_SIZE, 0, "64MiB",
     "Memory cap of each Lua state (the recipe's and each Lua module's).", NULL,
     0, 0},
    {"tz", KK_OPT_STRING, 0, "Europe/Berlin",
     "The recipe's time zone: kk.date() writes local times in it (UTC, "
     "Europe/Berlin, CET and the other UTC+1 EU zones).",
     NULL, 0, 0},
    {"max_datastreams", KK_OPT_INT, 0, "131072",
     "Most datastreams (thing, property, unit) that input from all sources "
     "together may create in the life of the process; a reading on a "
     "refused one fails to decode and becomes a dead letter (counted in "
     "kk_datastreams_refused_total).  Bounds the memory a sender inventing "
     "names can take (docs/guide/reliability.md).",
     NULL, 1, 4294967295.0},
    {"max_datastreams_per_source", KK_OPT_INT, 0, "65536",
     "Most datastreams the input of one source may create (below "
     "max_datastreams), so that one open source cannot use up the total.",
     NULL, 1, 4294967295.0},
    {"modules_path", KK_OPT_STRING, 0, NULL,
     "C modules to load before the pipeline is built: shared objects or "
     "folders of them (every *.so), separated by `:`, relative to the "
     "recipe's folder.  Loaded when kk.config{} runs, so put it first; "
     "KLIMAKIT_MODULES_PATH and the installed module folder are loaded "
     "at start (docs/guide/install.md).",
     NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}};

static const kk_module_t config_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "config",
    .ns = "kk",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Engine settings (kk.config{...})",
    .options = config_options,
};

const kk_module_t *kk__config_module(void) {
  return &config_module;
}

void kk__config_apply_limits(const kk_opts_t *o) {
  kk__engine_datastream_limits(
      (uint32_t)kk_opt_int(o, "max_datastreams"),
      (uint32_t)kk_opt_int(o, "max_datastreams_per_source"));
}
