/*
 * modules/publish/export/export_dcat.c - the DCAT-AP.de catalog (JSON-LD).
 *
 * One dcat:Catalog, one dcat:Dataset per dataset of the run, one
 * dcat:Distribution per file, nested in one JSON-LD document with a
 * compact @context.  Vocabulary URIs follow the DCAT-AP.de 2.0
 * conventions: licences from http://dcat-ap.de/def/licenses/, formats
 * from the EU file-type table, political geocoding from
 * http://dcat-ap.de/def/politicalGeocoding/, checksums as spdx:Checksum
 * with spdx:checksumAlgorithm_sha256.  See docs/guide/export.md.
 */
#include <klimakit.h>
#include <cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "publish/export/export.h"

#define EX_GEO "http://dcat-ap.de/def/politicalGeocoding/"
#define EX_EU "http://publications.europa.eu/resource/authority/"

/* The EU vocabularies DCAT-AP.de uses for themes, update frequencies and
 * planned availability (codes as the Publications Office lists them). */
static const char *const ex_themes[] = {"AGRI", "ECON", "EDUC", "ENER", "ENVI",
                                        "GOVE", "HEAL", "INTR", "JUST", "REGI",
                                        "SOCI", "TECH", "TRAN", NULL};
static const char *const ex_frequencies[] = {
    "CONT",      "UPDATE_CONT", "HOURLY",   "DAILY",    "WEEKLY", "MONTHLY",
    "QUARTERLY", "ANNUAL",      "IRREG",    "NEVER",    "OTHER",  "UNKNOWN",
    "BIWEEKLY",  "BIMONTHLY",   "ANNUAL_2", "ANNUAL_3", NULL};
static const char *const ex_availabilities[] = {"EXPERIMENTAL", "TEMPORARY",
                                                "AVAILABLE", "STABLE", NULL};

static int ex_in(const char *const *list, const char *v) {
  for (; *list; list++)
    if (strcmp(*list, v) == 0) return 1;
  return 0;
}

/* A vocabulary value as a URI: a URI as it is, a code under EX_EU<table>/. */
static void ex_vocab_uri(const char *table, const char *v, char *buf,
                         size_t n) {
  if (strchr(v, ':'))
    snprintf(buf, n, "%s", v);
  else
    snprintf(buf, n, EX_EU "%s/%s", table, v);
}

const char *ex_frequency_for(uint64_t every_ms) {
  const uint64_t h = 3600000, d = 24 * h;
  return every_ms < h         ? "CONT"
         : every_ms <= h      ? "HOURLY"
         : every_ms <= d      ? "DAILY"
         : every_ms <= 7 * d  ? "WEEKLY"
         : every_ms <= 31 * d ? "MONTHLY"
         : every_ms <= 92 * d ? "QUARTERLY"
                              : "ANNUAL";
}

const char *ex_dcat_missing(const ex_config_t *c) {
  if (!(c->formats & EX_DCAT)) return NULL;
  if (!c->publisher || !*c->publisher)
    return "the catalog has no dct:publisher, which DCAT-AP.de requires for "
           "the catalog and every dataset: GovData and the portals' "
           "validators refuse it (set publisher)";
  return NULL;
}

/* Checks each comma-separated item of `list` against `codes` (a URI is
 * taken as it is).  0 or KK_EPARSE. */
static int ex_check_list(const char *what, const char *list,
                         const char *const *codes, char *err, size_t n) {
  while (list && *list) {
    size_t len = strcspn(list, ",");
    char item[256];
    while (len > 0 && *list == ' ')
      list++, len--;
    if (len >= sizeof item) len = sizeof item - 1;
    memcpy(item, list, len);
    item[len] = 0;
    if (len && !strchr(item, ':') && !ex_in(codes, item)) {
      snprintf(err, n,
               "%s '%s': not a code of the EU vocabulary (%s%s...) "
               "nor a URI",
               what, item, codes[0], codes[1] ? ", " : "");
      return KK_EPARSE;
    }
    list += len;
    if (*list == ',') list++;
  }
  return 0;
}

int ex_check_vocab(const ex_config_t *c, char *err, size_t n) {
  if (c->frequency &&
      ex_check_list("frequency", c->frequency, ex_frequencies, err, n))
    return KK_EPARSE;
  if (c->availability &&
      ex_check_list("availability", c->availability, ex_availabilities, err, n))
    return KK_EPARSE;
  for (size_t i = 0; i < c->nspecs; i++)
    if (ex_check_list("theme", c->specs[i].themes, ex_themes, err, n))
      return KK_EPARSE;
  return 0;
}

