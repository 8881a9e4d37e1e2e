/* tests/unit/test_lua_pattern.c - the sandbox's own string and table
 * functions (core/lua_pattern.c, core/lua_sandbox_bounds.c): the same
 * results and error messages as the stock Lua 5.4 library, compared case
 * by case with an ordinary state (luaL_newstate + luaL_openlibs), on a
 * table of hand-written cases and on random patterns; and the bounds:
 * every call that would run long in C stops at the deadline. */
#include "kk_test.h"

#include <lauxlib.h>
#include <lualib.h>
#include <time.h>

#include "core.h"
#include "lua_sandbox.h"

static char errbuf[4096];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static lua_State *sandbox(uint64_t budget, uint64_t deadline_ms) {
  kk__lua_limits_t lim = {(size_t)256 << 20, budget, deadline_ms};
  lua_State *L = kk__lua_new(&lim, "test", errbuf, sizeof errbuf);
  if (!L) KK__FAIL("kk__lua_new: %s", errbuf);
  return L;
}

/* Runs code in L (a sandbox under its limits, or a plain state) and
 * returns its one string result in a malloc'd copy, or NULL with errbuf
 * set and *rc the kk__lua_pcall code. */
static char *eval(lua_State *L, const char *code, int *rc) {
  errbuf[0] = 0;
  if (luaL_loadbufferx(L, code, strlen(code), "=cases", "t") != LUA_OK)
    KK__FAIL("syntax: %s", lua_tostring(L, -1));
  *rc = kk__lua_pcall(L, 0, 1, errbuf, sizeof errbuf);
  if (*rc) return NULL;
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  char *out = s ? strndup(s, n) : NULL;
  lua_pop(L, 1);
  return out;
}

/* The runner: `cases` is a list of {fn, args...}; each line of the result
 * is one case's outcome, values tagged by type, errors as ERR. */
static const char RUNNER[] =
    "local function ser(v)\n"
    "  local t = type(v)\n"
    "  if t == 'string' then return string.format('%q', v) end\n"
    "  if t == 'number' then return math.type(v) .. ':' .. tostring(v) end\n"
    "  if t == 'table' then\n"
    "    local o = {}\n"
    "    for i = 1, (v.n or #v) do o[#o + 1] = ser(v[i]) end\n"
    "    return '{' .. table.concat(o, ',') .. '}'\n"
    "  end\n"
    "  return tostring(v)\n"
    "end\n"
    "local function gm(s, p, init)\n"
    "  local r = {}\n"
    "  for a, b, c in string.gmatch(s, p, init) do\n"
    "    r[#r + 1] = table.pack(a, b, c)\n"
    "    if #r > 50 then break end\n"
    "  end\n"
    "  return r\n"
    "end\n"
    "local fns = {find = string.find, match = string.match, gmatch = gm,\n"
    "  gsub = string.gsub, rep = string.rep, upper = string.upper,\n"
    "  lower = string.lower, reverse = string.reverse,\n"
    "  concat = table.concat, move = function(...)\n"
    "    return table.concat(table.move(...), ',') end,\n"
    "  insert = function(t, ...) table.insert(t, ...)\n"
    "    return table.concat(t, ',') end,\n"
    "  remove = function(t, ...) local v = table.remove(t, ...)\n"
    "    return v, table.concat(t, ',') end,\n"
    "  sort = function(t, f) table.sort(t, f) return table.concat(t, ',') "
    "end,\n"
    "  method = function(s, m, ...) return s[m](s, ...) end,\n"
    "  ulen = utf8.len, fmt = string.format,\n"
    /* A long format takes the sandbox's own path; the prefix changes
     * neither results nor messages. */
    "  fmtl = function(f, ...) local pad = ('.'):rep(5000)\n"
    "    return (string.format(pad .. f, ...)):sub(5001) end,\n"
    /* Likewise: 300 spaces (ignored items) make a long pack format, 5000
     * dots a long date format. */
    "  packl = function(f, ...) return string.pack((' '):rep(300) .. f, ...) "
    "end,\n"
    "  unpackl = function(f, ...)\n"
    "    return string.unpack((' '):rep(300) .. f, ...) end,\n"
    "  packsizel = function(f) return string.packsize((' '):rep(300) .. f) "
    "end,\n"
    "  datel = function(f, ...) local r = os.date('!' .. ('.'):rep(5000) .. "
    "f, ...)\n"
    "    return r:sub(5001) end,\n"
    "  tonum = tonumber, char = string.char, uchar = utf8.char,\n"
    "  uoff = utf8.offset, tunpack = table.unpack,\n"
    "  codes = function(s, lax) local r = {}\n"
    "    for p, c in utf8.codes(s, lax) do r[#r + 1] = p .. ':' .. c end\n"
    "    return table.concat(r, ',') end,\n"
    "  pack = string.pack, unpack = string.unpack, packsize = "
    "string.packsize,\n"
    "  date = function(...) return os.date(...) end,\n"
    "  fmtsum = function(...) local r, s = string.format(...), 0\n"
    "    for i = 1, #r do s = (s * 31 + r:byte(i)) % 1000000007 end\n"
    "    return #r, s end,\n"
    "  load = function(s) local f, e = load(s) if not f then return f, e end\n"
    "    return pcall(f) end}\n"
    "local out = {}\n"
    "for i, c in ipairs(cases) do\n"
    "  local r = table.pack(pcall(fns[c[1]], table.unpack(c, 2, c.n)))\n"
    "  if not r[1] then r = {'ERR', r[2], n = 2} end\n"
    "  out[#out + 1] = i .. ' ' .. c[1] .. ' ' .. ser(r)\n"
    "end\n"
    "return table.concat(out, '\\n')\n";

/* Hand-written cases: each feature of the manual's section 6.4.1 and the
 * argument rules of find/match/gmatch/gsub, malformed patterns too. */
