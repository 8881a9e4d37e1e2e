/* tests/unit/test_lua.c - the Lua runtime around the sandbox: batch
 * userdata, emit, Lua modules and the map/filter/fn stages.  The sandbox
 * itself (allow-list, budget, memory cap) is in test_lua_sandbox.c. */
#include "kk_test.h"

#include <lauxlib.h>
#include <limits.h>
#include <time.h>

#include "core.h"
#include "engine.h"
#include "lua_module.h"
#include "lua_sandbox.h"

/* ---- helpers ------------------------------------------------------------ */

#include "lua_test_util.h"

/* Path of a file in the source tree, from this file's location. */
static void src_path(char *out, size_t len, const char *rel) {
  char here[PATH_MAX / 2];
  FMT(here, "%s", __FILE__);
  char *slash = strrchr(here, '/');
  if (slash)
    *slash = 0;
  else
    strcpy(here, ".");
  int n = snprintf(out, len, "%s/../../%s", here, rel);
  if (n < 0 || (size_t)n >= len) KK__FAIL("path too long");
}

/* A sink that keeps what reaches it. */
static kk_reading_t got[256];
static size_t ngot;
static uint64_t got_seq;
static int cap_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  (void)st, (void)state;
  for (size_t i = 0; i < kk_batch_len(b) && ngot < 256; i++)
    got[ngot++] = kk_batch_readings(b)[i];
  got_seq = kk_batch_seq(b);
  return 0;
}
static const kk_module_t cap_module = {.abi = KK_MODULE_ABI,
                                       .size = sizeof(kk_module_t),
                                       .name = "capture",
                                       .ns = "sink",
                                       .kind = KK_KIND_SINK,
                                       .summary = "test",
                                       .description = "test",
                                       .process = cap_process};

/* An engine with stage `m` (options from the table at the top of L)
 * feeding a capture sink; the stage is created and returned. */
static kk__engine_t *eng;
static kk_stage_t *make_stage(lua_State *L, const kk_module_t *m) {
  kk_opts_t *o = kk__opts_from_lua(L, -1, m, errbuf, sizeof errbuf);
  if (!o) KK__FAIL("opts: %s", errbuf);
  lua_pop(L, 1);
  lua_pushnil(L);
  kk_opts_t *co = kk__opts_from_lua(L, -1, &cap_module, errbuf, sizeof errbuf);
  lua_pop(L, 1);
  KK_CHECK(co != NULL);
  if (!eng) eng = kk__engine_new();
  kk_stage_t *st = kk__engine_add_stage(eng, m, o, "test", 1);
  kk_stage_t *cap = kk__engine_add_stage(eng, &cap_module, co, "test", 2);
  KK_CHECK(st && cap);
  KK_CHECK_INT(kk__engine_connect(st, cap, errbuf, sizeof errbuf), ==, 0);
  void *state = NULL;
  int rc = m->create(st, o, &state);
  if (rc) KK__FAIL("create: %s: %s", kk_strerror(rc), kk_stage_last_error(st));
  st->state = state;
  st->created = 1;
  ngot = 0;
  return st;
}

static uint32_t ds(const char *thing, const char *prop, const char *unit) {
  uint32_t id = kk_datastream_id(thing, prop, unit);
  KK_CHECK(id != 0);
  return id;
}

static kk_batch_t *batch3(void) {
  kk_batch_t *b = kk_batch_new(4);
  kk_reading_t r[3] = {
      {1700000000000, 21.5, ds("room1", "temperature", "Cel"), 0},
      {1700000000000, 50, ds("room1", "humidity", "%"), 0},
      {1700000060000, 68, ds("room2", "temperature", "[degF]"), 0}};
  for (int i = 0; i < 3; i++)
    KK_CHECK_INT(kk_batch_push(b, &r[i]), ==, 0);
  return b;
}

/* ---- batch and emit ------------------------------------------------------ */

