/*
 * modules/publish/sensorthings/sta_query.h - the request side of the
 * SensorThings API (OGC 18-088, v1.1, read): resource paths, query options
 * ($top, $skip, $count, $orderby, $filter, $select, $expand, $resultFormat) and
 * ISO 8601 times.  Pure parsing, no I/O, so that it can be tested and fuzzed
 * alone.
 *
 * Every parser returns 0, or an HTTP status (400 for malformed input, 501
 * for valid SensorThings that this server does not implement) with a
 * message in `err`.
 */
#ifndef KK_MODULES_COMMON_STA_QUERY_H
#define KK_MODULES_COMMON_STA_QUERY_H

#include <stddef.h>
#include <stdint.h>

#define STA_TOP_DEFAULT 100
#define STA_TOP_MAX 10000

typedef struct sta_err {
  int status; /* 400, 501 */
  char msg[256];
} sta_err_t;

/* Comparison operators of $filter. */
typedef enum sta_op { STA_EQ, STA_NE, STA_GT, STA_GE, STA_LT, STA_LE } sta_op_t;

/* Literal kinds of $filter. */
typedef enum sta_lit {
  STA_LIT_STR,
  STA_LIT_NUM,
  STA_LIT_TIME,
  STA_LIT_BOOL,
  STA_LIT_NULL
} sta_lit_t;

/* One comparison `path op literal`; a $filter is their conjunction. */
typedef struct sta_cmp {
  char *path; /* "phenomenonTime", "@iot.id", "Thing/name" ("id" is
                 normalised to "@iot.id") */
  sta_op_t op;
  sta_lit_t kind;
  char *str;       /* STA_LIT_STR */
  double num;      /* STA_LIT_NUM, STA_LIT_BOOL (0/1) */
  int64_t time_ms; /* STA_LIT_TIME */
} sta_cmp_t;

typedef struct sta_expand sta_expand_t;

typedef struct sta_opts {
  long top;      /* -1: not given */
  long skip;     /* 0 when not given */
  int count;     /* 1 for $count=true */
  char *orderby; /* property, NULL: default order */
  int desc;      /* $orderby ... desc */
  sta_cmp_t *filter;
  size_t nfilter;
  char **select; /* property names ("id" normalised to "@iot.id") */
  size_t nselect;
  sta_expand_t *expand;
  size_t nexpand;
  int data_array; /* $resultFormat=dataArray */
} sta_opts_t;

struct sta_expand {
  char *name; /* navigation property: "Datastreams" */
  sta_opts_t opts;
};

/* Parses the query string `q` (without '?', may be NULL) of a request.
 * Names and values are percent-decoded; parameters not starting with '$'
 * are ignored.  On success *o is filled (free with sta_opts_free()); on
 * failure *o is freed already. */
int sta_opts_parse(const char *q, size_t len, sta_opts_t *o, sta_err_t *err);
void sta_opts_free(sta_opts_t *o);

/* Parses one $filter expression into o->filter. */
int sta_filter_parse(const char *s, sta_opts_t *o, sta_err_t *err);

/* A resource path below the service root: "Datastreams(1)/Observations"
 * is two segments.  `id` is the text between the parentheses with quotes
 * removed, or NULL. */
typedef struct sta_seg {
  char *name;
  char *id;
} sta_seg_t;

typedef struct sta_path {
  sta_seg_t seg[8];
  size_t n;
} sta_path_t;

/* Parses `path` (after "/v1.1", percent-decoded here). */
int sta_path_parse(const char *path, sta_path_t *p, sta_err_t *err);
void sta_path_free(sta_path_t *p);

/* ISO 8601 date-time with zone ("2026-11-21T00:00:00Z",
 * "2026-11-21T01:00:00.250+01:00"), as kk_time_parse_iso8601() reads it,
 * or a bare date ("2026-11-21", its midnight UTC), to UTC ms; 0 or -1. */
int sta_time_parse(const char *s, size_t len, int64_t *ms);
/* UTC ms to "2026-11-21T00:00:00Z" (kk_time_format_iso8601() without
 * ".000" on whole seconds; ".250" otherwise); buf of at least
 * KK_TIME_ISO_MAX bytes. */
void sta_time_format(int64_t ms, char *buf, size_t len);

/* Percent-decodes s in place ('+' as space when `plus`); -1 on a bad or
 * NUL escape. */
int sta_url_decode(char *s, int plus);

#endif