/* Adds {"@id": uri} for every comma-separated item of list to o[key] (an
 * array), codes resolved under EX_EU<table>/ (table NULL: URIs only). */
static void ex_id_list(cJSON *o, const char *key, const char *table,
                       const char *list) {
  cJSON *a = cJSON_AddArrayToObject(o, key);
  while (a && list && *list) {
    size_t len = strcspn(list, ",");
    char item[512], uri[600];
    while (len > 0 && *list == ' ')
      list++, len--;
    if (len > 0 && len < sizeof item) {
      memcpy(item, list, len);
      item[len] = 0;
      if (table)
        ex_vocab_uri(table, item, uri, sizeof uri);
      else
        snprintf(uri, sizeof uri, "%s", item);
      cJSON *v = cJSON_CreateObject();
      cJSON_AddStringToObject(v, "@id", uri);
      cJSON_AddItemToArray(a, v);
    }
    list += len;
    if (*list == ',') list++;
  }
}

const char *ex_licence_uri(const ex_config_t *c, char *buf, size_t n) {
  const char *l = c->licence && *c->licence ? c->licence : EX_DEFAULT_LICENCE;
  if (strchr(l, ':'))
    snprintf(buf, n, "%s", l);
  else
    snprintf(buf, n, "http://dcat-ap.de/def/licenses/%s", l);
  return buf;
}