static const char *const CASES[] = {
    "local P = function(...) return table.pack(...) end\n"
    "local big = ('ab'):rep(40)\n"
    "local R300, U300 = {}, {}\n"
    "for i = 1, 300 do R300[i] = i % 100 U300[i] = i * 3001 end\n"
    "local U = ('a\\xc3\\xa4\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80'):rep("
    "40000)\n"
    "cases = {\n",
    /* plain text, init, plain */
    " P('find', 'hello world', 'o w'), P('find', 'hello', 'l'),\n"
    " P('find', 'hello', 'l', 4), P('find', 'hello', 'l', -1),\n"
    " P('find', 'hello', 'l', -2), P('find', 'hello', 'l', -100),\n"
    " P('find', 'hello', '', 6), P('find', 'hello', '', 7),\n"
    " P('find', 'hello', '', 0), P('find', 'hello', 'xyz'),\n"
    " P('find', 'a.b', '.', 1, true), P('find', 'a+b', '+', 1, true),\n"
    " P('find', 'a)b', ')'), P('find', 'a]b', ']'), P('find', '', ''),\n"
    " P('find', 'abc', 'c', 10), P('find', 'a\\0b', '\\0'),\n"
    " P('find', 'a\\0b', '%z'), P('find', 'x^y', '^y'), P('find', 'x^y', "
    "'x^'),\n"
    " P('find', big, 'ba', 3, true), P('find', 'aaa', 'aa', 2, 1),\n",
    /* classes */
    " P('find', 'abc123', '%d+'), P('find', 'ABC def', '%l+'),\n"
    " P('find', 'ABC def', '%u+'), P('match', ' \\t x', '%s*()'),\n"
    " P('match', 'a,b;c', '%p'), P('match', 'ab\\1c', '%c'),\n"
    " P('match', 'fe0Gz', '%x+'), P('match', 'hi there', '%g+'),\n"
    " P('match', 'x_y1 z', '%w+'), P('match', 'x_y1 z', '%W+'),\n"
    " P('match', '12ab', '%D+'), P('match', 'ab  ', '%S+'),\n"
    " P('match', 'aBc', '%U+'), P('match', 'aBc', '%L'), P('match', '--x', "
    "'%-+'),\n"
    " P('match', 'a.b', '%.'), P('match', '100%', '%d+%%'),\n"
    " P('match', 'q', '%q'), P('match', 'Z', '%Z'), P('match', 'a', '%A'),\n"
    " P('match', '\\200\\255', '.+'), P('match', 'x\\255', '[\\200-\\255]'),\n",
    /* sets */
    " P('match', 'hello', '[aeiou]+'), P('match', 'hello', '[^aeiou]+'),\n"
    " P('match', 'x-y', '[a-]+'), P('match', 'x-y', '[-x]+'),\n"
    " P('match', ']]a', '[]]+'), P('match', 'a]]', '[^]]+'),\n"
    " P('match', 'a^b', '[%^b]+'), P('match', 'a^b', '[b^]+'),\n"
    " P('match', 'K9-z', '[%d%u]+'), P('match', 'K9-z', '[%a-]+'),\n"
    " P('match', 'abcxyz', '[b-y]+'), P('match', 'abc', '[c-a]'),\n"
    " P('match', 'a%b', '[%%]'), P('match', 'a]b', '[%]]'),\n"
    " P('match', 'a-z', '[a%-z]+'), P('match', '-', '[%a-z]'),\n"
    " P('match', 'x', '[^%s]'), P('match', ' ', '[^%S]'),\n",
    /* quantifiers */
    " P('match', 'aaab', 'a*'), P('match', 'aaab', 'a+'), P('match', 'aaab', "
    "'a-b'),\n"
    " P('match', 'aaab', 'a?a?'), P('match', 'b', 'a+'), P('match', 'b', "
    "'a*'),\n"
    " P('match', '<a><b>', '<.->'), P('match', '<a><b>', '<.*>'),\n"
    " P('match', 'abc', 'x?abc'), P('match', 'abc', '.-$'), P('match', "
    "'abc', '.-'),\n"
    " P('match', 'ab', 'a?b?c?'), P('match', 'ab', '[ab]-b'),\n"
    " P('match', '+-', '+'), P('match', '*', '*'), P('match', '?', '?'),\n"
    " P('find', 'a*', 'a*', 1, true), P('match', 'x?', 'x%?'),\n",
    /* anchors */
    " P('find', 'abc', '^abc$'), P('find', 'abcabc', '^abc'),\n"
    " P('find', 'abcabc', 'abc$'), P('find', 'abcabc', '^abc', 4),\n"
    " P('match', 'a$b', 'a$b'), P('match', 'ab$', 'b$$'), P('match', '', "
    "'^$'),\n"
    " P('match', 'x', '^'), P('match', 'abc', '$'), P('find', 'abc', '$'),\n"
    " P('match', '^^', '^^'), P('match', 'a', '^a^'),\n",
    /* captures */
    " P('match', 'key=val', '(%w+)=(%w+)'), P('match', 'abc', '()b()'),\n"
    " P('find', 'key=val', '(%w+)=(%w+)'), P('match', 'abc', '((a)(b))c'),\n"
    " P('match', 'abc', '(a(b(c)))'), P('match', 'abc', '()'), P('find', "
    "'abc', '()', 4),\n"
    " P('match', 'hello', '(h)(e)(l)(l)(o)'), P('match', 'x', '(x?)(x?)'),\n"
    " P('match', 'sensor_12', '^(%w+)_(%d+)$'), P('match', 'a', '(()a())'),\n",
    /* back-references */
    " P('match', 'say \"hi\" ok', '([\"\\'])(.-)%1'), P('match', 'abab', "
    "'(ab)%1'),\n"
    " P('match', 'abac', '(ab)%1'), P('match', 'aa', '(a)%1%1'),\n"
    " P('find', 'xaa', '(a)%1'), P('match', 'abcabc', '(a)(b)(c)%1%2%3'),\n"
    " P('match', 'xx', '()x%1'), P('match', 'aaaa', '(a*)%1$'),\n",
    /* %b and %f */
    " P('match', 'f(a(b)c) d', '%b()'), P('match', 'f(a(b c', '%b()'),\n"
    " P('match', '[[x]]', '%b[]'), P('match', 'aaa', '%baa'), P('match', "
    "'x', '%bxy'),\n"
    " P('gsub', 'THE (quick) fox', '%f[%a]%a+', 'W'), P('find', 'the cat', "
    "'%f[%w]%w+'),\n"
    " P('gsub', 'hello world', '%f[%w]%w+%f[%W]', '<%0>'), P('match', "
    "'abc', '%f[%z]'),\n"
    " P('find', 'abc', '%f[^%z]'), P('find', 'abc', '%f[%l]', 2), P('match', "
    "'x1', '%f[%d].'),\n",
    /* gmatch */
    " P('gmatch', 'one two  three', '%a+'), P('gmatch', 'k=v, a=b', "
    "'(%w+)=(%w+)'),\n"
    " P('gmatch', 'abc', ''), P('gmatch', 'abc', '.-'), P('gmatch', 'a^b^c', "
    "'^.'),\n"
    " P('gmatch', 'hello', 'l', 4), P('gmatch', 'hello', '.', -2), "
    "P('gmatch', 'hi', '.', 10),\n"
    " P('gmatch', 'abc', '()'), P('gmatch', 'aXbXc', '[^X]*'),\n",
    /* gsub */
    " P('gsub', 'hello world', 'o', '0'), P('gsub', 'hello', '', '-'),\n"
    " P('gsub', 'hello world', '(%w+)', '<%1>'), P('gsub', 'abc', '%w', "
    "'%0%0'),\n"
    " P('gsub', 'abc', '%w', '%%'), P('gsub', 'abc', 'b', '%1'), P('gsub', "
    "'abc', '()b', '%1'),\n"
    " P('gsub', 'hello world', 'o', 'X', 1), P('gsub', 'hello', 'l', 'L', "
    "0),\n"
    " P('gsub', 'hello', 'l', 'L', -1), P('gsub', 'abc', '^.', 'X'), "
    "P('gsub', 'abc', '.$', 'X'),\n"
    " P('gsub', 'a b c', '%s*', '-'), P('gsub', 'abc', 'x*', '-'), "
    "P('gsub', '', 'x*', '-'),\n"
    " P('gsub', 'k=v', '(%w+)=(%w+)', '%2=%1'), P('gsub', 'abc', '.', 5),\n"
    " P('gsub', 'abc', '.', {a = 1, b = true}), P('gsub', 'abc', '(.)', "
    "{a = 'A', c = false}),\n"
    " P('gsub', 'abc', '.', function(c) return c:upper() end),\n"
    " P('gsub', 'abc', '(.)()', function(c, p) return p end),\n"
    " P('gsub', 'abc', '.', function() end), P('gsub', 'abc', '.', "
    "function() return 1.5 end),\n"
    " P('gsub', '$1 and $2', '%$(%d)', {['1'] = 'one'}), P('gsub', 'abc', "
    "'', ''),\n"
    " P('gsub', 'abc', 'b', 'x', 2.0), P('gsub', 'abc', '(a)(b)', '%2%1%0'),\n",
    /* errors */
    " P('find', 'abc', '%'), P('find', 'abc', '[a'), P('find', 'abc', '[]'),\n"
    " P('find', 'abc', '[^]'), P('find', 'abc', '[%'), P('find', 'abc', "
    "'[a-%'),\n"
    " P('find', 'abc', '%f'), P('find', 'abc', '%fa'), P('find', 'abc', "
    "'%b'), P('find', 'abc', '%ba'),\n"
    " P('find', 'abc', '%1'), P('find', 'abc', '%0'), P('find', 'abc', "
    "'(a)%2'), P('find', 'abc', '(a%1)'),\n"
    " P('find', 'abc', 'a)'), P('find', 'abc', '(a'), P('match', 'abc', "
    "'(()'),\n"
    " P('match', ('a'):rep(40), ('(a)'):rep(33)), P('match', ('a'):rep(300), "
    "('(a'):rep(20)),\n"
    " P('match', ('a'):rep(300), ('a?'):rep(250)), P('match', "
    "('a'):rep(300), ('a*'):rep(250)),\n"
    " P('gsub', 'abc', 'a', '%2'), P('gsub', 'abc', '(a)', '%2'), "
    "P('gsub', 'abc', 'a', '%x'),\n"
    " P('gsub', 'abc', 'a', '%'), P('gsub', 'abc', 'a', {a = {}}),\n"
    " P('gsub', 'abc', 'a', function() return {} end), P('gsub', 'abc', "
    "'a', true),\n"
    " P('gsub', 'abc', 'a'), P('gsub', 'abc', 'a', 'b', 'x'), P('find', "
    "'abc', 'b', {}),\n"
    " P('find', {}, 'a'), P('find', 'a'), P('match', nil, 'a'), P('gmatch', "
    "'a', nil),\n"
    " P('find', 12345, 34), P('match', 3.5, '%d'), P('gsub', 123, 2, 9),\n"
    " P('find', 'abc', 'b', 2.5), P('match', 'abc', '(a)', '1'),\n"
    " P('method', 'a,b', 'find', ','), P('method', 'a,b', 'gsub', ',', ';'),\n"
    " P('method', 'a,b', 'find', ',', {}), P('method', 'x', 'match', '['),\n",
    /* the other bounded functions */
    " P('rep', 'ab', 3), P('rep', 'ab', 3, '-'), P('rep', 'ab', 0), "
    "P('rep', 'ab', -1),\n"
    " P('rep', '', 5), P('rep', '', 5, ''), P('rep', 'x', 1, ','), P('rep', "
    "'', 3, ','),\n"
    " P('rep', 'ab', 1e10), P('rep', 'x', 2^31), P('rep', 'x', 'y'), "
    "P('rep', 'abc', 2.0),\n"
    " P('rep', ('xyz'):rep(7), 1000, ('-'):rep(13)),\n"
    " P('upper', 'aBc\\0d\\200'), P('lower', 'AbC\\0D'), P('reverse', "
    "'ab\\0c'), P('reverse', ''),\n"
    " P('upper', {}), P('upper', 12),\n"
    " P('concat', {1, 2, 3}), P('concat', {1, 2, 3}, ', '), P('concat', "
    "{'a', 'b', 'c'}, '', 2),\n"
    " P('concat', {'a', 'b', 'c'}, '-', 2, 3), P('concat', {'a'}, '-', 3, "
    "2), P('concat', {}),\n"
    " P('concat', {1, {}, 3}), P('concat', {1, 2}, '', 1, 3), P('concat', "
    "'x'), P('concat', {1.5, 2}),\n"
    " P('concat', {'a'}, '-', math.maxinteger, math.maxinteger),\n"
    " P('move', {1, 2, 3}, 1, 3, 2), P('move', {1, 2, 3}, 2, 3, 1), "
    "P('move', {1, 2, 3}, 1, 0, 5),\n"
    " P('move', {1, 2, 3}, 1, 3, 1, {9, 9, 9, 9}), P('move', {1, 2, 3}, 3, "
    "1, 1),\n"
    " P('move', {}, -1, math.maxinteger, 1), P('move', {1}, 1, 2, "
    "math.maxinteger),\n"
    " P('move', 'x', 1, 2, 3), P('move', {}, 1, 2),\n"
    " P('insert', {1, 2}, 3), P('insert', {1, 2}, 1, 0), P('insert', {1, 2}, "
    "3, 9),\n"
    " P('insert', {1, 2}, 5, 9), P('insert', {1, 2}, 0, 9), P('insert', {1}, "
    "1, 2, 3),\n"
    " P('insert', {1}), P('remove', {1, 2, 3}), P('remove', {1, 2, 3}, 1), "
    "P('remove', {}),\n"
    " P('remove', {1, 2}, 3), P('remove', {1, 2}, 4), P('remove', {}, 0), "
    "P('remove', {1, 2}, -1),\n"
    " P('sort', {3, 1, 2}), P('sort', {'b', 'c', 'a'}), P('sort', {3, 1, 2}, "
    "function(a, b) return a > b end),\n"
    " P('sort', {3, 1, 'x'}), P('sort', {3, 1, 2}, 5), P('sort', 'x'), "
    "P('sort', {5, 3, 1, 2, 4}, nil),\n"
    " P('load', ('x = (x or 0) + 1 '):rep(20000) .. 'return x'),\n"
    " P('load', ('x = 1 '):rep(20000) .. ' y = '), P('load', 'return 1 +'),\n"
    " P('load', ('\\n'):rep(70000) .. 'error(\\'here\\')'),\n"
    " P('ulen', U), P('ulen', U, 2), P('ulen', U, 1, -3), P('ulen', U, "
    "300001),\n"
    " P('ulen', U .. '\\xff' .. U), P('ulen', U .. '\\x80'), P('ulen', "
    "('\\xe2\\x82'):rep(200000)),\n"
    " P('ulen', ('\\xfc\\x84\\x80\\x80\\x80\\x80'):rep(80000), 1, "
    "-1, true),\n"
    " P('ulen', ('\\xfc\\x84\\x80\\x80\\x80\\x80'):rep(80000)),\n"
    " P('ulen', ('\\xed\\xa0\\x80'):rep(100000)), P('ulen', "
    "('\\xed\\xa0\\x80'):rep(100000), 1, -1, true),\n",
    /* string.format, through the sandbox's own path and the stock one */
    " P('fmtl', '%d|%5.2f|%-5s|%q|%x|%c|%g|%a|%i|%o|%X|%e|%G', 42, 3.14159, "
    "'ab', 'a\\n\"b\\0', 255, 65, 1e300, 1.5, 3.0, 8, 255, 1.5, 1e-10),\n"
    " P('fmtl', '%q|%q|%q|%q|%q', 1/0, -1/0, math.mininteger, 2^63, nil),\n"
    " P('fmtl', '%q|%q|%q', true, 0.1, 'x\\r\\0011\\127\\0'),\n"
    " P('fmtl', '%s %s %s', 1, true, 2.5), P('fmtl', '%s', "
    "setmetatable({}, {__tostring = function() return 'T' end})),\n"
    " P('fmtl', '%10s|%-10s|%.2s|%5.1s', 'abc', 'abc', 'abc', 'abc'),\n"
    " P('fmtl', '%5s', ('x'):rep(200)), P('fmtl', '%.3s', ('x'):rep(200)),\n"
    " P('fmtl', '%-+ #0d|%+.3f|% d|%#x|%#o|%05d', 1, 2, 3, 255, 8, 42),\n"
    " P('fmtl', '%%|%%%%|%d%%', 5), P('fmtl', 'abc'), P('fmtl', ''),\n"
    " P('fmtl', '%d', 1.5), P('fmtl', '%d', 'x'), P('fmtl', '%d'),\n"
    " P('fmtl', '%d', '10'), P('fmtl', '%f', '1.5'), P('fmtl', '%f', 'x'),\n"
    " P('fmtl', '%123d', 1), P('fmtl', '%123d', 'x'), P('fmtl', '%y', 1),\n"
    " P('fmtl', '%', 1), P('fmtl', '%'), P('fmtl', '%5q', 1), "
    "P('fmtl', '%q', {}),\n"
    " P('fmtl', '%10.3s', 'a\\0b'), P('fmtl', '%5.2.3f', 'x'), "
    "P('fmtl', '%5%', 1),\n"
    " P('fmtl', '%s', setmetatable({}, {__tostring = function() return 1 "
    "end})),\n"
    " P('fmtl', '%c%c%c', 72, 105), P('fmtl', '%-5c|', 65), "
    "P('fmtl', '%.20s', ('\\0'):rep(5)),\n"
    " P('fmtl', '%s|%d', 'a'), P('fmtl', '%d %s', 'x', 'y'), "
    "P('fmtl', '%99.99f', 1e308),\n"
    " P('fmtl', '%.0s%s', 'gone', 'kept'), P('fmtl', '%p', 1), "
    "P('fmtl', '%------------------------d', 1),\n"
    " P('fmtsum', '%q', ('a\\r\\0001\\n\"\\\\\\200'):rep(30000)),\n"
    " P('fmtsum', '%s|%s|%-3s', ('x'):rep(70000), 'y', ('z'):rep(70000)),\n"
    " P('fmtsum', ('%d,%5.1f;'):rep(100), table.unpack((function() local t = "
    "{} for i = 1, 200 do t[i] = i * 1.5 // 1 end return t end)())),\n"
    " P('fmtsum', '%q', ('\\0'):rep(70000) .. '9'), P('fmtsum', ('ab'):rep("
    "50000)),\n",
    /* pack, unpack, packsize, os.date, tonumber, char, utf8.char */
    " P('packl', 'i4', 100), P('packl', '<i4>i4=i4', 1, 2, 3), "
    "P('packl', '!8bi8bd', 1, 2, 3, 4.5),\n"
    " P('packl', ('!4 b i4 h '):rep(100), table.unpack(R300)),\n"
    " P('packl', ('<!2 b i3 >d '):rep(100), table.unpack(R300)),\n"
    " P('packl', 'z s1 s c5', 'ab', 'cd', 'ef', 'gh'), "
    "P('packl', 'bc70000b', 1, 'abc', 2),\n"
    " P('packl', 'c70000', ('x'):rep(70001)), P('packl', 'c70000'), "
    "P('packl', 'i4', 'x'),\n"
    " P('packl', ('b'):rep(300) .. 'i4', table.unpack(R300)), "
    "P('packl', ('b'):rep(300) .. 'i4'),\n"
    " P('packl', ('b'):rep(299) .. 'i4', table.unpack(R300)), P('packl', "
    "'i17', 1),\n"
    " P('packl', 'k'), P('packl', 'X'), P('packl', 'Xi4b', 1), "
    "P('packl', '!4 b Xi4 b', 1, 2),\n"
    " P('packl', '!3i4', 1), P('packl', 'b', 300), P('packl', 'i4'), "
    "P('packl', 'j', math.maxinteger),\n"
    " P('packl', 'i16', -1), P('packl', 'I16', 1), P('packl', '!17 b', 1), "
    "P('packl', 'c', 'a'),\n"
    " P('packl', 'i99999999999', 1), P('packl', 'z', 'a\\0b'), "
    "P('packl', 's1', ('x'):rep(300)),\n"
    " P('unpackl', '<i4 i4', string.pack('<i4i4', 7, 8)), "
    "P('unpackl', ('b'):rep(300), ('\\1'):rep(300)),\n"
    " P('unpackl', 'i4', 'ab'), P('unpackl', 'b', 'abc', 2), "
    "P('unpackl', 'b', 'abc', 10), P('unpackl', 'b', 'abc', -1),\n"
    " P('unpackl', '!8 b i8', string.pack('!8 b i8', 1, 2)), "
    "P('unpackl', 'i4'), P('unpackl', 'i4', {}),\n"
    " P('unpackl', ('!4 b i4 h '):rep(100), string.pack(('!4 b i4 h "
    "'):rep(100), table.unpack(R300))),\n"
    " P('unpackl', ('<!2 b i3 >d '):rep(100), string.pack(('<!2 b i3 >d "
    "'):rep(100), table.unpack(R300)), 1),\n"
    " P('unpackl', 'z', 'abc'), P('unpackl', 'i9', ('\\255'):rep(9)), "
    "P('unpackl', 'c3', 'ab'),\n"
    " P('packsizel', ('!8 b d '):rep(200)), P('packsizel', 's'), "
    "P('packsizel', 'c2147483647 b'),\n"
    " P('packsizel', ('c1000000000'):rep(3)), P('packsizel', 'k'), "
    "P('packsizel', ('<!4 b h i3 '):rep(100)),\n"
    " P('datel', '%Y-%m-%d %H:%M:%S %Ec %Oy %% %j', 86400 * 400), "
    "P('datel', '%Ex', 0), P('datel', '%', 0),\n"
    " P('datel', '%Y', 'x'), P('datel', '%Y', 1.5), P('datel', '%Q', 0), "
    "P('datel', 'abc%Y', 2^40),\n"
    " P('tonum', '  ff  ', 16), P('tonum', '-zz', 36), P('tonum', 'z', 35), "
    "P('tonum', '', 10),\n"
    " P('tonum', ' ', 10), P('tonum', '12 3', 10), P('tonum', '1\\0', 10), "
    "P('tonum', 10, 16),\n"
    " P('tonum', '10', 1), P('tonum', '10', 37), P('tonum', '+7', 8), "
    "P('tonum', ('f'):rep(40), 16),\n"
    " P('tonum', '--1', 10), P('tonum', '1', 2.5), P('tonum', '0x10'), "
    "P('tonum', '  1e3  '), P('tonum'),\n"
    " P('tonum', '7', nil), P('tonum', '1_', 10), P('tonum', '\\t-1\\n', "
    "2), P('tonum', 'Z', 36),\n"
    " P('char', 72, 105), P('char', 256), P('char', -1), P('char', 'x'), "
    "P('char'), P('char', '65'),\n"
    " P('uchar', 72, 0x20AC, 0x7FFFFFFF), P('uchar', table.unpack(U300)), "
    "P('uchar', 0x80000000),\n"
    " P('uchar', -1), P('uchar', table.unpack(U300, 1, 299), 'x'), "
    "P('uchar', table.unpack(U300, 1, 299), -5),\n"
    /* the short paths hand the call to the stock function whole */
    " P('fmt', '%d', 'x'), P('fmt', '%y', 1), P('fmt', '%5q', 1), "
    "P('fmt', '%d|%s', 1, 'a'),\n"
    " P('fmt', '%s', setmetatable({}, {__tostring = function() "
    "error('inner') end})),\n"
    " P('fmt', '%s', setmetatable({}, {__tostring = function() "
    "error({}) end})),\n"
    " P('pack', 'i4', 'x'), P('pack', 'i4', 7), P('unpack', 'i4', 'ab'), "
    "P('packsize', 's'), P('packsize', 'i4i8'),\n"
    " P('date', '!%Ex', 0), P('date', '!%Y', 0), P('uchar', -1), "
    "P('tonum', 'x'), P('tonum', '0x1p4'), P('tonum', {}),\n",
    /* utf8.offset, utf8.codes, table.unpack */
    " P('uoff', 'abc', 4), P('uoff', 'abc', 5), P('uoff', 'a\\x80\\x80b', 2), "
    "P('uoff', 'abc', 0, 2), P('uoff', 'abc', -1),\n"
    " P('uoff', 'a\\x80', 1, 2), P('uoff', 'abc', 1, 5), P('uoff', '', 1), "
    "P('uoff', 'abc', -4), P('uoff', 'abc', 1, -1),\n"
    " P('uoff', U, 1000), P('uoff', U, -1000), P('uoff', U, 0, 7), "
    "P('uoff', U, -3, -1), P('uoff', 'abc', 1, 0), P('uoff', 'abc', 1, -5),\n"
    " P('uoff', 'abc'), P('uoff', 'a\\x80\\x80\\x80', 0, 4), "
    "P('uoff', '\\x80\\x80', -1), P('uoff', 'ab', 3, 1), P('uoff', 'ab', "
    "2.5),\n"
    " P('codes', 'ab\\x80\\x80c'), P('codes', 'a\\x80'), "
    "P('codes', '\\x80a'), P('codes', 'a\\xff'), P('codes', U:sub(1, 40)),\n"
    " P('codes', 'a\\xed\\xa0\\x80', true), P('codes', 'a\\xed\\xa0\\x80'), "
    "P('codes', 5), P('codes', ''),\n"
    " P('tunpack', R300), P('tunpack', R300, 2, 4), P('tunpack', R300, 5, 1), "
    "P('tunpack', {}, 1, 1e8), P('tunpack', {}, -2^62, 2^62),\n"
    " P('tunpack', {n = 1}, 1, 70000), P('tunpack', 5), P('tunpack', {}, "
    "'x'),\n",
    " P('ulen', U, 0), P('ulen', U, #U + 2), P('ulen', U, 1, #U + 1), "
    "P('ulen', 'abc', 5),\n"
    " P('ulen', 'abc', 1, 4), P('ulen', 'abc', -10), P('ulen', {}), "
    "P('ulen', U, 'x'),\n"
    " P('sort', setmetatable({}, {__len = function() return 1 << 40 end})),\n"
    " P('sort', {3, 1, 2}, math.max), P('sort', {3, 1, 2, 5, 4, 8, 7, 9, 6, "
    "10, 12, 11}, rawequal),\n"
    "}\n",
    NULL};

