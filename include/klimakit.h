/*
 * klimakit.h - umbrella header of the klimakit module API.
 *
 * klimakit is a smart-climate toolkit: a libuv core that runs pipelines of
 * modules (sources, transforms, sinks) built by Lua recipes.  Include this
 * header to write a module; the per-concern headers under klimakit/ are the
 * API reference.
 */
#ifndef KLIMAKIT_H
#define KLIMAKIT_H

#define KK_VERSION_MAJOR 0
#define KK_VERSION_MINOR 1
#define KK_VERSION_PATCH 0
#define KK_VERSION_STRING "0.1.0"

#include "klimakit/error.h"
#include "klimakit/log.h"
#include "klimakit/metrics.h"
#include "klimakit/module.h"
#include "klimakit/option.h"
#include "klimakit/reading.h"
#include "klimakit/store.h"
#include "klimakit/text.h"
#include "klimakit/thing.h"
#include "klimakit/time.h"

#endif
