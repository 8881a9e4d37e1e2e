/* tests/unit/test_calc.c - the emission factor registry, calc.co2 and
 * calc.pv_avoided, with hand-computed values, and bad input. */
#include "kk_test.h"

#include <lauxlib.h>
#include <lualib.h>

#include "calc/calc.h"
#include "calc/calc_factors.h"
#include "../support/stage_kit.h"

static double factor(const char *set, const char *key, int year, int latest,
                     int *rc) {
  const calc_factor_t *f = NULL;
  char err[256];
  *rc = calc_factor_find(NULL, set, key, year, latest, &f, err, sizeof err);
  return f ? f->value : NAN;
}

KK_TEST(factors_lookup_by_set_carrier_year) {
  int rc;
  KK_CHECK_DBL(factor("bisko", "erdgas", 2024, 0, &rc), 247, 0);
  KK_CHECK_DBL(factor("BISKO", "heizoel", 2019, 0, &rc), 318, 0);
  KK_CHECK_DBL(factor(NULL, "strom", 2022, 0, &rc), 505, 0);
  KK_CHECK_DBL(factor("bisko", "strom", 2021, 0, &rc), 472, 0);
  KK_CHECK_DBL(factor("geg", "strom", 2024, 0, &rc), 560, 0);
  KK_CHECK_DBL(factor("geg", "fernwaerme_kwk_gas", 2030, 0, &rc), 180, 0);
  /* The UBA mix: the newest verified edition wins a year. */
  KK_CHECK_DBL(factor("uba", "strom", 2023, 0, &rc), 386, 0);
  KK_CHECK_DBL(factor("uba_mix", "strom", 2022, 0, &rc), 433, 0);
  KK_CHECK_DBL(factor("uba", "strom", 2019, 0, &rc), 411, 0);
  KK_CHECK_DBL(factor("uba", "strom", 2017, 0, &rc), 485, 0);
  /* Only the UNVERIFIED edition has 2025. */
  KK_CHECK_DBL(factor("uba", "strom", 2025, 0, &rc), 344, 0);
  /* An edition can be named. */
  KK_CHECK_DBL(factor("UBA web 2023", "strom", 2022, 0, &rc), 434, 0);
  KK_CHECK_DBL(factor("uba", "strom", 1990, 0, &rc), 764, 0);
}

KK_TEST(factors_missing_are_errors_not_zero) {
  int rc;
  KK_CHECK(isnan(factor("bisko", "strom", 2026, 0, &rc)));
  KK_CHECK_INT(rc, ==, KK_ERANGE);
  KK_CHECK_DBL(factor("bisko", "strom", 2026, 1, &rc), 505, 0); /* latest */
  KK_CHECK_INT(rc, ==, 0);
  KK_CHECK(isnan(factor("bisko", "erdgas", 2018, 1, &rc)));
  KK_CHECK_INT(rc, ==, KK_ERANGE); /* latest never goes back in time */
  KK_CHECK(isnan(factor("bisko", "unobtainium", 2024, 0, &rc)));
  KK_CHECK_INT(rc, ==, KK_EUNKNOWN);
  KK_CHECK(isnan(factor("nosuchset", "erdgas", 2024, 0, &rc)));
  KK_CHECK_INT(rc, ==, KK_EUNKNOWN);
  KK_CHECK(isnan(factor("uba", "strom", 2030, 0, &rc)));
  KK_CHECK_INT(rc, ==, KK_ERANGE);
}

KK_TEST(factors_every_row_has_provenance) {
  KK_CHECK_INT(calc_nfactors, >, 70);
  for (size_t i = 0; i < calc_nfactors; i++) {
    const calc_factor_t *f = &calc_factors[i];
    KK_CHECK(f->set && *f->set && f->key && *f->key);
    KK_CHECK(f->source && strlen(f->source) > 3);
    KK_CHECK(f->confidence && *f->confidence);
    KK_CHECK(f->basis && f->unit &&
             (strstr(f->unit, "/kWh") || strstr(f->unit, "/vkm")));
    KK_CHECK(f->year_from <= f->year_to);
    KK_CHECK(f->value >= 0 && isfinite(f->value));
    KK_CHECK(strncmp(f->source, "same", 4) != 0); /* resolved */
  }
}

