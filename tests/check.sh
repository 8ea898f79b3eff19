#!/bin/sh
# make check: unit tests, fuzz smoke, packaging, end-to-end tests; ends with one line
# "N passed, N failed" summing every part. CHECK_PARTS picks parts (default
# "unit fuzz packaging e2e"); BUILD the build folder (build-asan for make asan);
# E2E_JOBS the end-to-end modules run at a time (default 2).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PARTS=" ${CHECK_PARTS:-unit fuzz packaging e2e} "
part() { case "$PARTS" in *" $1 "*) return 0 ;; esac; return 1; }
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
passed=0; failed=0

count() {	# count NAME FILE: add the part's "N passed, N failed" line
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$1: no result line"; failed=$((failed + 1)); return
	fi
	p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
	f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
	passed=$((passed + p)); failed=$((failed + f))
}

if part unit; then
echo "== unit tests"
tests/run-unit.sh "$BUILD"/tests/test_* 2>&1 | tee "$log/unit"
count unit "$log/unit"
fi

if part fuzz; then
echo "== fuzz smoke (${FUZZ_SMOKE_SECS:-5}s per harness)"
if command -v clang >/dev/null 2>&1; then
	if make --no-print-directory fuzz-smoke >"$log/fuzz" 2>&1; then
		n=$(grep -c ': ok' "$log/fuzz")
		cat "$log/fuzz" | grep -E ': (ok|FAILED)'
		echo "fuzz: $n passed, 0 failed" | tee "$log/fuzzsum"
	else
		tail -n 30 "$log/fuzz"
		n=$(grep -c ': ok' "$log/fuzz")
		echo "fuzz: $n passed, 1 failed" | tee "$log/fuzzsum"
	fi
	count fuzz "$log/fuzzsum"
else
	echo "fuzz: clang missing"; failed=$((failed + 1))
fi
fi

if part packaging; then
echo "== packaging (make deb, lintian, man pages, make install, make demo)"
python3 tests/packaging/run.py 2>&1 | tee "$log/packaging"
count packaging "$log/packaging"
fi

if part e2e; then
echo "== end-to-end tests"
python3 tests/e2e/run.py --binary "$BUILD/popgate" --jobs "${E2E_JOBS:-2}" 2>&1 | tee "$log/e2e"
count e2e "$log/e2e"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
