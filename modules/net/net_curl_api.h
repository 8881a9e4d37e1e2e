/*
 * modules/net/net_curl_api.h - libcurl, loaded when a stage first needs
 * it (net_lib.h).  Included by net_curl.h after <curl/curl.h>: from here
 * on curl_easy_init() and the others call through the table
 * net_curl_api, filled on first use (net_curl_api_fn()).  A module that
 * calls libcurl checks it in its create with net_curl_check().
 */
#ifndef KK_MODULES_NET_CURL_API_H
#define KK_MODULES_NET_CURL_API_H

#include <klimakit.h>

#include "net/net_lib.h"

/* Every libcurl function klimakit calls. */
#define NET_CURL_FUNCS(X)                                                      \
  X(curl_global_init)                                                          \
  X(curl_global_cleanup)                                                       \
  X(curl_easy_init)                                                            \
  X(curl_easy_setopt)                                                          \
  X(curl_easy_getinfo)                                                         \
  X(curl_easy_cleanup)                                                         \
  X(curl_easy_strerror)                                                        \
  X(curl_slist_append)                                                         \
  X(curl_slist_free_all)                                                       \
  X(curl_url)                                                                  \
  X(curl_url_set)                                                              \
  X(curl_url_get)                                                              \
  X(curl_url_cleanup)                                                          \
  X(curl_free)                                                                 \
  X(curl_multi_init)                                                           \
  X(curl_multi_setopt)                                                         \
  X(curl_multi_add_handle)                                                     \
  X(curl_multi_remove_handle)                                                  \
  X(curl_multi_assign)                                                         \
  X(curl_multi_socket_action)                                                  \
  X(curl_multi_info_read)                                                      \
  X(curl_multi_cleanup)

NET_LIB_TABLE(net_curl_api, net_curl_lib, NET_CURL_FUNCS)

/* For a module's create: 0, or KK_EMISSING with kk_stage_error() set. */
int net_curl_check(kk_stage_t *st);

#ifndef NET_CURL_API_IMPL
/* curl.h defines these four as macros that only check the number of
 * arguments. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init (net_curl_api_fn()->curl_global_init)
#define curl_global_cleanup (net_curl_api_fn()->curl_global_cleanup)
#define curl_easy_init (net_curl_api_fn()->curl_easy_init)
#define curl_easy_setopt (net_curl_api_fn()->curl_easy_setopt)
#define curl_easy_getinfo (net_curl_api_fn()->curl_easy_getinfo)
#define curl_easy_cleanup (net_curl_api_fn()->curl_easy_cleanup)
#define curl_easy_strerror (net_curl_api_fn()->curl_easy_strerror)
#define curl_slist_append (net_curl_api_fn()->curl_slist_append)
#define curl_slist_free_all (net_curl_api_fn()->curl_slist_free_all)
#define curl_url (net_curl_api_fn()->curl_url)
#define curl_url_set (net_curl_api_fn()->curl_url_set)
#define curl_url_get (net_curl_api_fn()->curl_url_get)
#define curl_url_cleanup (net_curl_api_fn()->curl_url_cleanup)
#define curl_free (net_curl_api_fn()->curl_free)
#define curl_multi_init (net_curl_api_fn()->curl_multi_init)
#define curl_multi_setopt (net_curl_api_fn()->curl_multi_setopt)
#define curl_multi_add_handle (net_curl_api_fn()->curl_multi_add_handle)
#define curl_multi_remove_handle (net_curl_api_fn()->curl_multi_remove_handle)
#define curl_multi_assign (net_curl_api_fn()->curl_multi_assign)
#define curl_multi_socket_action (net_curl_api_fn()->curl_multi_socket_action)
#define curl_multi_info_read (net_curl_api_fn()->curl_multi_info_read)
#define curl_multi_cleanup (net_curl_api_fn()->curl_multi_cleanup)
#endif

#endif
