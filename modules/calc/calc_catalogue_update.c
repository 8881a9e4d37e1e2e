/*
 * modules/calc/calc_catalogue_update.c - the measures catalogue: partner
 * updates with their history, JSON output, the snapshot lines of a
 * measure's state, and the registry of running catalogues
 * (calc_catalogue.h).
 */
#include "calc/calc_catalogue.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- updates ------------------------------------------------------------ */

static void cat_hist_add(cat_measure_t *m, int64_t t, int64_t recv,
                         const char *author, const char *summary,
                         const char *note) {
  if (m->nhist == CAT_MAX_HISTORY) {
    free(m->hist[0].author);
    free(m->hist[0].summary);
    free(m->hist[0].note);
    memmove(&m->hist[0], &m->hist[1], (m->nhist - 1) * sizeof *m->hist);
    m->nhist--;
  }
  cat_hist_t *h = realloc(m->hist, (m->nhist + 1) * sizeof *h);
  if (!h) return;
  m->hist = h;
  h[m->nhist] =
      (cat_hist_t){t, recv, calc_cat_strdup(author), calc_cat_strdup(summary),
                   note && *note ? calc_cat_strdup(note) : NULL};
  m->nhist++;
}

static const char *cat_sget(const cJSON *u, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

int calc_cat_update(calc_cat_t *c, const cJSON *u, int64_t recv_ms,
                    const char *fallback_author, cat_measure_t **changed,
                    char *err, size_t n) {
  *changed = NULL;
  const char *id = cat_sget(u, "id");
  const char *thing = cat_sget(u, "thing");
  if (!id && thing && strncmp(thing, "measure/", 8) == 0) id = thing + 8;
  if (!id) {
    snprintf(err, n, "update without \"id\"");
    return KK_EINVAL;
  }
  cat_measure_t *m = calc_cat_find(c, id);
  if (!m) {
    snprintf(err, n, "no measure '%.64s' in the catalogue", id);
    return KK_EUNKNOWN;
  }
  /* The update's own fields may sit in "update" (the reading envelope
   * that source.http accepts) or at the top. */
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(u, "update");
  if (!cJSON_IsObject(f)) f = u;
  /* Validate everything first; apply only a wholly valid update. */
  int st = -1, ph = -1;
  double comp = NAN, spent = NAN, budget = NAN;
  char as[11] = "", ae[11] = "";
  const char *s;
  if ((s = cat_sget(f, "status")) && (st = calc_cat_parse_status(s)) < 0) {
    snprintf(err, n, "%s: status '%.40s' unknown (on_time, late, cancelled)",
             id, s);
    return KK_EINVAL;
  }
  if ((s = cat_sget(f, "phase")) && (ph = calc_cat_parse_phase(s)) < 0) {
    snprintf(err, n,
             "%s: phase '%.40s' unknown (not_started, planning, "
             "implementation, completed)",
             id, s);
    return KK_EINVAL;
  }
  const char *numk[] = {"completion", "spent", "budget"};
  double *numv[] = {&comp, &spent, &budget};
  for (int k = 0; k < 3; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, numk[k]);
    if (!v) continue;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        (k == 0 && v->valuedouble > 100)) {
      snprintf(err, n, "%s: %s must be a number%s", id, numk[k],
               k == 0 ? " from 0 to 100" : " >= 0");
      return KK_EINVAL;
    }
    *numv[k] = v->valuedouble;
  }
  /* The envelope's value is the completion when the property says so. */
  const char *prop = cat_sget(u, "property");
  const cJSON *val = cJSON_GetObjectItemCaseSensitive(u, "value");
  if (isnan(comp) && prop && strcmp(prop, "completion") == 0 &&
      cJSON_IsNumber(val)) {
    if (val->valuedouble < 0 || val->valuedouble > 100) {
      snprintf(err, n, "%s: completion must be from 0 to 100", id);
      return KK_EINVAL;
    }
    comp = val->valuedouble;
  }
  if (((s = cat_sget(f, "actual_start")) && (calc_cat_date(s, as) || !as[0])) ||
      ((s = cat_sget(f, "actual_end")) && (calc_cat_date(s, ae) || !ae[0]))) {
    snprintf(err, n, "%s: '%.40s' is not a date", id, s);
    return KK_EINVAL;
  }
  const cJSON *rep = cJSON_GetObjectItemCaseSensitive(f, "reported");
  if (rep && !cJSON_IsObject(rep)) {
    snprintf(err, n, "%s: reported must be {\"2025\": t CO2e, ...}", id);
    return KK_EINVAL;
  }
  const cJSON *x;
  cJSON_ArrayForEach(x, rep) {
    int y = atoi(x->string);
    if (y < 1900 || y > 2200 || !cJSON_IsNumber(x) ||
        !isfinite(x->valuedouble)) {
      snprintf(err, n, "%s: reported[\"%.10s\"] must be a year with t CO2e", id,
               x->string);
      return KK_EINVAL;
    }
  }
  int64_t t = recv_ms;
  if ((s = cat_sget(u, "time")) || (s = cat_sget(f, "time"))) {
    if (kk_time_parse_iso8601(s, strlen(s), &t) != 0) {
      snprintf(err, n, "%s: time '%.40s' is not ISO 8601", id, s);
      return KK_EINVAL;
    }
  }
  const char *author = cat_sget(f, "author");
  if (!author || !*author) author = cat_sget(u, "author");
  if (!author || !*author) author = fallback_author;
  /* Apply and describe. */
  kk_buf_t sum = {0};
