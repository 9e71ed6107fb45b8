#!/bin/sh
# redis-suite.sh - Redis's own stream test suite, run against tincan and
# against redis-server in the same external mode (the body of
# `make check-redis-suite` and of check.sh's `redis-suite` suite).
#
#   BUILD=build sh scripts/redis-suite.sh
#
# 1. The suite: the Debian source package of the installed redis-server (the
#    same version, e.g. 5:7.0.15-1~deb12u10) is fetched with apt-get through a
#    private sources list (deb-src, deb.debian.org; the system's apt config is
#    not touched) and extracted with dpkg-source into
#    $BUILD/redis-suite/src-<version>/. Later runs reuse it. If that exact
#    version is no longer in the archive, this fails and says so.
# 2. The baseline: redis-server on a free 127.0.0.1 port, no persistence, a
#    temp dir, DEBUG allowed. Each unit runs there first:
#       ./runtest --host 127.0.0.1 --port P --single UNIT --clients 1
#                 --durable --timeout T
#    The needs:debug tests run too: the harness turns on appendonly with
#    CONFIG SET, and the tests reload the data with DEBUG LOADAOF (tincan:
#    every module reloads from its files) after BGREWRITEAOF (tincan:
#    checkpoints of the journals). external:skip tests the harness skips.
# 3. The target: tincan-server ($TINCAN_BIN, else $BUILD/tincan-server) on a
#    fresh data dir, the same units. REDIS_SUITE_TARGET=redis runs a second
#    redis-server as the target instead (checks this runner), and
#    REDIS_SUITE_TARGET=HOST:PORT uses a server that is already running.
#
# A run of the harness can end early: an error outside a test (--durable turns
# errors inside tests into [err]) aborts the unit, a test that makes no
# progress for T s ends it with [TIMEOUT] (and `timeout` caps each run). Then
# the unit is run again with every test that already has an outcome in a
# --skipfile (a timed-out test counts as failed), and a target server of ours
# that died is started again, as long as runs make progress (at most
# REDIS_SUITE_ATTEMPTS runs). A test that passed on Redis and never got an
# outcome on the target is "notrun", a failure.
#
# Writes $BUILD/redis-suite/:
#   report.txt    per unit N passed / N failed on each side, the tests that
#                 pass on Redis but not on the target, the exceptions check
#   results.tsv   side unit outcome name  (outcome: ok err timeout notrun)
#   summary.tsv   unit side passed failed
#   logs/         each harness run's output, the servers' logs
# tests/redis-suite/exceptions.txt lists tests that may fail on tincan
# (unit<TAB>test name<TAB>reason). Exit status 1 if a test passes on Redis,
# fails on the target and is not listed there, or if the suite cannot run
# (download, baseline run, a malformed exceptions line); listed tests that
# now pass are only warned about. The last line is "N passed, N failed":
# passed = tests passing on the target, failed = unexcused failures (plus
# one per problem that kept the suite from running).
#
# Knobs: REDIS_SUITE_UNITS (default "unit/type/stream unit/type/stream-cgroups"),
# REDIS_SUITE_TEST_TIMEOUT (harness --timeout, s without progress, default
# 60), REDIS_SUITE_RUN_TIMEOUT (cap on one harness run, default 900 s),
# REDIS_SUITE_ATTEMPTS (default 6), REDIS_SERVER (default redis-server on PATH),
# REDIS_SUITE_EXCEPTIONS (default tests/redis-suite/exceptions.txt).
set -u

