#!/bin/sh
# Runs Check unit-test binaries; prints "unit: N passed, N failed".
# Check's own summary line per binary: "100%: Checks: 12, Failures: 0, Errors: 0".
passed=0; failed=0
# Check's 4 s default is for a quiet machine: a loaded 2-core one, or a
# sanitized build (several times slower), needs room. A test that hangs
# still ends, only later.
export CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-20}"
if [ -n "$POPGATE_SANITIZED" ]; then
	export CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-3}"
fi
for t in "$@"; do
	out=$(CK_FORK=yes "$t" 2>&1); rc=$?
	echo "$out" | grep -E '^[0-9]+%: Checks|:[EF]:' || true
	line=$(echo "$out" | grep -E '^[0-9]+%: Checks:' | tail -n 1)
	if [ -z "$line" ]; then
		echo "$t: no Check summary (exit $rc)"; failed=$((failed + 1)); continue
	fi
	n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
	f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
	e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
	passed=$((passed + n - f - e)); failed=$((failed + f + e))
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
