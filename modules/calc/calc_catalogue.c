/*
 * modules/calc/calc_catalogue.c - the measures catalogue: the records,
 * their fields, and the CSV and JSON readers (calc_catalogue.h).  Partner
 * updates, JSON output, snapshot lines and the registry are in
 * calc_catalogue_update.c.
 */
#include "calc/calc_catalogue.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cat_status_keys[CAT_ST_N] = {"unknown", "on_time", "late",
                                               "cancelled"};
const char *const cat_phase_keys[CAT_PH_N] = {
    "unknown", "not_started", "planning", "implementation", "completed"};
const char *const cat_class_keys[CAT_CL_N] = {"",    "high",     "medium",
                                              "low", "indirect", "none"};

char *calc_cat_strdup(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Case-insensitive compare of ASCII and the German umlauts as written. */
static int cat_eq(const char *a, const char *b) {
  return strcasecmp(a, b) == 0;
}

static int cat_word(const char *s, const char *const *words) {
  for (size_t i = 0; words[i]; i += 2)
    if (cat_eq(s, words[i])) return atoi(words[i + 1]);
  return -1;
}

int calc_cat_parse_status(const char *s) {
  static const char *const w[] = {"",
                                  "0",
                                  "unknown",
                                  "0",
                                  "unbekannt",
                                  "0",
                                  "on_time",
                                  "1",
                                  "on time",
                                  "1",
                                  "im zeitplan",
                                  "1",
                                  "planmäßig",
                                  "1",
                                  "plan",
                                  "1",
                                  "late",
                                  "2",
                                  "verzögert",
                                  "2",
                                  "verspätet",
                                  "2",
                                  "delayed",
                                  "2",
                                  "cancelled",
                                  "3",
                                  "canceled",
                                  "3",
                                  "abgebrochen",
                                  "3",
                                  "zurückgestellt",
                                  "3",
                                  "gescheitert",
                                  "3",
                                  "postponed",
                                  "3",
                                  NULL};
  return cat_word(s, w);
}

int calc_cat_parse_phase(const char *s) {
  static const char *const w[] = {"",
                                  "0",
                                  "unknown",
                                  "0",
                                  "unbekannt",
                                  "0",
                                  "not_started",
                                  "1",
                                  "not started",
                                  "1",
                                  "nicht gestartet",
                                  "1",
                                  "offen",
                                  "1",
                                  "planning",
                                  "2",
                                  "planung",
                                  "2",
                                  "in planung",
                                  "2",
                                  "implementation",
                                  "3",
                                  "umsetzung",
                                  "3",
                                  "in umsetzung",
                                  "3",
                                  "implementierung",
                                  "3",
                                  "in arbeit",
                                  "3",
                                  "completed",
                                  "4",
                                  "abgeschlossen",
                                  "4",
                                  "umgesetzt",
                                  "4",
                                  "done",
                                  "4",
                                  NULL};
  return cat_word(s, w);
}

static int cat_parse_class(const char *s) {
  static const char *const w[] = {
      "high",   "1",      "hoch",  "1",     "groß",     "1",       "medium",
      "2",      "mittel", "2",     "low",   "3",        "niedrig", "3",
      "gering", "3",      "klein", "3",     "indirect", "4",       "indirekt",
      "4",      "none",   "5",     "keine", "5",        NULL};
  return cat_word(s, w);
}

/* "1.234,5", "1234.5", "1 234", "" (NaN).  Returns 0 or -1. */
static int cat_number(const char *s, double *out) {
  char buf[64];
  size_t k = 0;
  int comma = strchr(s, ',') != NULL, dot = strchr(s, '.') != NULL;
  while (*s == ' ')
    s++;
  if (!*s) {
    *out = NAN;
    return 0;
  }
  for (; *s && k + 1 < sizeof buf; s++) {
    if (*s == ' ' || *s == '\'') continue;
    if (*s == '.' && comma) continue; /* German thousands separator */
    if (*s == ',') {
      buf[k++] = dot && !comma ? ',' : '.';
      continue;
    }
    buf[k++] = *s;
  }
  buf[k] = 0;
  char *end;
  errno = 0;
  double v = strtod(buf, &end);
  while (*end == ' ' || *end == '%')
    end++;
  if (end == buf || *end || errno || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

/* A date "2025", "2025-03", "2025-03-01" or "01.03.2025" normalised into
 * YYYY[-MM[-DD]] (11 bytes); "" stays "".  0 or -1. */
int calc_cat_date(const char *s, char out[11]) {
  int y = 0, m = 0, d = 0, n = 0;
  out[0] = 0;
  while (*s == ' ')
    s++;
  if (!*s) return 0;
  if (sscanf(s, "%d.%d.%d%n", &d, &m, &y, &n) == 3 && !s[n]) {
  } else if (y = m = d = 0, sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 &&
                                (!s[n] || s[n] == 'T')) {
  } else if (y = m = d = 0, sscanf(s, "%4d-%2d%n", &y, &m, &n) == 2 && !s[n]) {
  } else if (y = m = d = 0, sscanf(s, "%4d%n", &y, &n) == 1 && !s[n]) {
  } else
    return -1;
  if (y < 1900 || y > 2200 || m < 0 || m > 12 || d < 0 || d > 31 || (d && !m))
    return -1;
  if (d)
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
  else if (m)
    snprintf(out, 11, "%04d-%02d", y, m);
  else
    snprintf(out, 11, "%04d", y);
  return 0;
}

static int cat_id_ok(const char *id) {
  if (!*id || strlen(id) > 64) return 0;
  for (const char *p = id; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) return 0;
  return 1;
}

cat_measure_t *calc_cat_find(calc_cat_t *c, const char *id) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->m[i].id, id) == 0) return &c->m[i];
  return NULL;
}

