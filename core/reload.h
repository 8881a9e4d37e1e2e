/*
 * core/reload.h - running a recipe with reload (SIGHUP, `klimakit
 * reload`) in the same process (internal; core/reload.c).
 */
#ifndef KK_CORE_RELOAD_H
#define KK_CORE_RELOAD_H

#include "engine.h"
#include "recipe.h"

/* Runs the checked recipe `r` (loaded from `path`) until it stops for
 * good, rebuilding the pipeline from the re-read recipe after each
 * successful reload; frees every recipe it ran except one whose engine
 * had to be given up on (see kk__engine_forced), which *forced reports
 * so that the caller exits without freeing.  Returns the exit code. */
int kk__reload_run(kk__recipe_t *r, const char *path, int *forced);

/* engine_run.c hooks: called once the engine's signal handlers are
 * installed (watches SIGHUP), and when it closes its handles. */
void kk__reload_attach(kk__engine_t *e);
void kk__reload_detach(void);

/* `klimakit reload [RECIPE] [--data-dir DIR] [--no-wait]`. */
int kk__cmd_reload(int argc, char **argv);

#endif
