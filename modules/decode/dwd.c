/*
 * modules/decode/dwd.c - decode.dwd: the Deutscher Wetterdienst's open
 * climate data (https://opendata.dwd.de/climate_environment/CDC/).
 *
 * Two products, as zip archives (what the server offers) or plain text:
 *
 * Daily climate values, observations_germany/climate/daily/kl/{recent,
 * historical}/tageswerte_KL_<station>_*.zip holding
 * produkt_klima_tag_<from>_<to>_<station>.txt (and Metadaten_* files,
 * skipped).  Followed: DWD's dataset description (BESCHREIBUNG_obsgermany_
 * climate_daily_kl): Latin-1 text, ';' separated, fields padded with
 * spaces, -999 for a missing value, a header line
 *   STATIONS_ID;MESS_DATUM;QN_3;  FX;  FM;QN_4; RSK;RSKF; SDK;SHK_TAG;  NM;
 *   VPM;  PM; TMK; UPM; TXK; TNK; TGK;eor
 * and one line per day, MESS_DATUM as YYYYMMDD.  QN_3 is the quality
 * level of FX and FM, QN_4 that of the columns after it.  Columns (unit):
 *   FX daily maximum wind gust (m/s)     -> wind_gust_max m/s
 *   FM daily mean wind speed (m/s)       -> wind_speed_mean m/s
 *   RSK daily precipitation height (mm)  -> precipitation mm
 *   RSKF precipitation form (code 0-9)   -> precipitation_form 1
 *   SDK daily sunshine duration (h)      -> sunshine_duration h
 *   SHK_TAG daily snow depth (cm)        -> snow_depth cm
 *   NM daily mean cloud cover (1/8)      -> cloud_cover {octa}
 *   VPM daily mean vapour pressure (hPa) -> vapour_pressure hPa
 *   PM daily mean air pressure (hPa)     -> air_pressure hPa
 *   TMK daily mean temperature (°C)      -> air_temperature_mean Cel
 *   UPM daily mean relative humidity (%) -> relative_humidity %
 *   TXK daily maximum temperature 2 m    -> air_temperature_max Cel
 *   TNK daily minimum temperature 2 m    -> air_temperature_min Cel
 *   TGK daily minimum temperature 5 cm   -> air_temperature_ground_min Cel
 *
 * Monthly heating degree days (VDI 3807), derived_germany/techn/monthly/
 * heating_degreedays/hdd_3807/{recent,historical}/gradtage_YYYYMM.csv:
 * ';' separated, a few preamble lines, then a header that starts with
 * "#ID" and names the columns, among them Monat (YYYYMM), Anzahl Tage
 * (days with a daily mean temperature), Monatsgradtage (sum of 20 °C
 * minus the daily mean over the days with a mean below 15 °C) and Anzahl
 * Heiztage (those days).  Columns are found by name:
 *   Monatsgradtage  -> heating_degree_days K.d
 *   Anzahl Heiztage -> heating_days d
 *   Anzahl Tage     -> temperature_days d
 * Station, geogr. Breite and geogr. Laenge are not values; other numeric
 * columns follow `unknown` with their name made lower_snake_case.
 *
 * Things are "dwd-<station id>" (leading zeros dropped, so both products
 * of a station meet).  A day's reading is at 00:00 UTC of MESS_DATUM, a
 * month's at 00:00 UTC of its first day (option `time = "end"`: the next
 * day or month).  -999 is a rejection with reason missing_value, a value
 * that is not a number one with not_a_number, a line with the wrong
 * number of fields one per line (bad_row).  Bounds: a zip archive holds
 * at most 64 members and `max_unzipped` bytes in all, counted while
 * inflating (a zip bomb stops at the cap); lines are at most 4 KiB.
 */
#include <klimakit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "decode/decode_common.h"
#include "decode/decode_opendata.h"

#define DWD_MAX_COLS 64
#define DWD_MAX_LINE 4096
#define DWD_MAX_MEMBERS 64

typedef struct dwd_state {
  decode_common_t dc;
  const char *prefix;
  int time_end;
  int64_t min_quality;
  uint64_t max_size, max_unzipped;
} dwd_state_t;

typedef struct dwd_col {
  const char *name, *prop, *unit;
} dwd_col_t;