BUILD=${BUILD:-build}
TARGET=${REDIS_SUITE_TARGET:-tincan}
UNITS=${REDIS_SUITE_UNITS:-unit/type/stream unit/type/stream-cgroups}
TEST_TIMEOUT=${REDIS_SUITE_TEST_TIMEOUT:-60}
RUN_TIMEOUT=${REDIS_SUITE_RUN_TIMEOUT:-900}
ATTEMPTS=${REDIS_SUITE_ATTEMPTS:-6}
REDIS_BIN=${REDIS_SERVER:-$(command -v redis-server 2>/dev/null || echo /usr/bin/redis-server)}
EXCEPTIONS=${REDIS_SUITE_EXCEPTIONS:-tests/redis-suite/exceptions.txt}
REPO=$(pwd)
OUT=$REPO/$BUILD/redis-suite
case $BUILD in /*) OUT=$BUILD/redis-suite ;; esac
LOGS=$OUT/logs
TAB=$(printf '\t')
ESC=$(printf '\033')

rm -rf "$LOGS"; mkdir -p "$LOGS"
TMP=$(mktemp -d /tmp/tincan-redis-suite.XXXXXX)
RESULTS=$OUT/results.tsv
SUMMARY=$OUT/summary.tsv
REPORT=$OUT/report.txt
: >"$RESULTS"
: >"$OUT/notes"
BASE_PID=; TGT_PID=
cleanup() {
    for p in $BASE_PID $TGT_PID; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "redis-suite: $*"; }
note() { say "$*"; echo "$*" >>"$OUT/notes"; }
# broken MSG: the suite could not run; ends with the summary line.
broken() {
    say "$*"
    echo "0 passed, 1 failed"
    exit 1
}

# ---- the suite: Debian source of the installed redis-server ----
fetch_suite() {
    for t in tclsh dpkg-source apt-get "$REDIS_BIN"; do
        command -v "$t" >/dev/null 2>&1 ||
            broken "$t not found (scripts/deps.sh installs tcl, dpkg-dev, redis-server)"
    done
    VERSION=$(dpkg-query -W -f='${Version}' redis-server 2>/dev/null)
    [ -n "$VERSION" ] || broken "redis-server is not installed as a Debian package"
    UPSTREAM=${VERSION#*:}; UPSTREAM=${UPSTREAM%-*}
    "$REDIS_BIN" --version | grep -q "v=$UPSTREAM " ||
        broken "$REDIS_BIN is not $UPSTREAM (package redis-server $VERSION): $("$REDIS_BIN" --version)"
    safe=$(printf '%s' "$VERSION" | tr ':~' '_-')
    SRC=$OUT/src-$safe
    if [ -f "$SRC/.tincan-complete" ]; then
        return
    fi
    say "fetching the Debian source of redis $VERSION (cached in $SRC)"
    dl=$OUT/download-$safe
    rm -rf "$dl" "$SRC"
    mkdir -p "$dl/apt/lists/partial" "$dl/apt/cache/archives/partial"
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    key=/usr/share/keyrings/debian-archive-keyring.gpg
    {
        echo "deb-src [signed-by=$key] http://deb.debian.org/debian $codename main"
        echo "deb-src [signed-by=$key] http://deb.debian.org/debian $codename-updates main"
        echo "deb-src [signed-by=$key] http://deb.debian.org/debian-security $codename-security main"
    } >"$dl/apt/sources.list"
    set -- -o "Dir::Etc::SourceList=$dl/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o "Dir::State::Lists=$dl/apt/lists" -o "Dir::Cache=$dl/apt/cache" \
        -o APT::Sandbox::User="$(id -un)"
    if ! timeout 300 apt-get "$@" -q update >"$LOGS/apt-update.log" 2>&1; then
        cat "$LOGS/apt-update.log"
        broken "apt-get update of the deb-src lists failed (network to deb.debian.org?)"
    fi
    if ! (cd "$dl" && timeout 600 apt-get "$@" -q source --download-only "redis=$VERSION") \
        >"$LOGS/apt-source.log" 2>&1; then
        cat "$LOGS/apt-source.log"
        broken "the source of redis $VERSION is not in the archive any more (installed redis-server is $VERSION); the suite must be the server's version: upgrade redis-server, or unpack that source by hand into $SRC and write its version into $SRC/.tincan-complete"
    fi
    dsc=
    for f in "$dl"/redis_*.dsc; do [ -f "$f" ] && dsc=$f; done
    [ -n "$dsc" ] || broken "apt-get source left no .dsc in $dl"
    if ! dpkg-source -x "$dsc" "$SRC" >"$LOGS/dpkg-source.log" 2>&1; then
        cat "$LOGS/dpkg-source.log"
        broken "dpkg-source -x $dsc failed"
    fi
    if [ ! -x "$SRC/runtest" ] || [ ! -f "$SRC/tests/test_helper.tcl" ]; then
        broken "$SRC has no runtest / tests/test_helper.tcl"
    fi
    # the unpacked tree is the cache (dpkg-source also leaves the orig
    # tarball beside it)
    rm -rf "$dl" "$OUT"/redis_*.orig.tar.*
    echo "$VERSION" >"$SRC/.tincan-complete"
}

# ---- servers ----
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A free port p in 20000..50000 with p..p+32 and p+10000 free too (the
# harness's own listener scans baseport-32..baseport and wants +10000 free).
free_low_port() {
    /usr/bin/python3 -c '
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    p = random.randrange(20000, 50000)
    if all(free(q) and free(q + 10000) for q in range(p, p + 33)):
        print(p); break
else:
    raise SystemExit(1)'
}

# start_redis NAME: sets SPID, SPORT; returns 1 on failure.
start_redis() {
    d=$TMP/$1; mkdir -p "$d"
    n=0
    while [ $n -lt 5 ]; do
        n=$((n + 1))
        SPORT=$(free_port) || return 1
        "$REDIS_BIN" --port "$SPORT" --bind 127.0.0.1 --save '' --appendonly no \
            --enable-debug-command yes \
            --dir "$d" --daemonize no --logfile "$LOGS/$1.log" </dev/null >/dev/null 2>&1 &
        SPID=$!
        i=0
        while [ $i -lt 500 ]; do
            if ! alive "$SPID"; then break; fi
            if [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$SPORT" ping 2>/dev/null)" = PONG ]; then
                return 0
            fi
            sleep 0.02
            i=$((i + 1))
        done
        kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
    done
    SPID=
    echo "redis-suite: redis-server did not start (see $LOGS/$1.log)"
    return 1
}

# start_tincan NAME: sets SPID, SPORT; returns 1 on failure.
start_tincan() {
    d=$TMP/$1; rm -rf "$d"; mkdir -p "$d/data"
    bin=${TINCAN_BIN:-$BUILD/tincan-server}
    if [ ! -x "$bin" ]; then
        echo "redis-suite: $bin not built (make BUILD=$BUILD server)"
        return 1
    fi
    "$bin" --port 0 --dir "$d/data" --bind 127.0.0.1 --enable-debug-command yes \
        >"$LOGS/$1.stdout" 2>"$LOGS/$1.stderr" </dev/null &
    SPID=$!
    i=0
    while [ $i -lt 1500 ]; do
        line=$(grep -m 1 -E '^tincan ready port=[0-9]+ pid=[0-9]+' "$LOGS/$1.stdout" 2>/dev/null)
        if [ -n "$line" ]; then
            SPORT=$(echo "$line" | sed -E 's/.*port=([0-9]+).*/\1/')
            return 0
        fi
        if ! alive "$SPID"; then
            echo "redis-suite: tincan-server exited before it was ready:"
            cat "$LOGS/$1.stderr"
            SPID=
            return 1
        fi
        sleep 0.01
        i=$((i + 1))
    done
    echo "redis-suite: tincan-server: no readiness line within 15 s"
    kill -KILL "$SPID" 2>/dev/null
    SPID=
    return 1
}