int ex_geocoding(const ex_config_t *c, char *uri, char *level, size_t n,
                 char *err, size_t errlen) {
  uri[0] = level[0] = 0;
  const char *g = c->geocoding, *lv = c->geocoding_level;
  if (!g || !*g) return 0;
  const char *deflevel = NULL;
  if (strchr(g, ':')) {
    snprintf(uri, n, "%s", g);
  } else {
    size_t len = strlen(g);
    if (strspn(g, "0123456789") != len) {
      snprintf(err, errlen,
               "geocoding '%s': expected a key of digits (Amtlicher "
               "Gemeindeschlüssel, 8 digits) or a URI",
               g);
      return KK_EPARSE;
    }
    const char *kind = NULL;
    switch (len) {
    case 2:
      kind = "stateKey", deflevel = "state";
      break;
    case 5:
      kind = "districtKey", deflevel = "administrativeDistrict";
      break;
    case 8:
      kind = "municipalityKey", deflevel = "municipality";
      break;
    case 9:
      kind = "municipalAssociationKey", deflevel = "municipality";
      break;
    case 12:
      kind = "regionalKey", deflevel = "municipality";
      break;
    default:
      snprintf(err, errlen,
               "geocoding '%s': a key has 2 (state), 5 (district), 8 "
               "(municipality, AGS), 9 (association) or 12 (ARS) digits",
               g);
      return KK_EPARSE;
    }
    snprintf(uri, n, EX_GEO "%s/%s", kind, g);
  }
  if (lv && *lv) {
    static const char *const names[] = {
        "international",          "european",    "federal", "state",
        "administrativeDistrict", "municipality"};
    if (strchr(lv, ':')) {
      snprintf(level, n, "%s", lv);
      return 0;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      if (strcmp(lv, names[i]) == 0) {
        snprintf(level, n, EX_GEO "Level/%s", lv);
        return 0;
      }
    snprintf(err, errlen,
             "geocoding_level '%s': one of federal, state, "
             "administrativeDistrict, municipality or a URI",
             lv);
    return KK_EPARSE;
  }
  if (!deflevel) {
    snprintf(err, errlen, "geocoding is a URI: give geocoding_level too");
    return KK_EPARSE;
  }
  snprintf(level, n, EX_GEO "Level/%s", deflevel);
  return 0;
}

static void ex_id(cJSON *o, const char *key, const char *iri) {
  cJSON *v = cJSON_CreateObject();
  cJSON_AddStringToObject(v, "@id", iri);
  cJSON_AddItemToObject(o, key, v);
}

static void ex_typed(cJSON *o, const char *key, const char *value,
                     const char *type) {
  cJSON *v = cJSON_CreateObject();
  cJSON_AddStringToObject(v, "@value", value);
  cJSON_AddStringToObject(v, "@type", type);
  cJSON_AddItemToObject(o, key, v);
}

static void ex_datetime(cJSON *o, const char *key, int64_t ms) {
  char t[KK_TIME_ISO_MAX];
  kk_time_format_iso8601(ms, t);
  ex_typed(o, key, t, "xsd:dateTime");
}

/* base + rest into a new cJSON string value of o[key] as {"@id": ...}. */
static void ex_id2(cJSON *o, const char *key, const char *base,
                   const char *rest) {
  size_t n = strlen(base) + strlen(rest) + 1;
  char *s = malloc(n);
  if (!s) return;
  snprintf(s, n, "%s%s", base, rest);
  ex_id(o, key, s);
  free(s);
}

static cJSON *ex_distribution(const ex_config_t *c, const char *base,
                              const char *title, const ex_file_t *f, int csv,
                              const char *licence, int64_t now) {
  cJSON *d = cJSON_CreateObject();
  size_t n = strlen(base) + strlen(f->name) + 16;
  char *url = malloc(n);
  if (!d || !url) {
    cJSON_Delete(d);
    free(url);
    return NULL;
  }
  snprintf(url, n, "%s%s#distribution", base, f->name);
  cJSON_AddStringToObject(d, "@id", url);
  snprintf(url, n, "%s%s", base, f->name);
  cJSON_AddStringToObject(d, "@type", "dcat:Distribution");
  char *t = malloc(strlen(title) + 16);
  if (t) {
    sprintf(t, "%s (%s)", title, csv ? "CSV" : "GeoJSON");
    cJSON_AddStringToObject(d, "dct:title", t);
    free(t);
  }
  ex_id(d, "dcat:accessURL", url);
  ex_id(d, "dcat:downloadURL", url);
  ex_id(d, "dct:format",
        csv ? "http://publications.europa.eu/resource/authority/file-type/CSV"
            : "http://publications.europa.eu/resource/authority/file-type/"
              "GEOJSON");
  ex_id(d, "dcat:mediaType",
        csv ? "https://www.iana.org/assignments/media-types/text/csv"
            : "https://www.iana.org/assignments/media-types/application/"
              "geo+json");
  ex_id(d, "dct:conformsTo",
        csv ? "https://www.rfc-editor.org/rfc/rfc4180"
            : "https://www.rfc-editor.org/rfc/rfc7946");
  ex_id(d, "dct:license", licence);
  const char *by = c->attribution ? c->attribution : c->publisher;
  if (by && *by)
    cJSON_AddStringToObject(d, "dcatde:licenseAttributionByText", by);
  char num[32];
  snprintf(num, sizeof num, "%llu", (unsigned long long)f->bytes);
  ex_typed(d, "dcat:byteSize", num, "xsd:nonNegativeInteger");
  cJSON *ck = cJSON_AddObjectToObject(d, "spdx:checksum");
  cJSON_AddStringToObject(ck, "@type", "spdx:Checksum");
  ex_id(ck, "spdx:algorithm", "spdx:checksumAlgorithm_sha256");
  ex_typed(ck, "spdx:checksumValue", f->sha256, "xsd:hexBinary");
  ex_datetime(d, "dct:modified", now);
  ex_id(d, "adms:status", "http://purl.org/adms/status/Completed");
  if (c->availability && *c->availability) {
    char uri[600];
    ex_vocab_uri("planned-availability", c->availability, uri, sizeof uri);
    ex_id(d, "dcatap:availability", uri);
  }
  free(url);
  return d;
}

static const char *ex_res_name(kk_store_res_t r) {
  return r == KK_STORE_HOUR  ? "hourly mean, min and max"
         : r == KK_STORE_DAY ? "daily mean, min and max"
                             : "every observation";
}

static cJSON *ex_dataset(const ex_config_t *c, const char *base,
                         const cJSON *publisher, const ex_dataset_t *d,
                         int64_t from, int64_t to, int64_t now,
                         const char *licence, const char *geo_uri,
                         const char *geo_level) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  size_t tn = strlen(d->property) + strlen(d->unit) + 8;
  char *deftitle = malloc(tn);
  if (deftitle) snprintf(deftitle, tn, "%s (%s)", d->property, d->unit);
  const char *title = d->spec->title ? d->spec->title
                      : deftitle     ? deftitle
                                     : d->slug;
  char frag[300];
  snprintf(frag, sizeof frag, EX_CATALOG_FILE "#%s", d->slug);
  char *did = malloc(strlen(base) + strlen(frag) + 1);
  if (did) {
    sprintf(did, "%s%s", base, frag);
    cJSON_AddStringToObject(o, "@id", did);
    free(did);
  }
  cJSON_AddStringToObject(o, "@type", "dcat:Dataset");
  cJSON_AddStringToObject(o, "dct:identifier", d->slug);
  cJSON_AddStringToObject(o, "dct:title", title);
  if (d->spec->description) {
    cJSON_AddStringToObject(o, "dct:description", d->spec->description);
  } else {
    char desc[1024];
    snprintf(desc, sizeof desc,
             "Observations of '%s' in %s (UCUM unit code) from %zu "
             "thing%s (%s%s), %s, times in UTC. Exported by klimakit "
             "from its store.",
             d->property, d->unit, d->n, d->n == 1 ? "" : "s",
             d->n ? d->things[0] : "", d->n > 1 ? ", ..." : "",
             ex_res_name(c->res));
    cJSON_AddStringToObject(o, "dct:description", desc);
  }
  cJSON *kw = cJSON_AddArrayToObject(o, "dcat:keyword");
  cJSON_AddItemToArray(kw, cJSON_CreateString(d->property));
  const char *k = d->spec->keywords;
  while (k && *k) {
    size_t len = strcspn(k, ",");
    char word[128];
    while (len > 0 && *k == ' ')
      k++, len--;
    if (len > 0 && len < sizeof word) {
      memcpy(word, k, len);
      word[len] = 0;
      cJSON_AddItemToArray(kw, cJSON_CreateString(word));
    }
    k += len;
    if (*k == ',') k++;
  }
  ex_id_list(o, "dcat:theme", "data-theme",
             d->spec->themes && *d->spec->themes ? d->spec->themes : "ENVI");
  ex_id(o, "dct:language",
        "http://publications.europa.eu/resource/authority/language/DEU");
  if (publisher)
    ex_id(o, "dct:publisher",
          cJSON_GetObjectItem(publisher, "@id")->valuestring);
  if (c->contact_email && *c->contact_email) {
    cJSON *cp = cJSON_AddObjectToObject(o, "dcat:contactPoint");
    cJSON_AddStringToObject(cp, "@type", "vcard:Organization");
    cJSON_AddStringToObject(cp, "vcard:fn",
                            c->publisher ? c->publisher : c->contact_email);
    ex_id2(cp, "vcard:hasEmail", "mailto:", c->contact_email);
  }
  if (c->contributor_id && *c->contributor_id)
    ex_id(o, "dcatde:contributorID", c->contributor_id);
  if (geo_uri[0]) {
    ex_id(o, "dcatde:politicalGeocodingURI", geo_uri);
    ex_id(o, "dcatde:politicalGeocodingLevelURI", geo_level);
    /* DCAT-AP.de 3.0 deprecates politicalGeocodingURI in favour of
     * dct:spatial with the same URI; both are written. */
    ex_id(o, "dct:spatial", geo_uri);
  }
  ex_id(o, "dct:accessRights", EX_EU "access-right/PUBLIC");
  if (c->frequency && *c->frequency) {
    char uri[600];
    ex_vocab_uri("frequency", c->frequency, uri, sizeof uri);
    ex_id(o, "dct:accrualPeriodicity", uri);
  }
  if (c->availability && *c->availability) {
    char uri[600];
    ex_vocab_uri("planned-availability", c->availability, uri, sizeof uri);
    ex_id(o, "dcatap:availability", uri);
  }
  if (d->spec->references && *d->spec->references)
    ex_id_list(o, "dct:references", NULL, d->spec->references);
  if (c->geocoding_text && *c->geocoding_text)
    cJSON_AddStringToObject(o, "dcatde:geocodingDescription",
                            c->geocoding_text);
  /* The period the data covers: the extent of what was exported, else
   * the requested period where it is bounded. */
  int64_t t0 = d->first_ms >= 0 ? d->first_ms : from > 0 ? from : -1;
  int64_t t1 = d->last_ms >= 0 ? d->last_ms : to < 253402300800000LL ? to : -1;
  if (t0 >= 0 || t1 >= 0) {
    cJSON *pt = cJSON_AddObjectToObject(o, "dct:temporal");
    cJSON_AddStringToObject(pt, "@type", "dct:PeriodOfTime");
    if (t0 >= 0) ex_datetime(pt, "dcat:startDate", t0);
    if (t1 >= 0) ex_datetime(pt, "dcat:endDate", t1);
  }
  ex_id(o, "dct:license", licence);
  ex_datetime(o, "dct:modified", now);
  cJSON *dists = cJSON_AddArrayToObject(o, "dcat:distribution");
  if (d->csv)
    cJSON_AddItemToArray(
        dists, ex_distribution(c, base, title, d->csv, 1, licence, now));
  if (d->geojson)
    cJSON_AddItemToArray(
        dists, ex_distribution(c, base, title, d->geojson, 0, licence, now));
  free(deftitle);
  return o;
}