static const dwd_col_t dwd_kl[] = {{"FX", "wind_gust_max", "m/s"},
                                   {"FM", "wind_speed_mean", "m/s"},
                                   {"RSK", "precipitation", "mm"},
                                   {"RSKF", "precipitation_form", "1"},
                                   {"SDK", "sunshine_duration", "h"},
                                   {"SHK_TAG", "snow_depth", "cm"},
                                   {"NM", "cloud_cover", "{octa}"},
                                   {"VPM", "vapour_pressure", "hPa"},
                                   {"PM", "air_pressure", "hPa"},
                                   {"TMK", "air_temperature_mean", "Cel"},
                                   {"UPM", "relative_humidity", "%"},
                                   {"TXK", "air_temperature_max", "Cel"},
                                   {"TNK", "air_temperature_min", "Cel"},
                                   {"TGK", "air_temperature_ground_min", "Cel"},
                                   {NULL, NULL, NULL}};

static const dwd_col_t dwd_hdd[] = {
    {"Monatsgradtage", "heating_degree_days", "K.d"},
    {"Anzahl Heiztage", "heating_days", "d"},
    {"Anzahl Tage", "temperature_days", "d"},
    {NULL, NULL, NULL}};

/* Column roles. */
enum { DWD_VALUE, DWD_SKIP, DWD_STATION, DWD_DATE, DWD_QN };

typedef struct dwd_table {
  int kind; /* 0 daily KL, 1 degree days */
  size_t ncols;
  char names[DWD_MAX_COLS][64]; /* UTF-8, trimmed */
  char props[DWD_MAX_COLS][64];
  const char *units[DWD_MAX_COLS];
  int role[DWD_MAX_COLS];
  int known[DWD_MAX_COLS];
  int qn_of[DWD_MAX_COLS]; /* column of the quality level, or -1 */
} dwd_table_t;

/* Splits a line at ';' into trimmed fields; returns their number, or -1
 * when there are more than `max`. */
static int dwd_split(const char *s, size_t len, const char **f, size_t *fl,
                     int max) {
  int n = 0;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && s[i] != ';') continue;
    if (n == max) return -1;
    size_t a = start, b = i;
    while (a < b && (s[a] == ' ' || s[a] == '\t'))
      a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
      b--;
    f[n] = s + a;
    fl[n] = b - a;
    n++;
    start = i + 1;
  }
  return n;
}

static int dwd_header(dwd_table_t *t, const char **f, const size_t *fl, int n) {
  const dwd_col_t *tab = t->kind ? dwd_hdd : dwd_kl;
  t->ncols = (size_t)n;
  int qn = -1, have_station = 0, have_date = 0;
  for (int i = 0; i < n; i++) {
    if (od_latin1_utf8(f[i], fl[i], t->names[i], sizeof t->names[i])) return -1;
    const char *nm = t->names[i];
    t->role[i] = DWD_VALUE;
    t->known[i] = 0;
    t->units[i] = NULL;
    t->qn_of[i] = qn;
    if (!strcmp(nm, t->kind ? "#ID" : "STATIONS_ID")) {
      t->role[i] = DWD_STATION;
      have_station = 1;
    } else if (!strcmp(nm, t->kind ? "Monat" : "MESS_DATUM")) {
      t->role[i] = DWD_DATE;
      have_date = 1;
    } else if (!t->kind && !strncmp(nm, "QN_", 3)) {
      t->role[i] = DWD_QN;
      qn = i;
    } else if (!strcmp(nm, "eor") || !*nm ||
               (t->kind &&
                (!strcmp(nm, "Station") || !strcmp(nm, "geogr. Breite") ||
                 !strcmp(nm, "geogr. Laenge")))) {
      t->role[i] = DWD_SKIP;
    } else {
      for (const dwd_col_t *c = tab; c->name; c++)
        if (!strcmp(c->name, nm)) {
          snprintf(t->props[i], sizeof t->props[i], "%s", c->prop);
          t->units[i] = c->unit;
          t->known[i] = 1;
        }
      if (!t->known[i] && od_property_name(nm, t->props[i], sizeof t->props[i]))
        t->role[i] = DWD_SKIP;
    }
  }
  return have_station && have_date ? 0 : -1;
}

