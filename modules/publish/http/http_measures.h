/*
 * modules/publish/http/http_measures.h - the measures tracker pages
 * (http_measures.c) and the Klima-Challenges leaderboard
 * (http_challenges.c), routed from http.c.  Loop thread only.
 */
#ifndef KK_PUBLISH_HTTP_MEASURES_H
#define KK_PUBLISH_HTTP_MEASURES_H

#include "publish/http/http_model.h"

/* /measures/<id>: one measure with every year's impact against the
 * expectation, its indicator chart and its update history. */
void http_page_measure(http_state_t *s, h2o_req_t *req, const char *path);
/* /api/measures: the catalogue as JSON (with history). */
void http_api_measures(http_state_t *s, h2o_req_t *req);
/* /challenges: the public leaderboard of teams and districts. */
void http_page_challenges(http_state_t *s, h2o_req_t *req);

#endif
