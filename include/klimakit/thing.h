/*
 * klimakit/thing.h - what a thing is, besides its readings: a display
 * name, a place, a group, and whether the public may see it.
 *
 * Readings name their thing by an id ("uba-DESN025", "raum-101").  A
 * source or decoder that knows more about a thing (decode.uba reads the
 * stations' names and coordinates from stations/json; a Lua source may
 * read a city's site list; publish.http takes a recipe's things table)
 * hands it over with kk_thing_describe().  The core keeps one record per
 * thing for the whole process; the stores (store.sqlite, store.postgres)
 * write the records that changed into their things and locations tables
 * with their next transaction (so they survive a restart and reach every
 * reader of the store: the dashboard, SensorThings, exports), and
 * publish.http shows them (names, groups, the map).
 *
 * Data model.  A record is stored as the store's `things` option stores
 * one: the location as a GeoJSON Point [lon, lat] (WGS 84) in
 * `locations`, the rest as members of the thing's JSON `properties`:
 *
 *   "label"        display name                      "Leipzig-Mitte"
 *   "group"        id of the group the thing is in  "gs-nord", "leipzig"
 *   "group_label"  display name of that group        "Grundschule Nord"
 *   "public"       true / false (absent: the view's default)
 *   further members from kk_thing_info_t.properties (a JSON object text),
 *   e.g. {"district": "Mitte", "sector": "municipal", "type": "traffic"}
 *
 * Updates merge: a member left unset (NULL, NAN, KK_THING_PUBLIC_UNSET)
 * keeps what an earlier call or the store already holds, so a decoder
 * that only knows the coordinates does not erase a label the recipe gave.
 * The same holds in the stores (properties are merged member by member).
 *
 * Bounds: at most KK_THING_MAX records (further things are refused with
 * KK_EFULL and counted in kk_things_refused_total); ids and texts are
 * limited to KK_THING_TEXT_MAX bytes, the properties text to
 * KK_THING_PROPS_MAX bytes (KK_ETOOBIG).  Coordinates outside -90..90 /
 * -180..180 are KK_ERANGE.
 *
 * Threading: every function may be called from any thread (one mutex);
 * calls are cheap (a hash lookup and a copy) and meant for metadata,
 * not for every reading: a decoder calls it when it sees a station list,
 * not per measurement.  An unchanged description costs no store write.
 */
#ifndef KLIMAKIT_THING_H
#define KLIMAKIT_THING_H

#include <stddef.h>
#include <stdint.h>

#define KK_THING_MAX 100000
#define KK_THING_TEXT_MAX 256
#define KK_THING_PROPS_MAX 4096

enum {
  KK_THING_PUBLIC_UNSET = -1, /* keep what is known; default: the view's */
  KK_THING_INTERNAL = 0,      /* never in a public view */
  KK_THING_PUBLIC = 1         /* may be shown in a public view */
};

typedef struct kk_thing_info {
  const char *label;       /* display name; NULL: keep */
  const char *group;       /* group id; NULL: keep */
  const char *group_label; /* display name of the group; NULL: keep */
  double lat, lon;         /* WGS 84 degrees; NAN (both): keep */
  int public_;             /* KK_THING_* */
  const char *properties;  /* JSON object text merged in; NULL: none */
} kk_thing_info_t;

/* An info with every member unset (NULLs, NANs, KK_THING_PUBLIC_UNSET). */
kk_thing_info_t kk_thing_info_none(void);

/* Describes thing `id` (the thing of its readings), merging `info` into
 * what is known.  Returns 0, KK_EINVAL (empty id, properties not a JSON
 * object), KK_ERANGE, KK_ETOOBIG, KK_EFULL or KK_ENOMEM. */
int kk_thing_describe(const char *id, const kk_thing_info_t *info);

/* The records changed after version `since` (0: all) as one JSON object
 * in the form of the stores' `things` option:
 *   {"<id>": {"location": [lon, lat], "properties": {"label": ..}}, ..}
 * (location only when known).  *version gets the version the answer is
 * complete up to: pass it as `since` next time.  Returns the text
 * (caller free()s it), or NULL with *version set when nothing changed (or
 * out of memory: then *version is `since`, so the caller asks again). */
char *kk_things_json(uint64_t since, uint64_t *version);

/* The current version: it grows with every change. */
uint64_t kk_things_version(void);

#endif
