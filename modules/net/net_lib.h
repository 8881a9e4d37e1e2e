/*
 * modules/net/net_lib.h - client libraries loaded when a stage first needs
 * them.
 *
 * libcurl and libpq bring some twenty other libraries with them (GnuTLS,
 * LDAP, Kerberos, SSH, RTMP...), about 4 MB of touched pages in every
 * klimakit process, also in one that polls nothing and stores in SQLite.
 * So the binary does not link them: the modules that use them call them
 * through a table of function pointers (net_curl_api.h,
 * store/postgres/postgres_api.h) that is filled with dlopen()/dlsym() on
 * first use.  A stage that needs the library checks it in its create
 * (net_lib_load), so a machine without the library gets a clear error
 * naming the Debian package instead of a failed start of the whole
 * binary.
 */
#ifndef KK_MODULES_NET_LIB_H
#define KK_MODULES_NET_LIB_H

#include <pthread.h>
#include <stddef.h>

/* Resolves the library's symbols from `handle` into its table; returns
 * NULL or the name of the first symbol it did not find. */
typedef const char *(*net_lib_resolve_fn)(void *handle);

typedef struct net_lib {
  const char *soname;  /* "libpq.so.5" */
  const char *package; /* the Debian package that has it, for the error */
  net_lib_resolve_fn resolve;
  pthread_mutex_t lock;
  int state;     /* 0 not tried, 1 loaded, -1 failed (why says why) */
  char why[320]; /* the reason loading failed */
} net_lib_t;

#define NET_LIB_INIT(soname, package, resolve)                                 \
  { (soname), (package), (resolve), PTHREAD_MUTEX_INITIALIZER, 0, "" }

/* For a library's table (net_curl_api.h, store/postgres/postgres_api.h):
 * NET_LIB_TABLE(api, lib, FUNCS) declares `api_t` with a pointer of each
 * function's own type for every X(f) of FUNCS, the table `api`, the
 * net_lib_t `lib`, and `api_fn()`, which returns the table once the
 * library is loaded (net_lib_need).  NET_LIB_RESOLVER(name, api, FUNCS)
 * defines the net_lib_resolve_fn `name` that fills it with dlsym(). */
#define NET_LIB_PTR_(f) __typeof__(f) *f;
#define NET_LIB_TABLE(api, lib, FUNCS)                                         \
  typedef struct api {                                                         \
    FUNCS(NET_LIB_PTR_)                                                        \
  } api##_t;                                                                   \
  extern api##_t api;                                                          \
  extern net_lib_t lib;                                                        \
  static inline const api##_t *api##_fn(void) {                                \
    if (__atomic_load_n(&lib.state, __ATOMIC_ACQUIRE) <= 0)                    \
      net_lib_need(&lib);                                                      \
    return &api;                                                               \
  }
#define NET_LIB_SYM_(f)                                                        \
  if (!(p = dlsym(h, #f))) return #f;                                          \
  memcpy(&t_->f, &p, sizeof p);
#define NET_LIB_RESOLVER(name, api, FUNCS)                                     \
  static const char *name(void *h) {                                           \
    __typeof__(api) *t_ = &api;                                                \
    void *p;                                                                   \
    FUNCS(NET_LIB_SYM_)                                                        \
    return NULL;                                                               \
  }

/* Loads the library once (any thread).  Returns 0, or KK_EMISSING with
 * the reason in err (errlen bytes; may be NULL). */
int net_lib_load(net_lib_t *l, char *err, size_t errlen);

/* The library for a call site that cannot report an error: loads it, and
 * when that fails prints the reason and aborts.  The stages check the
 * library in their create, so this does not fail in a running node. */
void net_lib_need(net_lib_t *l);

#endif