# start_target: (re)starts the target server of ours; sets TGT_PID TGT_HOST TGT_PORT.
# Each start gets its own log names (logs/server-target-tincan-UNIT.N.stdout/.stderr).
STARTS=0
start_target() {
    STARTS=$((STARTS + 1))
    TGT_NAME=server-target-$TARGET-$UTAG.$STARTS
    case $TARGET in
        tincan) start_tincan "$TGT_NAME" || return 1 ;;
        redis) start_redis "$TGT_NAME" || return 1 ;;
    esac
    TGT_PID=$SPID; TGT_HOST=127.0.0.1; TGT_PORT=$SPORT
}

# target_died UNIT: if our target server is gone, note it (a crash is a
# failure no exceptions.txt line excuses) and return 0.
target_died() {
    [ -n "$TGT_PID" ] || return 1
    alive "$TGT_PID" && return 1
    wait "$TGT_PID" 2>/dev/null
    st=$?
    note "PROBLEM: the $TARGET server died during $1 (exit status $st); its log: $LOGS/$TGT_NAME.*"
    if [ -f "$LOGS/$TGT_NAME.stderr" ]; then tail -n 20 "$LOGS/$TGT_NAME.stderr" | sed 's/^/    /'; fi
    CRASHES=$((CRASHES + 1))
    TGT_PID=
    return 0
}