static int dwd_date(const dwd_table_t *t, const char *s, size_t n, int time_end,
                    int64_t *ms) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return -1;
  if (n != (t->kind ? 6u : 8u)) return -1;
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
          (s[3] - '0');
  unsigned m = (unsigned)((s[4] - '0') * 10 + (s[5] - '0'));
  unsigned d = t->kind ? 1 : (unsigned)((s[6] - '0') * 10 + (s[7] - '0'));
  if (m < 1 || m > 12 || d < 1 || d > kk_days_in_month(y, m)) return -1;
  int64_t day = kk_days_from_civil(y, m, d);
  if (time_end) day += t->kind ? (int64_t)kk_days_in_month(y, m) : 1;
  *ms = day * KK_DAY_MS;
  return 0;
}

static int dwd_row(dwd_state_t *s, od_emit_t *e, const dwd_table_t *t,
                   const char **f, const size_t *fl, int n, size_t lineno) {
  if ((size_t)n != t->ncols) {
    od_reject(e, "bad_row", "line %zu: %d fields, the header has %zu", lineno,
              n, t->ncols);
    return 0;
  }
  char station[32] = "", thing[OD_NAME_MAX];
  int64_t time = 0;
  int have_time = 0;
  for (int i = 0; i < n; i++) {
    if (t->role[i] == DWD_STATION) {
      size_t a = 0;
      while (a + 1 < fl[i] && f[i][a] == '0')
        a++;
      int ok = fl[i] > a && fl[i] - a < sizeof station;
      for (size_t k = a; ok && k < fl[i]; k++)
        ok = f[i][k] >= '0' && f[i][k] <= '9';
      if (!ok) {
        od_reject(e, "bad_row", "line %zu: station id is not a number", lineno);
        return 0;
      }
      memcpy(station, f[i] + a, fl[i] - a);
      station[fl[i] - a] = 0;
    } else if (t->role[i] == DWD_DATE) {
      have_time = !dwd_date(t, f[i], fl[i], s->time_end, &time);
    }
  }
  if (!have_time) {
    od_reject(e, "bad_time", "line %zu: date is not %s", lineno,
              t->kind ? "YYYYMM" : "YYYYMMDD");
    return 0;
  }
  if (od_thing(thing, sizeof thing, s->prefix, station)) {
    od_reject(e, "bad_row", "line %zu: thing id too long", lineno);
    return 0;
  }
  for (int i = 0; i < n; i++) {
    if (t->role[i] != DWD_VALUE) continue;
    double v, q;
    if (od_parse_double(f[i], fl[i], &v)) {
      od_reject(e, "not_a_number", "line %zu: %s is not a number", lineno,
                t->names[i]);
      continue;
    }
    if (v == -999) {
      od_reject(e, "missing_value", "station %s line %zu: %s is -999", station,
                lineno, t->names[i]);
      continue;
    }
    if (s->min_quality > 0 && t->qn_of[i] >= 0 &&
        (od_parse_double(f[t->qn_of[i]], fl[t->qn_of[i]], &q) ||
         q < (double)s->min_quality)) {
      od_reject(e, "low_quality", "line %zu: %s below quality level %lld",
                lineno, t->names[i], (long long)s->min_quality);
      continue;
    }
    int rc = od_value(e, thing, t->names[i], t->known[i] ? t->props[i] : NULL,
                      t->units[i], time, v);
    if (rc) return rc;
  }
  return 0;
}

