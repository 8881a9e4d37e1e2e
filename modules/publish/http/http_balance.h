/*
 * modules/publish/http/http_balance.h - the council's climate balance
 * (http_balance.c) and the heat, cold and degree days (http_heat.c): what
 * http_calc_pages.c and the route table in http.c call.  Loop thread.
 */
#ifndef KK_PUBLISH_HTTP_BALANCE_H
#define KK_PUBLISH_HTTP_BALANCE_H

#include "publish/http/http_model.h"

/* Appends the balance of `thing` (calc.bisko, calc.target, calc.degree_days
 * datastreams): summary, the stacked chart by sector with the target path,
 * the table by year with status and data quality, the carriers, and the
 * download links.  Nothing when the thing has no co2e_total. */
void http_balance_thing(http_state_t *s, kk_buf_t *b, const char *thing);

/* Routes: /climate.csv?thing=T (the table by year) and
 * /climate.svg?thing=T[&by=carrier] (the chart, standalone). */
void http_route_balance_csv(http_state_t *s, h2o_req_t *req, char *rest);
void http_route_balance_svg(http_state_t *s, h2o_req_t *req, char *rest);

/* Route /heat: heat and cold days (calc.heat_days) and heating degree days
 * (calc.degree_days) per place and year, with the long-term mean. */
void http_route_heat(http_state_t *s, h2o_req_t *req, char *rest);

#endif
