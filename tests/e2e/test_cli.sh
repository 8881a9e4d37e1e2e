#!/usr/bin/env bash
# The command line: help, version, exit codes, modules reference, check.
set -u
. "$(dirname "$0")/lib.sh" cli
kk_tmpdir
t() { # name, expected exit code, command...
  local name=$1 want=$2; shift 2
  "$@" >"$d/cli.out" 2>&1; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok "$name"; else no "$name" "exit $rc, want $want: $(head -3 "$d/cli.out")"; fi
}
has() { # name, pattern (checks the output of the last t)
  if grep -q -- "$2" "$d/cli.out"; then ok "$1"; else no "$1" "no '$2' in: $(head -5 "$d/cli.out")"; fi
}
is() { # name, text (the whole output of the last t, exactly)
  if [ "$(cat "$d/cli.out")" = "$2" ]; then ok "$1"; else no "$1" "want '$2', got: $(head -5 "$d/cli.out")"; fi
}
t version 0 "$K" version;                 has version-text "klimakit [0-9]*\.[0-9]*\.[0-9]*"
t help 0 "$K" --help;                     has help-exit-codes "exit codes"
t no-args 2 "$K"
t unknown-command 2 "$K" frobnicate;      has unknown-command-msg "unknown command 'frobnicate'"
t run-help 0 "$K" run --help;             has run-help-text "usage: klimakit run"
t check-help 0 "$K" check --help;         has check-help-text "usage: klimakit check"
t modules-help 0 "$K" modules --help;     has modules-help-text "usage: klimakit modules"
t run-bad-flag 2 "$K" run --bogus recipes/demo.lua
t run-bad-logformat 2 "$K" run --log-format xml recipes/demo.lua
t check-missing-file 3 "$K" check /nonexistent/recipe.lua; has missing-file-msg "cannot read recipe"
t check-demo 0 "$K" check recipes/demo.lua; is check-demo-ok "recipes/demo.lua: ok (37 stages)"
t modules 0 "$K" modules;                 has modules-simulate "source.simulate"
has modules-options "sensors"
t modules-one 0 "$K" modules simulate;    has modules-one-desc "Europe/Berlin"
t modules-unknown 2 "$K" modules nosuchmodule
t modules-config 0 "$K" modules config;   has modules-config-fsync "fsync"
t factors 0 "$K" factors;                 has factors-bisko "BISKO"
t factors-csv 0 "$K" factors csv;         has factors-csv-source "source"
t export-help 0 "$K" export --help;       has export-help-text "--store"
t export-usage 2 "$K" export --bogus
t backup-help 0 "$K" backup --help;       has backup-help-text "usage: klimakit backup"
t backup-usage 2 "$K" backup
# docs/reference/modules.md is generated from the code and must be current.
"$K" modules --format markdown > "$d/modules.md" 2>&1
if diff -q "$d/modules.md" docs/reference/modules.md >/dev/null; then ok docs-modules-current
else no docs-modules-current "docs/reference/modules.md differs from 'klimakit modules --format markdown' (regenerate it)"; fi
# JSON logs: every stderr line of a run parses as JSON.
cat > "$d/r.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/data" }
kk.pipe(kk.source.simulate { sensors = 2, realtime = false, count = 100 }, kk.sink.null {})
LUA
t run-count-exits 0 timeout 20 "$K" run "$d/r.lua" --log-format json
if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$d/cli.out" 2>/dev/null && grep -q '"component"' "$d/cli.out"; then
  ok json-logs; else no json-logs "$(head -3 "$d/cli.out")"; fi
t run-text-logs 0 timeout 20 "$K" run "$d/r.lua" --log-format text; has text-log-prefix "\[core:engine\]"
# check creates the stages (a store, a JSON-lines sink, a calculator with
# snapshots) but writes nothing: no data dir, no database, no output file.
cat > "$d/c.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/check-data" }
kk.pipe(kk.source.simulate { sensors = 1 }, kk.calc.window { periods = { "hour" } },
        kk.store.sqlite { path = "$d/check-db/k.db" })
kk.pipe(kk.source.simulate { sensors = 1, name = "s2" }, kk.sink.jsonl { path = "$d/check-out/o.jsonl" })
LUA
t check-creates-stages 0 "$K" check "$d/c.lua"; has check-stage-count "ok (5 stages)"
if [ ! -e "$d/check-data" ] && [ ! -e "$d/check-db" ] && [ ! -e "$d/check-out" ]; then ok check-writes-nothing
else no check-writes-nothing "$(ls "$d")"; fi
# make install puts a working tree under DESTDIR: binary, headers, .pc,
# Lua modules (found beside the binary), recipes, docs.
if make -s install PREFIX=/usr/local DESTDIR="$d/inst" >/dev/null 2>&1 &&
   "$d/inst/usr/local/bin/klimakit" modules unit_convert 2>&1 | grep -q "transform.unit_convert" &&
   [ -f "$d/inst/usr/local/include/klimakit/module.h" ] &&
   grep -q "^Version: " "$d/inst/usr/local/lib/pkgconfig/klimakit.pc" &&
   [ -f "$d/inst/usr/local/share/klimakit/recipes/demo.lua" ] &&
   [ -f "$d/inst/usr/local/share/klimakit/recipes/decoders/elsys.lua" ]; then
  ok make-install
else no make-install "$(find "$d/inst" -maxdepth 4 | head -5)"; fi
# The installed headers compile on their own, as a module author uses them.
printf '#include <klimakit.h>\nint main(void) { return kk_strerror(KK_EPARSE)[0] == 0; }\n' > "$d/m.c"
pcflags=$(PKG_CONFIG_PATH="$d/inst/usr/local/lib/pkgconfig" pkg-config --define-variable=prefix="$d/inst/usr/local" --cflags klimakit)
if cc -std=c11 -Wall -Wextra -Wpedantic -Werror $pcflags -c "$d/m.c" -o "$d/m.o" 2>"$d/cc.log"; then
  ok installed-headers-compile
else no installed-headers-compile "$(head -3 "$d/cc.log")"; fi
exit $fail
