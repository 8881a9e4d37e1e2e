#!/usr/bin/env bash
# `klimakit modules` (issue #18 item 2): an index first, one line per
# module with kind and summary, kk.config included; a namespace lists
# that namespace; an unknown name gets "did you mean".
. "$(dirname "$0")/lib.sh" modules_index
out=$("$K" modules)
[ "$(sed -n 1p <<<"$out")" = "modules:" ] && ok index-first || no index-first "$(head -3 <<<"$out")"
grep -qE '^  config +settings +Engine settings' <<<"$out" && ok index-config || no index-config "no config line"
grep -qE '^  source\.simulate +source +A deterministic fleet' <<<"$out" && ok index-line || no index-line "no source.simulate line"
# Every registered module has exactly one index line before the details.
idx=$(sed '/^$/q' <<<"$out" | grep -c '^  ')
details=$(grep -cE '^[a-z_0-9]+\.[a-z_0-9]+ \((source|transform|sink|settings)\)$' <<<"$out")
[ "$idx" -eq "$details" ] && [ "$idx" -gt 40 ] && ok index-complete || no index-complete "index $idx, details $details"

out=$("$K" modules calc)
[ "$(sed -n 1p <<<"$out")" = "calc:" ] && ok ns-head || no ns-head "$(head -1 <<<"$out")"
if grep -E '^  [a-z_]+\.' <<<"$out" | grep -vq '^  calc\.'; then no ns-only "other namespaces: $(grep -E '^  [a-z]' <<<"$out" | grep -v '^  calc\.' | head -2)"
else ok ns-only; fi
grep -q '^calc.co2 (transform)$' <<<"$out" && ok ns-details || no ns-details "no calc.co2 details"

out=$("$K" modules simulat 2>&1); rc=$?
[ $rc -eq 2 ] && grep -qF "did you mean 'simulate'?" <<<"$out" && ok did-you-mean || no did-you-mean "exit $rc: $out"
out=$("$K" modules sourc 2>&1)
grep -qF "did you mean 'source'?" <<<"$out" && ok did-you-mean-ns || no did-you-mean-ns "$out"
out=$("$K" modules config)
grep -q '^kk.config (settings)$' <<<"$out" && grep -q 'data_dir' <<<"$out" && ok config || no config "$out"
# One module: no index, only its details.
out=$("$K" modules source.simulate)
[ "$(sed -n 1p <<<"$out")" = "source.simulate (source)" ] && ok single || no single "$(head -1 <<<"$out")"
# Numbers in the reference are the shortest that read back (no 17 digits).
if "$K" modules | grep -qE '[0-9]\.[0-9]{12,}'; then no numbers-short "$("$K" modules | grep -oE '[^ ]*[0-9]\.[0-9]{12,}[^ ]*' | head -3)"
else ok numbers-short; fi
# A Lua module's number defaults read as written (0.1, not 0.1000...01).
kk_tmpdir
printf 'return { name = "pt", kind = "transform",\n  options = { f = { type = "double", default = 0.1 } },\n  process = function() end }\n' > "$d/pt.module.lua"
out=$(KLIMAKIT_LUA_PATH=$d "$K" modules pt)
grep -qE '^    f +number +0\.1 ' <<<"$out" && ok lua-default-short || no lua-default-short "$(grep ' f ' <<<"$out")"
md=$("$K" modules --format markdown)
grep -qF '| [`config`](#kkconfig) | settings |' <<<"$md" && ok markdown-index || no markdown-index "no index row"
exit $fail