static void compare(const char *const *cases) {
  size_t n = sizeof RUNNER;
  for (size_t i = 0; cases[i]; i++)
    n += strlen(cases[i]);
  char *code = malloc(n);
  KK_CHECK(code != NULL);
  code[0] = 0;
  for (size_t i = 0; cases[i]; i++)
    strcat(code, cases[i]);
  strcat(code, RUNNER);
  lua_State *S = luaL_newstate();
  luaL_openlibs(S);
  int rc;
  char *want = eval(S, code, &rc);
  if (!want) KK__FAIL("stock: %s", errbuf);
  lua_State *L = sandbox(4000000000u, 20000);
  char *got = eval(L, code, &rc);
  if (!got) KK__FAIL("sandbox (%d): %s", rc, errbuf);
  /* Compare line by line, so that a failure names the case. */
  size_t lines = 0;
  char *sw, *sg, *w = strtok_r(want, "\n", &sw), *g = strtok_r(got, "\n", &sg);
  for (; w && g;
       w = strtok_r(NULL, "\n", &sw), g = strtok_r(NULL, "\n", &sg), lines++)
    if (strcmp(w, g) != 0)
      KK__FAIL("case differs:\n  stock: %s\n  ours:  %s", w, g);
  KK_CHECK(w == NULL && g == NULL);
  KK_CHECK(lines > 50);
  printf("# %zu cases agree\n", lines);
  free(want);
  free(got);
  free(code);
  kk__lua_close(L);
  lua_close(S);
}

