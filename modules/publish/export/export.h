/*
 * modules/publish/export/export.h - the open-data export, shared by the
 * publish.export sink (export_module.c) and `klimakit export`
 * (export_cli.c).  Not a public API.
 *
 * One run reads a store and writes, into one directory:
 *   <slug>.csv       per dataset, RFC 4180 (export_csv.c)
 *   <slug>.geojson   per dataset, a FeatureCollection of its things
 *   catalog.jsonld   a DCAT-AP.de catalog of the datasets (export_dcat.c)
 *   checksums.sha256 every file above in `sha256sum -c` format
 * A dataset is one observed property in one unit (co2 in ppm), over the
 * things that match its filter.  Every file is written to a temporary
 * file in the same directory, fsync()ed and renamed into place, data
 * files first, the catalog and the checksum list last.
 *
 * Threading: ex_run() blocks (store queries, file I/O); the sink calls it
 * on a libuv worker, the CLI on its only thread.  It uses only the
 * thread-safe store API and kk_log().
 */
#ifndef KK_MODULES_EXPORT_H
#define KK_MODULES_EXPORT_H

#include <klimakit.h>
#include <klimakit/store.h>
#include <mbedtls/md.h>
#include <stdint.h>
#include <stdio.h>

#define EX_CSV 0x1u
#define EX_GEOJSON 0x2u
#define EX_DCAT 0x4u
#define EX_ALL (EX_CSV | EX_GEOJSON | EX_DCAT)

#define EX_DEFAULT_LICENCE "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
#define EX_CATALOG_FILE "catalog.jsonld"
#define EX_SUMS_FILE "checksums.sha256"

/* A dataset selection: datastreams matching the filters (NULL matches
 * all; a trailing '*' matches any suffix), grouped by (property, unit). */
typedef struct ex_spec {
  char *thing, *property, *unit;
  char *title;       /* NULL: "<property> (<unit>)" */
  char *description; /* NULL: generated */
  char *keywords;    /* comma-separated, NULL for none */
  char *themes;      /* EU data-theme codes or URIs, comma-separated; NULL:
                        ENVI */
  char *references;  /* dct:references URIs (a Musterdatenkatalog entry, a
                        HVD category), comma-separated, NULL for none */
} ex_spec_t;

/* What to export and how to describe it.  Strings are owned by the
 * config (ex_config_free). */
typedef struct ex_config {
  char *dir;
  unsigned formats;       /* EX_* */
  char *period;           /* "all", "year", "month", "last 30d", "FROM/TO" */
  int64_t from_ms, to_ms; /* set when period is NULL */
  kk_store_res_t res;     /* RAW, HOUR or DAY */
  ex_spec_t *specs;       /* none: one spec matching everything */
  size_t nspecs;
  char *licence;     /* URI; short names become dcat-ap.de licence URIs */
  char *attribution; /* dcatde:licenseAttributionByText; NULL: publisher */
  char *publisher, *publisher_url, *contact_email;
  char *geocoding;       /* AGS/ARS digits or a URI */
  char *geocoding_level; /* name or URI; NULL: from the key's length */
  char *geocoding_text;
  char *base_url; /* where the files are served; NULL: file:// of dir */
  char *title, *description; /* of the catalog */
  char *contributor_id;      /* dcatde:contributorID URI */
  char *frequency;    /* dct:accrualPeriodicity: EU frequency code or URI */
  char *availability; /* dcatap:availability: planned-availability code */
  int progress;       /* progress bar on stderr */
  char *log_name;     /* component name for kk_log */
  /* the measures catalogues (export_measures.c); NULL: none */
  struct ex_measures *measures;
} ex_config_t;

void ex_config_free(ex_config_t *c);
/* Adds a spec (strings copied, NULL allowed).  0 or KK_ENOMEM. */
int ex_config_add_spec(ex_config_t *c, const char *thing, const char *property,
                       const char *unit, const char *title,
                       const char *description, const char *keywords);
/* Sets the DCAT-AP.de extras of the last spec (strings copied, NULL
 * allowed).  0, KK_ENOMEM, or KK_EINVAL when there is no spec. */
int ex_spec_set_extras(ex_config_t *c, const char *themes,
                       const char *references);
