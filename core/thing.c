/*
 * core/thing.c - the process's thing descriptions (klimakit/thing.h): one
 * record per thing id in an open-addressing table, each stamped with the
 * version of its last change, so that a store can ask for what changed
 * since its last write.  One mutex; any thread.
 */
#include <klimakit.h>
#include <klimakit/thing.h>

#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct kk_thing_rec {
  char *id, *label, *group, *group_label;
  double lat, lon;
  int public_;
  cJSON *props; /* object or NULL */
  uint64_t version;
} kk_thing_rec_t;

static pthread_mutex_t thing_lock = PTHREAD_MUTEX_INITIALIZER;
static kk_thing_rec_t **thing_recs; /* in order of first description */
static size_t thing_len, thing_cap;
static uint32_t *thing_index; /* 1 + position in thing_recs; 0 free */
static size_t thing_index_cap;
static uint64_t thing_version;
static kk_metric_t *thing_refused;

kk_thing_info_t kk_thing_info_none(void) {
  kk_thing_info_t i = {
      .lat = NAN, .lon = NAN, .public_ = KK_THING_PUBLIC_UNSET};
  return i;
}

static uint32_t thing_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static size_t thing_slot(const char *id) {
  size_t m = thing_index_cap - 1, i = thing_hash(id) & m;
  while (thing_index[i] && strcmp(thing_recs[thing_index[i] - 1]->id, id))
    i = (i + 1) & m;
  return i;
}

/* Room for one more record (lock held). */
static int thing_grow(void) {
  if (thing_len + 1 > thing_cap) {
    size_t ncap = thing_cap ? thing_cap * 2 : 64;
    kk_thing_rec_t **n = realloc(thing_recs, ncap * sizeof *n);
    if (!n) return KK_ENOMEM;
    thing_recs = n;
    thing_cap = ncap;
  }
  if (2 * (thing_len + 1) > thing_index_cap) {
    size_t ncap = thing_index_cap ? thing_index_cap * 2 : 128;
    uint32_t *n = calloc(ncap, sizeof *n);
    if (!n) return KK_ENOMEM;
    free(thing_index);
    thing_index = n;
    thing_index_cap = ncap;
    for (size_t k = 0; k < thing_len; k++)
      thing_index[thing_slot(thing_recs[k]->id)] = (uint32_t)(k + 1);
  }
  return 0;
}

static int thing_text_ok(const char *s) {
  return !s || strlen(s) < KK_THING_TEXT_MAX;
}

/* Replaces *dst by a copy of src when src is set and differs; 1 when it
 * changed, 0 when not, KK_ENOMEM. */
static int thing_set_text(char **dst, const char *src) {
  if (!src || (*dst && strcmp(*dst, src) == 0)) return 0;
  char *c = strdup(src);
  if (!c) return KK_ENOMEM;
  free(*dst);
  *dst = c;
  return 1;
}

/* Merges the members of `add` into rec->props; 1 when something changed. */
static int thing_merge_props(kk_thing_rec_t *rec, cJSON *add) {
  if (!add) return 0;
  if (!rec->props) {
    rec->props = add;
    return cJSON_GetArraySize(add) > 0;
  }
  int changed = 0;
  cJSON *m;
  while ((m = add->child) != NULL) {
    cJSON_DetachItemViaPointer(add, m);
    cJSON *old = cJSON_GetObjectItemCaseSensitive(rec->props, m->string);
    if (old && cJSON_Compare(old, m, 1)) {
      cJSON_Delete(m);
      continue;
    }
    changed = 1;
    if (old)
      cJSON_ReplaceItemViaPointer(rec->props, old, m);
    else
      cJSON_AddItemToObject(rec->props, m->string, m);
  }
  cJSON_Delete(add);
  return changed;
}

