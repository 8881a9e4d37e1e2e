/*
 * modules/publish/http/http_things.c - things in their places: the
 * recipe's things table (`things` as a Lua table, `things_file` as CSV),
 * handed to the core as descriptions (klimakit/thing.h) so that the store
 * keeps them too; the thing table the pages read (the store's things
 * merged with this process's descriptions); the grouping of datastreams
 * by the group of their thing (school -> rooms, district -> stations);
 * and the open alert episodes of calc.alert.  Runs on the loop thread.
 */
#include "publish/http/http_model.h"

#include <klimakit/thing.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the recipe's things table ----------------------------------------- */

/* Members of a things entry that are not further properties. */
static int http_thing_key_known(const char *k) {
  static const char *const known[] = {
      "id",          "thing", "label", "name",     "group",
      "group_label", "lat",   "lon",   "location", "public"};
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (strcmp(k, known[i]) == 0) return 1;
  return 0;
}

/* A number from a JSON number or numeric string; 0 when it is one. */
static int http_json_num(const cJSON *v, double *out) {
  if (cJSON_IsNumber(v)) {
    *out = v->valuedouble;
    return 0;
  }
  if (cJSON_IsString(v) && *v->valuestring) {
    char *end;
    /* CSV cells may use a decimal comma. */
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", v->valuestring);
    for (char *c = tmp; *c; c++)
      if (*c == ',') *c = '.';
    *out = strtod(tmp, &end);
    return *end ? -1 : 0;
  }
  return -1;
}

static const char *http_json_text(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

/* Describes one entry { label =, group =, group_label =, lat =, lon = (or
 * location = {lon, lat}), public =, further = ... }. */
static int http_thing_entry(http_state_t *s, const char *id, const cJSON *e) {
  kk_thing_info_t info = kk_thing_info_none();
  info.label = http_json_text(e, "label");
  if (!info.label) info.label = http_json_text(e, "name");
  info.group = http_json_text(e, "group");
  info.group_label = http_json_text(e, "group_label");
  const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "location");
  const cJSON *lat = cJSON_GetObjectItemCaseSensitive(e, "lat");
  const cJSON *lon = cJSON_GetObjectItemCaseSensitive(e, "lon");
  if (cJSON_IsArray(loc) && cJSON_GetArraySize(loc) == 2) {
    lon = cJSON_GetArrayItem(loc, 0);
    lat = cJSON_GetArrayItem(loc, 1);
  }
  if ((lat && !(cJSON_IsString(lat) && !*lat->valuestring)) ||
      (lon && !(cJSON_IsString(lon) && !*lon->valuestring))) {
    if (http_json_num(lat, &info.lat) || http_json_num(lon, &info.lon)) {
      kk_stage_error(s->st, "things.%s: lat and lon must be numbers", id);
      return KK_EINVAL;
    }
  }
  const cJSON *pub = cJSON_GetObjectItemCaseSensitive(e, "public");
  if (cJSON_IsBool(pub))
    info.public_ = cJSON_IsTrue(pub) ? KK_THING_PUBLIC : KK_THING_INTERNAL;
  else if (cJSON_IsString(pub) && *pub->valuestring) {
    const char *p = pub->valuestring;
    int yes = !strcmp(p, "ja") || !strcmp(p, "yes") || !strcmp(p, "true") ||
              !strcmp(p, "1");
    int no = !strcmp(p, "nein") || !strcmp(p, "no") || !strcmp(p, "false") ||
             !strcmp(p, "0");
    if (!yes && !no) {
      kk_stage_error(s->st, "things.%s: public is ja/nein (yes/no)", id);
      return KK_EINVAL;
    }
    info.public_ = yes ? KK_THING_PUBLIC : KK_THING_INTERNAL;
  }
  cJSON *extra = cJSON_CreateObject();
  const cJSON *m;
  cJSON_ArrayForEach(m, e) {
    if (!m->string || http_thing_key_known(m->string)) continue;
    if (cJSON_IsString(m) && !*m->valuestring) continue;
    cJSON_AddItemToObject(extra, m->string, cJSON_Duplicate(m, 1));
  }
  char *text = extra && extra->child ? cJSON_PrintUnformatted(extra) : NULL;
  cJSON_Delete(extra);
  info.properties = text;
  int rc = kk_thing_describe(id, &info);
  free(text);
  if (rc) kk_stage_error(s->st, "things.%s: %s", id, kk_strerror(rc));
  return rc;
}

