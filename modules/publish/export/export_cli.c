/*
 * modules/publish/export/export_cli.c - `klimakit export`: one export run from a
 * store opened outside a pipeline.  The core's CLI calls export_main()
 * through a weak symbol with argv[0] = "export".
 *
 * Exit codes: 0 done, 1 runtime failure (store, files), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "publish/export/export.h"

int export_main(int argc, char **argv);

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
    "  --out DIR               output directory, created if missing (required)\n"
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

int export_main(int argc, char **argv) {
  ex_config_t c = {0};
  c.formats = EX_ALL;
  c.res = KK_STORE_RAW;
  c.from_ms = 0;
  c.to_ms = 253402300800000LL;
  c.progress = isatty(STDERR_FILENO);
  char *store = NULL, *thing = NULL, *prop = NULL, *unit = NULL;
  char *title = NULL, *desc = NULL, *kws = NULL;
  int rc = 0, code = 0, have_range = 0;
  char err[512];
  for (int i = 1; i < argc && code == 0; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(ex_usage, stdout);
      goto done;
    }
    if (strcmp(a, "--no-progress") == 0) {
      c.progress = 0;
      continue;
    }
    if (strncmp(a, "--", 2) != 0) {
      code = ex_usage_error("unexpected argument '%s'", a);
      break;
    }
    /* --flag value or --flag=value */
    char flag[64];
    const char *v = NULL;
    const char *eq = strchr(a, '=');
    size_t fl = eq ? (size_t)(eq - a) : strlen(a);
    if (fl >= sizeof flag) {
      code = ex_usage_error("unknown flag '%s'", a);
      break;
    }
    memcpy(flag, a, fl);
    flag[fl] = 0;
    if (eq)
      v = eq + 1;
    else if (i + 1 < argc)
      v = argv[++i];
    else {
      code = ex_usage_error("%s needs a value", flag);
      break;
    }
    char **dst = NULL;
    if (strcmp(flag, "--store") == 0) dst = &store;
    else if (strcmp(flag, "--out") == 0) dst = &c.dir;
    else if (strcmp(flag, "--period") == 0) dst = &c.period;
    else if (strcmp(flag, "--thing") == 0) dst = &thing;
    else if (strcmp(flag, "--property") == 0) dst = &prop;
    else if (strcmp(flag, "--unit") == 0) dst = &unit;
    else if (strcmp(flag, "--title") == 0) dst = &title;
    else if (strcmp(flag, "--description") == 0) dst = &desc;
    else if (strcmp(flag, "--keywords") == 0) dst = &kws;
    else if (strcmp(flag, "--licence") == 0 || strcmp(flag, "--license") == 0)
      dst = &c.licence;
    else if (strcmp(flag, "--attribution") == 0) dst = &c.attribution;
    else if (strcmp(flag, "--publisher") == 0) dst = &c.publisher;
    else if (strcmp(flag, "--publisher-url") == 0) dst = &c.publisher_url;
    else if (strcmp(flag, "--contact") == 0) dst = &c.contact_email;
    else if (strcmp(flag, "--geocoding") == 0) dst = &c.geocoding;
    else if (strcmp(flag, "--geocoding-level") == 0) dst = &c.geocoding_level;
    else if (strcmp(flag, "--geocoding-text") == 0) dst = &c.geocoding_text;
    else if (strcmp(flag, "--base-url") == 0) dst = &c.base_url;
    else if (strcmp(flag, "--catalog-title") == 0) dst = &c.title;
    else if (strcmp(flag, "--catalog-description") == 0) dst = &c.description;
    else if (strcmp(flag, "--contributor-id") == 0) dst = &c.contributor_id;
    if (dst) {
      if (ex_set(dst, v) != 0) {
        fprintf(stderr, "klimakit export: out of memory\n");
        code = 1;
      }
    } else if (strcmp(flag, "--format") == 0) {
      if (ex_parse_formats(v, &c.formats, err, sizeof err) != 0)
        code = ex_usage_error("%s", err);
    } else if (strcmp(flag, "--from") == 0 || strcmp(flag, "--to") == 0) {
      int64_t *t = flag[2] == 'f' ? &c.from_ms : &c.to_ms;
      if (ex_parse_time(v, t) != 0)
        code = ex_usage_error("bad time '%s' (2026-01-31 or "
                              "2026-01-31T12:00:00Z)",
                              v);
      have_range = 1;
    } else if (strcmp(flag, "--resolution") == 0) {
      if (strcmp(v, "raw") == 0) c.res = KK_STORE_RAW;
      else if (strcmp(v, "hour") == 0) c.res = KK_STORE_HOUR;
      else if (strcmp(v, "day") == 0) c.res = KK_STORE_DAY;
      else code = ex_usage_error("bad resolution '%s' (raw, hour, day)", v);
    } else {
      code = ex_usage_error("unknown flag '%s'", flag);
    }
  }
  if (code != 0) goto done;
  if (!store || !c.dir) {
    code = ex_usage_error("%s", !store ? "--store is required"
                                       : "--out is required");
    goto done;
  }
  if (have_range && c.period) {
    code = ex_usage_error("%s", "--period and --from/--to exclude each other");
    goto done;
  }
  int64_t now = kk_now_ms();
  int64_t f0, t0;
  if (c.period && ex_parse_period(c.period, now, &f0, &t0) != 0) {
    code = ex_usage_error("bad period '%s'", c.period);
    goto done;
  }
  if (!c.period && c.from_ms >= c.to_ms) {
    code = ex_usage_error("%s", "--from must be before --to");
    goto done;
  }
  char g1[512], g2[512];
  if (ex_geocoding(&c, g1, g2, sizeof g1, err, sizeof err) != 0) {
    code = ex_usage_error("%s", err);
    goto done;
  }
  const char *colon = strchr(store, ':');
  if (!colon || colon == store) {
    code = ex_usage_error("--store '%s': expected sqlite:PATH or "
                          "postgres:CONNINFO",
                          store);
    goto done;
  }
  if (thing || prop || unit || title || desc || kws)
    if (ex_config_add_spec(&c, thing, prop, unit, title, desc, kws) != 0) {
      fprintf(stderr, "klimakit export: out of memory\n");
      code = 1;
      goto done;
    }
  char backend[32];
  snprintf(backend, sizeof backend, "%.*s", (int)(colon - store), store);
  kk_store_t *s = NULL;
  rc = kk_store_open(backend, colon + 1, &s);
  if (rc != 0) {
    fprintf(stderr, "klimakit export: cannot open %s: %s\n", store,
            kk_store_errmsg());
    code = 1;
    goto done;
  }
  ex_result_t res;
  rc = ex_run(s, &c, now, &res, err, sizeof err);
  kk_store_unref(s);
  if (rc != 0) {
    fprintf(stderr, "klimakit export: %s\n", err[0] ? err : kk_strerror(rc));
    code = 1;
    goto done;
  }
  printf("export: %zu dataset%s, %zu files, %llu rows, %llu bytes in %s\n",
         res.datasets, res.datasets == 1 ? "" : "s", res.files,
         (unsigned long long)res.rows, (unsigned long long)res.bytes, c.dir);
done:
  free(store);
  free(thing);
  free(prop);
  free(unit);
  free(title);
  free(desc);
  free(kws);
  ex_config_free(&c);
  return code;
}
