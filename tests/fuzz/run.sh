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
  ASAN_OPTIONS=allocator_may_return_null=1 build/fuzz/fuzz_$t "$c" \
    -max_total_time="$secs" -max_len=4096 -print_final_stats=1 >"$log" 2>&1 || {
    echo "FAIL fuzz/$t: see $log"; rc=1; continue; }
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz $t $n execs in ${secs}s"
done
exit $rc
