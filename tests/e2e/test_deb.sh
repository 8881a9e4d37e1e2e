#!/usr/bin/env bash
# The Debian package (make deb, core/dist/): it builds, lintian finds no
# errors, it holds what an operator needs where Debian puts it, its man
# pages render.  With KK_DEB_INSTALL=1 (CI, or a machine that may get the
# package) it is installed with dpkg -i: the klimakit user exists, the
# conffile recipe passes `klimakit check`, every shipped recipe passes
# check and runs from the installed tree, the service's command line runs
# as user klimakit for a few seconds writing to /var/lib/klimakit and
# tells a notify socket READY=1 and STOPPING=1 (Type=notify), the unit
# passes systemd-analyze verify, examples/c-module builds against the
# installed headers and runs from /usr/lib/klimakit/modules, a reinstall
# keeps a changed conffile, and purge removes the package but keeps the
# measurements in /var/lib/klimakit.  Afterwards the machine is as before
# (the user and /var/lib/klimakit are removed only if the test made them).
#
# Slow (the package is built in build/pkg, about a minute on two cores):
# tests/run.sh skips it unless KK_DEB_TEST=1; .ci/run runs it.
set -u
. "$(dirname "$0")/lib.sh" deb
if [ "${KK_DEB_TEST:-0}" != 1 ]; then
  skip all "slow (builds the package): set KK_DEB_TEST=1 (.ci/run does)"
  exit 0
fi
for c in dpkg-deb dpkg-shlibdeps lintian cmark-gfm man; do
  command -v $c >/dev/null || { no tools "$c missing (make deps)"; exit 1; }
done
kk_tmpdir
if make -s --no-print-directory deb >"$d/deb.log" 2>&1; then ok make-deb; else no make-deb "$(tail -5 "$d/deb.log")"; exit 1; fi
version=$(sed -n 's/.*KK_VERSION_STRING "\(.*\)"/\1/p' include/klimakit.h)
deb=$ROOT/build/klimakit_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || { no deb-file "no $deb"; exit 1; }

# lintian: no errors (warnings are listed).
lintian "$deb" >"$d/lintian.log" 2>&1
if ! grep -q '^E: ' "$d/lintian.log"; then
  ok lintian-no-errors
  grep '^W: ' "$d/lintian.log" | sed 's/^/# /'
else no lintian-no-errors "$(grep '^E: ' "$d/lintian.log" | head -5 | tr '\n' ' ')"; fi

# Contents.
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$d/files"
missing=""
for f in /usr/bin/klimakit /etc/klimakit/klimakit.lua /etc/default/klimakit \
         /lib/systemd/system/klimakit.service /usr/share/man/man1/klimakit.1.gz \
         /usr/share/man/man5/klimakit-recipe.5.gz /usr/share/klimakit/recipes/demo.lua \
         /usr/share/klimakit/recipes/decoders/elsys.lua /usr/share/klimakit/docs/README.md \
         /usr/share/klimakit/modules/unit_convert.lua /usr/include/klimakit/module.h \
         /usr/share/pkgconfig/klimakit.pc /usr/share/doc/klimakit/copyright \
         /usr/share/doc/klimakit/changelog.gz /usr/lib/klimakit/modules/; do
  grep -qx "$f" "$d/files" || missing="$missing $f"
done
[ -z "$missing" ] && ok contents || no contents "missing:$missing"
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$d" ./conffiles ./control
[ "$(cat "$d/conffiles")" = "$(printf '/etc/klimakit/klimakit.lua\n/etc/default/klimakit')" ] &&
  ok conffiles || no conffiles "$(cat "$d/conffiles")"
dep=$(sed -n 's/^Depends: //p' "$d/control")
# Every library the binary links is declared (dpkg-shlibdeps), and adduser.
ok_dep=1
for p in libuv1 liblua5.4-0 libsqlite3-0 libpq5 libc6 adduser; do
  grep -q "\b$p\b" <<<"$dep" || ok_dep=0
done
[ $ok_dep = 1 ] && ok depends-from-shlibs || no depends-from-shlibs "Depends: $dep"

# Man pages render from the package.
mkdir -p "$d/x" && dpkg-deb -x "$deb" "$d/x"
man -l "$d/x/usr/share/man/man1/klimakit.1.gz" 2>/dev/null | grep -q "klimakit check RECIPE" &&
  man -l "$d/x/usr/share/man/man5/klimakit-recipe.5.gz" 2>/dev/null | grep -q "kk.pipe" &&
  ok man-renders || no man-renders "man -l shows no synopsis"

# The unit's hardening, as systemd rates it (exposure 0-10; 2.0 or less).
exp=$(systemd-analyze security --offline=true "$d/x/lib/systemd/system/klimakit.service" 2>/dev/null |
      sed -n 's/.*Overall exposure level for klimakit.service: \([0-9.]*\).*/\1/p')
