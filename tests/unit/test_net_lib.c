/* tests/unit/test_net_lib.c - libraries loaded on first use
 * (modules/net/net_lib.h): a missing library and a missing symbol give a
 * reason naming the Debian package, and a present one loads once. */
#include <klimakit.h>

#include <dlfcn.h>
#include <string.h>

#include "kk_test.h"
#include "net/net_lib.h"

static void *zlib_version_fn;

static const char *resolve_missing(void *h) {
  return dlsym(h, "no_such_function_in_zlib") ? NULL
                                              : "no_such_function_in_zlib";
}

static int resolved;
static const char *resolve_zlib(void *h) {
  resolved++;
  zlib_version_fn = dlsym(h, "zlibVersion");
  return zlib_version_fn ? NULL : "zlibVersion";
}

KK_TEST(missing_library_names_the_package) {
  net_lib_t l =
      NET_LIB_INIT("libklimakit-no-such.so.9", "libnosuch9", resolve_zlib);
  char err[320] = "";
  KK_CHECK_INT(net_lib_load(&l, err, sizeof err), ==, KK_EMISSING);
  KK_CHECK(strstr(err, "libklimakit-no-such.so.9") != NULL);
  KK_CHECK(strstr(err, "Debian package libnosuch9") != NULL);
  /* The failure is remembered, with its reason. */
  err[0] = 0;
  KK_CHECK_INT(net_lib_load(&l, err, sizeof err), ==, KK_EMISSING);
  KK_CHECK(strstr(err, "libnosuch9") != NULL);
}

KK_TEST(missing_symbol_is_named) {
  net_lib_t l = NET_LIB_INIT("libz.so.1", "zlib1g", resolve_missing);
  char err[320] = "";
  KK_CHECK_INT(net_lib_load(&l, err, sizeof err), ==, KK_EMISSING);
  KK_CHECK(strstr(err, "no_such_function_in_zlib") != NULL);
  KK_CHECK(strstr(err, "zlib1g") != NULL);
}

KK_TEST(present_library_loads_once) {
  net_lib_t l = NET_LIB_INIT("libz.so.1", "zlib1g", resolve_zlib);
  char err[320] = "";
  KK_CHECK_INT(net_lib_load(&l, err, sizeof err), ==, 0);
  KK_CHECK_INT(net_lib_load(&l, NULL, 0), ==, 0);
  net_lib_need(&l);
  KK_CHECK_INT(resolved, ==, 1);
  KK_CHECK(zlib_version_fn != NULL);
}

KK_TEST_MAIN(KK_CASE(missing_library_names_the_package),
             KK_CASE(missing_symbol_is_named),
             KK_CASE(present_library_loads_once))