KK_TEST(factors_overrides_win_and_need_a_source) {
  calc_overrides_t ov;
  char err[256];
  KK_CHECK_INT(calc_overrides_parse(
                   "[{\"carrier\":\"fernwaerme\",\"value\":152,\"year_from\":"
                   "2020,\"source\":\"Stadtwerke Musterstadt, Zertifikat "
                   "2024\"},{\"carrier\":\"erdgas\",\"value\":240,\"year\":"
                   "2024,\"source\":\"local\"}]",
                   &ov, err, sizeof err),
               ==, 0);
  const calc_factor_t *f;
  KK_CHECK_INT(calc_factor_find(&ov, "bisko", "fernwaerme", 2024, 0, &f, err,
                                sizeof err),
               ==, 0);
  KK_CHECK_DBL(f->value, 152, 0);
  KK_CHECK_STR(f->set, "local");
  KK_CHECK_STR(f->source, "Stadtwerke Musterstadt, Zertifikat 2024");
  KK_CHECK_INT(
      calc_factor_find(&ov, "bisko", "erdgas", 2024, 0, &f, err, sizeof err),
      ==, 0);
  KK_CHECK_DBL(f->value, 240, 0);
  KK_CHECK_INT(
      calc_factor_find(&ov, "bisko", "erdgas", 2023, 0, &f, err, sizeof err),
      ==, 0);
  KK_CHECK_DBL(f->value, 247, 0); /* the override is for 2024 only */
  calc_overrides_free(&ov);
  KK_CHECK_INT(
      calc_overrides_parse("[{\"carrier\":\"fernwaerme\",\"value\":152}]", &ov,
                           err, sizeof err),
      ==, KK_EMISSING);
  KK_CHECK(strstr(err, "source") != NULL);
  KK_CHECK_INT(calc_overrides_parse(
                   "[{\"carrier\":\"x\",\"value\":-1,\"source\":\"s\"}]", &ov,
                   err, sizeof err),
               ==, KK_EPARSE);
}

KK_TEST(factors_print_formats) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  KK_CHECK_INT(calc_factors_print(f, "csv"), ==, 0);
  fclose(f);
  size_t lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += buf[i] == '\n';
  KK_CHECK_INT(lines, ==, calc_nfactors + 1);
  KK_CHECK(strstr(buf, "\"geg\",\"strom\",\"Strom netzbezogen\",\"560\"") !=
           NULL);
  free(buf);
  f = open_memstream(&buf, &len);
  KK_CHECK_INT(calc_factors_print(f, NULL), ==, 0);
  KK_CHECK_INT(calc_factors_print(f, "markdown"), ==, 0);
  KK_CHECK_INT(calc_factors_print(f, "xml"), ==, KK_EINVAL);
  fclose(f);
  KK_CHECK(strstr(buf, "GEG 2020 Anlage 9") != NULL);
  KK_CHECK(strstr(buf, "| bisko | erdgas |") != NULL);
  free(buf);
}

KK_TEST(factors_from_lua) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_newtable(L);
  calc_factors_lua_open(L);
  lua_setglobal(L, "kk");
  const char *code =
      "local v, row = kk.factor('erdgas', 2024)\n"
      "assert(v == 247 and row.set == 'bisko' and row.source:find('BISKO'))\n"
      "assert(kk.factor('strom', 2023, 'uba') == 386)\n"
      "local x, msg, code = kk.factor('strom', 2026)\n"
      "assert(x == nil and msg:find('no factor') and code == 'KK_ERANGE')\n"
      "x, msg, code = kk.factor('nix', 2024)\n"
      "assert(x == nil and code == 'KK_EUNKNOWN')\n"
      "assert(#kk.factors('geg') == 23 and #kk.factors() > 70)\n"
      "assert(not pcall(kk.factor))\n";
  if (luaL_dostring(L, code) != LUA_OK) KK__FAIL("%s", lua_tostring(L, -1));
  lua_close(L);
}