int kk_thing_describe(const char *id, const kk_thing_info_t *info) {
  if (!id || !*id || !info) return KK_EINVAL;
  if (!thing_text_ok(id) || !thing_text_ok(info->label) ||
      !thing_text_ok(info->group) || !thing_text_ok(info->group_label))
    return KK_ETOOBIG;
  int has_loc = !isnan(info->lat) && !isnan(info->lon);
  if (isnan(info->lat) != isnan(info->lon)) return KK_EINVAL;
  if (has_loc && (fabs(info->lat) > 90 || fabs(info->lon) > 180))
    return KK_ERANGE;
  cJSON *add = NULL;
  if (info->properties) {
    if (strlen(info->properties) >= KK_THING_PROPS_MAX) return KK_ETOOBIG;
    add = cJSON_Parse(info->properties);
    if (!cJSON_IsObject(add)) {
      cJSON_Delete(add);
      return KK_EINVAL;
    }
  }
  pthread_mutex_lock(&thing_lock);
  if (!thing_refused)
    thing_refused = kk_counter("kk_things_refused_total", NULL,
                               "Thing descriptions refused: more than "
                               "KK_THING_MAX things");
  int rc = 0, changed = 0;
  kk_thing_rec_t *rec = NULL;
  if (thing_index_cap) {
    size_t i = thing_slot(id);
    if (thing_index[i]) rec = thing_recs[thing_index[i] - 1];
  }
  if (!rec) {
    if (thing_len >= KK_THING_MAX) {
      kk_metric_add(thing_refused, 1);
      rc = KK_EFULL;
      goto out;
    }
    if ((rc = thing_grow()) != 0) goto out;
    rec = calloc(1, sizeof *rec);
    if (!rec || !(rec->id = strdup(id))) {
      free(rec);
      rc = KK_ENOMEM;
      goto out;
    }
    rec->lat = rec->lon = NAN;
    rec->public_ = KK_THING_PUBLIC_UNSET;
    thing_recs[thing_len++] = rec;
    thing_index[thing_slot(id)] = (uint32_t)thing_len;
  }
  int c1 = thing_set_text(&rec->label, info->label);
  int c2 = thing_set_text(&rec->group, info->group);
  int c3 = thing_set_text(&rec->group_label, info->group_label);
  if (c1 < 0 || c2 < 0 || c3 < 0) rc = KK_ENOMEM;
  changed = c1 > 0 || c2 > 0 || c3 > 0;
  if (has_loc && (rec->lat != info->lat || rec->lon != info->lon)) {
    rec->lat = info->lat;
    rec->lon = info->lon;
    changed = 1;
  }
  if (info->public_ != KK_THING_PUBLIC_UNSET && info->public_ != rec->public_) {
    rec->public_ = info->public_ ? KK_THING_PUBLIC : KK_THING_INTERNAL;
    changed = 1;
  }
  changed |= thing_merge_props(rec, add);
  add = NULL;
  if (changed || !rec->version) rec->version = ++thing_version;
out:
  pthread_mutex_unlock(&thing_lock);
  cJSON_Delete(add);
  return rc;
}

uint64_t kk_things_version(void) {
  pthread_mutex_lock(&thing_lock);
  uint64_t v = thing_version;
  pthread_mutex_unlock(&thing_lock);
  return v;
}

/* The store form of one record (lock held); NULL when out of memory. */
static cJSON *thing_rec_json(const kk_thing_rec_t *r) {
  cJSON *o = cJSON_CreateObject(), *p = NULL;
  if (!o) return NULL;
  if (!isnan(r->lat)) {
    double c[2] = {r->lon, r->lat};
    cJSON *loc = cJSON_CreateDoubleArray(c, 2);
    if (!loc || !cJSON_AddItemToObject(o, "location", loc)) goto oom;
  }
  p = r->props ? cJSON_Duplicate(r->props, 1) : cJSON_CreateObject();
  if (!p) goto oom;
  struct {
    const char *key, *val;
  } t[] = {{"label", r->label},
           {"group", r->group},
           {"group_label", r->group_label}};
  for (size_t k = 0; k < 3; k++) {
    if (!t[k].val) continue;
    cJSON_DeleteItemFromObjectCaseSensitive(p, t[k].key);
    if (!cJSON_AddStringToObject(p, t[k].key, t[k].val)) goto oom;
  }
  if (r->public_ != KK_THING_PUBLIC_UNSET) {
    cJSON_DeleteItemFromObjectCaseSensitive(p, "public");
    if (!cJSON_AddBoolToObject(p, "public", r->public_)) goto oom;
  }
  if (!cJSON_AddItemToObject(o, "properties", p)) goto oom;
  return o;
oom:
  cJSON_Delete(p);
  cJSON_Delete(o);
  return NULL;
}

char *kk_things_json(uint64_t since, uint64_t *version) {
  pthread_mutex_lock(&thing_lock);
  uint64_t now = thing_version;
  char *text = NULL;
  cJSON *root = NULL;
  if (now <= since) goto done;
  root = cJSON_CreateObject();
  for (size_t i = 0; root && i < thing_len; i++) {
    const kk_thing_rec_t *r = thing_recs[i];
    if (r->version <= since) continue;
    cJSON *o = thing_rec_json(r);
    if (!o || !cJSON_AddItemToObject(root, r->id, o)) {
      cJSON_Delete(o);
      cJSON_Delete(root);
      root = NULL;
    }
  }
  text = root ? cJSON_PrintUnformatted(root) : NULL;
  if (!text) now = since;
done:
  pthread_mutex_unlock(&thing_lock);
  cJSON_Delete(root);
  if (version) *version = now;
  return text;
}
