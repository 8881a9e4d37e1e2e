/*
 * modules/publish/http/http_measures.h - the measures tracker pages
 * (http_measures.c) and the Klima-Challenges leaderboard
 * (http_challenges.c), routed from http.c.  Loop thread only.
 */
#ifndef KK_PUBLISH_HTTP_MEASURES_H
#define KK_PUBLISH_HTTP_MEASURES_H

#include "calc/calc_catalogue.h"
#include "publish/http/http_model.h"

/* /measures/<id>: one measure with every year's impact against the
 * expectation, its indicator chart and its update history. */
void http_page_measure(http_state_t *s, h2o_req_t *req, const char *path);
/* /api/measures: the catalogue as JSON (with history). */
void http_api_measures(http_state_t *s, h2o_req_t *req);
/* Shared by http_measures.c and http_measure.c: the style block of the
 * pages, the messages of status, phase and class, table cells, the
 * light of a measure, numbers (t with one decimal below 100, euros),
 * dates of the catalogue ("2025-03" -> "03/2025"), the local year now,
 * the UTC start of a local year, and a year's label ("2026
 * (unvollständig)" while it runs). */
extern const char http_ms_css[];
extern const http_msg_t http_ms_status_msg[CAT_ST_N];
extern const http_msg_t http_ms_phase_msg[CAT_PH_N];
extern const http_msg_t http_ms_class_msg[CAT_CL_N];
void http_ms_th(http_state_t *s, kk_buf_t *b, http_msg_t m);
void http_ms_td_open(http_state_t *s, kk_buf_t *b, const char *cls,
                     http_msg_t label);
void http_ms_td(http_state_t *s, kk_buf_t *b, const char *cls, http_msg_t label,
                const char *text);
int http_ms_light(const cat_measure_t *m);
void http_ms_light_html(http_state_t *s, kk_buf_t *b, const cat_measure_t *m);
void http_ms_t(http_state_t *s, double v, char *buf, size_t len);
void http_ms_eur(http_state_t *s, double v, char *buf, size_t len);
void http_ms_date(http_state_t *s, const char *d, char *buf, size_t len);
int http_ms_this_year(http_state_t *s);
int64_t http_ms_year_ms(http_state_t *s, int y);
void http_ms_year_label(http_state_t *s, int y, char *buf, size_t len);

/* /challenges: the public leaderboard of teams and districts. */
void http_page_challenges(http_state_t *s, h2o_req_t *req);

#endif
