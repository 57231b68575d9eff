#!/bin/sh
# run.sh - runs the libFuzzer harnesses built in BUILD_DIR, one after another, niced.
# Usage: tests/fuzz/run.sh replay|long BUILD_DIR SECONDS [HARNESS...]
#   replay  every committed input of tests/fuzz/corpus/HARNESS once, then
#           SECONDS of fuzzing from them (new inputs go to a scratch dir)
#   long    SECONDS of fuzzing per harness; the growing corpus is kept in
#           BUILD_DIR/corpus/HARNESS, seeded with the committed one
# Prints per harness the executions done and any crash, then the line
# "N passed, N failed"; exits 1 when a harness failed. Crash inputs are
# written to BUILD_DIR/crashes/HARNESS-crash-*.
set -u
cd "$(dirname "$0")/../.." || exit 1
mode=${1:?mode}
build=${2:?build dir}
seconds=${3:?seconds}
shift 3
if [ $# -eq 0 ]; then
    for f in "$build"/fuzz_*; do
        [ -x "$f" ] && set -- "$@" "${f##*/}"
    done
fi
if [ $# -eq 0 ]; then
    echo "fuzz: no harness in $build (make fuzz-build)"
    echo "0 passed, 1 failed"
    exit 1
fi

ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS
mkdir -p "$build/crashes" "$build/logs"
passed=0
failed=0

# Largest input per harness: enough for their structure, small enough to be fast.
max_len() {
    case "$1" in
    fuzz_azure_xml) echo 16384 ;;
    fuzz_agg | fuzz_azure_auth) echo 2048 ;;
    *) echo 4096 ;;
    esac
}

for h in "$@"; do
    name=${h##*/}
    exe=$build/$name
    seeds=tests/fuzz/corpus/$name
    log=$build/logs/$name.log
    set -- -max_len="$(max_len "$name")" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$build/crashes/$name-" -print_final_stats=1
    [ -f "tests/fuzz/dict/$name.dict" ] && set -- "$@" -dict="tests/fuzz/dict/$name.dict"
    ok=1
    replayed=""
    : > "$log"
    if [ ! -x "$exe" ]; then
        echo "$name: not built"
        failed=$((failed + 1))
        continue
    fi
    if [ "$mode" = replay ]; then
        work=$(mktemp -d "${TMPDIR:-/tmp}/mb-fuzz.XXXXXX")
        if [ -d "$seeds" ] && [ -n "$(ls "$seeds")" ]; then
            replayed=$(ls "$seeds" | wc -l)
            nice -n 10 "$exe" "$@" "$seeds"/* >> "$log" 2>&1 || ok=0
        fi
    else
        work=$build/corpus/$name
        mkdir -p "$work"
    fi
    if [ $ok = 1 ]; then
        # The first directory receives new inputs; the committed seeds stay as they are.
        set -- "$@" -max_total_time="$seconds" "$work"
        [ -d "$seeds" ] && set -- "$@" "$seeds"
        nice -n 10 "$exe" "$@" >> "$log" 2>&1 || ok=0
    fi
    [ "$mode" = replay ] && rm -rf "$work"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $ok = 1 ]; then
        passed=$((passed + 1))
        echo "$name: ok, ${execs:-0} executions in ${seconds} s${replayed:+, $replayed committed inputs replayed}"
    else
        failed=$((failed + 1))
        echo "$name: FAILED after ${execs:-?} executions; log $log"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|PROPERTY FAILED|artifact_prefix|Test unit written)|runtime error' \
            "$log" | head -n 8 | sed 's/^/    /'
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
