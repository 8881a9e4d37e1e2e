#!/usr/bin/env bash
# libpq and libcurl are loaded when a stage needs them, not by every
# process (modules/net/net_lib.h): the binary does not link them, a node
# that stores in SQLite has neither mapped (nor GnuTLS, LDAP, Kerberos,
# which come with them), a node with an HTTP poll loads libcurl, and a
# machine without libpq gets an error naming its package.
. "$(dirname "$0")/lib.sh" lazy_libs
kk_tmpdir

linked=$(ldd "$K" | grep -E 'libpq|libcurl|libgnutls|libldap|libkrb5' || true)
[ -z "$linked" ] && ok not-linked || no not-linked "$linked"

# maps_of RECIPE LOG: starts the recipe, waits for it to run, prints the
# shared objects it has mapped, stops it.
maps_of() {
  kk_start "$2" "$1" --data-dir "$d/data-$(basename "$1" .lua)" --log-format text
  wait_for 20 grep -q "running" "$2" ||
    { echo "did not start: $(tail -3 "$2")" >&2; kk_stop; return 1; }
  grep -oE '/[^ ]+\.so[^ ]*' "/proc/$kk_pid/maps" | sort -u
  kk_stop
}

cat > "$d/sqlite.lua" <<'LUA'
local kk = require "klimakit"
kk.pipe(kk.source.simulate { sensors = 2 }, kk.store.sqlite {})
LUA
m=$(maps_of "$d/sqlite.lua" "$d/sqlite.log")
if grep -q libsqlite3 <<<"$m" && ! grep -qE 'libpq|libcurl|libgnutls|libldap' <<<"$m"; then
  ok sqlite-node-without-them
else no sqlite-node-without-them "$m"; fi

cat > "$d/poll.lua" <<'LUA'
local kk = require "klimakit"
kk.pipe(kk.source.http_poll { url = "http://127.0.0.1:9/data.json", every = "1h" },
        kk.decode.json {}, kk.sink.null {})
LUA
m=$(maps_of "$d/poll.lua" "$d/poll.log")
if grep -q libcurl <<<"$m" && ! grep -q libpq <<<"$m"; then ok poll-loads-libcurl
else no poll-loads-libcurl "$m"; fi

# Without the library, a stage that needs it is an error naming the Debian
# package (libpq hidden in a mount namespace of its own).
cat > "$d/pg.lua" <<'LUA'
local kk = require "klimakit"
kk.pipe(kk.source.simulate { sensors = 1 }, kk.store.postgres {})
LUA
lib=$(ldconfig -p | awk '/libpq\.so\.5 /{print $NF; exit}')
if [ -n "$lib" ] && unshare -m true 2>/dev/null; then
  out=$(unshare -m bash -c "mount --bind /dev/null '$lib' && '$K' check '$d/pg.lua'" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] && grep -qF "$d/pg.lua:2: postgres: cannot load libpq.so.5 (Debian package libpq5)" <<<"$out"; then
    ok missing-library-named
  else no missing-library-named "exit $rc: $out"; fi
else
  skip missing-library-named "needs root for a mount namespace"
fi

exit $fail
