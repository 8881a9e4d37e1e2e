/*
 * modules/sink/sink_format.c - the text forms of readings shared by the
 * sink family (see sink_format.h).
 */
#include "sink/sink_format.h"

#include <stdio.h>
#include <stdlib.h>

/* The constant start of a datastream's line, rendered once. */
typedef struct sink_prefix {
  char *s; /* owned; NULL until first use */
  size_t len;
} sink_prefix_t;

int sink_reserve(sink_out_t *o, size_t n) {
  if (o->len + n <= o->cap) return 0;
  size_t ncap = o->cap ? o->cap : 65536;
  while (ncap < o->len + n)
    ncap *= 2;
  char *nb = realloc(o->p, ncap);
  if (!nb) return KK_ENOMEM;
  o->p = nb;
  o->cap = ncap;
  return 0;
}

void sink_out_trim(sink_out_t *o) {
  if (o->cap <= (8u << 20)) return;
  sink_out_free(o);
}

void sink_out_free(sink_out_t *o) {
  free(o->p);
  o->p = NULL;
  o->len = o->cap = 0;
}

void sink_csv_field(sink_out_t *o, const char *s, size_t n, char delim) {
  int quote = 0;
  for (size_t i = 0; i < n && !quote; i++)
    quote = s[i] == delim || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
  if (!quote) {
    sink_put(o, s, n);
    return;
  }
  char *w = o->p + o->len;
  *w++ = '"';
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') *w++ = '"';
    *w++ = s[i];
  }
  *w++ = '"';
  o->len = (size_t)(w - o->p);
}

void sink_fmt_init(sink_fmt_t *f, char delim, const char *tz) {
  memset(f, 0, sizeof *f);
  f->delim = delim;
  f->tz = tz ? tz : "UTC";
  for (int i = 0; i < 3; i++)
    f->last_ms[i] = INT64_MIN;
}

static void sink_prefixes_free(sink_prefix_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(p[i].s);
  free(p);
}

void sink_fmt_free(sink_fmt_t *f) {
  if (!f) return;
  sink_prefixes_free(f->json, f->njson);
  sink_prefixes_free(f->csv, f->ncsv);
  f->json = f->csv = NULL;
  f->njson = f->ncsv = 0;
}