KK_TEST(batch_get_iterate_raw) {
  lua_State *L = new_state(0, 0, 0);
  kk_batch_t *b = batch3();
  KK_CHECK_INT(
      kk_batch_push_raw(b, 17, 1700000000500, 50, "v3/app/up", "{\"t\":1}", 7),
      ==, 0);
  RUN_OK(L, "function check(b)\n"
            "  assert(#b == 3, #b)\n"
            "  local r = b:get(1)\n"
            "  assert(r.thing == 'room1' and r.property == 'temperature')\n"
            "  assert(r.unit == 'Cel' and r.value == 21.5)\n"
            "  assert(math.type(r.time) == 'integer' and r.time == "
            "1700000000000)\n"
            "  assert(math.type(r.ds) == 'integer')\n"
            "  assert(b:get(0) == nil and b:get(4) == nil)\n"
            "  local sum, n, seen = 0, 0, nil\n"
            "  for v in b:readings() do\n"
            "    sum = sum + v.value n = n + 1\n"
            "    assert(seen == nil or seen == v, 'views are reused')\n"
            "    seen = v\n"
            "  end\n"
            "  assert(n == 3 and sum == 139.5)\n"
            "  assert(tostring(seen):find('room2/temperature'))\n"
            "  assert(b:raw_count() == 1)\n"
            "  local raw = b:raw(1)\n"
            "  assert(raw.data == '{\"t\":1}' and raw.format == 50)\n"
            "  assert(raw.meta == 'v3/app/up' and raw.seq == 17)\n"
            "  assert(raw.time == 1700000000500 and b:raw(2) == nil)\n"
            "  assert(b:seq() == 17)\n"
            "  kept = b\n"
            "end");
  lua_getglobal(L, "check");
  kk__lua_push_batch(L, b);
  lua_pushvalue(L, -1);
  lua_insert(L, -3); /* keep a copy below the call */
  KK_CHECK_INT(kk__lua_pcall(L, 1, 0, errbuf, sizeof errbuf), ==, 0);
  kk__lua_batch_invalidate(L, -1);
  lua_pop(L, 1);
  kk_batch_unref(b);
  /* The batch was kept in a global: using it now is an error, not a
   * crash. */
  KK_CHECK_INT(run(L, "return #kept"), ==, KK_ELUA);
  KK_CHECK(strstr(errbuf, "batch used after its call returned") != NULL);
  KK_CHECK_INT(run(L, "return kept:get(1)"), ==, KK_ELUA);
  RUN_OK(L, "assert(tostring(kept) == 'batch (invalidated)')");
  KK_CHECK_INT(run(L, "return getmetatable(kept)"), ==, 0);
  kk__lua_close(L);
}

KK_TEST(emit_views_tables_and_errors) {
  lua_State *L = new_state(0, 0, 0);
  kk_batch_t *in = batch3();
  kk_batch_t *out = kk_batch_new(4);
  RUN_OK(L, "function f(b, emit)\n"
            "  for r in b:readings() do\n"
            "    if r.unit == '[degF]' then\n"
            "      r.value = (r.value - 32) * 5 / 9 r.unit = 'Cel'\n"
            "    end\n"
            "    emit(r)\n"
            "  end\n"
            "  emit { thing = 'room1', property = 'dew_point', unit = 'Cel',\n"
            "         time = 1700000000000, value = 10.5 }\n"
            "  emit { ds = b:get(1).ds, value = 1.0, time = 5.0 }\n"
            "  local ok, e = pcall(emit, { thing = 'a', property = 'b', unit "
            "= 'c', value = 'x' })\n"
            "  assert(not ok and e:find(\"emit: field 'value' must be a "
            "number\"), e)\n"
            "  ok, e = pcall(emit, { property = 'b', unit = 'c', value = 1 })\n"
            "  assert(not ok and e:find(\"field 'thing'\"), e)\n"
            "  ok, e = pcall(emit, { thing = 'a', property = 'b', unit = 'c', "
            "value = 1, time = 1.5 })\n"
            "  assert(not ok and e:find(\"field 'time' must be an integer\"), "
            "e)\n"
            "  ok, e = pcall(emit, 42)\n"
            "  assert(not ok and e:find('expected a reading or a table'), e)\n"
            "  local t0 = os.time() * 1000\n"
            "  emit { thing = 'a', property = 'b', unit = 'c', value = 2 }\n"
            "  keep = emit\n"
            "end");
  int top = lua_gettop(L);
  KK_CHECK_INT(kk__lua_push_borrowed(L, in, out, errbuf, sizeof errbuf), ==, 0);
  lua_getglobal(L, "f");
  lua_pushvalue(L, top + 1);
  lua_pushvalue(L, top + 2);
  KK_CHECK_INT(kk__lua_pcall(L, 2, 0, errbuf, sizeof errbuf), ==, 0);
  kk__lua_invalidate_borrowed(L, top + 1);
  lua_settop(L, top);

  KK_CHECK_INT(kk_batch_len(out), ==, 6);
  const kk_reading_t *r = kk_batch_readings(out);
  KK_CHECK_DBL(r[2].value, 20.0, 1e-9);
  KK_CHECK_INT(r[2].ds, ==, ds("room2", "temperature", "Cel"));
  KK_CHECK_INT(r[2].time_ms, ==, 1700000060000);
  KK_CHECK_INT(r[3].ds, ==, ds("room1", "dew_point", "Cel"));
  KK_CHECK_DBL(r[3].value, 10.5, 0);
  KK_CHECK_INT(r[4].ds, ==, ds("room1", "temperature", "Cel"));
  KK_CHECK_INT(r[4].time_ms, ==, 5);
  KK_CHECK(r[5].time_ms > 1600000000000); /* default time: now */
  KK_CHECK_INT(run(L, "keep { thing = 'a', property = 'b', unit = 'c', value "
                      "= 1 }"),
               ==, KK_ELUA);
  KK_CHECK(strstr(errbuf, "emit: called after its call returned") != NULL);
  KK_CHECK_INT(kk_batch_len(out), ==, 6);
  kk_batch_unref(in);
  kk_batch_unref(out);
  kk__lua_close(L);
}

