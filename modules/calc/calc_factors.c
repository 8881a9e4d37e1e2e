/*
 * modules/calc/calc_factors.c - lookup, overrides, listing and the Lua surface
 * of the emission factor registry.
 */
#include "calc/calc_factors.h"

#include <cJSON.h>
#include <klimakit.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
  const char *alias, *id;
} set_alias[] = {{"bisko", "bisko"},
                 {"bisko-2024", "bisko"},
                 {"geg", "geg"},
                 {"geg-anlage9", "geg"},
                 {"kea_bw", "kea_bw"},
                 {"kea-bw", "kea_bw"},
                 {"gemis", "kea_bw"},
                 {"bafa", "bafa"},
                 {"bafa_2024", "bafa_2024"},
                 {"bafa-2024", "bafa_2024"},
                 {"uba_mix", "uba_mix"},
                 {"uba", "uba_mix"},
                 {"local", "local"},
                 {"traffic_de", "traffic_de"},
                 {"desnz_2024", "desnz_2024"},
                 {"desnz", "desnz_2024"},
                 {NULL, NULL}};

const char *calc_set_id(const char *name) {
  if (!name || !*name) return "bisko";
  for (size_t i = 0; set_alias[i].alias; i++)
    if (strcasecmp(name, set_alias[i].alias) == 0) return set_alias[i].id;
  for (size_t i = 0; i < calc_nfactors; i++)
    if (strcmp(calc_factors[i].edition, name) == 0)
      return calc_factors[i].edition;
  return NULL;
}

static int row_in_set(const calc_factor_t *f, const char *set) {
  return strcmp(f->set, set) == 0 || strcmp(f->edition, set) == 0;
}

/* Best row among `rows` for the year: covering it, highest rank; with
 * `latest`, else the newest one ending before it. */
static const calc_factor_t *pick(const calc_factor_t *rows, size_t n,
                                 const char *set, const char *key, int year,
                                 int latest, int *known, int *newest) {
  const calc_factor_t *best = NULL, *before = NULL;
  for (size_t i = 0; i < n; i++) {
    const calc_factor_t *f = &rows[i];
    if ((set && !row_in_set(f, set)) || strcmp(f->key, key) != 0) continue;
    *known = 1;
    if (f->year_to > *newest) *newest = f->year_to;
    if (year >= f->year_from && year <= f->year_to) {
      if (!best || f->rank > best->rank) best = f;
    } else if (f->year_to < year) {
      if (!before || f->year_to > before->year_to ||
          (f->year_to == before->year_to && f->rank > before->rank))
        before = f;
    }
  }
  return best ? best : latest ? before : NULL;
}

int calc_factor_find(const calc_overrides_t *ov, const char *set,
                     const char *key, int year, int latest,
                     const calc_factor_t **out, char *err, size_t errlen) {
  int known = 0, newest = -1;
  *out = NULL;
  if (!key || !*key) {
    snprintf(err, errlen, "no carrier given");
    return KK_EUNKNOWN;
  }
  if (ov && ov->n) {
    *out = pick(ov->f, ov->n, NULL, key, year, latest, &known, &newest);
    if (*out) return 0;
  }
  const char *sid = calc_set_id(set);
  if (!sid) {
    snprintf(err, errlen,
             "unknown factor set '%s' (known: bisko, geg, uba_mix, kea_bw, "
             "bafa, bafa_2024, a UBA edition; traffic: traffic_de, "
             "desnz_2024)",
             set);
    return KK_EUNKNOWN;
  }
  *out = pick(calc_factors, calc_nfactors, sid, key, year, latest, &known,
              &newest);
  if (*out) return 0;
  if (!known) {
    snprintf(err, errlen,
             "unknown carrier '%s' in factor set '%s' (see `klimakit "
             "factors`, or add it with the `factors` option)",
             key, sid);
    return KK_EUNKNOWN;
  }
  snprintf(err, errlen,
           "no factor for '%s' in %d in set '%s' (newest: %d; set `year` or "
           "`fallback = \"latest\"`, or add a local factor)",
           key, year, sid, newest);
  return KK_ERANGE;
}

/* ---- overrides ------------------------------------------------------ */

static const char *dupstr(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jnum(const cJSON *o, const char *k, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(v)) return 0;
  *out = v->valuedouble;
  return 1;
}

void calc_overrides_free(calc_overrides_t *ov) {
  if (!ov) return;
  for (size_t i = 0; i < ov->n; i++) {
    calc_factor_t *f = &ov->f[i];
    free((char *)f->key);
    free((char *)f->carrier);
    free((char *)f->unit);
    free((char *)f->validity);
    free((char *)f->basis);
    free((char *)f->source);
    free((char *)f->confidence);
  }
  free(ov->f);
  ov->f = NULL;
  ov->n = 0;
}

