/* tests/unit/lua_test_util.h - what the Lua unit tests (test_lua.c,
 * test_lua_sandbox.c) share: a sandboxed state with given limits, running
 * a chunk in it, and a temporary folder with files for the file-access
 * and module tests.  Include after kk_test.h and core's lua_sandbox.h. */
#ifndef KK_TESTS_LUA_TEST_UTIL_H
#define KK_TESTS_LUA_TEST_UTIL_H

#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char errbuf[4096];

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A runaway call must stop (unbounded it runs forever): the deadline is
 * 50 ms, the hook checks the clock every 1000 VM instructions and the
 * deadline timer makes it check at the next one.  The bound is loose
 * because a machine shared by parallel builds (load 15 on two cores)
 * starves the process for hundreds of milliseconds at a time; under
 * valgrind (`make leakcheck`, KK_VALGRIND=1) everything runs some 20-50
 * times slower. */
static inline double runaway_bound_ms(void) {
  const char *vg = getenv("KK_VALGRIND");
  return vg && strcmp(vg, "1") == 0 ? 5000.0 : 2000.0;
}

static inline lua_State *new_state(size_t mem, uint64_t budget,
                                   uint64_t deadline) {
  kk__lua_limits_t lim = {mem, budget, deadline};
  lua_State *L = kk__lua_new(&lim, "test", errbuf, sizeof errbuf);
  if (!L) KK__FAIL("kk__lua_new: %s", errbuf);
  return L;
}

/* Runs `code` in L; returns the kk__lua_pcall code (results popped). */
static inline int run(lua_State *L, const char *code) {
  errbuf[0] = 0;
  if (luaL_loadbufferx(L, code, strlen(code), "=test", "t") != LUA_OK)
    KK__FAIL("syntax: %s", lua_tostring(L, -1));
  int top = lua_gettop(L) - 1;
  int rc = kk__lua_pcall(L, 0, LUA_MULTRET, errbuf, sizeof errbuf);
  lua_settop(L, top);
  return rc;
}

#define RUN_OK(L, code)                                                        \
  do {                                                                         \
    int rc__ = run((L), (code));                                               \
    if (rc__ != 0) KK__FAIL("Lua failed (%d): %s", rc__, errbuf);              \
  } while (0)

static char tmpdir[64];

/* snprintf that fails the test instead of truncating. */
#define FMT(buf, ...)                                                          \
  do {                                                                         \
    int n__ = snprintf((buf), sizeof(buf), __VA_ARGS__);                       \
    if (n__ < 0 || (size_t)n__ >= sizeof(buf)) KK__FAIL("path too long");      \
  } while (0)

static inline void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/kk_test_lua_XXXXXX");
  KK_CHECK(mkdtemp(tmpdir) != NULL);
}

static inline void write_file(const char *rel, const char *text) {
  char p[PATH_MAX];
  FMT(p, "%s/%s", tmpdir, rel);
  FILE *f = fopen(p, "w");
  KK_CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

static inline void cleanup_tmpdir(void) {
  char cmd[PATH_MAX + 16];
  FMT(cmd, "rm -rf '%s'", tmpdir);
  KK_CHECK(system(cmd) == 0);
}

#endif