cat_year_t *calc_cat_year(cat_measure_t *m, int year) {
  size_t i = 0;
  while (i < m->nyears && m->years[i].year < year)
    i++;
  if (i < m->nyears && m->years[i].year == year) return &m->years[i];
  if (m->nyears == CAT_MAX_YEARS) return NULL;
  memmove(&m->years[i + 1], &m->years[i], (m->nyears - i) * sizeof m->years[0]);
  m->nyears++;
  m->years[i] = (cat_year_t){year, NAN, NAN, NAN, NAN};
  return &m->years[i];
}

int calc_cat_start_year(const cat_measure_t *m) {
  if (m->actual_start[0]) return atoi(m->actual_start);
  if (m->planned_start[0]) return atoi(m->planned_start);
  return 0;
}

double calc_cat_expected(const cat_measure_t *m, int year) {
  int from = calc_cat_start_year(m);
  if (isnan(m->planned_t) || !from || year < from) return NAN;
  if (m->status == CAT_ST_CANCELLED) return NAN;
  return m->planned_t;
}

double calc_cat_achieved(const cat_measure_t *m, const cat_year_t *y,
                         char *how) {
  if (m->nind && !isnan(y->metered)) {
    if (how) *how = 'm';
    return y->metered;
  }
  if (!isnan(y->reported)) {
    if (how) *how = 'r';
    return y->reported;
  }
  if (how) *how = 0;
  return NAN;
}

/* ---- building a measure ---------------------------------------------- */

static int cat_grow(calc_cat_t *c) {
  if (c->n < c->cap) return 0;
  size_t cap = c->cap ? c->cap * 2 : 64;
  cat_measure_t *m = realloc(c->m, cap * sizeof *m);
  if (!m) return KK_ENOMEM;
  c->m = m;
  c->cap = cap;
  return 0;
}

static void cat_measure_free(cat_measure_t *m) {
  free(m->id);
  free(m->sector);
  free(m->title);
  free(m->description);
  free(m->responsible);
  free(m->partners);
  free(m->target_group);
  free(m->source);
  free(m->priority);
  free(m->thing);
  for (size_t k = 0; k < m->nind; k++)
    free(m->ind[k]);
  free(m->ind);
  free(m->ind_last);
  for (size_t k = 0; k < m->nhist; k++) {
    free(m->hist[k].author);
    free(m->hist[k].summary);
    free(m->hist[k].note);
  }
  free(m->hist);
}