/* One CSV line split at `sep` (quotes "..." with "" inside) into cells
 * (pointers into line, which is modified); returns their number. */
static size_t http_csv_split(char *line, char sep, char **cell, size_t cap) {
  size_t n = 0;
  char *p = line;
  while (n < cap) {
    char *out = p, *start = p;
    if (*p == '"') {
      p++;
      for (;;) {
        if (!*p) break;
        if (*p == '"' && p[1] == '"') {
          *out++ = '"';
          p += 2;
        } else if (*p == '"') {
          p++;
          break;
        } else {
          *out++ = *p++;
        }
      }
      while (*p && *p != sep)
        p++;
    } else {
      while (*p && *p != sep)
        out++, p++;
    }
    int more = *p == sep;
    *out = 0;
    cell[n++] = start;
    if (!more) break;
    p++;
  }
  return n;
}

/* The CSV things table: a header line (id or thing, label, group,
 * group_label, lat, lon, public, further columns as properties), ';' or
 * ',' between cells, UTF-8. */
static int http_things_csv(http_state_t *s, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    kk_stage_error(s->st, "things_file %s: cannot be opened", path);
    return KK_EINVAL;
  }
  char line[4096], hline[4096];
  char *head[64], *cell[64];
  size_t nh = 0, lineno = 0;
  int rc = 0;
  char sep = ';';
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = 0;
    char *l = line;
    if (lineno == 1 && (unsigned char)l[0] == 0xef) l += 3; /* BOM */
    if (!*l || *l == '#') continue;
    if (!nh) {
      sep = strchr(l, ';') ? ';' : ',';
      snprintf(hline, sizeof hline, "%s", l);
      nh = http_csv_split(hline, sep, head, 64);
      if (strcmp(head[0], "id") != 0 && strcmp(head[0], "thing") != 0) {
        kk_stage_error(s->st, "things_file %s:1: the first column is id", path);
        rc = KK_EINVAL;
      }
      continue;
    }
    size_t nc = http_csv_split(l, sep, cell, 64);
    if (!*cell[0]) continue;
    cJSON *e = cJSON_CreateObject();
    for (size_t k = 1; e && k < nc && k < nh; k++)
      cJSON_AddStringToObject(e, head[k], cell[k]);
    if (!e) {
      rc = KK_ENOMEM;
      break;
    }
    rc = http_thing_entry(s, cell[0], e);
    if (rc)
      kk_stage_log(s->st, KK_LOG_ERROR, "things_file %s:%zu", path, lineno);
    cJSON_Delete(e);
  }
  fclose(f);
  return rc ? KK_EINVAL : 0;
}

int http_things_init(http_state_t *s, const char *json, const char *csv_path) {
  if (csv_path && http_things_csv(s, csv_path) != 0) return KK_EINVAL;
  if (!json) return 0;
  cJSON *root = cJSON_Parse(json);
  int rc = 0;
  if (!cJSON_IsObject(root)) {
    kk_stage_error(s->st, "things: a table { [\"raum-101\"] = { label = ..., "
                          "group = ..., lat = ..., lon = ... }, ... }");
    rc = KK_EINVAL;
  }
  for (const cJSON *e = root ? root->child : NULL; !rc && e; e = e->next) {
    if (!cJSON_IsObject(e)) {
      kk_stage_error(s->st, "things.%s: a table", e->string);
      rc = KK_EINVAL;
    } else if (http_thing_entry(s, e->string, e) != 0) {
      rc = KK_EINVAL;
    }
  }
  cJSON_Delete(root);
  return rc;
}

/* ---- the thing table --------------------------------------------------- */

void http_things_free(http_things_t *t) {
  for (size_t i = 0; i < t->len; i++) {
    free(t->items[i].id);
    free(t->items[i].label);
    free(t->items[i].group);
    free(t->items[i].group_label);
  }
  free(t->items);
  memset(t, 0, sizeof *t);
}

/* Location of a store thing (GeoJSON Point) or a description ([lon,
 * lat]). */
