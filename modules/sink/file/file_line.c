/*
 * modules/sink/file/file_line.c - sink.file's lines: a reading as a long
 * record (CSV, the klimakit JSON line or the template), a wide row, the
 * header, and the option parsing they need (template, columns).
 */
#include "sink/file/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name;
  int kind;
  int long_only; /* 1: long mode only, 2: wide only, 0: both */
} file_fields[] = {
    {"thing", FILE_SEG_THING, 0},     {"property", FILE_SEG_PROPERTY, 1},
    {"unit", FILE_SEG_UNIT, 1},       {"time", FILE_SEG_TIME, 0},
    {"time_ms", FILE_SEG_TIME_MS, 0}, {"local", FILE_SEG_LOCAL, 0},
    {"value", FILE_SEG_VALUE, 1},
};

static int file_seg_push(file_state_t *s, file_seg_t seg) {
  file_seg_t *n = realloc(s->segs, (s->nsegs + 1) * sizeof *n);
  if (!n) return KK_ENOMEM;
  s->segs = n;
  s->segs[s->nsegs++] = seg;
  return 0;
}

/* Resolves the field `name` (n bytes) of a template. */
static int file_field(file_state_t *s, const char *name, size_t n,
                      file_seg_t *seg) {
  for (size_t i = 0; i < sizeof file_fields / sizeof file_fields[0]; i++) {
    if (strlen(file_fields[i].name) != n ||
        memcmp(file_fields[i].name, name, n))
      continue;
    if (s->wide && file_fields[i].long_only == 1) return -1;
    seg->kind = file_fields[i].kind;
    return 0;
  }
  for (size_t c = 0; s->wide && c < s->ncols; c++)
    if (strlen(s->cols[c].property) == n &&
        memcmp(s->cols[c].property, name, n) == 0) {
      seg->kind = FILE_SEG_COLUMN;
      seg->col = c;
      return 0;
    }
  return -1;
}

/* Compiles "{thing},{time_ms},{value}" into segments; "{{" and "}}" are
 * literal braces. */
int sink_file_template(file_state_t *s, const char *t, char *err,
                       size_t errlen) {
  const char *p = t;
  while (*p) {
    const char *q = p;
    while (*q && *q != '{' && *q != '}')
      q++;
    if (q > p &&
        file_seg_push(s, (file_seg_t){FILE_SEG_LIT, 0, p, (size_t)(q - p)}))
      return KK_ENOMEM;
    if (!*q) break;
    if (q[0] == q[1]) { /* {{ or }} */
      if (file_seg_push(s, (file_seg_t){FILE_SEG_LIT, 0, q, 1}))
        return KK_ENOMEM;
      p = q + 2;
      continue;
    }
    const char *e = q[0] == '{' ? strchr(q, '}') : NULL;
    if (!e) {
      snprintf(err, errlen, "template: unmatched '%c' at offset %zu", *q,
               (size_t)(q - t));
      return KK_EINVAL;
    }
    file_seg_t seg = {0};
    if (file_field(s, q + 1, (size_t)(e - q - 1), &seg)) {
      snprintf(err, errlen, "template: unknown field {%.*s} (%s)",
               (int)(e - q - 1), q + 1,
               s->wide ? "wide mode knows thing, time, time_ms, local and "
                         "the columns' properties"
                       : "known: thing, property, unit, time, time_ms, "
                         "local, value");
      return KK_EINVAL;
    }
    if (file_seg_push(s, seg)) return KK_ENOMEM;
    p = e + 1;
  }
  return 0;
}

