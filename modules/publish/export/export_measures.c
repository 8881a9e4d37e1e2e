/*
 * modules/publish/export/export_measures.c - measures in the open-data
 * export (export_measures.h).
 *
 * What is published: the fields of the catalogue a council paper shows
 * (id, Handlungsfeld, title, description, responsible unit, partners,
 * target group, source, schedule status, phase, completion, dates,
 * planned t CO2e/a or class, budget, spent, indicators, last report) and
 * per year the expected and achieved t CO2e with their basis.  What is
 * not: the update history (who reported what when), which may name
 * people.
 */
#include "publish/export/export_measures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc_catalogue.h"

struct ex_measures {
  kk_buf_t rows, years;
  size_t nrows, nyears;
  int64_t first_year, last_year;
};

static void exme_field(kk_buf_t *b, const char *s) {
  if (!s) s = "";
  if (strpbrk(s, ",\"\r\n")) {
    kk_buf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
      if (*p == '"') kk_buf_puts(b, "\"");
      kk_buf_put(b, p, 1);
    }
    kk_buf_puts(b, "\"");
  } else
    kk_buf_puts(b, s);
}

static void exme_num(kk_buf_t *b, double v) {
  if (!isnan(v)) kk_buf_double(b, v);
}

void ex_measures_free(ex_config_t *c) {
  if (!c->measures) return;
  kk_buf_free(&c->measures->rows);
  kk_buf_free(&c->measures->years);
  free(c->measures);
  c->measures = NULL;
}

void ex_measures_capture(ex_config_t *c) {
  ex_measures_free(c);
  if (!calc_cat_first()) return;
  struct ex_measures *m = calloc(1, sizeof *m);
  if (!m) return;
  m->first_year = INT64_MAX;
  m->last_year = INT64_MIN;
  kk_buf_puts(&m->rows,
              "id,handlungsfeld,titel,beschreibung,verantwortlich,partner,"
              "zielgruppe,quelle,prioritaet,status,phase,fortschritt_prozent,"
              "beginn_geplant,ende_geplant,beginn,ende,minderung_t_co2e_a,"
              "minderung_klasse,budget_eur,ausgaben_eur,indikatoren,"
              "zuletzt_gemeldet\r\n");
  kk_buf_puts(&m->years, "id,jahr,erwartet_t_co2e,erreicht_t_co2e,grundlage,"
                         "gemessene_einsparung,einheit\r\n");
  for (calc_cat_t *cat = calc_cat_first(); cat; cat = calc_cat_next(cat))
    for (size_t i = 0; i < cat->n; i++) {
      const cat_measure_t *x = &cat->m[i];
      kk_buf_t *b = &m->rows;
      const char *txt[] = {x->id,
                           x->sector,
                           x->title,
                           x->description,
                           x->responsible,
                           x->partners,
                           x->target_group,
                           x->source,
                           x->priority,
                           cat_status_keys[x->status],
                           cat_phase_keys[x->phase]};
      for (size_t k = 0; k < sizeof txt / sizeof *txt; k++) {
        exme_field(b, txt[k]);
        kk_buf_puts(b, ",");
      }
      exme_num(b, x->completion);
      const char *dates[] = {x->planned_start, x->planned_end, x->actual_start,
                             x->actual_end};
      for (int k = 0; k < 4; k++) {
        kk_buf_puts(b, ",");
        exme_field(b, dates[k]);
      }
      kk_buf_puts(b, ",");
      exme_num(b, x->planned_t);
      kk_buf_puts(b, ",");
      exme_field(b, cat_class_keys[x->planned_class]);
      kk_buf_puts(b, ",");
      exme_num(b, x->budget);
      kk_buf_puts(b, ",");
      exme_num(b, x->spent);
      kk_buf_puts(b, ",");
      kk_buf_t ind = {0};
      for (size_t k = 0; k < x->nind; k++) {
        if (k) kk_buf_puts(&ind, "|");
        kk_buf_puts(&ind, x->ind[k]);
      }
      exme_field(b, ind.p);
      kk_buf_free(&ind);
      kk_buf_puts(b, ",");
      if (x->updated_ms) {
        char t[40];
        kk_time_format_iso8601(x->updated_ms, t);
        kk_buf_puts(b, t);
      }
      kk_buf_puts(b, "\r\n");
      m->nrows++;
      for (size_t k = 0; k < x->nyears; k++) {
        const cat_year_t *y = &x->years[k];
        char how = 0;
        double a = calc_cat_achieved(x, y, &how);
        double e = calc_cat_expected(x, y->year);
        if (isnan(a) && isnan(e) && isnan(y->impact)) continue;
        exme_field(&m->years, x->id);
        kk_buf_printf(&m->years, ",%d,", y->year);
        exme_num(&m->years, e);
        kk_buf_puts(&m->years, ",");
        exme_num(&m->years, a);
        kk_buf_puts(&m->years, how == 'm'   ? ",gemessen,"
                               : how == 'r' ? ",gemeldet,"
                                            : ",,");
        exme_num(&m->years, y->impact);
        kk_buf_puts(&m->years, ",");
        if (!isnan(y->impact)) exme_field(&m->years, x->unit);
        kk_buf_puts(&m->years, "\r\n");
        m->nyears++;
        if (y->year < m->first_year) m->first_year = y->year;
        if (y->year > m->last_year) m->last_year = y->year;
      }
    }
  if (m->rows.oom || m->years.oom) {
    kk_buf_free(&m->rows);
    kk_buf_free(&m->years);
    free(m);
    return;
  }
  c->measures = m;
}

