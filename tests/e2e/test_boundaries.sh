#!/usr/bin/env bash
# The house's boundaries, as the build enforces them:
#  - a module is compiled without -Icore, so including a core header fails;
#  - the module table generator refuses a module in the wrong namespace
#    folder, a duplicate ns.name and a wrongly named descriptor symbol;
#  - no module object defines or references a kk__ (core-internal) symbol;
#  - every global kk_ symbol the library defines is declared in include/.
set -u
. "$(dirname "$0")/lib.sh" boundaries
B=${KK_BUILD:-build}
kk_tmpdir

# ---- a module cannot include a core header -------------------------------
# The exact command the Makefile compiles modules with.
read -r -a CC_MOD <<<"$(make -s --no-print-directory print-module-cflags)"
if [ "${#CC_MOD[@]}" -lt 2 ]; then
  no module-cflags "make print-module-cflags printed nothing"
else
  ok module-cflags
  for f in "${CC_MOD[@]}"; do
    [ "$f" = "-Icore" ] && no module-cflags-no-core "the module flags contain -Icore"
  done
  cat > "$d/good.c" <<'C'
#include <klimakit.h>
int boundaries_good(void) { return KK_MODULE_ABI; }
C
  cat > "$d/bad.c" <<'C'
#include <klimakit.h>
#include "engine.h"
int boundaries_bad(void) { return KK_MODULE_ABI; }
C
  # The control: a module that includes only include/ compiles.
  if "${CC_MOD[@]}" -c "$d/good.c" -o "$d/good.o" 2>"$d/good.err"; then ok module-public-headers-compile
  else no module-public-headers-compile "$(head -3 "$d/good.err")"; fi
  # The same file with a core header fails, because the header is not
  # found (not for some other reason) ...
  if "${CC_MOD[@]}" -c "$d/bad.c" -o "$d/bad.o" 2>"$d/bad.err"; then
    no module-core-header-fails "a module including \"engine.h\" compiled"
  elif grep -q 'engine.h' "$d/bad.err"; then ok module-core-header-fails
  else no module-core-header-fails "failed for another reason: $(head -3 "$d/bad.err")"; fi
  # ... and would compile with -Icore, so the flags are what stops it.
  if "${CC_MOD[@]}" -Icore -c "$d/bad.c" -o "$d/bad.o" 2>"$d/core.err"; then ok core-header-needs-Icore
  else no core-header-needs-Icore "$(head -3 "$d/core.err")"; fi
fi

# ---- the module table generator ----------------------------------------
GEN=$PWD/core/gen_modules_table.py
# gen CASE FILE... : runs the generator in $d/CASE on the files written
# there; its stderr goes to $d/CASE.err.
gen() {
  local c=$1; shift
  (cd "$d/$c" && python3 "$GEN" "$d/$c/out.c" "$@") 2>"$d/$c.err"
}
descriptor() { # file ns name symbol
  mkdir -p "$(dirname "$1")"
  cat > "$1" <<C
#include <klimakit.h>

const kk_module_t $4 = {
    .abi = KK_MODULE_ABI,
    .name = "$3",
    .ns = "$2",
};
C
}
expect_error() { # test-name case pattern
  local rc
  gen "$2" $(cd "$d/$2" && find modules -name '*.c' | sort); rc=$?
  if [ "$rc" -eq 0 ]; then no "$1" "the generator accepted it"
  elif grep -Eq "^modules/[^:]+:[0-9]+: error: .*$3" "$d/$2.err"; then ok "$1"
  else no "$1" "exit $rc without a file:line: error: message matching '$3': $(head -3 "$d/$2.err")"; fi
}
mkdir -p "$d/fine" "$d/wrongns" "$d/dup" "$d/sym"
descriptor "$d/fine/modules/calc/x.c" calc x calc_x_module
if gen fine modules/calc/x.c && grep -q calc_x_module "$d/fine/out.c"; then ok gen-accepts-a-module
else no gen-accepts-a-module "$(head -3 "$d/fine.err")"; fi
descriptor "$d/wrongns/modules/calc/x.c" decode x calc_x_module
expect_error gen-wrong-namespace wrongns '\.ns = "decode"'
descriptor "$d/dup/modules/calc/x.c" calc x calc_x_module
descriptor "$d/dup/modules/calc/x/x.c" calc x calc_x_module
expect_error gen-duplicate dup 'kk\.calc\.x is defined twice'
descriptor "$d/sym/modules/calc/x.c" calc x calc_y_module
expect_error gen-wrong-symbol sym 'symbol is calc_y_module, want calc_x_module'

# ---- symbols -----------------------------------------------------------------
if [ ! -f "$B/libklimakit.a" ]; then
  no built "no $B/libklimakit.a (run make first)"
else
  # Objects of the current module sources (stale objects of deleted
  # files do not count).
  objs=() missing=0
  while IFS= read -r c; do
    o="$B/obj/${c%.c}.o"
    if [ -f "$o" ]; then objs+=("$o"); else missing=$((missing + 1)); fi
  done < <(find modules -name '*.c' | sort)
  if [ "$missing" -eq 0 ] && [ "${#objs[@]}" -gt 0 ]; then ok module-objects-built
  else no module-objects-built "$missing module sources without an object in $B/obj"; fi
  bad=$(for o in "${objs[@]}"; do nm "$o" | awk -v o="$o" '$NF ~ /^kk__/ {print o ": " $0}'; done)
  if [ -z "$bad" ]; then ok modules-use-no-kk__
  else no modules-use-no-kk__ "$(echo "$bad" | head -5)"; fi
  # Global kk_ symbols (functions and data) defined in the library.
  syms=$(nm -g --defined-only "$B/libklimakit.a" | awk 'NF == 3 && $3 ~ /^kk_[^_]/ {print $3}' | sort -u)
  undeclared=$(for s in $syms; do grep -rqw -- "$s" include/ || echo "$s"; done)
  if [ -n "$syms" ] && [ -z "$undeclared" ]; then ok kk-symbols-are-public-api
  else no kk-symbols-are-public-api "defined but not declared in include/: $(echo $undeclared | head -c 300)"; fi
fi
exit $fail
