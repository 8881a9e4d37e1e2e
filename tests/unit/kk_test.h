/*
 * kk_test.h - the unit-test harness.
 *
 * A test file defines test functions with KK_TEST(name) and lists them in
 * KK_TEST_MAIN(...).  Each test runs in a forked child so that a crash or
 * an abort fails that test only.  The runner prints one line per test,
 * "ok <file> <name>" or "FAIL <file> <name>: <file>:<line>: <expr> (...)",
 * and exits non-zero if any failed.  tests/run.sh counts these lines.
 */
#ifndef KK_TEST_H
#define KK_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*kk_test_fn)(void);
typedef struct kk_test_case {
  const char *name;
  kk_test_fn fn;
} kk_test_case_t;

#define KK_TEST(name) static void name(void)

#define KK__FAIL(...)                                                          \
  do {                                                                         \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                          \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    exit(1);                                                                   \
  } while (0)

#define KK_CHECK(expr)                                                         \
  do {                                                                         \
    if (!(expr)) KK__FAIL("check failed: %s", #expr);                          \
  } while (0)

#define KK_CHECK_INT(a, op, b)                                                 \
  do {                                                                         \
    long long kk__a = (long long)(a), kk__b = (long long)(b);                  \
    if (!(kk__a op kk__b))                                                     \
      KK__FAIL("check failed: %s %s %s (%lld vs %lld)", #a, #op, #b, kk__a,    \
               kk__b);                                                         \
  } while (0)

#define KK_CHECK_DBL(a, b, eps)                                                \
  do {                                                                         \
    double kk__a = (a), kk__b = (b);                                           \
    if (!(fabs(kk__a - kk__b) <= (eps)))                                       \
      KK__FAIL("check failed: %s == %s (%.17g vs %.17g)", #a, #b, kk__a,       \
               kk__b);                                                         \
  } while (0)

#define KK_CHECK_STR(a, b)                                                     \
  do {                                                                         \
    const char *kk__a = (a), *kk__b = (b);                                     \
    if (!kk__a || !kk__b || strcmp(kk__a, kk__b) != 0)                         \
      KK__FAIL("check failed: %s == %s (\"%s\" vs \"%s\")", #a, #b,            \
               kk__a ? kk__a : "(null)", kk__b ? kk__b : "(null)");            \
  } while (0)

static inline int kk__test_run(const char *file, const kk_test_case_t *tc,
                               int argc, char **argv) {
  int failed = 0;
  for (; tc->name; tc++) {
    if (argc > 1) {
      int want = 0;
      for (int i = 1; i < argc; i++)
        want |= strcmp(argv[i], tc->name) == 0;
      if (!want) continue;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      tc->fn();
      exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      printf("ok %s %s\n", file, tc->name);
    } else {
      failed++;
      if (WIFSIGNALED(status))
        printf("FAIL %s %s: killed by signal %d\n", file, tc->name,
               WTERMSIG(status));
      else
        printf("FAIL %s %s: exit %d\n", file, tc->name, WEXITSTATUS(status));
    }
  }
  return failed ? 1 : 0;
}

#define KK_TEST_MAIN(...)                                                      \
  int main(int argc, char **argv) {                                            \
    static const kk_test_case_t kk__cases[] = {__VA_ARGS__, {0, 0}};           \
    return kk__test_run(__FILE__, kk__cases, argc, argv);                      \
  }
#define KK_CASE(fn)                                                            \
  { #fn, fn }

#endif