if systemd-analyze security --offline=true --threshold=20 "$d/x/lib/systemd/system/klimakit.service" >/dev/null 2>&1; then
  ok unit-hardening; echo "# unit exposure $exp (systemd-analyze security)"
else no unit-hardening "exposure $exp, want at most 2.0"; fi

if [ "${KK_DEB_INSTALL:-0}" != 1 ] || [ "$(id -u)" != 0 ]; then
  skip installed "set KK_DEB_INSTALL=1 (as root) to install the package on this machine"
  exit $fail
fi
if dpkg -s klimakit >/dev/null 2>&1; then
  skip installed "a klimakit package is installed already: not touching it"
  exit $fail
fi
had_user=0; id klimakit >/dev/null 2>&1 && had_user=1
had_state=0; [ -e /var/lib/klimakit ] && had_state=1
kk_on_exit() {
  dpkg --purge klimakit >/dev/null 2>&1
  rm -f /usr/lib/klimakit/modules/plausible.so
  rmdir /usr/lib/klimakit/modules /usr/lib/klimakit 2>/dev/null
  [ $had_state = 1 ] || rm -rf /var/lib/klimakit
  [ $had_user = 1 ] || { userdel klimakit 2>/dev/null; groupdel klimakit 2>/dev/null; }
}
if dpkg -i "$deb" >"$d/dpkg.log" 2>&1; then ok dpkg-install; else no dpkg-install "$(tail -5 "$d/dpkg.log")"; exit 1; fi
id klimakit >/dev/null 2>&1 && [ "$(id -u klimakit)" -lt 1000 ] && ok system-user ||
  no system-user "$(id klimakit 2>&1)"
[ "$(stat -c '%U:%G %a' /etc/klimakit/klimakit.lua)" = "root:klimakit 640" ] && ok conffile-mode ||
  no conffile-mode "$(stat -c '%U:%G %a' /etc/klimakit/klimakit.lua)"
out=$(runuser -u klimakit -- klimakit check /etc/klimakit/klimakit.lua 2>&1) && ok check-conffile || no check-conffile "$out"
out=$(systemd-analyze verify /lib/systemd/system/klimakit.service 2>&1)
[ $? = 0 ] && [ -z "$out" ] && ok systemd-analyze-verify || no systemd-analyze-verify "$out"
man -w klimakit >/dev/null 2>&1 && man klimakit 2>/dev/null | grep -q "klimakit run" && ok man-installed ||
  no man-installed "man klimakit finds no page"

# A decoder named as in the recipes ("recipes/decoders/..."), from outside
# any source tree, is found in the installed data dir.
out=$(cd / && runuser -u klimakit -- klimakit decode recipes/decoders/elsys.lua --port 5 \
  --hex 0100E202290400270506060308 2>&1)
grep -q "air_temperature	22.6	Cel" <<<"$out" && ok installed-decoder-found || no installed-decoder-found "$out"

# Every shipped recipe: check, then a short run from the installed tree as
# the service user, on a scratch data dir and a free port.
mkdir -p "$d/runs" && chown klimakit "$d/runs"
n=0
while IFS= read -r r; do
  n=$((n + 1))
  name=$(sed 's|^/usr/share/klimakit/recipes/||; s|/recipe.lua$||; s|\.lua$||; s|/|-|g' <<<"$r")
  out=$(cd / && runuser -u klimakit -- klimakit check "$r" 2>&1) && ok "check-$name" || { no "check-$name" "$out"; continue; }
  port=$(free_port)
  # Run from a scratch folder, as the service runs from /var/lib/klimakit:
  # a recipe's relative paths (demo.lua's var/demo) land there.
  install -d -o klimakit "$d/runs/$name"
  (cd "$d/runs/$name" && exec runuser -u klimakit -- env KLIMAKIT_HTTP=127.0.0.1:$port \
     klimakit run --data-dir "$d/runs/$name/data" --log-format text "$r") >"$d/runs/$name.log" 2>&1 &
  p=$!
  sleep 3
  if kill -0 $p 2>/dev/null; then pkill -TERM -P $p 2>/dev/null || kill -TERM $p; fi
  wait $p
  rc=$?
  [ $rc = 0 ] && [ -n "$(find "$d/runs/$name" -name journal -type d)" ] && ok "runs-$name" || no "runs-$name" "exit $rc: $(tail -3 "$d/runs/$name.log")"
done < <(find /usr/share/klimakit/recipes -maxdepth 2 \( -path '*/decoders' -prune -o -name '*.lua' -print \) |
         grep -E '^/usr/share/klimakit/recipes/([^/]+\.lua|[^/]+/recipe\.lua)$' | sort)
