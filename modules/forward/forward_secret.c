/*
 * modules/forward/forward_secret.c - reading a forwarding sink's secret
 * from the environment or a file (see forward.h).
 */
#include <klimakit.h>
#include "forward/forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fw_read_secret(const char *env, const char *file, const char **err) {
  const char *v = env && *env ? getenv(env) : NULL;
  if (v && *v) {
    char *s = strdup(v);
    if (!s) *err = "out of memory";
    return s;
  }
  if (!file || !*file) {
    *err = "no secret: set the environment variable or the secret file";
    return NULL;
  }
  FILE *f = fopen(file, "rb");
  if (!f) {
    *err = "cannot open the secret file";
    return NULL;
  }
  char *s = malloc(4097);
  size_t n = s ? fread(s, 1, 4096, f) : 0;
  fclose(f);
  if (!s) {
    *err = "out of memory";
    return NULL;
  }
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  s[n] = 0;
  if (n == 0) {
    free(s);
    *err = "the secret file is empty";
    return NULL;
  }
  return s;
}
