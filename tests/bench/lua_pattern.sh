#!/usr/bin/env bash
# tests/bench/lua_pattern.sh - the sandbox's own pattern matcher
# (core/lua_pattern.c) against the stock Lua 5.4 string library on
# patterns typical of decoders and recipes, both in the same sandboxed
# state of a small program linked with build/libklimakit.a; prints per
# case
#   bench lua_pattern_<case> <ns> ns/call
#   bench lua_pattern_<case>_stock <ns> ns/call
#   bench lua_pattern_<case>_ratio <ours/stock> ratio
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${KK_BUILD:-build}
N=${KK_BENCH_PATTERN_N:-300000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The cases; `out(name, seconds)` reports one.
cat >"$tmp/cases.lua" <<'LUA'
local N = ...
local names = {}
for i = 1, 1000 do names[i] = "sensor_" .. i end
local topics = {}
for i = 1, 1000 do topics[i] = "kommune/schule-" .. i .. "/raum-12/co2" end
local cases = {
  {"match_anchored", function()
    for i = 1, N do local a, b = names[i % 1000 + 1]:match("^(%w+)_(%d+)$") end
  end},
  {"gsub_chars", function()
    for i = 1, N do local s = topics[i % 1000 + 1]:gsub("[/%-]", "_") end
  end},
  {"find_plain", function()
    for i = 1, N do local a = topics[i % 1000 + 1]:find("/raum", 1, true) end
  end},
  {"find_number", function()
    for i = 1, N do local a, b = ("  value: 23.5 C"):find("%-?%d+%.?%d*") end
  end},
  {"gmatch_split", function()
    for i = 1, N do for k in topics[i % 1000 + 1]:gmatch("[^/]+") do end end
  end},
}
local res = {}
for _, c in ipairs(cases) do
  c[2]() -- warm up
  local t0 = os.clock()
  c[2]()
  res[#res + 1] = string.format("%s %.1f", c[1], (os.clock() - t0) * 1e9 / N)
end
return table.concat(res, " ")
LUA

# Both in one process and one sandboxed state (kk__lua_new: the same
# allocator, count hook and deadline checks): the cases run once with the
# stock functions (taken from a plain state) and once with ours.
cat >"$tmp/b.c" <<'C'
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include "lua_sandbox.h"
int main(int argc, char **argv) {
  static const char *const fns[] = {"find", "match", "gmatch", "gsub"};
  kk_lua_limits_t lim = {0, 1000000000000000ull, 600000};
  char err[512];
  lua_State *L = kk__lua_new(&lim, "bench", err, sizeof err);
  lua_State *P = luaL_newstate();
  if (!L || !P) return 1;
  luaL_openlibs(P);
  lua_getglobal(P, "string");
  lua_getglobal(L, "string");
  lua_newtable(L); /* ours */
  lua_newtable(L); /* stock */
  for (int i = 0; i < 4; i++) {
    lua_getfield(L, -3, fns[i]);
    lua_setfield(L, -3, fns[i]);
    lua_getfield(P, -1, fns[i]);
    lua_pushcfunction(L, lua_tocfunction(P, -1));
    lua_pop(P, 1);
    lua_setfield(L, -2, fns[i]);
  }
  const char *out[2];
  for (int k = 0; k < 2; k++) {
    lua_pushvalue(L, -1 - k); /* the set to use */
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* install it in the string table */
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -6);
    }
    lua_pop(L, 1);
    if (luaL_loadfilex(L, argv[1], "t") != LUA_OK) return 1;
    lua_pushinteger(L, atoll(argv[2]));
    if (kk__lua_pcall_limits(L, 1, 1, &lim, err, sizeof err)) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    out[k] = lua_tostring(L, -1);
    lua_insert(L, 1); /* keep it */
  }
  printf("%s\n%s\n", out[1], out[0]); /* ours, then stock */
  return argc < 3;
}
C
if ! cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Icore $(pkg-config --cflags lua5.4) \
    -o "$tmp/b" "$tmp/b.c" "$BUILD/libklimakit.a" $(pkg-config --libs lua5.4) \
    -luv -lm -ldl -lpthread 2>"$tmp/cc.log"; then
  echo "lua_pattern.sh: cannot build the bench: $(head -3 "$tmp/cc.log")" >&2
  exit 1
fi
"$tmp/b" "$tmp/cases.lua" "$N" >"$tmp/res"
ours=$(sed -n 1p "$tmp/res")
stock=$(sed -n 2p "$tmp/res")

set -- $ours
declare -A mine
while [ $# -ge 2 ]; do mine[$1]=$2; shift 2; done
set -- $stock
while [ $# -ge 2 ]; do
  name=$1 st=$2
  shift 2
  echo "bench lua_pattern_$name ${mine[$name]} ns/call"
  echo "bench lua_pattern_${name}_stock $st ns/call"
  echo "bench lua_pattern_${name}_ratio $(awk -v a="${mine[$name]}" -v b="$st" 'BEGIN {printf "%.2f", a / b}') ratio"
done