KK_TEST(reading_view_fields) {
  lua_State *L = new_state(0, 0, 0);
  kk_reading_t r0 = {1000, 1.5, ds("t", "p", "u"), 0};
  kk_reading_t *v = kk__lua_push_reading(L, &r0);
  lua_setglobal(L, "r");
  RUN_OK(L, "assert(r.thing == 't' and r.value == 1.5 and r.time == 1000)\n"
            "r.value = 3 r.time = 2000 r.unit = 'v' r.thing = 'x'\n"
            "assert(r.unit == 'v' and r.thing == 'x' and r.property == 'p')\n"
            "assert(not pcall(function() r.value = 'a' end))\n"
            "assert(not pcall(function() r.nope = 1 end))\n"
            "assert(not pcall(function() r.ds = 999999 end))\n"
            "assert(r.nope == nil)");
  KK_CHECK_DBL(v->value, 3, 0);
  KK_CHECK_INT(v->time_ms, ==, 2000);
  KK_CHECK_INT(v->ds, ==, ds("x", "p", "v"));
  lua_getglobal(L, "r");
  KK_CHECK(kk__lua_toreading(L, -1) == v);
  lua_pop(L, 1);
  kk__lua_close(L);
}

/* ---- Lua modules ----------------------------------------------------------
 */

static const char *good_module =
    "-- a test module\n"
    "return {\n"
    "  name = 'scale',\n"
    "  kind = 'transform',\n"
    "  summary = 'Scales values',\n"
    "  options = {\n"
    "    factor = { type = 'double', required = true, description = 'x' },\n"
    "    every = { type = 'duration', default = '5s' },\n"
    "    mode = { type = 'enum', choices = { 'a', 'b' }, default = 'b' },\n"
    "    tags = { type = 'list', default = { 'x', 'y' } },\n"
    "    extra = { type = 'table', default = { k = 1 } },\n"
    "    count = { type = 'int', default = 3, min = 1, max = 10 },\n"
    "    on = { type = 'bool', default = false },\n"
    "    cap = { type = 'size', default = 1024 },\n"
    "  },\n"
    "  create = function(o)\n"
    "    assert(o.every == 5000 and o.mode == 'b' and o.tags[2] == 'y')\n"
    "    assert(o.count == 3 and o.on == false and o.cap == 1024)\n"
    "    assert(require('cjson').decode(o.extra).k == 1)\n"
    "    return { f = o.factor }\n"
    "  end,\n"
    "  process = function(s, batch, emit)\n"
    "    for r in batch:readings() do\n"
    "      if r.value < 0 then while true do end end\n"
    "      r.value = r.value * s.f emit(r)\n"
    "    end\n"
    "  end,\n"
    "}\n";