size_t sink_time(sink_fmt_t *f, int64_t ms, int how, char *buf) {
  if (how < 0 || how > 2) how = SINK_TIME_ISO;
  if (f->last_ms[how] == ms) {
    memcpy(buf, f->last[how], f->last_len[how] + 1);
    return f->last_len[how];
  }
  size_t n;
  if (how == SINK_TIME_MS) {
    n = (size_t)snprintf(buf, SINK_TIME_MAX, "%lld", (long long)ms);
  } else if (how == SINK_TIME_ISO) {
    n = kk_time_format_iso8601(ms, buf);
  } else {
    /* Local civil time is UTC shifted by the zone's offset; the `Z` the
     * formatter writes becomes that offset. */
    int off = kk_tz_offset(f->tz, kk_floor_div(ms, 1000));
    n = kk_time_format_iso8601(ms + (int64_t)off * 1000, buf);
    if (n > 0 && buf[n - 1] == 'Z') n--;
    int a = off < 0 ? -off : off;
    n += (size_t)snprintf(buf + n, SINK_TIME_MAX - n, "%c%02d:%02d",
                          off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  }
  f->last_ms[how] = ms;
  memcpy(f->last[how], buf, n + 1);
  f->last_len[how] = n;
  return n;
}

/* Grows the cache `*arr` (of `*n`) so that index `id` exists.  Returns the
 * slot or NULL when out of memory. */
static sink_prefix_t *sink_slot(sink_prefix_t **arr, size_t *n, uint32_t id) {
  if (id >= *n) {
    size_t nn = *n ? *n : 64;
    while (nn <= id)
      nn *= 2;
    sink_prefix_t *np = realloc(*arr, nn * sizeof *np);
    if (!np) return NULL;
    memset(np + *n, 0, (nn - *n) * sizeof *np);
    *arr = np;
    *n = nn;
  }
  return &(*arr)[id];
}

/* Keeps o->p[mark, o->len) as the prefix `p` and takes it off `o`. */
static int sink_keep(sink_prefix_t *p, sink_out_t *o, size_t mark) {
  p->len = o->len - mark;
  p->s = malloc(p->len ? p->len : 1);
  if (p->s) memcpy(p->s, o->p + mark, p->len);
  o->len = mark;
  return p->s ? 0 : KK_ENOMEM;
}

static void sink_json_str(sink_out_t *o, const char *s) {
  (void)kk_json_str(o->p, &o->len, o->cap, s, strlen(s));
}

static const sink_prefix_t *sink_json_prefix(sink_fmt_t *f, sink_out_t *o,
                                             uint32_t id) {
  sink_prefix_t *p = sink_slot(&f->json, &f->njson, id);
  if (!p || p->s) return p;
  /* Rendered into the tail of the output buffer, then copied out. */
  const kk_datastream_t *d = kk_datastream_get(id);
  const char *thing = d ? d->thing : "", *prop = d ? d->property : "";
  const char *unit = d ? d->unit : "";
  size_t mark = o->len;
  if (sink_reserve(o, 48 + 6 * (strlen(thing) + strlen(prop) + strlen(unit))))
    return NULL;
  sink_put(o, "{\"thing\":", 9);
  sink_json_str(o, thing);
  sink_put(o, ",\"property\":", 12);
  sink_json_str(o, prop);
  sink_put(o, ",\"unit\":", 8);
  sink_json_str(o, unit);
  sink_put(o, ",\"time\":\"", 9);
  return sink_keep(p, o, mark) ? NULL : p;
}

int sink_fmt_json(sink_fmt_t *f, sink_out_t *o, const kk_reading_t *r) {
  const sink_prefix_t *p = sink_json_prefix(f, o, r->ds);
  if (!p || sink_reserve(o, p->len + SINK_TIME_MAX + KK_FMT_DOUBLE_MAX + 16))
    return KK_ENOMEM;
  sink_put(o, p->s, p->len);
  o->len += sink_time(f, r->time_ms, SINK_TIME_ISO, o->p + o->len);
  sink_put(o, "\",\"value\":", 10);
  o->len += kk_fmt_double(r->value, o->p + o->len);
  sink_put(o, "}\n", 2);
  return 0;
}

static const sink_prefix_t *sink_csv_prefix(sink_fmt_t *f, sink_out_t *o,
                                            uint32_t id) {
  sink_prefix_t *p = sink_slot(&f->csv, &f->ncsv, id);
  if (!p || p->s) return p;
  const kk_datastream_t *d = kk_datastream_get(id);
  const char *part[3] = {d ? d->thing : "", d ? d->property : "",
                         d ? d->unit : ""};
  size_t mark = o->len;
  if (sink_reserve(
          o, 2 * (strlen(part[0]) + strlen(part[1]) + strlen(part[2])) + 12))
    return NULL;
  for (int i = 0; i < 3; i++) {
    sink_csv_field(o, part[i], strlen(part[i]), f->delim);
    o->p[o->len++] = f->delim;
  }
  return sink_keep(p, o, mark) ? NULL : p;
}

int sink_fmt_csv(sink_fmt_t *f, sink_out_t *o, const kk_reading_t *r, int how,
                 const char *nl) {
  const sink_prefix_t *p = sink_csv_prefix(f, o, r->ds);
  if (!p || sink_reserve(o, p->len + SINK_TIME_MAX + KK_FMT_DOUBLE_MAX + 8))
    return KK_ENOMEM;
  sink_put(o, p->s, p->len);
  o->len += sink_time(f, r->time_ms, how, o->p + o->len);
  o->p[o->len++] = f->delim;
  o->len += kk_fmt_double(r->value, o->p + o->len);
  sink_put(o, nl, strlen(nl));
  return 0;
}