KK_TEST(pattern_cases_match_stock) {
  compare(CASES);
}

/* Random patterns over a small alphabet, made by a generator that runs in
 * a plain state (the same seed every run). */
static const char GENERATOR[] =
    "math.randomseed(15)\n"
    "local atoms = {'a', 'b', '.', '%a', '%d', '%s', '%W', '[ab]', '[^a]',\n"
    "  '[a-c]', '[%d_]', '%f[%a]', '%f[%A]', '%bab', '(', ')', '()', '%1',\n"
    "  '%2', '^', '$', '_', '1', ' ', '%', '[', ']', '-', '%%', 'c'}\n"
    "local quants = {'', '', '', '*', '+', '-', '?'}\n"
    "local chars = {'a', 'b', 'c', '1', '2', ' ', '_', 'A', '(', ')', '%'}\n"
    "local out = {'cases = {'}\n"
    "for i = 1, 20000 do\n"
    "  local p, s = {}, {}\n"
    "  for k = 1, math.random(0, 7) do\n"
    "    p[#p + 1] = atoms[math.random(#atoms)] .. "
    "quants[math.random(#quants)]\n"
    "  end\n"
    "  for k = 1, math.random(0, 12) do s[#s + 1] = chars[math.random(#chars)] "
    "end\n"
    "  p, s = table.concat(p), table.concat(s)\n"
    "  local fn = ({'find', 'match', 'gmatch', 'gsub'})[math.random(4)]\n"
    "  local extra = fn == 'gsub' and string.format('%q', "
    "({'<%0>', '%1', 'x', '%%'})[math.random(4)])\n"
    "    or fn == 'find' and tostring(math.random(-3, 14)) or 'nil'\n"
    "  out[#out + 1] = string.format('table.pack(%q, %q, %q, %s),', fn, s, p, "
    "extra)\n"
    "end\n"
    "out[#out + 1] = '}\\n'\n"
    "return table.concat(out, '\\n')\n";

