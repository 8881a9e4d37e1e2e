#!/usr/bin/env bash
# Out-of-tree C modules: examples/c-module/ is built with its own Makefile
# against an INSTALLED klimakit (make install into a temporary DESTDIR;
# only its headers and klimakit.pc, through pkg-config), loaded into the
# installed binary with kk.config{modules_path=} and KLIMAKIT_MODULES_PATH,
# and run in a recipe: transform.plausible drops the implausible CO2
# readings and counts them.  Then shared objects that must not register
# (another ABI, a short descriptor, no klimakit_modules, a duplicate
# name, not an ELF file) are refused with messages that say why.
#
# Uses the build of the test run (make install must not compile).
set -u
. "$(dirname "$0")/lib.sh" c-module
BUILD=${KK_BUILD:-build}
if ! make -q --no-print-directory BUILD="$BUILD" all 2>/dev/null; then
  skip all "$BUILD is not up to date (run make first)"
  exit 0
fi
kk_tmpdir
if ! make -s --no-print-directory BUILD="$BUILD" PREFIX=/usr/local DESTDIR="$d/root" install >"$d/install.log" 2>&1; then
  no install "$(tail -3 "$d/install.log")"
  exit 1
fi
KI=$d/root/usr/local/bin/klimakit
export PKG_CONFIG_PATH=$d/root/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$d/root
cp -r examples/c-module "$d/src"
# Not the tree's include/: the module must build from what was installed.
if make -s -C "$d/src" >"$d/build.log" 2>&1 && [ -f "$d/src/plausible.so" ]; then
  ok builds-against-installed-headers
else no builds-against-installed-headers "$(tail -3 "$d/build.log")"; exit 1; fi
grep -q -- "-I$d/root/usr/local/include" "$d/build.log" 2>/dev/null ||
  make -s -C "$d/src" -n -B | grep -q -- "-I$d/root/usr/local/include" &&
  ok uses-pkg-config-cflags || no uses-pkg-config-cflags "$(make -s -C "$d/src" -n -B)"
# The module needs nothing of klimakit's at link time.
if ! readelf -d "$d/src/plausible.so" | grep NEEDED | grep -qi klimakit; then ok links-nothing-of-klimakit
else no links-nothing-of-klimakit "$(readelf -d "$d/src/plausible.so" | grep NEEDED)"; fi

mkdir -p "$d/r/mods"
cp "$d/src/plausible.so" "$d/r/mods/"
# 4 rooms x 4 quantities for 2 school hours: CO2 rises above 1000 ppm.
cat > "$d/r/recipe.lua" <<'LUA'
local kk = require "klimakit"
kk.config { modules_path = "mods" }
local src = kk.source.simulate { sensors = 4, realtime = false, count = 640, interval = "3m",
                                 start = "2026-11-23T08:00:00Z" }
kk.pipe(src, kk.transform.plausible { property = "co2", min = 300, max = 1000 },
        kk.sink.jsonl { path = kk.dir .. "/out.jsonl" })
kk.pipe(src, kk.sink.jsonl { name = "all", path = kk.dir .. "/all.jsonl" })
LUA
out=$("$KI" check "$d/r/recipe.lua" 2>&1) && ok check || no check "$out"
"$KI" run --log-format text "$d/r/recipe.lua" >"$d/run.log" 2>&1 && ok run || no run "$(tail -3 "$d/run.log")"
all_co2=$(grep -c '"co2"' "$d/r/all.jsonl" 2>/dev/null)
high=$(python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if (r := json.loads(l))["property"] == "co2" and not 300 <= r["value"] <= 1000))' "$d/r/all.jsonl")
kept=$(grep -c '"co2"' "$d/r/out.jsonl" 2>/dev/null)
others=$(grep -vc '"co2"' "$d/r/out.jsonl" 2>/dev/null)
if [ "$high" -gt 0 ] && [ "$kept" = $((all_co2 - high)) ] && [ "$others" = $((640 - all_co2)) ]; then
  ok drops-implausible
else no drops-implausible "of $all_co2 CO2 readings $high outside 300-1000, $kept kept; $others others of $((640 - all_co2))"; fi
grep -q "^kk_rejected_total{stage=\"plausible\",reason=\"implausible\"} $high\$" "$d/r/var/metrics.prom" &&
  ok counted || no counted "$(grep plausible "$d/r/var/metrics.prom")"

