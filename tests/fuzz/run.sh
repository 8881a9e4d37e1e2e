#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS TARGET... - seeds each corpus and runs each
# libFuzzer target for SECONDS; prints "fuzz <target> <executions> execs".
set -u
cd "$(dirname "$0")/../.."
secs=$1; shift
rc=0
for t in "$@"; do
  c=build/fuzz/corpus-$t
  mkdir -p "$c"
  python3 tests/fuzz/seed.py "$t" "$c"
  log=build/fuzz/$t.log
  # The Lua bridge keeps its Lua states across inputs, so allocations and
  # frees never balance per input and libFuzzer's per-input leak scan
  # would run every time (10x slower); leaks are still checked at exit.
  extra=
  [ "$t" = lua ] && extra=-detect_leaks=0
  ASAN_OPTIONS=allocator_may_return_null=1 build/fuzz/fuzz_$t "$c" $extra \
    -max_total_time="$secs" -max_len=4096 -print_final_stats=1 >"$log" 2>&1 || {
    echo "FAIL fuzz/$t: see $log"; rc=1; continue; }
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz $t $n execs in ${secs}s"
done
exit $rc
