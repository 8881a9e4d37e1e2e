/*
 * modules/publish/export/export_cli.c - `klimakit export`: one export run
 * from a store opened outside a pipeline.  publish.export declares the
 * command in its descriptor (ex_commands); the core runs ex_main() with
 * argv[0] = "export".
 *
 * Exit codes: 0 done, 1 runtime failure (store, files), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "publish/export/export.h"

static const char ex_usage[] =
    "usage: klimakit export --store sqlite:PATH|postgres:CONNINFO --out DIR\n"
    "                       [options]\n"
    "\n"
    "Writes open-data files from a store: a CSV and a GeoJSON file per\n"
    "dataset (one observed property in one unit), a DCAT-AP.de catalog\n"
    "(catalog.jsonld) with a SHA-256 checksum per file, and\n"
    "checksums.sha256 for `sha256sum -c`.  Files are replaced atomically.\n"
    "\n"
    "  --store BACKEND:TARGET  sqlite:/var/lib/klimakit/klimakit.db or\n"
    "                          postgres:'host=... dbname=...' (required)\n"
    "  --out DIR               output directory, created if missing "
    "(required)\n"
    "  --format LIST           csv,geojson,dcat (default: all three)\n"
    "  --period P              all (default), year, previous year, month,\n"
    "                          previous month, day, 'last 30d', FROM/TO\n"
    "  --from TIME, --to TIME  ISO 8601 date or date-time (UTC unless a zone\n"
    "                          is given); [from, to)\n"
    "  --resolution R          raw (default), hour or day (rollups)\n"
    "  --thing F, --property F, --unit F\n"
    "                          dataset filters; a trailing * matches any\n"
    "                          suffix (room-*)\n"
    "  --title T, --description D, --keywords K1,K2\n"
    "                          dataset title, description, keywords\n"
    "  --licence URI|NAME      default dl-by-de/2.0\n"
    "                          (http://dcat-ap.de/def/licenses/dl-by-de/2.0)\n"
    "  --attribution TEXT      dcatde:licenseAttributionByText (default: the\n"
    "                          publisher)\n"
    "  --publisher NAME, --publisher-url URL, --contact EMAIL\n"
    "  --geocoding KEY|URI     Amtlicher Gemeindeschlüssel (8 digits), state\n"
    "                          (2), district (5), ARS (12), or a URI\n"
    "  --geocoding-level L     municipality, administrativeDistrict, state,\n"
    "                          federal or a URI (default: from the key)\n"
    "  --geocoding-text TEXT   dcatde:geocodingDescription (\"Stadt Hagen\")\n"
    "  --base-url URL          where the files will be served (download URLs\n"
    "                          in the catalog); default file:// of DIR\n"
    "  --catalog-title T, --catalog-description D, --contributor-id URI\n"
    "  --frequency CODE        dct:accrualPeriodicity (HOURLY, DAILY, ...)\n"
    "  --availability CODE     dcatap:availability (EXPERIMENTAL, TEMPORARY,\n"
    "                          AVAILABLE, STABLE)\n"
    "  --themes C1,C2          EU data themes of the dataset (default ENVI)\n"
    "  --references URI,..     dct:references (e.g. a Musterdatenkatalog\n"
    "                          entry)\n"
    "  --no-progress           no progress bar (shown when stderr is a TTY)\n"
    "  -h, --help              this text\n"
    "\n"
    "Exit status: 0 done, 1 runtime failure, 2 usage error.\n";

static int ex_usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "klimakit export: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(klimakit export --help shows the usage)\n");
  return 2;
}

static int ex_set(char **dst, const char *v) {
  free(*dst);
  *dst = strdup(v);
  return *dst ? 0 : KK_ENOMEM;
}

/* What the command line gives besides the export configuration. */
typedef struct ex_cli {
  ex_config_t c;
  char *store, *thing, *prop, *unit, *title, *desc, *kws, *themes, *refs;
  int have_range;
} ex_cli_t;

