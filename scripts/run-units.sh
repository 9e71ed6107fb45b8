#!/bin/sh
# run-units.sh - runs unit test binaries and totals their results.
#
#   sh scripts/run-units.sh build/unit/test_resp build/asan/unit/test_resp ...
#
# Each binary (tests/unit/test.h runner) prints its tests and a last line
# "N passed, N failed". This prints every binary's output under a header, then
# one closing line "N passed, N failed" summing the tests of all binaries. A
# binary that dies without its summary line (crash, sanitizer abort, timeout)
# counts as one failed test. Exits 1 if anything failed. Each binary gets at
# most UNIT_TIMEOUT seconds (default 300).
set -u

timeout_s=${UNIT_TIMEOUT:-300}
passed=0
failed=0
bad=
out=$(mktemp "${TMPDIR:-/tmp}/tincan-units.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM

for bin in "$@"; do
    echo "== $bin"
    if [ ! -x "$bin" ]; then
        echo "run-units: $bin: not built"
        failed=$((failed + 1))
        bad="$bad $bin"
        continue
    fi
    timeout "$timeout_s" "$bin" >"$out" 2>&1
    rc=$?
    cat "$out"
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -n "$summary" ]; then
        p=${summary%% passed*}
        f=${summary#*passed, }; f=${f%% failed}
        passed=$((passed + p))
        failed=$((failed + f))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            # printed a clean summary but exited non-zero (e.g. LeakSanitizer at exit)
            echo "run-units: $bin exited with status $rc after its summary"
            failed=$((failed + 1))
        fi
    else
        echo "run-units: $bin exited with status $rc without a summary line"
        failed=$((failed + 1))
    fi
    if [ "$rc" -ne 0 ]; then
        bad="$bad $bin"
    fi
    # a test that renames or unlinks the wrong path can replace /dev/null by a
    # regular file, which breaks everything after it: name the culprit
    if [ ! -c /dev/null ]; then
        echo "run-units: /dev/null is no longer a character device after $bin"
        failed=$((failed + 1))
        bad="$bad $bin(/dev/null)"
    fi
done

if [ -n "$bad" ]; then
    echo "run-units: failing binaries:$bad"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