/* One text file (a zip member or the whole message). */
static int dwd_text(dwd_state_t *s, od_emit_t *e, const char *p, size_t len,
                    char *why, size_t whylen) {
  dwd_table_t *t = calloc(1, sizeof *t);
  if (!t) return KK_ENOMEM;
  int have_header = 0, rc = 0;
  size_t lineno = 0, pos = 0;
  const char *f[DWD_MAX_COLS];
  size_t fl[DWD_MAX_COLS];
  while (pos < len && rc == 0) {
    const char *nl = memchr(p + pos, '\n', len - pos);
    size_t ll = nl ? (size_t)(nl - (p + pos)) : len - pos;
    const char *line = p + pos;
    pos += ll + (nl != NULL);
    lineno++;
    size_t a = 0;
    while (a < ll && (line[a] == ' ' || line[a] == '\r' || line[a] == '\t'))
      a++;
    if (a == ll) continue; /* empty */
    if (ll > DWD_MAX_LINE) {
      if (!have_header) {
        snprintf(why, whylen, "line %zu longer than %d bytes", lineno,
                 DWD_MAX_LINE);
        rc = KK_ERANGE;
      } else {
        od_reject(e, "bad_row", "line %zu longer than %d bytes", lineno,
                  DWD_MAX_LINE);
      }
      continue;
    }
    if (!have_header) {
      if (ll - a >= 11 && !memcmp(line + a, "STATIONS_ID", 11))
        t->kind = 0;
      else if (ll - a >= 3 && !memcmp(line + a, "#ID", 3))
        t->kind = 1;
      else if (lineno <= 8 && lineno > 0)
        continue; /* the degree-day files' preamble */
      else
        break;
      int n = dwd_split(line, ll, f, fl, DWD_MAX_COLS);
      if (n < 0 || dwd_header(t, f, fl, n)) {
        snprintf(why, whylen, "line %zu: not a usable header", lineno);
        rc = KK_EPARSE;
        break;
      }
      have_header = 1;
      continue;
    }
    int n = dwd_split(line, ll, f, fl, DWD_MAX_COLS);
    if (n < 0) {
      od_reject(e, "bad_row", "line %zu: more than %d fields", lineno,
                DWD_MAX_COLS);
      continue;
    }
    rc = dwd_row(s, e, t, f, fl, n, lineno);
  }
  if (rc == 0 && !have_header) {
    snprintf(why, whylen,
             "neither a produkt_klima_tag file (STATIONS_ID;"
             "MESS_DATUM;..) nor a gradtage file (#ID;..)");
    rc = KK_EPARSE;
  }
  free(t);
  return rc;
}

/* A zip member klimakit reads: the data files, not Metadaten_*. */
static int dwd_member(const char *name) {
  const char *b = strrchr(name, '/');
  b = b ? b + 1 : name;
  size_t n = strlen(b);
  if (!strncmp(b, "produkt_", 8) && n > 4 && !strcmp(b + n - 4, ".txt"))
    return 1;
  return !strncmp(b, "gradtage", 8) && n > 4 && !strcmp(b + n - 4, ".csv");
}

static int dwd_zip(dwd_state_t *s, od_emit_t *e, const uint8_t *data,
                   size_t len, char *why, size_t whylen, const char **reason) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
  zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
  if (!z) {
    snprintf(why, whylen, "not a zip archive: %s", zip_error_strerror(&ze));
    zip_error_fini(&ze);
    if (src) zip_source_free(src);
    return KK_EPARSE;
  }
  zip_error_fini(&ze);
  zip_int64_t n = zip_get_num_entries(z, 0);
  int rc = 0, files = 0;
  uint64_t total = 0;
  char *buf = NULL;
  if (n > DWD_MAX_MEMBERS) {
    *reason = "too_large";
    snprintf(why, whylen, "zip with %lld members (at most %d)", (long long)n,
             DWD_MAX_MEMBERS);
    rc = KK_ERANGE;
  }
  for (zip_int64_t i = 0; rc == 0 && i < n; i++) {
    const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
    if (!name || !dwd_member(name)) continue;
    zip_file_t *zf = zip_fopen_index(z, (zip_uint64_t)i, 0);
    if (!zf) {
      snprintf(why, whylen, "zip member %.60s: %s", name, zip_strerror(z));
      rc = KK_EPARSE;
      break;
    }
    /* Inflate in steps, never past the cap, whatever the header says. */
    size_t cap = 0, used = 0;
    for (;;) {
      if (used == cap) {
        uint64_t room = s->max_unzipped - total + 1; /* one byte past */
        size_t ncap = cap ? cap * 2 : 65536;
        if (ncap > room) ncap = (size_t)room;
        if (ncap <= used) { /* only when room is used up */
          *reason = "too_large";
          snprintf(why, whylen, "zip inflates to more than max_unzipped");
          rc = KK_ERANGE;
          break;
        }
        char *nb = realloc(buf, ncap);
        if (!nb) {
          rc = KK_ENOMEM;
          break;
        }
        buf = nb, cap = ncap;
      }
      zip_int64_t got = zip_fread(zf, buf + used, cap - used);
      if (got < 0) {
        snprintf(why, whylen, "zip member %.60s: %s", name,
                 zip_file_strerror(zf));
        rc = KK_EPARSE;
        break;
      }
      if (got == 0) break;
      used += (size_t)got;
      if (total + used > s->max_unzipped) {
        *reason = "too_large";
        snprintf(why, whylen, "zip inflates to more than max_unzipped");
        rc = KK_ERANGE;
        break;
      }
    }
    zip_fclose(zf);
    total += used;
    if (rc == 0) rc = dwd_text(s, e, buf, used, why, whylen);
    files++;
  }
  free(buf);
  zip_discard(z);
  if (rc == 0 && files == 0) {
    snprintf(why, whylen, "zip without produkt_*.txt or gradtage*.csv");
    rc = KK_EMISSING;
  }
  return rc;
}

