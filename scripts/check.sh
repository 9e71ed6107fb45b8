#!/bin/sh
# check.sh - the body of `make check` (and of `make asan` with TINCAN_ONLY=asan).
#
#   BUILD=build sh scripts/check.sh
#
# Runs these suites, in order, each ending with its own "N passed, N failed":
#   unit         plain unit test binaries        $BUILD/unit/test_*
#   asan-unit    the same under ASan+UBSan       $BUILD/asan/unit/test_*
#   integration  pytest tests/integration against the ASan+UBSan server and CLI
#                ($BUILD/asan/tincan-server via TINCAN_BIN, $BUILD/asan/tincan
#                via TINCAN_CLI); a sanitizer report
#                in the server's stderr fails the test (see conftest.py)
#   clients      redis-cli scripted checks, the hiredis C client, the Node
#                clients (ioredis, node-redis), each against a fresh server
#                (the release binary; the ASan one with TINCAN_ONLY=asan)
#   redis-suite  scripts/redis-suite.sh: Redis 7.0's own stream tests against
#                redis-server and the release server; a test that passes on
#                Redis and fails on tincan without a line in
#                tests/redis-suite/exceptions.txt fails (report in
#                $BUILD/redis-suite/report.txt)
#   fuzz         scripts/fuzz.sh time box (FUZZ_SECONDS, default 60 for the
#                RESP parser, FUZZ_OTHER_SECONDS=20 for every other target)
# then one line per suite and exits 1 if any suite failed.
#
# TINCAN_ONLY=asan runs only the sanitizer build's suites (asan-unit,
# integration, clients on the ASan server). TINCAN_ONLY may also name suites:
# TINCAN_ONLY="unit integration". PYTEST_ARGS adds pytest arguments (e.g. -k).
# The builds are made by the Makefile before this runs.
set -u

BUILD=${BUILD:-build}
PY=/usr/bin/python3
ONLY=$(printf '%s' "${TINCAN_ONLY:-}" | tr ',' ' ')
case " $ONLY " in
    *" asan "*) ONLY="asan-unit integration clients"; CLIENT_BIN=$BUILD/asan/tincan-server ;;
    *) CLIENT_BIN=$BUILD/tincan-server ;;
esac
[ -n "$ONLY" ] || ONLY="unit asan-unit integration clients redis-suite fuzz"

# Sanitizer reports must be fatal and visible (on stderr) everywhere.
ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS
SAN_MARKERS='ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ERROR: UndefinedBehaviorSanitizer'