/* The string that option `flag` sets, or NULL when it is not one. */
static char **ex_cli_string(ex_cli_t *x, const char *flag) {
  ex_config_t *c = &x->c;
  if (strcmp(flag, "--store") == 0) return &x->store;
  if (strcmp(flag, "--out") == 0) return &c->dir;
  if (strcmp(flag, "--period") == 0) return &c->period;
  if (strcmp(flag, "--thing") == 0) return &x->thing;
  if (strcmp(flag, "--property") == 0) return &x->prop;
  if (strcmp(flag, "--unit") == 0) return &x->unit;
  if (strcmp(flag, "--title") == 0) return &x->title;
  if (strcmp(flag, "--description") == 0) return &x->desc;
  if (strcmp(flag, "--keywords") == 0) return &x->kws;
  if (strcmp(flag, "--licence") == 0 || strcmp(flag, "--license") == 0)
    return &c->licence;
  if (strcmp(flag, "--attribution") == 0) return &c->attribution;
  if (strcmp(flag, "--publisher") == 0) return &c->publisher;
  if (strcmp(flag, "--publisher-url") == 0) return &c->publisher_url;
  if (strcmp(flag, "--contact") == 0) return &c->contact_email;
  if (strcmp(flag, "--geocoding") == 0) return &c->geocoding;
  if (strcmp(flag, "--geocoding-level") == 0) return &c->geocoding_level;
  if (strcmp(flag, "--geocoding-text") == 0) return &c->geocoding_text;
  if (strcmp(flag, "--base-url") == 0) return &c->base_url;
  if (strcmp(flag, "--catalog-title") == 0) return &c->title;
  if (strcmp(flag, "--catalog-description") == 0) return &c->description;
  if (strcmp(flag, "--contributor-id") == 0) return &c->contributor_id;
  if (strcmp(flag, "--frequency") == 0) return &c->frequency;
  if (strcmp(flag, "--availability") == 0) return &c->availability;
  if (strcmp(flag, "--themes") == 0) return &x->themes;
  if (strcmp(flag, "--references") == 0) return &x->refs;
  return NULL;
}

/* Applies `flag` with value `v`; returns 0 or the exit code. */
static int ex_cli_flag(ex_cli_t *x, const char *flag, const char *v) {
  char err[512];
  char **dst = ex_cli_string(x, flag);
  if (dst) {
    if (ex_set(dst, v) == 0) return 0;
    fprintf(stderr, "klimakit export: out of memory\n");
    return 1;
  }
  if (strcmp(flag, "--format") == 0) {
    if (ex_parse_formats(v, &x->c.formats, err, sizeof err) != 0)
      return ex_usage_error("%s", err);
  } else if (strcmp(flag, "--from") == 0 || strcmp(flag, "--to") == 0) {
    int64_t *t = flag[2] == 'f' ? &x->c.from_ms : &x->c.to_ms;
    x->have_range = 1;
    if (ex_parse_time(v, t) != 0)
      return ex_usage_error("bad time '%s' (2026-01-31 or "
                            "2026-01-31T12:00:00Z)",
                            v);
  } else if (strcmp(flag, "--resolution") == 0) {
    if (strcmp(v, "raw") == 0)
      x->c.res = KK_STORE_RAW;
    else if (strcmp(v, "hour") == 0)
      x->c.res = KK_STORE_HOUR;
    else if (strcmp(v, "day") == 0)
      x->c.res = KK_STORE_DAY;
    else
      return ex_usage_error("bad resolution '%s' (raw, hour, day)", v);
  } else {
    return ex_usage_error("unknown flag '%s'", flag);
  }
  return 0;
}

/* Reads argv into x.  Returns 0, -1 after printing the help, or the
 * exit code of a usage error. */
static int ex_cli_parse(ex_cli_t *x, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(ex_usage, stdout);
      return -1;
    }
    if (strcmp(a, "--no-progress") == 0) {
      x->c.progress = 0;
      continue;
    }
    if (strncmp(a, "--", 2) != 0)
      return ex_usage_error("unexpected argument '%s'", a);
    /* --flag value or --flag=value */
    char flag[64];
    const char *v = NULL;
    const char *eq = strchr(a, '=');
    size_t fl = eq ? (size_t)(eq - a) : strlen(a);
    if (fl >= sizeof flag) return ex_usage_error("unknown flag '%s'", a);
    memcpy(flag, a, fl);
    flag[fl] = 0;
    if (eq)
      v = eq + 1;
    else if (i + 1 < argc)
      v = argv[++i];
    else
      return ex_usage_error("%s needs a value", flag);
    int code = ex_cli_flag(x, flag, v);
    if (code != 0) return code;
  }
  return 0;
}