static int dwd_parse(dwd_state_t *s, const uint8_t *data, size_t len,
                     od_emit_t *e, char *why, size_t whylen,
                     const char **reason) {
  if (len > s->max_size) {
    *reason = "too_large";
    snprintf(why, whylen, "%zu bytes, more than max_size", len);
    return KK_ERANGE;
  }
  if (len >= 4 && !memcmp(data, "PK\x03\x04", 4))
    return dwd_zip(s, e, data, len, why, whylen, reason);
  return dwd_text(s, e, (const char *)data, len, why, whylen);
}

static int dwd_decode(void *state, decode_out_t *out, char *why, size_t whylen,
                      const char **reason) {
  od_emit_t e;
  od_bind(&e, out);
  return dwd_parse(state, out->raw->data, out->raw->len, &e, why, whylen,
                   reason);
}

static int dwd_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  dwd_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->prefix = kk_opt_str(o, "thing_prefix");
  s->time_end = kk_opt_enum(o, "time") == OD_TIME_END;
  s->min_quality = kk_opt_int(o, "min_quality");
  s->max_size = kk_opt_size(o, "max_size");
  s->max_unzipped = kk_opt_size(o, "max_unzipped");
  return decode_common_init(&s->dc, st, o);
}

static int dwd_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st;
  dwd_state_t *s = state;
  return decode_common_process(&s->dc, b, dwd_decode, s);
}

static void dwd_destroy(void *state) {
  dwd_state_t *s = state;
  if (!s) return;
  decode_common_free(&s->dc);
  free(s);
}

static const kk_option_t dwd_options[] = {
    {.name = "thing_prefix",
     .type = KK_OPT_STRING,
     .def = "dwd-",
     .description = "Thing id = prefix + station id without leading zeros "
                    "(\"dwd-1358\")."},
    {.name = "time",
     .type = KK_OPT_ENUM,
     .def = "start",
     .choices = "start|end",
     .description = "Time of a reading: 00:00 UTC of its day or month, or "
                    "of the next one."},
    {.name = "min_quality",
     .type = KK_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 10,
     .description = "Daily values whose quality level (QN_3, QN_4) is below "
                    "this are rejected (reason low_quality); 0 keeps all."},
    {.name = "max_size",
     .type = KK_OPT_SIZE,
     .def = "64MiB",
     .description = "Larger messages are rejected (reason too_large)."},
    {.name = "max_unzipped",
     .type = KK_OPT_SIZE,
     .def = "64MiB",
     .description = "Most bytes a zip archive may inflate to (reason "
                    "too_large beyond)."},
    DECODE_COMMON_OPTIONS,
    {NULL}};

const kk_module_t decode_dwd_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "dwd",
    .ns = "decode",
    .kind = KK_KIND_TRANSFORM,
    .summary = "Decodes DWD open data: daily climate (produkt_klima_tag) and "
               "monthly degree days (gradtage), zipped or plain.",
    .description =
        "For `tageswerte_KL_*.zip` / `produkt_klima_tag_*.txt` (Latin-1, "
        "`;`, padded, `-999` missing) and `gradtage_YYYYMM.csv`, as zip "
        "archives or plain text. Things are `dwd-<station id>`; daily values "
        "become `air_temperature_mean`, `_max`, `_min` (Cel), "
        "`precipitation` (mm), `sunshine_duration` (h), `relative_humidity` "
        "(%), `air_pressure` (hPa) and more at 00:00 UTC of their day; "
        "degree days `heating_degree_days` (K.d) and `heating_days` (d) at "
        "the start of their month. Missing values (-999) and bad fields are "
        "rejected one by one with a reason; archives are inflated only up "
        "to `max_unzipped`.",
    .options = dwd_options,
    .create = dwd_create,
    .process = dwd_process,
    .destroy = dwd_destroy,
};