static const kk_module_t *load_text(const char *text, const char *name) {
  write_file(name, text);
  char p[PATH_MAX];
  FMT(p, "%s/%s", tmpdir, name);
  errbuf[0] = 0;
  return kk__lua_module_load(p, errbuf, sizeof errbuf);
}

KK_TEST(module_load_builds_descriptor) {
  make_tmpdir();
  const kk_module_t *m = load_text(good_module, "scale.lua");
  if (!m) KK__FAIL("load: %s", errbuf);
  KK_CHECK_STR(m->name, "scale");
  KK_CHECK_STR(m->ns, "transform");
  KK_CHECK_INT(m->kind, ==, KK_KIND_TRANSFORM);
  KK_CHECK_INT(m->abi, ==, KK_MODULE_ABI);
  KK_CHECK_INT(m->size, ==, sizeof(kk_module_t));
  KK_CHECK_STR(m->summary, "Scales values");
  /* Options in the order the file declares them, then the limits. */
  static const char *const names[] = {"factor", "every",  "mode",    "tags",
                                      "extra",  "count",  "on",      "cap",
                                      "memory", "budget", "deadline"};
  for (size_t i = 0; i < 11; i++)
    KK_CHECK_STR(m->options[i].name, names[i]);
  KK_CHECK(m->options[11].name == NULL);
  KK_CHECK_INT(m->options[0].flags, ==, KK_OPT_REQUIRED);
  KK_CHECK_INT(m->options[0].type, ==, KK_OPT_DOUBLE);
  KK_CHECK_STR(m->options[1].def, "5s");
  KK_CHECK_STR(m->options[2].choices, "a|b");
  KK_CHECK_STR(m->options[3].def, "x,y");
  KK_CHECK_STR(m->options[4].def, "{\"k\":1}");
  KK_CHECK_STR(m->options[5].def, "3");
  KK_CHECK_DBL(m->options[5].max, 10, 0);
  KK_CHECK_STR(m->options[6].def, "false");
  KK_CHECK_STR(m->options[7].def, "1024");
  char real[PATH_MAX];
  KK_CHECK(realpath(tmpdir, real) != NULL);
  KK_CHECK(strncmp(kk__lua_module_path(m), real, strlen(real)) == 0);
  KK_CHECK(kk__lua_module_path(&kk__map_module) == NULL);
  kk__lua_module_free(m);
  cleanup_tmpdir();
}

static void expect_load_error(const char *text, const char *want) {
  const kk_module_t *m = load_text(text, "bad.lua");
  if (m) KK__FAIL("loaded although it should fail with '%s'", want);
  if (!strstr(errbuf, want)) KK__FAIL("error '%s' lacks '%s'", errbuf, want);
  fprintf(stderr, "  %s\n", errbuf);
}

