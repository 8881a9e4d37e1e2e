#!/usr/bin/env bash
# tests/run.sh - the klimakit test runner.
#
#   tests/run.sh [unit] [recipes] [e2e] [leak]    (default: unit recipes e2e)
#
# Every test prints lines "ok <name>", "FAIL <name>: why" or "skip <name>:
# why"; this runner counts them and closes with "N passed, N failed,
# N skipped".  Exit status 1 when anything failed.
# Environment: KK_BUILD (build dir, default build), KK_VALGRIND=1 runs the
# unit tests and a recipe under valgrind, KK_RUN_TIMEOUT (seconds one test
# program may run, default 300), KK_TEST_TIMEOUT (seconds one unit test
# may run, default 60, 600 under valgrind; see tests/unit/kk_test.h).
set -u
cd "$(dirname "$0")/.."
BUILD=${KK_BUILD:-build}
export KK_BIN=${KK_BIN:-$PWD/$BUILD/klimakit}
export KK_ROOT=$PWD
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(unit recipes e2e)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

VG=()
if [ "${KK_VALGRIND:-0}" = 1 ]; then
  VG=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
      --errors-for-leak-kinds=definite,indirect --error-exitcode=99)
  # Valgrind follows the harness's fork() into every test child by itself;
  # the code runs many times slower there.
  export KK_TEST_TIMEOUT=${KK_TEST_TIMEOUT:-600}
fi

# Runs one test program; its ok/FAIL/skip lines go to the log, and a
# non-zero exit without a FAIL line still counts as a failure.
run_prog() {
  local name=$1; shift
  local out rc
  out=$(timeout "${KK_RUN_TIMEOUT:-300}" "$@" 2>"$log.err"); rc=$?
  printf '%s\n' "$out" | grep -E '^(ok|FAIL|skip|#) ' | tee -a "$log"
  if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; then
    echo "FAIL $name: exit $rc" | tee -a "$log"
    tail -20 "$log.err" | sed 's/^/    /'
  elif [ $rc -ne 0 ]; then
    tail -20 "$log.err" | sed 's/^/    /'
  fi
}

section_unit() {
  for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_prog "$(basename "$t")" "${VG[@]}" "$t"
  done
}

# Recipe fixtures: tests/recipes/err_*.lua must fail `klimakit check` with
# exit 3 and print every "-- expect: " line (with @FILE@ standing for the
# fixture's path); ok_*.lua must pass.
section_recipes() {
  for f in tests/recipes/*.lua; do
    local name
    name=recipes/$(basename "$f" .lua)
    local out rc
    out=$("$KK_BIN" check "$f" 2>&1); rc=$?
    case $(basename "$f") in
      ok_*)
        if [ $rc -eq 0 ]; then echo "ok $name"; else echo "FAIL $name: exit $rc: $out"; fi ;;
      *)
        local missing=""
        while IFS= read -r want; do
          want=${want//@FILE@/$f}
          grep -qF -- "$want" <<<"$out" || missing="$missing [$want]"
        done < <(sed -n 's/^-- expect: //p' "$f")
        if [ $rc -ne 3 ]; then echo "FAIL $name: exit $rc, want 3: $out"
        elif [ -z "$(sed -n 's/^-- expect: //p' "$f")" ]; then echo "FAIL $name: fixture has no expect line"
        elif [ -n "$missing" ]; then echo "FAIL $name: missing$missing in: $out"
        else echo "ok $name"; fi ;;
    esac
  done | tee -a "$log"
}

section_e2e() {
  for t in tests/e2e/test_*.sh; do
    [ -f "$t" ] || continue
    run_prog "$(basename "$t")" bash "$t"
  done
}

# Leak check of the real binary on a small recipe.
section_leak() {
  local d
  d=$(mktemp -d)
  cat > "$d/leak.lua" <<'LUA'
local kk = require "klimakit"
kk.config { data_dir = os.getenv("KK_LEAK_DIR") }
local sim = kk.source.simulate { sensors = 3, realtime = false, count = 2000, batch = 100 }
kk.pipe(sim, kk.map(function(r) return r.value * 2 end), kk.filter(function(r) return r.value > 0 end),
        { kk.sink.jsonl { path = os.getenv("KK_LEAK_DIR") .. "/out.jsonl" }, kk.sink.null {} })
LUA
  if KK_LEAK_DIR=$d valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --error-exitcode=99 "$KK_BIN" run "$d/leak.lua" --log-level warn >"$d/vg.log" 2>&1; then
    echo "ok leak/run-recipe" | tee -a "$log"
  else
    echo "FAIL leak/run-recipe: valgrind reported errors" | tee -a "$log"
    tail -40 "$d/vg.log" | sed 's/^/    /'
  fi
  # The HTTP server path: ingest, pages, docs, then SIGTERM.
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$d/http.lua" <<LUA
local kk = require "klimakit"
kk.config { data_dir = "$d/http-data" }
kk.pipe(kk.source.http { listen = "127.0.0.1:$port", allow_anonymous = true },
        kk.publish.http { listen = "127.0.0.1:$port", docs_dir = "$KK_ROOT/docs" })
LUA
  valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 "$KK_BIN" run "$d/http.lua" --log-level warn >"$d/vg2.log" 2>&1 &
  local pid=$! up=0
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && up=1 && break; sleep 0.1; done
  curl -s -XPOST -H 'Content-Type: text/plain' --data 'co2=700 ppm' "http://127.0.0.1:$port/api/ingest/r1" >/dev/null
  curl -s "http://127.0.0.1:$port/" "http://127.0.0.1:$port/things/r1" "http://127.0.0.1:$port/docs/dev/design.md" >/dev/null
  kill -TERM $pid
  if wait $pid && [ $up = 1 ]; then
    echo "ok leak/http-server" | tee -a "$log"
  else
    echo "FAIL leak/http-server: valgrind reported errors (up=$up)" | tee -a "$log"
    tail -40 "$d/vg2.log" | sed 's/^/    /'
  fi
  rm -rf "$d"
}

for s in "${sections[@]}"; do
  echo "== $s"
  "section_$s"
done
passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^FAIL ' "$log")
skipped=$(grep -c '^skip ' "$log")
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