static void http_loc(const cJSON *loc, double *lat, double *lon) {
  const cJSON *c = cJSON_IsArray(loc)
                       ? loc
                       : cJSON_GetObjectItemCaseSensitive(loc, "coordinates");
  const char *type = http_json_text(loc, "type");
  if (type && strcmp(type, "Point") != 0) c = NULL;
  if (cJSON_IsArray(c) && cJSON_GetArraySize(c) >= 2 &&
      cJSON_IsNumber(cJSON_GetArrayItem(c, 0)) &&
      cJSON_IsNumber(cJSON_GetArrayItem(c, 1))) {
    *lon = cJSON_GetArrayItem(c, 0)->valuedouble;
    *lat = cJSON_GetArrayItem(c, 1)->valuedouble;
  }
}

static char *http_dup(const char *s) {
  return s ? strdup(s) : NULL;
}

/* Fills t from a thing's properties object (merging over what t has). */
static void http_thing_props(http_thing_t *t, const cJSON *p) {
  static const char *const group_keys[] = {"group", "school", "building",
                                           "district"};
  const char *label = http_json_text(p, "label");
  if (!label) label = http_json_text(p, "name");
  if (label) free(t->label), t->label = http_dup(label);
  for (size_t k = 0; k < 4; k++) {
    const char *g = http_json_text(p, group_keys[k]);
    if (!g) continue;
    free(t->group);
    t->group = http_dup(g);
    break;
  }
  const char *gl = http_json_text(p, "group_label");
  if (gl) free(t->group_label), t->group_label = http_dup(gl);
  const cJSON *pub = cJSON_GetObjectItemCaseSensitive(p, "public");
  if (cJSON_IsBool(pub))
    t->public_ = cJSON_IsTrue(pub) ? KK_THING_PUBLIC : KK_THING_INTERNAL;
}

static int http_thing_cmp(const void *a, const void *b) {
  return strcmp(((const http_thing_t *)a)->id, ((const http_thing_t *)b)->id);
}

/* Adds or finds id in the growing array (linear merge happens after
 * sorting: duplicates are folded in http_things_fold). */
static http_thing_t *http_things_push(http_thing_t **items, size_t *len,
                                      size_t *cap, const char *id) {
  if (*len == *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    http_thing_t *n = realloc(*items, ncap * sizeof *n);
    if (!n) return NULL;
    *items = n;
    *cap = ncap;
  }
  http_thing_t *t = &(*items)[(*len)++];
  memset(t, 0, sizeof *t);
  t->id = strdup(id);
  t->lat = t->lon = NAN;
  t->public_ = KK_THING_PUBLIC_UNSET;
  return t;
}

const http_things_t *http_things(http_state_t *s) {
  int64_t now = kk_now_ms();
  uint64_t v = kk_things_version();
  if (s->things.at && now - s->things.at < HTTP_PAGE_CACHE_MS &&
      s->things.version == v)
    return &s->things;
  http_things_free(&s->things);
  http_thing_t *items = NULL;
  size_t len = 0, cap = 0;
  kk_store_t *st = http_store(s, NULL);
  kk_store_thing_list_t *l = NULL;
  if (st && kk_store_things(st, NULL, &l) == 0) {
    for (size_t i = 0; i < l->len; i++) {
      const kk_store_thing_t *x = &l->items[i];
      if (!x->location && !x->properties) continue;
      http_thing_t *t = http_things_push(&items, &len, &cap, x->name);
      if (!t || !t->id) break;
      cJSON *p = x->properties ? cJSON_Parse(x->properties) : NULL;
      cJSON *loc = x->location ? cJSON_Parse(x->location) : NULL;
      if (cJSON_IsObject(p)) http_thing_props(t, p);
      if (loc) http_loc(loc, &t->lat, &t->lon);
      cJSON_Delete(p);
      cJSON_Delete(loc);
    }
  }
  kk_store_thing_list_free(l);
  /* This process's descriptions, newer than what the store holds. */
  uint64_t ver;
  char *json = kk_things_json(0, &ver);
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  free(json);
  size_t nstore = len;
  if (nstore) qsort(items, nstore, sizeof *items, http_thing_cmp);
  for (const cJSON *e = root ? root->child : NULL; e; e = e->next) {
    http_thing_t key = {.id = e->string}, *t = NULL;
    if (nstore) t = bsearch(&key, items, nstore, sizeof *items, http_thing_cmp);
    if (!t && !(t = http_things_push(&items, &len, &cap, e->string))) break;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "properties");
    if (cJSON_IsObject(p)) http_thing_props(t, p);
    http_loc(cJSON_GetObjectItemCaseSensitive(e, "location"), &t->lat, &t->lon);
  }
  cJSON_Delete(root);
  if (len) qsort(items, len, sizeof *items, http_thing_cmp);
  for (size_t i = 0; i < len; i++)
    if (items[i].group && !items[i].group_label)
      items[i].group_label = strdup(items[i].group);
  s->things.items = items;
  s->things.len = len;
  s->things.version = v;
  s->things.at = now;
  return &s->things;
}