LOGS=$BUILD/check
mkdir -p "$LOGS"
TMP=$(mktemp -d /tmp/tincan-check.XXXXXX)
SUMMARY=$LOGS/summary
: >"$SUMMARY"
SRV_PID=
cleanup() {
    if [ -n "$SRV_PID" ]; then kill -KILL "$SRV_PID" 2>/dev/null; fi
    if grep -qE ' [1-9][0-9]* failed' "$SUMMARY" 2>/dev/null; then
        # keep the failing tests' data dirs and server logs for a look
        echo "check: test dirs and server logs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wanted() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

banner() { printf '\n======== %s ========\n' "$1"; }

# record SUITE PASSED FAILED [note]
record() {
    echo "$1: $2 passed, $3 failed${4:+ ($4)}"
    printf '%-12s %s passed, %s failed%s\n' "$1" "$2" "$3" "${4:+  ($4)}" >>"$SUMMARY"
}

# summary_of LOG -> "P F" from the last "N passed, N failed" line, or nothing
summary_of() {
    grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1 |
        sed -E 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/'
}

# run_logged LOG CMD... : runs CMD, output to the terminal and to LOG; returns
# CMD's exit status.
run_logged() {
    log=$1; shift
    rcf=$TMP/rc.$$
    { "$@"; echo $? >"$rcf"; } 2>&1 | tee "$log"
    rc=$(cat "$rcf" 2>/dev/null || echo 1)
    rm -f "$rcf"
    return "$rc"
}

# ---- a server for the client suites ----
# start_server BIN NAME: sets SRV_PID, SRV_PORT, SRV_DIR; returns 1 on failure.
start_server() {
    SRV_DIR=$TMP/$2
    mkdir -p "$SRV_DIR/data"
    if [ ! -x "$1" ]; then
        echo "check: server binary $1 not built"
        return 1
    fi
    "$1" --port 0 --dir "$SRV_DIR/data" --bind 127.0.0.1 \
        >"$SRV_DIR/stdout" 2>"$SRV_DIR/stderr" </dev/null &
    SRV_PID=$!
    i=0
    while [ $i -lt 1500 ]; do
        line=$(grep -m 1 -E '^tincan ready port=[0-9]+ pid=[0-9]+' "$SRV_DIR/stdout" 2>/dev/null)
        if [ -n "$line" ]; then
            SRV_PORT=$(echo "$line" | sed -E 's/.*port=([0-9]+).*/\1/')
            pid=$(echo "$line" | sed -E 's/.*pid=([0-9]+).*/\1/')
            if [ "$pid" != "$SRV_PID" ]; then
                echo "check: readiness line says pid=$pid, started $SRV_PID"
                return 1
            fi
            return 0
        fi
        if ! kill -0 "$SRV_PID" 2>/dev/null; then
            echo "check: server exited before it was ready:"
            cat "$SRV_DIR/stderr"
            SRV_PID=
            return 1
        fi
        sleep 0.01
        i=$((i + 1))
    done
    echo "check: no readiness line within 15 s"
    return 1
}

# stop_server: SIGTERM, bounded wait; returns 1 if it did not exit cleanly or
# its stderr holds a sanitizer report.
stop_server() {
    [ -n "$SRV_PID" ] || return 1
    kill -TERM "$SRV_PID" 2>/dev/null
    i=0
    while kill -0 "$SRV_PID" 2>/dev/null && [ $i -lt 1500 ]; do
        sleep 0.01
        i=$((i + 1))
    done
    ok=0
    if kill -0 "$SRV_PID" 2>/dev/null; then
        echo "check: server did not exit within 15 s of SIGTERM"
        kill -KILL "$SRV_PID" 2>/dev/null
        ok=1
    fi
    wait "$SRV_PID" 2>/dev/null
    st=$?
    SRV_PID=
    if [ $ok = 0 ] && [ $st -ne 0 ]; then
        echo "check: server exited with status $st after SIGTERM"
        ok=1
    fi
    if grep -qE "$SAN_MARKERS" "$SRV_DIR/stderr"; then
        echo "check: sanitizer report in server stderr:"
        cat "$SRV_DIR/stderr"
        ok=1
    fi
    return $ok
}

# ---- suites ----
suite_units() { # name dir: one binary per tests/unit/test_*.c (missing = failed)
    name=$1; dir=$2
    set --
    for src in tests/unit/test_*.c; do
        [ -e "$src" ] || continue
        t=${src##*/}
        set -- "$@" "$dir/${t%.c}"
    done
    banner "$name"
    if [ $# -eq 0 ]; then
        record "$name" 0 1 "no unit test binaries built"
        return
    fi
    run_logged "$LOGS/$name.log" sh scripts/run-units.sh "$@"
    set -- $(summary_of "$LOGS/$name.log")
    record "$name" "${1:-0}" "${2:-1}"
}

suite_integration() {
    banner integration
    # DuckDB and s3rver for the archive tests (a failure here shows up as
    # those tests failing, with node-tools.sh's reason above them).
    sh scripts/node-tools.sh || echo "check: scripts/node-tools.sh failed"
    bin=$BUILD/asan/tincan-server
    log=$LOGS/integration.log
    TINCAN_BIN=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    TINCAN_CLI=$(dirname "$TINCAN_BIN")/tincan # the CLI under ASan+UBSan too
    export TINCAN_BIN TINCAN_CLI
    # shellcheck disable=SC2086
    run_logged "$log" timeout 900 "$PY" -m pytest -q -p no:cacheprovider \
        --basetemp="$TMP/pytest" ${PYTEST_ARGS:-} tests/integration
    rc=$?
    last=$(grep -E '(passed|failed|error|no tests ran)' "$log" | tail -n 1)
    p=$(echo "$last" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    f=$(echo "$last" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
    e=$(echo "$last" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+')
    p=${p:-0}; f=$(( ${f:-0} + ${e:-0} ))
    note=
    [ "${e:-0}" -gt 0 ] && note="failed counts ${e} setup/teardown errors (e.g. sanitizer reports)"
    case $rc in
        0) record integration "$p" "$f" ;;
        1) [ "$f" -gt 0 ] || f=1; record integration "$p" "$f" "$note" ;;
        5) record integration 0 1 "pytest collected no tests: counted as a failure" ;;
        124) record integration "$p" $((f + 1)) "pytest killed after 900 s" ;;
        *) record integration "$p" $((f + 1)) "pytest exit status $rc" ;;
    esac
}

# client_step NAME CMD...: runs one client check against a fresh server.
client_step() {
    cname=$1; shift
    echo "-- $cname"
    if ! start_server "$CLIENT_BIN" "$cname"; then
        echo "$cname: could not start the server"
        CF=$((CF + 1))
        return
    fi
    out=$LOGS/clients-$cname.log
    run_logged "$out" "$@" 127.0.0.1 "$SRV_PORT"
    rc=$?
    set -- $(summary_of "$out")
    p=${1:-0}; f=${2:-0}
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "$cname: exit status $rc"; fi
    if ! stop_server; then f=$((f + 1)); fi
    CP=$((CP + p)); CF=$((CF + f))
}

node_client() { # host port
    dir=tests/clients/node
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "node/npm not installed (scripts/deps.sh installs them)"
        echo "0 passed, 1 failed"
        return 1
    fi
    # npm ci once: again only when package-lock.json changed since
    if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
        [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
            echo "npm ci failed (no network access to the npm registry?)"
            echo "0 passed, 1 failed"
            return 1
        fi
    fi
    timeout 60 node "$dir/test.js" "$1" "$2"
}

hiredis_client() { # host port
    timeout 60 "$BUILD/clients/hiredis_client" "$1" "$2"
}

suite_clients() {
    banner clients
    CP=0; CF=0
    client_step redis-cli timeout 60 sh tests/clients/redis_cli.sh
    mkdir -p "$BUILD/clients"
    if cc -std=c17 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror \
        -o "$BUILD/clients/hiredis_client" tests/clients/hiredis_client.c -lhiredis; then
        client_step hiredis hiredis_client
    else
        echo "hiredis: tests/clients/hiredis_client.c does not compile"
        CF=$((CF + 1))
    fi
    client_step node node_client
    record clients "$CP" "$CF"
}

suite_redis() {
    banner redis-suite
    # its own bounds: harness --timeout per test, `timeout` per harness run
    run_logged "$LOGS/redis-suite.log" env BUILD="$BUILD" TINCAN_BIN="$BUILD/asan/tincan-server" \
        timeout 3600 sh scripts/redis-suite.sh
    rc=$?
    set -- $(summary_of "$LOGS/redis-suite.log")
    p=${1:-0}; f=${2:-1}
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record redis-suite "$p" "$f" "$BUILD/redis-suite/report.txt"
}

suite_fuzz() {
    banner fuzz
    run_logged "$LOGS/fuzz.log" env BUILD="$BUILD" sh scripts/fuzz.sh
    set -- $(summary_of "$LOGS/fuzz.log")
    record fuzz "${1:-0}" "${2:-1}"
}

if [ ! -c /dev/null ]; then
    echo "check: /dev/null is not a character device (something replaced it);"
    echo "check: as root: mknod -m 666 /dev/null.new c 1 3 && mv -f /dev/null.new /dev/null"
    exit 1
fi
start=$(date +%s)
wanted unit && suite_units unit "$BUILD/unit"
wanted asan-unit && suite_units asan-unit "$BUILD/asan/unit"
wanted integration && suite_integration
wanted clients && suite_clients
wanted redis-suite && suite_redis
wanted fuzz && suite_fuzz

banner "summary ($(($(date +%s) - start)) s)"
cat "$SUMMARY"
if grep -qE ' [1-9][0-9]* failed' "$SUMMARY"; then
    echo "make check: FAILED"
    exit 1
fi
echo "make check: all suites passed"