KK_TEST(pattern_random_match_stock) {
  lua_State *S = luaL_newstate();
  luaL_openlibs(S);
  int rc;
  char *cases = eval(S, GENERATOR, &rc);
  if (!cases) KK__FAIL("generator: %s", errbuf);
  lua_close(S);
  const char *const list[] = {cases, NULL};
  compare(list);
  free(cases);
}

/* ---- bounds ---------------------------------------------------------------
 */

/* Runs `setup` without limits to speak of, then `code` under a deadline of
 * `ms` milliseconds; checks that it stops with KK_EBUDGET naming `fn` (or
 * with KK_EMEMCAP when memcap is set), long before it would have ended:
 * unbounded, each case runs for seconds, minutes or forever. */
static void check_bounded(const char *setup, const char *code, const char *fn,
                          uint64_t ms, int memcap) {
  lua_State *L = sandbox(0, ms);
  int rc;
  if (setup) {
    kk__lua_limits_t big = {0, 4000000000u, 20000};
    if (luaL_loadstring(L, setup) != LUA_OK)
      KK__FAIL("setup syntax: %s", lua_tostring(L, -1));
    rc = kk__lua_pcall_limits(L, 0, 0, &big, errbuf, sizeof errbuf);
    if (rc) KK__FAIL("setup (%d): %s", rc, errbuf);
  }
  double t0 = now_ms();
  char *r = eval(L, code, &rc);
  double took = now_ms() - t0;
  free(r);
  printf("# %-44.44s rc %d after %.1f ms (deadline %llu): %.90s\n", code, rc,
         took, (unsigned long long)ms, errbuf);
  if (memcap && rc == KK_EMEMCAP) {
    KK_CHECK(took < 2000);
  } else {
    KK_CHECK_INT(rc, ==, KK_EBUDGET);
    char want[128];
    snprintf(want, sizeof want,
             "%s%sdeadline of %llu ms exceeded in stage test", fn ? fn : "",
             fn ? ": " : "", (unsigned long long)ms);
    if (!strstr(errbuf, want)) KK__FAIL("want '%s' in '%s'", want, errbuf);
    KK_CHECK(took < 2000);
  }
  /* The state is usable afterwards (under ample limits: a deadline of 1 ms
   * of CPU time is less than valgrind takes to translate the call). */
  kk__lua_limits_t big = {0, 4000000000u, 20000};
  if (luaL_loadstring(L, "return ('x'):rep(3)") != LUA_OK)
    KK__FAIL("syntax: %s", lua_tostring(L, -1));
  rc = kk__lua_pcall_limits(L, 0, 1, &big, errbuf, sizeof errbuf);
  KK_CHECK_INT(rc, ==, 0);
  KK_CHECK_STR(lua_tostring(L, -1), "xxx");
  lua_pop(L, 1);
  kk__lua_close(L);
}