int ex_dcat_write(const ex_config_t *c, ex_dataset_t *ds, size_t n,
                  int64_t from, int64_t to, int64_t now, ex_file_t *out,
                  char *err, size_t errlen) {
  int rc = ex_file_open(out, c->dir, EX_CATALOG_FILE);
  if (rc != 0) {
    snprintf(err, errlen, "cannot create a file in %s: %s", c->dir,
             kk_strerror(rc));
    return rc;
  }
  char geo_uri[512], geo_level[512], licence[512];
  if ((rc = ex_geocoding(c, geo_uri, geo_level, sizeof geo_uri, err, errlen)) !=
      0)
    return rc;
  ex_licence_uri(c, licence, sizeof licence);
  /* Base IRI of the published files. */
  char base[PATH_MAX + 16];
  if (c->base_url && *c->base_url) {
    size_t len = strlen(c->base_url);
    snprintf(base, sizeof base, "%s%s", c->base_url,
             c->base_url[len - 1] == '/' ? "" : "/");
  } else {
    char real[PATH_MAX];
    if (!realpath(c->dir, real)) snprintf(real, sizeof real, "%s", c->dir);
    snprintf(base, sizeof base, "file://%s/", real);
  }
  cJSON *root = cJSON_CreateObject();
  if (!root) return KK_ENOMEM;
  cJSON *ctx = cJSON_AddObjectToObject(root, "@context");
  cJSON_AddStringToObject(ctx, "dcat", "http://www.w3.org/ns/dcat#");
  cJSON_AddStringToObject(ctx, "dct", "http://purl.org/dc/terms/");
  cJSON_AddStringToObject(ctx, "dcatde", "http://dcat-ap.de/def/dcatde/");
  cJSON_AddStringToObject(ctx, "foaf", "http://xmlns.com/foaf/0.1/");
  cJSON_AddStringToObject(ctx, "spdx", "http://spdx.org/rdf/terms#");
  cJSON_AddStringToObject(ctx, "adms", "http://www.w3.org/ns/adms#");
  cJSON_AddStringToObject(ctx, "vcard", "http://www.w3.org/2006/vcard/ns#");
  cJSON_AddStringToObject(ctx, "xsd", "http://www.w3.org/2001/XMLSchema#");
  cJSON_AddStringToObject(ctx, "dcatap", "http://data.europa.eu/r5r/");
  char *catid = malloc(strlen(base) + sizeof EX_CATALOG_FILE);
  if (catid) {
    sprintf(catid, "%s%s", base, EX_CATALOG_FILE);
    cJSON_AddStringToObject(root, "@id", catid);
    free(catid);
  }
  cJSON_AddStringToObject(root, "@type", "dcat:Catalog");
  cJSON_AddStringToObject(root, "dct:title",
                          c->title ? c->title : "klimakit open data");
  cJSON_AddStringToObject(
      root, "dct:description",
      c->description ? c->description
                     : "Sensor and climate data published with klimakit: one "
                       "dataset per observed property and unit, as CSV and "
                       "GeoJSON.");
  cJSON *publisher = NULL;
  if (c->publisher && *c->publisher) {
    publisher = cJSON_AddObjectToObject(root, "dct:publisher");
    if (c->publisher_url && *c->publisher_url)
      cJSON_AddStringToObject(publisher, "@id", c->publisher_url);
    else {
      char pid[PATH_MAX + 32];
      snprintf(pid, sizeof pid, "%s%s#publisher", base, EX_CATALOG_FILE);
      cJSON_AddStringToObject(publisher, "@id", pid);
    }
    cJSON_AddStringToObject(publisher, "@type", "foaf:Organization");
    cJSON_AddStringToObject(publisher, "foaf:name", c->publisher);
  }
  if (c->publisher_url && *c->publisher_url)
    ex_id(root, "foaf:homepage", c->publisher_url);
  ex_id(root, "dct:language",
        "http://publications.europa.eu/resource/authority/language/DEU");
  ex_id(root, "dcat:themeTaxonomy",
        "http://publications.europa.eu/resource/authority/data-theme");
  ex_datetime(root, "dct:modified", now);
  cJSON *sets = cJSON_AddArrayToObject(root, "dcat:dataset");
  for (size_t i = 0; i < n; i++)
    cJSON_AddItemToArray(sets, ex_dataset(c, base, publisher, &ds[i], from, to,
                                          now, licence, geo_uri, geo_level));
  char *txt = cJSON_Print(root);
  cJSON_Delete(root);
  if (!txt) {
    snprintf(err, errlen, "out of memory");
    return KK_ENOMEM;
  }
  ex_file_puts(out, txt);
  ex_file_put(out, "\n", 1);
  free(txt);
  if ((rc = ex_file_close(out)) != 0)
    snprintf(err, errlen, "writing %s: %s", out->path, kk_strerror(rc));
  return rc;
}
