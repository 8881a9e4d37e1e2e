/* tests/unit/test_lua_sandbox.c - the Lua sandbox: the allow-list, file
 * access, require, print, the instruction budget and the memory cap.
 * The batch userdata, Lua modules and recipe stages are in test_lua.c. */
#include "kk_test.h"

#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "lua_sandbox.h"

/* ---- helpers ------------------------------------------------------------ */

#include "lua_test_util.h"

/* ---- sandbox ---------------------------------------------------------- */

KK_TEST(sandbox_denies_dangerous_globals) {
  lua_State *L = new_state(0, 0, 0);
  RUN_OK(L, "assert(os.execute == nil and os.remove == nil and "
            "os.rename == nil and os.exit == nil and os.tmpname == nil)\n"
            "assert(io.popen == nil and io.write == nil and io.read == nil)\n"
            "assert(package == nil and debug == nil)\n"
            "assert(collectgarbage == nil and string.dump == nil)\n"
            "assert(type(os.time()) == 'number' and os.clock and os.date "
            "and os.getenv)\n"
            "assert(string and table and math and utf8 and coroutine)\n"
            "assert(require('io').popen == nil)\n"
            "assert(require('os').execute == nil)\n"
            "assert(_G == _ENV and _G.print == print)");
  /* Calling what is gone fails as a Lua error, not a crash. */
  KK_CHECK_INT(run(L, "os.execute('true')"), ==, KK_ELUA);
  KK_CHECK(strstr(errbuf, "execute") != NULL);
  KK_CHECK_INT(run(L, "package.loadlib('/lib/x86_64-linux-gnu/libc.so.6', "
                      "'system')"),
               ==, KK_ELUA);
  KK_CHECK_INT(run(L, "return require 'debug'"), ==, KK_ELUA);
  KK_CHECK(strstr(errbuf, "not found or not allowed") != NULL);
  KK_CHECK_INT(run(L, "return require 'socket'"), ==, KK_ELUA);
  KK_CHECK_INT(run(L, "return require 'package'"), ==, KK_ELUA);
  kk__lua_close(L);
}

KK_TEST(sandbox_denies_bytecode) {
  /* Bytecode made by an ordinary, unsandboxed state (string.dump is gone
   * from the sandbox), handed in as a string and as a file. */
  lua_State *L = new_state(0, 0, 0);
  lua_State *P = luaL_newstate();
  luaL_openlibs(P);
  KK_CHECK(luaL_dostring(P, "return string.dump(function() return 42 end)") ==
           LUA_OK);
  size_t len;
  const char *bc = lua_tolstring(P, -1, &len);
  lua_pushlstring(L, bc, len);
  lua_setglobal(L, "bc");
  make_tmpdir();
  char p[PATH_MAX];
  FMT(p, "%s/chunk.luac", tmpdir);
  FILE *f = fopen(p, "wb");
  fwrite(bc, 1, len, f);
  fclose(f);
  lua_close(P);
  KK_CHECK_INT(kk__lua_allow_path(L, tmpdir, 0), ==, 0);
  lua_pushstring(L, p);
  lua_setglobal(L, "bcfile");
  RUN_OK(L, "local f, e = load(bc) assert(f == nil and e:find('binary'), e)\n"
            "f, e = load(bc, 'x', 'b') assert(f == nil and e:find('binary'))\n"
            "f, e = load(bc, 'x', 'bt') assert(f == nil)\n"
            "local once = false\n"
            "f, e = load(function() if once then return nil end once = true "
            "return bc end) assert(f == nil, 'reader')\n"
            "f, e = loadfile(bcfile) assert(f == nil and e:find('binary'), e)\n"
            "assert(not pcall(dofile, bcfile))\n"
            "assert(load('return 1 + 1')() == 2)\n"
            "local env = { x = 5 }\n"
            "assert(load('return x', 'c', 't', env)() == 5)");
  kk__lua_close(L);
  cleanup_tmpdir();
}

