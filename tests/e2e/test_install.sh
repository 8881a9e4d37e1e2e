#!/usr/bin/env bash
# make install and make uninstall into a temporary DESTDIR: install puts
# every file where it belongs (and the installed binary finds its Lua
# modules there), uninstall removes exactly those files and leaves the
# tree empty, but keeps a file it did not install.
#
# It runs the Makefile of this tree with the build of the test run
# (KK_BUILD), which must be built already: install depends on `all`, and
# this test must not compile anything.
set -u
. "$(dirname "$0")/lib.sh" install
BUILD=${KK_BUILD:-build}

if [ ! -x "$BUILD/klimakit" ]; then
  skip all "$BUILD/klimakit is not built"
  exit 0
fi
# install depends on `all`: a build that is not up to date would be
# rebuilt here, for minutes, inside a test.
if ! make -q --no-print-directory BUILD="$BUILD" all 2>/dev/null; then
  skip all "$BUILD is not up to date (run make first)"
  exit 0
fi
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
prefix=/opt/klimakit-test
root=$d/dest$prefix
mk() { # target: make it into the temporary DESTDIR with the fixed PREFIX
  make -s --no-print-directory BUILD="$BUILD" PREFIX="$prefix" DESTDIR="$d/dest" "$1" \
    >"$d/$1.log" 2>&1
}

if mk install; then ok make-install; else no make-install "$(tail -3 "$d/install.log")"; fi

# Every file the tree ships, at its place.
missing=""
want() { [ -f "$root/$1" ] || missing="$missing $1"; }
want bin/klimakit
want include/klimakit.h
for f in include/klimakit/*.h; do want "$f"; done
for f in modules/*/*.lua; do want "share/klimakit/modules/$(basename "$f")"; done
# The recipes as a tree (recipes/<name>/ with its data, decoders/), and
# the docs where the shipped recipes' docs_dir (kk.dir/../docs) finds them.
while IFS= read -r f; do want "share/klimakit/recipes/$f"; done < <(cd recipes && find . -type d -name var -prune -o -type f -print | sed 's|^\./||')
while IFS= read -r f; do want "share/klimakit/docs/$f"; done < <(cd docs && find . -type f | sed 's|^\./||')
want lib/pkgconfig/klimakit.pc
want share/man/man1/klimakit.1
want share/man/man5/klimakit-recipe.5
[ -d "$root/lib/klimakit/modules" ] || missing="$missing lib/klimakit/modules/"
if [ -z "$missing" ]; then ok files-present; else no files-present "missing:$missing"; fi

[ -x "$root/bin/klimakit" ] && ok binary-executable || no binary-executable "bin/klimakit is not executable"
if cmp -s include/klimakit/module.h "$root/include/klimakit/module.h"; then ok header-same
else no header-same "include/klimakit/module.h differs from the installed copy"; fi

# The .pc file names the prefix and the version of the headers.
version=$(sed -n 's/.*KK_VERSION_STRING "\(.*\)"/\1/p' include/klimakit.h)
pc=$root/lib/pkgconfig/klimakit.pc
if grep -q "^prefix=$prefix\$" "$pc" 2>/dev/null && grep -q "^Version: $version\$" "$pc"; then
  ok pc-prefix-version
else no pc-prefix-version "want prefix=$prefix, Version: $version in: $(head -5 "$pc" 2>&1)"; fi

# The installed binary finds its Lua modules beside it (../share/klimakit).
if "$root/bin/klimakit" modules unit_convert 2>&1 | grep -q "transform.unit_convert"; then
  ok installed-finds-lua-modules
else no installed-finds-lua-modules "klimakit modules unit_convert does not list it"; fi

# Every shipped recipe passes `klimakit check` from the installed tree,
# started elsewhere (so nothing is found through the source tree): the
# docs_dir of demo.lua (kk.dir/../docs) is the installed docs.
bad=""
while IFS= read -r f; do
  out=$(cd / && "$root/bin/klimakit" check "$f" 2>&1) || bad="$bad $f: $(tail -2 <<<"$out" | tr '\n' ' ')"
done < <(find "$root/share/klimakit/recipes" -maxdepth 2 \( -path '*/decoders' -prune -o -name '*.lua' -print \) |
         grep -E '/recipes/([^/]+\.lua|[^/]+/recipe\.lua)$')
[ -z "$bad" ] && ok installed-recipes-check || no installed-recipes-check "$bad"

# The man pages render.
if man -l "$root/share/man/man1/klimakit.1" 2>/dev/null | grep -q "klimakit check RECIPE" &&
   man -l "$root/share/man/man5/klimakit-recipe.5" 2>/dev/null | grep -q "kk.pipe"; then
  ok man-pages-render
else no man-pages-render "man -l shows no synopsis"; fi

# Uninstall keeps what it did not install, and the folder holding it.
echo "-- mine" >"$root/share/klimakit/recipes/mine.lua"
if mk uninstall; then ok make-uninstall; else no make-uninstall "$(tail -3 "$d/uninstall.log")"; fi
left=$(cd "$root" && find . -mindepth 1 | sort | tr '\n' ' ')
want_left="./share ./share/klimakit ./share/klimakit/recipes ./share/klimakit/recipes/mine.lua "
if [ "$left" = "$want_left" ]; then ok uninstall-keeps-foreign-file
else no uninstall-keeps-foreign-file "left: $left"; fi

# Without it, nothing is left under the prefix.
rm -f "$root/share/klimakit/recipes/mine.lua"
mk install && mk uninstall
left=$(cd "$root" && find . -mindepth 1 | head -5 | tr '\n' ' ')
if [ -z "$left" ]; then ok uninstall-leaves-empty-tree; else no uninstall-leaves-empty-tree "left: $left"; fi

# A second uninstall finds nothing to do and does not fail.
if mk uninstall; then ok uninstall-twice; else no uninstall-twice "$(tail -3 "$d/uninstall.log")"; fi
exit $fail
