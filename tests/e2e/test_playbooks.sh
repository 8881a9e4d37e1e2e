#!/usr/bin/env bash
# The "Schritt für Schritt" of every recipes/*/playbook.md, executed exactly
# as a reader types it (the convention in docs/kommune/playbook-vorlage.md):
#
#   * every fenced block opened with ```sh inside "## Schritt für Schritt"
#     is run; ```text, ```lua and other blocks are not;
#   * all lines of a playbook run in order in one bash with `set -e`, from
#     the repository root, with build/ first on PATH and KLIMAKIT_HTTP set
#     to a free port on 127.0.0.1 (blank lines and # comments are skipped,
#     a line ending in \ continues on the next);
#   * a line `klimakit run ...` (optionally after VAR=value words) starts in
#     the background; the runner waits up to 30 s until /readyz answers on
#     $KLIMAKIT_HTTP, runs the remaining lines, then sends SIGTERM and
#     expects exit 0 (a second run line first stops the one before);
#   * every other line must exit 0; a playbook that fails is reported as
#     FAIL playbooks/<recipe>: <file>:<line>: <command>: ... with the tail
#     of its output.  A playbook whose section has no ```sh block fails.
#
# Usage: tests/e2e/test_playbooks.sh [PLAYBOOK.md ...]  (default: every
# recipes/*/playbook.md).  Without arguments it first proves itself on the
# fixtures in tests/fixtures/site/: one playbook that must pass and one that
# must fail at a known line.
set -u
. "$(dirname "$0")/lib.sh" playbooks
BUILD=${KK_BUILD:-build}
kk_tmpdir

if [ ! -x "$ROOT/$BUILD/klimakit" ]; then
  skip all "$BUILD/klimakit is not built"
  exit 0
fi

# The sh lines of the section as "LINE<TAB>COMMAND", continuations joined.
pb_lines() {
  awk '
    # A fence may be indented (a block inside a list item): its lines
    # lose that indentation.
    /^ *```/ {
      if (fence) { fence = 0; run = 0; next }
      fence = 1; indent = match($0, /[^ ]/) - 1
      run = (section && $0 ~ /^ *```sh[ \t]*$/); next
    }
    !fence && /^## / { section = ($0 ~ /^## Schritt für Schritt[ \t]*$/); next }
    !run { next }
    {
      line = $0
      if (substr(line, 1, indent) ~ /^ *$/) line = substr(line, indent + 1)
      if (pending != "") { cmd = cmd " " line } else { start = NR; cmd = line }
      if (line ~ /\\$/) { sub(/\\$/, "", cmd); pending = 1; next }
      pending = ""
      if (cmd ~ /^[ \t]*(#|$)/) next
      printf "%d\t%s\n", start, cmd
    }' "$1"
}

# The bash script that runs one playbook's lines (see the header).
pb_script() { # PLAYBOOK LINES-FILE LOG-DIR
  local pb=$1 lines=$2 logs=$3 n cmd
  cat <<EOF
set -e
cd "$ROOT"
export PATH="$ROOT/$BUILD:\$PATH"
kk_where="$pb"
kk_run_pid=
kk_run_log="$logs/klimakit-run.log"
kk_stop_run() {
  [ -n "\$kk_run_pid" ] || return 0
  local pid=\$kk_run_pid rc=0
  kk_run_pid=
  kill -TERM "\$pid" 2>/dev/null || true
  wait "\$pid" || rc=\$?
  if [ "\$rc" != 0 ]; then
    echo "klimakit run exited \$rc after SIGTERM (want 0); its log ends:"
    tail -n 15 "\$kk_run_log"
    return 1
  fi
}
kk_start_run() { # the command line, run in the background
  kk_stop_run
  : >"\$kk_run_log"
  eval "exec \$1" >>"\$kk_run_log" 2>&1 &
  kk_run_pid=\$!
  local i
  for i in \$(seq 300); do
    if curl -sf -o /dev/null --max-time 2 "http://\$KLIMAKIT_HTTP/readyz"; then return 0; fi
    if ! kill -0 "\$kk_run_pid" 2>/dev/null; then
      wait "\$kk_run_pid" || true
      kk_run_pid=
      echo "klimakit run ended before /readyz answered on \$KLIMAKIT_HTTP; its log ends:"
      tail -n 15 "\$kk_run_log"
      return 1
    fi
    sleep 0.1
  done
  echo "no answer from http://\$KLIMAKIT_HTTP/readyz within 30 s; the run's log ends:"
  tail -n 15 "\$kk_run_log"
  return 1
}
trap 'rc=\$?; [ "\$rc" = 0 ] || echo "\$kk_where" >"$logs/where"
      [ -z "\$kk_run_pid" ] || kill -9 "\$kk_run_pid" 2>/dev/null; exit \$rc' EXIT
EOF
  while IFS=$'\t' read -r n cmd; do
    printf 'kk_where=%q\n' "$pb:$n: $cmd"
    if [[ $cmd =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*=[^[:space:]]*[[:space:]]+)*klimakit[[:space:]]+run[[:space:]] ]]; then
      printf 'kk_start_run %q\n' "$cmd"
    else
      printf '%s\n' "$cmd"
    fi
  done <"$lines"
  printf 'kk_where=%q\nkk_stop_run\n' "$pb: stopping klimakit run with SIGTERM"
}

