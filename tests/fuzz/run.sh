#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS TARGET... - seeds each corpus and runs each
# libFuzzer target for SECONDS.  Prints one line per target, "ok
# fuzz/<target> (<executions> execs in <SECONDS> s)" or "FAIL
# fuzz/<target>: why" (a crash, a leak, a slow input, a target that did not
# build), and closes with "N passed, N failed, 0 skipped" as tests/run.sh
# does, so that .ci/run adds them up.  Exit status 1 when a target failed.
# A failing input is kept as build/fuzz/<target>-crash-<sha1> (or -leak-,
# -timeout-); rerun it with build/fuzz/fuzz_<target> FILE.
set -u
cd "$(dirname "$0")/../.."
secs=$1; shift
pass=0 failed=0
for t in "$@"; do
  bin=build/fuzz/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "FAIL fuzz/$t: not built (see the make fuzz-build output)"
    failed=$((failed + 1)); continue
  fi
  c=build/fuzz/corpus-$t
  mkdir -p "$c"
  python3 tests/fuzz/seed.py "$t" "$c"
  log=build/fuzz/$t.log
  # The Lua bridge keeps its Lua states across inputs, so allocations and
  # frees never balance per input and libFuzzer's per-input leak scan
  # would run every time (10x slower); leaks are still checked at exit.
  extra=()
  case $t in lua | lua_pattern) extra=(-detect_leaks=0) ;; esac
  # -timeout: one input that runs this long is a hang (a failure).
  if ASAN_OPTIONS=allocator_may_return_null=1 "$bin" "$c" "${extra[@]}" \
      -max_total_time="$secs" -max_len=4096 -timeout="${FUZZ_TIMEOUT:-25}" \
      -artifact_prefix="build/fuzz/$t-" -print_final_stats=1 >"$log" 2>&1; then
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "ok fuzz/$t (${n:-?} execs in $secs s)"
    pass=$((pass + 1))
  else
    # The sanitizer's or libFuzzer's own one-line verdict, and the input.
    why=$(grep -m1 '^SUMMARY: ' "$log" ||
          grep -m1 -E '^==[0-9]+== ?ERROR: |ALARM: |out-of-memory' "$log" ||
          tail -1 "$log")
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | head -1)
    echo "FAIL fuzz/$t: ${why:0:200}${input:+ (input $input)} (log $log)"
    failed=$((failed + 1))
  fi
done
echo "$pass passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