# alive PID: running (a zombie, dead but not yet waited for, is not)
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    case $(ps -o stat= -p "$1" 2>/dev/null) in Z*) return 1 ;; esac
    return 0
}

stop_pid() { # pid: SIGTERM, bounded wait, then SIGKILL
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null
    i=0
    while alive "$1" && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# ---- running the harness ----
# parse LOG UNIT: the outcomes of one harness run, as "outcome<TAB>name"
# lines, and a last line "status<TAB>complete|exception|timeout|killed<TAB>detail".
# A name the unit uses more than once ("XCLAIM with trimming") gets " (#2)"
# etc. from its second time on; [skip] lines count too, so a rerun numbers the
# same way.
parse() {
    sed "s/$ESC\[[0-9;]*m//g" "$1" | awk -v unit="tests/$2.tcl" -v tab="$TAB" '
        function key(n) { occ[n]++; return occ[n] == 1 ? n : n " (#" occ[n] ")" }
        function out(o, n) { print o tab key(n) }
        /^\[ok\]: / {
            n = substr($0, 7); sub(/ \([0-9]+ ms\)$/, "", n); out("ok", n); next
        }
        /^\[skip\]: / { key(substr($0, 9)); next }
        /^\[err\]: / {
            n = substr($0, 8); suf = " in " unit
            if (length(n) > length(suf) && substr(n, length(n) - length(suf) + 1) == suf)
                out("err", substr(n, 1, length(n) - length(suf)))
            else
                blockerr = blockerr (blockerr == "" ? "" : "; ") n
            next
        }
        /^\[exception\]: / { status = "exception"; detail = substr($0, 14); next }
        /^\[TIMEOUT\]: / { status = "timeout"; intimeout = 1; next }
        intimeout && / => \(IN PROGRESS\) / {
            n = $0; sub(/^.* => \(IN PROGRESS\) /, "", n); out("timeout", n); detail = n; next
        }
        /All tests passed without errors!|The following tests failed:/ {
            if (status == "") status = "complete"
        }
        END {
            if (status == "") status = "killed"
            if (blockerr != "") detail = detail (detail == "" ? "" : "; ") "outside a test: " blockerr
            print "status" tab status tab detail
        }'
}

# run_unit SIDE UNIT HOST PORT: the unit until it completes or stops making
# progress; appends "SIDE<TAB>UNIT<TAB>outcome<TAB>name" to $RESULTS.
run_unit() {
    side=$1; unit=$2; host=$3; port=$4
    tag=$(printf '%s-%s' "$side" "$unit" | tr '/' '_')
    seen=$TMP/$tag.seen; : >"$seen"
    attempt=0
    while [ $attempt -lt "$ATTEMPTS" ]; do
        attempt=$((attempt + 1))
        log=$LOGS/run-$tag.$attempt.log
        # (a name used twice is skipped both times once it has an outcome)
        { cut -f 2- "$seen"
          [ "$side" = target ] && awk -F "$TAB" -v u="$unit" '$1 == u { print $2 }' "$TMP/exc"
        } | sed -E 's/ \(#[0-9]+\)$//' | sort -u >"$TMP/skip"
        say "$side $unit run $attempt ($(wc -l <"$seen") tests already have an outcome)"
        # the harness's own listener takes the first free port of
        # baseport-32..baseport: start it past a free port of our picking, so
        # two runs on one machine never reach for the same default port
        hport=$(free_low_port) || hport=21079
        (cd "$SRC" && exec timeout -k 10 "$RUN_TIMEOUT" ./runtest --host "$host" --port "$port" \
            --baseport $((hport + 32)) \
            --single "$unit" --clients 1 --durable \
            --timeout "$TEST_TIMEOUT" --skipfile "$TMP/skip") >"$log" 2>&1 </dev/null
        rc=$?
        parse "$log" "$unit" >"$TMP/parsed"
        status=$(grep "^status$TAB" "$TMP/parsed" | cut -f 2)
        detail=$(grep "^status$TAB" "$TMP/parsed" | cut -f 3-)
        [ $rc = 124 ] || [ $rc = 137 ] && status=killed
        # the first outcome of a test counts (a rerun prints [skip] for it)
        grep -v "^status$TAB" "$TMP/parsed" | awk -F "$TAB" 'FILENAME == ARGV[1] { s[$2] = 1; next }
            !($2 in s) { s[$2] = 1; print }' "$seen" - >"$TMP/new"
        cat "$TMP/new" >>"$seen"
        new=$(wc -l <"$TMP/new")
        if [ "$status" = complete ]; then
            [ -z "$detail" ] || note "$side $unit: $detail"
            break
        fi
        case $status in
            killed) note "$side $unit run $attempt: harness killed after $RUN_TIMEOUT s (exit $rc), see $log" ;;
            timeout) note "$side $unit run $attempt: [TIMEOUT] no progress for $TEST_TIMEOUT s${detail:+ in: $detail}" ;;
            *) note "$side $unit run $attempt: aborted: $detail" ;;
        esac
        if [ "$new" -le 0 ]; then
            note "$side $unit: run $attempt made no progress, the tests without an outcome count as not run"
            break
        fi
        if [ "$side" = target ] && target_died "$unit run $attempt"; then
            note "$side $unit: starting the $TARGET server again for run $((attempt + 1))"
            start_target || { note "could not restart the target"; break; }
            host=$TGT_HOST; port=$TGT_PORT
        fi
        if [ "$side" = target ]; then
            # nothing left that ran on Redis?
            left=$(awk -F "$TAB" -v u="$unit" 'FILENAME == ARGV[1] { s[$2] = 1; next }
                $1 == "redis" && $2 == u && !($4 in s) { n++ } END { print n + 0 }' \
                "$seen" "$RESULTS")
            [ "$left" -gt 0 ] || break
        fi
    done
    awk -v p="$side$TAB$unit$TAB" '{ print p $0 }' "$seen" >>"$RESULTS"
    if [ "$side" = target ]; then
        awk -F "$TAB" -v u="$unit" -v tab="$TAB" 'FILENAME == ARGV[1] { s[$2] = 1; next }
            $1 == "redis" && $2 == u && !($4 in s) { print "target" tab u tab "notrun" tab $4 }' \
            "$seen" "$RESULTS" >"$TMP/notrun"
        cat "$TMP/notrun" >>"$RESULTS"
    fi
}