void calc_cat_free(calc_cat_t *c) {
  if (!c) return;
  calc_cat_withdraw(c);
  for (size_t i = 0; i < c->n; i++)
    cat_measure_free(&c->m[i]);
  free(c->m);
  free(c->name);
  c->m = NULL;
  c->n = c->cap = 0;
}

/* The fields of one record by name (text values); the CSV reader and
 * the JSON reader both end here. */
typedef struct cat_fields {
  const char *v[32];
  /* "erreicht_2024" columns: t CO2e reported for a year */
  int year[16];
  const char *yv[16];
  size_t ny;
} cat_fields_t;

/* "erreicht_2024", "achieved_2024": the year, else 0. */
static int cat_year_column(const char *name) {
  int y = 0, n = 0;
  if ((sscanf(name, "erreicht_%4d%n", &y, &n) == 1 ||
       sscanf(name, "achieved_%4d%n", &y, &n) == 1) &&
      !name[n] && y >= 1990 && y <= 2100)
    return y;
  return 0;
}

enum {
  F_ID,
  F_SECTOR,
  F_TITLE,
  F_DESC,
  F_RESP,
  F_PARTNERS,
  F_TARGET,
  F_STATUS,
  F_PHASE,
  F_COMPLETION,
  F_PSTART,
  F_PEND,
  F_ASTART,
  F_AEND,
  F_PLANNED,
  F_BUDGET,
  F_SPENT,
  F_IND,
  F_BASELINE,
  F_FACTOR,
  F_SOURCE,
  F_PRIORITY,
  F_EXPECTED,
  F_N
};

/* Header names, English key first, then German and other spellings. */
static const char *const cat_names[F_N][6] = {
    [F_ID] = {"id", "nr", "nummer", "name", "kennung", NULL},
    [F_SECTOR] = {"sector", "handlungsfeld", "sektor", "theme", NULL},
    [F_TITLE] = {"title", "titel", "maßnahme", "massnahme", "bezeichnung",
                 NULL},
    [F_DESC] = {"description", "beschreibung", "kurzbeschreibung", NULL},
    [F_RESP] = {"responsible", "verantwortlich", "zuständig",
                "organisationseinheit", NULL},
    [F_PARTNERS] = {"partners", "partner", "beteiligte", NULL},
    [F_TARGET] = {"target_group", "zielgruppe", "zielgruppen", NULL},
    [F_STATUS] = {"status", "zeitplan", "schedule_status", NULL},
    [F_PHASE] = {"phase", "umsetzungsstand", "stand", "progress", NULL},
    [F_COMPLETION] = {"completion", "fortschritt", "fortschritt_prozent",
                      "umsetzungsgrad", NULL},
    [F_PSTART] = {"planned_start", "beginn_geplant", "start", NULL},
    [F_PEND] = {"planned_end", "ende_geplant", "planned_completion", NULL},
    [F_ASTART] = {"actual_start", "beginn", "beginn_tatsächlich", NULL},
    [F_AEND] = {"actual_end", "ende", "ende_tatsächlich", NULL},
    [F_PLANNED] = {"planned_t", "minderung_t", "co2e_t", "thg_minderung",
                   "emission_reductions", NULL},
    [F_BUDGET] = {"budget", "kosten", "budget_eur", NULL},
    [F_SPENT] = {"spent", "ausgaben", "verausgabt", "spent_eur", NULL},
    [F_IND] = {"indicators", "indikatoren", "indikator", NULL},
    [F_BASELINE] = {"baseline", "basisjahre", "referenzjahre", NULL},
    [F_FACTOR] = {"factor", "faktor", "t_co2e_je_einheit", NULL},
    [F_SOURCE] = {"source", "quelle", "herkunft", NULL},
    [F_PRIORITY] = {"priority", "priorität", "prioritaet", NULL},
    [F_EXPECTED] = {"expected", "erwartet", NULL},
};