KK_TEST(module_load_errors_are_clear) {
  make_tmpdir();
  char at[PATH_MAX + 32];
  FMT(at, "%s/bad.lua: ", tmpdir);
  expect_load_error("return { kind = 'transform', process = function() end }",
                    "has no 'name'");
  expect_load_error("return { kind = 'transform', process = function() end }",
                    at);
  FMT(at, "%s/bad.lua:4: ", tmpdir);
  expect_load_error("return {\n  name = 'x', kind = 'transform',\n"
                    "  options = {\n    size = { type = 'strnig' },\n  },\n"
                    "  process = function() end }",
                    "option 'size': unknown type 'strnig'");
  expect_load_error("return {\n  name = 'x', kind = 'transform',\n"
                    "  options = {\n    size = { type = 'strnig' },\n  },\n"
                    "  process = function() end }",
                    at);
  FMT(at, "%s/bad.lua:2:", tmpdir);
  expect_load_error("return {\n  name = 'x' kind = 'sink' }", at);
  expect_load_error("return { name = 'x', kind = 'source', process = "
                    "function() end }",
                    "field 'kind' must be \"transform\" or \"sink\"");
  expect_load_error("return { name = 'x', kind = 'sink' }",
                    "field 'process' must be a function");
  expect_load_error("return { name = 'x', kind = 'sink', proces = "
                    "function() end }",
                    "unknown field 'proces'");
  expect_load_error("return 42", "must return the module table");
  expect_load_error("return { name = 'Bad Name', kind = 'sink', process = "
                    "function() end }",
                    "lower case");
  expect_load_error("return { name = 'x', kind = 'sink', process = function() "
                    "end, options = { o = { type = 'enum' } } }",
                    "needs 'choices'");
  expect_load_error("return { name = 'x', kind = 'sink', process = function() "
                    "end, options = { o = { type = 'int', default = 'x' } } }",
                    "default must be an integer");
  expect_load_error("return { name = 'x', kind = 'sink', process = function() "
                    "end, options = { o = { type = 'int', default = 1, "
                    "required = true } } }",
                    "is required and has a default");
  expect_load_error("return { name = 'x', kind = 'sink', process = function() "
                    "end, options = { name = { type = 'string' } } }",
                    "reserved");
  expect_load_error("return { name = 'x', kind = 'sink', process = function() "
                    "end, options = { o = { type = 'string', requird = true } "
                    "} }",
                    "unknown field 'requird'");
  FMT(at, "%s/bad.lua:1: instruction budget exceeded (", tmpdir);
  expect_load_error("while true do end", at);
  FMT(at, "%s/bad.lua:1: nope", tmpdir);
  expect_load_error("error('nope')", at);
  KK_CHECK(strstr(errbuf, "traceback") == NULL);
  cleanup_tmpdir();
}

static kk_batch_t *batch_values(const double *v, size_t n, uint32_t id) {
  kk_batch_t *b = kk_batch_new(n);
  for (size_t i = 0; i < n; i++) {
    kk_reading_t r = {1700000000000 + (int64_t)i * 1000, v[i], id, 0};
    kk_batch_push(b, &r);
  }
  return b;
}

KK_TEST(module_stage_process_and_runaway) {
  make_tmpdir();
  const kk_module_t *m = load_text(good_module, "scale.lua");
  if (!m) KK__FAIL("load: %s", errbuf);
  lua_State *R = new_state(0, 0, 0);
  (void)luaL_dostring(R, "return { factor = 2.5, deadline = '20ms' }");
  kk_stage_t *st = make_stage(R, m);

  double v[] = {1, 2, 3};
  kk_batch_t *b = batch_values(v, 3, ds("r", "p", "u"));
  kk_batch_set_seq(b, 99);
  KK_CHECK_INT(m->process(st, st->state, b), ==, 0);
  KK_CHECK_INT(ngot, ==, 3);
  KK_CHECK_DBL(got[2].value, 7.5, 1e-12);
  KK_CHECK_INT(got_seq, ==, 99);
  kk_batch_unref(b);

  /* A runaway batch is lost for this stage only, and counted. */
  double bad[] = {1, -1};
  b = batch_values(bad, 2, ds("r", "p", "u"));
  double t0 = now_ms();
  KK_CHECK_INT(m->process(st, st->state, b), ==, KK_EBUDGET);
  KK_CHECK(now_ms() - t0 < runaway_bound_ms());
  KK_CHECK(strstr(kk_stage_last_error(st), "scale.lua:24: instruction budget "
                                           "exceeded (") != NULL);
  kk_batch_unref(b);
  KK_CHECK_INT(ngot, ==, 3);
  KK_CHECK_INT(
      kk_metric_value(kk_counter("kk_lua_errors_total",
                                 "stage=\"scale\",reason=\"budget\"", "")),
      ==, 1);
  b = batch_values(v, 3, ds("r", "p", "u"));
  KK_CHECK_INT(m->process(st, st->state, b), ==, 0);
  KK_CHECK_INT(ngot, ==, 6);
  kk_batch_unref(b);

  kk__engine_free(eng);
  eng = NULL;
  kk__lua_close(R);
  kk__lua_module_free(m);
  cleanup_tmpdir();
}