#define CAT_SEP() (sum.len ? kk_buf_puts(&sum, "; ") : (void)0)
  if (st >= 0 && st != (int)m->status) {
    CAT_SEP();
    kk_buf_printf(&sum, "status: %s → %s", cat_status_keys[m->status],
                  cat_status_keys[st]);
    m->status = (cat_status_t)st;
  }
  if (ph >= 0 && ph != (int)m->phase) {
    CAT_SEP();
    kk_buf_printf(&sum, "phase: %s → %s", cat_phase_keys[m->phase],
                  cat_phase_keys[ph]);
    m->phase = (cat_phase_t)ph;
  }
  char a[KK_FMT_DOUBLE_MAX], b[KK_FMT_DOUBLE_MAX];
  const char *nn[] = {"completion %", "spent EUR", "budget EUR"};
  double *dst[] = {&m->completion, &m->spent, &m->budget};
  for (int k = 0; k < 3; k++) {
    if (isnan(*numv[k]) || *numv[k] == *dst[k]) continue;
    kk_fmt_double(*dst[k], a);
    kk_fmt_double(*numv[k], b);
    CAT_SEP();
    kk_buf_printf(&sum, "%s: %s → %s", nn[k], strcmp(a, "null") ? a : "–", b);
    *dst[k] = *numv[k];
  }
  if (as[0] && strcmp(as, m->actual_start)) {
    CAT_SEP();
    kk_buf_printf(&sum, "actual_start: %s", as);
    memcpy(m->actual_start, as, sizeof as);
  }
  if (ae[0] && strcmp(ae, m->actual_end)) {
    CAT_SEP();
    kk_buf_printf(&sum, "actual_end: %s", ae);
    memcpy(m->actual_end, ae, sizeof ae);
  }
  cJSON_ArrayForEach(x, rep) {
    cat_year_t *y = calc_cat_year(m, atoi(x->string));
    if (!y) continue;
    kk_fmt_double(x->valuedouble, b);
    CAT_SEP();
    kk_buf_printf(&sum, "reported %d: %s t CO2e", y->year, b);
    y->reported = x->valuedouble;
  }
#undef CAT_SEP
  const char *note = cat_sget(f, "note");
  if (!sum.len && !(note && *note)) kk_buf_puts(&sum, "confirmed unchanged");
  cat_hist_add(m, t, recv_ms, author ? author : "", sum.p ? sum.p : "", note);
  kk_buf_free(&sum);
  if (t > m->updated_ms) m->updated_ms = t;
  c->gen++;
  *changed = m;
  return 0;
}

/* ---- JSON out ------------------------------------------------------------ */

static void cat_jstr(kk_buf_t *b, const char *k, const char *v) {
  kk_buf_printf(b, "\"%s\":\"", k);
  kk_buf_json(b, v ? v : "");
  kk_buf_puts(b, "\",");
}
static void cat_jnum(kk_buf_t *b, const char *k, double v) {
  kk_buf_printf(b, "\"%s\":", k);
  kk_buf_double(b, v);
  kk_buf_puts(b, ",");
}
static void cat_jend(kk_buf_t *b, char close) {
  if (b->len && b->p[b->len - 1] == ',')
    b->p[b->len - 1] = close;
  else
    kk_buf_put(b, &close, 1);
}