static int cat_field_of(const char *name) {
  char low[64];
  size_t k = 0;
  while (*name == ' ' || *name == '\xef' || *name == '\xbb' || *name == '\xbf')
    name++; /* spaces, a UTF-8 BOM */
  for (; *name && k + 1 < sizeof low; name++)
    low[k++] = (char)tolower((unsigned char)*name);
  while (k && low[k - 1] == ' ')
    k--;
  low[k] = 0;
  for (int f = 0; f < F_N; f++)
    for (int i = 0; cat_names[f][i]; i++)
      if (strcmp(low, cat_names[f][i]) == 0) return f;
  return -1;
}

static const char *cat_f(const cat_fields_t *f, int k) {
  return f->v[k] ? f->v[k] : "";
}

/* Splits "a|b; c" (the indicators) into m->ind. */
static int cat_indicators(cat_measure_t *m, const char *s, char *err,
                          size_t n) {
  const char *p = s;
  while (*p) {
    while (*p == ' ' || *p == '|' || *p == ';')
      p++;
    if (!*p) break;
    const char *e = p;
    while (*e && *e != '|' && *e != ';')
      e++;
    size_t len = (size_t)(e - p);
    while (len && p[len - 1] == ' ')
      len--;
    char **ni = realloc(m->ind, (m->nind + 1) * sizeof *ni);
    if (!ni) return KK_ENOMEM;
    m->ind = ni;
    char *x = malloc(len + 1);
    if (!x) return KK_ENOMEM;
    memcpy(x, p, len);
    x[len] = 0;
    m->ind[m->nind++] = x;
    if (!strchr(x, '/') || x[0] == '/' || x[len - 1] == '/') {
      snprintf(err, n, "indicator '%s' is not \"thing/property\"", x);
      return KK_EINVAL;
    }
    p = e;
  }
  return 0;
}