KK_TEST(bounds_hostile_patterns) {
  /* B1 of issue #15: exponential backtracking on a 200-byte subject. */
  check_bounded(NULL, "return (('a'):rep(200)):find('.-.-.-.-.-.-x')",
                "string.find", 50, 0);
  check_bounded(NULL, "return (('a'):rep(200)):match('(.*)(.*)(.*)(.*)x')",
                "string.match", 50, 0);
  check_bounded(NULL, "for x in (('a'):rep(200)):gmatch('a*a*a*a*a*b') do end",
                "string.gmatch", 50, 0);
  check_bounded(NULL, "return (('a'):rep(200)):gsub('.-.-.-.-.-b', '')",
                "string.gsub", 50, 0);
  /* A Lua pcall cannot swallow the stop and carry on. */
  check_bounded(NULL,
                "local s = ('a'):rep(200)\n"
                "while true do pcall(string.find, s, '.-.-.-.-.-.-x') end",
                "string.find", 50, 0);
  /* One plain search in a large subject, one gsub over it. */
  check_bounded("s = ('a'):rep(1 << 25)", "return s:find('b', 1, true)",
                "string.find", 1, 0);
  check_bounded("s = ('a'):rep(1 << 22)", "return s:gsub('.', '%0%0')",
                "string.gsub", 1, 1);
}