static void cat_hist_json(const cat_measure_t *m, kk_buf_t *b) {
  kk_buf_puts(b, "\"history\":[");
  for (size_t k = 0; k < m->nhist; k++) {
    const cat_hist_t *h = &m->hist[k];
    char t[40], r[40];
    kk_time_format_iso8601(h->time_ms, t);
    kk_time_format_iso8601(h->recv_ms, r);
    kk_buf_puts(b, "{");
    cat_jstr(b, "time", t);
    cat_jstr(b, "received", r);
    cat_jstr(b, "author", h->author);
    cat_jstr(b, "change", h->summary);
    if (h->note) cat_jstr(b, "note", h->note);
    cat_jend(b, '}');
    kk_buf_puts(b, ",");
  }
  cat_jend(b, ']');
  kk_buf_puts(b, ",");
}

static void cat_years_json(const cat_measure_t *m, kk_buf_t *b, int state) {
  kk_buf_puts(b, "\"years\":[");
  for (size_t k = 0; k < m->nyears; k++) {
    const cat_year_t *y = &m->years[k];
    kk_buf_printf(b, "{\"year\":%d,", y->year);
    if (state) {
      cat_jnum(b, "actual", y->actual);
      cat_jnum(b, "reported", y->reported);
    } else {
      char how = 0;
      double ach = calc_cat_achieved(m, y, &how);
      cat_jnum(b, "expected_t", calc_cat_expected(m, y->year));
      cat_jnum(b, "achieved_t", ach);
      cat_jstr(b, "achieved_from",
               how == 'm'   ? "metered"
               : how == 'r' ? "reported"
                            : "");
      cat_jnum(b, "impact", y->impact);
      cat_jnum(b, "metered_t", y->metered);
      cat_jnum(b, "reported_t", y->reported);
    }
    cat_jend(b, '}');
    kk_buf_puts(b, ",");
  }
  cat_jend(b, ']');
  kk_buf_puts(b, ",");
}

void calc_cat_json(const calc_cat_t *c, kk_buf_t *b, int history) {
  kk_buf_puts(b, "[");
  for (size_t i = 0; i < c->n; i++) {
    const cat_measure_t *m = &c->m[i];
    kk_buf_puts(b, i ? ",{" : "{");
    cat_jstr(b, "id", m->id);
    cat_jstr(b, "sector", m->sector);
    cat_jstr(b, "title", m->title);
    cat_jstr(b, "description", m->description);
    cat_jstr(b, "responsible", m->responsible);
    cat_jstr(b, "partners", m->partners);
    cat_jstr(b, "target_group", m->target_group);
    cat_jstr(b, "source", m->source);
    cat_jstr(b, "priority", m->priority);
    cat_jstr(b, "status", cat_status_keys[m->status]);
    cat_jstr(b, "phase", cat_phase_keys[m->phase]);
    cat_jnum(b, "completion", m->completion);
    cat_jstr(b, "planned_start", m->planned_start);
    cat_jstr(b, "planned_end", m->planned_end);
    cat_jstr(b, "actual_start", m->actual_start);
    cat_jstr(b, "actual_end", m->actual_end);
    cat_jnum(b, "planned_t", m->planned_t);
    cat_jstr(b, "planned_class", cat_class_keys[m->planned_class]);
    cat_jnum(b, "budget", m->budget);
    cat_jnum(b, "spent", m->spent);
    kk_buf_puts(b, "\"indicators\":[");
    for (size_t k = 0; k < m->nind; k++) {
      kk_buf_puts(b, k ? ",\"" : "\"");
      kk_buf_json(b, m->ind[k]);
      kk_buf_puts(b, "\"");
    }
    kk_buf_puts(b, "],");
    if (m->updated_ms) {
      char t[40];
      kk_time_format_iso8601(m->updated_ms, t);
      cat_jstr(b, "updated", t);
    }
    cat_years_json(m, b, 0);
    if (history) cat_hist_json(m, b);
    cat_jend(b, '}');
  }
  kk_buf_puts(b, "]");
}

/* ---- snapshot state -------------------------------------------------------
 * What updates and indicators change, by id (a catalogue edited between
 * runs keeps the state of the measures it still has). */