static int cat_add(calc_cat_t *c, const cat_fields_t *f, char *err, size_t n) {
  if (cat_grow(c)) return KK_ENOMEM;
  cat_measure_t *m = &c->m[c->n];
  memset(m, 0, sizeof *m);
  m->completion = m->planned_t = m->budget = m->spent = m->factor =
      m->expected = NAN;
  const char *id = cat_f(f, F_ID);
  if (!cat_id_ok(id)) {
    snprintf(err, n, "id '%.80s' must be 1-64 letters, digits, '.', '_' or '-'",
             id);
    return KK_EINVAL;
  }
  if (calc_cat_find(c, id)) {
    snprintf(err, n, "id '%s' is used twice", id);
    return KK_EINVAL;
  }
  int st = calc_cat_parse_status(cat_f(f, F_STATUS));
  int ph = calc_cat_parse_phase(cat_f(f, F_PHASE));
  if (st < 0) {
    snprintf(err, n,
             "%s: status '%.60s' is none of on_time (im Zeitplan), late "
             "(verzögert), cancelled (abgebrochen)",
             id, cat_f(f, F_STATUS));
    return KK_EINVAL;
  }
  if (ph < 0) {
    snprintf(err, n,
             "%s: phase '%.60s' is none of not_started, planning, "
             "implementation, completed (nicht gestartet, Planung, Umsetzung, "
             "abgeschlossen)",
             id, cat_f(f, F_PHASE));
    return KK_EINVAL;
  }
  m->status = (cat_status_t)st;
  m->phase = (cat_phase_t)ph;
  struct {
    int f;
    double *dst;
    double lo, hi;
  } nums[] = {{F_COMPLETION, &m->completion, 0, 100},
              {F_BUDGET, &m->budget, 0, 1e13},
              {F_SPENT, &m->spent, 0, 1e13},
              {F_FACTOR, &m->factor, -1e9, 1e9},
              {F_EXPECTED, &m->expected, -1e15, 1e15}};
  for (size_t k = 0; k < sizeof nums / sizeof *nums; k++) {
    double v;
    if (cat_number(cat_f(f, nums[k].f), &v) ||
        (!isnan(v) && (v < nums[k].lo || v > nums[k].hi))) {
      snprintf(err, n, "%s: %s '%.40s' is not a number in [%g, %g]", id,
               cat_names[nums[k].f][0], cat_f(f, nums[k].f), nums[k].lo,
               nums[k].hi);
      return KK_EINVAL;
    }
    *nums[k].dst = v;
  }
  const char *pl = cat_f(f, F_PLANNED);
  if (cat_number(pl, &m->planned_t) != 0) {
    int cl = cat_parse_class(pl);
    if (cl < 0) {
      snprintf(err, n,
               "%s: planned_t '%.40s' is neither t CO2e/a nor a class (hoch, "
               "mittel, niedrig, indirekt, keine)",
               id, pl);
      return KK_EINVAL;
    }
    m->planned_t = NAN;
    m->planned_class = (cat_class_t)cl;
  }
  struct {
    int f;
    char *dst;
  } dates[] = {{F_PSTART, m->planned_start},
               {F_PEND, m->planned_end},
               {F_ASTART, m->actual_start},
               {F_AEND, m->actual_end}};
  for (size_t k = 0; k < 4; k++)
    if (calc_cat_date(cat_f(f, dates[k].f), dates[k].dst) != 0) {
      snprintf(err, n,
               "%s: %s '%.40s' is not a date (2025, 2025-03, "
               "2025-03-01 or 01.03.2025)",
               id, cat_names[dates[k].f][0], cat_f(f, dates[k].f));
      return KK_EINVAL;
    }
  const char *bl = cat_f(f, F_BASELINE);
  if (*bl) {
    int a = 0, b = 0;
    if (sscanf(bl, "%d-%d", &a, &b) == 2 || sscanf(bl, "%d–%d", &a, &b) == 2) {
    } else if (sscanf(bl, "%d", &a) == 1)
      b = a;
    if (a < 1900 || b < a || b > 2200) {
      snprintf(err, n, "%s: baseline '%.40s' is not \"2019-2021\"", id, bl);
      return KK_EINVAL;
    }
    m->base_from = a;
    m->base_to = b;
  }
  char thing[80];
  snprintf(thing, sizeof thing, "measure/%s", id);
  m->id = calc_cat_strdup(id);
  m->thing = calc_cat_strdup(thing);
  m->sector = calc_cat_strdup(cat_f(f, F_SECTOR));
  m->title = calc_cat_strdup(*cat_f(f, F_TITLE) ? cat_f(f, F_TITLE) : id);
  m->description = calc_cat_strdup(cat_f(f, F_DESC));
  m->responsible = calc_cat_strdup(cat_f(f, F_RESP));
  m->partners = calc_cat_strdup(cat_f(f, F_PARTNERS));
  m->target_group = calc_cat_strdup(cat_f(f, F_TARGET));
  m->source = calc_cat_strdup(cat_f(f, F_SOURCE));
  m->priority = calc_cat_strdup(cat_f(f, F_PRIORITY));
  c->n++; /* from here on cat_measure_free() owns what is set */
  if (!m->id || !m->thing || !m->sector || !m->title || !m->description ||
      !m->responsible || !m->partners || !m->target_group || !m->source ||
      !m->priority)
    return KK_ENOMEM;
  for (size_t k = 0; k < f->ny; k++) {
    double v;
    if (cat_number(f->yv[k], &v) != 0) {
      snprintf(err, n, "%s: erreicht_%d '%.40s' is not t CO2e", id, f->year[k],
               f->yv[k]);
      return KK_EINVAL;
    }
    cat_year_t *y = isnan(v) ? NULL : calc_cat_year(m, f->year[k]);
    if (y) y->reported = v;
  }
  int rc = cat_indicators(m, cat_f(f, F_IND), err, n);
  if (rc) return rc;
  if (m->nind && !(m->ind_last = malloc(m->nind * sizeof *m->ind_last)))
    return KK_ENOMEM;
  for (size_t k = 0; k < m->nind; k++)
    m->ind_last[k] = INT64_MIN;
  if (m->nind && !m->base_from) {
    snprintf(err, n, "%s: indicators need a baseline (\"2019-2021\")", id);
    return KK_EINVAL;
  }
  return 0;
}

