/* core/fs.c - file-system helpers of the public API (klimakit/module.h). */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

int kk_mkdirs(const char *path, int parent_of_file) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0) return -EINVAL;
  if (n >= sizeof buf) return -ENAMETOOLONG;
  memcpy(buf, path, n + 1);
  if (parent_of_file) {
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return 0; /* the cwd or / */
    *slash = 0;
  }
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != 0) continue;
    char c = *p;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -errno;
    if (c == 0) return 0;
    *p = c;
  }
}
