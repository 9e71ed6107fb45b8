#!/bin/sh
# fuzz.sh - runs every libFuzzer target $BUILD/fuzz/fuzz_*.
#
#   BUILD=build FUZZ_SECONDS=60 sh scripts/fuzz.sh [fuzz_resp ...]
#
# For each target <name> (one per tests/fuzz/<name>.c, or those named):
#   1. replays every file of tests/fuzz/regressions/<name>/ (old crashers must
#      stay fixed);
#   2. fuzzes with the seed corpus tests/fuzz/corpus/<name>/ (read only: new
#      inputs go to the work corpus $BUILD/fuzz/corpus/<name>/, so git keeps
#      only the small seed set) for a bounded time:
#        fuzz_resp      FUZZ_SECONDS        (default 60)
#        other targets  FUZZ_OTHER_SECONDS  (default 20)
#      FUZZ_SECONDS=0 means unbounded (`make fuzz`): then all targets run at
#      once, until one crashes or you press Ctrl-C.
#   3. a crash, leak, timeout or OOM input is saved into the regressions dir
#      (commit it together with the fix) and the target counts as failed.
# Each target's libFuzzer output goes to $BUILD/fuzz/<name>.log; its tail is
# printed on failure. Ends with "N passed, N failed" (targets); exit 1 if any
# failed.
set -u

BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_OTHER_SECONDS=${FUZZ_OTHER_SECONDS:-20}
: "${ASAN_OPTIONS:=abort_on_error=0:detect_leaks=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

if [ $# -gt 0 ]; then
    targets=
    for n in "$@"; do targets="$targets $BUILD/fuzz/$n"; done
else
    targets=
    for src in tests/fuzz/fuzz_*.c; do
        [ -e "$src" ] || continue
        t=${src##*/}
        targets="$targets $BUILD/fuzz/${t%.c}"
    done
fi

passed=0
failed=0
pids=
# fuzzer pids, so that a signal to this script stops them too
PIDS=$(mktemp "${TMPDIR:-/tmp}/tincan-fuzz.XXXXXX")
INTERRUPTED=0
stop_fuzzers() { INTERRUPTED=1; kill -INT $(cat "$PIDS") 2>/dev/null; }
trap 'rm -f "$PIDS"' EXIT
trap 'stop_fuzzers' INT TERM

run_one() { # bin -> exit status of the target (0 = nothing found)
    bin=$1
    name=$(basename "$bin")
    if [ ! -x "$bin" ]; then
        echo "fuzz: $name: not built ($bin)"
        return 1
    fi
    seeds=tests/fuzz/corpus/$name
    regs=tests/fuzz/regressions/$name
    work=$BUILD/fuzz/corpus/$name
    log=$BUILD/fuzz/$name.log
    mkdir -p "$seeds" "$regs" "$work"
    if [ "$name" = fuzz_resp ]; then secs=$FUZZ_SECONDS; else secs=$FUZZ_OTHER_SECONDS; fi
    [ "$FUZZ_SECONDS" = 0 ] && secs=0

    : >"$log"
    if [ -n "$(ls -A "$regs")" ]; then
        # Replaying: the files are given one by one, each run once.
        if ! "$bin" "$regs"/* >>"$log" 2>&1; then
            echo "fuzz: $name: a regression input crashes again (see $log)"
            tail -n 40 "$log"
            return 1
        fi
    fi
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="$regs/" \
        "$work" "$seeds" >>"$log" 2>&1 &
    fpid=$!
    echo "$fpid" >>"$PIDS"
    while :; do # a trapped signal ends wait early: wait for the fuzzer itself
        wait "$fpid"; rc=$?
        if [ $rc -gt 128 ] && kill -0 "$fpid" 2>/dev/null; then continue; fi
        break
    done
    if [ $rc -eq 72 ]; then # libFuzzer's exit status after SIGINT
        echo "fuzz: $name: interrupted"
        return 0
    fi
    if [ $rc -ne 0 ]; then
        echo "fuzz: $name: found a problem (status $rc); input saved in $regs/:"
        ls -t "$regs" | head -n 3
        tail -n 60 "$log"
        return 1
    fi
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+.*DONE' "$log" | tail -n 1)
    echo "fuzz: $name: nothing found in ${secs}s, ${execs:-?} runs ($cov)"
    return 0
}

if [ -z "$targets" ]; then
    echo "fuzz: no targets in tests/fuzz/"
    echo "0 passed, 0 failed"
    exit 0
fi

if [ "$FUZZ_SECONDS" = 0 ]; then
    # Unbounded: all targets in parallel; Ctrl-C (or SIGTERM) stops them all.
    for bin in $targets; do
        echo "fuzz: $(basename "$bin") running unbounded, log $BUILD/fuzz/$(basename "$bin").log"
        run_one "$bin" &
        pids="$pids $!"
    done
    for p in $pids; do
        # wait returns early (> 128) when a trapped signal arrives: wait again
        while :; do
            wait "$p"; st=$?
            if [ $st -gt 128 ] && kill -0 "$p" 2>/dev/null; then continue; fi
            break
        done
        if [ $st -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done
else
    for bin in $targets; do
        [ "$INTERRUPTED" = 1 ] && break
        if run_one "$bin"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done
fi
if [ "$INTERRUPTED" = 1 ] && [ "$FUZZ_SECONDS" != 0 ]; then
    echo "fuzz: interrupted"
    echo "$passed passed, $((failed + 1)) failed"
    exit 130
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
