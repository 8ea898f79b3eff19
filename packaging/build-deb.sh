#!/bin/sh
# make deb: build the Debian package of popgate.
#
# The source tree is copied (without .git and build output) to
# <tmp>/popgate-<version>/, packaging/debian becomes its debian/, and
# dpkg-buildpackage -us -uc -b builds the binary package there (the build
# runs the Makefile: make, then make install DESTDIR=... PREFIX=/usr; no
# make check, see debian/rules). The native source package is made too
# (dpkg-source -b), so that lintian checks the source as well.
#
# Output in $DEB_OUT (default build/deb): popgate_<version>_<arch>.deb, the
# debug symbols (.ddeb), .changes, .buildinfo, .dsc, .tar.xz, build.log and
# lintian.txt. Exit status 0 when the package built and lintian reported no
# error (warnings are listed, not fatal); 1 when the build failed; 3 when
# lintian found errors (the package is in $DEB_OUT all the same).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
out=${DEB_OUT:-build/deb}
case $out in /*) ;; *) out=$top/$out ;; esac

ver=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
arch=$(dpkg --print-architecture)
work=$(mktemp -d /tmp/popgate-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
src=$work/popgate-$ver

start=$(date +%s)
echo "popgate $ver: copying the source tree to $src"
mkdir "$src"
tar -C "$top" --exclude=./.git --exclude=./build --exclude=./build-asan \
	--exclude=./build-fuzz --exclude=__pycache__ --exclude='*.o' --exclude='*.d' \
	--exclude=./packaging/debian -cf - . | tar -C "$src" -xf -
cp -R packaging/debian "$src/debian"

mkdir -p "$out"
rm -f "$out"/popgate_* "$out"/popgate-dbgsym_* "$out"/build.log "$out"/lintian.txt
log=$out/build.log
(cd "$work" && dpkg-source -b "popgate-$ver") >"$log" 2>&1 || {
	tail -n 30 "$log"; echo "make deb: dpkg-source failed (full log: $log)"; exit 1; }
echo "popgate $ver: dpkg-buildpackage -us -uc -b (log: $log)"
jobs=$(nproc 2>/dev/null || echo 1)
if ! (cd "$src" && DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b) >>"$log" 2>&1; then
	tail -n 40 "$log"
	echo "make deb: dpkg-buildpackage failed (full log: $log)"
	exit 1
fi
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.changes "$work"/*.buildinfo \
	 "$work"/*.dsc "$work"/*.tar.*; do
	[ -e "$f" ] && mv "$f" "$out"/
done
deb=$out/popgate_${ver}_$arch.deb
[ -f "$deb" ] || { echo "make deb: $deb missing after the build"; exit 1; }
echo "popgate $ver: built $deb in $(( $(date +%s) - start )) s"

# lintian: source and binary package. As root it notes that it is run as
# root; that line is not a finding.
lintian --tag-display-limit 0 --display-info "$out/popgate_${ver}_$arch.changes" \
	"$out/popgate_$ver.dsc" >"$out/lintian.txt" 2>&1 || true
e=$(grep -c '^E: ' "$out/lintian.txt" || true)
w=$(grep -c '^W: ' "$out/lintian.txt" || true)
i=$(grep -c '^[IP]: ' "$out/lintian.txt" || true)
grep -E '^[EW]: ' "$out/lintian.txt" || true
echo "lintian: $e errors, $w warnings, $i info/pedantic ($out/lintian.txt)"
[ "$e" -eq 0 ] || exit 3