KK_TEST(module_create_errors_reach_the_stage) {
  make_tmpdir();
  const kk_module_t *m =
      load_text("return { name = 'c', kind = 'sink', process = function() "
                "end, create = function(o) error('no database', 0) end }",
                "c.lua");
  KK_CHECK(m != NULL);
  lua_State *R = new_state(0, 0, 0);
  lua_newtable(R);
  kk_opts_t *o = kk__opts_from_lua(R, -1, m, errbuf, sizeof errbuf);
  lua_pop(R, 1);
  eng = kk__engine_new();
  kk_stage_t *st = kk__engine_add_stage(eng, m, o, "test", 1);
  void *state = NULL;
  KK_CHECK_INT(m->create(st, o, &state), ==, KK_ELUA);
  KK_CHECK(strstr(kk_stage_last_error(st), "no database") != NULL);
  KK_CHECK(strstr(kk_stage_last_error(st), "traceback") == NULL);
  KK_CHECK(state == NULL);
  kk__engine_free(eng);
  eng = NULL;
  kk__lua_close(R);
  kk__lua_module_free(m);
  cleanup_tmpdir();
}

KK_TEST(builtin_unit_convert) {
  char p[PATH_MAX];
  src_path(p, sizeof p, "modules/transform/unit_convert.lua");
  const kk_module_t *m = kk__lua_module_load(p, errbuf, sizeof errbuf);
  if (!m) KK__FAIL("load: %s", errbuf);
  KK_CHECK_STR(m->name, "unit_convert");
  lua_State *R = new_state(0, 0, 0);
  (void)luaL_dostring(R, "return { from = '[degF]', to = 'Cel' }");
  kk_stage_t *st = make_stage(R, m);
  kk_batch_t *b = batch3();
  KK_CHECK_INT(m->process(st, st->state, b), ==, 0);
  KK_CHECK_INT(ngot, ==, 3);
  KK_CHECK_DBL(got[2].value, 20.0, 1e-9);
  KK_CHECK_INT(got[2].ds, ==, ds("room2", "temperature", "Cel"));
  KK_CHECK_DBL(got[0].value, 21.5, 0);               /* other units pass */
  KK_CHECK_INT(m->process(st, st->state, b), ==, 0); /* cached path */
  KK_CHECK_DBL(got[5].value, 20.0, 1e-9);
  kk_batch_unref(b);

  /* Energy, derived reverse pair, and the drop of other readings. */
  (void)luaL_dostring(R, "return { from = 'kW.h', to = 'W.h', keep = false }");
  st = make_stage(R, m);
  double v[] = {1.5};
  b = batch_values(v, 1, ds("meter", "energy", "kW.h"));
  kk_batch_t *b2 = batch3();
  KK_CHECK_INT(m->process(st, st->state, b), ==, 0);
  KK_CHECK_INT(m->process(st, st->state, b2), ==, 0);
  KK_CHECK_INT(ngot, ==, 1);
  KK_CHECK_DBL(got[0].value, 1500, 1e-9);
  kk_batch_unref(b);
  kk_batch_unref(b2);

  /* Unknown pair without factor: a clear create error. */
  (void)luaL_dostring(R, "return { from = 'furlong', to = 'Cel' }");
  kk_opts_t *o = kk__opts_from_lua(R, -1, m, errbuf, sizeof errbuf);
  lua_pop(R, 1);
  st = kk__engine_add_stage(eng, m, o, "test", 3);
  void *state = NULL;
  KK_CHECK(m->create(st, o, &state) != 0);
  KK_CHECK(strstr(kk_stage_last_error(st), "no built-in conversion") != NULL);
  kk__engine_free(eng);
  eng = NULL;
  kk__lua_close(R);
  kk__lua_module_free(m);
}

KK_TEST(example_dew_point) {
  char p[PATH_MAX];
  src_path(p, sizeof p, "examples/lua-module/dew_point.module.lua");
  const kk_module_t *m = kk__lua_module_load(p, errbuf, sizeof errbuf);
  if (!m) KK__FAIL("load: %s", errbuf);
  KK_CHECK_STR(m->ns, "calc");
  lua_State *R = new_state(0, 0, 0);
  (void)luaL_dostring(R, "return { pass = false, temperature = "
                         "'temperature', humidity = 'humidity' }");
  kk_stage_t *st = make_stage(R, m);
  kk_batch_t *b = batch3();
  KK_CHECK_INT(m->process(st, st->state, b), ==, 0);
  KK_CHECK_INT(ngot, ==, 1);
  /* 21.5 degC at 50 %: a = 17.62, b = 243.12 give 10.63 degC. */
  double g = log(0.5) + 17.62 * 21.5 / (243.12 + 21.5);
  KK_CHECK_DBL(got[0].value, 243.12 * g / (17.62 - g), 1e-9);
  KK_CHECK_DBL(got[0].value, 10.63, 0.01);
  KK_CHECK_INT(got[0].ds, ==, ds("room1", "dew_point", "Cel"));
  KK_CHECK_INT(got[0].time_ms, ==, 1700000000000);
  kk_batch_unref(b);
  kk__engine_free(eng);
  eng = NULL;
  kk__lua_close(R);
  kk__lua_module_free(m);
}

