# tests/e2e/recipe_kit.sh - what the recipe tests (test_recipe_*.sh) share,
# sourced after lib.sh and kk_tmpdir:
#
#   recipe_run NAME [VAR=VALUE..]  `klimakit run --data-dir $d/NAME
#                       recipes/NAME/recipe.lua` with KLIMAKIT_HTTP on a free
#                       port (in $port) and the given environment; waits
#                       until /readyz answers (ok/no NAME-ready); the log is
#                       $d/NAME.log, the store $db
#   recipe_q SQL        runs SQL on $db (sqlite3, one value per line)
#   recipe_value THING PROPERTY [TIME_MS]  the stored value (latest
#                       without TIME_MS)
#   has_value THING PROPERTY  exit 0 when the store has a value (for
#                       wait_for, which runs its command again each time)
#   recipe_shot NAME PATH  screenshots of http://$port PATH at 1366 and
#                       390 px to build/screens/NAME-1366.png and -390.png
#                       (skipped without chromium)
#   near A B EPS        exit 0 when |A - B| <= EPS

recipe_run() {
  local name=$1
  shift
  port=$(free_port)
  mkdir -p "$d/$name"
  env KLIMAKIT_HTTP="127.0.0.1:$port" "$@" \
    "$K" run --data-dir "$d/$name" "recipes/$name/recipe.lua" >>"$d/$name.log" 2>&1 &
  kk_pid=$!
  db="$d/$name/stages/sqlite/klimakit.db"
  if wait_for 30 curl -sf "http://127.0.0.1:$port/readyz" -o /dev/null; then
    ok "$name-ready"
  else
    no "$name-ready" "no /readyz on $port: $(tail -5 "$d/$name.log")"
  fi
}

recipe_q() { [ -f "$db" ] && sqlite3 -batch -noheader "$db" "$1" 2>/dev/null; }

recipe_value() {
  local when=""
  [ -n "${3:-}" ] && when="AND o.time = $3"
  recipe_q "SELECT o.value FROM observations o JOIN datastreams s ON s.id = o.ds
            JOIN things t ON t.id = s.thing_id
            WHERE t.name = '$1' AND s.property = '$2' $when
            ORDER BY o.time DESC LIMIT 1"
}

has_value() { [ -n "$(recipe_value "$@")" ]; }

# value_near THING PROP WANT TOL: the latest stored value is within TOL
# of WANT.  Stores commit within their commit_interval of a reading, so
# a running total is checked with wait_for N value_near ... first.
value_near() { near "$(recipe_value "$1" "$2")" "$3" "$4"; }

near() { python3 -c "import sys; sys.exit(0 if abs(float('$1') - float('$2')) <= float('$3') else 1)" 2>/dev/null; }

recipe_shot() {
  local name=$1 path=$2 w prof png
  if ! command -v chromium >/dev/null; then
    skip "$name-screenshots" "chromium is not installed (make deps installs it)"
    return
  fi
  mkdir -p "$ROOT/build/screens"
  for w in 1366 390; do
    prof=$(mktemp -d)
    png="$ROOT/build/screens/$name-$w.png"
    rm -f "$png"
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic \
      --no-first-run --disable-background-networking --disable-component-update \
      --disable-sync --user-data-dir="$prof" --window-size="$w,1800" \
      --screenshot="$png" "http://127.0.0.1:$port$path" >/dev/null 2>&1
    rm -rf "$prof"
    if [ -s "$png" ] && [ "$(stat -c %s "$png")" -gt 10000 ]; then
      ok "$name-screenshot-$w"
    else
      no "$name-screenshot-$w" "no screenshot $png"
    fi
  done
}
