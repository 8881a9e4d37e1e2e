/* libFuzzer target: kk_raw_meta_get (core/reading_json.c), the in-place
 * scan of the meta object sources write, differentially against a full
 * cJSON parse: for every key the input names (and a few fixed ones) both
 * must agree on the result and the copied text, in a small and a large
 * output buffer.  The input is NUL-terminated as meta always is. */
#include <cJSON.h>
#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ref(const char *meta, const char *key, char *out, size_t n) {
  if (n) out[0] = '\0';
  if (!meta[0]) return -1;
  if (meta[0] != '{') {
    if (strcmp(key, "topic") && strcmp(key, "path")) return -1;
    snprintf(out, n, "%s", meta);
    return out[0] ? 0 : -1;
  }
  cJSON *o = cJSON_Parse(meta);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  int rc = -1;
  if (cJSON_IsString(v) && v->valuestring[0]) {
    snprintf(out, n, "%s", v->valuestring);
    rc = 0;
  }
  cJSON_Delete(o);
  return rc;
}

static void check(const char *meta, const char *key) {
  static const size_t sizes[] = {1, 8, 300};
  for (size_t i = 0; i < 3; i++) {
    char a[300], b[300];
    int ra = kk_raw_meta_get(meta, key, a, sizes[i]);
    int rb = ref(meta, key, b, sizes[i]);
    if (ra != rb || strcmp(a, b) != 0) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  check(s, "thing");
  check(s, "topic");
  check(s, "path");
  /* Keys the input itself names: the text between the first quotes. */
  const char *q = strchr(s, '"');
  const char *e = q ? strchr(q + 1, '"') : NULL;
  if (e && e - q - 1 < 64) {
    char k[64];
    memcpy(k, q + 1, (size_t)(e - q - 1));
    k[e - q - 1] = '\0';
    check(s, k);
  }
  free(s);
  return 0;
}