/* ---- calc.co2 -------------------------------------------------------------
 */

KK_TEST(co2_multi_carrier_hand_computed) {
  kk_stage_t *st = sk_stage(
      "calc.co2",
      "{ carriers = { ['kita-boiler'] = 'erdgas', ['kita-hp'] = 'strom',"
      " ['depot-oil'] = 'heizoel' }, year = 2022 }");
  int64_t t = sk_utc(2024, 3, 1, 10, 0);
  kk_reading_t r[] = {
      {t, 1000, sk_ds("kita-boiler", "energy", "kW.h"), 0},
      {t, 2000, sk_ds("kita-hp", "energy", "kW.h"), 0},
      {t, 500000, sk_ds("depot-oil", "energy", "W.h"), 0},
      {t, 0.5, sk_ds("kita-boiler", "energy", "MW.h"), 0},
      {t, 21.5, sk_ds("kita-boiler", "air_temperature", "Cel"), 0},
  };
  sk_feed(st, r, 5, 0);
  KK_CHECK_INT(sk_ngot, ==, 4); /* the temperature is not passed on */
  /* 1000 kWh x 247 g/kWh = 247 kg; 2000 x 505 = 1010 kg; 500 kWh x 318 =
   * 159 kg; 500 kWh x 247 = 123.5 kg. */
  KK_CHECK_DBL(sk_value(sk_ds("kita-boiler", "co2e", "kg"), t), 123.5, 1e-9);
  KK_CHECK_DBL(sk_got[0].value, 247, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("kita-hp", "co2e", "kg"), t), 1010, 1e-9);
  KK_CHECK_DBL(sk_value(sk_ds("depot-oil", "co2e", "kg"), t), 159, 1e-9);
}

KK_TEST(co2_year_of_reading_and_sets) {
  kk_stage_t *st = sk_stage("calc.co2", "{ carrier = 'strom', set = 'uba' }");
  uint32_t e = sk_ds("rathaus", "energy", "kW.h");
  uint32_t o = sk_ds("rathaus", "co2e", "kg");
  sk_feed1(st, sk_utc(2022, 6, 1, 0, 0), 100, e);
  sk_feed1(st, sk_utc(2023, 6, 1, 0, 0), 100, e);
  /* 2023-12-31 23:30 UTC is 2024-01-01 00:30 in Berlin: balance year 2024 */
  sk_feed1(st, sk_utc(2023, 12, 31, 23, 30), 100, e);
  KK_CHECK_DBL(sk_value(o, sk_utc(2022, 6, 1, 0, 0)), 43.3, 1e-9);
  KK_CHECK_DBL(sk_value(o, sk_utc(2023, 6, 1, 0, 0)), 38.6, 1e-9);
  KK_CHECK_DBL(sk_value(o, sk_utc(2023, 12, 31, 23, 30)), 36.3, 1e-9);
}

KK_TEST(co2_bad_input_is_counted_never_zero) {
  kk_stage_t *st =
      sk_stage("calc.co2",
               "{ carriers = { a = 'erdgas', b = 'kryptonit', c = 'strom' } }");
  int64_t t = sk_utc(2024, 5, 1, 0, 0);
  kk_reading_t r[] = {
      {t, 100, sk_ds("a", "energy", "kW.h"), 0},     /* ok: 24.7 kg */
      {t, 100, sk_ds("b", "energy", "kW.h"), 0},     /* unknown carrier */
      {t, 100, sk_ds("c", "energy", "kW.h"), 0},     /* strom: no 2024 */
      {t + 1, -5, sk_ds("a", "energy", "kW.h"), 0},  /* negative */
      {t + 2, NAN, sk_ds("a", "energy", "kW.h"), 0}, /* NaN */
      {t + 3, INFINITY, sk_ds("a", "energy", "kW.h"), 0},
      {t, 100, sk_ds("a", "energy", "m3"), 0},   /* not energy */
      {t, 100, sk_ds("d", "energy", "kW.h"), 0}, /* no carrier */
  };
  sk_feed(st, r, 8, 0);
  KK_CHECK_INT(sk_ngot, ==, 1);
  KK_CHECK_DBL(sk_got[0].value, 24.7, 1e-9);
  KK_CHECK_INT(sk_rejected(st, "unknown_carrier"), ==, 2);
  KK_CHECK_INT(sk_rejected(st, "no_factor"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "negative"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "nan"), ==, 2);
  KK_CHECK_INT(sk_rejected(st, "unit"), ==, 1);
  for (size_t i = 0; i < sk_ngot; i++)
    KK_CHECK(sk_got[i].value != 0);
}

