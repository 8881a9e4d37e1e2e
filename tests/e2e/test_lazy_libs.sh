#!/usr/bin/env bash
# libpq and libcurl are loaded when a stage needs them, not by every
# process (modules/net/net_lib.h): the binary does not link them, a node
# that stores in SQLite has neither mapped (nor GnuTLS, LDAP, Kerberos,
# which come with them), and a node with an HTTP poll or a PostgreSQL
# store loads the one it uses.
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

exit $fail