KK_TEST(sandbox_io_paths) {
  make_tmpdir();
  char p[PATH_MAX];
  FMT(p, "%s/ro", tmpdir);
  KK_CHECK(mkdir(p, 0755) == 0);
  FMT(p, "%s/ro/pkg", tmpdir);
  KK_CHECK(mkdir(p, 0755) == 0);
  FMT(p, "%s/rw", tmpdir);
  KK_CHECK(mkdir(p, 0755) == 0);
  write_file("secret.txt", "secret\n");
  write_file("ro/data.txt", "hello\nworld\n");
  write_file("ro/helper.lua", "return 7\n");
  write_file("ro/pkg/mod.lua", "local name = ... return { name = name }\n");
  write_file("secret.lua", "return 'leak'\n");
  char target[PATH_MAX];
  FMT(p, "%s/ro/link.txt", tmpdir);
  FMT(target, "%s/secret.txt", tmpdir);
  KK_CHECK(symlink(target, p) == 0);
  FMT(p, "%s/rw/dangling", tmpdir);
  FMT(target, "%s/created_outside", tmpdir);
  KK_CHECK(symlink(target, p) == 0);

  /* A 10 s deadline: this checks the path rules, and its one chunk of
   * file operations takes more than the default 50 ms of CPU under ASan
   * (the watchdog timer stops it there). */
  lua_State *L = new_state(0, 0, 10000);
  FMT(p, "%s/ro", tmpdir);
  KK_CHECK_INT(kk__lua_allow_path(L, p, 0), ==, 0);
  FMT(p, "%s/rw", tmpdir);
  KK_CHECK_INT(kk__lua_allow_path(L, p, 1), ==, 0);
  KK_CHECK(kk__lua_allow_path(L, "/nonexistent/dir", 0) < 0);
  lua_pushstring(L, tmpdir);
  lua_setglobal(L, "T");
  RUN_OK(L,
         "local f = assert(io.open(T .. '/ro/data.txt'))\n"
         "assert(f:read('l') == 'hello') f:close()\n"
         "local n = 0 for l in io.lines(T .. '/ro/data.txt') do n = n + 1 end\n"
         "assert(n == 2)\n"
         "local function denied(path, mode)\n"
         "  local f, e, code = io.open(path, mode)\n"
         "  assert(f == nil, path .. ' opened')\n"
         "  assert(e:find('access denied'), e) assert(code == 13)\n"
         "end\n"
         "denied(T .. '/secret.txt')\n"
         "denied(T .. '/ro/../secret.txt')\n"
         "denied(T .. '/ro/link.txt')\n"
         "denied('/etc/passwd')\n"
         "denied(T .. '/ro/new.txt', 'w')\n"
         "denied(T .. '/ro/data.txt', 'r+')\n"
         "denied(T .. '/rw/../escape.txt', 'w')\n"
         "denied(T .. '/rw/dangling', 'w')\n"
         "denied(T .. '/rw/nodir/x.txt', 'w')\n"
         "assert(not pcall(io.lines, T .. '/secret.txt'))\n"
         "assert(not pcall(io.lines))\n"
         "local w = assert(io.open(T .. '/rw/out.txt', 'w'))\n"
         "w:write('42') w:close()\n"
         "assert(io.open(T .. '/rw/out.txt'):read('a') == '42')\n"
         "assert(io.open(T .. '/rw/out.txt', 'a')):close()\n"
         "assert(io.type(w) == 'closed file')\n"
         "assert(dofile(T .. '/ro/helper.lua') == 7)\n"
         "assert(loadfile(T .. '/ro/helper.lua')() == 7)\n"
         "assert(loadfile(T .. '/secret.lua') == nil)\n"
         "assert(not pcall(dofile, T .. '/secret.lua'))\n"
         "assert(require('pkg.mod').name == 'pkg.mod')\n"
         "assert(require('pkg.mod') == require('pkg.mod'))\n"
         "assert(not pcall(require, '..secret'))\n"
         "assert(not pcall(require, 'secret'))\n"
         "assert(not pcall(io.open, T .. '/rw/x', 'rw'))\n");
  FMT(p, "%s/created_outside", tmpdir);
  KK_CHECK(access(p, F_OK) != 0);
  kk__lua_close(L);
  cleanup_tmpdir();
}

