/* modules/net/net_curl_api.c - the libcurl table (net_curl_api.h). */
#define NET_CURL_API_IMPL
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "net/net_curl_api.h"

#include <dlfcn.h>
#include <string.h>

#ifndef KK_LIBCURL_SO
#define KK_LIBCURL_SO "libcurl.so.4"
#endif

net_curl_api_t net_curl_api;

NET_LIB_RESOLVER(net_curl_resolve, net_curl_api, NET_CURL_FUNCS)

net_lib_t net_curl_lib =
    NET_LIB_INIT(KK_LIBCURL_SO, "libcurl4", net_curl_resolve);

int net_curl_check(kk_stage_t *st) {
  char err[320];
  int rc = net_lib_load(&net_curl_lib, err, sizeof err);
  if (rc) kk_stage_error(st, "%s", err);
  return rc;
}