KK_TEST(co2_create_rejects_unknown_carrier_and_set) {
  int rc = 0;
  KK_CHECK(sk_stage_rc("calc.co2", "{ carrier = 'erdgaz' }", &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EUNKNOWN);
  KK_CHECK(strstr(sk_err, "erdgaz") != NULL);
  KK_CHECK(sk_stage_rc("calc.co2", "{ carrier = 'erdgas', set = 'ipcc' }",
                       &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EUNKNOWN);
  KK_CHECK(sk_stage_rc("calc.co2", "{ }", &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EMISSING);
  KK_CHECK(sk_stage_rc("calc.co2",
                       "{ carrier = 'fernwaerme', factors = { { carrier = "
                       "'fernwaerme', value = 150 } } }",
                       &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EMISSING);
}

KK_TEST(co2_local_district_heating_factor) {
  kk_stage_t *st =
      sk_stage("calc.co2",
               "{ carrier = 'fernwaerme', factors = { { carrier = 'fernwaerme',"
               " value = 152, year_from = 2020, source = 'Stadtwerke "
               "Musterstadt, Bescheinigung 2024' } } }");
  uint32_t e = sk_ds("schule-1", "energy", "MW.h");
  sk_feed1(st, sk_utc(2025, 1, 15, 12, 0), 2, e);
  KK_CHECK_INT(sk_ngot, ==, 1);
  KK_CHECK_DBL(sk_got[0].value, 304, 1e-9); /* 2000 kWh x 152 g */
}

KK_TEST(co2_cumulative_meter) {
  kk_stage_t *st = sk_stage(
      "calc.co2", "{ carrier = 'erdgas', meter = 'cumulative', property = { "
                  "'gas_meter' } }");
  uint32_t m = sk_ds("turnhalle", "gas_meter", "kW.h");
  int64_t t = sk_utc(2024, 1, 1, 12, 0);
  kk_reading_t r[] = {{t, 1000, m, 0},
                      {t + 60000, 1010, m, 0},  /* 10 kWh */
                      {t + 30000, 1005, m, 0},  /* older: rejected */
                      {t + 60000, 1010, m, 0},  /* duplicate: ignored */
                      {t + 120000, 1030, m, 0}, /* 20 kWh */
                      {t + 180000, 5, m, 0},    /* meter exchanged */
                      {t + 240000, 15, m, 0}};  /* 10 kWh */
  sk_feed(st, r, 4, 0);
  sk_feed(st, r + 4, 3, 0);
  KK_CHECK_INT(sk_ngot, ==, 3);
  KK_CHECK_DBL(sk_got[0].value, 2.47, 1e-9);
  KK_CHECK_DBL(sk_got[1].value, 4.94, 1e-9);
  KK_CHECK_DBL(sk_got[2].value, 2.47, 1e-9);
  KK_CHECK_INT(sk_rejected(st, "out_of_order"), ==, 1);
  KK_CHECK_INT(sk_rejected(st, "meter_decrease"), ==, 1);
}

/* Totals do not depend on batch boundaries (interval energy: nor on the
 * order of arrival). */
KK_TEST(co2_totals_independent_of_batching_and_order) {
  enum { N = 3000 };
  static kk_reading_t r[N];
  const char *things[] = {"a", "b", "c", "d"};
  kk_stage_t *st =
      sk_stage("calc.co2",
               "{ carriers = { a = 'erdgas', b = 'heizoel', c = 'holz_pellets',"
               " d = 'fluessiggas' } }");
  srand(7);
  double want = 0;
  const double g[] = {247, 318, 22, 276};
  for (int i = 0; i < N; i++) {
    int k = rand() % 4;
    r[i] = (kk_reading_t){sk_utc(2023, 1, 1, 0, 0) + (int64_t)i * 600000,
                          (double)(rand() % 1000),
                          sk_ds(things[k], "energy", "kW.h"), 0};
    want += r[i].value * g[k] / 1000;
  }
  sk_feed(st, r, N, 0);
  double one = 0;
  for (size_t i = 0; i < sk_ngot; i++)
    one += sk_got[i].value;
  KK_CHECK_DBL(one, want, 1e-6);
  for (int i = N - 1; i > 0; i--) { /* shuffle */
    int j = rand() % (i + 1);
    kk_reading_t x = r[i];
    r[i] = r[j];
    r[j] = x;
  }
  sk_ngot = 0;
  for (int i = 0; i < N;) {
    int len = 1 + rand() % 97;
    if (i + len > N) len = N - i;
    sk_feed(st, r + i, (size_t)len, 0);
    i += len;
  }
  double many = 0;
  for (size_t i = 0; i < sk_ngot; i++)
    many += sk_got[i].value;
  KK_CHECK_DBL(many, want, 1e-6);
}

KK_TEST(co2_replayed_batches_are_not_counted_twice) {
  kk_stage_t *st = sk_stage("calc.co2", "{ carrier = 'erdgas' }");
  uint32_t e = sk_ds("a", "energy", "kW.h");
  kk_reading_t r = {sk_utc(2024, 1, 1, 0, 0), 100, e, 0};
  sk_feed(st, &r, 1, 10);
  sk_feed(st, &r, 1, 10); /* the same journal position again: a replay */
  r.time_ms += 60000;
  sk_feed(st, &r, 1, 11);
  KK_CHECK_INT(sk_ngot, ==, 2);
}

/* ---- calc.pv_avoided ------------------------------------------------------
 */

KK_TEST(pv_avoided_stated_and_registry_factor) {
  kk_stage_t *st = sk_stage("calc.pv_avoided", "{ }");
  uint32_t e = sk_ds("pv-dach", "energy", "kW.h");
  sk_feed1(st, sk_utc(2024, 7, 1, 12, 0), 10, e);
  KK_CHECK_INT(sk_ngot, ==, 1);
  KK_CHECK_DBL(sk_got[0].value, 8.6, 1e-9); /* GEG Verdrängungsstrommix 860 */
  KK_CHECK_INT(sk_got[0].ds, ==, sk_ds("pv-dach", "co2e_avoided", "kg"));
  st = sk_stage("calc.pv_avoided", "{ factor = 400, factor_source = 'Beschluss "
                                   "Klimaschutzkonzept 2023' }");
  sk_feed1(st, sk_utc(2024, 7, 1, 12, 0), 10, e);
  KK_CHECK_DBL(sk_got[0].value, 4.0, 1e-9);
  int rc = 0;
  KK_CHECK(sk_stage_rc("calc.pv_avoided", "{ factor = 400 }", &rc) == NULL);
  KK_CHECK_INT(rc, ==, KK_EMISSING);
}

KK_TEST_MAIN(KK_CASE(factors_lookup_by_set_carrier_year),
             KK_CASE(factors_missing_are_errors_not_zero),
             KK_CASE(factors_every_row_has_provenance),
             KK_CASE(factors_overrides_win_and_need_a_source),
             KK_CASE(factors_print_formats), KK_CASE(factors_from_lua),
             KK_CASE(co2_multi_carrier_hand_computed),
             KK_CASE(co2_year_of_reading_and_sets),
             KK_CASE(co2_bad_input_is_counted_never_zero),
             KK_CASE(co2_create_rejects_unknown_carrier_and_set),
             KK_CASE(co2_local_district_heating_factor),
             KK_CASE(co2_cumulative_meter),
             KK_CASE(co2_totals_independent_of_batching_and_order),
             KK_CASE(co2_replayed_batches_are_not_counted_twice),
             KK_CASE(pv_avoided_stated_and_registry_factor))
