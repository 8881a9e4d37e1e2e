/*
 * core/lua_pattern.h - bounded Lua pattern matching (internal).
 *
 * string.find, string.match, string.gmatch and string.gsub with the
 * semantics of Lua 5.4's reference manual (section 6.4.1), written for
 * klimakit: the matcher counts its steps and charges them to the running
 * call's instruction budget (kk__lua_charge), so a pathological pattern
 * stops at the call's deadline with "string.find: deadline of 50 ms
 * exceeded in stage <name>" instead of holding the event loop.  The
 * stock library's matcher runs inside one C call where the count hook
 * never fires.
 *
 * Outside a budgeted call (or in a state that is not a sandbox) the
 * functions behave exactly like the stock ones, without bounds.
 */
#ifndef KK_CORE_LUA_PATTERN_H
#define KK_CORE_LUA_PATTERN_H

#include <lua.h>

/* Sets find, match, gmatch and gsub of the string table on top of L to
 * the bounded versions (the string metatable's __index is that table, so
 * method calls use them as well). */
void kk__lua_pattern_install(lua_State *L);

/* The four functions themselves (for tests and benchmarks). */
int kk__lua_str_find(lua_State *L);
int kk__lua_str_match(lua_State *L);
int kk__lua_str_gmatch(lua_State *L);
int kk__lua_str_gsub(lua_State *L);

#endif