int calc_overrides_parse(const char *json, calc_overrides_t *ov, char *err,
                         size_t errlen) {
  ov->f = NULL;
  ov->n = 0;
  if (!json) return 0;
  cJSON *root = cJSON_Parse(json);
  if (!root) {
    snprintf(err, errlen, "factors: not a table");
    return KK_EPARSE;
  }
  if (cJSON_IsObject(root) && cJSON_GetArraySize(root) == 0) {
    cJSON_Delete(root);
    return 0;
  }
  if (!cJSON_IsArray(root)) {
    snprintf(err, errlen,
             "factors: expected a list { {carrier=, value=, source=, ...} }");
    cJSON_Delete(root);
    return KK_EPARSE;
  }
  int n = cJSON_GetArraySize(root), rc = 0;
  ov->f = calloc((size_t)n + 1, sizeof *ov->f);
  if (!ov->f) {
    cJSON_Delete(root);
    return KK_ENOMEM;
  }
  for (int i = 0; i < n; i++) {
    const cJSON *o = cJSON_GetArrayItem(root, i);
    const char *carrier = cJSON_IsObject(o) ? jstr(o, "carrier") : NULL;
    const char *source = carrier ? jstr(o, "source") : NULL;
    double value = NAN, y = 0, y0 = 0, y1 = 0;
    if (!carrier || !jnum(o, "value", &value) || !source || !*source) {
      snprintf(err, errlen,
               "factors[%d]: needs carrier (string), value (number, g "
               "CO2e/kWh) and source (string: where the factor comes from)",
               i + 1);
      rc = KK_EMISSING;
      break;
    }
    if (!isfinite(value) || value < 0) {
      snprintf(err, errlen, "factors[%d]: value must be a number >= 0", i + 1);
      rc = KK_EPARSE;
      break;
    }
    calc_factor_t *f = &ov->f[ov->n++];
    f->set = "local";
    f->edition = "local";
    f->key = dupstr(carrier);
    f->carrier = dupstr(jstr(o, "name") ? jstr(o, "name") : carrier);
    f->value = value;
    f->unit = dupstr(jstr(o, "unit") ? jstr(o, "unit") : "g CO2e/kWh");
    if (jnum(o, "year", &y)) {
      f->year_from = f->year_to = (int)y;
    } else {
      f->year_from = jnum(o, "year_from", &y0) ? (int)y0 : 0;
      f->year_to = jnum(o, "year_to", &y1) ? (int)y1 : 9999;
    }
    char v[64];
    snprintf(v, sizeof v, "%d-%d", f->year_from, f->year_to);
    f->validity = dupstr(v);
    f->basis = dupstr(jstr(o, "basis") ? jstr(o, "basis") : "local");
    f->source = dupstr(source);
    f->confidence =
        dupstr(jstr(o, "confidence") ? jstr(o, "confidence") : "local");
    f->rank = 100;
    if (!f->key || !f->carrier || !f->unit || !f->validity || !f->basis ||
        !f->source || !f->confidence) {
      rc = KK_ENOMEM;
      break;
    }
  }
  cJSON_Delete(root);
  if (rc) calc_overrides_free(ov);
  return rc;
}

/* ---- listing ------------------------------------------------------------ */

static void csv_field(FILE *f, const char *s, int last) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputs(last ? "\"\n" : "\",", f);
}

static void md_cell(FILE *f, const char *s) {
  fputs(" ", f);
  for (; *s; s++) {
    if (*s == '|') fputc('\\', f);
    fputc(*s, f);
  }
  fputs(" |", f);
}

