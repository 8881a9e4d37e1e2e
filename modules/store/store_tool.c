/*
 * modules/store/store_tool.c - running a database tool for the store
 * family (store_tool.h).
 */
#include "store/store_tool.h"

#include <klimakit.h>
#include <klimakit/store_backend.h>

#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int store_run_tool(char *const argv[]) {
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
  if (rc != 0) {
    kk_store_set_errmsg("cannot run %s: %s (install postgresql-client)",
                        argv[0], strerror(rc));
    return KK_EIO;
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      kk_store_set_errmsg("waiting for %s: %s", argv[0], strerror(errno));
      return KK_EIO;
    }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    kk_store_set_errmsg("%s failed (%s %d; its messages are above)", argv[0],
                        WIFEXITED(st) ? "exit status" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return KK_EIO;
  }
  return 0;
}