/* Parses the `columns` list: "co2" or "co2 [ppm]". */
int sink_file_columns(file_state_t *s, const kk_opts_t *opts, char *err,
                      size_t errlen) {
  size_t n = kk_opt_list_len(opts, "columns");
  s->cols = calloc(n ? n : 1, sizeof *s->cols);
  if (!s->cols) return KK_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const char *it = kk_opt_list_item(opts, "columns", i);
    file_col_t *c = &s->cols[s->ncols++];
    c->title = it;
    const char *br = strchr(it, '[');
    size_t plen = br ? (size_t)(br - it) : strlen(it);
    while (plen && it[plen - 1] == ' ')
      plen--;
    if (plen == 0 || (br && (strlen(br) < 3 || br[strlen(br) - 1] != ']'))) {
      snprintf(err, errlen,
               "columns: '%s' is not \"property\" or \"property [unit]\"", it);
      return KK_EINVAL;
    }
    c->property = strndup(it, plen);
    if (br) c->unit = strndup(br + 1, strlen(br) - 2);
    if (!c->property || (br && !c->unit)) return KK_ENOMEM;
    for (size_t j = 0; j + 1 < s->ncols; j++)
      if (strcmp(s->cols[j].property, c->property) == 0) {
        snprintf(err, errlen, "columns: property '%s' named twice",
                 c->property);
        return KK_EINVAL;
      }
  }
  return 0;
}

static const char *file_nl(const file_state_t *s) {
  return s->crlf ? "\r\n" : "\n";
}

/* Appends NUL-terminated `str` as CSV field, reserving for it. */
static int file_csv(file_state_t *s, const char *str) {
  size_t n = strlen(str);
  if (sink_reserve(&s->out, 2 * n + 4)) return KK_ENOMEM;
  sink_csv_field(&s->out, str, n, s->delim);
  return 0;
}

/* Appends text for a template: as it is, but CR and LF become spaces so
 * that a record stays one line. */
static int file_text(sink_out_t *o, const char *str, size_t n) {
  if (sink_reserve(o, n)) return KK_ENOMEM;
  for (size_t i = 0; i < n; i++)
    o->p[o->len++] = str[i] == '\n' || str[i] == '\r' ? ' ' : str[i];
  return 0;
}

/* Appends `n` bytes as they are. */
static int file_lit(sink_out_t *o, const char *str, size_t n) {
  if (sink_reserve(o, n)) return KK_ENOMEM;
  sink_put(o, str, n);
  return 0;
}

/* The header of every new file, into s->header_line ("" for none). */
int sink_file_header(file_state_t *s) {
  sink_out_t save = s->out;
  s->out = (sink_out_t){0};
  int rc = 0;
  if (s->format == FILE_CSV && s->header) {
    static const char *const lng[] = {"thing", "property", "unit", "time",
                                      "value"};
    char d[2] = {s->delim, 0};
    if (!s->wide) {
      for (int i = 0; i < 5 && !rc; i++) {
        if (i) rc = file_lit(&s->out, d, 1);
        if (!rc) rc = file_csv(s, lng[i]);
      }
    } else {
      rc = file_csv(s, "thing");
      if (!rc) rc = file_lit(&s->out, d, 1);
      if (!rc) rc = file_csv(s, "time");
      for (size_t c = 0; c < s->ncols && !rc; c++) {
        rc = file_lit(&s->out, d, 1);
        if (!rc) rc = file_csv(s, s->cols[c].title);
      }
    }
    if (!rc) rc = file_lit(&s->out, file_nl(s), strlen(file_nl(s)));
  }
  if (!rc) rc = sink_reserve(&s->out, 1);
  if (!rc) s->out.p[s->out.len] = 0;
  s->header_line = rc ? NULL : s->out.p;
  if (rc) free(s->out.p);
  s->out = save;
  return rc;
}

/* Appends a number (or nothing, for a missing wide cell). */
static int file_num(sink_out_t *o, double v) {
  if (sink_reserve(o, KK_FMT_DOUBLE_MAX)) return KK_ENOMEM;
  o->len += kk_fmt_double(v, o->p + o->len);
  return 0;
}

static int file_time(file_state_t *s, int64_t ms, int how) {
  if (sink_reserve(&s->out, SINK_TIME_MAX)) return KK_ENOMEM;
  s->out.len += sink_time(&s->fmt, ms, how, s->out.p + s->out.len);
  return 0;
}

