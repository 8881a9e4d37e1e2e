#!/usr/bin/env bash
# tests/chaos/run.sh - the chaos suite (make chaos, make soak).
#
#   tests/chaos/run.sh [CASE...]        every tests/chaos/chaos_*.{sh,py}
#   KK_SOAK=1 tests/chaos/run.sh        make soak: each case at its larger
#                                       size, then the whole suite again
#                                       until KK_SOAK_MINUTES (30) are up
#
# Each case runs the real binary against real clients and prints "ok",
# "FAIL" and "skip" lines like every test here, and its figures as
# "chaos CASE NAME VALUE" (acknowledged, stored, duplicates, peak RSS,
# recovery times).  This runner prints both, then every figure again as a
# table, and closes with "N passed, N failed, N skipped" (which .ci/run
# adds up).  Exit 1 when a case failed.
set -u
cd "$(dirname "$0")/../.."
export KK_BIN=${KK_BIN:-$PWD/${KK_BUILD:-build}/klimakit}
export KK_ROOT=$PWD
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  for f in tests/chaos/chaos_*.sh tests/chaos/chaos_*.py; do cases+=("$(basename "$f")"); done
fi
one() {
  local c=$1 f=tests/chaos/$1 out rc t0=$SECONDS lim=${KK_CHAOS_TIMEOUT:-300}
  [ "${KK_SOAK:-0}" = 1 ] && lim=${KK_CHAOS_TIMEOUT:-900}
  [ -f "$f" ] || f=$(ls tests/chaos/chaos_"$1".* 2>/dev/null | head -1)
  case $f in
    *.py) out=$(cd tests/chaos && timeout "$lim" python3 "$(basename "$f")" 2>&1) ;;
    *) out=$(timeout "$lim" bash "$f" 2>&1) ;;
  esac
  rc=$?
  printf '%s\n' "$out" | grep -E '^(ok|FAIL|skip|chaos) ' | tee -a "$log"
  if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; then
    echo "FAIL chaos/$c: exit $rc" | tee -a "$log"
    printf '%s\n' "$out" | tail -15 | sed 's/^/    /'
  fi
  echo "# chaos $c: $((SECONDS - t0)) s"
}
start=$SECONDS
round=0
while :; do
  round=$((round + 1))
  for c in "${cases[@]}"; do one "$c"; done
  [ "${KK_SOAK:-0}" = 1 ] || break
  [ $((SECONDS - start)) -lt $(( ${KK_SOAK_MINUTES:-30} * 60 )) ] || break
  echo "# soak: round $round done after $((SECONDS - start)) s"
done
echo "# figures"
grep '^chaos ' "$log" | sort -s -k2,2 | awk '{c=$2; n=$3; $1=$2=$3=""; sub(/^ +/, ""); printf "#   %-16s %-30s %s\n", c, n, $0}'
p=$(grep -c '^ok ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^skip ' "$log")
echo "# $((SECONDS - start)) s in all"
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