/* ---- CSV ----------------------------------------------------------------
 * RFC 4180 with the separator of the header line (';' as German
 * spreadsheets write it, or ','); quoted fields may span lines. */

typedef struct cat_csv {
  const char *p, *end;
  char sep;
  int line;
} cat_csv_t;

/* Reads one record into fields (pointers into `store`, which grows).
 * Returns the number of fields, 0 at the end, -1 for a bad quote. */
static int cat_csv_record(cat_csv_t *r, kk_buf_t *store, size_t *off,
                          size_t maxf) {
  size_t nf = 0;
  store->len = 0;
  if (store->p) store->p[0] = 0;
  if (r->p >= r->end) return 0;
  for (;;) {
    if (nf == maxf) return -1;
    off[nf++] = store->len;
    if (r->p < r->end && *r->p == '"') {
      r->p++;
      for (;;) {
        if (r->p >= r->end) return -1;
        if (*r->p == '"') {
          if (r->p + 1 < r->end && r->p[1] == '"') {
            kk_buf_put(store, "\"", 1);
            r->p += 2;
            continue;
          }
          r->p++;
          break;
        }
        if (*r->p == '\n') r->line++;
        kk_buf_put(store, r->p++, 1);
      }
    } else {
      const char *s = r->p;
      while (r->p < r->end && *r->p != r->sep && *r->p != '\n' && *r->p != '\r')
        r->p++;
      kk_buf_put(store, s, (size_t)(r->p - s));
    }
    kk_buf_put(store, "", 1); /* NUL between fields */
    if (r->p < r->end && *r->p == r->sep) {
      r->p++;
      continue;
    }
    if (r->p < r->end && *r->p == '\r') r->p++;
    if (r->p < r->end && *r->p == '\n') r->p++;
    r->line++;
    return (int)nf;
  }
}

static int cat_load_csv_text(calc_cat_t *c, const char *text, size_t len,
                             char *err, size_t n) {
  cat_csv_t r = {text, text + len, ';', 1};
  const char *nl = memchr(text, '\n', len);
  size_t hl = nl ? (size_t)(nl - text) : len;
  size_t semis = 0, commas = 0;
  for (size_t i = 0; i < hl; i++)
    semis += text[i] == ';', commas += text[i] == ',';
  r.sep = semis >= commas ? ';' : ',';
  kk_buf_t store = {0};
  size_t off[64];
  int col[64];
  int nh = cat_csv_record(&r, &store, off, 64);
  if (nh <= 0 || store.oom) {
    kk_buf_free(&store);
    snprintf(err, n,
             "line 1: expected a header line (id;handlungsfeld;"
             "titel;...)");
    return KK_EPARSE;
  }
  int have_id = 0, ycol[64];
  for (int i = 0; i < nh; i++) {
    col[i] = cat_field_of(store.p + off[i]);
    ycol[i] = col[i] < 0 ? cat_year_column(store.p + off[i]) : 0;
    have_id |= col[i] == F_ID;
  }
  if (!have_id) {
    kk_buf_free(&store);
    snprintf(err, n, "line 1: no column 'id' in the header");
    return KK_EPARSE;
  }
  int rc = 0;
  for (;;) {
    int line = r.line;
    int nf = cat_csv_record(&r, &store, off, 64);
    if (nf == 0) break;
    if (nf < 0 || store.oom) {
      snprintf(err, n, "line %d: unterminated quote or more than 64 fields",
               line);
      rc = KK_EPARSE;
      break;
    }
    if (nf == 1 && !store.p[off[0]]) continue; /* empty line */
    cat_fields_t f;
    memset(&f, 0, sizeof f);
    for (int i = 0; i < nf && i < nh; i++)
      if (col[i] >= 0)
        f.v[col[i]] = store.p + off[i];
      else if (ycol[i] && f.ny < 16) {
        f.year[f.ny] = ycol[i];
        f.yv[f.ny++] = store.p + off[i];
      }
    char e[300];
    rc = cat_add(c, &f, e, sizeof e);
    if (rc) {
      snprintf(err, n, "line %d: %s", line,
               rc == KK_ENOMEM ? "out of memory" : e);
      break;
    }
  }
  kk_buf_free(&store);
  return rc;
}