[ $n -ge 2 ] || no shipped-recipes "only $n recipes installed"
# Nothing of theirs was written beside the installed recipes.
[ -z "$(find /usr/share/klimakit -name var -o -name '*.db' | head -1)" ] && ok nothing-written-to-share ||
  no nothing-written-to-share "$(find /usr/share/klimakit -name var -o -name '*.db')"

# The service's command line, as systemd runs it (User=, StateDirectory=,
# WorkingDirectory=, EnvironmentFile=, NOTIFY_SOCKET), for a few seconds.
install -d -o klimakit -g klimakit -m 750 /var/lib/klimakit
port=$(free_port)
sock=$d/notify.sock
python3 - "$sock" >"$d/notify.log" 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777)
s.settimeout(40)
try:
    while True:
        m = s.recv(4096).decode()
        print(m.replace("\n", " | "), flush=True)
        if "STOPPING=1" in m:
            break
except socket.timeout:
    print("timeout", flush=True)
PY
np=$!
chmod 755 "$d"
wait_for 5 test -S "$sock"
cmd=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/klimakit.service)
(cd /var/lib/klimakit && exec runuser -u klimakit -- env STATE_DIRECTORY=/var/lib/klimakit \
   NOTIFY_SOCKET="$sock" KLIMAKIT_HTTP=127.0.0.1:$port $cmd) >"$d/service.log" 2>&1 &
sp=$!
wait_log "$d/notify.log" "READY=1" 30 && ok notify-ready || no notify-ready "$(cat "$d/notify.log"; tail -3 "$d/service.log")"
wait_port "$port" 10
sleep 3
curl -sf "http://127.0.0.1:$port/" >/dev/null && ok service-dashboard || no service-dashboard "no answer on $port"
pkill -TERM -P $sp 2>/dev/null || kill -TERM $sp
wait $sp
rc=$?
[ $rc = 0 ] && ok service-stops || no service-stops "exit $rc: $(tail -3 "$d/service.log")"
wait $np
grep -q "STOPPING=1" "$d/notify.log" && ok notify-stopping || no notify-stopping "$(cat "$d/notify.log")"
owner=$(find /var/lib/klimakit -newer "$sock" -type f ! -user klimakit | head -3)
[ -n "$(find /var/lib/klimakit -name '*.kkj' -user klimakit)" ] && [ -z "$owner" ] &&
  ok writes-var-lib || no writes-var-lib "$(find /var/lib/klimakit -maxdepth 3 | head -8 | tr '\n' ' ')"

# The C module example against the installed headers, from the installed
# module folder, without modules_path.
cp -r examples/c-module "$d/cm"
if make -s -C "$d/cm" >"$d/cm.log" 2>&1 && make -s -C "$d/cm" install >>"$d/cm.log" 2>&1 &&
   [ -f /usr/lib/klimakit/modules/plausible.so ]; then ok c-module-installs
else no c-module-installs "$(tail -3 "$d/cm.log")"; fi
cat > "$d/cm/r.lua" <<'LUA'
local kk = require "klimakit"
kk.pipe(kk.source.simulate { sensors = 4, count = 640, interval = "3m", realtime = false, start = "2026-11-23T08:00:00Z" },
        kk.transform.plausible { property = "co2", max = 1000 }, kk.sink.null {})
LUA
chmod -R a+rX "$d/cm"
out=$(runuser -u klimakit -- klimakit run --data-dir "$d/runs/cm" "$d/cm/r.lua" 2>&1) &&
  grep -q 'kk_rejected_total{stage="plausible",reason="implausible"} [1-9]' "$d/runs/cm/metrics.prom" &&
  ok c-module-runs-installed || no c-module-runs-installed "$out"
rm -f /usr/lib/klimakit/modules/plausible.so

# A reinstall (the upgrade path) keeps the operator's conffile.
echo "-- changed by the operator" >>/etc/klimakit/klimakit.lua
dpkg -i --force-confold "$deb" >"$d/dpkg2.log" 2>&1 && grep -q "changed by the operator" /etc/klimakit/klimakit.lua &&
  ok reinstall-keeps-conffile || no reinstall-keeps-conffile "$(tail -3 "$d/dpkg2.log")"
dpkg --purge klimakit >"$d/purge.log" 2>&1 && [ ! -e /usr/bin/klimakit ] && [ ! -e /etc/klimakit/klimakit.lua ] &&
  [ -n "$(find /var/lib/klimakit -name '*.kkj')" ] && ok purge-keeps-data ||
  no purge-keeps-data "$(tail -3 "$d/purge.log"; ls /var/lib/klimakit)"
exit $fail