KK_TEST(sandbox_require_cjson) {
  lua_State *L = new_state(0, 0, 0);
  RUN_OK(L, "local cjson = require 'cjson'\n"
            "assert(require 'cjson' == cjson)\n"
            "local s = cjson.encode({ a = 1, b = { 'x', 'y' }, c = true })\n"
            "local t = cjson.decode(s)\n"
            "assert(t.a == 1 and t.b[2] == 'y' and t.c == true)\n"
            "assert(cjson.decode('[1,2,3]')[3] == 3)\n"
            "assert(cjson.null ~= nil)\n"
            "local safe = require 'cjson.safe'\n"
            "assert(safe.decode('{bad') == nil)\n");
  kk__lua_close(L);
}

static int open_count;
static int open_fake(lua_State *L) {
  open_count++;
  lua_newtable(L);
  lua_pushinteger(L, 42);
  lua_setfield(L, -2, "answer");
  return 1;
}

/* Runs `code` in L (it must succeed) with stderr, where kk_log writes,
 * sent to a file; returns what was logged, which the caller frees. */
static char *run_logged(lua_State *L, const char *code) {
  FILE *f = tmpfile();
  KK_CHECK(f != NULL);
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  KK_CHECK(saved >= 0);
  KK_CHECK(dup2(fileno(f), STDERR_FILENO) >= 0);
  /* Plain text lines, as on a terminal but without colours. */
  kk__log_setup(KK__LOGFMT_TEXT, KK_LOG_INFO);
  int rc = run(L, code);
  dup2(saved, STDERR_FILENO);
  close(saved);
  if (rc != 0) KK__FAIL("Lua failed (%d): %s", rc, errbuf);
  off_t n = lseek(fileno(f), 0, SEEK_END);
  KK_CHECK(n >= 0);
  char *text = calloc(1, (size_t)n + 1);
  KK_CHECK(text != NULL);
  KK_CHECK(pread(fileno(f), text, (size_t)n, 0) == n);
  fclose(f);
  return text;
}

KK_TEST(sandbox_preload_and_print) {
  /* A deadline of 10 s: under valgrind the first print (the logger's code
   * translated for the first time) takes more than the default 50 ms of CPU
   * time. */
  lua_State *L = new_state(0, 0, 10000);
  kk__lua_set_preload(L, "klimakit", open_fake);
  char *out = run_logged(
      L, "assert(require('klimakit').answer == 42)\n"
         "assert(require('klimakit') == require('klimakit'))\n"
         "print('hello from', 1, nil, true)\n"
         "print(setmetatable({}, { __tostring = function() return 'T' end }))");
  KK_CHECK_INT(open_count, ==, 1);
  /* print logs one info line per call, its arguments joined by tabs as
   * tostring shows them, under the state's name. */
  if (!strstr(out, "info  [lua:test] hello from\t1\tnil\ttrue\n") ||
      !strstr(out, "info  [lua:test] T\n"))
    KK__FAIL("print logged \"%s\"", out);
  free(out);
  KK_CHECK_STR(kk__lua_name(L), "test");
  kk__lua_set_name(L, "other");
  KK_CHECK_STR(kk__lua_name(L), "other");
  out = run_logged(L, "print('renamed')");
  if (!strstr(out, "info  [lua:other] renamed\n"))
    KK__FAIL("print logged \"%s\"", out);
  free(out);
  kk__lua_close(L);
}

KK_TEST(lua_error_has_traceback) {
  lua_State *L = new_state(0, 0, 0);
  KK_CHECK_INT(run(L, "local function f() error('boom') end f()"), ==, KK_ELUA);
  KK_CHECK(strstr(errbuf, "test:1: boom") != NULL);
  KK_CHECK(strstr(errbuf, "stack traceback") != NULL);
  KK_CHECK_INT(run(L, "error({})"), ==, KK_ELUA);
  KK_CHECK(strstr(errbuf, "error object is a table") != NULL);
  RUN_OK(L, "assert(1 + 1 == 2)");
  kk__lua_close(L);
}

/* ---- budget ------------------------------------------------------------ */