const http_thing_t *http_thing_find(const http_things_t *t, const char *id) {
  if (!t->len || !id) return NULL;
  http_thing_t key = {.id = (char *)id};
  return bsearch(&key, t->items, t->len, sizeof *t->items, http_thing_cmp);
}

const char *http_thing_label(http_state_t *s, const char *id) {
  const http_thing_t *t = http_thing_find(&s->things, id);
  return t && t->label ? t->label : id;
}

/* ---- alerts ------------------------------------------------------------ */

int http_is_alert(const char *property) {
  return strncmp(property, "alert_", 6) == 0;
}

int http_is_derived(const char *property) {
  size_t n = strlen(property);
  if (n > 9 && strcmp(property + n - 9, "_coverage") == 0) return 1;
  return http_is_alert(property) || strcmp(property, "co2_class") == 0 ||
         strcmp(property, "co2_alert") == 0 ||
         strcmp(property, "minutes_occupied") == 0;
}

void http_alerts_section(http_state_t *s, kk_buf_t *b, const http_items_t *it,
                         const char *thing) {
  size_t n = 0;
  for (size_t i = 0; i < it->len; i++) {
    const http_item_t *x = &it->items[i];
    if (!http_is_alert(x->property) || x->last_time == INT64_MIN ||
        x->last_value != 1 || (thing && strcmp(x->thing, thing) != 0))
      continue;
    if (!n++) {
      kk_buf_puts(b, "<section class=\"alerts\" aria-labelledby=\"alerts\">"
                     "<h2 id=\"alerts\">");
      kk_buf_html(b, http_t(&s->reg, HTTP_M_alerts_title));
      kk_buf_puts(b, "</h2><table class=\"stack\"><thead><tr>");
      static const http_msg_t cols[] = {HTTP_M_col_thing, HTTP_M_col_rule,
                                        HTTP_M_col_alert_since};
      for (size_t k = 0; k < 3; k++) {
        kk_buf_puts(b, "<th scope=\"col\">");
        kk_buf_html(b, http_t(&s->reg, cols[k]));
        kk_buf_puts(b, "</th>");
      }
      kk_buf_puts(b, "</tr></thead><tbody>");
    }
    char rule[128], when[48];
    snprintf(rule, sizeof rule, "%s", x->property + 6);
    for (char *c = rule; *c; c++)
      if (*c == '_') *c = ' ';
    char pbuf[128];
    const char *name = http_prop_name(&s->reg, x->property, pbuf, sizeof pbuf);
    if (strcmp(name, pbuf) != 0 || strncmp(pbuf, "alert ", 6) != 0)
      snprintf(rule, sizeof rule, "%s", name);
    http_date(&s->reg, s->tz, x->last_time, HTTP_M_fmt_datetime, when,
              sizeof when);
    kk_buf_puts(b, "<tr class=\"c3\"><th scope=\"row\" data-label=\"");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_col_thing));
    kk_buf_puts(b, "\"><a href=\"/things/");
    kk_buf_url(b, x->thing);
    kk_buf_puts(b, "\">");
    kk_buf_html(b, http_thing_label(s, x->thing));
    kk_buf_puts(b, "</a></th><td data-label=\"");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_col_rule));
    kk_buf_puts(b, "\">");
    kk_buf_html(b, rule);
    kk_buf_puts(b, "</td><td data-label=\"");
    kk_buf_html(b, http_t(&s->reg, HTTP_M_col_alert_since));
    kk_buf_puts(b, "\">");
    kk_buf_html(b, when);
    kk_buf_puts(b, "</td></tr>");
  }
  if (n) kk_buf_puts(b, "</tbody></table></section>");
}
