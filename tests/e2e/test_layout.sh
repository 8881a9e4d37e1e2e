#!/usr/bin/env bash
# tests/e2e/test_layout.sh - the house rules that a reviewer would check by
# hand: every module where its recipe name says, small files and
# functions, one definition of each base-library function, one test kit.
set -u
. "$(dirname "$0")/lib.sh" layout

# No C file of core/ or modules/ over 800 lines.
long=$(find core modules include -name '*.[ch]' -exec wc -l {} + |
  awk '$2 != "total" && $1 > 800 {print $2 " (" $1 " lines)"}')
if [ -z "$long" ]; then ok files-under-800-lines
else no files-under-800-lines "$(echo $long)"; fi

# No function over 150 lines: a definition starts at column 0 and ends at
# the first "}" in column 0 after it.
long=$(python3 - <<'PY'
import glob, re
start = re.compile(r'^[A-Za-z_][^;=()]*\b([A-Za-z_][A-Za-z0-9_]*)\s*\([^;]*$')
out = []
for f in sorted(glob.glob('core/*.c') + glob.glob('modules/**/*.c', recursive=True)):
    lines = open(f, encoding='utf-8').read().split('\n')
    name, first = None, 0
    for i, l in enumerate(lines):
        if name is None:
            m = start.match(l)
            if m and not l.startswith(('typedef', 'struct', 'enum', 'static const', 'const')):
                name, first = m.group(1), i
        elif l.startswith('}'):
            if i - first + 1 > 150:
                out.append('%s:%d: %s (%d lines)' % (f, first + 1, name, i - first + 1))
            name = None
        elif l and not l[0].isspace() and not l.startswith(('{', '#', '/', ' *', '*')) and '{' not in l and name and i - first > 3:
            name = None  # a prototype or declaration, not a body
print(' '.join(out))
PY
)
if [ -z "$long" ]; then ok functions-under-150-lines
else no functions-under-150-lines "$long"; fi

# Every kk.<ns>.<name> that `klimakit modules` lists is at
# modules/<ns>/<name>.c, modules/<ns>/<name>/ or modules/<ns>/<name>.lua.
# transform.map, transform.filter and transform.fn are the recipe
# language's own stages (kk.map, kk.filter, kk.fn): they run functions of
# the recipe's Lua state and live in core/lua_stages.c.
missing=""
n=0
for m in $("$K" modules --format markdown | sed -n 's/^## \([a-z_]*\.[a-z0-9_]*\)$/\1/p'); do
  [ "$m" = kk.config ] || n=$((n + 1))
  ns=${m%%.*} name=${m#*.}
  case $m in
    kk.config) continue ;; # the engine's settings, not a module
    transform.map|transform.filter|transform.fn)
      grep -q "\"$name\"" core/lua_stages.c || missing="$missing $m(core)"; continue ;;
  esac
  [ -f "modules/$ns/$name.c" ] || [ -d "modules/$ns/$name" ] ||
    [ -f "modules/$ns/$name.lua" ] || missing="$missing $m"
done
if [ "$n" -lt 30 ]; then no modules-at-their-place "only $n modules listed"
elif [ -z "$missing" ]; then ok modules-at-their-place
else no modules-at-their-place "not at modules/<ns>/<name>:$missing"; fi
[ ! -e modules/common ] && ok no-common-folder || no no-common-folder "modules/common/ exists"

# One definition each of the base library's date and number functions,
# and no private copy: the civil-date algorithm's constants (719468,
# 146097) and the summer-time rule appear in core/time.c only.
defs=""
for f in kk_days_from_civil kk_civil_from_days kk_time_parse_iso8601 \
         kk_time_format_iso8601 kk_tz_eu_summer kk_fmt_double kk_buf_json kk_json_str; do
  c=$(grep -rlE "^[a-z].*\b$f\(" core modules --include=*.c | wc -l)
  [ "$c" -eq 1 ] || defs="$defs $f($c)"
done
for pat in 719468 146097 'last_sunday|last Sunday'; do
  files=$(grep -rlE "$pat" core modules --include=*.c | grep -v '^core/time.c$')
  [ -z "$files" ] || defs="$defs '$pat' in $(echo $files)"
done
if [ -z "$defs" ]; then ok one-definition-each
else no one-definition-each "$defs"; fi

# Only core uses the core-internal spelling (kk__, KK__), also in macros
# and comments of module sources.
used=$(grep -rlE '\b(kk__|KK__)' modules --include='*.[ch]')
if [ -z "$used" ]; then ok modules-spell-no-kk__
else no modules-spell-no-kk__ "$(echo $used)"; fi

# The test kit: ok() is defined once for shell tests and once for Python.
sh_ok=$(grep -rlE '^ok\(\)' tests | wc -l)
py_ok=$(grep -rlE '^def ok\(' tests | wc -l)
if [ "$sh_ok" -eq 1 ] && [ "$py_ok" -eq 1 ]; then ok ok-defined-once
else no ok-defined-once "shell files: $sh_ok, python files: $py_ok (want 1 each)"; fi

exit $fail