KK_TEST(module_scan_registers) {
  char p[PATH_MAX];
  /* klimakit's own tree: every Lua file there is a module. */
  src_path(p, sizeof p, "modules/transform");
  int n = kk__lua_module_scan_tree(p);
  KK_CHECK(n >= 1);
  KK_CHECK(kk__registry_find("transform", "unit_convert") != NULL);
  KK_CHECK(kk__lua_module_scan("/nonexistent") < 0);
}

/* A folder of KLIMAKIT_LUA_PATH may hold decoders and recipes besides
 * modules: only *.module.lua files are loaded. */
KK_TEST(module_scan_only_module_files) {
  make_tmpdir();
  write_file("decoder.lua", "return function(bytes) return {} end\n");
  write_file("recipe.lua", "local kk = require 'klimakit'\n");
  write_file("shout.module.lua",
             "return { name = 'shout', kind = 'transform',\n"
             "  process = function(s, b, emit) end }\n");
  KK_CHECK_INT(kk__lua_module_scan(tmpdir), ==, 1);
  KK_CHECK(kk__registry_find("transform", "shout") != NULL);
  cleanup_tmpdir();
}

/* ---- recipe stages ----------------------------------------------------------
 */

static kk_stage_t *recipe_stage(lua_State *R, const kk_module_t *m,
                                const char *fn) {
  char code[2048];
  FMT(code, "return { fn = %s }", fn);
  if (luaL_dostring(R, code) != LUA_OK) KK__FAIL("%s", lua_tostring(R, -1));
  return make_stage(R, m);
}

KK_TEST(stage_map) {
  lua_State *R = new_state(0, 0, 0);
  kk_stage_t *st = recipe_stage(
      R, &kk__map_module,
      "function(r)\n"
      "  if r.property == 'humidity' then return nil end\n"
      "  if r.unit == '[degF]' then\n"
      "    return { unit = 'Cel', value = (r.value - 32) * 5 / 9 } end\n"
      "  return r.value + 1 end");
  kk_batch_t *b = batch3();
  kk_batch_set_seq(b, 7);
  KK_CHECK_INT(kk__map_module.process(st, st->state, b), ==, 0);
  KK_CHECK_INT(ngot, ==, 2);
  KK_CHECK_DBL(got[0].value, 22.5, 0);
  KK_CHECK_INT(got[0].ds, ==, ds("room1", "temperature", "Cel"));
  KK_CHECK_DBL(got[1].value, 20, 1e-9);
  KK_CHECK_INT(got[1].ds, ==, ds("room2", "temperature", "Cel"));
  KK_CHECK_INT(got[1].time_ms, ==, 1700000060000);
  KK_CHECK_INT(got_seq, ==, 7);
  kk_batch_unref(b);
  kk__engine_free(eng);
  eng = NULL;
  kk__lua_close(R);
}

