#!/usr/bin/env bash
# A Lua module keeps its state across SIGKILL: events neither twice nor
# never (see lua_state_crash.py).
exec python3 "$(dirname "$0")/lua_state_crash.py"
