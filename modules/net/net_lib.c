/* modules/net/net_lib.c - client libraries loaded on first use (see
 * net_lib.h). */
#include <klimakit.h>

#include "net/net_lib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int net_lib_load(net_lib_t *l, char *err, size_t errlen) {
  pthread_mutex_lock(&l->lock);
  if (l->state == 0) {
    void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
    const char *missing = NULL;
    if (!h) {
      const char *e = dlerror();
      snprintf(l->why, sizeof l->why, "cannot load %s (Debian package %s): %s",
               l->soname, l->package, e ? e : "dlopen failed");
      l->state = -1;
    } else if ((missing = l->resolve(h)) != NULL) {
      snprintf(l->why, sizeof l->why,
               "%s has no %s: this klimakit was built against a newer "
               "version (Debian package %s)",
               l->soname, missing, l->package);
      dlclose(h);
      l->state = -1;
    } else {
      /* The handle stays open for the process's life. */
      __atomic_store_n(&l->state, 1, __ATOMIC_RELEASE);
    }
  }
  int ok = l->state > 0;
  if (!ok && err && errlen) snprintf(err, errlen, "%s", l->why);
  pthread_mutex_unlock(&l->lock);
  return ok ? 0 : KK_EMISSING;
}

void net_lib_need(net_lib_t *l) {
  /* Loaded is the common case: no lock once it is (state is only ever
   * set to 1 after the table is complete, under the lock). */
  if (__atomic_load_n(&l->state, __ATOMIC_ACQUIRE) > 0) return;
  char err[320];
  if (net_lib_load(l, err, sizeof err) != 0) {
    fprintf(stderr, "klimakit: %s\n", err);
    abort();
  }
}