KK_TEST(bounds_growth) {
  /* gsub growth: each pass multiplies the text by 4 up to the cap. */
  check_bounded(NULL,
                "local s = ('x'):rep(1000)\n"
                "for i = 1, 20 do s = s:gsub('.', '%0%0%0%0') end",
                "string.gsub", 50, 1);
  check_bounded(NULL, "return #('x'):rep(300 << 20)", "string.rep", 50, 1);
  check_bounded(NULL, "return #('x'):rep(50 << 20)", "string.rep", 1, 0);
  check_bounded("s = ('x'):rep(50 << 20)", "return #s:upper()", "string.upper",
                1, 0);
  check_bounded("s = ('x'):rep(50 << 20)", "return #s:reverse()",
                "string.reverse", 1, 0);
  check_bounded("s = ('\\xe2\\x82\\xac'):rep(20 << 20)", "return utf8.len(s)",
                "utf8.len", 2, 0);
  /* The parser is C as well. */
  check_bounded("s = ('x = 1 '):rep(6 << 20)", "return load(s)", "load", 5, 0);
}

KK_TEST(bounds_tables) {
  const char *len = "t = setmetatable({}, {__len = function() return 1e15 "
                    "end})";
  check_bounded(len, "table.insert(t, 1, 'y')", "table.insert", 50, 0);
  check_bounded(len, "table.remove(t, 1)", "table.remove", 50, 0);
  check_bounded(NULL, "table.move({}, 1, 1e12, 1, {})", "table.move", 50, 0);
  check_bounded("t = {} for i = 1, 3e6 do t[i] = 'abcdefgh' end",
                "return #table.concat(t, ',')", "table.concat", 1, 0);
  /* A table built in an earlier call, sorted with the default order. */
  check_bounded("t = {} for i = 1, 3e6 do t[i] = (i * 7919) % 3e6 end",
                "table.sort(t)", "table.sort", 5, 0);
  check_bounded("t = {} for i = 1, 3e6 do t[i] = (i * 7919) % 3e6 end",
                "table.sort(t, math.ult)", "table.sort", 5, 0);
}

/* Single VM instructions that take milliseconds each (comparing or
 * copying 20 MB strings): the watchdog timer stops the loop at the
 * deadline, where the count hook would wait for 1 000 of them; in
 * coroutines too.  Unbounded, each loop runs for 10 to 60 s. */
KK_TEST(bounds_slow_instructions) {
  const char *ab = "a = ('a'):rep(20e6) b = a:sub(2) .. 'a'";
  check_bounded(ab, "for i = 1, 1e4 do local x = a == b end", NULL, 50, 0);
  check_bounded(ab, "for i = 1, 1e4 do local x = a < b end", NULL, 50, 0);
  check_bounded(ab, "for i = 1, 1e4 do local x = a <= b end", NULL, 50, 0);
  check_bounded(ab, "for i = 1, 1e4 do local x = a:sub(2) end", NULL, 50, 0);
  check_bounded(ab, "for i = 1, 1e4 do local x = a .. 'b' end", NULL, 50, 0);
  check_bounded(ab,
                "coroutine.wrap(function() for i = 1, 1e4 do\n"
                "  local x = a == b end end)()",
                NULL, 50, 0);
  check_bounded(ab,
                "local co = coroutine.create(function()\n"
                "  for i = 1, 1e4 do local x = a < b end end)\n"
                "while true do pcall(coroutine.resume, co) end",
                NULL, 50, 0);
  check_bounded(ab,
                "coroutine.wrap(function() coroutine.wrap(function()\n"
                "  for i = 1, 1e4 do local x = a == b end end)() end)()",
                NULL, 50, 0);
  /* The default order of table.sort compares in C, without instructions
   * in between. */
  check_bounded(ab,
                "local t = {} for i = 1, 3000 do t[i] = i % 2 == 0 and a or b "
                "end\n"
                "table.sort(t)",
                "table.sort", 50, 0);
}

/* Library functions linear in a long format, a long string or a million
 * arguments: each stops at a deadline of 1 ms, naming itself (unbounded,
 * each takes 20 to 1 200 ms here). */
KK_TEST(bounds_more_library) {
  check_bounded("s = ('\\0'):rep(20e6)", "return #string.format('%q', s)",
                "string.format", 1, 0);
  check_bounded("s = ('a'):rep(30e6)", "return #string.format(s)",
                "string.format", 1, 0);
  check_bounded("t = {} for i = 1, 300000 do t[i] = 1e308 end\n"
                "f = ('%99.99f'):rep(300000)",
                "return #string.format(f, table.unpack(t))", NULL, 1, 0);
  check_bounded("f = ('x'):rep(30e6)", "return #string.pack(f)", "string.pack",
                1, 0);
  /* Few items or arguments, but each slow in the stock function: 'c'
   * padding (15 MB), %q of control characters (4 MB). */
  check_bounded("E = {} for i = 1, 250 do E[i] = '' end",
                "return #string.pack(('c60000'):rep(250), table.unpack(E))",
                "string.pack", 1, 0);
  check_bounded("Z = {} for i = 1, 64 do Z[i] = ('\\0'):rep(65536) end",
                "return #string.format(('%q'):rep(64), table.unpack(Z))",
                "string.format", 1, 0);
  check_bounded(NULL, "return #string.pack('c100000000', '')", "string.pack", 1,
                0);
  check_bounded("f = ('i8'):rep(12e6)", "return string.packsize(f)",
                "string.packsize", 1, 0);
  check_bounded("f = ('x'):rep(20e6) d = ('a'):rep(20e6)",
                "return string.unpack(f, d)", "string.unpack", 1, 0);
  check_bounded("f = ('%c'):rep(1e6)", "return #os.date(f, 0)", "os.date", 1,
                0);
  check_bounded("s = ('z'):rep(30e6)", "return tonumber(s, 36)", "tonumber", 1,
                0);
  check_bounded("s = ('1'):rep(30e6)", "return tonumber(s)", "tonumber", 5, 0);
  check_bounded("t = {} for i = 1, 900000 do t[i] = 65 end",
                "return select('#', table.unpack(t))", "table.unpack", 1, 0);
  check_bounded("t = {} for i = 1, 900000 do t[i] = 0x10000 end",
                "return #utf8.char(table.unpack(t))", NULL, 1, 0);
  check_bounded("t = {} for i = 1, 900000 do t[i] = 65 end",
                "return #string.char(table.unpack(t))", NULL, 1, 0);
  check_bounded("s = 'a' .. ('\\x80'):rep(30e6)", "return utf8.offset(s, 2)",
                "utf8.offset", 1, 0);
  check_bounded("s = 'a' .. ('\\x80'):rep(30e6)",
                "for p in utf8.codes(s) do end", "utf8.codes", 1, 0);
}