static void check_runaway(const char *code) {
  lua_State *L = new_state(0, 0, 0); /* defaults: 50 M instructions, 50 ms */
  double t0 = now_ms();
  int rc = run(L, code);
  double took = now_ms() - t0;
  KK_CHECK_INT(rc, ==, KK_EBUDGET);
  KK_CHECK(strstr(errbuf, "test:1: instruction budget exceeded (") != NULL);
  KK_CHECK(strstr(errbuf, " instructions in ") != NULL);
  KK_CHECK(strstr(errbuf, "traceback") == NULL);
  fprintf(stderr, "  runaway stopped after %.1f ms: %s\n", took, errbuf);
  KK_CHECK(took < runaway_bound_ms());
  /* The same state goes on working. */
  luaL_loadstring(L, "return 20 + 22");
  KK_CHECK_INT(kk__lua_pcall(L, 0, 1, errbuf, sizeof errbuf), ==, 0);
  KK_CHECK_INT(lua_tointeger(L, -1), ==, 42);
  lua_pop(L, 1);
  kk__lua_close(L);
}

KK_TEST(budget_stops_runaway_loop) {
  check_runaway("while true do end");
}

KK_TEST(budget_cannot_be_swallowed_by_pcall) {
  check_runaway("while true do pcall(function() while true do end end) end");
}

KK_TEST(budget_cannot_be_swallowed_by_xpcall_handler) {
  check_runaway("while true do xpcall(function() while true do end end, "
                "function() while true do end end) end");
}

KK_TEST(budget_stops_coroutines) {
  check_runaway("while true do local co = coroutine.wrap(function() while "
                "true do end end) pcall(co) end");
}

KK_TEST(budget_counts_instructions) {
  lua_State *L = new_state(0, 1000000, 10000);
  double t0 = now_ms();
  KK_CHECK_INT(run(L, "local x = 0 while true do x = x + 1 end"), ==,
               KK_EBUDGET);
  KK_CHECK(now_ms() - t0 < 5000);
  KK_CHECK(strstr(errbuf, "instruction budget exceeded (1000000 "
                          "instructions") != NULL);
  /* The budget starts afresh with every call: five calls of ~600 k
   * instructions each pass a 1 M budget. */
  for (int i = 0; i < 5; i++)
    RUN_OK(L, "local x = 0 for i = 1, 200000 do x = x + i end");
  /* Per-call limits override the state's. */
  luaL_loadstring(L, "local x = 0 for i = 1, 200000 do x = x + i end");
  kk__lua_limits_t small = {0, 10000, 0};
  KK_CHECK_INT(kk__lua_pcall_limits(L, 0, 0, &small, errbuf, sizeof errbuf), ==,
               KK_EBUDGET);
  kk__lua_limits_t lim;
  kk__lua_get_limits(L, &lim);
  KK_CHECK_INT(lim.budget, ==, 1000000);
  kk__lua_close(L);
}

KK_TEST(budget_no_unbudgeted_finalizers) {
  /* Lua runs __gc finalizers with hooks off: the sandbox allows none. */
  lua_State *L = new_state(0, 0, 0);
  KK_CHECK_INT(run(L, "setmetatable({}, { __gc = function() while true do "
                      "end end })"),
               ==, KK_ELUA);
  KK_CHECK(strstr(errbuf, "__gc metamethods are not allowed") != NULL);
  RUN_OK(L,
         "local mt = {} local t = setmetatable({}, mt)\n"
         "mt.__gc = function() while true do end end\n"
         "t = nil\n"
         "assert(getmetatable(setmetatable({}, { __index = {} })))\n"
         "local f = io.open and getmetatable(io.open) == nil\n"
         "assert(select('#', xpcall(error, function(m) return m .. '!' "
         "end, 'x')) == 2)\n"
         "local ok, m = xpcall(error, function(m) return m .. '!' end, 'x')\n"
         "assert(not ok and m == 'x!')\n"
         "assert(select(2, xpcall(function(a) return a + 1 end, print, 1)) "
         "== 2)");
  double t0 = now_ms();
  kk__lua_close(L);
  KK_CHECK(now_ms() - t0 < 1000);
}

/* ---- memory cap --------------------------------------------------------- */