# ---- main ----
[ -d tests/redis-suite ] || broken "run from the repository root"
fetch_suite
# The harness's own temp dir (tests/tmp) is in the cached tree; start clean.
rm -rf "$SRC/tests/tmp"/* 2>/dev/null

case $TARGET in
    tincan|redis) ;;
    *:*)
        TGT_HOST=${TARGET%:*}; TGT_PORT=${TARGET##*:}; TGT_PID=
        [ "$(timeout 5 redis-cli -h "$TGT_HOST" -p "$TGT_PORT" ping 2>/dev/null)" = PONG ] ||
            say "warning: $TARGET does not answer PING" ;;
    *) broken "REDIS_SUITE_TARGET must be tincan, redis or HOST:PORT, not '$TARGET'" ;;
esac

PROBLEMS=0; CRASHES=0
# exceptions: unit<TAB>name<TAB>reason, '#' comments and blank lines ignored.
# Listed tests are not run on the target: one that fails can leave a client
# blocked and make the tests after it fail too.
: >"$TMP/exc"
if [ -f "$EXCEPTIONS" ]; then
    awk -F "$TAB" -v tab="$TAB" '/^[ \t]*(#|$)/ { next }
        NF < 3 || $1 == "" || $2 == "" || $3 == "" { print "bad" tab FNR tab $0; next }
        { print $1 tab $2 tab $3 }' "$EXCEPTIONS" >"$TMP/exc"
fi

for unit in $UNITS; do
    [ -f "$SRC/tests/$unit.tcl" ] || { note "no unit $unit in the suite"; PROBLEMS=$((PROBLEMS + 1)); continue; }
    # Fresh servers per unit (of ours), so config one unit set cannot leak
    # into the next.
    UTAG=$(echo "$unit" | tr '/' '_')
    start_redis "server-baseline-$UTAG" || broken "could not start the baseline redis-server"
    BASE_PID=$SPID; BASE_PORT=$SPORT
    case $TARGET in
        tincan|redis) start_target || broken "could not start the target ($TARGET)" ;;
    esac
    say "$unit: suite redis $VERSION, baseline redis-server on 127.0.0.1:$BASE_PORT, target $TARGET on $TGT_HOST:$TGT_PORT"
    run_unit redis "$unit" 127.0.0.1 "$BASE_PORT"
    run_unit target "$unit" "$TGT_HOST" "$TGT_PORT"
    target_died "$unit (after its last run)"
    if [ -n "$BASE_PID" ] && ! alive "$BASE_PID"; then
        note "PROBLEM: the baseline redis-server died during $unit"
        PROBLEMS=$((PROBLEMS + 1))
    fi
    stop_pid "$BASE_PID"; BASE_PID=
    stop_pid "$TGT_PID"; TGT_PID=
    # an ASan/UBSan build as TINCAN_BIN: a report is a failure
    for f in "$LOGS"/server-target-tincan-"$UTAG".*.stderr; do
        [ -f "$f" ] || continue
        if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ERROR: UndefinedBehaviorSanitizer' "$f"; then
            note "PROBLEM: sanitizer report in $f"
            PROBLEMS=$((PROBLEMS + 1))
        fi
    done
done

# ---- the report ----
# exceptions: unit<TAB>name<TAB>reason, '#' comments and blank lines ignored.
bad=$(grep -c "^bad$TAB" "$TMP/exc")
PROBLEMS=$((PROBLEMS + bad + CRASHES))

# unit side passed failed
awk -F "$TAB" -v tab="$TAB" '{ k = $2 tab $1; if (!(k in p)) { p[k] = 0; f[k] = 0; order[++n] = k }
        if ($3 == "ok") p[k]++; else f[k]++ }
    END { for (i = 1; i <= n; i++) print order[i] tab p[order[i]] tab f[order[i]] }' \
    "$RESULTS" >"$SUMMARY"

# baseline sanity: each unit ran and completed on Redis.
for unit in $UNITS; do
    n=$(awk -F "$TAB" -v u="$unit" '$1 == "redis" && $2 == u && $3 == "ok"' "$RESULTS" | wc -l)
    if [ "$n" -eq 0 ]; then
        note "no test of $unit passed on Redis: the baseline run is broken"
        PROBLEMS=$((PROBLEMS + 1))
    fi
done
if grep -q '^redis unit' "$OUT/notes"; then
    note "the baseline run on Redis did not complete cleanly (see above)"
    PROBLEMS=$((PROBLEMS + 1))
fi

# regressions: ok on redis, not ok on target -> unit name outcome excused reason
awk -F "$TAB" -v tab="$TAB" -v units=" $UNITS " '
    FILENAME == ARGV[1] { if ($1 != "bad" && index(units, " " $1 " ")) exc[$1 tab $2] = $3; next }
    $1 == "redis" && $3 == "ok" { rok[$2 tab $4] = 1; ord[++n] = $2 tab $4; next }
    $1 == "target" { t[$2 tab $4] = $3 }
    END {
        for (i = 1; i <= n; i++) {
            k = ord[i]; o = (k in t) ? t[k] : "notrun"
            if (o != "ok") print k tab o tab ((k in exc) ? "excused" tab exc[k] : "regression" tab "")
            else if (k in exc) print k tab o tab "now-passes" tab exc[k]
        }
        for (k in exc) if (!(k in rok)) print k tab "-" tab "stale" tab exc[k]
    }' "$TMP/exc" "$RESULTS" >"$TMP/cmp"

count() { grep -c "$TAB$1$TAB" "$TMP/cmp"; }
REG=$(count regression); EXC=$(count excused); NOW=$(count now-passes); STALE=$(count stale)
TPASS=$(awk -F "$TAB" '$1 == "target" && $3 == "ok"' "$RESULTS" | wc -l)

{
    echo "Redis $UPSTREAM stream test suite (Debian source redis $VERSION), external mode"
    echo "harness: ./runtest --host H --port P --single UNIT --clients 1 --durable --timeout $TEST_TIMEOUT"
    echo "redis:  $REDIS_BIN $UPSTREAM (baseline)"
    echo "target: $TARGET"
    echo
    printf '%-26s %-22s %s\n' unit "redis" "target ($TARGET)"
    for unit in $UNITS; do
        r=$(awk -F "$TAB" -v u="$unit" '$1 == u && $2 == "redis" { print $3 " passed / " $4 " failed" }' "$SUMMARY")
        t=$(awk -F "$TAB" -v u="$unit" '$1 == u && $2 == "target" { print $3 " passed / " $4 " failed" }' "$SUMMARY")
        extra=$(awk -F "$TAB" -v u="$unit" '$1 == "target" && $2 == u && $3 != "ok" { c[$3]++ }
            END { s = ""; for (o in c) s = s (s == "" ? "" : ", ") c[o] " " o; print s }' "$RESULTS")
        printf '%-26s %-22s %s%s\n' "$unit" "${r:-0 passed / 0 failed}" "${t:-0 passed / 0 failed}" "${extra:+  ($extra)}"
    done
    echo
    echo "Pass on Redis, not on the target: $((REG + EXC)) ($REG not in $EXCEPTIONS, $EXC listed there)"
    awk -F "$TAB" '$4 == "regression" || $4 == "excused" {
        printf "  %-8s %-24s %-7s %s%s\n", ($4 == "regression" ? "FAIL" : "listed"), $1, $3, $2,
            ($5 != "" ? "   [" $5 "]" : "") }' "$TMP/cmp"
    if [ "$NOW" -gt 0 ] || [ "$STALE" -gt 0 ]; then
        echo
        echo "Warnings about $EXCEPTIONS:"
        awk -F "$TAB" '$4 == "now-passes" { printf "  listed but passes now: %s  %s\n", $1, $2 }
            $4 == "stale" { printf "  listed but does not pass on Redis (or no such test): %s  %s\n", $1, $2 }' "$TMP/cmp"
    fi
    if [ "$bad" -gt 0 ]; then
        echo
        echo "Malformed lines in $EXCEPTIONS (want unit<TAB>test name<TAB>reason):"
        grep "^bad$TAB" "$TMP/exc" | cut -f 2- | sed 's/^/  line /'
    fi
    # tests that ran on the target only (a name the Redis run never printed)
    # (a unit's Redis rows come before its target rows)
    awk -F "$TAB" '$1 == "redis" { r[$2 "\t" $4] = 1; next }
        $1 == "target" && $3 != "notrun" && !(($2 "\t" $4) in r) { printf "  %s  %s  %s\n", $2, $3, $4 }' \
        "$RESULTS" >"$TMP/only"
    if [ -s "$TMP/only" ]; then
        echo
        echo "Tests the target printed that the Redis run did not:"
        cat "$TMP/only"
    fi
    if [ "$PROBLEMS" -gt 0 ]; then
        echo
        echo "Problems that count as failures: $PROBLEMS (PROBLEM lines below, malformed exceptions, a broken baseline)"
    fi
    if [ -s "$OUT/notes" ]; then
        echo
        echo "Notes:"
        sed 's/^/  /' "$OUT/notes"
    fi
    echo
    echo "logs: $LOGS   per test: $RESULTS"
} >"$REPORT"
cat "$REPORT"
[ "$NOW" -gt 0 ] && say "warning: $NOW listed exceptions pass now; remove them from $EXCEPTIONS"
echo
echo "$TPASS passed, $((REG + PROBLEMS)) failed"
[ $((REG + PROBLEMS)) -eq 0 ]