/* coroutine.wrap and resume as the sandbox wraps them behave as the stock
 * ones: values, errors with their place, dead coroutines. */
KK_TEST(bounds_coroutines_as_stock) {
  static const char code[] =
      "local out = {}\n"
      "local f = coroutine.wrap(function(a) local b = coroutine.yield(a + 1)\n"
      "  error('boom ' .. b) end)\n"
      "out[#out + 1] = f(1)\n"
      "out[#out + 1] = select(2, pcall(f, 5))\n"
      "out[#out + 1] = select(2, pcall(f, 6))\n"
      "local g = coroutine.wrap(function() error({}) end)\n"
      "out[#out + 1] = type(select(2, pcall(g)))\n"
      "local co = coroutine.create(function(x) coroutine.yield(x * 2) "
      "return 'done' end)\n"
      "out[#out + 1] = table.concat({tostring(coroutine.resume(co, 21)), "
      "select(2, coroutine.resume(co, 21))}, ' ')\n"
      "out[#out + 1] = tostring(select(2, coroutine.resume(co)))\n"
      "out[#out + 1] = select(2, pcall(coroutine.resume, 1))\n"
      "out[#out + 1] = select(2, pcall(coroutine.wrap, 1))\n"
      "return table.concat(out, '|')";
  lua_State *S = luaL_newstate();
  luaL_openlibs(S);
  int rc;
  char *want = eval(S, code, &rc);
  if (!want) KK__FAIL("stock: %s", errbuf);
  lua_State *L = sandbox(0, 5000);
  char *got = eval(L, code, &rc);
  if (!got) KK__FAIL("sandbox (%d): %s", rc, errbuf);
  KK_CHECK_STR(got, want);
  free(want);
  free(got);
  kk__lua_close(L);
  lua_close(S);
}

KK_TEST(bounds_leave_normal_work_alone) {
  /* Typical decoder and recipe patterns, many times, well inside the
   * default budget. */
  lua_State *L = sandbox(0, 5000);
  int rc;
  char *r = eval(L,
                 "local n = 0\n"
                 "for i = 1, 20000 do\n"
                 "  local a, b = ('sensor_' .. i):match('^(%w+)_(%d+)$')\n"
                 "  if a == 'sensor' and tonumber(b) == i then n = n + 1 end\n"
                 "  local s = ('a.b.c'):gsub('%.', '/')\n"
                 "  if s == 'a/b/c' then n = n + 1 end\n"
                 "end\n"
                 "return tostring(n)",
                 &rc);
  KK_CHECK_INT(rc, ==, 0);
  KK_CHECK_STR(r, "40000");
  free(r);
  kk__lua_close(L);
}

/* A deadline that passes while a bounded function copies its large result
 * into a Lua string (or while the collector step that copy runs frees the
 * last one) is still charged to that function: the log names it, not just
 * "instruction budget exceeded" at the loop that called it.  Repeated
 * calls of a few milliseconds each put the deadline at a random point of
 * one; before the result was charged, string.rep left 9 of 200 such
 * deadlines unnamed (30 of 100 under ASan), table.concat and string.upper
 * 5-7 of 100 under ASan. */
KK_TEST(bounds_deadline_in_result_copy_is_named) {
  static const struct {
    const char *setup, *loop, *fn;
  } cases[] = {
      {"f = 'a'", "for i = 1, 1e6 do f:rep(5e6) end", "string.rep"},
      {"f = ('ab'):rep(2e6)", "for i = 1, 1e6 do f:upper() end",
       "string.upper"},
      {"t = {} for i = 1, 3e5 do t[i] = 'abcdefgh' end",
       "for i = 1, 1e6 do table.concat(t) end", "table.concat"},
      {"f = ('\\0'):rep(2e6)", "for i = 1, 1e6 do string.format('%q', f) end",
       "string.format"},
      {"f = ('%c'):rep(2e5)", "for i = 1, 1e6 do os.date(f, 0) end", "os.date"},
      {"f = ('ab'):rep(1e6)", "for i = 1, 1e6 do f:gsub('a', 'c') end",
       "string.gsub"},
  };
  kk__lua_limits_t big = {0, 4000000000u, 20000};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    lua_State *L = sandbox(0, 20);
    if (luaL_loadstring(L, cases[k].setup) != LUA_OK)
      KK__FAIL("setup syntax: %s", lua_tostring(L, -1));
    if (kk__lua_pcall_limits(L, 0, 0, &big, errbuf, sizeof errbuf))
      KK__FAIL("setup: %s", errbuf);
    char want[64];
    snprintf(want, sizeof want, "%s: deadline of 20 ms exceeded", cases[k].fn);
    int unnamed = 0;
    for (int t = 0; t < 30; t++) {
      if (luaL_loadstring(L, cases[k].loop) != LUA_OK)
        KK__FAIL("syntax: %s", lua_tostring(L, -1));
      errbuf[0] = 0;
      int rc = kk__lua_pcall(L, 0, 0, errbuf, sizeof errbuf);
      KK_CHECK_INT(rc, ==, KK_EBUDGET);
      if (!strstr(errbuf, want) && !unnamed++)
        printf("# %s: unnamed: %.160s\n", cases[k].fn, errbuf);
    }
    if (unnamed)
      KK__FAIL("%s: %d of 30 deadlines not named", cases[k].fn, unnamed);
    kk__lua_close(L);
  }
}

KK_TEST_MAIN(KK_CASE(pattern_cases_match_stock),
             KK_CASE(pattern_random_match_stock),
             KK_CASE(bounds_hostile_patterns), KK_CASE(bounds_growth),
             KK_CASE(bounds_tables), KK_CASE(bounds_slow_instructions),
             KK_CASE(bounds_more_library), KK_CASE(bounds_coroutines_as_stock),
             KK_CASE(bounds_deadline_in_result_copy_is_named),
             KK_CASE(bounds_leave_normal_work_alone))
