/*
 * modules/publish/export/export_measures.h - the measures catalogue in the
 * open-data export (export_measures.c): two datasets, one row per measure
 * (massnahmen.csv) and one per measure and year (massnahmen-jahre.csv),
 * with their DCAT-AP.de entries and checksums like every other dataset.
 * The catalogues of the running calc.measures stages are captured as text
 * on the loop thread (ex_measures_capture) and written by the worker.
 * Not a public API.
 */
#ifndef KK_MODULES_EXPORT_MEASURES_H
#define KK_MODULES_EXPORT_MEASURES_H

#include "publish/export/export.h"

/* Replaces c->measures with the catalogues running now (loop thread);
 * none: c->measures stays NULL. */
void ex_measures_capture(ex_config_t *c);
/* Frees c->measures. */
void ex_measures_free(ex_config_t *c);
/* Appends the measures datasets (CSV written, closed, not committed) to
 * *ds (*n grows).  0 when there is nothing to add, else 0 or a negative
 * code with the reason in err. */
int ex_measures_datasets(const ex_config_t *c, ex_dataset_t **ds, size_t *n,
                         char *err, size_t errlen);

#endif