KK_TEST(memcap_stops_growth) {
  lua_State *L = new_state((size_t)4 << 20, 0, 10000);
  int rc = run(L, "local t = {} while true do t[#t+1] = string.rep('x', 1000) "
                  "end");
  KK_CHECK_INT(rc, ==, KK_EMEMCAP);
  KK_CHECK(strstr(errbuf, "memory cap exceeded") != NULL);
  KK_CHECK(kk__lua_mem_used(L) < ((size_t)1 << 20));
  /* A single huge allocation fails the same way. */
  KK_CHECK_INT(run(L, "return string.rep('x', 64 * 1024 * 1024)"), ==,
               KK_EMEMCAP);
  /* pcall inside Lua may catch it, and the call then succeeds. */
  RUN_OK(L, "local ok = pcall(string.rep, 'x', 64 * 1024 * 1024) "
            "assert(not ok)");
  luaL_loadstring(L, "return #string.rep('x', 100)");
  KK_CHECK_INT(kk__lua_pcall(L, 0, 1, errbuf, sizeof errbuf), ==, 0);
  KK_CHECK_INT(lua_tointeger(L, -1), ==, 100);
  lua_pop(L, 1);
  kk__lua_close(L);
}

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A call that reaches the cap stops without the collector's emergency
 * full collection, which Lua runs inside a refused allocation where no
 * hook reaches (30-60 ms near the default cap of 64 MiB): the allocation
 * is granted from a headroom and the call stops at its next instruction.
 * The heap is a few hundred thousand small tables just under the cap; the
 * call that passes it must cost much less CPU time than one full
 * collection of that heap. */
KK_TEST(memcap_stops_without_emergency_collection) {
  size_t cap = (size_t)64 << 20;
  lua_State *L = new_state(cap, 0, 10000);
  /* Small tables in groups of 1000, so that no big array is resized (a
   * copy of megabytes that costs what it costs either way). */
  RUN_OK(L, "T = {} function grow(n) for k = 1, n do local g = T[#T] "
            "if not g or #g == 1000 then g = {} T[#T + 1] = g end "
            "g[#g + 1] = {} end end");
  while (kk__lua_mem_used(L) < cap - ((size_t)1 << 20))
    RUN_OK(L, "grow(5000)");
  double t0 = cpu_ms();
  int rc = run(L, "while true do grow(1) end");
  double call = cpu_ms() - t0;
  KK_CHECK_INT(rc, ==, KK_EMEMCAP);
  if (!strstr(errbuf, "test:1: not enough memory (cap of stage test)"))
    KK__FAIL("error \"%s\"", errbuf);
  /* Caught by pcall in Lua, it stops the call all the same: the state is
   * over its cap. */
  rc = run(L, "for k = 1, 100 do pcall(grow, 1e6) end");
  KK_CHECK_INT(rc, ==, KK_EMEMCAP);
  size_t used = kk__lua_mem_used(L);
  KK_CHECK(used <= 2 * cap);
  t0 = cpu_ms();
  lua_gc(L, LUA_GCCOLLECT, 0);
  double full = cpu_ms() - t0;
  fprintf(stderr,
          "  the call at the cap: %.1f ms CPU; one full collection: %.1f ms "
          "(%zu KiB in use)\n",
          call, full, used / 1024);
  KK_CHECK(call < full / 2);
  /* Emptied, the state works again. */
  RUN_OK(L, "T = nil");
  lua_gc(L, LUA_GCCOLLECT, 0);
  RUN_OK(L, "assert(#string.rep('x', 100) == 100)");
  kk__lua_close(L);
}

KK_TEST(memcap_too_small_for_state) {
  kk__lua_limits_t lim = {1024, 0, 0};
  lua_State *L = kk__lua_new(&lim, "tiny", errbuf, sizeof errbuf);
  KK_CHECK(L == NULL);
  KK_CHECK(strstr(errbuf, "memory cap") != NULL);
}

KK_TEST_MAIN(KK_CASE(sandbox_denies_dangerous_globals),
             KK_CASE(sandbox_denies_bytecode), KK_CASE(sandbox_io_paths),
             KK_CASE(sandbox_require_cjson), KK_CASE(sandbox_preload_and_print),
             KK_CASE(lua_error_has_traceback),
             KK_CASE(budget_stops_runaway_loop),
             KK_CASE(budget_cannot_be_swallowed_by_pcall),
             KK_CASE(budget_cannot_be_swallowed_by_xpcall_handler),
             KK_CASE(budget_stops_coroutines),
             KK_CASE(budget_counts_instructions),
             KK_CASE(budget_no_unbudgeted_finalizers),
             KK_CASE(memcap_stops_growth),
             KK_CASE(memcap_stops_without_emergency_collection),
             KK_CASE(memcap_too_small_for_state))