int calc_cat_load_csv(calc_cat_t *c, const char *path, char *err, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    return KK_EINVAL;
  }
  kk_buf_t b = {0};
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
    kk_buf_put(&b, chunk, got);
  fclose(f);
  if (b.oom) {
    kk_buf_free(&b);
    return KK_ENOMEM;
  }
  char e[400];
  int rc = cat_load_csv_text(c, b.p ? b.p : "", b.len, e, sizeof e);
  if (rc) snprintf(err, n, "%s:%s", path, e + (strncmp(e, "line ", 5) ? 0 : 5));
  kk_buf_free(&b);
  return rc;
}

/* ---- JSON (the recipe's Lua table) ------------------------------------ */

int calc_cat_load_json(calc_cat_t *c, const char *json, char *err, size_t n) {
  cJSON *root = cJSON_Parse(json);
  if (!cJSON_IsArray(root)) {
    cJSON_Delete(root);
    snprintf(err, n, "expected a list of measures");
    return KK_EINVAL;
  }
  int rc = 0, i = 0;
  const cJSON *j;
  cJSON_ArrayForEach(j, root) {
    i++;
    cat_fields_t f;
    memset(&f, 0, sizeof f);
    char tmp[F_N][64];
    kk_buf_t ind = {0};
    const cJSON *x;
    char ytxt[16][KK_FMT_DOUBLE_MAX];
    cJSON_ArrayForEach(x, j) {
      int k = cat_field_of(x->string);
      if (k < 0 && strcmp(x->string, "achieved") == 0 && cJSON_IsObject(x)) {
        const cJSON *yv;
        cJSON_ArrayForEach(yv, x) {
          if (f.ny < 16 && cJSON_IsNumber(yv) && atoi(yv->string) > 0) {
            kk_fmt_double(yv->valuedouble, ytxt[f.ny]);
            f.year[f.ny] = atoi(yv->string);
            f.yv[f.ny] = ytxt[f.ny];
            f.ny++;
          }
        }
        continue;
      }
      if (k < 0) continue;
      if (cJSON_IsString(x))
        f.v[k] = x->valuestring;
      else if (cJSON_IsNumber(x)) {
        kk_fmt_double(x->valuedouble, tmp[k]);
        f.v[k] = tmp[k];
      } else if (k == F_IND && cJSON_IsArray(x)) {
        const cJSON *s;
        cJSON_ArrayForEach(s, x) {
          if (cJSON_IsString(s)) {
            if (ind.len) kk_buf_puts(&ind, "|");
            kk_buf_puts(&ind, s->valuestring);
          }
        }
        f.v[k] = ind.p ? ind.p : "";
      } else if (k == F_BASELINE && cJSON_IsObject(x)) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(x, "from");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(x, "to");
        if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) {
          snprintf(tmp[k], sizeof tmp[k], "%d-%d", (int)a->valuedouble,
                   (int)b->valuedouble);
          f.v[k] = tmp[k];
        }
      }
    }
    char e[300];
    rc = cat_add(c, &f, e, sizeof e);
    kk_buf_free(&ind);
    if (rc) {
      snprintf(err, n, "measures[%d]: %s", i,
               rc == KK_ENOMEM ? "out of memory" : e);
      break;
    }
  }
  cJSON_Delete(root);
  return rc;
}