/* Checks what the flags say together; returns 0 or the exit code. */
static int ex_cli_check(ex_cli_t *x, int64_t now) {
  ex_config_t *c = &x->c;
  char err[512], g1[512], g2[512];
  int64_t f0, t0;
  if (!x->store || !c->dir)
    return ex_usage_error("%s", !x->store ? "--store is required"
                                          : "--out is required");
  if (x->have_range && c->period)
    return ex_usage_error("%s", "--period and --from/--to exclude each other");
  if (c->period && ex_parse_period(c->period, now, &f0, &t0) != 0)
    return ex_usage_error("bad period '%s'", c->period);
  if (!c->period && c->from_ms >= c->to_ms)
    return ex_usage_error("%s", "--from must be before --to");
  if (ex_geocoding(c, g1, g2, sizeof g1, err, sizeof err) != 0)
    return ex_usage_error("%s", err);
  const char *colon = strchr(x->store, ':');
  if (!colon || colon == x->store)
    return ex_usage_error("--store '%s': expected sqlite:PATH or "
                          "postgres:CONNINFO",
                          x->store);
  if ((x->thing || x->prop || x->unit || x->title || x->desc || x->kws ||
       x->themes || x->refs) &&
      (ex_config_add_spec(c, x->thing, x->prop, x->unit, x->title, x->desc,
                          x->kws) != 0 ||
       ex_spec_set_extras(c, x->themes, x->refs) != 0)) {
    fprintf(stderr, "klimakit export: out of memory\n");
    return 1;
  }
  if (ex_check_vocab(c, err, sizeof err) != 0) return ex_usage_error("%s", err);
  const char *missing = ex_dcat_missing(c);
  if (missing) fprintf(stderr, "klimakit export: warning: %s\n", missing);
  return 0;
}

/* Opens the store and runs the export; returns the exit code. */
static int ex_cli_run(ex_cli_t *x, int64_t now) {
  char err[512], backend[32];
  const char *colon = strchr(x->store, ':');
  snprintf(backend, sizeof backend, "%.*s", (int)(colon - x->store), x->store);
  kk_store_t *s = NULL;
  int rc = kk_store_open(backend, colon + 1, &s);
  if (rc != 0) {
    fprintf(stderr, "klimakit export: cannot open %s: %s\n", x->store,
            kk_store_errmsg());
    return 1;
  }
  ex_result_t res;
  rc = ex_run(s, &x->c, now, &res, err, sizeof err);
  kk_store_unref(s);
  if (rc != 0) {
    fprintf(stderr, "klimakit export: %s\n", err[0] ? err : kk_strerror(rc));
    return 1;
  }
  printf("export: %zu dataset%s, %zu files, %llu rows, %llu bytes in %s\n",
         res.datasets, res.datasets == 1 ? "" : "s", res.files,
         (unsigned long long)res.rows, (unsigned long long)res.bytes, x->c.dir);
  return 0;
}

static int ex_main(int argc, char **argv) {
  ex_cli_t x = {0};
  x.c.formats = EX_ALL;
  x.c.res = KK_STORE_RAW;
  x.c.from_ms = 0;
  x.c.to_ms = 253402300800000LL;
  x.c.progress = isatty(STDERR_FILENO);
  int64_t now = kk_now_ms();
  int code = ex_cli_parse(&x, argc, argv);
  if (code == 0) code = ex_cli_check(&x, now);
  if (code == 0) code = ex_cli_run(&x, now);
  free(x.store);
  free(x.thing);
  free(x.prop);
  free(x.unit);
  free(x.title);
  free(x.desc);
  free(x.kws);
  free(x.themes);
  free(x.refs);
  ex_config_free(&x.c);
  return code < 0 ? 0 : code;
}

const kk_command_t ex_commands[] = {
    {.name = "export",
     .summary = "write open-data files (CSV, GeoJSON, DCAT-AP.de) from a "
                "store (klimakit export --help)",
     .usage = "...",
     .main = ex_main},
    {NULL}};