int calc_factors_print(FILE *f, const char *format) {
  int fmt = !format || strcmp(format, "text") == 0 ? 0
            : strcmp(format, "csv") == 0           ? 1
            : strcmp(format, "markdown") == 0      ? 2
                                                   : -1;
  if (fmt < 0) return KK_EINVAL;
  if (fmt == 1)
    fputs("set,carrier_key,carrier,value,unit,year_from,year_to,validity,"
          "basis,source,confidence,edition\n",
          f);
  if (fmt == 2)
    fputs("| set | key | carrier | value | unit | years | basis | source | "
          "confidence |\n| --- | --- | --- | ---: | --- | --- | --- | --- | "
          "--- |\n",
          f);
  const char *last_set = "";
  for (size_t i = 0; i < calc_nfactors; i++) {
    const calc_factor_t *r = &calc_factors[i];
    char years[32], val[32];
    if (r->year_to == 9999)
      snprintf(years, sizeof years, "%d-", r->year_from);
    else if (r->year_from == r->year_to)
      snprintf(years, sizeof years, "%d", r->year_from);
    else
      snprintf(years, sizeof years, "%d-%d", r->year_from, r->year_to);
    snprintf(val, sizeof val, "%g", r->value);
    if (fmt == 0) {
      if (strcmp(last_set, r->set) != 0) {
        for (size_t s = 0; calc_sets[s].id; s++)
          if (strcmp(calc_sets[s].id, r->set) == 0)
            fprintf(f, "%s%s: %s\n", i ? "\n" : "", r->set, calc_sets[s].label);
        last_set = r->set;
      }
      fprintf(f, "  %-26s %6s %-12s %-9s %s\n      %s | %s | source: %s\n",
              r->key, val, r->unit, years, r->carrier, r->basis, r->confidence,
              r->source);
      if (strcmp(r->edition, r->set) && strcmp(r->set, "uba_mix") == 0)
        fprintf(f, "      edition: %s (rank %d)\n", r->edition, r->rank);
    } else if (fmt == 1) {
      char yf[16], yt[16];
      snprintf(yf, sizeof yf, "%d", r->year_from);
      snprintf(yt, sizeof yt, "%d", r->year_to);
      csv_field(f, r->set, 0);
      csv_field(f, r->key, 0);
      csv_field(f, r->carrier, 0);
      csv_field(f, val, 0);
      csv_field(f, r->unit, 0);
      csv_field(f, yf, 0);
      csv_field(f, yt, 0);
      csv_field(f, r->validity, 0);
      csv_field(f, r->basis, 0);
      csv_field(f, r->source, 0);
      csv_field(f, r->confidence, 0);
      csv_field(f, r->edition, 1);
    } else {
      fputc('|', f);
      md_cell(f, r->set);
      md_cell(f, r->key);
      md_cell(f, r->carrier);
      md_cell(f, val);
      md_cell(f, r->unit);
      md_cell(f, years);
      md_cell(f, r->basis);
      md_cell(f, r->source);
      md_cell(f, r->confidence);
      fputc('\n', f);
    }
  }
  return 0;
}

/* `klimakit factors [FORMAT]`: exit 0, or 2 for an unknown format. */
static int calc_factors_main(int argc, char **argv) {
  if (argc > 1 &&
      (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    puts("usage: klimakit factors [text|csv|markdown]\n\nLists every "
         "emission factor klimakit ships: set, carrier, value, unit, valid "
         "years, basis, source and confidence.");
    return 0;
  }
  return calc_factors_print(stdout, argc > 1 ? argv[1] : NULL) ? 2 : 0;
}

const kk_command_t calc_factors_commands[] = {
    {.name = "factors",
     .summary = "list the emission factors with their sources (text, csv "
                "or markdown)",
     .usage = "[FORMAT]",
     .main = calc_factors_main},
    {NULL}};

/* ---- Lua: kk.factor(carrier, year[, set]), kk.factors([set]) ---------- */

static void push_row(lua_State *L, const calc_factor_t *r) {
  lua_createtable(L, 0, 11);
  lua_pushstring(L, r->set);
  lua_setfield(L, -2, "set");
  lua_pushstring(L, r->key);
  lua_setfield(L, -2, "carrier");
  lua_pushstring(L, r->carrier);
  lua_setfield(L, -2, "name");
  lua_pushnumber(L, r->value);
  lua_setfield(L, -2, "value");
  lua_pushstring(L, r->unit);
  lua_setfield(L, -2, "unit");
  lua_pushinteger(L, r->year_from);
  lua_setfield(L, -2, "year_from");
  lua_pushinteger(L, r->year_to);
  lua_setfield(L, -2, "year_to");
  lua_pushstring(L, r->basis);
  lua_setfield(L, -2, "basis");
  lua_pushstring(L, r->source);
  lua_setfield(L, -2, "source");
  lua_pushstring(L, r->confidence);
  lua_setfield(L, -2, "confidence");
  lua_pushstring(L, r->edition);
  lua_setfield(L, -2, "edition");
}

/* kk.factor(carrier, year[, set]) -> value (g/kWh), row table
 *                                  | nil, message, code */
static int lua_factor(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  lua_Integer year = luaL_checkinteger(L, 2);
  const char *set = luaL_optstring(L, 3, "bisko");
  const calc_factor_t *r = NULL;
  char err[256];
  int rc = calc_factor_find(NULL, set, key, (int)year, 0, &r, err, sizeof err);
  if (rc) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    lua_pushstring(L, kk_err_name(rc));
    return 3;
  }
  lua_pushnumber(L, r->value);
  push_row(L, r);
  return 2;
}

/* kk.factors([set]) -> list of row tables */
static int lua_factors(lua_State *L) {
  const char *set = luaL_optstring(L, 1, NULL);
  const char *sid = set ? calc_set_id(set) : NULL;
  if (set && !sid) return luaL_argerror(L, 1, "unknown factor set");
  lua_newtable(L);
  lua_Integer n = 0;
  for (size_t i = 0; i < calc_nfactors; i++) {
    if (sid && !row_in_set(&calc_factors[i], sid)) continue;
    push_row(L, &calc_factors[i]);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

int calc_factors_lua_open(lua_State *L) {
  lua_pushcfunction(L, lua_factor);
  lua_setfield(L, -2, "factor");
  lua_pushcfunction(L, lua_factors);
  lua_setfield(L, -2, "factors");
  return 0;
}
