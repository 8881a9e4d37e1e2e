/* libFuzzer target: what source.http_poll reads from a server
 * (modules/source/http_poll/hp_text.c): the HTTP Link header
 * (hp_link_next) and members of a JSON body by name or JSON pointer
 * (hp_json_find, as `next` and `items` use them), plus the time formats
 * of URL templates (hp_template_check / hp_template_expand), whose
 * patterns come from recipes.
 *
 * The first byte chooses what the rest is: 0 a Link header value, 1 a
 * JSON body looked up with a few fixed names and pointers, 2 a URL
 * template expanded for a window picked from the next bytes. */
#include "../../modules/source/http_poll/hp_text.c"

#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_json(const char *p, size_t n) {
  static const char *const names[] = {
      "@iot.nextLink", "next",      "/links/next", "/value",
      "/data/0/next",  "/a~1b/~0c", "/",           "",
      "/0/1/2/3",      "/value/-"};
  cJSON *root = cJSON_ParseWithLength(p, n);
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    const cJSON *v = hp_json_find(root, names[i]);
    if (cJSON_IsString(v)) (void)strlen(v->valuestring);
  }
  cJSON_Delete(root);
}

static void fuzz_template(const char *p, size_t n) {
  int64_t from = 0;
  if (n >= 8) {
    memcpy(&from, p, 8);
    from %= 253402300799000LL; /* up to year 9999 */
    p += 8;
    n -= 8;
  }
  char *tpl = malloc(n + 1), err[256];
  if (!tpl) return;
  memcpy(tpl, p, n);
  tpl[n] = 0;
  if (hp_template_check(tpl, err, sizeof err) == 0) {
    kk_buf_t b = {0};
    hp_template_expand(&b, tpl, from, from + 3600000, "iso", "Europe/Berlin");
    kk_buf_free(&b);
  }
  free(tpl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *p = (const char *)data + 1;
  size_t n = size - 1;
  char out[2048];
  switch (data[0] % 3) {
  case 0:
    if (hp_link_next(p, n, out, sizeof out) >= 0 && strlen(out) >= sizeof out)
      abort();
    break;
  case 1:
    fuzz_json(p, n);
    break;
  default:
    fuzz_template(p, n);
  }
  return 0;
}
