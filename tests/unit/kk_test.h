/*
 * kk_test.h - the unit-test harness.
 *
 * A test file defines test functions with KK_TEST(name) and lists them in
 * KK_TEST_MAIN(...).  Like libuv's test runner, each test runs in a forked
 * child, so that a crash, an abort or a hang fails that test only: a
 * child that runs longer than KK_TEST_TIMEOUT seconds (default 60) is
 * ended by its own alarm().  The runner prints one line per test,
 * "ok <file> <name>", "skip <file> <name>: <reason>" (KK_SKIP) or
 * "FAIL <file> <name>: ...", and exits non-zero if any failed.
 * tests/run.sh counts these lines.
 *
 * A test that runs a uv loop ends it with KK_LOOP_CLOSE(loop): every
 * handle must be closed by then.  Handles still open fail the test with
 * their types (and are closed, so that valgrind's leak report stays about
 * real leaks).
 *
 * Valgrind (tests/run.sh with KK_VALGRIND=1, `make leakcheck`) follows
 * fork() without any option (--trace-children is about exec), so each
 * child is checked on its own and its leak errors become its exit status
 * (--error-exitcode), which fails that test.  The timeout is longer there
 * (run.sh sets KK_TEST_TIMEOUT), since code runs ~30 times slower.
 */
#ifndef KK_TEST_H
#define KK_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

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

/* Exit status of a child that skipped: the number automake uses. */
#define KK__SKIP_STATUS 77

/* Ends the test as skipped: the reason is printed on the "skip" line (a
 * missing tool or file the test needs, never a failure of the code). */
#define KK_SKIP(...)                                                           \
  do {                                                                         \
    printf("skip %s %s: ", kk__test_file, kk__test_name);                      \
    printf(__VA_ARGS__);                                                       \
    putchar('\n');                                                             \
    fflush(stdout);                                                            \
    exit(KK__SKIP_STATUS);                                                     \
  } while (0)

/* The test running in this child (for KK_SKIP's line). */
static const char *kk__test_file = "", *kk__test_name = "";

/* Called in the child when the test function has returned, before it
 * counts as passed: a kit sets it to check that the test left nothing
 * behind (tests/support/stage_kit.h frees its stages and fails the test
 * on handles left open).  It may fail the test like a KK_CHECK. */
static void (*kk_test_after)(void);

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

static inline void kk__test_walk_cb(uv_handle_t *h, void *arg) {
  int *open = arg;
  if (uv_is_closing(h)) return;
  fprintf(stderr, "  open handle: %s%s\n",
          uv_handle_type_name(uv_handle_get_type(h)),
          uv_is_active(h) ? " (active)" : "");
  (*open)++;
  uv_close(h, NULL);
}

/* Runs the close callbacks still due, then fails the test (at file:line)
 * when a handle is still open or the loop does not close.  The loop
 * itself stays the caller's to free. */
static inline void kk__test_loop_close(uv_loop_t *loop, const char *file,
                                       int line) {
  int open = 0;
  uv_run(loop, UV_RUN_NOWAIT);
  uv_walk(loop, kk__test_walk_cb, &open);
  uv_run(loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(loop);
  if (open || rc != 0) {
    fprintf(stderr, "  %s:%d: loop closed with %d handle(s) open%s\n", file,
            line, open, rc ? " and still busy" : "");
    exit(1);
  }
}
#define KK_LOOP_CLOSE(loop) kk__test_loop_close((loop), __FILE__, __LINE__)

/* Seconds a test may run: KK_TEST_TIMEOUT or 60. */
static inline unsigned kk__test_timeout(void) {
  const char *e = getenv("KK_TEST_TIMEOUT");
  long t = e ? atol(e) : 0;
  return t > 0 ? (unsigned)t : 60;
}

static inline int kk__test_run(const char *file, const kk_test_case_t *tc,
                               int argc, char **argv) {
  int failed = 0;
  unsigned timeout = kk__test_timeout();
  for (; tc->name; tc++) {
    if (argc > 1) {
      int want = 0;
      for (int i = 1; i < argc; i++)
        want |= strcmp(argv[i], tc->name) == 0;
      if (!want) continue;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
      printf("FAIL %s %s: fork: %s\n", file, tc->name, strerror(errno));
      failed++;
      continue;
    }
    if (pid == 0) {
      /* The timeout is the child's own alarm: the parent just waits, and
       * costs nothing while the test runs (under valgrind, too). */
      alarm(timeout);
      kk__test_file = file;
      kk__test_name = tc->name;
      tc->fn();
      if (kk_test_after) kk_test_after();
      exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
      failed++;
      printf("FAIL %s %s: timed out after %u s (KK_TEST_TIMEOUT)\n", file,
             tc->name, timeout);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      printf("ok %s %s\n", file, tc->name);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == KK__SKIP_STATUS) {
      /* The child printed its "skip" line. */
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