/* Checks frequency, availability and the specs' themes; 0 or KK_EPARSE
 * with the reason in err. */
int ex_check_vocab(const ex_config_t *c, char *err, size_t n);
/* dct:accrualPeriodicity code for an export every `every_ms`. */
const char *ex_frequency_for(uint64_t every_ms);
/* The warning for what DCAT-AP.de requires and the config lacks (no
 * publisher), or NULL. */
const char *ex_dcat_missing(const ex_config_t *c);
/* Parses `formats` ("csv,geojson,dcat") into EX_* bits; KK_EPARSE for an
 * unknown name, with the name in err. */
int ex_parse_formats(const char *list, unsigned *out, char *err, size_t n);
/* Resolves a period at time `now` into [from, to).  0 or KK_EPARSE. */
int ex_parse_period(const char *p, int64_t now, int64_t *from, int64_t *to);
/* Parses an ISO 8601 date or date-time (UTC unless a zone is given). */
int ex_parse_time(const char *s, int64_t *ms);

/* Result of one run. */
typedef struct ex_result {
  size_t datasets, files;
  uint64_t rows, bytes;
} ex_result_t;

/* Runs one export of store `s` with `c` (at time `now`).  Returns 0, or a
 * negative code with a one-line reason in err; on failure no temporary
 * file is left and the files of the previous run stay as they were
 * (except those already renamed in the commit step). */
int ex_run(kk_store_t *s, const ex_config_t *c, int64_t now, ex_result_t *res,
           char *err, size_t errlen);

/* ---- internals shared by the export files ---------------------------- */

/* A file being written: to a temporary file beside its final name, with
 * its SHA-256 computed on the way. */
typedef struct ex_file {
  char *name; /* file name in the directory */
  char *path; /* final path */
  char *tmp;  /* temporary path, NULL once committed or aborted */
  int fd;
  int err; /* first error (negative), sticky */
  uint64_t bytes;
  char buf[65536];
  size_t len;
  mbedtls_md_context_t md;
  int md_ok;
  char sha256[65]; /* hex, after ex_file_close */
} ex_file_t;

/* Creates `dir/.name.tmp-XXXXXX`.  0 or a negative code. */
int ex_file_open(ex_file_t *f, const char *dir, const char *name);
void ex_file_put(ex_file_t *f, const void *p, size_t n);
void ex_file_puts(ex_file_t *f, const char *s);
void ex_file_printf(ex_file_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Flushes, fsyncs and closes the temporary file and finishes the hash;
 * the file is not yet renamed.  Returns the sticky error or 0. */
int ex_file_close(ex_file_t *f);
/* Renames the closed temporary file to its final name. */
int ex_file_commit(ex_file_t *f);
/* Removes the temporary file (if any) and frees everything. */
void ex_file_free(ex_file_t *f);

/* A dataset of a run. */
typedef struct ex_dataset {
  char *slug; /* file name stem */
  char *property, *unit;
  const ex_spec_t *spec;
  int64_t *ids; /* store datastream ids */
  char **things;
  size_t n;
  int64_t first_ms, last_ms; /* extent of the exported data, or -1 */
  uint64_t rows;
  ex_file_t *csv, *geojson; /* closed, not committed; NULL if not made */
} ex_dataset_t;

/* Writes the catalog file (not committed) for `ds`. */
int ex_dcat_write(const ex_config_t *c, ex_dataset_t *ds, size_t n,
                  int64_t from, int64_t to, int64_t now, ex_file_t *out,
                  char *err, size_t errlen);

/* Licence URI for a configured name or URI, into buf. */
const char *ex_licence_uri(const ex_config_t *c, char *buf, size_t n);

/* The political geocoding URI and level URI for c->geocoding and
 * c->geocoding_level, into uri and level (n bytes each).  Returns 0 (both
 * empty when no geocoding is configured) or KK_EPARSE with a reason. */
int ex_geocoding(const ex_config_t *c, char *uri, char *level, size_t n,
                 char *err, size_t errlen);

/* `klimakit export` (export_cli.c), for publish.export's descriptor;
 * terminated by {NULL}. */
extern const kk_command_t ex_commands[];

#endif
