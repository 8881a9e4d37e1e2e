/*
 * modules/publish/http/http_balance_impl.h - what http_balance.c (the
 * page) and http_balance_data.c (the data of a balance, the stacked
 * chart, the downloads) share.  Internal to publish.http; loop thread.
 */
#ifndef KK_PUBLISH_HTTP_BALANCE_IMPL_H
#define KK_PUBLISH_HTTP_BALANCE_IMPL_H

#include "publish/http/http_balance.h"

#define BAL_MAX_YEARS (2 * HTTP_RECENT)
#define BAL_MAX_CARRIERS 12

/* The series of a balance, by field. */
enum {
  BAL_F_SEC = 0, /* 5 sectors */
  BAL_F_TOTAL = 5,
  BAL_F_PC,
  BAL_F_POP,
  BAL_F_QUALITY,
  BAL_F_STATUS,
  BAL_F_EXT,
  BAL_F_PATH,
  BAL_F_MILESTONE,
  BAL_F_CHANGE,
  BAL_F_ON,
  BAL_F_ON_EXT,
  BAL_F_BUDGET,
  BAL_F_BUDGET_YEARS,
  BAL_F_WEATHER,
  BAL_F_N
};

typedef struct bal_year {
  int year;
  int64_t t;
  double f[BAL_F_N];
  double car[BAL_MAX_CARRIERS];
} bal_year_t;

typedef struct bal {
  const char *thing, *unit;
  bal_year_t y[BAL_MAX_YEARS]; /* sorted by year after bal_load */
  size_t n;
  int have[BAL_F_N];
  char car[BAL_MAX_CARRIERS][64]; /* carrier ids */
  size_t ncar;
  int current_year; /* local year of now */
} bal_t;

/* Okabe-Ito colours, by series index. */
extern const char *const bal_colours[8];

/* Loads what the page shows of `thing`; 0 when it has no total. */
int bal_load(http_state_t *s, const char *thing, bal_t *d);
/* 0 final, 1 provisional, 2 incomplete, -1 not known (a past year without
 * a status: the page says nothing about it). */
int bal_status(const bal_t *d, const bal_year_t *y);
/* The first year of the path (the base year), or NULL. */
const bal_year_t *bal_base(const bal_t *d);
/* The newest final year with a total, or NULL. */
const bal_year_t *bal_latest_final(const bal_t *d);
/* The carrier's display name: the catalogue's, else the id. */
const char *bal_carrier_name(http_state_t *s, const char *id, char *buf,
                             size_t len);
/* The letter of the nearest BISKO grade of a weighted quality figure. */
void bal_grade(double q, char *buf, size_t len);
/* One <svg> of the balance: stacked by sector (or carrier), with the
 * path; `standalone` for a file. */
void bal_chart(http_state_t *s, kk_buf_t *b, const bal_t *d, int by_carrier,
               int standalone);

#endif
