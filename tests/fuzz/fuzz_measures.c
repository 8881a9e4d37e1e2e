/* libFuzzer target: the measures catalogue (modules/calc/calc_catalogue.c)
 * on outside input: the input is read as a catalogue CSV, and as a
 * partner update (JSON) applied to a small fixed catalogue, whose state
 * then goes through the snapshot line and back.  The file is included so
 * that the CSV reader behind calc_cat_load_csv() is reachable. */
#include "../../modules/calc/calc_catalogue.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_base[] =
    "id;handlungsfeld;titel;status;phase;fortschritt;beginn_geplant;"
    "minderung_t;indikatoren;basisjahre;erreicht_2024\n"
    "M-1;Gebäude;A;verzögert;Umsetzung;40;2024;12,5;a/b;2020-2021;-3\n"
    "M-2;Mobilität;B;;Planung;;2026-03;mittel;;;\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  calc_cat_t c = {0};
  cat_load_csv_text(&c, (const char *)data, size, err, sizeof err);
  kk_buf_t b = {0};
  calc_cat_json(&c, &b, 1);
  kk_buf_free(&b);
  calc_cat_free(&c);

  calc_cat_t d = {0};
  if (cat_load_csv_text(&d, fuzz_base, sizeof fuzz_base - 1, err, sizeof err) !=
      0)
    __builtin_trap();
  cJSON *u = cJSON_ParseWithLength((const char *)data, size);
  if (u) {
    const cJSON *one = cJSON_IsArray(u) ? u->child : u;
    for (; one; one = cJSON_IsArray(u) ? one->next : NULL) {
      cat_measure_t *m;
      calc_cat_update(&d, one, 1000, "fuzz", &m, err, sizeof err);
      if (!cJSON_IsArray(u)) break;
    }
    cJSON_Delete(u);
  }
  for (size_t i = 0; i < d.n; i++) {
    kk_buf_t s = {0};
    calc_cat_state_json(&d.m[i], &s);
    if (s.p && calc_cat_state_load(&d, s.p) != 0) __builtin_trap();
    kk_buf_free(&s);
  }
  /* The state parser on the raw input too. */
  char *z = malloc(size + 1);
  if (z) {
    memcpy(z, data, size);
    z[size] = 0;
    calc_cat_state_load(&d, z);
    free(z);
  }
  calc_cat_free(&d);
  return 0;
}