/* One line of the template for a reading (r) or a row (row). */
static int file_templ(file_state_t *s, const kk_reading_t *r,
                      const file_row_t *row) {
  const kk_datastream_t *d = r ? kk_datastream_get(r->ds) : NULL;
  const char *thing = row ? s->things[row->thing].name : d ? d->thing : "";
  int64_t t = row ? row->time_ms : r->time_ms;
  int rc = 0;
  for (size_t i = 0; i < s->nsegs && !rc; i++) {
    const file_seg_t *g = &s->segs[i];
    const char *str = NULL;
    switch (g->kind) {
    case FILE_SEG_LIT:
      rc = file_lit(&s->out, g->lit, g->len);
      break;
    case FILE_SEG_THING:
      str = thing;
      break;
    case FILE_SEG_PROPERTY:
      str = d ? d->property : "";
      break;
    case FILE_SEG_UNIT:
      str = d ? d->unit : "";
      break;
    case FILE_SEG_TIME:
      rc = file_time(s, t, SINK_TIME_ISO);
      break;
    case FILE_SEG_TIME_MS:
      rc = file_time(s, t, SINK_TIME_MS);
      break;
    case FILE_SEG_LOCAL:
      rc = file_time(s, t, SINK_TIME_LOCAL);
      break;
    case FILE_SEG_VALUE:
      rc = file_num(&s->out, r->value);
      break;
    case FILE_SEG_COLUMN:
      if (row->set[g->col]) rc = file_num(&s->out, row->val[g->col]);
      break;
    }
    if (str) rc = file_text(&s->out, str, strlen(str));
  }
  if (!rc) rc = file_lit(&s->out, file_nl(s), strlen(file_nl(s)));
  return rc;
}

int sink_file_long(file_state_t *s, const kk_reading_t *r) {
  switch (s->format) {
  case FILE_CSV:
    return sink_fmt_csv(&s->fmt, &s->out, r, s->time_how, file_nl(s));
  case FILE_JSONL:
    return sink_fmt_json(&s->fmt, &s->out, r);
  default:
    return file_templ(s, r, NULL);
  }
}

static int file_row_json(file_state_t *s, const file_row_t *row) {
  const char *thing = s->things[row->thing].name;
  size_t need = 32 + 6 * strlen(thing) + SINK_TIME_MAX;
  for (size_t c = 0; c < s->ncols; c++)
    need += 8 + 6 * strlen(s->cols[c].property) + KK_FMT_DOUBLE_MAX;
  if (sink_reserve(&s->out, need)) return KK_ENOMEM;
  sink_out_t *o = &s->out;
  sink_put(o, "{\"thing\":", 9);
  (void)kk_json_str(o->p, &o->len, o->cap, thing, strlen(thing));
  sink_put(o, ",\"time\":", 8);
  if (s->time_how != SINK_TIME_MS) sink_put(o, "\"", 1);
  o->len += sink_time(&s->fmt, row->time_ms, s->time_how, o->p + o->len);
  if (s->time_how != SINK_TIME_MS) sink_put(o, "\"", 1);
  for (size_t c = 0; c < s->ncols; c++) {
    if (!row->set[c]) continue;
    sink_put(o, ",", 1);
    const char *p = s->cols[c].property;
    (void)kk_json_str(o->p, &o->len, o->cap, p, strlen(p));
    sink_put(o, ":", 1);
    o->len += kk_fmt_double(row->val[c], o->p + o->len);
  }
  sink_put(o, "}\n", 2);
  return 0;
}

static int file_row_csv(file_state_t *s, const file_row_t *row) {
  int rc = file_csv(s, s->things[row->thing].name);
  char d[1] = {s->delim};
  if (!rc) rc = file_lit(&s->out, d, 1);
  if (!rc) rc = file_time(s, row->time_ms, s->time_how);
  for (size_t c = 0; c < s->ncols && !rc; c++) {
    rc = file_lit(&s->out, d, 1);
    if (!rc && row->set[c]) rc = file_num(&s->out, row->val[c]);
  }
  if (!rc) rc = file_lit(&s->out, file_nl(s), strlen(file_nl(s)));
  return rc;
}

int sink_file_row(file_state_t *s, const file_row_t *row) {
  kk_metric_add(s->m_rows, 1);
  if (row->nset < s->ncols) kk_metric_add(s->m_partial, 1);
  switch (s->format) {
  case FILE_CSV:
    return file_row_csv(s, row);
  case FILE_JSONL:
    return file_row_json(s, row);
  default:
    return file_templ(s, NULL, row);
  }
}