KK_TEST(stage_map_bad_result_and_runaway) {
  lua_State *R = new_state(0, 0, 0);
  kk_stage_t *st = recipe_stage(
      R, &kk__map_module,
      "function(r) if r.value == 50 then return 'x' end\n"
      "  if r.value == 68 then while true do end end return r end");
  kk_batch_t *b = batch3();
  KK_CHECK_INT(kk__map_module.process(st, st->state, b), ==, KK_ELUA);
  KK_CHECK_STR(kk_stage_last_error(st),
               "map: fn must return nil (drop), a number (new value), a "
               "reading or a table, got string");
  KK_CHECK_INT(ngot, ==, 0);
  kk_batch_unref(b);
  double v[] = {68};
  b = batch_values(v, 1, ds("r", "p", "u"));
  double t0 = now_ms();
  KK_CHECK_INT(kk__map_module.process(st, st->state, b), ==, KK_EBUDGET);
  KK_CHECK(now_ms() - t0 < runaway_bound_ms());
  kk_batch_unref(b);
  double ok[] = {1, 2};
  b = batch_values(ok, 2, ds("r", "p", "u"));
  KK_CHECK_INT(kk__map_module.process(st, st->state, b), ==, 0);
  KK_CHECK_INT(ngot, ==, 2);
  kk_batch_unref(b);
  KK_CHECK_INT(
      kk_metric_value(kk_counter("kk_lua_errors_total",
                                 "stage=\"map\",reason=\"error\"", "")),
      ==, 1);
  KK_CHECK_INT(
      kk_metric_value(kk_counter("kk_lua_errors_total",
                                 "stage=\"map\",reason=\"budget\"", "")),
      ==, 1);
  kk__engine_free(eng);
  eng = NULL;
  kk__lua_close(R);
}

KK_TEST(stage_filter) {
  lua_State *R = new_state(0, 0, 0);
  kk_stage_t *st = recipe_stage(R, &kk__filter_module,
                                "function(r) return r.thing == 'room1' end");
  kk_batch_t *b = batch3();
  KK_CHECK_INT(kk__filter_module.process(st, st->state, b), ==, 0);
  KK_CHECK_INT(ngot, ==, 2);
  KK_CHECK_DBL(got[1].value, 50, 0);
  kk_batch_unref(b);
  kk__engine_free(eng);
  eng = NULL;
  kk__lua_close(R);
}

KK_TEST(stage_fn) {
  lua_State *R = new_state(0, 0, 0);
  kk_stage_t *st = recipe_stage(
      R, &kk__luafn_module,
      "function(batch, emit)\n"
      "  local sum = 0\n"
      "  for r in batch:readings() do sum = sum + r.value end\n"
      "  emit { thing = 'all', property = 'sum', unit = '1', value = sum,\n"
      "         time = batch:get(#batch).time }\n"
      "end");
  kk_batch_t *b = batch3();
  KK_CHECK_INT(kk__luafn_module.process(st, st->state, b), ==, 0);
  KK_CHECK_INT(ngot, ==, 1);
  KK_CHECK_DBL(got[0].value, 139.5, 0);
  KK_CHECK_INT(got[0].time_ms, ==, 1700000060000);
  kk_batch_unref(b);
  kk__engine_free(eng);
  eng = NULL;
  kk__lua_close(R);
}

KK_TEST(stage_fn_memcap_in_recipe_state) {
  lua_State *R = new_state((size_t)8 << 20, 0, 2000);
  kk_stage_t *st = recipe_stage(
      R, &kk__luafn_module,
      "function(batch, emit) local t = {} while true do t[#t + 1] = "
      "string.rep('x', 1000) end end");
  kk_batch_t *b = batch3();
  KK_CHECK_INT(kk__luafn_module.process(st, st->state, b), ==, KK_EMEMCAP);
  KK_CHECK_INT(kk__luafn_module.process(st, st->state, b), ==, KK_EMEMCAP);
  kk_batch_unref(b);
  kk__engine_free(eng);
  eng = NULL;
  kk__lua_close(R);
}

KK_TEST_MAIN(KK_CASE(batch_get_iterate_raw),
             KK_CASE(emit_views_tables_and_errors),
             KK_CASE(reading_view_fields),
             KK_CASE(module_load_builds_descriptor),
             KK_CASE(module_load_errors_are_clear),
             KK_CASE(module_stage_process_and_runaway),
             KK_CASE(module_create_errors_reach_the_stage),
             KK_CASE(builtin_unit_convert), KK_CASE(example_dew_point),
             KK_CASE(module_scan_registers),
             KK_CASE(module_scan_only_module_files), KK_CASE(stage_map),
             KK_CASE(stage_map_bad_result_and_runaway), KK_CASE(stage_filter),
             KK_CASE(stage_fn), KK_CASE(stage_fn_memcap_in_recipe_state))