void calc_cat_state_json(const cat_measure_t *m, kk_buf_t *b) {
  kk_buf_puts(b, "{");
  cat_jstr(b, "id", m->id);
  kk_buf_printf(b, "\"st\":%d,\"ph\":%d,", (int)m->status, (int)m->phase);
  cat_jnum(b, "completion", m->completion);
  cat_jnum(b, "spent", m->spent);
  cat_jnum(b, "budget", m->budget);
  cat_jstr(b, "as", m->actual_start);
  cat_jstr(b, "ae", m->actual_end);
  kk_buf_printf(b, "\"upd\":%lld,", (long long)m->updated_ms);
  cat_jstr(b, "u", m->unit);
  cat_years_json(m, b, 1);
  kk_buf_puts(b, "\"il\":[");
  for (size_t k = 0; k < m->nind; k++)
    kk_buf_printf(b, "%s%lld", k ? "," : "", (long long)m->ind_last[k]);
  kk_buf_puts(b, "],\"h\":[");
  for (size_t k = 0; k < m->nhist; k++) {
    const cat_hist_t *h = &m->hist[k];
    kk_buf_printf(b, "%s{\"t\":%lld,\"r\":%lld,", k ? "," : "",
                  (long long)h->time_ms, (long long)h->recv_ms);
    cat_jstr(b, "a", h->author);
    cat_jstr(b, "s", h->summary);
    if (h->note) cat_jstr(b, "n", h->note);
    cat_jend(b, '}');
  }
  kk_buf_puts(b, "]}");
}

static double cat_jd(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int calc_cat_state_load(calc_cat_t *c, const char *json) {
  cJSON *o = cJSON_Parse(json);
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return KK_EPARSE;
  }
  const char *id = cat_sget(o, "id");
  cat_measure_t *m = id ? calc_cat_find(c, id) : NULL;
  if (!m) { /* removed from the catalogue since: forget it */
    cJSON_Delete(o);
    return 0;
  }
  double st = cat_jd(o, "st"), ph = cat_jd(o, "ph");
  if (st >= 0 && st < CAT_ST_N) m->status = (cat_status_t)st;
  if (ph >= 0 && ph < CAT_PH_N) m->phase = (cat_phase_t)ph;
  m->completion = cat_jd(o, "completion");
  m->spent = cat_jd(o, "spent");
  m->budget = cat_jd(o, "budget");
  const char *s;
  if ((s = cat_sget(o, "as"))) snprintf(m->actual_start, 11, "%s", s);
  if ((s = cat_sget(o, "ae"))) snprintf(m->actual_end, 11, "%s", s);
  if ((s = cat_sget(o, "u")) && *s) snprintf(m->unit, sizeof m->unit, "%s", s);
  double upd = cat_jd(o, "upd");
  m->updated_ms = isnan(upd) ? 0 : (int64_t)upd;
  const cJSON *x;
  cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "years")) {
    double yr = cat_jd(x, "year");
    cat_year_t *y = isnan(yr) ? NULL : calc_cat_year(m, (int)yr);
    if (!y) continue;
    y->actual = cat_jd(x, "actual");
    y->reported = cat_jd(x, "reported");
  }
  size_t ik = 0;
  cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "il")) {
    if (ik < m->nind && cJSON_IsNumber(x))
      m->ind_last[ik] = (int64_t)x->valuedouble;
    ik++;
  }
  cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "h")) {
    double t = cat_jd(x, "t"), r = cat_jd(x, "r");
    cat_hist_add(m, isnan(t) ? 0 : (int64_t)t, isnan(r) ? 0 : (int64_t)r,
                 cat_sget(x, "a"), cat_sget(x, "s"), cat_sget(x, "n"));
  }
  cJSON_Delete(o);
  c->gen++;
  return 0;
}

/* ---- registry ----------------------------------------------------------- */

static calc_cat_t *cat_head;

void calc_cat_publish(calc_cat_t *c) {
  for (calc_cat_t *x = cat_head; x; x = x->next)
    if (x == c) return;
  calc_cat_t **p = &cat_head;
  while (*p)
    p = &(*p)->next;
  c->next = NULL;
  *p = c;
}

void calc_cat_withdraw(calc_cat_t *c) {
  for (calc_cat_t **p = &cat_head; *p; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      c->next = NULL;
      return;
    }
}

calc_cat_t *calc_cat_first(void) {
  return cat_head;
}
calc_cat_t *calc_cat_next(const calc_cat_t *c) {
  return c->next;
}

uint64_t calc_cat_generation(void) {
  uint64_t g = 0;
  for (calc_cat_t *x = cat_head; x; x = x->next)
    g += x->gen + 1;
  return g;
}