/* Descriptions of the two datasets (static: a dataset borrows its spec). */
static ex_spec_t exme_specs[2] = {
    {.title = "Klimaschutzmaßnahmen: Katalog und Stand",
     .description =
         "Eine Zeile je Maßnahme: Handlungsfeld, Titel, Beschreibung, "
         "verantwortliche Stelle, Partner, Zielgruppe, Quelle "
         "(Klimaschutzkonzept oder Partner), Zeitplan-Status (on_time, late, "
         "cancelled), Phase (not_started, planning, implementation, "
         "completed), Fortschritt in Prozent, geplanter und tatsächlicher "
         "Beginn und Abschluss, geplante Minderung in t CO2e pro Jahr oder "
         "als Klasse, Budget und Ausgaben in Euro, Indikatoren. Exportiert "
         "von klimakit (calc.measures).",
     .keywords = "Klimaschutz,Maßnahmen,Monitoring,Klimaschutzkonzept"},
    {.title = "Klimaschutzmaßnahmen: Wirkung je Jahr",
     .description =
         "Eine Zeile je Maßnahme und Jahr: erwartete und erreichte Minderung "
         "in t CO2e, Grundlage (gemessen aus verknüpften Messreihen oder von "
         "den Verantwortlichen gemeldet) und die gemessene Einsparung in der "
         "Einheit der Indikatoren. Das laufende Jahr ist unvollständig. "
         "Exportiert von klimakit (calc.measures).",
     .keywords = "Klimaschutz,Maßnahmen,Wirkung,CO2e"},
};

static int exme_add(const ex_config_t *c, ex_dataset_t *d, const char *slug,
                    const kk_buf_t *text, const ex_spec_t *spec, int64_t first,
                    int64_t last, char *err, size_t errlen) {
  memset(d, 0, sizeof *d);
  d->slug = strdup(slug);
  d->property = strdup(slug);
  d->unit = strdup("1");
  d->spec = spec;
  d->first_ms = first;
  d->last_ms = last;
  d->csv = calloc(1, sizeof *d->csv);
  if (!d->slug || !d->property || !d->unit || !d->csv) return KK_ENOMEM;
  char name[96];
  snprintf(name, sizeof name, "%s.csv", slug);
  int rc = ex_file_open(d->csv, c->dir, name);
  if (rc) {
    snprintf(err, errlen, "cannot create %s in %s: %s", name, c->dir,
             kk_strerror(rc));
    return rc;
  }
  ex_file_put(d->csv, text->p ? text->p : "", text->len);
  if ((rc = ex_file_close(d->csv)) != 0)
    snprintf(err, errlen, "writing %s: %s", d->csv->path, kk_strerror(rc));
  return rc;
}

int ex_measures_datasets(const ex_config_t *c, ex_dataset_t **ds, size_t *n,
                         char *err, size_t errlen) {
  const struct ex_measures *m = c->measures;
  if (!m || !(c->formats & EX_CSV)) return 0;
  ex_dataset_t *nd = realloc(*ds, (*n + 2) * sizeof *nd);
  if (!nd) return KK_ENOMEM;
  *ds = nd;
  int64_t y0 = -1, y1 = -1;
  if (m->nyears) {
    y0 = kk_days_from_civil(m->first_year, 1, 1) * KK_DAY_MS;
    y1 = kk_days_from_civil(m->last_year + 1, 1, 1) * KK_DAY_MS - 1;
  }
  /* Each dataset counts in *n once begun, so that the run frees it. */
  int rc = exme_add(c, &nd[*n], "massnahmen", &m->rows, &exme_specs[0], -1, -1,
                    err, errlen);
  nd[*n].rows = m->nrows;
  (*n)++;
  if (rc) return rc;
  rc = exme_add(c, &nd[*n], "massnahmen-jahre", &m->years, &exme_specs[1], y0,
                y1, err, errlen);
  nd[*n].rows = m->nyears;
  (*n)++;
  return rc;
}