# Runs one playbook; prints ok/FAIL for NAME; returns 0 when it passed.
run_playbook() { # PLAYBOOK NAME
  local pb=$1 name=$2 w="$d/$2" port rc
  mkdir -p "$w"
  pb_lines "$pb" >"$w/lines"
  if [ ! -s "$w/lines" ]; then
    no "$name" "$pb: no \`\`\`sh block with a command in '## Schritt für Schritt'"
    return 1
  fi
  pb_script "$pb" "$w/lines" "$w" >"$w/script.sh"
  port=$(free_port)
  rm -f "$w/where"
  KLIMAKIT_HTTP=127.0.0.1:$port timeout -k 5 300 bash "$w/script.sh" >"$w/out" 2>&1
  rc=$?
  if [ "$rc" = 0 ]; then
    ok "$name"
    return 0
  fi
  local where
  where=$(cat "$w/where" 2>/dev/null || echo "$pb (timed out after 300 s)")
  no "$name" "$where: exit $rc; output ends: $(tail -n 12 "$w/out" | tr '\n' '|')"
  return 1
}

if [ $# -gt 0 ]; then
  for pb in "$@"; do run_playbook "$pb" "$(basename "$(dirname "$pb")")"; done
  exit $fail
fi

# ---- the runner on its fixtures --------------------------------------------
good=tests/fixtures/site/good/recipes/beispiel/playbook.md
bad=tests/fixtures/site/playbook-fails/recipes/kaputt/playbook.md
out=$(KK_BUILD=$BUILD bash "$0" "$good" 2>&1)
if [[ $out == "ok playbooks/beispiel" ]]; then ok runner-passes-good-playbook
else no runner-passes-good-playbook "$out"; fi
# Only the sh block ran (the ```text block names a recipe that is not there).
if grep -c . <(pb_lines "$good") | grep -qx 4; then ok runner-reads-only-sh-blocks
else no runner-reads-only-sh-blocks "$(pb_lines "$good" | tr '\n' '|')"; fi
rm -rf var/playbooks-fixture-reached
out=$(KK_BUILD=$BUILD bash "$0" "$bad" 2>&1)
if [[ $out == "FAIL playbooks/kaputt: $bad:14: curl -sf http://\$KLIMAKIT_HTTP/gibt-es-nicht: exit 22"* ]]; then
  ok runner-reports-failing-line
else no runner-reports-failing-line "want $bad:14 in: $out"; fi
if [ ! -e var/playbooks-fixture-reached ]; then ok runner-stops-at-failure
else no runner-stops-at-failure "the line after the failing one ran"; fi
rm -rf var/playbooks-fixture-reached

# ---- every recipe's playbook ----------------------------------------------
shopt -s nullglob
books=(recipes/*/playbook.md)
if [ ${#books[@]} = 0 ]; then skip recipes "no recipes/*/playbook.md yet"; fi
for pb in "${books[@]}"; do run_playbook "$pb" "$(basename "$(dirname "$pb")")"; done
exit $fail