# KLIMAKIT_MODULES_PATH: the module is listed by the installed binary.
KLIMAKIT_MODULES_PATH=$d/r/mods "$KI" modules plausible 2>&1 | grep -q "transform.plausible" &&
  ok env-path || no env-path "$(KLIMAKIT_MODULES_PATH=$d/r/mods "$KI" modules plausible 2>&1 | head -2)"

# Shared objects that must be refused, each with its reason.
cc_so() { # name, C body after the descriptor fields
  local cf
  cf=$(pkg-config --cflags klimakit)
  printf '#include <klimakit.h>\nstatic int c(kk_stage_t *s, const kk_opts_t *o, void **p) { (void)s; (void)o; *p = 0; return 0; }\nstatic int pr(kk_stage_t *s, void *t, kk_batch_t *b) { (void)s; (void)t; (void)b; return 0; }\nstatic void de(void *p) { (void)p; }\n%s\n' "$2" >"$d/$1.c"
  # shellcheck disable=SC2086
  cc -std=c11 -shared -fPIC $cf -o "$d/bad/$1.so" "$d/$1.c" 2>>"$d/bad.log"
}
mkdir -p "$d/bad"
desc='static const kk_module_t m = { .abi = ABI, .size = SIZE, .name = "NAME", .ns = "transform", .kind = KK_KIND_TRANSFORM, .create = c, .process = pr, .destroy = de };'
body() { sed -e "s/ABI/$1/" -e "s/SIZE/$2/" -e "s/NAME/$3/" <<<"$desc"; }
cc_so abi "$(body 99 'sizeof(kk_module_t)' x1) const kk_module_t *const klimakit_modules[] = {&m, 0};"
cc_so size "$(body KK_MODULE_ABI 16 x2) const kk_module_t *const klimakit_modules[] = {&m, 0};"
cc_so big "$(body KK_MODULE_ABI 'sizeof(kk_module_t) + 64' x3) const kk_module_t *const klimakit_modules[] = {&m, 0};"
cc_so nosym "$(body KK_MODULE_ABI 'sizeof(kk_module_t)' x4) const kk_module_t *const modules[] = {&m, 0};"
cc_so dup "$(body KK_MODULE_ABI 'sizeof(kk_module_t)' unit_convert) const kk_module_t *const klimakit_modules[] = {&m, 0};"
cc_so badname "$(body KK_MODULE_ABI 'sizeof(kk_module_t)' Bad-Name) const kk_module_t *const klimakit_modules[] = {&m, 0};"
printf 'not an ELF file' >"$d/bad/text.so"
refused() { # case, ERE the message must match
  local out rc
  printf 'local kk = require "klimakit"\nkk.config { modules_path = "%s" }\nkk.pipe(kk.source.simulate { count = 1 }, kk.sink.null {})\n' \
    "$d/bad/$1.so" >"$d/bad/$1.lua"
  out=$("$KI" check "$d/bad/$1.lua" 2>&1)
  rc=$?
  if [ $rc = 3 ] && grep -qE "$2" <<<"$out"; then ok "refuses-$1"; else no "refuses-$1" "exit $rc: $out"; fi
}
refused abi "built for module ABI 99, this klimakit .* speaks ABI 1: rebuild it against the installed headers"
refused size "descriptor of 16 bytes, this klimakit .* reads [0-9]+ to [0-9]+"
refused big "built against newer klimakit headers"
refused nosym "not a klimakit module \(it exports no .klimakit_modules."
refused dup "module transform.unit_convert is already defined"
refused badname "namespace \"transform\" and name \"Bad-Name\" must be"
refused text "cannot load: .*(file too short|invalid ELF header)"
[ ! -s "$d/bad.log" ] || no bad-modules-compile "$(head -3 "$d/bad.log")"
# A file that does not exist.
printf 'local kk = require "klimakit"\nkk.config { modules_path = "nowhere.so" }\n' >"$d/bad/none.lua"
"$KI" check "$d/bad/none.lua" 2>&1 | grep -q "none.lua:2: kk.config: modules_path: .*nowhere.so: no such module file" &&
  ok refuses-missing || no refuses-missing "$("$KI" check "$d/bad/none.lua" 2>&1)"
exit $fail
